//! The service as a separate process, for tests that drive it from outside (partner scripts
//! in other languages): on a free port, on the test's database, with the example directory
//! imported, and a national-CSIRT token minted by the `token` command.

use super::TestDb;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_nis2hub");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A command's stdout and stderr, for failure messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The running service; stopped when dropped.
pub struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The service on a free port with the example directory imported: the server, its URL and a
/// national-CSIRT token.
pub fn serve(db: &TestDb, dir: &Path) -> (Server, String, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = |cmd: &mut Command| {
        cmd.current_dir(ROOT)
            .env("DATABASE_URL", db.url_string())
            .env("NIS2HUB_JWT_SECRET_FILE", dir.join("jwt-secret"))
            .env("RUST_LOG", "warn");
    };
    let mut cmd = Command::new(BIN);
    env(&mut cmd);
    let server = Server(
        cmd.env("NIS2HUB_LISTEN", format!("127.0.0.1:{port}"))
            .env("NIS2HUB_WORKERS", "1")
            .env("NIS2HUB_DB_POOL_SIZE", "2")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the service"),
    );
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !service_ready(port) {
        assert!(Instant::now() < deadline, "the service did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut cmd = Command::new(BIN);
    env(&mut cmd);
    let out = cmd
        .args(["import-directory", "examples/directory.json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "import-directory: {}", text(&out));
    let mut cmd = Command::new(BIN);
    env(&mut cmd);
    let out = cmd
        .args(["token", "--org", "ncsirt", "--role", "national_csirt"])
        .output()
        .unwrap();
    assert!(out.status.success(), "token: {}", text(&out));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    (server, url, token)
}

/// Whether `GET /readyz` answers 200.
fn service_ready(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if write!(
        s,
        "GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.1 200")
}
