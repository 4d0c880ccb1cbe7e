//! nis2hub: the national single source of truth for NIS2 administration.
//!
//! [`build_app`] is the one application builder: `main`, the integration tests and the
//! OpenAPI dump all use it, so what is tested and documented is what runs.

pub mod audit;
pub mod auth;
pub mod config;
pub mod db;
pub mod directory;
pub mod entities;
pub mod error;
pub mod http;
pub mod idempotency;
pub mod incidents;
pub mod openapi;
pub mod ops;
pub mod outbox;
pub mod rules;
pub mod schema;
pub mod webhooks;

use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{body::MessageBody, web, App};
use error::{AppError, AppResult};
use std::sync::Arc;

/// Everything a request needs, built once at start and shared by every worker.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<config::Config>,
    pub pool: db::Pool,
    pub keys: Arc<auth::jwt::Keys>,
    pub metrics: http::metrics::Metrics,
    /// Limits `POST /oauth/token` per client address.
    pub token_limiter: Arc<governor::DefaultKeyedRateLimiter<std::net::IpAddr>>,
    /// Limits `POST /api/v1/webhooks/{id}/ping` per organisation.
    pub ping_limiter: Arc<governor::DefaultKeyedRateLimiter<String>>,
}

impl AppState {
    pub fn new(config: config::Config, pool: db::Pool) -> Result<Self, String> {
        let keys = auth::jwt::Keys::new(&config.jwt)?;
        let per_minute = std::num::NonZeroU32::new(config.token_rate_per_minute)
            .unwrap_or(std::num::NonZeroU32::MIN);
        let token_limiter = Arc::new(governor::RateLimiter::keyed(governor::Quota::per_minute(
            per_minute,
        )));
        let pings = std::num::NonZeroU32::new(config.webhook_pings_per_minute)
            .unwrap_or(std::num::NonZeroU32::MIN);
        let ping_limiter = Arc::new(governor::RateLimiter::keyed(governor::Quota::per_minute(
            pings,
        )));
        Ok(Self {
            ping_limiter,
            config: Arc::new(config),
            pool,
            keys: Arc::new(keys),
            metrics: http::metrics::Metrics::new(),
            token_limiter,
        })
    }

    /// Runs blocking database work on the blocking thread pool, never on an HTTP worker.
    pub async fn db<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut db::DbConn) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        web::block(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await?
    }

    /// Like [`AppState::db`], inside one write transaction.
    pub async fn write<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut db::DbConn) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.db(move |conn| db::write_tx(conn, f)).await
    }
}

/// Builds the application: routes, middleware, error handlers and the OpenAPI document.
pub fn build_app(
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
    openapi::app(state)
}

/// Turns an `AppError` into an actix error (for extractor error handlers).
pub fn to_actix(e: AppError) -> actix_web::Error {
    e.into()
}
