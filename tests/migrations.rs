//! Every migration's `down` exactly undoes its `up`, on the backend under test.

mod common;
use common::TestDb;
use diesel::prelude::*;
use nis2hub::db::{self, DbConn};

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Item {
    #[diesel(sql_type = diesel::sql_types::Text)]
    item: String,
}

/// Tables, columns and indexes of the database, without diesel's own bookkeeping.
fn schema_of(conn: &mut DbConn) -> Vec<String> {
    let sql = match conn {
        DbConn::Sqlite(_) => {
            "SELECT type || ' ' || name || ' ' || COALESCE(sql, '') AS item FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '__diesel%' AND tbl_name NOT LIKE '__diesel%'"
        }
        DbConn::Pg(_) => {
            "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable AS item \
             FROM information_schema.columns WHERE table_schema = current_schema() AND table_name NOT LIKE '__diesel%' \
             UNION ALL SELECT 'index ' || indexname || ' ' || indexdef AS item FROM pg_indexes \
             WHERE schemaname = current_schema() AND tablename NOT LIKE '__diesel%'"
        }
    };
    let mut items: Vec<Item> = diesel::sql_query(sql).load(conn).unwrap();
    items.sort();
    items.into_iter().map(|i| i.item).collect()
}

#[test]
fn down_undoes_up() {
    let tdb = TestDb::new();
    let pool = db::connect(&tdb.url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    let empty = schema_of(&mut conn);
    let applied = db::migrate(&mut conn).unwrap();
    assert!(applied > 0);
    let full = schema_of(&mut conn);
    assert!(full.len() > empty.len(), "the migrations create tables");
    assert!(db::migrations_current(&mut conn));

    let reverted = db::revert_all(&mut conn).unwrap();
    assert_eq!(reverted, applied);
    assert_eq!(
        schema_of(&mut conn),
        empty,
        "reverting every migration leaves the database as it was"
    );
    assert!(!db::migrations_current(&mut conn));

    db::migrate(&mut conn).unwrap();
    assert_eq!(
        schema_of(&mut conn),
        full,
        "migrating again gives the same schema"
    );
}

#[test]
fn both_backends_have_the_same_migrations() {
    let names = |backend: &str| {
        let mut v: Vec<String> = std::fs::read_dir(format!(
            "{}/migrations/{backend}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
        v.sort();
        v
    };
    assert_eq!(names("sqlite"), names("postgres"));
}
