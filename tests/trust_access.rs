//! Access that must end, and token and time hygiene: a deregistered entity's tokens and API
//! clients stop working, an entity cannot take itself out of scope without the confirmation a
//! deregistration needs, reading a client changes nothing, an identity provider's token times
//! are checked without overflow, a client timestamp is range-checked as an instant, and
//! `If-Match` on entities and organisations holds under concurrent writers.

mod common;
use actix_web::test::TestRequest;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use nis2hub::auth::Role;
use nis2hub::AppState;
use serde_json::{json, Value};
use std::time::Duration;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn es256(claims: &Value) -> String {
    let key = EncodingKey::from_ec_pem(fixture("es256-private.pem").as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::ES256), claims, &key).unwrap()
}

/// A second instance on the same database, trusting the identity provider's ES256 key.
fn provider_state(ctx: &Ctx, cache: Duration) -> AppState {
    let mut cfg = config(ctx.db.url.clone());
    cfg.jwt.public_key_pem = Some(fixture("es256-public.pem"));
    cfg.security.auth_cache_ttl = cache;
    AppState::new(cfg, ctx.state.pool.clone()).unwrap()
}

fn provider_claims(org: &str, role: &str, iat: i64, exp: i64) -> Value {
    json!({
        "sub": "idp-user", "org": org, "role": role, "scope": "entities:read",
        "iat": iat, "exp": exp, "iss": "nis2hub", "aud": "nis2hub"
    })
}

fn token_req(client_id: &str, secret: &str) -> TestRequest {
    TestRequest::post()
        .uri("/oauth/token")
        .peer_addr("192.0.2.9:40000".parse().unwrap())
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(
            serde_urlencoded::to_string([
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
            ])
            .unwrap(),
        )
}

fn with_if_match(req: TestRequest, etag: &str) -> TestRequest {
    req.insert_header(("If-Match", etag.to_string()))
}

/// Registers an API client for `org` and returns (client record, its client token).
async fn client_for<S, B>(app: &S, ctx: &Ctx, org: &str, scope: &str) -> (Value, String, String)
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
            &json!({"name": "entity integration", "organisation_id": org, "scope": scope}),
        ),
    )
    .await;
    assert_eq!(c.status, 201, "{}", c.text);
    let secret = c.body["client_secret"].as_str().unwrap().to_string();
    let t = send(
        app,
        token_req(c.body["client_id"].as_str().unwrap(), &secret),
    )
    .await;
    assert_eq!(t.status, 200, "{}", t.text);
    (
        c.body,
        t.body["access_token"].as_str().unwrap().to_string(),
        secret,
    )
}

async fn audit_actions<S, B>(app: &S, ctx: &Ctx) -> Vec<Value>
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

// --- 5. A deregistered entity's principal and clients ----------------------------------------

/// Deregistered by the national CSIRT: the entity's own tokens (service-issued, from its API
/// client, and from the identity provider) are refused on every endpoint, at once on this
/// instance and within the cache time on another; its clients are revoked with the
/// deregistration and can get no new token. A pending request changes nothing yet.
#[actix_web::test]
async fn a_deregistered_entitys_tokens_and_clients_stop_working() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let ttl = Duration::from_secs(1);
    let other = actix_web::test::init_service(nis2hub::build_app(provider_state(&ctx, ttl))).await;
    let national = ctx.national();
    let id = register_entity(&app, &national, "gone-1", "energy.gas").await;
    let path = format!("/api/v1/entities/{id}");
    let own = ctx.token(&id, Role::Entity);
    let (client, client_token, secret) =
        client_for(&app, &ctx, &id, "entities:read webhooks:manage").await;
    let now = chrono::Utc::now().timestamp();
    let provider = es256(&provider_claims(&id, "entity", now, now + 600));

    // Every way in works while registered (and warms both instances' caches).
    for (what, token) in [("own", &own), ("client", &client_token)] {
        let r = send(&app, get(&path, token)).await;
        assert_eq!(r.status, 200, "{what}: {}", r.text);
    }
    for (what, token) in [("own", &own), ("provider", &provider)] {
        let r = send(&other, get(&path, token)).await;
        assert_eq!(r.status, 200, "{what} on the other instance: {}", r.text);
    }

    let d = send(
        &app,
        post(
            &format!("{path}/deregister"),
            &national,
            &json!({"reason": "dissolved"}),
        ),
    )
    .await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.body["status"], "deregistered");
    let deregistered_at = std::time::Instant::now();

    // At once on this instance, on every authenticated endpoint.
    for (what, token) in [("own", &own), ("client", &client_token)] {
        for req in [
            get(&path, token),
            get("/api/v1/advisories", token),
            get("/api/v1/feed", token),
            post(
                "/api/v1/webhooks",
                token,
                &json!({"url": "https://hooks.example/x", "event_types": ["entity.updated"]}),
            ),
        ] {
            let r = send(&app, req).await;
            r.assert_problem(401, "unauthorized");
            assert!(
                r.body["detail"].as_str().unwrap().contains("deregistered")
                    || r.body["detail"].as_str().unwrap().contains("revoked"),
                "{what}: {}",
                r.text
            );
        }
    }
    assert_eq!(count(&ctx, "webhooks"), 0, "no webhook was created");

    // Its client is revoked, by the deregistration, in its transaction.
    let c = send(
        &app,
        get(
            &format!("/api/v1/clients/{}", client["id"].as_str().unwrap()),
            &national,
        ),
    )
    .await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert!(!c.body["revoked_at"].is_null(), "{}", c.text);
    let t = send(
        &app,
        token_req(client["client_id"].as_str().unwrap(), &secret),
    )
    .await;
    assert_eq!(t.status, 401, "no new token: {}", t.text);
    let records = audit_actions(&app, &ctx).await;
    let revoke = records
        .iter()
        .find(|r| r["action"] == "client.revoke")
        .expect("the revocation is audited");
    let deregister = records
        .iter()
        .find(|r| r["action"] == "entity.deregister")
        .unwrap();
    assert_eq!(
        revoke["request_id"], deregister["request_id"],
        "one request"
    );

    // On another instance within its cache time; the provider's token as well.
    std::thread::sleep(ttl.saturating_sub(deregistered_at.elapsed()) + Duration::from_millis(100));
    for (what, token) in [("own", &own), ("provider", &provider)] {
        let r = send(&other, get(&path, token)).await;
        r.assert_problem(401, "unauthorized");
        assert!(
            r.body["detail"].as_str().unwrap().contains("deregistered"),
            "{what}: {}",
            r.text
        );
    }
    // A token minted afterwards for the deregistered entity is refused too.
    let fresh = ctx.token(&id, Role::Entity);
    send(&app, get("/api/v1/sectors", &fresh))
        .await
        .assert_problem(401, "unauthorized");
    // And no new client can be registered for it.
    let r = send(
        &app,
        post(
            "/api/v1/clients",
            &national,
            &json!({"name": "after", "organisation_id": id, "scope": "entities:read"}),
        ),
    )
    .await;
    r.assert_problem(422, "validation_failed");
    assert!(r.text.contains("/organisation_id"), "{}", r.text);
    // Other callers are untouched.
    assert_eq!(send(&app, get(&path, &national)).await.status, 200);
}

/// The entity's own request, then its authority's confirmation: tokens keep working while the
/// request waits (the entity keeps its obligations), and stop when it is confirmed.
#[actix_web::test]
async fn a_confirmed_deregistration_request_ends_the_entitys_access() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let id = register_entity(&app, &national, "gone-2", "energy.gas").await;
    let path = format!("/api/v1/entities/{id}");
    let own = ctx.token(&id, Role::Entity);
    let (client, client_token, _) = client_for(&app, &ctx, &id, "entities:read").await;
    let infra = ctx.token("authority-infrastructure", Role::SupervisoryAuthority);

    let d = send(
        &app,
        post(
            &format!("{path}/deregister"),
            &own,
            &json!({"reason": "we stopped trading gas"}),
        ),
    )
    .await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.body["status"], "deregistration_pending");
    for token in [&own, &client_token] {
        let r = send(&app, get(&path, token)).await;
        assert_eq!(r.status, 200, "pending is still registered: {}", r.text);
    }
    let c = send(
        &app,
        post(
            &format!("{path}/deregistration/confirm"),
            &infra,
            &json!({"comment": "confirmed"}),
        ),
    )
    .await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.body["status"], "deregistered");
    for token in [&own, &client_token] {
        send(&app, get(&path, token))
            .await
            .assert_problem(401, "unauthorized");
    }
    let c = send(
        &app,
        get(
            &format!("/api/v1/clients/{}", client["id"].as_str().unwrap()),
            &national,
        ),
    )
    .await;
    assert!(!c.body["revoked_at"].is_null(), "{}", c.text);
    // A rejected request leaves access as it was.
    let id2 = register_entity(&app, &national, "stay-2", "energy.gas").await;
    let own2 = ctx.token(&id2, Role::Entity);
    let p2 = format!("/api/v1/entities/{id2}");
    let d = send(
        &app,
        post(&format!("{p2}/deregister"), &own2, &json!({"reason": "x"})),
    )
    .await;
    assert_eq!(d.status, 200, "{}", d.text);
    let r = send(
        &app,
        post(
            &format!("{p2}/deregistration/reject"),
            &infra,
            &json!({"comment": "still trading"}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(send(&app, get(&p2, &own2)).await.status, 200);
}

// --- 6. Leaving scope by one's own update ----------------------------------------------------

/// `size: small` (or a move to an out-of-scope sector) by the entity itself took it out of
/// scope at once. Now the change is held, like a deregistration request, until the
/// supervisory authority or the national CSIRT confirms (and then applied) or rejects it.
#[actix_web::test]
async fn leaving_scope_by_ones_own_update_waits_for_confirmation() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let infra = ctx.token("authority-infrastructure", Role::SupervisoryAuthority);
    let id = register_entity(&app, &national, "scope-1", "energy.gas").await;
    let own = ctx.token(&id, Role::Entity);
    let path = format!("/api/v1/entities/{id}");

    let r = send(&app, patch(&path, &own, &json!({"size": "small"}))).await;
    assert_eq!(r.status, 202, "held, not applied: {}", r.text);
    assert_eq!(r.body["status"], "deregistration_pending");
    assert_eq!(r.body["category"], "essential", "{}", r.text);
    assert_eq!(r.body["size"], "large");
    assert_eq!(r.body["deregistration_request"]["update"]["size"], "small");
    let g = send(&app, get(&path, &national)).await;
    assert_eq!(g.body["category"], "essential", "{}", g.text);
    assert_eq!(g.body["status"], "deregistration_pending");
    // While it waits, the entity cannot change itself otherwise.
    send(&app, patch(&path, &own, &json!({"name": "Other"})))
        .await
        .assert_problem(409, "deregistration_pending");

    let c = send(
        &app,
        with_if_match(
            post(
                &format!("{path}/deregistration/confirm"),
                &infra,
                &json!({"comment": "the company shrank"}),
            ),
            g.header("etag").as_deref().unwrap(),
        ),
    )
    .await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.body["status"], "registered");
    assert_eq!(c.body["category"], "out_of_scope");
    assert_eq!(c.body["size"], "small");
    assert!(c.body["deregistration_request"].is_null());
    let h = send(&app, get(&format!("{path}/history"), &national)).await;
    let changes: Vec<&str> = h.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["change"].as_str().unwrap())
        .collect();
    assert!(
        changes
            .iter()
            .any(|c| c.starts_with("scope_exit_requested")),
        "{changes:?}"
    );
    assert!(
        changes
            .iter()
            .any(|c| c.starts_with("scope_exit_confirmed")),
        "{changes:?}"
    );

    // A move to an Annex II sector at a size it does not cover, rejected: nothing changes.
    let id = register_entity(&app, &national, "scope-2", "energy.gas").await;
    let own = ctx.token(&id, Role::Entity);
    let path = format!("/api/v1/entities/{id}");
    let r = send(
        &app,
        patch(&path, &own, &json!({"sector": "research", "size": "small"})),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let rej = send(
        &app,
        post(
            &format!("{path}/deregistration/reject"),
            &national,
            &json!({"comment": "still a gas supplier"}),
        ),
    )
    .await;
    assert_eq!(rej.status, 200, "{}", rej.text);
    assert_eq!(rej.body["status"], "registered");
    assert_eq!(rej.body["sector"], "energy.gas");
    assert_eq!(rej.body["category"], "essential");

    // Changes that stay in scope apply at once, and so do the national CSIRT's.
    let r = send(&app, patch(&path, &own, &json!({"size": "medium"}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["category"], "important");
    let r = send(&app, patch(&path, &national, &json!({"size": "small"}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["category"], "out_of_scope");
    // Out of scope already: the entity's own change does not leave scope, so applies.
    let r = send(&app, patch(&path, &own, &json!({"name": "Tiny Gas"}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "registered");
}

// --- 7. Reading a client ---------------------------------------------------------------------

/// `GET /api/v1/clients/{id}` marked the client revoked in the cache: its tokens answered 401
/// for the cache's lifetime, and a false refusal went into the audit log.
#[actix_web::test]
async fn reading_a_client_changes_nothing() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let org = ctx.org_id("csirt-energy");
    let (client, token, _) = client_for(&app, &ctx, &org, "entities:read").await;
    assert_eq!(
        send(&app, get("/api/v1/entities", &token)).await.status,
        200
    );
    let id = client["id"].as_str().unwrap();
    for _ in 0..2 {
        let r = send(&app, get(&format!("/api/v1/clients/{id}"), &national)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.body["revoked_at"].is_null());
    }
    let r = send(&app, get("/api/v1/entities", &token)).await;
    assert_eq!(r.status, 200, "the client still works: {}", r.text);
    let records = audit_actions(&app, &ctx).await;
    assert!(
        !records
            .iter()
            .any(|r| r["action"].as_str().unwrap().starts_with("auth.refused")),
        "{records:?}"
    );
}

// --- 13. An identity provider's token times --------------------------------------------------

/// `exp = i64::MAX, iat = -1` overflowed `exp - iat` and passed. Now `iat` must be positive and
/// not after `exp`, and `exp` within the maximum lifetime from now.
#[actix_web::test]
async fn identity_provider_token_times_are_checked_without_overflow() {
    let ctx = Ctx::new();
    let national = ctx.org_id("ncsirt");
    let app =
        actix_web::test::init_service(nis2hub::build_app(provider_state(&ctx, Duration::ZERO)))
            .await;
    let now = chrono::Utc::now().timestamp();
    let max = 86_400;
    for (what, iat, exp) in [
        ("exp at i64::MAX, iat -1", -1, i64::MAX),
        ("exp at i64::MAX, iat now", now, i64::MAX),
        ("iat 0", 0, now + 60),
        ("iat negative", -86_400, now + 60),
        ("iat after exp", now + 20, now + 10),
        ("exp beyond now + max lifetime", now + 20, now + 20 + max),
    ] {
        let token = es256(&provider_claims(&national, "national_csirt", iat, exp));
        let r = send(&app, get("/api/v1/entities", &token)).await;
        r.assert_problem(401, "unauthorized");
        assert!(!r.text.contains("items"), "{what}: {}", r.text);
    }
    for (what, iat, exp) in [
        ("the full lifetime from now", now, now + max),
        ("a short one", now - 10, now + 300),
        ("iat a little ahead (clock skew)", now + 20, now + 300),
    ] {
        let token = es256(&provider_claims(&national, "national_csirt", iat, exp));
        let r = send(&app, get("/api/v1/entities", &token)).await;
        assert_eq!(r.status, 200, "{what}: {}", r.text);
    }
}

// --- 14. Client timestamps range-checked as instants -----------------------------------------

/// `1970-01-01T00:00:00+23:59` is 1969 in UTC: it passed the year-in-the-text check, gave a 500
/// on incident reports and was stored as 1969 on assessments. Every client timestamp is now
/// checked as an instant.
#[actix_web::test]
async fn timestamps_before_1970_in_utc_are_refused_everywhere() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let id = register_entity(&app, &national, "time-1", "energy.gas").await;
    let own = ctx.token(&id, Role::Entity);
    let early = "1970-01-01T00:00:00+23:59";
    let incidents_before = count(&ctx, "incidents");

    let r = send(
        &app,
        post(
            "/api/v1/incidents",
            &own,
            &json!({"entity_id": id, "stage": "early_warning", "aware_at": early, "summary": "x"}),
        ),
    )
    .await;
    r.assert_problem(422, "validation_failed");
    assert!(r.text.contains("1970"), "{}", r.text);
    assert_eq!(count(&ctx, "incidents"), incidents_before);

    let scores: serde_json::Map<String, Value> = nis2hub::maturity::model::Model::built_in()
        .catalogue
        .parameters
        .iter()
        .map(|p| (p.id.clone(), json!(2)))
        .collect();
    let assessment = |at: &str| {
        json!({
            "organisation_id": ctx.org_id("csirt-energy"), "type": "self", "assessors": [],
            "assessed_at": at, "model": "sim3-v1", "scores": scores.clone()
        })
    };
    let r = send(
        &app,
        post(
            "/api/v1/maturity/assessments",
            &national,
            &assessment(early),
        ),
    )
    .await;
    r.assert_problem(422, "validation_failed");
    assert!(r.text.contains("1970"), "{}", r.text);

    for q in [
        "/api/v1/entities?updated_since=",
        "/api/v1/organisations?updated_since=",
    ] {
        let r = send(
            &app,
            get(&format!("{q}{}", early.replace('+', "%2B")), &national),
        )
        .await;
        r.assert_problem(400, "invalid_query");
    }
    // The first instant of 1970 in UTC is accepted, however it is written.
    for at in ["1970-01-01T00:00:00Z", "1970-01-01T01:00:00+01:00"] {
        let r = send(
            &app,
            get(
                &format!("/api/v1/entities?updated_since={}", at.replace('+', "%2B")),
                &national,
            ),
        )
        .await;
        assert_eq!(r.status, 200, "{at}: {}", r.text);
    }
}

// --- 12. If-Match under concurrent writers ---------------------------------------------------

/// Concurrent `PATCH`es with the same `If-Match`: exactly one wins, the others get 412. Without
/// `If-Match` none is lost and none is refused: each applies on top of the one before.
#[actix_web::test]
async fn concurrent_patches_of_entities_and_organisations_take_turns() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let id = register_entity(&app, &national, "race-1", "energy.gas").await;
    let org = ctx.org_id("csirt-energy");
    const N: usize = 6;
    for path in [
        format!("/api/v1/entities/{id}"),
        format!("/api/v1/organisations/{org}"),
    ] {
        let g = send(&app, get(&path, &national)).await;
        let etag = g.header("etag").unwrap();
        let version = g.body["version"].as_i64().unwrap();
        let results = futures_util::future::join_all((0..N).map(|i| {
            send(
                &app,
                with_if_match(
                    patch(&path, &national, &json!({"name": format!("Guarded {i}")})),
                    &etag,
                ),
            )
        }))
        .await;
        let won = results.iter().filter(|r| r.status == 200).count();
        assert_eq!(won, 1, "{path}: {results:?}");
        for r in results.iter().filter(|r| r.status != 200) {
            r.assert_problem(412, "precondition_failed");
        }

        let results = futures_util::future::join_all((0..N).map(|i| {
            send(
                &app,
                patch(&path, &national, &json!({"name": format!("Free {i}")})),
            )
        }))
        .await;
        for r in &results {
            assert_eq!(r.status, 200, "{path}: {}", r.text);
        }
        let g = send(&app, get(&path, &national)).await;
        assert_eq!(
            g.body["version"].as_i64().unwrap(),
            version + 1 + N as i64,
            "{path}: every change applied once"
        );
    }
}
