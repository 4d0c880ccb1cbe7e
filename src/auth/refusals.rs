//! Refused authentications in the audit log, without letting anyone flood it.
//!
//! A refused bearer token (one that was presented but does not verify, or names a revoked
//! client or an organisation that does not match its role) and a refused client-credentials
//! request (unknown client, wrong secret, revoked client) each become an audit record with
//! the client address as the resource (`resource_type` `address`), so the national CSIRT can
//! ask for every refusal from one address. Requests without any token are not recorded: they
//! are the background noise of the internet and prove nothing.
//!
//! Audit appends are serialised through one lock, so every record costs every writer a
//! little. Refusals are therefore written one by one only up to
//! `NIS2HUB_AUDIT_REFUSALS_PER_MINUTE` per instance; beyond that they are counted, and the
//! next refusal that may be written is preceded by one `auth.refusals_suppressed` record whose
//! `resource_id` is the number left out. An attacker gets at most that many appends a minute
//! per instance, and the log still shows that something was going on. Every refusal is also
//! counted in the `nis2hub_auth_refusals_total` metric. Secrets and unverified claims are
//! never recorded.

use crate::audit::{self, Actor};
use crate::AppState;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct RefusalLog {
    limiter: DefaultDirectRateLimiter,
    suppressed: AtomicU64,
}

impl RefusalLog {
    pub fn new(per_minute: u32) -> Self {
        Self {
            limiter: RateLimiter::direct(Quota::per_minute(
                NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN),
            )),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when this refusal may be written, `n` being the refusals left out before it;
    /// `None` when it is only counted.
    fn admit(&self) -> Option<u64> {
        if self.limiter.check().is_ok() {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// One refused authentication.
#[derive(Debug, Clone)]
pub struct Refused {
    /// `auth.refused.<reason>` or `token.refused.<reason>`.
    pub action: String,
    /// The client address, as the rate limits see it.
    pub address: String,
    /// What a verified token said about its holder, or the client a token request named;
    /// empty for an unauthenticated attempt.
    pub org: String,
    pub sub: String,
    pub role: String,
    pub client_id: Option<String>,
    pub request_id: String,
}

impl Refused {
    pub fn anonymous(action: String, address: String, request_id: String) -> Self {
        Self {
            action,
            address,
            org: String::new(),
            sub: "unauthenticated".into(),
            role: "unauthenticated".into(),
            client_id: None,
            request_id,
        }
    }
}

/// Records a refusal (or counts it, over the limit). A failure to write is logged, never
/// turned into an error: the answer to the caller stays the refusal.
pub async fn record(state: &AppState, refused: Refused) {
    let reason = refused
        .action
        .rsplit('.')
        .next()
        .unwrap_or("other")
        .to_string();
    state.metrics.auth_refusal(&reason);
    let Some(left_out) = state.refusals.admit() else {
        return;
    };
    let r = refused.clone();
    let written = state
        .write(move |conn| {
            let actor = Actor {
                org: &r.org,
                sub: &r.sub,
                role: &r.role,
                client_id: r.client_id.as_deref(),
                request_id: &r.request_id,
            };
            if left_out > 0 {
                let system = Actor {
                    org: "",
                    sub: "nis2hub",
                    role: "system",
                    client_id: None,
                    request_id: &r.request_id,
                };
                audit::record_as(
                    conn,
                    &system,
                    "auth.refusals_suppressed",
                    "count",
                    &left_out.to_string(),
                )?;
            }
            audit::record_as(conn, &actor, &r.action, "address", &r.address)
        })
        .await;
    if let Err(e) = written {
        state
            .refusals
            .suppressed
            .fetch_add(left_out + 1, Ordering::Relaxed);
        log::warn!("could not audit a refused authentication: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_the_limit_refusals_are_counted_for_the_next_record() {
        let log = RefusalLog::new(2);
        assert_eq!(log.admit(), Some(0));
        assert_eq!(log.admit(), Some(0));
        assert_eq!(log.admit(), None);
        assert_eq!(log.admit(), None);
        assert_eq!(log.suppressed.load(Ordering::Relaxed), 2);
    }
}
