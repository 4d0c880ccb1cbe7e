//! CSAF documents the tests hold in memory, checked by the reference validator.

use serde_json::Value;

/// Asserts that the document passes the strict schema and every mandatory, optional and
/// (offline) informative test with no error (see `validate_csaf`).
pub fn assert_valid(doc: &Value) {
    let file = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
    std::fs::write(file.path(), serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    super::validate_csaf(&[file.path()]);
}
