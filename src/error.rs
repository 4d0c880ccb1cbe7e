//! One error type for the whole service, rendered as RFC 9457 `application/problem+json`.
//!
//! Every variant has a stable machine `code` that clients may branch on; the human `detail`
//! may change. Internal errors keep the caller's source location for the log, and never show
//! it (or anything else internal) to the client.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::panic::Location;
use utoipa::ToSchema;

/// One invalid field: where it is (a JSON pointer into the request) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON pointer (RFC 6901) to the offending value, `""` for the whole document.
    #[schema(example = "/contacts/0/email")]
    pub pointer: String,
    #[schema(example = "must be an e-mail address")]
    pub message: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[schema(example = "urn:nis2hub:problem:validation_failed")]
    pub r#type: String,
    #[schema(example = "Unprocessable Entity")]
    pub title: String,
    #[schema(example = 422)]
    pub status: u16,
    #[schema(example = "The request has 1 invalid field.")]
    pub detail: String,
    /// Stable machine code.
    #[schema(example = "validation_failed")]
    pub code: String,
    /// The request id, also in the `x-request-id` response header; quote it in a support call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// For validation failures: every invalid field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("this operation needs the scope `{0}`")]
    Forbidden(String),
    #[error("{0}")]
    ForbiddenAction(String),
    #[error("no such record, or not one you may see")]
    NotFound,
    #[error("no route matches {0}")]
    RouteNotFound(String),
    #[error("method {method} is not allowed here; this resource allows {allow}")]
    MethodNotAllowed { method: String, allow: String },
    #[error("{detail}")]
    BadRequest {
        code: &'static str,
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("the request has {} invalid field(s)", .0.len())]
    Validation(Vec<FieldError>),
    #[error("{1}")]
    Conflict(&'static str, String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{1}")]
    Unprocessable(&'static str, String),
    #[error("the request body exceeds the limit of {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The database cannot be reached (no connection within the pool's timeout): `503` with
    /// `Retry-After`, logged as an error, since it lasts until someone acts.
    #[error("{0}")]
    Unavailable(String),
    /// The database connection was lost in the middle of the request (a restart, a failover,
    /// `pg_terminate_backend`): nothing of the request was committed, the connection is closed
    /// and the next request gets a fresh one. `503` with `Retry-After`, so clients retry
    /// instead of alerting on a server bug; logged as a warning, since it heals by itself.
    #[error("{0}")]
    ConnectionLost(String),
    #[error("too many requests; try again in {0} seconds")]
    TooManyRequests(u64),
    #[error("internal error: {message}")]
    Internal {
        message: String,
        location: &'static Location<'static>,
    },
}

impl AppError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            detail: detail.into(),
            errors: vec![],
        }
    }

    pub fn invalid(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(pointer, message)])
    }

    #[track_caller]
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal {
            message: message.into(),
            location: Location::caller(),
        }
    }

    /// Seconds a client should wait before trying again (`Retry-After`, RFC 9110 §10.2.3), for
    /// the answers that a retry can fix: rate limits and a database out of reach.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::TooManyRequests(seconds) => Some(*seconds),
            // A fresh connection is usually there at once (the server is up, or a standby
            // has taken over); a short wait avoids a burst of retries against a failover.
            Self::ConnectionLost(_) => Some(1),
            // The pool waited for a connection already; give the database time to come back.
            Self::Unavailable(_) => Some(5),
            _ => None,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "insufficient_scope",
            Self::ForbiddenAction(_) => "forbidden",
            Self::NotFound => "not_found",
            Self::RouteNotFound(_) => "route_not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::BadRequest { code, .. } => code,
            Self::Validation(_) => "validation_failed",
            Self::Conflict(code, _) => code,
            Self::PreconditionFailed(_) => "precondition_failed",
            Self::Unprocessable(code, _) => code,
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Unavailable(_) | Self::ConnectionLost(_) => "unavailable",
            Self::TooManyRequests(_) => "rate_limited",
            Self::Internal { .. } => "internal",
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        let detail = match self {
            Self::Internal { .. } => {
                "The server failed to handle the request; it has been logged.".to_string()
            }
            Self::Unavailable(_) | Self::ConnectionLost(_) => {
                "The database is not reachable at the moment; try again shortly.".to_string()
            }
            other => other.to_string(),
        };
        let errors = match self {
            Self::Validation(errors) | Self::BadRequest { errors, .. } => errors.clone(),
            _ => vec![],
        };
        Problem {
            r#type: format!("urn:nis2hub:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail,
            code: self.code().to_string(),
            request_id: request_id(),
            errors,
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::ForbiddenAction(_) => StatusCode::FORBIDDEN,
            Self::NotFound | Self::RouteNotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Validation(_) | Self::Unprocessable(..) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Conflict(..) => StatusCode::CONFLICT,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) | Self::ConnectionLost(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let id = request_id().unwrap_or_default();
        match self {
            Self::Internal { message, location } => {
                log::error!("{id} internal error at {location}: {message}")
            }
            Self::Unavailable(message) => log::error!("{id} database unavailable: {message}"),
            Self::ConnectionLost(message) => log::warn!("{id} {message}; the client may retry"),
            _ => {}
        }
        let mut res = HttpResponse::build(self.status_code());
        res.content_type("application/problem+json");
        if let Self::Unauthorized(_) = self {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"nis2hub\""));
        }
        if let Some(seconds) = self.retry_after() {
            res.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if let Self::MethodNotAllowed { allow, .. } = self {
            res.insert_header((header::ALLOW, allow.as_str()));
        }
        res.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

impl From<diesel::result::Error> for AppError {
    #[track_caller]
    fn from(e: diesel::result::Error) -> Self {
        if connection_lost(&e) {
            // The pool closes such a connection when it comes back; the client may retry.
            note_connection_lost();
            return Self::ConnectionLost(format!("the database connection was lost: {e}"));
        }
        match e {
            diesel::result::Error::NotFound => Self::NotFound,
            other => Self::internal(format!("database: {other}")),
        }
    }
}

impl From<r2d2::Error> for AppError {
    fn from(e: r2d2::Error) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<serde_json::Error> for AppError {
    #[track_caller]
    fn from(e: serde_json::Error) -> Self {
        Self::internal(format!("json: {e}"))
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    #[track_caller]
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::internal(format!("blocking pool: {e}"))
    }
}

pub type AppResult<T> = Result<T, AppError>;

tokio::task_local! {
    /// The id of the request this task serves, set by `http::request_id::middleware`; every
    /// problem document carries it.
    pub static REQUEST_ID: String;
}

/// The id of the request being served by this task, if any.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(|id| id.clone()).ok()
}

thread_local! {
    /// Set when a statement on this thread failed because the connection to the server is
    /// gone; read (and cleared) when the thread hands its connection back to the pool. The
    /// pool does not test connections on checkout (a `SELECT 1` round trip before every
    /// request), so this is how a connection the server dropped leaves the pool: the request
    /// that meets it fails, and the connection is closed instead of being handed out again.
    static CONNECTION_LOST: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True when `e` means the connection is unusable: the server closed it or cannot be reached.
///
/// A PostgreSQL restart or failover (or `pg_terminate_backend`) ends every connection, and the
/// request using one meets it in one of these forms, depending on where it was: the statement
/// fails with the connection closed (`ClosedConnection`, `UnableToSendCommand`), or with the
/// server's own farewell (SQLSTATE class 57P, "terminating connection due to administrator
/// command", which diesel reports as `Unknown`), or on a server that is now a read-only standby
/// (`ReadOnlyTransaction`); inside a transaction, diesel then marks its transaction manager
/// broken (libpq no longer knows the transaction state), so the rollback or commit that
/// follows fails with `BrokenTransactionManager` or `RollbackErrorOnCommit`. All of these mean
/// the same to a client: nothing was committed, the database is briefly out of reach, try
/// again — `503` with `Retry-After`, never a `500`.
pub fn connection_lost(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection
            | DatabaseErrorKind::UnableToSendCommand
            | DatabaseErrorKind::ReadOnlyTransaction,
            _,
        ) => true,
        Error::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            let message = info.message();
            SERVER_GOING_AWAY.iter().any(|m| message.contains(m))
        }
        Error::BrokenTransactionManager => true,
        Error::RollbackErrorOnCommit {
            rollback_error,
            commit_error,
        } => connection_lost(commit_error) || connection_lost(rollback_error),
        _ => false,
    }
}

/// The messages PostgreSQL and libpq give when the server ends or loses a connection and
/// diesel has no error kind for it (SQLSTATE 57P01–57P03 among them).
const SERVER_GOING_AWAY: &[&str] = &[
    "terminating connection due to administrator command",
    "terminating connection due to conflict with recovery",
    "terminating connection because of crash of another server process",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "server closed the connection unexpectedly",
    "no connection to the server",
    "could not receive data from server",
    "could not send data to server",
    "SSL connection has been closed unexpectedly",
];

/// Marks this thread's connection lost, so that the pool closes it when it comes back; see
/// [`CONNECTION_LOST`].
pub fn note_connection_lost() {
    CONNECTION_LOST.with(|l| l.set(true));
}

/// Whether this thread's connection was marked lost since the last call; clears the mark (the
/// pool asks when the connection comes back).
pub fn take_connection_lost() -> bool {
    CONNECTION_LOST.with(|l| l.replace(false))
}
