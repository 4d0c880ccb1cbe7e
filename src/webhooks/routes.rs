//! `/api/v1/webhooks`: subscriptions of the caller's organisation, their delivery log and
//! controls. Scope `webhooks:manage`; another organisation's subscription is a 404.

use crate::audit;
use crate::auth::{Caller, Scope};
use crate::db::{self, DbConn};
use crate::error::{AppError, AppResult, FieldError, Problem};
use crate::http::conditional;
use crate::http::conditional::etagged;
use crate::http::json::{self, JsonBody, ValidJson};
use crate::http::pagination::{self, Page, PageQuery};
use crate::http::parse_id;
use crate::outbox::{self, NewEvent};
use crate::schema::{events, webhook_deliveries as d, webhooks as w};
use crate::{idempotency, AppState};
use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

mod delivery_log;
#[allow(unused_imports)]
pub use delivery_log::*;

/// Event types a subscription may ask for.
pub const EVENT_TYPES: &[&str] = &[
    "incident.reported",
    "incident.report_added",
    "incident.routed",
    "incident.intermediate_requested",
    "incident.review_changed",
    "incident.deadline_missed",
    "incident.closed",
    "webhook.disabled",
    "webhook.ping",
];

#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://tickets.csirt-energy.example/hooks/nis2hub", "event_types": ["incident.routed", "incident.report_added"], "description": "RTIR"}))]
pub struct WebhookInput {
    /// Where to post events: `https://` on a host that resolves to public addresses only
    /// (plain `http://` and internal addresses only for hosts the operator allows).
    #[schema(format = "uri", max_length = 2000)]
    pub url: String,
    /// Event types to receive; empty for all.
    #[serde(default)]
    #[schema(value_type = Vec<EventType>)]
    pub event_types: Vec<String>,
    #[serde(default)]
    #[validate(length(max = 500))]
    #[schema(max_length = 500)]
    pub description: String,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// A subscription (never with its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Webhook {
    #[schema(format = Uuid)]
    pub id: String,
    pub organisation_id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: String,
    pub enabled: bool,
    /// Why the service disabled it, if it did.
    pub disabled_reason: Option<String>,
    /// Until when the previous secret still signs too, after a rotation.
    pub previous_secret_valid_until: Option<chrono::DateTime<chrono::Utc>>,
    pub version: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// A subscription with its signing secret: the only time the secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// Standard Webhooks secret (`whsec_…`) to verify `webhook-signature` with.
    pub secret: String,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = w)]
struct Row {
    id: String,
    org_id: String,
    url: String,
    event_types: String,
    description: String,
    enabled: bool,
    previous_secret_until: Option<chrono::NaiveDateTime>,
    disabled_reason: Option<String>,
    version: i64,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
}

impl Row {
    fn into_api(self) -> AppResult<Webhook> {
        let now = db::now();
        Ok(Webhook {
            id: self.id,
            organisation_id: self.org_id,
            url: self.url,
            event_types: serde_json::from_str(&self.event_types)?,
            description: self.description,
            enabled: self.enabled,
            disabled_reason: self.disabled_reason,
            previous_secret_valid_until: self
                .previous_secret_until
                .filter(|t| *t > now)
                .map(|t| t.and_utc()),
            version: self.version,
            created_at: self.created_at.and_utc(),
            updated_at: self.updated_at.and_utc(),
        })
    }
}

/// Checks a subscription whole, the target's addresses included: this looks the host up, so it
/// runs on a blocking thread and before the write transaction, never inside it.
fn validate(input: &WebhookInput, allow: &[String], lookup: &dyn super::Lookup) -> AppResult<()> {
    input
        .validate()
        .map_err(|e| AppError::Validation(json::field_errors(&e)))?;
    let mut errors = vec![];
    if let Err(e) = super::check_target_with(&input.url, allow, lookup) {
        errors.push(FieldError::new("/url", e));
    }
    for (i, t) in input.event_types.iter().enumerate() {
        if !EVENT_TYPES.contains(&t.as_str()) {
            errors.push(FieldError::new(
                format!("/event_types/{i}"),
                format!(
                    "`{t}` is not an event type; one of: {}",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

fn own(conn: &mut DbConn, caller: &Caller, id: &str) -> AppResult<Row> {
    let row: Row = w::table.find(id).select(Row::as_select()).first(conn)?;
    if row.org_id == caller.org {
        Ok(row)
    } else {
        Err(AppError::NotFound)
    }
}

/// Subscribes the caller's organisation to events. The response shows the signing secret once.
#[utoipa::path(
    operation_id = "createWebhook",
    tag = "webhooks",
    request_body = WebhookInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")),
    security(("bearer" = ["webhooks:manage"])),
    responses(
        (status = 201, description = "Subscribed; keep the secret now", body = WebhookWithSecret),
        (status = 409, description = "The organisation has as many subscriptions as it may (`webhook_limit_reached`)", body = Problem)
    )
)]
#[post("/webhooks")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::WebhooksManage)?;
    let input: WebhookInput = json::parse(&body.bytes)?;
    let allow = state.config.webhook_allow_hosts.clone();
    let lookup = state.config.security.webhook_lookup.clone();
    let checked = input.clone();
    web::block(move || validate(&checked, &allow, &*lookup)).await??;
    let key = idempotency::key(&req, &body.bytes)?;
    let max = state.config.webhook_max_per_organisation;
    let outcome = state
        .write(move |conn| {
            idempotency::once(conn, &caller, key.as_ref(), |conn| {
                // Serialise creations, so two at once cannot both pass the count.
                db::lock_writes(conn)?;
                let existing: i64 = w::table
                    .filter(w::org_id.eq(&caller.org))
                    .count()
                    .get_result(conn)?;
                if existing >= max {
                    return Err(AppError::Conflict(
                        "webhook_limit_reached",
                        format!("an organisation may have at most {max} webhook subscriptions; delete one first"),
                    ));
                }
                let now = db::now();
                let id = db::new_id();
                let secret = super::new_secret();
                diesel::insert_into(w::table)
                    .values((
                        w::id.eq(&id),
                        w::org_id.eq(&caller.org),
                        w::url.eq(&input.url),
                        w::event_types.eq(serde_json::to_string(&input.event_types)?),
                        w::description.eq(&input.description),
                        w::enabled.eq(input.enabled),
                        w::secret.eq(&secret),
                        w::consecutive_failures.eq(0),
                        w::version.eq(1),
                        w::created_at.eq(now),
                        w::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                audit::record(conn, &caller, "webhook.create", "webhook", &id)?;
                let webhook = w::table
                    .find(&id)
                    .select(Row::as_select())
                    .first(conn)?
                    .into_api()?;
                Ok((
                    StatusCode::CREATED,
                    serde_json::to_string(&WebhookWithSecret { webhook, secret })?,
                ))
            })
        })
        .await?;
    Ok(outcome.into_response())
}

/// The caller's subscriptions.
#[utoipa::path(
    operation_id = "listWebhooks",
    tag = "webhooks",
    params(PageQuery),
    security(("bearer" = ["webhooks:manage"])),
    responses((status = 200, description = "One page of subscriptions", body = Page<Webhook>))
)]
#[get("/webhooks")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::WebhooksManage)?;
    let page = q.validate()?;
    pagination::load(
        &req,
        page,
        |p| {
            state.db(move |conn| {
                let mut q = w::table
                    .filter(w::org_id.eq(caller.org.clone()))
                    .select(Row::as_select())
                    .into_boxed();
                if let Some(after) = p.after {
                    q = q.filter(w::id.gt(after));
                }
                let rows: Vec<Row> = q.order(w::id.asc()).limit(p.limit + 1).load(conn)?;
                rows.into_iter()
                    .map(Row::into_api)
                    .collect::<AppResult<Vec<_>>>()
            })
        },
        |x| x.id.clone(),
    )
    .await
}

/// One subscription.
#[utoipa::path(
    operation_id = "getWebhook",
    tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id")),
    security(("bearer" = ["webhooks:manage"])),
    responses((status = 200, description = "The subscription; its version is in the `ETag` header, for `If-Match`", body = Webhook))
)]
#[get("/webhooks/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::WebhooksManage)?;
    let id = parse_id(&id)?;
    let hook = state
        .db(move |conn| own(conn, &caller, &id)?.into_api())
        .await?;
    Ok(etagged(StatusCode::OK, &hook))
}

/// How often a `PATCH` without `If-Match` that lost a race to another change is merged again
/// onto the newer version before the service gives up with `409`.
const UPDATE_ATTEMPTS: usize = 3;

/// The subscription as JSON with its version as `ETag`, for `If-Match` on the next change.
impl conditional::Versioned for Webhook {
    fn version(&self) -> i64 {
        self.version
    }
}

/// Changes a subscription with a JSON merge patch (RFC 7396); the result is validated whole.
/// Enabling it again clears its failure count.
///
/// The new target is checked (its host looked up, internal addresses refused) before the
/// write, outside the transaction, and the write applies only if the subscription is still
/// the version that was checked (`UPDATE … WHERE version = <the version read>`). With
/// `If-Match`, a change made by someone else in between answers `412`; without it, the patch is
/// merged onto the newer version and checked again.
#[utoipa::path(
    operation_id = "updateWebhook",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "Subscription id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` you read; a stale one gets 412")
    ),
    request_body(content = serde_json::Value, description = "Fields to change", example = json!({"enabled": true})),
    security(("bearer" = ["webhooks:manage"])),
    responses(
        (status = 200, description = "The subscription; its version is in the `ETag` header", body = Webhook),
        (status = 409, description = "Changed by other requests while this one was applied, again and again (`concurrent_update`); send it again", body = Problem),
        (status = 412, description = "If-Match is stale: the subscription changed since you read it", body = Problem)
    )
)]
#[patch("/webhooks/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: JsonBody,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::WebhooksManage)?;
    let id = parse_id(&id)?;
    let patch = json::parse_patch(&body.bytes)?;
    let if_match = conditional::if_match(&req);
    let allow = state.config.webhook_allow_hosts.clone();
    let lookup = state.config.security.webhook_lookup.clone();
    for _ in 0..UPDATE_ATTEMPTS {
        // Read, check If-Match, merge: no transaction.
        let (caller_r, id_r, if_match_r) = (caller.clone(), id.clone(), if_match.clone());
        let current = state
            .db(move |conn| {
                let current = own(conn, &caller_r, &id_r)?.into_api()?;
                conditional::check(if_match_r.as_deref(), current.version)?;
                Ok(current)
            })
            .await?;
        let mut doc = serde_json::json!({"url": current.url, "event_types": current.event_types,
            "description": current.description, "enabled": current.enabled});
        json::merge_patch_as::<WebhookInput>(&mut doc, &patch)?;
        let input: WebhookInput = json::parse(&serde_json::to_vec(&doc)?)?;
        // The DNS lookup: on a blocking thread, with no transaction open.
        let (checked, allow, lookup) = (input.clone(), allow.clone(), lookup.clone());
        web::block(move || validate(&checked, &allow, &*lookup)).await??;
        // The write, only onto the version that was read and checked.
        let (caller_w, id_w) = (caller.clone(), id.clone());
        let written = state
            .write(move |conn| {
                let now = db::now();
                let n = diesel::update(
                    w::table
                        .filter(w::id.eq(&id_w))
                        .filter(w::org_id.eq(&caller_w.org))
                        .filter(w::version.eq(current.version)),
                )
                .set((
                    w::url.eq(&input.url),
                    w::event_types.eq(serde_json::to_string(&input.event_types)?),
                    w::description.eq(&input.description),
                    w::enabled.eq(input.enabled),
                    w::version.eq(current.version + 1),
                    w::updated_at.eq(now),
                ))
                .execute(conn)?;
                db::updated_if_unchanged(n, current.version)?;
                if input.enabled && !current.enabled {
                    diesel::update(w::table.find(&id_w))
                        .set((
                            w::consecutive_failures.eq(0),
                            w::disabled_reason.eq(None::<String>),
                        ))
                        .execute(conn)?;
                }
                audit::record(conn, &caller_w, "webhook.update", "webhook", &id_w)?;
                w::table
                    .find(&id_w)
                    .select(Row::as_select())
                    .first(conn)?
                    .into_api()
            })
            .await;
        match written {
            Ok(hook) => return Ok(etagged(StatusCode::OK, &hook)),
            // Changed (or deleted) after it was read: with If-Match that is the answer;
            // without, merge onto what is there now (a deleted one answers 404 then).
            Err(AppError::PreconditionFailed(_)) if if_match.is_none() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(AppError::Conflict(
        "concurrent_update",
        format!(
            "the subscription was changed by other requests {UPDATE_ATTEMPTS} times while this change was applied; send it again"
        ),
    ))
}

/// Deletes a subscription and its delivery log.
#[utoipa::path(
    operation_id = "deleteWebhook",
    tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id")),
    security(("bearer" = ["webhooks:manage"])),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/webhooks/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::WebhooksManage)?;
    let id = parse_id(&id)?;
    state
        .write(move |conn| {
            own(conn, &caller, &id)?;
            diesel::delete(d::table.filter(d::webhook_id.eq(&id))).execute(conn)?;
            diesel::delete(w::table.find(&id)).execute(conn)?;
            audit::record(conn, &caller, "webhook.delete", "webhook", &id)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"overlap_seconds": 86400}))]
pub struct Rotation {
    /// How long the old secret keeps signing too (default one day, at most a week).
    #[validate(range(min = 0, max = 604800))]
    #[schema(minimum = 0, maximum = 604800)]
    pub overlap_seconds: Option<i64>,
}

/// Replaces the signing secret; during the overlap both secrets sign each delivery.
#[utoipa::path(
    operation_id = "rotateWebhookSecret",
    tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id")),
    request_body = Rotation,
    security(("bearer" = ["webhooks:manage"])),
    responses((status = 200, description = "The new secret, shown once", body = WebhookWithSecret))
)]
#[post("/webhooks/{id}/rotate-secret")]
pub async fn rotate(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: ValidJson<Rotation>,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::WebhooksManage)?;
    let id = parse_id(&id)?;
    let overlap = body.0.overlap_seconds.unwrap_or(86_400);
    let out = state
        .write(move |conn| {
            own(conn, &caller, &id)?;
            let (old,): (String,) = w::table.find(&id).select((w::secret,)).first(conn)?;
            let secret = super::new_secret();
            let now = db::now();
            diesel::update(w::table.find(&id))
                .set((
                    w::secret.eq(&secret),
                    w::previous_secret.eq(Some(old)),
                    w::previous_secret_until.eq(Some(now + chrono::Duration::seconds(overlap))),
                    w::version.eq(w::version + 1),
                    w::updated_at.eq(now),
                ))
                .execute(conn)?;
            audit::record(conn, &caller, "webhook.rotate_secret", "webhook", &id)?;
            let webhook = w::table
                .find(&id)
                .select(Row::as_select())
                .first(conn)?
                .into_api()?;
            Ok(WebhookWithSecret { webhook, secret })
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Ping {
    /// The `webhook.ping` event queued for the subscription.
    pub event_seq: i64,
}

/// Sends a `webhook.ping` event to this subscription only.
#[utoipa::path(
    operation_id = "pingWebhook",
    tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id")),
    security(("bearer" = ["webhooks:manage"])),
    responses(
        (status = 202, description = "Queued", body = Ping),
        (status = 429, description = "Too many pings from this organisation; see Retry-After", body = Problem)
    )
)]
#[post("/webhooks/{id}/ping")]
pub async fn ping(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::WebhooksManage)?;
    let id = parse_id(&id)?;
    if let Err(not_until) = state.ping_limiter.check_key(&caller.org) {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ));
        return Err(AppError::TooManyRequests(wait.as_secs().max(1)));
    }
    let seq = state
        .write(move |conn| {
            own(conn, &caller, &id)?;
            let seq = outbox::emit_to(
                conn,
                NewEvent {
                    event_type: "webhook.ping",
                    subject_type: "webhook",
                    subject_id: &id,
                    significant: false,
                    data: serde_json::json!({"webhook_id": id}),
                    recipients: vec![caller.org.clone()],
                },
                Some(&id),
            )?;
            audit::record(conn, &caller, "webhook.ping", "webhook", &id)?;
            Ok(seq)
        })
        .await?;
    Ok(HttpResponse::Accepted().json(Ping { event_seq: seq }))
}

crate::formats::named_schema!(
    EventType,
    "EventType",
    "An event type a webhook subscription may ask for.",
    crate::formats::string_enum(
        "An event type a webhook subscription may ask for.",
        EVENT_TYPES.iter().copied()
    )
);
