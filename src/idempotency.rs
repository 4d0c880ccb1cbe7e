//! `Idempotency-Key` on creating POSTs: the first response is stored with the key, in the
//! transaction that created the record; a replay with the same body gets that response again,
//! the same key with another body gets 422.

use crate::auth::Caller;
use crate::db::{self, DbConn};
use crate::error::{AppError, AppResult};
use crate::schema::idempotency_keys;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use diesel::prelude::*;
use sha2::{Digest, Sha256};

pub const HEADER: &str = "Idempotency-Key";

/// The validated key of a request, with the fingerprint of what was asked.
#[derive(Debug, Clone)]
pub struct Key {
    key: String,
    fingerprint: String,
}

/// Reads the header; a malformed key is a 400, not silently ignored.
pub fn key(req: &HttpRequest, body: &[u8]) -> AppResult<Option<Key>> {
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            AppError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
        })?;
    let mut h = Sha256::new();
    h.update(req.method().as_str().as_bytes());
    h.update(b" ");
    h.update(req.path().as_bytes());
    h.update(b"\n");
    h.update(body);
    Ok(Some(Key {
        key: key.to_string(),
        fingerprint: hex::encode(h.finalize()),
    }))
}

/// A response to send, fresh or replayed.
#[derive(Debug)]
pub struct Outcome {
    pub status: StatusCode,
    pub body: String,
    pub replayed: bool,
}

impl Outcome {
    pub fn into_response(self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.content_type("application/json");
        if self.replayed {
            res.insert_header(("Idempotent-Replayed", "true"));
        }
        res.body(self.body)
    }
}

/// Runs `create` once per caller and key, inside the current write transaction.
pub fn once(
    conn: &mut DbConn,
    caller: &Caller,
    key: Option<&Key>,
    create: impl FnOnce(&mut DbConn) -> AppResult<(StatusCode, String)>,
) -> AppResult<Outcome> {
    once_storing(conn, caller, key, |conn| {
        create(conn).map(|(status, body)| (status, body.clone(), body))
    })
}

/// Like [`once`], but `create` returns the body to send and the body to keep for replays
/// separately: a response that shows a secret once keeps it out of the stored copy.
pub fn once_storing(
    conn: &mut DbConn,
    caller: &Caller,
    key: Option<&Key>,
    create: impl FnOnce(&mut DbConn) -> AppResult<(StatusCode, String, String)>,
) -> AppResult<Outcome> {
    let Some(key) = key else {
        let (status, body, _) = create(conn)?;
        return Ok(Outcome {
            status,
            body,
            replayed: false,
        });
    };
    let who = format!("{}|{}", caller.org, caller.sub);
    let stored: Option<(String, i32, String)> = idempotency_keys::table
        .filter(
            idempotency_keys::caller
                .eq(&who)
                .and(idempotency_keys::key.eq(&key.key)),
        )
        .select((
            idempotency_keys::request_hash,
            idempotency_keys::status,
            idempotency_keys::body,
        ))
        .first(conn)
        .optional()?;
    if let Some((hash, status, body)) = stored {
        if hash != key.fingerprint {
            return Err(AppError::Unprocessable(
                "idempotency_key_reused",
                "this Idempotency-Key was used before with a different request; use a new key for a new request".into(),
            ));
        }
        let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
        return Ok(Outcome {
            status,
            body,
            replayed: true,
        });
    }
    let (status, body, stored_body) = create(conn)?;
    let inserted = diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::caller.eq(&who),
            idempotency_keys::key.eq(&key.key),
            idempotency_keys::request_hash.eq(&key.fingerprint),
            idempotency_keys::status.eq(status.as_u16() as i32),
            idempotency_keys::body.eq(&stored_body),
            idempotency_keys::created_at.eq(db::now()),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(Outcome {
            status,
            body,
            replayed: false,
        }),
        Err(e) if db::is_unique_violation(&e) => Err(AppError::Conflict(
            "idempotency_key_in_use",
            "another request with this Idempotency-Key is being processed; retry it".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// How long a key is remembered.
pub const KEPT_FOR: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// Forgets keys older than [`KEPT_FOR`]; the deadline sweep calls it.
pub fn purge(conn: &mut DbConn, now: chrono::NaiveDateTime) -> AppResult<usize> {
    Ok(diesel::delete(
        idempotency_keys::table.filter(idempotency_keys::created_at.lt(now - KEPT_FOR)),
    )
    .execute(conn)?)
}
