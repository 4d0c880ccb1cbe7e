//! Concurrency of the event feed and the deadline sweep: several writers committing at once,
//! readers paging the feed while they do, and several sweepers racing on the same deadlines.
//! Runs on SQLite (writers queue on `BEGIN IMMEDIATE`) and on PostgreSQL (writers serialise on
//! the advisory write lock), with a pool of its own big enough for every thread.

mod common;
use chrono::{Duration, Utc};
use common::*;
use diesel::prelude::*;
use nis2hub::auth::{Caller, Role};
use nis2hub::db::{self, DbConn};
use nis2hub::incidents::model::ReportInput;
use nis2hub::outbox::{self, Event, FeedFilter};
use nis2hub::rules::ruleset::RuleSet;
use nis2hub::schema::{event_recipients, events, incident_deadlines, incidents};
use rand::Rng;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;

/// Registers entities as the national CSIRT (through the service, as the CLI would).
fn register_entities(conn: &mut DbConn, sectors: &[&str], prefix: &str) -> Vec<String> {
    let caller = Caller::system("t");
    sectors
        .iter()
        .enumerate()
        .map(|(i, sector)| {
            let body = serde_json::to_vec(&entity_body(&format!("{prefix}-{i}"), sector)).unwrap();
            let input = nis2hub::entities::model::EntityInput::from_json(&body).unwrap();
            db::write_tx(conn, |c| {
                nis2hub::entities::service::create(c, &caller, input)
            })
            .expect("register entity")
            .id
        })
        .collect()
}

/// Re-raises a thread's panic in the thread that joined it.
fn rethrow<T>(e: Box<dyn std::any::Any + Send>) -> T {
    std::panic::resume_unwind(e)
}

/// The entity itself, as its token would make it.
fn entity_caller(entity_id: &str, sub: &str) -> Caller {
    Caller {
        sub: sub.to_string(),
        org: entity_id.to_string(),
        role: Role::Entity,
        scopes: Role::Entity.ceiling().to_vec(),
        client_id: None,
        request_id: uuid::Uuid::now_v7().simple().to_string(),
    }
}

fn early_warning(
    entity_id: &str,
    aware_at: chrono::DateTime<Utc>,
    significant: bool,
    summary: &str,
) -> ReportInput {
    let body = json!({
        "entity_id": entity_id,
        "stage": "early_warning",
        "aware_at": aware_at,
        "significant": significant,
        "suspected_malicious": true,
        "summary": summary,
        "tlp": "AMBER"
    });
    ReportInput::from_json(&serde_json::to_vec(&body).unwrap(), true, Utc::now())
        .expect("valid early warning")
}

/// Reads every page after `after`, checking the order as it goes; returns how many it read.
fn drain(
    conn: &mut DbConn,
    org: Option<&str>,
    limit: i64,
    after: &mut i64,
    seen: &mut Vec<i64>,
) -> usize {
    let mut read = 0;
    loop {
        let filter = FeedFilter {
            after: *after,
            limit,
            ..Default::default()
        };
        let page: Vec<Event> = outbox::feed(conn, org, &filter).expect("feed page");
        assert!(page.len() as i64 <= limit, "a page longer than its limit");
        for e in &page {
            assert!(
                e.seq > *after,
                "{org:?}: seq {} after {} (not strictly increasing; seen so far {seen:?})",
                e.seq,
                *after
            );
            *after = e.seq;
            seen.push(e.seq);
        }
        read += page.len();
        if (page.len() as i64) < limit {
            return read;
        }
    }
}

/// A reader that pages the feed until the writers are done, then does a last pass.
fn reader(
    pool: &db::Pool,
    org: Option<&str>,
    fixed_limit: Option<i64>,
    done: &AtomicBool,
) -> Vec<i64> {
    let mut conn = pool.get().unwrap();
    let mut rng = rand::thread_rng();
    let mut after = 0;
    let mut seen = vec![];
    let mut passes = 0;
    while !done.load(Ordering::SeqCst) {
        let limit = fixed_limit.unwrap_or_else(|| rng.gen_range(1..=13));
        drain(&mut conn, org, limit, &mut after, &mut seen);
        passes += 1;
        std::thread::sleep(std::time::Duration::from_micros(rng.gen_range(0..1500)));
    }
    // The writers have committed: one last pass picks up the rest, and a second finds nothing.
    drain(
        &mut conn,
        org,
        fixed_limit.unwrap_or(7),
        &mut after,
        &mut seen,
    );
    assert_eq!(
        drain(&mut conn, org, 7, &mut after, &mut seen),
        0,
        "{org:?}: a pass after the last one found more events"
    );
    assert!(passes > 0, "the reader never ran while the writers did");
    seen
}

#[test]
fn a_feed_reader_sees_every_event_exactly_once_in_order_while_writers_commit() {
    const K: usize = 4; // entities
    const N: usize = 6; // writer threads
    const M: usize = 15; // incidents per writer
    let ctx = Ctx::new();
    let pool = db::connect(&ctx.db.url, 10).expect("test pool");
    let rules: &RuleSet = &ctx.state.config.rules;
    let energy = ctx.org_id("csirt-energy");
    let entities = {
        let mut conn = pool.get().unwrap();
        register_entities(
            &mut conn,
            &[
                "energy.electricity",
                "energy.gas",
                "energy.electricity",
                "energy.gas",
            ][..K],
            "feed",
        )
    };

    let done = AtomicBool::new(false);
    let start = Barrier::new(N + 2);
    let (references, energy_seen, national_seen) = std::thread::scope(|s| {
        let writers: Vec<_> = (0..N)
            .map(|w| {
                let (pool, entities, start) = (&pool, &entities, &start);
                s.spawn(move || {
                    let conn = pool.get();
                    start.wait();
                    let mut conn = conn.expect("writer connection");
                    let mut rng = rand::thread_rng();
                    let mut refs = vec![];
                    for i in 0..M {
                        let entity = &entities[(w + i) % K];
                        let caller = entity_caller(entity, &format!("writer-{w}"));
                        let input = early_warning(
                            entity,
                            Utc::now(),
                            (w + i) % 2 == 0,
                            &format!("writer {w} incident {i}"),
                        );
                        // Transactions of varying length, so that commits would interleave
                        // out of seq order if nothing serialised them.
                        let pause = std::time::Duration::from_micros(rng.gen_range(0..3000));
                        let incident = db::write_tx(&mut conn, |c| {
                            let incident =
                                nis2hub::incidents::report::report(c, &caller, rules, None, input)?;
                            std::thread::sleep(pause);
                            Ok(incident)
                        })
                        .unwrap_or_else(|e| panic!("writer {w} report {i}: {e:?}"));
                        refs.push(incident.reference);
                    }
                    refs
                })
            })
            .collect();
        let energy_reader = {
            let (pool, energy, done, start) = (&pool, &energy, &done, &start);
            s.spawn(move || {
                start.wait();
                reader(pool, Some(energy), Some(7), done)
            })
        };
        let national_reader = {
            let (pool, done, start) = (&pool, &done, &start);
            s.spawn(move || {
                start.wait();
                reader(pool, None, None, done)
            })
        };
        // Let the readers stop even when a writer failed, then report the first failure.
        let written: Vec<_> = writers.into_iter().map(|h| h.join()).collect();
        done.store(true, Ordering::SeqCst);
        let energy_seen = energy_reader.join();
        let national_seen = national_reader.join();
        let references: Vec<String> = written
            .into_iter()
            .flat_map(|r| r.unwrap_or_else(rethrow))
            .collect();
        (
            references,
            energy_seen.unwrap_or_else(rethrow),
            national_seen.unwrap_or_else(rethrow),
        )
    });

    let mut conn = pool.get().unwrap();
    // What each reader should have seen: everything addressed to it, as stored.
    let energy_expected: Vec<i64> = event_recipients::table
        .filter(event_recipients::org_id.eq(&energy))
        .select(event_recipients::seq)
        .order(event_recipients::seq.asc())
        .load(&mut conn)
        .unwrap();
    let all: Vec<(i64, String, String, String)> = events::table
        .select((
            events::seq,
            events::event_type,
            events::subject_type,
            events::subject_id,
        ))
        .order(events::seq.asc())
        .load(&mut conn)
        .unwrap();
    let national_expected: Vec<i64> = all.iter().map(|e| e.0).collect();

    // Both collections are strictly increasing (checked while reading), so comparing the
    // vectors proves: same set, no duplicates, no gaps.
    assert_eq!(
        energy_seen, energy_expected,
        "csirt-energy's feed differs from its recipients rows"
    );
    assert_eq!(
        national_seen, national_expected,
        "the national feed differs from the events table"
    );
    // Sequence numbers are dense: 1..=n, one per event.
    assert_eq!(
        national_expected,
        (1..=national_expected.len() as i64).collect::<Vec<_>>()
    );

    // Every report produced the same events; count them from the data.
    let mut per_incident: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (_, t, st, sid) in &all {
        assert_eq!(st, "incident", "an event about something else: {t}");
        per_incident.entry(sid).or_default().push(t);
    }
    assert_eq!(per_incident.len(), N * M, "incidents with events");
    let kinds = per_incident.values().next().unwrap().clone();
    assert!(kinds.contains(&"incident.reported"), "{kinds:?}");
    for (id, k) in &per_incident {
        assert_eq!(k, &kinds, "incident {id} has other events");
    }
    assert_eq!(all.len(), N * M * kinds.len());
    let energy_set: BTreeSet<i64> = energy_expected.iter().copied().collect();
    let mut energy_per_incident: BTreeMap<&str, usize> = BTreeMap::new();
    for (seq, _, _, sid) in &all {
        if energy_set.contains(seq) {
            *energy_per_incident.entry(sid).or_default() += 1;
        }
    }
    assert_eq!(
        energy_per_incident.len(),
        N * M,
        "csirt-energy is told of every incident"
    );
    let per = *energy_per_incident.values().next().unwrap();
    assert!(energy_per_incident.values().all(|n| *n == per));
    assert_eq!(energy_seen.len(), N * M * per);

    // References: unique, well formed, numbered without gaps, and as the writers were told.
    let stored: Vec<String> = incidents::table
        .select(incidents::reference)
        .load(&mut conn)
        .unwrap();
    assert_eq!(stored.len(), N * M);
    let unique: BTreeSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), N * M, "duplicate references: {stored:?}");
    let returned: BTreeSet<&String> = references.iter().collect();
    assert_eq!(returned, unique);
    let year = Utc::now().format("%Y").to_string();
    let mut numbers: Vec<u32> = stored
        .iter()
        .map(|r| {
            let rest = r
                .strip_prefix(&format!("INC-{year}-"))
                .unwrap_or_else(|| panic!("{r}"));
            assert_eq!(rest.len(), 6, "{r}");
            rest.parse().unwrap_or_else(|_| panic!("{r}"))
        })
        .collect();
    numbers.sort();
    assert_eq!(numbers, (1..=(N * M) as u32).collect::<Vec<_>>());

    // The audit chain did not fork under the concurrent appends.
    let v = nis2hub::audit::verify(&mut conn).unwrap();
    assert!(v.valid, "{v:?}");
}

#[test]
fn the_deadline_sweep_reports_each_missed_deadline_once_with_concurrent_sweepers() {
    const INCIDENTS: usize = 20;
    const SWEEPERS: usize = 4;
    let ctx = Ctx::new();
    let pool = db::connect(&ctx.db.url, 10).expect("test pool");
    let rules = &ctx.state.config.rules;
    let mut conn = pool.get().unwrap();
    let entities = register_entities(
        &mut conn,
        &["energy.electricity", "energy.gas", "energy.electricity"],
        "sweep",
    );
    // Aware 30 hours ago, declared significant: the early warning is late but in, the
    // notification is due at 72 hours, the final report a month after that.
    let aware = Utc::now() - Duration::hours(30);
    for i in 0..INCIDENTS {
        let entity = &entities[i % entities.len()];
        let caller = entity_caller(entity, "reporter");
        let input = early_warning(entity, aware, true, &format!("incident {i}"));
        let incident = db::write_tx(&mut conn, |c| {
            nis2hub::incidents::report::report(c, &caller, rules, None, input)
        })
        .expect("report");
        assert!(incident.classification.mandatory);
    }
    let open: Vec<(String, String)> = incident_deadlines::table
        .filter(incident_deadlines::missed_at.is_null())
        .select((incident_deadlines::incident_id, incident_deadlines::stage))
        .load(&mut conn)
        .unwrap();
    assert_eq!(
        open.iter().filter(|(_, s)| s == "notification").count(),
        INCIDENTS,
        "{open:?}"
    );
    // Nothing is missed yet.
    assert_eq!(
        db::write_tx(&mut conn, |c| nis2hub::incidents::sweep::sweep(
            c,
            db::now(),
            100
        ))
        .unwrap(),
        0
    );

    let later = db::now() + Duration::days(4);
    let start = Barrier::new(SWEEPERS);
    let marked: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..SWEEPERS)
            .map(|_| {
                let (pool, start) = (&pool, &start);
                s.spawn(move || {
                    let conn = pool.get();
                    start.wait();
                    let mut conn = conn.expect("sweeper connection");
                    let mut total = 0;
                    loop {
                        let n = db::write_tx(&mut conn, |c| {
                            nis2hub::incidents::sweep::sweep(c, later, 3)
                        })
                        .unwrap_or_else(|e| panic!("sweep: {e:?}"));
                        if n == 0 {
                            return total;
                        }
                        total += n;
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("sweeper thread"))
            .collect()
    });

    let missed: Vec<(String, String)> = incident_deadlines::table
        .filter(incident_deadlines::missed_at.is_not_null())
        .select((incident_deadlines::incident_id, incident_deadlines::stage))
        .load(&mut conn)
        .unwrap();
    assert_eq!(missed.len(), INCIDENTS, "{missed:?}");
    assert!(
        missed.iter().all(|(_, s)| s == "notification"),
        "{missed:?}"
    );
    assert_eq!(
        marked.iter().sum::<usize>(),
        missed.len(),
        "sweepers' counts {marked:?}"
    );

    let events: Vec<(String, String)> = events::table
        .filter(events::event_type.eq("incident.deadline_missed"))
        .select((events::subject_id, events::data))
        .load(&mut conn)
        .unwrap();
    assert_eq!(events.len(), missed.len(), "one event per missed deadline");
    let mut pairs = BTreeSet::new();
    for (incident, data) in &events {
        let data: serde_json::Value = serde_json::from_str(data).unwrap();
        let stage = data["missed_stage"].as_str().unwrap().to_string();
        assert!(
            pairs.insert((incident.clone(), stage.clone())),
            "two events for {incident} {stage}"
        );
    }
    let missed: BTreeSet<(String, String)> = missed.into_iter().collect();
    assert_eq!(pairs, missed);
    let late: Vec<bool> = incidents::table
        .select(incidents::late)
        .load(&mut conn)
        .unwrap();
    assert!(late.iter().all(|l| *l));
    // A further sweep finds nothing, and the audit chain holds.
    assert_eq!(
        db::write_tx(&mut conn, |c| nis2hub::incidents::sweep::sweep(
            c, later, 100
        ))
        .unwrap(),
        0
    );
    let v = nis2hub::audit::verify(&mut conn).unwrap();
    assert!(v.valid, "{v:?}");
}

/// A notification arriving while the sweep looks at the same incident's deadline: both go
/// through, one after the other, on either backend (no deadlock between the write lock and the
/// deadline rows).
#[test]
fn a_report_and_the_sweep_of_the_same_incident_do_not_deadlock() {
    let ctx = Ctx::new();
    let pool = db::connect(&ctx.db.url, 4).expect("test pool");
    let rules = ctx.state.config.rules.clone();
    let mut conn = pool.get().unwrap();
    let entity = register_entities(&mut conn, &["energy.gas"], "race")[0].clone();
    let caller = entity_caller(&entity, "reporter");
    let input = early_warning(&entity, Utc::now() - Duration::hours(30), true, "race");
    let incident = db::write_tx(&mut conn, |c| {
        nis2hub::incidents::report::report(c, &caller, &rules, None, input)
    })
    .unwrap();
    drop(conn);
    let later = (Utc::now() + Duration::days(4)).naive_utc();
    std::thread::scope(|s| {
        let report = s.spawn(|| {
            let mut conn = pool.get().unwrap();
            let body = json!({"stage": "notification", "summary": "at the deadline"});
            let input =
                ReportInput::from_json(&serde_json::to_vec(&body).unwrap(), false, Utc::now())
                    .unwrap();
            db::write_tx(&mut conn, |c| {
                db::lock_writes(c)?;
                std::thread::sleep(std::time::Duration::from_millis(300));
                nis2hub::incidents::report::report(c, &caller, &rules, Some(&incident.id), input)
            })
        });
        let sweep = s.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let mut conn = pool.get().unwrap();
            db::write_tx(&mut conn, |c| {
                nis2hub::incidents::sweep::sweep(c, later, 10)
            })
        });
        let report = report.join().unwrap();
        let sweep = sweep.join().unwrap();
        assert!(report.is_ok(), "the report went through: {report:?}");
        assert!(sweep.is_ok(), "the sweep went through: {sweep:?}");
    });
}

/// Reports of one entity take turns, though each reads and decides before it takes the write
/// lock: every report's recurring-incident rule (IR 2024/2690 Art. 4) sees the incidents
/// committed before it. Eight first reports at once, the same root cause, each loss under the
/// entity's € 250 000 threshold and any two together over it: all but the first count an
/// earlier one.
#[test]
fn concurrent_reports_of_one_entity_each_count_the_ones_before() {
    const N: usize = 8;
    let ctx = Ctx::new();
    let pool = db::connect(&ctx.db.url, N as u32 + 1).expect("test pool");
    let rules: &RuleSet = &ctx.state.config.rules;
    let entity = {
        let mut body = entity_body("recurring-0", "digital_infrastructure.cloud");
        body["annual_turnover_eur"] = json!(5_000_000); // threshold: 5 % = € 250 000
        let input =
            nis2hub::entities::model::EntityInput::from_json(&serde_json::to_vec(&body).unwrap())
                .unwrap();
        let mut conn = pool.get().unwrap();
        db::write_tx(&mut conn, |c| {
            nis2hub::entities::service::create(c, &Caller::system("t"), input)
        })
        .expect("register entity")
        .id
    };
    let start = Barrier::new(N);
    // One moment for all, so that each occurred no later than the others it may count.
    let aware_at = Utc::now() - Duration::hours(1);
    let recurring: Vec<bool> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..N)
            .map(|w| {
                let (pool, entity, start) = (&pool, &entity, &start);
                s.spawn(move || {
                    let mut conn = pool.get().expect("writer connection");
                    let caller = entity_caller(entity, &format!("writer-{w}"));
                    let body = json!({
                        "entity_id": entity, "stage": "early_warning",
                        "aware_at": aware_at,
                        "summary": format!("writer {w}"), "root_cause": "expired certificate",
                        "impact": {"financial_loss_eur": 150_000}
                    });
                    let input = ReportInput::from_json(
                        &serde_json::to_vec(&body).unwrap(),
                        true,
                        Utc::now(),
                    )
                    .expect("valid early warning");
                    start.wait();
                    let incident = db::write_tx(&mut conn, |c| {
                        nis2hub::incidents::report::report(c, &caller, rules, None, input)
                    })
                    .unwrap_or_else(|e| panic!("writer {w}: {e:?}"));
                    incident
                        .classification
                        .significance_criteria
                        .iter()
                        .any(|c| c == "ir2690.art4.recurring")
                })
            })
            .collect();
        writers
            .into_iter()
            .map(|h| h.join().unwrap_or_else(rethrow))
            .collect()
    });
    assert_eq!(
        recurring.iter().filter(|r| **r).count(),
        N - 1,
        "only the first of the entity's reports may miss the others: {recurring:?}"
    );
}
