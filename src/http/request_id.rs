//! A request id for every request: taken from a well-formed `x-request-id` header or made
//! fresh, returned on every response, written in the access log and the audit log, and put in
//! every problem document.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use std::time::Instant;

/// The id of the request being served by this task, if any (kept with the errors, which carry
/// it in every problem document).
pub use crate::error::request_id as current;

/// The request id, as a request extension for extractors.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn accept(header: Option<&HeaderValue>) -> Option<String> {
    let v = header?.to_str().ok()?;
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| v.to_string())
}

/// Middleware: request id, access log line, and the HTTP metrics.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = accept(req.headers().get("x-request-id"))
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().to_string();
    let path = req.path().to_string();
    let metrics = req
        .app_data::<web::Data<crate::AppState>>()
        .map(|s| s.metrics.clone());
    let started = Instant::now();
    let mut res = crate::error::REQUEST_ID
        .scope(id.clone(), next.call(req))
        .await?;
    let elapsed = started.elapsed();
    let status = res.status();
    res.headers_mut().insert(
        HeaderName::from_static("x-request-id"),
        HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("invalid")),
    );
    if let Some(m) = metrics {
        m.observe(&method, &route, status.as_u16(), elapsed);
    }
    log::info!(
        "{id} {method} {path} {} {:.1}ms",
        status.as_u16(),
        elapsed.as_secs_f64() * 1000.0
    );
    Ok(res)
}
