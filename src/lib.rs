//! nis2hub: the national single source of truth for NIS2 administration.
//!
//! [`build_app`] is the one application builder: `main`, the integration tests and the
//! OpenAPI dump all use it, so what is tested and documented is what runs.

pub mod advisories;
pub mod audit;
pub mod auth;
pub mod awareness;
pub mod config;
pub mod cvd;
pub mod db;
pub mod directory;
pub mod entities;
pub mod error;
pub mod formats;
pub mod http;
pub mod idempotency;
pub mod incidents;
pub mod maturity;
pub mod openapi;
pub mod openpgp;
pub mod ops;
pub mod outbox;
pub mod rules;
pub mod schema;
pub mod sectors;
pub mod seed;
pub mod time;
pub mod tlp;
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
    /// Limits `POST /oauth/token` per client address and per `client_id`.
    pub token_limits: Arc<auth::limits::TokenLimits>,
    /// Revocation states and organisation/role matches, remembered for a few seconds.
    pub auth_cache: Arc<auth::cache::AuthCache>,
    /// Rate limit and count of refused authentications written to the audit log.
    pub refusals: Arc<auth::refusals::RefusalLog>,
    /// Limits `POST /api/v1/webhooks/{id}/ping` per organisation.
    pub ping_limiter: Arc<governor::DefaultKeyedRateLimiter<String>>,
    /// Limits tokenless `POST /api/v1/cvd/reports` per client address.
    pub cvd_intake: Arc<cvd::IntakeLimit>,
    /// The CSAF provider's signing key and the signatures made with it.
    pub provider: Arc<advisories::provider::Signer>,
    /// Limits awareness reads per organisation (disclosure control in depth).
    pub awareness_limiter: Arc<governor::DefaultKeyedRateLimiter<String>>,
    /// When each caller's awareness question was last recorded in the audit log.
    pub awareness_read_audits: Arc<governor::DefaultKeyedRateLimiter<String>>,
}

impl AppState {
    pub fn new(config: config::Config, pool: db::Pool) -> Result<Self, String> {
        let security = &config.security;
        let keys = auth::jwt::Keys::new(&config.jwt)?
            .with_external_max_lifetime(security.external_token_max_lifetime);
        let token_limits = Arc::new(auth::limits::TokenLimits::new(
            config.token_rate_per_minute,
            security.token_rate_per_client_per_minute,
            security.trusted_proxies.clone(),
        ));
        let auth_cache = Arc::new(auth::cache::AuthCache::new(security.auth_cache_ttl));
        let refusals = Arc::new(auth::refusals::RefusalLog::new(
            security.audit_refusals_per_minute,
        ));
        let pings = std::num::NonZeroU32::new(config.webhook_pings_per_minute)
            .unwrap_or(std::num::NonZeroU32::MIN);
        let ping_limiter = Arc::new(governor::RateLimiter::keyed(governor::Quota::per_minute(
            pings,
        )));
        let cvd_intake = Arc::new(cvd::IntakeLimit::new(config.cvd_intake_per_minute));
        let provider = Arc::new(advisories::provider::Signer::load(&config.provider)?);
        let awareness_limiter = Arc::new(governor::RateLimiter::keyed(
            governor::Quota::per_minute(awareness::routes::READS_PER_MINUTE),
        ));
        let awareness_read_audits = Arc::new(governor::RateLimiter::keyed(
            governor::Quota::with_period(awareness::routes::READ_AUDIT_INTERVAL)
                .unwrap_or_else(|| governor::Quota::per_minute(std::num::NonZeroU32::MIN)),
        ));
        Ok(Self {
            awareness_limiter,
            awareness_read_audits,
            provider,
            ping_limiter,
            cvd_intake,
            config: Arc::new(config),
            pool,
            keys: Arc::new(keys),
            metrics: http::metrics::Metrics::new(),
            token_limits,
            auth_cache,
            refusals,
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
