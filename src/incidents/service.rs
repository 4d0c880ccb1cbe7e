//! Incident register: every report, review and request is one transaction that stores the
//! change, the routing decision, the recipients, the open deadlines, the events and the audit
//! record together.

use super::model::*;
use crate::audit;
use crate::auth::{Caller, Role};
use crate::db::{self, DbConn};
use crate::error::{AppError, AppResult};
use crate::http::pagination::PageParams;
use crate::outbox::{self, NewEvent, Queued};
use crate::rules::deadlines::{self, Request, Stage, StageStatus, Submitted};
use crate::rules::routing::Decision;
use crate::rules::ruleset::RuleSet;
use crate::rules::significance::Impact;
use crate::schema::{
    incident_deadlines, incident_decisions, incident_recipients, incident_reports,
    incident_requests, incidents,
};
use crate::tlp;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

/// An incident as stored; also the template the load kit's seeding copies.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = incidents)]
#[diesel(treat_none_as_null = true)]
pub(crate) struct IncidentRow {
    pub(crate) id: String,
    pub(crate) reference: String,
    pub(crate) entity_id: String,
    pub(crate) sector: String,
    pub(crate) status: String,
    pub(crate) current_stage: String,
    pub(crate) aware_at: chrono::NaiveDateTime,
    pub(crate) occurred_at: chrono::NaiveDateTime,
    pub(crate) significant: bool,
    pub(crate) mandatory: bool,
    pub(crate) cross_border: bool,
    pub(crate) cross_sectoral: bool,
    pub(crate) late: bool,
    pub(crate) tlp: String,
    pub(crate) facts: String,
    pub(crate) decision: String,
    pub(crate) version: i64,
    pub(crate) created_at: chrono::NaiveDateTime,
    pub(crate) updated_at: chrono::NaiveDateTime,
    pub(crate) closed_at: Option<chrono::NaiveDateTime>,
    /// `incident`, `near_miss` or `cyber_threat`.
    pub(crate) kind: String,
    /// The entity's category when it reported.
    pub(crate) category: Option<String>,
    pub(crate) threat_type: Option<String>,
    pub(crate) root_cause_category: Option<String>,
    /// What the recurring-incident rule compares: see [`super::repo::root_cause_key`].
    pub(crate) root_cause_key: Option<String>,
    pub(crate) financial_loss_eur: Option<i64>,
}

/// What the incident's reports established so far.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Facts {
    pub(super) declared_significant: bool,
    pub(super) affected_member_states: Vec<String>,
    pub(super) affected_sectors: Vec<String>,
    pub(super) impact: Impact,
    pub(super) root_cause: Option<String>,
    pub(super) threat_type: Option<String>,
    pub(super) criteria: Vec<String>,
    pub(super) trust_service: bool,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = incident_reports)]
pub(super) struct ReportRow {
    pub(super) id: String,
    pub(super) number: i64,
    pub(super) stage: String,
    pub(super) submitted_at: chrono::NaiveDateTime,
    pub(super) submitted_by: String,
    pub(super) body: String,
    pub(super) handling_ended_at: Option<chrono::NaiveDateTime>,
    pub(super) review_status: Option<String>,
    pub(super) review_comment: Option<String>,
    pub(super) reviewed_by: Option<String>,
    pub(super) reviewed_at: Option<chrono::NaiveDateTime>,
}

impl ReportRow {
    fn stage(&self) -> Stage {
        Stage::parse(&self.stage).unwrap_or(Stage::Intermediate)
    }

    pub(super) fn submitted(&self) -> Submitted {
        Submitted {
            stage: self.stage(),
            submitted_at: self.submitted_at.and_utc(),
            handling_ended_at: self.handling_ended_at.map(|t| t.and_utc()),
        }
    }

    pub(super) fn into_api(self) -> AppResult<Report> {
        let review = match (
            self.review_status.as_deref().and_then(ReviewStatus::parse),
            self.reviewed_by,
            self.reviewed_at,
        ) {
            (Some(status), Some(by), Some(at)) => Some(Review {
                status,
                comment: self.review_comment,
                reviewed_by: by,
                reviewed_at: at.and_utc(),
            }),
            _ => None,
        };
        Ok(Report {
            stage: Stage::parse(&self.stage).unwrap_or(Stage::Intermediate),
            id: self.id,
            number: self.number,
            submitted_at: self.submitted_at.and_utc(),
            submitted_by: self.submitted_by,
            content: Some(serde_json::from_str(&self.body)?),
            review,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = incident_requests)]
pub(super) struct RequestRow {
    pub(super) id: String,
    pub(super) requested_by: String,
    pub(super) requested_at: chrono::NaiveDateTime,
    pub(super) due_at: chrono::NaiveDateTime,
    pub(super) note: String,
}

impl RequestRow {
    pub(super) fn rule(&self) -> Request {
        Request {
            id: self.id.clone(),
            requested_at: self.requested_at.and_utc(),
            due_at: self.due_at.and_utc(),
        }
    }

    pub(super) fn into_api(self) -> IntermediateRequest {
        IntermediateRequest {
            id: self.id,
            requested_by: self.requested_by,
            requested_at: self.requested_at.and_utc(),
            due_at: self.due_at.and_utc(),
            note: self.note,
        }
    }
}

pub(super) fn tlp_of(s: &str) -> Tlp {
    Tlp::parse(s).unwrap_or(Tlp::Amber)
}

pub(super) fn by(caller: &Caller) -> String {
    format!("{}/{}", caller.org, caller.sub)
}

/// The incident if the caller may see it: the national CSIRT sees all, an entity its own, a
/// CSIRT or authority those routed to it.
pub(super) fn visible(conn: &mut DbConn, caller: &Caller, id: &str) -> AppResult<IncidentRow> {
    let row: IncidentRow = incidents::table
        .find(id)
        .select(IncidentRow::as_select())
        .first(conn)?;
    let ok = match caller.role {
        Role::NationalCsirt => true,
        Role::Entity => row.entity_id == caller.org,
        Role::SectoralCsirt | Role::SupervisoryAuthority => diesel::select(diesel::dsl::exists(
            incident_recipients::table.filter(
                incident_recipients::incident_id
                    .eq(id)
                    .and(incident_recipients::org_id.eq(&caller.org)),
            ),
        ))
        .get_result(conn)?,
    };
    if ok {
        Ok(row)
    } else {
        Err(AppError::NotFound)
    }
}

pub(super) fn reports_of(conn: &mut DbConn, id: &str) -> AppResult<Vec<ReportRow>> {
    Ok(incident_reports::table
        .filter(incident_reports::incident_id.eq(id))
        .order(incident_reports::number.asc())
        .select(ReportRow::as_select())
        .load(conn)?)
}

pub(super) fn requests_of(conn: &mut DbConn, id: &str) -> AppResult<Vec<RequestRow>> {
    Ok(incident_requests::table
        .filter(incident_requests::incident_id.eq(id))
        .order(incident_requests::requested_at.asc())
        .select(RequestRow::as_select())
        .load(conn)?)
}

/// Every organisation told about the incident so far, and the entity itself.
pub(super) fn audience(conn: &mut DbConn, row_id: &str, entity_id: &str) -> AppResult<Vec<String>> {
    let mut orgs: Vec<String> = incident_recipients::table
        .filter(incident_recipients::incident_id.eq(row_id))
        .select(incident_recipients::org_id)
        .load(conn)?;
    orgs.push(entity_id.to_string());
    orgs.sort();
    orgs.dedup();
    Ok(orgs)
}

/// Replaces the open deadlines of an incident with those of its current stages; deadlines
/// already marked missed stay as they are.
pub(super) fn refresh_deadlines(
    conn: &mut DbConn,
    id: &str,
    stages: &[StageStatus],
    closed: bool,
) -> AppResult<()> {
    diesel::delete(
        incident_deadlines::table.filter(
            incident_deadlines::incident_id
                .eq(id)
                .and(incident_deadlines::missed_at.is_null()),
        ),
    )
    .execute(conn)?;
    if closed {
        return Ok(());
    }
    let missed: Vec<(String, String)> = incident_deadlines::table
        .filter(incident_deadlines::incident_id.eq(id))
        .select((incident_deadlines::stage, incident_deadlines::request_id))
        .load(conn)?;
    insert_deadlines(conn, id, stages, &missed)
}

/// Inserts the deadlines of the stages not yet submitted, but those in `missed`; a new
/// incident's deadlines, with none missed, go straight here.
pub(super) fn insert_deadlines(
    conn: &mut DbConn,
    id: &str,
    stages: &[StageStatus],
    missed: &[(String, String)],
) -> AppResult<()> {
    let mut open = vec![];
    for s in stages.iter().filter(|s| s.submitted_at.is_none()) {
        let Some(due) = s.due_at else { continue };
        let key = (
            s.stage.as_str().to_string(),
            s.request_id.clone().unwrap_or_default(),
        );
        if !missed.contains(&key) {
            open.push((key, due.naive_utc()));
        }
    }
    let rows: Vec<_> = open
        .iter()
        .map(|((stage, request_id), due)| {
            (
                incident_deadlines::incident_id.eq(id),
                incident_deadlines::stage.eq(stage),
                incident_deadlines::request_id.eq(request_id),
                incident_deadlines::due_at.eq(*due),
            )
        })
        .collect();
    crate::insert_rows!(conn, incident_deadlines::table, rows, 4);
    Ok(())
}

pub(super) fn event_data(
    row: &IncidentRow,
    decision: &Decision,
    extra: serde_json::Value,
) -> serde_json::Value {
    let mut data = serde_json::json!({
        "incident_id": row.id,
        "reference": row.reference,
        "entity_id": row.entity_id,
        "sector": row.sector,
        "stage": row.current_stage,
        "tlp": row.tlp,
        "classification": decision.classification,
        "next_obligation": decision.next_obligation,
    });
    if let (Some(d), Some(e)) = (data.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    data
}

/// The full incident as of `now`: stages are recomputed so overdue flags are current.
pub(super) fn detail(
    conn: &mut DbConn,
    rs: &RuleSet,
    row: IncidentRow,
    now: DateTime<Utc>,
) -> AppResult<Incident> {
    let reports = reports_of(conn, &row.id)?;
    let requests = requests_of(conn, &row.id)?;
    let facts: Facts = serde_json::from_str(&row.facts)?;
    let decision: Decision = serde_json::from_str(&row.decision)?;
    assemble(rs, row, &facts, decision, reports, requests, now)
}

/// The incident as the API shows it, from its row and what was read or written with it.
pub(super) fn assemble(
    rs: &RuleSet,
    row: IncidentRow,
    facts: &Facts,
    decision: Decision,
    reports: Vec<ReportRow>,
    requests: Vec<RequestRow>,
    now: DateTime<Utc>,
) -> AppResult<Incident> {
    let submitted: Vec<Submitted> = reports.iter().map(ReportRow::submitted).collect();
    let rules: Vec<Request> = requests.iter().map(RequestRow::rule).collect();
    let closed = row.status == "closed";
    let mut stages = deadlines::stages(
        rs,
        row.aware_at.and_utc(),
        facts.trust_service,
        row.mandatory,
        &submitted,
        &rules,
        now,
    );
    if closed {
        for s in &mut stages {
            s.overdue = false;
        }
    }
    let next_obligation = if closed {
        None
    } else {
        deadlines::next_obligation(&stages, row.mandatory)
    };
    Ok(Incident {
        id: row.id,
        reference: row.reference,
        entity_id: row.entity_id,
        sector: row.sector,
        status: if closed {
            IncidentStatus::Closed
        } else {
            IncidentStatus::Open
        },
        current_stage: Stage::parse(&row.current_stage).unwrap_or(Stage::EarlyWarning),
        aware_at: row.aware_at.and_utc(),
        occurred_at: row.occurred_at.and_utc(),
        tlp: tlp_of(&row.tlp),
        classification: decision.classification.clone(),
        late: stages.iter().any(|s| s.late || s.overdue),
        stages,
        next_obligation,
        decision,
        content_withheld: None,
        reports: reports
            .into_iter()
            .map(ReportRow::into_api)
            .collect::<AppResult<_>>()?,
        requests: requests.into_iter().map(RequestRow::into_api).collect(),
        version: row.version,
        created_at: row.created_at.and_utc(),
        updated_at: row.updated_at.and_utc(),
        closed_at: row.closed_at.map(|t| t.and_utc()),
    })
}

/// What `caller` may see of an incident it may see at all: the content of reports whose TLP
/// keeps it to the recipients the law requires is removed for the others (`crate::tlp`).
pub(super) fn for_caller(mut incident: Incident, caller: &Caller) -> Incident {
    if matches!(caller.role, Role::NationalCsirt)
        || (caller.role == Role::Entity && incident.entity_id == caller.org)
    {
        return incident;
    }
    let mut withheld = vec![];
    for report in &mut incident.reports {
        let tlp = report
            .content
            .as_ref()
            .and_then(|c| c.tlp)
            .unwrap_or(incident.tlp);
        if !tlp::recipient_reads_content(tlp, &incident.decision, &caller.org) {
            report.content = None;
            // The review's comment discusses the content and shares its label.
            if let Some(review) = &mut report.review {
                review.comment = None;
            }
            withheld.push(tlp.as_str());
        }
    }
    if !withheld.is_empty() {
        withheld.sort();
        withheld.dedup();
        incident.content_withheld = Some(format!(
            "TLP:{} keeps the content of {} report(s) to the recipients the law requires; \
             you were told because your sector is affected ({})",
            withheld.join(", TLP:"),
            incident
                .reports
                .iter()
                .filter(|r| r.content.is_none())
                .count(),
            tlp::BEYOND_THE_LAW
        ));
    }
    incident
}

/// Emits `event` with `content` merged into its data for the recipients that may read it;
/// those whom `tlp` keeps it from get the same event without it, marked `content_withheld`.
pub(super) fn emit_sharing(
    conn: &mut DbConn,
    tlp: Tlp,
    decision: &Decision,
    event: NewEvent,
    content: serde_json::Value,
) -> AppResult<()> {
    outbox::emit_all(conn, sharing(tlp, decision, event, content))?;
    Ok(())
}

/// The events of [`emit_sharing`], for a change that writes them with others.
pub(super) fn sharing<'a>(
    tlp: Tlp,
    decision: &Decision,
    event: NewEvent<'a>,
    content: serde_json::Value,
) -> Vec<Queued<'a>> {
    let withheld = tlp::withheld_from(tlp, decision);
    let (kept_out, told): (Vec<String>, Vec<String>) = event
        .recipients
        .iter()
        .cloned()
        .partition(|org| withheld.contains(org));
    let mut full = event.data.clone();
    if let (Some(d), Some(c)) = (full.as_object_mut(), content.as_object()) {
        d.extend(c.clone());
    }
    let mut events = vec![Queued::from(NewEvent {
        data: full,
        recipients: told,
        ..event
    })];
    if !kept_out.is_empty() {
        let mut redacted = event.data;
        if let Some(d) = redacted.as_object_mut() {
            d.insert("content_withheld".into(), serde_json::json!(true));
        }
        events.push(Queued {
            event: NewEvent {
                data: redacted,
                recipients: kept_out,
                ..event
            },
            copy_of_previous: true,
            only: None,
        });
    }
    events
}

/// Reads an incident and records the read in the audit log.
pub fn get(conn: &mut DbConn, caller: &Caller, rs: &RuleSet, id: &str) -> AppResult<Incident> {
    let row = visible(conn, caller, id)?;
    audit::record(conn, caller, "incident.read", "incident", id)?;
    Ok(for_caller(
        detail(conn, rs, row, db::now().and_utc())?,
        caller,
    ))
}

/// The routing history, newest first.
pub fn routing_history(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    page: &PageParams,
) -> AppResult<Vec<RoutingRecord>> {
    visible(conn, caller, id)?;
    audit::record(conn, caller, "incident.read_routing", "incident", id)?;
    let mut q = incident_decisions::table
        .filter(incident_decisions::incident_id.eq(id))
        .select((
            incident_decisions::number,
            incident_decisions::report_id,
            incident_decisions::decided_at,
            incident_decisions::decision,
        ))
        .into_boxed();
    if let Some(after) = &page.after {
        let n: i64 = after.parse().map_err(|_| {
            AppError::bad_request(
                "invalid_cursor",
                "the cursor is not one this service issued",
            )
        })?;
        q = q.filter(incident_decisions::number.lt(n));
    }
    let rows: Vec<(i64, Option<String>, chrono::NaiveDateTime, String)> = q
        .order(incident_decisions::number.desc())
        .limit(page.limit + 1)
        .load(conn)?;
    rows.into_iter()
        .map(|(number, report_id, at, d)| {
            Ok(RoutingRecord {
                number,
                report_id,
                decided_at: at.and_utc(),
                decision: serde_json::from_str(&d)?,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub entity_id: Option<String>,
    pub sector: Option<String>,
    pub stage: Option<Stage>,
    pub significant: Option<bool>,
    pub cross_border: Option<bool>,
    pub late: Option<bool>,
    pub status: Option<IncidentStatus>,
    pub updated_since: Option<chrono::NaiveDateTime>,
}

pub fn list(
    conn: &mut DbConn,
    caller: &Caller,
    page: &PageParams,
    f: Filters,
) -> AppResult<Vec<IncidentSummary>> {
    let mut q = incidents::table
        .select(IncidentRow::as_select())
        .into_boxed();
    match caller.role {
        Role::NationalCsirt => {}
        Role::Entity => q = q.filter(incidents::entity_id.eq(caller.org.clone())),
        Role::SectoralCsirt | Role::SupervisoryAuthority => {
            q = q.filter(
                incidents::id.eq_any(
                    incident_recipients::table
                        .filter(incident_recipients::org_id.eq(caller.org.clone()))
                        .select(incident_recipients::incident_id),
                ),
            )
        }
    }
    if let Some(after) = &page.after {
        q = q.filter(incidents::id.gt(after.clone()));
    }
    if let Some(e) = f.entity_id {
        q = q.filter(incidents::entity_id.eq(e));
    }
    if let Some(s) = f.sector {
        q = q.filter(
            incidents::sector
                .eq(s.clone())
                .or(incidents::sector.like(format!("{s}.%"))),
        );
    }
    if let Some(s) = f.stage {
        q = q.filter(incidents::current_stage.eq(s.as_str()));
    }
    if let Some(b) = f.significant {
        q = q.filter(incidents::significant.eq(b));
    }
    if let Some(b) = f.cross_border {
        q = q.filter(incidents::cross_border.eq(b));
    }
    if let Some(b) = f.late {
        q = q.filter(incidents::late.eq(b));
    }
    if let Some(s) = f.status {
        q = q.filter(incidents::status.eq(if s == IncidentStatus::Closed {
            "closed"
        } else {
            "open"
        }));
    }
    if let Some(since) = f.updated_since {
        q = q.filter(incidents::updated_at.ge(since));
    }
    let rows: Vec<IncidentRow> = q
        .order(incidents::id.asc())
        .limit(page.limit + 1)
        .load(conn)?;
    rows.into_iter()
        .map(|r| {
            let decision: Decision = serde_json::from_str(&r.decision)?;
            let closed = r.status == "closed";
            Ok(IncidentSummary {
                status: if closed {
                    IncidentStatus::Closed
                } else {
                    IncidentStatus::Open
                },
                current_stage: Stage::parse(&r.current_stage).unwrap_or(Stage::EarlyWarning),
                tlp: tlp_of(&r.tlp),
                next_obligation: if closed {
                    None
                } else {
                    decision.next_obligation
                },
                id: r.id,
                reference: r.reference,
                entity_id: r.entity_id,
                sector: r.sector,
                significant: r.significant,
                mandatory: r.mandatory,
                cross_border: r.cross_border,
                cross_sectoral: r.cross_sectoral,
                late: r.late,
                created_at: r.created_at.and_utc(),
                updated_at: r.updated_at.and_utc(),
            })
        })
        .collect()
}

/// The entity id and audience of an incident, for the deadline sweep.
pub(crate) fn sweep_audience(
    conn: &mut DbConn,
    id: &str,
) -> AppResult<(IncidentSnapshot, Vec<String>)> {
    let row: IncidentRow = incidents::table
        .find(id)
        .select(IncidentRow::as_select())
        .first(conn)?;
    let audience = audience(conn, id, &row.entity_id)?;
    diesel::update(incidents::table.find(id))
        .set((
            incidents::late.eq(true),
            incidents::updated_at.eq(db::now()),
        ))
        .execute(conn)?;
    let decision: Decision = serde_json::from_str(&row.decision)?;
    let data = event_data(&row, &decision, serde_json::json!({}));
    Ok((
        IncidentSnapshot {
            significant: row.significant,
            data,
        },
        audience,
    ))
}

pub(crate) struct IncidentSnapshot {
    pub significant: bool,
    pub data: serde_json::Value,
}
