//! The CVD deadline sweep: missed acknowledgement and assessment deadlines, and vendors that
//! did not answer in time, each marked once with an event.

use super::model::*;
use super::service::*;
use crate::audit;
use crate::auth::Caller;
use crate::db::{self, DbConn};
use crate::error::AppResult;
use crate::schema::{cvd_cases, cvd_vendors};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// Marks the cases whose `$due` deadline passed with `$done` still unset, each once (`$missed`,
/// claimed with a conditional update so two sweeps never both mark one), with an event to the
/// coordinators and an audit record. A macro because the three columns differ in type.
macro_rules! mark_missed {
    ($conn:expr, $caller:expr, $now:expr, $limit:expr, $done:ident, $missed:ident, $due:ident, $action:expr) => {{
        let ids: Vec<String> = cvd_cases::table
            .filter(
                cvd_cases::$done
                    .is_null()
                    .and(cvd_cases::$missed.is_null())
                    .and(cvd_cases::$due.lt($now)),
            )
            .order(cvd_cases::$due.asc())
            .limit($limit)
            .select(cvd_cases::id)
            .load($conn)?;
        let mut marked = 0usize;
        for id in ids {
            let claimed = diesel::update(
                cvd_cases::table.filter(cvd_cases::id.eq(&id).and(cvd_cases::$missed.is_null())),
            )
            .set(cvd_cases::$missed.eq(Some($now)))
            .execute($conn)?;
            if claimed != 1 {
                continue;
            }
            let row = case_row($conn, &id)?;
            emit_update(
                $conn,
                &row,
                &[stringify!($missed).to_string()],
                Audience::Visibility(Visibility::Coordinators),
            )?;
            audit::record($conn, $caller, $action, "cvd_case", &id)?;
            marked += 1;
        }
        marked
    }};
}

/// Marks missed acknowledgement deadlines and vendors that did not answer in time, each once
/// with a `cvd.case_updated` event. Call inside a write transaction; returns how many it
/// marked.
pub fn sweep(conn: &mut DbConn, now: NaiveDateTime, limit: i64) -> AppResult<usize> {
    db::lock_writes(conn)?;
    let caller = Caller::system("cvd-deadline-sweep");
    let mut marked = 0;
    marked += mark_missed!(
        conn,
        &caller,
        now,
        limit,
        acknowledged_at,
        acknowledge_missed_at,
        acknowledge_due_at,
        "cvd.acknowledge_missed"
    );
    marked += mark_missed!(
        conn,
        &caller,
        now,
        limit,
        assessed_at,
        assess_missed_at,
        assess_due_at,
        "cvd.assess_missed"
    );
    let silent: Vec<VendorRow> = cvd_vendors::table
        .inner_join(cvd_cases::table.on(cvd_cases::id.eq(cvd_vendors::case_id)))
        .filter(
            cvd_vendors::responded_at
                .is_null()
                .and(cvd_vendors::unresponsive_at.is_null())
                .and(cvd_vendors::answer_due_at.lt(now))
                .and(cvd_cases::closed_at.is_null()),
        )
        .order(cvd_vendors::answer_due_at.asc())
        .limit(limit)
        .select(VendorRow::as_select())
        .load(conn)?;
    for v in silent {
        let claimed = diesel::update(
            cvd_vendors::table.filter(
                cvd_vendors::id
                    .eq(&v.id)
                    .and(cvd_vendors::unresponsive_at.is_null()),
            ),
        )
        .set((
            cvd_vendors::unresponsive_at.eq(Some(now)),
            cvd_vendors::status.eq("unresponsive"),
            cvd_vendors::updated_at.eq(now),
            cvd_vendors::version.eq(cvd_vendors::version + 1),
        ))
        .execute(conn)?;
        if claimed != 1 {
            continue;
        }
        let row = bump(conn, &v.case_id, now)?;
        emit_update(
            conn,
            &row,
            &["vendors.status".to_string()],
            Audience::Vendor(&v),
        )?;
        audit::record(
            conn,
            &caller,
            "cvd.vendor.unresponsive",
            "cvd_vendor",
            &v.id,
        )?;
        marked += 1;
    }
    Ok(marked)
}
