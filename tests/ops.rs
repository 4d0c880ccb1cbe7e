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
    let r = send(&app, actix_web::test::TestRequest::get().uri("/docs")).await;
    assert_eq!(r.status, 301, "/docs without the slash: {}", r.text);
    assert_eq!(r.header("location").as_deref(), Some("/docs/"));
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

fn es256_state(ctx: &Ctx, max_lifetime: Option<u64>) -> AppState {
    let mut cfg = config(ctx.db.url.clone());
    cfg.jwt.public_key_pem = Some(fixture("es256-public.pem"));
    if let Some(secs) = max_lifetime {
        cfg.security.external_token_max_lifetime = std::time::Duration::from_secs(secs);
    }
    AppState::new(cfg, ctx.state.pool.clone()).unwrap()
}

fn es256(claims: &serde_json::Value) -> String {
    let key = EncodingKey::from_ec_pem(fixture("es256-private.pem").as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::ES256), claims, &key).unwrap()
}

/// An identity provider's token must not be valid yet when `nbf` says so, must not live longer
/// than the configured maximum, and must not be issued in the future.
#[actix_web::test]
async fn external_tokens_honour_nbf_and_a_maximum_lifetime() {
    let ctx = Ctx::new();
    let national = ctx.org_id("ncsirt");
    let app = actix_web::test::init_service(nis2hub::build_app(es256_state(&ctx, None))).await;
    let now = chrono::Utc::now().timestamp();
    let with = |changes: serde_json::Value| {
        let mut c = claims(&national, "nis2hub");
        for (k, v) in changes.as_object().unwrap() {
            c[k] = v.clone();
        }
        es256(&c)
    };
    for (what, token) in [
        (
            "nbf in an hour",
            with(serde_json::json!({"nbf": now + 3600})),
        ),
        (
            "a lifetime of 25 hours",
            with(serde_json::json!({"iat": now - 3600, "exp": now + 24 * 3600})),
        ),
        (
            "issued an hour from now",
            with(serde_json::json!({"iat": now + 3600, "exp": now + 7200})),
        ),
    ] {
        let r = send(&app, get("/api/v1/entities", &token)).await;
        r.assert_problem(401, "unauthorized");
        assert!(!r.text.contains("items"), "{what}");
    }
    for (what, token) in [
        (
            "nbf a minute ago",
            with(serde_json::json!({"nbf": now - 60})),
        ),
        (
            "a lifetime of 23 hours",
            with(serde_json::json!({"iat": now - 3600, "exp": now + 22 * 3600})),
        ),
    ] {
        let r = send(&app, get("/api/v1/entities", &token)).await;
        assert_eq!(r.status, 200, "{what}: {}", r.text);
    }

    // The maximum is a setting.
    let strict =
        actix_web::test::init_service(nis2hub::build_app(es256_state(&ctx, Some(600)))).await;
    let hour = with(serde_json::json!({"iat": now, "exp": now + 3600}));
    send(&strict, get("/api/v1/entities", &hour))
        .await
        .assert_problem(401, "unauthorized");
    assert_eq!(send(&app, get("/api/v1/entities", &hour)).await.status, 200);

    // The service's own tokens keep their own rules (the token command issues up to 90 days).
    let own = ctx
        .state
        .keys
        .issue(
            "cli",
            &national,
            Role::NationalCsirt,
            "entities:read",
            30 * 86_400,
            None,
        )
        .unwrap();
    assert_eq!(send(&app, get("/api/v1/entities", &own)).await.status, 200);
}

/// `org: "not-an-org"` with the role `national_csirt` was accepted from an identity provider.
#[actix_web::test]
async fn external_tokens_must_name_an_organisation_of_their_role() {
    let ctx = Ctx::new();
    let app = actix_web::test::init_service(nis2hub::build_app(es256_state(&ctx, None))).await;
    let role = |org: &str, role: &str| {
        let mut c = claims(org, "nis2hub");
        c["role"] = serde_json::json!(role);
        es256(&c)
    };
    let energy = ctx.org_id("csirt-energy");
    for (org, r) in [
        ("not-an-org", "national_csirt"),
        (energy.as_str(), "national_csirt"),
        (energy.as_str(), "entity"),
    ] {
        send(&app, get("/api/v1/entities", &role(org, r)))
            .await
            .assert_problem(401, "unauthorized");
    }
    let ok = send(
        &app,
        get("/api/v1/entities", &role(&energy, "sectoral_csirt")),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
}

/// `/metrics` shows national reporting activity: it needs `audit:read`, which only the
/// national CSIRT holds; `/healthz` and `/readyz` stay open.
#[actix_web::test]
async fn metrics_need_a_token_with_audit_read() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let metrics = || actix_web::test::TestRequest::get().uri("/metrics");
    send(&app, metrics())
        .await
        .assert_problem(401, "unauthorized");
    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);
    let r = send(&app, get("/metrics", &energy)).await;
    r.assert_problem(403, "insufficient_scope");
    assert!(r.body["detail"].as_str().unwrap().contains("audit:read"));
    let r = send(&app, get("/metrics", &ctx.national())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("nis2hub_http_requests_total"));
    for open in ["/healthz", "/readyz"] {
        let r = send(&app, actix_web::test::TestRequest::get().uri(open)).await;
        assert_eq!(r.status, 200, "{open}: {}", r.text);
    }
}

/// With `NIS2HUB_METRICS_LISTEN`, the metrics are served on that listener only, without a
/// token, and the main listener does not serve them at all.
#[actix_web::test]
async fn a_separate_metrics_listener_serves_them_alone() {
    let ctx = Ctx::new();
    let mut cfg = config(ctx.db.url.clone());
    cfg.security.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let state = AppState::new(cfg, ctx.state.pool.clone()).unwrap();
    let main = actix_web::test::init_service(nis2hub::build_app(state.clone())).await;
    let own = actix_web::test::init_service(nis2hub::ops::metrics_app(state.clone())).await;
    let t = ctx.national();
    send(&main, get("/api/v1/entities", &t)).await;
    send(&main, get("/metrics", &t))
        .await
        .assert_problem(404, "route_not_found");
    let r = send(&own, actix_web::test::TestRequest::get().uri("/metrics")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.text.contains(
            r#"nis2hub_http_requests_total{method="GET",route="/api/v1/entities",status="200"} 1"#
        ),
        "{}",
        r.text
    );
    for other in ["/api/v1/entities", "/healthz", "/docs/"] {
        let r = send(&own, get(other, &t)).await;
        assert_eq!(
            r.status, 404,
            "{other} is not served on the metrics listener"
        );
    }
    let r = send(&main, actix_web::test::TestRequest::get().uri("/healthz")).await;
    assert_eq!(r.status, 200);
}

fn limited_app_config(ctx: &Ctx, trusted: &[&str]) -> AppState {
    let mut cfg = config(ctx.db.url.clone());
    cfg.token_rate_per_minute = 2;
    cfg.security.trusted_proxies = trusted.iter().map(|t| t.parse().unwrap()).collect();
    AppState::new(cfg, ctx.state.pool.clone()).unwrap()
}

fn attempt_via(peer: &str, forwarded: Option<&str>) -> actix_web::test::TestRequest {
    let mut r = actix_web::test::TestRequest::post()
        .uri("/oauth/token")
        .peer_addr(format!("{peer}:40000").parse().unwrap())
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload("grant_type=client_credentials&client_id=n2h_nobody&client_secret=wrong");
    if let Some(f) = forwarded {
        r = r.insert_header(("x-forwarded-for", f));
    }
    r
}

/// Behind a trusted reverse proxy, each client address behind it has a bucket of its own.
#[actix_web::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let ctx = Ctx::new();
    let app = actix_web::test::init_service(nis2hub::build_app(limited_app_config(
        &ctx,
        &["10.0.0.0/8"],
    )))
    .await;
    for _ in 0..2 {
        let r = send(&app, attempt_via("10.0.0.5", Some("198.51.100.1"))).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    send(&app, attempt_via("10.0.0.5", Some("198.51.100.1")))
        .await
        .assert_problem(429, "rate_limited");
    // Another client behind the same proxy, even one that forges an address to its left.
    for forwarded in ["198.51.100.2", "198.51.100.1, 198.51.100.3"] {
        let r = send(&app, attempt_via("10.0.0.5", Some(forwarded))).await;
        assert_eq!(r.status, 401, "{forwarded}: {}", r.text);
    }
}

/// Without a trusted proxy (or from an address that is not one), `X-Forwarded-For` is the
/// client's own claim and changes nothing.
#[actix_web::test]
async fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
    let ctx = Ctx::new();
    for trusted in [&[][..], &["10.0.0.0/8"][..]] {
        let app =
            actix_web::test::init_service(nis2hub::build_app(limited_app_config(&ctx, trusted)))
                .await;
        for forwarded in ["198.51.100.1", "198.51.100.2"] {
            let r = send(&app, attempt_via("192.0.2.50", Some(forwarded))).await;
            assert_eq!(r.status, 401, "{}", r.text);
        }
        send(&app, attempt_via("192.0.2.50", Some("198.51.100.3")))
            .await
            .assert_problem(429, "rate_limited");
    }
}

/// One `client_id` exhausting its limit does not lock out another from the same address.
#[actix_web::test]
async fn one_client_id_exhausting_its_limit_does_not_lock_out_another() {
    let ctx = Ctx::new();
    let mut cfg = config(ctx.db.url.clone());
    cfg.security.token_rate_per_client_per_minute = 2;
    let state = AppState::new(cfg, ctx.state.pool.clone()).unwrap();
    let app = actix_web::test::init_service(nis2hub::build_app(state)).await;
    let mut clients = vec![];
    for name in ["attacked", "other"] {
        let r = send(
            &app,
            post(
                "/api/v1/clients",
                &ctx.national(),
                &serde_json::json!({"name": name, "organisation_id": ctx.org_id("csirt-energy"), "scope": "entities:read"}),
            ),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        clients.push(r.body);
    }
    let ask = |client: &serde_json::Value, secret: &str| {
        actix_web::test::TestRequest::post()
            .uri("/oauth/token")
            .peer_addr("192.0.2.10:40000".parse().unwrap())
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(format!(
                "grant_type=client_credentials&client_id={}&client_secret={}",
                client["client_id"].as_str().unwrap(),
                secret
            ))
    };
    for _ in 0..2 {
        assert_eq!(send(&app, ask(&clients[0], "wrong")).await.status, 401);
    }
    let limited = send(&app, ask(&clients[0], "wrong")).await;
    limited.assert_problem(429, "rate_limited");
    assert!(limited.header("retry-after").is_some());
    let other = send(
        &app,
        ask(&clients[1], clients[1]["client_secret"].as_str().unwrap()),
    )
    .await;
    assert_eq!(other.status, 200, "{}", other.text);
}
