//! `ETag` / `If-Match`: every versioned record carries its version as a strong entity tag, and
//! an update that names an older one is refused with 412 instead of overwriting someone's work.

use crate::error::AppError;
use actix_web::http::header::{HeaderValue, IF_MATCH};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

/// The entity tag of a record's version (defined with the versions, in `db`).
pub use crate::db::etag;

/// A record that carries its version.
pub trait Versioned: serde::Serialize {
    fn version(&self) -> i64;
}

/// A versioned record as the response body, with its `ETag`.
pub fn etagged(status: StatusCode, record: &impl Versioned) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("ETag", etag(record.version())))
        .json(record)
}

/// A PATCH of a versioned record: the id from the path, the body as a JSON merge patch and
/// `If-Match` read, `update` run in one write transaction, and the record answered with its
/// `ETag`. The handler checks the scope first and gives `update` its caller.
pub async fn patch_record<T, F>(
    state: &crate::AppState,
    id: &str,
    body: &super::json::JsonBody,
    req: &HttpRequest,
    update: F,
) -> Result<HttpResponse, AppError>
where
    F: FnOnce(
            &mut crate::db::DbConn,
            &str,
            Option<&str>,
            &serde_json::Value,
        ) -> crate::error::AppResult<T>
        + Send
        + 'static,
    T: Versioned + Send + 'static,
{
    let id = super::parse_id(id)?;
    let patch = super::json::parse_patch(&body.bytes)?;
    let if_match = if_match(req);
    let record = state
        .write(move |conn| update(conn, &id, if_match.as_deref(), &patch))
        .await?;
    Ok(etagged(StatusCode::OK, &record))
}

/// The `If-Match` header's value, if the request sent one.
pub fn if_match(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(IF_MATCH)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(str::to_string)
}

/// Checks an `If-Match` value against the record's current version.
pub fn check(if_match: Option<&str>, version: i64) -> Result<(), AppError> {
    let Some(header) = if_match else {
        return Ok(());
    };
    let current = etag(version);
    let matches = header
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == current);
    if matches {
        Ok(())
    } else {
        Err(AppError::PreconditionFailed(format!(
            "the record has changed since you read it (it is now {current}); read it again and reapply your change"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_tags_are_refused() {
        assert!(check(None, 3).is_ok());
        assert!(check(Some("\"v3\""), 3).is_ok());
        assert!(check(Some("W/\"v3\""), 3).is_ok());
        assert!(check(Some("*"), 3).is_ok());
        assert!(check(Some("\"v1\", \"v3\""), 3).is_ok());
        assert_eq!(
            check(Some("\"v2\""), 3).unwrap_err().code(),
            "precondition_failed"
        );
    }
}
