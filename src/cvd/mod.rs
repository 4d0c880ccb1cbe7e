//! Coordinated vulnerability disclosure (NIS2 Art. 12): the national CSIRT (or a sectoral
//! CSIRT it assigns) coordinates cases reported by anyone, anonymously if the finder wants,
//! with the vendors, and with other member states' CSIRTs.

pub mod access;
pub mod intake;
pub mod lifecycle;
pub mod messages;
pub mod model;
pub mod publish;
pub mod routes;
pub mod service;
pub mod sweep;
pub mod vendors;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

/// Requests a case or vendor token may make, per minute (a burst of as many, then one a
/// second): a finder's or vendor's page polling every few seconds stays well within it.
pub const TOKEN_REQUESTS_PER_MINUTE: u32 = 60;
/// Messages a case's finder and vendors may post to it together, per minute.
pub const PARTICIPANT_MESSAGES_PER_CASE_PER_MINUTE: u32 = 10;
/// A token holder's reads of a case are audited once per this interval and token: enough to
/// show who followed the case when, without letting reads grow the audit log without bound.
pub const READ_AUDIT_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// Anonymous reports the service takes per minute from all addresses together, counted in
/// the database, so the cap holds across instances.
pub const GLOBAL_ANONYMOUS_REPORTS_PER_MINUTE: i64 = 60;

/// The CVD limits of this instance: the public intake per client address (an IPv6 address
/// counts by its /64, the block one subscriber usually holds), requests per case or vendor
/// token, participants' messages per case, and the read audit interval per token. They are
/// kept in memory, per instance; the global intake cap and the per-case message caps are kept
/// in the database and hold across instances.
pub struct IntakeLimit {
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    by_token: DefaultKeyedRateLimiter<String>,
    case_messages: DefaultKeyedRateLimiter<String>,
    read_audits: DefaultKeyedRateLimiter<String>,
}

/// The key an address is limited under: an IPv4 address (also written IPv4-mapped) as it is,
/// an IPv6 address by its /64.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

fn wait(not_until: governor::NotUntil<governor::clock::QuantaInstant>) -> u64 {
    use governor::clock::{Clock, DefaultClock};
    not_until
        .wait_time_from(DefaultClock::default().now())
        .as_secs()
        .max(1)
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl IntakeLimit {
    pub fn new(per_minute_per_address: u32) -> Self {
        let read_audit = Quota::with_period(READ_AUDIT_INTERVAL)
            .unwrap_or_else(|| Quota::per_hour(NonZeroU32::MIN));
        Self {
            by_address: RateLimiter::keyed(per_minute(per_minute_per_address)),
            by_token: RateLimiter::keyed(per_minute(TOKEN_REQUESTS_PER_MINUTE)),
            case_messages: RateLimiter::keyed(per_minute(PARTICIPANT_MESSAGES_PER_CASE_PER_MINUTE)),
            read_audits: RateLimiter::keyed(read_audit),
        }
    }

    /// One report from this address; `Err` holds the seconds to wait. Keys whose limit is
    /// full again are forgotten now and then, so memory stays bounded.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        if self.by_address.len() > 10_000 {
            self.by_address.retain_recent();
        }
        self.by_address.check_key(&address_key(ip)).map_err(wait)
    }

    /// One request with a case or vendor token (`key` names the token's case or vendor
    /// entry); `Err` holds the seconds to wait.
    pub fn token_request(&self, key: &str) -> Result<(), u64> {
        if self.by_token.len() > 10_000 {
            self.by_token.retain_recent();
        }
        self.by_token.check_key(&key.to_string()).map_err(wait)
    }

    /// One message by a finder or vendor on case `case_id`; `Err` holds the seconds to wait.
    pub fn participant_message(&self, case_id: &str) -> Result<(), u64> {
        if self.case_messages.len() > 10_000 {
            self.case_messages.retain_recent();
        }
        self.case_messages
            .check_key(&case_id.to_string())
            .map_err(wait)
    }

    /// Whether a read through this token (`key`) is to be audited: the first of each
    /// [`READ_AUDIT_INTERVAL`].
    pub fn read_audit_due(&self, key: &str) -> bool {
        if self.read_audits.len() > 10_000 {
            self.read_audits.retain_recent();
        }
        self.read_audits.check_key(&key.to_string()).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
    }
}
