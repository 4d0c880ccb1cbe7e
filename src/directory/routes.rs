//! `/api/v1/sectors` and `/api/v1/organisations`.

use super::sectors::{self, Annex};
use super::service::{self, DirectoryImport, ImportReport, Organisation, OrganisationInput};
use crate::auth::{Caller, Scope};
use crate::error::AppError;
use crate::http::conditional::etagged;
use crate::http::json::{self, JsonBody, ValidJson};
use crate::http::pagination::{self, Page, PageQuery};
use crate::http::{conditional, parse_id};
use crate::rules::coverage::OrgKind;
use crate::{idempotency, AppState};
use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A sector or subsector of NIS2 Annex I or II.
#[derive(Debug, Serialize, ToSchema)]
pub struct SectorOut {
    #[schema(example = "energy.electricity")]
    pub code: String,
    #[schema(example = "Electricity")]
    pub name: String,
    pub annex: Annex,
    /// The sector of a subsector.
    #[schema(example = "energy")]
    pub parent: Option<String>,
    /// True when entities register under this code (a subsector, or a sector without any).
    pub registrable: bool,
}

impl crate::http::conditional::Versioned for Organisation {
    fn version(&self) -> i64 {
        self.version
    }
}

/// The NIS2 sector taxonomy (Annexes I and II), in the order of the annexes.
#[utoipa::path(
    operation_id = "listSectors",
    tag = "directory",
    security(("bearer" = ["directory:read"])),
    responses((status = 200, description = "Every sector and subsector", body = Page<SectorOut>))
)]
#[get("/sectors")]
pub async fn list_sectors(caller: Caller) -> Result<HttpResponse, AppError> {
    caller.require(Scope::DirectoryRead)?;
    let items = sectors::SECTORS
        .iter()
        .map(|s| SectorOut {
            code: s.code.into(),
            name: s.name.into(),
            annex: s.annex,
            parent: s.parent.map(Into::into),
            registrable: sectors::is_leaf(s.code),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_cursor: None,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrganisationQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    /// Only organisations of this kind.
    pub kind: Option<OrgKind>,
    /// Only the organisation with this code.
    pub code: Option<String>,
    /// Only organisations changed at or after this time (RFC 3339).
    #[serde(default, with = "crate::time::bounded_opt")]
    #[param(value_type = Option<crate::formats::Timestamp>)]
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// The directory of CSIRTs and supervisory authorities.
#[utoipa::path(
    operation_id = "listOrganisations",
    tag = "directory",
    params(OrganisationQuery),
    security(("bearer" = ["directory:read"])),
    responses((status = 200, description = "One page of organisations", body = Page<Organisation>))
)]
#[get("/organisations")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<OrganisationQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::DirectoryRead)?;
    let q = q.into_inner();
    let page = PageQuery::params(q.limit, q.cursor.as_deref())?;
    pagination::load(
        &req,
        page,
        |p| {
            state.db(move |conn| {
                service::list(
                    conn,
                    &p,
                    q.kind,
                    q.code,
                    q.updated_since.map(|t| t.naive_utc()),
                )
            })
        },
        |o| o.id.clone(),
    )
    .await
}

/// One organisation.
#[utoipa::path(
    operation_id = "getOrganisation",
    tag = "directory",
    params(("id" = String, Path, description = "Organisation id")),
    security(("bearer" = ["directory:read"])),
    responses((status = 200, description = "The organisation; its version in `ETag`", body = Organisation))
)]
#[get("/organisations/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::DirectoryRead)?;
    let id = parse_id(&id)?;
    let org = state.db(move |conn| service::get(conn, &id)).await?;
    Ok(etagged(StatusCode::OK, &org))
}

/// Adds an organisation to the directory.
#[utoipa::path(
    operation_id = "createOrganisation",
    tag = "directory",
    request_body = OrganisationInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")),
    security(("bearer" = ["directory:write"])),
    responses(
        (status = 201, description = "Created", body = Organisation),
        (status = 409, description = "The code is taken, a second national CSIRT, or a sector already covered", body = crate::error::Problem)
    )
)]
#[post("/organisations")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::DirectoryWrite)?;
    let input: OrganisationInput = json::parse(&body.bytes)?;
    service::validate(&input)?;
    let key = idempotency::key(&req, &body.bytes)?;
    let outcome = state
        .write(move |conn| {
            idempotency::once(conn, &caller, key.as_ref(), |conn| {
                let org = service::create(conn, &caller, input)?;
                Ok((StatusCode::CREATED, serde_json::to_string(&org)?))
            })
        })
        .await?;
    Ok(outcome.into_response())
}

/// Changes an organisation with a JSON merge patch (RFC 7396).
#[utoipa::path(
    operation_id = "updateOrganisation",
    tag = "directory",
    params(
        ("id" = String, Path, description = "Organisation id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` you read; a stale one gets 412")
    ),
    request_body(content = serde_json::Value, description = "Fields to change; `null` removes an optional field",
        example = json!({"contact": {"service_hours": "office hours"}})),
    security(("bearer" = ["directory:write"])),
    responses(
        (status = 200, description = "The updated organisation", body = Organisation),
        (status = 409, description = "The change breaks a directory invariant", body = crate::error::Problem),
        (status = 412, description = "If-Match is stale", body = crate::error::Problem)
    )
)]
#[patch("/organisations/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: JsonBody,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::DirectoryWrite)?;
    conditional::patch_record(
        &state,
        &id,
        &body,
        &req,
        move |conn, id, if_match, patch| service::update(conn, &caller, id, if_match, patch),
    )
    .await
}

/// Creates or updates organisations by `code` in one transaction (the directory file format).
#[utoipa::path(
    operation_id = "importOrganisations",
    tag = "directory",
    request_body = DirectoryImport,
    security(("bearer" = ["directory:write"])),
    responses(
        (status = 200, description = "What the import changed", body = ImportReport),
        (status = 409, description = "The file breaks a directory invariant; nothing was changed", body = crate::error::Problem)
    )
)]
#[post("/organisations/import")]
pub async fn import(
    state: web::Data<AppState>,
    caller: Caller,
    file: ValidJson<DirectoryImport>,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::DirectoryWrite)?;
    let report = state
        .write(move |conn| service::import(conn, &caller, file.0))
        .await?;
    Ok(HttpResponse::Ok().json(report))
}
