//! Entity register: one transaction per write, each write versioned and audited.

use super::model::*;
use crate::audit;
use crate::auth::{Caller, Role};
use crate::db::{self, DbConn};
use crate::directory::load_directory;
use crate::error::{AppError, AppResult};
use crate::http::json;
use crate::http::pagination::PageParams;
use crate::rules::category::{self, Category, SizeClass, SizeFacts};
use crate::rules::coverage::{self, DirectoryOrg, Function};
use crate::schema::{entities, entity_versions};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = entities)]
struct EntityRow {
    id: String,
    name: String,
    name_folded: String,
    identifier: String,
    country: String,
    sector: String,
    category: String,
    status: String,
    body: String,
    version: i64,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
}

/// What the rules derive from a registration and the directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    pub size: SizeClass,
    pub category: Category,
    pub sectoral_csirt: Option<OrgRef>,
    pub supervisory_authority: Option<OrgRef>,
    pub decided_by: Vec<String>,
}

pub fn derive(input: &EntityInput, dir: &[DirectoryOrg]) -> Derived {
    let facts = SizeFacts {
        declared: input.size,
        employees: input.employees,
        annual_turnover_eur: input.annual_turnover_eur,
        balance_sheet_eur: input.balance_sheet_eur,
    };
    // Validation guarantees a size or a headcount; small is the cautious reading otherwise.
    let (size, size_rule) =
        category::size_class(&facts).unwrap_or((SizeClass::Small, category::SIZE_DERIVED));
    let (cat, cat_rule) = category::classify(
        input.all_sectors(),
        size,
        input.qualified_trust_service_provider,
    );
    let (csirt, csirt_rule) = coverage::assign(dir, &input.sector, Function::Csirt);
    let (authority, authority_rule) = coverage::assign(dir, &input.sector, Function::Authority);
    let to_ref = |o: &DirectoryOrg| OrgRef {
        id: o.id.clone(),
        code: o.code.clone(),
        name: o.name.clone(),
    };
    Derived {
        size,
        category: cat,
        sectoral_csirt: csirt.map(to_ref),
        supervisory_authority: authority.map(to_ref),
        decided_by: [size_rule.id, cat_rule.id, csirt_rule.id, authority_rule.id]
            .map(String::from)
            .to_vec(),
    }
}

impl EntityRow {
    fn into_api(self, dir: &[DirectoryOrg]) -> AppResult<Entity> {
        let input: EntityInput = serde_json::from_str(&self.body)?;
        let d = derive(&input, dir);
        Ok(Entity {
            id: self.id,
            size_class: d.size,
            input,
            status: if self.status == "deregistered" {
                EntityStatus::Deregistered
            } else {
                EntityStatus::Registered
            },
            category: d.category,
            sectoral_csirt: d.sectoral_csirt,
            supervisory_authority: d.supervisory_authority,
            decided_by: d.decided_by,
            version: self.version,
            created_at: self.created_at.and_utc(),
            updated_at: self.updated_at.and_utc(),
        })
    }
}

/// Which rows of the register a caller may see.
#[derive(Debug, Clone)]
pub enum Visibility {
    All,
    Sectors(Vec<&'static str>),
    Own(String),
}

pub fn visibility(caller: &Caller, dir: &[DirectoryOrg]) -> Visibility {
    match caller.role {
        Role::NationalCsirt => Visibility::All,
        Role::SectoralCsirt | Role::SupervisoryAuthority => {
            Visibility::Sectors(coverage::sectors_of(dir, &caller.org))
        }
        Role::Entity => Visibility::Own(caller.org.clone()),
    }
}

fn may_see(v: &Visibility, row: &EntityRow) -> bool {
    match v {
        Visibility::All => true,
        Visibility::Sectors(s) => s.contains(&row.sector.as_str()),
        Visibility::Own(id) => *id == row.id,
    }
}

/// Filters of the list.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub sector: Option<String>,
    pub category: Option<Category>,
    pub status: Option<EntityStatus>,
    pub q: Option<String>,
    pub updated_since: Option<chrono::NaiveDateTime>,
}

pub fn list(
    conn: &mut DbConn,
    caller: &Caller,
    page: &PageParams,
    f: Filters,
) -> AppResult<Vec<Entity>> {
    let dir = load_directory(conn)?;
    let mut q = entities::table.select(EntityRow::as_select()).into_boxed();
    match visibility(caller, &dir) {
        Visibility::All => {}
        Visibility::Sectors(s) => q = q.filter(entities::sector.eq_any(s)),
        Visibility::Own(id) => q = q.filter(entities::id.eq(id)),
    }
    if let Some(after) = &page.after {
        q = q.filter(entities::id.gt(after.clone()));
    }
    if let Some(s) = f.sector {
        // A sector filter includes its subsectors.
        q = q.filter(
            entities::sector
                .eq(s.clone())
                .or(entities::sector.like(format!("{s}.%"))),
        );
    }
    if let Some(c) = f.category {
        q = q.filter(entities::category.eq(c.as_str()));
    }
    if let Some(s) = f.status {
        q = q.filter(entities::status.eq(s.as_str()));
    }
    if let Some(text) = f.q {
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        q = q.filter(
            entities::name_folded
                .like(format!("%{escaped}%"))
                .escape('\\'),
        );
    }
    if let Some(since) = f.updated_since {
        q = q.filter(entities::updated_at.ge(since));
    }
    let rows: Vec<EntityRow> = q
        .order(entities::id.asc())
        .limit(page.limit + 1)
        .load(conn)?;
    rows.into_iter().map(|r| r.into_api(&dir)).collect()
}

fn load_visible(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    dir: &[DirectoryOrg],
) -> AppResult<EntityRow> {
    let row: EntityRow = entities::table
        .find(id)
        .select(EntityRow::as_select())
        .first(conn)?;
    if may_see(&visibility(caller, dir), &row) {
        Ok(row)
    } else {
        Err(AppError::NotFound)
    }
}

/// An entity by id, whoever asks (for the services that decide visibility themselves).
pub fn load(conn: &mut DbConn, id: &str, dir: &[DirectoryOrg]) -> AppResult<Entity> {
    entities::table
        .find(id)
        .select(EntityRow::as_select())
        .first(conn)?
        .into_api(dir)
}

pub fn get(conn: &mut DbConn, caller: &Caller, id: &str) -> AppResult<Entity> {
    let dir = load_directory(conn)?;
    load_visible(conn, caller, id, &dir)?.into_api(&dir)
}

fn write_version(
    conn: &mut DbConn,
    caller: &Caller,
    entity: &Entity,
    change: &str,
) -> AppResult<()> {
    diesel::insert_into(entity_versions::table)
        .values((
            entity_versions::entity_id.eq(&entity.id),
            entity_versions::version.eq(entity.version),
            entity_versions::snapshot.eq(serde_json::to_string(entity)?),
            entity_versions::changed_at.eq(entity.updated_at.naive_utc()),
            entity_versions::changed_by.eq(format!("{}/{}", caller.org, caller.sub)),
            entity_versions::change.eq(change),
        ))
        .execute(conn)?;
    Ok(())
}

fn row_for(
    id: String,
    input: &EntityInput,
    d: &Derived,
    status: EntityStatus,
    version: i64,
    created: chrono::NaiveDateTime,
) -> AppResult<EntityRow> {
    Ok(EntityRow {
        id,
        name: input.name.clone(),
        name_folded: input.name.to_lowercase(),
        identifier: input.identifier.clone(),
        country: input.country.clone(),
        sector: input.sector.clone(),
        category: d.category.as_str().to_string(),
        status: status.as_str().to_string(),
        body: serde_json::to_string(input)?,
        version,
        created_at: created,
        updated_at: db::now(),
    })
}

fn duplicate(input: &EntityInput) -> AppError {
    AppError::Conflict(
        "entity_exists",
        format!(
            "an entity with identifier `{}` in {} is registered already",
            input.identifier, input.country
        ),
    )
}

pub fn create(conn: &mut DbConn, caller: &Caller, input: EntityInput) -> AppResult<Entity> {
    if caller.role != Role::NationalCsirt {
        return Err(AppError::ForbiddenAction(
            "only the national CSIRT registers entities".into(),
        ));
    }
    let dir = load_directory(conn)?;
    let d = derive(&input, &dir);
    let now = db::now();
    let row = row_for(db::new_id(), &input, &d, EntityStatus::Registered, 1, now)?;
    match diesel::insert_into(entities::table)
        .values(&row)
        .execute(conn)
    {
        Ok(_) => {}
        Err(e) if db::is_unique_violation(&e) => return Err(duplicate(&input)),
        Err(e) => return Err(e.into()),
    }
    let entity = row.into_api(&dir)?;
    write_version(conn, caller, &entity, "registered")?;
    audit::record(conn, caller, "entity.register", "entity", &entity.id)?;
    Ok(entity)
}

/// Only the national CSIRT and the entity itself may change a registration.
fn may_write(caller: &Caller, id: &str) -> AppResult<()> {
    match caller.role {
        Role::NationalCsirt => Ok(()),
        Role::Entity if caller.org == id => Ok(()),
        _ => Err(AppError::ForbiddenAction(
            "only the national CSIRT or the entity itself changes a registration".into(),
        )),
    }
}

fn save(
    conn: &mut DbConn,
    caller: &Caller,
    current: EntityRow,
    input: EntityInput,
    status: EntityStatus,
    change: &str,
    dir: &[DirectoryOrg],
) -> AppResult<Entity> {
    let d = derive(&input, dir);
    let row = row_for(
        current.id.clone(),
        &input,
        &d,
        status,
        current.version + 1,
        current.created_at,
    )?;
    let updated = diesel::update(
        entities::table
            .find(&current.id)
            .filter(entities::version.eq(current.version)),
    )
    .set(&row)
    .execute(conn);
    match updated {
        Ok(1) => {}
        Ok(_) => {
            return Err(AppError::PreconditionFailed(
                "the entity changed while you updated it; read it again".into(),
            ))
        }
        Err(e) if db::is_unique_violation(&e) => return Err(duplicate(&input)),
        Err(e) => return Err(e.into()),
    }
    let entity = row.into_api(dir)?;
    write_version(conn, caller, &entity, change)?;
    Ok(entity)
}

/// Applies a JSON merge patch; the result is validated as a whole.
pub fn update(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    if_match: Option<&str>,
    patch: &serde_json::Value,
) -> AppResult<Entity> {
    let dir = load_directory(conn)?;
    let current = load_visible(conn, caller, id, &dir)?;
    may_write(caller, id)?;
    crate::http::conditional::check(if_match, current.version)?;
    if current.status == "deregistered" {
        return Err(AppError::Conflict(
            "entity_deregistered",
            "a deregistered entity cannot be changed".into(),
        ));
    }
    let mut doc: serde_json::Value = serde_json::from_str(&current.body)?;
    json::merge_patch(&mut doc, patch);
    let input = EntityInput::from_json(&serde_json::to_vec(&doc)?)?;
    let before: EntityInput = serde_json::from_str(&current.body)?;
    if before == input {
        return current.into_api(&dir);
    }
    let entity = save(
        conn,
        caller,
        current,
        input,
        EntityStatus::Registered,
        "updated",
        &dir,
    )?;
    audit::record(conn, caller, "entity.update", "entity", &entity.id)?;
    Ok(entity)
}

pub fn deregister(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    if_match: Option<&str>,
    reason: &str,
) -> AppResult<Entity> {
    let dir = load_directory(conn)?;
    let current = load_visible(conn, caller, id, &dir)?;
    may_write(caller, id)?;
    crate::http::conditional::check(if_match, current.version)?;
    if current.status == "deregistered" {
        return Err(AppError::Conflict(
            "entity_deregistered",
            "the entity is deregistered already".into(),
        ));
    }
    let input: EntityInput = serde_json::from_str(&current.body)?;
    let entity = save(
        conn,
        caller,
        current,
        input,
        EntityStatus::Deregistered,
        &format!("deregistered: {reason}"),
        &dir,
    )?;
    audit::record(conn, caller, "entity.deregister", "entity", &entity.id)?;
    Ok(entity)
}

pub fn history(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    page: &PageParams,
) -> AppResult<Vec<EntityVersion>> {
    let dir = load_directory(conn)?;
    load_visible(conn, caller, id, &dir)?;
    let after: i64 = match &page.after {
        None => 0,
        Some(c) => c.parse().map_err(|_| {
            AppError::bad_request(
                "invalid_cursor",
                "the cursor is not one this service issued",
            )
        })?,
    };
    let rows: Vec<(i64, String, chrono::NaiveDateTime, String, String)> = entity_versions::table
        .filter(
            entity_versions::entity_id
                .eq(id)
                .and(entity_versions::version.gt(after)),
        )
        .order(entity_versions::version.asc())
        .limit(page.limit + 1)
        .select((
            entity_versions::version,
            entity_versions::snapshot,
            entity_versions::changed_at,
            entity_versions::changed_by,
            entity_versions::change,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(version, snapshot, changed_at, changed_by, change)| {
            Ok(EntityVersion {
                version,
                changed_at: changed_at.and_utc(),
                changed_by,
                change,
                entity: serde_json::from_str(&snapshot)?,
            })
        })
        .collect()
}
