//! Test harness: every test gets its own database — a temporary SQLite file, or, when
//! `TEST_DATABASE_URL` names a PostgreSQL database, a schema of its own in it — with the
//! migrations run and the example directory imported, and the app built by `build_app`.
#![allow(dead_code)]

pub mod csaf;

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use nis2hub::auth::{Caller, Role};
use nis2hub::config::{Config, DatabaseUrl, JwtConfig};
use nis2hub::{db, AppState};
use serde_json::Value;
use std::time::Duration;

pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// A database for one test; dropped with the test.
pub struct TestDb {
    pub url: DatabaseUrl,
    _dir: Option<tempfile::TempDir>,
    schema: Option<(String, String)>,
}

impl TestDb {
    pub fn new() -> Self {
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            Some(base) if base.starts_with("postgres") => {
                use diesel::connection::SimpleConnection;
                use diesel::Connection;
                let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                let mut conn =
                    diesel::PgConnection::establish(&base).expect("TEST_DATABASE_URL reachable");
                conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
                    .expect("create test schema");
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
                TestDb {
                    url: DatabaseUrl::Postgres(url),
                    _dir: None,
                    schema: Some((base, schema)),
                }
            }
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("test.db");
                TestDb {
                    url: DatabaseUrl::Sqlite(path),
                    _dir: Some(dir),
                    schema: None,
                }
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.url, DatabaseUrl::Postgres(_))
    }

    /// The URL as a `DATABASE_URL` value, for processes started by a test.
    pub fn url_string(&self) -> String {
        match &self.url {
            DatabaseUrl::Postgres(u) => u.clone(),
            DatabaseUrl::Sqlite(p) => p.to_string_lossy().to_string(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, schema)) = &self.schema {
            use diesel::connection::SimpleConnection;
            use diesel::Connection;
            if let Ok(mut conn) = diesel::PgConnection::establish(base) {
                let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}

pub fn config(url: DatabaseUrl) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: url,
        pool_size: 4,
        workers: 1,
        body_limit: 64 * 1024,
        jwt: JwtConfig {
            secret: SECRET.as_bytes().to_vec(),
            public_key_pem: None,
            issuer: "nis2hub".into(),
            audience: "nis2hub".into(),
            token_ttl: Duration::from_secs(600),
        },
        rules: nis2hub::rules::ruleset::RuleSet::nis2_default(),
        maturity: nis2hub::maturity::model::Model::built_in(),
        sweep_every: None,
        webhook_allow_hosts: vec!["127.0.0.1".into()],
        webhook_retry: vec![Duration::from_millis(10); 3],
        webhook_poll: None,
        token_rate_per_minute: 1000,
        security: Default::default(),
        webhook_concurrency: 8,
        webhook_concurrency_per_organisation: 2,
        webhook_max_per_organisation: 10,
        webhook_pings_per_minute: 1000,
        cvd_intake_per_minute: 1000,
        awareness: Default::default(),
    }
}

/// A migrated database with the example directory, and the state to build the app from.
pub struct Ctx {
    pub db: TestDb,
    pub state: AppState,
}

impl Ctx {
    pub fn new() -> Self {
        Self::with_directory(true)
    }

    pub fn with_directory(import: bool) -> Self {
        Self::with_config(import, |_| {})
    }

    /// Like [`Ctx::with_directory`], with the configuration adjusted first.
    pub fn with_config(import: bool, adjust: impl FnOnce(&mut Config)) -> Self {
        let db = TestDb::new();
        let mut cfg = config(db.url.clone());
        adjust(&mut cfg);
        let pool = db::connect(&cfg.database_url, cfg.pool_size).expect("connect");
        {
            let mut conn = pool.get().unwrap();
            db::migrate(&mut conn).expect("migrate");
            if import {
                let file = std::fs::read(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/examples/directory.json"
                ))
                .unwrap();
                let parsed = nis2hub::http::json::parse_valid(&file).unwrap();
                let caller = Caller::system("test");
                db::write_tx(&mut conn, |c| {
                    nis2hub::directory::service::import(c, &caller, parsed)
                })
                .expect("import");
            }
        }
        let state = AppState::new(cfg, pool).expect("state");
        Ctx { db, state }
    }

    /// The id of the organisation with this code.
    pub fn org_id(&self, code: &str) -> String {
        let mut conn = self.state.pool.get().unwrap();
        nis2hub::directory::service::find_by_code_or_id(&mut conn, code)
            .expect("organisation exists")
            .id
    }

    /// A token for an organisation by code (or an entity by id), with the role's full ceiling.
    pub fn token(&self, org: &str, role: Role) -> String {
        let id = if role == Role::Entity {
            org.to_string()
        } else {
            self.org_id(org)
        };
        let scopes = nis2hub::auth::scopes::join_scopes(role.ceiling());
        self.state
            .keys
            .issue(&format!("test:{org}"), &id, role, &scopes, 600, None)
            .unwrap()
    }

    pub fn token_with(&self, org_id: &str, role: Role, scope: &str) -> String {
        self.state
            .keys
            .issue("test", org_id, role, scope, 600, None)
            .unwrap()
    }

    pub fn national(&self) -> String {
        self.token("ncsirt", Role::NationalCsirt)
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Res {
    pub status: u16,
    pub headers: actix_web::http::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Res {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// Asserts a problem document with this status and code.
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        assert_eq!(self.body["code"], code, "{}", self.text);
        assert_eq!(self.body["status"], status);
    }
}

pub async fn send<S, B>(app: &S, req: TestRequest) -> Res
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let res = actix_web::test::call_service(app, req.to_request()).await;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = actix_web::test::read_body(res).await;
    let text = String::from_utf8_lossy(&bytes).to_string();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Res {
        status,
        headers,
        body,
        text,
    }
}

pub fn get(path: &str, token: &str) -> TestRequest {
    TestRequest::get()
        .uri(path)
        .insert_header(("Authorization", format!("Bearer {token}")))
}

pub fn post(path: &str, token: &str, body: &Value) -> TestRequest {
    TestRequest::post()
        .uri(path)
        .insert_header(("Authorization", format!("Bearer {token}")))
        .set_json(body)
}

pub fn patch(path: &str, token: &str, body: &Value) -> TestRequest {
    TestRequest::patch()
        .uri(path)
        .insert_header(("Authorization", format!("Bearer {token}")))
        .set_json(body)
}

/// A valid registration, varied by identifier.
pub fn entity_body(identifier: &str, sector: &str) -> Value {
    serde_json::json!({
        "name": format!("Entity {identifier}"),
        "identifier": identifier,
        "country": "NL",
        "sector": sector,
        "size": "large",
        "service_member_states": ["NL", "BE"],
        "contacts": [{"name": "Security desk", "email": "soc@example.nl", "phone": "+31 20 000 0000"}],
        "ip_ranges": ["192.0.2.0/24"],
        "domains": ["example.nl"]
    })
}

/// Registers an entity through the API (asserting 201) and returns its id.
pub async fn register_entity<S, B>(app: &S, token: &str, identifier: &str, sector: &str) -> String
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = send(
        app,
        post("/api/v1/entities", token, &entity_body(identifier, sector)),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

/// Number of rows in a table, to prove that a refused request wrote nothing.
pub fn count(ctx: &Ctx, table: &str) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = ctx.state.pool.get().unwrap();
    diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
        .get_result::<N>(&mut conn)
        .unwrap()
        .n
}

/// Builds the app for a test: `let app = app!(ctx);`
#[macro_export]
macro_rules! app {
    ($ctx:expr) => {
        actix_web::test::init_service(nis2hub::build_app($ctx.state.clone())).await
    };
}

/// A Python interpreter with the `standardwebhooks` library, for the webhook receiver:
/// `TEST_PYTHON` if set, else a virtual environment made once under `target/`.
pub fn python_with_standardwebhooks() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("TEST_PYTHON") {
        return p.into();
    }
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv");
    let python = venv.join("bin/python");
    let marker = venv.join(".standardwebhooks-1.1.0");
    if marker.exists() {
        return python;
    }
    // One test process at a time sets it up.
    std::fs::create_dir_all(venv.parent().unwrap()).unwrap();
    let lock = std::fs::File::create(venv.with_extension("lock")).unwrap();
    lock.lock().unwrap();
    if !marker.exists() {
        let ok = std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .unwrap()
            .success();
        assert!(ok, "python3 -m venv failed");
        let ok = std::process::Command::new(&python)
            .args(["-m", "pip", "install", "-q", "standardwebhooks==1.1.0"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "pip install standardwebhooks failed");
        std::fs::write(&marker, "").unwrap();
    }
    python
}

/// The Python receiver of `tests/webhooks/receiver.py`, killed on drop.
pub struct Receiver {
    child: std::process::Child,
    pub port: u16,
    pub secret_file: std::path::PathBuf,
    pub out: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Receiver {
    pub fn start(fail_first: usize) -> Self {
        Self::start_with(fail_first, 0.0)
    }

    /// A receiver that takes `delay_seconds` over every answer.
    pub fn start_with(fail_first: usize, delay_seconds: f64) -> Self {
        let python = python_with_standardwebhooks();
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let secret_file = dir.path().join("secret");
        let out = dir.path().join("out.jsonl");
        std::fs::write(&out, "").unwrap();
        let child = std::process::Command::new(python)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/webhooks/receiver.py"
            ))
            .args([
                "--port",
                &port.to_string(),
                "--fail-first",
                &fail_first.to_string(),
                "--delay",
                &delay_seconds.to_string(),
            ])
            .arg("--secret-file")
            .arg(&secret_file)
            .arg("--out")
            .arg(&out)
            .spawn()
            .expect("start the receiver");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the receiver did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Receiver {
            child,
            port,
            secret_file,
            out,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Every request the receiver got, in arrival order.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
