//! `/api/v1/advisories`.

use super::model::{
    Advisory, AdvisoryInput, AdvisoryRevision, AdvisoryStatus, Publish, Tlp, Withdraw,
};
use super::service::{self, Filters};
use crate::auth::{Caller, Scope};
use crate::error::{AppError, Problem};
use crate::http::conditional::etagged;
use crate::http::json::{self, JsonBody};
use crate::http::pagination::{self, Page, PageQuery};
use crate::http::{conditional, parse_id};
use crate::{idempotency, AppState};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, FromRequest, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

/// The caller of a read that TLP:CLEAR opens to anyone: `None` without an `Authorization`
/// header; a header that does not verify is refused as everywhere else.
pub struct Reader(pub Option<Caller>);

impl FromRequest for Reader {
    type Error = AppError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if req
            .headers()
            .contains_key(actix_web::http::header::AUTHORIZATION)
        {
            let fut = Caller::from_request(req, payload);
            Box::pin(async move {
                let caller = fut.await?;
                caller.require(Scope::AdvisoriesRead)?;
                Ok(Reader(Some(caller)))
            })
        } else {
            Box::pin(async { Ok(Reader(None)) })
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdvisoryQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    pub status: Option<AdvisoryStatus>,
    /// Sector or subsector code: its advisories, its subsectors' and its parent sector's.
    #[param(value_type = Option<crate::sectors::SectorCode>)]
    pub sector: Option<String>,
    #[param(example = "AMBER+STRICT")]
    pub tlp: Option<Tlp>,
    /// A CVE id (any case); other text matches nothing.
    #[param(example = "CVE-2026-12345")]
    pub cve: Option<String>,
    /// Only advisories changed at or after this time (RFC 3339): the issuer's own by any
    /// change, the others' by a published (or withdrawn) revision.
    #[serde(default, with = "crate::time::bounded_opt")]
    #[param(value_type = Option<crate::formats::Timestamp>)]
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
}

impl conditional::Versioned for Advisory {
    fn version(&self) -> i64 {
        self.version
    }
}

/// The advisories the caller may read under their TLP, drafts of its own included.
#[utoipa::path(
    operation_id = "listAdvisories",
    tag = "advisories",
    params(AdvisoryQuery),
    security(("bearer" = ["advisories:read"])),
    responses((status = 200, description = "One page of advisories", body = Page<Advisory>))
)]
#[get("/advisories")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<AdvisoryQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::AdvisoriesRead)?;
    let q = q.into_inner();
    crate::sectors::check_sector_filter(q.sector.as_deref())?;
    let page = PageQuery::params(q.limit, q.cursor.as_deref())?;
    let filters = Filters {
        status: q.status,
        sector: q.sector,
        tlp: q.tlp,
        cve: q.cve,
        updated_since: q.updated_since.map(|t| t.naive_utc()),
    };
    pagination::load(
        &req,
        page,
        |p| state.db(move |conn| service::list(conn, &caller, &p, filters)),
        |a| a.id.clone(),
    )
    .await
}

/// Creates a draft (the national CSIRT for any audience; a sectoral CSIRT for the sectors it
/// covers and the entities it sees). Nobody else sees a draft.
#[utoipa::path(
    operation_id = "createAdvisory",
    tag = "advisories",
    request_body = AdvisoryInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")),
    security(("bearer" = ["advisories:write"])),
    responses((status = 201, description = "The draft", body = Advisory))
)]
#[post("/advisories")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::AdvisoriesWrite)?;
    let input = AdvisoryInput::from_json(&body.bytes)?;
    let key = idempotency::key(&req, &body.bytes)?;
    let outcome = state
        .write(move |conn| {
            idempotency::once(conn, &caller, key.as_ref(), |conn| {
                let a = service::create(conn, &caller, input)?;
                Ok((StatusCode::CREATED, serde_json::to_string(&a)?))
            })
        })
        .await?;
    Ok(outcome.into_response())
}

/// One advisory, if its TLP lets the caller read it (404 otherwise). A published TLP:CLEAR
/// advisory needs no token; without one, anything else is 401.
#[utoipa::path(
    operation_id = "getAdvisory",
    tag = "advisories",
    params(("id" = String, Path, description = "Advisory id")),
    security(("bearer" = ["advisories:read"]), ()),
    responses((status = 200, description = "The advisory", body = Advisory))
)]
#[get("/advisories/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    reader: Reader,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&id)?;
    let a = state
        .db(move |conn| service::get(conn, reader.0.as_ref(), &id))
        .await?;
    Ok(etagged(StatusCode::OK, &a))
}

/// Changes the working copy with a JSON merge patch (RFC 7396), validated whole. A draft
/// changes in place; a change to a published advisory is published by the next `publish`
/// as a new revision, and readers see the published text until then.
#[utoipa::path(
    operation_id = "updateAdvisory",
    tag = "advisories",
    params(
        ("id" = String, Path, description = "Advisory id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` you read; a stale one gets 412")
    ),
    request_body(content = serde_json::Value, description = "Fields to change; `null` removes an optional field",
        example = json!({"affected_products": [{"vendor": "Example Vendor", "product": "Example Gateway", "versions": ["4.1", "4.2"], "fixed_in": ["4.3"]}]})),
    security(("bearer" = ["advisories:write"])),
    responses(
        (status = 200, description = "The advisory", body = Advisory),
        (status = 409, description = "Withdrawn (`advisory_withdrawn`)", body = Problem),
        (status = 412, description = "If-Match is stale", body = Problem)
    )
)]
#[patch("/advisories/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: JsonBody,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::AdvisoriesWrite)?;
    conditional::patch_record(
        &state,
        &id,
        &body,
        &req,
        move |conn, id, if_match, patch| service::update(conn, &caller, id, if_match, patch),
    )
    .await
}

/// Publishes the working copy as the next numbered revision: the first publication
/// (`advisory.published`), or, after a change, a revision with a `summary`
/// (`advisory.updated`). Events go to the audience the TLP allows.
#[utoipa::path(
    operation_id = "publishAdvisory",
    tag = "advisories",
    params(
        ("id" = String, Path, description = "Advisory id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` you read; a stale one gets 412")
    ),
    request_body(content = Option<Publish>, description = "Optional for the first publication",
        example = json!({"summary": "Fixed version 4.3 released"})),
    security(("bearer" = ["advisories:write"])),
    responses(
        (status = 200, description = "The published advisory", body = Advisory),
        (status = 409, description = "Published already with no change since (`already_published`), or withdrawn (`advisory_withdrawn`)", body = Problem),
        (status = 412, description = "If-Match is stale", body = Problem)
    )
)]
#[post("/advisories/{id}/publish")]
pub async fn publish(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: json::OptionalJsonBody,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::AdvisoriesWrite)?;
    let id = parse_id(&id)?;
    let input: Publish =
        if body.bytes.iter().all(u8::is_ascii_whitespace) || body.bytes.trim_ascii() == b"null" {
            Publish::default()
        } else {
            json::parse_valid(&body.bytes)?
        };
    let if_match = conditional::if_match(&req);
    let a = state
        .write(move |conn| service::publish(conn, &caller, &id, if_match.as_deref(), input.summary))
        .await?;
    Ok(etagged(StatusCode::OK, &a))
}

/// Withdraws a published advisory (`advisory.withdrawn`). The record and its revisions stay.
#[utoipa::path(
    operation_id = "withdrawAdvisory",
    tag = "advisories",
    params(
        ("id" = String, Path, description = "Advisory id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` you read; a stale one gets 412")
    ),
    request_body = Withdraw,
    security(("bearer" = ["advisories:write"])),
    responses(
        (status = 200, description = "The withdrawn advisory", body = Advisory),
        (status = 409, description = "A draft (`not_published`), or withdrawn already (`advisory_withdrawn`)", body = Problem),
        (status = 412, description = "If-Match is stale", body = Problem)
    )
)]
#[post("/advisories/{id}/withdraw")]
pub async fn withdraw(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: JsonBody,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::AdvisoriesWrite)?;
    let id = parse_id(&id)?;
    let input: Withdraw = json::parse_valid(&body.bytes)?;
    let if_match = conditional::if_match(&req);
    let a = state
        .write(move |conn| {
            service::withdraw(conn, &caller, &id, if_match.as_deref(), &input.reason)
        })
        .await?;
    Ok(etagged(StatusCode::OK, &a))
}

/// One revision with its full text as published. TLP as for the advisory.
#[utoipa::path(
    operation_id = "getAdvisoryRevision",
    tag = "advisories",
    params(
        ("id" = String, Path, description = "Advisory id"),
        ("number" = i64, Path, description = "Revision number, from 1")
    ),
    security(("bearer" = ["advisories:read"]), ()),
    responses((status = 200, description = "The revision", body = AdvisoryRevision))
)]
#[get("/advisories/{id}/revisions/{number}")]
pub async fn revision(
    state: web::Data<AppState>,
    reader: Reader,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, number) = path.into_inner();
    let id = parse_id(&id)?;
    let number: i64 = number.parse().map_err(|_| AppError::NotFound)?;
    let r = state
        .db(move |conn| service::revision(conn, reader.0.as_ref(), &id, number))
        .await?;
    Ok(HttpResponse::Ok().json(r))
}

/// The CSAF 2.0 `csaf_security_advisory` document of a published or withdrawn advisory.
/// TLP as for the advisory; CSAF carries TLP 1.0 labels (CLEAR → WHITE, AMBER+STRICT → AMBER).
#[utoipa::path(
    operation_id = "getAdvisoryCsaf",
    tag = "advisories",
    params(("id" = String, Path, description = "Advisory id")),
    security(("bearer" = ["advisories:read"]), ()),
    responses(
        (status = 200, description = "The CSAF 2.0 document", body = serde_json::Value, content_type = "application/json"),
        (status = 409, description = "A draft (`not_published`)", body = Problem)
    )
)]
#[get("/advisories/{id}/csaf")]
pub async fn csaf(
    state: web::Data<AppState>,
    reader: Reader,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&id)?;
    let public_url = state.config.provider.public_url.clone();
    let text = state
        .db(move |conn| service::csaf(conn, reader.0.as_ref(), &id, &public_url))
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(text))
}
