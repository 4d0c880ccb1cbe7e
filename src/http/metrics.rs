//! Prometheus metrics: request counts and latency per route and status, pool usage.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};
use std::time::Duration;

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    webhook_attempts: IntCounterVec,
    webhook_latency: prometheus::Histogram,
    webhook_backlog: prometheus::GaugeVec,
    auth_refusals: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry =
            Registry::new_custom(Some("nis2hub".into()), None).expect("metric prefix is valid");
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route pattern and status",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by method and route pattern",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route"],
        )
        .expect("valid metric");
        let pool_connections = IntGauge::new("db_pool_connections", "open database connections")
            .expect("valid metric");
        let pool_idle = IntGauge::new("db_pool_idle_connections", "idle database connections")
            .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        registry
            .register(Box::new(pool_connections.clone()))
            .expect("metric registered once");
        registry
            .register(Box::new(pool_idle.clone()))
            .expect("metric registered once");
        let webhook_attempts = IntCounterVec::new(
            Opts::new(
                "webhook_attempts_total",
                "webhook delivery attempts by outcome (succeeded, retried, failed)",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let webhook_latency = prometheus::Histogram::with_opts(
            HistogramOpts::new(
                "webhook_attempt_duration_seconds",
                "webhook delivery attempt latency",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
        )
        .expect("valid metric");
        let webhook_backlog = prometheus::GaugeVec::new(
            Opts::new(
                "webhook_oldest_undelivered_seconds",
                "age of the oldest undelivered event per subscription",
            ),
            &["webhook_id"],
        )
        .expect("valid metric");
        for c in [
            Box::new(webhook_attempts.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(webhook_latency.clone()),
            Box::new(webhook_backlog.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        let auth_refusals = IntCounterVec::new(
            Opts::new(
                "auth_refusals_total",
                "refused bearer tokens and token requests, by reason",
            ),
            &["reason"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(auth_refusals.clone()))
            .expect("metric registered once");
        Self {
            auth_refusals,
            registry,
            requests,
            latency,
            pool_connections,
            pool_idle,
            webhook_attempts,
            webhook_latency,
            webhook_backlog,
        }
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
    }

    pub fn auth_refusal(&self, reason: &str) {
        self.auth_refusals.with_label_values(&[reason]).inc();
    }

    pub fn webhook_attempt(&self, outcome: &str, latency: Duration) {
        self.webhook_attempts.with_label_values(&[outcome]).inc();
        self.webhook_latency.observe(latency.as_secs_f64());
    }

    /// The text exposition, with the pool and backlog gauges read at scrape time.
    pub fn render(&self, pool: &crate::db::Pool, backlog: &[(String, f64)]) -> String {
        self.webhook_backlog.reset();
        for (id, age) in backlog {
            self.webhook_backlog.with_label_values(&[id]).set(*age);
        }
        let state = pool.state();
        self.pool_connections.set(state.connections as i64);
        self.pool_idle.set(state.idle_connections as i64);
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
