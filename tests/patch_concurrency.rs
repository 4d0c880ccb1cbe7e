//! `If-Match` holds under concurrency on every `PATCH` endpoint: of 8 PATCHes sent at once with
//! the same `If-Match`, exactly one is applied (200) and the other 7 are refused (412), and the
//! record moves on exactly one version (RFC 9110 §13.1.1: a stale `If-Match` never lets a
//! change through). On PostgreSQL (READ COMMITTED) a version check made before the `UPDATE`
//! is not enough — two transactions read the same version and both pass — so the endpoints
//! update `WHERE version = <the version read>` or lock the row first. SQLite serialises the
//! writers, so this passes there by construction; both backends run it.
//!
//! The endpoints: `grep '#\[patch(' src` — entities, organisations, advisories, webhooks, CVD
//! cases and CVD vendor entries; [`every_patch_endpoint_is_covered`] fails when one is added
//! without a race here.

mod common;

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use common::*;
use nis2hub::auth::Role;
use serde_json::{json, Value};

/// Concurrent PATCHes per race.
const RACERS: usize = 8;
/// Races per endpoint: one race may happen to serialise by chance; three rarely do.
const ROUNDS: usize = 3;

/// A pool with a connection for every racer, so they really run at once.
fn racing_ctx() -> Ctx {
    Ctx::with_config(true, |cfg| cfg.pool_size = RACERS as u32 + 2)
}

/// How to read the record's version back.
struct Reader<'a> {
    path: String,
    token: &'a str,
    /// JSON pointer to the record inside the GET answer.
    pointer: String,
}

async fn version<S, B>(app: &S, reader: &Reader<'_>) -> (i64, Value)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = send(app, get(&reader.path, reader.token)).await;
    assert_eq!(r.status, 200, "{}: {}", reader.path, r.text);
    let record = r
        .body
        .pointer(&reader.pointer)
        .unwrap_or_else(|| panic!("{} in {}", reader.pointer, r.text))
        .clone();
    let v = record["version"]
        .as_i64()
        .unwrap_or_else(|| panic!("no version in {record}"));
    (v, record)
}

/// Sends [`RACERS`] PATCHes at once, each with a body of its own and all with the If-Match
/// of the version just read, [`ROUNDS`] times; asserts one 200 and the rest 412 each time,
/// one version step each time, and that the stored record is the winner's.
async fn race<S, B>(
    app: &S,
    what: &str,
    path: &str,
    token: &str,
    reader: Reader<'_>,
    body: impl Fn(usize, usize) -> Value,
    field: &str,
) where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    for round in 0..ROUNDS {
        let (before, _) = version(app, &reader).await;
        let tag = format!("\"v{before}\"");
        let bodies: Vec<Value> = (0..RACERS).map(|i| body(round, i)).collect();
        let answers = futures_util::future::join_all(bodies.iter().map(|b| {
            send(
                app,
                patch(path, token, b).insert_header(("If-Match", tag.as_str())),
            )
        }))
        .await;
        let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
        let winners: Vec<usize> = (0..RACERS).filter(|&i| statuses[i] == 200).collect();
        assert_eq!(
            winners.len(),
            1,
            "{what}, round {round}: {RACERS} PATCHes with If-Match {tag} answered {statuses:?}; \
             exactly one may be applied\n{}",
            answers
                .iter()
                .map(|a| a.text.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
        for (i, a) in answers.iter().enumerate() {
            if i != winners[0] {
                a.assert_problem(412, "precondition_failed");
            }
        }
        let winner = &answers[winners[0]];
        let (after, record) = version(app, &reader).await;
        assert_eq!(
            after,
            before + 1,
            "{what}, round {round}: one change moves the record one version"
        );
        assert_eq!(
            record[field], bodies[winners[0]][field],
            "{what}, round {round}: the stored change is the one that was answered 200"
        );
        if let Some(etag) = winner.header("etag") {
            assert_eq!(etag, format!("\"v{after}\""), "{what}: the winner's ETag");
        }
    }
}

#[actix_web::test]
async fn entity_patches_with_one_if_match_apply_once() {
    let ctx = racing_ctx();
    let app = app!(ctx);
    let t = ctx.national();
    let id = register_entity(&app, &t, "70000001", "energy.electricity").await;
    let path = format!("/api/v1/entities/{id}");
    let reader = Reader {
        path: path.clone(),
        token: &t,
        pointer: String::new(),
    };
    race(
        &app,
        "PATCH /api/v1/entities/{id}",
        &path,
        &t,
        reader,
        |round, i| json!({"name": format!("Entity race {round}-{i}")}),
        "name",
    )
    .await;
}

#[actix_web::test]
async fn organisation_patches_with_one_if_match_apply_once() {
    let ctx = racing_ctx();
    let app = app!(ctx);
    let t = ctx.national();
    let id = ctx.org_id("csirt-finance");
    let path = format!("/api/v1/organisations/{id}");
    let reader = Reader {
        path: path.clone(),
        token: &t,
        pointer: String::new(),
    };
    race(
        &app,
        "PATCH /api/v1/organisations/{id}",
        &path,
        &t,
        reader,
        |round, i| json!({"name": format!("Finance CSIRT {round}-{i}")}),
        "name",
    )
    .await;
}

#[actix_web::test]
async fn advisory_patches_with_one_if_match_apply_once() {
    let ctx = racing_ctx();
    let app = app!(ctx);
    let t = ctx.national();
    let created = send(
        &app,
        post(
            "/api/v1/advisories",
            &t,
            &json!({
                "title": "Remote code execution in Example Gateway",
                "summary": "Example Gateway 4.1 and 4.2 allow unauthenticated remote code execution.",
                "audience": "national",
                "tlp": "GREEN",
                "severity": "critical",
                "cves": ["CVE-2026-12345"],
                "affected_products": [{"vendor": "Example Vendor", "product": "Example Gateway",
                                       "versions": ["4.1", "4.2"]}],
                "remediation": "Update to 4.3."
            }),
        ),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/advisories/{id}");
    let reader = Reader {
        path: path.clone(),
        token: &t,
        pointer: String::new(),
    };
    race(
        &app,
        "PATCH /api/v1/advisories/{id}",
        &path,
        &t,
        reader,
        |round, i| json!({"title": format!("Advisory race {round}-{i}")}),
        "title",
    )
    .await;
}

#[actix_web::test]
async fn webhook_patches_with_one_if_match_apply_once() {
    let ctx = racing_ctx();
    let app = app!(ctx);
    let t = ctx.token("csirt-energy", Role::SectoralCsirt);
    let created = send(
        &app,
        post(
            "/api/v1/webhooks",
            &t,
            &json!({"url": "http://127.0.0.1:9/hook", "description": "race"}),
        ),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/webhooks/{id}");
    let reader = Reader {
        path: path.clone(),
        token: &t,
        pointer: String::new(),
    };
    race(
        &app,
        "PATCH /api/v1/webhooks/{id}",
        &path,
        &t,
        reader,
        |round, i| json!({"description": format!("webhook race {round}-{i}")}),
        "description",
    )
    .await;
}

/// A case reported anonymously; its id.
async fn cvd_case<S, B>(app: &S) -> String
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = send(
        app,
        TestRequest::post()
            .uri("/api/v1/cvd/reports")
            .peer_addr("203.0.113.77:40000".parse().unwrap())
            .set_json(json!({
                "title": "VPN bypass",
                "description": "An empty password on /login grants a session.",
                "vendor": "Example Networks", "product": "ExampleVPN", "versions": ["4.2"]
            })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["case_id"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn cvd_case_patches_with_one_if_match_apply_once() {
    let ctx = racing_ctx();
    let app = app!(ctx);
    let t = ctx.national();
    let case = cvd_case(&app).await;
    let path = format!("/api/v1/cvd/cases/{case}");
    let reader = Reader {
        path: path.clone(),
        token: &t,
        pointer: String::new(),
    };
    race(
        &app,
        "PATCH /api/v1/cvd/cases/{id}",
        &path,
        &t,
        reader,
        |round, i| json!({"title": format!("CVD race {round}-{i}")}),
        "title",
    )
    .await;
}

#[actix_web::test]
async fn cvd_vendor_patches_with_one_if_match_apply_once() {
    let ctx = racing_ctx();
    let app = app!(ctx);
    let t = ctx.national();
    let case = cvd_case(&app).await;
    let triaged = send(
        &app,
        post(
            &format!("/api/v1/cvd/cases/{case}/triage"),
            &t,
            &json!({"state": "triaged"}),
        ),
    )
    .await;
    assert_eq!(triaged.status, 200, "{}", triaged.text);
    let vendor = send(
        &app,
        post(
            &format!("/api/v1/cvd/cases/{case}/vendors"),
            &t,
            &json!({"name": "Example Networks", "contact_email": "psirt@example.com"}),
        ),
    )
    .await;
    assert_eq!(vendor.status, 201, "{}", vendor.text);
    let vendor_id = vendor.body["id"].as_str().unwrap().to_string();
    let case_path = format!("/api/v1/cvd/cases/{case}");
    let listed = send(&app, get(&case_path, &t)).await;
    let index = listed.body["vendors"]
        .as_array()
        .and_then(|v| v.iter().position(|x| x["id"] == vendor_id.as_str()))
        .unwrap_or_else(|| panic!("the vendor is listed on its case: {}", listed.text));
    let reader = Reader {
        path: case_path,
        token: &t,
        pointer: format!("/vendors/{index}"),
    };
    race(
        &app,
        "PATCH /api/v1/cvd/cases/{id}/vendors/{vendor_id}",
        &format!("/api/v1/cvd/cases/{case}/vendors/{vendor_id}"),
        &t,
        reader,
        |round, i| json!({"statement": format!("vendor race {round}-{i}")}),
        "statement",
    )
    .await;
}

/// The races above cover every `#[patch(…)]` route in the source; a new one needs a race here.
#[test]
fn every_patch_endpoint_is_covered() {
    let covered = [
        "/entities/{id}",
        "/organisations/{id}",
        "/advisories/{id}",
        "/webhooks/{id}",
        "/cvd/cases/{id}",
        "/cvd/cases/{id}/vendors/{vendor_id}",
    ];
    let mut found = vec![];
    let mut stack = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for line in text.lines() {
                    if let Some(rest) = line.trim().strip_prefix("#[patch(\"") {
                        found.push(rest.split('"').next().unwrap().to_string());
                    }
                }
            }
        }
    }
    found.sort();
    let mut expected: Vec<String> = covered.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(found, expected, "every PATCH route has a race in this file");
}
