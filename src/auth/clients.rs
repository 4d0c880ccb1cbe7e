//! API clients and the OAuth 2.0 client-credentials grant (RFC 6749 §4.4).
//!
//! The national CSIRT registers a client for an organisation or entity; the secret is shown
//! once and stored only as an argon2 hash. `POST /oauth/token` exchanges client id and secret
//! for a short-lived bearer token whose role comes from the organisation and whose scopes can
//! never exceed the role's ceiling.

use super::scopes::{join_scopes, parse_scopes, Role, Scope};
use super::{refusals, Caller};
use crate::audit;
use crate::auth::scopes::OrgKind;
use crate::db::{self, DbConn};
use crate::error::{AppError, AppResult, FieldError, Problem};
use crate::http::json::{self, JsonBody};
use crate::http::pagination::{self, Page, PageQuery};
use crate::http::parse_id;
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

mod oauth;
#[allow(unused_imports)]
pub use oauth::*;

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
