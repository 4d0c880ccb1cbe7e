//! The authorization matrix: every operation under `/api/v1`, against every way a caller can
//! fail to be allowed — no token, a token that does not verify, a token without the
//! operation's scope, scopes beyond the role's ceiling, and rows of another organisation —
//! with a positive control for each, so that a refusal is proven to come from authorization
//! and not from a bad request.

mod common;

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use base64::Engine;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use nis2hub::auth::scopes::{join_scopes, Role, Scope};
use serde_json::{json, Value};

/// Every operation under `/api/v1`: method, path, and the one scope it needs.
const MATRIX: &[(&str, &str, &str)] = &[
    ("GET", "/api/v1/sectors", "directory:read"),
    ("GET", "/api/v1/organisations", "directory:read"),
    ("POST", "/api/v1/organisations", "directory:write"),
    ("POST", "/api/v1/organisations/import", "directory:write"),
    ("GET", "/api/v1/organisations/{id}", "directory:read"),
    ("PATCH", "/api/v1/organisations/{id}", "directory:write"),
    ("GET", "/api/v1/entities", "entities:read"),
    ("POST", "/api/v1/entities", "entities:write"),
    ("GET", "/api/v1/entities/{id}", "entities:read"),
    ("PATCH", "/api/v1/entities/{id}", "entities:write"),
    ("POST", "/api/v1/entities/{id}/deregister", "entities:write"),
    ("GET", "/api/v1/entities/{id}/history", "entities:read"),
    ("GET", "/api/v1/clients", "clients:manage"),
    ("POST", "/api/v1/clients", "clients:manage"),
    ("GET", "/api/v1/clients/{id}", "clients:manage"),
    ("DELETE", "/api/v1/clients/{id}", "clients:manage"),
    ("GET", "/api/v1/audit", "audit:read"),
    ("GET", "/api/v1/audit/verify", "audit:read"),
];

/// The entity operations that only show rows the caller may see.
const ROW_LEVEL: &[(&str, &str, &str)] = &[
    ("GET", "/api/v1/entities/{id}", "entities:read"),
    ("PATCH", "/api/v1/entities/{id}", "entities:write"),
    ("POST", "/api/v1/entities/{id}/deregister", "entities:write"),
    ("GET", "/api/v1/entities/{id}/history", "entities:read"),
];

/// Operations that need no token.
const PUBLIC: &[&str] = &["/healthz", "/readyz", "/metrics", "/openapi.json"];

const OTHER_SECRET: &str = "another-secret-another-secret-another-0123";

/// The records the `{id}` paths point at.
struct Ids {
    organisation: String,
    entity: String,
    client: String,
}

async fn setup<S, B>(ctx: &Ctx, app: &S) -> Ids
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let t = ctx.national();
    let organisation = ctx.org_id("csirt-energy");
    let e = send(
        app,
        post(
            "/api/v1/entities",
            &t,
            &entity_body("authz-1", "energy.electricity"),
        ),
    )
    .await;
    assert_eq!(e.status, 201, "{}", e.text);
    let c = send(
        app,
        post(
            "/api/v1/clients",
            &t,
            &json!({"name": "x", "organisation_id": organisation}),
        ),
    )
    .await;
    assert_eq!(c.status, 201, "{}", c.text);
    Ids {
        organisation,
        entity: e.body["id"].as_str().unwrap().to_string(),
        client: c.body["id"].as_str().unwrap().to_string(),
    }
}

/// The path with `{id}` replaced by a real record of the right kind.
fn concrete(path: &str, ids: &Ids) -> String {
    let id = if path.starts_with("/api/v1/organisations/") {
        &ids.organisation
    } else if path.starts_with("/api/v1/entities/") {
        &ids.entity
    } else if path.starts_with("/api/v1/clients/") {
        &ids.client
    } else {
        assert!(!path.contains('{'), "no id for {path}");
        return path.to_string();
    };
    path.replace("{id}", id)
}

/// A body the operation accepts, so that only the token decides the answer.
fn body_for(method: &str, path: &str, ids: &Ids) -> Option<Value> {
    match (method, path) {
        ("POST", "/api/v1/organisations") => Some(json!({
            "code": "authz-created", "name": "Created by the authz test", "kind": "sectoral_csirt",
            "coverage": [], "contact": {"email": "cert@authz-created.example"}
        })),
        ("POST", "/api/v1/organisations/import") => Some(json!({"organisations": [{
            "code": "authz-imported", "name": "Imported by the authz test", "kind": "sectoral_csirt",
            "coverage": []
        }]})),
        ("PATCH", "/api/v1/organisations/{id}") => {
            Some(json!({"contact": {"service_hours": "office hours"}}))
        }
        ("POST", "/api/v1/entities") => Some(entity_body("authz-2", "health")),
        ("PATCH", "/api/v1/entities/{id}") => Some(json!({"domains": ["authz.example"]})),
        ("POST", "/api/v1/entities/{id}/deregister") => Some(json!({"reason": "authz test"})),
        ("POST", "/api/v1/clients") => {
            Some(json!({"name": "x", "organisation_id": ids.organisation}))
        }
        (m, p) => {
            assert!(m == "GET" || m == "DELETE", "no body for {m} {p}");
            None
        }
    }
}

fn request(method: &str, uri: &str, auth: Option<&str>, body: Option<&Value>) -> TestRequest {
    let mut r = match method {
        "GET" => TestRequest::get(),
        "POST" => TestRequest::post(),
        "PATCH" => TestRequest::patch(),
        "DELETE" => TestRequest::delete(),
        other => panic!("method {other} is not in the matrix"),
    }
    .uri(uri);
    if let Some(value) = auth {
        r = r.insert_header(("Authorization", value.to_string()));
    }
    if let Some(b) = body {
        r = r.set_json(b);
    }
    r
}

/// One row of the matrix, with a real id and a valid body, under the given Authorization.
async fn call<S, B>(
    app: &S,
    row: (&str, &str, &str),
    ids: &Ids,
    auth: Option<&str>,
) -> (String, Res)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (method, path, _) = row;
    let uri = concrete(path, ids);
    let body = body_for(method, path, ids);
    let res = send(app, request(method, &uri, auth, body.as_ref())).await;
    (format!("{method} {uri}"), res)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Everything a refused request could have changed: row counts of every table, and the
/// records the `{id}` paths name, as the national CSIRT reads them.
async fn snapshot<S, B>(ctx: &Ctx, app: &S, ids: &Ids) -> Value
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let t = ctx.national();
    let mut out = serde_json::Map::new();
    for table in [
        "organisations",
        "entities",
        "entity_versions",
        "api_clients",
        "idempotency_keys",
        "audit_log",
    ] {
        out.insert(table.into(), json!(count(ctx, table)));
    }
    for path in [
        "/api/v1/organisations/{id}",
        "/api/v1/entities/{id}",
        "/api/v1/entities/{id}/history",
        "/api/v1/clients/{id}",
    ] {
        let uri = concrete(path, ids);
        let r = send(app, get(&uri, &t)).await;
        assert_eq!(r.status, 200, "{uri}: {}", r.text);
        out.insert(uri, r.body);
    }
    Value::Object(out)
}

fn assert_unauthorized(what: &str, r: &Res) {
    assert_eq!(r.status, 401, "{what}: {}", r.text);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/problem+json"),
        "{what}"
    );
    assert_eq!(r.body["code"], "unauthorized", "{what}: {}", r.text);
    assert_eq!(r.body["status"], 401, "{what}");
    let challenge = r
        .header("www-authenticate")
        .unwrap_or_else(|| panic!("{what}: a 401 without WWW-Authenticate"));
    assert!(
        challenge.starts_with("Bearer"),
        "{what}: challenge `{challenge}`"
    );
}

fn assert_insufficient_scope(what: &str, r: &Res, scope: &str) {
    assert_eq!(r.status, 403, "{what}: {}", r.text);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/problem+json"),
        "{what}"
    );
    assert_eq!(r.body["code"], "insufficient_scope", "{what}: {}", r.text);
    assert!(
        r.body["detail"].as_str().unwrap_or("").contains(scope),
        "{what}: the problem names the scope `{scope}`: {}",
        r.text
    );
}

fn assert_success(what: &str, r: &Res) {
    assert!(
        (200..300).contains(&r.status),
        "{what}: the control request should succeed: {} {}",
        r.status,
        r.text
    );
}

// --- Tokens made by hand ---------------------------------------------------------------------

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims this service accepts: right issuer and audience, valid for ten minutes.
fn claims(org: &str, role: Role, scope: &str) -> Value {
    let now = now();
    json!({
        "sub": "authz-test", "org": org, "role": role.as_str(), "scope": scope,
        "iat": now, "exp": now + 600, "iss": "nis2hub", "aud": "nis2hub"
    })
}

fn sign_with(alg: Algorithm, claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn sign(claims: &Value) -> String {
    sign_with(Algorithm::HS256, claims, SECRET)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn all_scopes() -> String {
    join_scopes(&Scope::ALL)
}

/// Tokens that must not verify, each with what is wrong with it. Each is built from the same
/// claims as `good`, which does verify (see the control in the test).
fn bad_tokens(ncsirt: &str) -> Vec<(&'static str, String)> {
    let good = claims(ncsirt, Role::NationalCsirt, &all_scopes());
    let with = |key: &str, value: Value| {
        let mut c = good.clone();
        c[key] = value;
        c
    };
    let expired = {
        let mut c = with("exp", json!(now() - 120));
        c["iat"] = json!(now() - 720);
        c
    };
    let no_exp = {
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove("exp");
        c
    };
    let alg_none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(good.to_string().as_bytes())
    );
    // A correctly signed entity token whose payload is swapped for national CSIRT claims.
    let tampered = {
        let entity = sign(&claims(ncsirt, Role::Entity, "directory:read"));
        let parts: Vec<&str> = entity.split('.').collect();
        format!(
            "{}.{}.{}",
            parts[0],
            b64(good.to_string().as_bytes()),
            parts[2]
        )
    };
    vec![
        ("expired two minutes ago", sign(&expired)),
        ("without exp", sign(&no_exp)),
        (
            "signed with another secret",
            sign_with(Algorithm::HS256, &good, OTHER_SECRET),
        ),
        ("alg none, no signature", alg_none),
        (
            "HS512 with the right secret (alg not configured)",
            sign_with(Algorithm::HS512, &good, SECRET),
        ),
        (
            "wrong audience",
            sign(&with("aud", json!("another-service"))),
        ),
        ("wrong issuer", sign(&with("iss", json!("another-issuer")))),
        ("payload swapped after signing", tampered),
        ("not a JWT", "not-a-token".to_string()),
    ]
}

// --- The tests -------------------------------------------------------------------------------

#[test]
fn the_matrix_is_every_api_operation_with_its_documented_scope() {
    let doc = serde_json::to_value(nis2hub::openapi::document()).unwrap();
    let mut documented = vec![];
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let scopes = &op["security"][0]["bearer"];
            if path.starts_with("/api/v1/") {
                documented.push((
                    method.to_uppercase(),
                    path.clone(),
                    scopes
                        .as_array()
                        .map(|s| s.iter().map(|v| v.to_string()).collect::<Vec<_>>())
                        .unwrap_or_default(),
                ));
            } else {
                assert!(
                    op.get("security").is_none(),
                    "{method} {path} is outside /api/v1 and needs no bearer token"
                );
            }
        }
    }
    documented.sort();
    let mut matrix: Vec<_> = MATRIX
        .iter()
        .map(|(m, p, s)| (m.to_string(), p.to_string(), vec![json!(s).to_string()]))
        .collect();
    matrix.sort();
    assert_eq!(
        matrix, documented,
        "the matrix lists each /api/v1 operation once, with the scope its document names"
    );
    for (_, _, scope) in MATRIX {
        assert!(Scope::parse(scope).is_some(), "`{scope}` is a scope");
    }
    for row in ROW_LEVEL {
        assert!(MATRIX.contains(row), "{row:?} is in the matrix");
    }
}

#[actix_web::test]
async fn public_endpoints_need_no_token() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    for path in PUBLIC {
        let r = send(&app, TestRequest::get().uri(path)).await;
        assert_eq!(r.status, 200, "GET {path} without a token: {}", r.text);
        // A token that does not verify is no reason to refuse them either.
        let r = send(
            &app,
            TestRequest::get()
                .uri(path)
                .insert_header(("Authorization", "Bearer not-a-token")),
        )
        .await;
        assert_eq!(r.status, 200, "GET {path} with a bad token: {}", r.text);
    }
    let doc = send(&app, TestRequest::get().uri("/openapi.json")).await;
    assert!(doc.body["openapi"].is_string(), "{}", doc.text);
    assert!(
        doc.body["paths"]["/api/v1/entities"]["get"].is_object(),
        "{}",
        doc.text
    );
    let health = send(&app, TestRequest::get().uri("/healthz")).await;
    assert_eq!(health.body["status"], "ok");
    let ready = send(&app, TestRequest::get().uri("/readyz")).await;
    assert_eq!(ready.body["migrations_current"], true);
}

#[actix_web::test]
async fn every_operation_refuses_a_missing_or_unverifiable_token_with_401() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let ids = setup(&ctx, &app).await;
    let ncsirt = ctx.org_id("ncsirt");
    let before = snapshot(&ctx, &app, &ids).await;

    let mut refusals: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        ("Basic scheme", Some("Basic bmNzaXJ0OnNlY3JldA==".into())),
        ("Bearer without a token", Some("Bearer ".into())),
        ("token without a scheme", Some(ctx.national())),
    ];
    for (what, token) in bad_tokens(&ncsirt) {
        refusals.push((what, Some(bearer(&token))));
    }
    for &row in MATRIX {
        for (what, auth) in &refusals {
            let (name, r) = call(&app, row, &ids, auth.as_deref()).await;
            assert_unauthorized(&format!("{name} with {what}"), &r);
        }
    }
    assert_eq!(
        snapshot(&ctx, &app, &ids).await,
        before,
        "a request refused with 401 changes nothing"
    );

    // Control: the same hand-made claims, signed correctly, are accepted everywhere.
    let good = sign(&claims(&ncsirt, Role::NationalCsirt, &all_scopes()));
    for &row in MATRIX {
        let (name, r) = call(&app, row, &ids, Some(&bearer(&good))).await;
        assert_success(&format!("{name} with a valid hand-made token"), &r);
    }
}

#[actix_web::test]
async fn every_operation_refuses_a_token_without_its_scope_with_403() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let ids = setup(&ctx, &app).await;
    let ncsirt = ctx.org_id("ncsirt");
    let before = snapshot(&ctx, &app, &ids).await;

    for &(method, path, scope) in MATRIX {
        let row = (method, path, scope);
        let required = Scope::parse(scope).unwrap();
        let all_but: Vec<Scope> = Scope::ALL.into_iter().filter(|s| *s != required).collect();
        // Some other scope of the same family where there is one (read for write and back).
        let sibling = Scope::ALL
            .into_iter()
            .find(|s| *s != required && s.as_str().split(':').next() == scope.split(':').next())
            .unwrap_or(Scope::FeedsRead);
        for (what, scopes) in [
            ("every other scope", join_scopes(&all_but)),
            ("a sibling scope", sibling.as_str().to_string()),
            ("no scope", String::new()),
            ("an unknown scope", format!("{scope}:all admin")),
        ] {
            let token = ctx.token_with(&ncsirt, Role::NationalCsirt, &scopes);
            let (name, r) = call(&app, row, &ids, Some(&bearer(&token))).await;
            assert_insufficient_scope(&format!("{name} with {what} ({scopes})"), &r, scope);
        }
    }
    assert_eq!(
        snapshot(&ctx, &app, &ids).await,
        before,
        "a request refused with 403 changes nothing"
    );

    // Control: the one scope the matrix names is enough on its own.
    for &row in MATRIX {
        let token = ctx.token_with(&ncsirt, Role::NationalCsirt, row.2);
        let (name, r) = call(&app, row, &ids, Some(&bearer(&token))).await;
        assert_success(&format!("{name} with only `{}`", row.2), &r);
    }
}

#[actix_web::test]
async fn scopes_beyond_the_role_ceiling_grant_nothing() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let ids = setup(&ctx, &app).await;
    let before = snapshot(&ctx, &app, &ids).await;

    // The plain case: an entity claiming the audit log.
    let entity_audit = ctx.token_with(&ids.entity, Role::Entity, "audit:read");
    let r = send(&app, get("/api/v1/audit", &entity_audit)).await;
    assert_insufficient_scope(
        "GET /api/v1/audit as an entity claiming audit:read",
        &r,
        "audit:read",
    );

    // Every role but the national CSIRT, claiming every scope there is.
    let callers = [
        (Role::SectoralCsirt, ctx.org_id("csirt-energy")),
        (
            Role::SupervisoryAuthority,
            ctx.org_id("authority-infrastructure"),
        ),
        (Role::Entity, ids.entity.clone()),
    ];
    for (role, org) in &callers {
        let token = ctx.token_with(org, *role, &all_scopes());
        let mut beyond = 0;
        for &row in MATRIX {
            let scope = Scope::parse(row.2).unwrap();
            if role.ceiling().contains(&scope) {
                continue;
            }
            beyond += 1;
            let (name, r) = call(&app, row, &ids, Some(&bearer(&token))).await;
            assert_insufficient_scope(
                &format!("{name} as {} claiming every scope", role.as_str()),
                &r,
                row.2,
            );
        }
        assert!(
            beyond > 0,
            "{} has operations beyond its ceiling",
            role.as_str()
        );
        // Control: the token is valid, and the scopes inside the ceiling are kept.
        let r = send(&app, get("/api/v1/entities", &token)).await;
        assert_eq!(
            r.status,
            200,
            "{} reads the register: {}",
            role.as_str(),
            r.text
        );
    }
    assert_eq!(
        snapshot(&ctx, &app, &ids).await,
        before,
        "a request refused for its ceiling changes nothing"
    );
}

#[actix_web::test]
async fn another_organisations_entity_is_not_found() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    // `ids.entity` is in energy.electricity: csirt-energy and authority-infrastructure see it.
    let ids = setup(&ctx, &app).await;
    let t = ctx.national();
    let bank = send(
        &app,
        post(
            "/api/v1/entities",
            &t,
            &entity_body("authz-bank", "banking"),
        ),
    )
    .await;
    assert_eq!(bank.status, 201, "{}", bank.text);
    let bank_id = bank.body["id"].as_str().unwrap().to_string();
    let before = snapshot(&ctx, &app, &ids).await;

    let outsiders = [
        (
            "the finance CSIRT",
            ctx.token("csirt-finance", Role::SectoralCsirt),
        ),
        (
            "the health CSIRT",
            ctx.token("csirt-health", Role::SectoralCsirt),
        ),
        (
            "the finance authority",
            ctx.token("authority-finance", Role::SupervisoryAuthority),
        ),
        ("another entity", ctx.token(&bank_id, Role::Entity)),
    ];
    let missing = Ids {
        organisation: ids.organisation.clone(),
        entity: uuid::Uuid::new_v4().to_string(),
        client: ids.client.clone(),
    };
    for &row in ROW_LEVEL {
        let scope = Scope::parse(row.2).unwrap();
        for (who, token) in &outsiders {
            let claims = ctx.state.keys.verify(token).unwrap();
            if !claims.role.ceiling().contains(&scope) {
                // A CSIRT or authority never writes the register; the ceiling refuses it
                // before the row is looked at, the same for a visible or hidden row.
                let (name, r) = call(&app, row, &ids, Some(&bearer(token))).await;
                assert_insufficient_scope(&format!("{name} by {who}"), &r, row.2);
                continue;
            }
            let (name, r) = call(&app, row, &ids, Some(&bearer(token))).await;
            assert_eq!(r.status, 404, "{name} by {who}: {}", r.text);
            r.assert_problem(404, "not_found");
            // Indistinguishable from an id that does not exist.
            let (_, none) = call(&app, row, &missing, Some(&bearer(token))).await;
            none.assert_problem(404, "not_found");
            assert_eq!(
                (r.body["detail"].clone(), r.body["title"].clone()),
                (none.body["detail"].clone(), none.body["title"].clone()),
                "{name} by {who}: a hidden row looks like a missing one"
            );
        }
    }
    assert_eq!(
        snapshot(&ctx, &app, &ids).await,
        before,
        "the entity is unchanged after the refused requests"
    );

    // Controls: those who may see it, see it; the entity itself may change it.
    for (who, token) in [
        (
            "the energy CSIRT",
            ctx.token("csirt-energy", Role::SectoralCsirt),
        ),
        (
            "the infrastructure authority",
            ctx.token("authority-infrastructure", Role::SupervisoryAuthority),
        ),
        ("the entity itself", ctx.token(&ids.entity, Role::Entity)),
    ] {
        for &row in ROW_LEVEL.iter().filter(|r| r.0 == "GET") {
            let (name, r) = call(&app, row, &ids, Some(&bearer(&token))).await;
            assert_eq!(r.status, 200, "{name} by {who}: {}", r.text);
        }
    }
    let own = ctx.token(&ids.entity, Role::Entity);
    for &row in ROW_LEVEL.iter().filter(|r| r.0 != "GET") {
        let (name, r) = call(&app, row, &ids, Some(&bearer(&own))).await;
        assert_eq!(r.status, 200, "{name} by the entity itself: {}", r.text);
    }
}
