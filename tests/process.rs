//! The binary as an operator runs it: the README's first calls, several instances starting on
//! one empty database, and configuration errors that stop the start with the cause.

mod common;
use common::TestDb;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_nis2hub");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Status code of a plain HTTP GET, or None when nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_whitespace().nth(1)?.parse().ok()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(db: &TestDb, port: u16, dir: &std::path::Path) -> Server {
    let child = Command::new(BIN)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", db.url_string())
        .env("NIS2HUB_LISTEN", format!("127.0.0.1:{port}"))
        .env("NIS2HUB_JWT_SECRET_FILE", dir.join("jwt-secret"))
        .env("NIS2HUB_WORKERS", "1")
        .env("NIS2HUB_DB_POOL_SIZE", "2")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the service");
    Server(child)
}

fn wait_ready(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if http_status(port, "/readyz") == Some(200) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn two_instances_start_together_on_one_empty_database() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (free_port(), free_port());
    let _first = start(&db, a, dir.path());
    let _second = start(&db, b, dir.path());
    assert!(wait_ready(a), "the first instance came up");
    assert!(wait_ready(b), "the second instance came up");
}

#[test]
fn the_readme_first_calls_work_verbatim() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("<!-- first-calls:begin -->")
        .nth(1)
        .and_then(|s| s.split("<!-- first-calls:end -->").next())
        .expect("README has the first-calls section");
    let script = section
        .trim()
        .trim_start_matches("```sh")
        .trim_end_matches("```");

    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = start(&db, port, dir.path());
    assert!(wait_ready(port), "the service came up");

    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("bin", BIN)
        .env("api", format!("http://127.0.0.1:{port}"))
        .env("DATABASE_URL", db.url_string())
        .env("NIS2HUB_JWT_SECRET_FILE", dir.path().join("jwt-secret"))
        .env("RUST_LOG", "warn")
        .output()
        .expect("run bash");
    let raw = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README's first calls failed:\n{raw}\n{stderr}"
    );
    // Each answer on lines of its own (pretty-printed by jq where it is installed), never
    // run together with the next.
    assert!(!raw.contains("}{"), "{raw}");
    let stdout = raw.replace("\": ", "\":");
    assert!(stdout.contains("\"category\":\"essential\""), "{stdout}");
    assert!(stdout.contains("\"code\":\"csirt-energy\""), "{stdout}");
    assert!(stdout.contains("\"change\":\"registered\""), "{stdout}");
    assert!(stdout.contains("\"valid\":true"), "{stdout}");
    assert!(
        stdout.contains("\"role\":\"spoc\""),
        "the incident was routed to the SPOC: {stdout}"
    );
    assert!(
        stdout.contains("\"type\":\"incident.reported\""),
        "the energy CSIRT's feed has it: {stdout}"
    );
}

fn run_with(vars: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir.path())
        .env("NIS2HUB_JWT_SECRET", "0123456789abcdef0123456789abcdef");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn bad_configuration_stops_the_start_with_the_cause() {
    let (ok, err) = run_with(&[("DATABASE_URL", "mysql://localhost/x")], &["migrate"]);
    assert!(
        !ok && err.contains("unsupported scheme `mysql://`"),
        "{err}"
    );
    let (ok, err) = run_with(
        &[("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")],
        &["migrate"],
    );
    assert!(!ok && err.contains("cannot connect to PostgreSQL"), "{err}");
    assert!(
        err.contains("nis2hub: using database PostgreSQL postgres://nobody@127.0.0.1:1/none"),
        "the command says which database it uses: {err}"
    );
    assert_eq!(
        err.trim()
            .lines()
            .filter(|l| !l.starts_with("nis2hub: using "))
            .count(),
        1,
        "the cause in one line: {err}"
    );
    let (ok, err) = run_with(&[("NIS2HUB_LISTEN_ADDR", "x")], &["migrate"]);
    assert!(
        !ok && err.contains("unknown setting NIS2HUB_LISTEN_ADDR"),
        "{err}"
    );
    let (ok, err) = run_with(&[("DATABASE_URL", "sqlite://data/x.db")], &["migrate"]);
    assert!(
        !ok && err.contains("--init"),
        "no new SQLite file without --init: {err}"
    );
    let (ok, err) = run_with(
        &[("DATABASE_URL", "sqlite://data/x.db")],
        &["migrate", "--init"],
    );
    assert!(
        ok,
        "with --init a fresh SQLite file is created with its folder: {err}"
    );
}

/// The binary in an empty folder, with none of the caller's settings.
fn in_folder(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).env("RUST_LOG", "warn");
    for (key, _) in std::env::vars() {
        if key.starts_with("NIS2HUB_") || key == "DATABASE_URL" {
            cmd.env_remove(key);
        }
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A tool run in the wrong folder (or without the service's settings) refuses to make a new
/// key and an empty database, and says which ones it looked for; `--init` creates them.
#[test]
fn tools_refuse_to_create_a_new_key_or_database_without_init() {
    let dir = tempfile::tempdir().unwrap();
    let token = ["token", "--org", "ncsirt", "--role", "national_csirt"];
    let (ok, stdout, stderr) = in_folder(dir.path(), &token);
    assert!(!ok, "refused: {stdout}");
    assert!(stdout.is_empty(), "no token printed: {stdout}");
    for expected in [
        "using database SQLite file data/nis2hub.db, key file data/jwt-secret",
        "the SQLite file data/nis2hub.db does not exist",
        "the key file data/jwt-secret does not exist",
        "--init",
    ] {
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    assert!(
        !dir.path().join("data").exists(),
        "nothing was created: {stderr}"
    );

    // With --init the database and the key are created (a token then needs the directory).
    let directory = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/directory.json");
    let (ok, stdout, stderr) = in_folder(dir.path(), &["import-directory", "--init", directory]);
    assert!(ok, "{stdout}{stderr}");
    assert!(dir.path().join("data/nis2hub.db").exists());
    assert!(dir.path().join("data/jwt-secret").exists());
    // Now both exist, the command works without --init and names what it used.
    let (ok, stdout, stderr) = in_folder(dir.path(), &token);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim().split('.').count(), 3, "a JWT: {stdout}");
    assert!(
        stderr.contains("using database SQLite file data/nis2hub.db, key file data/jwt-secret"),
        "{stderr}"
    );
}

#[test]
fn the_readme_lists_every_setting() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for (name, default, _) in nis2hub::config::SETTINGS {
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "README lacks {name}"
        );
        let shown = if default.starts_with('(') || default.contains(' ') {
            default.to_string()
        } else {
            format!("`{default}`")
        };
        assert!(
            readme.contains(&shown),
            "README lacks the default of {name}: {shown}"
        );
    }
}

#[test]
fn sigterm_stops_the_service_cleanly() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = start(&db, port, dir.path());
    assert!(wait_ready(port));
    let status = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(exit) = server.0.try_wait().unwrap() {
            assert!(
                exit.success(),
                "a graceful stop exits with success: {exit:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the service stopped within the shutdown timeout"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        http_status(port, "/healthz"),
        None,
        "nothing listens any more"
    );
}

#[test]
fn a_token_lifetime_too_large_to_compute_is_refused_not_wrapped() {
    for ttl in [
        "106751991167300d",
        "9223372036854775807s",
        "153722867280912930m",
    ] {
        let (ok, stderr) = run_with(
            &[],
            &[
                "token",
                "--org",
                "ncsirt",
                "--role",
                "national_csirt",
                "--ttl",
                ttl,
            ],
        );
        assert!(!ok, "--ttl {ttl} was accepted");
        assert!(stderr.contains("--ttl"), "{ttl}: {stderr}");
        assert!(!stderr.contains("panicked"), "{ttl}: {stderr}");
    }
}
