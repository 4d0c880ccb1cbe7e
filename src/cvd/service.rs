//! CVD cases: the rows, who takes part how (`Acting`), what each participant sees of a case,
//! events and reads. The writes are by sub-capability beside it: `intake`, `lifecycle`,
//! `vendors`, `messages`, `sweep`, `publish`. Every function that writes runs inside the
//! caller's write transaction and records its audit entry and events.

use super::access::Principal;
use super::model::*;
use crate::audit::{self, Actor};
use crate::auth::{Caller, Role, Scope};
use crate::db::{self, DbConn};
use crate::entities::model::OrgRef;
use crate::error::{AppError, AppResult};
use crate::http::pagination::PageParams;
use crate::outbox::{self, NewEvent};
use crate::schema::{cvd_cases, cvd_vendors, organisations};
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

    pub(super) fn co(&self) -> Vec<CoCoordinator> {
        serde_json::from_str(&self.co_coordinators).unwrap_or_default()
    }

    /// Whether the finder agreed that co-coordinators see its identity.
    pub(super) fn finder_shares(&self) -> bool {
        self.finder
            .as_deref()
            .and_then(|f| serde_json::from_str::<Finder>(f).ok())
            .is_some_and(|f| f.share_with_co_coordinators)
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
    pub version: i64,
}

impl VendorRow {
    pub(super) fn into_api(self) -> Vendor {
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
            version: self.version,
        }
    }
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
    pub(super) fn audit(
        &self,
        conn: &mut DbConn,
        action: &str,
        kind: &str,
        id: &str,
    ) -> AppResult<()> {
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

    /// The key under which an `Idempotency-Key` of this actor is kept. A case token is the
    /// credential of one case, so its keys are kept per case: one finder's key never answers
    /// (or blocks) another finder's request. A vendor token's are per vendor entry.
    pub fn idempotency_caller(&self, case_id: &str) -> Caller {
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
            } => token_caller(&format!("cvd-case-token:{case_id}"), request_id),
            Acting::Vendor {
                caller: None,
                vendor_id,
                request_id,
            } => token_caller(&format!("cvd-vendor-token:{vendor_id}"), request_id),
        }
    }
}

pub(super) fn token_caller(org: &str, request_id: &str) -> Caller {
    Caller {
        sub: org.to_string(),
        org: org.to_string(),
        role: Role::Entity,
        scopes: vec![],
        client_id: None,
        request_id: request_id.to_string(),
    }
}

pub(super) fn utc(t: NaiveDateTime) -> DateTime<Utc> {
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
pub(super) fn next_reference(conn: &mut DbConn, now: DateTime<Utc>) -> AppResult<String> {
    let next = db::next_number(conn, &format!("cvd-{}", now.year()))?;
    Ok(format!("CVD-{}-{next:04}", now.year()))
}

pub(super) fn national_csirt(conn: &mut DbConn) -> AppResult<String> {
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

pub(super) fn org_ref(conn: &mut DbConn, id: &str) -> AppResult<OrgRef> {
    let (id, code, name): (String, String, String) = organisations::table
        .find(id)
        .select((organisations::id, organisations::code, organisations::name))
        .first(conn)?;
    Ok(OrgRef { id, code, name })
}

pub(super) fn case_row(conn: &mut DbConn, id: &str) -> AppResult<CaseRow> {
    Ok(cvd_cases::table
        .find(id)
        .select(CaseRow::as_select())
        .first(conn)?)
}

pub(super) fn vendors_of(conn: &mut DbConn, case_id: &str) -> AppResult<Vec<VendorRow>> {
    Ok(cvd_vendors::table
        .filter(cvd_vendors::case_id.eq(case_id))
        .order(cvd_vendors::id.asc())
        .select(VendorRow::as_select())
        .load(conn)?)
}

/// Whether the caller leads the case: the CSIRT the case is assigned to, and the national
/// CSIRT, which is the designated CVD coordinator (NIS2 Art. 12(1)) and assigns cases. Only
/// the lead publishes, ends the case, changes the co-coordinators, hands the case on (the
/// national CSIRT) and sees the finder's identity (unless the finder agreed to share it).
pub fn leads(caller: &Caller, row: &CaseRow) -> bool {
    caller.role == Role::NationalCsirt || caller.org == row.coordinator_id
}

/// 403 unless the caller leads the case (see [`leads`]).
pub(super) fn require_lead(caller: &Caller, row: &CaseRow, what: &str) -> AppResult<()> {
    if leads(caller, row) {
        Ok(())
    } else {
        Err(AppError::ForbiddenAction(format!(
            "only the lead coordinator of the case (the coordinating CSIRT or the national CSIRT) {what}; a co-coordinator does not"
        )))
    }
}

/// Whether a coordinator sees who the finder is: the lead always, a co-coordinator when the
/// finder agreed.
pub(super) fn sees_finder(caller: &Caller, row: &CaseRow) -> bool {
    leads(caller, row) || row.finder_shares()
}

/// Whether an organisation coordinates the case: the national CSIRT always; a sectoral CSIRT
/// when the case is assigned to it; another state's CSIRT registered as co-coordinator.
pub(super) fn coordinates(caller: &Caller, row: &CaseRow) -> bool {
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

pub(super) fn view(conn: &mut DbConn, row: &CaseRow, acting: &Acting) -> AppResult<Case> {
    let viewer = acting.viewer();
    let coordinator = viewer == Viewer::Coordinator;
    let identity = match acting {
        Acting::Coordinator(c) => sees_finder(c, row),
        _ => false,
    };
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
        finder: if identity {
            row.finder
                .as_deref()
                .map(serde_json::from_str)
                .transpose()?
        } else {
            None
        },
        reported_by: row.reporter_org.clone().filter(|_| identity),
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
pub(super) enum Audience<'a> {
    Everyone,
    Visibility(Visibility),
    Vendor(&'a VendorRow),
}

pub(super) fn recipients(
    conn: &mut DbConn,
    row: &CaseRow,
    audience: Audience,
) -> AppResult<Vec<String>> {
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

pub(super) fn emit_update(
    conn: &mut DbConn,
    row: &CaseRow,
    changes: &[String],
    audience: Audience,
) -> AppResult<()> {
    let to = recipients(conn, row, audience)?;
    emit_update_to(conn, row, changes, to)
}

/// `cvd.case_updated` to exactly `to` (who may hear of the change is the caller's to decide).
pub(super) fn emit_update_to(
    conn: &mut DbConn,
    row: &CaseRow,
    changes: &[String],
    to: Vec<String>,
) -> AppResult<()> {
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

/// Moves the case on one version, only from `read` (the version the change was decided on):
/// 412 when another change came first. Every CVD write takes the write lock before it reads
/// the case, so this cannot fail in practice; it is the guarantee written down.
pub(super) fn bump_from(
    conn: &mut DbConn,
    id: &str,
    read: i64,
    now: NaiveDateTime,
) -> AppResult<CaseRow> {
    let moved = diesel::update(
        cvd_cases::table.filter(cvd_cases::id.eq(id).and(cvd_cases::version.eq(read))),
    )
    .set((
        cvd_cases::version.eq(cvd_cases::version + 1),
        cvd_cases::updated_at.eq(now),
    ))
    .execute(conn)?;
    if moved != 1 {
        return Err(AppError::PreconditionFailed(
            "the case changed while this change was made; read it again and reapply your change"
                .into(),
        ));
    }
    case_row(conn, id)
}

/// Serialises the CVD writes: taken before the case is read, so that what a write decides on
/// (the version `If-Match` names, the embargo, a count against a cap) is what it changes. On
/// PostgreSQL this is the write lock every audited write takes anyway (taking it first, and
/// only it, cannot deadlock with a row lock); on SQLite the write transaction holds it.
pub(super) fn lock(conn: &mut DbConn) -> AppResult<()> {
    db::lock_writes(conn)
}

pub(super) fn bump(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> AppResult<CaseRow> {
    diesel::update(cvd_cases::table.find(id))
        .set((
            cvd_cases::version.eq(cvd_cases::version + 1),
            cvd_cases::updated_at.eq(now),
        ))
        .execute(conn)?;
    case_row(conn, id)
}

/// A case as the principal may see it. `audit_read` is false for a token holder's read that
/// falls in an interval whose read is already audited (see `cvd::Limits::read_audit_due`).
pub fn get(
    conn: &mut DbConn,
    principal: &Principal,
    id: &str,
    audit_read: bool,
) -> AppResult<Case> {
    let (row, acting) = acting(conn, principal, id)?;
    if audit_read {
        acting.audit(conn, "cvd.case.read", "cvd_case", id)?;
    }
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

pub(super) fn future(
    t: DateTime<Utc>,
    now: NaiveDateTime,
    pointer: &str,
) -> AppResult<NaiveDateTime> {
    let t = db::micros(t).naive_utc();
    if t <= now {
        return Err(AppError::invalid(
            pointer,
            "must be an instant in the future",
        ));
    }
    Ok(t)
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
