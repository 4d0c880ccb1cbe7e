//! Webhook delivery keeps up: deliveries of one subscription are made concurrently (within its
//! organisation's share), a slow receiver holds up no other organisation, every payload
//! carries the `seq` that restores feed order, two claimers never claim the same delivery, and
//! a subscription whose concurrent deliveries all fail is disabled once.

mod common;
use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use chrono::Utc;
use common::*;
use diesel::prelude::*;
use nis2hub::auth::Role;
use nis2hub::schema::webhook_deliveries as d;
use nis2hub::webhooks::worker;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

fn settings(ctx: &Ctx, concurrency: usize, per_organisation: usize) -> worker::Settings {
    worker::Settings {
        poll: Duration::from_millis(20),
        timeout: Duration::from_secs(20),
        disable_after: 2,
        claim: Duration::from_secs(60),
        concurrency,
        per_organisation,
        ..worker::Settings::new(&ctx.state.config)
    }
}

/// Runs the worker until nothing is pending.
fn drain(ctx: &Ctx, s: &worker::Settings) {
    let agent = worker::agent(s);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = worker::run_once(&ctx.state.pool, &agent, s, None).unwrap();
        if n == 0 && pending(ctx) == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "deliveries did not settle");
        std::thread::sleep(Duration::from_millis(15));
    }
}

fn pending(ctx: &Ctx) -> i64 {
    let mut conn = ctx.state.pool.get().unwrap();
    d::table
        .filter(d::status.eq("pending"))
        .count()
        .get_result(&mut conn)
        .unwrap()
}

/// Queues `n` pings for a subscription straight into the outbox (no rate limit in the way).
fn queue_pings(ctx: &Ctx, webhook_id: &str, org: &str, n: usize) {
    let mut conn = ctx.state.pool.get().unwrap();
    for _ in 0..n {
        nis2hub::db::write_tx(&mut conn, |conn| {
            nis2hub::outbox::emit_to(
                conn,
                nis2hub::outbox::NewEvent {
                    event_type: "webhook.ping",
                    subject_type: "webhook",
                    subject_id: webhook_id,
                    significant: false,
                    data: json!({"webhook_id": webhook_id}),
                    recipients: vec![org.to_string()],
                },
                Some(webhook_id),
            )
        })
        .unwrap();
    }
}

/// A bare HTTP receiver that keeps every body it got, counts the requests it is answering at
/// once, and while its gate is closed holds every answer back (a receiver that blocks).
struct Blocking {
    port: u16,
    state: Arc<(Mutex<Seen>, Condvar)>,
}

#[derive(Default)]
struct Seen {
    open: bool,
    status: u16,
    in_flight: usize,
    most_at_once: usize,
    bodies: Vec<Value>,
}

impl Blocking {
    fn start(open: bool, status: u16) -> Self {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        let state = Arc::new((
            Mutex::new(Seen {
                open,
                status,
                ..Default::default()
            }),
            Condvar::new(),
        ));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in socket.incoming() {
                let Ok(stream) = stream else { return };
                let shared = shared.clone();
                std::thread::spawn(move || answer(stream, &shared));
            }
        });
        Blocking { port, state }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    fn open(&self) {
        let (seen, gate) = &*self.state;
        seen.lock().unwrap().open = true;
        gate.notify_all();
    }

    fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.state.0.lock().unwrap())
    }

    /// Waits up to `within` for `done`; whether it came.
    fn wait_for(&self, within: Duration, done: impl Fn(&Seen) -> bool) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.seen(&done) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.seen(done)
    }
}

impl Drop for Blocking {
    fn drop(&mut self) {
        self.open();
    }
}

fn answer(mut stream: std::net::TcpStream, shared: &(Mutex<Seen>, Condvar)) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let (seen, gate) = shared;
    let mut s = seen.lock().unwrap();
    s.bodies
        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
    s.in_flight += 1;
    s.most_at_once = s.most_at_once.max(s.in_flight);
    let (mut s, _) = gate
        .wait_timeout_while(s, Duration::from_secs(15), |s| !s.open)
        .unwrap();
    s.in_flight -= 1;
    let status = s.status;
    drop(s);
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
}

/// Subscribes the organisation (by code) to `url`; the subscription's id.
async fn subscribe<S, B>(app: &S, ctx: &Ctx, code: &str, url: &str) -> String
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let token = ctx.token(code, Role::SectoralCsirt);
    let r = send(app, post("/api/v1/webhooks", &token, &json!({"url": url}))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn a_subscription_with_a_backlog_has_several_deliveries_in_flight_at_once() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let receiver = Blocking::start(false, 204);
    let hook = subscribe(&app, &ctx, "csirt-energy", &receiver.url("hook")).await;
    queue_pings(&ctx, &hook, &ctx.org_id("csirt-energy"), 5);

    let s = settings(&ctx, 4, 4);
    let pool = ctx.state.pool.clone();
    let worker =
        std::thread::spawn(move || worker::run_once(&pool, &worker::agent(&s), &s, None).unwrap());
    assert!(
        receiver.wait_for(Duration::from_secs(15), |s| s.in_flight == 4),
        "four deliveries of the one subscription under way at once; at most {} were",
        receiver.seen(|s| s.most_at_once)
    );
    let claimed: i64 = {
        let mut conn = ctx.state.pool.get().unwrap();
        d::table
            .filter(d::webhook_id.eq(&hook))
            .filter(d::claimed_until.is_not_null())
            .count()
            .get_result(&mut conn)
            .unwrap()
    };
    assert_eq!(claimed, 4, "each of them claimed");
    receiver.open();
    assert_eq!(worker.join().unwrap(), 4);
    drain(&ctx, &settings(&ctx, 4, 4));
    assert_eq!(receiver.seen(|s| s.bodies.len()), 5);
    assert_eq!(receiver.seen(|s| s.most_at_once), 4);
}

#[actix_web::test]
async fn a_slow_receiver_of_one_organisation_does_not_delay_another_organisations_deliveries() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let slow = Blocking::start(false, 204);
    let fast = Blocking::start(true, 204);
    let energy_hook = subscribe(&app, &ctx, "csirt-energy", &slow.url("slow")).await;
    let health_hook = subscribe(&app, &ctx, "csirt-health", &fast.url("fast")).await;
    queue_pings(&ctx, &energy_hook, &ctx.org_id("csirt-energy"), 20);

    // The worker as it runs in the service: four delivery threads, two per organisation.
    worker::spawn(
        ctx.state.pool.clone(),
        settings(&ctx, 4, 2),
        ctx.state.metrics.clone(),
    );
    assert!(
        slow.wait_for(Duration::from_secs(15), |s| s.in_flight == 2),
        "the slow receiver holds its organisation's share"
    );
    let queued = Instant::now();
    queue_pings(&ctx, &health_hook, &ctx.org_id("csirt-health"), 3);
    assert!(
        fast.wait_for(Duration::from_secs(10), |s| s.bodies.len() == 3),
        "the other organisation's deliveries arrive"
    );
    let took = queued.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "the other organisation's deliveries took {:.2} s behind the slow receiver",
        took.as_secs_f64()
    );
    assert_eq!(
        slow.seen(|s| s.most_at_once),
        2,
        "the slow organisation never had more than its share under way"
    );
    slow.open();
    assert!(
        slow.wait_for(Duration::from_secs(20), |s| s.bodies.len() == 20),
        "the slow receiver's backlog drains once it answers"
    );
}

#[actix_web::test]
async fn every_payload_carries_seq_and_sorting_by_seq_restores_feed_order() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let receiver = Blocking::start(true, 204);
    subscribe(&app, &ctx, "csirt-energy", &receiver.url("hook")).await;
    let national = ctx.national();
    let entity_id = register_entity(&app, &national, "order-1", "energy.gas").await;
    let reporter = ctx.token(&entity_id, Role::Entity);
    for i in 0..6 {
        let r = send(
            &app,
            post("/api/v1/incidents", &reporter, &json!({"entity_id": entity_id, "stage": "early_warning", "aware_at": Utc::now(), "summary": format!("incident {i}")})),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    drain(&ctx, &settings(&ctx, 8, 4));

    let csirt = ctx.token("csirt-energy", Role::SectoralCsirt);
    let feed = send(&app, get("/api/v1/feed?limit=500", &csirt)).await;
    let feed: Vec<Value> = feed.body["items"].as_array().unwrap().clone();
    assert_eq!(feed.len(), 12, "routed and reported for each incident");
    let mut got = receiver.seen(|s| s.bodies.clone());
    assert!(
        got.iter().all(|b| b["seq"].is_i64()),
        "every payload carries seq: {got:?}"
    );
    got.sort_by_key(|b| b["seq"].as_i64().unwrap());
    assert_eq!(
        got, feed,
        "sorted by seq, the payloads are the feed, envelope for envelope"
    );
}

#[actix_web::test]
async fn two_concurrent_claimers_never_claim_the_same_delivery() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let mut total = 0;
    for code in ["csirt-energy", "csirt-health", "csirt-finance"] {
        // Nothing is posted: the claimers record every attempt as delivered themselves.
        let hook = subscribe(&app, &ctx, code, "http://127.0.0.1:9/never").await;
        queue_pings(&ctx, &hook, &ctx.org_id(code), 30);
        total += 30;
    }
    let s = settings(&ctx, 4, 4);
    let start = Arc::new(std::sync::Barrier::new(2));
    let claimers: Vec<_> = (0..2)
        .map(|_| {
            let (pool, s, start) = (ctx.state.pool.clone(), s.clone(), start.clone());
            std::thread::spawn(move || {
                let mut conn = pool.get().unwrap();
                let ok = worker::Outcome {
                    status: Some(204),
                    error: None,
                    latency: Duration::from_millis(1),
                };
                let mut mine = vec![];
                start.wait();
                let mut idle = 0;
                while idle < 3 {
                    let claimed = worker::claim(&mut conn, &s, 4, &HashMap::new()).unwrap();
                    if claimed.is_empty() {
                        idle += 1;
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                    idle = 0;
                    for c in &claimed {
                        mine.push(c.delivery_id.clone());
                        assert_eq!(c.attempt, 1, "a first attempt");
                        worker::record(&mut conn, &s, c, &ok).unwrap();
                    }
                }
                mine
            })
        })
        .collect();
    let claimed: Vec<Vec<String>> = claimers.into_iter().map(|t| t.join().unwrap()).collect();
    let (a, b): (HashSet<&String>, HashSet<&String>) =
        (claimed[0].iter().collect(), claimed[1].iter().collect());
    assert_eq!(a.len(), claimed[0].len(), "no claimer claimed one twice");
    assert_eq!(b.len(), claimed[1].len(), "no claimer claimed one twice");
    assert!(a.is_disjoint(&b), "no delivery claimed by both");
    assert_eq!(a.len() + b.len(), total, "every delivery claimed");
    let mut conn = ctx.state.pool.get().unwrap();
    let attempts: Vec<(String, i64)> = d::table
        .select((d::status, d::attempts))
        .load(&mut conn)
        .unwrap();
    assert!(
        attempts.iter().all(|(s, n)| s == "succeeded" && *n == 1),
        "each delivered once, in one attempt: {attempts:?}"
    );
}

#[actix_web::test]
async fn a_subscription_whose_concurrent_deliveries_fail_is_disabled_once() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let receiver = Blocking::start(true, 500);
    let hook = subscribe(&app, &ctx, "csirt-energy", &receiver.url("down")).await;
    queue_pings(&ctx, &hook, &ctx.org_id("csirt-energy"), 4);
    // Two failed deliveries in a row disable it; the other two fail all the same, after.
    drain(&ctx, &settings(&ctx, 4, 4));
    let mut conn = ctx.state.pool.get().unwrap();
    let failed: i64 = d::table
        .filter(d::webhook_id.eq(&hook))
        .filter(d::status.eq("failed"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(failed, 4);
    drop(conn);
    let csirt = ctx.token("csirt-energy", Role::SectoralCsirt);
    let read = send(&app, get(&format!("/api/v1/webhooks/{hook}"), &csirt)).await;
    assert_eq!(read.body["enabled"], false, "{}", read.text);
    let feed = send(&app, get("/api/v1/feed?type=webhook.disabled", &csirt)).await;
    assert_eq!(
        feed.body["items"].as_array().unwrap().len(),
        1,
        "the organisation is told once: {}",
        feed.text
    );
    let audit = send(
        &app,
        get(
            &format!("/api/v1/audit?resource_type=webhook&resource_id={hook}"),
            &ctx.national(),
        ),
    )
    .await;
    let disabled = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "webhook.disable")
        .count();
    assert_eq!(disabled, 1, "{}", audit.text);
}

/// The deliveries of a subscription, in due order (the order they were queued in here).
fn queued(ctx: &Ctx, hook: &str) -> Vec<String> {
    let mut conn = ctx.state.pool.get().unwrap();
    d::table
        .filter(d::webhook_id.eq(hook))
        .order((d::next_attempt_at.asc(), d::id.asc()))
        .select(d::id)
        .load(&mut conn)
        .unwrap()
}

#[actix_web::test]
async fn a_backlog_larger_than_the_share_is_claimed_in_batches_of_the_longest_due() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let hook = subscribe(&app, &ctx, "csirt-energy", "http://127.0.0.1:9/never").await;
    let org = ctx.org_id("csirt-energy");
    let mut conn = ctx.state.pool.get().unwrap();

    // Three due, a share of two: one delivery a batch, the third waits for a free thread.
    queue_pings(&ctx, &hook, &org, 3);
    let s = settings(&ctx, 4, 2);
    let batches = worker::claim_batches(&mut conn, &s, 4, &HashMap::new()).unwrap();
    let sizes: Vec<usize> = batches.iter().map(|b| b.items.len()).collect();
    assert_eq!(sizes, vec![1, 1], "no more than its share of threads");
    let ids = queued(&ctx, &hook);
    let claimed: Vec<&str> = batches
        .iter()
        .flat_map(|b| &b.items)
        .map(|c| c.delivery_id.as_str())
        .collect();
    assert_eq!(claimed, vec![ids[0].as_str(), ids[1].as_str()]);

    // Twenty more, batches of at most four: two batches of four, the longest due first and
    // in due order, each attempt counted and claimed once.
    queue_pings(&ctx, &hook, &org, 20);
    let s = worker::Settings { batch: 4, ..s };
    let busy: HashMap<String, usize> = HashMap::new();
    let batches = worker::claim_batches(&mut conn, &s, 4, &busy).unwrap();
    let sizes: Vec<usize> = batches.iter().map(|b| b.items.len()).collect();
    assert_eq!(sizes, vec![4, 4]);
    let ids = queued(&ctx, &hook);
    let claimed: Vec<&str> = batches
        .iter()
        .flat_map(|b| &b.items)
        .map(|c| c.delivery_id.as_str())
        .collect();
    assert_eq!(
        claimed,
        ids[2..10].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(batches
        .iter()
        .flat_map(|b| &b.items)
        .all(|c| c.attempt == 1 && c.org_id == org && c.event.event_type == "webhook.ping"));
    let held: i64 = d::table
        .filter(d::claimed_until.is_not_null())
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(
        held, 10,
        "the two single ones and the two batches are claimed"
    );

    // With the organisation's share in flight, nothing more is claimed for it.
    let busy: HashMap<String, usize> = [(org.clone(), 2)].into_iter().collect();
    assert!(worker::claim_batches(&mut conn, &s, 4, &busy)
        .unwrap()
        .is_empty());
}

#[actix_web::test]
async fn a_batch_records_its_outcomes_at_once_and_gives_back_what_it_did_not_attempt() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let hook = subscribe(&app, &ctx, "csirt-energy", "http://127.0.0.1:9/never").await;
    let org = ctx.org_id("csirt-energy");
    queue_pings(&ctx, &hook, &org, 5);
    let s = worker::Settings {
        batch: 5,
        ..settings(&ctx, 1, 1)
    };
    let mut conn = ctx.state.pool.get().unwrap();
    let batches = worker::claim_batches(&mut conn, &s, 1, &HashMap::new()).unwrap();
    assert_eq!(batches.len(), 1);
    let items = &batches[0].items;
    assert_eq!(items.len(), 5);
    let answer = |status: u16, ms: u64| worker::Outcome {
        status: Some(status),
        error: None,
        latency: Duration::from_millis(ms),
    };
    // Delivered, refused (retried later), delivered; the last two were not attempted.
    let outcomes = vec![answer(204, 3), answer(500, 4), answer(200, 7)];
    let results = worker::record_batch(&mut conn, &s, items, &outcomes).unwrap();
    assert_eq!(results, vec!["succeeded", "retried", "succeeded"]);
    let row = |id: &str| -> (String, i64, Option<i32>, Option<i64>, bool) {
        let mut conn = ctx.state.pool.get().unwrap();
        d::table
            .find(id)
            .select((
                d::status,
                d::attempts,
                d::last_status_code,
                d::last_latency_ms,
                d::claimed_until.is_not_null(),
            ))
            .first(&mut conn)
            .unwrap()
    };
    let id = |i: usize| items[i].delivery_id.as_str();
    assert_eq!(
        row(id(0)),
        ("succeeded".into(), 1, Some(204), Some(3), false),
        "each delivery keeps its own answer and latency"
    );
    assert_eq!(row(id(1)), ("pending".into(), 1, Some(500), Some(4), false));
    assert_eq!(
        row(id(2)),
        ("succeeded".into(), 1, Some(200), Some(7), false)
    );
    for i in 3..5 {
        assert_eq!(
            row(id(i)),
            ("pending".into(), 0, None, None, false),
            "not attempted: given back, the attempt uncounted"
        );
    }
    // The next claim takes the given-back ones as first attempts (the refused one waits for
    // its retry).
    let again = worker::claim_batches(&mut conn, &s, 1, &HashMap::new()).unwrap();
    let again: Vec<(&str, i64)> = again
        .iter()
        .flat_map(|b| &b.items)
        .map(|c| (c.delivery_id.as_str(), c.attempt))
        .collect();
    assert_eq!(again, vec![(id(3), 1), (id(4), 1)]);
}
