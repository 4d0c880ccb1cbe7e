//! The OpenAPI document as partners use it: the committed document passes
//! `openapi-spec-validator`, `openapi-python-client` turns it into a client without a warning or
//! an anonymous list-item type, and a partner script on that client (`tests/partner/partner.py`)
//! and the README's Python lines work against the running service.

mod common;
use common::service::{serve, text};
use common::TestDb;
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const DOCUMENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
/// Media types the generator does not know, read as text (see the file).
const CLIENT_CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/partner/client-config.yaml"
);

const REQUIREMENTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/partner/requirements.txt"
);

/// The `bin/` of a virtual environment with the pinned tools of `tests/partner/requirements.txt`,
/// made once under `target/` (again when the pins change); one test process at a time sets it up.
fn tools() -> PathBuf {
    let venv = Path::new(ROOT).join("target/partner-venv");
    let bin = venv.join("bin");
    let marker = venv.join(".requirements");
    let wanted = std::fs::read_to_string(REQUIREMENTS).unwrap();
    let ready = || std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str());
    if ready() {
        return bin;
    }
    std::fs::create_dir_all(venv.parent().unwrap()).unwrap();
    let lock = std::fs::File::create(venv.with_extension("lock")).unwrap();
    lock.lock().unwrap();
    if !ready() {
        if !bin.join("python").exists() {
            let ok = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .unwrap()
                .success();
            assert!(ok, "python3 -m venv failed");
        }
        let ok = Command::new(bin.join("python"))
            .args(["-m", "pip", "install", "-q", "-r", REQUIREMENTS])
            .status()
            .unwrap()
            .success();
        assert!(ok, "pip install -r tests/partner/requirements.txt failed");
        std::fs::write(&marker, &wanted).unwrap();
    }
    bin
}

/// PATH with the tools first, as in an activated virtual environment (the generator runs
/// `ruff` from it to format the client).
fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Generates `nis2hub_client` from the committed document into `dir`, and checks that the
/// generator warned of nothing and named every type.
fn generate_client(bin: &Path, dir: &Path) -> PathBuf {
    let out = Command::new(bin.join("openapi-python-client"))
        .args([
            "generate",
            "--path",
            DOCUMENT,
            "--meta",
            "none",
            "--config",
            CLIENT_CONFIG,
        ])
        .current_dir(dir)
        .env("PATH", path_with(bin))
        .output()
        .unwrap();
    let log = text(&out);
    assert!(out.status.success(), "generation failed:\n{log}");
    assert!(
        !log.to_lowercase().contains("warning"),
        "the generator warned:\n{log}"
    );
    let package = dir.join("nis2hub_client");
    let models = package.join("models");
    assert!(models.is_dir(), "no models generated:\n{log}");
    let anonymous: Vec<String> = files(&package)
        .iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .ends_with("_items_item.py")
                || std::fs::read_to_string(p).is_ok_and(|s| s.contains("ItemsItem"))
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        anonymous.is_empty(),
        "anonymous list-item types: {anonymous:?}"
    );
    package
}

#[test]
fn the_committed_document_validates_and_generates_a_clean_client() {
    let bin = tools();
    let out = Command::new(bin.join("openapi-spec-validator"))
        .arg(DOCUMENT)
        .output()
        .unwrap();
    assert!(
        out.status.success() && text(&out).contains(": OK"),
        "openapi-spec-validator:\n{}",
        text(&out)
    );

    let dir = tempfile::tempdir().unwrap();
    let package = generate_client(&bin, dir.path());
    // Every operation the partner script relies on is a module named by its operationId.
    for module in [
        "api/clients/create_client.py",
        "api/clients/issue_token.py",
        "api/directory/list_organisations.py",
        "api/entities/create_entity.py",
        "api/incidents/create_incident.py",
        "api/incidents/list_incidents.py",
        "api/feed/list_feed_events.py",
    ] {
        assert!(package.join(module).is_file(), "the client lacks {module}");
    }
    // Pages name their item type.
    let page = std::fs::read_to_string(package.join("models/page_incident_summary.py")).unwrap();
    assert!(
        page.contains("items: list[IncidentSummary]"),
        "a page of incidents holds IncidentSummary items:\n{page}"
    );
}

/// The README's "Use it from Python" section: its shell commands and its Python lines.
fn readme_python_section() -> (String, String) {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let section = readme
        .split("<!-- python-client:begin -->")
        .nth(1)
        .and_then(|s| s.split("<!-- python-client:end -->").next())
        .expect("README has the python-client section");
    let block = |lang: &str| {
        section
            .split(&format!("```{lang}\n"))
            .nth(1)
            .and_then(|s| s.split("```").next())
            .unwrap_or_else(|| panic!("the python-client section has a {lang} block"))
            .to_string()
    };
    (block("sh"), block("python"))
}

#[test]
fn a_partner_script_and_the_readme_lines_work_on_the_generated_client() {
    let bin = tools();
    let (commands, python) = readme_python_section();
    // The README installs the generator it tells partners to pin; it must be the one tested here.
    let pins = std::fs::read_to_string(REQUIREMENTS).unwrap();
    for word in commands.split_whitespace().filter(|w| w.contains("==")) {
        assert!(
            pins.lines().any(|l| l.trim() == word),
            "the README pins {word}, tests/partner/requirements.txt does not"
        );
    }

    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let (_server, url, token) = serve(&db, dir.path());

    // The partner script, on the client generated from the committed document.
    let committed = dir.path().join("committed");
    std::fs::create_dir(&committed).unwrap();
    generate_client(&bin, &committed);
    let out = Command::new(bin.join("python"))
        .arg(Path::new(ROOT).join("tests/partner/partner.py"))
        .args(["--url", &url])
        .env("PYTHONPATH", &committed)
        .env("NIS2HUB_TOKEN", &token)
        .output()
        .unwrap();
    let log = text(&out);
    assert!(
        out.status.success() && log.contains("partner: all checks passed"),
        "the partner script failed:\n{log}"
    );

    // The README's lines as written: generate from the running service, then run the Python.
    let readme = dir.path().join("readme");
    std::fs::create_dir(&readme).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{commands}"))
        .current_dir(&readme)
        .env("PATH", path_with(&bin))
        .env("api", &url)
        .output()
        .unwrap();
    let log = text(&out);
    assert!(out.status.success(), "the README's commands failed:\n{log}");
    assert!(
        !log.to_lowercase().contains("warning"),
        "the generator warned:\n{log}"
    );
    std::fs::write(readme.join("first.py"), &python).unwrap();
    let out = Command::new(bin.join("python"))
        .arg("first.py")
        .current_dir(&readme)
        .env("NIS2HUB_URL", &url)
        .env("NIS2HUB_TOKEN", &token)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the README's Python failed:\n{}",
        text(&out)
    );
    assert!(
        stdout.contains("Partner Grid B.V. essential csirt-energy"),
        "the entity the partner registered is listed: {stdout}"
    );
    let reported: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains(" incident.reported incident "))
        .collect();
    assert_eq!(
        reported.len(),
        1,
        "the feed has the partner's incident once: {stdout}"
    );
}
