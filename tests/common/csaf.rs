//! The reference CSAF validator (`tests/csaf/validate.mjs` on @secvisogram/csaf-validator-lib),
//! installed once under `target/`, for tests outside the advisory suite.

use serde_json::{json, Value};

fn validator() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-csaf-validator");
    let marker = dir.join(".csaf-validator-lib-2.0.10");
    if marker.exists() {
        return dir;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::File::create(dir.with_extension("lock")).unwrap();
    lock.lock().unwrap();
    if !marker.exists() {
        std::fs::write(
            dir.join("package.json"),
            r#"{"private": true, "type": "module"}"#,
        )
        .unwrap();
        let ok = std::process::Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--silent",
                "@secvisogram/csaf-validator-lib@2.0.10",
            ])
            .current_dir(&dir)
            .status()
            .expect("npm runs")
            .success();
        assert!(
            ok,
            "npm install @secvisogram/csaf-validator-lib@2.0.10 failed"
        );
        std::fs::write(&marker, "").unwrap();
    }
    dir
}

/// Asserts that the document passes the strict schema and every mandatory, optional and
/// (offline) informative test with no error.
pub fn assert_valid(doc: &Value) {
    let file = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
    std::fs::write(file.path(), serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let out = std::process::Command::new("node")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/csaf/validate.mjs"
        ))
        .arg(validator())
        .arg(file.path())
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no result: {}", String::from_utf8_lossy(&out.stderr)));
    let result: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("{line}"));
    assert!(result["tests"].as_i64().unwrap() > 60, "{line}");
    assert_eq!(result["errors"], json!([]), "{line}");
    assert_eq!(result["isValid"], true, "{line}");
    assert!(out.status.success(), "{stdout}");
}
