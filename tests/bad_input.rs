//! Bad input of every kind gets the right 4xx `application/problem+json`, with the request id
//! of the response in it, and writes nothing: no entity, no version, no audit record.

mod common;
use actix_web::test::TestRequest;
use common::*;
use serde_json::{json, Value};

/// What a refused write must leave untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Written {
    entities: i64,
    entity_versions: i64,
    audit_log: i64,
}

fn written(ctx: &Ctx) -> Written {
    Written {
        entities: count(ctx, "entities"),
        entity_versions: count(ctx, "entity_versions"),
        audit_log: count(ctx, "audit_log"),
    }
}

/// The problem carries the request id that the response header carries.
fn assert_request_id(r: &Res) {
    let header = r
        .header("x-request-id")
        .expect("every response has an x-request-id");
    assert!(!header.is_empty());
    assert_eq!(
        r.body["request_id"].as_str(),
        Some(header.as_str()),
        "the problem's request_id is the response's x-request-id: {}",
        r.text
    );
}

/// A refused request: this problem, with its request id, and nothing written since `before`.
fn assert_refused(ctx: &Ctx, before: Written, r: &Res, status: u16, code: &str) {
    r.assert_problem(status, code);
    assert_request_id(r);
    assert_eq!(
        written(ctx),
        before,
        "a refused request writes nothing: {}",
        r.text
    );
}

/// The JSON pointers of a validation problem, in the order given.
fn pointers(r: &Res) -> Vec<String> {
    r.body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("a validation problem lists its errors: {}", r.text))
        .iter()
        .map(|e| {
            assert!(
                e["message"].as_str().is_some_and(|m| !m.is_empty()),
                "every error says what is wrong: {}",
                r.text
            );
            e["pointer"].as_str().unwrap().to_string()
        })
        .collect()
}

fn raw(
    method: &str,
    path: &str,
    token: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> TestRequest {
    let req = match method {
        "POST" => TestRequest::post(),
        "PATCH" => TestRequest::patch(),
        "PUT" => TestRequest::put(),
        "DELETE" => TestRequest::delete(),
        _ => TestRequest::get(),
    }
    .uri(path)
    .insert_header(("Authorization", format!("Bearer {token}")));
    let req = match content_type {
        Some(ct) => req.insert_header(("Content-Type", ct)),
        None => req,
    };
    req.set_payload(body.to_vec())
}

/// Like `send`, for a request built by hand (to drop headers `TestRequest` always sets).
async fn send_request<S, B>(app: &S, req: actix_http::Request) -> Res
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let res = actix_web::test::call_service(app, req).await;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = actix_web::test::read_body(res).await;
    Res {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text: String::from_utf8_lossy(&bytes).to_string(),
    }
}

/// Registers one entity and returns its path.
async fn registered<S, B>(app: &S, ctx: &Ctx, identifier: &str) -> String
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let r = send(
        app,
        post(
            "/api/v1/entities",
            &ctx.national(),
            &entity_body(identifier, "energy.electricity"),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    format!("/api/v1/entities/{}", r.body["id"].as_str().unwrap())
}

#[actix_web::test]
async fn malformed_json_is_400() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let before = written(&ctx);
    let bodies: &[(&str, &[u8])] = &[
        ("truncated", br#"{"name": "A", "identifier":"#),
        ("unquoted key", br#"{name: "A"}"#),
        ("trailing comma", br#"{"name": "A",}"#),
        ("empty body", b""),
        ("not UTF-8", b"{\"name\": \"\xff\xfe\"}"),
        ("single quotes", b"{'name': 'A'}"),
    ];
    for (what, body) in bodies {
        let r = send(
            &app,
            raw(
                "POST",
                "/api/v1/entities",
                &t,
                Some("application/json"),
                body,
            ),
        )
        .await;
        assert_eq!(r.status, 400, "{what}: {}", r.text);
        assert_refused(&ctx, before, &r, 400, "malformed_json");
    }
    // A valid document followed by anything else is malformed as a whole.
    let valid = serde_json::to_string(&entity_body("trailing", "health")).unwrap();
    for (what, body) in [
        ("text after the document", format!("{valid} x")),
        ("two documents", format!("{valid}{valid}")),
    ] {
        let r = send(
            &app,
            raw(
                "POST",
                "/api/v1/entities",
                &t,
                Some("application/json"),
                body.as_bytes(),
            ),
        )
        .await;
        assert_eq!(r.status, 400, "{what}: {}", r.text);
        assert_refused(&ctx, before, &r, 400, "malformed_json");
    }
}

#[actix_web::test]
async fn invalid_registrations_are_422_and_point_at_the_field() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let before = written(&ctx);
    let base = entity_body("bad-1", "energy.electricity");
    let with = |changes: Value| {
        let mut b = base.clone();
        json_patch(&mut b, &changes);
        b
    };
    let without = |fields: &[&str]| {
        let mut b = base.clone();
        for f in fields {
            b.as_object_mut().unwrap().remove(*f);
        }
        b
    };
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "wrong type",
            with(json!({"employees": "many"})),
            vec!["/employees"],
        ),
        (
            "negative count",
            with(json!({"employees": -5})),
            vec!["/employees"],
        ),
        (
            "fraction for euros",
            with(json!({"annual_turnover_eur": 1.5})),
            vec!["/annual_turnover_eur"],
        ),
        (
            "number for a string",
            with(json!({"name": 42})),
            vec!["/name"],
        ),
        (
            "unknown size class",
            with(json!({"size": "huge"})),
            vec!["/size"],
        ),
        (
            "wrong type deep in a list",
            with(json!({"contacts": [{"name": "A", "email": "a@example.nl", "phone": 5}]})),
            vec!["/contacts/0/phone"],
        ),
        (
            "unknown sector",
            with(json!({"sector": "mining"})),
            vec!["/sector"],
        ),
        (
            "a sector that has subsectors",
            with(json!({"sector": "energy"})),
            vec!["/sector"],
        ),
        (
            "bad additional sector",
            with(json!({"additional_sectors": ["health", "transport"]})),
            vec!["/additional_sectors/1"],
        ),
        (
            "the second CIDR is bad",
            with(json!({"ip_ranges": ["192.0.2.0/24", "192.0.2.0/33"]})),
            vec!["/ip_ranges/1"],
        ),
        (
            "not a CIDR at all",
            with(json!({"ip_ranges": ["2001:db8::/32", "10.0.0.0/8", "localhost"]})),
            vec!["/ip_ranges/2"],
        ),
        (
            "bad e-mail",
            with(json!({"contacts": [{"name": "Desk", "email": "not-an-address"}]})),
            vec!["/contacts/0/email"],
        ),
        (
            "bad domain",
            with(json!({"domains": ["example.nl", "-bad-.nl"]})),
            vec!["/domains/1"],
        ),
        (
            "non-member state",
            with(json!({"country": "US"})),
            vec!["/country"],
        ),
        (
            "UK is not a member state",
            with(json!({"country": "GB"})),
            vec!["/country"],
        ),
        (
            "non-member service state",
            with(json!({"service_member_states": ["NL", "CH"]})),
            vec!["/service_member_states/1"],
        ),
        (
            "qualified trust service provider outside trust services",
            with(json!({"qualified_trust_service_provider": true})),
            vec!["/qualified_trust_service_provider"],
        ),
        (
            "neither size nor employees",
            without(&["size"]),
            vec!["/size"],
        ),
        ("empty name", with(json!({"name": ""})), vec!["/name"]),
        (
            "too many employees",
            with(json!({"employees": 20_000_000})),
            vec!["/employees"],
        ),
    ];
    for (what, body, expected) in cases {
        let r = send(&app, post("/api/v1/entities", &t, &body)).await;
        assert_eq!(r.status, 422, "{what}: {}", r.text);
        assert_refused(&ctx, before, &r, 422, "validation_failed");
        assert_eq!(pointers(&r), expected, "{what}: {}", r.text);
    }
}

/// RFC 7396 merge, for building test bodies.
fn json_patch(target: &mut Value, patch: &Value) {
    nis2hub::http::json::merge_patch(target, patch);
}

#[actix_web::test]
async fn unknown_fields_and_wrong_shapes_are_422() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let before = written(&ctx);

    let mut body = entity_body("bad-2", "health");
    body["colour"] = json!("blue");
    let r = send(&app, post("/api/v1/entities", &t, &body)).await;
    assert_refused(&ctx, before, &r, 422, "validation_failed");
    assert_eq!(pointers(&r), vec!["/colour"]);
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "the error names the unknown field: {}",
        r.text
    );

    let mut body = entity_body("bad-3", "health");
    body["contacts"][0]["fax"] = json!("+31 20 000 0001");
    let r = send(&app, post("/api/v1/entities", &t, &body)).await;
    assert_refused(&ctx, before, &r, 422, "validation_failed");
    assert_eq!(pointers(&r), vec!["/contacts/0/fax"]);

    for shape in [json!([]), json!("entity"), json!(17), json!(null)] {
        let r = send(&app, post("/api/v1/entities", &t, &shape)).await;
        assert_refused(&ctx, before, &r, 422, "validation_failed");
        assert_eq!(pointers(&r), vec![""], "{shape}: {}", r.text);
    }
}

#[actix_web::test]
async fn every_invalid_field_is_reported_at_once() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let before = written(&ctx);
    let mut body = entity_body("bad-4", "energy");
    body["country"] = json!("US");
    body["ip_ranges"] = json!(["192.0.2.0/24", "nope"]);
    body["qualified_trust_service_provider"] = json!(true);
    let r = send(&app, post("/api/v1/entities", &ctx.national(), &body)).await;
    assert_refused(&ctx, before, &r, 422, "validation_failed");
    let mut got = pointers(&r);
    got.sort();
    assert_eq!(
        got,
        vec![
            "/country",
            "/ip_ranges/1",
            "/qualified_trust_service_provider",
            "/sector"
        ]
    );
    assert!(
        r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["pointer"] == "/sector"
                && e["message"]
                    .as_str()
                    .unwrap()
                    .contains("energy.electricity")),
        "a sector with subsectors names the ones to use: {}",
        r.text
    );
}

#[actix_web::test]
async fn missing_fields_are_reported_at_once_with_the_other_errors() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let before = written(&ctx);
    let mut body = entity_body("bad-5", "energy.electricity");
    let fields = body.as_object_mut().unwrap();
    fields.remove("name");
    fields.remove("country");
    body["employees"] = json!("many");
    body["contacts"] = json!([{"name": "Desk", "email": "not-an-address"}]);
    let r = send(&app, post("/api/v1/entities", &ctx.national(), &body)).await;
    assert_refused(&ctx, before, &r, 422, "validation_failed");
    assert_eq!(
        pointers(&r),
        vec!["/contacts/0/email", "/country", "/employees", "/name"],
        "{}",
        r.text
    );
    let missing =
        |p: &str| {
            r.body["errors"].as_array().unwrap().iter().any(|e| {
                e["pointer"] == p && e["message"] == format!("missing field `{}`", &p[1..])
            })
        };
    assert!(missing("/name") && missing("/country"), "{}", r.text);
}

#[actix_web::test]
async fn a_body_over_the_limit_is_413() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let limit = 64 * 1024;
    // A valid registration padded with whitespace to an exact size.
    let padded = |identifier: &str, size: usize| -> Vec<u8> {
        let mut bytes = serde_json::to_vec(&entity_body(identifier, "health")).unwrap();
        assert!(bytes.len() < size);
        bytes.resize(size, b' ');
        bytes
    };
    let before = written(&ctx);

    let r = send(
        &app,
        raw(
            "POST",
            "/api/v1/entities",
            &t,
            Some("application/json"),
            &padded("big-1", limit + 1),
        ),
    )
    .await;
    assert_refused(&ctx, before, &r, 413, "payload_too_large");

    // Without a Content-Length the body is still cut off at the limit.
    let mut req = raw(
        "POST",
        "/api/v1/entities",
        &t,
        Some("application/json"),
        &padded("big-2", 3 * limit),
    )
    .to_request();
    req.headers_mut()
        .remove(actix_web::http::header::CONTENT_LENGTH);
    let r = send_request(&app, req).await;
    assert_refused(&ctx, before, &r, 413, "payload_too_large");

    // An oversized patch is refused the same way, and the entity keeps its version.
    let path = registered(&app, &ctx, "big-3").await;
    let before = written(&ctx);
    let mut patch_body = br#"{"name": "Renamed"}"#.to_vec();
    patch_body.resize(limit + 1, b' ');
    let r = send(
        &app,
        raw("PATCH", &path, &t, Some("application/json"), &patch_body),
    )
    .await;
    assert_refused(&ctx, before, &r, 413, "payload_too_large");
    let now = send(&app, get(&path, &t)).await;
    assert_eq!(now.body["version"], 1);

    // The limit itself is allowed.
    let r = send(
        &app,
        raw(
            "POST",
            "/api/v1/entities",
            &t,
            Some("application/json"),
            &padded("big-4", limit),
        ),
    )
    .await;
    assert_eq!(
        r.status, 201,
        "a body of exactly the limit is accepted: {}",
        r.text
    );
}

#[actix_web::test]
async fn a_body_that_is_not_json_is_415() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let body = serde_json::to_vec(&entity_body("ct-1", "health")).unwrap();
    let before = written(&ctx);
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/xml"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let r = send(&app, raw("POST", "/api/v1/entities", &t, ct, &body)).await;
        assert_eq!(r.status, 415, "{ct:?}: {}", r.text);
        assert_refused(&ctx, before, &r, 415, "unsupported_media_type");
    }

    let path = registered(&app, &ctx, "ct-2").await;
    let before = written(&ctx);
    let r = send(
        &app,
        raw("PATCH", &path, &t, Some("text/plain"), br#"{"name": "X"}"#),
    )
    .await;
    assert_refused(&ctx, before, &r, 415, "unsupported_media_type");
    let r = send(
        &app,
        raw(
            "POST",
            &format!("{path}/deregister"),
            &t,
            Some("text/plain"),
            br#"{"reason": "gone"}"#,
        ),
    )
    .await;
    assert_refused(&ctx, before, &r, 415, "unsupported_media_type");

    // JSON with parameters and the merge-patch type are JSON.
    let r = send(
        &app,
        raw(
            "PATCH",
            &path,
            &t,
            Some("application/merge-patch+json; charset=utf-8"),
            br#"{"name": "Merged"}"#,
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "Merged");
}

#[actix_web::test]
async fn a_stale_if_match_is_412_and_changes_nothing() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let path = registered(&app, &ctx, "etag-1").await;
    let u = send(
        &app,
        patch(&path, &t, &json!({"size": "medium"})).insert_header(("If-Match", "\"v1\"")),
    )
    .await;
    assert_eq!(u.status, 200, "{}", u.text);
    let current = send(&app, get(&path, &t)).await;
    assert_eq!(current.header("etag").as_deref(), Some("\"v2\""));

    let before = written(&ctx);
    for tag in ["\"v1\"", "\"v3\"", "W/\"v1\"", "\"v1\", \"v3\"", "garbage"] {
        let r = send(
            &app,
            patch(&path, &t, &json!({"size": "small"})).insert_header(("If-Match", tag)),
        )
        .await;
        assert_eq!(r.status, 412, "If-Match {tag}: {}", r.text);
        assert_refused(&ctx, before, &r, 412, "precondition_failed");
    }
    let r = send(
        &app,
        post(
            &format!("{path}/deregister"),
            &t,
            &json!({"reason": "gone"}),
        )
        .insert_header(("If-Match", "\"v1\"")),
    )
    .await;
    assert_refused(&ctx, before, &r, 412, "precondition_failed");

    let after = send(&app, get(&path, &t)).await;
    assert_eq!(after.body, current.body, "the record is as it was");
    assert_eq!(after.header("etag").as_deref(), Some("\"v2\""));
}

#[actix_web::test]
async fn a_patch_that_makes_the_document_invalid_changes_nothing() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let path = registered(&app, &ctx, "patch-1").await;
    let original = send(&app, get(&path, &t)).await;
    let before = written(&ctx);

    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"country": "US"}), vec!["/country"]),
        (json!({"sector": "energy"}), vec!["/sector"]),
        (json!({"employees": "many"}), vec!["/employees"]),
        (
            json!({"ip_ranges": ["192.0.2.0/24", "300.0.0.0/8"]}),
            vec!["/ip_ranges/1"],
        ),
        (
            json!({"contacts": [{"name": "Desk", "email": "nope"}]}),
            vec!["/contacts/0/email"],
        ),
        (json!({"size": null}), vec!["/size"]),
        (
            json!({"qualified_trust_service_provider": true}),
            vec!["/qualified_trust_service_provider"],
        ),
        (
            json!({"country": "CH", "domains": ["not a domain"]}),
            vec!["/country", "/domains/0"],
        ),
        (
            json!([{"op": "replace", "path": "/name", "value": "X"}]),
            vec![""],
        ),
        (json!("medium"), vec![""]),
    ];
    for (p, expected) in cases {
        let r = send(
            &app,
            patch(&path, &t, &p).insert_header(("If-Match", "\"v1\"")),
        )
        .await;
        assert_eq!(r.status, 422, "{p}: {}", r.text);
        assert_refused(&ctx, before, &r, 422, "validation_failed");
        assert_eq!(pointers(&r), expected, "{p}: {}", r.text);
    }

    // A patch that adds an unknown field, or removes a required one, is refused too.
    for p in [json!({"colour": "blue"}), json!({"name": null})] {
        let r = send(&app, patch(&path, &t, &p)).await;
        assert_refused(&ctx, before, &r, 422, "validation_failed");
    }
    let r = send(
        &app,
        raw("PATCH", &path, &t, Some("application/json"), b"{\"size\": "),
    )
    .await;
    assert_refused(&ctx, before, &r, 400, "malformed_json");

    let after = send(&app, get(&path, &t)).await;
    assert_eq!(after.body, original.body, "the record is unchanged");
    assert_eq!(after.header("etag").as_deref(), Some("\"v1\""));
    let h = send(&app, get(&format!("{path}/history"), &t)).await;
    assert_eq!(h.body["items"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn other_refused_writes_change_nothing() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let path = registered(&app, &ctx, "dup-1").await;
    let before = written(&ctx);

    // The same identifier in the same country.
    let r = send(
        &app,
        post("/api/v1/entities", &t, &entity_body("dup-1", "health")),
    )
    .await;
    assert_refused(&ctx, before, &r, 409, "entity_exists");

    // A malformed Idempotency-Key is refused, not ignored.
    for key in ["", &"k".repeat(256), "with space"] {
        let r = send(
            &app,
            post("/api/v1/entities", &t, &entity_body("idem-1", "health"))
                .insert_header(("Idempotency-Key", key)),
        )
        .await;
        assert_refused(&ctx, before, &r, 400, "invalid_idempotency_key");
    }
    assert_eq!(count(&ctx, "idempotency_keys"), 0);

    // A deregistration needs a reason, and nothing else.
    for (body, pointer) in [
        (json!({"reason": ""}), "/reason"),
        (json!({}), "/reason"),
        (json!({"reason": "gone", "when": "now"}), "/when"),
    ] {
        let r = send(&app, post(&format!("{path}/deregister"), &t, &body)).await;
        assert_refused(&ctx, before, &r, 422, "validation_failed");
        assert_eq!(pointers(&r)[0], pointer, "{body}: {}", r.text);
    }
    let now = send(&app, get(&path, &t)).await;
    assert_eq!(now.body["status"], "registered");
    assert_eq!(now.body["version"], 1);
}

#[actix_web::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let path = registered(&app, &ctx, "route-1").await;
    let before = written(&ctx);

    for uri in [
        "/api/v1/nope",
        "/api/v2/entities",
        "/api/v1/entities/a/b/c",
        "/nope",
    ] {
        let r = send(&app, get(uri, &t)).await;
        assert_eq!(r.status, 404, "{uri}: {}", r.text);
        assert_refused(&ctx, before, &r, 404, "route_not_found");
    }
    let r = send(
        &app,
        post("/api/v1/nope", &t, &entity_body("route-2", "health")),
    )
    .await;
    assert_refused(&ctx, before, &r, 404, "route_not_found");
    // Without a token too: an unknown route is not an authentication question.
    let r = send(&app, TestRequest::get().uri("/api/v1/nope")).await;
    assert_refused(&ctx, before, &r, 404, "route_not_found");

    let body = serde_json::to_vec(&entity_body("route-3", "health")).unwrap();
    for (method, uri) in [
        ("DELETE", "/api/v1/entities".to_string()),
        ("PUT", "/api/v1/entities".to_string()),
        ("PUT", path.clone()),
        ("DELETE", path.clone()),
        ("POST", path.clone()),
        ("GET", format!("{path}/deregister")),
        ("POST", "/api/v1/sectors".to_string()),
        ("PATCH", "/api/v1/organisations".to_string()),
    ] {
        let r = send(&app, raw(method, &uri, &t, Some("application/json"), &body)).await;
        assert_eq!(r.status, 405, "{method} {uri}: {}", r.text);
        assert_refused(&ctx, before, &r, 405, "method_not_allowed");
        let allow = r.header("allow").expect("a 405 says what is allowed");
        assert!(
            !allow.contains(method),
            "{method} {uri}: Allow lists only what the resource serves: {allow}"
        );
    }
    let r = send(
        &app,
        raw(
            "POST",
            "/api/v1/sectors",
            &t,
            Some("application/json"),
            &body,
        ),
    )
    .await;
    assert_eq!(r.header("allow").as_deref(), Some("GET"));
    let now = send(&app, get(&path, &t)).await;
    assert_eq!(now.body["version"], 1);
}

#[actix_web::test]
async fn bad_query_parameters_are_400() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let path = registered(&app, &ctx, "query-1").await;
    let before = written(&ctx);
    let long_q = format!("/api/v1/entities?q={}", "a".repeat(201));
    let cases: Vec<(String, &str)> = vec![
        ("/api/v1/entities?limit=0".into(), "invalid_query"),
        ("/api/v1/entities?limit=201".into(), "invalid_query"),
        ("/api/v1/entities?limit=-1".into(), "invalid_query"),
        ("/api/v1/entities?limit=abc".into(), "invalid_query"),
        ("/api/v1/entities?limit=1.5".into(), "invalid_query"),
        ("/api/v1/entities?cursor=%25%25%25".into(), "invalid_cursor"),
        ("/api/v1/entities?cursor=!!!".into(), "invalid_cursor"),
        ("/api/v1/entities?cursor=".into(), "invalid_cursor"),
        ("/api/v1/entities?category=nope".into(), "invalid_query"),
        ("/api/v1/entities?status=gone".into(), "invalid_query"),
        (
            "/api/v1/entities?updated_since=yesterday".into(),
            "invalid_query",
        ),
        (long_q, "invalid_query"),
        ("/api/v1/organisations?limit=0".into(), "invalid_query"),
        ("/api/v1/organisations?limit=abc".into(), "invalid_query"),
        ("/api/v1/organisations?kind=nope".into(), "invalid_query"),
        ("/api/v1/organisations?cursor=***".into(), "invalid_cursor"),
        (format!("{path}/history?limit=0"), "invalid_query"),
        // Decodes, but is not a version number.
        (format!("{path}/history?cursor=YWJj"), "invalid_cursor"),
    ];
    for (uri, code) in cases {
        let r = send(&app, get(&uri, &t)).await;
        assert_eq!(r.status, 400, "{uri}: {}", r.text);
        assert_refused(&ctx, before, &r, 400, code);
    }
    // The bounds themselves are fine.
    for uri in ["/api/v1/entities?limit=1", "/api/v1/entities?limit=200"] {
        assert_eq!(send(&app, get(uri, &t)).await.status, 200, "{uri}");
    }
}

#[actix_web::test]
async fn a_malformed_id_is_404_like_an_unknown_one() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    registered(&app, &ctx, "id-1").await;
    let before = written(&ctx);
    let unknown = uuid::Uuid::now_v7().to_string();
    for id in [
        "not-a-uuid",
        "123",
        "%20",
        "0193a0b2-7c1e-7d3a-9f00",
        &unknown,
    ] {
        let entity = format!("/api/v1/entities/{id}");
        for r in [
            send(&app, get(&entity, &t)).await,
            send(&app, get(&format!("{entity}/history"), &t)).await,
            send(&app, patch(&entity, &t, &json!({"name": "X"}))).await,
            send(
                &app,
                post(&format!("{entity}/deregister"), &t, &json!({"reason": "x"})),
            )
            .await,
            send(&app, get(&format!("/api/v1/organisations/{id}"), &t)).await,
            send(
                &app,
                patch(
                    &format!("/api/v1/organisations/{id}"),
                    &t,
                    &json!({"name": "X"}),
                ),
            )
            .await,
        ] {
            assert_eq!(r.status, 404, "{id}: {}", r.text);
            assert_refused(&ctx, before, &r, 404, "not_found");
        }
    }
}

#[actix_web::test]
async fn the_problem_quotes_the_request_id_the_client_sent() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let before = written(&ctx);
    let mut body = entity_body("rid-1", "health");
    body["country"] = json!("US");
    let r = send(
        &app,
        post("/api/v1/entities", &t, &body).insert_header(("x-request-id", "trace-42_abc")),
    )
    .await;
    assert_refused(&ctx, before, &r, 422, "validation_failed");
    assert_eq!(r.body["request_id"], "trace-42_abc");

    // A malformed id is replaced by a fresh one, in the header and the problem alike.
    let r = send(
        &app,
        post("/api/v1/entities", &t, &body).insert_header(("x-request-id", "no spaces allowed")),
    )
    .await;
    assert_refused(&ctx, before, &r, 422, "validation_failed");
    assert_ne!(r.body["request_id"], "no spaces allowed");

    // Every problem gets a distinct id.
    let a = send(&app, get("/api/v1/nope", &t)).await;
    let b = send(&app, get("/api/v1/nope", &t)).await;
    assert_request_id(&a);
    assert_request_id(&b);
    assert_ne!(a.body["request_id"], b.body["request_id"]);
}

/// A merge patch that removes a field the resource does not have (`{"": null}`,
/// `{"nickname": null}`, also inside an object) is refused with 422 naming it, on every
/// resource that takes one, and writes nothing; removing a field it has still works.
#[actix_web::test]
async fn a_patch_removing_an_unknown_field_is_refused() {
    let ctx = Ctx::new();
    let app = actix_web::test::init_service(nis2hub::build_app(ctx.state.clone())).await;
    let national = ctx.national();
    let org = ctx.org_id("ncsirt");
    let entity = registered(&app, &ctx, "PATCH-UNKNOWN-1").await;
    for path in [format!("/api/v1/organisations/{org}"), entity.clone()] {
        for (body, pointer) in [
            (json!({"": null}), "/"),
            (json!({"nickname": null}), "/nickname"),
        ] {
            let before = written(&ctx);
            let r = send_request(&app, patch(&path, &national, &body).to_request()).await;
            assert_refused(&ctx, before, &r, 422, "validation_failed");
            assert_eq!(pointers(&r), vec![pointer.to_string()], "{path} {body}");
        }
    }
    let r = send_request(
        &app,
        patch(
            &format!("/api/v1/organisations/{org}"),
            &national,
            &json!({"contact": {"nickname": null}}),
        )
        .to_request(),
    )
    .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(pointers(&r), vec!["/contact/nickname".to_string()]);
    // A field the entity has may be removed: its optional head count.
    let r = send_request(
        &app,
        patch(&entity, &national, &json!({"employees": null})).to_request(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
}
