//! A case's life: changes by its coordinators, triage (the state graph, duplicates and
//! rejections) and disclosure with the embargo rule.

use super::access::Principal;
use super::model::*;
use super::service::*;
use crate::audit;
use crate::auth::Role;
use crate::db::{self, DbConn};
use crate::error::{AppError, AppResult};
use crate::schema::{cvd_cases, organisations};
use diesel::prelude::*;

/// Changes a case's content, embargo, coordinator or co-coordinators.
///
/// Any coordinator changes the content and the embargo. Bringing the embargo forward is a
/// forced act (`force` with a `reason`): audited as `cvd.case.embargo_forced` and recorded in
/// a coordinators-only message, so every coordinator sees who shortened it, from when to when
/// and why. Only the lead coordinator changes the co-coordinators; only the national CSIRT
/// hands the case on. Each changed field is its own audit record (`cvd.case.update.<field>`).
pub fn update(
    conn: &mut DbConn,
    principal: &Principal,
    id: &str,
    patch: CasePatch,
    if_match: Option<&str>,
) -> AppResult<Case> {
    lock(conn)?;
    let (row, caller) = coordinating(conn, principal, id)?;
    crate::http::conditional::check(if_match, row.version)?;
    let now = db::now();
    let mut changes: Vec<String> = vec![];
    if patch.force && patch.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(AppError::invalid(
            "/reason",
            "bringing the embargo forward needs a reason",
        ));
    }
    let embargo = patch
        .embargo_until
        .map(|t| future(t, now, "/embargo_until"))
        .transpose()?;
    let forward = match (embargo, row.embargo_until) {
        (Some(new), Some(old)) if new < old => Some((old, new)),
        _ => None,
    };
    if let (Some((old, new)), false) = (forward, patch.force) {
        return Err(AppError::Conflict(
            "embargo_in_force",
            format!(
                "the embargo lasts until {}; bringing it forward (to {}) needs `force: true` and a `reason`",
                utc(old).to_rfc3339(),
                utc(new).to_rfc3339()
            ),
        ));
    }
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
        require_lead(&caller, &row, "changes the co-coordinators")?;
        for (i, c) in list.iter().enumerate() {
            if !c.country.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(AppError::invalid(
                    format!("/co_coordinators/{i}/country"),
                    "must be an ISO 3166-1 alpha-2 code in capitals",
                ));
            }
            if let Some(org) = &c.organisation_id {
                // A co-coordinator acts on the case and receives its events: a CSIRT, never
                // an authority or anything else the directory holds.
                let kind: Option<String> = organisations::table
                    .find(org)
                    .select(organisations::kind)
                    .first(conn)
                    .optional()?;
                if !matches!(kind.as_deref(), Some("national_csirt" | "sectoral_csirt")) {
                    return Err(AppError::invalid(
                        format!("/co_coordinators/{i}/organisation_id"),
                        "must be the id of a CSIRT in the directory",
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
    // What changed in who decides and when the case becomes public is written out (from →
    // to) in a coordinators-only message; the other fields' new values are on the case.
    let mut journal: Vec<String> = vec![];
    let when = |t: Option<chrono::NaiveDateTime>| {
        t.map(|t| utc(t).to_rfc3339())
            .unwrap_or_else(|| "none".into())
    };
    if let Some(t) = embargo {
        diesel::update(target)
            .set(cvd_cases::embargo_until.eq(Some(t)))
            .execute(conn)?;
        changes.push("embargo_until".into());
        match forward {
            Some((old, new)) => journal.push(format!(
                "brought the embargo forward, from {} to {}, with force; reason: {}",
                when(Some(old)),
                when(Some(new)),
                patch.reason.as_deref().unwrap_or_default().trim()
            )),
            None => journal.push(format!(
                "set the embargo from {} to {}",
                when(row.embargo_until),
                when(Some(t))
            )),
        }
    }
    if let Some(v) = &patch.coordinator_id {
        diesel::update(target)
            .set(cvd_cases::coordinator_id.eq(v))
            .execute(conn)?;
        changes.push("coordinator".into());
        journal.push(format!(
            "handed the case on, from {} to {}",
            org_ref(conn, &row.coordinator_id)?.name,
            org_ref(conn, v)?.name
        ));
    }
    if let Some(v) = &patch.co_coordinators {
        diesel::update(target)
            .set(cvd_cases::co_coordinators.eq(serde_json::to_string(v)?))
            .execute(conn)?;
        changes.push("co_coordinators".into());
        let names = |l: &[CoCoordinator]| {
            if l.is_empty() {
                "none".to_string()
            } else {
                l.iter()
                    .map(|c| format!("{} ({})", c.name, c.country))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        journal.push(format!(
            "changed the co-coordinators from {} to {}",
            names(&row.co()),
            names(v)
        ));
    }
    let row = if changes.is_empty() {
        row
    } else {
        let previous = row.clone();
        if !journal.is_empty() {
            let author = org_ref(conn, &caller.org)
                .map(|o| o.name)
                .unwrap_or_else(|_| "Coordinator".into());
            super::messages::record_coordinators_note(
                conn,
                id,
                &caller.org,
                &author,
                &format!("{author} {}.", journal.join("; ")),
                now,
            )?;
        }
        let new = bump_from(conn, id, previous.version, now)?;
        // The previous coordinator and the co-coordinators taken off hear of the change.
        let mut to = recipients(conn, &new, Audience::Everyone)?;
        to.push(previous.coordinator_id.clone());
        to.extend(previous.co().into_iter().filter_map(|c| c.organisation_id));
        to.sort();
        to.dedup();
        emit_update_to(conn, &new, &changes, to)?;
        if !journal.is_empty() {
            // The note is for the coordinators: an event to them alone.
            let mut noted = vec!["messages".to_string()];
            if forward.is_some() {
                noted.push("embargo_forced".into());
            }
            emit_update(
                conn,
                &new,
                &noted,
                Audience::Visibility(Visibility::Coordinators),
            )?;
        }
        new
    };
    for field in &changes {
        audit::record(
            conn,
            &caller,
            &format!("cvd.case.update.{field}"),
            "cvd_case",
            id,
        )?;
    }
    if forward.is_some() {
        audit::record(conn, &caller, "cvd.case.embargo_forced", "cvd_case", id)?;
    }
    view(conn, &row, &Acting::Coordinator(caller))
}

/// Moves a case along its graph: 409 for any other transition.
pub fn triage(
    conn: &mut DbConn,
    principal: &Principal,
    id: &str,
    input: TriageInput,
) -> AppResult<Case> {
    lock(conn)?;
    let (row, caller) = coordinating(conn, principal, id)?;
    let from = row.state();
    let to = input.state;
    if matches!(to, CaseState::Rejected | CaseState::Duplicate) {
        // Ending a case ends everyone's work on it, as publishing does.
        require_lead(&caller, &row, "ends a case")?;
    }
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
    let row = bump_from(conn, id, row.version, now)?;
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
    lock(conn)?;
    let (row, caller) = coordinating(conn, principal, id)?;
    require_lead(&caller, &row, "publishes a case")?;
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
    let row = bump_from(conn, id, row.version, now)?;
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
