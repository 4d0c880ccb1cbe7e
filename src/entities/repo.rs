//! Queries of the register that other domains need: which registered entities have IP ranges
//! or domains that overlap given ones (advisories address those entities), and the lock an
//! incident report takes on its entity.
//!
//! Registered ranges are kept in `entity_networks` as fixed-width hex bounds (IPv4 as
//! IPv4-mapped IPv6, 32 hex digits): byte order is numeric order, on SQLite and on PostgreSQL
//! (`COLLATE "C"`). Two CIDR blocks overlap exactly when one contains the other's first
//! address, so an overlap with a block `[s, e]` is indexed lookups only: registered blocks that
//! start inside `[s, e]`, and registered blocks that contain `s` — which are `s` masked to one
//! of the few prefix lengths in use. Domains are kept with their labels
//! reversed (`example.nl` → `nl.example.`): a domain and its subdomains are one index range,
//! its parents a short list of exact values.

use crate::db::{self, DbConn};
use crate::error::AppResult;
use crate::schema::{entities, entity_domains, entity_networks};
use diesel::prelude::*;
use ipnet::IpNet;
use std::net::IpAddr;

/// Locks the entity's row until the transaction ends (PostgreSQL; a SQLite write transaction
/// holds the whole database already), so that its incident reports and its updates take turns:
/// each report then reads what the one before it stored. `FOR NO KEY UPDATE` does not stop
/// rows that only refer to the entity (an incident's foreign key) from being written.
///
/// Row locks come before the write lock in every transaction that takes both, so the two
/// cannot deadlock: the entity's own updates also change its row before they take the write
/// lock for their event and audit record.
pub fn lock_row(conn: &mut DbConn, id: &str) -> AppResult<()> {
    if let DbConn::Pg(c) = conn {
        entities::table
            .find(id)
            .select(entities::id)
            .for_no_key_update()
            .first::<String>(c)
            .optional()?;
    }
    Ok(())
}

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
    let rows: Vec<_> = ranges
        .into_iter()
        .map(|(start, end)| {
            (
                entity_networks::entity_id.eq(entity_id),
                entity_networks::range_start.eq(hex(start)),
                entity_networks::range_end.eq(hex(end)),
                entity_networks::prefix_len.eq(i32::try_from(prefix_len(start, end)).unwrap_or(0)),
            )
        })
        .collect();
    crate::insert_rows!(conn, entity_networks::table, rows, 4);
    let mut names: Vec<String> = domains.iter().map(|d| reversed(d)).collect();
    names.sort_unstable();
    names.dedup();
    let rows: Vec<_> = names
        .into_iter()
        .map(|name| {
            (
                entity_domains::entity_id.eq(entity_id),
                entity_domains::reversed.eq(name),
            )
        })
        .collect();
    crate::insert_rows!(conn, entity_domains::table, rows, 2);
    Ok(())
}

/// Fills the index of registered ranges and domains from the entities registered before it
/// existed; once, marked in `counters`. Run at start, after the migrations.
pub fn index_entity_networks(conn: &mut DbConn) -> AppResult<()> {
    use crate::schema::counters;
    const MARK: &str = "entity_networks_indexed";
    db::write_tx(conn, |conn| {
        db::lock_writes(conn)?;
        if db::counter(conn, MARK)?.is_none() {
            backfill(conn)?;
            diesel::insert_into(counters::table)
                .values((counters::name.eq(MARK), counters::value.eq(1)))
                .execute(conn)?;
        }
        Ok(())
    })
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

/// Prefix length of a CIDR block from its bounds (IPv4 as IPv4-mapped IPv6: /24 is 120).
fn prefix_len(start: u128, end: u128) -> u32 {
    (start ^ end).leading_zeros()
}

/// The blocks as sorted disjoint bounds: CIDR blocks nest or are disjoint, so a block inside an
/// earlier one adds nothing to an overlap.
fn disjoint(nets: &[IpNet]) -> Vec<(u128, u128)> {
    let mut blocks: Vec<(u128, u128)> = nets.iter().map(bounds).collect();
    blocks.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(blocks.len());
    for (start, end) in blocks {
        if out.last().is_some_and(|&(_, last_end)| start <= last_end) {
            continue;
        }
        out.push((start, end));
    }
    out
}

/// Registered entities with a block whose bounds satisfy `join` against one of `pairs`, a JSON
/// array of `[a, b]` hex pairs joined with one indexed lookup each. One statement whatever the
/// number of pairs: the pairs travel as one JSON parameter (SQLite's `json_each`,
/// PostgreSQL's `json_array_elements`), so no bind-parameter or expression-depth limit applies.
fn registered_with_blocks(
    conn: &mut DbConn,
    pairs: &[(String, String)],
    join: &str,
) -> AppResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        entity_id: String,
    }
    if pairs.is_empty() {
        return Ok(vec![]);
    }
    let json = serde_json::to_string(pairs)?;
    // `CROSS JOIN` is SQLite's way of fixing the join order: the pairs outside, each an index
    // lookup in `entity_networks` (left to itself, SQLite may scan the register and test every
    // pair per row). PostgreSQL plans the order itself from its statistics.
    let sql = |from: &str, join_kw: &str, a: &str, b: &str| {
        format!(
            "SELECT DISTINCT n.entity_id FROM {from} AS p \
             {join_kw} entity_networks n ON {} \
             {join_kw} entities e ON e.id = n.entity_id AND e.status = 'registered'",
            join.replace("{a}", a).replace("{b}", b)
        )
    };
    let rows: Vec<Row> = match conn {
        DbConn::Pg(c) => diesel::sql_query(sql(
            "json_array_elements($1::json)",
            "JOIN",
            "(p.value->>0)",
            "(p.value->>1)",
        ))
        .bind::<diesel::sql_types::Text, _>(json)
        .load(c)?,
        DbConn::Sqlite(c) => diesel::sql_query(sql(
            "json_each(?)",
            "CROSS JOIN",
            "json_extract(p.value, '$[0]')",
            "json_extract(p.value, '$[1]')",
        ))
        .bind::<diesel::sql_types::Text, _>(json)
        .load(c)?,
    };
    Ok(rows.into_iter().map(|r| r.entity_id).collect())
}

/// Ids of the registered (not deregistered) entities with a registered range that overlaps
/// one of `nets` or a registered domain equal to, under, or above one of `domains`. Sorted.
///
/// Two CIDR blocks overlap exactly when one contains the other's first address. Registered
/// blocks that start inside an advisory block are one index range each. A registered block
/// that contains an advisory block's first address `s` and starts before it is, for its
/// prefix length `l`, exactly the block `s` masked to `l`: one exact index lookup per prefix
/// length in use in the register (a handful), never a scan. Both run as one statement each.
pub fn overlapping(
    conn: &mut DbConn,
    nets: &[IpNet],
    domains: &[String],
) -> AppResult<Vec<String>> {
    let registered = entities::table
        .filter(entities::status.eq("registered"))
        .select(entities::id);
    let mut found: Vec<String> = vec![];
    let blocks = disjoint(nets);
    if !blocks.is_empty() {
        let inside: Vec<(String, String)> = blocks.iter().map(|&(s, e)| (hex(s), hex(e))).collect();
        found.extend(registered_with_blocks(
            conn,
            &inside,
            "n.range_start >= {a} AND n.range_start <= {b}",
        )?);
        let lengths: Vec<i32> = entity_networks::table
            .select(entity_networks::prefix_len)
            .distinct()
            .load(conn)?;
        let mut containing: Vec<(u128, u128)> = vec![];
        for &(start, end) in &blocks {
            let own = prefix_len(start, end);
            for &len in &lengths {
                let Ok(len) = u32::try_from(len) else {
                    continue;
                };
                if len >= own {
                    continue; // such a block starting at or after `start` is found above
                }
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                containing.push((start & mask, (start & mask) | !mask));
            }
        }
        containing.sort_unstable();
        containing.dedup();
        let containing: Vec<(String, String)> = containing
            .into_iter()
            .map(|(s, e)| (hex(s), hex(e)))
            .collect();
        found.extend(registered_with_blocks(
            conn,
            &containing,
            "n.range_start = {a} AND n.range_end = {b}",
        )?);
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
