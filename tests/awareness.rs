//! Situational awareness: voluntary notifications, the figures by group for each kind of
//! reader, disclosure control that survives subtraction from the totals, CSV and SVG, the
//! quarterly summary for ENISA, and bad queries.

mod common;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use common::*;
use diesel::prelude::*;
use nis2hub::auth::Role;
use nis2hub::schema::incidents;
use serde_json::{json, Value};

/// One stored notification, written straight into the register (the figures only read
/// columns, so this is what a report leaves behind).
struct Row {
    entity: String,
    sector: &'static str,
    kind: &'static str,
    significant: bool,
    late: bool,
    cross_border: bool,
    threat_type: Option<&'static str>,
    at: DateTime<Utc>,
}

fn row(entity: &str, sector: &'static str, at: DateTime<Utc>) -> Row {
    Row {
        entity: entity.into(),
        sector,
        kind: "incident",
        significant: false,
        late: false,
        cross_border: false,
        threat_type: None,
        at,
    }
}

fn seed(ctx: &Ctx, rows: &[Row]) {
    use nis2hub::schema::entities;
    let mut conn = ctx.state.pool.get().unwrap();
    for (i, r) in rows.iter().enumerate() {
        let at = r.at.naive_utc();
        let known: i64 = entities::table
            .filter(entities::id.eq(&r.entity))
            .count()
            .get_result(&mut conn)
            .unwrap();
        if known == 0 {
            diesel::insert_into(entities::table)
                .values((
                    entities::id.eq(&r.entity),
                    entities::name.eq(&r.entity),
                    entities::name_folded.eq(&r.entity),
                    entities::identifier.eq(&r.entity),
                    entities::country.eq("NL"),
                    entities::sector.eq(r.sector),
                    entities::category.eq("essential"),
                    entities::status.eq("registered"),
                    entities::body.eq("{}"),
                    entities::version.eq(1i64),
                    entities::created_at.eq(at),
                    entities::updated_at.eq(at),
                ))
                .execute(&mut conn)
                .unwrap();
        }
        diesel::insert_into(incidents::table)
            .values((
                incidents::id.eq(uuid::Uuid::now_v7().to_string()),
                incidents::reference
                    .eq(format!("INC-TEST-{i:06}-{}", uuid::Uuid::new_v4().simple())),
                incidents::entity_id.eq(&r.entity),
                incidents::sector.eq(r.sector),
                incidents::status.eq("open"),
                incidents::current_stage.eq("notification"),
                incidents::aware_at.eq(at),
                incidents::occurred_at.eq(at),
                incidents::significant.eq(r.significant),
                incidents::mandatory.eq(r.significant),
                incidents::cross_border.eq(r.cross_border),
                incidents::cross_sectoral.eq(false),
                incidents::late.eq(r.late),
                incidents::tlp.eq("AMBER"),
                incidents::facts.eq("{}"),
                incidents::decision.eq("{}"),
                incidents::version.eq(1i64),
                incidents::created_at.eq(at),
                incidents::updated_at.eq(at),
                incidents::kind.eq(r.kind),
                incidents::category.eq(Some("essential")),
                incidents::threat_type.eq(r.threat_type),
            ))
            .execute(&mut conn)
            .unwrap();
    }
}

fn t(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, 12, 0, 0).unwrap()
}

const PERIOD: &str = "from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z";

fn group<'a>(r: &'a Res, key: &str) -> &'a Value {
    r.body["groups"]
        .as_array()
        .unwrap_or_else(|| panic!("groups: {}", r.text))
        .iter()
        .find(|g| g["key"] == key)
        .unwrap_or_else(|| panic!("no group {key}: {}", r.text))
}

/// Energy: electricity with five entities, gas with one (below the threshold), oil with
/// three; health (another CSIRT's sector) with four.
fn energy_and_health() -> Vec<Row> {
    let mut rows = vec![];
    for e in 0..5 {
        rows.push(Row {
            significant: e < 2,
            late: e == 0,
            ..row(&format!("elec-{e}"), "energy.electricity", t(2 + e))
        });
    }
    rows.push(Row {
        significant: true,
        ..row("gas-0", "energy.gas", t(3))
    });
    rows.push(row("gas-0", "energy.gas", t(20)));
    for e in 0..3 {
        rows.push(row(&format!("oil-{e}"), "energy.oil", t(10 + e)));
        rows.push(row(&format!("oil-{e}"), "energy.oil", t(11 + e)));
    }
    for e in 0..4 {
        rows.push(row(&format!("health-{e}"), "health", t(5)));
    }
    rows
}

#[actix_web::test]
async fn the_national_csirt_sees_every_sector_unsuppressed() {
    let ctx = Ctx::new();
    seed(&ctx, &energy_and_health());
    // Outside the period: not counted.
    seed(
        &ctx,
        &[row(
            "elec-0",
            "energy.electricity",
            t(1) - chrono::Duration::days(3),
        )],
    );
    let app = app!(ctx);
    let r = send(
        &app,
        get(
            &format!("/api/v1/awareness?{PERIOD}&group_by=sector"),
            &ctx.national(),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["scope"], "national");
    assert_eq!(r.body["suppressed_below"], Value::Null);
    let elec = group(&r, "energy.electricity");
    assert_eq!(
        (
            &elec["incidents"],
            &elec["significant"],
            &elec["entities"],
            &elec["late"]
        ),
        (&json!(5), &json!(2), &json!(5), &json!(1))
    );
    let gas = group(&r, "energy.gas");
    assert_eq!(
        (&gas["incidents"], &gas["entities"], &gas["suppressed"]),
        (&json!(2), &json!(1), &json!(false))
    );
    assert_eq!(group(&r, "health")["incidents"], 4);
    assert_eq!(r.body["total"]["incidents"], 17);
    assert_eq!(r.body["total"]["entities"], 13);
}

#[actix_web::test]
async fn a_sectoral_csirt_sees_its_sectors_and_cannot_recover_a_suppressed_one() {
    let ctx = Ctx::new();
    seed(&ctx, &energy_and_health());
    let app = app!(ctx);
    let token = ctx.token("csirt-energy", Role::SectoralCsirt);
    let r = send(
        &app,
        get(
            &format!("/api/v1/awareness?{PERIOD}&group_by=sector"),
            &token,
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["scope"], "sectoral");
    assert_eq!(r.body["suppressed_below"], 3);
    let keys: Vec<&str> = r.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["energy.electricity", "energy.gas", "energy.oil"],
        "health is not theirs"
    );
    let gas = group(&r, "energy.gas");
    assert_eq!(gas["suppressed"], true, "one entity is below the threshold");
    for field in [
        "incidents",
        "significant",
        "entities",
        "late",
        "near_misses",
        "cyber_threats",
    ] {
        assert_eq!(gas[field], Value::Null, "{field}");
    }
    assert_eq!(
        group(&r, "energy.oil")["suppressed"],
        true,
        "the complement"
    );
    assert_eq!(group(&r, "energy.electricity")["incidents"], 5);

    // The attack: every published figure subtracted from the published total.
    let total = &r.body["total"];
    assert_eq!(total["suppressed"], false);
    for field in ["incidents", "significant"] {
        let published: u64 = r.body["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|g| g[field].as_u64())
            .sum();
        let recovered = total[field].as_u64().unwrap() - published;
        let gas_truth = if field == "incidents" { 2 } else { 1 };
        if field == "incidents" {
            assert_ne!(recovered, gas_truth, "the gas figure must not fall out");
        }
        // What falls out is only gas and oil together, both withheld: the split between
        // them stays unknown.
        let oil_truth = if field == "incidents" { 6 } else { 0 };
        assert_eq!(recovered, gas_truth + oil_truth, "{field}");
    }

    // An authority's view is limited the same way: the energy authority sees the energy
    // groups as the energy CSIRT does, the finance authority none.
    let authority = ctx.token("authority-infrastructure", Role::SupervisoryAuthority);
    let a = send(
        &app,
        get(
            &format!("/api/v1/awareness?{PERIOD}&group_by=sector"),
            &authority,
        ),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["groups"], r.body["groups"]);
    let finance = ctx.token("authority-finance", Role::SupervisoryAuthority);
    let f = send(
        &app,
        get(
            &format!("/api/v1/awareness?{PERIOD}&group_by=sector"),
            &finance,
        ),
    )
    .await;
    assert_eq!(f.body["groups"], json!([]), "none of its sectors reported");
    assert_eq!(f.body["total"]["incidents"], 0);
}

#[actix_web::test]
async fn the_threshold_is_configurable() {
    let ctx = Ctx::with_config(true, |c| c.awareness.suppress_below = 1);
    seed(&ctx, &energy_and_health());
    let app = app!(ctx);
    let token = ctx.token("csirt-energy", Role::SectoralCsirt);
    let r = send(&app, get(&format!("/api/v1/awareness?{PERIOD}"), &token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(group(&r, "energy.gas")["incidents"], 2);
    assert_eq!(r.body["suppressed_below"], Value::Null);
}

#[actix_web::test]
async fn weeks_are_iso_weeks_in_json_csv_and_svg() {
    let ctx = Ctx::new();
    // 2026-03-01 is a Sunday (ISO week 9); 2027-01-01 a Friday of 2026-W53.
    seed(
        &ctx,
        &[
            row("a", "health", t(1)),
            row("a", "health", t(2)),
            row("b", "health", t(9)),
            Row {
                kind: "near_miss",
                ..row("c", "health", t(10))
            },
            Row {
                kind: "cyber_threat",
                threat_type: Some("malicious-code"),
                ..row("d", "health", t(10))
            },
            row(
                "e",
                "health",
                Utc.with_ymd_and_hms(2027, 1, 1, 9, 0, 0).unwrap(),
            ),
        ],
    );
    let app = app!(ctx);
    let national = ctx.national();
    let r = send(
        &app,
        get(
            &format!("/api/v1/awareness?{PERIOD}&group_by=week"),
            &national,
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let w = |d: DateTime<Utc>| {
        let iw = d.iso_week();
        format!("{}-W{:02}", iw.year(), iw.week())
    };
    assert_eq!(w(t(1)), "2026-W09");
    assert_eq!(group(&r, "2026-W09")["incidents"], 1);
    assert_eq!(group(&r, "2026-W10")["incidents"], 1);
    let w11 = group(&r, "2026-W11");
    assert_eq!(
        (
            &w11["incidents"],
            &w11["near_misses"],
            &w11["cyber_threats"]
        ),
        (&json!(1), &json!(1), &json!(1))
    );

    let r = send(
        &app,
        get(
            "/api/v1/awareness?from=2026-12-28T00:00:00Z&to=2027-01-04T00:00:00Z&group_by=week",
            &national,
        ),
    )
    .await;
    assert_eq!(
        group(&r, "2026-W53")["incidents"],
        1,
        "ISO year, not calendar year"
    );

    let csv = send(
        &app,
        get(
            &format!("/api/v1/awareness?{PERIOD}&group_by=week"),
            &national,
        )
        .insert_header(("Accept", "text/csv")),
    )
    .await;
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(
        lines[0],
        "key,incidents,significant,entities,late,near_misses,cyber_threats,cross_border,suppressed"
    );
    assert!(
        lines.contains(&"2026-W11,1,0,3,0,1,1,0,false"),
        "{}",
        csv.text
    );
    assert_eq!(*lines.last().unwrap(), "total,3,0,4,0,1,1,0,false");

    let svg = send(
        &app,
        get(
            &format!("/api/v1/awareness?{PERIOD}&group_by=week"),
            &national,
        )
        .insert_header(("Accept", "image/svg+xml")),
    )
    .await;
    assert_eq!(svg.status, 200, "{}", svg.text);
    assert_eq!(svg.header("content-type").unwrap(), "image/svg+xml");
    let doc = roxmltree::Document::parse(&svg.text).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    // March 2026 touches ISO weeks 9 to 14: six bars.
    let bars = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("fill") == Some("#1F77B4"))
        .count();
    assert_eq!(bars, 6, "{}", svg.text);

    let r = send(
        &app,
        get(
            &format!("/api/v1/awareness?{PERIOD}&group_by=sector"),
            &national,
        )
        .insert_header(("Accept", "image/svg+xml")),
    )
    .await;
    r.assert_problem(400, "invalid_query");
    assert_eq!(r.body["errors"][0]["pointer"], "/group_by");
}

#[actix_web::test]
async fn bad_queries_name_the_field() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    for (query, field) in [
        ("group_by=fortnight", "/group_by"),
        ("from=2025-01-01T00:00:00Z&to=2026-03-01T00:00:00Z", "/to"),
        ("from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z", "/from"),
    ] {
        let r = send(&app, get(&format!("/api/v1/awareness?{query}"), &national)).await;
        r.assert_problem(400, "invalid_query");
        assert_eq!(r.body["errors"][0]["pointer"], field, "{query}: {}", r.text);
    }
    for q in ["2026-Q5", "2026-Q0", "26-Q1", "2026Q1", "2026-Q1x"] {
        let r = send(
            &app,
            get(
                &format!("/api/v1/awareness/quarterly-summary?quarter={q}"),
                &national,
            ),
        )
        .await;
        assert_eq!(r.status, 400, "{q}: {}", r.text);
        assert_eq!(r.body["errors"][0]["pointer"], "/quarter", "{q}");
    }
    let entity = ctx.token_with(
        &uuid::Uuid::now_v7().to_string(),
        Role::Entity,
        "incidents:report",
    );
    let r = send(&app, get("/api/v1/awareness", &entity)).await;
    assert!(r.status == 401 || r.status == 403, "{}", r.text);
}

#[actix_web::test]
async fn the_quarterly_summary_is_anonymised_aggregated_and_national_only() {
    let ctx = Ctx::new();
    let mut rows = energy_and_health();
    rows.push(Row {
        significant: true,
        cross_border: true,
        threat_type: Some("intrusions"),
        ..row("health-0", "health", t(6))
    });
    rows.push(Row {
        kind: "near_miss",
        ..row("health-1", "health", t(7))
    });
    seed(&ctx, &rows);
    // The next quarter is not counted.
    seed(
        &ctx,
        &[row(
            "elec-0",
            "energy.electricity",
            Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap(),
        )],
    );
    let app = app!(ctx);
    let r = send(
        &app,
        get(
            "/api/v1/awareness/quarterly-summary?quarter=2026-Q1",
            &ctx.national(),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let b = &r.body;
    assert_eq!(b["quarter"], "2026-Q1");
    assert_eq!(b["from"], "2026-01-01T00:00:00Z");
    assert_eq!(b["to"], "2026-04-01T00:00:00Z");
    assert_eq!(
        (
            &b["total"]["incidents"],
            &b["total"]["significant"],
            &b["total"]["near_misses"],
            &b["total"]["cross_border"]
        ),
        (&json!(18), &json!(4), &json!(1), &json!(1))
    );
    assert_eq!(
        b["by_sector"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["key"] == "energy.gas")
            .unwrap()["suppressed"],
        true
    );
    let intrusions = b["by_threat_type"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "intrusions")
        .unwrap();
    assert_eq!(intrusions["suppressed"], true, "one entity only");
    for id in ["elec-0", "gas-0", "health-0", "INC-TEST"] {
        assert!(!r.text.contains(id), "no entity or incident id: {id}");
    }
    let csv = send(
        &app,
        get(
            "/api/v1/awareness/quarterly-summary?quarter=2026-Q1",
            &ctx.national(),
        )
        .insert_header(("Accept", "text/csv")),
    )
    .await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.text.starts_with("quarter,dimension,key,incidents"),
        "{}",
        csv.text
    );
    assert!(csv.text.contains("2026-Q1,total,,18,4,"), "{}", csv.text);
    assert!(
        csv.text.contains("2026-Q1,sector,energy.gas,,,,,,,,true"),
        "{}",
        csv.text
    );

    let csirt = ctx.token("csirt-energy", Role::SectoralCsirt);
    let r = send(
        &app,
        get(
            "/api/v1/awareness/quarterly-summary?quarter=2026-Q1",
            &csirt,
        ),
    )
    .await;
    r.assert_problem(403, "forbidden");
}

#[actix_web::test]
async fn a_voluntary_near_miss_owes_nothing_and_is_counted_apart() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let id = register_entity(&app, &national, "12345678", "energy.gas").await;
    let entity = ctx.token(&id, Role::Entity);
    let r = send(
        &app,
        post(
            "/api/v1/incidents",
            &entity,
            &json!({"entity_id": id, "stage": "notification", "kind": "near_miss",
                    "aware_at": Utc::now() - chrono::Duration::hours(1), "significant": true,
                    "summary": "Phishing mail caught before anyone clicked",
                    "threat_type": "fraud", "root_cause_category": "malicious_action"}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let cl = &r.body["decision"]["classification"];
    assert_eq!(
        (&cl["kind"], &cl["mandatory"], &cl["significant"]),
        (&json!("near_miss"), &json!(false), &json!(false))
    );
    assert_eq!(
        r.body["next_obligation"],
        Value::Null,
        "no obligation on the reporter"
    );
    let recipients = r.body["decision"]["recipients"].as_array().unwrap();
    assert_eq!(
        recipients.len(),
        1,
        "the sectoral CSIRT only: {recipients:?}"
    );
    assert_eq!(recipients[0]["action"], "handle_after_mandatory");
    assert!(recipients[0]["rules"]
        .as_array()
        .unwrap()
        .contains(&json!("matrix.voluntary_after_mandatory")));
    assert!(
        r.body["stages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["due_at"].is_null()),
        "no deadlines"
    );

    // A later report cannot turn it into something else.
    let more = send(
        &app,
        post(
            &format!(
                "/api/v1/incidents/{}/reports",
                r.body["id"].as_str().unwrap()
            ),
            &entity,
            &json!({"stage": "final", "kind": "incident", "summary": "x"}),
        ),
    )
    .await;
    assert_eq!(more.status, 422, "{}", more.text);
    assert_eq!(more.body["errors"][0]["pointer"], "/kind");

    let bad = send(
        &app,
        post(
            "/api/v1/incidents",
            &entity,
            &json!({"entity_id": id, "stage": "notification", "aware_at": Utc::now(),
                    "summary": "x", "threat_type": "ransomware"}),
        ),
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    assert_eq!(bad.body["errors"][0]["pointer"], "/threat_type");
    let bad = send(
        &app,
        post(
            "/api/v1/incidents",
            &entity,
            &json!({"entity_id": id, "stage": "notification", "aware_at": Utc::now(),
                    "summary": "x", "root_cause_category": "gremlins"}),
        ),
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.text);

    let now = Utc::now();
    let q = format!(
        "/api/v1/awareness?from={}&to={}&group_by=root_cause_category",
        (now - chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        (now + chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let a = send(&app, get(&q.replace('+', "%2B"), &national)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let g = group(&a, "malicious_action");
    assert_eq!((&g["incidents"], &g["near_misses"]), (&json!(0), &json!(1)));
}

/// Art. 30: an organisation outside the register notifies a cyber threat through the national
/// CSIRT, which records it with the report (out of the scope of NIS2, so the notification is
/// voluntary); then an API client with `incidents:report` lets it report a near miss itself.
/// An organisation NIS2 covers, a sectoral CSIRT recording one, and a reporter beside an
/// `entity_id` are refused, writing nothing.
#[actix_web::test]
async fn a_reporter_outside_the_register_notifies_voluntarily_and_then_reports_itself() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let mut bakery = entity_body("BAKERY-1", "energy.gas");
    bakery["name"] = json!("Village Gas Cooperative");
    bakery["size"] = json!("small");
    let aware = Utc::now() - chrono::Duration::hours(2);
    let threat = json!({"reporter": bakery, "stage": "notification", "kind": "cyber_threat",
                        "aware_at": aware, "summary": "Scans for exposed gas meter gateways",
                        "threat_type": "information-gathering"});

    // Refused first, and nothing is written.
    let tables = ["entities", "incidents", "events", "audit_log"];
    let before: Vec<i64> = tables.iter().map(|t| count(&ctx, t)).collect();
    let mut covered = threat.clone();
    covered["reporter"]["size"] = json!("large");
    let r = send(&app, post("/api/v1/incidents", &national, &covered)).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["errors"][0]["pointer"], "/reporter", "{}", r.text);
    let mut both = threat.clone();
    both["entity_id"] = json!(uuid::Uuid::new_v4().to_string());
    let r = send(&app, post("/api/v1/incidents", &national, &both)).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["errors"][0]["pointer"], "/reporter");
    let mut bad = threat.clone();
    bad["reporter"]["country"] = json!("XX");
    let r = send(&app, post("/api/v1/incidents", &national, &bad)).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["errors"][0]["pointer"], "/reporter/country");
    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);
    let r = send(&app, post("/api/v1/incidents", &energy, &threat)).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let after: Vec<i64> = tables.iter().map(|t| count(&ctx, t)).collect();
    assert_eq!(after, before, "refused reports write nothing");

    // Recorded with the report, routed to the sector's CSIRT, owing nothing.
    let r = send(&app, post("/api/v1/incidents", &national, &threat)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let record = r.body["entity_id"].as_str().unwrap().to_string();
    let cl = &r.body["decision"]["classification"];
    assert_eq!(
        (&cl["kind"], &cl["mandatory"]),
        (&json!("cyber_threat"), &json!(false))
    );
    assert_eq!(r.body["next_obligation"], Value::Null);
    let recipients: Vec<&str> = r.body["decision"]["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["organisation_code"].as_str().unwrap())
        .collect();
    assert_eq!(recipients, ["csirt-energy"], "{}", r.text);
    let e = send(&app, get(&format!("/api/v1/entities/{record}"), &national)).await;
    assert_eq!(e.status, 200, "{}", e.text);
    assert_eq!(e.body["name"], "Village Gas Cooperative");
    assert_eq!(e.body["category"], "out_of_scope");

    // A client of its own: the reporter notifies a near miss itself.
    let c = send(
        &app,
        post(
            "/api/v1/clients",
            &national,
            &json!({"name": "Cooperative reporting", "organisation_id": record,
                    "scope": "incidents:report incidents:read"}),
        ),
    )
    .await;
    assert_eq!(c.status, 201, "{}", c.text);
    let grant = serde_urlencoded::to_string([
        ("grant_type", "client_credentials"),
        ("client_id", c.body["client_id"].as_str().unwrap()),
        ("client_secret", c.body["client_secret"].as_str().unwrap()),
    ])
    .unwrap();
    let t = send(
        &app,
        actix_web::test::TestRequest::post()
            .uri("/oauth/token")
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(grant),
    )
    .await;
    assert_eq!(t.status, 200, "{}", t.text);
    let own = t.body["access_token"].as_str().unwrap().to_string();
    let r = send(
        &app,
        post(
            "/api/v1/incidents",
            &own,
            &json!({"entity_id": record, "stage": "notification", "kind": "near_miss",
                    "aware_at": aware, "significant": true,
                    "summary": "A gateway's default password was found and changed in time"}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["decision"]["classification"]["mandatory"], false);
    assert!(r.body["stages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["due_at"].is_null()));
    // It may not record reporters of its own.
    let mut other = threat.clone();
    other["reporter"]["identifier"] = json!("BAKERY-2");
    let r = send(&app, post("/api/v1/incidents", &own, &other)).await;
    assert_eq!(r.status, 403, "{}", r.text);
}
