//! The binary with `NIS2HUB_METRICS_LISTEN`: metrics on their own listener without a token,
//! and not on the main one; health and readiness stay open on the main listener.

mod common;
use common::TestDb;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Status and body of a plain HTTP GET, or None when nothing answers.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, out))
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn metrics_are_served_only_on_their_own_listener() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let (main, metrics) = (free_port(), free_port());
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_nis2hub"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("DATABASE_URL", db.url_string())
            .env("NIS2HUB_LISTEN", format!("127.0.0.1:{main}"))
            .env("NIS2HUB_METRICS_LISTEN", format!("127.0.0.1:{metrics}"))
            .env("NIS2HUB_JWT_SECRET_FILE", dir.path().join("jwt-secret"))
            .env("NIS2HUB_WORKERS", "1")
            .env("NIS2HUB_DB_POOL_SIZE", "2")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the service"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while http_get(main, "/readyz").map(|r| r.0) != Some(200) {
        assert!(Instant::now() < deadline, "the service came up");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(http_get(main, "/healthz").map(|r| r.0), Some(200));
    let (status, body) = http_get(metrics, "/metrics").expect("the metrics listener answers");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("nis2hub_http_requests_total"), "{body}");
    assert!(body.contains(r#"route="/readyz""#), "{body}");
    assert_eq!(
        http_get(main, "/metrics").map(|r| r.0),
        Some(404),
        "not on the main listener"
    );
    assert_eq!(
        http_get(metrics, "/api/v1/entities").map(|r| r.0),
        Some(404),
        "nothing else on the metrics listener"
    );
}
