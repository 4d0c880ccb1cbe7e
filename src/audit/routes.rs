//! `GET /api/v1/audit` and `GET /api/v1/audit/verify` (scope `audit:read`).

use super::{AuditRecord, Verification};
use crate::auth::{Caller, Scope};
use crate::error::AppError;
use crate::http::pagination::{self, Order, Page};
use crate::schema::audit_log;
use crate::AppState;
use actix_web::{get, web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{10}[AEIMQUYcgkosw048]$")]
    pub cursor: Option<String>,
    /// Only records about this kind of resource (`entity`, `organisation`, `client`, …).
    pub resource_type: Option<String>,
    /// Only records about this resource.
    pub resource_id: Option<String>,
    /// Only records of this acting organisation.
    pub actor_org: Option<String>,
    /// Only records made at or after this time (RFC 3339).
    #[serde(default, with = "crate::time::bounded_opt")]
    #[param(value_type = Option<crate::formats::Timestamp>)]
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// The audit log, oldest first.
#[utoipa::path(
    operation_id = "listAuditRecords",
    tag = "audit",
    params(AuditQuery),
    security(("bearer" = ["audit:read"])),
    responses((status = 200, description = "One page of audit records", body = Page<AuditRecord>))
)]
#[get("/audit")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<AuditQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::AuditRead)?;
    let q = q.into_inner();
    let page = pagination::page_params(Order::Seq, q.limit, q.cursor.as_deref())?;
    let after: i64 = match &page.after {
        None => 0,
        Some(c) => c.parse().map_err(|_| {
            AppError::bad_request(
                "invalid_cursor",
                "the cursor is not one this service issued",
            )
        })?,
    };
    let rows = state
        .db(move |conn| {
            let mut query = audit_log::table
                .filter(audit_log::seq.gt(after))
                .select(AuditRecord::as_select())
                .into_boxed();
            if let Some(t) = q.resource_type {
                query = query.filter(audit_log::resource_type.eq(t));
            }
            if let Some(id) = q.resource_id {
                query = query.filter(audit_log::resource_id.eq(id));
            }
            if let Some(org) = q.actor_org {
                query = query.filter(audit_log::actor_org.eq(org));
            }
            if let Some(since) = q.updated_since {
                query = query.filter(audit_log::at.ge(since.naive_utc()));
            }
            Ok(query
                .order(audit_log::seq.asc())
                .limit(page.limit + 1)
                .load::<AuditRecord>(conn)?)
        })
        .await?;
    Ok(pagination::respond(
        &req,
        pagination::paginate(rows, page.limit, |r| r.seq.to_string()),
    ))
}

/// Recomputes the hash chain and reports the first broken link, if any.
#[utoipa::path(
    operation_id = "verifyAuditChain",
    tag = "audit",
    security(("bearer" = ["audit:read"])),
    responses((status = 200, description = "The result of the check", body = Verification))
)]
#[get("/audit/verify")]
pub async fn verify(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, AppError> {
    caller.require(Scope::AuditRead)?;
    let v = state.db(super::verify).await?;
    Ok(HttpResponse::Ok().json(v))
}
