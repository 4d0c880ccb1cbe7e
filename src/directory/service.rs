//! Organisations: validation, storage and the directory-wide invariants (one national CSIRT;
//! no two CSIRTs, and no two authorities, naming the same sector code).

use super::sectors;
use crate::audit;
use crate::auth::Caller;
use crate::db::{self, DbConn};
use crate::error::{AppError, AppResult, FieldError};
use crate::http::json;
use crate::http::pagination::PageParams;
use crate::rules::coverage::{DirectoryOrg, OrgKind};
use crate::schema::organisations;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

/// RFC 2350-style description of a CSIRT or authority.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// What the organisation does, in a sentence or two.
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// Who it serves (RFC 2350 §3.1).
    #[validate(length(max = 2000))]
    #[schema(
        max_length = 2000,
        example = "Operators of essential services in the energy sector"
    )]
    pub constituency: Option<String>,
    #[validate(email)]
    #[schema(format = Email, example = "cert@energy-csirt.example")]
    pub email: Option<String>,
    #[validate(length(max = 40))]
    #[schema(max_length = 40, example = "+31 70 000 0000")]
    pub phone: Option<String>,
    #[validate(length(max = 40))]
    #[schema(max_length = 40)]
    pub emergency_phone: Option<String>,
    #[validate(url)]
    #[schema(format = "uri", example = "https://energy-csirt.example")]
    pub website: Option<String>,
    #[validate(length(max = 200))]
    #[schema(max_length = 200, example = "24/7")]
    pub service_hours: Option<String>,
    #[serde(default)]
    #[schema(example = json!(["en", "nl"]))]
    pub languages: Vec<String>,
    /// Fingerprint of the PGP key for encrypted reports.
    #[validate(length(max = 100))]
    #[schema(max_length = 100)]
    pub pgp_fingerprint: Option<String>,
}

/// An organisation as sent to create or import one.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "code": "energy-csirt", "name": "CSIRT Energy", "kind": "sectoral_csirt",
    "coverage": ["energy"], "contact": {"email": "cert@energy-csirt.example", "service_hours": "24/7"}
}))]
pub struct OrganisationInput {
    /// Unique short slug: lower-case letters, digits and dashes, not starting with a dash.
    #[validate(length(min = 2, max = 40))]
    #[schema(min_length = 2, max_length = 40, pattern = "^[a-z0-9][a-z0-9-]*$")]
    pub code: String,
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub kind: OrgKind,
    /// Sector or subsector codes from `GET /api/v1/sectors`, each once.
    #[serde(default)]
    #[schema(value_type = Vec<crate::sectors::SectorCode>)]
    pub coverage: Vec<String>,
    #[serde(default)]
    #[validate(nested)]
    pub contact: Contact,
}

/// An organisation of the directory.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Organisation {
    #[schema(format = Uuid, example = "0193a0b2-7c1e-7d3a-9f00-2b8e4c1d5e6f")]
    pub id: String,
    #[schema(example = "energy-csirt")]
    pub code: String,
    #[schema(example = "CSIRT Energy")]
    pub name: String,
    pub kind: OrgKind,
    #[schema(example = json!(["energy"]))]
    pub coverage: Vec<String>,
    pub contact: Contact,
    #[schema(example = 1)]
    pub version: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = organisations)]
struct OrganisationRow {
    id: String,
    code: String,
    name: String,
    kind: String,
    coverage: String,
    contact: String,
    version: i64,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
}

impl OrganisationRow {
    fn into_api(self) -> AppResult<Organisation> {
        Ok(Organisation {
            kind: OrgKind::parse(&self.kind)
                .ok_or_else(|| AppError::internal(format!("unknown kind {}", self.kind)))?,
            coverage: serde_json::from_str(&self.coverage)?,
            contact: serde_json::from_str(&self.contact)?,
            id: self.id,
            code: self.code,
            name: self.name,
            version: self.version,
            created_at: self.created_at.and_utc(),
            updated_at: self.updated_at.and_utc(),
        })
    }
}

/// Checks what the field rules cannot: slug syntax and sector codes.
pub fn validate(input: &OrganisationInput) -> AppResult<()> {
    input
        .validate()
        .map_err(|e| AppError::Validation(json::field_errors(&e)))?;
    let mut errors = Vec::new();
    if !input
        .code
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        || input.code.starts_with('-')
    {
        errors.push(FieldError::new(
            "/code",
            "use lower-case letters, digits and dashes, such as `energy-csirt`",
        ));
    }
    for (i, code) in input.coverage.iter().enumerate() {
        if sectors::find(code).is_none() {
            errors.push(FieldError::new(
                format!("/coverage/{i}"),
                format!("`{code}` is not a sector code; see GET /api/v1/sectors"),
            ));
        } else if input.coverage[..i].contains(code) {
            errors.push(FieldError::new(
                format!("/coverage/{i}"),
                format!("`{code}` is listed twice"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

/// The directory as the rules see it.
pub fn load_directory(conn: &mut DbConn) -> AppResult<Vec<DirectoryOrg>> {
    let rows: Vec<OrganisationRow> = organisations::table
        .select(OrganisationRow::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|r| {
            let org = r.into_api()?;
            Ok(DirectoryOrg {
                id: org.id,
                code: org.code,
                name: org.name,
                kind: org.kind,
                coverage: org.coverage,
            })
        })
        .collect()
}

/// Directory-wide invariants, checked after every write in the same transaction.
fn check_directory(conn: &mut DbConn) -> AppResult<()> {
    let dir = load_directory(conn)?;
    let national: Vec<_> = dir
        .iter()
        .filter(|o| o.kind == OrgKind::NationalCsirt)
        .collect();
    if national.len() > 1 {
        return Err(AppError::Conflict(
            "national_csirt_exists",
            format!(
                "`{}` is already the national CSIRT; there is only one",
                national[0].code
            ),
        ));
    }
    for (i, a) in dir.iter().enumerate() {
        for b in &dir[i + 1..] {
            if a.kind.function() != b.kind.function() {
                continue;
            }
            if let Some(code) = a.coverage.iter().find(|c| b.coverage.contains(c)) {
                return Err(AppError::Conflict(
                    "coverage_conflict",
                    format!("`{}` and `{}` both cover `{code}`; a sector code has one CSIRT and one authority", a.code, b.code),
                ));
            }
        }
    }
    Ok(())
}

pub fn list(
    conn: &mut DbConn,
    page: &PageParams,
    kind: Option<OrgKind>,
    code: Option<String>,
    updated_since: Option<chrono::NaiveDateTime>,
) -> AppResult<Vec<Organisation>> {
    let mut q = organisations::table
        .select(OrganisationRow::as_select())
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(organisations::id.gt(after.clone()));
    }
    if let Some(kind) = kind {
        q = q.filter(organisations::kind.eq(kind.as_str()));
    }
    if let Some(code) = code {
        q = q.filter(organisations::code.eq(code));
    }
    if let Some(since) = updated_since {
        q = q.filter(organisations::updated_at.ge(since));
    }
    let rows: Vec<OrganisationRow> = q
        .order(organisations::id.asc())
        .limit(page.limit + 1)
        .load(conn)?;
    rows.into_iter().map(OrganisationRow::into_api).collect()
}

pub fn get(conn: &mut DbConn, id: &str) -> AppResult<Organisation> {
    organisations::table
        .find(id)
        .select(OrganisationRow::as_select())
        .first(conn)?
        .into_api()
}

pub fn find_by_code_or_id(conn: &mut DbConn, key: &str) -> AppResult<Organisation> {
    organisations::table
        .filter(organisations::code.eq(key).or(organisations::id.eq(key)))
        .select(OrganisationRow::as_select())
        .first(conn)?
        .into_api()
}

/// There is one national CSIRT: refuse a second with its own code before the unique index
/// would, so the caller learns which rule it broke.
fn check_single_national(
    conn: &mut DbConn,
    input: &OrganisationInput,
    own_id: Option<&str>,
) -> AppResult<()> {
    if input.kind != OrgKind::NationalCsirt {
        return Ok(());
    }
    let existing: Option<(String, String)> = organisations::table
        .filter(organisations::kind.eq(OrgKind::NationalCsirt.as_str()))
        .select((organisations::id, organisations::code))
        .first(conn)
        .optional()?;
    match existing {
        Some((id, code)) if Some(id.as_str()) != own_id => Err(AppError::Conflict(
            "national_csirt_exists",
            format!("`{code}` is already the national CSIRT; there is only one"),
        )),
        _ => Ok(()),
    }
}

fn insert(conn: &mut DbConn, input: OrganisationInput) -> AppResult<Organisation> {
    validate(&input)?;
    check_single_national(conn, &input, None)?;
    let now = db::now();
    let row = OrganisationRow {
        id: db::new_id(),
        code: input.code.clone(),
        name: input.name,
        kind: input.kind.as_str().to_string(),
        coverage: serde_json::to_string(&input.coverage)?,
        contact: serde_json::to_string(&input.contact)?,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    match diesel::insert_into(organisations::table)
        .values(&row)
        .execute(conn)
    {
        Ok(_) => {}
        Err(e) if db::is_unique_violation(&e) => {
            return Err(AppError::Conflict(
                "code_taken",
                format!(
                    "an organisation with the code `{}` exists already",
                    input.code
                ),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    row.into_api()
}

/// Writes a changed organisation, bumping its version; returns it unchanged when nothing differs.
fn replace(
    conn: &mut DbConn,
    current: Organisation,
    input: OrganisationInput,
) -> AppResult<(Organisation, bool)> {
    validate(&input)?;
    check_single_national(conn, &input, Some(&current.id))?;
    if input.code == current.code
        && input.name == current.name
        && input.kind == current.kind
        && input.coverage == current.coverage
        && input.contact == current.contact
    {
        return Ok((current, false));
    }
    let row = OrganisationRow {
        id: current.id.clone(),
        code: input.code.clone(),
        name: input.name,
        kind: input.kind.as_str().to_string(),
        coverage: serde_json::to_string(&input.coverage)?,
        contact: serde_json::to_string(&input.contact)?,
        version: current.version + 1,
        created_at: current.created_at.naive_utc(),
        updated_at: db::now(),
    };
    let updated = diesel::update(
        organisations::table
            .find(&current.id)
            .filter(organisations::version.eq(current.version)),
    )
    .set(&row)
    .execute(conn);
    match updated {
        Ok(1) => Ok((row.into_api()?, true)),
        Ok(_) => Err(AppError::PreconditionFailed(
            "the organisation changed while you updated it; read it again".into(),
        )),
        Err(e) if db::is_unique_violation(&e) => Err(AppError::Conflict(
            "code_taken",
            format!(
                "an organisation with the code `{}` exists already",
                input.code
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

pub fn create(
    conn: &mut DbConn,
    caller: &Caller,
    input: OrganisationInput,
) -> AppResult<Organisation> {
    let org = insert(conn, input)?;
    check_directory(conn)?;
    audit::record(conn, caller, "organisation.create", "organisation", &org.id)?;
    Ok(org)
}

/// Applies a JSON merge patch to an organisation.
pub fn update(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    if_match: Option<&str>,
    patch: &serde_json::Value,
) -> AppResult<Organisation> {
    // The row first (PostgreSQL; SQLite's write transaction holds the database already), so
    // concurrent changes take turns: `If-Match` is checked against the version this change
    // will replace, and a change without it applies to the latest one instead of failing.
    // The version in the `UPDATE` stays as a second guard.
    if let DbConn::Pg(c) = conn {
        organisations::table
            .find(id)
            .select(organisations::id)
            .for_no_key_update()
            .first::<String>(c)
            .optional()?;
    }
    let current = get(conn, id)?;
    crate::http::conditional::check(if_match, current.version)?;
    let mut doc = serde_json::to_value(OrganisationInput {
        code: current.code.clone(),
        name: current.name.clone(),
        kind: current.kind,
        coverage: current.coverage.clone(),
        contact: current.contact.clone(),
    })?;
    json::merge_patch_as::<OrganisationInput>(&mut doc, patch)?;
    let input: OrganisationInput = json::parse(&serde_json::to_vec(&doc)?)?;
    let (org, changed) = replace(conn, current, input)?;
    if changed {
        check_directory(conn)?;
        audit::record(conn, caller, "organisation.update", "organisation", &org.id)?;
    }
    Ok(org)
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub organisations: Vec<Organisation>,
}

/// A directory file: `{ "organisations": [ … ] }`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(example = json!({"organisations": [
    {"code": "ncsirt", "name": "National Cyber Security Centre", "kind": "national_csirt", "coverage": ["public_administration"]},
    {"code": "csirt-energy", "name": "CSIRT Energy", "kind": "sectoral_csirt", "coverage": ["energy"]}
]}))]
#[serde(deny_unknown_fields)]
pub struct DirectoryImport {
    #[validate(length(min = 1, max = 1000), nested)]
    #[schema(min_items = 1, max_items = 1000)]
    pub organisations: Vec<OrganisationInput>,
}

/// Creates or updates organisations by `code`, all in the caller's transaction: an import
/// that breaks an invariant changes nothing.
pub fn import(
    conn: &mut DbConn,
    caller: &Caller,
    file: DirectoryImport,
) -> AppResult<ImportReport> {
    let mut report = ImportReport {
        created: 0,
        updated: 0,
        unchanged: 0,
        organisations: vec![],
    };
    for (i, input) in file.organisations.into_iter().enumerate() {
        let prefix = |e: AppError| match e {
            AppError::Validation(errs) => AppError::Validation(
                errs.into_iter()
                    .map(|f| FieldError::new(format!("/organisations/{i}{}", f.pointer), f.message))
                    .collect(),
            ),
            other => other,
        };
        let existing = organisations::table
            .filter(organisations::code.eq(&input.code))
            .select(OrganisationRow::as_select())
            .first(conn)
            .optional()?;
        let org = match existing {
            None => {
                let org = insert(conn, input).map_err(prefix)?;
                audit::record(conn, caller, "organisation.create", "organisation", &org.id)?;
                report.created += 1;
                org
            }
            Some(row) => {
                let (org, changed) = replace(conn, row.into_api()?, input).map_err(prefix)?;
                if changed {
                    audit::record(conn, caller, "organisation.update", "organisation", &org.id)?;
                    report.updated += 1;
                } else {
                    report.unchanged += 1;
                }
                org
            }
        };
        report.organisations.push(org);
    }
    check_directory(conn)?;
    Ok(report)
}
