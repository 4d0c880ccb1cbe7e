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
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

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

/// Whether a webhook may reach `ip` without its host being allowed: only globally reachable
/// unicast addresses. Everything else is refused, including every IPv6 form that carries an
/// IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`), which
/// is judged by the IPv4 address inside it.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

/// The opposite of [`is_global`]: an address a webhook may not reach unless its host is allowed.
pub fn is_internal(ip: IpAddr) -> bool {
    !is_global(ip)
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = a == 0 // "this network", 0.0.0.0/8
        || a == 10 // private
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier-grade NAT)
        || a == 127 // loopback
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments, 192.0.0.0/24
        || (a == 192 && b == 0 && c == 2) // documentation (TEST-NET-1)
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast (deprecated)
        || (a == 192 && b == 168) // private
        || (a == 198 && (b & 0xfe) == 18) // benchmarking, 198.18.0.0/15
        || (a == 198 && b == 51 && c == 100) // documentation (TEST-NET-2)
        || (a == 203 && b == 0 && c == 113) // documentation (TEST-NET-3)
        || a >= 224; // multicast 224.0.0.0/4, reserved 240.0.0.0/4, broadcast
    !special
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let o = ip.octets();
    let v4_at = |i: usize| Ipv4Addr::new(o[i], o[i + 1], o[i + 2], o[i + 3]);
    if s[..6] == [0, 0, 0, 0, 0, 0xffff] {
        return is_global_v4(v4_at(12)); // IPv4-mapped
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_global_v4(v4_at(12)); // NAT64 well-known prefix
    }
    if s[0] == 0x2002 {
        return is_global_v4(v4_at(2)); // 6to4
    }
    // Global unicast is 2000::/3. Outside it: unspecified, loopback, the deprecated
    // IPv4-compatible ::a.b.c.d, local-use NAT64 64:ff9b:1::/48, discard 100::/64, SRv6
    // 5f00::/16, unique local fc00::/7, link-local fe80::/10, site-local fec0::/10, multicast.
    if s[0] & 0xe000 != 0x2000 {
        return false;
    }
    // 2001::/23 IETF protocol assignments (Teredo, ...) and 2001:db8::/32 documentation;
    // 3fff::/20 documentation.
    let special =
        (s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8)) || (s[0] == 0x3fff && s[1] < 0x1000);
    !special
}

/// Name lookup for webhook targets; a seam so tests can answer differently on each call.
pub trait Lookup: std::fmt::Debug + Send + Sync + 'static {
    fn lookup(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>>;
}

/// The system's resolver.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        Ok((host, port).to_socket_addrs()?.collect())
    }
}

/// The parts of a target URL that matter for the guard.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub https: bool,
    pub host: String,
    pub port: u16,
}

impl Target {
    /// Whether the operator allows this host (`NIS2HUB_WEBHOOK_ALLOW_HOSTS`, `host` or
    /// `host:port`): it may then be reached over plain http and on any address.
    pub fn allowed(&self, allow: &[String]) -> bool {
        allow
            .iter()
            .any(|a| *a == self.host || *a == format!("{}:{}", self.host, self.port))
    }
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

/// Checks what can be checked without a lookup: length, scheme, and plain http only for
/// allowed hosts.
pub fn check_url(url: &str, allow: &[String]) -> Result<Target, String> {
    if url.len() > 2000 {
        return Err("is longer than 2000 characters".into());
    }
    let t = parse_target(url)?;
    if !t.https && !t.allowed(allow) {
        return Err("must use https:// (plain http is only for hosts the operator allows)".into());
    }
    Ok(t)
}

/// Looks the host up once and checks every address it resolves to: one address that is not
/// global refuses the target (unless the host is allowed). The caller connects only to the
/// addresses returned, so a second lookup (DNS rebinding) never decides where a request goes.
pub fn resolve_checked(
    t: &Target,
    allow: &[String],
    lookup: &dyn Lookup,
) -> Result<Vec<SocketAddr>, String> {
    let addrs = lookup
        .lookup(&t.host, t.port)
        .map_err(|_| format!("the host `{}` does not resolve", t.host))?;
    if addrs.is_empty() {
        return Err(format!("the host `{}` does not resolve", t.host));
    }
    if !t.allowed(allow) {
        if let Some(a) = addrs.iter().find(|a| is_internal(a.ip())) {
            return Err(format!(
                "resolves to {}, an internal or non-global address that webhooks may not reach",
                a.ip()
            ));
        }
    }
    Ok(addrs)
}

/// Refuses plain http and non-global addresses unless the host is allowed
/// (`NIS2HUB_WEBHOOK_ALLOW_HOSTS`, `host` or `host:port`). Used when a subscription is
/// written; every delivery checks again, on the addresses it connects to.
pub fn check_target(url: &str, allow: &[String]) -> Result<Target, String> {
    check_target_with(url, allow, &SystemLookup)
}

/// [`check_target`] with the given resolver. The lookup may take as long as the resolver
/// does (seconds, on a slow or unreachable DNS server), so callers run it on a blocking
/// thread and never inside a database transaction: on SQLite an open write transaction holds
/// every other writer of the service.
pub fn check_target_with(
    url: &str,
    allow: &[String],
    lookup: &dyn Lookup,
) -> Result<Target, String> {
    let t = check_url(url, allow)?;
    if !t.allowed(allow) {
        resolve_checked(&t, allow, lookup)?;
    }
    Ok(t)
}

/// The HTTP client's resolver: one lookup through [`resolve_checked`], and the client connects
/// to exactly the addresses that passed (the URL's host still goes in `Host` and TLS SNI).
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    pub allow: Vec<String>,
    pub lookup: std::sync::Arc<dyn Lookup>,
}

impl ureq::unversioned::resolver::Resolver for GuardedResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let target = parse_target(&uri.to_string()).map_err(ureq::Error::BadUri)?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let (allow, lookup, t) = (self.allow.clone(), self.lookup.clone(), target.clone());
        // The system resolver blocks; bound it by the request's timeout.
        std::thread::spawn(move || tx.send(resolve_checked(&t, &allow, &*lookup)).ok());
        let checked = match rx.recv_timeout(*timeout.after) {
            Ok(r) => r,
            Err(_) => return Err(ureq::Error::Timeout(timeout.reason)),
        };
        let addrs = checked.map_err(|e| {
            ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("target refused: {e}"),
            ))
        })?;
        let mut out = self.empty();
        for a in addrs.into_iter().take(16) {
            out.push(a);
        }
        Ok(out)
    }
}

/// An event just written, to be queued for the webhooks that should get it.
pub struct Enqueued<'a> {
    pub seq: i64,
    pub event_type: &'a str,
    pub recipients: Vec<String>,
    /// Only this subscription (a test ping).
    pub only: Option<&'a str>,
    /// Whether the national CSIRT's subscriptions get it unaddressed
    /// ([`crate::outbox::in_national_view`]).
    pub national_view: bool,
}

/// Creates a delivery for every enabled subscription that should get each event: those of its
/// recipients (and of the national CSIRT, for the events of its national view) whose type
/// filter matches, or only `only` when given; an event about a subscription goes to its own organisation's
/// subscriptions only. One look-up of the subscriptions for all the events and one INSERT.
/// Runs in the transaction that writes the events.
pub fn enqueue(conn: &mut DbConn, events: &[Enqueued]) -> AppResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut orgs: Vec<&str> = events
        .iter()
        .flat_map(|e| e.recipients.iter().map(String::as_str))
        .collect();
    orgs.sort_unstable();
    orgs.dedup();
    let only: Vec<&str> = events.iter().filter_map(|e| e.only).collect();
    // The national CSIRT's organisations, as a subquery: its subscriptions see the events of
    // its national view (`Enqueued::national_view`).
    let national = organisations::table
        .filter(organisations::kind.eq("national_csirt"))
        .select(organisations::id);
    // A superset of who gets what; the loop below decides per event.
    let q = webhooks::table
        .filter(webhooks::enabled.eq(true))
        .filter(
            webhooks::org_id
                .eq_any(orgs)
                .or(webhooks::org_id.eq_any(national))
                .or(webhooks::id.eq_any(only)),
        )
        .select((
            webhooks::id,
            webhooks::org_id,
            webhooks::event_types,
            webhooks::org_id.eq_any(national),
        ));
    let subs: Vec<(String, String, String, bool)> = q.load(conn)?;
    let subs: Vec<(String, String, Vec<String>, bool)> = subs
        .into_iter()
        .map(|(id, org, types, national)| Ok((id, org, serde_json::from_str(&types)?, national)))
        .collect::<AppResult<_>>()?;
    let now = db::now();
    let mut rows = vec![];
    for e in events {
        for (id, org, types, national) in &subs {
            let wanted = match e.only {
                Some(only) => id == only,
                None => {
                    let addressed = e.recipients.contains(org);
                    let audience = if e.event_type.starts_with("webhook.") {
                        addressed
                    } else {
                        addressed || (*national && e.national_view)
                    };
                    audience && (types.is_empty() || types.iter().any(|t| t == e.event_type))
                }
            };
            if wanted {
                rows.push((
                    webhook_deliveries::id.eq(db::new_id()),
                    webhook_deliveries::webhook_id.eq(id.clone()),
                    webhook_deliveries::event_seq.eq(e.seq),
                    webhook_deliveries::status.eq("pending"),
                    webhook_deliveries::attempts.eq(0),
                    webhook_deliveries::next_attempt_at.eq(now),
                    webhook_deliveries::created_at.eq(now),
                    webhook_deliveries::updated_at.eq(now),
                    webhook_deliveries::org_id.eq(org.clone()),
                ));
            }
        }
    }
    crate::insert_rows!(conn, webhook_deliveries::table, rows, 9);
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

    /// Every address class a webhook may not reach, and some that it may.
    #[test]
    fn only_global_unicast_addresses_pass() {
        let refused = [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.255.255",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.1",
            "192.0.0.8",
            "192.0.0.170",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::8.8.8.8",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::c000:201",
            "64:ff9b:1::808:808",
            "2002:7f00:1::1",
            "2002:a00:1::",
            "2002:c0a8:101::1",
            "100::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "feff::1",
            "ff02::1",
            "ff0e::1",
        ];
        for a in refused {
            let ip: IpAddr = a.parse().unwrap();
            assert!(!is_global(ip) && is_internal(ip), "{a} must be refused");
        }
        let allowed = [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.254",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:200::1",
            "2001:4860:4860::8888",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "3ffe::1",
        ];
        for a in allowed {
            let ip: IpAddr = a.parse().unwrap();
            assert!(is_global(ip) && !is_internal(ip), "{a} is global");
        }
    }

    /// A lookup that answers what it is given, in turn, and counts its calls.
    #[derive(Debug)]
    struct Scripted(std::sync::Mutex<Vec<Vec<SocketAddr>>>);

    impl Lookup for Scripted {
        fn lookup(&self, _: &str, _: u16) -> std::io::Result<Vec<SocketAddr>> {
            Ok(self.0.lock().unwrap().remove(0))
        }
    }

    #[test]
    fn one_non_global_address_among_the_answers_refuses_the_target() {
        let t = parse_target("https://hooks.example.org/x").unwrap();
        let mixed = Scripted(std::sync::Mutex::new(vec![vec![
            "93.184.215.14:443".parse().unwrap(),
            "[::ffff:127.0.0.1]:443".parse().unwrap(),
        ]]));
        assert!(resolve_checked(&t, &[], &mixed)
            .unwrap_err()
            .contains("127.0.0.1"));
        let allow = vec!["hooks.example.org".to_string()];
        let internal = Scripted(std::sync::Mutex::new(vec![vec!["10.0.0.7:443"
            .parse()
            .unwrap()]]));
        assert_eq!(
            resolve_checked(&t, &allow, &internal).unwrap(),
            vec!["10.0.0.7:443".parse::<SocketAddr>().unwrap()],
            "an allowed host may resolve to an internal address"
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
        for url in [
            "https://[64:ff9b::7f00:1]/hook",
            "https://[2002:7f00:1::1]/hook",
            "https://[::127.0.0.1]/hook",
            "https://[::ffff:169.254.169.254]/hook",
            "https://[fec0::1]/hook",
            "https://192.0.0.8/hook",
            "https://198.18.0.1/hook",
            "https://240.0.0.1/hook",
        ] {
            assert!(
                check_target(url, &[]).unwrap_err().contains("internal"),
                "{url}"
            );
        }
        assert!(check_target("ftp://example.org/", &[]).is_err());
        assert!(
            check_target("https://93.184.215.14/hook", &[]).is_ok(),
            "a public address literal"
        );
    }
}
