//! The webhook worker's claim at 1 000 and at 100 000 pending deliveries: claiming one due
//! delivery (`claim`, the claim's transaction alone), claiming one and recording its success
//! (`claim_and_complete`), and claiming a full round of eight delivery slots and recording
//! them (`round_of_8`), as the dispatcher and the delivery threads do, without the HTTP post
//! in between, one delivery a claim; and the same round as the service makes it under a
//! backlog, eight batches of up to 64 deliveries (`round_of_8_batches_of_64`: 512 deliveries
//! claimed, and recorded in one transaction a batch). The goal: the cost at 10⁵ pending deliveries
//! is within 1.5× of the cost at 10³.
//!
//! The backlog is written straight into `events` and `webhook_deliveries` with SQL (twenty
//! subscriptions of ten organisations, every event queued for each), not through the report
//! path, to keep the set-up short. After each measured step the completed deliveries are put
//! back to pending (outside the measured time), so the backlog stays the size it was.
//! `cargo bench --bench webhook_claim` runs on a SQLite file; with
//! `BENCH_DATABASE_URL=postgres://...` also on PostgreSQL (in a schema of its own, dropped
//! afterwards). The figures are recorded in `docs/BENCHMARKS.md`.

use criterion::{criterion_group, criterion_main, Criterion};
use diesel::prelude::*;
use nis2hub::config::DatabaseUrl;
use nis2hub::db;
use nis2hub::schema::webhook_deliveries as d;
use nis2hub::webhooks::worker;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const SIZES: [usize; 2] = [1_000, 100_000];
const ORGS: usize = 10;
const PER_ORG: usize = 2;

fn settings() -> worker::Settings {
    worker::Settings {
        retry: vec![Duration::from_secs(5)],
        allow_hosts: vec![],
        poll: Duration::from_millis(500),
        timeout: Duration::from_secs(10),
        disable_after: 5,
        claim: Duration::from_secs(30),
        concurrency: 8,
        per_organisation: 2,
        batch: 1,
        lookup: std::sync::Arc::new(nis2hub::webhooks::SystemLookup),
    }
}

/// `n` pending deliveries: `ORGS × PER_ORG` subscriptions, each queued every one of `n / 20`
/// events, all due, the older events first.
fn seed(conn: &mut db::DbConn, n: usize) {
    let hooks: Vec<(String, String)> = (0..ORGS * PER_ORG)
        .map(|i| {
            (
                format!("bench-hook-{i:02}"),
                format!("bench-org-{:02}", i / PER_ORG),
            )
        })
        .collect();
    let events = n / hooks.len();
    let at = |i: usize| {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            + chrono::Duration::milliseconds(i as i64);
        t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
    };
    db::write_tx(conn, |conn| {
        let rows: Vec<String> = hooks
            .iter()
            .map(|(id, org)| {
                format!(
                    "('{id}', '{org}', 'https://receiver.example/{id}', '[]', '', TRUE, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', NULL, NULL, 0, NULL, 1, '{t}', '{t}')",
                    t = at(0)
                )
            })
            .collect();
        diesel::sql_query(format!(
            "INSERT INTO webhooks (id, org_id, url, event_types, description, enabled, secret, previous_secret, previous_secret_until, consecutive_failures, disabled_reason, version, created_at, updated_at) VALUES {}",
            rows.join(",")
        ))
        .execute(conn)?;
        for chunk in (1..=events).collect::<Vec<_>>().chunks(500) {
            let rows: Vec<String> = chunk
                .iter()
                .map(|seq| {
                    format!(
                        "({seq}, 'bench-event-{seq:08}', 'incident.reported', '{t}', 'incident', 'bench-incident-{seq}', FALSE, '{{\"summary\": \"a reported incident\"}}', NULL)",
                        t = at(*seq)
                    )
                })
                .collect();
            diesel::sql_query(format!(
                "INSERT INTO events (seq, id, type, occurred_at, subject_type, subject_id, significant, data, copy_of) VALUES {}",
                rows.join(",")
            ))
            .execute(conn)?;
            let mut rows = vec![];
            for seq in chunk {
                for (hook, org) in &hooks {
                    rows.push(format!(
                        "('bench-delivery-{seq:08}-{hook}', '{hook}', '{org}', {seq}, 'pending', 0, '{t}', '{t}', '{t}')",
                        t = at(*seq)
                    ));
                }
            }
            diesel::sql_query(format!(
                "INSERT INTO webhook_deliveries (id, webhook_id, org_id, event_seq, status, attempts, next_attempt_at, created_at, updated_at) VALUES {}",
                rows.join(",")
            ))
            .execute(conn)?;
        }
        Ok(())
    })
    .expect("seed");
    if let db::DbConn::Pg(c) = conn {
        diesel::sql_query("ANALYZE").execute(c).expect("analyze");
    }
}

fn pending(conn: &mut db::DbConn) -> i64 {
    d::table
        .filter(d::status.eq("pending"))
        .count()
        .get_result(conn)
        .unwrap()
}

/// Puts completed deliveries back to pending, due now: the backlog keeps its size.
fn requeue(conn: &mut db::DbConn, ids: &[String]) {
    let now = db::now();
    db::write_tx(conn, |conn| {
        diesel::update(d::table.filter(d::id.eq_any(ids)))
            .set((
                d::status.eq("pending"),
                d::attempts.eq(0),
                d::next_attempt_at.eq(now),
                d::claimed_until.eq(None::<chrono::NaiveDateTime>),
                d::delivered_at.eq(None::<chrono::NaiveDateTime>),
            ))
            .execute(conn)?;
        Ok(())
    })
    .unwrap();
}

/// Claims up to `slots` deliveries and records each as delivered; the time it took (only the
/// claim's, when `claim_only`), and the deliveries completed.
fn claim_and_complete(
    conn: &mut db::DbConn,
    s: &worker::Settings,
    slots: usize,
    claim_only: bool,
) -> (Duration, Vec<String>) {
    let ok = worker::Outcome {
        status: Some(204),
        error: None,
        latency: Duration::from_millis(5),
    };
    let started = Instant::now();
    let batches = worker::claim_batches(conn, s, slots, &HashMap::new()).unwrap();
    assert!(!batches.is_empty(), "nothing claimed");
    let claimed_after = started.elapsed();
    for b in &batches {
        let outcomes = vec![ok.clone(); b.items.len()];
        let results = worker::record_batch(conn, s, &b.items, &outcomes).unwrap();
        assert!(results.iter().all(|r| *r == "succeeded"), "{results:?}");
    }
    let took = if claim_only {
        claimed_after
    } else {
        started.elapsed()
    };
    let done = batches
        .into_iter()
        .flat_map(|b| b.items)
        .map(|c| c.delivery_id)
        .collect();
    (took, done)
}

fn run(c: &mut Criterion, backend: &str, url: DatabaseUrl, n: usize) {
    let pool = db::connect(&url, 2).expect("connect");
    let mut conn = pool.get().unwrap();
    db::migrate(&mut conn).expect("migrate");
    let started = Instant::now();
    seed(&mut conn, n);
    let backlog = pending(&mut conn);
    eprintln!(
        "{backend} {n}: {backlog} pending deliveries, seeded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let s = settings();
    let mut group = c.benchmark_group(format!("webhook_claim_{backend}"));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(4));
    group.warm_up_time(Duration::from_secs(1));
    // One delivery a claim (as before batches), and a round of eight batches of up to 64.
    for (name, slots, claim_only, batch) in [
        ("claim", 1, true, 1),
        ("claim_and_complete", 1, false, 1),
        ("round_of_8", 8, false, 1),
        ("round_of_8_batches_of_64", 8, false, 64),
    ] {
        let s = worker::Settings { batch, ..s.clone() };
        group.bench_function(format!("{name}/{n}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (took, done) = claim_and_complete(&mut conn, &s, slots, claim_only);
                    total += took;
                    requeue(&mut conn, &done);
                }
                total
            })
        });
    }
    group.finish();
    assert_eq!(pending(&mut conn), backlog, "the backlog kept its size");
}

fn claims(c: &mut Criterion) {
    for n in SIZES {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = DatabaseUrl::Sqlite(dir.path().join("bench.db"));
        run(c, "sqlite", sqlite, n);
    }
    if let Ok(base) = std::env::var("BENCH_DATABASE_URL") {
        for n in SIZES {
            let schema = format!("bench_webhook_claim_{}_{n}", std::process::id());
            let mut admin = diesel::PgConnection::establish(&base).expect("BENCH_DATABASE_URL");
            diesel::sql_query(format!("CREATE SCHEMA {schema}"))
                .execute(&mut admin)
                .unwrap();
            let sep = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
            run(c, "postgres", DatabaseUrl::Postgres(url), n);
            diesel::sql_query(format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut admin)
                .unwrap();
        }
    }
}

criterion_group!(benches, claims);
criterion_main!(benches);
