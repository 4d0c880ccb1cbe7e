//! Webhooks: subscriptions, the guard against internal targets, and signed, retried
//! delivery, whose payloads restore feed order by `seq`, checked by a receiver built on the
//! independent `standardwebhooks` library.

mod common;
use chrono::Utc;
use common::*;
use nis2hub::auth::Role;
use nis2hub::webhooks::worker;
use serde_json::json;
use std::time::Duration;

fn settings(ctx: &Ctx) -> worker::Settings {
    worker::Settings {
        poll: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
        disable_after: 2,
        claim: Duration::from_secs(60),
        ..worker::Settings::new(&ctx.state.config)
    }
}

/// Runs the worker until nothing is due (retries wait a few milliseconds in tests).
fn drain(ctx: &Ctx, s: &worker::Settings) {
    let agent = worker::agent(s);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let n = worker::run_once(&ctx.state.pool, &agent, s, Some(&ctx.state.metrics)).unwrap();
        if n == 0 && count_where(ctx, "webhook_deliveries", "status = 'pending'") == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "deliveries did not settle"
        );
        std::thread::sleep(Duration::from_millis(15));
    }
}

fn count_where(ctx: &Ctx, table: &str, condition: &str) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = ctx.state.pool.get().unwrap();
    diesel::sql_query(format!(
        "SELECT COUNT(*) AS n FROM {table} WHERE {condition}"
    ))
    .get_result::<N>(&mut conn)
    .unwrap()
    .n
}

#[actix_web::test]
async fn every_event_arrives_signed_and_sorts_into_feed_order_after_the_receiver_recovers() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let receiver = Receiver::start(3);
    let csirt = ctx.token("csirt-energy", Role::SectoralCsirt);
    let sub = send(
        &app,
        post(
            "/api/v1/webhooks",
            &csirt,
            &json!({"url": receiver.url(), "description": "ticketing"}),
        ),
    )
    .await;
    assert_eq!(sub.status, 201, "{}", sub.text);
    let secret = sub.body["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    std::fs::write(&receiver.secret_file, secret).unwrap();
    let id = sub.body["id"].as_str().unwrap().to_string();
    let read = send(&app, get(&format!("/api/v1/webhooks/{id}"), &csirt)).await;
    assert!(!read.text.contains(secret), "the secret is shown only once");

    let national = ctx.national();
    let entity = send(
        &app,
        post(
            "/api/v1/entities",
            &national,
            &entity_body("wh-1", "energy.gas"),
        ),
    )
    .await;
    let entity_id = entity.body["id"].as_str().unwrap().to_string();
    let reporter = ctx.token(&entity_id, Role::Entity);
    for i in 0..3 {
        let r = send(
            &app,
            post("/api/v1/incidents", &reporter, &json!({"entity_id": entity_id, "stage": "early_warning", "aware_at": Utc::now(), "summary": format!("incident {i}")})),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    drain(&ctx, &settings(&ctx));

    let feed = send(&app, get("/api/v1/feed", &csirt)).await;
    let expected: Vec<i64> = feed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(expected.len(), 6, "routed and reported for each incident");
    let got = receiver.requests();
    assert!(
        got.iter().all(|r| r["verified"] == true),
        "every delivery verifies: {got:?}"
    );
    assert_eq!(
        got.iter()
            .filter(|r| r["failed_on_purpose"] == true)
            .count(),
        3
    );
    // Deliveries are concurrent: what arrives, sorted by `seq`, is the feed.
    let accepted: Vec<&serde_json::Value> = got
        .iter()
        .filter(|r| r["failed_on_purpose"] == false)
        .collect();
    let ids: std::collections::HashSet<&str> = accepted
        .iter()
        .map(|r| r["webhook_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids.len(),
        accepted.len(),
        "each event accepted once: {got:?}"
    );
    let mut delivered: Vec<i64> = accepted
        .iter()
        .map(|r| r["seq"].as_i64().unwrap())
        .collect();
    delivered.sort_unstable();
    assert_eq!(
        delivered, expected,
        "each event once (by webhook-id), in feed order by seq"
    );

    let log = send(
        &app,
        get(&format!("/api/v1/webhooks/{id}/deliveries"), &csirt),
    )
    .await;
    let items = log.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 6);
    assert!(items.iter().all(|d| d["status"] == "succeeded"));
    let attempts: i64 = items.iter().map(|d| d["attempts"].as_i64().unwrap()).sum();
    assert_eq!(
        attempts, 9,
        "three failures, each retried, and six successes: {}",
        log.text
    );
    assert!(items.iter().all(|d| d["last_status_code"] == 204));

    let metrics = send(&app, get("/metrics", &ctx.national())).await;
    assert!(
        metrics
            .text
            .contains(r#"nis2hub_webhook_attempts_total{outcome="retried"} 3"#),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains(r#"nis2hub_webhook_attempts_total{outcome="succeeded"} 6"#),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains("nis2hub_webhook_attempt_duration_seconds_count 9"),
        "{}",
        metrics.text
    );
}

#[actix_web::test]
async fn metrics_show_the_age_of_the_oldest_undelivered_event() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let csirt = ctx.token("csirt-energy", Role::SectoralCsirt);
    let sub = send(
        &app,
        post(
            "/api/v1/webhooks",
            &csirt,
            &json!({"url": "http://127.0.0.1:9/hook"}),
        ),
    )
    .await;
    let id = sub.body["id"].as_str().unwrap();
    send(
        &app,
        post(&format!("/api/v1/webhooks/{id}/ping"), &csirt, &json!({})),
    )
    .await;
    let metrics = send(&app, get("/metrics", &ctx.national())).await;
    let line = format!("nis2hub_webhook_oldest_undelivered_seconds{{webhook_id=\"{id}\"}}");
    assert!(metrics.text.contains(&line), "{}", metrics.text);
}

#[actix_web::test]
async fn a_receiver_that_stays_down_fails_the_delivery_and_then_the_subscription() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let receiver = Receiver::start(1000);
    let csirt = ctx.token("csirt-energy", Role::SectoralCsirt);
    let sub = send(
        &app,
        post("/api/v1/webhooks", &csirt, &json!({"url": receiver.url()})),
    )
    .await;
    std::fs::write(&receiver.secret_file, sub.body["secret"].as_str().unwrap()).unwrap();
    let id = sub.body["id"].as_str().unwrap().to_string();
    let ping = send(
        &app,
        post(&format!("/api/v1/webhooks/{id}/ping"), &csirt, &json!({})),
    )
    .await;
    assert_eq!(ping.status, 202, "{}", ping.text);
    send(
        &app,
        post(&format!("/api/v1/webhooks/{id}/ping"), &csirt, &json!({})),
    )
    .await;
    drain(&ctx, &settings(&ctx));

    let failed = send(
        &app,
        get(
            &format!("/api/v1/webhooks/{id}/deliveries?status=failed"),
            &csirt,
        ),
    )
    .await;
    let items = failed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", failed.text);
    assert_eq!(
        items[0]["attempts"], 4,
        "the first attempt and three retries"
    );
    assert_eq!(items[0]["last_error"], "HTTP 500");
    let hook = send(&app, get(&format!("/api/v1/webhooks/{id}"), &csirt)).await;
    assert_eq!(
        hook.body["enabled"], false,
        "disabled after two failed deliveries in a row"
    );
    let feed = send(&app, get("/api/v1/feed?type=webhook.disabled", &csirt)).await;
    assert_eq!(
        feed.body["items"].as_array().unwrap().len(),
        1,
        "the organisation is told"
    );

    // The audit log records that the service disabled it.
    let audit = send(
        &app,
        get(
            &format!("/api/v1/audit?resource_type=webhook&resource_id={id}"),
            &ctx.national(),
        ),
    )
    .await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    let disabled: Vec<&serde_json::Value> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "webhook.disable")
        .collect();
    assert_eq!(disabled.len(), 1, "{}", audit.text);
    assert_eq!(disabled[0]["actor_org"], "system");
    assert_eq!(disabled[0]["actor_sub"], "service:webhook-worker");
    let verify = send(&app, get("/api/v1/audit/verify", &ctx.national())).await;
    assert_eq!(verify.status, 200, "{}", verify.text);
    assert_eq!(verify.body["valid"], true, "{}", verify.text);

    let national = send(
        &app,
        get("/api/v1/feed?type=webhook.disabled", &ctx.national()),
    )
    .await;
    assert_eq!(
        national.body["items"],
        json!([]),
        "another organisation's subscriptions are its own business"
    );

    // Redelivery queues the failed ones again.
    let again = send(
        &app,
        post(
            &format!("/api/v1/webhooks/{id}/redeliver"),
            &csirt,
            &json!({"since": "2000-01-01T00:00:00Z"}),
        ),
    )
    .await;
    assert_eq!(again.body["requeued"], 2, "{}", again.text);
}

#[actix_web::test]
async fn internal_targets_are_refused_unless_the_operator_allows_them() {
    let ctx = Ctx::new();
    let mut cfg = config(ctx.db.url.clone());
    cfg.webhook_allow_hosts = vec![];
    let app = actix_web::test::init_service(nis2hub::build_app(
        nis2hub::AppState::new(cfg, ctx.state.pool.clone()).unwrap(),
    ))
    .await;
    let csirt = ctx.token("csirt-energy", Role::SectoralCsirt);
    for url in [
        "http://127.0.0.1:8080/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.0.0.5/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "ftp://example.org/hook",
    ] {
        let r = send(&app, post("/api/v1/webhooks", &csirt, &json!({"url": url}))).await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["pointer"], "/url", "{url}");
    }
    assert_eq!(count(&ctx, "webhooks"), 0);
    // The test configuration allows 127.0.0.1.
    let app = app!(ctx);
    let ok = send(
        &app,
        post(
            "/api/v1/webhooks",
            &csirt,
            &json!({"url": "http://127.0.0.1:9/hook"}),
        ),
    )
    .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
}

#[actix_web::test]
async fn subscriptions_belong_to_their_organisation() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);
    let health = ctx.token("csirt-health", Role::SectoralCsirt);
    let sub = send(
        &app,
        post(
            "/api/v1/webhooks",
            &energy,
            &json!({"url": "http://127.0.0.1:9/h", "event_types": ["incident.routed"]}),
        ),
    )
    .await;
    assert_eq!(sub.status, 201, "{}", sub.text);
    let id = sub.body["id"].as_str().unwrap();
    send(&app, get(&format!("/api/v1/webhooks/{id}"), &health))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(
        send(&app, get("/api/v1/webhooks", &health)).await.body["items"],
        json!([])
    );
    let bad = send(
        &app,
        post(
            "/api/v1/webhooks",
            &energy,
            &json!({"url": "http://127.0.0.1:9/h", "event_types": ["incident.exploded"]}),
        ),
    )
    .await;
    assert_eq!(bad.body["errors"][0]["pointer"], "/event_types/0");
    let rotated = send(
        &app,
        post(
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            &energy,
            &json!({"overlap_seconds": 60}),
        ),
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    assert_ne!(rotated.body["secret"], sub.body["secret"]);
    assert!(rotated.body["previous_secret_valid_until"].is_string());
    let off = send(
        &app,
        patch(
            &format!("/api/v1/webhooks/{id}"),
            &energy,
            &json!({"enabled": false}),
        ),
    )
    .await;
    assert_eq!(off.body["enabled"], false);
    let del = send(
        &app,
        actix_web::test::TestRequest::delete()
            .uri(&format!("/api/v1/webhooks/{id}"))
            .insert_header(("Authorization", format!("Bearer {energy}"))),
    )
    .await;
    assert_eq!(del.status, 204);
}

/// A lookup for the delivery client that gives the answers it holds in turn (the last one
/// again when they run out) and counts how often it was asked: a DNS server that rebinds.
#[derive(Debug)]
struct Rebinding {
    answers: Vec<Vec<std::net::SocketAddr>>,
    calls: std::sync::atomic::AtomicUsize,
}

impl nis2hub::webhooks::Lookup for Rebinding {
    fn lookup(&self, _host: &str, _port: u16) -> std::io::Result<Vec<std::net::SocketAddr>> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(self.answers[n.min(self.answers.len() - 1)].clone())
    }
}

/// A bare HTTP server that answers 204 to everything and keeps the `Host` header of each
/// request it got.
struct Listener {
    port: u16,
    hosts: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Listener {
    fn start() -> Self {
        use std::io::{BufRead, BufReader, Write};
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        let hosts = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
        let seen = hosts.clone();
        std::thread::spawn(move || {
            for stream in socket.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let (mut host, mut length) = (String::new(), 0usize);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("host:") {
                        host = v.trim().to_string();
                    }
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length];
                let _ = std::io::Read::read_exact(&mut reader, &mut body);
                seen.lock().unwrap().push(host);
                let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n");
            }
        });
        Listener { port, hosts }
    }

    fn addr(&self) -> std::net::SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    fn hosts(&self) -> Vec<String> {
        self.hosts.lock().unwrap().clone()
    }
}

/// The app with `rebind.test` allowed too, so subscriptions to it can be made.
async fn subscribe_rebind_test(ctx: &Ctx, url: &str) -> String {
    let mut cfg = config(ctx.db.url.clone());
    cfg.webhook_allow_hosts = vec!["127.0.0.1".into(), "rebind.test".into()];
    let app = actix_web::test::init_service(nis2hub::build_app(
        nis2hub::AppState::new(cfg, ctx.state.pool.clone()).unwrap(),
    ))
    .await;
    let csirt = ctx.token("csirt-energy", Role::SectoralCsirt);
    let sub = send(&app, post("/api/v1/webhooks", &csirt, &json!({"url": url}))).await;
    assert_eq!(sub.status, 201, "{}", sub.text);
    let id = sub.body["id"].as_str().unwrap().to_string();
    let ping = send(
        &app,
        post(&format!("/api/v1/webhooks/{id}/ping"), &csirt, &json!({})),
    )
    .await;
    assert_eq!(ping.status, 202, "{}", ping.text);
    id
}

#[actix_web::test]
async fn a_rebinding_name_cannot_send_a_delivery_to_an_internal_address() {
    let ctx = Ctx::new();
    let internal = Listener::start();
    subscribe_rebind_test(&ctx, "https://rebind.test/hook").await;
    // The first answer is a public address and passes the guard; a second lookup would get
    // the internal one.
    let lookup = std::sync::Arc::new(Rebinding {
        answers: vec![
            vec!["93.184.215.14:443".parse().unwrap()],
            vec![internal.addr()],
        ],
        calls: Default::default(),
    });
    let s = worker::Settings {
        allow_hosts: vec![],
        timeout: Duration::from_secs(2),
        lookup: lookup.clone(),
        ..settings(&ctx)
    };
    let n = worker::run_once(&ctx.state.pool, &worker::agent(&s), &s, None).unwrap();
    assert_eq!(n, 1, "the ping was attempted");
    assert_eq!(
        lookup.calls.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one lookup per attempt: the address checked is the address connected to"
    );
    assert!(
        internal.hosts().is_empty(),
        "nothing reached the internal address"
    );

    // A name that resolves to an internal address (first answer) is refused outright.
    let lookup = std::sync::Arc::new(Rebinding {
        answers: vec![vec![internal.addr()]],
        calls: Default::default(),
    });
    let s = worker::Settings {
        allow_hosts: vec![],
        lookup: lookup.clone(),
        ..settings(&ctx)
    };
    {
        use diesel::prelude::*;
        use nis2hub::schema::webhook_deliveries as d;
        let mut conn = ctx.state.pool.get().unwrap();
        diesel::update(d::table)
            .set(d::next_attempt_at.eq(nis2hub::db::now()))
            .execute(&mut conn)
            .unwrap();
    }
    assert_eq!(
        worker::run_once(&ctx.state.pool, &worker::agent(&s), &s, None).unwrap(),
        1
    );
    assert!(internal.hosts().is_empty(), "refused before connecting");
    let error: Option<String> = {
        use diesel::prelude::*;
        use nis2hub::schema::webhook_deliveries as d;
        let mut conn = ctx.state.pool.get().unwrap();
        d::table.select(d::last_error).first(&mut conn).unwrap()
    };
    let error = error.unwrap_or_default();
    assert!(
        error.contains("target refused") && error.contains("127.0.0.1"),
        "{error}"
    );
}

#[actix_web::test]
async fn a_delivery_connects_to_the_address_looked_up_and_keeps_the_host_name() {
    let ctx = Ctx::new();
    let first = Listener::start();
    let second = Listener::start();
    subscribe_rebind_test(&ctx, "http://rebind.test/hook").await;
    let lookup = std::sync::Arc::new(Rebinding {
        answers: vec![vec![first.addr()], vec![second.addr()]],
        calls: Default::default(),
    });
    let s = worker::Settings {
        allow_hosts: vec!["rebind.test".into()],
        lookup: lookup.clone(),
        ..settings(&ctx)
    };
    drain(&ctx, &s);
    assert_eq!(lookup.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(
        first.hosts(),
        vec!["rebind.test".to_string()],
        "the request went to the looked-up address, with the URL's host name"
    );
    assert!(second.hosts().is_empty());
}

#[actix_web::test]
async fn an_organisation_may_have_only_so_many_subscriptions() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);
    let mut ids = vec![];
    for i in 0..10 {
        let r = send(
            &app,
            post(
                "/api/v1/webhooks",
                &energy,
                &json!({"url": format!("http://127.0.0.1:9/h{i}")}),
            ),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    let over = send(
        &app,
        post(
            "/api/v1/webhooks",
            &energy,
            &json!({"url": "http://127.0.0.1:9/h10"}),
        ),
    )
    .await;
    over.assert_problem(409, "webhook_limit_reached");
    assert!(over.body["detail"].as_str().unwrap().contains("10"));
    assert_eq!(count(&ctx, "webhooks"), 10);

    // The cap is per organisation.
    let health = ctx.token("csirt-health", Role::SectoralCsirt);
    let other = send(
        &app,
        post(
            "/api/v1/webhooks",
            &health,
            &json!({"url": "http://127.0.0.1:9/h"}),
        ),
    )
    .await;
    assert_eq!(other.status, 201, "{}", other.text);

    // Deleting one makes room again.
    let del = send(
        &app,
        actix_web::test::TestRequest::delete()
            .uri(&format!("/api/v1/webhooks/{}", ids[0]))
            .insert_header(("Authorization", format!("Bearer {energy}"))),
    )
    .await;
    assert_eq!(del.status, 204);
    let again = send(
        &app,
        post(
            "/api/v1/webhooks",
            &energy,
            &json!({"url": "http://127.0.0.1:9/h10"}),
        ),
    )
    .await;
    assert_eq!(again.status, 201, "{}", again.text);
}

#[actix_web::test]
async fn pings_are_rate_limited_per_organisation() {
    let ctx = Ctx::new();
    let mut cfg = config(ctx.db.url.clone());
    cfg.webhook_pings_per_minute = 2;
    let app = actix_web::test::init_service(nis2hub::build_app(
        nis2hub::AppState::new(cfg, ctx.state.pool.clone()).unwrap(),
    ))
    .await;
    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);
    let health = ctx.token("csirt-health", Role::SectoralCsirt);
    let mut subs = vec![];
    for (token, path) in [(&energy, "a"), (&energy, "b"), (&health, "c")] {
        let r = send(
            &app,
            post(
                "/api/v1/webhooks",
                token,
                &json!({"url": format!("http://127.0.0.1:9/{path}")}),
            ),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        subs.push(r.body["id"].as_str().unwrap().to_string());
    }
    let ping = |id: &str| format!("/api/v1/webhooks/{id}/ping");
    for id in &subs[..2] {
        let r = send(&app, post(&ping(id), &energy, &json!({}))).await;
        assert_eq!(r.status, 202, "{}", r.text);
    }
    // The limit is the organisation's, whichever of its subscriptions it pings.
    let limited = send(&app, post(&ping(&subs[0]), &energy, &json!({}))).await;
    limited.assert_problem(429, "rate_limited");
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let limited = send(&app, post(&ping(&subs[1]), &energy, &json!({}))).await;
    limited.assert_problem(429, "rate_limited");
    assert_eq!(
        count(&ctx, "webhook_deliveries"),
        2,
        "a refused ping queues nothing"
    );
    // Another organisation is not held back.
    let other = send(&app, post(&ping(&subs[2]), &health, &json!({}))).await;
    assert_eq!(other.status, 202, "{}", other.text);
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

#[actix_web::test]
async fn claims_give_every_organisation_its_share_of_the_delivery_slots() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let org_id = |code: &str| {
        let mut conn = ctx.state.pool.get().unwrap();
        nis2hub::directory::service::find_by_code_or_id(&mut conn, code)
            .unwrap()
            .id
    };
    let (energy_org, health_org) = (org_id("csirt-energy"), org_id("csirt-health"));
    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);
    let health = ctx.token("csirt-health", Role::SectoralCsirt);
    // Energy: ten subscriptions with a backlog each, queued first.
    let mut energy_subs = vec![];
    for i in 0..10 {
        let r = send(
            &app,
            post(
                "/api/v1/webhooks",
                &energy,
                &json!({"url": format!("http://127.0.0.1:9/e{i}")}),
            ),
        )
        .await;
        let id = r.body["id"].as_str().unwrap().to_string();
        queue_pings(&ctx, &id, &energy_org, 3);
        energy_subs.push(id);
    }
    let r = send(
        &app,
        post(
            "/api/v1/webhooks",
            &health,
            &json!({"url": "http://127.0.0.1:9/h"}),
        ),
    )
    .await;
    let health_sub = r.body["id"].as_str().unwrap().to_string();
    queue_pings(&ctx, &health_sub, &health_org, 1);

    // One delivery a slot (batch 1), so that slots are deliveries; how a backlog is split
    // into batches is tested in tests/webhook_delivery.rs.
    let s = worker::Settings {
        concurrency: 8,
        per_organisation: 2,
        batch: 1,
        ..settings(&ctx)
    };
    let mut conn = ctx.state.pool.get().unwrap();
    let first = worker::claim(&mut conn, &s, 8, &Default::default()).unwrap();
    let orgs: Vec<&str> = first.iter().map(|c| c.org_id.as_str()).collect();
    assert_eq!(
        orgs.iter().filter(|o| **o == energy_org).count(),
        2,
        "energy gets its share and no more: {orgs:?}"
    );
    assert_eq!(
        orgs.iter().filter(|o| **o == health_org).count(),
        1,
        "health's delivery is claimed although energy queued first: {orgs:?}"
    );

    // With energy's share in flight, a later claim gives energy nothing more.
    let busy: std::collections::HashMap<String, usize> =
        [(energy_org.clone(), 2)].into_iter().collect();
    let more = worker::claim(&mut conn, &s, 8, &busy).unwrap();
    assert!(more.is_empty(), "{more:?}");
    // Within an organisation the longest-due deliveries go first, several of one subscription
    // if they are due: energy's first subscription queued three, its first two are claimed.
    let energy_claimed: Vec<(&str, i64)> = first
        .iter()
        .filter(|c| c.org_id == energy_org)
        .map(|c| (c.webhook_id.as_str(), c.event.seq))
        .collect();
    let oldest: Vec<i64> = {
        use diesel::prelude::*;
        use nis2hub::schema::webhook_deliveries as d;
        d::table
            .filter(d::webhook_id.eq(&energy_subs[0]))
            .select(d::event_seq)
            .order(d::event_seq.asc())
            .limit(2)
            .load(&mut conn)
            .unwrap()
    };
    assert_eq!(
        energy_claimed,
        vec![
            (energy_subs[0].as_str(), oldest[0]),
            (energy_subs[0].as_str(), oldest[1])
        ]
    );
}

/// The events one report writes are queued together (one look-up of the subscriptions for
/// all of them); each still reaches exactly the subscriptions it would alone: those of its
/// recipients whose type filter takes it, and the national CSIRT's, which hear of every event.
#[actix_web::test]
async fn each_event_of_a_report_is_queued_for_exactly_the_subscriptions_that_take_it() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let receiver = Receiver::start(0);
    let subscribe = |token: String, types: serde_json::Value| {
        let app = &app;
        let url = receiver.url();
        async move {
            let res = send(
                app,
                post(
                    "/api/v1/webhooks",
                    &token,
                    &json!({"url": url, "event_types": types}),
                ),
            )
            .await;
            assert_eq!(res.status, 201, "{}", res.text);
            res.body["id"].as_str().unwrap().to_string()
        }
    };
    let national = subscribe(ctx.national(), json!([])).await;
    let energy_routed = subscribe(
        ctx.token("csirt-energy", Role::SectoralCsirt),
        json!(["incident.routed"]),
    )
    .await;
    let energy_all = subscribe(ctx.token("csirt-energy", Role::SectoralCsirt), json!([])).await;
    let health = subscribe(ctx.token("csirt-health", Role::SectoralCsirt), json!([])).await;

    let entity = send(
        &app,
        post(
            "/api/v1/entities",
            &ctx.national(),
            &entity_body("wh-batch", "energy.gas"),
        ),
    )
    .await;
    let entity_id = entity.body["id"].as_str().unwrap().to_string();
    let reporter = ctx.token(&entity_id, Role::Entity);
    let before = count_where(&ctx, "events", "1 = 1");
    let r = send(
        &app,
        post(
            "/api/v1/incidents",
            &reporter,
            &json!({"entity_id": entity_id, "stage": "early_warning", "aware_at": Utc::now(), "summary": "batch"}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let incident = r.body["id"].as_str().unwrap();
    let of_report =
        format!("event_seq IN (SELECT seq FROM events WHERE subject_id = '{incident}')");
    assert_eq!(
        count_where(&ctx, "events", "1 = 1") - before,
        2,
        "routed, then reported"
    );
    let queued = |webhook: &str, event_type: &str| {
        count_where(
            &ctx,
            "webhook_deliveries",
            &format!(
                "webhook_id = '{webhook}' AND {of_report} AND event_seq IN \
                 (SELECT seq FROM events WHERE type = '{event_type}')"
            ),
        )
    };
    for (webhook, routed, reported) in [
        (&national, 1, 1),
        (&energy_routed, 1, 0),
        (&energy_all, 1, 1),
        (&health, 0, 0),
    ] {
        assert_eq!(
            queued(webhook, "incident.routed"),
            routed,
            "{webhook} routed"
        );
        assert_eq!(
            queued(webhook, "incident.reported"),
            reported,
            "{webhook} reported"
        );
    }
}

/// A DNS server that answers a public address, slowly when told to: a lookup it holds waits
/// until the test releases it (or 20 seconds pass). It notes whether any lookup ran while a
/// write transaction was open on the asking thread.
#[derive(Debug, Default)]
struct SlowDns {
    hold: std::sync::atomic::AtomicBool,
    held: std::sync::atomic::AtomicUsize,
    released: std::sync::atomic::AtomicBool,
    inside_a_write: std::sync::atomic::AtomicBool,
}

impl nis2hub::webhooks::Lookup for SlowDns {
    fn lookup(&self, _host: &str, port: u16) -> std::io::Result<Vec<std::net::SocketAddr>> {
        use std::sync::atomic::Ordering::SeqCst;
        if nis2hub::db::TxMarks::get().is_some() {
            self.inside_a_write.store(true, SeqCst);
        }
        if self.hold.load(SeqCst) {
            self.held.fetch_add(1, SeqCst);
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while !self.released.load(SeqCst) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(vec![([93, 184, 215, 14], port).into()])
    }
}

/// Changing a subscription's target looks its host up (to refuse internal addresses) before
/// the write transaction, as creating one does: a slow resolver delays that one request only.
/// Inside the transaction it held every writer of the service on SQLite (one write lock), so
/// an incident report waited on a webhook's DNS.
#[actix_web::test]
async fn a_slow_dns_lookup_for_a_webhook_change_holds_up_no_other_write() {
    use std::sync::atomic::Ordering::SeqCst;
    let dns = std::sync::Arc::new(SlowDns::default());
    let resolver = dns.clone();
    let ctx = Ctx::with_config(true, move |cfg| cfg.security.webhook_lookup = resolver);
    let app = app!(ctx);
    let csirt = ctx.token("csirt-energy", Role::SectoralCsirt);
    let sub = send(
        &app,
        post(
            "/api/v1/webhooks",
            &csirt,
            &json!({"url": "https://hooks.csirt-energy.example/a"}),
        ),
    )
    .await;
    assert_eq!(sub.status, 201, "{}", sub.text);
    let path = format!("/api/v1/webhooks/{}", sub.body["id"].as_str().unwrap());

    dns.hold.store(true, SeqCst);
    let change = send(
        &app,
        patch(
            &path,
            &csirt,
            &json!({"url": "https://hooks.csirt-energy.example/b"}),
        ),
    );
    let meanwhile = async {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while dns.held.load(SeqCst) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the PATCH never looked up"
            );
            actix_rt::time::sleep(Duration::from_millis(5)).await;
        }
        // The PATCH sits in its lookup now; another write goes through meanwhile.
        let started = std::time::Instant::now();
        let entity = register_entity(&app, &ctx.national(), "40000001", "energy.gas").await;
        let took = started.elapsed();
        dns.released.store(true, SeqCst);
        (entity, took)
    };
    let (changed, (_entity, took)) = futures_util::future::join(change, meanwhile).await;
    assert!(
        took < Duration::from_secs(5),
        "a registration waited {took:?} for a webhook's DNS lookup"
    );
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.body["url"], "https://hooks.csirt-energy.example/b");
    assert_eq!(changed.body["version"], 2);
    assert!(
        !dns.inside_a_write.load(SeqCst),
        "no lookup runs inside a write transaction"
    );

    // A target that resolves to an internal address is still refused on a change.
    #[derive(Debug)]
    struct Internal;
    impl nis2hub::webhooks::Lookup for Internal {
        fn lookup(&self, _: &str, port: u16) -> std::io::Result<Vec<std::net::SocketAddr>> {
            Ok(vec![([10, 0, 0, 7], port).into()])
        }
    }
    let mut cfg = config(ctx.db.url.clone());
    cfg.security.webhook_lookup = std::sync::Arc::new(Internal);
    let app = actix_web::test::init_service(nis2hub::build_app(
        nis2hub::AppState::new(cfg, ctx.state.pool.clone()).unwrap(),
    ))
    .await;
    let refused = send(
        &app,
        patch(
            &path,
            &csirt,
            &json!({"url": "https://intranet.csirt-energy.example/c"}),
        ),
    )
    .await;
    refused.assert_problem(422, "validation_failed");
    assert_eq!(refused.body["errors"][0]["pointer"], "/url");
    assert!(refused.text.contains("10.0.0.7"), "{}", refused.text);
    let stored = send(&app, get(&path, &csirt)).await;
    assert_eq!(stored.body["url"], "https://hooks.csirt-energy.example/b");
    assert_eq!(stored.body["version"], 2);
    assert_eq!(stored.header("etag").as_deref(), Some("\"v2\""));
}

/// `If-Match` on a subscription: a stale tag is refused and changes nothing; the current one
/// applies. (The race of many at once is in `tests/patch_concurrency.rs`.)
#[actix_web::test]
async fn a_stale_if_match_on_a_webhook_change_is_refused() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let csirt = ctx.token("csirt-energy", Role::SectoralCsirt);
    let sub = send(
        &app,
        post(
            "/api/v1/webhooks",
            &csirt,
            &json!({"url": "http://127.0.0.1:9/hook", "description": "one"}),
        ),
    )
    .await;
    assert_eq!(sub.status, 201, "{}", sub.text);
    let path = format!("/api/v1/webhooks/{}", sub.body["id"].as_str().unwrap());
    let read = send(&app, get(&path, &csirt)).await;
    assert_eq!(read.header("etag").as_deref(), Some("\"v1\""));
    let ok = send(
        &app,
        patch(&path, &csirt, &json!({"description": "two"})).insert_header(("If-Match", "\"v1\"")),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.header("etag").as_deref(), Some("\"v2\""));
    let audits = count(&ctx, "audit_log");
    for tag in ["\"v1\"", "\"v3\"", "nonsense"] {
        let stale = send(
            &app,
            patch(&path, &csirt, &json!({"description": "stale"})).insert_header(("If-Match", tag)),
        )
        .await;
        stale.assert_problem(412, "precondition_failed");
    }
    let now = send(&app, get(&path, &csirt)).await;
    assert_eq!(now.body["description"], "two");
    assert_eq!(now.body["version"], 2);
    assert_eq!(count(&ctx, "audit_log"), audits, "nothing written");
}
