//! HTTP plumbing shared by every endpoint: request ids, metrics, JSON bodies with precise
//! errors, pagination, conditional requests, CSV downloads and the problem+json fallbacks.

pub mod conditional;
pub mod csv;
pub mod formats;
pub mod json;
pub mod metrics;
pub mod pagination;
pub mod request_id;

use crate::error::AppError;
use actix_web::{web, HttpRequest, HttpResponse};

/// The methods each route pattern serves, for the `Allow` header of a 405 (given by the
/// application, which knows its routes; `GET` where it gives none).
#[derive(Clone, Copy)]
pub struct AllowedMethods(pub fn(&str) -> String);

/// The answer for every path no route matches (and, with `405`, for wrong methods).
/// A path that some route serves with another method gets 405, any other path 404.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, AppError> {
    if let Some(pattern) = req.match_pattern() {
        let allow = match req.app_data::<web::Data<AllowedMethods>>() {
            Some(allowed) => (allowed.0)(&pattern),
            None => "GET".to_string(),
        };
        return Err(AppError::MethodNotAllowed {
            method: req.method().to_string(),
            allow,
        });
    }
    Err(AppError::RouteNotFound(format!(
        "{} {}",
        req.method(),
        req.path()
    )))
}

/// Parses a record id (a hyphenated UUID, `format: uuid`) from the path. A malformed id names
/// no record, so it is a 404 like any other id the caller cannot see.
pub fn parse_id(raw: &str) -> Result<String, AppError> {
    crate::formats::uuid(raw).ok_or(AppError::NotFound)
}

/// Middleware: a query string may not carry the NUL character (`%00`), which no text field
/// holds (PostgreSQL cannot store it); it is a 400 before any handler runs.
pub async fn refuse_nul_in_query(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<
    actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>,
    actix_web::Error,
> {
    if req.query_string().contains("%00") {
        let err = AppError::bad_request(
            "invalid_query",
            "query parameters may not contain the NUL character (%00)",
        );
        return Ok(req.error_response(err).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
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
