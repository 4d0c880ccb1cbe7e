//! Incident register: every report, review and request is one transaction that stores the
//! change, the routing decision, the recipients, the open deadlines, the events and the audit
//! record together.

use super::model::*;
use crate::audit;
use crate::auth::{Caller, Role};
use crate::db::{self, DbConn};
use crate::directory::load_directory;
use crate::entities::model::{Entity, EntityStatus};
use crate::error::{AppError, AppResult, FieldError};
use crate::http::pagination::PageParams;
use crate::outbox::{self, NewEvent};
use crate::rules::category::Category;
use crate::rules::coverage::DirectoryOrg;
use crate::rules::deadlines::{self, Request, Stage, StageStatus, Submitted};
use crate::rules::routing::{self, Decision, EntityFacts, IncidentFacts, Input};
use crate::rules::ruleset::RuleSet;
use crate::rules::significance::{Impact, PastIncident};
use crate::schema::{
    counters, incident_deadlines, incident_decisions, incident_recipients, incident_reports,
    incident_requests, incidents,
};
use crate::tlp;
use chrono::{DateTime, Datelike, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = incidents)]
#[diesel(treat_none_as_null = true)]
struct IncidentRow {
    id: String,
    reference: String,
    entity_id: String,
    sector: String,
    status: String,
    current_stage: String,
    aware_at: chrono::NaiveDateTime,
    occurred_at: chrono::NaiveDateTime,
    significant: bool,
    mandatory: bool,
    cross_border: bool,
    cross_sectoral: bool,
    late: bool,
    tlp: String,
    facts: String,
    decision: String,
    version: i64,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    closed_at: Option<chrono::NaiveDateTime>,
    /// `incident`, `near_miss` or `cyber_threat`.
    kind: String,
    /// The entity's category when it reported.
    category: Option<String>,
    threat_type: Option<String>,
    root_cause_category: Option<String>,
}

/// What the incident's reports established so far.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Facts {
    declared_significant: bool,
    affected_member_states: Vec<String>,
    affected_sectors: Vec<String>,
    impact: Impact,
    root_cause: Option<String>,
    threat_type: Option<String>,
    criteria: Vec<String>,
    trust_service: bool,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = incident_reports)]
struct ReportRow {
    id: String,
    number: i64,
    stage: String,
    submitted_at: chrono::NaiveDateTime,
    submitted_by: String,
    body: String,
    handling_ended_at: Option<chrono::NaiveDateTime>,
    review_status: Option<String>,
    review_comment: Option<String>,
    reviewed_by: Option<String>,
    reviewed_at: Option<chrono::NaiveDateTime>,
}

impl ReportRow {
    fn stage(&self) -> Stage {
        Stage::parse(&self.stage).unwrap_or(Stage::Intermediate)
    }

    fn submitted(&self) -> Submitted {
        Submitted {
            stage: self.stage(),
            submitted_at: self.submitted_at.and_utc(),
            handling_ended_at: self.handling_ended_at.map(|t| t.and_utc()),
        }
    }

    fn into_api(self) -> AppResult<Report> {
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
struct RequestRow {
    id: String,
    requested_by: String,
    requested_at: chrono::NaiveDateTime,
    due_at: chrono::NaiveDateTime,
    note: String,
}

impl RequestRow {
    fn rule(&self) -> Request {
        Request {
            id: self.id.clone(),
            requested_at: self.requested_at.and_utc(),
            due_at: self.due_at.and_utc(),
        }
    }

    fn into_api(self) -> IntermediateRequest {
        IntermediateRequest {
            id: self.id,
            requested_by: self.requested_by,
            requested_at: self.requested_at.and_utc(),
            due_at: self.due_at.and_utc(),
            note: self.note,
        }
    }
}

fn tlp_of(s: &str) -> Tlp {
    Tlp::parse(s).unwrap_or(Tlp::Amber)
}

fn by(caller: &Caller) -> String {
    format!("{}/{}", caller.org, caller.sub)
}

/// The incident if the caller may see it: the national CSIRT sees all, an entity its own, a
/// CSIRT or authority those routed to it.
fn visible(conn: &mut DbConn, caller: &Caller, id: &str) -> AppResult<IncidentRow> {
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

fn reports_of(conn: &mut DbConn, id: &str) -> AppResult<Vec<ReportRow>> {
    Ok(incident_reports::table
        .filter(incident_reports::incident_id.eq(id))
        .order(incident_reports::number.asc())
        .select(ReportRow::as_select())
        .load(conn)?)
}

fn requests_of(conn: &mut DbConn, id: &str) -> AppResult<Vec<RequestRow>> {
    Ok(incident_requests::table
        .filter(incident_requests::incident_id.eq(id))
        .order(incident_requests::requested_at.asc())
        .select(RequestRow::as_select())
        .load(conn)?)
}

/// Every organisation told about the incident so far, and the entity itself.
fn audience(conn: &mut DbConn, row_id: &str, entity_id: &str) -> AppResult<Vec<String>> {
    let mut orgs: Vec<String> = incident_recipients::table
        .filter(incident_recipients::incident_id.eq(row_id))
        .select(incident_recipients::org_id)
        .load(conn)?;
    orgs.push(entity_id.to_string());
    orgs.sort();
    orgs.dedup();
    Ok(orgs)
}

/// `INC-<year>-<number>`, numbered per year under the write lock.
fn next_reference(conn: &mut DbConn, now: DateTime<Utc>) -> AppResult<String> {
    db::lock_writes(conn)?;
    let name = format!("incident-{}", now.year());
    let current: Option<i64> = counters::table
        .find(&name)
        .select(counters::value)
        .first(conn)
        .optional()?;
    let next = current.unwrap_or(0) + 1;
    if current.is_some() {
        diesel::update(counters::table.find(&name))
            .set(counters::value.eq(next))
            .execute(conn)?;
    } else {
        diesel::insert_into(counters::table)
            .values((counters::name.eq(&name), counters::value.eq(next)))
            .execute(conn)?;
    }
    Ok(format!("INC-{}-{next:06}", now.year()))
}

/// Earlier incidents of the entity within the recurring-incident window.
fn past_incidents(
    conn: &mut DbConn,
    rs: &RuleSet,
    entity_id: &str,
    except: Option<&str>,
    occurred: DateTime<Utc>,
) -> AppResult<Vec<PastIncident>> {
    let since = crate::time::sub_days(occurred, rs.general.recurring_window_days)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
        .naive_utc();
    let rows: Vec<(String, chrono::NaiveDateTime, String)> = incidents::table
        .filter(
            incidents::entity_id
                .eq(entity_id)
                .and(incidents::occurred_at.ge(since)),
        )
        .select((incidents::id, incidents::occurred_at, incidents::facts))
        .order(incidents::occurred_at.desc())
        .limit(200)
        .load(conn)?;
    rows.into_iter()
        .filter(|(id, _, _)| Some(id.as_str()) != except)
        .map(|(_, at, facts)| {
            let f: Facts = serde_json::from_str(&facts)?;
            Ok(PastIncident {
                occurred_at: at.and_utc(),
                root_cause: f.root_cause,
                financial_loss_eur: f.impact.financial_loss_eur,
            })
        })
        .collect()
}

fn entity_facts(entity: &Entity) -> EntityFacts<'_> {
    EntityFacts {
        country: &entity.input.country,
        sectors: entity.input.all_sectors().collect(),
        in_scope: entity.category != Category::OutOfScope,
        annual_turnover_eur: entity.input.annual_turnover_eur,
    }
}

/// Replaces the open deadlines of an incident with those of its current stages; deadlines
/// already marked missed stay as they are.
fn refresh_deadlines(
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
    for s in stages.iter().filter(|s| s.submitted_at.is_none()) {
        let Some(due) = s.due_at else { continue };
        let key = (
            s.stage.as_str().to_string(),
            s.request_id.clone().unwrap_or_default(),
        );
        if missed.contains(&key) {
            continue;
        }
        diesel::insert_into(incident_deadlines::table)
            .values((
                incident_deadlines::incident_id.eq(id),
                incident_deadlines::stage.eq(&key.0),
                incident_deadlines::request_id.eq(&key.1),
                incident_deadlines::due_at.eq(due.naive_utc()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

fn event_data(
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

/// What situational awareness counts by, kept as columns of the incident.
struct AwarenessColumns {
    kind: Kind,
    root_cause_category: Option<String>,
}

/// The kind is fixed by the first report; a later report's root-cause category replaces an
/// earlier one, as its free-text root cause does.
fn awareness_columns(existing: Option<&IncidentRow>, input: &ReportInput) -> AwarenessColumns {
    AwarenessColumns {
        kind: existing
            .and_then(|r| Kind::parse(&r.kind))
            .or(input.kind)
            .unwrap_or_default(),
        root_cause_category: input
            .root_cause_category
            .map(|c| c.as_str().to_string())
            .or_else(|| existing.and_then(|r| r.root_cause_category.clone())),
    }
}

/// Records a reporter outside the register (Art. 30) for its first voluntary notification: an
/// entity out of the scope of NIS2, in the report's transaction. Only the national CSIRT
/// records one; an organisation that NIS2 covers must be registered as an entity instead.
fn record_reporter(
    conn: &mut DbConn,
    caller: &Caller,
    reporter: crate::entities::model::EntityInput,
    dir: &[DirectoryOrg],
) -> AppResult<Entity> {
    if caller.role != Role::NationalCsirt {
        return Err(AppError::ForbiddenAction(
            "only the national CSIRT records a reporter outside the register".into(),
        ));
    }
    let derived = crate::entities::service::derive(&reporter, dir);
    if derived.category != Category::OutOfScope {
        return Err(AppError::invalid(
            "/reporter",
            format!(
                "NIS2 covers this organisation (it would be {}): register it as an entity and report with its entity_id",
                derived.category.as_str()
            ),
        ));
    }
    crate::entities::service::create(conn, caller, reporter)
}

/// Records a report: the first one (`incident_id` = `None`) opens the incident.
pub fn report(
    conn: &mut DbConn,
    caller: &Caller,
    rs: &RuleSet,
    incident_id: Option<&str>,
    mut input: ReportInput,
) -> AppResult<Incident> {
    db::lock_writes(conn)?;
    let now = db::now().and_utc();
    if !matches!(caller.role, Role::Entity | Role::NationalCsirt) {
        return Err(AppError::ForbiddenAction(
            "incidents are reported by the entity itself or the national CSIRT".into(),
        ));
    }
    let dir = load_directory(conn)?;
    let (existing, entity) = match incident_id {
        None if input.reporter.is_some() => {
            let reporter = input.reporter.take().expect("the guard saw a reporter");
            let entity = record_reporter(conn, caller, reporter, &dir)?;
            // The stored report names the record, as every first report names its entity.
            input.entity_id = Some(entity.id.clone());
            (None, entity)
        }
        None => {
            let no_entity = || {
                AppError::Validation(vec![FieldError::new(
                    "/entity_id",
                    "no registered entity you may report for has this id",
                )])
            };
            let entity_id = crate::http::parse_id(input.entity_id.as_deref().unwrap_or_default())
                .map_err(|_| no_entity())?;
            if caller.role == Role::Entity && caller.org != entity_id {
                return Err(no_entity());
            }
            let entity = match crate::entities::service::load(conn, &entity_id, &dir) {
                Err(AppError::NotFound) => return Err(no_entity()),
                other => other?,
            };
            if entity.status == EntityStatus::Deregistered {
                return Err(AppError::Conflict(
                    "entity_deregistered",
                    "the entity is deregistered".into(),
                ));
            }
            (None, entity)
        }
        Some(id) => {
            let row = visible(conn, caller, id)?;
            if row.status == "closed" {
                return Err(AppError::Conflict(
                    "incident_closed",
                    "the incident is closed; it takes no more reports".into(),
                ));
            }
            let entity = crate::entities::service::load(conn, &row.entity_id, &dir)?;
            (Some(row), entity)
        }
    };
    let id = existing
        .as_ref()
        .map(|r| r.id.clone())
        .unwrap_or_else(db::new_id);
    let report_rows = if existing.is_some() {
        reports_of(conn, &id)?
    } else {
        vec![]
    };
    let request_rows = if existing.is_some() {
        requests_of(conn, &id)?
    } else {
        vec![]
    };
    let earlier: Vec<Submitted> = report_rows.iter().map(ReportRow::submitted).collect();
    let requests: Vec<Request> = request_rows.iter().map(RequestRow::rule).collect();
    let answered = earlier
        .iter()
        .filter(|r| r.stage == Stage::Intermediate)
        .count();
    let open_requests = requests.len().saturating_sub(answered);

    let mut facts: Facts = match &existing {
        Some(row) => serde_json::from_str(&row.facts)?,
        None => Facts {
            trust_service: entity
                .input
                .all_sectors()
                .any(|s| s == "digital_infrastructure.trust_services"),
            ..Default::default()
        },
    };
    facts.declared_significant |= input.significant;
    for m in &input.affected_member_states {
        if !facts.affected_member_states.contains(m) {
            facts.affected_member_states.push(m.clone());
        }
    }
    for s in &input.affected_sectors {
        if !facts.affected_sectors.contains(s) {
            facts.affected_sectors.push(s.clone());
        }
    }
    facts.impact = input.impact.clone();
    if input.root_cause.is_some() {
        facts.root_cause = input.root_cause.clone();
    }
    if input.threat_type.is_some() {
        facts.threat_type = input.threat_type.clone();
    }
    let awareness = awareness_columns(existing.as_ref(), &input);
    let aware_at = existing
        .as_ref()
        .map(|r| r.aware_at.and_utc())
        .or(input.aware_at)
        .unwrap_or(now);
    let occurred_at = existing
        .as_ref()
        .map(|r| r.occurred_at.and_utc())
        .or(input.occurred_at)
        .unwrap_or(aware_at);
    let past = past_incidents(conn, rs, &entity.id, Some(&id), occurred_at)?;
    let mut all_reports = earlier.clone();
    all_reports.push(Submitted {
        stage: input.stage,
        submitted_at: now,
        handling_ended_at: input.handling_ended_at,
    });

    let decision = routing::decide(&Input {
        rules: rs,
        directory: &dir,
        entity: entity_facts(&entity),
        incident: IncidentFacts {
            stage: input.stage,
            kind: awareness.kind,
            aware_at,
            occurred_at,
            declared_significant: facts.declared_significant,
            affected_member_states: &facts.affected_member_states,
            affected_sectors: &facts.affected_sectors,
            impact: &facts.impact,
            root_cause: facts.root_cause.as_deref(),
            earlier_criteria: &facts.criteria,
        },
        past_incidents: &past,
        reports: &all_reports,
        requests: &requests,
        now,
    });
    deadlines::check_order(
        input.stage,
        decision.classification.mandatory,
        &earlier,
        open_requests,
        false,
    )
    .map_err(|m| AppError::Conflict("stage_out_of_order", m))?;
    facts.criteria = decision.classification.significance_criteria.clone();

    let cl = &decision.classification;
    let late = decision.stages.iter().any(|s| s.late || s.overdue);
    let tlp = input
        .tlp
        .or(existing.as_ref().map(|r| tlp_of(&r.tlp)))
        .unwrap_or(Tlp::Amber);
    let now_naive = now.naive_utc();
    let row = IncidentRow {
        id: id.clone(),
        reference: match &existing {
            Some(r) => r.reference.clone(),
            None => next_reference(conn, now)?,
        },
        entity_id: entity.id.clone(),
        sector: entity.input.sector.clone(),
        status: "open".into(),
        current_stage: input.stage.as_str().into(),
        aware_at: aware_at.naive_utc(),
        occurred_at: occurred_at.naive_utc(),
        significant: cl.significant,
        mandatory: cl.mandatory,
        cross_border: cl.cross_border,
        cross_sectoral: cl.cross_sectoral,
        late,
        tlp: tlp.as_str().into(),
        facts: serde_json::to_string(&facts)?,
        decision: serde_json::to_string(&decision)?,
        version: existing.as_ref().map(|r| r.version + 1).unwrap_or(1),
        created_at: existing.as_ref().map(|r| r.created_at).unwrap_or(now_naive),
        updated_at: now_naive,
        closed_at: None,
        kind: awareness.kind.as_str().into(),
        category: Some(entity.category.as_str().into()),
        threat_type: facts.threat_type.clone(),
        root_cause_category: awareness.root_cause_category,
    };
    match &existing {
        None => {
            diesel::insert_into(incidents::table)
                .values(&row)
                .execute(conn)?;
        }
        Some(old) => {
            let n = diesel::update(
                incidents::table
                    .find(&id)
                    .filter(incidents::version.eq(old.version)),
            )
            .set(&row)
            .execute(conn)?;
            if n != 1 {
                return Err(AppError::Conflict(
                    "incident_changed",
                    "the incident changed at the same time; send the report again".into(),
                ));
            }
        }
    }
    let report_id = db::new_id();
    diesel::insert_into(incident_reports::table)
        .values((
            incident_reports::id.eq(&report_id),
            incident_reports::incident_id.eq(&id),
            incident_reports::number.eq(report_rows.len() as i64 + 1),
            incident_reports::stage.eq(input.stage.as_str()),
            incident_reports::submitted_at.eq(now_naive),
            incident_reports::submitted_by.eq(by(caller)),
            incident_reports::body.eq(serde_json::to_string(&input)?),
            incident_reports::handling_ended_at.eq(input.handling_ended_at.map(|t| t.naive_utc())),
        ))
        .execute(conn)?;
    let decisions: i64 = incident_decisions::table
        .filter(incident_decisions::incident_id.eq(&id))
        .count()
        .get_result(conn)?;
    diesel::insert_into(incident_decisions::table)
        .values((
            incident_decisions::incident_id.eq(&id),
            incident_decisions::number.eq(decisions + 1),
            incident_decisions::report_id.eq(Some(&report_id)),
            incident_decisions::decided_at.eq(now_naive),
            incident_decisions::decision.eq(&row.decision),
        ))
        .execute(conn)?;
    let known: Vec<(String, String)> = incident_recipients::table
        .filter(incident_recipients::incident_id.eq(&id))
        .select((incident_recipients::org_id, incident_recipients::role))
        .load(conn)?;
    let mut added = vec![];
    for r in &decision.recipients {
        if known
            .iter()
            .any(|(o, role)| *o == r.organisation_id && role == r.role.as_str())
        {
            continue;
        }
        diesel::insert_into(incident_recipients::table)
            .values((
                incident_recipients::incident_id.eq(&id),
                incident_recipients::org_id.eq(&r.organisation_id),
                incident_recipients::role.eq(r.role.as_str()),
                incident_recipients::since.eq(now_naive),
            ))
            .execute(conn)?;
        added.push(r.clone());
    }
    refresh_deadlines(conn, &id, &decision.stages, false)?;

    let first = existing.is_none();
    let audience = audience(conn, &id, &entity.id)?;
    // New recipients first learn that the incident is theirs, then what was reported.
    if !added.is_empty() {
        outbox::emit(
            conn,
            NewEvent {
                event_type: "incident.routed",
                subject_type: "incident",
                subject_id: &id,
                significant: cl.significant,
                data: event_data(
                    &row,
                    &decision,
                    serde_json::json!({"added_recipients": added, "decision": decision}),
                ),
                recipients: added.iter().map(|r| r.organisation_id.clone()).collect(),
            },
        )?;
    }
    emit_sharing(
        conn,
        tlp,
        &decision,
        NewEvent {
            event_type: if first {
                "incident.reported"
            } else {
                "incident.report_added"
            },
            subject_type: "incident",
            subject_id: &id,
            significant: cl.significant,
            data: event_data(&row, &decision, serde_json::json!({"report_id": report_id})),
            recipients: audience,
        },
        serde_json::json!({"summary": input.summary}),
    )?;
    audit::record(
        conn,
        caller,
        if first {
            "incident.report"
        } else {
            "incident.report_added"
        },
        "incident",
        &id,
    )?;
    Ok(for_caller(detail(conn, rs, row, now)?, caller))
}

/// The full incident as of `now`: stages are recomputed so overdue flags are current.
fn detail(
    conn: &mut DbConn,
    rs: &RuleSet,
    row: IncidentRow,
    now: DateTime<Utc>,
) -> AppResult<Incident> {
    let reports = reports_of(conn, &row.id)?;
    let requests = requests_of(conn, &row.id)?;
    let facts: Facts = serde_json::from_str(&row.facts)?;
    let decision: Decision = serde_json::from_str(&row.decision)?;
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
fn for_caller(mut incident: Incident, caller: &Caller) -> Incident {
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
fn emit_sharing(
    conn: &mut DbConn,
    tlp: Tlp,
    decision: &Decision,
    event: NewEvent,
    content: serde_json::Value,
) -> AppResult<()> {
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
    let full_seq = outbox::emit(
        conn,
        NewEvent {
            data: full,
            recipients: told,
            ..event
        },
    )?;
    if !kept_out.is_empty() {
        let mut redacted = event.data.clone();
        if let Some(d) = redacted.as_object_mut() {
            d.insert("content_withheld".into(), serde_json::json!(true));
        }
        outbox::emit_copy(
            conn,
            NewEvent {
                data: redacted,
                recipients: kept_out,
                ..event
            },
            full_seq,
        )?;
    }
    Ok(())
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

/// A dry run of the rules: nothing is stored.
pub fn evaluate(
    conn: &mut DbConn,
    caller: &Caller,
    rs: &RuleSet,
    input: EvaluateInput,
) -> AppResult<Decision> {
    let dir: Vec<DirectoryOrg> = load_directory(conn)?;
    let now = db::now().and_utc();
    let check_codes = |e: &mut Vec<FieldError>| {
        for (i, m) in input.affected_member_states.iter().enumerate() {
            if !crate::entities::model::MEMBER_STATES.contains(&m.as_str()) {
                e.push(FieldError::new(
                    format!("/affected_member_states/{i}"),
                    format!("`{m}` is not an EU member state code"),
                ));
            }
        }
        for (i, s) in input.affected_sectors.iter().enumerate() {
            if crate::directory::sectors::find(s).is_none() {
                e.push(FieldError::new(
                    format!("/affected_sectors/{i}"),
                    format!("`{s}` is not a sector code"),
                ));
            }
        }
    };
    let mut errors = vec![];
    check_codes(&mut errors);
    let (country, sectors, in_scope, turnover, past) = match (&input.entity_id, &input.entity) {
        (Some(id), None) => {
            let entity = crate::http::parse_id(id)
                .and_then(|id| crate::entities::service::get(conn, caller, &id))
                .map_err(|_| {
                    AppError::invalid("/entity_id", "no registered entity you may see has this id")
                })?;
            let past = past_incidents(conn, rs, &entity.id, None, now)?;
            let sectors: Vec<String> = entity.input.all_sectors().map(String::from).collect();
            (
                entity.input.country.clone(),
                sectors,
                entity.category != Category::OutOfScope,
                entity.input.annual_turnover_eur,
                past,
            )
        }
        (None, Some(h)) => {
            if !crate::entities::model::MEMBER_STATES.contains(&h.country.as_str()) {
                errors.push(FieldError::new(
                    "/entity/country",
                    "is not an EU member state code",
                ));
            }
            for (i, s) in std::iter::once(&h.sector)
                .chain(h.additional_sectors.iter())
                .enumerate()
            {
                if crate::directory::sectors::find(s).is_none() {
                    let p = if i == 0 {
                        "/entity/sector".to_string()
                    } else {
                        format!("/entity/additional_sectors/{}", i - 1)
                    };
                    errors.push(FieldError::new(p, format!("`{s}` is not a sector code")));
                }
            }
            let sectors: Vec<String> = std::iter::once(h.sector.clone())
                .chain(h.additional_sectors.iter().cloned())
                .collect();
            (
                h.country.clone(),
                sectors,
                h.category != Category::OutOfScope,
                h.annual_turnover_eur,
                vec![],
            )
        }
        _ => {
            return Err(AppError::invalid(
                "",
                "give either entity_id or entity, not both or neither",
            ))
        }
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let aware_at = input.aware_at.map(db::micros).unwrap_or(now);
    let decision = routing::decide(&Input {
        rules: rs,
        directory: &dir,
        entity: EntityFacts {
            country: &country,
            sectors: sectors.iter().map(String::as_str).collect(),
            in_scope,
            annual_turnover_eur: turnover,
        },
        incident: IncidentFacts {
            stage: input.stage,
            kind: input.kind,
            aware_at,
            occurred_at: aware_at,
            declared_significant: input.significant,
            affected_member_states: &input.affected_member_states,
            affected_sectors: &input.affected_sectors,
            impact: &input.impact,
            root_cause: input.root_cause.as_deref(),
            earlier_criteria: &[],
        },
        past_incidents: &past,
        reports: &[Submitted {
            stage: input.stage,
            submitted_at: now,
            handling_ended_at: None,
        }],
        requests: &[],
        now,
    });
    Ok(decision)
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
