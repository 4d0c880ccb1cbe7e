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
    (
        "POST",
        "/api/v1/entities/{id}/deregistration/confirm",
        "entities:write",
    ),
    (
        "POST",
        "/api/v1/entities/{id}/deregistration/reject",
        "entities:write",
    ),
    ("GET", "/api/v1/entities/{id}/history", "entities:read"),
    ("GET", "/api/v1/clients", "clients:manage"),
    ("POST", "/api/v1/clients", "clients:manage"),
    ("GET", "/api/v1/clients/{id}", "clients:manage"),
    ("DELETE", "/api/v1/clients/{id}", "clients:manage"),
    ("GET", "/api/v1/audit", "audit:read"),
    ("GET", "/api/v1/audit/verify", "audit:read"),
    ("POST", "/api/v1/incidents", "incidents:report"),
    ("GET", "/api/v1/incidents", "incidents:read"),
    ("GET", "/api/v1/incidents/{id}", "incidents:read"),
    ("POST", "/api/v1/incidents/{id}/reports", "incidents:report"),
    ("GET", "/api/v1/incidents/{id}/routing", "incidents:read"),
    (
        "POST",
        "/api/v1/incidents/{id}/reports/{report_id}/review",
        "incidents:review",
    ),
    (
        "POST",
        "/api/v1/incidents/{id}/requests",
        "incidents:request",
    ),
    ("POST", "/api/v1/incidents/{id}/close", "incidents:review"),
    ("POST", "/api/v1/routing/evaluate", "routing:evaluate"),
    ("GET", "/api/v1/feed", "feeds:read"),
    ("POST", "/api/v1/webhooks", "webhooks:manage"),
    ("GET", "/api/v1/webhooks", "webhooks:manage"),
    ("GET", "/api/v1/webhooks/{id}", "webhooks:manage"),
    ("PATCH", "/api/v1/webhooks/{id}", "webhooks:manage"),
    ("DELETE", "/api/v1/webhooks/{id}", "webhooks:manage"),
    (
        "POST",
        "/api/v1/webhooks/{id}/rotate-secret",
        "webhooks:manage",
    ),
    ("GET", "/api/v1/webhooks/{id}/deliveries", "webhooks:manage"),
    (
        "POST",
        "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
        "webhooks:manage",
    ),
    ("POST", "/api/v1/webhooks/{id}/redeliver", "webhooks:manage"),
    ("POST", "/api/v1/webhooks/{id}/ping", "webhooks:manage"),
    ("GET", "/api/v1/advisories", "advisories:read"),
    ("POST", "/api/v1/advisories", "advisories:write"),
    ("GET", "/api/v1/advisories/{id}", "advisories:read"),
    ("PATCH", "/api/v1/advisories/{id}", "advisories:write"),
    (
        "POST",
        "/api/v1/advisories/{id}/publish",
        "advisories:write",
    ),
    (
        "POST",
        "/api/v1/advisories/{id}/withdraw",
        "advisories:write",
    ),
    (
        "GET",
        "/api/v1/advisories/{id}/revisions/{number}",
        "advisories:read",
    ),
    ("GET", "/api/v1/advisories/{id}/csaf", "advisories:read"),
    ("GET", "/api/v1/maturity/model", "maturity:read"),
    ("POST", "/api/v1/maturity/assessments", "maturity:write"),
    ("GET", "/api/v1/maturity/assessments", "maturity:read"),
    ("GET", "/api/v1/maturity/assessments/{id}", "maturity:read"),
    ("GET", "/api/v1/maturity/compliance", "maturity:read"),
    ("GET", "/api/v1/awareness", "awareness:read"),
    (
        "GET",
        "/api/v1/awareness/quarterly-summary",
        "awareness:read",
    ),
    ("POST", "/api/v1/cvd/reports", "cvd:report"),
    ("GET", "/api/v1/cvd/cases", "cvd:coordinate"),
    ("GET", "/api/v1/cvd/cases/{id}", "cvd:coordinate"),
    ("PATCH", "/api/v1/cvd/cases/{id}", "cvd:coordinate"),
    ("POST", "/api/v1/cvd/cases/{id}/triage", "cvd:coordinate"),
    ("POST", "/api/v1/cvd/cases/{id}/vendors", "cvd:coordinate"),
    (
        "PATCH",
        "/api/v1/cvd/cases/{id}/vendors/{vendor_id}",
        "cvd:coordinate",
    ),
    ("GET", "/api/v1/cvd/cases/{id}/messages", "cvd:coordinate"),
    ("POST", "/api/v1/cvd/cases/{id}/messages", "cvd:coordinate"),
    ("POST", "/api/v1/cvd/cases/{id}/publish", "cvd:coordinate"),
];

/// Operations of the matrix that also take requests without any token (the public CVD
/// intake): a missing Authorization header is no refusal there, a bad token is.
const ANONYMOUS_TOO: &[(&str, &str)] = &[("POST", "/api/v1/cvd/reports")];

/// The entity operations that only show rows the caller may see.
const ROW_LEVEL: &[(&str, &str, &str)] = &[
    ("GET", "/api/v1/entities/{id}", "entities:read"),
    ("PATCH", "/api/v1/entities/{id}", "entities:write"),
    ("POST", "/api/v1/entities/{id}/deregister", "entities:write"),
    (
        "POST",
        "/api/v1/entities/{id}/deregistration/confirm",
        "entities:write",
    ),
    (
        "POST",
        "/api/v1/entities/{id}/deregistration/reject",
        "entities:write",
    ),
    ("GET", "/api/v1/entities/{id}/history", "entities:read"),
];

/// The incident operations that only show incidents the caller may see: its own for an
/// entity, those routed to it for a CSIRT or authority.
const INCIDENT_ROW_LEVEL: &[(&str, &str, &str)] = &[
    ("GET", "/api/v1/incidents/{id}", "incidents:read"),
    ("GET", "/api/v1/incidents/{id}/routing", "incidents:read"),
    ("POST", "/api/v1/incidents/{id}/reports", "incidents:report"),
    (
        "POST",
        "/api/v1/incidents/{id}/requests",
        "incidents:request",
    ),
    (
        "POST",
        "/api/v1/incidents/{id}/reports/{report_id}/review",
        "incidents:review",
    ),
];

/// The subscription operations: a subscription belongs to one organisation, and is not found
/// for any other (the national CSIRT included). DELETE comes last, so that the controls that
/// run these in order find the subscription until then.
const WEBHOOK_ROW_LEVEL: &[(&str, &str, &str)] = &[
    ("GET", "/api/v1/webhooks/{id}", "webhooks:manage"),
    ("GET", "/api/v1/webhooks/{id}/deliveries", "webhooks:manage"),
    ("PATCH", "/api/v1/webhooks/{id}", "webhooks:manage"),
    (
        "POST",
        "/api/v1/webhooks/{id}/rotate-secret",
        "webhooks:manage",
    ),
    ("POST", "/api/v1/webhooks/{id}/ping", "webhooks:manage"),
    (
        "POST",
        "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
        "webhooks:manage",
    ),
    ("POST", "/api/v1/webhooks/{id}/redeliver", "webhooks:manage"),
    ("DELETE", "/api/v1/webhooks/{id}", "webhooks:manage"),
];

/// Operations that need no token (`/metrics` needs `audit:read`: see tests/ops.rs).
const PUBLIC: &[&str] = &[
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/.well-known/csaf/provider-metadata.json",
    "/.well-known/security.txt",
    "/.well-known/csaf/service.json",
];

/// The CSAF provider's operations for TLP directories: the `white` tree opens without a
/// token, the others need `advisories:read` (tests/csaf_provider.rs crawls them by TLP).
const CSAF_TREES: &[&str] = &[
    "/.well-known/csaf/feed-tlp-{tlp}.json",
    "/.well-known/csaf/{tlp}/index.txt",
    "/.well-known/csaf/{tlp}/changes.csv",
    "/.well-known/csaf/{tlp}/",
    "/.well-known/csaf/{tlp}/{year}/",
    "/.well-known/csaf/{tlp}/{year}/{name}.json",
    "/.well-known/csaf/{tlp}/{year}/{name}.json.sha256",
    "/.well-known/csaf/{tlp}/{year}/{name}.json.sha512",
    "/.well-known/csaf/{tlp}/{year}/{name}.json.asc",
];

const OTHER_SECRET: &str = "another-secret-another-secret-another-0123";

/// The records the `{id}` paths point at.
///
/// The incidents are all of `reporter`, an energy entity that no row changes (`entity` is
/// deregistered by a control, after which it may open no incident), reported by the entity
/// itself and declared significant: they are routed to csirt-energy and
/// authority-infrastructure. The operations that change an incident's state each get an
/// incident of their own, so that a control request succeeds whatever ran before it:
/// `reported` has only its early warning and takes the notification (once: a control pass
/// sends it once per test), `closing` is closed by the control of `/close`, and `incident`
/// takes any number of reviews and requests.
///
/// The subscriptions are the national CSIRT's, whose tokens the matrix uses: `webhook` takes
/// any number of reads, changes, rotations, pings and redeliveries, and `doomed` is the one
/// the control of `DELETE /webhooks/{id}` deletes. `delivery` is the delivery of a ping to
/// `webhook`. Both subscriptions are enabled and, the national CSIRT's, get every event; no
/// worker runs in these tests, so their deliveries stay pending.
#[derive(Clone)]
struct Ids {
    organisation: String,
    /// The national CSIRT: a caller holding only `clients:manage` may register a client for
    /// it (with that scope), and for no one else.
    national: String,
    entity: String,
    /// An energy entity that asked to be deregistered, for `/deregistration/confirm`.
    confirming: String,
    /// Another one, for `/deregistration/reject`.
    rejecting: String,
    client: String,
    /// The entity whose incidents these are.
    reporter: String,
    /// For the reads, `/review` and `/requests`.
    incident: String,
    /// The first report of `incident`.
    report: String,
    /// For `/reports`.
    reported: String,
    /// For `/close`.
    closing: String,
    /// For every `/webhooks/{id}` operation but `DELETE`.
    webhook: String,
    /// For `DELETE /webhooks/{id}`.
    doomed: String,
    /// A delivery to `webhook`, for `/deliveries/{delivery_id}/redeliver`.
    delivery: String,
    /// A published TLP:GREEN advisory of the national CSIRT, for the reads and `PATCH`.
    advisory: String,
    /// A draft, for `/publish`.
    drafting: String,
    /// A published one, for `/withdraw`.
    withdrawing: String,
    /// A self-assessment of csirt-energy, for `/maturity/assessments/{id}`.
    assessment: String,
    /// A CVD case, coordinating, with an external vendor `cvd_vendor`.
    cvd_case: String,
    cvd_vendor: String,
    /// A CVD case just received, for `/triage`.
    cvd_received: String,
    /// A CVD case ready to publish: a product, versions and a vendor that answered.
    cvd_publishing: String,
}

/// A complete advisory (national, TLP:GREEN).
fn advisory_body(title: &str) -> Value {
    json!({
        "title": title, "summary": "Written by the authz test.", "audience": "national",
        "tlp": "GREEN", "severity": "high", "cves": ["CVE-2026-0001"],
        "affected_products": [{"vendor": "V", "product": "P", "versions": ["1.0"], "fixed_in": ["1.1"]}],
        "references": [{"url": "https://vendor.example/a", "summary": "Vendor"}]
    })
}

/// Creates an advisory as the national CSIRT, published or a draft; returns its id.
async fn make_advisory<S, B>(app: &S, token: &str, title: &str, publish: bool) -> String
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = send(
        app,
        post("/api/v1/advisories", token, &advisory_body(title)),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    if publish {
        let uri = format!("/api/v1/advisories/{id}/publish");
        let p = send(app, post(&uri, token, &json!({}))).await;
        assert_eq!(p.status, 200, "{}", p.text);
    }
    id
}

/// A self-assessment of csirt-energy that the service accepts: every SIM3 parameter at 2.
fn assessment_body(organisation: &str) -> Value {
    let model = nis2hub::maturity::model::Model::built_in();
    let scores: serde_json::Map<String, Value> = model
        .catalogue
        .parameters
        .iter()
        .map(|p| (p.id.clone(), json!(2)))
        .collect();
    json!({
        "organisation_id": organisation, "type": "self", "assessors": [],
        "assessed_at": chrono::Utc::now() - chrono::Duration::days(1),
        "model": "sim3-v1", "scores": scores
    })
}

/// The target of every subscription made here: a host the test configuration allows.
const HOOK_URL: &str = "http://127.0.0.1:9/hook";

/// Subscribes the caller's organisation to every event; returns the subscription's id.
async fn subscribe<S, B>(app: &S, token: &str, description: &str) -> String
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = send(
        app,
        post(
            "/api/v1/webhooks",
            token,
            &json!({"url": HOOK_URL, "description": description}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

/// Pings a subscription; returns the id of the one delivery the ping queued, from its log.
async fn ping_delivery<S, B>(app: &S, token: &str, webhook: &str) -> String
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = send(
        app,
        post(
            &format!("/api/v1/webhooks/{webhook}/ping"),
            token,
            &json!({}),
        ),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let seq = r.body["event_seq"].clone();
    assert!(seq.is_i64(), "{}", r.text);
    let uri = format!("/api/v1/webhooks/{webhook}/deliveries?limit=200");
    let log = send(app, get(&uri, token)).await;
    assert_eq!(log.status, 200, "GET {uri}: {}", log.text);
    let found: Vec<&Value> = log.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page of deliveries: {}", log.text))
        .iter()
        .filter(|d| d["event_seq"] == seq && d["event_type"] == "webhook.ping")
        .collect();
    assert_eq!(found.len(), 1, "the ping queued one delivery: {}", log.text);
    found[0]["id"].as_str().unwrap().to_string()
}

/// Reports an incident as the entity itself; returns its id and its first report's id.
async fn report_incident<S, B>(ctx: &Ctx, app: &S, entity: &str, summary: &str) -> (String, String)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let token = ctx.token(entity, Role::Entity);
    let r = send(
        app,
        post(
            "/api/v1/incidents",
            &token,
            &json!({
                "entity_id": entity, "stage": "early_warning",
                "aware_at": chrono::Utc::now() - chrono::Duration::hours(1),
                "significant": true, "summary": summary
            }),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    (
        r.body["id"].as_str().unwrap().to_string(),
        r.body["reports"][0]["id"].as_str().unwrap().to_string(),
    )
}

async fn setup<S, B>(ctx: &Ctx, app: &S) -> Ids
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let t = ctx.national();
    let organisation = ctx.org_id("csirt-energy");
    let webhook = subscribe(app, &t, "authz: read and changed").await;
    let doomed = subscribe(app, &t, "authz: deleted").await;
    let delivery = ping_delivery(app, &t, &webhook).await;
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
    let r = send(
        app,
        post(
            "/api/v1/entities",
            &t,
            &entity_body("authz-reporter", "energy.electricity"),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let reporter = r.body["id"].as_str().unwrap().to_string();
    let mut pending = vec![];
    for ident in ["authz-confirming", "authz-rejecting"] {
        let r = send(
            app,
            post(
                "/api/v1/entities",
                &t,
                &entity_body(ident, "energy.electricity"),
            ),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.body["id"].as_str().unwrap().to_string();
        let d = send(
            app,
            post(
                &format!("/api/v1/entities/{id}/deregister"),
                &ctx.token(&id, Role::Entity),
                &json!({"reason": "authz test"}),
            ),
        )
        .await;
        assert_eq!(d.body["status"], "deregistration_pending", "{}", d.text);
        pending.push(id);
    }
    let (incident, report) = report_incident(ctx, app, &reporter, "authz: read and reviewed").await;
    let (reported, _) = report_incident(ctx, app, &reporter, "authz: takes a report").await;
    let (closing, _) = report_incident(ctx, app, &reporter, "authz: closed").await;
    let advisory = make_advisory(app, &t, "authz: read and changed", true).await;
    let drafting = make_advisory(app, &t, "authz: published", false).await;
    let withdrawing = make_advisory(app, &t, "authz: withdrawn", true).await;
    let m = send(
        app,
        post(
            "/api/v1/maturity/assessments",
            &t,
            &assessment_body(&organisation),
        ),
    )
    .await;
    assert_eq!(m.status, 201, "{}", m.text);
    let mut cases = vec![];
    for title in ["authz: coordinated", "authz: triaged"] {
        let r = send(
            app,
            TestRequest::post()
                .uri("/api/v1/cvd/reports")
                .set_json(json!({"title": title, "description": "authz test"})),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        cases.push(r.body["case_id"].as_str().unwrap().to_string());
    }
    let r = send(
        app,
        post(
            &format!("/api/v1/cvd/cases/{}/triage", cases[0]),
            &t,
            &json!({"state": "triaged"}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = send(
        app,
        post(
            &format!("/api/v1/cvd/cases/{}/vendors", cases[0]),
            &t,
            &json!({"name": "Vendor", "contact_email": "psirt@vendor.example"}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let cvd_vendor = r.body["id"].as_str().unwrap().to_string();
    let r = send(
        app,
        TestRequest::post()
            .uri("/api/v1/cvd/reports")
            .set_json(json!({
                "title": "authz: publishing", "description": "authz test",
                "product": "Product", "versions": ["1.0"]
            })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let cvd_publishing = r.body["case_id"].as_str().unwrap().to_string();
    let r = send(
        app,
        post(
            &format!("/api/v1/cvd/cases/{cvd_publishing}/triage"),
            &t,
            &json!({"state": "triaged"}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = send(
        app,
        post(
            &format!("/api/v1/cvd/cases/{cvd_publishing}/vendors"),
            &t,
            &json!({"name": "Vendor", "contact_email": "psirt@vendor.example"}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = send(
        app,
        patch(
            &format!(
                "/api/v1/cvd/cases/{cvd_publishing}/vendors/{}",
                r.body["id"].as_str().unwrap()
            ),
            r.body["vendor_token"].as_str().unwrap(),
            &json!({"status": "affected"}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    Ids {
        cvd_publishing,
        advisory,
        drafting,
        withdrawing,
        assessment: m.body["id"].as_str().unwrap().to_string(),
        cvd_case: cases[0].clone(),
        cvd_received: cases[1].clone(),
        cvd_vendor,
        organisation,
        national: ctx.org_id("ncsirt"),
        entity: e.body["id"].as_str().unwrap().to_string(),
        confirming: pending[0].clone(),
        rejecting: pending[1].clone(),
        client: c.body["id"].as_str().unwrap().to_string(),
        reporter,
        incident,
        report,
        reported,
        closing,
        webhook,
        doomed,
        delivery,
    }
}

/// The path with `{id}` replaced by a real record of the right kind.
fn concrete(path: &str, ids: &Ids) -> String {
    if path == "/api/v1/awareness/quarterly-summary" {
        return format!("{path}?quarter=2026-Q3");
    }
    let id = if path.starts_with("/api/v1/organisations/") {
        &ids.organisation
    } else if path == "/api/v1/entities/{id}/deregistration/confirm" {
        &ids.confirming
    } else if path == "/api/v1/entities/{id}/deregistration/reject" {
        &ids.rejecting
    } else if path.starts_with("/api/v1/entities/") {
        &ids.entity
    } else if path.starts_with("/api/v1/clients/") {
        &ids.client
    } else if path.starts_with("/api/v1/maturity/assessments/") {
        &ids.assessment
    } else if path.starts_with("/api/v1/webhooks/") {
        return path
            .replace("{id}", &ids.webhook)
            .replace("{delivery_id}", &ids.delivery);
    } else if path.starts_with("/api/v1/advisories/") {
        let advisory = match path {
            "/api/v1/advisories/{id}/publish" => &ids.drafting,
            "/api/v1/advisories/{id}/withdraw" => &ids.withdrawing,
            _ => &ids.advisory,
        };
        return path.replace("{id}", advisory).replace("{number}", "1");
    } else if path == "/api/v1/cvd/cases/{id}/triage" {
        &ids.cvd_received
    } else if path == "/api/v1/cvd/cases/{id}/publish" {
        &ids.cvd_publishing
    } else if path.starts_with("/api/v1/cvd/cases/") {
        return path
            .replace("{id}", &ids.cvd_case)
            .replace("{vendor_id}", &ids.cvd_vendor);
    } else if path.starts_with("/api/v1/incidents/") {
        let incident = match path {
            "/api/v1/incidents/{id}/reports" => &ids.reported,
            "/api/v1/incidents/{id}/close" => &ids.closing,
            _ => &ids.incident,
        };
        return path
            .replace("{id}", incident)
            .replace("{report_id}", &ids.report);
    } else {
        assert!(!path.contains('{'), "no id for {path}");
        return path.to_string();
    };
    path.replace("{id}", id)
}

/// The path of a row of the matrix with real ids: as [`concrete`], but a deletion of a
/// subscription gets a subscription of its own.
fn concrete_row(method: &str, path: &str, ids: &Ids) -> String {
    match (method, path) {
        ("DELETE", "/api/v1/webhooks/{id}") => path.replace("{id}", &ids.doomed),
        _ => concrete(path, ids),
    }
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
        ("POST", "/api/v1/entities/{id}/deregistration/confirm")
        | ("POST", "/api/v1/entities/{id}/deregistration/reject") => {
            Some(json!({"comment": "authz test"}))
        }
        // Without `scope` a client gets the read scopes the caller holds: a token with only
        // `clients:manage` names the one scope it may pass on.
        ("POST", "/api/v1/clients") => {
            Some(json!({"name": "x", "organisation_id": ids.national, "scope": "clients:manage"}))
        }
        ("POST", "/api/v1/incidents") => Some(json!({
            "entity_id": ids.reporter, "stage": "early_warning",
            "aware_at": chrono::Utc::now() - chrono::Duration::hours(1),
            "significant": true, "summary": "Reported by the authz test"
        })),
        // The incident behind this path has only its early warning: the notification is next.
        ("POST", "/api/v1/incidents/{id}/reports") => Some(json!({
            "stage": "notification", "summary": "Notified by the authz test"
        })),
        ("POST", "/api/v1/incidents/{id}/reports/{report_id}/review") => {
            Some(json!({"status": "under_review", "comment": "authz test"}))
        }
        ("POST", "/api/v1/incidents/{id}/requests") => Some(json!({
            "due_at": chrono::Utc::now() + chrono::Duration::days(3), "note": "authz test"
        })),
        ("POST", "/api/v1/incidents/{id}/close") => None,
        ("POST", "/api/v1/webhooks") => {
            Some(json!({"url": HOOK_URL, "description": "Subscribed by the authz test"}))
        }
        ("PATCH", "/api/v1/webhooks/{id}") => Some(json!({"description": "authz test"})),
        ("POST", "/api/v1/webhooks/{id}/rotate-secret") => Some(json!({"overlap_seconds": 60})),
        ("POST", "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver") => None,
        ("POST", "/api/v1/webhooks/{id}/redeliver") => {
            Some(json!({"since": "2000-01-01T00:00:00Z"}))
        }
        ("POST", "/api/v1/webhooks/{id}/ping") => None,
        ("POST", "/api/v1/advisories") => Some(advisory_body("Created by the authz test")),
        ("PATCH", "/api/v1/advisories/{id}") => Some(json!({"title": "Changed by the authz test"})),
        ("POST", "/api/v1/advisories/{id}/publish") => Some(json!({})),
        ("POST", "/api/v1/advisories/{id}/withdraw") => Some(json!({"reason": "authz test"})),
        ("POST", "/api/v1/maturity/assessments") => Some(assessment_body(&ids.organisation)),
        ("POST", "/api/v1/routing/evaluate") => Some(json!({
            "entity": {"country": "NL", "sector": "energy.electricity", "category": "essential"},
            "stage": "early_warning", "affected_member_states": ["NL", "BE"]
        })),
        ("POST", "/api/v1/cvd/reports") => {
            Some(json!({"title": "authz", "description": "Reported by the authz test"}))
        }
        ("PATCH", "/api/v1/cvd/cases/{id}") => Some(json!({"title": "authz: changed"})),
        ("POST", "/api/v1/cvd/cases/{id}/triage") => Some(json!({"state": "triaged"})),
        ("POST", "/api/v1/cvd/cases/{id}/vendors") => {
            Some(json!({"name": "Another vendor", "contact_email": "cert@another.example"}))
        }
        ("PATCH", "/api/v1/cvd/cases/{id}/vendors/{vendor_id}") => {
            Some(json!({"status": "affected"}))
        }
        ("POST", "/api/v1/cvd/cases/{id}/messages") => Some(json!({"body": "authz test"})),
        ("POST", "/api/v1/cvd/cases/{id}/publish") => Some(json!({
            "severity": "low", "force": true, "reason": "authz test",
            "references": [{"url": "https://vendor.example/authz", "summary": "authz"}]
        })),
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
    let uri = concrete_row(method, path, ids);
    let body = body_for(method, path, ids);
    let res = send(app, request(method, &uri, auth, body.as_ref())).await;
    (format!("{method} {uri}"), res)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Everything a refused request could have changed: row counts of every table, and the
/// records the `{id}` paths name, as the national CSIRT reads them (the subscriptions are its
/// own). Incidents are read from the list and the feed, not one by one: every read of one
/// incident is audited, which would change the audit log's row count between two snapshots.
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
        "counters",
        "incidents",
        "incident_reports",
        "incident_decisions",
        "incident_recipients",
        "incident_requests",
        "incident_deadlines",
        "events",
        "event_recipients",
        "webhooks",
        "webhook_deliveries",
        "advisories",
        "advisory_revisions",
        "advisory_readers",
        "maturity_assessments",
        "maturity_compliance",
        "cvd_cases",
        "cvd_vendors",
        "cvd_messages",
    ] {
        out.insert(table.into(), json!(count(ctx, table)));
    }
    for path in [
        "/api/v1/organisations/{id}",
        "/api/v1/entities/{id}",
        "/api/v1/entities/{id}/history",
        "/api/v1/clients/{id}",
        "/api/v1/incidents?limit=200",
        "/api/v1/feed?limit=500",
        "/api/v1/webhooks?limit=200",
        "/api/v1/webhooks/{id}",
        "/api/v1/webhooks/{id}/deliveries?limit=200",
        "/api/v1/maturity/assessments?limit=200",
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
            let scopes = &op["security"][0]["oauth2"];
            if path.starts_with("/api/v1/") {
                documented.push((
                    method.to_uppercase(),
                    path.clone(),
                    scopes
                        .as_array()
                        .map(|s| s.iter().map(|v| v.to_string()).collect::<Vec<_>>())
                        .unwrap_or_default(),
                ));
            } else if path == "/metrics" {
                assert_eq!(scopes, &json!(["audit:read"]), "{method} {path}");
            } else if CSAF_TREES.contains(&path.as_str()) {
                assert_eq!(
                    op["security"],
                    json!([{"oauth2": ["advisories:read"]}, {"bearer": []}, {}]),
                    "{method} {path}: a token is optional (white) or needs advisories:read"
                );
            } else {
                assert_eq!(
                    op["security"],
                    json!([]),
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
    for row in ROW_LEVEL
        .iter()
        .chain(INCIDENT_ROW_LEVEL)
        .chain(WEBHOOK_ROW_LEVEL)
    {
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

/// The CSAF provider: the public key without a token; every TLP tree but `white` refuses a
/// missing or unverifiable token (401) and one without `advisories:read` (403), and opens to a
/// valid one. The paths name a published AMBER document, whose `white` twin does not exist.
#[actix_web::test]
async fn csaf_trees_beyond_white_need_a_token_with_advisories_read() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let id = make_advisory(&app, &national, "Amber for the provider matrix", true).await;
    let r = send(
        &app,
        patch(
            &format!("/api/v1/advisories/{id}"),
            &national,
            &json!({"tlp": "AMBER"}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = send(
        &app,
        post(
            &format!("/api/v1/advisories/{id}/publish"),
            &national,
            &json!({"summary": "Now AMBER"}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let year = &r.body["published_at"].as_str().unwrap()[..4];
    let name = r.body["reference"].as_str().unwrap().to_lowercase();

    let fingerprint = ctx.state.provider.key().fingerprint().to_string();
    let key = send(
        &app,
        TestRequest::get().uri(&format!("/.well-known/csaf/openpgp/{fingerprint}.asc")),
    )
    .await;
    assert_eq!(key.status, 200);
    assert!(key.text.contains("BEGIN PGP PUBLIC KEY BLOCK"));

    let ncsirt = ctx.org_id("ncsirt");
    let no_scope = ctx.token_with(&ncsirt, Role::NationalCsirt, "directory:read");
    for path in CSAF_TREES {
        let uri = path
            .replace("{tlp}", "amber")
            .replace("{year}", year)
            .replace("{name}", &name);
        let r = send(&app, TestRequest::get().uri(&uri)).await;
        assert_unauthorized(&format!("GET {uri} without a token"), &r);
        for (what, token) in bad_tokens(&ncsirt) {
            let r = send(
                &app,
                TestRequest::get()
                    .uri(&uri)
                    .insert_header(("Authorization", bearer(&token))),
            )
            .await;
            assert_unauthorized(&format!("GET {uri} with {what}"), &r);
        }
        let r = send(&app, get(&uri, &no_scope)).await;
        assert_insufficient_scope(&format!("GET {uri}"), &r, "advisories:read");
        let r = send(&app, get(&uri, &national)).await;
        assert_eq!(r.status, 200, "GET {uri} with a valid token: {}", r.text);
        // The white tree opens without a token, and has no AMBER document (nor, so, a year
        // folder for it).
        let white = uri
            .replace("/amber/", "/white/")
            .replace("tlp-amber", "tlp-white");
        let r = send(&app, TestRequest::get().uri(&white)).await;
        let year_folder = format!("/white/{year}/");
        let expected = if white.contains(&name) || white.ends_with(&year_folder) {
            404
        } else {
            200
        };
        assert_eq!(
            r.status, expected,
            "GET {white} without a token: {}",
            r.text
        );
    }
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
            if auth.is_none() && ANONYMOUS_TOO.contains(&(row.0, row.1)) {
                continue;
            }
            let (name, r) = call(&app, row, &ids, auth.as_deref()).await;
            assert_unauthorized(&format!("{name} with {what}"), &r);
        }
    }
    // Refused tokens are audited (a limited number a minute, the rest counted): that is the
    // only change a 401 makes.
    let after = snapshot(&ctx, &app, &ids).await;
    let mut expected = before.clone();
    expected["audit_log"] = after["audit_log"].clone();
    assert_eq!(
        after, expected,
        "a request refused with 401 changes nothing"
    );
    let new_actions: Vec<String> = {
        use diesel::prelude::*;
        use nis2hub::schema::audit_log;
        let mut conn = ctx.state.pool.get().unwrap();
        audit_log::table
            .filter(audit_log::seq.gt(before["audit_log"].as_i64().unwrap()))
            .select(audit_log::action)
            .load(&mut *conn)
            .unwrap()
    };
    assert!(
        new_actions
            .iter()
            .all(|a| a.starts_with("auth.refused.") || a == "auth.refusals_suppressed"),
        "{new_actions:?}"
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
            .unwrap_or(if required == Scope::FeedsRead {
                Scope::DirectoryRead
            } else {
                Scope::FeedsRead
            });
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
    let bank_id = register_entity(&app, &t, "authz-bank", "banking").await;
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
        confirming: uuid::Uuid::new_v4().to_string(),
        rejecting: uuid::Uuid::new_v4().to_string(),
        client: ids.client.clone(),
        reporter: ids.reporter.clone(),
        incident: ids.incident.clone(),
        report: ids.report.clone(),
        reported: ids.reported.clone(),
        closing: ids.closing.clone(),
        ..ids.clone()
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
    let (decisions, changes): (Vec<_>, Vec<_>) = ROW_LEVEL
        .iter()
        .filter(|r| r.0 != "GET")
        .partition(|r| r.1.contains("/deregistration/"));
    for &row in changes {
        let (name, r) = call(&app, row, &ids, Some(&bearer(&own))).await;
        assert_eq!(r.status, 200, "{name} by the entity itself: {}", r.text);
    }
    // An entity's own deregistration request is decided by the authority covering it.
    let authority = ctx.token("authority-infrastructure", Role::SupervisoryAuthority);
    for &row in decisions {
        let own = ctx.token(
            if row.1.ends_with("confirm") {
                &ids.confirming
            } else {
                &ids.rejecting
            },
            Role::Entity,
        );
        let (name, r) = call(&app, row, &ids, Some(&bearer(&own))).await;
        assert_eq!(r.status, 403, "{name} by the entity itself: {}", r.text);
        r.assert_problem(403, "forbidden");
        let (name, r) = call(&app, row, &ids, Some(&bearer(&authority))).await;
        assert_eq!(
            r.status, 200,
            "{name} by the infrastructure authority: {}",
            r.text
        );
    }
}

/// Whether a feed event is about this incident.
fn mentions(event: &Value, incident: &str) -> bool {
    event["subject"]["id"] == incident || event["data"]["incident_id"] == incident
}

/// The incident ids in a page of `GET /api/v1/incidents`.
fn listed(r: &Res) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page of incidents: {}", r.text))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn another_organisations_incident_is_not_found() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    // The incidents of `ids.reporter` (energy.electricity, declared significant, national) are
    // routed to csirt-energy and authority-infrastructure, and to no one else (the national
    // CSIRT sees every incident).
    let ids = setup(&ctx, &app).await;
    let incidents = [&ids.incident, &ids.reported, &ids.closing];
    let t = ctx.national();
    for id in incidents {
        let r = send(&app, get(&format!("/api/v1/incidents/{id}"), &t)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let mut routed: Vec<&str> = r.body["decision"]["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["organisation_code"].as_str().unwrap())
            .collect();
        routed.sort();
        routed.dedup();
        assert_eq!(
            routed,
            ["authority-infrastructure", "csirt-energy"],
            "{}",
            r.text
        );
    }
    let bank_id = register_entity(&app, &t, "authz-bank", "banking").await;
    let before = snapshot(&ctx, &app, &ids).await;

    let outsiders = [
        (
            "the health CSIRT",
            ctx.token("csirt-health", Role::SectoralCsirt),
        ),
        (
            "the finance CSIRT",
            ctx.token("csirt-finance", Role::SectoralCsirt),
        ),
        (
            "the finance authority",
            ctx.token("authority-finance", Role::SupervisoryAuthority),
        ),
        ("another entity", ctx.token(&bank_id, Role::Entity)),
    ];
    let missing = Ids {
        organisation: ids.organisation.clone(),
        entity: ids.entity.clone(),
        client: ids.client.clone(),
        reporter: ids.reporter.clone(),
        incident: uuid::Uuid::new_v4().to_string(),
        report: uuid::Uuid::new_v4().to_string(),
        reported: uuid::Uuid::new_v4().to_string(),
        closing: uuid::Uuid::new_v4().to_string(),
        ..ids.clone()
    };
    for &row in INCIDENT_ROW_LEVEL {
        let scope = Scope::parse(row.2).unwrap();
        for (who, token) in &outsiders {
            let claims = ctx.state.keys.verify(token).unwrap();
            let (name, r) = call(&app, row, &ids, Some(&bearer(token))).await;
            if !claims.role.ceiling().contains(&scope) {
                // A CSIRT or authority never reports, only an authority reviews; the ceiling
                // refuses it before the incident is looked at, visible or hidden alike.
                assert_insufficient_scope(&format!("{name} by {who}"), &r, row.2);
                continue;
            }
            assert_eq!(r.status, 404, "{name} by {who}: {}", r.text);
            r.assert_problem(404, "not_found");
            // Indistinguishable from an id that does not exist.
            let (_, none) = call(&app, row, &missing, Some(&bearer(token))).await;
            none.assert_problem(404, "not_found");
            assert_eq!(
                (r.body["detail"].clone(), r.body["title"].clone()),
                (none.body["detail"].clone(), none.body["title"].clone()),
                "{name} by {who}: a hidden incident looks like a missing one"
            );
        }
    }
    // Nor is it in their lists or their feeds.
    for (who, token) in &outsiders {
        for uri in [
            "/api/v1/incidents?limit=200".to_string(),
            format!("/api/v1/incidents?entity_id={}", ids.reporter),
        ] {
            let r = send(&app, get(&uri, token)).await;
            assert_eq!(r.status, 200, "GET {uri} by {who}: {}", r.text);
            let seen = listed(&r);
            for id in incidents {
                assert!(!seen.contains(id), "GET {uri} by {who} lists {id}");
            }
        }
        let r = send(&app, get("/api/v1/feed?limit=500", token)).await;
        assert_eq!(r.status, 200, "GET /api/v1/feed by {who}: {}", r.text);
        for event in r.body["items"].as_array().unwrap() {
            for id in incidents {
                assert!(
                    !mentions(event, id),
                    "the feed of {who} has an event about {id}: {event}"
                );
            }
        }
    }
    assert_eq!(
        snapshot(&ctx, &app, &ids).await,
        before,
        "the incidents are unchanged after the refused requests"
    );

    // Controls: the recipients and the entity itself see it, in their lists and feeds too.
    let csirt = ctx.token("csirt-energy", Role::SectoralCsirt);
    let authority = ctx.token("authority-infrastructure", Role::SupervisoryAuthority);
    let own = ctx.token(&ids.reporter, Role::Entity);
    for (who, token) in [
        ("the energy CSIRT", &csirt),
        ("the infrastructure authority", &authority),
        ("the entity itself", &own),
    ] {
        for &row in INCIDENT_ROW_LEVEL.iter().filter(|r| r.0 == "GET") {
            let (name, r) = call(&app, row, &ids, Some(&bearer(token))).await;
            assert_eq!(r.status, 200, "{name} by {who}: {}", r.text);
        }
        let r = send(&app, get("/api/v1/incidents?limit=200", token)).await;
        assert_eq!(r.status, 200, "GET /api/v1/incidents by {who}: {}", r.text);
        let seen = listed(&r);
        let r = send(&app, get("/api/v1/feed?limit=500", token)).await;
        assert_eq!(r.status, 200, "GET /api/v1/feed by {who}: {}", r.text);
        let events = r.body["items"].as_array().unwrap();
        for id in incidents {
            assert!(seen.contains(id), "{who} lists {id}");
            assert!(
                events.iter().any(|e| mentions(e, id)),
                "the feed of {who} has the events about {id}"
            );
        }
    }
    // The same requests that were refused as not found succeed for those who may make them.
    let reports = INCIDENT_ROW_LEVEL[2];
    assert_eq!(reports.1, "/api/v1/incidents/{id}/reports");
    let (name, r) = call(&app, reports, &ids, Some(&bearer(&own))).await;
    assert_eq!(r.status, 201, "{name} by the entity itself: {}", r.text);
    let requests = INCIDENT_ROW_LEVEL[3];
    assert_eq!(requests.1, "/api/v1/incidents/{id}/requests");
    for (who, token) in [
        ("the energy CSIRT", &csirt),
        ("the infrastructure authority", &authority),
    ] {
        let (name, r) = call(&app, requests, &ids, Some(&bearer(token))).await;
        assert_eq!(r.status, 201, "{name} by {who}: {}", r.text);
    }
    let review = INCIDENT_ROW_LEVEL[4];
    assert_eq!(
        review.1,
        "/api/v1/incidents/{id}/reports/{report_id}/review"
    );
    let (name, r) = call(&app, review, &ids, Some(&bearer(&authority))).await;
    assert_eq!(
        r.status, 200,
        "{name} by the infrastructure authority: {}",
        r.text
    );
}

/// The TLP cells for incident reports: caller × label → what it reads of an incident that
/// is significant, cross-border and affects a second sector (health). The recipients the law
/// requires always read the content; the health CSIRT, told only because its sector is
/// affected, reads it under CLEAR, GREEN and AMBER and only the facts of routing under
/// AMBER+STRICT and RED — in the incident, its feed and the review events; everyone else
/// gets 404.
#[actix_web::test]
async fn incident_content_follows_the_reporters_tlp_in_every_cell() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let entity = register_entity(&app, &national, "authz-tlp", "energy.electricity").await;
    let entity_token = ctx.token(&entity, Role::Entity);
    let authority = ctx.token("authority-infrastructure", Role::SupervisoryAuthority);
    let labels = ["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"];
    let mut incidents = vec![];
    for tlp in labels {
        let body = json!({"entity_id": entity, "stage": "early_warning",
            "aware_at": chrono::Utc::now() - chrono::Duration::hours(1), "significant": true,
            "affected_member_states": ["NL", "BE"], "affected_sectors": ["health"],
            "summary": format!("secret summary {tlp}"), "tlp": tlp});
        let r = send(&app, post("/api/v1/incidents", &entity_token, &body)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.body["id"].as_str().unwrap().to_string();
        let report = r.body["reports"][0]["id"].as_str().unwrap().to_string();
        let review =
            json!({"status": "revision_required", "comment": format!("secret comment {tlp}")});
        let path = format!("/api/v1/incidents/{id}/reports/{report}/review");
        let r = send(&app, post(&path, &authority, &review)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        incidents.push((tlp, id));
    }

    #[rustfmt::skip]
    let table: Vec<(&str, String, Option<[bool; 5]>)> = vec![
        //                                                                   CLEAR GREEN AMBER A+S   RED
        ("the national CSIRT",         national.clone(),                     Some([true, true, true, true, true])),
        ("the entity itself",          entity_token.clone(),                 Some([true, true, true, true, true])),
        ("its sectoral CSIRT",         ctx.token("csirt-energy", Role::SectoralCsirt), Some([true, true, true, true, true])),
        ("its supervisory authority",  authority.clone(),                    Some([true, true, true, true, true])),
        ("the affected sector's CSIRT", ctx.token("csirt-health", Role::SectoralCsirt), Some([true, true, true, false, false])),
        ("an unrelated CSIRT",         ctx.token("csirt-finance", Role::SectoralCsirt), None),
        ("an unrelated authority",     ctx.token("authority-health", Role::SupervisoryAuthority), None),
    ];
    for (who, token, cells) in table {
        let feed = whole_feed(&app, &token).await;
        for (i, (tlp, id)) in incidents.iter().enumerate() {
            let cell = format!("{who} × TLP:{tlp}");
            let r = send(&app, get(&format!("/api/v1/incidents/{id}"), &token)).await;
            let events: Vec<&Value> = feed.iter().filter(|e| mentions(e, id)).collect();
            let Some(cells) = cells else {
                assert_eq!(r.status, 404, "{cell}: {}", r.text);
                assert!(events.is_empty(), "{cell}: {events:?}");
                continue;
            };
            let reads = cells[i];
            assert_eq!(r.status, 200, "{cell}: {}", r.text);
            assert_eq!(r.body["reports"][0]["content"].is_object(), reads, "{cell}");
            assert_eq!(
                r.body["content_withheld"].is_string(),
                !reads,
                "{cell}: {}",
                r.text
            );
            assert_eq!(r.text.contains("secret"), reads, "{cell}: {}", r.text);
            // Why it was told stays visible.
            assert!(r.body["decision"]["recipients"].is_array(), "{cell}");

            let reported: Vec<&&Value> = events
                .iter()
                .filter(|e| e["type"] == "incident.reported")
                .collect();
            assert_eq!(reported.len(), 1, "{cell}: one incident.reported each");
            let reviewed: Vec<&&Value> = events
                .iter()
                .filter(|e| e["type"] == "incident.review_changed")
                .collect();
            assert_eq!(
                reviewed.len(),
                1,
                "{cell}: one incident.review_changed each"
            );
            for e in reported.iter().chain(&reviewed) {
                let text = e.to_string();
                assert_eq!(text.contains("secret"), reads, "{cell}: {text}");
                assert_eq!(
                    e["data"]["content_withheld"] == true,
                    !reads,
                    "{cell}: {text}"
                );
            }
        }
    }
}

/// The subscription ids in a page of `GET /api/v1/webhooks`, each checked to be of `org`.
fn subscriptions(r: &Res, org: &str) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page of subscriptions: {}", r.text))
        .iter()
        .map(|w| {
            assert_eq!(w["organisation_id"], org, "a subscription of {org}: {w}");
            w["id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[actix_web::test]
async fn another_organisations_webhook_is_not_found() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let ids = setup(&ctx, &app).await;
    // csirt-energy's subscription, with a delivery in its log.
    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);
    let webhook = subscribe(&app, &energy, "csirt-energy's ticketing").await;
    let delivery = ping_delivery(&app, &energy, &webhook).await;
    let theirs = Ids {
        webhook: webhook.clone(),
        doomed: webhook.clone(),
        delivery: delivery.clone(),
        ..ids.clone()
    };
    let missing = Ids {
        webhook: uuid::Uuid::new_v4().to_string(),
        doomed: uuid::Uuid::new_v4().to_string(),
        delivery: uuid::Uuid::new_v4().to_string(),
        ..ids.clone()
    };
    // The subscription and its log as csirt-energy reads them (`snapshot` has the rest).
    let own_view = || {
        let (app, webhook, token) = (&app, webhook.clone(), energy.clone());
        async move {
            let mut out = vec![];
            for uri in [
                format!("/api/v1/webhooks/{webhook}"),
                format!("/api/v1/webhooks/{webhook}/deliveries?limit=200"),
            ] {
                let r = send(app, get(&uri, &token)).await;
                assert_eq!(r.status, 200, "GET {uri} by the energy CSIRT: {}", r.text);
                out.push(r.body);
            }
            out
        }
    };
    let own_before = own_view().await;
    assert_eq!(
        own_before[1]["items"].as_array().unwrap().len(),
        1,
        "the ping's delivery: {}",
        own_before[1]
    );
    let before = snapshot(&ctx, &app, &ids).await;

    let outsiders = [
        (
            "the health CSIRT",
            ctx.token("csirt-health", Role::SectoralCsirt),
        ),
        (
            "the infrastructure authority",
            ctx.token("authority-infrastructure", Role::SupervisoryAuthority),
        ),
        ("an entity", ctx.token(&ids.reporter, Role::Entity)),
        ("the national CSIRT", ctx.national()),
    ];
    for &row in WEBHOOK_ROW_LEVEL {
        for (who, token) in &outsiders {
            let (name, r) = call(&app, row, &theirs, Some(&bearer(token))).await;
            assert_eq!(r.status, 404, "{name} by {who}: {}", r.text);
            r.assert_problem(404, "not_found");
            // Indistinguishable from an id that does not exist.
            let (_, none) = call(&app, row, &missing, Some(&bearer(token))).await;
            none.assert_problem(404, "not_found");
            assert_eq!(
                (r.body["detail"].clone(), r.body["title"].clone()),
                (none.body["detail"].clone(), none.body["title"].clone()),
                "{name} by {who}: another organisation's subscription looks like a missing one"
            );
        }
    }
    // Nor is it in their lists, which hold only their own.
    for (who, token) in &outsiders {
        let org = ctx.state.keys.verify(token).unwrap().org;
        let r = send(&app, get("/api/v1/webhooks?limit=200", token)).await;
        assert_eq!(r.status, 200, "GET /api/v1/webhooks by {who}: {}", r.text);
        let seen = subscriptions(&r, &org);
        assert!(
            !seen.contains(&webhook),
            "GET /api/v1/webhooks by {who} lists {webhook}"
        );
    }
    assert_eq!(
        snapshot(&ctx, &app, &ids).await,
        before,
        "nothing changed after the refused requests"
    );
    assert_eq!(
        own_view().await,
        own_before,
        "the subscription and its log are unchanged after the refused requests"
    );

    // Controls: csirt-energy lists it, and each refused request succeeds for it, DELETE last.
    let r = send(&app, get("/api/v1/webhooks?limit=200", &energy)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        subscriptions(&r, &ctx.org_id("csirt-energy")),
        vec![webhook.clone()],
        "the energy CSIRT lists its subscription"
    );
    for &row in WEBHOOK_ROW_LEVEL {
        let (name, r) = call(&app, row, &theirs, Some(&bearer(&energy))).await;
        assert_success(&format!("{name} by the energy CSIRT"), &r);
    }
    let r = send(&app, get(&format!("/api/v1/webhooks/{webhook}"), &energy)).await;
    r.assert_problem(404, "not_found");
}
