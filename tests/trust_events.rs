//! Trust: what events carry to whom, what a dry run may use, and what readers of a published
//! advisory see while its issuer edits the next revision.
//!
//! The rule behind the event tables: a reader receives an event only with content it could
//! `GET`, or does not receive it — in its feed (`GET /api/v1/feed`, the national CSIRT's
//! national view included) and in the payloads its webhook subscriptions are sent.

mod common;

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use common::*;
use nis2hub::auth::Role;
use nis2hub::webhooks::worker;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A webhook receiver in the test process: answers 200 to every POST and keeps each body by
/// the path it was posted to (one path per reader).
struct Sink {
    port: u16,
    got: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Sink {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let store = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = vec![];
                let mut chunk = [0u8; 8192];
                let (head_end, length) = loop {
                    let n = match s.read(&mut chunk) {
                        Ok(0) | Err(_) => break (None, 0),
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (Some(i + 4), length);
                    }
                };
                let Some(start) = head_end else { continue };
                while buf.len() < start + length {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf[..start]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                let body = serde_json::from_slice(&buf[start..]).unwrap_or(Value::Null);
                store.lock().unwrap().push((path, body));
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        Sink { port, got }
    }

    fn url(&self, reader: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            reader.replace(' ', "-")
        )
    }

    /// The payloads posted for `reader`.
    fn payloads(&self, reader: &str) -> Vec<Value> {
        let path = format!("/{}", reader.replace(' ', "-"));
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| *p == path)
            .map(|(_, b)| b.clone())
            .collect()
    }
}

/// Runs the delivery worker until nothing is due.
fn drain(ctx: &Ctx) {
    let s = worker::Settings {
        poll: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
        ..worker::Settings::new(&ctx.state.config)
    };
    let agent = worker::agent(&s);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut idle = 0;
    while idle < 3 {
        let n = worker::run_once(&ctx.state.pool, &agent, &s, None).unwrap();
        idle = if n == 0 { idle + 1 } else { 0 };
        assert!(std::time::Instant::now() < deadline, "deliveries settle");
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn subscribe<S, B>(app: &S, sink: &Sink, reader: &str, token: &str)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = send(
        app,
        post(
            "/api/v1/webhooks",
            token,
            &json!({"url": sink.url(reader), "description": reader}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{reader} subscribes: {}", r.text);
}

fn about<'a>(events: &'a [Value], id: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["subject"]["id"] == id).collect()
}

fn advisory(extra: Value) -> Value {
    let mut body = json!({
        "title": "Remote code execution in Example Gateway",
        "summary": "Example Gateway 4.1 and 4.2 allow unauthenticated remote code execution.",
        "audience": "national",
        "tlp": "GREEN",
        "severity": "critical",
        "cves": ["CVE-2026-12345"],
        "affected_products": [{
            "vendor": "Example Vendor", "product": "Example Gateway",
            "versions": ["4.1", "4.2"], "fixed_in": ["4.3"]
        }],
        "references": [{"url": "https://vendor.example/security/2026-01", "summary": "Vendor bulletin"}]
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

async fn published<S, B>(app: &S, token: &str, body: &Value) -> String
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = send(app, post("/api/v1/advisories", token, body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let p = send(
        app,
        post(
            &format!("/api/v1/advisories/{id}/publish"),
            token,
            &json!({}),
        ),
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.text);
    id
}

async fn register<S, B>(ctx: &Ctx, app: &S, ident: &str, sector: &str, ranges: &[&str]) -> String
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut body = entity_body(ident, sector);
    body["ip_ranges"] = json!(ranges);
    body["domains"] = json!([]);
    let r = send(app, post("/api/v1/entities", &ctx.national(), &body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

/// Caller × advisory, over the feed and the webhook payloads: who receives events about each
/// advisory. A reader that cannot read an advisory receives no event about it (an advisory
/// event is its reference, title and CVE ids: there is no content-less form worth sending);
/// the national CSIRT, whose feed shows every event of the register, sees no advisory it may
/// not read — a sectoral CSIRT's TLP:RED advisory is for the named entities alone.
#[actix_web::test]
async fn advisory_events_reach_only_those_who_may_read_the_advisory() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let health = ctx.token("csirt-health", Role::SectoralCsirt);
    let e_health = register(&ctx, &app, "ev-health", "health", &[]).await;
    let e_health2 = register(&ctx, &app, "ev-health-2", "health", &[]).await;
    let e_energy = register(&ctx, &app, "ev-energy", "energy.electricity", &[]).await;

    let readers: Vec<(&str, String)> = vec![
        ("national CSIRT", national.clone()),
        ("health CSIRT", health.clone()),
        (
            "energy CSIRT",
            ctx.token("csirt-energy", Role::SectoralCsirt),
        ),
        (
            "finance CSIRT",
            ctx.token("csirt-finance", Role::SectoralCsirt),
        ),
        (
            "health authority",
            ctx.token("authority-health", Role::SupervisoryAuthority),
        ),
        ("health entity", ctx.token(&e_health, Role::Entity)),
        ("other health entity", ctx.token(&e_health2, Role::Entity)),
        ("energy entity", ctx.token(&e_energy, Role::Entity)),
    ];
    let sink = Sink::start();
    for (who, token) in &readers {
        subscribe(&app, &sink, who, token).await;
    }

    // The case: a sectoral CSIRT's TLP:RED advisory for one entity.
    let sectoral_red = published(
        &app,
        &health,
        &advisory(json!({"audience": "targeted", "entity_ids": [e_health], "tlp": "RED"})),
    )
    .await;
    let national_red = published(
        &app,
        &national,
        &advisory(json!({"audience": "targeted", "entity_ids": [e_energy], "tlp": "RED"})),
    )
    .await;
    // AMBER+STRICT with a second revision (`advisory.updated`).
    let strict = published(
        &app,
        &health,
        &advisory(json!({"audience": "sectoral", "sectors": ["health"], "tlp": "AMBER+STRICT"})),
    )
    .await;
    let r = send(
        &app,
        patch(
            &format!("/api/v1/advisories/{strict}"),
            &health,
            &json!({"remediation": "Update to 4.3."}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = send(
        &app,
        post(
            &format!("/api/v1/advisories/{strict}/publish"),
            &health,
            &json!({"summary": "Remediation"}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // AMBER for the energy entity and whoever `match` finds; a bank registered in the matched
    // range after publication is not a reader of this revision, so the withdrawal (which
    // publishes no new text) is no event for it or for its CSIRT either.
    let amber = published(
        &app,
        &national,
        &advisory(
            json!({"audience": "targeted", "entity_ids": [e_energy], "tlp": "AMBER",
            "match": {"ip_ranges": ["198.51.100.0/24"]}}),
        ),
    )
    .await;
    let e_late = register(&ctx, &app, "ev-late", "banking", &["198.51.100.0/25"]).await;
    let late = ctx.token(&e_late, Role::Entity);
    subscribe(&app, &sink, "late entity", &late).await;
    let r = send(
        &app,
        post(
            &format!("/api/v1/advisories/{amber}/withdraw"),
            &national,
            &json!({"reason": "Superseded"}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let green = published(
        &app,
        &health,
        &advisory(json!({"audience": "sectoral", "sectors": ["health"], "tlp": "GREEN"})),
    )
    .await;
    drain(&ctx);

    let mut readers = readers;
    readers.push(("late entity", late));
    let items = [
        ("sectoral RED", &sectoral_red),
        ("national RED", &national_red),
        ("AMBER+STRICT", &strict),
        ("AMBER withdrawn", &amber),
        ("GREEN", &green),
    ];
    #[rustfmt::skip]
    let table: BTreeMap<&str, [bool; 5]> = BTreeMap::from([
        //                        sect. RED  nat. RED  A+S    AMBER  GREEN
        ("national CSIRT",       [false,     true,     true,  true,  true ]),
        ("health CSIRT",         [true,      false,    true,  false, true ]),
        ("energy CSIRT",         [false,     false,    false, true,  false]),
        ("finance CSIRT",        [false,     false,    false, false, false]),
        ("health authority",     [false,     false,    true,  false, true ]),
        ("health entity",        [true,      false,    true,  false, true ]),
        ("other health entity",  [false,     false,    true,  false, true ]),
        ("energy entity",        [false,     true,     false, true,  false]),
        ("late entity",          [false,     false,    false, false, false]),
    ]);
    let mut failures = vec![];
    for (who, token) in &readers {
        let feed = whole_feed(&app, token).await;
        let hooks = sink.payloads(who);
        for (i, (name, id)) in items.iter().enumerate() {
            let cell = format!("{who} × {name}");
            let in_feed = about(&feed, id);
            let in_hooks = about(&hooks, id);
            let get = send(&app, get(&format!("/api/v1/advisories/{id}"), token)).await;
            let expected = table[who][i];
            if (!in_feed.is_empty() || !in_hooks.is_empty()) && get.status != 200 {
                failures.push(format!(
                    "{cell}: receives {} feed and {} webhook event(s) but GET answers {}: {:?}",
                    in_feed.len(),
                    in_hooks.len(),
                    get.status,
                    in_feed
                        .iter()
                        .chain(&in_hooks)
                        .map(|e| &e["data"])
                        .collect::<Vec<_>>()
                ));
            }
            if in_feed.is_empty() == expected || in_hooks.is_empty() == expected {
                failures.push(format!(
                    "{cell}: expected events {expected}, feed {}, webhooks {}",
                    in_feed.len(),
                    in_hooks.len()
                ));
            }
            // The same events both ways, each with the title the reader GETs.
            let ids = |v: &[&Value]| -> Vec<String> {
                let mut ids: Vec<String> =
                    v.iter().map(|e| e["id"].as_str().unwrap().into()).collect();
                ids.sort();
                ids
            };
            if ids(&in_feed) != ids(&in_hooks) {
                failures.push(format!("{cell}: the feed and the webhooks differ"));
            }
            for e in in_feed.iter().chain(&in_hooks) {
                if e["data"]["title"] != get.body["title"] {
                    failures.push(format!("{cell}: {} vs GET {}", e["data"], get.text));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Caller × incident and caller × CVD case, over the feed and the webhook payloads. An
/// incident's event reaches everyone told of the incident, with the reports' content only
/// for those who read it (the others get the event marked `content_withheld`, as their `GET`
/// shows the incident without it); a CVD event reaches only the case's participants.
#[actix_web::test]
async fn incident_and_cvd_events_carry_only_what_their_reader_may_get() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let e_energy = register(&ctx, &app, "ev-inc", "energy.electricity", &[]).await;
    let e_bank = register(&ctx, &app, "ev-finder", "banking", &[]).await;
    let e_health = register(&ctx, &app, "ev-bystander", "health", &[]).await;
    let reporter = ctx.token(&e_energy, Role::Entity);
    let authority = ctx.token("authority-infrastructure", Role::SupervisoryAuthority);
    let finder = ctx.token(&e_bank, Role::Entity);
    let readers: Vec<(&str, String)> = vec![
        ("national CSIRT", national.clone()),
        ("reporting entity", reporter.clone()),
        (
            "energy CSIRT",
            ctx.token("csirt-energy", Role::SectoralCsirt),
        ),
        ("infrastructure authority", authority.clone()),
        (
            "health CSIRT",
            ctx.token("csirt-health", Role::SectoralCsirt),
        ),
        (
            "finance CSIRT",
            ctx.token("csirt-finance", Role::SectoralCsirt),
        ),
        ("finder entity", finder.clone()),
        ("bystander entity", ctx.token(&e_health, Role::Entity)),
    ];
    let sink = Sink::start();
    for (who, token) in &readers {
        subscribe(&app, &sink, who, token).await;
    }

    let mut incidents = vec![];
    for tlp in ["RED", "AMBER"] {
        let body = json!({"entity_id": e_energy, "stage": "early_warning",
            "aware_at": chrono::Utc::now() - chrono::Duration::hours(1), "significant": true,
            "affected_member_states": ["NL", "BE"], "affected_sectors": ["health"],
            "summary": format!("secret summary {tlp}"), "tlp": tlp});
        let r = send(&app, post("/api/v1/incidents", &reporter, &body)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.body["id"].as_str().unwrap().to_string();
        let report = r.body["reports"][0]["id"].as_str().unwrap().to_string();
        let path = format!("/api/v1/incidents/{id}/reports/{report}/review");
        let review =
            json!({"status": "revision_required", "comment": format!("secret comment {tlp}")});
        let r = send(&app, post(&path, &authority, &review)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        incidents.push((format!("incident TLP:{tlp}"), id));
    }

    // A CVD case reported by an entity, with an entity vendor and a coordinators-only message.
    let r = send(
        &app,
        post(
            "/api/v1/cvd/reports",
            &finder,
            &json!({"title": "secret VPN bypass", "description": "An empty password on /login grants a session.",
                "vendor": "Example Networks", "product": "ExampleVPN", "versions": ["4.2"]}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let case = r.body["case_id"].as_str().unwrap().to_string();
    for (path, body) in [
        ("triage", json!({"state": "triaged"})),
        ("vendors", json!({"entity_id": e_energy})),
        (
            "messages",
            json!({"body": "between coordinators", "visibility": "coordinators"}),
        ),
        (
            "messages",
            json!({"body": "to everyone", "visibility": "everyone"}),
        ),
    ] {
        let r = send(
            &app,
            post(
                &format!("/api/v1/cvd/cases/{case}/{path}"),
                &national,
                &body,
            ),
        )
        .await;
        assert!(r.status == 200 || r.status == 201, "{path}: {}", r.text);
    }
    drain(&ctx);

    // Reader → (receives events about: RED incident, AMBER incident, CVD case).
    #[rustfmt::skip]
    let table: BTreeMap<&str, [bool; 3]> = BTreeMap::from([
        //                              RED    AMBER  CVD
        ("national CSIRT",             [true,  true,  true ]),
        ("reporting entity",           [true,  true,  true ]),
        ("energy CSIRT",               [true,  true,  false]),
        ("infrastructure authority",   [true,  true,  false]),
        ("health CSIRT",               [true,  true,  false]),
        ("finance CSIRT",              [false, false, false]),
        ("finder entity",              [false, false, true ]),
        ("bystander entity",           [false, false, false]),
    ]);
    let mut items: Vec<(String, String, String)> = incidents
        .iter()
        .map(|(name, id)| (name.clone(), id.clone(), format!("/api/v1/incidents/{id}")))
        .collect();
    items.push((
        "CVD case".into(),
        case.clone(),
        format!("/api/v1/cvd/cases/{case}"),
    ));
    let mut failures = vec![];
    for (who, token) in &readers {
        let feed = whole_feed(&app, token).await;
        let hooks = sink.payloads(who);
        for (i, (name, id, uri)) in items.iter().enumerate() {
            let cell = format!("{who} × {name}");
            let in_feed = about(&feed, id);
            let in_hooks = about(&hooks, id);
            let expected = table[who][i];
            if in_feed.is_empty() == expected || in_hooks.is_empty() == expected {
                failures.push(format!(
                    "{cell}: expected events {expected}, feed {}, webhooks {}",
                    in_feed.len(),
                    in_hooks.len()
                ));
            }
            if in_feed.is_empty() && in_hooks.is_empty() {
                continue;
            }
            let got = send(&app, get(uri, token)).await;
            if got.status != 200 {
                failures.push(format!(
                    "{cell}: receives events but GET answers {}",
                    got.status
                ));
                continue;
            }
            // Whatever content an event carries, the reader's GET shows too.
            let mut seen = got.text.clone();
            if name == "CVD case" {
                let m = send(&app, get(&format!("{uri}/messages?limit=200"), token)).await;
                seen.push_str(&m.text);
            }
            for e in in_feed.iter().chain(&in_hooks) {
                let text = e.to_string();
                for secret in ["secret summary", "secret comment", "between coordinators"] {
                    if text.contains(secret) && !seen.contains(secret) {
                        failures.push(format!("{cell}: an event carries `{secret}`: {text}"));
                    }
                }
                if e["data"]["content_withheld"] == true && seen.contains("secret summary") {
                    failures.push(format!("{cell}: content withheld from one who reads it"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The dry run with a registered `entity_id` counts the entity's earlier incidents for the
/// recurring-incident rule (IR 2024/2690 Art. 4) only when its caller may read them: an
/// authority that was never told of a DNS provider's incident, or a CSIRT that covers the
/// entity only since it took over its sector, gets the decision the facts alone give — it cannot
/// recover the earlier root cause or loss by guessing. The national CSIRT, the entity itself
/// and the CSIRT that was told still get the recurring rule.
#[actix_web::test]
async fn a_dry_run_uses_only_history_its_caller_may_read() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let dns = register(&ctx, &app, "dry-dns", "digital_infrastructure.dns", &[]).await;
    let own = ctx.token(&dns, Role::Entity);
    let now = chrono::Utc::now();
    // An earlier incident below the threshold (€ 500 000), so not significant: the supervisory
    // authority is not told of it.
    for days in [40] {
        let body = json!({"entity_id": dns, "stage": "early_warning",
            "aware_at": (now - chrono::Duration::days(days)).to_rfc3339(),
            "occurred_at": (now - chrono::Duration::days(days)).to_rfc3339(),
            "summary": "resolver outage", "root_cause": "expired DNSSEC key",
            "impact": {"financial_loss_eur": 300_000}});
        let r = send(&app, post("/api/v1/incidents", &own, &body)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["decision"]["classification"]["significant"], false);
    }
    let dry = |cause: &str| {
        json!({"entity_id": dns, "stage": "early_warning", "aware_at": now.to_rfc3339(),
            "root_cause": cause, "impact": {"financial_loss_eur": 250_000}})
    };
    let decide = |token: String, body: Value| {
        let app = &app;
        async move {
            let r = send(app, post("/api/v1/routing/evaluate", &token, &body)).await;
            assert_eq!(r.status, 200, "{}", r.text);
            let recipients: Vec<(String, Vec<String>)> = r.body["recipients"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| {
                    (
                        x["organisation_id"].as_str().unwrap().to_string(),
                        serde_json::from_value(x["rules"].clone()).unwrap(),
                    )
                })
                .collect();
            (r.body["classification"].clone(), recipients)
        }
    };
    let recurring = |c: &Value| {
        c["significance_criteria"]
            .as_array()
            .unwrap()
            .contains(&json!("ir2690.art4.recurring"))
    };
    let digital_authority = ctx.token("authority-digital", Role::SupervisoryAuthority);
    let digital_csirt = ctx.token("csirt-digital", Role::SectoralCsirt);
    // Sees the entity (it covers digital infrastructure), none of its incidents.
    let r = send(
        &app,
        get(&format!("/api/v1/entities/{dns}"), &digital_authority),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (guess, guess_to) = decide(digital_authority.clone(), dry("Expired DNSSEC key")).await;
    let (none, none_to) = decide(digital_authority.clone(), dry("a flood")).await;
    assert!(!recurring(&guess), "the authority's right guess: {guess}");
    assert_eq!((&guess, &guess_to), (&none, &none_to), "as with no history");
    for (who, token) in [
        ("the national CSIRT", national.clone()),
        ("the entity", own.clone()),
        ("the CSIRT told of it", digital_csirt.clone()),
    ] {
        let (c, _) = decide(token.clone(), dry("Expired DNSSEC key")).await;
        assert!(recurring(&c), "{who}: {c}");
        assert_eq!(c["significant"], true, "{who}: {c}");
        let (c, _) = decide(token, dry("a flood")).await;
        assert!(!recurring(&c), "{who}, another cause: {c}");
    }

    // The energy CSIRT takes over digital infrastructure in the directory: it now sees the
    // entity, not the incident it was never told of.
    for (code, coverage) in [
        (
            "csirt-digital",
            json!(["ict_service_management", "digital_providers"]),
        ),
        (
            "csirt-energy",
            json!([
                "energy",
                "transport",
                "drinking_water",
                "waste_water",
                "digital_infrastructure"
            ]),
        ),
    ] {
        let r = send(
            &app,
            patch(
                &format!("/api/v1/organisations/{}", ctx.org_id(code)),
                &national,
                &json!({"coverage": coverage}),
            ),
        )
        .await;
        assert_eq!(r.status, 200, "{code}: {}", r.text);
    }
    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);
    let r = send(&app, get(&format!("/api/v1/entities/{dns}"), &energy)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (guess, guess_to) = decide(energy.clone(), dry("Expired DNSSEC key")).await;
    let (none, none_to) = decide(energy, dry("a flood")).await;
    assert!(
        !recurring(&guess),
        "the energy CSIRT's right guess: {guess}"
    );
    assert_eq!((&guess, &guess_to), (&none, &none_to), "as with no history");
    let (c, _) = decide(national, dry("Expired DNSSEC key")).await;
    assert!(recurring(&c), "the national CSIRT after the move: {c}");
}

/// A reader of a published advisory sees the published revision's `ETag`, `version` and
/// `updated_at` while the issuer edits the next revision — in the single read and the list,
/// whose `updated_since` does not turn it up either; they move when the revision is published.
#[actix_web::test]
async fn readers_keep_the_published_versions_etag_while_the_issuer_edits() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let reader = ctx.token("csirt-energy", Role::SectoralCsirt);
    let id = published(&app, &national, &advisory(json!({"tlp": "GREEN"}))).await;
    let uri = format!("/api/v1/advisories/{id}");
    let seen = |token: String| {
        let (app, uri) = (&app, uri.clone());
        async move {
            let r = send(app, get(&uri, &token)).await;
            assert_eq!(r.status, 200, "{}", r.text);
            (
                r.header("etag").unwrap(),
                r.body["version"].clone(),
                r.body["updated_at"].as_str().unwrap().to_string(),
            )
        }
    };
    let listed = |token: String, since: String| {
        let app = &app;
        async move {
            let since = since.replace('+', "%2B");
            let r = send(
                app,
                get(
                    &format!("/api/v1/advisories?limit=200&updated_since={since}"),
                    &token,
                ),
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.body["items"].as_array().unwrap().clone()
        }
    };
    let before = seen(reader.clone()).await;
    let issuer_before = seen(national.clone()).await;
    assert_eq!(
        before, issuer_before,
        "nothing pending: one version for all"
    );
    tokio_sleep().await;
    let r = send(
        &app,
        patch(&uri, &national, &json!({"remediation": "Block port 8443."}))
            .insert_header(("If-Match", before.0.clone())),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let issuer = seen(national.clone()).await;
    assert_ne!(
        issuer.0, before.0,
        "the issuer's working copy has a new ETag"
    );
    assert_ne!(issuer.2, before.2);
    assert_eq!(
        seen(reader.clone()).await,
        before,
        "the reader's view is unchanged"
    );
    // Changed since `before` for the issuer only.
    let after = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t).unwrap() + chrono::Duration::microseconds(1)
    };
    let since = after(&before.2).to_rfc3339();
    let items = listed(reader.clone(), since.clone()).await;
    assert!(items.is_empty(), "{items:?}");
    let items = listed(national.clone(), since.clone()).await;
    assert_eq!(items.len(), 1, "{items:?}");
    let items = listed(reader.clone(), before.2.clone()).await;
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0]["version"], before.1,
        "the list shows the published version"
    );
    assert_eq!(items[0]["updated_at"].as_str().unwrap(), before.2);

    // Publishing the revision moves everyone's.
    let r = send(
        &app,
        post(
            &format!("{uri}/publish"),
            &national,
            &json!({"summary": "Mitigation"}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let now = seen(reader.clone()).await;
    assert_ne!(now.0, before.0);
    assert_eq!(now, seen(national.clone()).await);
    assert_eq!(listed(reader, since).await.len(), 1);
}

async fn tokio_sleep() {
    actix_web::rt::time::sleep(Duration::from_millis(5)).await;
}

/// `If-Match` on `PATCH /api/v1/advisories/{id}` holds under concurrency: of eight PATCHes
/// carrying the same `ETag`, one changes the advisory and the others get 412, nothing else.
#[actix_web::test]
async fn concurrent_patches_with_one_etag_make_one_change() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    for published_first in [false, true] {
        let r = send(
            &app,
            post("/api/v1/advisories", &national, &advisory(json!({}))),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.body["id"].as_str().unwrap().to_string();
        if published_first {
            let p = send(
                &app,
                post(
                    &format!("/api/v1/advisories/{id}/publish"),
                    &national,
                    &json!({}),
                ),
            )
            .await;
            assert_eq!(p.status, 200, "{}", p.text);
        }
        let uri = format!("/api/v1/advisories/{id}");
        let etag = send(&app, get(&uri, &national))
            .await
            .header("etag")
            .unwrap();
        let calls = (0..8).map(|i| {
            let req = patch(
                &uri,
                &national,
                &json!({"title": format!("title {i}"), "cves": ["CVE-2026-11111", "CVE-2026-22222"]}),
            )
            .insert_header(("If-Match", etag.clone()));
            send(&app, req)
        });
        let answers = futures_util::future::join_all(calls).await;
        let mut statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
        statuses.sort();
        assert_eq!(
            statuses,
            [200, 412, 412, 412, 412, 412, 412, 412],
            "published first: {published_first}: {:?}",
            answers.iter().map(|r| &r.text).collect::<Vec<_>>()
        );
        let won = answers.iter().find(|r| r.status == 200).unwrap();
        let now = send(&app, get(&uri, &national)).await;
        assert_eq!(now.body["title"], won.body["title"]);
        assert_eq!(now.header("etag"), won.header("etag"));
    }
}
