//! `/api/v1/entities`.

use super::model::{
    Deregistration, DeregistrationDecision, Entity, EntityInput, EntityStatus, EntityVersion,
};
use super::service::{self, Filters, Outcome, Updated};
use crate::auth::{Caller, Scope};
use crate::error::{AppError, Problem};
use crate::http::conditional::etagged;
use crate::http::json::{self, JsonBody, ValidJson};
use crate::http::pagination::{self, Page, PageQuery, SeqPageQuery};
use crate::http::{conditional, parse_id};
use crate::rules::category::Category;
use crate::{idempotency, AppState};
use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntityQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    /// Sector or subsector code; a sector includes its subsectors.
    #[param(value_type = Option<crate::sectors::SectorCode>)]
    pub sector: Option<String>,
    pub category: Option<Category>,
    pub status: Option<EntityStatus>,
    /// Case-insensitive part of the name.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Only entities changed at or after this time (RFC 3339).
    #[serde(default, with = "crate::time::bounded_opt")]
    #[param(value_type = Option<crate::formats::Timestamp>)]
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
}

impl conditional::Versioned for Entity {
    fn version(&self) -> i64 {
        self.version
    }
}

/// The register: the entities the caller may see.
#[utoipa::path(
    operation_id = "listEntities",
    tag = "entities",
    params(EntityQuery),
    security(("bearer" = ["entities:read"])),
    responses((status = 200, description = "One page of entities", body = Page<Entity>))
)]
#[get("/entities")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<EntityQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::EntitiesRead)?;
    let q = q.into_inner();
    let page = PageQuery::params(q.limit, q.cursor.as_deref())?;
    crate::sectors::check_sector_filter(q.sector.as_deref())?;
    if q.q.as_ref().is_some_and(|t| t.len() > 200) {
        return Err(AppError::bad_request(
            "invalid_query",
            "q must be at most 200 characters",
        ));
    }
    let filters = Filters {
        sector: q.sector,
        category: q.category,
        status: q.status,
        q: q.q,
        updated_since: q.updated_since.map(|t| t.naive_utc()),
    };
    pagination::load(
        &req,
        page,
        |p| state.db(move |conn| service::list(conn, &caller, &p, filters)),
        |e| e.id.clone(),
    )
    .await
}

/// Registers an entity (national CSIRT). Derives its category, CSIRT and authority.
#[utoipa::path(
    operation_id = "createEntity",
    tag = "entities",
    request_body = EntityInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")),
    security(("bearer" = ["entities:write"])),
    responses(
        (status = 201, description = "Registered", body = Entity),
        (status = 409, description = "An entity with this identifier is registered already", body = Problem)
    )
)]
#[post("/entities")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::EntitiesWrite)?;
    let input = EntityInput::from_json(&body.bytes)?;
    let key = idempotency::key(&req, &body.bytes)?;
    let outcome = state
        .write(move |conn| {
            idempotency::once(conn, &caller, key.as_ref(), |conn| {
                let entity = service::create(conn, &caller, input)?;
                Ok((StatusCode::CREATED, serde_json::to_string(&entity)?))
            })
        })
        .await?;
    Ok(outcome.into_response())
}

/// One entity, with its version in `ETag`.
#[utoipa::path(
    operation_id = "getEntity",
    tag = "entities",
    params(("id" = String, Path, description = "Entity id")),
    security(("bearer" = ["entities:read"])),
    responses((status = 200, description = "The entity", body = Entity))
)]
#[get("/entities/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::EntitiesRead)?;
    let id = parse_id(&id)?;
    let entity = state
        .db(move |conn| service::get(conn, &caller, &id))
        .await?;
    Ok(etagged(StatusCode::OK, &entity))
}

/// Changes a registration with a JSON merge patch (RFC 7396); the result is validated whole.
///
/// An entity's own change that would take it out of scope (category `out_of_scope` while it
/// is essential or important) is not applied: it is held, with 202, as a pending request
/// (status `deregistration_pending`, the patch in `deregistration_request.update`) for its
/// supervisory authority or the national CSIRT to confirm or reject, as a deregistration
/// request is.
///
/// `critical_entity` (NIS2 Art. 2(3), 3(1)(f)) and `member_state_identification` (Art.
/// 2(2)(b)–(e), 3(1)(e), 3(2)) are designations by the member state: the national CSIRT and the
/// supervisory authority covering the entity set, change and clear them (the authority nothing
/// else); the entity's own change of either is refused with 403 `forbidden` naming the field,
/// and its update that leaves them out keeps them.
#[utoipa::path(
    operation_id = "updateEntity",
    tag = "entities",
    params(
        ("id" = String, Path, description = "Entity id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` you read; a stale one gets 412")
    ),
    request_body(content = serde_json::Value, description = "Fields to change; `null` removes an optional field",
        example = json!({"size": "medium", "domains": ["grid.example", "grid-operator.example"]})),
    security(("bearer" = ["entities:write"])),
    responses(
        (status = 200, description = "The updated entity", body = Entity),
        (status = 202, description = "The entity's own change would take it out of scope: held for confirmation; the entity as it stands, with its pending request", body = Entity),
        (status = 403, description = "The token lacks the scope, or the role may not make this change (`forbidden`, naming the field): the entity changing a designation by the member state, the supervisory authority changing anything else", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Deregistered, the identifier is taken, or the entity's own request is pending (`deregistration_pending`)", body = Problem),
        (status = 412, description = "If-Match is stale", body = Problem)
    )
)]
#[patch("/entities/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: JsonBody,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::EntitiesWrite)?;
    let id = parse_id(&id)?;
    let patch = json::parse_patch(&body.bytes)?;
    let if_match = conditional::if_match(&req);
    let updated = state
        .write(move |conn| service::update(conn, &caller, &id, if_match.as_deref(), &patch))
        .await?;
    Ok(match updated {
        Updated::Applied(entity) => etagged(StatusCode::OK, &entity),
        Updated::Held(entity) => etagged(StatusCode::ACCEPTED, &entity),
    })
}

/// Tells this instance's auth cache what a deregistration did, once it has committed: the
/// entity's tokens and its revoked clients' tokens are refused from the next request on.
/// Other instances learn it from the database within `NIS2HUB_AUTH_CACHE_SECONDS`.
fn forget_access(state: &AppState, outcome: &Outcome) {
    if outcome.entity.status == EntityStatus::Deregistered {
        state.auth_cache.deregistered(&outcome.entity.id);
    }
    for client_id in &outcome.revoked_clients {
        state.auth_cache.revoke(client_id);
    }
}

/// Takes an entity off the register. The record stays, with status `deregistered`; its API
/// clients are revoked in the same transaction, and every token naming it as `org` is refused
/// (401) — at once on the instance that deregisters, within `NIS2HUB_AUTH_CACHE_SECONDS` on
/// the others. The
/// national CSIRT and the supervisory authority covering the entity deregister it at once; the
/// entity itself only asks: it gets status `deregistration_pending`, keeps its obligations and
/// stays visible to its CSIRT and authority until one of them confirms or rejects.
#[utoipa::path(
    operation_id = "deregisterEntity",
    tag = "entities",
    params(
        ("id" = String, Path, description = "Entity id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` you read; a stale one gets 412")
    ),
    request_body = Deregistration,
    security(("bearer" = ["entities:write"])),
    responses(
        (status = 200, description = "The deregistered entity, or, asked by the entity itself, the entity with its pending request", body = Entity),
        (status = 409, description = "Deregistered already (`entity_deregistered`), or the entity's request is pending already (`deregistration_pending`)", body = Problem),
        (status = 412, description = "If-Match is stale", body = Problem)
    )
)]
#[post("/entities/{id}/deregister")]
pub async fn deregister(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: ValidJson<Deregistration>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::EntitiesWrite)?;
    let id = parse_id(&id)?;
    let if_match = conditional::if_match(&req);
    let reason = body.0.reason;
    let outcome = state
        .write(move |conn| service::deregister(conn, &caller, &id, if_match.as_deref(), &reason))
        .await?;
    forget_access(&state, &outcome);
    Ok(etagged(StatusCode::OK, &outcome.entity))
}

async fn decide(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: ValidJson<DeregistrationDecision>,
    req: HttpRequest,
    confirm: bool,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::EntitiesWrite)?;
    let id = parse_id(&id)?;
    let if_match = conditional::if_match(&req);
    let comment = body.0.comment;
    let outcome = state
        .write(move |conn| {
            service::decide_deregistration(
                conn,
                &caller,
                &id,
                if_match.as_deref(),
                confirm,
                &comment,
            )
        })
        .await?;
    forget_access(&state, &outcome);
    Ok(etagged(StatusCode::OK, &outcome.entity))
}

/// Confirms an entity's own request to be deregistered (the supervisory authority covering
/// it, or the national CSIRT): the entity leaves the register, its API clients are revoked
/// and its tokens refused. For a held change that would take the entity out of scope
/// (`deregistration_request.update`), the change is applied instead and the entity stays in
/// the register, out of scope.
#[utoipa::path(
    operation_id = "confirmEntityDeregistration",
    tag = "entities",
    params(
        ("id" = String, Path, description = "Entity id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` you read; a stale one gets 412")
    ),
    request_body = DeregistrationDecision,
    security(("bearer" = ["entities:write"])),
    responses(
        (status = 200, description = "The deregistered entity, or, for a held change, the entity with the change applied", body = Entity),
        (status = 409, description = "No request is pending (`deregistration_not_pending`), or the entity is deregistered already", body = Problem),
        (status = 412, description = "If-Match is stale", body = Problem)
    )
)]
#[post("/entities/{id}/deregistration/confirm")]
pub async fn confirm_deregistration(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: ValidJson<DeregistrationDecision>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    decide(state, caller, id, body, req, true).await
}

/// Rejects an entity's own request to be deregistered (the supervisory authority covering
/// it, or the national CSIRT): the entity stays registered (a held change that would have
/// taken it out of scope is dropped).
#[utoipa::path(
    operation_id = "rejectEntityDeregistration",
    tag = "entities",
    params(
        ("id" = String, Path, description = "Entity id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` you read; a stale one gets 412")
    ),
    request_body = DeregistrationDecision,
    security(("bearer" = ["entities:write"])),
    responses(
        (status = 200, description = "The entity, registered", body = Entity),
        (status = 409, description = "No request is pending (`deregistration_not_pending`), or the entity is deregistered already", body = Problem),
        (status = 412, description = "If-Match is stale", body = Problem)
    )
)]
#[post("/entities/{id}/deregistration/reject")]
pub async fn reject_deregistration(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: ValidJson<DeregistrationDecision>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    decide(state, caller, id, body, req, false).await
}

/// Every version of an entity, oldest first.
#[utoipa::path(
    operation_id = "listEntityHistory",
    tag = "entities",
    params(("id" = String, Path, description = "Entity id"), SeqPageQuery),
    security(("bearer" = ["entities:read"])),
    responses((status = 200, description = "One page of versions", body = Page<EntityVersion>))
)]
#[get("/entities/{id}/history")]
pub async fn history(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    q: web::Query<SeqPageQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::EntitiesRead)?;
    let id = parse_id(&id)?;
    let page = q.validate()?;
    pagination::load(
        &req,
        page,
        |p| state.db(move |conn| service::history(conn, &caller, &id, &p)),
        |v| v.version.to_string(),
    )
    .await
}
