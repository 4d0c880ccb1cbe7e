//! Operations: tokens from an external identity provider, metrics, docs, request ids, and a
//! graceful stop.

mod common;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use nis2hub::auth::Role;
use nis2hub::AppState;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn claims(org: &str, aud: &str) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    serde_json::json!({
        "sub": "idp-user", "org": org, "role": "national_csirt", "scope": "entities:read",
        "exp": now + 300, "iat": now, "iss": "nis2hub", "aud": aud
    })
}

/// The service verifies RS256 and ES256 tokens with the configured public key, and still its
/// own HS256 ones; a token signed by another key pair is refused.
#[actix_web::test]
async fn external_identity_provider_tokens_are_verified_with_its_public_key() {
    for (alg, private, public, other_public) in [
        (
            Algorithm::ES256,
            "es256-private.pem",
            "es256-public.pem",
            "rs256-public.pem",
        ),
        (
            Algorithm::RS256,
            "rs256-private.pem",
            "rs256-public.pem",
            "es256-public.pem",
        ),
    ] {
        let ctx = Ctx::new();
        let national = ctx.org_id("ncsirt");
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(fixture(private).as_bytes()).unwrap(),
            _ => EncodingKey::from_rsa_pem(fixture(private).as_bytes()).unwrap(),
        };
        let token =
            jsonwebtoken::encode(&Header::new(alg), &claims(&national, "nis2hub"), &key).unwrap();
        let wrong_aud =
            jsonwebtoken::encode(&Header::new(alg), &claims(&national, "other"), &key).unwrap();

        let mut cfg = config(ctx.db.url.clone());
        cfg.jwt.public_key_pem = Some(fixture(public));
        let state = AppState::new(cfg, ctx.state.pool.clone()).unwrap();
        let app = actix_web::test::init_service(nis2hub::build_app(state.clone())).await;
        let r = send(&app, get("/api/v1/entities", &token)).await;
        assert_eq!(r.status, 200, "{alg:?}: {}", r.text);
        send(&app, get("/api/v1/entities", &wrong_aud))
            .await
            .assert_problem(401, "unauthorized");
        let own = state
            .keys
            .issue(
                "cli",
                &national,
                Role::NationalCsirt,
                "entities:read",
                60,
                None,
            )
            .unwrap();
        assert_eq!(
            send(&app, get("/api/v1/entities", &own)).await.status,
            200,
            "HS256 still works"
        );

        // Configured with another provider's key, the same token is refused.
        let mut cfg = config(ctx.db.url.clone());
        cfg.jwt.public_key_pem = Some(fixture(other_public));
        let app = actix_web::test::init_service(nis2hub::build_app(
            AppState::new(cfg, ctx.state.pool.clone()).unwrap(),
        ))
        .await;
        send(&app, get("/api/v1/entities", &token))
            .await
            .assert_problem(401, "unauthorized");
    }
}

#[actix_web::test]
async fn metrics_count_requests_per_route_and_status() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    for _ in 0..3 {
        send(&app, get("/api/v1/entities", &t)).await;
    }
    send(&app, get("/api/v1/entities/not-an-id", &t)).await;
    let m = send(&app, get("/metrics", &t)).await;
    assert_eq!(m.status, 200, "{}", m.text);
    assert!(
        m.text.contains(
            r#"nis2hub_http_requests_total{method="GET",route="/api/v1/entities",status="200"} 3"#
        ),
        "{}",
        m.text
    );
    assert!(
        m.text
            .contains(r#"route="/api/v1/entities/{id}",status="404"} 1"#),
        "{}",
        m.text
    );
    assert!(
        m.text
            .contains("nis2hub_http_request_duration_seconds_bucket"),
        "latency histogram"
    );
    assert!(m.text.contains("nis2hub_db_pool_connections"), "pool usage");
}

#[actix_web::test]
async fn docs_are_served_from_the_binary() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let r = send(&app, actix_web::test::TestRequest::get().uri("/docs/")).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text.contains("swagger"), "the Swagger UI page");
    let spec = send(
        &app,
        actix_web::test::TestRequest::get().uri("/openapi.json"),
    )
    .await;
    assert_eq!(spec.body, nis2hub::openapi::document());
}

#[actix_web::test]
async fn every_response_has_a_request_id() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let r = send(
        &app,
        actix_web::test::TestRequest::get()
            .uri("/healthz")
            .insert_header(("x-request-id", "trace-42")),
    )
    .await;
    assert_eq!(r.header("x-request-id").as_deref(), Some("trace-42"));
    let r = send(&app, actix_web::test::TestRequest::get().uri("/readyz")).await;
    assert_eq!(r.body["status"], "ready");
    assert_eq!(r.header("x-request-id").map(|v| v.len()), Some(32));
}

/// Token requests are limited per client address: each costs an argon2 check.
#[actix_web::test]
async fn the_token_endpoint_is_rate_limited_per_address() {
    let ctx = Ctx::new();
    let mut cfg = config(ctx.db.url.clone());
    cfg.token_rate_per_minute = 2;
    let app = actix_web::test::init_service(nis2hub::build_app(
        AppState::new(cfg, ctx.state.pool.clone()).unwrap(),
    ))
    .await;
    let attempt = |ip: &str| {
        actix_web::test::TestRequest::post()
            .uri("/oauth/token")
            .peer_addr(format!("{ip}:40000").parse().unwrap())
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload("grant_type=client_credentials&client_id=n2h_nobody&client_secret=wrong")
    };
    for _ in 0..2 {
        assert_eq!(send(&app, attempt("192.0.2.10")).await.status, 401);
    }
    let limited = send(&app, attempt("192.0.2.10")).await;
    limited.assert_problem(429, "rate_limited");
    assert!(limited
        .header("retry-after")
        .is_some_and(|s| s.parse::<u64>().unwrap() >= 1));
    assert_eq!(
        send(&app, attempt("192.0.2.11")).await.status,
        401,
        "another address is not limited"
    );
}
