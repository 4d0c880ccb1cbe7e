//! The advisory register: drafts, numbered publications, withdrawal, and who may read what.
//!
//! TLP 2.0 is enforced on every read, by one rule (`may_read`, and the same rule as SQL in
//! `list`): the issuer always; nobody else a draft; CLEAR anyone, without a token too;
//! GREEN any authenticated caller; AMBER and AMBER+STRICT of a national advisory any
//! authenticated caller (the audience is everyone); otherwise AMBER, AMBER+STRICT and RED the
//! organisations in `advisory_readers`, resolved at publication: AMBER the whole audience,
//! AMBER+STRICT the audience without those added by `match`, RED the named entities only.

use super::model::*;
use crate::audit;
use crate::auth::{Caller, Role};
use crate::db::{self, DbConn};
use crate::directory::load_directory;
use crate::entities::model::OrgRef;
use crate::entities::repo;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::json;
use crate::http::pagination::PageParams;
use crate::outbox::{self, NewEvent};
use crate::rules::coverage::{self, DirectoryOrg, Function, OrgKind};
use crate::schema::{
    advisories, advisory_cves, advisory_readers, advisory_revisions, advisory_sectors,
};
use crate::sectors;
use chrono::Datelike;
use diesel::prelude::*;

mod publication;
#[allow(unused_imports)]
pub use publication::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = advisories, treat_none_as_null = true)]
struct Row {
    id: String,
    reference: String,
    issuer_id: String,
    status: String,
    tlp: String,
    audience: String,
    severity: String,
    body: String,
    published_body: Option<String>,
    pending_changes: bool,
    revision: i64,
    version: i64,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    published_at: Option<chrono::NaiveDateTime>,
    withdrawn_at: Option<chrono::NaiveDateTime>,
    withdrawn_reason: Option<String>,
    /// `version` and `updated_at` as of the last published (or withdrawn) revision: what every
    /// reader but the issuer sees, so that the issuer's edits of the next revision move
    /// neither their `ETag` nor `updated_since` until that revision is published.
    published_version: Option<i64>,
    published_updated_at: Option<chrono::NaiveDateTime>,
}

fn org_ref(dir: &[DirectoryOrg], id: &str) -> OrgRef {
    dir.iter()
        .find(|o| o.id == id)
        .map(|o| OrgRef {
            id: o.id.clone(),
            code: o.code.clone(),
            name: o.name.clone(),
        })
        .unwrap_or(OrgRef {
            id: id.to_string(),
            code: String::new(),
            name: String::new(),
        })
}

fn is_issuer(caller: Option<&Caller>, row: &Row) -> bool {
    caller.is_some_and(|c| c.org == row.issuer_id)
}

/// The score computed from a vector that validation accepted.
pub fn score(vector: &str) -> Option<CvssScore> {
    let v = parse_cvss(vector).ok()?;
    let s = v.base_score();
    Some(CvssScore {
        base_score: s.value(),
        base_severity: s.severity().as_str().to_ascii_uppercase(),
    })
}

fn to_api(
    row: Row,
    caller: Option<&Caller>,
    revisions: Vec<Revision>,
    dir: &[DirectoryOrg],
) -> AppResult<Advisory> {
    let own = is_issuer(caller, &row);
    let text = if own {
        &row.body
    } else {
        row.published_body.as_ref().unwrap_or(&row.body)
    };
    let input: AdvisoryInput = serde_json::from_str(text)?;
    let (version, updated_at) = if own {
        (row.version, row.updated_at)
    } else {
        (
            row.published_version.unwrap_or(row.version),
            row.published_updated_at.unwrap_or(row.updated_at),
        )
    };
    Ok(Advisory {
        issuer: org_ref(dir, &row.issuer_id),
        cvss_v3_score: input.cvss_v3.as_deref().and_then(score),
        input,
        id: row.id,
        reference: row.reference,
        status: AdvisoryStatus::parse(&row.status).unwrap_or(AdvisoryStatus::Draft),
        revision: row.revision,
        revisions,
        pending_changes: own && row.pending_changes,
        published_at: row.published_at.map(|t| t.and_utc()),
        withdrawn_at: row.withdrawn_at.map(|t| t.and_utc()),
        withdrawn_reason: row.withdrawn_reason,
        version,
        created_at: row.created_at.and_utc(),
        updated_at: updated_at.and_utc(),
    })
}

fn revisions_of(conn: &mut DbConn, ids: &[String]) -> AppResult<Vec<(String, Revision)>> {
    let rows: Vec<(String, i64, chrono::NaiveDateTime, String)> = advisory_revisions::table
        .filter(advisory_revisions::advisory_id.eq_any(ids))
        .order((
            advisory_revisions::advisory_id.asc(),
            advisory_revisions::number.asc(),
        ))
        .select((
            advisory_revisions::advisory_id,
            advisory_revisions::number,
            advisory_revisions::date,
            advisory_revisions::summary,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, number, date, summary)| {
            (
                id,
                Revision {
                    number,
                    date: date.and_utc(),
                    summary,
                },
            )
        })
        .collect())
}

fn may_read(conn: &mut DbConn, caller: Option<&Caller>, row: &Row) -> AppResult<bool> {
    if is_issuer(caller, row) {
        return Ok(true);
    }
    if row.status == "draft" {
        return Ok(false);
    }
    let Some(caller) = caller else {
        return Ok(row.tlp == "CLEAR");
    };
    let tlp = Tlp::parse(&row.tlp).unwrap_or(Tlp::Red);
    if !tlp.restricted() || (row.audience == "national" && tlp != Tlp::Red) {
        return Ok(true);
    }
    let found: i64 = advisory_readers::table
        .filter(advisory_readers::advisory_id.eq(&row.id))
        .filter(advisory_readers::org_id.eq(&caller.org))
        .count()
        .get_result(conn)?;
    Ok(found > 0)
}

/// The advisory, if the caller (or an anonymous reader) may read it; 404 otherwise.
fn load_readable(conn: &mut DbConn, caller: Option<&Caller>, id: &str) -> AppResult<Row> {
    let row: Row = advisories::table
        .find(id)
        .select(Row::as_select())
        .first(conn)?;
    if may_read(conn, caller, &row)? {
        Ok(row)
    } else {
        Err(AppError::NotFound)
    }
}

/// Anonymous readers get only TLP:CLEAR, and a token is asked for everything else — the same
/// answer for an advisory that does not exist.
fn anonymous_refusal() -> AppError {
    AppError::Unauthorized(
        "without a bearer token only published TLP:CLEAR advisories can be read".into(),
    )
}

fn load_for(conn: &mut DbConn, caller: Option<&Caller>, id: &str) -> AppResult<Row> {
    match load_readable(conn, caller, id) {
        Err(AppError::NotFound) if caller.is_none() => Err(anonymous_refusal()),
        other => other,
    }
}

pub fn get(conn: &mut DbConn, caller: Option<&Caller>, id: &str) -> AppResult<Advisory> {
    let row = load_for(conn, caller, id)?;
    let dir = load_directory(conn)?;
    let revisions = revisions_of(conn, std::slice::from_ref(&row.id))?
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    to_api(row, caller, revisions, &dir)
}

/// Filters of the list.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub status: Option<AdvisoryStatus>,
    pub sector: Option<String>,
    pub tlp: Option<Tlp>,
    pub cve: Option<String>,
    pub updated_since: Option<chrono::NaiveDateTime>,
}

pub fn list(
    conn: &mut DbConn,
    caller: &Caller,
    page: &PageParams,
    f: Filters,
) -> AppResult<Vec<Advisory>> {
    let mut q = advisories::table
        .select(Row::as_select())
        .filter(
            advisories::issuer_id
                .eq(caller.org.clone())
                .or(advisories::status.ne("draft").and(readable_by!(caller.org))),
        )
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(advisories::id.gt(after.clone()));
    }
    if let Some(s) = f.status {
        q = q.filter(advisories::status.eq(s.as_str()));
    }
    if let Some(t) = f.tlp {
        q = q.filter(advisories::tlp.eq(t.as_str()));
    }
    if let Some(cve) = f.cve {
        q = q.filter(
            advisories::id.eq_any(
                advisory_cves::table
                    .filter(advisory_cves::cve.eq(cve.trim().to_ascii_uppercase()))
                    .select(advisory_cves::advisory_id),
            ),
        );
    }
    if let Some(s) = f.sector {
        // A sector includes its subsectors, and a subsector's advisories include its sector's.
        let mut exact: Vec<String> = vec![s.clone()];
        if let Some(parent) = sectors::find(&s).and_then(|x| x.parent) {
            exact.push(parent.to_string());
        }
        q = q.filter(
            advisories::id.eq_any(
                advisory_sectors::table
                    .filter(
                        advisory_sectors::sector
                            .eq_any(exact)
                            .or(advisory_sectors::sector.like(format!("{s}.%"))),
                    )
                    .select(advisory_sectors::advisory_id),
            ),
        );
    }
    if let Some(since) = f.updated_since {
        // The issuer's own changes, and for the others what was published.
        q = q.filter(
            advisories::issuer_id
                .eq(caller.org.clone())
                .and(advisories::updated_at.ge(since))
                .or(advisories::issuer_id
                    .ne(caller.org.clone())
                    .and(advisories::published_updated_at.ge(since))),
        );
    }
    let rows: Vec<Row> = q
        .order(advisories::id.asc())
        .limit(page.limit + 1)
        .load(conn)?;
    let dir = load_directory(conn)?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut revisions = revisions_of(conn, &ids)?;
    rows.into_iter()
        .map(|row| {
            let mine: Vec<Revision> = revisions
                .iter()
                .filter(|(id, _)| *id == row.id)
                .map(|(_, r)| r.clone())
                .collect();
            revisions.retain(|(id, _)| *id != row.id);
            to_api(row, Some(caller), mine, &dir)
        })
        .collect()
}

/// The leaf sectors a code stands for (itself, or its subsectors).
fn leaves(code: &str) -> Vec<&'static str> {
    sectors::SECTORS
        .iter()
        .filter(|s| s.code == code || s.parent == Some(code))
        .filter(|s| sectors::is_leaf(s.code))
        .map(|s| s.code)
        .collect()
}

/// What the issuer may address: a national CSIRT anything; a sectoral CSIRT the sectors it
/// covers and the entities it sees. Entity ids must be registered entities the issuer sees.
fn check_issuer(
    conn: &mut DbConn,
    caller: &Caller,
    input: &AdvisoryInput,
    dir: &[DirectoryOrg],
) -> AppResult<()> {
    let mut errors = vec![];
    let covered: Option<Vec<&'static str>> = match caller.role {
        Role::NationalCsirt => None,
        Role::SectoralCsirt => Some(coverage::sectors_of(dir, &caller.org)),
        _ => {
            return Err(AppError::ForbiddenAction(
                "advisories are issued by the national CSIRT and the sectoral CSIRTs".into(),
            ))
        }
    };
    if let Some(covered) = &covered {
        if input.audience == Audience::National {
            errors.push(FieldError::new(
                "/audience",
                "national advisories are issued by the national CSIRT; a sectoral CSIRT \
                 addresses the sectors it covers (`sectoral`) or entities (`targeted`)",
            ));
        }
        for (i, code) in input.sectors.iter().enumerate() {
            if sectors::find(code).is_some() && !leaves(code).iter().all(|l| covered.contains(l)) {
                errors.push(FieldError::new(
                    format!("/sectors/{i}"),
                    format!("`{code}` is not a sector you cover"),
                ));
            }
        }
    }
    if !input.entity_ids.is_empty() {
        let found = repo::registered_sectors(conn, &input.entity_ids)?;
        for (i, id) in input.entity_ids.iter().enumerate() {
            let visible = found.iter().any(|(e, sector)| {
                e == id
                    && covered
                        .as_ref()
                        .is_none_or(|c| c.contains(&sector.as_str()))
            });
            if !visible {
                errors.push(FieldError::new(
                    format!("/entity_ids/{i}"),
                    format!("`{id}` is not a registered entity you can see"),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

/// `FD-<ISSUER CODE>-<year>-<number>`, numbered per issuer and year under the write lock.
fn next_reference(conn: &mut DbConn, issuer: &OrgRef, year: i32) -> AppResult<String> {
    let next = db::next_number(conn, &format!("advisory-{}-{year}", issuer.id))?;
    let code: String = issuer
        .code
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '-'
            }
        })
        .collect();
    Ok(format!("FD-{code}-{year}-{next:04}"))
}

/// Replaces the rows the list filters on (CVEs, sectors) with those of `input`.
fn index(conn: &mut DbConn, id: &str, input: &AdvisoryInput) -> AppResult<()> {
    diesel::delete(advisory_cves::table.filter(advisory_cves::advisory_id.eq(id))).execute(conn)?;
    diesel::delete(advisory_sectors::table.filter(advisory_sectors::advisory_id.eq(id)))
        .execute(conn)?;
    for cve in &input.cves {
        diesel::insert_into(advisory_cves::table)
            .values((
                advisory_cves::advisory_id.eq(id),
                advisory_cves::cve.eq(cve),
            ))
            .execute(conn)?;
    }
    for s in &input.sectors {
        diesel::insert_into(advisory_sectors::table)
            .values((
                advisory_sectors::advisory_id.eq(id),
                advisory_sectors::sector.eq(s),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn create(conn: &mut DbConn, caller: &Caller, input: AdvisoryInput) -> AppResult<Advisory> {
    let dir = load_directory(conn)?;
    check_issuer(conn, caller, &input, &dir)?;
    let now = db::now();
    let issuer = org_ref(&dir, &caller.org);
    let row = Row {
        id: db::new_id(),
        reference: next_reference(conn, &issuer, now.year())?,
        issuer_id: caller.org.clone(),
        status: "draft".into(),
        tlp: input.tlp.as_str().into(),
        audience: input.audience.as_str().into(),
        severity: input.severity.as_str().into(),
        body: serde_json::to_string(&input)?,
        published_body: None,
        pending_changes: true,
        revision: 0,
        version: 1,
        created_at: now,
        updated_at: now,
        published_at: None,
        withdrawn_at: None,
        withdrawn_reason: None,
        published_version: None,
        published_updated_at: None,
    };
    diesel::insert_into(advisories::table)
        .values(&row)
        .execute(conn)?;
    index(conn, &row.id, &input)?;
    audit::record(conn, caller, "advisory.create", "advisory", &row.id)?;
    to_api(row, Some(caller), vec![], &dir)
}

/// The advisory, for a change by its issuer: 404 when the caller may not read it, 403 when it
/// may read but did not issue it, 412 on a stale `If-Match`.
fn load_own(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    if_match: Option<&str>,
) -> AppResult<Row> {
    let row = load_readable(conn, Some(caller), id)?;
    if row.issuer_id != caller.org {
        return Err(AppError::ForbiddenAction(
            "only the issuing organisation changes an advisory".into(),
        ));
    }
    crate::http::conditional::check(if_match, row.version)?;
    Ok(row)
}

fn save(conn: &mut DbConn, current: &Row, row: &Row) -> AppResult<()> {
    let n = diesel::update(
        advisories::table
            .find(&current.id)
            .filter(advisories::version.eq(current.version)),
    )
    .set(row)
    .execute(conn)?;
    if n == 1 {
        Ok(())
    } else {
        Err(AppError::PreconditionFailed(
            "the advisory changed while you updated it; read it again".into(),
        ))
    }
}

fn withdrawn() -> AppError {
    AppError::Conflict(
        "advisory_withdrawn",
        "the advisory is withdrawn; its record stays as it is".into(),
    )
}

/// A JSON merge patch of the working copy. A draft changes in place; a published advisory's
/// change waits for the next `publish`, which makes it a numbered revision (readers see the
/// published text until then).
pub fn update(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    if_match: Option<&str>,
    patch: &serde_json::Value,
) -> AppResult<Advisory> {
    let current = load_own(conn, caller, id, if_match)?;
    if current.status == "withdrawn" {
        return Err(withdrawn());
    }
    let mut doc: serde_json::Value = serde_json::from_str(&current.body)?;
    json::merge_patch_as::<AdvisoryInput>(&mut doc, patch)?;
    let input = AdvisoryInput::from_json(&serde_json::to_vec(&doc)?)?;
    let dir = load_directory(conn)?;
    check_issuer(conn, caller, &input, &dir)?;
    let body = serde_json::to_string(&input)?;
    let draft = current.status == "draft";
    let mut row = Row {
        body: body.clone(),
        pending_changes: draft || current.published_body.as_deref() != Some(body.as_str()),
        version: current.version + 1,
        updated_at: db::now(),
        ..current.clone()
    };
    if draft {
        row.tlp = input.tlp.as_str().into();
        row.audience = input.audience.as_str().into();
        row.severity = input.severity.as_str().into();
    }
    // The conditional update first: of concurrent changes carrying the same `If-Match`, the
    // first to update the row wins and the others wait for its commit on the row lock and then
    // find no row of their version (412) before they touch anything else.
    save(conn, &current, &row)?;
    if draft {
        index(conn, id, &input)?;
    }
    audit::record(conn, caller, "advisory.update", "advisory", id)?;
    get(conn, Some(caller), id)
}

/// One revision with the full text as it was published.
pub fn revision(
    conn: &mut DbConn,
    caller: Option<&Caller>,
    id: &str,
    number: i64,
) -> AppResult<AdvisoryRevision> {
    load_for(conn, caller, id)?;
    let (date, summary, published_by, snapshot): (chrono::NaiveDateTime, String, String, String) =
        advisory_revisions::table
            .find((id, number))
            .select((
                advisory_revisions::date,
                advisory_revisions::summary,
                advisory_revisions::published_by,
                advisory_revisions::snapshot,
            ))
            .first(conn)?;
    Ok(AdvisoryRevision {
        number,
        date: date.and_utc(),
        summary,
        published_by,
        advisory: serde_json::from_str(&snapshot)?,
    })
}

/// The CSAF 2.0 document of a published (or withdrawn) advisory as the API serves it: the
/// text the provider stored, hashed and signed for the current revision, so that
/// `GET /advisories/{id}/csaf` and the provider's file are byte for byte the same document;
/// rendered now only while the provider has not stored it yet (a backlog being worked off).
pub fn csaf(
    conn: &mut DbConn,
    caller: Option<&Caller>,
    id: &str,
    public_url: &str,
) -> AppResult<String> {
    let row = load_for(conn, caller, id)?;
    if row.status != "draft" {
        if let Some(text) = super::provider::stored_text(conn, id, row.revision, public_url)? {
            return Ok(text);
        }
    }
    Ok(serde_json::to_string_pretty(&render_csaf(
        conn, caller, id, public_url,
    )?)?)
}

/// Renders the CSAF 2.0 document of a published (or withdrawn) advisory, as its readers see
/// it; `public_url` is the provider's (its canonical URL is the document's `self` reference).
pub fn render_csaf(
    conn: &mut DbConn,
    caller: Option<&Caller>,
    id: &str,
    public_url: &str,
) -> AppResult<serde_json::Value> {
    let row = load_for(conn, caller, id)?;
    if row.status == "draft" {
        return Err(AppError::Conflict(
            "not_published",
            "a draft has no CSAF document yet; publish it first".into(),
        ));
    }
    let dir = load_directory(conn)?;
    let issuer = dir.iter().find(|o| o.id == row.issuer_id).cloned();
    let website = crate::directory::service::get(conn, &row.issuer_id)
        .ok()
        .and_then(|o| o.contact.website);
    let revisions: Vec<Revision> = revisions_of(conn, std::slice::from_ref(&row.id))?
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    // Readers other than the issuer see the published text; so does the document.
    let advisory = to_api(row, None, revisions, &dir)?;
    Ok(super::csaf::document(
        &advisory,
        issuer
            .map(|o| o.kind == OrgKind::NationalCsirt)
            .unwrap_or(false),
        website.as_deref(),
        public_url,
    ))
}
