//! The `nis2hub` command: serve (the default), migrate, openapi, token, import-directory, seed.

use clap::{Parser, Subcommand};
use nis2hub::auth::{clients, Caller, Role};
use nis2hub::config::Config;
use nis2hub::{db, directory, AppState};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "nis2hub",
    version,
    about = "National NIS2 administration service"
)]
struct Cli {
    /// Let a command other than `serve` create a missing SQLite database or key file.
    //
    // Without it those commands refuse, so that a tool run in the wrong folder or without the
    // service's settings does not quietly use a new, empty database and a key the service
    // does not know.
    #[arg(long, global = true)]
    init: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Print a signed access token, for development and first setup.
    Token {
        /// Organisation code or id, or a registered entity's id.
        #[arg(long)]
        org: String,
        /// national_csirt, sectoral_csirt, supervisory_authority or entity.
        #[arg(long)]
        role: String,
        /// Space-separated scopes (default: the role's whole ceiling).
        #[arg(long)]
        scope: Option<String>,
        /// Lifetime such as 30m, 12h or 7d (default 12h).
        #[arg(long, default_value = "12h")]
        ttl: String,
        /// Subject of the token (default: cli:<org>).
        #[arg(long)]
        sub: Option<String>,
    },
    /// Create or update organisations from a directory JSON file, by code.
    ImportDirectory {
        /// A file shaped like examples/directory.json.
        file: std::path::PathBuf,
    },
    /// Fill the database with entities and a history of incidents, for load tests.
    Seed {
        /// Entities to register (each reports one incident through the service).
        #[arg(long, default_value_t = 1000)]
        entities: usize,
        /// Incidents to store in all (the rest are copies of the service's own rows).
        #[arg(long, default_value_t = 10_000)]
        incidents: u64,
        /// Incidents per transaction.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Days back the history reaches, spread evenly: the same incidents over more days
        /// keep fewer in any period (at most 200 000, about 550 years).
        #[arg(long, default_value_t = nis2hub::seed::DEFAULT_HISTORY_DAYS,
              value_parser = clap::value_parser!(u32)
                  .range(1..=i64::from(nis2hub::seed::MAX_HISTORY_DAYS)))]
        history_days: u32,
        /// Write the ids of the registered entities to this file, one a line.
        #[arg(long)]
        ids_out: Option<std::path::PathBuf>,
    },
}

fn parse_ttl(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = number
        .parse()
        .map_err(|_| format!("--ttl `{s}`: use a number with s, m, h or d, such as 12h"))?;
    let unit_seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("--ttl `{s}`: the unit must be s, m, h or d")),
    };
    let seconds = n.checked_mul(unit_seconds).unwrap_or(i64::MAX);
    if !(60..=90 * 86_400).contains(&seconds) {
        return Err("--ttl must be between 1 minute and 90 days".into());
    }
    Ok(seconds)
}

fn open(config: &Config) -> Result<db::Pool, String> {
    let pool = db::connect(&config.database_url, config.pool_size)?;
    let mut conn = pool
        .get()
        .map_err(|e| format!("cannot open a database connection: {e}"))?;
    let applied = nis2hub::ops::migrate(&mut conn)?;
    if applied > 0 {
        log::info!(
            "applied {applied} migration(s) to the {} database",
            config.database_url.backend()
        );
    }
    Ok(pool)
}

async fn serve(config: Config) -> Result<(), String> {
    let pool = open(&config)?;
    let listen = config.listen;
    let workers = config.workers;
    let backend = config.database_url.backend();
    if let Some(every) = config.sweep_every {
        nis2hub::incidents::sweep::spawn(pool.clone(), every, config.maturity.clone());
        nis2hub::awareness::cells::spawn(pool.clone(), every);
    }
    let state = AppState::new(config, pool)?;
    if state.config.webhook_poll.is_some() {
        let settings = nis2hub::webhooks::worker::Settings::new(&state.config);
        nis2hub::webhooks::worker::spawn(state.pool.clone(), settings, state.metrics.clone());
    }
    let metrics_listen = state.config.security.metrics_listen;
    let metrics_state = state.clone();
    let server = actix_web::HttpServer::new(move || nis2hub::build_app(state.clone()))
        .workers(workers)
        .shutdown_timeout(30)
        .bind(listen)
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    log::info!(
        "nis2hub listening on http://{listen} ({backend}); API docs at http://{listen}/docs/"
    );
    let Some(metrics_listen) = metrics_listen else {
        return server.run().await.map_err(|e| format!("server error: {e}"));
    };
    // Metrics on a listener of their own, for the monitoring network only.
    let metrics =
        actix_web::HttpServer::new(move || nis2hub::ops::metrics_app(metrics_state.clone()))
            .workers(1)
            .shutdown_timeout(5)
            .bind(metrics_listen)
            .map_err(|e| {
                format!("cannot listen on {metrics_listen} (NIS2HUB_METRICS_LISTEN): {e}")
            })?;
    log::info!("metrics on http://{metrics_listen}/metrics");
    tokio::try_join!(server.run(), metrics.run())
        .map(|_| ())
        .map_err(|e| format!("server error: {e}"))
}

fn parse_role(role: &str) -> Result<Role, String> {
    Role::parse(role).ok_or_else(|| {
        format!("unknown role `{role}`; use national_csirt, sectoral_csirt, supervisory_authority or entity")
    })
}

fn token(
    config: Config,
    org: String,
    role: Role,
    scope: Option<String>,
    ttl: i64,
    sub: Option<String>,
) -> Result<(), String> {
    let pool = open(&config)?;
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    let org_id = match directory::service::find_by_code_or_id(&mut conn, &org) {
        Ok(o) => o.id,
        Err(_) => org.clone(),
    };
    let actual = clients::role_for(&mut conn, &org_id).map_err(|e| e.to_string())?.ok_or_else(|| {
        format!("no organisation or entity `{org}`; import a directory first (nis2hub import-directory examples/directory.json)")
    })?;
    if actual != role {
        return Err(format!(
            "`{org}` is a {}, not a {}",
            actual.as_str(),
            role.as_str()
        ));
    }
    let scopes = match scope {
        None => role.ceiling().to_vec(),
        Some(s) => {
            let scopes = nis2hub::auth::scopes::parse_scopes(&s)?;
            if let Some(extra) = scopes.iter().find(|x| !role.ceiling().contains(x)) {
                return Err(format!(
                    "a {} may not hold the scope `{}`",
                    role.as_str(),
                    extra.as_str()
                ));
            }
            scopes
        }
    };
    let keys = nis2hub::auth::jwt::Keys::new(&config.jwt)?;
    let sub = sub.unwrap_or_else(|| format!("cli:{org}"));
    let token = keys.issue(
        &sub,
        &org_id,
        role,
        &nis2hub::auth::scopes::join_scopes(&scopes),
        ttl,
        None,
    )?;
    println!("{token}");
    Ok(())
}

fn import(config: Config, file: std::path::PathBuf) -> Result<(), String> {
    let bytes = std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let parsed: directory::service::DirectoryImport =
        nis2hub::http::json::parse_valid(&bytes).map_err(|e| describe(&e))?;
    let pool = open(&config)?;
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    let caller = Caller::system("import-directory");
    let report = db::write_tx(&mut conn, |conn| {
        directory::service::import(conn, &caller, parsed)
    })
    .map_err(|e| describe(&e))?;
    println!(
        "imported {}: {} created, {} updated, {} unchanged",
        file.display(),
        report.created,
        report.updated,
        report.unchanged
    );
    Ok(())
}

fn seed(
    config: Config,
    entities: usize,
    incidents: u64,
    batch: usize,
    history_days: u32,
    ids_out: Option<std::path::PathBuf>,
) -> Result<(), String> {
    let pool = open(&config)?;
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let seeded = nis2hub::seed::seed(
        &mut conn,
        &config.rules,
        entities,
        incidents,
        batch,
        history_days,
    )
    .map_err(|e| describe(&e))?;
    // The awareness cells of the seeded days, as the service's sweep would make them at start,
    // so that a benchmark started next measures reads, not the first fill.
    let filling = std::time::Instant::now();
    let cells = nis2hub::awareness::cells::rebuild_all(&pool).map_err(|e| describe(&e))?;
    eprintln!(
        "made the awareness cells of {cells} day(s) and week(s) in {:.1} s",
        filling.elapsed().as_secs_f64()
    );
    if let Some(path) = ids_out {
        std::fs::write(&path, seeded.entity_ids.join("\n") + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    println!(
        "seeded {} entities and {} incidents in {:.1} s; last event {}",
        seeded.entity_ids.len(),
        seeded.incidents,
        started.elapsed().as_secs_f64(),
        seeded.last_seq
    );
    Ok(())
}

fn describe(e: &nis2hub::error::AppError) -> String {
    let p = e.problem();
    let mut out = p.detail;
    for f in p.errors {
        out.push_str(&format!(
            "\n  {}: {}",
            if f.pointer.is_empty() {
                "/"
            } else {
                &f.pointer
            },
            f.message
        ));
    }
    out
}

/// Caps glibc's malloc arenas at two per core. glibc gives a thread that allocates while the
/// others hold their arenas a new one, up to eight per core, and each keeps the pages freed
/// into it; the blocking threads that run the database calls (one per request in flight)
/// spread over all of them, so resident memory grew with concurrency and with the size of the
/// answers (docs/ARCHITECTURE.md, "Two malloc arenas per core"). An operator's own
/// `MALLOC_ARENA_MAX` wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let arenas = i32::try_from(cores.saturating_mul(2)).unwrap_or(i32::MAX);
    // SAFETY: mallopt only sets a parameter of the allocator; it runs first in main, before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

/// Makes every file and folder the process creates private to its user (umask `077`): the
/// database and its `-wal`/`-shm`, the key files, their folders and anything written later.
/// The database and key files are created with explicit modes as well (`db::files`), which
/// holds where this does not run (the library in tests, other platforms); this catches what
/// those miss. The umask only takes permissions away, so nothing becomes less private.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn private_umask() {
    // SAFETY: umask only sets a process attribute; it runs first in main, before any other
    // thread exists or any file is created.
    unsafe {
        libc::umask(0o077);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn private_umask() {}

fn main() -> ExitCode {
    private_umask();
    limit_malloc_arenas();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        println!(
            "{}",
            serde_json::to_string_pretty(&nis2hub::openapi::document())
                .expect("the document serialises")
        );
        return ExitCode::SUCCESS;
    }
    // The token command's own arguments are checked before anything is opened.
    if let Command::Token { role, ttl, .. } = &command {
        if let Err(e) = parse_role(role).and_then(|_| parse_ttl(ttl)) {
            eprintln!("nis2hub: {e}");
            return ExitCode::from(2);
        }
    }
    let stores = match nis2hub::config::Stores::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("nis2hub: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    // Say which database and key every command uses: a second terminal without the
    // service's settings shows at once that it points elsewhere.
    eprintln!("nis2hub: using {}", stores.describe());
    let missing = stores.missing();
    if !cli.init && !matches!(command, Command::Serve) && !missing.is_empty() {
        eprintln!(
            "nis2hub: refusing to create what does not exist: {}.\n\
             Run the command where the service runs, with the same DATABASE_URL and \
             NIS2HUB_JWT_SECRET_FILE (or NIS2HUB_JWT_SECRET) as the service, or pass --init \
             to create them.",
            missing.join("; ")
        );
        return ExitCode::from(2);
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nis2hub: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Serve => actix_web::rt::System::new().block_on(serve(config)),
        Command::Migrate => open(&config).map(|_| println!("migrations are current")),
        Command::Openapi => unreachable!("handled above"),
        Command::Token {
            org,
            role,
            scope,
            ttl,
            sub,
        } => match (parse_role(&role), parse_ttl(&ttl)) {
            (Ok(role), Ok(ttl)) => token(config, org, role, scope, ttl, sub),
            (Err(e), _) | (_, Err(e)) => Err(e),
        },
        Command::ImportDirectory { file } => import(config, file),
        Command::Seed {
            entities,
            incidents,
            batch,
            history_days,
            ids_out,
        } => seed(config, entities, incidents, batch, history_days, ids_out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nis2hub: {e}");
            ExitCode::FAILURE
        }
    }
}
