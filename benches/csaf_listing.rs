//! The public CSAF tree's listings at 100 and at 10 000 public documents: `index.txt` and the
//! ROLIE feed through the whole HTTP stack (`build_app`, the anonymous limit, the generation
//! read), as an anonymous aggregator asks for them — kept (`warm`), answered `304` to a
//! matching `If-None-Match` (`not_modified`), kept and sent gzip-compressed to a client that
//! accepts it (`warm_gzip`), and made again after an advisory changed
//! (`rebuilt`: the counter moved, so the listing is read again from the stored metadata, one
//! query). The goal: a kept listing at 10 000 documents costs within 1.5× of one at 100.
//!
//! The documents are written straight into `advisories` and `csaf_documents` (as if each had
//! been rendered once), not through the HTTP publish path, to keep the set-up short.
//! `cargo bench --bench csaf_listing` runs on a SQLite file; with
//! `BENCH_DATABASE_URL=postgres://...` also on PostgreSQL (in a schema of its own, dropped
//! afterwards). The figures are recorded in `docs/BENCHMARKS.md`.

use actix_web::test::{call_service, init_service, read_body, TestRequest};
use criterion::{criterion_group, criterion_main, Criterion};
use diesel::{Connection, RunQueryDsl};
use nis2hub::config::{Config, DatabaseUrl};
use nis2hub::{db, AppState};
use std::time::Duration;

const SIZES: [usize; 2] = [100, 10_000];

fn config(url: &DatabaseUrl, key_file: &std::path::Path) -> Config {
    let url = match url {
        DatabaseUrl::Postgres(u) => u.clone(),
        DatabaseUrl::Sqlite(p) => p.to_string_lossy().to_string(),
    };
    Config::from_vars([
        ("DATABASE_URL".to_string(), url),
        (
            "NIS2HUB_JWT_SECRET".to_string(),
            "bench-secret-bench-secret-bench-secret-0".to_string(),
        ),
        (
            "NIS2HUB_OPENPGP_KEY_FILE".to_string(),
            key_file.to_string_lossy().to_string(),
        ),
        (
            "NIS2HUB_PUBLIC_URL".to_string(),
            "https://csirt.example".to_string(),
        ),
    ])
    .expect("config")
}

/// `n` published TLP:CLEAR advisories of the national CSIRT, each with its stored document
/// (3 KiB of JSON, about a real one's size), spread over three years.
fn seed(conn: &mut db::DbConn, n: usize) {
    let file = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/directory.json"
    ))
    .unwrap();
    let parsed = nis2hub::http::json::parse_valid(&file).unwrap();
    let caller = nis2hub::auth::Caller::system("bench");
    db::write_tx(conn, |c| {
        nis2hub::directory::service::import(c, &caller, parsed)
    })
    .expect("import");
    let issuer = nis2hub::directory::service::find_by_code_or_id(conn, "ncsirt")
        .expect("national CSIRT")
        .id;
    let body = format!("{{\"document\": {{\"title\": \"{}\"}}}}", "x".repeat(3000));
    db::write_tx(conn, |conn| {
        for chunk in (0..n).collect::<Vec<_>>().chunks(200) {
            let mut advisories = vec![];
            let mut documents = vec![];
            for i in chunk {
                let id = format!("bench-{i:06}");
                let year = 2024 + (i % 3);
                let reference = format!("FD-NCSIRT-{year}-{i:06}");
                let at = format!("{year}-06-01 12:{:02}:{:02}.{i:06}", (i / 60) % 60, i % 60);
                advisories.push(format!(
                    "('{id}', '{reference}', '{issuer}', 'published', 'CLEAR', 'national', 'high', '{{}}', '{{}}', FALSE, 1, 1, '{at}', '{at}', '{at}')"
                ));
                documents.push(format!(
                    "('{id}', 1, 'CLEAR', 'white', '{year}', '{}', '{reference}', 'Advisory {i}', '{at}', '{at}', 'https://csirt.example', '{body}', '{h}', '{h}{h}', 'sig', '{at}')",
                    reference.to_lowercase() + ".json",
                    h = "ab".repeat(32),
                ));
            }
            diesel::sql_query(format!(
                "INSERT INTO advisories (id, reference, issuer_id, status, tlp, audience, severity, body, published_body, pending_changes, revision, version, created_at, updated_at, published_at) VALUES {}",
                advisories.join(",")
            ))
            .execute(conn)?;
            diesel::sql_query(format!(
                "INSERT INTO csaf_documents (advisory_id, revision, tlp, directory, year, file, tracking_id, title, published_at, modified_at, public_url, document, sha256, sha512, signature, stored_at) VALUES {}",
                documents.join(",")
            ))
            .execute(conn)?;
        }
        Ok(())
    })
    .expect("seed");
    if let db::DbConn::Pg(c) = conn {
        diesel::sql_query("ANALYZE").execute(c).expect("analyze");
    }
}

fn run(c: &mut Criterion, backend: &str, url: DatabaseUrl, n: usize) {
    let keys = tempfile::tempdir().unwrap();
    let cfg = config(&url, &keys.path().join("key.asc"));
    let pool = db::connect(&url, 4).expect("connect");
    {
        let mut conn = pool.get().unwrap();
        db::migrate(&mut conn).expect("migrate");
        seed(&mut conn, n);
    }
    let mut state = AppState::new(cfg, pool.clone()).expect("state");
    // The limiter is consulted as in production, with a limit the benchmark cannot reach.
    state.provider = std::sync::Arc::new(
        nis2hub::advisories::provider::Provider::load_with_limit(
            &state.config.provider,
            u32::MAX,
            u32::MAX,
        )
        .unwrap(),
    );
    let system = actix_rt::System::new();
    let app = system.block_on(init_service(nis2hub::build_app(state)));
    let get_with = |path: &str, etag: Option<&str>, gzip: bool| {
        let mut req = TestRequest::get().uri(path);
        if let Some(tag) = etag {
            req = req.insert_header(("If-None-Match", tag));
        }
        if gzip {
            req = req.insert_header(("Accept-Encoding", "gzip"));
        }
        system.block_on(async {
            let res = call_service(&app, req.to_request()).await;
            let status = res.status().as_u16();
            let etag = res
                .headers()
                .get("etag")
                .map(|v| v.to_str().unwrap().to_string());
            let body = read_body(res).await;
            (status, etag, body.len())
        })
    };
    let get = |path: &str, etag: Option<&str>| get_with(path, etag, false);
    let index = "/.well-known/csaf/white/index.txt";
    let feed = "/.well-known/csaf/feed-tlp-white.json";
    let (status, etag, len) = get(index, None);
    assert_eq!(status, 200);
    let lines = n; // one a document
    eprintln!("{backend} {n}: index.txt {len} bytes, {lines} lines");
    let (_, _, feed_len) = get(feed, None);
    let (_, _, feed_gz_len) = get_with(feed, None, true);
    eprintln!("{backend} {n}: ROLIE feed {feed_len} bytes, {feed_gz_len} gzip-compressed");
    let etag = etag.unwrap();
    let mut group = c.benchmark_group(format!("csaf_listing_{backend}"));
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(4));
    group.warm_up_time(Duration::from_secs(1));
    group.bench_function(format!("warm/index.txt/{n}"), |b| {
        b.iter(|| assert_eq!(get(index, None).0, 200))
    });
    group.bench_function(format!("warm/feed/{n}"), |b| {
        b.iter(|| assert_eq!(get(feed, None).0, 200))
    });
    // What the CSAF tools (Go's HTTP client asks for gzip by default), browsers and caches get.
    group.bench_function(format!("warm_gzip/index.txt/{n}"), |b| {
        b.iter(|| assert_eq!(get_with(index, None, true).0, 200))
    });
    group.bench_function(format!("warm_gzip/feed/{n}"), |b| {
        b.iter(|| assert_eq!(get_with(feed, None, true).0, 200))
    });
    group.bench_function(format!("not_modified/index.txt/{n}"), |b| {
        b.iter(|| assert_eq!(get(index, Some(&etag)).0, 304))
    });
    let mut conn = pool.get().unwrap();
    group.bench_function(format!("rebuilt/index.txt/{n}"), |b| {
        b.iter(|| {
            diesel::sql_query("UPDATE csaf_generation SET generation = generation + 1")
                .execute(&mut *conn)
                .unwrap();
            assert_eq!(get(index, None).0, 200)
        })
    });
    group.finish();
}

fn listing(c: &mut Criterion) {
    for n in SIZES {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = DatabaseUrl::Sqlite(dir.path().join("bench.db"));
        run(c, "sqlite", sqlite, n);
    }
    if let Ok(base) = std::env::var("BENCH_DATABASE_URL") {
        for n in SIZES {
            let schema = format!("bench_csaf_{}_{n}", std::process::id());
            let mut admin = diesel::PgConnection::establish(&base).expect("BENCH_DATABASE_URL");
            diesel::sql_query(format!("CREATE SCHEMA {schema}"))
                .execute(&mut admin)
                .unwrap();
            let sep = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
            run(c, "postgres", DatabaseUrl::Postgres(url), n);
            diesel::sql_query(format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut admin)
                .unwrap();
        }
    }
}

criterion_group!(benches, listing);
criterion_main!(benches);
