//! The deadline sweep: finds stages past their deadline and emits `incident.deadline_missed`
//! exactly once per missed stage, however many instances sweep at the same time.
//!
//! A deadline row is claimed by setting `missed_at` where it is still null; on PostgreSQL the
//! candidates are locked with `FOR UPDATE SKIP LOCKED`, so instances share the work instead of
//! waiting on each other.

use crate::audit;
use crate::auth::Caller;
use crate::db::{self, DbConn};
use crate::error::AppResult;
use crate::outbox::{self, NewEvent};
use crate::schema::incident_deadlines as d;
use diesel::prelude::*;

type Candidate = (String, String, String, chrono::NaiveDateTime);

fn candidates(
    conn: &mut DbConn,
    now: chrono::NaiveDateTime,
    limit: i64,
) -> AppResult<Vec<Candidate>> {
    let query = d::table
        .filter(d::missed_at.is_null().and(d::due_at.lt(now)))
        .order(d::due_at.asc())
        .limit(limit)
        .select((d::incident_id, d::stage, d::request_id, d::due_at));
    Ok(match conn {
        DbConn::Pg(c) => query.for_update().skip_locked().load(c)?,
        DbConn::Sqlite(c) => query.load(c)?,
    })
}

/// Marks every deadline that passed before `now` as missed and emits one event for each.
/// Call inside a write transaction; returns how many it marked.
pub fn sweep(conn: &mut DbConn, now: chrono::NaiveDateTime, limit: i64) -> AppResult<usize> {
    // The write lock first, as every writer takes it: taking row locks before it could
    // deadlock against a report of the same incident.
    db::lock_writes(conn)?;
    let caller = Caller::system("deadline-sweep");
    let mut marked = 0;
    for (incident_id, stage, request_id, due_at) in candidates(conn, now, limit)? {
        let claimed = diesel::update(
            d::table.filter(
                d::incident_id
                    .eq(&incident_id)
                    .and(d::stage.eq(&stage))
                    .and(d::request_id.eq(&request_id))
                    .and(d::missed_at.is_null()),
            ),
        )
        .set(d::missed_at.eq(Some(now)))
        .execute(conn)?;
        if claimed != 1 {
            continue;
        }
        let (snapshot, audience) = crate::incidents::service::sweep_audience(conn, &incident_id)?;
        let mut data = snapshot.data;
        if let Some(o) = data.as_object_mut() {
            o.insert("missed_stage".into(), stage.clone().into());
            o.insert(
                "due_at".into(),
                due_at
                    .and_utc()
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                    .into(),
            );
            if !request_id.is_empty() {
                o.insert("request_id".into(), request_id.clone().into());
            }
        }
        outbox::emit(
            conn,
            NewEvent {
                event_type: "incident.deadline_missed",
                subject_type: "incident",
                subject_id: &incident_id,
                significant: snapshot.significant,
                data,
                recipients: audience,
            },
        )?;
        audit::record(
            conn,
            &caller,
            "incident.deadline_missed",
            "incident",
            &incident_id,
        )?;
        marked += 1;
    }
    Ok(marked)
}

/// One pass of the sweep thread: missed incident deadlines (and stale idempotency keys), then
/// expired maturity assessments and CSIRTs falling out of compliance
/// (`crate::maturity::service::sweep`), each in a transaction of its own so that a failure of
/// one does not hold up the other. Returns what each reported.
pub fn pass(
    pool: &db::Pool,
    maturity: &crate::rules::maturity::Model,
) -> (AppResult<usize>, AppResult<usize>) {
    let deadlines = pool
        .get()
        .map_err(crate::error::AppError::from)
        .and_then(|mut conn| {
            db::write_tx(&mut conn, |conn| {
                crate::idempotency::purge(conn, db::now())?;
                let incidents = sweep(conn, db::now(), 500)?;
                // CVD deadlines: missed acknowledgements, vendors that did not answer.
                let cases = crate::cvd::sweep::sweep(conn, db::now(), 500)?;
                Ok(incidents + cases)
            })
        });
    let maturity = pool
        .get()
        .map_err(crate::error::AppError::from)
        .and_then(|mut conn| {
            db::write_tx(&mut conn, |conn| {
                crate::maturity::service::sweep(conn, maturity, db::now(), 500)
            })
        });
    (deadlines, maturity)
}

/// Runs [`pass`] every `every` until the process ends (on its own thread, off the HTTP workers).
pub fn spawn(pool: db::Pool, every: std::time::Duration, maturity: crate::rules::maturity::Model) {
    std::thread::Builder::new()
        .name("deadline-sweep".into())
        .spawn(move || loop {
            std::thread::sleep(every);
            let (deadlines, assessments) = pass(&pool, &maturity);
            match deadlines {
                Ok(0) => {}
                Ok(n) => log::info!("deadline sweep: {n} missed deadline(s) reported"),
                Err(e) => log::warn!("deadline sweep failed: {e}"),
            }
            match assessments {
                Ok(0) => {}
                Ok(n) => log::info!("maturity sweep: {n} expiry or compliance event(s)"),
                Err(e) => log::warn!("maturity sweep failed: {e}"),
            }
        })
        .expect("start the deadline sweep thread");
}
