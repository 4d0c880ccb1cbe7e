//! API clients and the OAuth 2.0 client-credentials grant (RFC 6749 §4.4).
//!
//! The national CSIRT registers a client for an organisation or entity; the secret is shown
//! once and stored only as an argon2 hash. `POST /oauth/token` exchanges client id and secret
//! for a short-lived bearer token whose role comes from the organisation and whose scopes can
//! never exceed the role's ceiling.

use super::scopes::{join_scopes, parse_scopes, Role, Scope};
use super::{refusals, Caller};
use crate::audit;
use crate::db::{self, DbConn};
use crate::error::{AppError, AppResult, FieldError, Problem};
use crate::http::json::{self, JsonBody};
use crate::http::pagination::{self, Page, PageQuery};
use crate::http::parse_id;
use crate::auth::scopes::OrgKind;
use crate::schema::{api_clients, entities, organisations};
use crate::{idempotency, AppState};
use actix_web::http::StatusCode;
use actix_web::{delete, get, post, web, HttpMessage, HttpRequest, HttpResponse};
use argon2::password_hash::{phc::PasswordHash, PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use base64::Engine;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Energy CSIRT ticketing", "organisation_id": "0193a0b2-7c1e-7d3a-9f00-2b8e4c1d5e6f", "scope": "incidents:read feeds:read"}))]
pub struct ClientInput {
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// The organisation or registered entity the client acts for; its kind decides the role.
    #[schema(format = Uuid)]
    pub organisation_id: String,
    /// Space-separated scopes, each within the role's ceiling and held by the caller's own
    /// token. Least privilege by default: without `scope` the client gets only the role's
    /// read scopes (`…:read`) that the caller's token holds — never a write, report, review,
    /// `webhooks:manage` or `clients:manage` scope; name those here to grant them.
    #[schema(value_type = Option<crate::auth::scopes::ScopeList>)]
    pub scope: Option<String>,
}

/// A registered API client (never with its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiClient {
    #[schema(format = Uuid)]
    pub id: String,
    /// The `client_id` for `POST /oauth/token`.
    #[schema(example = "n2h_0193a0b27c1e7d3a9f002b8e4c1d5e6f")]
    pub client_id: String,
    pub name: String,
    pub organisation_id: String,
    pub role: Role,
    #[schema(example = "incidents:read feeds:read")]
    pub scope: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A new client with its secret: the only time the secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewClient {
    #[serde(flatten)]
    pub client: ApiClient,
    #[schema(example = "n2hs_3q2+7w...")]
    pub client_secret: String,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_clients)]
struct ClientRow {
    id: String,
    client_id: String,
    name: String,
    org_id: String,
    role: String,
    scopes: String,
    secret_hash: String,
    created_at: chrono::NaiveDateTime,
    revoked_at: Option<chrono::NaiveDateTime>,
}

impl ClientRow {
    fn into_api(self) -> ApiClient {
        ApiClient {
            id: self.id,
            client_id: self.client_id,
            name: self.name,
            organisation_id: self.org_id,
            role: Role::parse(&self.role).unwrap_or(Role::Entity),
            scope: self.scopes,
            created_at: self.created_at.and_utc(),
            revoked_at: self.revoked_at.map(|t| t.and_utc()),
        }
    }
}

/// What a replayed registration shows instead of the secret, which is never stored.
pub const SECRET_NOT_KEPT: &str =
    "(shown only in the first response; revoke the client and register a new one if it was lost)";

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

fn hash_secret(secret: &str) -> AppResult<String> {
    Argon2::default()
        .hash_password(secret.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AppError::internal(format!("argon2: {e}")))
}

/// A fixed hash to verify against when the client id is unknown, so that an unknown id takes
/// as long as a wrong secret.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_secret("no such client").unwrap_or_default())
}

/// What an organisation or entity id names, as far as access goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// An organisation of the directory (its kind decides the role), or a registered entity
    /// (a pending deregistration request included: until it is confirmed the entity keeps its
    /// obligations, and needs its access to meet them).
    Active(Role),
    /// An entity taken off the register: it acts no more, under any token.
    Deregistered,
    Unknown,
}

/// What `org_id` names.
pub fn principal(conn: &mut DbConn, org_id: &str) -> AppResult<Principal> {
    let kind: Option<String> = organisations::table
        .find(org_id)
        .select(organisations::kind)
        .first(conn)
        .optional()?;
    if let Some(kind) = kind {
        return Ok(match OrgKind::parse(&kind) {
            Some(OrgKind::NationalCsirt) => Principal::Active(Role::NationalCsirt),
            Some(OrgKind::SectoralCsirt) => Principal::Active(Role::SectoralCsirt),
            Some(OrgKind::SupervisoryAuthority) => Principal::Active(Role::SupervisoryAuthority),
            None => Principal::Unknown,
        });
    }
    let status: Option<String> = entities::table
        .find(org_id)
        .select(entities::status)
        .first(conn)
        .optional()?;
    Ok(match status.as_deref() {
        None => Principal::Unknown,
        Some("deregistered") => Principal::Deregistered,
        Some(_) => Principal::Active(Role::Entity),
    })
}

/// The role of an organisation or a registered entity; `None` for anything else, a
/// deregistered entity included.
fn role_of(conn: &mut DbConn, org_id: &str) -> AppResult<Option<Role>> {
    Ok(match principal(conn, org_id)? {
        Principal::Active(role) => Some(role),
        Principal::Deregistered | Principal::Unknown => None,
    })
}

/// Revokes every API client of an entity that is being deregistered, in the caller's
/// transaction, each with its own `client.revoke` audit record. Returns their `client_id`s,
/// for the auth cache once the transaction has committed.
///
/// Call it before anything that takes the write lock (events, audit records) so that, as in
/// every transaction, row locks come first.
pub fn revoke_all_of(conn: &mut DbConn, caller: &Caller, org_id: &str) -> AppResult<Vec<String>> {
    let active: Vec<(String, String)> = api_clients::table
        .filter(api_clients::org_id.eq(org_id))
        .filter(api_clients::revoked_at.is_null())
        .select((api_clients::id, api_clients::client_id))
        .order(api_clients::id.asc())
        .load(conn)?;
    if active.is_empty() {
        return Ok(vec![]);
    }
    diesel::update(
        api_clients::table
            .filter(api_clients::org_id.eq(org_id))
            .filter(api_clients::revoked_at.is_null()),
    )
    .set(api_clients::revoked_at.eq(Some(db::now())))
    .execute(conn)?;
    for (id, _) in &active {
        audit::record(conn, caller, "client.revoke", "client", id)?;
    }
    Ok(active.into_iter().map(|(_, client_id)| client_id).collect())
}

/// The scopes of a new client: within the role's ceiling and within the scopes of the caller
/// registering it, so that no one hands out more than they hold. Without a request, least
/// privilege: the read scopes of the role that the caller holds.
fn scopes_for(
    role: Role,
    requested: Option<&str>,
    granter: &[Scope],
    pointer: &str,
) -> AppResult<Vec<Scope>> {
    let Some(requested) = requested else {
        let mut scopes: Vec<Scope> = role
            .ceiling()
            .iter()
            .filter(|s| s.is_read() && granter.contains(s))
            .copied()
            .collect();
        scopes.sort();
        if scopes.is_empty() {
            return Err(AppError::invalid(
                pointer,
                format!(
                    "without `scope` a client gets the read scopes of a {} that your token holds, and it holds none; name the scopes to grant",
                    role.as_str()
                ),
            ));
        }
        return Ok(scopes);
    };
    let scopes = parse_scopes(requested).map_err(|m| AppError::invalid(pointer, m))?;
    if let Some(extra) = scopes.iter().find(|s| !role.ceiling().contains(s)) {
        return Err(AppError::invalid(
            pointer,
            format!(
                "a {} may not hold the scope `{}`",
                role.as_str(),
                extra.as_str()
            ),
        ));
    }
    if let Some(extra) = scopes.iter().find(|s| !granter.contains(s)) {
        return Err(AppError::invalid(
            pointer,
            format!(
                "you may grant only scopes your own token holds, and it lacks `{}`",
                extra.as_str()
            ),
        ));
    }
    if scopes.is_empty() {
        return Err(AppError::invalid(pointer, "name at least one scope"));
    }
    Ok(scopes)
}

/// Registers an API client; the response holds the secret, which is never shown again.
#[utoipa::path(
    operation_id = "createClient",
    tag = "clients",
    request_body = ClientInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first response")),
    security(("bearer" = ["clients:manage"])),
    responses((status = 201, description = "Registered; keep the secret now", body = NewClient))
)]
#[post("/clients")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::ClientsManage)?;
    let input: ClientInput = json::parse_valid(&body.bytes)?;
    if let Some(scope) = &input.scope {
        if !crate::auth::scopes::is_scope_list(scope) {
            return Err(AppError::invalid(
                "/scope",
                "name known scopes separated by single spaces, such as `incidents:read feeds:read`",
            ));
        }
    }
    let key = idempotency::key(&req, &body.bytes)?;
    let secret = format!("n2hs_{}", random_token(32));
    let hash = {
        let secret = secret.clone();
        web::block(move || hash_secret(&secret)).await??
    };
    let outcome = state
        .write(move |conn| {
            idempotency::once_storing(conn, &caller, key.as_ref(), |conn| {
                let org_id = parse_id(&input.organisation_id).map_err(|_| {
                    AppError::Validation(vec![FieldError::new(
                        "/organisation_id",
                        "no organisation or entity has this id",
                    )])
                })?;
                let role = match principal(conn, &org_id)? {
                    Principal::Active(role) => role,
                    Principal::Deregistered => {
                        return Err(AppError::Validation(vec![FieldError::new(
                            "/organisation_id",
                            "the entity is deregistered; it may hold no API client",
                        )]))
                    }
                    Principal::Unknown => {
                        return Err(AppError::Validation(vec![FieldError::new(
                            "/organisation_id",
                            "no organisation or entity has this id",
                        )]))
                    }
                };
                let scopes = scopes_for(role, input.scope.as_deref(), &caller.scopes, "/scope")?;
                let now = db::now();
                let id = db::new_id();
                let client_id = format!(
                    "n2h_{}",
                    uuid::Uuid::parse_str(&id)
                        .map(|u| u.simple().to_string())
                        .unwrap_or_default()
                );
                diesel::insert_into(api_clients::table)
                    .values((
                        api_clients::id.eq(&id),
                        api_clients::client_id.eq(&client_id),
                        api_clients::name.eq(&input.name),
                        api_clients::org_id.eq(&org_id),
                        api_clients::role.eq(role.as_str()),
                        api_clients::scopes.eq(join_scopes(&scopes)),
                        api_clients::secret_hash.eq(&hash),
                        api_clients::created_at.eq(now),
                        api_clients::created_by.eq(format!("{}/{}", caller.org, caller.sub)),
                    ))
                    .execute(conn)?;
                audit::record(conn, &caller, "client.create", "client", &id)?;
                let client = ApiClient {
                    id,
                    client_id,
                    name: input.name.clone(),
                    organisation_id: org_id,
                    role,
                    scope: join_scopes(&scopes),
                    created_at: now.and_utc(),
                    revoked_at: None,
                };
                // Only the argon2 hash is kept: a replay gets the client without its secret.
                let replay = NewClient {
                    client: client.clone(),
                    client_secret: SECRET_NOT_KEPT.to_string(),
                };
                let first = NewClient {
                    client,
                    client_secret: secret,
                };
                Ok((
                    StatusCode::CREATED,
                    serde_json::to_string(&first)?,
                    serde_json::to_string(&replay)?,
                ))
            })
        })
        .await?;
    Ok(outcome.into_response())
}

/// The registered API clients.
#[utoipa::path(
    operation_id = "listClients",
    tag = "clients",
    params(PageQuery),
    security(("bearer" = ["clients:manage"])),
    responses((status = 200, description = "One page of clients", body = Page<ApiClient>))
)]
#[get("/clients")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<PageQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::ClientsManage)?;
    let page = q.validate()?;
    pagination::load(
        &req,
        page,
        |p| {
            state.db(move |conn| {
                let mut query = api_clients::table
                    .select(ClientRow::as_select())
                    .into_boxed();
                if let Some(after) = p.after {
                    query = query.filter(api_clients::id.gt(after));
                }
                let rows: Vec<ClientRow> = query
                    .order(api_clients::id.asc())
                    .limit(p.limit + 1)
                    .load(conn)?;
                Ok(rows
                    .into_iter()
                    .map(ClientRow::into_api)
                    .collect::<Vec<_>>())
            })
        },
        |c| c.id.clone(),
    )
    .await
}

/// One API client.
#[utoipa::path(
    operation_id = "getClient",
    tag = "clients",
    params(("id" = String, Path, description = "Client record id")),
    security(("bearer" = ["clients:manage"])),
    responses((status = 200, description = "The client", body = ApiClient))
)]
#[get("/clients/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::ClientsManage)?;
    let id = parse_id(&id)?;
    let client = state
        .db(move |conn| {
            Ok(api_clients::table
                .find(&id)
                .select(ClientRow::as_select())
                .first(conn)?
                .into_api())
        })
        .await?;
    // A read changes nothing: not the client, not this instance's view of its tokens.
    Ok(HttpResponse::Ok().json(client))
}

/// Revokes a client: its secret and the tokens already issued to it stop working.
///
/// The tokens stop at once on the instance that revokes, and within
/// `NIS2HUB_AUTH_CACHE_SECONDS` (default 5) on every other instance.
#[utoipa::path(
    operation_id = "revokeClient",
    tag = "clients",
    params(("id" = String, Path, description = "Client record id")),
    security(("bearer" = ["clients:manage"])),
    responses((status = 200, description = "The revoked client", body = ApiClient))
)]
#[delete("/clients/{id}")]
pub async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::ClientsManage)?;
    let id = parse_id(&id)?;
    let client = state
        .write(move |conn| {
            let row: ClientRow = api_clients::table
                .find(&id)
                .select(ClientRow::as_select())
                .first(conn)?;
            if row.revoked_at.is_some() {
                return Ok(row.into_api());
            }
            diesel::update(api_clients::table.find(&id))
                .set(api_clients::revoked_at.eq(Some(db::now())))
                .execute(conn)?;
            audit::record(conn, &caller, "client.revoke", "client", &id)?;
            Ok(api_clients::table
                .find(&id)
                .select(ClientRow::as_select())
                .first(conn)?
                .into_api())
        })
        .await?;
    state.auth_cache.revoke(&client.client_id);
    Ok(HttpResponse::Ok().json(client))
}

/// The one grant type `POST /oauth/token` supports.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    ClientCredentials,
}

/// The token request (RFC 6749 §4.4.2), form-encoded. `client_id` and `client_secret` may come
/// as HTTP Basic credentials instead.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    #[schema(value_type = GrantType, required = true, example = "client_credentials")]
    pub grant_type: Option<String>,
    #[schema(example = "n2h_0193a0b27c1e7d3a9f002b8e4c1d5e6f")]
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Space-separated subset of the client's scopes; all of them when absent.
    #[schema(value_type = Option<crate::auth::scopes::ScopeList>)]
    pub scope: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    #[schema(example = 3600)]
    pub expires_in: i64,
    #[schema(example = "incidents:read feeds:read")]
    pub scope: String,
}

/// An RFC 6749 §5.2 error.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    #[schema(example = "invalid_client")]
    pub error: String,
    pub error_description: String,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.insert_header(("Cache-Control", "no-store"));
    if status == StatusCode::UNAUTHORIZED {
        res.insert_header(("WWW-Authenticate", "Basic realm=\"nis2hub\""));
    }
    res.json(OAuthError {
        error: error.into(),
        error_description: description.into(),
    })
}

/// HTTP Basic client authentication, RFC 6749 §2.3.1: the client id and secret are each
/// encoded with the `application/x-www-form-urlencoded` algorithm, then joined by `:` and
/// Base64-encoded (RFC 7617). Ids and secrets the service issues use no character that
/// encoding changes, so a client that skips it (Swagger UI does) authenticates as well.
fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let value = req.headers().get("Authorization")?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    // RFC 9110 §11.1: the scheme name is case-insensitive.
    if !scheme.eq_ignore_ascii_case("Basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let form_decode = |s: &str| -> Option<String> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={s}")).ok()?;
        pairs.into_iter().next().map(|(_, v)| v)
    };
    Some((form_decode(id)?, form_decode(secret)?))
}

/// OAuth 2.0 client-credentials grant: client id and secret (form fields or HTTP Basic) for
/// a bearer token.
///
/// RFC 6749 §4.4: `grant_type=client_credentials`, form-encoded. The client authenticates
/// with HTTP Basic (RFC 6749 §2.3.1, id and secret form-encoded before Base64) or with
/// `client_id` and `client_secret` in the body; a parameter sent without a value counts as
/// omitted (§3.2). `scope` asks for a subset of the client's scopes; without it the token
/// holds all of them. Public: the credentials are the authentication. A refused grant is an
/// RFC 6749 §5.2 error object, as OAuth clients expect.
#[utoipa::path(
    operation_id = "issueToken",
    tag = "clients",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A bearer token", body = TokenResponse),
        (status = 400, description = "RFC 6749 error: invalid_request, unsupported_grant_type or invalid_scope", body = OAuthError),
        (status = 401, description = "RFC 6749 error: invalid_client", body = OAuthError),
        (status = 413, description = "The body is too large", body = Problem),
        (status = 429, description = "Too many token requests from this address or for this client_id; see Retry-After", body = Problem)
    )
)]
#[post("/oauth/token")]
pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    // Every attempt costs an argon2 check: limit them per client address.
    let address = state.token_limits.address_of(&req);
    if let Some(ip) = address {
        if let Err(wait) = state.token_limits.check_address(ip) {
            return Err(AppError::TooManyRequests(wait));
        }
    }
    let address = address
        .map(|a| a.to_string())
        .unwrap_or_else(|| "unknown".into());
    let request_id = req
        .extensions()
        .get::<crate::http::request_id::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    let bytes = json::read_body(payload.into_inner(), 16 * 1024, None).await?;
    let form: TokenRequest = match serde_urlencoded::from_bytes::<TokenRequest>(&bytes) {
        // RFC 6749 §3.2: "Parameters sent without a value MUST be treated as if they were
        // omitted from the request" (Swagger UI sends `scope=` when no scope is ticked).
        Ok(f) => TokenRequest {
            grant_type: f.grant_type.filter(|v| !v.is_empty()),
            client_id: f.client_id.filter(|v| !v.is_empty()),
            client_secret: f.client_secret.filter(|v| !v.is_empty()),
            scope: f.scope.filter(|v| !v.is_empty()),
        },
        Err(_) => {
            return Ok(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "send the request form-encoded",
            ))
        }
    };
    let has_nul = |f: &Option<String>| f.as_deref().is_some_and(|s| s.contains('\0'));
    if [
        &form.grant_type,
        &form.client_id,
        &form.client_secret,
        &form.scope,
    ]
    .into_iter()
    .any(has_nul)
    {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "no field may contain the NUL character",
        ));
    }
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        None => {
            return Ok(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing",
            ))
        }
        Some(_) => {
            return Ok(oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported",
            ))
        }
    }
    let (client_id, secret) = match (basic_credentials(&req), form.client_id, form.client_secret) {
        (Some(pair), _, _) => pair,
        (None, Some(id), Some(secret)) => (id, secret),
        _ => {
            return Ok(oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "send client_id and client_secret",
            ))
        }
    };
    let refuse = |reason: &str, client_id: Option<String>| {
        let mut r = refusals::Refused::anonymous(
            format!("token.refused.{reason}"),
            address.clone(),
            request_id.clone(),
        );
        r.client_id = client_id;
        r
    };
    let invalid_client = || {
        oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        )
    };
    if client_id.len() > 100 || secret.len() > 200 {
        refusals::record(&state, refuse("unknown_client", None)).await;
        return Ok(invalid_client());
    }
    // Per client as well: many addresses cannot guess one client's secret quickly.
    if let Err(wait) = state.token_limits.check_client(&client_id) {
        return Err(AppError::TooManyRequests(wait));
    }
    let pool = state.pool.clone();
    let checked = web::block(move || -> AppResult<Credentials> {
        let row = {
            let mut conn = pool.get()?;
            api_clients::table
                .filter(api_clients::client_id.eq(&client_id))
                .select(ClientRow::as_select())
                .first::<ClientRow>(&mut conn)
                .optional()?
        };
        let hash = row
            .as_ref()
            .map(|r| r.secret_hash.clone())
            .unwrap_or_else(|| dummy_hash().to_string());
        let ok = PasswordHash::new(&hash).is_ok_and(|h| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &h)
                .is_ok()
        });
        Ok(match row {
            None => Credentials::UnknownClient,
            Some(r) if !ok => Credentials::WrongSecret(r.client_id),
            Some(r) if r.revoked_at.is_some() => Credentials::Revoked(r.client_id),
            Some(r) => Credentials::Valid(r),
        })
    })
    .await??;
    let client = match checked {
        Credentials::Valid(row) => row,
        Credentials::UnknownClient => {
            refusals::record(&state, refuse("unknown_client", None)).await;
            return Ok(invalid_client());
        }
        Credentials::WrongSecret(id) => {
            refusals::record(&state, refuse("wrong_secret", Some(id))).await;
            return Ok(invalid_client());
        }
        Credentials::Revoked(id) => {
            refusals::record(&state, refuse("revoked_client", Some(id))).await;
            return Ok(invalid_client());
        }
    };
    let role = Role::parse(&client.role)
        .ok_or_else(|| AppError::internal("stored client role is unknown"))?;
    let granted = parse_scopes(&client.scopes).unwrap_or_default();
    let scopes = match form.scope.as_deref() {
        None => granted,
        Some(requested) => match parse_scopes(requested) {
            Ok(s) if !s.is_empty() && s.iter().all(|x| granted.contains(x)) => s,
            _ => {
                return Ok(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "ask only for scopes the client was granted",
                ))
            }
        },
    };
    let scope = join_scopes(&scopes);
    let ttl = state.keys.ttl_seconds;
    let access_token = state
        .keys
        .issue(
            &format!("client:{}", client.client_id),
            &client.org_id,
            role,
            &scope,
            ttl,
            Some(client.client_id.clone()),
        )
        .map_err(AppError::internal)?;
    // Every token issued is on record before it is handed out.
    state
        .write(move |conn| {
            let sub = format!("client:{}", client.client_id);
            let actor = audit::Actor {
                org: &client.org_id,
                sub: &sub,
                role: role.as_str(),
                client_id: Some(&client.client_id),
                request_id: &request_id,
            };
            audit::record_as(conn, &actor, "token.issue", "client", &client.id)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: ttl,
            scope,
        }))
}

/// What the presented credentials turned out to be.
enum Credentials {
    Valid(ClientRow),
    UnknownClient,
    WrongSecret(String),
    Revoked(String),
}

/// Whether a token's `client_id` names a registered client, and whether it is revoked.
pub fn client_state(conn: &mut DbConn, client_id: &str) -> AppResult<super::cache::ClientState> {
    use super::cache::ClientState;
    let revoked: Option<Option<chrono::NaiveDateTime>> = api_clients::table
        .filter(api_clients::client_id.eq(client_id))
        .select(api_clients::revoked_at)
        .first(conn)
        .optional()?;
    Ok(match revoked {
        None => ClientState::Unknown,
        Some(Some(_)) => ClientState::Revoked,
        Some(None) => ClientState::Active,
    })
}

/// Used by the `token` command: the role that belongs to an organisation or registered entity
/// (`None` for a deregistered one, which may be given no token).
pub fn role_for(conn: &mut DbConn, org_id: &str) -> AppResult<Option<Role>> {
    role_of(conn, org_id)
}
