//! Webhooks: subscriptions per organisation, signed deliveries (Standard Webhooks), a delivery
//! worker with retries, and the guard against targets on internal networks.

pub mod routes;
pub mod worker;

use crate::db::{self, DbConn};
use crate::error::AppResult;
use crate::schema::{organisations, webhook_deliveries, webhooks};
use base64::Engine;
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::{IpAddr, ToSocketAddrs};

/// A new Standard Webhooks secret: `whsec_` and 24 random bytes in base64.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` per the Standard Webhooks specification.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{msg_id}.{timestamp}.{body}").as_bytes());
    Some(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Addresses a webhook must not reach unless its host is explicitly allowed: loopback,
/// private, link-local (cloud metadata at 169.254.169.254), shared, unspecified, multicast.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

/// The parts of a target URL that matter for the guard.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub https: bool,
    pub host: String,
    pub port: u16,
}

pub fn parse_target(url: &str) -> Result<Target, String> {
    let uri: ureq::http::Uri = url.parse().map_err(|_| "is not a URL".to_string())?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err("must start with https://".into()),
    };
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or("names no host")?
        .trim_matches(['[', ']'])
        .to_ascii_lowercase();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    Ok(Target { https, host, port })
}

/// Refuses plain http and internal addresses unless the host is allowed
/// (`NIS2HUB_WEBHOOK_ALLOW_HOSTS`, `host` or `host:port`).
pub fn check_target(url: &str, allow: &[String]) -> Result<Target, String> {
    if url.len() > 2000 {
        return Err("is longer than 2000 characters".into());
    }
    let t = parse_target(url)?;
    let allowed = allow
        .iter()
        .any(|a| *a == t.host || *a == format!("{}:{}", t.host, t.port));
    if !t.https && !allowed {
        return Err("must use https:// (plain http is only for hosts the operator allows)".into());
    }
    if allowed {
        return Ok(t);
    }
    let addrs: Vec<IpAddr> = (t.host.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|_| format!("the host `{}` does not resolve", t.host))?
        .map(|a| a.ip())
        .collect();
    if addrs.is_empty() {
        return Err(format!("the host `{}` does not resolve", t.host));
    }
    if let Some(ip) = addrs.into_iter().find(|ip| is_internal(*ip)) {
        return Err(format!(
            "resolves to {ip}, an internal address that webhooks may not reach"
        ));
    }
    Ok(t)
}

/// Creates a delivery for every enabled subscription that should get the event: those of its
/// recipients (and of the national CSIRT, which sees every event) whose type filter matches,
/// or only `only` when given. Runs in the transaction that writes the event.
pub fn enqueue(
    conn: &mut DbConn,
    seq: i64,
    event_type: &str,
    recipients: &[String],
    only: Option<&str>,
) -> AppResult<()> {
    let mut q = webhooks::table
        .filter(webhooks::enabled.eq(true))
        .select((webhooks::id, webhooks::event_types))
        .into_boxed();
    match only {
        Some(id) => q = q.filter(webhooks::id.eq(id.to_string())),
        None if event_type.starts_with("webhook.") => {
            // About a subscription: only its own organisation hears of it.
            q = q.filter(webhooks::org_id.eq_any(recipients.to_vec()));
        }
        None => {
            let national = organisations::table
                .filter(organisations::kind.eq("national_csirt"))
                .select(organisations::id);
            q = q.filter(
                webhooks::org_id
                    .eq_any(recipients.to_vec())
                    .or(webhooks::org_id.eq_any(national)),
            );
        }
    }
    let subs: Vec<(String, String)> = q.load(conn)?;
    let now = db::now();
    for (id, types) in subs {
        let types: Vec<String> = serde_json::from_str(&types)?;
        if only.is_none() && !types.is_empty() && !types.iter().any(|t| t == event_type) {
            continue;
        }
        diesel::insert_into(webhook_deliveries::table)
            .values((
                webhook_deliveries::id.eq(db::new_id()),
                webhook_deliveries::webhook_id.eq(&id),
                webhook_deliveries::event_seq.eq(seq),
                webhook_deliveries::status.eq("pending"),
                webhook_deliveries::attempts.eq(0),
                webhook_deliveries::next_attempt_at.eq(now),
                webhook_deliveries::created_at.eq(now),
                webhook_deliveries::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Per subscription: seconds since its oldest undelivered event was queued.
pub fn backlog(conn: &mut DbConn) -> AppResult<Vec<(String, f64)>> {
    let rows: Vec<(String, Option<chrono::NaiveDateTime>)> = webhook_deliveries::table
        .filter(webhook_deliveries::status.eq("pending"))
        .group_by(webhook_deliveries::webhook_id)
        .select((
            webhook_deliveries::webhook_id,
            diesel::dsl::min(webhook_deliveries::created_at),
        ))
        .load(conn)?;
    let now = db::now();
    Ok(rows
        .into_iter()
        .filter_map(|(id, t)| t.map(|t| (id, (now - t).num_milliseconds() as f64 / 1000.0)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification.
    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(
            sig.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn internal_targets_are_refused_unless_allowed() {
        let allow = vec!["127.0.0.1:9000".to_string()];
        assert!(check_target("http://127.0.0.1:9000/hook", &allow).is_ok());
        assert!(check_target("http://127.0.0.1:9001/hook", &allow)
            .unwrap_err()
            .contains("https"));
        assert!(check_target("https://127.0.0.1/hook", &[])
            .unwrap_err()
            .contains("internal"));
        assert!(check_target("https://10.1.2.3/hook", &[])
            .unwrap_err()
            .contains("internal"));
        assert!(
            check_target("https://169.254.169.254/latest/meta-data", &[])
                .unwrap_err()
                .contains("internal")
        );
        assert!(check_target("https://[::1]/hook", &[])
            .unwrap_err()
            .contains("internal"));
        assert!(check_target("https://[fd00::1]/hook", &[])
            .unwrap_err()
            .contains("internal"));
        assert!(check_target("https://100.64.0.1/hook", &[])
            .unwrap_err()
            .contains("internal"));
        assert!(check_target("ftp://example.org/", &[]).is_err());
        assert!(
            check_target("https://93.184.215.14/hook", &[]).is_ok(),
            "a public address literal"
        );
    }
}
