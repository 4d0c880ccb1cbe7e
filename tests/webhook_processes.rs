//! Webhook delivery with the real binary: a SIGKILL in the middle of a stream of reports loses
//! no acknowledged report and no delivery, two instances on one database deliver a stream
//! with no attempt made twice, and one organisation's slow receivers do not hold up another
//! organisation's deliveries. The receiver verifies every request with the independent
//! `standardwebhooks` library.

mod common;
use common::{entity_body, Receiver, TestDb};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_nis2hub");
const JWT_SECRET: &str = "webhook-processes-test-secret-0123456789";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary with the test's database and key, and none of the caller's `NIS2HUB_*` settings.
fn command(db: &TestDb) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (key, _) in std::env::vars() {
        if key.starts_with("NIS2HUB_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("DATABASE_URL", db.url_string())
        .env("NIS2HUB_JWT_SECRET", JWT_SECRET)
        .env("RUST_LOG", "warn");
    cmd
}

/// Runs a command of the binary to its end; its standard output.
fn cli(db: &TestDb, args: &[&str]) -> String {
    let out = command(db).args(args).output().expect("run nis2hub");
    assert!(
        out.status.success(),
        "nis2hub {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn import_directory(db: &TestDb) {
    // The first command on the test's new database creates it.
    let out = cli(
        db,
        &["import-directory", "--init", "examples/directory.json"],
    );
    assert!(out.contains("imported"), "{out}");
}

fn token(db: &TestDb, org: &str, role: &str) -> String {
    cli(db, &["token", "--org", org, "--role", role])
}

/// A running `nis2hub serve`, killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(db: &TestDb, port: u16, poll_ms: u64) -> Server {
        let child = command(db)
            .env("NIS2HUB_LISTEN", format!("127.0.0.1:{port}"))
            .env("NIS2HUB_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")
            .env("NIS2HUB_WEBHOOK_POLL_MS", poll_ms.to_string())
            .env("NIS2HUB_WEBHOOK_RETRY_SECONDS", "1,1,1,1,1")
            .env("NIS2HUB_SWEEP_SECONDS", "0")
            .env("NIS2HUB_WORKERS", "2")
            .env("NIS2HUB_DB_POOL_SIZE", "4")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the service");
        let mut server = Server { child, port };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((200, _)) = http(self.port, "GET", "/readyz", None, None) {
                return;
            }
            if let Some(exit) = self.child.try_wait().unwrap() {
                panic!("the service on port {} exited: {exit:?}", self.port);
            }
            assert!(
                Instant::now() < deadline,
                "the service on port {} did not become ready",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no shutdown, no flushing, nothing finished.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`): the status and body,
/// or an error when the connection fails or closes before a whole response.
fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.set_write_timeout(Some(Duration::from_secs(20)))?;
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if body.is_some() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", payload.len()));
    s.write_all(head.as_bytes())?;
    s.write_all(payload.as_bytes())?;
    s.flush()?;
    let mut raw = vec![];
    s.read_to_end(&mut raw)?;
    parse_response(&raw).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("incomplete response: {:?}", String::from_utf8_lossy(&raw)),
        )
    })
}

fn parse_response(raw: &[u8]) -> Option<(u16, String)> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let rest = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        } else if name == "content-length" {
            length = Some(value.parse::<usize>().ok()?);
        }
    }
    let body = if chunked {
        let mut body = vec![];
        let mut rest = rest;
        loop {
            let end = rest.windows(2).position(|w| w == b"\r\n")?;
            let size = std::str::from_utf8(&rest[..end]).ok()?;
            let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
            rest = &rest[end + 2..];
            if size == 0 {
                break;
            }
            body.extend_from_slice(rest.get(..size)?);
            rest = rest.get(size + 2..)?;
        }
        body
    } else if let Some(n) = length {
        rest.get(..n)?.to_vec()
    } else {
        rest.to_vec()
    };
    Some((status, String::from_utf8_lossy(&body).to_string()))
}

/// A request that must succeed with `expect`; the body as JSON.
fn call(
    port: u16,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
    expect: u16,
) -> Value {
    let (status, text) = http(port, method, path, Some(token), body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    assert_eq!(status, expect, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn register_entity(port: u16, national: &str, identifier: &str) -> String {
    let body = entity_body(identifier, "energy.electricity");
    let entity = call(port, "POST", "/api/v1/entities", national, Some(&body), 201);
    entity["id"].as_str().unwrap().to_string()
}

/// Subscribes the token's organisation to every event, and hands the secret to the receiver.
fn subscribe(port: u16, token: &str, receiver: &Receiver) -> String {
    let sub = call(
        port,
        "POST",
        "/api/v1/webhooks",
        token,
        Some(&json!({"url": receiver.url(), "description": "process test"})),
        201,
    );
    std::fs::write(&receiver.secret_file, sub["secret"].as_str().unwrap()).unwrap();
    sub["id"].as_str().unwrap().to_string()
}

fn report(port: u16, entity: &str, entity_id: &str, n: usize) -> std::io::Result<(u16, String)> {
    let body = json!({
        "entity_id": entity_id,
        "stage": "early_warning",
        "aware_at": chrono::Utc::now(),
        "summary": format!("process test incident {n}"),
    });
    http(port, "POST", "/api/v1/incidents", Some(entity), Some(&body))
}

/// The token's events after `after`, paging with `after` to the end.
fn feed(port: u16, token: &str, mut after: i64) -> Vec<Value> {
    let mut all = vec![];
    loop {
        let page = call(
            port,
            "GET",
            &format!("/api/v1/feed?after={after}&limit=500"),
            token,
            None,
            200,
        );
        let items = page["items"].as_array().unwrap().clone();
        if items.is_empty() {
            return all;
        }
        after = page["next_after"].as_i64().unwrap();
        all.extend(items);
    }
}

fn last_seq(port: u16, token: &str) -> i64 {
    feed(port, token, 0)
        .last()
        .map(|e| e["seq"].as_i64().unwrap())
        .unwrap_or(0)
}

/// Waits until `done` holds for the receiver's requests; whether it did before the deadline.
fn wait_for(receiver: &Receiver, deadline: Duration, done: impl Fn(&[Value]) -> bool) -> bool {
    let until = Instant::now() + deadline;
    loop {
        if done(&receiver.requests()) {
            return true;
        }
        if Instant::now() > until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn delivered_ids(requests: &[Value]) -> HashSet<String> {
    requests
        .iter()
        .filter(|r| r["verified"] == true)
        .filter_map(|r| r["webhook_id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn crash_safety_every_acknowledged_report_is_kept_and_delivered() {
    let db = TestDb::new();
    import_directory(&db);
    let national = token(&db, "ncsirt", "national_csirt");
    let energy = token(&db, "csirt-energy", "sectoral_csirt");
    let mut server = Server::start(&db, free_port(), 50);
    let port = server.port;
    let entity_id = register_entity(port, &national, "crash-1");
    let entity = token(&db, &entity_id, "entity");
    let receiver = Receiver::start(0);
    subscribe(port, &energy, &receiver);
    let baseline = last_seq(port, &energy);

    // A stream of reports, one after another, until the service stops answering.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let unexpected = Arc::new(Mutex::new(Vec::<(u16, String)>::new()));
    let stream = {
        let (acked, unexpected) = (acked.clone(), unexpected.clone());
        let (entity, entity_id) = (entity.clone(), entity_id.clone());
        std::thread::spawn(move || {
            for n in 0..100_000 {
                match report(port, &entity, &entity_id, n) {
                    Ok((201, text)) => {
                        let body: Value = serde_json::from_str(&text).unwrap();
                        acked
                            .lock()
                            .unwrap()
                            .push(body["id"].as_str().unwrap().to_string());
                    }
                    Ok(other) => unexpected.lock().unwrap().push(other),
                    Err(_) => return n,
                }
            }
            100_000
        })
    };
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) || acked.lock().unwrap().len() < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "too few reports were acknowledged"
        );
        assert!(!stream.is_finished(), "the stream stopped before the kill");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!stream.is_finished(), "the stream runs at the kill");
    server.kill();
    let sent = stream.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    let unexpected = unexpected.lock().unwrap().clone();
    assert!(
        unexpected.is_empty(),
        "every report before the kill was acknowledged: {unexpected:?}"
    );
    assert!(acked.len() >= 5 && sent >= acked.len());
    eprintln!(
        "crash test: {} reports acknowledged of {} sent before the kill",
        acked.len(),
        sent + 1
    );

    let restarted_at = Instant::now();
    let server = Server::start(&db, free_port(), 50);
    let port = server.port;
    for id in &acked {
        call(
            port,
            "GET",
            &format!("/api/v1/incidents/{id}"),
            &national,
            None,
            200,
        );
    }

    // Every event addressed to the energy CSIRT since it subscribed is delivered: the
    // `incident.reported` of every acknowledged report, and whatever the killed request wrote.
    let expected = feed(port, &energy, baseline);
    let reported: HashSet<&str> = expected
        .iter()
        .filter(|e| e["type"] == "incident.reported")
        .map(|e| e["subject"]["id"].as_str().unwrap())
        .collect();
    for id in &acked {
        assert!(
            reported.contains(id.as_str()),
            "the feed has incident.reported for {id}"
        );
    }
    let expected_ids: HashSet<String> = expected
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    // A delivery claimed when the service was killed is held for the claim time (60 s) before
    // it is attempted again, and it holds the later events of its subscription behind it.
    let all_arrived = wait_for(&receiver, Duration::from_secs(90), |got| {
        let reported: HashSet<(&str, &str)> = got
            .iter()
            .filter(|r| r["verified"] == true)
            .filter_map(|r| Some((r["type"].as_str()?, r["subject"].as_str()?)))
            .collect();
        acked
            .iter()
            .all(|id| reported.contains(&("incident.reported", id.as_str())))
            && expected_ids.is_subset(&delivered_ids(got))
    });
    let got = receiver.requests();
    eprintln!(
        "crash test: {} events delivered {:.1} s after the restart",
        expected_ids.len(),
        restarted_at.elapsed().as_secs_f64()
    );
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| {
            !got.iter().any(|r| {
                r["verified"] == true
                    && r["type"] == "incident.reported"
                    && r["subject"] == id.as_str()
            })
        })
        .collect();
    assert!(
        all_arrived,
        "incident.reported of every acknowledged report arrives: missing {missing:?}; \
         events not delivered: {:?}",
        expected_ids
            .difference(&delivered_ids(&got))
            .collect::<Vec<_>>()
    );
    // A request the kill cut short cannot verify (the receiver refuses it with 401); its
    // delivery is retried after the restart and must verify then. Any other unverified
    // request would be a signing fault.
    let torn: Vec<&serde_json::Value> = got
        .iter()
        .filter(|r| r["verified"] != true)
        .filter(|r| {
            !got.iter()
                .any(|v| v["verified"] == true && v["webhook_id"] == r["webhook_id"])
        })
        .collect();
    assert!(
        torn.is_empty(),
        "every delivery verifies, at the latest when retried after the restart: {torn:?}"
    );
}

#[test]
fn two_instances_deliver_a_stream_with_no_attempt_made_twice() {
    let db = TestDb::new();
    import_directory(&db);
    let national = token(&db, "ncsirt", "national_csirt");
    let energy = token(&db, "csirt-energy", "sectoral_csirt");
    let a = Server::start(&db, free_port(), 20);
    let b = Server::start(&db, free_port(), 20);
    let entity_id = register_entity(a.port, &national, "two-1");
    let entity = token(&db, &entity_id, "entity");

    // Two subscriptions: the energy CSIRT's, and the national CSIRT's, which sees every event.
    let energy_receiver = Receiver::start(0);
    let national_receiver = Receiver::start(0);
    subscribe(b.port, &energy, &energy_receiver);
    subscribe(a.port, &national, &national_receiver);
    let energy_after = last_seq(a.port, &energy);
    let national_after = last_seq(a.port, &national);

    for n in 0..20 {
        let port = if n % 2 == 0 { a.port } else { b.port };
        let (status, text) = report(port, &entity, &entity_id, n).unwrap();
        assert_eq!(status, 201, "{text}");
    }

    for (who, token, after, receiver) in [
        ("csirt-energy", &energy, energy_after, &energy_receiver),
        ("ncsirt", &national, national_after, &national_receiver),
    ] {
        let expected = feed(b.port, token, after);
        let expected_seqs: Vec<i64> = expected
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect();
        let expected_ids: HashSet<String> = expected
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect();
        if who == "csirt-energy" {
            assert_eq!(
                expected
                    .iter()
                    .filter(|e| e["type"] == "incident.reported")
                    .count(),
                20,
                "the energy CSIRT's feed has every report"
            );
        }
        let arrived = wait_for(receiver, Duration::from_secs(30), |got| {
            expected_ids.is_subset(&delivered_ids(got))
        });
        assert!(
            arrived,
            "{who}: every event of the feed arrives; missing {:?}",
            expected_ids
                .difference(&delivered_ids(&receiver.requests()))
                .collect::<Vec<_>>()
        );
        // A second attempt of an event would arrive soon after the first.
        std::thread::sleep(Duration::from_millis(500));
        let got = receiver.requests();
        assert!(
            got.iter().all(|r| r["verified"] == true),
            "{who}: every request verifies: {got:?}"
        );
        let mut times: HashMap<&str, usize> = HashMap::new();
        for r in &got {
            *times.entry(r["webhook_id"].as_str().unwrap()).or_default() += 1;
        }
        let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            twice.is_empty(),
            "{who}: no event is delivered twice: {twice:?}"
        );
        assert_eq!(
            delivered_ids(&got),
            expected_ids,
            "{who}: exactly the feed's events arrive"
        );
        // Deliveries are concurrent; sorted by `seq` they are the feed, in its order.
        let mut seqs: Vec<i64> = got.iter().map(|r| r["seq"].as_i64().unwrap()).collect();
        seqs.sort_unstable();
        assert_eq!(
            seqs, expected_seqs,
            "{who}: sorted by seq, the feed's order"
        );
    }
}

#[test]
fn a_slow_organisation_does_not_delay_another_organisations_deliveries() {
    let db = TestDb::new();
    import_directory(&db);
    let national = token(&db, "ncsirt", "national_csirt");
    let energy = token(&db, "csirt-energy", "sectoral_csirt");
    let health = token(&db, "csirt-health", "sectoral_csirt");
    let server = Server::start(&db, free_port(), 50);
    let port = server.port;

    // The energy CSIRT: ten subscriptions (as many as it may have) to a receiver that takes
    // four seconds over every answer, and a backlog of sixty deliveries for them.
    let slow = Receiver::start_with(0, 4.0);
    let mut secrets = vec![];
    for i in 0..10 {
        let sub = call(
            port,
            "POST",
            "/api/v1/webhooks",
            &energy,
            Some(&json!({"url": format!("{}/{i}", slow.url())})),
            201,
        );
        secrets.push(sub["secret"].as_str().unwrap().to_string());
    }
    std::fs::write(&slow.secret_file, &secrets[0]).unwrap();
    let entity_id = register_entity(port, &national, "slow-1");
    let entity = token(&db, &entity_id, "entity");
    for n in 0..3 {
        let (status, text) = report(port, &entity, &entity_id, n).unwrap();
        assert_eq!(status, 201, "{text}");
    }
    assert!(
        wait_for(&slow, Duration::from_secs(10), |got| !got.is_empty()),
        "the slow receiver is being delivered to"
    );

    // The health CSIRT's ping arrives within seconds all the same.
    let fast = Receiver::start(0);
    let sub = subscribe(port, &health, &fast);
    let pinged = Instant::now();
    call(
        port,
        "POST",
        &format!("/api/v1/webhooks/{sub}/ping"),
        &health,
        Some(&json!({})),
        202,
    );
    let arrived = wait_for(&fast, Duration::from_secs(20), |got| {
        got.iter()
            .any(|r| r["verified"] == true && r["type"] == "webhook.ping")
    });
    let took = pinged.elapsed();
    assert!(arrived, "the other organisation's ping arrives");
    assert!(
        took < Duration::from_secs(3),
        "the other organisation's ping took {:.1} s behind the slow receivers",
        took.as_secs_f64()
    );
    // Meanwhile the slow organisation holds no more than its share of the delivery threads:
    // two at a time, four seconds each.
    let slow_so_far = slow.requests().len();
    assert!(
        slow_so_far <= 4,
        "the slow organisation had {slow_so_far} deliveries under way"
    );
}

/// The README's recipe for a receiver on the developer's own machine, run exactly as written
/// against a service started as it says: the example receiver (standard library only, a
/// verifier written by hand) accepts the service's signature on the ping, and refuses a
/// request signed with another key — so the recipe's explanation of the secret is right.
#[test]
fn the_readme_local_receiver_recipe_works_verbatim() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    assert!(
        readme.contains("NIS2HUB_WEBHOOK_ALLOW_HOSTS=127.0.0.1 cargo run --release\n"),
        "the README starts the service with the receiver's host allowed, as this test does"
    );
    let script = readme
        .split("<!-- local-webhook:begin -->")
        .nth(1)
        .and_then(|s| s.split("<!-- local-webhook:end -->").next())
        .expect("README has the local-webhook section")
        .trim()
        .trim_start_matches("```sh")
        .trim_end_matches("```");

    let db = TestDb::new();
    import_directory(&db);
    let server = Server::start(&db, free_port(), 100);
    let receiver_port = free_port();
    let out_dir = tempfile::tempdir().unwrap();
    let out_path = out_dir.path().join("out.txt");
    let out = std::fs::File::create(&out_path).unwrap();
    // `$TOKEN` and `show` as the first calls define them.
    let prelude = "show() { cat; echo; }\nTOKEN=$($bin token --org ncsirt --role national_csirt)\n";
    let mut bash = Command::new("bash");
    for (key, _) in std::env::vars() {
        if key.starts_with("NIS2HUB_") {
            bash.env_remove(key);
        }
    }
    use std::os::unix::process::CommandExt;
    let mut child = bash
        .arg("-c")
        .arg(format!("set -euo pipefail\n{prelude}{script}"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("bin", BIN)
        .env("api", format!("http://127.0.0.1:{}", server.port))
        .env("port", receiver_port.to_string())
        .env("DATABASE_URL", db.url_string())
        .env("NIS2HUB_JWT_SECRET", JWT_SECRET)
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        // Its own process group, so the receiver it leaves running is stopped with it.
        .process_group(0)
        .spawn()
        .expect("run bash");
    let group = child.id();
    let stop = || {
        let _ = Command::new("kill")
            .args(["--", &format!("-{group}")])
            .status();
    };
    let status = child.wait().unwrap();
    let read = || std::fs::read_to_string(&out_path).unwrap_or_default();
    if !status.success() {
        stop();
        panic!("the README's recipe failed:\n{}", read());
    }

    let deadline = Instant::now() + Duration::from_secs(20);
    let ping = loop {
        let printed = read();
        let line = printed
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["type"] == "webhook.ping");
        if let Some(line) = line {
            break line;
        }
        if Instant::now() > deadline {
            stop();
            panic!("the receiver printed no ping:\n{printed}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(ping["verified"], true, "{}", read());
    assert!(ping["seq"].as_i64().is_some_and(|s| s > 0), "{ping}");

    // A request signed with another key is refused by the same receiver.
    let body = r#"{"type":"webhook.ping","seq":1}"#;
    let now = chrono::Utc::now().timestamp().to_string();
    let forged = format!(
        "POST /hooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         webhook-id: msg_forged\r\nwebhook-timestamp: {now}\r\n\
         webhook-signature: v1,bm90IHRoZSBzaWduYXR1cmUgb2YgdGhpcyBib2R5IQ==\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(("127.0.0.1", receiver_port)).unwrap();
    stream.write_all(forged.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    stop();
    assert!(answer.starts_with("HTTP/1.0 401"), "{answer}");
}
