//! The OpenAPI document as TypeScript partners use it: `openapi-typescript` turns the committed
//! document into types, a partner script on them (`tests/partner-ts/partner.ts`, with
//! `openapi-fetch`) passes `tsc --strict` and works against the running service, a misspelt
//! field in one of its request bodies fails the build, and the README's TypeScript lines
//! compile and work as written.

mod common;
use common::service::{serve, text};
use common::TestDb;
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const DOCUMENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
const PARTNER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/partner-ts");

/// The README's compile command for its TypeScript lines (checked to be in the README).
const README_TSC: &str = "npx tsc --strict --target es2022 --module nodenext first.ts";

/// `node_modules` with exactly the packages of `tests/partner-ts/package-lock.json`, installed
/// once under `target/` by `npm ci` (again when the lock changes); one test process at a time
/// installs, the others wait on the file lock.
fn node_modules() -> PathBuf {
    let dir = Path::new(ROOT).join("target/partner-ts");
    let marker = dir.join(".package-lock.json");
    let wanted = std::fs::read_to_string(Path::new(PARTNER).join("package-lock.json")).unwrap();
    let ready = || std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str());
    if !ready() {
        std::fs::create_dir_all(&dir).unwrap();
        let lock = std::fs::File::create(dir.with_extension("lock")).unwrap();
        lock.lock().unwrap();
        if !ready() {
            for file in ["package.json", "package-lock.json"] {
                std::fs::copy(Path::new(PARTNER).join(file), dir.join(file)).unwrap();
            }
            let out = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--prefer-offline"])
                .current_dir(&dir)
                .output()
                .expect("npm runs (Node 20 and npm, README)");
            assert!(
                out.status.success(),
                "npm ci in target/partner-ts failed:\n{}",
                text(&out)
            );
            std::fs::write(&marker, &wanted).unwrap();
        }
    }
    dir.join("node_modules")
}

/// A folder holding the partner script (or `script` in its place), its `tsconfig.json` and
/// `package.json`, the installed packages and the types generated from the committed
/// document; then `tsc -p .` there. Returns the folder and tsc's output.
fn compile(script: &str) -> (tempfile::TempDir, std::process::Output) {
    let modules = node_modules();
    let dir = tempfile::tempdir().unwrap();
    for file in ["package.json", "tsconfig.json"] {
        std::fs::copy(Path::new(PARTNER).join(file), dir.path().join(file)).unwrap();
    }
    std::fs::write(dir.path().join("partner.ts"), script).unwrap();
    std::os::unix::fs::symlink(&modules, dir.path().join("node_modules")).unwrap();
    let out = Command::new(modules.join(".bin/openapi-typescript"))
        .args([DOCUMENT, "-o", "nis2hub.d.ts"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openapi-typescript failed:\n{}",
        text(&out)
    );
    let out = Command::new(modules.join(".bin/tsc"))
        .args(["-p", "."])
        .current_dir(dir.path())
        .output()
        .unwrap();
    (dir, out)
}

fn partner_script() -> String {
    std::fs::read_to_string(Path::new(PARTNER).join("partner.ts")).unwrap()
}

#[test]
fn the_partner_script_type_checks_strictly_and_a_misspelt_field_does_not() {
    let tsconfig = std::fs::read_to_string(Path::new(PARTNER).join("tsconfig.json")).unwrap();
    assert!(
        tsconfig.contains("\"strict\": true"),
        "the partner script is checked with --strict: {tsconfig}"
    );
    let (_dir, out) = compile(&partner_script());
    assert!(
        out.status.success(),
        "tsc --strict on partner.ts:\n{}",
        text(&out)
    );

    // The same script with the incident report's `summary` misspelt and the entity's size
    // class one that does not exist: the build must fail on both, before anything runs.
    let script = partner_script();
    assert_eq!(script.matches("summary: \"Ransomware").count(), 1);
    assert_eq!(script.matches("size: \"large\"").count(), 1);
    let broken = script
        .replace("summary: \"Ransomware", "sumary: \"Ransomware")
        .replace("size: \"large\"", "size: \"huge\"");
    let (_dir, out) = compile(&broken);
    let log = text(&out);
    assert!(
        !out.status.success(),
        "tsc accepted a misspelt field:\n{log}"
    );
    assert!(
        log.contains("'sumary' does not exist"),
        "tsc names the misspelt field:\n{log}"
    );
    assert!(
        log.contains("\"huge\"") && log.contains("is not assignable"),
        "tsc names the unknown size class:\n{log}"
    );
}

/// The README's "Use it from TypeScript" section: its shell commands and its TypeScript lines.
fn readme_typescript_section() -> (String, String, String) {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let section = readme
        .split("<!-- typescript-client:begin -->")
        .nth(1)
        .and_then(|s| s.split("<!-- typescript-client:end -->").next())
        .expect("README has the typescript-client section");
    let block = |lang: &str| {
        section
            .split(&format!("```{lang}\n"))
            .nth(1)
            .and_then(|s| s.split("```").next())
            .unwrap_or_else(|| panic!("the typescript-client section has a {lang} block"))
            .to_string()
    };
    (block("sh"), block("ts"), readme)
}

#[test]
fn the_partner_script_and_the_readme_lines_work_against_the_service() {
    let (commands, typescript, readme) = readme_typescript_section();
    assert!(
        readme.contains(README_TSC),
        "the README compiles first.ts with `{README_TSC}`"
    );
    // The README installs exactly the versions the partner script is tested with.
    let package: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(PARTNER).join("package.json")).unwrap(),
    )
    .unwrap();
    let mut pinned: Vec<String> = ["dependencies", "devDependencies"]
        .iter()
        .flat_map(|k| package[k].as_object().unwrap())
        .map(|(name, version)| format!("{name}@{}", version.as_str().unwrap()))
        .collect();
    let mut installed: Vec<String> = commands
        .lines()
        .filter(|l| l.starts_with("npm install"))
        .flat_map(|l| l.split_whitespace())
        .filter(|w| !w.starts_with('-') && w.contains("@") && w.rfind('@') > Some(0))
        .map(String::from)
        .collect();
    pinned.sort();
    installed.sort();
    assert_eq!(
        installed, pinned,
        "the README's npm install and tests/partner-ts/package.json"
    );

    let (built, out) = compile(&partner_script());
    assert!(out.status.success(), "tsc on partner.ts:\n{}", text(&out));

    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let (_server, url, token) = serve(&db, dir.path());

    let out = Command::new("node")
        .arg("out/partner.js")
        .args(["--url", &url])
        .current_dir(built.path())
        .env("NIS2HUB_TOKEN", &token)
        .output()
        .unwrap();
    let log = text(&out);
    assert!(
        out.status.success() && log.contains("partner: all checks passed"),
        "the partner script failed:\n{log}"
    );

    // The README's lines as written, in an empty folder: install, generate from the running
    // service, compile strictly, run. npm prefers its cache, which installing the partner
    // script's packages has filled.
    node_modules();
    let readme_dir = dir.path().join("readme");
    std::fs::create_dir(&readme_dir).unwrap();
    let npm_env = |cmd: &mut Command| {
        cmd.current_dir(&readme_dir)
            .env("npm_config_prefer_offline", "true")
            .env("npm_config_audit", "false")
            .env("npm_config_fund", "false")
            .env("npm_config_update_notifier", "false");
    };
    let mut cmd = Command::new("bash");
    npm_env(&mut cmd);
    let out = cmd
        .arg("-c")
        .arg(format!("set -euo pipefail\n{commands}"))
        .env("api", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the README's commands failed:\n{}",
        text(&out)
    );
    std::fs::write(readme_dir.join("first.ts"), &typescript).unwrap();
    let mut cmd = Command::new("bash");
    npm_env(&mut cmd);
    let out = cmd.arg("-c").arg(README_TSC).output().unwrap();
    assert!(
        out.status.success(),
        "the README's TypeScript does not compile:\n{}",
        text(&out)
    );
    let out = Command::new("node")
        .arg("first.js")
        .current_dir(&readme_dir)
        .env("NIS2HUB_URL", &url)
        .env("NIS2HUB_TOKEN", &token)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the README's TypeScript failed:\n{}",
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
