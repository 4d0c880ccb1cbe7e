//! Entity register: one transaction per write, each write versioned and audited.

use super::model::*;
use crate::audit;
use crate::auth::{Caller, Role};
use crate::db::{self, DbConn};
use crate::directory::load_directory;
use crate::error::{AppError, AppResult};
use crate::http::json;
use crate::http::pagination::PageParams;
use crate::outbox::{self, NewEvent};
use crate::rules::category::{self, Category, SizeClass, SizeFacts};
use crate::rules::coverage::{self, DirectoryOrg, Function};
use crate::schema::{entities, entity_versions};
use diesel::prelude::*;

mod deregistration;
mod designation;
pub use deregistration::{decide_deregistration, deregister, Outcome};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = entities, treat_none_as_null = true)]
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
    deregistration_request: Option<String>,
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
    let (cat, cat_rule) = category::classify_entity(input.all_sectors(), size, &input.type_facts());
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
        let request: Option<DeregistrationRequest> = self
            .deregistration_request
            .as_deref()
            .map(serde_json::from_str)
            .transpose()?;
        Ok(Entity {
            id: self.id,
            size_class: d.size,
            input,
            status: if self.status == "deregistered" {
                EntityStatus::Deregistered
            } else if request.is_some() {
                EntityStatus::DeregistrationPending
            } else {
                EntityStatus::Registered
            },
            deregistration_request: request,
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
    match f.status {
        None => {}
        Some(EntityStatus::Deregistered) => q = q.filter(entities::status.eq("deregistered")),
        Some(EntityStatus::Registered) => {
            q = q.filter(
                entities::status
                    .eq("registered")
                    .and(entities::deregistration_request.is_null()),
            )
        }
        Some(EntityStatus::DeregistrationPending) => {
            q = q.filter(
                entities::status
                    .eq("registered")
                    .and(entities::deregistration_request.is_not_null()),
            )
        }
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

/// What every change of a registration checks first: the caller read the current version
/// (`If-Match`, 412 when stale), and the entity is still in the register (409 when not).
fn still_registered(current: &EntityRow, if_match: Option<&str>) -> AppResult<()> {
    crate::http::conditional::check(if_match, current.version)?;
    if current.status == "deregistered" {
        return Err(AppError::Conflict(
            "entity_deregistered",
            "the entity is deregistered; a deregistered entity cannot be changed".into(),
        ));
    }
    Ok(())
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
    flags: &[ChangeFlag],
) -> AppResult<()> {
    diesel::insert_into(entity_versions::table)
        .values((
            entity_versions::entity_id.eq(&entity.id),
            entity_versions::version.eq(entity.version),
            entity_versions::snapshot.eq(serde_json::to_string(entity)?),
            entity_versions::changed_at.eq(entity.updated_at.naive_utc()),
            entity_versions::changed_by.eq(format!("{}/{}", caller.org, caller.sub)),
            entity_versions::change.eq(change),
            entity_versions::flags.eq(serde_json::to_string(flags)?),
        ))
        .execute(conn)?;
    Ok(())
}

fn row_for(
    id: String,
    input: &EntityInput,
    d: &Derived,
    status: EntityStatus,
    request: Option<&DeregistrationRequest>,
    version: i64,
    created: chrono::NaiveDateTime,
) -> AppResult<EntityRow> {
    let status = match status {
        EntityStatus::Deregistered => EntityStatus::Deregistered,
        _ => EntityStatus::Registered,
    };
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
        deregistration_request: request.map(serde_json::to_string).transpose()?,
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
    let row = row_for(
        db::new_id(),
        &input,
        &d,
        EntityStatus::Registered,
        None,
        1,
        now,
    )?;
    match diesel::insert_into(entities::table)
        .values(&row)
        .execute(conn)
    {
        Ok(_) => {}
        Err(e) if db::is_unique_violation(&e) => return Err(duplicate(&input)),
        Err(e) => return Err(e.into()),
    }
    super::repo::index_networks(conn, &row.id, &input.ip_ranges, &input.domains)?;
    let entity = row.into_api(&dir)?;
    write_version(conn, caller, &entity, "registered", &[])?;
    audit::record(conn, caller, "entity.register", "entity", &entity.id)?;
    Ok(entity)
}

/// Only the national CSIRT and the entity itself change a registration, and the supervisory
/// authority covering the entity (it sees only those) its designations by the member state
/// (`designation::check_change` says which fields each may touch).
fn may_write(caller: &Caller, id: &str) -> AppResult<()> {
    match caller.role {
        Role::NationalCsirt | Role::SupervisoryAuthority => Ok(()),
        Role::Entity if caller.org == id => Ok(()),
        _ => Err(AppError::ForbiddenAction(
            "only the national CSIRT, the supervisory authority covering the entity (its \
             designations) or the entity itself changes a registration"
                .into(),
        )),
    }
}

/// A change to write: the registration after it, its status, and what the history says.
struct Change<'a> {
    input: EntityInput,
    status: EntityStatus,
    request: Option<&'a DeregistrationRequest>,
    change: &'a str,
    flags: &'a [ChangeFlag],
}

fn save(
    conn: &mut DbConn,
    caller: &Caller,
    current: EntityRow,
    c: Change,
    dir: &[DirectoryOrg],
) -> AppResult<Entity> {
    let d = derive(&c.input, dir);
    let row = row_for(
        current.id.clone(),
        &c.input,
        &d,
        c.status,
        c.request,
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
        Err(e) if db::is_unique_violation(&e) => return Err(duplicate(&c.input)),
        Err(e) => return Err(e.into()),
    }
    super::repo::index_networks(conn, &row.id, &c.input.ip_ranges, &c.input.domains)?;
    let entity = row.into_api(dir)?;
    write_version(conn, caller, &entity, c.change, c.flags)?;
    Ok(entity)
}

/// The organisations that oversee an entity (its sectoral CSIRT and supervisory authority),
/// and the entity itself. The national CSIRT sees every event anyway.
fn overseers(e: &Entity) -> Vec<String> {
    [&e.sectoral_csirt, &e.supervisory_authority]
        .into_iter()
        .flatten()
        .map(|o| o.id.clone())
        .chain(std::iter::once(e.id.clone()))
        .collect()
}

/// What a change did that those overseeing the entity must notice.
pub fn change_flags(caller: &Caller, before: &Entity, after: &Entity) -> Vec<ChangeFlag> {
    let mut flags = vec![];
    if caller.role == Role::Entity {
        flags.push(ChangeFlag::SelfService);
    }
    if after.category < before.category {
        flags.push(ChangeFlag::CategoryLowered);
    }
    if after.category > before.category {
        flags.push(ChangeFlag::CategoryRaised);
    }
    if after.input.sector != before.input.sector {
        flags.push(ChangeFlag::SectorChanged);
    }
    if after.input.country != before.input.country {
        flags.push(ChangeFlag::CountryChanged);
    }
    let left = |b: &Option<OrgRef>, a: &Option<OrgRef>| {
        b.as_ref()
            .is_some_and(|b| a.as_ref().map(|a| &a.id) != Some(&b.id))
    };
    if left(&before.sectoral_csirt, &after.sectoral_csirt)
        || left(&before.supervisory_authority, &after.supervisory_authority)
    {
        flags.push(ChangeFlag::LeftCoverage);
    }
    flags
}

/// Whether a change alters who oversees the entity or how: worth an event.
fn oversight_changed(before: &Entity, after: &Entity) -> bool {
    let ids = |o: &Option<OrgRef>| o.as_ref().map(|o| o.id.clone());
    before.category != after.category
        || before.input.sector != after.input.sector
        || before.input.country != after.input.country
        || ids(&before.sectoral_csirt) != ids(&after.sectoral_csirt)
        || ids(&before.supervisory_authority) != ids(&after.supervisory_authority)
}

/// The part of an entity that decides its obligations and oversight, for events.
fn oversight_view(e: &Entity) -> serde_json::Value {
    serde_json::json!({
        "category": e.category,
        "sector": e.input.sector,
        "country": e.input.country,
        "sectoral_csirt": e.sectoral_csirt,
        "supervisory_authority": e.supervisory_authority,
        "status": e.status,
    })
}

fn emit(
    conn: &mut DbConn,
    event_type: &str,
    entity: &Entity,
    recipients: Vec<String>,
    data: serde_json::Value,
) -> AppResult<()> {
    let mut body = serde_json::json!({
        "entity_id": entity.id,
        "name": entity.input.name,
        "version": entity.version,
    });
    if let (Some(b), Some(d)) = (body.as_object_mut(), data.as_object()) {
        b.extend(d.clone());
    }
    outbox::emit(
        conn,
        NewEvent {
            event_type,
            subject_type: "entity",
            subject_id: &entity.id,
            significant: false,
            data: body,
            recipients,
        },
    )?;
    Ok(())
}

fn pending_conflict() -> AppError {
    AppError::Conflict(
        "deregistration_pending",
        "the entity's request to be deregistered waits for its supervisory authority or the \
         national CSIRT; the registration cannot be changed by the entity until then"
            .into(),
    )
}

/// What an update did.
#[derive(Debug)]
pub enum Updated {
    /// The change is in the register.
    Applied(Entity),
    /// The entity's own change would take it out of scope: it is held as a request, like a
    /// deregistration request, until its supervisory authority or the national CSIRT decides.
    Held(Entity),
}

/// Applies a JSON merge patch; the result is validated as a whole. A change to the category,
/// sector, home state, CSIRT or authority is an `entity.updated` event to the CSIRT and
/// authority of before and after the change.
///
/// An entity that would leave the scope of NIS2 by its own change (category `out_of_scope`
/// while it is essential or important today: a smaller size, another sector) does not leave
/// it by saying so. Leaving scope ends its obligations as surely as leaving the register, so
/// it takes the same confirmation: the change is held as a pending request (status
/// `deregistration_pending`, the patch in `deregistration_request.update`), and the
/// supervisory authority covering the entity or the national CSIRT confirms (the change is
/// then applied) or rejects it. The national CSIRT's own changes apply at once.
///
/// The designations by the member state (`critical_entity`, `member_state_identification`)
/// are not the entity's to set, change or clear (403 `forbidden` naming the field), so it
/// cannot leave scope by dropping them; left out of its update they stay as stored. The
/// supervisory authority covering the entity changes these and nothing else; its change, like
/// the national CSIRT's, applies at once.
pub fn update(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    if_match: Option<&str>,
    patch: &serde_json::Value,
) -> AppResult<Updated> {
    // The row first: concurrent changes take turns, each reading what the one before stored,
    // so `If-Match` is checked against the version this change will replace.
    super::repo::lock_row(conn, id)?;
    let dir = load_directory(conn)?;
    let current = load_visible(conn, caller, id, &dir)?;
    may_write(caller, id)?;
    still_registered(&current, if_match)?;
    if current.deregistration_request.is_some() && caller.role == Role::Entity {
        return Err(pending_conflict());
    }
    let stored: serde_json::Value = serde_json::from_str(&current.body)?;
    let mut doc = stored.clone();
    json::merge_patch_as::<EntityInput>(&mut doc, patch)?;
    designation::check_change(caller.role, &stored, &doc)?;
    let input = EntityInput::from_json(&serde_json::to_vec(&doc)?)?;
    let before_input: EntityInput = serde_json::from_value(stored)?;
    if before_input == input {
        return Ok(Updated::Applied(current.into_api(&dir)?));
    }
    let before = current.clone().into_api(&dir)?;
    let after = derive(&input, &dir);
    if caller.role == Role::Entity
        && before.category != Category::OutOfScope
        && after.category == Category::OutOfScope
    {
        return hold_scope_exit(conn, caller, current, before, patch, &dir).map(Updated::Held);
    }
    let preview = Entity {
        category: after.category,
        sectoral_csirt: after.sectoral_csirt,
        supervisory_authority: after.supervisory_authority,
        input: input.clone(),
        ..before.clone()
    };
    let flags = change_flags(caller, &before, &preview);
    let status = before.status;
    let request = before.deregistration_request.clone();
    let entity = save(
        conn,
        caller,
        current,
        Change {
            input,
            status,
            request: request.as_ref(),
            change: "updated",
            flags: &flags,
        },
        &dir,
    )?;
    announce_update(conn, caller, &before, &entity, &flags)?;
    audit::record(conn, caller, "entity.update", "entity", &entity.id)?;
    Ok(Updated::Applied(entity))
}

/// The `entity.updated` event of an applied change, when it alters oversight.
fn announce_update(
    conn: &mut DbConn,
    caller: &Caller,
    before: &Entity,
    entity: &Entity,
    flags: &[ChangeFlag],
) -> AppResult<()> {
    if oversight_changed(before, entity) {
        let mut to = overseers(before);
        to.extend(overseers(entity));
        emit(
            conn,
            "entity.updated",
            entity,
            to,
            serde_json::json!({
                "changed_by": format!("{}/{}", caller.org, caller.sub),
                "flags": flags,
                "before": oversight_view(before),
                "after": oversight_view(entity),
            }),
        )?;
    }
    Ok(())
}

/// Why a held update waits, in the request and the history.
const SCOPE_EXIT_REASON: &str =
    "the entity's own update would take it out of scope (category out_of_scope)";

/// Holds an entity's own update that would take it out of scope as a pending request.
fn hold_scope_exit(
    conn: &mut DbConn,
    caller: &Caller,
    current: EntityRow,
    before: Entity,
    patch: &serde_json::Value,
    dir: &[DirectoryOrg],
) -> AppResult<Entity> {
    let request = DeregistrationRequest {
        reason: SCOPE_EXIT_REASON.to_string(),
        requested_by: format!("{}/{}", caller.org, caller.sub),
        requested_at: db::now().and_utc(),
        update: Some(patch.clone()),
    };
    let entity = save(
        conn,
        caller,
        current,
        Change {
            input: before.input.clone(),
            status: EntityStatus::DeregistrationPending,
            request: Some(&request),
            change: &format!("scope_exit_requested: {SCOPE_EXIT_REASON}"),
            flags: &[ChangeFlag::SelfService],
        },
        dir,
    )?;
    emit(
        conn,
        "entity.deregistration_requested",
        &entity,
        overseers(&entity),
        serde_json::json!({"request": request}),
    )?;
    audit::record(
        conn,
        caller,
        "entity.scope_exit_request",
        "entity",
        &entity.id,
    )?;
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
    type VersionRow = (i64, String, chrono::NaiveDateTime, String, String, String);
    let rows: Vec<VersionRow> = entity_versions::table
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
            entity_versions::flags,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(
            |(version, snapshot, changed_at, changed_by, change, flags)| {
                Ok(EntityVersion {
                    version,
                    changed_at: changed_at.and_utc(),
                    changed_by,
                    change,
                    flags: serde_json::from_str(&flags)?,
                    entity: serde_json::from_str(&snapshot)?,
                })
            },
        )
        .collect()
}
