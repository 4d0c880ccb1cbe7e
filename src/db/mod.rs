//! Storage: one diesel codebase for SQLite and PostgreSQL.
//!
//! The backend is picked by the URL scheme (never by trial, which hides the real error), SQLite
//! connections get their pragmas here, migrations are embedded per backend under identical
//! names, and write transactions go through [`write_tx`] so that SQLite takes its write lock
//! up front instead of failing a lock upgrade under concurrency.

use crate::error::AppResult;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub mod files;
mod url;

pub use url::DatabaseUrl;

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Key of the PostgreSQL advisory lock held while migrating, so instances starting together
/// do not race on the same DDL.
const MIGRATION_LOCK: i64 = 0x6e69_7332_6875_6201;

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// An r2d2 connection manager that knows which backend it serves.
#[derive(Debug, Clone)]
pub struct Manager {
    url: DatabaseUrl,
}

impl Manager {
    pub fn new(url: DatabaseUrl) -> Self {
        Self { url }
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        match &self.url {
            DatabaseUrl::Postgres(url) => PgConnection::establish(url)
                .map(DbConn::Pg)
                .map_err(diesel::r2d2::Error::ConnectionError),
            DatabaseUrl::Sqlite(path) => {
                let path = path.to_string_lossy();
                let mut conn = SqliteConnection::establish(&path)
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                conn.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;")
                    .map_err(diesel::r2d2::Error::QueryError)?;
                // Switching to WAL needs a moment alone with the file and does not wait on the
                // busy timeout: another process opening the same new file at once makes it
                // fail with "locked", so retry briefly.
                let mut attempts = 0;
                loop {
                    match conn
                        .batch_execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
                    {
                        Ok(()) => break,
                        Err(e) if attempts < 100 && e.to_string().contains("locked") => {
                            attempts += 1;
                            std::thread::sleep(std::time::Duration::from_millis(50));
                        }
                        Err(e) => return Err(diesel::r2d2::Error::QueryError(e)),
                    }
                }
                Ok(DbConn::Sqlite(conn))
            }
        }
    }

    /// Only called when the pool is asked to test on checkout, which it is not (see
    /// [`connect`]): a dead connection is found by the error it returns instead.
    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    /// A connection goes back to the pool only when it is idle, its thread did not panic and
    /// it did not lose its server: one still inside a transaction (or whose transaction state
    /// is unknown) is closed, never reused, so a later request can never run inside a
    /// transaction that will not commit; one that reported a lost connection is closed so that
    /// the next checkout opens a fresh one.
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        let lost = crate::error::take_connection_lost();
        lost || std::thread::panicking() || is_broken(conn)
    }
}

/// Whether a statement on this thread found its connection gone, and the note of it that the
/// pool reads: kept in [`crate::error`], where database errors are mapped.
pub use crate::error::{connection_lost, note_connection_lost};

/// True when the connection is inside a transaction or its transaction manager gave up.
pub fn is_broken(conn: &mut DbConn) -> bool {
    use diesel::r2d2::R2D2Connection;
    match conn {
        DbConn::Pg(c) => c.is_broken(),
        DbConn::Sqlite(c) => c.is_broken(),
    }
}

/// Opens the pool, failing with the real cause (server down, bad password, unwritable file).
pub fn connect(url: &DatabaseUrl, size: u32) -> Result<Pool, String> {
    if let DatabaseUrl::Sqlite(path) = url {
        // Folder 0700, file 0600 before SQLite opens it (SQLite would let the umask decide).
        files::prepare_sqlite(path)?;
    }
    let manager = Manager::new(url.clone());
    // One direct connection first: r2d2 only reports a timeout, this reports why.
    drop(r2d2::ManageConnection::connect(&manager).map_err(|e| describe(url, e))?);
    r2d2::Pool::builder()
        .max_size(size)
        // No `SELECT 1` before each checkout: a lost connection is closed when it reports
        // itself lost (see `error::note_connection_lost`), which costs one failed request instead of a round
        // trip on every request.
        .test_on_check_out(false)
        .connection_timeout(std::time::Duration::from_secs(10))
        .build(manager)
        .map_err(|e| format!("cannot open the {} database: {e}", url.backend()))
}

fn describe(url: &DatabaseUrl, e: diesel::r2d2::Error) -> String {
    let msg = e.to_string().replace('\n', " ");
    match url {
        DatabaseUrl::Postgres(_) => format!("cannot connect to PostgreSQL: {}", msg.trim()),
        DatabaseUrl::Sqlite(p) => format!(
            "cannot open the SQLite file {}: {}",
            p.display(),
            msg.trim()
        ),
    }
}

/// Runs the pending migrations; on PostgreSQL under an advisory lock so that several instances
/// starting at once migrate one after the other. The fills of columns and indexes added to
/// tables that already held rows belong to their domains and run after this, from
/// `ops::migrate`.
pub fn migrate(conn: &mut DbConn) -> Result<usize, String> {
    run_migrations(conn)
}

fn run_migrations(conn: &mut DbConn) -> Result<usize, String> {
    let err = |e: Box<dyn std::error::Error + Send + Sync>| format!("migration failed: {e}");
    match conn {
        DbConn::Pg(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                .map_err(|e| format!("cannot take the migration lock: {e}"))?;
            let result = c
                .run_pending_migrations(PG_MIGRATIONS)
                .map(|v| v.len())
                .map_err(err);
            let _ = c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
            result
        }
        DbConn::Sqlite(c) => {
            // SQLite has no advisory locks: a lock file beside the database plays that part.
            let _lock = sqlite_migration_lock(c)?;
            c.run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.len())
                .map_err(err)
        }
    }
}

/// Holds an exclusive lock on `<database>.migrate-lock` until dropped.
fn sqlite_migration_lock(conn: &mut SqliteConnection) -> Result<Option<std::fs::File>, String> {
    #[derive(diesel::QueryableByName)]
    struct Db {
        #[diesel(sql_type = diesel::sql_types::Text)]
        file: String,
    }
    use diesel::RunQueryDsl;
    let file = diesel::sql_query("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .get_result::<Db>(conn)
        .map(|d| d.file)
        .unwrap_or_default();
    if file.is_empty() {
        return Ok(None);
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, files::PRIVATE_FILE);
    let lock = options
        .open(format!("{file}.migrate-lock"))
        .map_err(|e| format!("cannot create the migration lock file beside {file}: {e}"))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {file}.migrate-lock: {e}"))?;
    Ok(Some(lock))
}

/// Reverts every migration (used by the test that proves each `down` undoes its `up`).
pub fn revert_all(conn: &mut DbConn) -> Result<usize, String> {
    let err = |e: Box<dyn std::error::Error + Send + Sync>| format!("revert failed: {e}");
    match conn {
        DbConn::Pg(c) => c
            .revert_all_migrations(PG_MIGRATIONS)
            .map(|v| v.len())
            .map_err(err),
        DbConn::Sqlite(c) => c
            .revert_all_migrations(SQLITE_MIGRATIONS)
            .map(|v| v.len())
            .map_err(err),
    }
}

/// True when the database has every migration this binary knows.
pub fn migrations_current(conn: &mut DbConn) -> bool {
    match conn {
        DbConn::Pg(c) => matches!(c.has_pending_migration(PG_MIGRATIONS), Ok(false)),
        DbConn::Sqlite(c) => matches!(c.has_pending_migration(SQLITE_MIGRATIONS), Ok(false)),
    }
}

/// Runs `f` in one write transaction: `BEGIN IMMEDIATE` on SQLite (the write lock is taken at
/// the start, so concurrent writers wait on the busy timeout instead of failing), an ordinary
/// read-committed transaction on PostgreSQL. Commits on `Ok`, rolls back on `Err` — and on a
/// panic inside `f`, which is then resumed: the transaction never outlives the call. Should
/// the rollback itself fail, the connection reports itself broken and the pool closes it.
///
/// On SQLite the writers of this process first queue in arrival order ([`SqliteWriters`]), so
/// only one of them at a time asks SQLite for the write lock; the others sleep until their
/// turn instead of polling on the busy timeout, whose growing sleeps (up to 100 ms a try)
/// let a writer that came later overtake one that has waited long. Another process on the
/// same file still meets the busy timeout.
pub fn write_tx<T>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> AppResult<T>) -> AppResult<T> {
    let _turn = match conn {
        DbConn::Sqlite(c) => {
            let turn = SQLITE_WRITERS.wait_turn();
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
            Some(turn)
        }
        DbConn::Pg(c) => {
            AnsiTransactionManager::begin_transaction(c)?;
            None
        }
    };
    let _marks = TxMarks::enter();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut *conn)));
    let result = match result {
        Ok(result) => result,
        Err(panic) => {
            let _ = rollback(conn);
            std::panic::resume_unwind(panic);
        }
    };
    match (&result, &mut *conn) {
        (Ok(_), DbConn::Sqlite(c)) => AnsiTransactionManager::commit_transaction(c)?,
        (Ok(_), DbConn::Pg(c)) => AnsiTransactionManager::commit_transaction(c)?,
        (Err(error), _) => {
            // The write failed already, and its error is the answer: a rollback that fails
            // too (the server went away, so diesel's transaction manager is broken) changes
            // nothing for the client, since nothing was committed. The connection is closed
            // instead of going back to the pool, and the server drops the transaction.
            if let Err(e) = rollback(conn) {
                note_connection_lost();
                log::warn!("rollback after `{error}` failed, closing the connection: {e}");
            }
        }
    }
    result
}

/// The queue of this process's SQLite write transactions: a ticket lock, served strictly in
/// the order the writers arrived. One for the process, not per database file: a process
/// serves one database (tests with several files only queue a little longer).
static SQLITE_WRITERS: SqliteWriters = SqliteWriters::new();

pub struct SqliteWriters {
    /// (next ticket to hand out, ticket being served)
    tickets: std::sync::Mutex<(u64, u64)>,
    turn: std::sync::Condvar,
}

/// A writer's turn; the next writer is served when it is dropped (also on a panic).
pub struct WriterTurn(&'static SqliteWriters);

impl SqliteWriters {
    const fn new() -> Self {
        Self {
            tickets: std::sync::Mutex::new((0, 0)),
            turn: std::sync::Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, u64)> {
        // The guarded counters stay consistent even if a holder panicked.
        self.tickets.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait_turn(&'static self) -> WriterTurn {
        let mut t = self.lock();
        let mine = t.0;
        t.0 = t.0.wrapping_add(1);
        while t.1 != mine {
            t = self.turn.wait(t).unwrap_or_else(|e| e.into_inner());
        }
        WriterTurn(self)
    }
}

impl Drop for WriterTurn {
    fn drop(&mut self) {
        let mut t = self.0.lock();
        t.1 = t.1.wrapping_add(1);
        drop(t);
        self.0.turn.notify_all();
    }
}

fn rollback(conn: &mut DbConn) -> diesel::QueryResult<()> {
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::rollback_transaction(c),
        DbConn::Pg(c) => AnsiTransactionManager::rollback_transaction(c),
    }
}

/// Inserts `rows` (a slice of `Insertable` values with `cols` columns each) with as few
/// multi-row INSERT statements as the bind-parameter limits allow (SQLite takes 32 766 a
/// statement, PostgreSQL 65 535). Diesel's multi-backend connection cannot batch inserts, so
/// this dispatches on the backend. An empty slice sends nothing.
#[macro_export]
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr, $cols:expr) => {{
        let rows = &$rows[..];
        for chunk in rows.chunks((30_000 / $cols).max(1)) {
            match &mut *$conn {
                $crate::db::DbConn::Pg(c) => {
                    diesel::insert_into($table).values(chunk).execute(c)?;
                }
                $crate::db::DbConn::Sqlite(c) => {
                    diesel::insert_into($table).values(chunk).execute(c)?;
                }
            }
        }
    }};
}

/// Key of the PostgreSQL advisory lock that serialises the writes whose order matters: audit
/// chain appends, event sequence numbers, incident references.
const WRITE_LOCK: i64 = 0x6e69_7332_6875_6277;

/// Key of the PostgreSQL advisory lock of the audit chain alone. Every append holds it to the
/// commit, so the chain grows in commit order. Writers take it together with the write lock
/// (in the same round trip, always after it); an append that writes nothing else — the
/// record of a read — takes only this one ([`lock_audit_alone`]), and so waits for the
/// transaction holding the write lock, not for every writer queued behind it.
const AUDIT_LOCK: i64 = WRITE_LOCK + 1;

/// The next number of the named counter (1 for a new one), under the write lock, so numbers
/// are handed out in commit order and never twice: incident, case and advisory references.
pub fn next_number(conn: &mut DbConn, name: &str) -> AppResult<i64> {
    use crate::schema::counters;
    use diesel::prelude::*;
    lock_writes(conn)?;
    // One statement: a new counter starts at 1, an existing one counts on. At i64::MAX the
    // database refuses the sum (PostgreSQL) or turns it into a REAL that does not decode as
    // a number (SQLite), so a number is never handed out twice.
    let bump = diesel::insert_into(counters::table)
        .values((counters::name.eq(name), counters::value.eq(1i64)))
        .on_conflict(counters::name)
        .do_update()
        .set(counters::value.eq(counters::value + 1i64))
        .returning(counters::value);
    Ok(match conn {
        DbConn::Pg(c) => bump.get_result(c)?,
        DbConn::Sqlite(c) => bump.get_result(c)?,
    })
}

/// The value of the named counter (a reference counter, or a mark that a one-off fill ran),
/// `None` when it was never set.
pub fn counter(conn: &mut DbConn, name: &str) -> AppResult<Option<i64>> {
    use crate::schema::counters;
    use diesel::prelude::*;
    Ok(counters::table
        .find(name)
        .select(counters::value)
        .first(conn)
        .optional()?)
}

/// Takes the write lock for the rest of the transaction. On SQLite `BEGIN IMMEDIATE` holds the
/// database's write lock already. Re-entrant: inside [`write_tx`] it is asked for once, and
/// the writes that take it again (each event, the audit record) cost no round trip.
pub fn lock_writes(conn: &mut DbConn) -> AppResult<()> {
    if let DbConn::Pg(c) = conn {
        let marks = TxMarks::get().unwrap_or_default();
        if marks.locked {
            return Ok(());
        }
        // The write lock is never asked for while holding the audit lock alone: a writer
        // holds the write lock and waits for the audit lock, so the other order could wait
        // on each other.
        if marks.audit_locked {
            return Err(crate::error::AppError::internal(
                "the write lock was asked for after the audit lock alone",
            ));
        }
        c.batch_execute(&format!(
            "SELECT pg_advisory_xact_lock({WRITE_LOCK}); SELECT pg_advisory_xact_lock({AUDIT_LOCK})"
        ))?;
        TxMarks::update(|m| {
            m.locked = true;
            m.audit_locked = true;
        });
    }
    Ok(())
}

/// Takes the audit chain's lock alone, for a transaction that appends an audit record and
/// writes nothing else (see [`AUDIT_LOCK`]). Such a transaction must not take the write lock
/// after it. On SQLite `BEGIN IMMEDIATE` serialises every writer already.
pub fn lock_audit_alone(conn: &mut DbConn) -> AppResult<()> {
    if let DbConn::Pg(c) = conn {
        if TxMarks::get().is_some_and(|m| m.audit_locked) {
            return Ok(());
        }
        c.batch_execute(&format!("SELECT pg_advisory_xact_lock({AUDIT_LOCK})"))?;
        TxMarks::update(|m| m.audit_locked = true);
    }
    Ok(())
}

/// What the write transaction running on this thread has learnt, so that it is not asked of
/// the database again: whether it holds the write lock, and the next event sequence number
/// once one was handed out under it (nothing else can take a number while the lock is held).
/// Set only between [`write_tx`]'s begin and its commit or rollback; outside it every call
/// asks the database. A transaction runs on one thread from begin to end (diesel connections
/// are synchronous), so a thread-local is the transaction's own.
#[derive(Clone, Copy, Default)]
pub struct TxMarks {
    pub locked: bool,
    /// Holds the audit chain's lock (with the write lock, or alone).
    pub audit_locked: bool,
    pub next_event_seq: Option<i64>,
}

thread_local! {
    static TX_MARKS: std::cell::Cell<Option<TxMarks>> = const { std::cell::Cell::new(None) };
}

/// Clears the marks when the transaction ends, however it ends (also on a panic), and
/// restores those of an enclosing transaction, minus its cached sequence number (the inner
/// one may have used numbers or given them back).
struct TxMarksGuard(Option<TxMarks>);

impl TxMarks {
    fn enter() -> TxMarksGuard {
        TxMarksGuard(TX_MARKS.with(|m| m.replace(Some(TxMarks::default()))))
    }

    /// The marks of the current write transaction; `None` outside one.
    pub fn get() -> Option<TxMarks> {
        TX_MARKS.with(|m| m.get())
    }

    /// Changes the marks of the current write transaction; nothing outside one.
    pub fn update(f: impl FnOnce(&mut TxMarks)) {
        TX_MARKS.with(|cell| {
            if let Some(mut m) = cell.get() {
                f(&mut m);
                cell.set(Some(m));
            }
        });
    }
}

impl Drop for TxMarksGuard {
    fn drop(&mut self) {
        let outer = self.0.take().map(|m| TxMarks {
            next_event_seq: None,
            ..m
        });
        TX_MARKS.with(|m| m.set(outer));
    }
}

/// Timestamps are made in Rust and cut to microseconds, so both backends return the same JSON.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::{DurationRound, TimeDelta};
    chrono::Utc::now()
        .naive_utc()
        .duration_trunc(TimeDelta::microseconds(1))
        .expect("truncation to microseconds")
}

/// Cuts a client's timestamp to microseconds, the precision both backends keep.
pub fn micros(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::{DurationRound, TimeDelta};
    t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
}

/// Serialises a stored UTC timestamp as RFC 3339 with its `Z`.
pub fn serialize_utc<S: serde::Serializer>(
    t: &chrono::NaiveDateTime,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(
        &t.and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    )
}

/// A new time-ordered id (UUID v7) as its canonical lower-case text, which sorts in time order.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// True for a unique-constraint violation, which callers map to a 409 with their own words.
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Checks the row count of a conditional update — `UPDATE … WHERE id = ? AND version = <the
/// version read>`, setting `version = <the version read> + 1` — and answers `412` when it
/// changed no row.
///
/// Checking `If-Match` against a version read earlier in the transaction is not enough on
/// PostgreSQL: under READ COMMITTED two transactions read the same version, both pass the
/// check, and the second `UPDATE` waits for the first and then overwrites it (RFC 9110 §13.1.1
/// asks that a stale `If-Match` never lets a change through). With the version in the
/// `WHERE`, the waiting `UPDATE` re-reads the row once the first commits, finds the version
/// moved on, and changes nothing: exactly one of the racing writers wins, on either backend.
/// Zero rows also means the record was deleted after it was read; `412` is right for that too.
///
/// ```ignore
/// let n = diesel::update(w::table.filter(w::id.eq(&id)).filter(w::version.eq(read.version)))
///     .set((/* the change */, w::version.eq(read.version + 1)))
///     .execute(conn)?;
/// db::updated_if_unchanged(n, read.version)?;
/// ```
#[track_caller]
pub fn updated_if_unchanged(rows: usize, read_version: i64) -> AppResult<()> {
    match rows {
        1 => Ok(()),
        0 => Err(changed_since_read(read_version)),
        n => Err(crate::error::AppError::internal(format!(
            "a conditional update of one record changed {n} rows"
        ))),
    }
}

/// The `412` of a conditional update that lost the race; see [`updated_if_unchanged`].
pub fn changed_since_read(read_version: i64) -> crate::error::AppError {
    crate::error::AppError::PreconditionFailed(format!(
        "the record was changed by another request after version {} was read; read it again \
         and reapply your change",
        etag(read_version)
    ))
}

/// The strong entity tag (`ETag`) of a record's version.
pub fn etag(version: i64) -> String {
    format!("\"v{version}\"")
}
