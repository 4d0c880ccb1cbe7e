//! `/api/v1/incidents` and `/api/v1/routing/evaluate`.

use super::model::*;
use super::service::{self, Filters};
use crate::auth::{Caller, Scope};
use crate::error::{AppError, Problem};
use crate::http::conditional::etagged;
use crate::http::json::{self, JsonBody, ValidJson};
use crate::http::pagination::{self, Page, PageQuery, SeqPageQuery};
use crate::http::parse_id;
use crate::rules::deadlines::Stage;
use crate::rules::routing::Decision;
use crate::{idempotency, AppState};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

async fn submit(
    state: web::Data<AppState>,
    caller: Caller,
    incident_id: Option<String>,
    body: JsonBody,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::IncidentsReport)?;
    let input = ReportInput::from_json(
        &body.bytes,
        incident_id.is_none(),
        crate::db::now().and_utc(),
    )?;
    let key = idempotency::key(&req, &body.bytes)?;
    let rules = state.config.clone();
    let outcome = state
        .write(move |conn| {
            idempotency::once(conn, &caller, key.as_ref(), |conn| {
                let incident = super::report::report(
                    conn,
                    &caller,
                    &rules.rules,
                    incident_id.as_deref(),
                    input,
                )?;
                Ok((StatusCode::CREATED, serde_json::to_string(&incident)?))
            })
        })
        .await?;
    Ok(outcome.into_response())
}

impl crate::http::conditional::Versioned for Incident {
    fn version(&self) -> i64 {
        self.version
    }
}

/// Reports a new incident (its first report, of any stage). The response holds the routing
/// decision: who is told, why, and what the reporter owes next.
#[utoipa::path(
    operation_id = "createIncident",
    tag = "incidents",
    request_body = ReportInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")),
    security(("bearer" = ["incidents:report"])),
    responses(
        (status = 201, description = "Recorded and routed", body = Incident),
        (status = 409, description = "The stage cannot open an incident, or the entity is deregistered", body = Problem)
    )
)]
#[post("/incidents")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    submit(state, caller, None, body, req).await
}

/// Adds the next report to an incident (reports are immutable). The rules run again: when the
/// incident becomes significant, cross-border or cross-sectoral, the new recipients are told.
#[utoipa::path(
    operation_id = "addIncidentReport",
    tag = "incidents",
    request_body = ReportInput,
    params(
        ("id" = String, Path, description = "Incident id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")
    ),
    security(("bearer" = ["incidents:report"])),
    responses(
        (status = 201, description = "Recorded and routed", body = Incident),
        (status = 409, description = "The stage is out of order, or the incident is closed", body = Problem)
    )
)]
#[post("/incidents/{id}/reports")]
pub async fn add_report(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: JsonBody,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&id)?;
    submit(state, caller, Some(id), body, req).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    /// Only incidents of this entity.
    #[param(format = Uuid)]
    pub entity_id: Option<String>,
    /// Sector or subsector code; a sector includes its subsectors.
    #[param(value_type = Option<crate::sectors::SectorCode>)]
    pub sector: Option<String>,
    /// Stage of the latest report.
    pub stage: Option<Stage>,
    pub significant: Option<bool>,
    pub cross_border: Option<bool>,
    /// Some stage submitted late or overdue.
    pub late: Option<bool>,
    pub status: Option<IncidentStatus>,
    /// Only incidents changed at or after this time (RFC 3339).
    #[serde(default, with = "crate::time::bounded_opt")]
    #[param(value_type = Option<crate::formats::Timestamp>)]
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// The incidents the caller may see: all for the national CSIRT, its own for an entity, those
/// routed to it for a CSIRT or authority.
#[utoipa::path(
    operation_id = "listIncidents",
    tag = "incidents",
    params(IncidentQuery),
    security(("bearer" = ["incidents:read"])),
    responses((status = 200, description = "One page of incidents", body = Page<IncidentSummary>))
)]
#[get("/incidents")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<IncidentQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::IncidentsRead)?;
    let q = q.into_inner();
    let page = PageQuery::params(q.limit, q.cursor.as_deref())?;
    crate::sectors::check_sector_filter(q.sector.as_deref())?;
    let entity_id = match q.entity_id.as_deref() {
        None => None,
        Some(raw) => Some(crate::formats::uuid(raw).ok_or_else(|| {
            AppError::bad_request("invalid_query", "entity_id is not an id (a UUID)")
        })?),
    };
    let filters = Filters {
        entity_id,
        sector: q.sector,
        stage: q.stage,
        significant: q.significant,
        cross_border: q.cross_border,
        late: q.late,
        status: q.status,
        updated_since: q.updated_since.map(|t| t.naive_utc()),
    };
    pagination::load(
        &req,
        page,
        |p| state.db(move |conn| service::list(conn, &caller, &p, filters)),
        |i| i.id.clone(),
    )
    .await
}

/// One incident with its reports, deadlines (late and overdue flags as of now) and current
/// decision. Every read is recorded in the audit log.
#[utoipa::path(
    operation_id = "getIncident",
    tag = "incidents",
    params(("id" = String, Path, description = "Incident id")),
    security(("bearer" = ["incidents:read"])),
    responses((status = 200, description = "The incident", body = Incident))
)]
#[get("/incidents/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::IncidentsRead)?;
    let id = parse_id(&id)?;
    let cfg = state.config.clone();
    let incident = state
        .write(move |conn| service::get(conn, &caller, &cfg.rules, &id))
        .await?;
    Ok(etagged(StatusCode::OK, &incident))
}

/// Every routing decision made over the incident's life, newest first.
#[utoipa::path(
    operation_id = "listIncidentRouting",
    tag = "incidents",
    params(("id" = String, Path, description = "Incident id"), SeqPageQuery),
    security(("bearer" = ["incidents:read"])),
    responses((status = 200, description = "One page of decisions", body = Page<RoutingRecord>))
)]
#[get("/incidents/{id}/routing")]
pub async fn routing(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    q: web::Query<SeqPageQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::IncidentsRead)?;
    let id = parse_id(&id)?;
    let page = q.validate()?;
    pagination::load(
        &req,
        page,
        |p| state.write(move |conn| service::routing_history(conn, &caller, &id, &p)),
        |r| r.number.to_string(),
    )
    .await
}

/// A supervisory authority marks a report `under_review`, `passed` or `revision_required`.
#[utoipa::path(
    operation_id = "reviewIncidentReport",
    tag = "incidents",
    params(("id" = String, Path, description = "Incident id"), ("report_id" = String, Path, description = "Report id")),
    request_body = ReviewInput,
    security(("bearer" = ["incidents:review"])),
    responses((status = 200, description = "The reviewed report", body = Report))
)]
#[post("/incidents/{id}/reports/{report_id}/review")]
pub async fn review(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: ValidJson<ReviewInput>,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::IncidentsReview)?;
    let (id, report_id) = path.into_inner();
    let (id, report_id) = (parse_id(&id)?, parse_id(&report_id)?);
    let cfg = state.config.clone();
    let report = state
        .write(move |conn| {
            super::review::review(conn, &caller, &cfg.rules, &id, &report_id, body.0)
        })
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// A CSIRT or supervisory authority the incident was routed to requests an intermediate report
/// (Art. 23(4)(c)) by a time it names: at least the rule set's minimum lead time from now
/// (24 hours by default), with at most its maximum of open requests per incident (3).
#[utoipa::path(
    operation_id = "requestIntermediateReport",
    tag = "incidents",
    params(("id" = String, Path, description = "Incident id")),
    request_body = RequestInput,
    security(("bearer" = ["incidents:request"])),
    responses(
        (status = 201, description = "Requested", body = IntermediateRequest),
        (status = 409, description = "The incident is closed (`incident_closed`), or has as many open requests as allowed (`too_many_open_requests`)", body = Problem),
        (status = 422, description = "`due_at` is sooner than the minimum lead time", body = Problem)
    )
)]
#[post("/incidents/{id}/requests")]
pub async fn request(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: ValidJson<RequestInput>,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::IncidentsRequest)?;
    let id = parse_id(&id)?;
    let cfg = state.config.clone();
    let r = state
        .write(move |conn| {
            super::review::request_intermediate(conn, &caller, &cfg.rules, &id, body.0)
        })
        .await?;
    Ok(HttpResponse::Created().json(r))
}

/// Closes an incident (national CSIRT): no more reports, no more deadlines.
#[utoipa::path(
    operation_id = "closeIncident",
    tag = "incidents",
    params(("id" = String, Path, description = "Incident id")),
    security(("bearer" = ["incidents:review"])),
    responses(
        (status = 200, description = "The closed incident", body = Incident),
        (status = 409, description = "Closed already", body = Problem)
    )
)]
#[post("/incidents/{id}/close")]
pub async fn close(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::IncidentsReview)?;
    if caller.role != crate::auth::Role::NationalCsirt {
        return Err(AppError::ForbiddenAction(
            "incidents are closed by the national CSIRT".into(),
        ));
    }
    let id = parse_id(&id)?;
    let cfg = state.config.clone();
    let incident = state
        .write(move |conn| super::review::close(conn, &caller, &cfg.rules, &id))
        .await?;
    Ok(HttpResponse::Ok().json(incident))
}

/// The decision the rules would make for these facts; nothing is stored.
#[utoipa::path(
    operation_id = "evaluateRouting",
    tag = "incidents",
    request_body = EvaluateInput,
    security(("bearer" = ["routing:evaluate"])),
    responses((status = 200, description = "The decision", body = Decision))
)]
#[post("/routing/evaluate")]
pub async fn evaluate(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::RoutingEvaluate)?;
    let input: EvaluateInput = json::parse_valid(&body.bytes)?;
    let cfg = state.config.clone();
    let decision = state
        .db(move |conn| super::report::evaluate(conn, &caller, &cfg.rules, input))
        .await?;
    Ok(HttpResponse::Ok().json(decision))
}
