//! Matching an advisory's ranges against the register: 10 000 ranges in one advisory against
//! 100 000 registered entities, each with a /28 and a domain, plus a few wide blocks (a /8 and
//! a /16) so that "a registered block contains the advisory's" is exercised too. Seeded
//! straight into the index tables (`entity_networks`, `entity_domains`).
//!
//! `cargo bench --bench advisory_match` runs it on a SQLite file; with
//! `BENCH_DATABASE_URL=postgres://...` also on PostgreSQL (in a schema of its own, dropped
//! afterwards). The figures are recorded in `docs/BENCHMARKS.md`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use diesel::{Connection, RunQueryDsl};
use ipnet::IpNet;
use nis2hub::config::DatabaseUrl;
use nis2hub::db;
use nis2hub::entities::repo;
use std::net::Ipv4Addr;

const ENTITIES: u32 = 100_000;
const RANGES: u32 = 10_000;

fn hex(v: u128) -> String {
    format!("{v:032x}")
}

/// Entity `i` holds 10.0.0.0 + 16·i /28 and `e{i}.example`; entities `wide-8` and `wide-16`
/// hold 10.0.0.0/8 and 10.0.0.0/16. Multi-row `INSERT`s, as the multi-backend connection has
/// no batch insert.
fn seed(conn: &mut db::DbConn) {
    let now = chrono::Utc::now()
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let entity = |id: &str, name: &str| {
        format!(
            "('{id}', '{name}', '{name}', '{id}', 'FD', 'energy', 'important', 'registered', '{{}}', 1, '{now}', '{now}')"
        )
    };
    let network = |id: &str, cidr: &str| {
        let net: IpNet = cidr.parse().unwrap();
        let (start, end) = repo::bounds(&net);
        let len = if net.addr().is_ipv4() { 96 } else { 0 } + u32::from(net.prefix_len());
        format!("('{id}', '{}', '{}', {len})", hex(start), hex(end))
    };
    db::write_tx(conn, |conn| {
        let mut batches: Vec<(Vec<String>, Vec<String>, Vec<String>)> = vec![(
            vec![entity("wide-8", "Wide 8"), entity("wide-16", "Wide 16")],
            vec![
                network("wide-8", "10.0.0.0/8"),
                network("wide-16", "10.0.0.0/16"),
            ],
            vec![],
        )];
        for chunk in (0..ENTITIES).collect::<Vec<_>>().chunks(500) {
            let mut batch = (vec![], vec![], vec![]);
            for i in chunk {
                let id = format!("ent-{i:06}");
                batch.0.push(entity(&id, &format!("Entity {i}")));
                let addr = u32::from(Ipv4Addr::new(10, 0, 0, 0)) + i * 16;
                batch
                    .1
                    .push(network(&id, &format!("{}/28", Ipv4Addr::from(addr))));
                batch.2.push(format!(
                    "('{id}', '{}')",
                    repo::reversed(&format!("e{i}.example"))
                ));
            }
            batches.push(batch);
        }
        for (ents, nets, doms) in batches {
            diesel::sql_query(format!(
                "INSERT INTO entities (id, name, name_folded, identifier, country, sector, category, status, body, version, created_at, updated_at) VALUES {}",
                ents.join(",")
            ))
            .execute(conn)?;
            diesel::sql_query(format!(
                "INSERT INTO entity_networks (entity_id, range_start, range_end, prefix_len) VALUES {}",
                nets.join(",")
            ))
            .execute(conn)?;
            if !doms.is_empty() {
                diesel::sql_query(format!(
                    "INSERT INTO entity_domains (entity_id, reversed) VALUES {}",
                    doms.join(",")
                ))
                .execute(conn)?;
            }
        }
        Ok(())
    })
    .expect("seed");
    if let db::DbConn::Pg(c) = conn {
        diesel::sql_query("ANALYZE").execute(c).expect("analyze");
    }
}

fn run(c: &mut Criterion, name: &str, url: DatabaseUrl) {
    let pool = db::connect(&url, 1).expect("connect");
    let mut conn = pool.get().unwrap();
    db::migrate(&mut conn).expect("migrate");
    let t = std::time::Instant::now();
    seed(&mut conn);
    eprintln!("{name}: seeded {ENTITIES} entities in {:?}", t.elapsed());
    // Host addresses inside every tenth entity's block: 10 000 /28s match, and both wide blocks.
    let nets: Vec<IpNet> = (0..RANGES)
        .map(|k| {
            let addr = u32::from(Ipv4Addr::new(10, 0, 0, 0)) + k * 160 + 3;
            format!("{}/32", Ipv4Addr::from(addr)).parse().unwrap()
        })
        .collect();
    let t = std::time::Instant::now();
    let found = repo::overlapping(&mut conn, &nets, &[]).unwrap();
    eprintln!("{name}: first match of {RANGES} ranges: {:?}", t.elapsed());
    assert_eq!(found.len(), RANGES as usize + 2);
    let mut group = c.benchmark_group("advisory_match");
    group.sample_size(10);
    group.bench_function(format!("10k_ranges_vs_100k_entities_{name}"), |b| {
        b.iter(|| repo::overlapping(&mut conn, black_box(&nets), &[]).unwrap())
    });
    group.finish();
}

fn matching(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = DatabaseUrl::Sqlite(dir.path().join("bench.db").to_str().unwrap().into());
    run(c, "sqlite", sqlite);
    if let Ok(base) = std::env::var("BENCH_DATABASE_URL") {
        let schema = format!("bench_match_{}", std::process::id());
        let mut admin = diesel::PgConnection::establish(&base).expect("BENCH_DATABASE_URL");
        diesel::sql_query(format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
        run(c, "postgres", DatabaseUrl::Postgres(url));
        diesel::sql_query(format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut admin)
            .unwrap();
    }
}

criterion_group!(benches, matching);
criterion_main!(benches);
