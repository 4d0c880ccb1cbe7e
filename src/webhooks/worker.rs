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
//! Under a backlog a delivery thread carries a batch of one organisation's longest-due
//! deliveries (up to `batch`), claimed together, posted in turn and recorded in one
//! transaction: one claim and one commit for many posts (see [`claim_batches`]).
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
    /// At most this many deliveries in one batch (one claim, one commit).
    pub batch: usize,
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
            batch: 64,
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

/// The deliveries one delivery thread carries: due deliveries of one organisation, in due
/// order, posted in turn and recorded in one transaction. A batch holds one delivery unless
/// the organisation's backlog is larger than its share of threads, so a small backlog is
/// still delivered concurrently and a large one costs one claim and one commit per batch
/// rather than per event.
#[derive(Debug)]
pub struct Batch {
    pub org_id: String,
    pub items: Vec<Claimed>,
}

/// Claims due deliveries as single attempts: [`claim_batches`], flattened.
pub fn claim(
    conn: &mut DbConn,
    s: &Settings,
    slots: usize,
    busy: &HashMap<String, usize>,
) -> AppResult<Vec<Claimed>> {
    Ok(claim_batches(conn, s, slots, busy)?
        .into_iter()
        .flat_map(|b| b.items)
        .collect())
}

/// Claims up to `slots` batches, and for no organisation more than `per_organisation`
/// together with the `busy` ones it has in flight already: the slots go round-robin over the
/// organisations with due work, those with the fewest in flight (then the longest waiting)
/// first, and each organisation's batches hold its longest-due deliveries, several of one
/// subscription if they are due. The batches come back in round-robin order.
///
/// The cost does not follow the backlog: the organisations with pending deliveries are found
/// by skipping along the claim index (one seek per organisation), and each organisation's
/// batches are read from the first due rows of the same index, past at most the rows in
/// flight; a claim is four statements per organisation, whatever its batches hold.
pub fn claim_batches(
    conn: &mut DbConn,
    s: &Settings,
    slots: usize,
    busy: &HashMap<String, usize>,
) -> AppResult<Vec<Batch>> {
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
        // The slots, round-robin: one to each organisation a round, within its share.
        let mut allotted: Vec<(String, usize)> =
            active.into_iter().map(|(org, _)| (org, 0)).collect();
        let mut left = slots;
        loop {
            let before = left;
            for (org, k) in allotted.iter_mut() {
                if left > 0 && held(org) + *k < share {
                    *k += 1;
                    left -= 1;
                }
            }
            if left == 0 || left == before {
                break;
            }
        }
        let mut per_org = vec![];
        for (org, k) in allotted {
            if k > 0 {
                per_org.push(claim_for(conn, s, &org, k, now, until)?);
            }
        }
        // Round-robin order, so that the delivery threads take one organisation's batch after
        // another's.
        let mut out = vec![];
        let mut iters: Vec<_> = per_org.into_iter().map(Vec::into_iter).collect();
        loop {
            let before = out.len();
            for it in iters.iter_mut() {
                out.extend(it.next());
            }
            if out.len() == before {
                return Ok(out);
            }
        }
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

/// Claims up to `k` batches of one organisation's longest-due unclaimed deliveries: as many
/// single deliveries as are due if they are no more than `k`, otherwise `k` batches of an
/// equal number (at most `s.batch` each). Counts the attempt and sets the claim of each in
/// one statement, and reads their subscriptions and events in one statement each.
fn claim_for(
    conn: &mut DbConn,
    s: &Settings,
    org: &str,
    k: usize,
    now: chrono::NaiveDateTime,
    until: chrono::NaiveDateTime,
) -> AppResult<Vec<Batch>> {
    let limit = k.saturating_mul(s.batch.max(1));
    let query = d::table
        .filter(d::status.eq("pending"))
        .filter(d::org_id.eq(org))
        .filter(d::next_attempt_at.le(now))
        .filter(d::claimed_until.is_null().or(d::claimed_until.lt(now)))
        .order((d::next_attempt_at.asc(), d::id.asc()))
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .select((d::id, d::webhook_id, d::event_seq, d::attempts));
    let mut rows: Vec<(String, String, i64, i64)> = match conn {
        DbConn::Pg(c) => query.for_update().skip_locked().load(c)?,
        DbConn::Sqlite(c) => query.load(c)?,
    };
    if rows.is_empty() {
        return Ok(vec![]);
    }
    let (batches, size) = if rows.len() <= k {
        (rows.len(), 1)
    } else {
        (k, (rows.len() / k).min(s.batch.max(1)))
    };
    rows.truncate(batches * size);
    let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    diesel::update(d::table.filter(d::id.eq_any(&ids)))
        .set((
            d::attempts.eq(d::attempts + 1),
            d::claimed_until.eq(Some(until)),
            d::updated_at.eq(now),
        ))
        .execute(conn)?;
    let mut hooks: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    hooks.sort_unstable();
    hooks.dedup();
    type Target = (
        String,
        String,
        String,
        Option<String>,
        Option<chrono::NaiveDateTime>,
    );
    let targets: HashMap<String, (String, Vec<String>)> = w::table
        .filter(w::id.eq_any(&hooks))
        .select((
            w::id,
            w::url,
            w::secret,
            w::previous_secret,
            w::previous_secret_until,
        ))
        .load::<Target>(conn)?
        .into_iter()
        .map(|(id, url, secret, previous, previous_until)| {
            let mut secrets = vec![secret];
            if let (Some(p), Some(until)) = (previous, previous_until) {
                if until > now {
                    secrets.push(p);
                }
            }
            (id, (url, secrets))
        })
        .collect();
    let seqs: Vec<i64> = rows.iter().map(|r| r.2).collect();
    // Two subscriptions of one organisation may both take an event: a copy for each.
    let events = outbox::by_seqs(conn, &seqs)?;
    let mut items = Vec::with_capacity(rows.len());
    for (id, webhook_id, seq, attempts) in rows {
        let (url, secrets) = targets
            .get(&webhook_id)
            .cloned()
            .ok_or_else(|| AppError::internal("a delivery's subscription is missing"))?;
        let event = events
            .get(&seq)
            .cloned()
            .ok_or_else(|| AppError::internal("a delivery's event is missing"))?;
        items.push(Claimed {
            delivery_id: id,
            webhook_id,
            org_id: org.to_string(),
            attempt: attempts + 1,
            url,
            secrets,
            event,
        });
    }
    let mut out = Vec::with_capacity(batches);
    let mut items = items.into_iter();
    for _ in 0..batches {
        out.push(Batch {
            org_id: org.to_string(),
            items: items.by_ref().take(size).collect(),
        });
    }
    Ok(out)
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
/// disabled after too many failures in a row). [`record_batch`] of one.
pub fn record(
    conn: &mut DbConn,
    s: &Settings,
    c: &Claimed,
    o: &Outcome,
) -> AppResult<&'static str> {
    let recorded = record_batch(conn, s, std::slice::from_ref(c), std::slice::from_ref(o))?;
    Ok(recorded.first().copied().unwrap_or("succeeded"))
}

/// Records the outcomes of a batch's attempts in one transaction, in the order they were
/// made: `outcomes[i]` is the outcome of `items[i]`; the items past the outcomes were not
/// attempted (the batch ran out of time) and are given back, their attempt uncounted, for
/// the next claim. Returns what each attempt came to.
///
/// "In a row" is in the order outcomes are recorded, under the write lock: a delivery that
/// failed for good (its whole retry schedule, about a day by default) counts one, any
/// delivery that succeeds sets the count back to zero. With deliveries of a subscription made
/// concurrently, `disable_after` in a row therefore still means that many events exhausted
/// their retries with no answer in between that the receiver accepted.
///
/// Successive successes are written together: one statement for those with the same answer
/// and latency, one for the subscriptions whose failure count they reset.
pub fn record_batch(
    conn: &mut DbConn,
    s: &Settings,
    items: &[Claimed],
    outcomes: &[Outcome],
) -> AppResult<Vec<&'static str>> {
    let made = outcomes.len().min(items.len());
    db::write_tx(conn, |conn| {
        let now = db::now();
        // A failure for good takes the write lock, and the write lock comes before any row
        // lock (see `db::lock_writes`): taken first when the batch holds one.
        if items
            .iter()
            .zip(outcomes)
            .any(|(c, o)| !o.ok() && retry_wait(s, c).is_none())
        {
            db::lock_writes(conn)?;
        }
        let mut results = Vec::with_capacity(made);
        let mut delivered: Vec<(&Claimed, &Outcome)> = vec![];
        for (c, o) in items.iter().zip(outcomes) {
            if o.ok() {
                delivered.push((c, o));
                results.push("succeeded");
                continue;
            }
            record_delivered(conn, now, &std::mem::take(&mut delivered))?;
            results.push(record_failed(conn, s, now, c, o)?);
        }
        record_delivered(conn, now, &delivered)?;
        let given_back: Vec<&str> = items[made..]
            .iter()
            .map(|c| c.delivery_id.as_str())
            .collect();
        if !given_back.is_empty() {
            diesel::update(d::table.filter(d::id.eq_any(&given_back)))
                .set((
                    d::attempts.eq(d::attempts - 1),
                    d::claimed_until.eq(None::<chrono::NaiveDateTime>),
                    d::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
        Ok(results)
    })
}

fn latency_ms(o: &Outcome) -> i64 {
    i64::try_from(o.latency.as_millis()).unwrap_or(i64::MAX)
}

/// Marks deliveries delivered, and resets their subscriptions' count of failures in a row.
fn record_delivered(
    conn: &mut DbConn,
    now: chrono::NaiveDateTime,
    delivered: &[(&Claimed, &Outcome)],
) -> AppResult<()> {
    if delivered.is_empty() {
        return Ok(());
    }
    let mut alike: std::collections::BTreeMap<(Option<i32>, i64), Vec<&str>> = Default::default();
    for (c, o) in delivered {
        alike
            .entry((o.status.map(i32::from), latency_ms(o)))
            .or_default()
            .push(c.delivery_id.as_str());
    }
    for ((status, latency), ids) in alike {
        diesel::update(d::table.filter(d::id.eq_any(&ids)))
            .set((
                d::last_status_code.eq(status),
                d::last_error.eq(None::<String>),
                d::last_latency_ms.eq(Some(latency)),
                d::claimed_until.eq(None::<chrono::NaiveDateTime>),
                d::updated_at.eq(now),
                d::status.eq("succeeded"),
                d::delivered_at.eq(Some(now)),
            ))
            .execute(conn)?;
    }
    let mut hooks: Vec<&str> = delivered
        .iter()
        .map(|(c, _)| c.webhook_id.as_str())
        .collect();
    hooks.sort_unstable();
    hooks.dedup();
    diesel::update(w::table.filter(w::id.eq_any(&hooks)))
        .filter(w::consecutive_failures.ne(0))
        .set(w::consecutive_failures.eq(0))
        .execute(conn)?;
    Ok(())
}

/// How long to wait before the next attempt after this one failed; none after the last.
fn retry_wait(s: &Settings, c: &Claimed) -> Option<Duration> {
    usize::try_from(c.attempt - 1)
        .ok()
        .and_then(|i| s.retry.get(i).copied())
}

/// Records a failed attempt: to be retried, or failed for good (and the subscription
/// disabled after too many failures in a row).
fn record_failed(
    conn: &mut DbConn,
    s: &Settings,
    now: chrono::NaiveDateTime,
    c: &Claimed,
    o: &Outcome,
) -> AppResult<&'static str> {
    let base = (
        d::last_status_code.eq(o.status.map(i32::from)),
        d::last_error.eq(o
            .error
            .clone()
            .or_else(|| o.status.map(|s| format!("HTTP {s}")))),
        d::last_latency_ms.eq(Some(latency_ms(o))),
        d::claimed_until.eq(None::<chrono::NaiveDateTime>),
        d::updated_at.eq(now),
    );
    if let Some(wait) = retry_wait(s, c) {
        diesel::update(d::table.find(&c.delivery_id))
            .set((base, d::next_attempt_at.eq(now + jittered(wait))))
            .execute(conn)?;
        return Ok("retried");
    }
    // Failed for good: this path may write an audit record and an event, so it holds the
    // write lock (taken by `record_batch` before any row lock, as every writer does). The
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

/// Makes a batch's attempts in turn and records them together. An attempt is not started once
/// the batch has taken the delivery timeout, so a slow receiver holds its batch's claim for
/// at most twice the timeout (well inside the claim); the rest is given back. Returns how many
/// attempts were made.
fn deliver(
    pool: &db::Pool,
    agent: &ureq::Agent,
    s: &Settings,
    metrics: Option<&crate::http::metrics::Metrics>,
    batch: &Batch,
) -> AppResult<usize> {
    let started = Instant::now();
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(batch.items.len());
    for c in &batch.items {
        if !outcomes.is_empty() && started.elapsed() >= s.timeout {
            break;
        }
        outcomes.push(post(agent, s, c));
    }
    let mut conn = pool.get()?;
    let results = record_batch(&mut conn, s, &batch.items, &outcomes)?;
    for ((c, outcome), result) in batch.items.iter().zip(&outcomes).zip(results) {
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
    Ok(outcomes.len())
}

/// One pass: claim what the fair shares allow, deliver the batches concurrently, record.
/// Returns how many attempts were made.
pub fn run_once(
    pool: &db::Pool,
    agent: &ureq::Agent,
    s: &Settings,
    metrics: Option<&crate::http::metrics::Metrics>,
) -> AppResult<usize> {
    let batches = {
        let mut conn = pool.get()?;
        claim_batches(&mut conn, s, s.concurrency.max(1), &HashMap::new())?
    };
    let results: Vec<AppResult<usize>> = std::thread::scope(|scope| {
        let handles: Vec<_> = batches
            .iter()
            .map(|b| scope.spawn(move || deliver(pool, agent, s, metrics, b)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(AppError::internal("delivery panicked")))
            })
            .collect()
    });
    results.into_iter().sum()
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
    let (job_tx, job_rx) = mpsc::channel::<Batch>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = mpsc::channel::<String>();
    for i in 0..slots {
        let (pool, agent, s, metrics) = (pool.clone(), agent.clone(), s.clone(), metrics.clone());
        let (job_rx, done_tx) = (job_rx.clone(), done_tx.clone());
        std::thread::Builder::new()
            .name(format!("webhook-delivery-{i}"))
            .spawn(move || loop {
                let job = job_rx.lock().map(|rx| rx.recv());
                let Ok(Ok(batch)) = job else { return };
                // The slot is given back whatever happens; an unrecorded attempt is made again
                // when its claim expires.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    deliver(&pool, &agent, &s, Some(&metrics), &batch)
                }));
                let first = batch.items.first().map_or("", |c| c.delivery_id.as_str());
                match result {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => log::warn!("webhook worker: batch from delivery {first}: {e}"),
                    Err(_) => log::error!("webhook worker: batch from delivery {first} panicked"),
                }
                if done_tx.send(batch.org_id).is_err() {
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
                        .and_then(|mut conn| claim_batches(&mut conn, &s, free, &busy));
                    match claimed {
                        Ok(claimed) => {
                            for batch in claimed {
                                *busy.entry(batch.org_id.clone()).or_default() += 1;
                                in_flight += 1;
                                if job_tx.send(batch).is_err() {
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
