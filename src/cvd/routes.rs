//! `/api/v1/cvd`: the public intake, cases, vendors and messages.
//!
//! Case routes accept a JWT (coordinators with `cvd:coordinate`; an entity vendor or a
//! reporting organisation with `cvd:report`), a finder's case token or an external vendor's
//! vendor token. What each sees is decided in the service.

use super::access::{CvdAuth, Reporter};
use super::model::*;
use super::service::{self, Filters};
use super::{intake, lifecycle, vendors};
use crate::error::{AppError, Problem};
use crate::http::conditional;
use crate::http::conditional::etagged;
use crate::http::json::{self, JsonBody};
use crate::http::pagination::{self, Page, PageQuery};
use crate::http::parse_id;
use crate::{idempotency, AppState};
use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

impl conditional::Versioned for Case {
    fn version(&self) -> i64 {
        self.version
    }
}

impl conditional::Versioned for Vendor {
    fn version(&self) -> i64 {
        self.version
    }
}

/// Reports a vulnerability. Without a token this is the public intake: limited per client
/// address, no account needed, and nothing about the sender is kept beyond what it typed (no
/// address). The answer then holds a `case_token`, shown once, with which the finder follows
/// the case. With a token (`cvd:report`) the reporting organisation follows the case with its
/// own tokens; `Idempotency-Key` is honoured for it (not for anonymous reports, where a
/// replay would hand the case token to whoever knows the key).
#[utoipa::path(
    operation_id = "createCvdReport",
    tag = "cvd",
    request_body = VulnerabilityReport,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response (reports with a token only)")),
    security(("bearer" = ["cvd:report"]), ()),
    responses(
        (status = 201, description = "The case is open; keep the case token", body = ReportReceipt),
        (status = 429, description = "Too many reports from this address", body = Problem)
    )
)]
#[post("/cvd/reports")]
pub async fn report(
    state: web::Data<AppState>,
    reporter: Reporter,
    body: JsonBody,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let reporter = reporter.0;
    match &reporter {
        Some(c) => c.require(crate::auth::Scope::CvdReport)?,
        None => {
            let address = state
                .token_limits
                .address_of(&req)
                .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
            state
                .cvd_intake
                .check(address)
                .map_err(AppError::TooManyRequests)?;
        }
    }
    let input: VulnerabilityReport = json::parse_valid(&body.bytes)?;
    let request_id = crate::http::request_id::current().unwrap_or_default();
    let key = match &reporter {
        Some(_) => idempotency::key(&req, &body.bytes)?,
        None => None,
    };
    let outcome = state
        .write(move |conn| match &reporter {
            Some(caller) => idempotency::once_storing(conn, caller, key.as_ref(), |conn| {
                let (shown, kept) = intake::report(conn, Some(caller), &request_id, input)?;
                Ok((
                    StatusCode::CREATED,
                    serde_json::to_string(&shown)?,
                    serde_json::to_string(&kept)?,
                ))
            }),
            None => {
                let (shown, _) = intake::report(conn, None, &request_id, input)?;
                Ok(idempotency::Outcome {
                    status: StatusCode::CREATED,
                    body: serde_json::to_string(&shown)?,
                    replayed: false,
                })
            }
        })
        .await?;
    Ok(outcome.into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    pub state: Option<CaseState>,
    /// Only cases changed at or after this time (RFC 3339).
    #[serde(default, with = "crate::time::bounded_opt")]
    #[param(value_type = Option<crate::formats::Timestamp>)]
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// The cases the caller coordinates: every case for the national CSIRT, the cases assigned to
/// it for a sectoral CSIRT.
#[utoipa::path(
    operation_id = "listCvdCases",
    tag = "cvd",
    params(CaseQuery),
    security(("bearer" = ["cvd:coordinate"])),
    responses((status = 200, description = "One page of cases", body = Page<CaseSummary>))
)]
#[get("/cvd/cases")]
pub async fn list(
    state: web::Data<AppState>,
    auth: CvdAuth,
    q: web::Query<CaseQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    // A case or vendor token is a credential for one case, never for the list.
    let super::access::Principal::Caller(caller) = auth.0 else {
        return Err(AppError::Forbidden("cvd:coordinate".into()));
    };
    caller.require(crate::auth::Scope::CvdCoordinate)?;
    let q = q.into_inner();
    let page = PageQuery::params(q.limit, q.cursor.as_deref())?;
    let filters = Filters {
        state: q.state,
        updated_since: q.updated_since.map(|t| t.naive_utc()),
    };
    pagination::load(
        &req,
        page,
        |p| state.db(move |conn| service::list(conn, &caller, &p, filters)),
        |c| c.id.clone(),
    )
    .await
}

/// One case, as the caller may see it: coordinators see everything; the finder (case token,
/// or the reporting organisation's token with `cvd:report`) its report and the state; a
/// vendor (its vendor token, or the entity's token with `cvd:report`) the technical content
/// and its own entry.
#[utoipa::path(
    operation_id = "getCvdCase",
    tag = "cvd",
    params(("id" = String, Path, description = "Case id")),
    security(("bearer" = ["cvd:coordinate"])),
    responses((status = 200, description = "The case", body = Case))
)]
#[get("/cvd/cases/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    auth: CvdAuth,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&id)?;
    // A token holder's reads are audited once per interval (`cvd::READ_AUDIT_INTERVAL`);
    // a read of another case is a 404 and spends nothing.
    let audit_read = match super::access::token_key(&auth.0) {
        None => true,
        Some(key) => {
            let own_case = match &auth.0 {
                super::access::Principal::Finder { case_id, .. }
                | super::access::Principal::Vendor { case_id, .. } => case_id == &id,
                super::access::Principal::Caller(_) => true,
            };
            own_case && state.cvd_intake.read_audit_due(&key)
        }
    };
    let case = state
        .write(move |conn| service::get(conn, &auth.0, &id, audit_read))
        .await?;
    Ok(etagged(StatusCode::OK, &case))
}

/// Changes a case (coordinators): content, CVE ids, the embargo (an instant in the future),
/// the coordinating CSIRT (national CSIRT only) and other member states' co-coordinators
/// (the lead coordinator only). Bringing the embargo forward needs `force: true` and a
/// `reason` (409 `embargo_in_force` otherwise); it is audited as `cvd.case.embargo_forced`
/// and recorded in a coordinators-only message. Each changed field is audited
/// (`cvd.case.update.<field>`). With `If-Match`, the change is made only on that version.
#[utoipa::path(
    operation_id = "updateCvdCase",
    tag = "cvd",
    request_body = CasePatch,
    params(
        ("id" = String, Path, description = "Case id"),
        ("If-Match" = Option<String>, Header, description = "The ETag of the version being changed")
    ),
    security(("bearer" = ["cvd:coordinate"])),
    responses(
        (status = 200, description = "The changed case", body = Case),
        (status = 403, description = "A change only the lead coordinator (or the national CSIRT) makes", body = Problem),
        (status = 409, description = "The embargo would be brought forward without `force`", body = Problem),
        (status = 412, description = "The case changed since the ETag", body = Problem)
    )
)]
#[patch("/cvd/cases/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    auth: CvdAuth,
    id: web::Path<String>,
    body: JsonBody,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&id)?;
    let patch: CasePatch = json::parse_valid(&body.bytes)?;
    let if_match = conditional::if_match(&req);
    let case = state
        .write(move |conn| lifecycle::update(conn, &auth.0, &id, patch, if_match.as_deref()))
        .await?;
    Ok(etagged(StatusCode::OK, &case))
}

/// Moves a case along `received → triaged → coordinating`, or ends it as `rejected` or
/// `duplicate` (with a `reason`, and the case it duplicates). Any other transition is a 409.
/// Triaging a case without an embargo sets one 60 days ahead.
#[utoipa::path(
    operation_id = "updateCvdCaseState",
    tag = "cvd",
    request_body = TriageInput,
    params(("id" = String, Path, description = "Case id")),
    security(("bearer" = ["cvd:coordinate"])),
    responses(
        (status = 200, description = "The case in its new state", body = Case),
        (status = 409, description = "The transition is outside the graph", body = Problem)
    )
)]
#[post("/cvd/cases/{id}/triage")]
pub async fn triage(
    state: web::Data<AppState>,
    auth: CvdAuth,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&id)?;
    let input: TriageInput = json::parse_valid(&body.bytes)?;
    let case = state
        .write(move |conn| lifecycle::triage(conn, &auth.0, &id, input))
        .await?;
    Ok(etagged(StatusCode::OK, &case))
}

/// Adds a vendor: a registered entity (`entity_id`; it acts with its own token) or an
/// external vendor (`name`, `contact_email`; the answer holds its `vendor_token`, shown once).
/// The vendor must answer within `answer_within_days` (default 14) or is marked
/// `unresponsive`.
#[utoipa::path(
    operation_id = "addCvdVendor",
    tag = "cvd",
    request_body = VendorInput,
    params(
        ("id" = String, Path, description = "Case id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")
    ),
    security(("bearer" = ["cvd:coordinate"])),
    responses(
        (status = 201, description = "The vendor, notified", body = VendorReceipt),
        (status = 409, description = "The case is not triaged, or closed, or the entity is already a vendor", body = Problem)
    )
)]
#[post("/cvd/cases/{id}/vendors")]
pub async fn add_vendor(
    state: web::Data<AppState>,
    auth: CvdAuth,
    id: web::Path<String>,
    body: JsonBody,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&id)?;
    let input: VendorInput = json::parse_valid(&body.bytes)?;
    let key = idempotency::key(&req, &body.bytes)?;
    let outcome = state
        .write(move |conn| {
            let (_, caller) = service::coordinating(conn, &auth.0, &id)?;
            idempotency::once_storing(conn, &caller, key.as_ref(), |conn| {
                let (shown, kept) = vendors::add_vendor(conn, &auth.0, &id, input)?;
                Ok((
                    StatusCode::CREATED,
                    serde_json::to_string(&shown)?,
                    serde_json::to_string(&kept)?,
                ))
            })
        })
        .await?;
    Ok(outcome.into_response())
}

/// Sets a vendor's status and statement: the vendor itself (its vendor token, or the
/// entity's token with `cvd:report`), or a coordinator, who may also move the answer
/// deadline. The entry's `ETag` is `"v<version>"` (its `version`); with `If-Match` the
/// change is made only on that version (412 otherwise).
#[utoipa::path(
    operation_id = "updateCvdVendor",
    tag = "cvd",
    request_body = VendorPatch,
    params(
        ("id" = String, Path, description = "Case id"),
        ("vendor_id" = String, Path, description = "Vendor id"),
        ("If-Match" = Option<String>, Header, description = "The ETag of the vendor entry's version being changed")
    ),
    security(("bearer" = ["cvd:coordinate"])),
    responses(
        (status = 200, description = "The vendor", body = Vendor),
        (status = 409, description = "The case is closed", body = Problem),
        (status = 412, description = "The vendor entry changed since the ETag", body = Problem)
    )
)]
#[patch("/cvd/cases/{id}/vendors/{vendor_id}")]
pub async fn update_vendor(
    state: web::Data<AppState>,
    auth: CvdAuth,
    path: web::Path<(String, String)>,
    body: JsonBody,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let (id, vendor_id) = path.into_inner();
    let id = parse_id(&id)?;
    let vendor_id = parse_id(&vendor_id)?;
    let patch: VendorPatch = json::parse_valid(&body.bytes)?;
    let if_match = conditional::if_match(&req);
    let vendor = state
        .write(move |conn| {
            vendors::update_vendor(conn, &auth.0, &id, &vendor_id, patch, if_match.as_deref())
        })
        .await?;
    Ok(etagged(StatusCode::OK, &vendor))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
}

/// The messages of a case the caller may read, oldest first: coordinators read all; the
/// finder those for `everyone` and `finder`; a vendor those for `everyone` and `vendors`;
/// each its own.
#[utoipa::path(
    operation_id = "listCvdMessages",
    tag = "cvd",
    params(("id" = String, Path, description = "Case id"), MessageQuery),
    security(("bearer" = ["cvd:coordinate"])),
    responses((status = 200, description = "One page of messages", body = Page<Message>))
)]
#[get("/cvd/cases/{id}/messages")]
pub async fn messages(
    state: web::Data<AppState>,
    auth: CvdAuth,
    id: web::Path<String>,
    q: web::Query<MessageQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&id)?;
    let q = q.into_inner();
    let page = PageQuery::params(q.limit, q.cursor.as_deref())?;
    pagination::load(
        &req,
        page,
        |p| state.db(move |conn| super::messages::messages(conn, &auth.0, &id, &p)),
        |m| m.id.clone(),
    )
    .await
}

/// Posts a message (links are fine; attachments are not taken). Coordinators write to any
/// audience; a finder to `coordinators`, `finder` or `everyone`; a vendor to `coordinators`,
/// `vendors` or `everyone`. A case's finder and vendors together post at most
/// `cvd::PARTICIPANT_MESSAGES_PER_CASE_PER_MINUTE` messages a minute (429), and at most
/// `MAX_PARTICIPANT_MESSAGES` messages or `MAX_PARTICIPANT_BYTES` bytes in all (409
/// `case_message_limit`, `case_size_limit`).
#[utoipa::path(
    operation_id = "createCvdMessage",
    tag = "cvd",
    request_body = MessageInput,
    params(
        ("id" = String, Path, description = "Case id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")
    ),
    security(("bearer" = ["cvd:coordinate"])),
    responses(
        (status = 201, description = "The message", body = Message),
        (status = 409, description = "The case holds the most messages or bytes its finder and vendors may post", body = Problem),
        (status = 429, description = "Too many messages from the case's finder and vendors this minute", body = Problem)
    )
)]
#[post("/cvd/cases/{id}/messages")]
pub async fn post_message(
    state: web::Data<AppState>,
    auth: CvdAuth,
    id: web::Path<String>,
    body: JsonBody,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&id)?;
    let input: MessageInput = json::parse_valid(&body.bytes)?;
    let key = idempotency::key(&req, &body.bytes)?;
    let limits = state.cvd_intake.clone();
    let outcome = state
        .write(move |conn| {
            let (_, acting) = service::acting(conn, &auth.0, &id)?;
            let who = acting.idempotency_caller(&id);
            idempotency::once(conn, &who, key.as_ref(), |conn| {
                // A replay is not a new message: only a new one counts against the rate.
                if !matches!(acting, service::Acting::Coordinator(_)) {
                    limits
                        .participant_message(&id)
                        .map_err(AppError::TooManyRequests)?;
                }
                let m = super::messages::post_message(conn, &auth.0, &id, input)?;
                Ok((StatusCode::CREATED, serde_json::to_string(&m)?))
            })
        })
        .await?;
    Ok(outcome.into_response())
}

/// Publishes a case (coordinators): creates its advisory through the advisory register — the
/// case's title, CVE ids (each linked to its CVE record), product and versions under each
/// vendor's status (`affected` → known affected, `fixed` → fixed, `not_affected` → known not
/// affected), the finder's credit when the finder asked for one — publishes it (TLP:CLEAR by
/// default; national for the national CSIRT, the sectors it covers for a sectoral CSIRT),
/// and discloses the case with it, all or nothing. Before `embargo_until` it is refused (409)
/// unless `force` is true with a `reason`; the disclosure is then audited as forced. Only the
/// lead coordinator publishes (the coordinating CSIRT, or the national CSIRT): a
/// co-coordinator gets 403.
#[utoipa::path(
    operation_id = "publishCvdCase",
    tag = "cvd",
    request_body = PublishCvdCase,
    params(
        ("id" = String, Path, description = "Case id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")
    ),
    security(("bearer" = ["cvd:coordinate"])),
    responses(
        (status = 201, description = "The advisory is published and the case disclosed", body = CvdPublication),
        (status = 409, description = "The embargo is in force, the case is not coordinating, or it has no product status to publish", body = Problem)
    )
)]
#[post("/cvd/cases/{id}/publish")]
pub async fn publish(
    state: web::Data<AppState>,
    auth: CvdAuth,
    id: web::Path<String>,
    body: JsonBody,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&id)?;
    let input: PublishCvdCase = json::parse_valid(&body.bytes)?;
    let key = idempotency::key(&req, &body.bytes)?;
    let outcome = state
        .write(move |conn| {
            let (_, caller) = service::coordinating(conn, &auth.0, &id)?;
            idempotency::once(conn, &caller, key.as_ref(), |conn| {
                let published = super::publish::publish(conn, &auth.0, &id, input)?;
                Ok((StatusCode::CREATED, serde_json::to_string(&published)?))
            })
        })
        .await?;
    Ok(outcome.into_response())
}
