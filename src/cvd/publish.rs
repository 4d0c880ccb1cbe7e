//! Publication of a CVD case: the advisory is made from the case and published through the
//! advisory register (so its CSAF document, the provider tree, the feed and webhooks follow
//! with no code here), and the case is disclosed with it — all in the caller's one write
//! transaction, so a refusal at any step (the embargo, a missing reference, an issuer the
//! register refuses) leaves neither an advisory nor a changed case.

use super::access::Principal;
use super::lifecycle::Force;
use super::model::*;
use super::service::{self, CaseRow, VendorRow};
use crate::advisories::model::{
    Acknowledgment, AdvisoryInput, AffectedProduct, Audience, Match, Reference,
};
use crate::advisories::service as advisories;
use crate::auth::Role;
use crate::db::DbConn;
use crate::error::{AppError, AppResult, FieldError};
use crate::schema::cvd_vendors;
use diesel::prelude::*;

/// The product entries of the advisory: one per vendor that answered, the case's versions
/// under the vendor's status (`affected` → known affected, `fixed` → fixed, `not_affected` →
/// known not affected, as CSAF names them). A vendor whose status is `unknown` or
/// `unresponsive` has no product status to state; the summary names the silent ones.
pub fn products(row: &CaseRow, vendors: &[VendorRow]) -> AppResult<Vec<AffectedProduct>> {
    let product = row.product.clone().ok_or_else(|| {
        AppError::Conflict(
            "case_incomplete",
            "the case names no product; set `product` and `versions` on the case first".into(),
        )
    })?;
    let mut versions: Vec<String> = serde_json::from_str(&row.versions)?;
    let mut seen = vec![];
    versions.retain(|v| {
        let new = !seen.contains(v);
        seen.push(v.clone());
        new
    });
    if versions.is_empty() {
        return Err(AppError::Conflict(
            "case_incomplete",
            "the case names no versions; set `versions` on the case first".into(),
        ));
    }
    let mut out = vec![];
    for v in vendors {
        let entry = |affected: Vec<String>, fixed: Vec<String>, not: Vec<String>| AffectedProduct {
            vendor: v.name.clone(),
            product: product.clone(),
            versions: affected,
            fixed_in: fixed,
            not_affected: not,
            cpe: None,
            purl: None,
        };
        match VendorStatus::parse(&v.status) {
            VendorStatus::Affected => out.push(entry(versions.clone(), vec![], vec![])),
            VendorStatus::Fixed => out.push(entry(vec![], versions.clone(), vec![])),
            VendorStatus::NotAffected => out.push(entry(vec![], vec![], versions.clone())),
            VendorStatus::Unknown | VendorStatus::Unresponsive => {}
        }
    }
    if out.is_empty() {
        return Err(AppError::Conflict(
            "no_vendor_status",
            "no vendor of the case has said whether it is affected; an advisory needs at \
             least one product status"
                .into(),
        ));
    }
    Ok(out)
}

/// The advisory a case becomes.
fn advisory_input(
    conn: &mut DbConn,
    row: &CaseRow,
    issuer: &crate::auth::Caller,
    input: &PublishCvdCase,
) -> AppResult<AdvisoryInput> {
    let vendors: Vec<VendorRow> = cvd_vendors::table
        .filter(cvd_vendors::case_id.eq(&row.id))
        .order(cvd_vendors::id.asc())
        .select(VendorRow::as_select())
        .load(conn)?;
    let affected_products = products(row, &vendors)?;
    let mut cves: Vec<String> = serde_json::from_str(&row.cves)?;
    cves.sort();
    cves.dedup();
    let mut references: Vec<Reference> = input.references.clone();
    references.extend(cves.iter().map(|c| Reference {
        url: format!("https://www.cve.org/CVERecord?id={c}"),
        summary: format!("CVE record {c}"),
    }));
    if references.is_empty() {
        return Err(AppError::invalid(
            "/references",
            "the case has no CVE id to link; name at least one reference (e.g. the vendor's \
             bulletin)",
        ));
    }
    let finder: Option<Finder> = row
        .finder
        .as_deref()
        .map(serde_json::from_str)
        .transpose()?;
    // Credit only when the finder asked for it, in the words it chose.
    let acknowledgments = finder
        .and_then(|f| f.credit)
        .map(|name| Acknowledgment {
            name,
            summary: Some("for reporting this vulnerability".into()),
        })
        .into_iter()
        .collect();
    let mut summary = input
        .summary
        .clone()
        .unwrap_or_else(|| row.description.clone());
    let silent: Vec<&str> = vendors
        .iter()
        .filter(|v| v.status == VendorStatus::Unresponsive.as_str())
        .map(|v| v.name.as_str())
        .collect();
    if !silent.is_empty() {
        summary.push_str(&format!(
            "\n\nVendors that did not answer by their deadline: {}.",
            silent.join(", ")
        ));
    }
    // The national CSIRT publishes to everyone; a sectoral CSIRT coordinating the case
    // publishes to the sectors it covers, the widest audience it may address.
    let (audience, sectors) = if issuer.role == Role::NationalCsirt {
        (Audience::National, vec![])
    } else {
        let dir = crate::directory::load_directory(conn)?;
        let sectors: Vec<String> = crate::rules::coverage::sectors_of(&dir, &issuer.org)
            .into_iter()
            .map(String::from)
            .collect();
        (Audience::Sectoral, sectors)
    };
    Ok(AdvisoryInput {
        title: row.title.trim().to_string(),
        summary,
        audience,
        sectors,
        entity_ids: vec![],
        r#match: Match::default(),
        tlp: input
            .tlp
            .map(PublicationTlp::tlp)
            .unwrap_or(crate::tlp::Tlp::Clear),
        severity: input.severity,
        cves,
        cvss_v3: None,
        cwes: vec![],
        affected_products,
        remediation: input.remediation.clone(),
        references,
        acknowledgments,
    })
}

/// Publishes the case: creates and publishes its advisory through the advisory register and
/// discloses the case with it. Before `embargo_until` only with `force` and a `reason`. Call
/// inside one write transaction.
pub fn publish(
    conn: &mut DbConn,
    principal: &Principal,
    id: &str,
    input: PublishCvdCase,
) -> AppResult<CvdPublication> {
    service::lock(conn)?;
    let (row, caller) = service::coordinating(conn, principal, id)?;
    service::require_lead(&caller, &row, "publishes a case")?;
    let mut errors = vec![];
    if input.force && input.reason.is_none() {
        errors.push(FieldError::new(
            "/reason",
            "a forced publication needs a reason",
        ));
    }
    for (i, r) in input.references.iter().enumerate() {
        if !crate::formats::is_http_url(&r.url) {
            errors.push(FieldError::new(
                format!("/references/{i}/url"),
                "must be an http(s) URL without spaces",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    if !row.state().may_become(CaseState::Disclosed) {
        return Err(AppError::Conflict(
            "invalid_transition",
            format!(
                "a case that is `{}` cannot be published; it must be `coordinating`",
                row.state().as_str()
            ),
        ));
    }
    let advisory = advisory_input(conn, &row, &caller, &input)?;
    let draft = advisories::create(conn, &caller, advisory)?;
    let advisory = advisories::publish(conn, &caller, &draft.id, None, None)?;
    let case = super::lifecycle::disclose(
        conn,
        principal,
        id,
        &advisory.id,
        Force {
            force: input.force,
            reason: input.reason,
        },
    )?;
    Ok(CvdPublication { case, advisory })
}
