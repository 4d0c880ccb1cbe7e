//! Who is calling, and what they may do: bearer tokens, scopes, roles, and API clients.

pub mod cache;
pub mod clients;
pub mod jwks;
pub mod jwt;
pub mod limits;
pub mod refusals;
pub mod scopes;

use crate::error::AppError;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
pub use scopes::{Role, Scope};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub sub: String,
    /// Organisation (or registered entity) id the caller acts for.
    pub org: String,
    pub role: Role,
    /// The token's scopes cut down to the role's ceiling.
    pub scopes: Vec<Scope>,
    pub client_id: Option<String>,
    pub request_id: String,
}

/// The caller as the audit log names it.
impl<'a> From<&'a Caller> for crate::audit::Actor<'a> {
    fn from(caller: &'a Caller) -> Self {
        Self {
            org: &caller.org,
            sub: &caller.sub,
            role: caller.role.as_str(),
            client_id: caller.client_id.as_deref(),
            request_id: &caller.request_id,
        }
    }
}

impl Caller {
    /// The one place a scope is checked: 403 naming the scope when the token lacks it.
    pub fn require(&self, scope: Scope) -> Result<(), AppError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(AppError::Forbidden(scope.as_str().to_string()))
        }
    }

    pub fn is_national_csirt(&self) -> bool {
        self.role == Role::NationalCsirt
    }

    /// The command line acting as the operator (imports, migrations).
    pub fn system(action: &str) -> Self {
        Self {
            sub: format!("cli:{action}"),
            org: "system".into(),
            role: Role::NationalCsirt,
            scopes: Scope::ALL.to_vec(),
            client_id: None,
            request_id: uuid::Uuid::now_v7().simple().to_string(),
        }
    }
}

/// The bearer token of a request, or why there is none. A missing or unreadable header is
/// not a refused token: nothing was presented, and nothing is audited.
fn bearer(req: &HttpRequest) -> Result<String, AppError> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            AppError::Unauthorized(
                "this endpoint needs a bearer token (Authorization: Bearer …)".into(),
            )
        })?;
    let value = header
        .to_str()
        .map_err(|_| AppError::Unauthorized("the Authorization header is not readable".into()))?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            AppError::Unauthorized("use the Bearer scheme: Authorization: Bearer <token>".into())
        })
}

/// What the database must confirm about a verified token, from the cache when fresh: its API
/// client is not revoked, and its `org` is an organisation or registered entity of its `role`
/// — not a deregistered one, whoever signed the token. A miss runs the lookup on the blocking
/// pool.
async fn confirm(
    state: &crate::AppState,
    claims: &jwt::Claims,
    origin: jwt::Origin,
) -> Result<Result<(), jwt::Refusal>, AppError> {
    use cache::ClientState;
    let cache = &state.auth_cache;
    // None: the token names no client; Some(None): it does, and the cache has no answer.
    let cached = claims.client_id.as_deref().map(|c| cache.client(c));
    let need_client = matches!(cached, Some(None));
    let mut principal_state = cache.principal(&claims.org, claims.role);
    let need_principal = principal_state.is_none();
    let mut client = cached.flatten();
    let mut principal_ok = true;
    if need_client || need_principal {
        let client_id = claims.client_id.clone().filter(|_| need_client);
        let org = claims.org.clone();
        let (found_client, found_principal) = state
            .db(move |conn| {
                let client = match client_id {
                    None => None,
                    Some(id) => Some(clients::client_state(conn, &id)?),
                };
                let principal = if need_principal {
                    Some(clients::principal(conn, &org)?)
                } else {
                    None
                };
                Ok((client, principal))
            })
            .await?;
        if let (Some(id), Some(found)) = (claims.client_id.as_deref(), found_client) {
            cache.remember_client(id, found);
            // A revocation through this instance may have landed while we looked: it wins.
            client = cache.client(id).or(Some(found));
        }
        match found_principal {
            Some(clients::Principal::Active(role)) if role == claims.role => {
                cache.remember_principal(&claims.org, claims.role);
                // A deregistration through this instance may have landed while we looked.
                principal_state = Some(cache.principal(&claims.org, claims.role) != Some(false));
            }
            Some(clients::Principal::Deregistered) if claims.role == Role::Entity => {
                cache.deregistered(&claims.org);
                principal_state = Some(false);
            }
            Some(_) => principal_ok = false,
            None => {}
        }
    }
    match client {
        Some(ClientState::Revoked) => {
            return Ok(Err(jwt::Refusal::new(
                "revoked_client",
                "the API client this token was issued to has been revoked",
            )))
        }
        // The service's own tokens always name a registered client; a provider's may name
        // one of its own clients, which is not ours to judge.
        Some(ClientState::Unknown) if origin == jwt::Origin::Service => {
            return Ok(Err(jwt::Refusal::new(
                "unknown_client",
                "the token names an API client that does not exist",
            )))
        }
        _ => {}
    }
    if !principal_ok {
        let what = match claims.role {
            Role::Entity => "a registered entity",
            _ => "an organisation of that kind",
        };
        return Ok(Err(jwt::Refusal::new(
            "unknown_principal",
            format!(
                "the token's `org` is not {what} (role `{}`)",
                claims.role.as_str()
            ),
        )));
    }
    if principal_state == Some(false) {
        return Ok(Err(jwt::Refusal::new(
            "deregistered_principal",
            "the entity named by the token's `org` has been deregistered; it has no access any more",
        )));
    }
    Ok(Ok(()))
}

/// Fetches the identity provider's keys first when the token needs it (they are stale, or
/// none has its `kid`), on the blocking pool; `Jwks::refresh` rate-limits the fetches.
async fn refresh_provider_keys(state: &crate::AppState, token: &str) {
    let Some(jwks) = state.keys.jwks() else {
        return;
    };
    let Ok(header) = jsonwebtoken::decode_header(token) else {
        return;
    };
    if !matches!(
        header.alg,
        jsonwebtoken::Algorithm::RS256 | jsonwebtoken::Algorithm::ES256
    ) || !jwks.wants_refresh(header.kid.as_deref(), header.alg)
    {
        return;
    }
    let jwks = jwks.clone();
    // A failed fetch is logged by `refresh`; the token is then judged on the held keys.
    let _ = web::block(move || jwks.refresh()).await;
}

async fn authenticate(req: HttpRequest) -> Result<Caller, AppError> {
    let state = req
        .app_data::<web::Data<crate::AppState>>()
        .ok_or_else(|| AppError::internal("application state missing"))?
        .clone();
    let token = bearer(&req)?;
    let request_id = req
        .extensions()
        .get::<crate::http::request_id::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    let address = state
        .token_limits
        .address_of(&req)
        .map(|a| a.to_string())
        .unwrap_or_else(|| "unknown".into());
    refresh_provider_keys(&state, &token).await;
    let (claims, origin) = match state.keys.verify_origin(&token) {
        Ok(v) => v,
        Err(refusal) => {
            let action = format!("auth.refused.{}", refusal.reason);
            refusals::record(
                &state,
                refusals::Refused::anonymous(action, address, request_id),
            )
            .await;
            return Err(AppError::Unauthorized(refusal.message));
        }
    };
    if let Err(refusal) = confirm(&state, &claims, origin).await? {
        refusals::record(
            &state,
            refusals::Refused {
                action: format!("auth.refused.{}", refusal.reason),
                address,
                org: claims.org.clone(),
                sub: claims.sub.clone(),
                role: claims.role.as_str().to_string(),
                client_id: claims.client_id.clone(),
                request_id,
            },
        )
        .await;
        return Err(AppError::Unauthorized(refusal.message));
    }
    let ceiling = claims.role.ceiling();
    let mut scopes: Vec<Scope> = claims
        .scope
        .split_whitespace()
        .filter_map(Scope::parse)
        .filter(|s| ceiling.contains(s))
        .collect();
    scopes.sort();
    scopes.dedup();
    Ok(Caller {
        sub: claims.sub,
        org: claims.org,
        role: claims.role,
        scopes,
        client_id: claims.client_id,
        request_id,
    })
}

impl FromRequest for Caller {
    type Error = AppError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(authenticate(req.clone()))
    }
}
