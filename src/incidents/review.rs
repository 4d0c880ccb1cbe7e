//! What the recipients do with an incident: a supervisory authority reviews a report, a CSIRT
//! or authority asks for an intermediate report, and an incident is closed. Each is one
//! transaction with its events and audit record.

use super::model::*;
use super::service::*;
use crate::audit;
use crate::auth::{Caller, Role};
use crate::db::{self, DbConn};
use crate::error::{AppError, AppResult};
use crate::outbox::{self, NewEvent};
use crate::rules::deadlines::Stage;
use crate::rules::routing::Decision;
use crate::rules::ruleset::RuleSet;
use crate::schema::{incident_recipients, incident_reports, incident_requests, incidents};
use diesel::prelude::*;

fn role_on(conn: &mut DbConn, incident_id: &str, org: &str) -> AppResult<Vec<String>> {
    Ok(incident_recipients::table
        .filter(
            incident_recipients::incident_id
                .eq(incident_id)
                .and(incident_recipients::org_id.eq(org)),
        )
        .select(incident_recipients::role)
        .load(conn)?)
}

fn touch(conn: &mut DbConn, row: &IncidentRow, rs: &RuleSet) -> AppResult<IncidentRow> {
    // Recompute the stored decision's stages and next obligation after a request or closing.
    let now = db::now().and_utc();
    let incident = detail(conn, rs, row.clone(), now)?;
    let mut decision = incident.decision.clone();
    decision.stages = incident.stages.clone();
    decision.next_obligation = incident.next_obligation.clone();
    let mut updated = row.clone();
    updated.decision = serde_json::to_string(&decision)?;
    updated.late = incident.late;
    updated.version += 1;
    updated.updated_at = now.naive_utc();
    let n = diesel::update(
        incidents::table
            .find(&row.id)
            .filter(incidents::version.eq(row.version)),
    )
    .set(&updated)
    .execute(conn)?;
    if n != 1 {
        return Err(AppError::Conflict(
            "incident_changed",
            "the incident changed at the same time; try again".into(),
        ));
    }
    refresh_deadlines(conn, &row.id, &decision.stages, updated.status == "closed")?;
    Ok(updated)
}

/// A supervisory authority (or the national CSIRT) reviews one report.
pub fn review(
    conn: &mut DbConn,
    caller: &Caller,
    rs: &RuleSet,
    id: &str,
    report_id: &str,
    input: ReviewInput,
) -> AppResult<Report> {
    db::lock_writes(conn)?;
    let row = visible(conn, caller, id)?;
    let may = match caller.role {
        Role::NationalCsirt => true,
        Role::SupervisoryAuthority => role_on(conn, id, &caller.org)?
            .iter()
            .any(|r| r == "supervisory_authority"),
        _ => false,
    };
    if !may {
        return Err(AppError::ForbiddenAction(
            "reports are reviewed by the incident's supervisory authority".into(),
        ));
    }
    let now = db::now();
    let n = diesel::update(
        incident_reports::table.filter(
            incident_reports::id
                .eq(report_id)
                .and(incident_reports::incident_id.eq(id)),
        ),
    )
    .set((
        incident_reports::review_status.eq(Some(input.status.as_str())),
        incident_reports::review_comment.eq(input.comment.clone()),
        incident_reports::reviewed_by.eq(Some(by(caller))),
        incident_reports::reviewed_at.eq(Some(now)),
    ))
    .execute(conn)?;
    if n != 1 {
        return Err(AppError::NotFound);
    }
    let decision: Decision = serde_json::from_str(&row.decision)?;
    let audience = audience(conn, id, &row.entity_id)?;
    let report = incident_reports::table
        .find(report_id)
        .select(ReportRow::as_select())
        .first(conn)?
        .into_api()?;
    // The review's comment is about the report's content and shares its label.
    let tlp = report
        .content
        .as_ref()
        .and_then(|c| c.tlp)
        .unwrap_or(tlp_of(&row.tlp));
    emit_sharing(
        conn,
        tlp,
        &decision,
        NewEvent {
            event_type: "incident.review_changed",
            subject_type: "incident",
            subject_id: id,
            significant: row.significant,
            data: event_data(
                &row,
                &decision,
                serde_json::json!({"report_id": report_id, "review": {"status": input.status}}),
            ),
            recipients: audience,
        },
        serde_json::json!({"review": {"status": input.status, "comment": input.comment}}),
    )?;
    audit::record(
        conn,
        caller,
        "incident.review",
        "incident_report",
        report_id,
    )?;
    let _ = rs;
    Ok(report)
}

/// A CSIRT or authority the incident was routed to asks for an intermediate report.
pub fn request_intermediate(
    conn: &mut DbConn,
    caller: &Caller,
    rs: &RuleSet,
    id: &str,
    input: RequestInput,
) -> AppResult<IntermediateRequest> {
    db::lock_writes(conn)?;
    let row = visible(conn, caller, id)?;
    if caller.role == Role::Entity {
        return Err(AppError::ForbiddenAction(
            "intermediate reports are requested by a CSIRT or supervisory authority".into(),
        ));
    }
    if row.status == "closed" {
        return Err(AppError::Conflict(
            "incident_closed",
            "the incident is closed".into(),
        ));
    }
    let now = db::now();
    let input = RequestInput {
        due_at: db::micros(input.due_at),
        ..input
    };
    let limits = &rs.requests;
    let earliest = now + chrono::Duration::hours(limits.min_lead_hours);
    if input.due_at.naive_utc() <= now || input.due_at.naive_utc() < earliest {
        return Err(AppError::invalid(
            "/due_at",
            format!(
                "must be at least {} hours from now (not before {}): the entity needs time to \
                 answer",
                limits.min_lead_hours,
                earliest
                    .and_utc()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        ));
    }
    // A request is open until an intermediate report answers it (as the rules count them).
    let asked = requests_of(conn, id)?.len();
    let answered = reports_of(conn, id)?
        .iter()
        .filter(|r| r.stage == Stage::Intermediate.as_str())
        .count();
    if asked.saturating_sub(answered) >= limits.max_open_per_incident {
        return Err(AppError::Conflict(
            "too_many_open_requests",
            format!(
                "the incident has {} open intermediate-report requests, the most allowed; \
                 wait until the entity answers one",
                limits.max_open_per_incident
            ),
        ));
    }
    let request = IntermediateRequest {
        id: db::new_id(),
        requested_by: by(caller),
        requested_at: now.and_utc(),
        due_at: input.due_at,
        note: input.note,
    };
    diesel::insert_into(incident_requests::table)
        .values((
            incident_requests::id.eq(&request.id),
            incident_requests::incident_id.eq(id),
            incident_requests::requested_by.eq(&request.requested_by),
            incident_requests::requested_at.eq(now),
            incident_requests::due_at.eq(input.due_at.naive_utc()),
            incident_requests::note.eq(&request.note),
        ))
        .execute(conn)?;
    let row = touch(conn, &row, rs)?;
    let decision: Decision = serde_json::from_str(&row.decision)?;
    let audience = audience(conn, id, &row.entity_id)?;
    outbox::emit(
        conn,
        NewEvent {
            event_type: "incident.intermediate_requested",
            subject_type: "incident",
            subject_id: id,
            significant: row.significant,
            data: event_data(&row, &decision, serde_json::json!({"request": request})),
            recipients: audience,
        },
    )?;
    audit::record(
        conn,
        caller,
        "incident.request_intermediate",
        "incident",
        id,
    )?;
    Ok(request)
}

/// Closes an incident: it takes no more reports and owes no more deadlines.
pub fn close(conn: &mut DbConn, caller: &Caller, rs: &RuleSet, id: &str) -> AppResult<Incident> {
    db::lock_writes(conn)?;
    let row = visible(conn, caller, id)?;
    if row.status == "closed" {
        return Err(AppError::Conflict(
            "incident_closed",
            "the incident is closed already".into(),
        ));
    }
    let now = db::now();
    let mut closed = row.clone();
    closed.status = "closed".into();
    closed.closed_at = Some(now);
    let closed = touch(conn, &closed, rs)?;
    let decision: Decision = serde_json::from_str(&closed.decision)?;
    let audience = audience(conn, id, &row.entity_id)?;
    outbox::emit(
        conn,
        NewEvent {
            event_type: "incident.closed",
            subject_type: "incident",
            subject_id: id,
            significant: row.significant,
            data: event_data(&closed, &decision, serde_json::json!({})),
            recipients: audience,
        },
    )?;
    audit::record(conn, caller, "incident.close", "incident", id)?;
    Ok(for_caller(detail(conn, rs, closed, now.and_utc())?, caller))
}
