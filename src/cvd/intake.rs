//! The intake: a report opens a case, anonymous or with a token, with its acknowledgement and
//! assessment deadlines.

use super::access;
use super::model::*;
use super::service::*;
use crate::audit::{self, Actor};
use crate::auth::Caller;
use crate::db::{self, DbConn};
use crate::error::AppResult;
use crate::outbox::{self, NewEvent};
use crate::schema::cvd_cases;
use diesel::prelude::*;

/// Records a report and opens its case; returns the receipt to send and the one to keep for
/// an idempotent replay (without the case token).
pub fn report(
    conn: &mut DbConn,
    reporter: Option<&Caller>,
    request_id: &str,
    input: VulnerabilityReport,
) -> AppResult<(ReportReceipt, ReportReceipt)> {
    let now = db::now();
    if reporter.is_none() {
        within_global_cap(conn, now)?;
    }
    let coordinator = national_csirt(conn)?;
    let reference = next_reference(conn, utc(now))?;
    let id = db::new_id();
    let token = reporter
        .is_none()
        .then(|| access::new_token(access::CASE_PREFIX));
    let ack = one_working_day_after(utc(now)).naive_utc();
    let assess = three_working_days_after(utc(now)).naive_utc();
    let anonymous = reporter.is_none() && input.finder.is_none();
    diesel::insert_into(cvd_cases::table)
        .values((
            cvd_cases::id.eq(&id),
            cvd_cases::reference.eq(&reference),
            cvd_cases::state.eq("received"),
            cvd_cases::title.eq(&input.title),
            cvd_cases::description.eq(&input.description),
            cvd_cases::vendor_hint.eq(&input.vendor),
            cvd_cases::product.eq(&input.product),
            cvd_cases::versions.eq(serde_json::to_string(&input.versions)?),
            cvd_cases::cves.eq(serde_json::to_string(&input.cves)?),
            cvd_cases::finder.eq(input
                .finder
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?),
            cvd_cases::reporter_org.eq(reporter.map(|c| c.org.clone())),
            cvd_cases::reporter_sub.eq(reporter.map(|c| c.sub.clone())),
            cvd_cases::case_token_hash.eq(token.as_ref().map(|(_, h)| h.clone())),
            cvd_cases::coordinator_id.eq(&coordinator),
            cvd_cases::co_coordinators.eq("[]"),
            cvd_cases::wanted_disclosure_at.eq(input
                .wanted_disclosure_at
                .map(|t| db::micros(t).naive_utc())),
            cvd_cases::acknowledge_due_at.eq(ack),
            cvd_cases::assess_due_at.eq(assess),
            cvd_cases::version.eq(1i64),
            cvd_cases::created_at.eq(now),
            cvd_cases::updated_at.eq(now),
        ))
        .execute(conn)?;
    outbox::emit(
        conn,
        NewEvent {
            event_type: "cvd.case_received",
            subject_type: "cvd_case",
            subject_id: &id,
            significant: false,
            data: serde_json::json!({
                "case_id": id, "reference": reference, "state": "received",
                "anonymous": anonymous,
                "acknowledge_due_at": utc(ack),
                "assess_due_at": utc(assess),
            }),
            recipients: vec![coordinator],
        },
    )?;
    match reporter {
        Some(c) => audit::record(conn, c, "cvd.report", "cvd_case", &id)?,
        None => audit::record_as(
            conn,
            &Actor {
                org: "anonymous",
                sub: "finder",
                role: "finder",
                client_id: None,
                request_id,
            },
            "cvd.report",
            "cvd_case",
            &id,
        )?,
    }
    let receipt = |token: Option<String>| ReportReceipt {
        case_id: id.clone(),
        reference: reference.clone(),
        case_token: token,
        anonymous,
        acknowledge_due_at: utc(ack),
    };
    Ok((receipt(token.map(|(t, _)| t)), receipt(None)))
}

/// 429 when the service took [`super::GLOBAL_ANONYMOUS_REPORTS_PER_MINUTE`] tokenless reports
/// in the last minute, from all addresses and all instances together: the per-address limit
/// alone lets many addresses (or one IPv6 network) fill the coordinators' queue. Counted under
/// the write lock, so concurrent reports cannot all take the last place; the wait is until
/// the oldest report of the minute leaves it.
fn within_global_cap(conn: &mut DbConn, now: chrono::NaiveDateTime) -> AppResult<()> {
    db::lock_writes(conn)?;
    let since = now - chrono::TimeDelta::minutes(1);
    let recent: Vec<chrono::NaiveDateTime> = cvd_cases::table
        .filter(
            cvd_cases::reporter_org
                .is_null()
                .and(cvd_cases::created_at.gt(since)),
        )
        .order(cvd_cases::created_at.desc())
        .limit(super::GLOBAL_ANONYMOUS_REPORTS_PER_MINUTE)
        .select(cvd_cases::created_at)
        .load(conn)?;
    if (recent.len() as i64) < super::GLOBAL_ANONYMOUS_REPORTS_PER_MINUTE {
        return Ok(());
    }
    let oldest = recent.last().copied().unwrap_or(now);
    let wait = (oldest + chrono::TimeDelta::minutes(1) - now)
        .num_seconds()
        .clamp(1, 60);
    Err(crate::error::AppError::TooManyRequests(wait as u64))
}
