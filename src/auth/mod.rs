//! Who is calling, and what they may do: bearer tokens, scopes, roles, and API clients.

pub mod clients;
pub mod jwt;
pub mod scopes;

use crate::error::AppError;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::{ready, Ready};
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

fn authenticate(req: &HttpRequest) -> Result<Caller, AppError> {
    let state = req
        .app_data::<web::Data<crate::AppState>>()
        .ok_or_else(|| AppError::internal("application state missing"))?;
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
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            AppError::Unauthorized("use the Bearer scheme: Authorization: Bearer <token>".into())
        })?;
    let claims = state.keys.verify(token).map_err(AppError::Unauthorized)?;
    let ceiling = claims.role.ceiling();
    let mut scopes: Vec<Scope> = claims
        .scope
        .split_whitespace()
        .filter_map(Scope::parse)
        .filter(|s| ceiling.contains(s))
        .collect();
    scopes.sort();
    scopes.dedup();
    let request_id = req
        .extensions()
        .get::<crate::http::request_id::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
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
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}
