//! `nis2hub seed`: fills a database with registered entities and a history of incidents for the
//! load kit (`benches/load/`), quickly.
//!
//! The entities are registered through the service, and each of them reports one incident
//! through the service too, so every template row (recipients, deadlines, events and their
//! recipients, the audit record) is exactly what the service stores. The rest of the history
//! is copied from those templates with new ids, references and times, written with one
//! multi-row INSERT per table in transactions of `batch` incidents: 10⁶ incidents take minutes.
//! Incidents older than sixty days are stored closed, without open deadlines, as the register
//! would hold them. The audit records of the copies extend the hash chain, which still
//! verifies; event sequence numbers continue the feed's.

use crate::audit::AuditRecord;
use crate::auth::{Caller, Role};
use crate::db::{self, DbConn};
use crate::error::{AppError, AppResult};
use crate::incidents::service::IncidentRow;
use crate::rules::ruleset::RuleSet;
use crate::schema::{
    audit_log, counters, event_recipients, events, incident_deadlines, incident_decisions,
    incident_recipients, incident_reports, incidents,
};
use chrono::{Datelike, NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use std::collections::BTreeMap;

/// Sectors the seeded entities are spread over (each routes to a different set of recipients).
const SECTORS: &[&str] = &[
    "energy.electricity",
    "energy.gas",
    "transport.rail",
    "digital_infrastructure.dns",
    "health",
    "banking",
];

/// How far back the seeded history reaches unless told otherwise: three years.
pub const DEFAULT_HISTORY_DAYS: u32 = 3 * 365;
/// The farthest back it may reach: about 550 years, far inside chrono's range.
pub const MAX_HISTORY_DAYS: u32 = 200_000;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = incident_reports)]
struct ReportRow {
    id: String,
    incident_id: String,
    number: i64,
    stage: String,
    submitted_at: NaiveDateTime,
    submitted_by: String,
    body: String,
    handling_ended_at: Option<NaiveDateTime>,
    review_status: Option<String>,
    review_comment: Option<String>,
    reviewed_by: Option<String>,
    reviewed_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = incident_decisions)]
struct DecisionRow {
    incident_id: String,
    number: i64,
    report_id: Option<String>,
    decided_at: NaiveDateTime,
    decision: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = incident_recipients)]
struct RecipientRow {
    incident_id: String,
    org_id: String,
    role: String,
    since: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = incident_deadlines)]
struct DeadlineRow {
    incident_id: String,
    stage: String,
    request_id: String,
    due_at: NaiveDateTime,
    missed_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = events)]
struct EventRow {
    seq: i64,
    id: String,
    event_type: String,
    occurred_at: NaiveDateTime,
    subject_type: String,
    subject_id: String,
    significant: bool,
    data: String,
    copy_of: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = event_recipients)]
struct EventRecipientRow {
    org_id: String,
    seq: i64,
}

/// Everything the service stored for one reported incident.
struct Template {
    incident: IncidentRow,
    reports: Vec<ReportRow>,
    decisions: Vec<DecisionRow>,
    recipients: Vec<RecipientRow>,
    deadlines: Vec<DeadlineRow>,
    /// Events in seq order, each with its recipients.
    events: Vec<(EventRow, Vec<String>)>,
    audit: AuditRecord,
}

/// What was seeded.
#[derive(Debug)]
pub struct Seeded {
    pub entity_ids: Vec<String>,
    pub incidents: u64,
    /// The last event's sequence number, for feed readers that page from anywhere.
    pub last_seq: i64,
}

/// Registers `entities` entities, then stores `incident_count` incidents among them (at least
/// one per entity), `batch` incidents per transaction.
pub fn seed(
    conn: &mut DbConn,
    rs: &RuleSet,
    entities: usize,
    incident_count: u64,
    batch: usize,
    history_days: u32,
) -> AppResult<Seeded> {
    let entities = entities.max(1);
    let batch = batch.clamp(1, 1000);
    let system = Caller::system("seed");
    let mut entity_ids = Vec::with_capacity(entities);
    for i in 0..entities {
        let sector = SECTORS[i % SECTORS.len()];
        let body = serde_json::json!({
            "name": format!("Load entity {i}"),
            "identifier": format!("LOAD-{i:07}"),
            "country": "NL",
            "sector": sector,
            "size": if i % 3 == 0 { "medium" } else { "large" },
            "service_member_states": if i % 4 == 0 { vec!["NL", "BE"] } else { vec!["NL"] },
            "contacts": [{"name": "Security desk", "email": format!("soc{i}@example.nl"), "phone": "+31 20 000 0000"}],
            "ip_ranges": [format!("10.{}.{}.0/24", (i / 256) % 256, i % 256)],
            "domains": [format!("load{i}.example.nl")]
        });
        let input = crate::entities::model::EntityInput::from_json(&serde_json::to_vec(&body)?)?;
        let entity = db::write_tx(conn, |c| {
            crate::entities::service::create(c, &system, input)
        })?;
        entity_ids.push(entity.id);
    }
    // One real report per entity: the templates.
    let mut templates = Vec::with_capacity(entities);
    for (i, entity_id) in entity_ids.iter().enumerate() {
        let body = serde_json::json!({
            "entity_id": entity_id,
            "stage": "early_warning",
            "aware_at": db::now().and_utc() - TimeDelta::hours(2),
            "significant": i % 2 == 0,
            "suspected_malicious": i % 3 == 0,
            "affected_member_states": if i % 5 == 0 { vec!["BE"] } else { vec![] },
            "summary": format!("Service outage at load entity {i}: ransomware suspected on the billing systems"),
            "impact": {"users_affected": 1000 + i as i64 * 7},
            "threat_type": (["malicious-code", "availability", "intrusions"][i % 3]),
            "root_cause": if i % 2 == 0 { "malicious_actions" } else { "system_failures" },
            "root_cause_category": if i % 2 == 0 { "malicious_action" } else { "system_failure" },
            "tlp": if i % 4 == 0 { "RED" } else { "AMBER" }
        });
        let now = db::now().and_utc();
        let input = crate::incidents::model::ReportInput::from_json(
            &serde_json::to_vec(&body)?,
            true,
            now,
        )?;
        let caller = Caller {
            sub: "seed".into(),
            org: entity_id.clone(),
            role: Role::Entity,
            scopes: Role::Entity.ceiling().to_vec(),
            client_id: None,
            request_id: uuid::Uuid::now_v7().simple().to_string(),
        };
        let incident = db::write_tx(conn, |c| {
            crate::incidents::report::report(c, &caller, rs, None, input)
        })?;
        templates.push(load_template(conn, &incident.id)?);
    }
    let total = incident_count.max(entities as u64);
    let copies = total - entities as u64;
    let now = db::now();
    let span = TimeDelta::days(i64::from(history_days.clamp(1, MAX_HISTORY_DAYS)));
    let mut written = 0u64;
    while written < copies {
        let n = (copies - written).min(batch as u64);
        db::write_tx(conn, |c| {
            write_batch(c, &templates, written, n, copies, now, span)
        })?;
        written += n;
        if written % 100_000 < n {
            log::info!("seeded {written} of {copies} copied incidents");
        }
    }
    let last_seq = events::table
        .select(diesel::dsl::max(events::seq))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0);
    Ok(Seeded {
        entity_ids,
        incidents: total,
        last_seq,
    })
}

fn load_template(conn: &mut DbConn, id: &str) -> AppResult<Template> {
    let incident = incidents::table
        .find(id)
        .select(IncidentRow::as_select())
        .first(conn)?;
    let reports = incident_reports::table
        .filter(incident_reports::incident_id.eq(id))
        .select(ReportRow::as_select())
        .load(conn)?;
    let decisions = incident_decisions::table
        .filter(incident_decisions::incident_id.eq(id))
        .select(DecisionRow::as_select())
        .load(conn)?;
    let recipients = incident_recipients::table
        .filter(incident_recipients::incident_id.eq(id))
        .select(RecipientRow::as_select())
        .load(conn)?;
    let deadlines = incident_deadlines::table
        .filter(incident_deadlines::incident_id.eq(id))
        .select(DeadlineRow::as_select())
        .load(conn)?;
    let event_rows: Vec<EventRow> = events::table
        .filter(
            events::subject_type
                .eq("incident")
                .and(events::subject_id.eq(id)),
        )
        .order(events::seq.asc())
        .select(EventRow::as_select())
        .load(conn)?;
    let mut events_with = vec![];
    for e in event_rows {
        let to: Vec<String> = event_recipients::table
            .filter(event_recipients::seq.eq(e.seq))
            .select(event_recipients::org_id)
            .load(conn)?;
        events_with.push((e, to));
    }
    let audit = audit_log::table
        .filter(audit_log::resource_id.eq(id))
        .select(AuditRecord::as_select())
        .first(conn)?;
    Ok(Template {
        incident,
        reports,
        decisions,
        recipients,
        deadlines,
        events: events_with,
        audit,
    })
}

/// Copies `n` incidents, the `from`-th of `copies` onwards, oldest first.
fn write_batch(
    conn: &mut DbConn,
    templates: &[Template],
    from: u64,
    n: u64,
    copies: u64,
    now: NaiveDateTime,
    span: TimeDelta,
) -> AppResult<()> {
    let mut seq: i64 = events::table
        .select(diesel::dsl::max(events::seq))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0);
    let (mut audit_seq, mut audit_hash): (i64, String) = audit_log::table
        .select((audit_log::seq, audit_log::hash))
        .order(audit_log::seq.desc())
        .first(conn)?;
    let mut counter_values: BTreeMap<String, i64> = BTreeMap::new();
    let mut inc = vec![];
    let mut reps = vec![];
    let mut decs = vec![];
    let mut recs = vec![];
    let mut dls = vec![];
    let mut evs = vec![];
    let mut evrs = vec![];
    let mut audits = vec![];
    let span_us = span.num_microseconds().unwrap_or(i64::MAX);
    for k in from..from + n {
        let t = &templates[(k % templates.len() as u64) as usize];
        // Spread evenly over the history, oldest first, ending a day before the seed ran.
        let back = span_us / copies.max(1) as i64 * (copies - k) as i64;
        let at = now - TimeDelta::days(1) - TimeDelta::microseconds(back);
        let shift = at - t.incident.aware_at;
        let id = db::new_id();
        let year = at.year();
        let name = format!("incident-{year}");
        let number = match counter_values.get(&name) {
            Some(v) => v + 1,
            None => {
                counters::table
                    .find(&name)
                    .select(counters::value)
                    .first::<i64>(conn)
                    .optional()?
                    .unwrap_or(0)
                    + 1
            }
        };
        counter_values.insert(name, number);
        let reference = format!("INC-{year}-{number:06}");
        let closed = now - at > TimeDelta::days(60);
        let mut row = t.incident.clone();
        row.id = id.clone();
        row.reference = reference.clone();
        row.aware_at = at;
        row.occurred_at = t.incident.occurred_at + shift;
        row.created_at = t.incident.created_at + shift;
        row.updated_at = if closed {
            at + TimeDelta::days(30)
        } else {
            t.incident.updated_at + shift
        };
        if closed {
            row.status = "closed".into();
            row.closed_at = Some(at + TimeDelta::days(30));
            row.version += 1;
        }
        inc.push(row);
        for r in &t.reports {
            let mut r = r.clone();
            r.id = db::new_id();
            r.incident_id = id.clone();
            r.submitted_at += shift;
            reps.push(r);
        }
        for d in &t.decisions {
            let mut d = d.clone();
            d.incident_id = id.clone();
            d.report_id = reps.last().map(|r: &ReportRow| r.id.clone());
            d.decided_at += shift;
            decs.push(d);
        }
        for r in &t.recipients {
            let mut r = r.clone();
            r.incident_id = id.clone();
            r.since += shift;
            recs.push(r);
        }
        if !closed {
            for d in &t.deadlines {
                let mut d = d.clone();
                d.incident_id = id.clone();
                d.due_at += shift;
                dls.push(d);
            }
        }
        let mut copy_map: BTreeMap<i64, i64> = BTreeMap::new();
        for (e, to) in &t.events {
            seq += 1;
            copy_map.insert(e.seq, seq);
            let mut e = e.clone();
            let mut data: serde_json::Value = serde_json::from_str(&e.data)?;
            if let Some(d) = data.as_object_mut() {
                d.insert("incident_id".into(), id.clone().into());
                d.insert("reference".into(), reference.clone().into());
            }
            e.data = serde_json::to_string(&data)?;
            e.seq = seq;
            e.id = db::new_id();
            e.subject_id = id.clone();
            e.occurred_at += shift;
            e.copy_of = match e.copy_of {
                Some(full) => Some(*copy_map.get(&full).ok_or_else(|| {
                    AppError::internal("a template copy refers to an unknown event")
                })?),
                None => None,
            };
            for org in to {
                evrs.push(EventRecipientRow {
                    org_id: org.clone(),
                    seq,
                });
            }
            evs.push(e);
        }
        let mut a = t.audit.clone();
        audit_seq += 1;
        a.seq = audit_seq;
        a.id = db::new_id();
        a.at += shift;
        a.resource_id = id.clone();
        a.request_id = uuid::Uuid::now_v7().simple().to_string();
        a.prev_hash = std::mem::take(&mut audit_hash);
        a.hash = a.compute_hash();
        audit_hash = a.hash.clone();
        audits.push(a);
    }
    crate::insert_rows!(conn, incidents::table, inc, 26);
    crate::insert_rows!(conn, incident_reports::table, reps, 12);
    crate::insert_rows!(conn, incident_decisions::table, decs, 5);
    crate::insert_rows!(conn, incident_recipients::table, recs, 4);
    crate::insert_rows!(conn, incident_deadlines::table, dls, 5);
    crate::insert_rows!(conn, events::table, evs, 9);
    crate::insert_rows!(conn, event_recipients::table, evrs, 2);
    crate::insert_rows!(conn, audit_log::table, audits, 13);
    for (name, value) in counter_values {
        let n = diesel::update(counters::table.find(&name))
            .set(counters::value.eq(value))
            .execute(conn)?;
        if n == 0 {
            diesel::insert_into(counters::table)
                .values((counters::name.eq(&name), counters::value.eq(value)))
                .execute(conn)?;
        }
    }
    Ok(())
}
