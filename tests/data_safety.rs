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
            assert_eq!(held(), 1, "taken again after ending {i}");
            Ok(())
        })
        .unwrap();
        assert_eq!(held(), 0);
    }
}
