//! No acknowledged write is ever lost: a panic or an error inside a write cannot leave a
//! transaction open on a pooled connection, and no timestamp a client sends can make the
//! service panic. Every check reads the database back through a connection of its own.

mod common;

use common::*;
use diesel::prelude::*;
use nis2hub::auth::Role;
use nis2hub::db;
use nis2hub::error::AppError;
use serde_json::{json, Value};

/// How many of these entity ids a brand-new connection finds in the database.
fn stored_entities(ctx: &Ctx, ids: &[String]) -> usize {
    use nis2hub::schema::entities;
    let fresh = db::connect(&ctx.db.url, 1).expect("a fresh pool");
    let mut conn = fresh.get().unwrap();
    entities::table
        .filter(entities::id.eq_any(ids))
        .select(entities::id)
        .load::<String>(&mut conn)
        .unwrap()
        .len()
}

/// Registers `n` entities through the API and returns their ids, asserting each is acknowledged.
async fn register<S, B>(app: &S, ctx: &Ctx, prefix: &str, n: usize) -> Vec<String>
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let mut ids = vec![];
    for i in 0..n {
        let identifier = format!("{prefix}{i:04}");
        ids.push(register_entity(app, &ctx.national(), &identifier, "energy.electricity").await);
    }
    ids
}

/// One pooled connection, so the connection that saw the failure is the one the next
/// requests get (if the pool kept it).
fn single_connection() -> Ctx {
    Ctx::with_config(true, |cfg| cfg.pool_size = 1)
}

#[actix_web::test]
async fn a_panic_inside_a_write_rolls_back_and_later_writes_commit() {
    let ctx = single_connection();
    let app = app!(ctx);

    // The injected failure: a write that has already written, then panics mid-transaction.
    let outcome: Result<(), AppError> = ctx
        .state
        .write(|conn| {
            nis2hub::audit::record(
                conn,
                &nis2hub::auth::Caller::system("failpoint"),
                "failpoint.before_panic",
                "test",
                "x",
            )?;
            panic!("injected failure inside a write transaction");
        })
        .await;
    assert!(outcome.is_err(), "the panic surfaces as an error");

    let ids = register(&app, &ctx, "P", 12).await;
    assert_eq!(
        stored_entities(&ctx, &ids),
        12,
        "every acknowledged registration is in the database"
    );
    // The panicked write left nothing behind.
    let fresh = db::connect(&ctx.db.url, 1).unwrap();
    let mut conn = fresh.get().unwrap();
    use nis2hub::schema::audit_log;
    let leftovers: i64 = audit_log::table
        .filter(audit_log::action.eq("failpoint.before_panic"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(leftovers, 0);
}

#[actix_web::test]
async fn a_panic_with_a_transaction_opened_by_hand_does_not_poison_the_pool() {
    let ctx = single_connection();
    let app = app!(ctx);
    // Outside `write`: code that opens a transaction itself and panics before closing it.
    let outcome: Result<(), AppError> = ctx
        .state
        .db(|conn| {
            use diesel::connection::{AnsiTransactionManager, TransactionManager};
            match conn {
                db::DbConn::Pg(c) => AnsiTransactionManager::begin_transaction(c)?,
                db::DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction(c)?,
            }
            panic!("injected failure with a transaction open");
        })
        .await;
    assert!(outcome.is_err());
    let ids = register(&app, &ctx, "H", 3).await;
    assert_eq!(stored_entities(&ctx, &ids), 3);
}

#[actix_web::test]
async fn an_error_that_leaves_a_transaction_open_closes_the_connection() {
    let ctx = single_connection();
    let app = app!(ctx);
    // A closure that returns normally but leaves a transaction open behind it.
    ctx.state
        .db(|conn| {
            use diesel::connection::{AnsiTransactionManager, TransactionManager};
            match conn {
                db::DbConn::Pg(c) => AnsiTransactionManager::begin_transaction(c)?,
                db::DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction(c)?,
            }
            assert!(
                db::is_broken(conn),
                "an open transaction marks the connection"
            );
            Ok(())
        })
        .await
        .unwrap();
    let ids = register(&app, &ctx, "E", 3).await;
    assert_eq!(stored_entities(&ctx, &ids), 3);
}

/// The pool does not test a connection before handing it out; a connection whose server
/// went away fails the one request that meets it (503, so the client retries) and is closed,
/// so the requests after it get a fresh one. PostgreSQL only: it is the backend whose server
/// can drop a connection.
#[actix_web::test]
async fn a_connection_the_server_dropped_fails_one_request_and_is_replaced() {
    let ctx = single_connection();
    if !ctx.db.is_postgres() {
        eprintln!("skipped: PostgreSQL only (TEST_DATABASE_URL)");
        return;
    }
    let app = app!(ctx);
    let token = ctx.national();
    assert_eq!(
        send(&app, get("/api/v1/entities", &token)).await.status,
        200
    );
    let pid: i32 = ctx
        .state
        .db(|conn| {
            #[derive(QueryableByName)]
            struct Pid {
                #[diesel(sql_type = diesel::sql_types::Integer)]
                pid: i32,
            }
            Ok(diesel::sql_query("SELECT pg_backend_pid() AS pid")
                .get_result::<Pid>(conn)?
                .pid)
        })
        .await
        .unwrap();
    // The server ends the pooled connection's backend, as a restart or an idle timeout would.
    let fresh = db::connect(&ctx.db.url, 1).unwrap();
    diesel::sql_query(format!("SELECT pg_terminate_backend({pid})"))
        .execute(&mut fresh.get().unwrap())
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));

    let first = send(&app, get("/api/v1/entities", &token)).await;
    first.assert_problem(503, "unavailable");
    for _ in 0..3 {
        assert_eq!(
            send(&app, get("/api/v1/entities", &token)).await.status,
            200
        );
    }
    let ids = register(&app, &ctx, "R", 2).await;
    assert_eq!(stored_entities(&ctx, &ids), 2);
}

#[actix_web::test]
async fn the_reported_overflowing_dates_are_refused_and_nothing_is_lost() {
    let ctx = single_connection();
    let app = app!(ctx);
    let entity_id = register_entity(&app, &ctx.national(), "10000001", "energy.electricity").await;
    let token = ctx.token(&entity_id, Role::Entity);
    let incidents_before = count(&ctx, "incidents");
    for aware_at in [
        "-262143-01-01T00:00:00Z",
        "+262142-12-31T23:59:59Z",
        "1969-12-31T23:59:59Z",
    ] {
        let body = json!({"entity_id": entity_id, "stage": "early_warning",
            "aware_at": aware_at, "summary": "overflow probe"});
        let res = send(&app, post("/api/v1/incidents", &token, &body)).await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(
            res.body["errors"][0]["pointer"], "/aware_at",
            "{}",
            res.text
        );

        let body = json!({"entity_id": entity_id, "stage": "early_warning", "aware_at": aware_at});
        let res = send(&app, post("/api/v1/routing/evaluate", &token, &body)).await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(
            res.body["errors"][0]["pointer"], "/aware_at",
            "{}",
            res.text
        );
    }
    for (field, value) in [
        ("occurred_at", "-262143-01-01T00:00:00Z"),
        ("handling_ended_at", "+262142-12-31T23:59:59Z"),
    ] {
        let mut body = json!({"entity_id": entity_id, "stage": "progress",
            "aware_at": "2026-11-01T00:00:00Z", "summary": "overflow probe"});
        body[field] = json!(value);
        let res = send(&app, post("/api/v1/incidents", &token, &body)).await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(res.body["errors"][0]["pointer"], format!("/{field}"));
    }
    let res = send(
        &app,
        get(
            "/api/v1/incidents?updated_since=%2B262142-12-31T23:59:59Z",
            &ctx.national(),
        ),
    )
    .await;
    res.assert_problem(400, "invalid_query");
    assert!(res.text.contains("out of range"), "{}", res.text);
    assert_eq!(count(&ctx, "incidents"), incidents_before);

    let ids = register(&app, &ctx, "D", 12).await;
    assert_eq!(stored_entities(&ctx, &ids), 12);
}

mod properties {
    //! Whatever a client puts into a report or an evaluation — dates across chrono's whole
    //! range, numbers of any size, long lists — the answer is never a 5xx and never a panic.

    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    fn timestamp() -> impl Strategy<Value = Value> {
        prop_oneof![
            // Anywhere in chrono's range, written as RFC 3339 with an expanded year.
            (-262_143i64..=262_142, 1u32..=12, 1u32..=28, 0u32..24).prop_map(|(y, m, d, h)| {
                let year = if (0..=9999).contains(&y) {
                    format!("{y:04}")
                } else {
                    format!("{y:+07}")
                };
                json!(format!("{year}-{m:02}-{d:02}T{h:02}:00:00Z"))
            }),
            // Near now, where the deadline arithmetic is busiest.
            (-2_000i64..2_000).prop_map(|h| {
                json!((chrono::Utc::now() + chrono::Duration::hours(h)).to_rfc3339())
            }),
            Just(json!("1970-01-01T00:00:00Z")),
            Just(json!("9999-12-31T23:59:59.999999Z")),
            Just(json!("not a date")),
            Just(json!(1e300)),
        ]
    }

    fn number() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<u64>().prop_map(|n| json!(n)),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            Just(json!(u64::MAX)),
            Just(json!(0)),
        ]
    }

    fn member_states() -> impl Strategy<Value = Value> {
        prop::collection::vec(
            prop_oneof![
                Just("NL".to_string()),
                Just("BE".to_string()),
                Just("DE".to_string()),
                "[A-Za-z]{0,3}",
            ],
            0..80,
        )
        .prop_map(|v| json!(v))
    }

    fn impact() -> impl Strategy<Value = Value> {
        (
            number(),
            number(),
            number(),
            number(),
            number(),
            any::<bool>(),
        )
            .prop_map(|(loss, turnover, users, minutes, deaths, access)| {
                json!({"financial_loss_eur": loss, "annual_turnover_eur": turnover,
                       "users_affected": users, "unavailability_minutes": minutes,
                       "deaths": deaths, "malicious_access": access})
            })
    }

    fn stage() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just("early_warning"),
            Just("notification"),
            Just("intermediate"),
            Just("final"),
            Just("progress"),
        ]
    }

    fn report(entity_id: String) -> impl Strategy<Value = Value> {
        (
            stage(),
            timestamp(),
            timestamp(),
            timestamp(),
            member_states(),
            impact(),
            any::<bool>(),
            prop::collection::vec("[a-z.]{0,12}", 0..30),
            prop::collection::vec(".{0,20}", 0..50),
        )
            .prop_map(
                move |(stage, aware, occurred, ended, states, impact, sig, sectors, iocs)| {
                    json!({"entity_id": entity_id, "stage": stage, "aware_at": aware,
                       "occurred_at": occurred, "handling_ended_at": ended,
                       "significant": sig, "affected_member_states": states,
                       "affected_sectors": sectors, "impact": impact,
                       "summary": "property probe", "root_cause": "probe", "indicators": iocs})
                },
            )
    }

    fn evaluation() -> impl Strategy<Value = Value> {
        (
            stage(),
            timestamp(),
            member_states(),
            impact(),
            any::<bool>(),
        )
            .prop_map(|(stage, aware, states, impact, sig)| {
                json!({"entity": {"country": "NL", "sector": "banking", "category": "essential"},
                       "stage": stage, "aware_at": aware, "significant": sig,
                       "affected_member_states": states, "impact": impact,
                       "root_cause": "probe"})
            })
    }

    fn cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(96)
    }

    #[test]
    fn reports_and_evaluations_never_get_a_server_error() {
        let system = actix_rt::System::new();
        let ctx = single_connection();
        let app = system.block_on(async { app!(ctx) });
        let entity = system.block_on(send(
            &app,
            post(
                "/api/v1/entities",
                &ctx.national(),
                &entity_body("20000001", "banking"),
            ),
        ));
        let entity_id = entity.body["id"].as_str().unwrap().to_string();
        let token = ctx.token(&entity_id, Role::Entity);

        let mut runner = TestRunner::new(Config {
            cases: cases(),
            failure_persistence: None,
            ..Config::default()
        });
        let strategy = (
            report(entity_id.clone()),
            evaluation(),
            stage(),
            timestamp(),
        );
        runner
            .run(&strategy, |(report, evaluation, later_stage, when)| {
                let res = system.block_on(send(&app, post("/api/v1/incidents", &token, &report)));
                prop_assert!(res.status < 500, "report {report}: {}", res.text);
                if res.status == 201 {
                    // A later report on the incident, and an intermediate request on it.
                    let id = res.body["id"].as_str().unwrap_or_default().to_string();
                    let later = json!({"stage": later_stage, "summary": "follow-up",
                                       "handling_ended_at": when});
                    let path = format!("/api/v1/incidents/{id}/reports");
                    let res = system.block_on(send(&app, post(&path, &token, &later)));
                    prop_assert!(res.status < 500, "later {later}: {}", res.text);
                    let path = format!("/api/v1/incidents/{id}/requests");
                    let request = json!({"due_at": when, "note": "probe"});
                    let res = system.block_on(send(&app, post(&path, &ctx.national(), &request)));
                    prop_assert!(res.status < 500, "request {request}: {}", res.text);
                }
                let res = system.block_on(send(
                    &app,
                    post("/api/v1/routing/evaluate", &token, &evaluation),
                ));
                prop_assert!(res.status < 500, "evaluate {evaluation}: {}", res.text);
                Ok(())
            })
            .unwrap();

        // And the one pooled connection still commits.
        let ids = system.block_on(register(&app, &ctx, "Q", 2));
        assert_eq!(stored_entities(&ctx, &ids), 2);
    }
}

/// A write transaction asks PostgreSQL for the write lock once and remembers that it holds it
/// ([`db::TxMarks`]). The memory is the transaction's own: the next transaction on the same
/// thread and connection asks again — after a commit, after an error and after a panic — or
/// two writers could run their ordered part at once. PostgreSQL only: SQLite's write lock is
/// `BEGIN IMMEDIATE`.
#[test]
fn the_write_lock_is_asked_for_again_by_every_transaction() {
    let ctx = single_connection();
    if !ctx.db.is_postgres() {
        eprintln!("skipped: PostgreSQL only (TEST_DATABASE_URL)");
        return;
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let pool = db::connect(&ctx.db.url, 2).unwrap();
    let mut writer = pool.get().unwrap();
    let mut watcher = pool.get().unwrap();
    let pid: i32 = {
        #[derive(QueryableByName)]
        struct Pid {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            pid: i32,
        }
        diesel::sql_query("SELECT pg_backend_pid() AS pid")
            .get_result::<Pid>(&mut *writer)
            .unwrap()
            .pid
    };
    let mut held = move || -> i64 {
        diesel::sql_query(format!(
            "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = {pid}"
        ))
        .get_result::<Count>(&mut *watcher)
        .unwrap()
        .n
    };
    assert_eq!(
        db::TxMarks::get().map(|m| m.locked),
        None,
        "no transaction yet"
    );

    // Committed, failed and panicked transactions that took the lock, each followed by one
    // that must take it again and hold it until it ends.
    type Ending = fn(&mut db::DbConn) -> Result<(), AppError>;
    let endings: [Ending; 3] = [
        |_| Ok(()),
        |_| Err(AppError::internal("a write that fails")),
        |_| panic!("a write that panics"),
    ];
    for (i, ending) in endings.into_iter().enumerate() {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            db::write_tx(&mut writer, |c| {
                db::lock_writes(c)?;
                db::lock_writes(c)?;
                assert_eq!(db::TxMarks::get().map(|m| m.locked), Some(true));
                ending(c)
            })
        }));
        assert_eq!(db::TxMarks::get().map(|m| m.locked), None, "ending {i}");
        assert_eq!(held(), 0, "the lock ends with the transaction (ending {i})");
        db::write_tx(&mut writer, |c| {
            assert_eq!(db::TxMarks::get().map(|m| m.locked), Some(false));
            assert_eq!(held(), 0);
            db::lock_writes(c)?;
            // The write lock and, with it, the audit chain's (`db::lock_writes`).
            assert_eq!(held(), 2, "taken again after ending {i}");
            Ok(())
        })
        .unwrap();
        assert_eq!(held(), 0);
    }
}

/// The warnings and errors logged while this binary's tests run, with the thread that logged
/// them, so a test can show that something was not logged as an error.
mod captured_log {
    use std::sync::Mutex;

    pub struct Record {
        pub level: log::Level,
        pub thread: Option<String>,
        pub message: String,
    }

    static RECORDS: Mutex<Vec<Record>> = Mutex::new(Vec::new());

    struct Capture;

    impl log::Log for Capture {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::Level::Warn
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                RECORDS
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Record {
                        level: r.level(),
                        thread: std::thread::current().name().map(str::to_string),
                        message: r.args().to_string(),
                    });
            }
        }
        fn flush(&self) {}
    }

    /// Starts capturing (once per process); returns how many records there are so far.
    pub fn start() -> usize {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            if log::set_boxed_logger(Box::new(Capture)).is_ok() {
                log::set_max_level(log::LevelFilter::Warn);
            }
        });
        RECORDS.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The records logged since `from` that `keep` selects, as `LEVEL thread: message`.
    pub fn since(from: usize, keep: impl Fn(&Record) -> bool) -> Vec<String> {
        RECORDS.lock().unwrap_or_else(|e| e.into_inner())[from..]
            .iter()
            .filter(|r| keep(r))
            .map(|r| format!("{} {:?}: {}", r.level, r.thread, r.message))
            .collect()
    }
}

/// A PostgreSQL restart or failover ends every connection of the service at once. Requests
/// in flight then answer `503` with `Retry-After` — a condition a client retries, as when the
/// database is down — never `500`, which ticketing systems page on as a server bug; the log
/// has a warning for each, no error; every report that was acknowledged (201) is stored; and
/// the service writes again by itself once the connections are back. PostgreSQL only: the
/// test ends the backends of this test's own pool (`pg_terminate_backend`, found by an
/// `application_name` of its own), again and again, while 16 writers report incidents.
#[actix_web::test]
async fn writers_whose_connections_the_server_ends_get_503_and_lose_nothing() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    const WRITERS: usize = 16;
    const REPORTS_EACH: usize = 12;
    let app_name = format!("n2h_lost_{}", uuid::Uuid::new_v4().simple());
    let name = app_name.clone();
    let ctx = Ctx::with_config(true, move |cfg| {
        cfg.pool_size = WRITERS as u32;
        if let nis2hub::config::DatabaseUrl::Postgres(url) = &mut cfg.database_url {
            url.push_str(&format!("&application_name={name}"));
        }
    });
    if !ctx.db.is_postgres() {
        eprintln!("skipped: PostgreSQL only (TEST_DATABASE_URL)");
        return;
    }
    let log_from = captured_log::start();
    let app = app!(ctx);
    let entity_id = register_entity(&app, &ctx.national(), "50000001", "energy.electricity").await;
    let token = ctx.token(&entity_id, Role::Entity);

    // The "server": ends every backend of the pool every 100 ms while the writers run.
    let done = Arc::new(AtomicBool::new(false));
    let ended = Arc::new(AtomicUsize::new(0));
    let terminator = {
        let (done, ended) = (done.clone(), ended.clone());
        let url = ctx.db.url_string();
        let query = format!(
            "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity \
             WHERE application_name = '{app_name}' AND pid <> pg_backend_pid()"
        );
        std::thread::spawn(move || {
            #[derive(QueryableByName)]
            struct Ended {
                #[diesel(sql_type = diesel::sql_types::Bool)]
                ended: bool,
            }
            let mut conn = diesel::PgConnection::establish(&url).expect("a connection of its own");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while !done.load(SeqCst) && std::time::Instant::now() < deadline {
                let n = diesel::sql_query(&query)
                    .load::<Ended>(&mut conn)
                    .unwrap()
                    .iter()
                    .filter(|e| e.ended)
                    .count();
                ended.fetch_add(n, SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        })
    };

    let writers = (0..WRITERS).map(|w| {
        let (app, token, entity_id) = (&app, &token, &entity_id);
        async move {
            let mut answers = vec![];
            for n in 0..REPORTS_EACH {
                let body = json!({"entity_id": entity_id, "stage": "early_warning",
                    "aware_at": (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339(),
                    "summary": format!("writer {w} report {n}")});
                answers.push(send(app, post("/api/v1/incidents", token, &body)).await);
            }
            answers
        }
    });
    let answers: Vec<Res> = futures_util::future::join_all(writers)
        .await
        .into_iter()
        .flatten()
        .collect();
    done.store(true, SeqCst);
    terminator.join().unwrap();
    assert!(ended.load(SeqCst) > 0, "the test ended no backend");

    let mut acknowledged = vec![];
    let mut unavailable = 0;
    for a in &answers {
        match a.status {
            201 => acknowledged.push(a.body["id"].as_str().unwrap().to_string()),
            503 => {
                a.assert_problem(503, "unavailable");
                let wait: u64 = a
                    .header("retry-after")
                    .unwrap_or_else(|| {
                        panic!("503 without Retry-After: {} {:?}", a.text, a.headers)
                    })
                    .parse()
                    .unwrap();
                assert!((1..=60).contains(&wait), "Retry-After {wait}");
                unavailable += 1;
            }
            other => panic!("a lost connection answered {other}: {}", a.text),
        }
    }
    assert!(
        unavailable > 0,
        "no request met a lost connection ({} backends ended); the test proved nothing",
        ended.load(SeqCst)
    );
    eprintln!(
        "{} acknowledged, {unavailable} answered 503, {} backends ended",
        acknowledged.len(),
        ended.load(SeqCst)
    );

    // Every acknowledged report is there, read through a connection of the test's own.
    {
        use nis2hub::schema::incidents;
        let fresh = db::connect(&ctx.db.url, 1).unwrap();
        let mut conn = fresh.get().unwrap();
        let stored: i64 = incidents::table
            .filter(incidents::id.eq_any(&acknowledged))
            .count()
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(
            stored as usize,
            acknowledged.len(),
            "an acknowledged report was lost"
        );
    }

    // The service writes again by itself: at most one 503 per pooled connection that was
    // ended while idle, then only 201s.
    let mut attempts = 0;
    let mut in_a_row = 0;
    while in_a_row < WRITERS {
        attempts += 1;
        assert!(attempts <= 3 * WRITERS, "writes did not recover");
        let body = json!({"entity_id": entity_id, "stage": "early_warning",
            "aware_at": (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339(),
            "summary": format!("after {attempts}")});
        let r = send(&app, post("/api/v1/incidents", &token, &body)).await;
        match r.status {
            201 => in_a_row += 1,
            503 => in_a_row = 0,
            other => panic!("after the failover: {other}: {}", r.text),
        }
    }

    let errors = captured_log::since(log_from, |r| {
        r.level == log::Level::Error
            && (r.thread.as_deref() == std::thread::current().name()
                || r.message.contains("database")
                || r.message.contains("transaction"))
    });
    assert!(errors.is_empty(), "logged as errors: {errors:#?}");
    let warnings = captured_log::since(log_from, |r| {
        r.level == log::Level::Warn && r.message.contains("connection was lost")
    });
    assert!(
        !warnings.is_empty(),
        "each lost connection is logged as a warning"
    );
}

/// The SQLite database holds incident reports and CVD cases (TLP:AMBER and RED among them):
/// the folder the service creates for it is `0700`, and the database and its `-wal` and
/// `-shm` files are `0600`, whatever the umask — as the key files are. A database left
/// readable by an earlier version is closed to others on the next start.
#[cfg(unix)]
#[test]
fn the_sqlite_files_and_their_folder_are_private_to_the_service() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("srv").join("data");
    let file = data.join("nis2hub.db");
    let url = nis2hub::config::DatabaseUrl::Sqlite(file.clone());
    let pool = db::connect(&url, 2).unwrap();
    {
        let mut conn = pool.get().unwrap();
        db::migrate(&mut conn).unwrap();
        db::write_tx(&mut conn, |c| {
            nis2hub::audit::record(
                c,
                &nis2hub::auth::Caller::system("t"),
                "test.write",
                "test",
                "x",
            )
        })
        .unwrap();
    }
    let with = |suffix: &str| {
        let mut name = file.clone().into_os_string();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    assert_eq!(mode(&root.path().join("srv")), 0o700, "a folder it created");
    assert_eq!(mode(&data), 0o700, "the data folder");
    for f in [
        file.clone(),
        with("-wal"),
        with("-shm"),
        with(".migrate-lock"),
    ] {
        assert!(f.exists(), "{} exists while the pool is open", f.display());
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    drop(pool);

    // A database an earlier version made readable by everyone.
    for f in [file.clone(), with(".migrate-lock")] {
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let pool = db::connect(&url, 1).unwrap();
    db::migrate(&mut pool.get().unwrap()).unwrap();
    for f in [
        file.clone(),
        with("-wal"),
        with("-shm"),
        with(".migrate-lock"),
    ] {
        assert_eq!(mode(&f), 0o600, "{} after a restart", f.display());
    }
    // A folder that existed before is the operator's: left as it is.
    let shared = root.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
    let url = nis2hub::config::DatabaseUrl::Sqlite(shared.join("n.db"));
    drop(db::connect(&url, 1).unwrap());
    assert_eq!(mode(&shared), 0o755);
    assert_eq!(mode(&shared.join("n.db")), 0o600);
}
