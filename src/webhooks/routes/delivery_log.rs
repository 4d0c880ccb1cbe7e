//! A subscription's deliveries: the list, redelivering one or every failed one.

use super::*;

/// One delivery of one event to one subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    pub id: String,
    pub event_seq: i64,
    pub event_id: String,
    #[schema(example = "incident.routed")]
    pub event_type: String,
    #[schema(value_type = DeliveryStatus)]
    pub status: String,
    pub attempts: i64,
    pub last_status_code: Option<i32>,
    pub last_latency_ms: Option<i64>,
    pub last_error: Option<String>,
    /// When the next attempt is due, for a pending delivery.
    pub next_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub delivered_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub(super) type DeliveryTuple = (
    (
        String,
        i64,
        String,
        i64,
        Option<i32>,
        Option<i64>,
        Option<String>,
        chrono::NaiveDateTime,
        chrono::NaiveDateTime,
        Option<chrono::NaiveDateTime>,
    ),
    (String, String),
);

pub(super) fn delivery((row, (event_id, event_type)): DeliveryTuple) -> Delivery {
    let (id, event_seq, status, attempts, code, latency, error, next, created, delivered) = row;
    Delivery {
        id,
        event_seq,
        event_id,
        event_type,
        next_attempt_at: (status == "pending").then(|| next.and_utc()),
        status,
        attempts,
        last_status_code: code,
        last_latency_ms: latency,
        last_error: error,
        created_at: created.and_utc(),
        delivered_at: delivered.map(|t| t.and_utc()),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    pub status: Option<DeliveryStatus>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    Succeeded,
    /// Failed after the last retry.
    Failed,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// The delivery log of a subscription, oldest first.
#[utoipa::path(
    operation_id = "listWebhookDeliveries",
    tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id"), DeliveryQuery),
    security(("bearer" = ["webhooks:manage"])),
    responses((status = 200, description = "One page of deliveries", body = Page<Delivery>))
)]
#[get("/webhooks/{id}/deliveries")]
pub async fn deliveries(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    q: web::Query<DeliveryQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::WebhooksManage)?;
    let id = parse_id(&id)?;
    let q = q.into_inner();
    let page = PageQuery::params(q.limit, q.cursor.as_deref())?;
    pagination::load(
        &req,
        page,
        |p| {
            state.db(move |conn| {
                own(conn, &caller, &id)?;
                let mut query = d::table
                    .inner_join(events::table.on(events::seq.eq(d::event_seq)))
                    .filter(d::webhook_id.eq(&id))
                    .select((
                        (
                            d::id,
                            d::event_seq,
                            d::status,
                            d::attempts,
                            d::last_status_code,
                            d::last_latency_ms,
                            d::last_error,
                            d::next_attempt_at,
                            d::created_at,
                            d::delivered_at,
                        ),
                        (events::id, events::event_type),
                    ))
                    .into_boxed();
                if let Some(after) = p.after {
                    query = query.filter(d::id.gt(after));
                }
                if let Some(s) = q.status {
                    query = query.filter(d::status.eq(s.as_str()));
                }
                let rows: Vec<DeliveryTuple> =
                    query.order(d::id.asc()).limit(p.limit + 1).load(conn)?;
                Ok(rows.into_iter().map(delivery).collect::<Vec<_>>())
            })
        },
        |x| x.id.clone(),
    )
    .await
}

pub(super) fn requeue(
    conn: &mut DbConn,
    filter_id: &str,
    delivery: Option<&str>,
    since: Option<chrono::NaiveDateTime>,
) -> AppResult<usize> {
    let now = db::now();
    let mut q = diesel::update(d::table)
        .filter(d::webhook_id.eq(filter_id))
        .into_boxed();
    if let Some(did) = delivery {
        q = q.filter(d::id.eq(did.to_string()));
    } else {
        q = q.filter(d::status.eq("failed"));
    }
    if let Some(since) = since {
        q = q.filter(d::created_at.ge(since));
    }
    Ok(q.set((
        d::status.eq("pending"),
        d::attempts.eq(0),
        d::next_attempt_at.eq(now),
        d::claimed_until.eq(None::<chrono::NaiveDateTime>),
        d::updated_at.eq(now),
    ))
    .execute(conn)?)
}

/// Queues one delivery again, whatever its state.
#[utoipa::path(
    operation_id = "redeliverWebhookDelivery",
    tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id"), ("delivery_id" = String, Path, description = "Delivery id")),
    security(("bearer" = ["webhooks:manage"])),
    responses((status = 202, description = "Queued again", body = Requeued))
)]
#[post("/webhooks/{id}/deliveries/{delivery_id}/redeliver")]
pub async fn redeliver_one(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::WebhooksManage)?;
    let (id, delivery_id) = path.into_inner();
    let (id, delivery_id) = (parse_id(&id)?, parse_id(&delivery_id)?);
    let n = state
        .write(move |conn| {
            own(conn, &caller, &id)?;
            let n = requeue(conn, &id, Some(&delivery_id), None)?;
            if n == 0 {
                return Err(AppError::NotFound);
            }
            audit::record(
                conn,
                &caller,
                "webhook.redeliver",
                "webhook_delivery",
                &delivery_id,
            )?;
            Ok(n)
        })
        .await?;
    Ok(HttpResponse::Accepted().json(Requeued { requeued: n }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"since": "2026-11-20T00:00:00Z"}))]
pub struct RedeliverFailed {
    /// Failed deliveries queued at or after this time.
    #[serde(with = "crate::time::bounded")]
    #[schema(value_type = crate::formats::Timestamp)]
    pub since: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Requeued {
    pub requeued: usize,
}

/// Queues every failed delivery since a time again.
#[utoipa::path(
    operation_id = "redeliverFailedWebhookDeliveries",
    tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id")),
    request_body = RedeliverFailed,
    security(("bearer" = ["webhooks:manage"])),
    responses((status = 202, description = "Queued again", body = Requeued))
)]
#[post("/webhooks/{id}/redeliver")]
pub async fn redeliver_failed(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: ValidJson<RedeliverFailed>,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::WebhooksManage)?;
    let id = parse_id(&id)?;
    let since = body.0.since.naive_utc();
    let n = state
        .write(move |conn| {
            own(conn, &caller, &id)?;
            let n = requeue(conn, &id, None, Some(since))?;
            audit::record(conn, &caller, "webhook.redeliver_failed", "webhook", &id)?;
            Ok(n)
        })
        .await?;
    Ok(HttpResponse::Accepted().json(Requeued { requeued: n }))
}
