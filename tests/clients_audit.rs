//! API clients and the OAuth 2.0 client-credentials grant, and the hash-chained audit log:
//! registration and secret handling, scope ceilings, the token endpoint's RFC 6749 answers,
//! revocation, one audit record per write carrying the request id, audit pagination and
//! filters, tamper detection, and a chain that stays whole under concurrent appends.

mod common;
use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use base64::Engine;
use common::*;
use diesel::prelude::*;
use nis2hub::auth::Role;
use serde_json::{json, Value};

/// A form-encoded token request.
fn token_req(pairs: &[(&str, &str)]) -> TestRequest {
    TestRequest::post()
        .uri("/oauth/token")
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(serde_urlencoded::to_string(pairs).unwrap())
}

fn delete(path: &str, token: &str) -> TestRequest {
    TestRequest::delete()
        .uri(path)
        .insert_header(("Authorization", format!("Bearer {token}")))
}

/// Asserts an RFC 6749 §5.2 error answer.
fn assert_oauth_error(r: &Res, status: u16, error: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["error"], error, "{}", r.text);
    assert!(
        r.body["error_description"].is_string(),
        "an error_description: {}",
        r.text
    );
    assert!(
        r.body.get("access_token").is_none(),
        "no token in an error: {}",
        r.text
    );
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    if status == 401 {
        assert!(
            r.header("www-authenticate").is_some(),
            "a 401 names its scheme: {:?}",
            r.headers
        );
    }
}

/// Registers a client as the national CSIRT and returns the 201 body.
async fn register_client<S, B>(app: &S, ctx: &Ctx, org_id: &str, scope: Option<&str>) -> Value
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut body = json!({"name": "Ticketing", "organisation_id": org_id});
    if let Some(scope) = scope {
        body["scope"] = json!(scope);
    }
    let r = send(app, post("/api/v1/clients", &ctx.national(), &body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

fn secret_hash(ctx: &Ctx, id: &str) -> String {
    use nis2hub::schema::api_clients;
    let mut conn = ctx.state.pool.get().unwrap();
    api_clients::table
        .find(id)
        .select(api_clients::secret_hash)
        .first::<String>(&mut *conn)
        .unwrap()
}

fn exec(ctx: &Ctx, sql: &str) -> usize {
    let mut conn = ctx.state.pool.get().unwrap();
    diesel::sql_query(sql).execute(&mut *conn).unwrap()
}

fn seqs_in_db(ctx: &Ctx) -> Vec<i64> {
    use nis2hub::schema::audit_log;
    let mut conn = ctx.state.pool.get().unwrap();
    audit_log::table
        .select(audit_log::seq)
        .order(audit_log::seq.asc())
        .load::<i64>(&mut *conn)
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn registering_a_client_shows_the_secret_once_and_stores_only_an_argon2_hash() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let org = ctx.org_id("csirt-energy");
    let before = count(&ctx, "api_clients");

    let r = send(
        &app,
        post(
            "/api/v1/clients",
            &t,
            &json!({"name": "Energy ticketing", "organisation_id": org, "scope": "entities:read feeds:read"}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let client_id = r.body["client_id"].as_str().unwrap().to_string();
    let secret = r.body["client_secret"].as_str().unwrap().to_string();
    assert!(client_id.starts_with("n2h_"), "{client_id}");
    assert!(secret.len() >= 32, "a long secret: {secret}");
    assert_eq!(r.body["name"], "Energy ticketing");
    assert_eq!(r.body["organisation_id"], org);
    assert_eq!(
        r.body["role"], "sectoral_csirt",
        "the role comes from the kind"
    );
    assert_eq!(r.body["scope"], "entities:read feeds:read");
    assert!(r.body["revoked_at"].is_null());
    assert!(r.body["created_at"].is_string());
    assert_eq!(count(&ctx, "api_clients"), before + 1);

    let one = send(&app, get(&format!("/api/v1/clients/{id}"), &t)).await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.body["client_id"], client_id);
    assert_eq!(one.body["scope"], "entities:read feeds:read");
    assert!(one.body.get("client_secret").is_none(), "{}", one.text);
    assert!(!one.text.contains(&secret), "the secret is shown only once");

    let list = send(&app, get("/api/v1/clients", &t)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let items = list.body["items"].as_array().unwrap();
    assert!(items.iter().any(|c| c["id"] == id), "{}", list.text);
    assert!(items.iter().all(|c| c.get("client_secret").is_none()));
    assert!(
        !list.text.contains(&secret),
        "the list never shows the secret"
    );

    let hash = secret_hash(&ctx, &id);
    assert!(hash.starts_with("$argon2"), "an argon2 PHC string: {hash}");
    assert_ne!(hash, secret);
    assert!(!hash.contains(&secret), "the hash does not hold the secret");
}

/// Least privilege by default: a client registered without `scope` may read what its role
/// reads and change nothing.
#[actix_web::test]
async fn without_a_scope_a_client_gets_only_its_roles_read_scopes() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    for (org, role) in [
        ("authority-finance", Role::SupervisoryAuthority),
        ("csirt-energy", Role::SectoralCsirt),
        ("ncsirt", Role::NationalCsirt),
    ] {
        let body = register_client(&app, &ctx, &ctx.org_id(org), None).await;
        assert_eq!(body["role"], role.as_str());
        let reads: Vec<_> = role
            .ceiling()
            .iter()
            .copied()
            .filter(|s| s.as_str().ends_with(":read"))
            .collect();
        assert!(!reads.is_empty());
        assert_eq!(
            body["scope"],
            nis2hub::auth::scopes::join_scopes(&reads),
            "{org}"
        );
        let granted = body["scope"].as_str().unwrap();
        for never in [
            "entities:write",
            "webhooks:manage",
            "clients:manage",
            "incidents:report",
        ] {
            assert!(!granted.contains(never), "{org}: {granted}");
        }
    }
    // Asked for, a write scope within the ceiling is still granted.
    let body = register_client(
        &app,
        &ctx,
        &ctx.org_id("authority-finance"),
        Some("entities:read entities:write"),
    )
    .await;
    assert_eq!(body["scope"], "entities:read entities:write");
}

#[actix_web::test]
async fn scopes_above_the_role_ceiling_and_unknown_organisations_are_refused() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let energy = ctx.org_id("csirt-energy");
    let before_clients = count(&ctx, "api_clients");
    let before_audit = count(&ctx, "audit_log");

    for scope in [
        "audit:read",
        "entities:read audit:read",
        "clients:manage",
        "entities:write",
        "directory:write",
    ] {
        let r = send(
            &app,
            post(
                "/api/v1/clients",
                &t,
                &json!({"name": "x", "organisation_id": energy, "scope": scope}),
            ),
        )
        .await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(
            r.body["errors"][0]["pointer"], "/scope",
            "{scope}: {}",
            r.text
        );
    }

    // Unknown scope names and an empty scope are refused on the same field.
    for scope in ["entities:delete", ""] {
        let r = send(
            &app,
            post(
                "/api/v1/clients",
                &t,
                &json!({"name": "x", "organisation_id": energy, "scope": scope}),
            ),
        )
        .await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(
            r.body["errors"][0]["pointer"], "/scope",
            "{scope:?}: {}",
            r.text
        );
    }

    for org in [
        uuid::Uuid::now_v7().to_string(),
        "not-an-id".to_string(),
        "ncsirt".to_string(),
    ] {
        let r = send(
            &app,
            post(
                "/api/v1/clients",
                &t,
                &json!({"name": "x", "organisation_id": org, "scope": "entities:read"}),
            ),
        )
        .await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(
            r.body["errors"][0]["pointer"], "/organisation_id",
            "{org}: {}",
            r.text
        );
    }

    assert_eq!(count(&ctx, "api_clients"), before_clients, "nothing stored");
    assert_eq!(
        count(&ctx, "audit_log"),
        before_audit,
        "a refused write is not audited"
    );
}

#[actix_web::test]
async fn only_the_clients_manage_scope_registers_or_lists_clients() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);
    let r = send(
        &app,
        post(
            "/api/v1/clients",
            &energy,
            &json!({"name": "x", "organisation_id": ctx.org_id("csirt-energy"), "scope": "entities:read"}),
        ),
    )
    .await;
    r.assert_problem(403, "insufficient_scope");
    send(&app, get("/api/v1/clients", &energy))
        .await
        .assert_problem(403, "insufficient_scope");
    assert_eq!(count(&ctx, "api_clients"), 0);
}

// ---------------------------------------------------------------------------------------
// The token endpoint
// ---------------------------------------------------------------------------------------

#[actix_web::test]
async fn client_credentials_grant_issues_a_token_limited_to_the_clients_scopes() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    // An entity in the energy CSIRT's sector and one outside it.
    for (ident, sector) in [("1", "energy.electricity"), ("2", "banking")] {
        let r = send(
            &app,
            post("/api/v1/entities", &t, &entity_body(ident, sector)),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let c = register_client(
        &app,
        &ctx,
        &ctx.org_id("csirt-energy"),
        Some("entities:read feeds:read"),
    )
    .await;
    let client_id = c["client_id"].as_str().unwrap();
    let secret = c["client_secret"].as_str().unwrap();

    let r = send(
        &app,
        token_req(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 600, "the configured token lifetime");
    assert_eq!(r.body["scope"], "entities:read feeds:read");
    let access = r.body["access_token"].as_str().unwrap().to_string();
    assert!(!access.is_empty());

    // The token acts as the energy CSIRT: it reads the register, and sees its sector only.
    let list = send(&app, get("/api/v1/entities", &access)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let sectors: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sector"].as_str().unwrap())
        .collect();
    assert_eq!(sectors, vec!["energy.electricity"]);

    // Outside its scopes it is refused, even where the role could have been granted more.
    send(&app, get("/api/v1/organisations", &access))
        .await
        .assert_problem(403, "insufficient_scope");
    send(&app, get("/api/v1/clients", &access))
        .await
        .assert_problem(403, "insufficient_scope");
    send(&app, get("/api/v1/audit", &access))
        .await
        .assert_problem(403, "insufficient_scope");
    send(
        &app,
        post("/api/v1/entities", &access, &entity_body("3", "energy.gas")),
    )
    .await
    .assert_problem(403, "insufficient_scope");
}

#[actix_web::test]
async fn http_basic_credentials_work_too() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let c = register_client(
        &app,
        &ctx,
        &ctx.org_id("csirt-energy"),
        Some("entities:read feeds:read"),
    )
    .await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        c["client_id"].as_str().unwrap(),
        c["client_secret"].as_str().unwrap()
    ));
    let r = send(
        &app,
        token_req(&[("grant_type", "client_credentials")])
            .insert_header(("Authorization", format!("Basic {basic}"))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["scope"], "entities:read feeds:read");
    let access = r.body["access_token"].as_str().unwrap();
    let list = send(&app, get("/api/v1/entities", access)).await;
    assert_eq!(list.status, 200, "{}", list.text);

    // A wrong secret in the Basic header is refused the same way as in the form.
    let wrong = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:wrong", c["client_id"].as_str().unwrap()));
    let r = send(
        &app,
        token_req(&[("grant_type", "client_credentials")])
            .insert_header(("Authorization", format!("Basic {wrong}"))),
    )
    .await;
    assert_oauth_error(&r, 401, "invalid_client");
}

/// RFC 6749 §2.3.1: in HTTP Basic the client id and secret are each form-encoded before
/// Base64, so a client that percent-encodes every byte is accepted like one that encodes
/// nothing (Swagger UI); the scheme name is case-insensitive (RFC 9110 §11.1). RFC 6749 §3.2:
/// a parameter sent without a value counts as omitted, so `scope=` (what Swagger UI sends when
/// no scope is ticked) asks for all of the client's scopes.
#[actix_web::test]
async fn basic_credentials_are_form_decoded_and_empty_parameters_are_omitted() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let c = register_client(
        &app,
        &ctx,
        &ctx.org_id("csirt-energy"),
        Some("entities:read feeds:read"),
    )
    .await;
    let id = c["client_id"].as_str().unwrap();
    let secret = c["client_secret"].as_str().unwrap();
    let every_byte = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        every_byte(id),
        every_byte(secret)
    ));
    let raw = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    for header in [format!("Basic {encoded}"), format!("basic {raw}")] {
        let r = send(
            &app,
            token_req(&[("grant_type", "client_credentials"), ("scope", "")])
                .insert_header(("Authorization", header.clone())),
        )
        .await;
        assert_eq!(r.status, 200, "{header}: {}", r.text);
        assert_eq!(r.body["scope"], "entities:read feeds:read", "{header}");
    }
    // In the form, empty credentials are no credentials.
    let r = send(
        &app,
        token_req(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", ""),
        ]),
    )
    .await;
    assert_oauth_error(&r, 401, "invalid_client");
    let r = send(
        &app,
        token_req(&[
            ("grant_type", ""),
            ("client_id", id),
            ("client_secret", secret),
        ]),
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_request");
    let r = send(
        &app,
        token_req(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("scope", ""),
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["scope"], "entities:read feeds:read");
}

#[actix_web::test]
async fn a_token_may_ask_for_fewer_scopes_but_never_more() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let c = register_client(
        &app,
        &ctx,
        &ctx.org_id("csirt-energy"),
        Some("entities:read feeds:read"),
    )
    .await;
    let client_id = c["client_id"].as_str().unwrap();
    let secret = c["client_secret"].as_str().unwrap();
    let ask = |scope: &'static str| {
        token_req(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", scope),
        ])
    };

    let narrow = send(&app, ask("feeds:read")).await;
    assert_eq!(narrow.status, 200, "{}", narrow.text);
    assert_eq!(narrow.body["scope"], "feeds:read");
    let access = narrow.body["access_token"].as_str().unwrap();
    send(&app, get("/api/v1/entities", access))
        .await
        .assert_problem(403, "insufficient_scope");

    let same = send(&app, ask("feeds:read entities:read")).await;
    assert_eq!(same.status, 200, "{}", same.text);
    assert_eq!(same.body["scope"], "entities:read feeds:read");

    // Wider than granted (within the role's ceiling or not), unknown, or naming no scope
    // (an empty `scope=` is no scope parameter at all, RFC 6749 §3.2: see above).
    for scope in [
        "entities:read directory:read",
        "audit:read",
        "entities:delete",
        " ",
    ] {
        let r = send(&app, ask(scope)).await;
        assert_oauth_error(&r, 400, "invalid_scope");
    }
}

#[actix_web::test]
async fn bad_token_requests_get_rfc_6749_errors() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let c = register_client(
        &app,
        &ctx,
        &ctx.org_id("csirt-energy"),
        Some("entities:read"),
    )
    .await;
    let client_id = c["client_id"].as_str().unwrap();
    let secret = c["client_secret"].as_str().unwrap();

    let wrong = send(
        &app,
        token_req(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", "n2hs_wrong"),
        ]),
    )
    .await;
    assert_oauth_error(&wrong, 401, "invalid_client");
    assert_eq!(
        wrong.header("content-type").as_deref(),
        Some("application/json")
    );

    let unknown = send(
        &app,
        token_req(&[
            ("grant_type", "client_credentials"),
            ("client_id", "n2h_00000000000000000000000000000000"),
            ("client_secret", secret),
        ]),
    )
    .await;
    assert_oauth_error(&unknown, 401, "invalid_client");
    assert_eq!(
        unknown.body["error_description"], wrong.body["error_description"],
        "an unknown client and a wrong secret are told apart by nothing"
    );

    let no_secret = send(
        &app,
        token_req(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
        ]),
    )
    .await;
    assert_oauth_error(&no_secret, 401, "invalid_client");

    let missing = send(
        &app,
        token_req(&[("client_id", client_id), ("client_secret", secret)]),
    )
    .await;
    assert_oauth_error(&missing, 400, "invalid_request");

    let password = send(
        &app,
        token_req(&[
            ("grant_type", "password"),
            ("client_id", client_id),
            ("client_secret", secret),
        ]),
    )
    .await;
    assert_oauth_error(&password, 400, "unsupported_grant_type");

    // The right secret still works after all that.
    let ok = send(
        &app,
        token_req(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
        ]),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
}

#[actix_web::test]
async fn a_revoked_client_gets_no_more_tokens() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let c = register_client(
        &app,
        &ctx,
        &ctx.org_id("csirt-energy"),
        Some("entities:read feeds:read"),
    )
    .await;
    let id = c["id"].as_str().unwrap();
    let creds = [
        ("grant_type", "client_credentials"),
        ("client_id", c["client_id"].as_str().unwrap()),
        ("client_secret", c["client_secret"].as_str().unwrap()),
    ];
    let before = send(&app, token_req(&creds)).await;
    assert_eq!(before.status, 200, "{}", before.text);

    let r = send(&app, delete(&format!("/api/v1/clients/{id}"), &t)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["revoked_at"].is_string(), "{}", r.text);
    assert!(r.body.get("client_secret").is_none());
    let shown = send(&app, get(&format!("/api/v1/clients/{id}"), &t)).await;
    assert_eq!(shown.body["revoked_at"], r.body["revoked_at"]);

    let after = send(&app, token_req(&creds)).await;
    assert_oauth_error(&after, 401, "invalid_client");

    // Revoking again changes nothing and is not audited twice.
    let again = send(&app, delete(&format!("/api/v1/clients/{id}"), &t)).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["revoked_at"], r.body["revoked_at"]);
    let audit = send(
        &app,
        get(
            &format!("/api/v1/audit?resource_type=client&resource_id={id}"),
            &t,
        ),
    )
    .await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec!["client.create", "token.issue", "client.revoke"],
        "the token issued before the revocation is on record too"
    );

    // An unknown client record.
    send(
        &app,
        delete(&format!("/api/v1/clients/{}", uuid::Uuid::now_v7()), &t),
    )
    .await
    .assert_problem(404, "not_found");
}

// ---------------------------------------------------------------------------------------
// The audit log
// ---------------------------------------------------------------------------------------

/// The audit records about one resource, oldest first.
async fn records_for<S, B>(app: &S, ctx: &Ctx, resource_type: &str, id: &str) -> Vec<Value>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = send(
        app,
        get(
            &format!("/api/v1/audit?resource_type={resource_type}&resource_id={id}"),
            &ctx.national(),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn every_write_appends_one_record_with_the_actor_and_the_request_id() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let ncsirt = ctx.org_id("ncsirt");
    let start = count(&ctx, "audit_log");
    let check = |rec: &Value, action: &str, rtype: &str, rid: &str, res: &Res| {
        assert_eq!(rec["action"], action, "{rec}");
        assert_eq!(rec["resource_type"], rtype, "{rec}");
        assert_eq!(rec["resource_id"], rid, "{rec}");
        assert_eq!(rec["actor_org"], ncsirt, "{rec}");
        assert_eq!(rec["actor_sub"], "test:ncsirt", "{rec}");
        assert_eq!(rec["actor_role"], "national_csirt", "{rec}");
        assert!(rec["client_id"].is_null(), "{rec}");
        let header = res.header("x-request-id").expect("a request id header");
        assert_eq!(rec["request_id"], header, "{rec}");
        assert_eq!(rec["hash"].as_str().unwrap().len(), 64, "{rec}");
    };

    // Register an entity.
    let reg = send(
        &app,
        post("/api/v1/entities", &t, &entity_body("500", "energy.gas")),
    )
    .await;
    assert_eq!(reg.status, 201, "{}", reg.text);
    let entity = reg.body["id"].as_str().unwrap().to_string();
    let recs = records_for(&app, &ctx, "entity", &entity).await;
    assert_eq!(recs.len(), 1);
    check(&recs[0], "entity.register", "entity", &entity, &reg);

    // Patch it, with a request id chosen by the caller.
    let upd = send(
        &app,
        patch(
            &format!("/api/v1/entities/{entity}"),
            &t,
            &json!({"size": "medium"}),
        )
        .insert_header(("If-Match", "\"v1\""))
        .insert_header(("x-request-id", "patch-req-0001")),
    )
    .await;
    assert_eq!(upd.status, 200, "{}", upd.text);
    assert_eq!(
        upd.header("x-request-id").as_deref(),
        Some("patch-req-0001")
    );
    let recs = records_for(&app, &ctx, "entity", &entity).await;
    assert_eq!(recs.len(), 2);
    check(&recs[1], "entity.update", "entity", &entity, &upd);
    assert_eq!(recs[1]["request_id"], "patch-req-0001");
    assert_eq!(
        recs[1]["prev_hash"], recs[0]["hash"],
        "consecutive writes link"
    );
    assert_eq!(
        recs[1]["seq"].as_i64(),
        Some(recs[0]["seq"].as_i64().unwrap() + 1)
    );

    // A patch that changes nothing records nothing.
    let same = send(
        &app,
        patch(
            &format!("/api/v1/entities/{entity}"),
            &t,
            &json!({"size": "medium"}),
        ),
    )
    .await;
    assert_eq!(same.status, 200, "{}", same.text);
    assert_eq!(records_for(&app, &ctx, "entity", &entity).await.len(), 2);

    // Create an organisation.
    let org = send(
        &app,
        post(
            "/api/v1/organisations",
            &t,
            &json!({"code": "authority-extra", "name": "Extra Authority", "kind": "supervisory_authority", "coverage": [], "contact": {"email": "nis2@extra.example"}}),
        ),
    )
    .await;
    assert_eq!(org.status, 201, "{}", org.text);
    let org_id = org.body["id"].as_str().unwrap().to_string();
    let recs = records_for(&app, &ctx, "organisation", &org_id).await;
    assert_eq!(recs.len(), 1);
    check(
        &recs[0],
        "organisation.create",
        "organisation",
        &org_id,
        &org,
    );

    // Create a client.
    let cl = send(
        &app,
        post(
            "/api/v1/clients",
            &t,
            &json!({"name": "c", "organisation_id": ctx.org_id("csirt-energy"), "scope": "entities:read"}),
        ),
    )
    .await;
    assert_eq!(cl.status, 201, "{}", cl.text);
    let client = cl.body["id"].as_str().unwrap().to_string();
    let recs = records_for(&app, &ctx, "client", &client).await;
    assert_eq!(recs.len(), 1);
    check(&recs[0], "client.create", "client", &client, &cl);
    assert!(
        !serde_json::to_string(&recs[0])
            .unwrap()
            .contains(cl.body["client_secret"].as_str().unwrap()),
        "the audit log never holds the secret"
    );

    // Revoke it.
    let rv = send(&app, delete(&format!("/api/v1/clients/{client}"), &t)).await;
    assert_eq!(rv.status, 200, "{}", rv.text);
    let recs = records_for(&app, &ctx, "client", &client).await;
    assert_eq!(recs.len(), 2);
    check(&recs[1], "client.revoke", "client", &client, &rv);

    // Reads and refused writes append nothing; five writes appended five records.
    send(&app, get("/api/v1/entities", &t)).await;
    send(
        &app,
        post("/api/v1/entities", &t, &entity_body("500", "energy.gas")),
    )
    .await
    .assert_problem(409, "entity_exists");
    assert_eq!(count(&ctx, "audit_log"), start + 5);
    assert_eq!(seqs_in_db(&ctx), (1..=start + 5).collect::<Vec<_>>());

    let v = send(&app, get("/api/v1/audit/verify", &t)).await;
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(v.body["valid"], true, "{}", v.text);
    assert_eq!(v.body["checked"], start + 5);
    assert!(v.body["first_broken"].is_null());
    assert_eq!(
        v.body["head_hash"], recs[1]["hash"],
        "the head is the last record"
    );
}

#[actix_web::test]
async fn a_write_through_an_api_client_names_the_client_in_the_audit_log() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let entity = register_entity(&app, &t, "600", "health").await;
    let c = register_client(&app, &ctx, &entity, Some("entities:read entities:write")).await;
    assert_eq!(c["role"], "entity");
    let client_id = c["client_id"].as_str().unwrap();
    let tok = send(
        &app,
        token_req(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", c["client_secret"].as_str().unwrap()),
        ]),
    )
    .await;
    assert_eq!(tok.status, 200, "{}", tok.text);
    let access = tok.body["access_token"].as_str().unwrap();

    let upd = send(
        &app,
        patch(
            &format!("/api/v1/entities/{entity}"),
            access,
            &json!({"domains": ["example.nl", "example.org"]}),
        ),
    )
    .await;
    assert_eq!(upd.status, 200, "{}", upd.text);
    let recs = records_for(&app, &ctx, "entity", &entity).await;
    assert_eq!(recs.len(), 2, "{recs:?}");
    let rec = &recs[1];
    assert_eq!(rec["action"], "entity.update");
    assert_eq!(rec["actor_org"], entity);
    assert_eq!(rec["actor_role"], "entity");
    assert_eq!(rec["client_id"], client_id);
    assert_eq!(rec["actor_sub"], format!("client:{client_id}"));
    assert_eq!(rec["request_id"], upd.header("x-request-id").unwrap());
}

#[actix_web::test]
async fn the_audit_log_pages_by_cursor_and_filters() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let mut entities = Vec::new();
    for (ident, sector) in [
        ("1", "energy.electricity"),
        ("2", "banking"),
        ("3", "health"),
    ] {
        let r = send(
            &app,
            post("/api/v1/entities", &t, &entity_body(ident, sector)),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        entities.push(r.body["id"].as_str().unwrap().to_string());
    }
    let total = count(&ctx, "audit_log");
    assert!(total >= 10, "the import's records and three registrations");

    let all = send(&app, get("/api/v1/audit?limit=200", &t)).await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert!(all.body["next_cursor"].is_null());
    assert!(all.header("link").is_none());
    let all_seqs: Vec<i64> = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(all_seqs, (1..=total).collect::<Vec<_>>(), "oldest first");

    // Page through four at a time.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let uri = match &cursor {
            None => "/api/v1/audit?limit=4".to_string(),
            Some(c) => format!("/api/v1/audit?limit=4&cursor={c}"),
        };
        let r = send(&app, get(&uri, &t)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let items = r.body["items"].as_array().unwrap();
        assert!(items.len() <= 4);
        seen.extend(items.iter().map(|r| r["seq"].as_i64().unwrap()));
        pages += 1;
        match r.body["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(items.len(), 4, "only the last page is short");
                let link = r.header("link").expect("a Link header");
                assert!(link.contains("rel=\"next\""), "{link}");
                assert!(link.contains(&format!("cursor={c}")), "{link}");
                assert!(link.contains("limit=4"), "{link}");
                cursor = Some(c.to_string());
            }
            None => break,
        }
        assert!(pages < 100, "pagination ends");
    }
    assert_eq!(seen, all_seqs, "every record once, in order");
    assert_eq!(pages as i64, (total + 3) / 4);

    // Filters.
    let by_type = send(&app, get("/api/v1/audit?resource_type=entity", &t)).await;
    let items = by_type.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|r| r["resource_type"] == "entity"));
    let ids: Vec<&str> = items
        .iter()
        .map(|r| r["resource_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, entities.iter().map(String::as_str).collect::<Vec<_>>());

    let by_id = send(
        &app,
        get(
            &format!(
                "/api/v1/audit?resource_type=entity&resource_id={}",
                entities[1]
            ),
            &t,
        ),
    )
    .await;
    let items = by_id.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", by_id.text);
    assert_eq!(items[0]["resource_id"], entities[1]);

    let orgs = send(
        &app,
        get("/api/v1/audit?resource_type=organisation&limit=4", &t),
    )
    .await;
    assert_eq!(orgs.body["items"].as_array().unwrap().len(), 4);
    let link = orgs.header("link").expect("more organisation records");
    assert!(
        link.contains("resource_type=organisation"),
        "the next link keeps the filter: {link}"
    );
    let next = send(
        &app,
        get(
            &format!(
                "/api/v1/audit?resource_type=organisation&limit=4&cursor={}",
                orgs.body["next_cursor"].as_str().unwrap()
            ),
            &t,
        ),
    )
    .await;
    let next_items = next.body["items"].as_array().unwrap();
    assert!(!next_items.is_empty());
    assert!(next_items
        .iter()
        .all(|r| r["resource_type"] == "organisation"));
    assert!(
        next_items[0]["seq"].as_i64() > orgs.body["items"][3]["seq"].as_i64(),
        "the next page starts after the last one"
    );

    let by_actor = send(
        &app,
        get(
            &format!("/api/v1/audit?actor_org={}", ctx.org_id("ncsirt")),
            &t,
        ),
    )
    .await;
    assert_eq!(by_actor.body["items"].as_array().unwrap().len(), 3);

    let none = send(&app, get("/api/v1/audit?resource_type=client", &t)).await;
    assert_eq!(none.body["items"], json!([]));

    send(&app, get("/api/v1/audit?cursor=%%%", &t))
        .await
        .assert_problem(400, "invalid_cursor");
    send(&app, get("/api/v1/audit?limit=0", &t))
        .await
        .assert_problem(400, "invalid_query");
}

#[actix_web::test]
async fn only_audit_read_sees_the_audit_log() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    for (org, role) in [
        ("csirt-energy", Role::SectoralCsirt),
        ("authority-finance", Role::SupervisoryAuthority),
    ] {
        let tok = ctx.token(org, role);
        send(&app, get("/api/v1/audit", &tok))
            .await
            .assert_problem(403, "insufficient_scope");
        send(&app, get("/api/v1/audit/verify", &tok))
            .await
            .assert_problem(403, "insufficient_scope");
    }
    let no_audit = ctx.token_with(&ctx.org_id("ncsirt"), Role::NationalCsirt, "entities:read");
    send(&app, get("/api/v1/audit", &no_audit))
        .await
        .assert_problem(403, "insufficient_scope");
}

#[actix_web::test]
async fn verify_names_the_first_altered_row() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    send(
        &app,
        post("/api/v1/entities", &t, &entity_body("700", "energy.gas")),
    )
    .await;
    let rows = count(&ctx, "audit_log");
    assert!(rows >= 4);

    let v = send(&app, get("/api/v1/audit/verify", &t)).await;
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(v.body["valid"], true, "{}", v.text);
    assert_eq!(v.body["checked"], rows);
    assert!(v.body["first_broken"].is_null());
    assert_eq!(v.body["head_hash"].as_str().unwrap().len(), 64);

    assert_eq!(
        exec(
            &ctx,
            "UPDATE audit_log SET action = 'tampered' WHERE seq = 2"
        ),
        1
    );
    let v = send(&app, get("/api/v1/audit/verify", &t)).await;
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(v.body["valid"], false, "{}", v.text);
    assert_eq!(v.body["first_broken"]["seq"], 2, "{}", v.text);
    assert!(v.body["first_broken"]["id"].is_string());
    assert!(v.body["first_broken"]["reason"].is_string());
    assert_eq!(v.body["checked"], 1, "only the row before it checks out");
    assert!(v.body["head_hash"].is_null());
}

/// The chain's hash recipe, written out again: SHA-256 over the previous hash and the row's
/// fields, each followed by a unit separator.
fn recompute_hash(r: &nis2hub::audit::AuditRecord) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [
        r.prev_hash.as_str(),
        &r.seq.to_string(),
        &r.id,
        &r.at
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        &r.actor_org,
        &r.actor_sub,
        &r.actor_role,
        r.client_id.as_deref().unwrap_or(""),
        &r.action,
        &r.resource_type,
        &r.resource_id,
        &r.request_id,
    ] {
        h.update(part.as_bytes());
        h.update([0x1f]);
    }
    hex::encode(h.finalize())
}

#[actix_web::test]
async fn a_row_rewritten_with_a_matching_hash_breaks_the_link_of_the_next() {
    use nis2hub::audit::AuditRecord;
    use nis2hub::schema::audit_log;
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    {
        let mut conn = ctx.state.pool.get().unwrap();
        let mut row: AuditRecord = audit_log::table
            .find(3i64)
            .select(AuditRecord::as_select())
            .first(&mut *conn)
            .unwrap();
        assert_eq!(
            recompute_hash(&row),
            row.hash,
            "the recipe is the service's"
        );
        // Someone who knows the recipe alters a row and gives it a hash that matches.
        row.action = "tampered".into();
        row.hash = recompute_hash(&row);
        diesel::update(audit_log::table.find(3i64))
            .set((
                audit_log::action.eq(&row.action),
                audit_log::hash.eq(&row.hash),
            ))
            .execute(&mut *conn)
            .unwrap();
    }
    let v = send(&app, get("/api/v1/audit/verify", &t)).await;
    assert_eq!(v.body["valid"], false, "{}", v.text);
    assert_eq!(
        v.body["first_broken"]["seq"], 4,
        "the next row still links to the old hash: {}",
        v.text
    );
    assert_eq!(v.body["checked"], 3);

    // A hash overwritten with anything else is caught at the row itself.
    exec(
        &ctx,
        "UPDATE audit_log SET hash = '1111111111111111111111111111111111111111111111111111111111111111' WHERE seq = 2",
    );
    let v = send(&app, get("/api/v1/audit/verify", &t)).await;
    assert_eq!(v.body["valid"], false, "{}", v.text);
    assert_eq!(v.body["first_broken"]["seq"], 2, "{}", v.text);
    assert_eq!(v.body["checked"], 1);
}

#[actix_web::test]
async fn verify_names_the_gap_when_a_row_is_deleted() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let rows = count(&ctx, "audit_log");
    assert!(rows >= 5, "the import's records");

    assert_eq!(exec(&ctx, "DELETE FROM audit_log WHERE seq = 3"), 1);
    let v = send(&app, get("/api/v1/audit/verify", &t)).await;
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(v.body["valid"], false, "{}", v.text);
    assert_eq!(
        v.body["first_broken"]["seq"], 4,
        "the row after the gap: {}",
        v.text
    );
    let reason = v.body["first_broken"]["reason"].as_str().unwrap();
    assert!(
        reason.contains('3'),
        "the reason names the missing row: {reason}"
    );
    assert_eq!(v.body["checked"], 2);
}

#[test]
fn concurrent_appends_keep_one_unbroken_chain() {
    let ctx = Ctx::new();
    let start = count(&ctx, "audit_log");
    const THREADS: usize = 8;
    const EACH: usize = 10;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let pool = ctx.state.pool.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let caller = nis2hub::auth::Caller::system("t");
                barrier.wait();
                for i in 0..EACH {
                    let mut conn = pool.get().expect("a pooled connection");
                    nis2hub::db::write_tx(&mut conn, |c| {
                        nis2hub::audit::record(
                            c,
                            &caller,
                            "test.append",
                            "test",
                            &format!("{t}-{i}"),
                        )
                    })
                    .expect("append");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread finished");
    }

    let total = start + (THREADS * EACH) as i64;
    assert_eq!(count(&ctx, "audit_log"), total);
    assert_eq!(
        seqs_in_db(&ctx),
        (1..=total).collect::<Vec<_>>(),
        "seq has no gaps and no duplicates"
    );
    let mut conn = ctx.state.pool.get().unwrap();
    let v = nis2hub::audit::verify(&mut conn).unwrap();
    assert!(v.valid, "{v:?}");
    assert_eq!(v.checked, total);
    assert!(v.first_broken.is_none());

    // Every append is there once.
    use nis2hub::schema::audit_log;
    let mut ids: Vec<String> = audit_log::table
        .filter(audit_log::action.eq("test.append"))
        .select(audit_log::resource_id)
        .load(&mut *conn)
        .unwrap();
    ids.sort();
    let mut expected: Vec<String> = (0..THREADS)
        .flat_map(|t| (0..EACH).map(move |i| format!("{t}-{i}")))
        .collect();
    expected.sort();
    assert_eq!(ids, expected);
}

#[actix_web::test]
async fn concurrent_http_writes_keep_the_chain_valid() {
    // Several registrations in flight at once through the service (joined on one task: the
    // database work runs on the blocking pool, so the transactions do overlap).
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let start = count(&ctx, "audit_log");
    let futures: Vec<_> = (0..8)
        .map(|i| {
            send(
                &app,
                post(
                    "/api/v1/entities",
                    &t,
                    &entity_body(&format!("9{i}"), "energy.gas"),
                ),
            )
        })
        .collect();
    let results = futures_util::future::join_all(futures).await;
    for r in &results {
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let total = start + 8;
    assert_eq!(seqs_in_db(&ctx), (1..=total).collect::<Vec<_>>());
    let v = send(&app, get("/api/v1/audit/verify", &t)).await;
    assert_eq!(v.body["valid"], true, "{}", v.text);
    assert_eq!(v.body["checked"], total);
    // Each response's request id is on its own record.
    let recs = send(&app, get("/api/v1/audit?resource_type=entity", &t)).await;
    let items = recs.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 8);
    for r in &results {
        let id = r.body["id"].as_str().unwrap();
        let rec = items.iter().find(|x| x["resource_id"] == id).unwrap();
        assert_eq!(rec["request_id"], r.header("x-request-id").unwrap());
    }
}

/// A replayed client registration gets the same client, but the secret exists only in the
/// first response: it is stored nowhere, not even for replays.
#[actix_web::test]
async fn a_replayed_client_registration_does_not_reveal_the_secret_again() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let body = serde_json::json!({"name": "replay", "organisation_id": ctx.org_id("csirt-energy")});
    let first = send(
        &app,
        post("/api/v1/clients", &t, &body).insert_header(("Idempotency-Key", "c-1")),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let secret = first.body["client_secret"].as_str().unwrap().to_string();
    let replay = send(
        &app,
        post("/api/v1/clients", &t, &body).insert_header(("Idempotency-Key", "c-1")),
    )
    .await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.body["id"], first.body["id"]);
    assert_eq!(
        replay.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    assert!(!replay.text.contains(&secret));
    assert_eq!(count(&ctx, "api_clients"), 1);
    use diesel::prelude::*;
    let mut conn = ctx.state.pool.get().unwrap();
    let stored: Vec<String> = nis2hub::schema::idempotency_keys::table
        .select(nis2hub::schema::idempotency_keys::body)
        .load(&mut conn)
        .unwrap();
    assert!(
        stored.iter().all(|b| !b.contains(&secret)),
        "the secret is not kept for replays"
    );
}
