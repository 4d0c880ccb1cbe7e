//! Operations endpoints: liveness, readiness and metrics. `/healthz` and `/readyz` need no
//! token and reveal nothing but whether the service can work. `/metrics` shows national
//! reporting activity (requests per route and status, webhook backlogs), so it is not public:
//! with `NIS2HUB_METRICS_LISTEN` set it is served only there, on a listener of its own that
//! only the monitoring network should reach; otherwise it needs a token with `audit:read`.

use crate::auth::{Caller, Scope};
use crate::error::AppError;
use crate::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{get, web, App, FromRequest, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// Liveness: the process answers.
///
/// Public: no token. `200` as long as the process serves requests; it does not look at the
/// database (that is `/readyz`).
#[utoipa::path(
    operation_id = "getHealth",tag = "operations", responses((status = 200, description = "The process is alive", body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    #[schema(example = "ready")]
    pub status: String,
    #[schema(example = "sqlite")]
    pub database: String,
    pub migrations_current: bool,
}

/// Readiness: the database answers and has every migration this binary knows.
///
/// Public: no token. `503` while the database is unreachable or migrations are pending, so a
/// load balancer sends no traffic to this instance yet.
#[utoipa::path(
    operation_id = "getReadiness",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "Database unreachable or migrations pending", body = Readiness)
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let backend = state.config.database_url.backend().to_string();
    let result = state
        .db(|conn| Ok(crate::db::migrations_current(conn)))
        .await;
    match result {
        Ok(true) => HttpResponse::Ok().json(Readiness {
            status: "ready".into(),
            database: backend,
            migrations_current: true,
        }),
        Ok(false) => HttpResponse::ServiceUnavailable().json(Readiness {
            status: "migrations pending".into(),
            database: backend,
            migrations_current: false,
        }),
        Err(_) => HttpResponse::ServiceUnavailable().json(Readiness {
            status: "database unreachable".into(),
            database: backend,
            migrations_current: false,
        }),
    }
}

/// Prometheus metrics in the text exposition format.
///
/// They show national reporting activity, so they need a token with `audit:read`. When the
/// service runs with `NIS2HUB_METRICS_LISTEN`, they are served on that listener instead,
/// without a token, and this path answers 404.
#[utoipa::path(
    operation_id = "getMetrics",
    tag = "operations",
    security(("bearer" = ["audit:read"])),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String))
)]
#[get("/metrics")]
pub async fn metrics(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    if state.config.security.metrics_listen.is_some() {
        return Err(AppError::RouteNotFound(format!(
            "{} {}",
            req.method(),
            req.path()
        )));
    }
    let caller = Caller::extract(&req).await?;
    caller.require(Scope::AuditRead)?;
    Ok(render(&state).await)
}

async fn render(state: &AppState) -> HttpResponse {
    let backlog = state.db(crate::webhooks::backlog).await.unwrap_or_default();
    let text = state.metrics.render(&state.pool, &backlog);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}

async fn open_metrics(state: web::Data<AppState>) -> HttpResponse {
    render(&state).await
}

/// The application of the metrics listener (`NIS2HUB_METRICS_LISTEN`): `GET /metrics` without
/// a token, and nothing else.
pub fn metrics_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(state))
        .route("/metrics", web::get().to(open_metrics))
        .default_service(web::to(crate::http::not_found))
}

/// Brings the database up to date at start: the migrations, then the fills of columns and
/// indexes that were added to tables already holding rows (each its domain's, each done once).
pub fn migrate(conn: &mut crate::db::DbConn) -> Result<usize, String> {
    let applied = crate::db::migrate(conn)?;
    crate::entities::repo::index_entity_networks(conn)
        .map_err(|e| format!("indexing the registered networks failed: {e}"))?;
    crate::incidents::repo::backfill_recurring(conn)
        .map_err(|e| format!("filling the recurring-incident columns failed: {e}"))?;
    Ok(applied)
}
