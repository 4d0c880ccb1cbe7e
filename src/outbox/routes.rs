//! `GET /api/v1/feed`: the caller's events in order.

use super::{Event, FeedFilter};
use crate::auth::{Caller, Role, Scope};
use crate::error::AppError;
use crate::AppState;
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// Return events after this sequence number (the `next_after` of the previous page; 0 or
    /// absent for the start).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// Page size, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Only events of this type, such as `incident.reported`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub event_type: Option<String>,
    /// Only events about significant incidents.
    pub significant: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedPage {
    pub items: Vec<Event>,
    /// Pass as `after` to continue; equal to the `after` you sent when there was nothing new.
    pub next_after: i64,
}

/// The caller's events, oldest first. A reader that pages with `after` sees every event
/// addressed to it exactly once, in order, however many writers commit concurrently.
#[utoipa::path(
    operation_id = "listFeedEvents",
    tag = "feed",
    params(FeedQuery),
    security(("bearer" = ["feeds:read"])),
    responses((status = 200, description = "One page of events", body = FeedPage))
)]
#[get("/feed")]
pub async fn feed(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<FeedQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::FeedsRead)?;
    let q = q.into_inner();
    let after = q.after.unwrap_or(0);
    if after < 0 {
        return Err(AppError::bad_request(
            "invalid_query",
            "after must be 0 or more",
        ));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::bad_request(
            "invalid_query",
            "limit must be between 1 and 500",
        ));
    }
    let filter = FeedFilter {
        after,
        limit,
        event_type: q.event_type,
        significant_only: q.significant.unwrap_or(false),
        own_org: Some(caller.org.clone()),
    };
    let org = (caller.role != Role::NationalCsirt).then(|| caller.org.clone());
    let items = state
        .db(move |conn| super::feed(conn, org.as_deref(), &filter))
        .await?;
    let next_after = items.last().map(|e| e.seq).unwrap_or(after);
    let mut res = HttpResponse::Ok();
    if items.len() as i64 == limit {
        let mut pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
        pairs.retain(|(k, _)| k != "after");
        pairs.push(("after".into(), next_after.to_string()));
        res.insert_header((
            "Link",
            format!(
                "<{}?{}>; rel=\"next\"",
                req.path(),
                serde_urlencoded::to_string(&pairs).unwrap_or_default()
            ),
        ));
    }
    Ok(res.json(FeedPage { items, next_after }))
}
