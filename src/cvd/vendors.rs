//! Vendors of a case: a registered entity or an external vendor invited by e-mail address,
//! each with its status, statement and answer deadline.

use super::access::{self, Principal};
use super::model::*;
use super::service::*;
use crate::audit;
use crate::db::{self, DbConn};
use crate::error::{AppError, AppResult};
use crate::schema::{cvd_cases, cvd_vendors, entities};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// Adds a vendor; an external vendor gets a vendor token, shown once. The first vendor of a
/// triaged case moves it to `coordinating`.
pub fn add_vendor(
    conn: &mut DbConn,
    principal: &Principal,
    id: &str,
    input: VendorInput,
) -> AppResult<(VendorReceipt, VendorReceipt)> {
    lock(conn)?;
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
            cvd_vendors::version.eq(1i64),
        ))
        .execute(conn)?;
    let mut changes = vec!["vendors".to_string()];
    if row.state() == CaseState::Triaged {
        diesel::update(cvd_cases::table.find(id))
            .set(cvd_cases::state.eq("coordinating"))
            .execute(conn)?;
        changes.push("state".into());
    }
    let row = bump_from(conn, id, row.version, now)?;
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

/// A vendor's answer (status, statement), or a coordinator's change of a vendor. With
/// `if_match`, only when the entry is still at that version (412 otherwise): the check and
/// the change happen under the write lock, and the entry moves on one version only from the
/// version read.
pub fn update_vendor(
    conn: &mut DbConn,
    principal: &Principal,
    id: &str,
    vendor_id: &str,
    patch: VendorPatch,
    if_match: Option<&str>,
) -> AppResult<Vendor> {
    lock(conn)?;
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
    crate::http::conditional::check(if_match, vendor.version)?;
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
    // An empty change changes nothing, not even the version.
    let moved = if changes.is_empty() {
        1
    } else {
        diesel::update(
            cvd_vendors::table.filter(
                cvd_vendors::id
                    .eq(vendor_id)
                    .and(cvd_vendors::version.eq(vendor.version)),
            ),
        )
        .set((
            cvd_vendors::updated_at.eq(now),
            cvd_vendors::version.eq(cvd_vendors::version + 1),
        ))
        .execute(conn)?
    };
    if moved != 1 {
        return Err(AppError::PreconditionFailed(
            "the vendor entry changed while this change was made; read it again and reapply your change".into(),
        ));
    }
    let vendor: VendorRow = cvd_vendors::table
        .find(vendor_id)
        .select(VendorRow::as_select())
        .first(conn)?;
    if !changes.is_empty() {
        let row = bump_from(conn, id, row.version, now)?;
        emit_update(conn, &row, &changes, Audience::Vendor(&vendor))?;
    }
    acting.audit(conn, "cvd.vendor.update", "cvd_vendor", vendor_id)?;
    Ok(vendor.into_api())
}
