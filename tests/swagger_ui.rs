//! Swagger UI at `/docs` obtains a token with a client id and secret through the document's
//! `oauth2` scheme (the client-credentials grant at `/oauth/token`) and calls an operation
//! with it: `tests/browser/swagger_authorize.cjs` drives it in headless Chromium (Debian
//! `chromium`, installed by .ci/run) with the pinned playwright-core of
//! `tests/browser/package-lock.json`, installed under `target/`. Fails when any is missing.

mod common;
use common::TestDb;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_nis2hub");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `node_modules` with the pinned playwright-core, made once under `target/` (again when the
/// lock changes); one test process at a time sets it up.
fn node_modules() -> PathBuf {
    let dir = Path::new(ROOT).join("target/browser-tools");
    let lock =
        std::fs::read_to_string(Path::new(ROOT).join("tests/browser/package-lock.json")).unwrap();
    let marker = dir.join(".lock");
    let ready = || std::fs::read_to_string(&marker).ok().as_deref() == Some(lock.as_str());
    if !ready() {
        std::fs::create_dir_all(&dir).unwrap();
        let guard = std::fs::File::create(dir.with_extension("lock")).unwrap();
        guard.lock().unwrap();
        if !ready() {
            for f in ["package.json", "package-lock.json"] {
                std::fs::copy(Path::new(ROOT).join("tests/browser").join(f), dir.join(f)).unwrap();
            }
            let ok = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .status()
                .expect("npm (Debian npm) installs playwright-core")
                .success();
            assert!(ok, "npm ci in target/browser-tools failed");
            std::fs::write(&marker, &lock).unwrap();
        }
    }
    dir.join("node_modules")
}

fn call(method: &str, url: &str, token: &str, body: Option<Value>) -> Value {
    let mut response = match body {
        Some(b) => ureq::post(url)
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(b.to_string()),
        None => ureq::get(url)
            .header("Authorization", &format!("Bearer {token}"))
            .call(),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
}

#[test]
fn swagger_ui_authorizes_with_client_credentials_and_calls_an_operation() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: install Debian's chromium (as .ci/run does)"
    );
    let modules = node_modules();
    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = |cmd: &mut Command| {
        cmd.current_dir(ROOT)
            .env("DATABASE_URL", db.url_string())
            .env("NIS2HUB_JWT_SECRET_FILE", dir.path().join("jwt-secret"))
            .env("RUST_LOG", "warn");
    };
    let mut cmd = Command::new(BIN);
    env(&mut cmd);
    let _server = Server(
        cmd.env("NIS2HUB_LISTEN", format!("127.0.0.1:{port}"))
            .env("NIS2HUB_WORKERS", "1")
            .stdout(Stdio::null())
            .spawn()
            .expect("start the service"),
    );
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while ureq::get(&format!("{url}/readyz")).call().is_err() {
        assert!(Instant::now() < deadline, "the service did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut cmd = Command::new(BIN);
    env(&mut cmd);
    assert!(cmd
        .args(["import-directory", "examples/directory.json"])
        .output()
        .unwrap()
        .status
        .success());
    let mut cmd = Command::new(BIN);
    env(&mut cmd);
    let out = cmd
        .args(["token", "--org", "ncsirt", "--role", "national_csirt"])
        .output()
        .unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();

    // An API client registered through the API, as an operator does.
    let orgs = call("GET", &format!("{url}/api/v1/organisations"), &token, None);
    let org = orgs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["code"] == "ncsirt")
        .unwrap()["id"]
        .clone();
    let client = call(
        "POST",
        &format!("{url}/api/v1/clients"),
        &token,
        Some(json!({"name": "Swagger UI", "organisation_id": org, "scope": "entities:read"})),
    );

    let out = Command::new("node")
        .arg(Path::new(ROOT).join("tests/browser/swagger_authorize.cjs"))
        .args([
            &url,
            client["client_id"].as_str().unwrap(),
            client["client_secret"].as_str().unwrap(),
        ])
        .env("NODE_PATH", &modules)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs the browser script");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && log.contains("called listEntities: 200"),
        "Swagger UI's client-credentials flow failed:\n{log}"
    );
}
