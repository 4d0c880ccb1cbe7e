//! `/api/v1/maturity/…`: the model in force, assessments, compliance.

use super::model::{AssessmentType, Model};
use super::service::{self, Assessment, AssessmentInput, ComplianceRow, ListFilter};
use crate::auth::{Caller, Scope};
use crate::error::AppError;
use crate::http::json::{self, JsonBody};
use crate::http::pagination::{self, Page, PageQuery};
use crate::http::parse_id;
use crate::{idempotency, AppState};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

/// The parameter catalogue and the tier profiles in force, as data.
#[utoipa::path(
    operation_id = "getMaturityModel",
    tag = "maturity",
    security(("bearer" = ["maturity:read"])),
    responses((status = 200, description = "The catalogue (parameters, groups, the 0–4 scale) with its tier profiles and validity periods", body = Model))
)]
#[get("/maturity/model")]
pub async fn model(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, AppError> {
    caller.require(Scope::MaturityRead)?;
    Ok(HttpResponse::Ok().json(&state.config.maturity))
}

/// Records a SIM3 assessment of a CSIRT: a self-assessment (by the CSIRT itself or the
/// national CSIRT), or a peer review or audit (by the national CSIRT).
#[utoipa::path(
    operation_id = "createMaturityAssessment",
    tag = "maturity",
    request_body = AssessmentInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")),
    security(("bearer" = ["maturity:write"])),
    responses(
        (status = 201, description = "Recorded, with the computed tier, the gaps to the next tier and the validity", body = Assessment),
        (status = 403, description = "The token lacks the scope, or a sectoral CSIRT recorded a peer review, an audit or another CSIRT's assessment", body = crate::error::Problem)
    )
)]
#[post("/maturity/assessments")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::MaturityWrite)?;
    let input: AssessmentInput = json::parse(&body.bytes)?;
    let key = idempotency::key(&req, &body.bytes)?;
    let st = state.clone();
    let outcome = state
        .write(move |conn| {
            idempotency::once(conn, &caller, key.as_ref(), |conn| {
                let out = service::create(conn, &caller, &st.config.maturity, input)?;
                Ok((StatusCode::CREATED, serde_json::to_string(&out)?))
            })
        })
        .await?;
    Ok(outcome.into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssessmentQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    /// Only assessments of this CSIRT (an organisation id; anything else is a 400).
    #[param(format = Uuid)]
    pub organisation_id: Option<String>,
    /// Only assessments of this type.
    #[serde(rename = "type")]
    pub assessment_type: Option<AssessmentType>,
    /// Only assessments recorded at or after this time (RFC 3339).
    #[serde(default, with = "crate::time::bounded_opt")]
    #[param(value_type = Option<crate::formats::Timestamp>)]
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// The assessments the caller may see: all for the national CSIRT and the supervisory
/// authorities, its own for a sectoral CSIRT.
#[utoipa::path(
    operation_id = "listMaturityAssessments",
    tag = "maturity",
    params(AssessmentQuery),
    security(("bearer" = ["maturity:read"])),
    responses((status = 200, description = "One page of assessments", body = Page<Assessment>))
)]
#[get("/maturity/assessments")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<AssessmentQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::MaturityRead)?;
    let q = q.into_inner();
    let page = PageQuery::params(q.limit, q.cursor.as_deref())?;
    let organisation_id = q
        .organisation_id
        .map(|id| {
            crate::formats::uuid(&id).ok_or_else(|| {
                AppError::bad_request(
                    "invalid_query",
                    format!("organisation_id `{id}` is not an organisation id (a UUID)"),
                )
            })
        })
        .transpose()?;
    let filter = ListFilter {
        organisation_id,
        assessment_type: q.assessment_type,
        updated_since: q.updated_since.map(|t| t.naive_utc()),
    };
    let st = state.clone();
    pagination::load(
        &req,
        page,
        |p| state.db(move |conn| service::list(conn, &caller, &st.config.maturity, &p, filter)),
        |a: &Assessment| a.id.clone(),
    )
    .await
}

/// One assessment.
#[utoipa::path(
    operation_id = "getMaturityAssessment",
    tag = "maturity",
    params(("id" = String, Path, description = "Assessment id")),
    security(("bearer" = ["maturity:read"])),
    responses((status = 200, description = "The assessment, with its tier by the profiles in force", body = Assessment))
)]
#[get("/maturity/assessments/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::MaturityRead)?;
    let id = parse_id(&id)?;
    let st = state.clone();
    let out = state
        .db(move |conn| service::get(conn, &caller, &st.config.maturity, &id))
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Per CSIRT: the tier it must reach, its tier from the latest valid assessment, whether it
/// complies, its last assessment and peer review, and when it is next due.
#[utoipa::path(
    operation_id = "listMaturityCompliance",
    tag = "maturity",
    security(("bearer" = ["maturity:read"])),
    responses((status = 200, description = "Every CSIRT the caller may see (a sectoral CSIRT: itself), the national CSIRT first", body = Page<ComplianceRow>))
)]
#[get("/maturity/compliance")]
pub async fn compliance(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::MaturityRead)?;
    let st = state.clone();
    let items = state
        .db(move |conn| service::compliance(conn, &caller, &st.config.maturity))
        .await?;
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_cursor: None,
    }))
}
