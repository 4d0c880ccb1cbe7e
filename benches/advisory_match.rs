//! Matching an advisory's ranges against the register: 10 000 ranges in one advisory against
//! 100 000 registered entities, each with a /28 and a domain, seeded straight into the index
//! tables (`entity_networks`, `entity_domains`) of a SQLite database.
//!
//! Run with `cargo bench --bench advisory_match`; the figure is recorded in
//! `docs/BENCHMARKS.md`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use diesel::RunQueryDsl;
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

/// Entity `i` holds 10.0.0.0 + 16·i /28 and `e{i}.example`. Multi-row `INSERT`s, as the
/// multi-backend connection has no batch insert.
fn seed(conn: &mut db::DbConn) {
    let now = chrono::Utc::now()
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    db::write_tx(conn, |conn| {
        for chunk in (0..ENTITIES).collect::<Vec<_>>().chunks(500) {
            let mut ents = vec![];
            let mut nets = vec![];
            let mut doms = vec![];
            for i in chunk {
                let id = format!("ent-{i:06}");
                ents.push(format!(
                    "('{id}', 'Entity {i}', 'entity {i}', 'BENCH-{i:06}', 'FD', 'energy', 'important', 'registered', '{{}}', 1, '{now}', '{now}')"
                ));
                let addr = u32::from(Ipv4Addr::new(10, 0, 0, 0)) + i * 16;
                let net: IpNet = format!("{}/28", Ipv4Addr::from(addr)).parse().unwrap();
                let (start, end) = repo::bounds(&net);
                nets.push(format!("('{id}', '{}', '{}')", hex(start), hex(end)));
                doms.push(format!("('{id}', '{}')", repo::reversed(&format!("e{i}.example"))));
            }
            diesel::sql_query(format!(
                "INSERT INTO entities (id, name, name_folded, identifier, country, sector, category, status, body, version, created_at, updated_at) VALUES {}",
                ents.join(",")
            ))
            .execute(conn)?;
            diesel::sql_query(format!(
                "INSERT INTO entity_networks (entity_id, range_start, range_end) VALUES {}",
                nets.join(",")
            ))
            .execute(conn)?;
            diesel::sql_query(format!(
                "INSERT INTO entity_domains (entity_id, reversed) VALUES {}",
                doms.join(",")
            ))
            .execute(conn)?;
        }
        Ok(())
    })
    .expect("seed");
}

fn matching(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::Sqlite(dir.path().join("bench.db").to_str().unwrap().into());
    let pool = db::connect(&url, 1).expect("connect");
    let mut conn = pool.get().unwrap();
    db::migrate(&mut conn).expect("migrate");
    let t = std::time::Instant::now();
    seed(&mut conn);
    eprintln!("seeded {ENTITIES} entities in {:?}", t.elapsed());
    // Host addresses inside every tenth entity's block: 10 000 matches.
    let nets: Vec<IpNet> = (0..RANGES)
        .map(|k| {
            let addr = u32::from(Ipv4Addr::new(10, 0, 0, 0)) + k * 160 + 3;
            format!("{}/32", Ipv4Addr::from(addr)).parse().unwrap()
        })
        .collect();
    let t = std::time::Instant::now();
    let found = repo::overlapping(&mut conn, &nets, &[]).unwrap();
    eprintln!("first match of {RANGES} ranges: {:?}", t.elapsed());
    assert_eq!(found.len(), RANGES as usize);
    let mut group = c.benchmark_group("advisory_match");
    group.sample_size(10);
    group.bench_function("10k_ranges_vs_100k_entities_sqlite", |b| {
        b.iter(|| repo::overlapping(&mut conn, black_box(&nets), &[]).unwrap())
    });
    group.finish();
}

criterion_group!(benches, matching);
criterion_main!(benches);
