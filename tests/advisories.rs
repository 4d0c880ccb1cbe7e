//! Advisories: the life cycle, who may read what under TLP 2.0 and the audience, events in the
//! feed, refused input that writes nothing, and CSAF 2.0 documents that the reference
//! validator accepts.

mod common;

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use common::*;
use nis2hub::auth::Role;
use serde_json::{json, Value};

const VECTOR: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";

/// A complete advisory body, adjusted by `extra` (merged over it).
fn advisory(extra: Value) -> Value {
    let mut body = json!({
        "title": "Remote code execution in Example Gateway",
        "summary": "Example Gateway 4.1 and 4.2 allow unauthenticated remote code execution.",
        "audience": "national",
        "tlp": "GREEN",
        "severity": "critical",
        "cves": ["CVE-2026-12345"],
        "cvss_v3": VECTOR,
        "cwes": [{"id": "CWE-79", "name": "Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')"}],
        "affected_products": [{
            "vendor": "Example Vendor", "product": "Example Gateway",
            "versions": ["4.1", "4.2"], "fixed_in": ["4.3"], "not_affected": ["3.9"],
            "cpe": "cpe:2.3:a:example_vendor:example_gateway:*:*:*:*:*:*:*:*"
        }],
        "remediation": "Update to 4.3; until then block port 8443 from the internet.",
        "references": [{"url": "https://vendor.example/security/2026-01", "summary": "Vendor bulletin"}]
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

async fn register<S, B>(
    ctx: &Ctx,
    app: &S,
    ident: &str,
    sector: &str,
    ranges: &[&str],
    domains: &[&str],
) -> String
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut body = entity_body(ident, sector);
    body["ip_ranges"] = json!(ranges);
    body["domains"] = json!(domains);
    let r = send(app, post("/api/v1/entities", &ctx.national(), &body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

async fn create<S, B>(app: &S, token: &str, body: &Value) -> Value
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = send(app, post("/api/v1/advisories", token, body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

async fn publish<S, B>(app: &S, token: &str, id: &str, body: Value) -> Res
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(
        app,
        post(&format!("/api/v1/advisories/{id}/publish"), token, &body),
    )
    .await
}

async fn published<S, B>(app: &S, token: &str, body: &Value) -> String
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let id = create(app, token, body).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = publish(app, token, &id, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    id
}

fn events_about(feed: &Res, id: &str) -> Vec<String> {
    feed.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page of events: {}", feed.text))
        .iter()
        .filter(|e| e["subject"]["id"] == id)
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn an_advisory_goes_from_draft_to_published_revised_and_withdrawn() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let entity = register(&ctx, &app, "adv-1", "energy.electricity", &[], &[]).await;
    let reader = ctx.token(&entity, Role::Entity);

    let draft = create(&app, &t, &advisory(json!({}))).await;
    let id = draft["id"].as_str().unwrap().to_string();
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["revision"], 0);
    assert_eq!(draft["issuer"]["code"], "ncsirt");
    assert_eq!(draft["cvss_v3_score"]["base_score"], 9.8);
    assert_eq!(draft["cvss_v3_score"]["base_severity"], "CRITICAL");
    let year = chrono::Utc::now().format("%Y").to_string();
    assert_eq!(draft["reference"], format!("FD-NCSIRT-{year}-0001"));
    let second = create(&app, &t, &advisory(json!({"title": "Another"}))).await;
    assert_eq!(second["reference"], format!("FD-NCSIRT-{year}-0002"));

    // Nobody but the issuer sees a draft.
    let uri = format!("/api/v1/advisories/{id}");
    send(&app, get(&uri, &reader))
        .await
        .assert_problem(404, "not_found");
    let csaf = send(&app, get(&format!("{uri}/csaf"), &t)).await;
    csaf.assert_problem(409, "not_published");

    let p = publish(&app, &t, &id, json!({})).await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.body["status"], "published");
    assert_eq!(p.body["revision"], 1);
    assert_eq!(p.body["revisions"][0]["summary"], "Initial release");
    assert!(p.body["published_at"].is_string());
    let r = send(&app, get(&uri, &reader)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let etag = r.header("etag").unwrap();

    // Publishing again with nothing changed is refused, and changes nothing.
    let events = count(&ctx, "events");
    publish(&app, &t, &id, json!({}))
        .await
        .assert_problem(409, "already_published");
    assert_eq!(count(&ctx, "events"), events);
    assert_eq!(count(&ctx, "advisory_revisions"), 1);

    // A change to a published advisory waits for the next publication.
    let stale = send(
        &app,
        patch(&uri, &t, &json!({"title": "stale"})).insert_header(("If-Match", "\"v1\"")),
    )
    .await;
    stale.assert_problem(412, "precondition_failed");
    let change = json!({"summary": "Fixed in 4.3; exploitation seen.", "severity": "high"});
    let r = send(
        &app,
        patch(&uri, &t, &change).insert_header(("If-Match", etag.as_str())),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["pending_changes"], true);
    assert_eq!(r.body["summary"], "Fixed in 4.3; exploitation seen.");
    let before = send(&app, get(&uri, &reader)).await;
    assert_eq!(
        before.body["severity"], "critical",
        "readers see the published text"
    );
    assert_eq!(before.body["pending_changes"], false);
    publish(&app, &t, &id, json!({}))
        .await
        .assert_problem(422, "validation_failed");
    let r = publish(
        &app,
        &t,
        &id,
        json!({"summary": "Exploitation seen; severity high"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["revision"], 2);
    let after = send(&app, get(&uri, &reader)).await;
    assert_eq!(after.body["severity"], "high");
    assert_eq!(after.body["revisions"].as_array().unwrap().len(), 2);

    // Every revision's full text stays readable.
    let r1 = send(&app, get(&format!("{uri}/revisions/1"), &reader)).await;
    assert_eq!(r1.status, 200, "{}", r1.text);
    assert_eq!(r1.body["advisory"]["severity"], "critical");
    assert_eq!(r1.body["summary"], "Initial release");
    let r2 = send(&app, get(&format!("{uri}/revisions/2"), &reader)).await;
    assert_eq!(r2.body["advisory"]["severity"], "high");
    assert_eq!(r2.body["summary"], "Exploitation seen; severity high");
    send(&app, get(&format!("{uri}/revisions/3"), &reader))
        .await
        .assert_problem(404, "not_found");

    // Withdrawal keeps the record.
    let w = send(
        &app,
        post(
            &format!("{uri}/withdraw"),
            &t,
            &json!({"reason": "the vendor retracted it"}),
        ),
    )
    .await;
    assert_eq!(w.status, 200, "{}", w.text);
    assert_eq!(w.body["status"], "withdrawn");
    assert_eq!(w.body["revision"], 3);
    assert_eq!(w.body["withdrawn_reason"], "the vendor retracted it");
    let r = send(&app, get(&uri, &reader)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "withdrawn");
    send(
        &app,
        post(&format!("{uri}/withdraw"), &t, &json!({"reason": "again"})),
    )
    .await
    .assert_problem(409, "advisory_withdrawn");
    send(&app, patch(&uri, &t, &json!({"title": "x"})))
        .await
        .assert_problem(409, "advisory_withdrawn");
    let draft2 = second["id"].as_str().unwrap();
    send(
        &app,
        post(
            &format!("/api/v1/advisories/{draft2}/withdraw"),
            &t,
            &json!({"reason": "x"}),
        ),
    )
    .await
    .assert_problem(409, "not_published");

    // The entity's feed carries the three events, in order.
    let feed = send(&app, get("/api/v1/feed?limit=500", &reader)).await;
    assert_eq!(feed.status, 200, "{}", feed.text);
    assert_eq!(
        events_about(&feed, &id),
        [
            "advisory.published",
            "advisory.updated",
            "advisory.withdrawn"
        ]
    );
    let event = feed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "advisory.published")
        .unwrap();
    assert_eq!(event["data"]["reference"], format!("FD-NCSIRT-{year}-0001"));

    // Only the issuer changes it.
    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);
    send(
        &app,
        patch(
            &format!("/api/v1/advisories/{draft2}"),
            &energy,
            &json!({"title": "x"}),
        ),
    )
    .await
    .assert_problem(404, "not_found");
    let other = published(&app, &t, &advisory(json!({"title": "third"}))).await;
    send(
        &app,
        patch(
            &format!("/api/v1/advisories/{other}"),
            &energy,
            &json!({"title": "x"}),
        ),
    )
    .await
    .assert_problem(403, "forbidden");
}

#[actix_web::test]
async fn the_list_filters_and_pages() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);
    let a = published(
        &app,
        &energy,
        &advisory(
            json!({"audience": "sectoral", "sectors": ["energy"], "cves": ["CVE-2026-0001"]}),
        ),
    )
    .await;
    let b = published(
        &app,
        &t,
        &advisory(json!({"tlp": "CLEAR", "cves": ["CVE-2026-0002"]})),
    )
    .await;
    let c = create(&app, &t, &advisory(json!({}))).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ids = |r: &Res| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    let l = |q: &str| get(&format!("/api/v1/advisories{q}"), &t);
    assert_eq!(
        ids(&send(&app, l("")).await),
        [a.clone(), b.clone(), c.clone()]
    );
    assert_eq!(ids(&send(&app, l("?status=draft")).await), vec![c.clone()]);
    assert_eq!(ids(&send(&app, l("?tlp=CLEAR")).await), vec![b.clone()]);
    assert_eq!(
        ids(&send(&app, l("?tlp=AMBER%2BSTRICT")).await),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&send(&app, l("?cve=cve-2026-0001")).await),
        vec![a.clone()]
    );
    assert_eq!(
        ids(&send(&app, l("?sector=energy.electricity")).await),
        vec![a.clone()]
    );
    assert_eq!(
        ids(&send(&app, l("?sector=health")).await),
        Vec::<String>::new()
    );
    let page = send(&app, l("?limit=2")).await;
    assert_eq!(ids(&page), [a.clone(), b.clone()]);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    assert!(page.header("link").unwrap().contains("rel=\"next\""));
    assert_eq!(
        ids(&send(&app, l(&format!("?limit=2&cursor={cursor}"))).await),
        vec![c.clone()]
    );
    let future = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(
        ids(&send(&app, l(&format!("?updated_since={future}"))).await),
        Vec::<String>::new()
    );
    // The energy CSIRT sees its own and the published national one, not the national draft.
    let r = send(&app, get("/api/v1/advisories", &energy)).await;
    assert_eq!(ids(&r), [a, b]);
    send(&app, get("/api/v1/advisories?tlp=PURPLE", &t))
        .await
        .assert_problem(400, "invalid_query");
}

#[actix_web::test]
async fn tlp_and_audience_decide_who_reads_an_advisory() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let e_energy = register(
        &ctx,
        &app,
        "tlp-energy",
        "energy.electricity",
        &["192.0.2.0/24"],
        &["grid.example"],
    )
    .await;
    let e_health = register(
        &ctx,
        &app,
        "tlp-health",
        "health",
        &["203.0.113.0/24"],
        &["hospital.example"],
    )
    .await;
    let e_bank = register(&ctx, &app, "tlp-bank", "banking", &[], &[]).await;
    let e_matched = register(
        &ctx,
        &app,
        "tlp-matched",
        "banking",
        &["198.51.100.0/24"],
        &["bank.example"],
    )
    .await;
    let e_domain = register(
        &ctx,
        &app,
        "tlp-domain",
        "banking",
        &[],
        &["shop.example.org"],
    )
    .await;
    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);
    let health = ctx.token("csirt-health", Role::SectoralCsirt);

    let sectoral = |tlp: &str| {
        advisory(json!({
            "audience": "sectoral", "sectors": ["energy"], "tlp": tlp,
            "match": {"ip_ranges": ["198.51.100.7/32", "203.0.0.0/8"], "domains": ["example.org"]}
        }))
    };
    let amber = published(&app, &t, &sectoral("AMBER")).await;
    let strict = published(&app, &t, &sectoral("AMBER+STRICT")).await;
    let red = published(
        &app,
        &t,
        &advisory(json!({"audience": "targeted", "entity_ids": [e_energy], "tlp": "RED"})),
    )
    .await;
    let clear = published(&app, &t, &advisory(json!({"tlp": "CLEAR"}))).await;
    let green = published(
        &app,
        &health,
        &advisory(json!({"audience": "sectoral", "sectors": ["health"], "tlp": "GREEN"})),
    )
    .await;
    let national_amber = published(&app, &t, &advisory(json!({"tlp": "AMBER"}))).await;
    let matched_only = published(
        &app,
        &energy,
        &advisory(json!({
            "audience": "targeted", "tlp": "AMBER",
            "match": {"ip_ranges": ["192.0.2.128/25", "198.51.100.0/24", "2001:db8::/32"]}
        })),
    )
    .await;
    let draft = create(&app, &t, &advisory(json!({"tlp": "CLEAR"}))).await["id"]
        .as_str()
        .unwrap()
        .to_string();

    let callers: Vec<(&str, Option<String>)> = vec![
        ("anonymous", None),
        ("energy entity", Some(ctx.token(&e_energy, Role::Entity))),
        ("health entity", Some(ctx.token(&e_health, Role::Entity))),
        ("bank entity", Some(ctx.token(&e_bank, Role::Entity))),
        ("matched entity", Some(ctx.token(&e_matched, Role::Entity))),
        ("domain entity", Some(ctx.token(&e_domain, Role::Entity))),
        ("energy CSIRT", Some(energy.clone())),
        ("health CSIRT", Some(health.clone())),
        (
            "finance CSIRT",
            Some(ctx.token("csirt-finance", Role::SectoralCsirt)),
        ),
        (
            "infrastructure authority",
            Some(ctx.token("authority-infrastructure", Role::SupervisoryAuthority)),
        ),
        ("national CSIRT", Some(t.clone())),
    ];
    // caller × advisory → readable. Columns: amber, strict, red, clear, green, national
    // amber, matched only (by the energy CSIRT), draft (of the national CSIRT).
    let table: &[(&str, [bool; 8])] = &[
        (
            "anonymous",
            [false, false, false, true, false, false, false, false],
        ),
        // 192.0.2.0/24 contains 192.0.2.128/25: the energy CSIRT's match reaches it.
        (
            "energy entity",
            [true, true, true, true, true, true, true, false],
        ),
        // 203.0.113.0/24 lies inside 203.0.0.0/8.
        (
            "health entity",
            [true, false, false, true, true, true, false, false],
        ),
        (
            "bank entity",
            [false, false, false, true, true, true, false, false],
        ),
        // 198.51.100.7 is in its range: AMBER widens to it, AMBER+STRICT does not. The
        // energy CSIRT's match reaches only the entities it sees: a bank is not one of them.
        (
            "matched entity",
            [true, false, false, true, true, true, false, false],
        ),
        // shop.example.org is under example.org.
        (
            "domain entity",
            [true, false, false, true, true, true, false, false],
        ),
        (
            "energy CSIRT",
            [true, true, false, true, true, true, true, false],
        ),
        // The CSIRT of the matched health entity.
        (
            "health CSIRT",
            [true, false, false, true, true, true, false, false],
        ),
        // The CSIRT of the matched banks.
        (
            "finance CSIRT",
            [true, false, false, true, true, true, false, false],
        ),
        (
            "infrastructure authority",
            [true, true, false, true, true, true, false, false],
        ),
        (
            "national CSIRT",
            [true, true, true, true, true, true, true, true],
        ),
    ];
    let advisories = [
        &amber,
        &strict,
        &red,
        &clear,
        &green,
        &national_amber,
        &matched_only,
        &draft,
    ];
    let names = [
        "AMBER",
        "AMBER+STRICT",
        "RED",
        "CLEAR",
        "GREEN",
        "national AMBER",
        "matched only",
        "draft",
    ];
    for ((who, token), (row_who, expected)) in callers.iter().zip(table) {
        assert_eq!(who, row_who);
        let listed: Vec<String> = match token {
            Some(token) => {
                let r = send(&app, get("/api/v1/advisories?limit=200", token)).await;
                assert_eq!(r.status, 200, "{who}: {}", r.text);
                r.body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["id"].as_str().unwrap().to_string())
                    .collect()
            }
            None => vec![],
        };
        for ((id, name), visible) in advisories.iter().zip(names).zip(expected) {
            for path in ["", "/csaf", "/revisions/1"] {
                let uri = format!("/api/v1/advisories/{id}{path}");
                let req = match token {
                    Some(token) => get(&uri, token),
                    None => TestRequest::get().uri(&uri),
                };
                let r = send(&app, req).await;
                let what = format!("{who} GET {name}{path}");
                match (visible, token) {
                    (true, _) if name == "draft" && !path.is_empty() => {
                        assert!(r.status == 409 || r.status == 404, "{what}: {}", r.text)
                    }
                    (true, _) => assert_eq!(r.status, 200, "{what}: {}", r.text),
                    (false, Some(_)) => r.assert_problem(404, "not_found"),
                    (false, None) => r.assert_problem(401, "unauthorized"),
                }
            }
            if token.is_some() {
                assert_eq!(
                    listed.contains(id),
                    *visible,
                    "{who} lists {name}: {listed:?}"
                );
            }
        }
    }
    // Events reach those who may read: the matched entity learns of AMBER, not AMBER+STRICT.
    let feed = send(
        &app,
        get(
            "/api/v1/feed?limit=500",
            &ctx.token(&e_matched, Role::Entity),
        ),
    )
    .await;
    assert_eq!(events_about(&feed, &amber), ["advisory.published"]);
    assert!(events_about(&feed, &strict).is_empty());
    assert!(events_about(&feed, &red).is_empty());
    let feed = send(
        &app,
        get(
            "/api/v1/feed?limit=500",
            &ctx.token(&e_energy, Role::Entity),
        ),
    )
    .await;
    assert_eq!(events_about(&feed, &red), ["advisory.published"]);
    assert_eq!(events_about(&feed, &matched_only), ["advisory.published"]);
}

#[actix_web::test]
async fn refused_input_names_the_field_and_writes_nothing() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);
    let health_entity = register(&ctx, &app, "bad-health", "health", &[], &[]).await;
    let energy_entity = register(&ctx, &app, "bad-energy", "energy.electricity", &[], &[]).await;
    let cases: Vec<(&str, &String, Value, &str)> = vec![
        (
            "unknown sector",
            &t,
            json!({"audience": "sectoral", "sectors": ["energy", "fishing"]}),
            "/sectors/1",
        ),
        (
            "a sector the issuer does not cover",
            &energy,
            json!({"audience": "sectoral", "sectors": ["health"]}),
            "/sectors/0",
        ),
        (
            "a subsector the issuer does not cover",
            &energy,
            json!({"audience": "sectoral", "sectors": ["manufacturing.medical_devices"]}),
            "/sectors/0",
        ),
        (
            "a national advisory by a sectoral CSIRT",
            &energy,
            json!({"audience": "national"}),
            "/audience",
        ),
        (
            "a sectoral advisory without sectors",
            &t,
            json!({"audience": "sectoral"}),
            "/sectors",
        ),
        (
            "an entity the issuer does not see",
            &energy,
            json!({"audience": "targeted", "entity_ids": [health_entity]}),
            "/entity_ids/0",
        ),
        (
            "an entity that does not exist",
            &t,
            json!({"audience": "targeted", "entity_ids": [uuid::Uuid::new_v4().to_string()]}),
            "/entity_ids/0",
        ),
        (
            "not an entity id",
            &t,
            json!({"audience": "targeted", "entity_ids": ["x"]}),
            "/entity_ids/0",
        ),
        (
            "a malformed CVE id",
            &t,
            json!({"cves": ["CVE-2026-12345", "CVE-26-1"]}),
            "/cves/1",
        ),
        (
            "a CVSS vector that does not parse",
            &t,
            json!({"cvss_v3": "CVSS:3.1/AV:X/AC:L"}),
            "/cvss_v3",
        ),
        (
            "a CVSS vector without every base metric",
            &t,
            json!({"cvss_v3": "CVSS:3.1/AV:N/AC:L"}),
            "/cvss_v3",
        ),
        (
            "an invalid CIDR",
            &t,
            json!({"match": {"ip_ranges": ["192.0.2.0/33"]}}),
            "/match/ip_ranges/0",
        ),
        (
            "an invalid domain",
            &t,
            json!({"match": {"domains": ["not a domain"]}}),
            "/match/domains/0",
        ),
        (
            "TLP:RED without named recipients",
            &t,
            json!({"tlp": "RED", "audience": "sectoral", "sectors": ["energy"]}),
            "/tlp",
        ),
        ("an unknown TLP", &t, json!({"tlp": "WHITE"}), "/tlp"),
        (
            "a malformed CWE",
            &t,
            json!({"cwes": [{"id": "79", "name": "x"}]}),
            "/cwes/0/id",
        ),
        (
            "a product with no version at all",
            &t,
            json!({"affected_products": [{"vendor": "v", "product": "p"}]}),
            "/affected_products/0/versions",
        ),
        (
            "a version with two statuses",
            &t,
            json!({"affected_products": [{"vendor": "v", "product": "p", "versions": ["1"], "fixed_in": ["1"]}]}),
            "/affected_products/0/fixed_in/0",
        ),
        (
            "a reference that is not a URL",
            &t,
            json!({"references": [{"url": "ftp://x", "summary": "x"}]}),
            "/references/0/url",
        ),
    ];
    let tables = [
        "advisories",
        "advisory_revisions",
        "advisory_readers",
        "advisory_cves",
        "advisory_sectors",
        "counters",
        "audit_log",
        "events",
    ];
    let snapshot = || tables.iter().map(|t| count(&ctx, t)).collect::<Vec<_>>();
    let before = snapshot();
    for (what, token, extra, pointer) in &cases {
        let r = send(
            &app,
            post("/api/v1/advisories", token, &advisory(extra.clone())),
        )
        .await;
        assert_eq!(r.status, 422, "{what}: {}", r.text);
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/problem+json")
        );
        let pointers: Vec<&str> = r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["pointer"].as_str().unwrap())
            .collect();
        assert!(
            pointers.contains(pointer),
            "{what}: expected {pointer} in {}",
            r.text
        );
    }
    assert_eq!(snapshot(), before, "refused advisories write nothing");

    // The same checks guard a change and a publication.
    let ok = create(
        &app,
        &energy,
        &advisory(json!({"audience": "targeted", "entity_ids": [energy_entity]})),
    )
    .await;
    let id = ok["id"].as_str().unwrap();
    let before = snapshot();
    let r = send(
        &app,
        patch(
            &format!("/api/v1/advisories/{id}"),
            &energy,
            &json!({"entity_ids": [health_entity]}),
        ),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["errors"][0]["pointer"], "/entity_ids/0");
    let r = send(
        &app,
        patch(
            &format!("/api/v1/advisories/{id}"),
            &energy,
            &json!({"cves": ["nope"]}),
        ),
    )
    .await;
    assert_eq!(r.body["errors"][0]["pointer"], "/cves/0", "{}", r.text);
    assert_eq!(snapshot(), before);
    let bare = create(
        &app,
        &t,
        &advisory(json!({"affected_products": [], "references": []})),
    )
    .await;
    let before = snapshot();
    let r = publish(&app, &t, bare["id"].as_str().unwrap(), json!({})).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["errors"][0]["pointer"], "/affected_products");
    assert_eq!(r.body["errors"][1]["pointer"], "/references");
    assert_eq!(snapshot(), before);
    let r = publish(&app, &energy, id, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let before = snapshot();
    publish(&app, &energy, id, json!({}))
        .await
        .assert_problem(409, "already_published");
    assert_eq!(snapshot(), before, "publishing twice writes nothing");
}

#[actix_web::test]
async fn csaf_documents_pass_the_reference_validator() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);
    let entity = register(&ctx, &app, "csaf-1", "energy.electricity", &[], &[]).await;

    let clear = published(
        &app,
        &t,
        &advisory(json!({"tlp": "CLEAR", "cves": ["CVE-2026-12345", "CVE-2026-12346"]})),
    )
    .await;
    let strict = published(&app, &energy, &advisory(json!({
        "audience": "sectoral", "sectors": ["energy"], "tlp": "AMBER+STRICT",
        "cves": [], "cvss_v3": null, "cwes": [],
        "affected_products": [
            {"vendor": "Grid Soft", "product": "Scada Hub", "versions": ["2.0"], "purl": "pkg:generic/grid-soft/scada-hub@2.0"},
            {"vendor": "Grid Soft", "product": "Relay", "versions": ["1.0", "1.1"], "fixed_in": ["1.2"]}
        ],
        "remediation": null
    }))).await;
    let red = published(&app, &t, &advisory(json!({"audience": "targeted", "entity_ids": [entity], "tlp": "RED", "cvss_v3": "CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:C/C:L/I:N/A:N"}))).await;
    let revised = published(&app, &t, &advisory(json!({"title": "Revised"}))).await;
    let r = send(
        &app,
        patch(
            &format!("/api/v1/advisories/{revised}"),
            &t,
            &json!({"severity": "medium"}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        publish(&app, &t, &revised, json!({"summary": "Severity lowered"}))
            .await
            .status,
        200
    );
    let withdrawn = published(&app, &t, &advisory(json!({"title": "Withdrawn"}))).await;
    let r = send(
        &app,
        post(
            &format!("/api/v1/advisories/{withdrawn}/withdraw"),
            &t,
            &json!({"reason": "duplicate"}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let dir = tempfile::tempdir().unwrap();
    let mut files = vec![];
    for (id, token) in [
        (&clear, &t),
        (&strict, &energy),
        (&red, &t),
        (&revised, &t),
        (&withdrawn, &t),
    ] {
        let r = send(&app, get(&format!("/api/v1/advisories/{id}/csaf"), token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json")
        );
        let a = send(&app, get(&format!("/api/v1/advisories/{id}"), token)).await;
        let doc = &r.body;
        assert_eq!(doc["document"]["category"], "csaf_security_advisory");
        assert_eq!(doc["document"]["csaf_version"], "2.0");
        assert_eq!(doc["document"]["tracking"]["id"], a.body["reference"]);
        assert_eq!(
            doc["document"]["tracking"]["revision_history"]
                .as_array()
                .unwrap()
                .len(),
            a.body["revisions"].as_array().unwrap().len()
        );
        assert_eq!(
            doc["document"]["tracking"]["version"],
            a.body["revision"].to_string()
        );
        let file = dir.path().join(format!("{id}.json"));
        std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
        files.push(file);
    }
    // The details the documents carry.
    let doc: Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert_eq!(doc["document"]["distribution"]["tlp"]["label"], "WHITE");
    let v = &doc["vulnerabilities"];
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["cve"], "CVE-2026-12345");
    assert_eq!(v[0]["cwe"]["id"], "CWE-79");
    assert_eq!(v[0]["scores"][0]["cvss_v3"]["baseScore"], 9.8);
    assert_eq!(v[0]["scores"][0]["cvss_v3"]["vectorString"], VECTOR);
    assert_eq!(
        v[0]["product_status"]["known_affected"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(v[0]["product_status"]["fixed"].as_array().unwrap().len(), 1);
    assert_eq!(
        v[0]["product_status"]["known_not_affected"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(v[0]["remediations"][0]["category"], "vendor_fix");
    assert_eq!(v[0]["remediations"][1]["category"], "mitigation");
    // First the document's canonical URL in the provider tree, then the advisory's references.
    let reference = doc["document"]["tracking"]["id"].as_str().unwrap();
    assert_eq!(doc["document"]["references"][0]["category"], "self");
    assert_eq!(
        doc["document"]["references"][0]["url"],
        format!(
            "https://csirt.example/.well-known/csaf/white/{}/{}.json",
            &doc["document"]["tracking"]["initial_release_date"]
                .as_str()
                .unwrap()[..4],
            reference.to_lowercase()
        )
    );
    assert_eq!(
        doc["document"]["references"][1]["url"],
        "https://vendor.example/security/2026-01"
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&files[1]).unwrap()).unwrap();
    assert_eq!(doc["document"]["distribution"]["tlp"]["label"], "AMBER");
    assert!(doc["document"]["distribution"]["text"]
        .as_str()
        .unwrap()
        .contains("AMBER+STRICT"));
    let doc: Value = serde_json::from_slice(&std::fs::read(&files[2]).unwrap()).unwrap();
    assert_eq!(
        doc["vulnerabilities"][0]["scores"][0]["cvss_v3"]["version"],
        "3.0"
    );
    assert_eq!(
        doc["vulnerabilities"][0]["scores"][0]["cvss_v3"]["baseScore"],
        2.3
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&files[3]).unwrap()).unwrap();
    assert_eq!(
        doc["document"]["tracking"]["revision_history"][1]["summary"],
        "Severity lowered"
    );
    assert_eq!(doc["document"]["aggregate_severity"]["text"], "medium");

    // A TLP:CLEAR document needs no token.
    let r = send(
        &app,
        TestRequest::get().uri(&format!("/api/v1/advisories/{clear}/csaf")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);

    validate_csaf(&files);
}

#[actix_web::test]
async fn entities_registered_before_the_index_are_matched_after_migrating() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let entity = register(
        &ctx,
        &app,
        "old-1",
        "banking",
        &["198.51.100.0/24"],
        &["old.example"],
    )
    .await;
    // As before the index existed: no rows, no mark.
    {
        use diesel::prelude::*;
        let mut conn = ctx.state.pool.get().unwrap();
        diesel::sql_query("DELETE FROM entity_networks")
            .execute(&mut *conn)
            .unwrap();
        diesel::sql_query("DELETE FROM entity_domains")
            .execute(&mut *conn)
            .unwrap();
        diesel::sql_query("DELETE FROM counters WHERE name = 'entity_networks_indexed'")
            .execute(&mut *conn)
            .unwrap();
    }
    let target = |m: Value| advisory(json!({"audience": "targeted", "tlp": "AMBER", "match": m}));
    let reader = ctx.token(&entity, Role::Entity);
    let unindexed = published(&app, &t, &target(json!({"ip_ranges": ["198.51.100.1/32"]}))).await;
    send(
        &app,
        get(&format!("/api/v1/advisories/{unindexed}"), &reader),
    )
    .await
    .assert_problem(404, "not_found");
    {
        let mut conn = ctx.state.pool.get().unwrap();
        nis2hub::ops::migrate(&mut conn).unwrap();
    }
    assert_eq!(count(&ctx, "entity_networks"), 1);
    for m in [
        json!({"ip_ranges": ["198.51.100.1/32"]}),
        json!({"domains": ["www.old.example"]}),
    ] {
        let id = published(&app, &t, &target(m.clone())).await;
        let r = send(&app, get(&format!("/api/v1/advisories/{id}"), &reader)).await;
        assert_eq!(r.status, 200, "{m}: {}", r.text);
    }
}

/// Which registered entities an advisory's ranges reach, case by case: a registered block
/// inside the advisory's, one containing it (from far before its start), the same block, a
/// neighbour that only touches, IPv6, and a deregistered entity.
#[actix_web::test]
async fn match_reaches_exactly_the_overlapping_registered_ranges() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let wide = register(&ctx, &app, "m-wide", "banking", &["10.0.0.0/8"], &[]).await;
    let mid = register(&ctx, &app, "m-mid", "banking", &["10.20.0.0/16"], &[]).await;
    let small = register(&ctx, &app, "m-small", "banking", &["10.20.30.16/28"], &[]).await;
    let next = register(&ctx, &app, "m-next", "banking", &["10.20.30.32/28"], &[]).await;
    let other = register(&ctx, &app, "m-other", "banking", &["192.0.2.0/24"], &[]).await;
    let six = register(&ctx, &app, "m-six", "banking", &["2001:db8:1::/48"], &[]).await;
    let gone = register(&ctx, &app, "m-gone", "banking", &["10.20.30.16/28"], &[]).await;
    let r = send(
        &app,
        post(
            &format!("/api/v1/entities/{gone}/deregister"),
            &ctx.national(),
            &json!({"reason": "left the sector"}),
        ),
    )
    .await;
    assert!(r.status < 300, "{}", r.text);
    let cases: &[(&[&str], &[&String])] = &[
        // a host inside the /28: the /28, the /16 and the /8 contain it
        (&["10.20.30.17/32"], &[&wide, &mid, &small]),
        // the /28 itself, and a /24 around it: its neighbour too
        (&["10.20.30.16/28"], &[&wide, &mid, &small]),
        (&["10.20.30.0/24"], &[&wide, &mid, &small, &next]),
        // the whole /8 holds every IPv4 block registered inside it
        (&["10.0.0.0/8"], &[&wide, &mid, &small, &next]),
        // inside the /8 but outside the /16
        (&["10.21.0.0/16"], &[&wide]),
        // 10.20.30.0/28 ends at .15: it touches the /28 at .16 but does not overlap it
        (&["10.20.30.0/28"], &[&wide, &mid]),
        (&["192.0.2.255/32", "203.0.113.0/24"], &[&other]),
        (&["2001:db8::/32"], &[&six]),
        (&["2001:db8:1:2::/64"], &[&six]),
        (&["2001:db9::/32"], &[]),
        // nested advisory ranges count once
        (
            &["10.20.30.17/32", "10.20.30.16/28", "10.20.0.0/16"],
            &[&wide, &mid, &small, &next],
        ),
    ];
    let mut conn = ctx.state.pool.get().unwrap();
    for (ranges, expected) in cases {
        let nets: Vec<ipnet::IpNet> = ranges.iter().map(|r| r.parse().unwrap()).collect();
        let found = nis2hub::entities::repo::overlapping(&mut conn, &nets, &[]).unwrap();
        let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(found, expected, "{ranges:?}");
    }
}

#[actix_web::test]
async fn creating_is_idempotent_and_events_reach_webhooks() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let entity = register(&ctx, &app, "hook-1", "health", &[], &[]).await;
    let own = ctx.token(&entity, Role::Entity);
    let hook = send(
        &app,
        post(
            "/api/v1/webhooks",
            &own,
            &json!({"url": "http://127.0.0.1:9/hook", "description": "advisories"}),
        ),
    )
    .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    let hook = hook.body["id"].as_str().unwrap().to_string();

    let body = advisory(json!({"audience": "sectoral", "sectors": ["health"], "tlp": "AMBER"}));
    let first = send(
        &app,
        post("/api/v1/advisories", &t, &body).insert_header(("Idempotency-Key", "adv-1")),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = send(
        &app,
        post("/api/v1/advisories", &t, &body).insert_header(("Idempotency-Key", "adv-1")),
    )
    .await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(count(&ctx, "advisories"), 1);
    let other = advisory(json!({"title": "different"}));
    let r = send(
        &app,
        post("/api/v1/advisories", &t, &other).insert_header(("Idempotency-Key", "adv-1")),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(count(&ctx, "advisories"), 1);

    let id = first.body["id"].as_str().unwrap();
    assert_eq!(publish(&app, &t, id, json!({})).await.status, 200);
    let log = send(
        &app,
        get(
            &format!("/api/v1/webhooks/{hook}/deliveries?limit=200"),
            &own,
        ),
    )
    .await;
    assert_eq!(log.status, 200, "{}", log.text);
    let types: Vec<&str> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["advisory.published"], "{}", log.text);
}
