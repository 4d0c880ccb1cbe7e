//! Reports: the first one opens an incident (recording a reporter outside the register when
//! it comes with one), later ones add to it; each runs the rules engine and stores the report,
//! the routing decision, the recipients, the deadlines and the events in one transaction. And
//! the dry run of the rules, which stores nothing.

use super::model::*;
use super::service::*;
use crate::audit;
use crate::auth::{Caller, Role};
use crate::db::{self, DbConn};
use crate::directory::load_directory;
use crate::entities::model::{Entity, EntityStatus};
use crate::error::{AppError, AppResult, FieldError};
use crate::outbox::{self, NewEvent, Queued};
use crate::rules::category::Category;
use crate::rules::coverage::DirectoryOrg;
use crate::rules::deadlines::{self, Request, Stage, Submitted};
use crate::rules::routing::{self, Decision, EntityFacts, IncidentFacts, Input};
use crate::rules::ruleset::RuleSet;
use crate::rules::significance::PastIncident;
use crate::schema::{incident_decisions, incident_recipients, incident_reports, incidents};
use chrono::{DateTime, Datelike, Utc};
use diesel::prelude::*;

/// The entity's earlier incidents that the recurring-incident rule (IR 2024/2690 Art. 4) can
/// count with this one: the same root cause (as the rule compares it, by
/// [`super::repo::root_cause_key`]), occurred within the window before `occurred`. Read from
/// the index `incidents_recurring` alone; nothing when the report names no root cause.
///
/// With `reader` (a dry run), only the incidents whose root cause and loss that caller may
/// read count: the dry run answers with the rule that fired, so history it may not read
/// would let a caller recover another organisation's root cause by guessing and its loss by
/// bisection. A report itself (no `reader`) counts the entity's whole history, as the law
/// does.
fn past_incidents(
    conn: &mut DbConn,
    rs: &RuleSet,
    entity_id: &str,
    except: Option<&str>,
    occurred: DateTime<Utc>,
    root_cause: Option<&str>,
    reader: Option<&Caller>,
) -> AppResult<Vec<PastIncident>> {
    let Some(key) = super::repo::root_cause_key(root_cause) else {
        return Ok(vec![]);
    };
    let since = crate::time::sub_days(occurred, rs.general.recurring_window_days)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
        .naive_utc();
    let rows: Vec<(String, chrono::NaiveDateTime, Option<i64>)> = incidents::table
        .filter(
            incidents::entity_id
                .eq(entity_id)
                .and(incidents::root_cause_key.eq(&key))
                .and(incidents::occurred_at.ge(since))
                .and(incidents::occurred_at.le(occurred.naive_utc())),
        )
        .select((
            incidents::id,
            incidents::occurred_at,
            incidents::financial_loss_eur,
        ))
        .order(incidents::occurred_at.desc())
        .limit(200)
        .load(conn)?;
    let rows = match reader {
        Some(caller) => readable_history(conn, caller, rows)?,
        None => rows,
    };
    Ok(rows
        .into_iter()
        .filter(|(id, _, _)| Some(id.as_str()) != except)
        .map(|(_, at, loss)| PastIncident {
            occurred_at: at.and_utc(),
            // Same key, same root cause as the rule compares them.
            root_cause: root_cause.map(str::to_string),
            financial_loss_eur: loss.and_then(|l| u64::try_from(l).ok()),
        })
        .collect())
}

/// The incidents of `rows` whose reported content `caller` reads in full, by the rules of
/// `GET /api/v1/incidents/{id}`: the national CSIRT every incident, an entity its own (a dry
/// run names an entity the caller may see, which for an entity is itself); a sectoral CSIRT
/// or supervisory authority only the incidents it was told of, and of those under
/// `AMBER+STRICT` or `RED` (the incident's label or any report's) only the ones where a rule
/// the law requires names it (`crate::tlp::recipient_reads_content`) — a CSIRT told only
/// because its sector is affected does not read the root cause.
fn readable_history<T>(
    conn: &mut DbConn,
    caller: &Caller,
    rows: Vec<(String, T, Option<i64>)>,
) -> AppResult<Vec<(String, T, Option<i64>)>> {
    if matches!(caller.role, Role::NationalCsirt | Role::Entity) || rows.is_empty() {
        return Ok(rows);
    }
    let ids: Vec<&str> = rows.iter().map(|(id, _, _)| id.as_str()).collect();
    let told: Vec<(String, String, String)> = incidents::table
        .filter(incidents::id.eq_any(&ids))
        .filter(
            incidents::id.eq_any(
                incident_recipients::table
                    .filter(incident_recipients::org_id.eq(&caller.org))
                    .select(incident_recipients::incident_id),
            ),
        )
        .select((incidents::id, incidents::tlp, incidents::decision))
        .load(conn)?;
    let mut readable = vec![];
    let mut unless_strict = vec![];
    for (id, label, decision) in told {
        let decision: Decision = serde_json::from_str(&decision)?;
        if crate::tlp::recipient_reads_content(Tlp::Red, &decision, &caller.org) {
            readable.push(id);
        } else if !tlp_of(&label).keeps_content_to_required_recipients() {
            unless_strict.push(id);
        }
    }
    if !unless_strict.is_empty() {
        let bodies: Vec<(String, String)> = incident_reports::table
            .filter(incident_reports::incident_id.eq_any(&unless_strict))
            .select((incident_reports::incident_id, incident_reports::body))
            .load(conn)?;
        let strict: Vec<String> = bodies
            .into_iter()
            .filter(|(_, body)| {
                serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|b| b.get("tlp").and_then(|t| t.as_str()).and_then(Tlp::parse))
                    .is_some_and(Tlp::keeps_content_to_required_recipients)
            })
            .map(|(id, _)| id)
            .collect();
        readable.extend(unless_strict.into_iter().filter(|id| !strict.contains(id)));
    }
    Ok(rows
        .into_iter()
        .filter(|(id, _, _)| readable.contains(id))
        .collect())
}

fn entity_facts(entity: &Entity) -> EntityFacts<'_> {
    EntityFacts {
        country: &entity.input.country,
        sectors: entity.input.all_sectors().collect(),
        in_scope: entity.category != Category::OutOfScope,
        annual_turnover_eur: entity.input.annual_turnover_eur,
    }
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

/// What a report decides, read and computed before anything is written.
struct Prepared {
    existing: Option<IncidentRow>,
    entity: Entity,
    id: String,
    /// The incident's reports and information requests so far (none for a new incident).
    report_rows: Vec<ReportRow>,
    request_rows: Vec<RequestRow>,
    facts: Facts,
    awareness: AwarenessColumns,
    aware_at: DateTime<Utc>,
    occurred_at: DateTime<Utc>,
    decision: Decision,
    tlp: Tlp,
}

/// Records a report: the first one (`incident_id` = `None`) opens the incident.
///
/// Every read and the rules come first, without the write lock, which is taken only for what
/// must be ordered: the reference, the events and the audit record, then the commit
/// (docs/ARCHITECTURE.md, "The write lock is taken last"). Two things keep the reads current:
/// on PostgreSQL the entity's row is locked before it is read, so the reports of one entity
/// (and its updates) take turns and each sees the incidents of the one before — which the
/// recurring-incident rule counts; and a report on an existing incident checks its version
/// once it holds the write lock, and decides again if a review or request came in between
/// (under the lock nothing can change it any more).
pub fn report(
    conn: &mut DbConn,
    caller: &Caller,
    rs: &RuleSet,
    incident_id: Option<&str>,
    mut input: ReportInput,
) -> AppResult<Incident> {
    if !matches!(caller.role, Role::Entity | Role::NationalCsirt) {
        return Err(AppError::ForbiddenAction(
            "incidents are reported by the entity itself or the national CSIRT".into(),
        ));
    }
    let now = db::now().and_utc();
    if incident_id.is_none() {
        if let Some(reporter) = input.reporter.take() {
            let dir = load_directory(conn)?;
            let entity = record_reporter(conn, caller, reporter, &dir)?;
            // The stored report names the record, as every first report names its entity.
            input.entity_id = Some(entity.id);
        }
    }
    let mut p = prepare(conn, caller, rs, incident_id, &input, now)?;
    if let Some(old) = &p.existing {
        db::lock_writes(conn)?;
        let version: i64 = incidents::table
            .find(&old.id)
            .select(incidents::version)
            .first(conn)?;
        if version != old.version {
            p = prepare(conn, caller, rs, incident_id, &input, now)?;
        }
    }
    store(conn, caller, rs, &input, p, now)
}

/// The reads and the rules of a report.
fn prepare(
    conn: &mut DbConn,
    caller: &Caller,
    rs: &RuleSet,
    incident_id: Option<&str>,
    input: &ReportInput,
    now: DateTime<Utc>,
) -> AppResult<Prepared> {
    let dir = load_directory(conn)?;
    let (existing, entity) = match incident_id {
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
            crate::entities::repo::lock_row(conn, &entity_id)?;
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
            crate::entities::repo::lock_row(conn, &row.entity_id)?;
            let entity = crate::entities::service::load(conn, &row.entity_id, &dir)?;
            (Some(row), entity)
        }
    };
    let id = existing
        .as_ref()
        .map(|r| r.id.clone())
        .unwrap_or_else(db::new_id);
    let (report_rows, request_rows) = if existing.is_some() {
        (reports_of(conn, &id)?, requests_of(conn, &id)?)
    } else {
        (vec![], vec![])
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
    let awareness = awareness_columns(existing.as_ref(), input);
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
    let past = past_incidents(
        conn,
        rs,
        &entity.id,
        Some(&id),
        occurred_at,
        facts.root_cause.as_deref(),
        None,
    )?;
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
    let tlp = input
        .tlp
        .or(existing.as_ref().map(|r| tlp_of(&r.tlp)))
        .unwrap_or(Tlp::Amber);
    Ok(Prepared {
        existing,
        entity,
        id,
        report_rows,
        request_rows,
        facts,
        awareness,
        aware_at,
        occurred_at,
        decision,
        tlp,
    })
}

/// The writes of a report. A new incident's rows go in first under a stand-in reference (its
/// id, which no reference can equal); the write lock is taken after them, for the reference,
/// the events and the audit record.
fn store(
    conn: &mut DbConn,
    caller: &Caller,
    rs: &RuleSet,
    input: &ReportInput,
    p: Prepared,
    now: DateTime<Utc>,
) -> AppResult<Incident> {
    let Prepared {
        existing,
        entity,
        id,
        mut report_rows,
        request_rows,
        facts,
        awareness,
        aware_at,
        occurred_at,
        decision,
        tlp,
    } = p;
    let cl = &decision.classification;
    let late = decision.stages.iter().any(|s| s.late || s.overdue);
    let now_naive = now.naive_utc();
    let mut row = IncidentRow {
        id: id.clone(),
        reference: match &existing {
            Some(r) => r.reference.clone(),
            None => id.clone(),
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
        root_cause_key: super::repo::root_cause_key(facts.root_cause.as_deref()),
        financial_loss_eur: super::repo::stored_loss(facts.impact.financial_loss_eur),
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
    let report = ReportRow {
        id: db::new_id(),
        number: report_rows.len() as i64 + 1,
        stage: input.stage.as_str().into(),
        submitted_at: now_naive,
        submitted_by: by(caller),
        body: serde_json::to_string(input)?,
        handling_ended_at: input.handling_ended_at.map(|t| t.naive_utc()),
        review_status: None,
        review_comment: None,
        reviewed_by: None,
        reviewed_at: None,
    };
    diesel::insert_into(incident_reports::table)
        .values((
            incident_reports::id.eq(&report.id),
            incident_reports::incident_id.eq(&id),
            incident_reports::number.eq(report.number),
            incident_reports::stage.eq(&report.stage),
            incident_reports::submitted_at.eq(report.submitted_at),
            incident_reports::submitted_by.eq(&report.submitted_by),
            incident_reports::body.eq(&report.body),
            incident_reports::handling_ended_at.eq(report.handling_ended_at),
        ))
        .execute(conn)?;
    let report_id = report.id.clone();
    report_rows.push(report);
    let first = existing.is_none();
    let decisions: i64 = if first {
        0
    } else {
        incident_decisions::table
            .filter(incident_decisions::incident_id.eq(&id))
            .count()
            .get_result(conn)?
    };
    diesel::insert_into(incident_decisions::table)
        .values((
            incident_decisions::incident_id.eq(&id),
            incident_decisions::number.eq(decisions + 1),
            incident_decisions::report_id.eq(Some(&report_id)),
            incident_decisions::decided_at.eq(now_naive),
            incident_decisions::decision.eq(&row.decision),
        ))
        .execute(conn)?;
    let known: Vec<(String, String)> = if first {
        vec![]
    } else {
        incident_recipients::table
            .filter(incident_recipients::incident_id.eq(&id))
            .select((incident_recipients::org_id, incident_recipients::role))
            .load(conn)?
    };
    let added: Vec<_> = decision
        .recipients
        .iter()
        .filter(|r| {
            !known
                .iter()
                .any(|(o, role)| *o == r.organisation_id && role == r.role.as_str())
        })
        .cloned()
        .collect();
    let rows: Vec<_> = added
        .iter()
        .map(|r| {
            (
                incident_recipients::incident_id.eq(&id),
                incident_recipients::org_id.eq(&r.organisation_id),
                incident_recipients::role.eq(r.role.as_str()),
                incident_recipients::since.eq(now_naive),
            )
        })
        .collect();
    crate::insert_rows!(conn, incident_recipients::table, rows, 4);
    if first {
        insert_deadlines(conn, &id, &decision.stages, &[])?;
    } else {
        refresh_deadlines(conn, &id, &decision.stages, false)?;
    }
    // Everyone the incident is shared with: its recipients so far and the entity.
    let mut audience: Vec<String> = known
        .into_iter()
        .map(|(org, _)| org)
        .chain(added.iter().map(|r| r.organisation_id.clone()))
        .chain([entity.id.clone()])
        .collect();
    audience.sort();
    audience.dedup();
    // What was read before and written now is the incident as it stands: no need to read it
    // back.
    let mut incident = assemble(
        rs,
        row.clone(),
        &facts,
        decision.clone(),
        report_rows,
        request_rows,
        now,
    )?;

    // The ordered part: from here to the commit, under the write lock.
    if first {
        row.reference = next_reference(conn, now)?;
        diesel::update(incidents::table.find(&id))
            .set(incidents::reference.eq(&row.reference))
            .execute(conn)?;
        incident.reference = row.reference.clone();
    }
    // New recipients first learn that the incident is theirs, then what was reported.
    let mut events = vec![];
    if !added.is_empty() {
        events.push(Queued::from(NewEvent {
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
        }));
    }
    events.extend(sharing(
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
    ));
    outbox::emit_all(conn, events)?;
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
    Ok(for_caller(incident, caller))
}

/// `INC-<year>-<number>`, numbered per year under the write lock.
fn next_reference(conn: &mut DbConn, now: DateTime<Utc>) -> AppResult<String> {
    let next = db::next_number(conn, &format!("incident-{}", now.year()))?;
    Ok(format!("INC-{}-{next:06}", now.year()))
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
            if crate::sectors::find(s).is_none() {
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
            let past = past_incidents(
                conn,
                rs,
                &entity.id,
                None,
                now,
                input.root_cause.as_deref(),
                Some(caller),
            )?;
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
                if crate::sectors::find(s).is_none() {
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
