//! Who is acting on a case: an authenticated caller (a JWT, checked by [`Caller`]), a finder
//! holding the case token, or an external vendor holding its vendor token.
//!
//! Case and vendor tokens are 32 random bytes behind a recognisable prefix (`n2hcase_`,
//! `n2hvendor_`). Only their SHA-256 hash is stored: a 256-bit random value cannot be guessed,
//! so it needs no slow hash, and the hash found by its index is compared again in constant
//! time. A bearer value with one of these prefixes never reaches the JWT extractor, so a
//! wrong case token is refused here and is not audited as a refused JWT.

use crate::auth::Caller;
use crate::error::AppError;
use crate::schema::{cvd_cases, cvd_vendors};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use diesel::prelude::*;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const CASE_PREFIX: &str = "n2hcase_";
pub const VENDOR_PREFIX: &str = "n2hvendor_";

/// How long case and vendor tokens keep working after a case is closed (disclosed, rejected
/// or a duplicate): long enough to read the outcome, not forever.
pub const TOKEN_DAYS_AFTER_CLOSE: i64 = 30;

/// A new token with the prefix, and the hash to store.
pub fn new_token(prefix: &str) -> (String, String) {
    use base64::Engine;
    let mut buf = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut buf);
    let token = format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
    );
    let hash = hash(&token);
    (token, hash)
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Who acts on a case.
#[derive(Debug, Clone)]
pub enum Principal {
    Caller(Caller),
    Finder {
        case_id: String,
        request_id: String,
    },
    Vendor {
        case_id: String,
        vendor_id: String,
        request_id: String,
    },
}

/// The principal of a request to a CVD route.
pub struct CvdAuth(pub Principal);

fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<crate::http::request_id::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string())
}

/// The bearer value when it is a case or vendor token.
pub fn case_bearer(req: &HttpRequest) -> Option<String> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?
        .trim();
    (token.starts_with(CASE_PREFIX) || token.starts_with(VENDOR_PREFIX)).then(|| token.to_string())
}

fn refused() -> AppError {
    AppError::Unauthorized("the case or vendor token is unknown or no longer valid".into())
}

fn usable(closed_at: Option<chrono::NaiveDateTime>, now: chrono::NaiveDateTime) -> bool {
    match closed_at {
        None => true,
        Some(closed) => crate::time::sub_days(now.and_utc(), TOKEN_DAYS_AFTER_CLOSE)
            .is_some_and(|limit| closed > limit.naive_utc()),
    }
}

/// Resolves a case or vendor token to its principal, or 401.
pub async fn resolve(
    state: &crate::AppState,
    token: String,
    request_id: String,
) -> Result<Principal, AppError> {
    let digest = hash(&token);
    let now = crate::db::now();
    if token.starts_with(CASE_PREFIX) {
        let found: Option<(String, Option<String>, Option<chrono::NaiveDateTime>)> = {
            let digest = digest.clone();
            state
                .db(move |conn| {
                    Ok(cvd_cases::table
                        .filter(cvd_cases::case_token_hash.eq(digest))
                        .select((
                            cvd_cases::id,
                            cvd_cases::case_token_hash,
                            cvd_cases::closed_at,
                        ))
                        .first(conn)
                        .optional()?)
                })
                .await?
        };
        match found {
            Some((case_id, Some(stored), closed))
                if bool::from(stored.as_bytes().ct_eq(digest.as_bytes()))
                    && usable(closed, now) =>
            {
                Ok(Principal::Finder {
                    case_id,
                    request_id,
                })
            }
            _ => Err(refused()),
        }
    } else {
        let found: Option<(
            String,
            String,
            Option<String>,
            Option<chrono::NaiveDateTime>,
        )> = {
            let digest = digest.clone();
            state
                .db(move |conn| {
                    Ok(cvd_vendors::table
                        .inner_join(cvd_cases::table.on(cvd_cases::id.eq(cvd_vendors::case_id)))
                        .filter(cvd_vendors::token_hash.eq(digest))
                        .select((
                            cvd_vendors::id,
                            cvd_vendors::case_id,
                            cvd_vendors::token_hash,
                            cvd_cases::closed_at,
                        ))
                        .first(conn)
                        .optional()?)
                })
                .await?
        };
        match found {
            Some((vendor_id, case_id, Some(stored), closed))
                if bool::from(stored.as_bytes().ct_eq(digest.as_bytes()))
                    && usable(closed, now) =>
            {
                Ok(Principal::Vendor {
                    case_id,
                    vendor_id,
                    request_id,
                })
            }
            _ => Err(refused()),
        }
    }
}

/// The key a case or vendor token is limited and its reads audited under: its case for a
/// case token (one per case), its vendor entry for a vendor token; none for a JWT.
pub fn token_key(principal: &Principal) -> Option<String> {
    match principal {
        Principal::Caller(_) => None,
        Principal::Finder { case_id, .. } => Some(format!("case:{case_id}")),
        Principal::Vendor { vendor_id, .. } => Some(format!("vendor:{vendor_id}")),
    }
}

impl FromRequest for CvdAuth {
    type Error = AppError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        match case_bearer(&req) {
            Some(token) => Box::pin(async move {
                let state = req
                    .app_data::<web::Data<crate::AppState>>()
                    .ok_or_else(|| AppError::internal("application state missing"))?
                    .clone();
                let principal = resolve(&state, token, request_id(&req)).await?;
                // A token names one case or vendor entry: it is limited by that, so a leaked
                // or scripted token cannot flood the case, its events or the audit log.
                if let Some(key) = token_key(&principal) {
                    state
                        .cvd_intake
                        .token_request(&key)
                        .map_err(AppError::TooManyRequests)?;
                }
                Ok(CvdAuth(principal))
            }),
            None => {
                let caller = Caller::from_request(&req, payload);
                Box::pin(async move { caller.await.map(|c| CvdAuth(Principal::Caller(c))) })
            }
        }
    }
}

/// The reporter of a new case: nobody (an anonymous finder), or an authenticated caller. A
/// token that is presented must verify; a case or vendor token cannot open a case.
pub struct Reporter(pub Option<Caller>);

impl FromRequest for Reporter {
    type Error = AppError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .is_none()
        {
            return Box::pin(async { Ok(Reporter(None)) });
        }
        if case_bearer(req).is_some() {
            return Box::pin(async {
                Err(AppError::Unauthorized(
                    "a case or vendor token cannot open a case; report without a token, or with an account token".into(),
                ))
            });
        }
        let caller = Caller::from_request(req, payload);
        Box::pin(async move { caller.await.map(|c| Reporter(Some(c))) })
    }
}
