//! Rate limits of `POST /oauth/token`, and who the client is behind a reverse proxy.
//!
//! Every token request costs an argon2 check, so requests are limited per client address and,
//! separately, per `client_id`: many addresses cannot guess one client's secret quickly, and
//! one client exhausting its limit does not lock out another. Behind a reverse proxy the TCP
//! peer is the proxy; `X-Forwarded-For` is believed only when the peer is one of
//! `NIS2HUB_TRUSTED_PROXIES`, and then the right-most address that is not a trusted proxy is
//! the client (addresses to its left were written by the client itself and prove nothing).
//! The limiters forget keys whose limit is back to full every minute (sooner when they track
//! many keys), so their memory stays bounded.

use actix_web::HttpRequest;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const PRUNE_EVERY: Duration = Duration::from_secs(60);
const PRUNE_ABOVE: usize = 10_000;

pub struct TokenLimits {
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    by_client: DefaultKeyedRateLimiter<String>,
    trusted: Vec<IpNet>,
    last_prune: Mutex<Instant>,
}

fn quota(per_minute: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN))
}

fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// The client's address: the TCP peer, or, when the peer is a trusted proxy, the right-most
/// address of `X-Forwarded-For` (all its headers, in order) that is not a trusted proxy. An
/// entry that is not an address ends the walk at the trusted hop before it.
pub fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: &[&str],
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut current = peer;
    for entry in forwarded_for
        .iter()
        .flat_map(|h| h.split(','))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        match parse_forwarded(entry) {
            Some(ip) => {
                current = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            None => break,
        }
    }
    Some(current)
}

impl TokenLimits {
    pub fn new(per_address: u32, per_client: u32, trusted: Vec<IpNet>) -> Self {
        Self {
            by_address: RateLimiter::keyed(quota(per_address)),
            by_client: RateLimiter::keyed(quota(per_client)),
            trusted,
            last_prune: Mutex::new(Instant::now()),
        }
    }

    /// The address of the client that sent the request (see [`client_address`]).
    pub fn address_of(&self, req: &HttpRequest) -> Option<IpAddr> {
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .collect();
        client_address(req.peer_addr().map(|a| a.ip()), &forwarded, &self.trusted)
    }

    /// One request from this address; `Err` holds the seconds to wait.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), u64> {
        self.maybe_prune();
        self.by_address.check_key(&ip).map_err(wait_seconds)
    }

    /// One request for this `client_id`; `Err` holds the seconds to wait.
    pub fn check_client(&self, client_id: &str) -> Result<(), u64> {
        self.by_client
            .check_key(&client_id.to_string())
            .map_err(wait_seconds)
    }

    /// Forgets every key whose limit is back to full and returns the memory.
    pub fn prune(&self) {
        self.by_address.retain_recent();
        self.by_address.shrink_to_fit();
        self.by_client.retain_recent();
        self.by_client.shrink_to_fit();
    }

    /// How many addresses and client ids the limiters hold.
    pub fn tracked(&self) -> usize {
        self.by_address.len() + self.by_client.len()
    }

    fn maybe_prune(&self) {
        let Ok(mut last) = self.last_prune.try_lock() else {
            return;
        };
        let due = last.elapsed() >= PRUNE_EVERY
            || (self.tracked() > PRUNE_ABOVE && last.elapsed() >= Duration::from_secs(1));
        if due {
            *last = Instant::now();
            self.prune();
        }
    }
}

fn wait_seconds(not_until: governor::NotUntil<governor::clock::QuantaInstant>) -> u64 {
    not_until
        .wait_time_from(DefaultClock::default().now())
        .as_secs()
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // Not from a trusted proxy: the header is the client's own claim, ignored.
        assert_eq!(
            client_address(Some(ip("198.51.100.7")), &["203.0.113.1"], &trusted),
            Some(ip("198.51.100.7"))
        );
        // From the proxy: the right-most untrusted address, whatever the client put left of it.
        assert_eq!(
            client_address(
                Some(ip("10.0.0.2")),
                &["1.1.1.1, 203.0.113.9", "10.0.0.5"],
                &trusted
            ),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), &["203.0.113.9:4711"], &trusted),
            Some(ip("203.0.113.9"))
        );
        // No header, or only proxies, or garbage behind the proxies: the last trusted hop.
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), &[], &trusted),
            Some(ip("10.0.0.2"))
        );
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), &["10.0.0.9"], &trusted),
            Some(ip("10.0.0.9"))
        );
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), &["garbage, 10.0.0.9"], &trusted),
            Some(ip("10.0.0.9"))
        );
        assert_eq!(client_address(None, &["203.0.113.9"], &trusted), None);
    }

    #[test]
    fn pruning_forgets_keys_whose_limit_is_full_again() {
        // 6000 a minute: a used cell is back after 10 ms.
        let limits = TokenLimits::new(6000, 6000, vec![]);
        for i in 0..200u32 {
            let addr = IpAddr::from(std::net::Ipv4Addr::from(0xC000_0200 + i));
            assert!(limits.check_address(addr).is_ok());
            assert!(limits.check_client(&format!("n2h_{i}")).is_ok());
        }
        assert_eq!(limits.tracked(), 400);
        std::thread::sleep(Duration::from_millis(50));
        limits.prune();
        assert_eq!(limits.tracked(), 0, "every key is back to a full limit");

        // A key still limited is kept: forgetting it would lift its limit.
        let strict = TokenLimits::new(1, 1, vec![]);
        assert!(strict.check_client("n2h_a").is_ok());
        assert!(strict.check_client("n2h_a").is_err());
        strict.prune();
        assert_eq!(strict.tracked(), 1);
        assert!(strict.check_client("n2h_a").is_err());
    }
}
