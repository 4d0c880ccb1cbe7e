//! CVD cases: intake, triage, vendors, messages, and the deadline sweep. Every function that
//! writes runs inside the caller's write transaction and records its audit entry and events.

use super::access::{self, Principal};
use super::model::*;
use crate::audit::{self, Actor};
use crate::auth::{Caller, Role, Scope};
use crate::db::{self, DbConn};
use crate::entities::model::OrgRef;
use crate::error::{AppError, AppResult};
use crate::http::pagination::PageParams;
use crate::outbox::{self, NewEvent};
use crate::schema::{counters, cvd_cases, cvd_messages, cvd_vendors, entities, organisations};
use chrono::{DateTime, Datelike, NaiveDateTime, Utc, Weekday};
use diesel::prelude::*;

/// Days a vendor has to answer when the coordinator names no other deadline.
pub const DEFAULT_ANSWER_DAYS: u32 = 14;
/// The embargo a case gets when it is triaged without one.
pub const DEFAULT_EMBARGO_DAYS: i64 = 60;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cvd_cases)]
pub struct CaseRow {
    pub id: String,
    pub reference: String,
    pub state: String,
    pub title: String,
    pub description: String,
    pub vendor_hint: Option<String>,
    pub product: Option<String>,
    pub versions: String,
    pub cves: String,
    pub finder: Option<String>,
    pub reporter_org: Option<String>,
    pub reporter_sub: Option<String>,
    pub case_token_hash: Option<String>,
    pub coordinator_id: String,
    pub co_coordinators: String,
    pub wanted_disclosure_at: Option<NaiveDateTime>,
    pub embargo_until: Option<NaiveDateTime>,
    pub acknowledge_due_at: NaiveDateTime,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub acknowledge_missed_at: Option<NaiveDateTime>,
    pub reason: Option<String>,
    pub duplicate_of: Option<String>,
    pub advisory_id: Option<String>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub closed_at: Option<NaiveDateTime>,
    pub assess_due_at: NaiveDateTime,
    pub assessed_at: Option<NaiveDateTime>,
    pub assess_missed_at: Option<NaiveDateTime>,
}

impl CaseRow {
    pub fn state(&self) -> CaseState {
        CaseState::parse(&self.state).unwrap_or(CaseState::Received)
    }

    fn co(&self) -> Vec<CoCoordinator> {
        serde_json::from_str(&self.co_coordinators).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cvd_vendors)]
pub struct VendorRow {
    pub id: String,
    pub case_id: String,
    pub name: String,
    pub entity_id: Option<String>,
    pub contact_email: Option<String>,
    pub token_hash: Option<String>,
    pub status: String,
    pub statement: Option<String>,
    pub notified_at: NaiveDateTime,
    pub answer_due_at: NaiveDateTime,
    pub responded_at: Option<NaiveDateTime>,
    pub unresponsive_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl VendorRow {
    fn into_api(self) -> Vendor {
        Vendor {
            status: VendorStatus::parse(&self.status),
            id: self.id,
            name: self.name,
            entity_id: self.entity_id,
            contact_email: self.contact_email,
            statement: self.statement,
            notified_at: self.notified_at.and_utc(),
            answer_due_at: self.answer_due_at.and_utc(),
            responded_at: self.responded_at.map(|t| t.and_utc()),
            unresponsive_at: self.unresponsive_at.map(|t| t.and_utc()),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cvd_messages)]
struct MessageRow {
    id: String,
    #[allow(dead_code)]
    case_id: String,
    author_kind: String,
    author_id: Option<String>,
    author_name: String,
    visibility: String,
    body: String,
    created_at: NaiveDateTime,
}

/// How a principal takes part in one case.
#[derive(Debug, Clone)]
pub enum Acting {
    Coordinator(Caller),
    /// The finder: with the case token (`caller` none) or the reporter's own account token.
    Finder {
        caller: Option<Caller>,
        request_id: String,
    },
    /// A vendor: an entity with its token, or an external vendor with its vendor token.
    Vendor {
        vendor_id: String,
        caller: Option<Caller>,
        request_id: String,
    },
}

impl Acting {
    fn viewer(&self) -> Viewer {
        match self {
            Acting::Coordinator(_) => Viewer::Coordinator,
            Acting::Finder { .. } => Viewer::Finder,
            Acting::Vendor { .. } => Viewer::Vendor,
        }
    }

    /// Records an audit entry for this actor. Token holders are named by their case or
    /// vendor record, never by anything identifying.
    fn audit(&self, conn: &mut DbConn, action: &str, kind: &str, id: &str) -> AppResult<()> {
        match self {
            Acting::Coordinator(c)
            | Acting::Finder {
                caller: Some(c), ..
            }
            | Acting::Vendor {
                caller: Some(c), ..
            } => audit::record(conn, c, action, kind, id),
            Acting::Finder {
                caller: None,
                request_id,
            } => audit::record_as(
                conn,
                &Actor {
                    org: "cvd-case-token",
                    sub: "finder",
                    role: "finder",
                    client_id: None,
                    request_id,
                },
                action,
                kind,
                id,
            ),
            Acting::Vendor {
                caller: None,
                vendor_id,
                request_id,
            } => audit::record_as(
                conn,
                &Actor {
                    org: "cvd-vendor-token",
                    sub: vendor_id,
                    role: "vendor",
                    client_id: None,
                    request_id,
                },
                action,
                kind,
                id,
            ),
        }
    }

    /// The key under which an `Idempotency-Key` of this actor is kept.
    pub fn idempotency_caller(&self) -> Caller {
        match self {
            Acting::Coordinator(c)
            | Acting::Finder {
                caller: Some(c), ..
            }
            | Acting::Vendor {
                caller: Some(c), ..
            } => c.clone(),
            Acting::Finder {
                caller: None,
                request_id,
            } => token_caller("cvd-case-token", request_id),
            Acting::Vendor {
                caller: None,
                vendor_id,
                request_id,
            } => token_caller(&format!("cvd-vendor-token:{vendor_id}"), request_id),
        }
    }
}

fn token_caller(org: &str, request_id: &str) -> Caller {
    Caller {
        sub: org.to_string(),
        org: org.to_string(),
        role: Role::Entity,
        scopes: vec![],
        client_id: None,
        request_id: request_id.to_string(),
    }
}

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// One working day after `t`: the next day, moved past a Saturday or Sunday.
pub fn one_working_day_after(t: DateTime<Utc>) -> DateTime<Utc> {
    let mut due = crate::time::add_hours(t, 24).unwrap_or(t);
    while matches!(due.weekday(), Weekday::Sat | Weekday::Sun) {
        due = crate::time::add_hours(due, 24).unwrap_or(due);
    }
    due
}

/// Three working days after `t`: the assessment (triage decision) national CSIRT CVD
/// policies promise, counted like the acknowledgement.
pub fn three_working_days_after(t: DateTime<Utc>) -> DateTime<Utc> {
    one_working_day_after(one_working_day_after(one_working_day_after(t)))
}

/// `CVD-<year>-<number>`, numbered per year under the write lock.
fn next_reference(conn: &mut DbConn, now: DateTime<Utc>) -> AppResult<String> {
    db::lock_writes(conn)?;
    let name = format!("cvd-{}", now.year());
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
    Ok(format!("CVD-{}-{next:04}", now.year()))
}

fn national_csirt(conn: &mut DbConn) -> AppResult<String> {
    organisations::table
        .filter(organisations::kind.eq("national_csirt"))
        .select(organisations::id)
        .first(conn)
        .optional()?
        .ok_or_else(|| {
            AppError::Conflict(
                "no_coordinator",
                "the directory has no national CSIRT to coordinate the case".into(),
            )
        })
}

fn org_ref(conn: &mut DbConn, id: &str) -> AppResult<OrgRef> {
    let (id, code, name): (String, String, String) = organisations::table
        .find(id)
        .select((organisations::id, organisations::code, organisations::name))
        .first(conn)?;
    Ok(OrgRef { id, code, name })
}

/// Records a report and opens its case; returns the receipt to send and the one to keep for
/// an idempotent replay (without the case token).
pub fn report(
    conn: &mut DbConn,
    reporter: Option<&Caller>,
    request_id: &str,
    input: VulnerabilityReport,
) -> AppResult<(ReportReceipt, ReportReceipt)> {
    let now = db::now();
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

fn case_row(conn: &mut DbConn, id: &str) -> AppResult<CaseRow> {
    Ok(cvd_cases::table
        .find(id)
        .select(CaseRow::as_select())
        .first(conn)?)
}

fn vendors_of(conn: &mut DbConn, case_id: &str) -> AppResult<Vec<VendorRow>> {
    Ok(cvd_vendors::table
        .filter(cvd_vendors::case_id.eq(case_id))
        .order(cvd_vendors::id.asc())
        .select(VendorRow::as_select())
        .load(conn)?)
}

/// Whether an organisation coordinates the case: the national CSIRT always; a sectoral CSIRT
/// when the case is assigned to it; another state's CSIRT registered as co-coordinator.
fn coordinates(caller: &Caller, row: &CaseRow) -> bool {
    caller.role == Role::NationalCsirt
        || caller.org == row.coordinator_id
        || row
            .co()
            .iter()
            .any(|c| c.organisation_id.as_deref() == Some(caller.org.as_str()))
}

/// How the principal takes part in case `id`: 403 without the scope, 404 when it takes no
/// part (or the case does not exist).
pub fn acting(conn: &mut DbConn, principal: &Principal, id: &str) -> AppResult<(CaseRow, Acting)> {
    match principal {
        Principal::Finder {
            case_id,
            request_id,
        } => {
            if case_id != id {
                return Err(AppError::NotFound);
            }
            Ok((
                case_row(conn, id)?,
                Acting::Finder {
                    caller: None,
                    request_id: request_id.clone(),
                },
            ))
        }
        Principal::Vendor {
            case_id,
            vendor_id,
            request_id,
        } => {
            if case_id != id {
                return Err(AppError::NotFound);
            }
            Ok((
                case_row(conn, id)?,
                Acting::Vendor {
                    vendor_id: vendor_id.clone(),
                    caller: None,
                    request_id: request_id.clone(),
                },
            ))
        }
        Principal::Caller(caller) => {
            let may_coordinate = caller.scopes.contains(&Scope::CvdCoordinate);
            let may_take_part = caller.scopes.contains(&Scope::CvdReport);
            if !may_coordinate && !may_take_part {
                return Err(AppError::Forbidden(Scope::CvdCoordinate.as_str().into()));
            }
            let row = cvd_cases::table
                .find(id)
                .select(CaseRow::as_select())
                .first(conn)
                .optional()?;
            let Some(row) = row else {
                return Err(if may_coordinate {
                    AppError::NotFound
                } else {
                    AppError::Forbidden(Scope::CvdCoordinate.as_str().into())
                });
            };
            if may_coordinate && coordinates(caller, &row) {
                return Ok((row, Acting::Coordinator(caller.clone())));
            }
            if may_take_part {
                if caller.role == Role::Entity {
                    let vendor: Option<String> = cvd_vendors::table
                        .filter(
                            cvd_vendors::case_id
                                .eq(id)
                                .and(cvd_vendors::entity_id.eq(&caller.org)),
                        )
                        .select(cvd_vendors::id)
                        .first(conn)
                        .optional()?;
                    if let Some(vendor_id) = vendor {
                        return Ok((
                            row,
                            Acting::Vendor {
                                vendor_id,
                                caller: Some(caller.clone()),
                                request_id: caller.request_id.clone(),
                            },
                        ));
                    }
                }
                if row.reporter_org.as_deref() == Some(caller.org.as_str()) {
                    return Ok((
                        row,
                        Acting::Finder {
                            caller: Some(caller.clone()),
                            request_id: caller.request_id.clone(),
                        },
                    ));
                }
            }
            if may_coordinate {
                Err(AppError::NotFound)
            } else {
                Err(AppError::Forbidden(Scope::CvdCoordinate.as_str().into()))
            }
        }
    }
}

/// Like [`acting`], for operations only coordinators may use.
pub fn coordinating(
    conn: &mut DbConn,
    principal: &Principal,
    id: &str,
) -> AppResult<(CaseRow, Caller)> {
    let Principal::Caller(caller) = principal else {
        return Err(AppError::Forbidden(Scope::CvdCoordinate.as_str().into()));
    };
    caller.require(Scope::CvdCoordinate)?;
    let row = case_row(conn, id)?;
    if !coordinates(caller, &row) {
        return Err(AppError::NotFound);
    }
    Ok((row, caller.clone()))
}

fn view(conn: &mut DbConn, row: &CaseRow, acting: &Acting) -> AppResult<Case> {
    let viewer = acting.viewer();
    let coordinator = viewer == Viewer::Coordinator;
    let vendors: Vec<Vendor> = match acting {
        Acting::Coordinator(_) => vendors_of(conn, &row.id)?
            .into_iter()
            .map(VendorRow::into_api)
            .collect(),
        // Before disclosure a vendor sees only itself; after it, every vendor's answer, but
        // not how the others are reached.
        Acting::Vendor { vendor_id, .. } => vendors_of(conn, &row.id)?
            .into_iter()
            .filter(|v| &v.id == vendor_id || row.state() == CaseState::Disclosed)
            .map(|v| {
                let own = &v.id == vendor_id;
                let mut api = v.into_api();
                if !own {
                    api.contact_email = None;
                }
                api
            })
            .collect(),
        Acting::Finder { .. } => vec![],
    };
    Ok(Case {
        id: row.id.clone(),
        reference: row.reference.clone(),
        state: row.state(),
        viewer,
        title: row.title.clone(),
        description: row.description.clone(),
        vendor: row.vendor_hint.clone().filter(|_| coordinator),
        product: row.product.clone(),
        versions: serde_json::from_str(&row.versions)?,
        cves: serde_json::from_str(&row.cves)?,
        finder: if coordinator {
            row.finder
                .as_deref()
                .map(serde_json::from_str)
                .transpose()?
        } else {
            None
        },
        reported_by: row.reporter_org.clone().filter(|_| coordinator),
        coordinator: org_ref(conn, &row.coordinator_id)?,
        co_coordinators: row.co(),
        vendors,
        wanted_disclosure_at: row
            .wanted_disclosure_at
            .map(utc)
            .filter(|_| viewer != Viewer::Vendor),
        embargo_until: row.embargo_until.map(utc),
        acknowledge_due_at: utc(row.acknowledge_due_at),
        acknowledged_at: row.acknowledged_at.map(utc),
        acknowledge_missed_at: row.acknowledge_missed_at.map(utc).filter(|_| coordinator),
        reason: row.reason.clone().filter(|_| viewer != Viewer::Vendor),
        duplicate_of: row.duplicate_of.clone().filter(|_| coordinator),
        advisory_id: row.advisory_id.clone(),
        version: row.version,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
        assess_due_at: utc(row.assess_due_at),
        assessed_at: row.assessed_at.map(utc),
        assess_missed_at: row.assess_missed_at.map(utc).filter(|_| coordinator),
    })
}

/// Who hears of a change: `everyone` — the coordinators, the entity vendors and the
/// reporting organisation; `coordinators` — the coordinators only; one vendor — the
/// coordinators and that vendor's entity.
enum Audience<'a> {
    Everyone,
    Visibility(Visibility),
    Vendor(&'a VendorRow),
}

fn recipients(conn: &mut DbConn, row: &CaseRow, audience: Audience) -> AppResult<Vec<String>> {
    let mut out = vec![national_csirt(conn)?, row.coordinator_id.clone()];
    out.extend(row.co().into_iter().filter_map(|c| c.organisation_id));
    let entity_vendors = |conn: &mut DbConn| -> AppResult<Vec<String>> {
        Ok(cvd_vendors::table
            .filter(
                cvd_vendors::case_id
                    .eq(&row.id)
                    .and(cvd_vendors::entity_id.is_not_null()),
            )
            .select(cvd_vendors::entity_id.assume_not_null())
            .load(conn)?)
    };
    let (vendors, finder) = match audience {
        Audience::Everyone | Audience::Visibility(Visibility::Everyone) => (true, true),
        Audience::Visibility(Visibility::Vendors) => (true, false),
        Audience::Visibility(Visibility::Finder) => (false, true),
        Audience::Visibility(Visibility::Coordinators) => (false, false),
        Audience::Vendor(v) => {
            out.extend(v.entity_id.clone());
            (false, false)
        }
    };
    if vendors {
        out.extend(entity_vendors(conn)?);
    }
    if finder {
        out.extend(row.reporter_org.clone());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn emit_update(
    conn: &mut DbConn,
    row: &CaseRow,
    changes: &[String],
    audience: Audience,
) -> AppResult<()> {
    let to = recipients(conn, row, audience)?;
    outbox::emit(
        conn,
        NewEvent {
            event_type: "cvd.case_updated",
            subject_type: "cvd_case",
            subject_id: &row.id,
            significant: false,
            data: serde_json::json!({
                "case_id": row.id, "reference": row.reference, "state": row.state,
                "changes": changes,
            }),
            recipients: to,
        },
    )?;
    Ok(())
}

fn bump(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> AppResult<CaseRow> {
    diesel::update(cvd_cases::table.find(id))
        .set((
            cvd_cases::version.eq(cvd_cases::version + 1),
            cvd_cases::updated_at.eq(now),
        ))
        .execute(conn)?;
    case_row(conn, id)
}

pub fn get(conn: &mut DbConn, principal: &Principal, id: &str) -> AppResult<Case> {
    let (row, acting) = acting(conn, principal, id)?;
    acting.audit(conn, "cvd.case.read", "cvd_case", id)?;
    view(conn, &row, &acting)
}

#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub state: Option<CaseState>,
    pub updated_since: Option<NaiveDateTime>,
}

/// The cases the caller coordinates: every case for the national CSIRT.
pub fn list(
    conn: &mut DbConn,
    caller: &Caller,
    page: &PageParams,
    f: Filters,
) -> AppResult<Vec<CaseSummary>> {
    let mut q = cvd_cases::table.select(CaseRow::as_select()).into_boxed();
    if caller.role != Role::NationalCsirt {
        // Co-coordination is rare; the JSON list is matched as text, then checked exactly.
        q = q.filter(
            cvd_cases::coordinator_id
                .eq(caller.org.clone())
                .or(cvd_cases::co_coordinators.like(format!("%{}%", caller.org))),
        );
    }
    if let Some(after) = &page.after {
        q = q.filter(cvd_cases::id.gt(after.clone()));
    }
    if let Some(s) = f.state {
        q = q.filter(cvd_cases::state.eq(s.as_str()));
    }
    if let Some(t) = f.updated_since {
        q = q.filter(cvd_cases::updated_at.ge(t));
    }
    let rows: Vec<CaseRow> = q
        .order(cvd_cases::id.asc())
        .limit(page.limit + 1)
        .load(conn)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows.into_iter().filter(|r| coordinates(caller, r)) {
        let vendors: i64 = cvd_vendors::table
            .filter(cvd_vendors::case_id.eq(&r.id))
            .count()
            .get_result(conn)?;
        out.push(CaseSummary {
            state: r.state(),
            id: r.id,
            reference: r.reference,
            title: r.title,
            coordinator_id: r.coordinator_id,
            vendors,
            embargo_until: r.embargo_until.map(utc),
            acknowledge_due_at: utc(r.acknowledge_due_at),
            acknowledged_at: r.acknowledged_at.map(utc),
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        });
    }
    Ok(out)
}

fn future(t: DateTime<Utc>, now: NaiveDateTime, pointer: &str) -> AppResult<NaiveDateTime> {
    let t = db::micros(t).naive_utc();
    if t <= now {
        return Err(AppError::invalid(
            pointer,
            "must be an instant in the future",
        ));
    }
    Ok(t)
}

/// Changes a case's content, embargo, coordinator or co-coordinators.
pub fn update(
    conn: &mut DbConn,
    principal: &Principal,
    id: &str,
    patch: CasePatch,
    if_match: Option<&str>,
) -> AppResult<Case> {
    let (row, caller) = coordinating(conn, principal, id)?;
    crate::http::conditional::check(if_match, row.version)?;
    let now = db::now();
    let mut changes: Vec<String> = vec![];
    let embargo = patch
        .embargo_until
        .map(|t| future(t, now, "/embargo_until"))
        .transpose()?;
    if let Some(new) = &patch.coordinator_id {
        if caller.role != Role::NationalCsirt {
            return Err(AppError::ForbiddenAction(
                "only the national CSIRT hands a case to another coordinator".into(),
            ));
        }
        let kind: Option<String> = organisations::table
            .find(new)
            .select(organisations::kind)
            .first(conn)
            .optional()?;
        if !matches!(kind.as_deref(), Some("national_csirt" | "sectoral_csirt")) {
            return Err(AppError::invalid(
                "/coordinator_id",
                "must be the id of a CSIRT in the directory",
            ));
        }
    }
    if let Some(list) = &patch.co_coordinators {
        for (i, c) in list.iter().enumerate() {
            if !c.country.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(AppError::invalid(
                    format!("/co_coordinators/{i}/country"),
                    "must be an ISO 3166-1 alpha-2 code in capitals",
                ));
            }
            if let Some(org) = &c.organisation_id {
                let found: i64 = organisations::table
                    .filter(organisations::id.eq(org))
                    .count()
                    .get_result(conn)?;
                if found == 0 {
                    return Err(AppError::invalid(
                        format!("/co_coordinators/{i}/organisation_id"),
                        "no organisation of the directory has this id",
                    ));
                }
            }
        }
    }
    let target = cvd_cases::table.find(id);
    if let Some(v) = &patch.title {
        diesel::update(target)
            .set(cvd_cases::title.eq(v))
            .execute(conn)?;
        changes.push("title".into());
    }
    if let Some(v) = &patch.description {
        diesel::update(target)
            .set(cvd_cases::description.eq(v))
            .execute(conn)?;
        changes.push("description".into());
    }
    if let Some(v) = &patch.product {
        diesel::update(target)
            .set(cvd_cases::product.eq(v))
            .execute(conn)?;
        changes.push("product".into());
    }
    if let Some(v) = &patch.versions {
        diesel::update(target)
            .set(cvd_cases::versions.eq(serde_json::to_string(v)?))
            .execute(conn)?;
        changes.push("versions".into());
    }
    if let Some(v) = &patch.cves {
        diesel::update(target)
            .set(cvd_cases::cves.eq(serde_json::to_string(v)?))
            .execute(conn)?;
        changes.push("cves".into());
    }
    if let Some(t) = embargo {
        diesel::update(target)
            .set(cvd_cases::embargo_until.eq(Some(t)))
            .execute(conn)?;
        changes.push("embargo_until".into());
    }
    if let Some(v) = &patch.coordinator_id {
        diesel::update(target)
            .set(cvd_cases::coordinator_id.eq(v))
            .execute(conn)?;
        changes.push("coordinator".into());
    }
    if let Some(v) = &patch.co_coordinators {
        diesel::update(target)
            .set(cvd_cases::co_coordinators.eq(serde_json::to_string(v)?))
            .execute(conn)?;
        changes.push("co_coordinators".into());
    }
    let row = if changes.is_empty() {
        row
    } else {
        let new = bump(conn, id, now)?;
        // The previous coordinator hears that it handed the case on.
        let mut to = recipients(conn, &new, Audience::Everyone)?;
        to.push(row.coordinator_id.clone());
        to.sort();
        to.dedup();
        outbox::emit(
            conn,
            NewEvent {
                event_type: "cvd.case_updated",
                subject_type: "cvd_case",
                subject_id: id,
                significant: false,
                data: serde_json::json!({
                    "case_id": new.id, "reference": new.reference, "state": new.state,
                    "changes": changes,
                }),
                recipients: to,
            },
        )?;
        new
    };
    audit::record(conn, &caller, "cvd.case.update", "cvd_case", id)?;
    view(conn, &row, &Acting::Coordinator(caller))
}

/// Moves a case along its graph: 409 for any other transition.
pub fn triage(
    conn: &mut DbConn,
    principal: &Principal,
    id: &str,
    input: TriageInput,
) -> AppResult<Case> {
    let (row, caller) = coordinating(conn, principal, id)?;
    let from = row.state();
    let to = input.state;
    if to == CaseState::Disclosed {
        return Err(AppError::invalid(
            "/state",
            "a case is disclosed by publishing it, which creates its advisory",
        ));
    }
    if !from.may_become(to) {
        return Err(AppError::Conflict(
            "invalid_transition",
            format!(
                "a case that is `{}` cannot become `{}`",
                from.as_str(),
                to.as_str()
            ),
        ));
    }
    let needs_reason = matches!(to, CaseState::Rejected | CaseState::Duplicate);
    if needs_reason && input.reason.is_none() {
        return Err(AppError::invalid("/reason", "a reason is required"));
    }
    let duplicate_of = match (to, &input.duplicate_of) {
        (CaseState::Duplicate, None) => {
            return Err(AppError::invalid(
                "/duplicate_of",
                "name the case this one duplicates",
            ))
        }
        (CaseState::Duplicate, Some(other)) => {
            let other = crate::http::parse_id(other)
                .map_err(|_| AppError::invalid("/duplicate_of", "must be a case id"))?;
            let original = cvd_cases::table
                .find(&other)
                .select(CaseRow::as_select())
                .first(conn)
                .optional()?;
            match original {
                Some(o) if o.id != row.id && coordinates(&caller, &o) => Some(o.id),
                _ => {
                    return Err(AppError::invalid(
                        "/duplicate_of",
                        "must be another case you coordinate",
                    ))
                }
            }
        }
        (_, Some(_)) => {
            return Err(AppError::invalid(
                "/duplicate_of",
                "only a duplicate names the case it duplicates",
            ))
        }
        _ => None,
    };
    let now = db::now();
    let mut changes = vec!["state".to_string()];
    let target = cvd_cases::table.find(id);
    diesel::update(target)
        .set((
            cvd_cases::state.eq(to.as_str()),
            cvd_cases::reason.eq(input.reason.clone().or(row.reason.clone())),
            cvd_cases::duplicate_of.eq(duplicate_of),
        ))
        .execute(conn)?;
    if row.acknowledged_at.is_none() {
        diesel::update(target)
            .set(cvd_cases::acknowledged_at.eq(Some(now)))
            .execute(conn)?;
        changes.push("acknowledged_at".into());
    }
    // Leaving `received` is the assessment: triaged, rejected or a duplicate.
    if row.assessed_at.is_none() {
        diesel::update(target)
            .set(cvd_cases::assessed_at.eq(Some(now)))
            .execute(conn)?;
        changes.push("assessed_at".into());
    }
    if to == CaseState::Triaged && row.embargo_until.is_none() {
        let embargo =
            crate::time::add_hours(utc(now), DEFAULT_EMBARGO_DAYS * 24).map(|t| t.naive_utc());
        diesel::update(target)
            .set(cvd_cases::embargo_until.eq(embargo))
            .execute(conn)?;
        changes.push("embargo_until".into());
    }
    if to.is_closed() {
        diesel::update(target)
            .set(cvd_cases::closed_at.eq(Some(now)))
            .execute(conn)?;
    }
    let row = bump(conn, id, now)?;
    emit_update(conn, &row, &changes, Audience::Everyone)?;
    audit::record(
        conn,
        &caller,
        &format!("cvd.case.{}", to.as_str()),
        "cvd_case",
        id,
    )?;
    view(conn, &row, &Acting::Coordinator(caller))
}

/// Adds a vendor; an external vendor gets a vendor token, shown once. The first vendor of a
/// triaged case moves it to `coordinating`.
pub fn add_vendor(
    conn: &mut DbConn,
    principal: &Principal,
    id: &str,
    input: VendorInput,
) -> AppResult<(VendorReceipt, VendorReceipt)> {
    let (row, caller) = coordinating(conn, principal, id)?;
    match row.state() {
        CaseState::Received => {
            return Err(AppError::Conflict(
                "case_not_triaged",
                "triage the case before notifying vendors".into(),
            ))
        }
        s if s.is_closed() => {
            return Err(AppError::Conflict(
                "case_closed",
                format!("the case is `{}`", s.as_str()),
            ))
        }
        _ => {}
    }
    let (name, entity_id, email) = match (&input.entity_id, &input.contact_email) {
        (Some(_), Some(_)) | (None, None) => return Err(AppError::invalid(
            "/entity_id",
            "give either `entity_id` (a registered entity) or `contact_email` (an external vendor)",
        )),
        (Some(entity), None) => {
            let entity = crate::http::parse_id(entity)
                .map_err(|_| AppError::invalid("/entity_id", "no registered entity has this id"))?;
            let found: Option<(String, String)> = entities::table
                .find(&entity)
                .select((entities::name, entities::status))
                .first(conn)
                .optional()?;
            let Some((entity_name, status)) = found else {
                return Err(AppError::invalid(
                    "/entity_id",
                    "no registered entity has this id",
                ));
            };
            if status == "deregistered" {
                return Err(AppError::invalid(
                    "/entity_id",
                    "the entity is deregistered",
                ));
            }
            let taken: i64 = cvd_vendors::table
                .filter(
                    cvd_vendors::case_id
                        .eq(id)
                        .and(cvd_vendors::entity_id.eq(&entity)),
                )
                .count()
                .get_result(conn)?;
            if taken > 0 {
                return Err(AppError::Conflict(
                    "vendor_exists",
                    "the entity is already a vendor of this case".into(),
                ));
            }
            (
                input.name.clone().unwrap_or(entity_name),
                Some(entity),
                None,
            )
        }
        (None, Some(email)) => {
            let Some(name) = input.name.clone() else {
                return Err(AppError::invalid(
                    "/name",
                    "an external vendor needs a name",
                ));
            };
            (name, None, Some(email.clone()))
        }
    };
    let now = db::now();
    let days = input.answer_within_days.unwrap_or(DEFAULT_ANSWER_DAYS);
    let due = crate::time::add_hours(utc(now), i64::from(days) * 24)
        .ok_or_else(|| AppError::invalid("/answer_within_days", "out of range"))?
        .naive_utc();
    let token = email
        .is_some()
        .then(|| access::new_token(access::VENDOR_PREFIX));
    let vendor_id = db::new_id();
    diesel::insert_into(cvd_vendors::table)
        .values((
            cvd_vendors::id.eq(&vendor_id),
            cvd_vendors::case_id.eq(id),
            cvd_vendors::name.eq(&name),
            cvd_vendors::entity_id.eq(&entity_id),
            cvd_vendors::contact_email.eq(&email),
            cvd_vendors::token_hash.eq(token.as_ref().map(|(_, h)| h.clone())),
            cvd_vendors::status.eq("unknown"),
            cvd_vendors::notified_at.eq(now),
            cvd_vendors::answer_due_at.eq(due),
            cvd_vendors::created_at.eq(now),
            cvd_vendors::updated_at.eq(now),
        ))
        .execute(conn)?;
    let mut changes = vec!["vendors".to_string()];
    if row.state() == CaseState::Triaged {
        diesel::update(cvd_cases::table.find(id))
            .set(cvd_cases::state.eq("coordinating"))
            .execute(conn)?;
        changes.push("state".into());
    }
    let row = bump(conn, id, now)?;
    let vendor: VendorRow = cvd_vendors::table
        .find(&vendor_id)
        .select(VendorRow::as_select())
        .first(conn)?;
    // The new vendor learns of the case; the others learn only of a state change.
    emit_update(conn, &row, &changes, Audience::Vendor(&vendor))?;
    if changes.len() > 1 {
        emit_update(conn, &row, &["state".to_string()], Audience::Everyone)?;
    }
    audit::record(conn, &caller, "cvd.vendor.add", "cvd_vendor", &vendor_id)?;
    let api = vendor.into_api();
    Ok((
        VendorReceipt {
            vendor: api.clone(),
            vendor_token: token.map(|(t, _)| t),
        },
        VendorReceipt {
            vendor: api,
            vendor_token: None,
        },
    ))
}

/// A vendor's answer (status, statement), or a coordinator's change of a vendor.
pub fn update_vendor(
    conn: &mut DbConn,
    principal: &Principal,
    id: &str,
    vendor_id: &str,
    patch: VendorPatch,
) -> AppResult<Vendor> {
    let (row, acting) = acting(conn, principal, id)?;
    match &acting {
        Acting::Coordinator(_) => {}
        Acting::Vendor { vendor_id: own, .. } if own == vendor_id => {
            if patch.answer_due_at.is_some() {
                return Err(AppError::ForbiddenAction(
                    "a vendor cannot move its own answer deadline".into(),
                ));
            }
        }
        // Another vendor's entry, or the finder: not one it may see.
        _ => return Err(AppError::NotFound),
    }
    let vendor: VendorRow = cvd_vendors::table
        .filter(
            cvd_vendors::id
                .eq(vendor_id)
                .and(cvd_vendors::case_id.eq(id)),
        )
        .select(VendorRow::as_select())
        .first(conn)?;
    if patch.status == Some(VendorStatus::Unresponsive) {
        return Err(AppError::invalid(
            "/status",
            "`unresponsive` is set by the service when the answer deadline passes",
        ));
    }
    if row.state().is_closed() {
        return Err(AppError::Conflict(
            "case_closed",
            format!("the case is `{}`", row.state().as_str()),
        ));
    }
    let now = db::now();
    let due = patch
        .answer_due_at
        .map(|t| future(t, now, "/answer_due_at"))
        .transpose()?;
    let mut changes = vec![];
    let target = cvd_vendors::table.find(vendor_id);
    if let Some(s) = patch.status {
        diesel::update(target)
            .set(cvd_vendors::status.eq(s.as_str()))
            .execute(conn)?;
        changes.push("vendors.status".to_string());
    }
    if let Some(s) = &patch.statement {
        diesel::update(target)
            .set(cvd_vendors::statement.eq(Some(s)))
            .execute(conn)?;
        changes.push("vendors.statement".to_string());
    }
    if let Some(t) = due {
        // A new deadline gives an unresponsive vendor another chance.
        diesel::update(target)
            .set((
                cvd_vendors::answer_due_at.eq(t),
                cvd_vendors::unresponsive_at.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
        if vendor.status == "unresponsive" && patch.status.is_none() {
            diesel::update(target)
                .set(cvd_vendors::status.eq("unknown"))
                .execute(conn)?;
        }
        changes.push("vendors.answer_due_at".to_string());
    }
    let answered = matches!(acting, Acting::Vendor { .. })
        && (patch.status.is_some() || patch.statement.is_some());
    if answered && vendor.responded_at.is_none() {
        diesel::update(target)
            .set(cvd_vendors::responded_at.eq(Some(now)))
            .execute(conn)?;
    }
    diesel::update(target)
        .set(cvd_vendors::updated_at.eq(now))
        .execute(conn)?;
    let vendor: VendorRow = cvd_vendors::table
        .find(vendor_id)
        .select(VendorRow::as_select())
        .first(conn)?;
    if !changes.is_empty() {
        let row = bump(conn, id, now)?;
        emit_update(conn, &row, &changes, Audience::Vendor(&vendor))?;
    }
    acting.audit(conn, "cvd.vendor.update", "cvd_vendor", vendor_id)?;
    Ok(vendor.into_api())
}

/// Why a case is disclosed before its embargo ends.
#[derive(Debug, Clone, Default)]
pub struct Force {
    pub force: bool,
    pub reason: Option<String>,
}

/// Discloses a coordinating case with the advisory that publishes it: the one call the
/// publication endpoint makes after creating the advisory, in the same transaction. Before
/// `embargo_until` it is refused (409) unless `force` comes with a `reason`; a forced
/// disclosure is audited as such, with the reason kept on the case.
pub fn disclose(
    conn: &mut DbConn,
    principal: &Principal,
    id: &str,
    advisory_id: &str,
    force: Force,
) -> AppResult<Case> {
    let (row, caller) = coordinating(conn, principal, id)?;
    if !row.state().may_become(CaseState::Disclosed) {
        return Err(AppError::Conflict(
            "invalid_transition",
            format!(
                "a case that is `{}` cannot become `disclosed`",
                row.state().as_str()
            ),
        ));
    }
    let now = db::now();
    let early = row.embargo_until.is_some_and(|until| now < until);
    if force.force && force.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(AppError::invalid(
            "/reason",
            "a forced publication needs a reason",
        ));
    }
    if early && !force.force {
        return Err(AppError::Conflict(
            "embargo_in_force",
            format!(
                "the embargo lasts until {}; publish earlier only with `force: true` and a `reason`",
                row.embargo_until.map(utc).unwrap_or_default().to_rfc3339()
            ),
        ));
    }
    let forced = early && force.force;
    diesel::update(cvd_cases::table.find(id))
        .set((
            cvd_cases::state.eq("disclosed"),
            cvd_cases::advisory_id.eq(Some(advisory_id)),
            cvd_cases::closed_at.eq(Some(now)),
            cvd_cases::reason.eq(if forced {
                force.reason.clone()
            } else {
                row.reason.clone()
            }),
        ))
        .execute(conn)?;
    let row = bump(conn, id, now)?;
    emit_update(
        conn,
        &row,
        &["state".to_string(), "advisory_id".to_string()],
        Audience::Everyone,
    )?;
    let action = if forced {
        "cvd.case.disclose_forced"
    } else {
        "cvd.case.disclose"
    };
    audit::record(conn, &caller, action, "cvd_case", id)?;
    view(conn, &row, &Acting::Coordinator(caller))
}

fn may_read(acting: &Acting, m: &MessageRow) -> bool {
    let own = match acting {
        Acting::Coordinator(_) => return true,
        Acting::Finder { .. } => m.author_kind == "finder",
        Acting::Vendor { vendor_id, .. } => {
            m.author_kind == "vendor" && m.author_id.as_deref() == Some(vendor_id.as_str())
        }
    };
    let meant = matches!(
        (acting, Visibility::parse(&m.visibility)),
        (_, Visibility::Everyone)
            | (Acting::Finder { .. }, Visibility::Finder)
            | (Acting::Vendor { .. }, Visibility::Vendors)
    );
    own || meant
}

fn message_api(acting: &Acting, m: MessageRow) -> Message {
    let kind = match m.author_kind.as_str() {
        "finder" => Viewer::Finder,
        "vendor" => Viewer::Vendor,
        _ => Viewer::Coordinator,
    };
    let own = match acting {
        Acting::Coordinator(_) => true,
        Acting::Finder { .. } => kind == Viewer::Finder,
        Acting::Vendor { vendor_id, .. } => {
            kind == Viewer::Vendor && m.author_id.as_deref() == Some(vendor_id.as_str())
        }
    };
    // Coordinators speak with their organisation's name; a finder or vendor is named only to
    // the coordinators and to itself.
    let name = (own || kind == Viewer::Coordinator).then_some(m.author_name);
    Message {
        id: m.id,
        author: Author { kind, name },
        visibility: Visibility::parse(&m.visibility),
        body: m.body,
        created_at: utc(m.created_at),
    }
}

/// The messages the principal may read, oldest first.
pub fn messages(
    conn: &mut DbConn,
    principal: &Principal,
    id: &str,
    page: &PageParams,
) -> AppResult<Vec<Message>> {
    let (_, acting) = acting(conn, principal, id)?;
    let mut q = cvd_messages::table
        .filter(cvd_messages::case_id.eq(id))
        .select(MessageRow::as_select())
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(cvd_messages::id.gt(after.clone()));
    }
    // Visibility is decided in SQL so that pages are full.
    q = match &acting {
        Acting::Coordinator(_) => q,
        Acting::Finder { .. } => q.filter(
            cvd_messages::visibility
                .eq_any(["everyone", "finder"])
                .or(cvd_messages::author_kind.eq("finder")),
        ),
        Acting::Vendor { vendor_id, .. } => q.filter(
            cvd_messages::visibility
                .eq_any(["everyone", "vendors"])
                .or(cvd_messages::author_kind
                    .eq("vendor")
                    .and(cvd_messages::author_id.eq(vendor_id.clone()))),
        ),
    };
    let rows: Vec<MessageRow> = q
        .order(cvd_messages::id.asc())
        .limit(page.limit + 1)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|m| may_read(&acting, m))
        .map(|m| message_api(&acting, m))
        .collect())
}

/// Posts a message. A coordinator's message the finder can read acknowledges the report.
pub fn post_message(
    conn: &mut DbConn,
    principal: &Principal,
    id: &str,
    input: MessageInput,
) -> AppResult<Message> {
    let (row, acting) = acting(conn, principal, id)?;
    let allowed = match &acting {
        Acting::Coordinator(_) => true,
        Acting::Finder { .. } => input.visibility != Visibility::Vendors,
        Acting::Vendor { .. } => input.visibility != Visibility::Finder,
    };
    if !allowed {
        return Err(AppError::invalid(
            "/visibility",
            "a finder writes to `coordinators`, `finder` or `everyone`; a vendor to `coordinators`, `vendors` or `everyone`",
        ));
    }
    let now = db::now();
    let (kind, author_id, author_name) = match &acting {
        Acting::Coordinator(c) => (
            "coordinator",
            Some(c.org.clone()),
            org_ref(conn, &c.org)
                .map(|o| o.name)
                .unwrap_or_else(|_| "Coordinator".into()),
        ),
        Acting::Finder { caller, .. } => {
            let finder: Option<Finder> = row
                .finder
                .as_deref()
                .map(serde_json::from_str)
                .transpose()?;
            (
                "finder",
                caller.as_ref().map(|c| c.org.clone()),
                finder
                    .and_then(|f| f.name)
                    .unwrap_or_else(|| "Finder".into()),
            )
        }
        Acting::Vendor { vendor_id, .. } => {
            let name: String = cvd_vendors::table
                .find(vendor_id)
                .select(cvd_vendors::name)
                .first(conn)?;
            ("vendor", Some(vendor_id.clone()), name)
        }
    };
    let message_id = db::new_id();
    diesel::insert_into(cvd_messages::table)
        .values((
            cvd_messages::id.eq(&message_id),
            cvd_messages::case_id.eq(id),
            cvd_messages::author_kind.eq(kind),
            cvd_messages::author_id.eq(&author_id),
            cvd_messages::author_name.eq(&author_name),
            cvd_messages::visibility.eq(input.visibility.as_str()),
            cvd_messages::body.eq(&input.body),
            cvd_messages::created_at.eq(now),
        ))
        .execute(conn)?;
    if let Acting::Vendor { vendor_id, .. } = &acting {
        diesel::update(
            cvd_vendors::table.filter(
                cvd_vendors::id
                    .eq(vendor_id)
                    .and(cvd_vendors::responded_at.is_null()),
            ),
        )
        .set(cvd_vendors::responded_at.eq(Some(now)))
        .execute(conn)?;
    }
    let mut changes = vec!["messages".to_string()];
    let finder_reads = matches!(input.visibility, Visibility::Everyone | Visibility::Finder);
    if matches!(acting, Acting::Coordinator(_)) && finder_reads && row.acknowledged_at.is_none() {
        diesel::update(cvd_cases::table.find(id))
            .set(cvd_cases::acknowledged_at.eq(Some(now)))
            .execute(conn)?;
        changes.push("acknowledged_at".into());
    }
    let row = bump(conn, id, now)?;
    emit_update(conn, &row, &changes, Audience::Visibility(input.visibility))?;
    acting.audit(conn, "cvd.message.post", "cvd_message", &message_id)?;
    let stored: MessageRow = cvd_messages::table
        .find(&message_id)
        .select(MessageRow::as_select())
        .first(conn)?;
    Ok(message_api(&acting, stored))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn acknowledgement_is_due_one_working_day_later() {
        let at = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, 12, d, h, 0, 0).unwrap();
        // 2026-12-01 is a Tuesday; the 4th a Friday, the 5th a Saturday, the 6th a Sunday.
        assert_eq!(one_working_day_after(at(1, 10)), at(2, 10));
        assert_eq!(one_working_day_after(at(4, 10)), at(7, 10));
        assert_eq!(one_working_day_after(at(5, 10)), at(7, 10));
        assert_eq!(one_working_day_after(at(6, 23)), at(7, 23));
    }

    #[test]
    fn assessment_is_due_three_working_days_later() {
        let at = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, 12, d, h, 0, 0).unwrap();
        // Tuesday → Friday; Thursday → Tuesday; Friday → Wednesday; Saturday → Wednesday.
        assert_eq!(three_working_days_after(at(1, 10)), at(4, 10));
        assert_eq!(three_working_days_after(at(3, 10)), at(8, 10));
        assert_eq!(three_working_days_after(at(4, 10)), at(9, 10));
        assert_eq!(three_working_days_after(at(5, 10)), at(9, 10));
    }

    #[test]
    fn the_state_graph_has_no_way_back() {
        use CaseState::*;
        assert!(Received.may_become(Triaged));
        assert!(Triaged.may_become(Coordinating));
        assert!(Coordinating.may_become(Disclosed));
        assert!(!Received.may_become(Coordinating));
        assert!(!Received.may_become(Disclosed));
        assert!(!Triaged.may_become(Received));
        for closed in [Disclosed, Rejected, Duplicate] {
            for next in [
                Received,
                Triaged,
                Coordinating,
                Disclosed,
                Rejected,
                Duplicate,
            ] {
                assert!(!closed.may_become(next), "{closed:?} -> {next:?}");
            }
        }
    }
}
