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

/// The public intake's limit per client address.
pub struct IntakeLimit {
    by_address: DefaultKeyedRateLimiter<IpAddr>,
}

impl IntakeLimit {
    pub fn new(per_minute: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
        Self {
            by_address: RateLimiter::keyed(quota),
        }
    }

    /// One report from this address; `Err` holds the seconds to wait. Keys whose limit is
    /// full again are forgotten now and then, so memory stays bounded.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        use governor::clock::{Clock, DefaultClock};
        if self.by_address.len() > 10_000 {
            self.by_address.retain_recent();
        }
        self.by_address.check_key(&ip).map_err(|not_until| {
            not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1)
        })
    }
}
