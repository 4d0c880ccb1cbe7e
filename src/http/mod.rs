//! HTTP plumbing shared by every endpoint: request ids, metrics, JSON bodies with precise
//! errors, pagination, conditional requests and the problem+json fallbacks.

pub mod conditional;
pub mod json;
pub mod metrics;
pub mod pagination;
pub mod request_id;

use crate::error::AppError;
use actix_web::{HttpRequest, HttpResponse};

/// The answer for every path no route matches (and, with `405`, for wrong methods).
/// A path that some route serves with another method gets 405, any other path 404.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, AppError> {
    if let Some(pattern) = req.match_pattern() {
        return Err(AppError::MethodNotAllowed {
            method: req.method().to_string(),
            allow: crate::openapi::allowed_methods(&pattern),
        });
    }
    Err(AppError::RouteNotFound(format!(
        "{} {}",
        req.method(),
        req.path()
    )))
}

/// Parses a record id from the path. A malformed id names no record, so it is a 404 like any
/// other id the caller cannot see.
pub fn parse_id(raw: &str) -> Result<String, AppError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| AppError::NotFound)
}

/// Query-string errors become a 400 problem naming the parameter.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &HttpRequest,
) -> actix_web::Error {
    AppError::bad_request("invalid_query", format!("invalid query parameters: {err}")).into()
}

pub fn path_error(_err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    AppError::NotFound.into()
}
