//! Operations endpoints: liveness, readiness and metrics. They need no token, and reveal
//! nothing but whether the service can work.

use crate::error::AppError;
use crate::AppState;
use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// Liveness: the process answers.
#[utoipa::path(tag = "operations", responses((status = 200, description = "The process is alive", body = Health)))]
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
#[utoipa::path(
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
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String))
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let backlog = state.db(crate::webhooks::backlog).await.unwrap_or_default();
    let text = state.metrics.render(&state.pool, &backlog);
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text))
}
