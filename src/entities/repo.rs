//! Queries of the register that other domains need: which registered entities have IP ranges
//! or domains that overlap given ones (advisories address those entities).
//!
//! Registered ranges are kept in `entity_networks` as fixed-width hex bounds (IPv4 as
//! IPv4-mapped IPv6, 32 hex digits): byte order is numeric order, on SQLite and on PostgreSQL
//! (`COLLATE "C"`). Two CIDR blocks overlap exactly when one contains the other's first
//! address, so an overlap with a block `[s, e]` is two indexed lookups: registered blocks that
//! start inside `[s, e]`, and registered blocks that contain `s` — which start at `s` masked
//! to some prefix length, a short list of exact values. Domains are kept with their labels
//! reversed (`example.nl` → `nl.example.`): a domain and its subdomains are one index range,
//! its parents a short list of exact values.

use crate::db::DbConn;
use crate::error::AppResult;
use crate::schema::{entities, entity_domains, entity_networks};
use diesel::prelude::*;
use ipnet::IpNet;
use std::net::IpAddr;

fn as_v6(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn hex(v: u128) -> String {
    format!("{v:032x}")
}

/// The first and last address of a block, as stored.
pub fn bounds(net: &IpNet) -> (u128, u128) {
    (as_v6(net.network()), as_v6(net.broadcast()))
}

/// `example.nl` → `nl.example.`
pub fn reversed(domain: &str) -> String {
    let mut out = String::with_capacity(domain.len().saturating_add(1));
    for label in domain.trim_end_matches('.').rsplit('.') {
        out.push_str(&label.to_ascii_lowercase());
        out.push('.');
    }
    out
}

/// Replaces the indexed ranges and domains of an entity; call in the transaction that writes
/// its registration.
pub fn index_networks(
    conn: &mut DbConn,
    entity_id: &str,
    ip_ranges: &[String],
    domains: &[String],
) -> AppResult<()> {
    diesel::delete(entity_networks::table.filter(entity_networks::entity_id.eq(entity_id)))
        .execute(conn)?;
    diesel::delete(entity_domains::table.filter(entity_domains::entity_id.eq(entity_id)))
        .execute(conn)?;
    let mut ranges: Vec<(u128, u128)> = ip_ranges
        .iter()
        .filter_map(|r| r.parse::<IpNet>().ok())
        .map(|n| bounds(&n))
        .collect();
    ranges.sort_unstable();
    ranges.dedup();
    for (start, end) in ranges {
        diesel::insert_into(entity_networks::table)
            .values((
                entity_networks::entity_id.eq(entity_id),
                entity_networks::range_start.eq(hex(start)),
                entity_networks::range_end.eq(hex(end)),
            ))
            .execute(conn)?;
    }
    let mut names: Vec<String> = domains.iter().map(|d| reversed(d)).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        diesel::insert_into(entity_domains::table)
            .values((
                entity_domains::entity_id.eq(entity_id),
                entity_domains::reversed.eq(name),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Indexes every entity's ranges and domains (once, when the index tables are created).
pub fn backfill(conn: &mut DbConn) -> AppResult<usize> {
    #[derive(serde::Deserialize)]
    struct Nets {
        #[serde(default)]
        ip_ranges: Vec<String>,
        #[serde(default)]
        domains: Vec<String>,
    }
    let rows: Vec<(String, String)> = entities::table
        .select((entities::id, entities::body))
        .load(conn)?;
    for (id, body) in &rows {
        let nets: Nets = serde_json::from_str(body)?;
        index_networks(conn, id, &nets.ip_ranges, &nets.domains)?;
    }
    Ok(rows.len())
}

/// The most bind parameters one overlap query uses (SQLite allows 32 766).
const PARAMS_PER_QUERY: usize = 20_000;

/// The most advisory ranges one overlap query tests: each adds two `OR` terms, and SQLite
/// refuses expression trees deeper than 1 000 ("Expression tree is too large"), which an
/// advisory of 10 000 ranges reached before this limit.
const RANGES_PER_QUERY: usize = 100;

/// Ids of the registered (not deregistered) entities with a registered range that overlaps
/// one of `nets` or a registered domain equal to, under, or above one of `domains`. Sorted.
pub fn overlapping(
    conn: &mut DbConn,
    nets: &[IpNet],
    domains: &[String],
) -> AppResult<Vec<String>> {
    let registered = entities::table
        .filter(entities::status.eq("registered"))
        .select(entities::id);
    let mut found: Vec<String> = vec![];
    // Each block: its bounds, and the starts of every block that could contain its first address.
    let mut pending: Vec<(String, String, Vec<String>)> = vec![];
    let mut params = 0usize;
    let flush = |conn: &mut DbConn,
                 pending: &mut Vec<(String, String, Vec<String>)>|
     -> AppResult<Vec<String>> {
        let mut q = entity_networks::table
            .select(entity_networks::entity_id)
            .filter(diesel::dsl::sql::<diesel::sql_types::Bool>("1 = 0"))
            .into_boxed();
        for (start, end, containing) in pending.drain(..) {
            q = q
                .or_filter(
                    entity_networks::range_start
                        .ge(start.clone())
                        .and(entity_networks::range_start.le(end)),
                )
                .or_filter(
                    entity_networks::range_start
                        .eq_any(containing)
                        .and(entity_networks::range_end.ge(start)),
                );
        }
        Ok(q.filter(entity_networks::entity_id.eq_any(registered))
            .distinct()
            .load(conn)?)
    };
    for net in nets {
        let (start, end) = bounds(net);
        let mut containing: Vec<u128> = (0..=128u32)
            .map(|len| start & u128::MAX.checked_shl(128 - len).unwrap_or(0))
            .collect();
        containing.sort_unstable();
        containing.dedup();
        params = params.saturating_add(containing.len().saturating_add(4));
        pending.push((
            hex(start),
            hex(end),
            containing.into_iter().map(hex).collect(),
        ));
        if params >= PARAMS_PER_QUERY || pending.len() >= RANGES_PER_QUERY {
            found.extend(flush(conn, &mut pending)?);
            params = 0;
        }
    }
    if !pending.is_empty() {
        found.extend(flush(conn, &mut pending)?);
    }
    for chunk in domains.chunks(500) {
        let mut q = entity_domains::table
            .select(entity_domains::entity_id)
            .filter(diesel::dsl::sql::<diesel::sql_types::Bool>("1 = 0"))
            .into_boxed();
        for domain in chunk {
            let rev = reversed(domain);
            // `.` sorts just before `/`: [rev, rev with its last `.` as `/`) is rev and below.
            let upper = format!("{}/", &rev[..rev.len().saturating_sub(1)]);
            let labels: Vec<&str> = rev.trim_end_matches('.').split('.').collect();
            let parents: Vec<String> = (1..labels.len())
                .map(|n| format!("{}.", labels[..n].join(".")))
                .collect();
            q = q
                .or_filter(
                    entity_domains::reversed
                        .ge(rev.clone())
                        .and(entity_domains::reversed.lt(upper)),
                )
                .or_filter(entity_domains::reversed.eq_any(parents));
        }
        let ids: Vec<String> = q
            .filter(entity_domains::entity_id.eq_any(registered))
            .distinct()
            .load(conn)?;
        found.extend(ids);
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// `(id, primary sector)` of the registered entities among `ids`.
pub fn registered_sectors(conn: &mut DbConn, ids: &[String]) -> AppResult<Vec<(String, String)>> {
    let mut out = vec![];
    for chunk in ids.chunks(1000) {
        let rows: Vec<(String, String)> = entities::table
            .filter(entities::id.eq_any(chunk))
            .filter(entities::status.eq("registered"))
            .select((entities::id, entities::sector))
            .load(conn)?;
        out.extend(rows);
    }
    Ok(out)
}

/// `(id, primary sector)` of the registered entities whose primary sector is one of `sectors`.
pub fn registered_in_sectors(
    conn: &mut DbConn,
    sectors: &[&str],
) -> AppResult<Vec<(String, String)>> {
    Ok(entities::table
        .filter(entities::sector.eq_any(sectors))
        .filter(entities::status.eq("registered"))
        .select((entities::id, entities::sector))
        .load(conn)?)
}

/// Every registered entity.
pub fn all_registered(conn: &mut DbConn) -> AppResult<Vec<String>> {
    Ok(entities::table
        .filter(entities::status.eq("registered"))
        .select(entities::id)
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_numeric_and_ipv4_is_mapped() {
        let n: IpNet = "192.0.2.0/24".parse().unwrap();
        let (s, e) = bounds(&n);
        assert_eq!(hex(s), "00000000000000000000ffffc0000200");
        assert_eq!(hex(e), "00000000000000000000ffffc00002ff");
        let n: IpNet = "2001:db8::/32".parse().unwrap();
        assert_eq!(hex(bounds(&n).0), "20010db8000000000000000000000000");
        assert!(hex(bounds(&n).0) > hex(e), "hex order is numeric order");
    }

    #[test]
    fn reversed_domains_put_subdomains_in_one_range() {
        assert_eq!(reversed("Example.NL"), "nl.example.");
        assert_eq!(reversed("www.example.nl."), "nl.example.www.");
        let rev = reversed("example.nl");
        let upper = format!("{}/", &rev[..rev.len() - 1]);
        assert!(reversed("www.example.nl") >= rev && reversed("www.example.nl") < upper);
        assert!(!(reversed("example.nl.evil") < upper && reversed("example.nl.evil") >= rev));
        assert!(!(reversed("badexample.nl") >= rev && reversed("badexample.nl") < upper));
    }
}
