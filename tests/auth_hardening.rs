//! Authentication that contains a compromise: a client's scopes never exceed its registrar's,
//! a revoked client's tokens stop working, a token's `org` must be a real organisation of its
//! role, and refused authentications and issued tokens are in the audit log.

mod common;
use actix_web::test::TestRequest;
use common::*;
use nis2hub::auth::Role;
use nis2hub::AppState;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn token_req(pairs: &[(&str, &str)]) -> TestRequest {
    TestRequest::post()
        .uri("/oauth/token")
        .peer_addr("192.0.2.7:40000".parse().unwrap())
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(serde_urlencoded::to_string(pairs).unwrap())
}

fn creds<'a>(client: &'a Value, secret: &'a str) -> [(&'static str, &'a str); 3] {
    [
        ("grant_type", "client_credentials"),
        ("client_id", client["client_id"].as_str().unwrap()),
        ("client_secret", secret),
    ]
}

fn delete(path: &str, token: &str) -> TestRequest {
    TestRequest::delete()
        .uri(path)
        .insert_header(("Authorization", format!("Bearer {token}")))
}

/// Every audit record, oldest first (all pages).
async fn audit<S, B>(app: &S, ctx: &Ctx) -> Vec<Value>
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let mut out = vec![];
    let mut uri = "/api/v1/audit?limit=200".to_string();
    loop {
        let r = send(app, get(&uri, &ctx.national())).await;
        assert_eq!(r.status, 200, "{}", r.text);
        out.extend(r.body["items"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => uri = format!("/api/v1/audit?limit=200&cursor={c}"),
            None => return out,
        }
    }
}

fn actions(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect()
}

// --- Scopes of new clients -------------------------------------------------------------------

/// A caller holding only `clients:manage` registered a client with every scope there is: a
/// new client's scopes must be held by its registrar and fit the target role's ceiling.
#[actix_web::test]
async fn a_new_client_gets_no_scope_its_registrar_does_not_hold() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let ncsirt = ctx.org_id("ncsirt");
    let energy = ctx.org_id("csirt-energy");
    let t = ctx.national();
    let entity = register_entity(&app, &t, "hard-1", "health").await;
    let manager = ctx.token_with(&ncsirt, Role::NationalCsirt, "clients:manage");
    let before = count(&ctx, "api_clients");
    let all = nis2hub::auth::scopes::join_scopes(&nis2hub::auth::Scope::ALL);

    for (org, scope) in [
        (&ncsirt, Some(all.as_str())),
        (&ncsirt, Some("clients:manage audit:read")),
        (&energy, Some("entities:read feeds:read")),
        // Without a scope the default is the role's read scopes the registrar holds:
        // nothing, for a registrar with only `clients:manage`.
        (&energy, None),
        (&entity, None),
        (&ncsirt, None),
        (&entity, Some("entities:read")),
    ] {
        let mut body = json!({"name": "x", "organisation_id": org});
        if let Some(scope) = scope {
            body["scope"] = json!(scope);
        }
        let r = send(&app, post("/api/v1/clients", &manager, &body)).await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(
            r.body["errors"][0]["pointer"], "/scope",
            "{org} {scope:?}: {}",
            r.text
        );
    }
    assert_eq!(count(&ctx, "api_clients"), before, "nothing registered");

    // What the registrar holds it may pass on when it names it; the default is the read
    // scopes among what it holds.
    let r = send(
        &app,
        post(
            "/api/v1/clients",
            &manager,
            &json!({"name": "x", "organisation_id": ncsirt, "scope": "clients:manage"}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["scope"], "clients:manage");
    let wider = ctx.token_with(
        &ncsirt,
        Role::NationalCsirt,
        "clients:manage entities:read feeds:read audit:read",
    );
    let r = send(
        &app,
        post(
            "/api/v1/clients",
            &wider,
            &json!({"name": "x", "organisation_id": energy}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body["scope"], "entities:read feeds:read",
        "the caller's scopes within the sectoral CSIRT's ceiling"
    );
    let r = send(
        &app,
        post(
            "/api/v1/clients",
            &wider,
            &json!({"name": "x", "organisation_id": ncsirt}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body["scope"], "entities:read feeds:read audit:read",
        "the caller's read scopes: not its clients:manage"
    );
}

// --- Revocation ------------------------------------------------------------------------------

async fn client_with_token<S, B>(app: &S, ctx: &Ctx, scope: &str) -> (Value, String)
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let c = send(
        app,
        post(
            "/api/v1/clients",
            &ctx.national(),
            &json!({"name": "x", "organisation_id": ctx.org_id("ncsirt"), "scope": scope}),
        ),
    )
    .await;
    assert_eq!(c.status, 201, "{}", c.text);
    let secret = c.body["client_secret"].as_str().unwrap().to_string();
    let r = send(app, token_req(&creds(&c.body, &secret))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    (c.body, r.body["access_token"].as_str().unwrap().to_string())
}

/// A token issued before its client was revoked created a new full-scope client afterwards:
/// revocation through an instance stops its tokens on that instance at once.
#[actix_web::test]
async fn a_revoked_clients_tokens_stop_working_at_once() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let (client, access) = client_with_token(&app, &ctx, "clients:manage entities:read").await;
    // Used once, so that its state is cached as active.
    assert_eq!(
        send(&app, get("/api/v1/entities", &access)).await.status,
        200
    );
    let id = client["id"].as_str().unwrap();
    let r = send(
        &app,
        delete(&format!("/api/v1/clients/{id}"), &ctx.national()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let before = count(&ctx, "api_clients");
    send(&app, get("/api/v1/entities", &access))
        .await
        .assert_problem(401, "unauthorized");
    let r = send(
        &app,
        post(
            "/api/v1/clients",
            &access,
            &json!({"name": "after revocation", "organisation_id": ctx.org_id("ncsirt")}),
        ),
    )
    .await;
    r.assert_problem(401, "unauthorized");
    assert!(
        r.body["detail"].as_str().unwrap().contains("revoked"),
        "{}",
        r.text
    );
    assert_eq!(count(&ctx, "api_clients"), before, "no client registered");

    let records = audit(&app, &ctx).await;
    let refused: Vec<&Value> = records
        .iter()
        .filter(|r| r["action"] == "auth.refused.revoked_client")
        .collect();
    assert_eq!(refused.len(), 2, "{records:?}");
    assert_eq!(refused[0]["client_id"], client["client_id"]);
}

/// Other instances see a revocation within the cache time, and not later.
#[actix_web::test]
async fn another_instance_stops_a_revoked_clients_tokens_within_the_cache_time() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let ttl = Duration::from_secs(2);
    let mut cfg = config(ctx.db.url.clone());
    cfg.security.auth_cache_ttl = ttl;
    let other = actix_web::test::init_service(nis2hub::build_app(
        AppState::new(cfg, ctx.state.pool.clone()).unwrap(),
    ))
    .await;
    let mut cfg = config(ctx.db.url.clone());
    cfg.security.auth_cache_ttl = Duration::ZERO;
    let uncached = actix_web::test::init_service(nis2hub::build_app(
        AppState::new(cfg, ctx.state.pool.clone()).unwrap(),
    ))
    .await;

    let (client, access) = client_with_token(&app, &ctx, "entities:read").await;
    assert_eq!(
        send(&other, get("/api/v1/entities", &access)).await.status,
        200
    );
    let cached_at = Instant::now();
    let id = client["id"].as_str().unwrap();
    let r = send(
        &app,
        delete(&format!("/api/v1/clients/{id}"), &ctx.national()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);

    send(&uncached, get("/api/v1/entities", &access))
        .await
        .assert_problem(401, "unauthorized");
    let stale = send(&other, get("/api/v1/entities", &access)).await;
    if cached_at.elapsed() < ttl {
        assert_eq!(stale.status, 200, "still cached as active: {}", stale.text);
    }
    std::thread::sleep(ttl.saturating_sub(cached_at.elapsed()) + Duration::from_millis(200));
    send(&other, get("/api/v1/entities", &access))
        .await
        .assert_problem(401, "unauthorized");
}

// --- org and role ----------------------------------------------------------------------------

/// Every token's `org` must name an organisation of its role's kind, or a registered entity
/// for the role `entity`, whoever signed it.
#[actix_web::test]
async fn a_tokens_org_must_be_an_organisation_or_entity_of_its_role() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let e = send(
        &app,
        post("/api/v1/entities", &t, &entity_body("hard-2", "health")),
    )
    .await;
    let entity = e.body["id"].as_str().unwrap().to_string();
    let energy = ctx.org_id("csirt-energy");
    let ncsirt = ctx.org_id("ncsirt");
    for (org, role) in [
        ("not-an-org", Role::NationalCsirt),
        (energy.as_str(), Role::NationalCsirt),
        (ncsirt.as_str(), Role::SectoralCsirt),
        (energy.as_str(), Role::SupervisoryAuthority),
        (ncsirt.as_str(), Role::Entity),
        (&uuid::Uuid::now_v7().to_string(), Role::Entity),
    ] {
        let token = ctx.token_with(org, role, "directory:read");
        let r = send(&app, get("/api/v1/sectors", &token)).await;
        r.assert_problem(401, "unauthorized");
        assert!(
            r.body["detail"].as_str().unwrap().contains("org"),
            "{org} as {role:?}: {}",
            r.text
        );
    }
    for (org, role) in [
        (entity, Role::Entity),
        (energy, Role::SectoralCsirt),
        (ncsirt, Role::NationalCsirt),
        (ctx.org_id("authority-finance"), Role::SupervisoryAuthority),
    ] {
        let token = ctx.token_with(&org, role, "directory:read");
        let r = send(&app, get("/api/v1/sectors", &token)).await;
        assert_eq!(r.status, 200, "{org} as {role:?}: {}", r.text);
    }
}

// --- The audit log ---------------------------------------------------------------------------

/// What a national CSIRT wants to see after an incident of its own: every token issued, and
/// every refused client-credentials attempt with the address it came from — never a secret.
#[actix_web::test]
async fn token_issuance_and_refused_client_credentials_are_audited() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let (client, _) = client_with_token(&app, &ctx, "entities:read").await;
    let client_id = client["client_id"].as_str().unwrap();
    let secret = client["client_secret"].as_str().unwrap().to_string();

    let wrong = "n2hs_this-is-the-wrong-secret";
    for pairs in [
        creds(&client, wrong),
        [
            ("grant_type", "client_credentials"),
            ("client_id", "n2h_00000000000000000000000000000000"),
            ("client_secret", "n2hs_unknown-client-secret"),
        ],
    ] {
        assert_eq!(send(&app, token_req(&pairs)).await.status, 401);
    }
    let id = client["id"].as_str().unwrap();
    let r = send(
        &app,
        delete(&format!("/api/v1/clients/{id}"), &ctx.national()),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        send(&app, token_req(&creds(&client, &secret))).await.status,
        401
    );

    let records = audit(&app, &ctx).await;
    let about_tokens: Vec<&Value> = records
        .iter()
        .filter(|r| r["action"].as_str().unwrap().starts_with("token."))
        .collect();
    assert_eq!(
        actions(
            &about_tokens
                .iter()
                .map(|r| (*r).clone())
                .collect::<Vec<_>>()
        ),
        vec![
            "token.issue",
            "token.refused.wrong_secret",
            "token.refused.unknown_client",
            "token.refused.revoked_client",
        ]
    );
    let issued = about_tokens[0];
    assert_eq!(issued["client_id"], client_id);
    assert_eq!(issued["actor_org"], client["organisation_id"]);
    assert_eq!(issued["actor_sub"], format!("client:{client_id}"));
    assert_eq!(issued["resource_type"], "client");
    assert_eq!(issued["resource_id"], client["id"]);
    for refused in &about_tokens[1..] {
        assert_eq!(refused["resource_type"], "address", "{refused}");
        assert_eq!(refused["resource_id"], "192.0.2.7", "{refused}");
        assert_eq!(refused["actor_role"], "unauthenticated");
    }
    assert_eq!(
        about_tokens[1]["client_id"], client_id,
        "the client attacked"
    );
    assert!(about_tokens[2]["client_id"].is_null());
    assert_eq!(about_tokens[3]["client_id"], client_id);

    let text = serde_json::to_string(&records).unwrap();
    for s in [secret.as_str(), wrong, "n2hs_unknown-client-secret"] {
        assert!(!text.contains(s), "no secret in the audit log");
    }
    assert!(
        send(&app, get("/api/v1/audit/verify", &ctx.national()))
            .await
            .body["valid"]
            == true
    );
}

/// Refused bearer tokens are audited with their reason, up to a limit a minute; the ones left
/// out are counted in the next record that may be written. No token at all is not recorded.
#[actix_web::test]
async fn refused_bearer_tokens_are_audited_without_flooding_the_log() {
    let ctx = Ctx::new();
    let mut cfg = config(ctx.db.url.clone());
    cfg.security.audit_refusals_per_minute = 60;
    let state = AppState::new(cfg, ctx.state.pool.clone()).unwrap();
    let app = actix_web::test::init_service(nis2hub::build_app(state.clone())).await;
    let ncsirt = ctx.org_id("ncsirt");
    let expired = state
        .keys
        .issue(
            "x",
            &ncsirt,
            Role::NationalCsirt,
            "entities:read",
            -120,
            None,
        )
        .unwrap();
    let refused = |token: &str| {
        get("/api/v1/entities", token).peer_addr("198.51.100.23:5000".parse().unwrap())
    };
    send(&app, TestRequest::get().uri("/api/v1/entities"))
        .await
        .assert_problem(401, "unauthorized");
    send(&app, refused(&expired))
        .await
        .assert_problem(401, "unauthorized");
    send(&app, refused("not-a-token"))
        .await
        .assert_problem(401, "unauthorized");
    let records = audit(&app, &ctx).await;
    let auth: Vec<&Value> = records
        .iter()
        .filter(|r| r["action"].as_str().unwrap().starts_with("auth."))
        .collect();
    assert_eq!(
        actions(&auth.iter().map(|r| (*r).clone()).collect::<Vec<_>>()),
        vec!["auth.refused.expired", "auth.refused.malformed"],
        "a request without a token is not recorded"
    );
    assert_eq!(auth[0]["resource_type"], "address");
    assert_eq!(auth[0]["resource_id"], "198.51.100.23");
    assert_eq!(
        auth[0]["actor_sub"], "unauthenticated",
        "claims not verified are not recorded"
    );

    // A flood: 60 a minute are written (two were above), the rest counted.
    for _ in 0..70 {
        send(&app, refused("not-a-token")).await;
    }
    let after_flood = count(&ctx, "audit_log");
    let written = |records: &[Value]| {
        records
            .iter()
            .filter(|r| r["action"] == "auth.refused.malformed")
            .count()
    };
    assert_eq!(written(&audit(&app, &ctx).await), 59);
    // One cell comes back each second: the next refusal brings the count of those left out.
    std::thread::sleep(Duration::from_millis(1100));
    send(&app, refused("not-a-token")).await;
    let records = audit(&app, &ctx).await;
    assert_eq!(count(&ctx, "audit_log"), after_flood + 2);
    let summary = records
        .iter()
        .find(|r| r["action"] == "auth.refusals_suppressed")
        .expect("a summary record");
    assert_eq!(summary["resource_id"], "12");
    let metrics = send(&app, get("/metrics", &ctx.national())).await;
    assert!(
        metrics
            .text
            .contains(r#"nis2hub_auth_refusals_total{reason="malformed"} 72"#),
        "{}",
        metrics.text
    );
}
