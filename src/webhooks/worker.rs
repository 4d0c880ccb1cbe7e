//! The delivery worker: claims due deliveries, posts them signed, and records the outcome.
//!
//! A delivery is claimed in a short transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL; the
//! write lock on SQLite) that counts the attempt and sets `claimed_until`, so no two instances
//! make the same attempt. Only the oldest undelivered event of a subscription is eligible, so
//! each subscription receives its events in feed order. A crash mid-delivery leaves the claim
//! to expire and the attempt to be made again: delivery is at least once, and the event id in
//! `webhook-id` lets receivers drop duplicates.

use super::{check_target, sign};
use crate::db::{self, DbConn};
use crate::error::{AppError, AppResult};
use crate::outbox::{self, NewEvent};
use crate::schema::{webhook_deliveries as d, webhooks as w};
use diesel::prelude::*;
use std::time::{Duration, Instant};

/// How the worker behaves; from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Waits before the 2nd, 3rd, … attempt; after the last the delivery is marked failed.
    pub retry: Vec<Duration>,
    pub allow_hosts: Vec<String>,
    pub poll: Duration,
    pub timeout: Duration,
    /// Consecutive failed deliveries after which a subscription is disabled.
    pub disable_after: i64,
    /// How long a claim holds before another worker may retry the attempt.
    pub claim: Duration,
}

/// A claimed attempt.
#[derive(Debug)]
pub struct Claimed {
    pub delivery_id: String,
    pub webhook_id: String,
    pub attempt: i64,
    pub url: String,
    pub secrets: Vec<String>,
    pub event: outbox::Event,
}

/// Claims up to `limit` due deliveries, at most one per subscription (its oldest).
pub fn claim(conn: &mut DbConn, s: &Settings, limit: i64) -> AppResult<Vec<Claimed>> {
    db::write_tx(conn, |conn| {
        let now = db::now();
        let earlier = diesel::alias!(crate::schema::webhook_deliveries as earlier);
        let query = d::table
            .filter(d::status.eq("pending"))
            .filter(d::next_attempt_at.le(now))
            .filter(d::claimed_until.is_null().or(d::claimed_until.lt(now)))
            .filter(diesel::dsl::not(diesel::dsl::exists(
                earlier
                    .filter(earlier.field(d::webhook_id).eq(d::webhook_id))
                    .filter(earlier.field(d::status).eq("pending"))
                    .filter(earlier.field(d::event_seq).lt(d::event_seq)),
            )))
            .order(d::next_attempt_at.asc())
            .limit(limit)
            .select((d::id, d::webhook_id, d::event_seq, d::attempts));
        let rows: Vec<(String, String, i64, i64)> = match conn {
            DbConn::Pg(c) => query.for_update().skip_locked().load(c)?,
            DbConn::Sqlite(c) => query.load(c)?,
        };
        let until =
            now + chrono::Duration::from_std(s.claim).unwrap_or(chrono::Duration::seconds(60));
        let mut out = vec![];
        for (id, webhook_id, seq, attempts) in rows {
            diesel::update(d::table.find(&id))
                .set((
                    d::attempts.eq(attempts + 1),
                    d::claimed_until.eq(Some(until)),
                    d::updated_at.eq(now),
                ))
                .execute(conn)?;
            let (url, secret, previous, previous_until): (
                String,
                String,
                Option<String>,
                Option<chrono::NaiveDateTime>,
            ) = w::table
                .find(&webhook_id)
                .select((
                    w::url,
                    w::secret,
                    w::previous_secret,
                    w::previous_secret_until,
                ))
                .first(conn)?;
            let mut secrets = vec![secret];
            if let (Some(p), Some(until)) = (previous, previous_until) {
                if until > now {
                    secrets.push(p);
                }
            }
            let event = outbox::by_seq(conn, seq)?;
            out.push(Claimed {
                delivery_id: id,
                webhook_id,
                attempt: attempts + 1,
                url,
                secrets,
                event,
            });
        }
        Ok(out)
    })
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency: Duration,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Posts the event, signed; never follows redirects, reads at most 64 KiB of the answer.
pub fn post(agent: &ureq::Agent, s: &Settings, c: &Claimed) -> Outcome {
    let started = Instant::now();
    if let Err(e) = check_target(&c.url, &s.allow_hosts) {
        return Outcome {
            status: None,
            error: Some(format!("target refused: {e}")),
            latency: started.elapsed(),
        };
    }
    let body = serde_json::to_string(&c.event).unwrap_or_default();
    let timestamp = chrono::Utc::now().timestamp();
    let signature: Vec<String> = c
        .secrets
        .iter()
        .filter_map(|k| sign(k, &c.event.id, timestamp, &body))
        .collect();
    let result = agent
        .post(&c.url)
        .header("content-type", "application/json")
        .header("user-agent", concat!("nis2hub/", env!("CARGO_PKG_VERSION")))
        .header("webhook-id", &c.event.id)
        .header("webhook-timestamp", &timestamp.to_string())
        .header("webhook-signature", &signature.join(" "))
        .send(body.as_bytes());
    match result {
        Ok(mut res) => {
            let status = res.status().as_u16();
            let _ = res.body_mut().with_config().limit(64 * 1024).read_to_vec();
            Outcome {
                status: Some(status),
                error: None,
                latency: started.elapsed(),
            }
        }
        Err(e) => Outcome {
            status: None,
            error: Some(e.to_string()),
            latency: started.elapsed(),
        },
    }
}

fn jittered(base: Duration) -> chrono::Duration {
    use rand::Rng;
    let factor = rand::thread_rng().gen_range(0.8..1.2);
    chrono::Duration::milliseconds((base.as_millis() as f64 * factor) as i64)
}

/// Records an attempt: delivered, to be retried, or failed for good (and the subscription
/// disabled after too many failures in a row).
pub fn record(
    conn: &mut DbConn,
    s: &Settings,
    c: &Claimed,
    o: &Outcome,
) -> AppResult<&'static str> {
    db::write_tx(conn, |conn| {
        // The write lock before any row lock, as every writer takes it (see `db::lock_writes`).
        db::lock_writes(conn)?;
        let now = db::now();
        let latency = o.latency.as_millis() as i64;
        let base = (
            d::last_status_code.eq(o.status.map(i32::from)),
            d::last_error.eq(if o.ok() {
                None
            } else {
                o.error
                    .clone()
                    .or_else(|| o.status.map(|s| format!("HTTP {s}")))
            }),
            d::last_latency_ms.eq(Some(latency)),
            d::claimed_until.eq(None::<chrono::NaiveDateTime>),
            d::updated_at.eq(now),
        );
        if o.ok() {
            diesel::update(d::table.find(&c.delivery_id))
                .set((
                    base,
                    d::status.eq("succeeded"),
                    d::delivered_at.eq(Some(now)),
                ))
                .execute(conn)?;
            diesel::update(w::table.find(&c.webhook_id))
                .set(w::consecutive_failures.eq(0))
                .execute(conn)?;
            return Ok("succeeded");
        }
        let retry = s.retry.get((c.attempt - 1) as usize).copied();
        if let Some(wait) = retry {
            diesel::update(d::table.find(&c.delivery_id))
                .set((base, d::next_attempt_at.eq(now + jittered(wait))))
                .execute(conn)?;
            return Ok("retried");
        }
        diesel::update(d::table.find(&c.delivery_id))
            .set((base, d::status.eq("failed")))
            .execute(conn)?;
        let (org, failures): (String, i64) = w::table
            .find(&c.webhook_id)
            .select((w::org_id, w::consecutive_failures))
            .first(conn)?;
        let failures = failures + 1;
        diesel::update(w::table.find(&c.webhook_id))
            .set(w::consecutive_failures.eq(failures))
            .execute(conn)?;
        if failures >= s.disable_after {
            let reason = format!("disabled after {failures} deliveries in a row failed");
            diesel::update(w::table.find(&c.webhook_id))
                .set((
                    w::enabled.eq(false),
                    w::disabled_reason.eq(Some(&reason)),
                    w::updated_at.eq(now),
                ))
                .execute(conn)?;
            outbox::emit(
                conn,
                NewEvent {
                    event_type: "webhook.disabled",
                    subject_type: "webhook",
                    subject_id: &c.webhook_id,
                    significant: false,
                    data: serde_json::json!({"webhook_id": c.webhook_id, "reason": reason, "url": c.url}),
                    recipients: vec![org],
                },
            )?;
        }
        Ok("failed")
    })
}

/// One pass: claim, deliver, record. Returns how many attempts were made.
pub fn run_once(
    pool: &db::Pool,
    agent: &ureq::Agent,
    s: &Settings,
    metrics: Option<&crate::http::metrics::Metrics>,
) -> AppResult<usize> {
    let claimed = {
        let mut conn = pool.get()?;
        claim(&mut conn, s, 20)?
    };
    let n = claimed.len();
    for c in claimed {
        let outcome = post(agent, s, &c);
        let mut conn = pool.get()?;
        let result = record(&mut conn, s, &c, &outcome)?;
        if let Some(m) = metrics {
            m.webhook_attempt(result, outcome.latency);
        }
        if !outcome.ok() {
            log::info!(
                "webhook {} delivery {} attempt {}: {}",
                c.webhook_id,
                c.delivery_id,
                c.attempt,
                outcome.error.as_deref().unwrap_or("non-2xx answer")
            );
        }
    }
    Ok(n)
}

pub fn agent(s: &Settings) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(s.timeout))
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into()
}

/// Runs the worker on its own thread until the process ends.
pub fn spawn(pool: db::Pool, s: Settings, metrics: crate::http::metrics::Metrics) {
    std::thread::Builder::new()
        .name("webhook-worker".into())
        .spawn(move || {
            let agent = agent(&s);
            loop {
                match run_once(&pool, &agent, &s, Some(&metrics)) {
                    Ok(0) => std::thread::sleep(s.poll),
                    Ok(_) => {}
                    Err(AppError::Unavailable(e)) => {
                        log::warn!("webhook worker: database unavailable: {e}");
                        std::thread::sleep(s.poll * 4);
                    }
                    Err(e) => {
                        log::warn!("webhook worker: {e}");
                        std::thread::sleep(s.poll);
                    }
                }
            }
        })
        .expect("start the webhook worker thread");
}
