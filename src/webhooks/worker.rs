//! The delivery worker: claims due deliveries, posts them signed, and records the outcome.
//!
//! A delivery is claimed in a short transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL; the
//! write lock on SQLite) that counts the attempt and sets `claimed_until`, so no two instances
//! make the same attempt. A crash mid-delivery leaves the claim to expire and the attempt to
//! be made again: delivery is at least once, and the event id in `webhook-id` lets receivers
//! drop duplicates.
//!
//! Deliveries of one subscription are made concurrently: any due delivery may be claimed,
//! not only the oldest of its subscription, so a backlog drains at the pace the receiver
//! answers rather than one round trip at a time, and a retry waits without holding up the
//! events after it. Order is therefore not promised across deliveries; every payload carries
//! its `seq`, the feed's order, and the feed itself (`GET /api/v1/feed?after=`) gives strict
//! order to receivers that need it (docs/ARCHITECTURE.md, README "Webhooks").
//!
//! The cost of a claim does not follow the backlog: claims read the index on
//! (status, org_id, next_attempt_at, id), finding the organisations with due work by a loose
//! index scan (one seek per organisation) and each organisation's longest-due delivery from
//! its first rows (past at most the deliveries in flight).
//!
//! Each instance posts on a bounded pool of delivery threads (`concurrency`), and no
//! organisation holds more than `per_organisation` of them: claims go round-robin over the
//! organisations with due work, those with the fewest deliveries in flight first. A slow
//! receiver therefore ties up only its own organisation's share, never another's deliveries.

use super::{check_url, sign, GuardedResolver, Lookup, SystemLookup};
use crate::auth::{Caller, Role, Scope};
use crate::db::{self, DbConn};
use crate::error::{AppError, AppResult};
use crate::outbox::{self, NewEvent};
use crate::schema::{webhook_deliveries as d, webhooks as w};
use diesel::prelude::*;
use std::collections::HashMap;
use std::sync::{mpsc, Arc, Mutex};
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
    /// Deliveries this instance makes at once.
    pub concurrency: usize,
    /// Of those, at most this many for one organisation.
    pub per_organisation: usize,
    /// How target hosts are looked up (the system resolver; tests substitute their own).
    pub lookup: Arc<dyn Lookup>,
}

impl Settings {
    /// The settings of the configuration, with the fixed limits of the service.
    pub fn new(config: &crate::config::Config) -> Self {
        Self {
            retry: config.webhook_retry.clone(),
            allow_hosts: config.webhook_allow_hosts.clone(),
            poll: config.webhook_poll.unwrap_or(Duration::from_millis(500)),
            timeout: Duration::from_secs(10),
            disable_after: 5,
            claim: Duration::from_secs(30),
            concurrency: config.webhook_concurrency,
            per_organisation: config.webhook_concurrency_per_organisation,
            lookup: Arc::new(SystemLookup),
        }
    }
}

/// A claimed attempt.
#[derive(Debug)]
pub struct Claimed {
    pub delivery_id: String,
    pub webhook_id: String,
    pub org_id: String,
    pub attempt: i64,
    pub url: String,
    pub secrets: Vec<String>,
    pub event: outbox::Event,
}

/// Claims up to `slots` due deliveries, and for no organisation more than `per_organisation`
/// together with the `busy` ones it has in flight already: one per organisation per round,
/// the organisations with the fewest in flight (then the longest waiting) first, and within
/// an organisation its longest-due deliveries, several of one subscription if they are due.
///
/// The cost does not follow the backlog: the organisations with pending deliveries are found
/// by skipping along the claim index (one seek per organisation), and each claim reads the
/// first due row of one organisation from the same index, past at most the rows in flight.
pub fn claim(
    conn: &mut DbConn,
    s: &Settings,
    slots: usize,
    busy: &HashMap<String, usize>,
) -> AppResult<Vec<Claimed>> {
    if slots == 0 {
        return Ok(vec![]);
    }
    db::write_tx(conn, |conn| {
        let now = db::now();
        let until =
            now + chrono::Duration::from_std(s.claim).unwrap_or(chrono::Duration::seconds(60));
        let share = s.per_organisation.max(1);
        let held = |org: &str| busy.get(org).copied().unwrap_or(0);
        let mut active: Vec<(String, chrono::NaiveDateTime)> = due_organisations(conn, now)?
            .into_iter()
            .filter(|(org, _)| held(org) < share)
            .collect();
        active.sort_by(|(a, a_due), (b, b_due)| (held(a), a_due, a).cmp(&(held(b), b_due, b)));
        let mut active: Vec<String> = active.into_iter().map(|(org, _)| org).collect();
        let mut taken: HashMap<String, usize> = HashMap::new();
        let mut out = vec![];
        while out.len() < slots && !active.is_empty() {
            let mut next = vec![];
            for org in active {
                if out.len() >= slots {
                    break;
                }
                let t = taken.get(&org).copied().unwrap_or(0);
                if held(&org) + t >= share {
                    continue;
                }
                if let Some(c) = claim_one(conn, &org, now, until)? {
                    out.push(c);
                    taken.insert(org.clone(), t + 1);
                    next.push(org);
                }
            }
            active = next;
        }
        Ok(out)
    })
}

/// An organisation with due deliveries, and when its longest-due one became due.
#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = diesel::sql_types::Text)]
    org_id: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamp>)]
    due: Option<chrono::NaiveDateTime>,
}

/// The organisations with a delivery due now (pending, due, not claimed), each with when its
/// longest-due one became due. A loose index scan: the recursive query seeks the next
/// organisation along `webhook_deliveries_claim` (status, org_id, next_attempt_at, id), and
/// each organisation's first unclaimed row in due order from the same index, so it reads one
/// row per organisation and a claimed row at most for each delivery in flight, whatever the
/// backlog behind them.
fn due_organisations(
    conn: &mut DbConn,
    now: chrono::NaiveDateTime,
) -> AppResult<Vec<(String, chrono::NaiveDateTime)>> {
    const SQL: &str = "WITH RECURSIVE orgs (org_id) AS ( \
           SELECT (SELECT org_id FROM webhook_deliveries WHERE status = 'pending' \
                   ORDER BY org_id LIMIT 1) \
         UNION ALL \
           SELECT (SELECT d.org_id FROM webhook_deliveries d WHERE d.status = 'pending' \
                   AND d.org_id > orgs.org_id ORDER BY d.org_id LIMIT 1) \
           FROM orgs WHERE orgs.org_id IS NOT NULL \
         ) \
         SELECT orgs.org_id AS org_id, \
           (SELECT d.next_attempt_at FROM webhook_deliveries d WHERE d.status = 'pending' \
            AND d.org_id = orgs.org_id \
            AND (d.claimed_until IS NULL OR d.claimed_until < $NOW) \
            ORDER BY d.next_attempt_at, d.id LIMIT 1) AS due \
         FROM orgs WHERE orgs.org_id IS NOT NULL";
    let rows: Vec<Due> = match conn {
        DbConn::Pg(c) => diesel::sql_query(SQL.replace("$NOW", "$1"))
            .bind::<diesel::sql_types::Timestamp, _>(now)
            .load(c)?,
        DbConn::Sqlite(c) => diesel::sql_query(SQL.replace("$NOW", "?"))
            .bind::<diesel::sql_types::Timestamp, _>(now)
            .load(c)?,
    };
    Ok(rows
        .into_iter()
        .filter_map(|r| r.due.filter(|due| *due <= now).map(|due| (r.org_id, due)))
        .collect())
}

/// Claims the longest-due unclaimed delivery of one organisation, if any.
fn claim_one(
    conn: &mut DbConn,
    org: &str,
    now: chrono::NaiveDateTime,
    until: chrono::NaiveDateTime,
) -> AppResult<Option<Claimed>> {
    let query = d::table
        .filter(d::status.eq("pending"))
        .filter(d::org_id.eq(org))
        .filter(d::next_attempt_at.le(now))
        .filter(d::claimed_until.is_null().or(d::claimed_until.lt(now)))
        .order((d::next_attempt_at.asc(), d::id.asc()))
        .limit(1)
        .select((d::id, d::webhook_id, d::event_seq, d::attempts));
    let row: Option<(String, String, i64, i64)> = match conn {
        DbConn::Pg(c) => query.for_update().skip_locked().first(c).optional()?,
        DbConn::Sqlite(c) => query.first(c).optional()?,
    };
    let Some((id, webhook_id, seq, attempts)) = row else {
        return Ok(None);
    };
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
    Ok(Some(Claimed {
        delivery_id: id,
        webhook_id,
        org_id: org.to_string(),
        attempt: attempts + 1,
        url,
        secrets,
        event,
    }))
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

/// Posts the event, signed; never follows redirects, reads at most 64 KiB of the answer. The
/// agent's resolver (see [`agent`]) looks the host up once and connects only to addresses that
/// pass the guard.
pub fn post(agent: &ureq::Agent, s: &Settings, c: &Claimed) -> Outcome {
    let started = Instant::now();
    if let Err(e) = check_url(&c.url, &s.allow_hosts) {
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
///
/// "In a row" is in the order outcomes are recorded, under the write lock: a delivery that
/// failed for good (its whole retry schedule, about a day by default) counts one, any
/// delivery that succeeds sets the count back to zero. With deliveries of a subscription made
/// concurrently, `disable_after` in a row therefore still means that many events exhausted
/// their retries with no answer in between that the receiver accepted.
pub fn record(
    conn: &mut DbConn,
    s: &Settings,
    c: &Claimed,
    o: &Outcome,
) -> AppResult<&'static str> {
    db::write_tx(conn, |conn| {
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
                .filter(w::consecutive_failures.ne(0))
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
        // Failed for good: this path may write an audit record and an event, so it takes the
        // write lock, before any row lock as every writer does (see `db::lock_writes`). The
        // other two paths write only the delivery (and reset the count), take no write lock
        // and so do not queue behind reports in the ordered section.
        db::lock_writes(conn)?;
        diesel::update(d::table.find(&c.delivery_id))
            .set((base, d::status.eq("failed")))
            .execute(conn)?;
        // Counted in the row (a concurrent success may have reset it), then read under its lock.
        diesel::update(w::table.find(&c.webhook_id))
            .set(w::consecutive_failures.eq(w::consecutive_failures + 1))
            .execute(conn)?;
        let (org, failures, enabled): (String, i64, bool) = w::table
            .find(&c.webhook_id)
            .select((w::org_id, w::consecutive_failures, w::enabled))
            .first(conn)?;
        // Deliveries of one subscription run concurrently, so others may still fail after
        // this one disabled it: the subscription is disabled (and its organisation told) once.
        if failures >= s.disable_after && enabled {
            let reason = format!("disabled after {failures} deliveries in a row failed");
            diesel::update(w::table.find(&c.webhook_id))
                .set((
                    w::enabled.eq(false),
                    w::disabled_reason.eq(Some(&reason)),
                    w::version.eq(w::version + 1),
                    w::updated_at.eq(now),
                ))
                .execute(conn)?;
            crate::audit::record(
                conn,
                &worker_caller(),
                "webhook.disable",
                "webhook",
                &c.webhook_id,
            )?;
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

/// The service itself, as the actor of what the worker does (in the audit log).
fn worker_caller() -> Caller {
    Caller {
        sub: "service:webhook-worker".into(),
        org: "system".into(),
        role: Role::NationalCsirt,
        scopes: vec![Scope::WebhooksManage],
        client_id: None,
        request_id: uuid::Uuid::now_v7().simple().to_string(),
    }
}

/// Makes one claimed attempt and records it.
fn deliver(
    pool: &db::Pool,
    agent: &ureq::Agent,
    s: &Settings,
    metrics: Option<&crate::http::metrics::Metrics>,
    c: &Claimed,
) -> AppResult<()> {
    let outcome = post(agent, s, c);
    let mut conn = pool.get()?;
    let result = record(&mut conn, s, c, &outcome)?;
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
    Ok(())
}

/// One pass: claim what the fair shares allow, deliver it concurrently, record. Returns how
/// many attempts were made.
pub fn run_once(
    pool: &db::Pool,
    agent: &ureq::Agent,
    s: &Settings,
    metrics: Option<&crate::http::metrics::Metrics>,
) -> AppResult<usize> {
    let claimed = {
        let mut conn = pool.get()?;
        claim(&mut conn, s, s.concurrency.max(1), &HashMap::new())?
    };
    let n = claimed.len();
    let results: Vec<AppResult<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = claimed
            .iter()
            .map(|c| scope.spawn(move || deliver(pool, agent, s, metrics, c)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(AppError::internal("delivery panicked")))
            })
            .collect()
    });
    results.into_iter().collect::<AppResult<Vec<()>>>()?;
    Ok(n)
}

/// The HTTP client: a global timeout, no redirects, no proxy (a proxy would resolve the host
/// itself), and the guarded resolver, so a request connects only to an address that passed.
pub fn agent(s: &Settings) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(s.timeout))
        .max_redirects(0)
        .http_status_as_error(false)
        .proxy(None)
        .build();
    ureq::Agent::with_parts(
        config,
        ureq::unversioned::transport::DefaultConnector::default(),
        GuardedResolver {
            allow: s.allow_hosts.clone(),
            lookup: s.lookup.clone(),
        },
    )
}

/// Runs the worker until the process ends: a dispatcher thread that claims within the fair
/// shares, and `concurrency` delivery threads.
pub fn spawn(pool: db::Pool, s: Settings, metrics: crate::http::metrics::Metrics) {
    let slots = s.concurrency.max(1);
    let agent = agent(&s);
    let (job_tx, job_rx) = mpsc::channel::<Claimed>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = mpsc::channel::<String>();
    for i in 0..slots {
        let (pool, agent, s, metrics) = (pool.clone(), agent.clone(), s.clone(), metrics.clone());
        let (job_rx, done_tx) = (job_rx.clone(), done_tx.clone());
        std::thread::Builder::new()
            .name(format!("webhook-delivery-{i}"))
            .spawn(move || loop {
                let job = job_rx.lock().map(|rx| rx.recv());
                let Ok(Ok(c)) = job else { return };
                // The slot is given back whatever happens; an unrecorded attempt is made again
                // when its claim expires.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    deliver(&pool, &agent, &s, Some(&metrics), &c)
                }));
                match result {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => log::warn!("webhook worker: delivery {}: {e}", c.delivery_id),
                    Err(_) => log::error!("webhook worker: delivery {} panicked", c.delivery_id),
                }
                if done_tx.send(c.org_id).is_err() {
                    return;
                }
            })
            .expect("start a webhook delivery thread");
    }
    drop(done_tx);
    std::thread::Builder::new()
        .name("webhook-worker".into())
        .spawn(move || {
            let mut busy: HashMap<String, usize> = HashMap::new();
            let mut in_flight = 0usize;
            let release = |org: String, busy: &mut HashMap<String, usize>, n: &mut usize| {
                if let Some(held) = busy.get_mut(&org) {
                    *held -= 1;
                    if *held == 0 {
                        busy.remove(&org);
                    }
                }
                *n -= 1;
            };
            loop {
                while let Ok(org) = done_rx.try_recv() {
                    release(org, &mut busy, &mut in_flight);
                }
                let free = slots - in_flight;
                let mut wait = s.poll;
                if free > 0 {
                    let claimed = pool
                        .get()
                        .map_err(AppError::from)
                        .and_then(|mut conn| claim(&mut conn, &s, free, &busy));
                    match claimed {
                        Ok(claimed) => {
                            for c in claimed {
                                *busy.entry(c.org_id.clone()).or_default() += 1;
                                in_flight += 1;
                                if job_tx.send(c).is_err() {
                                    return;
                                }
                            }
                        }
                        Err(AppError::Unavailable(e) | AppError::ConnectionLost(e)) => {
                            log::warn!("webhook worker: database unavailable: {e}");
                            wait = s.poll * 4;
                        }
                        Err(e) => log::warn!("webhook worker: {e}"),
                    }
                }
                match done_rx.recv_timeout(wait) {
                    Ok(org) => release(org, &mut busy, &mut in_flight),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
        })
        .expect("start the webhook worker thread");
}
