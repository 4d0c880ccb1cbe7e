//! The committed OpenAPI document is what the code generates, and it documents every
//! operation's scopes, errors and examples. Regenerate with:
//! `cargo run -- openapi > openapi/openapi.json`.

use nis2hub::auth::scopes::Scope;
use serde_json::{json, Value};

const COMMITTED: &str = include_str!("../openapi/openapi.json");

#[test]
fn the_committed_document_matches_the_code() {
    let generated = nis2hub::openapi::document();
    let committed: Value = serde_json::from_str(COMMITTED).unwrap();
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date: run `cargo run -- openapi > openapi/openapi.json` and commit it"
    );
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => schema,
    }
}

#[test]
fn every_operation_names_its_scopes_errors_and_examples() {
    let doc: Value = serde_json::from_str(COMMITTED).unwrap();
    let public = [
        "/healthz",
        "/readyz",
        "/oauth/token",
        // The CSAF provider's public part (CSAF 2.0 §7.1.4, §7.1.7–8, §7.1.16, §7.1.20).
        "/.well-known/csaf/provider-metadata.json",
        "/.well-known/security.txt",
        "/.well-known/csaf/service.json",
        "/.well-known/csaf/openpgp/{fingerprint}.asc",
    ];
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let name = format!("{} {path}", method.to_uppercase());
            let responses = op["responses"].as_object().unwrap();
            if public.contains(&path.as_str()) {
                assert_eq!(op["security"], json!([]), "{name} says it is public");
                continue;
            }
            let scopes = op["security"][0]["oauth2"]
                .as_array()
                .unwrap_or_else(|| panic!("{name} names no scope against oauth2"));
            assert_eq!(scopes.len(), 1, "{name} names exactly one scope");
            assert_eq!(
                op["security"][1],
                json!({ "bearer": [] }),
                "{name} accepts any other token the service accepts as the alternative"
            );
            let description = op["description"].as_str().unwrap_or_default();
            assert!(
                description.contains(&format!(
                    "Required scope: `{}`",
                    scopes[0].as_str().unwrap()
                )),
                "{name} says which scope a bearer token needs"
            );
            for status in ["401", "403"] {
                let r = &responses[status];
                assert!(
                    r["content"]["application/problem+json"].is_object(),
                    "{name} documents {status} as a problem"
                );
            }
            if path.contains('{') {
                assert!(responses.contains_key("404"), "{name} documents 404");
            }
            if let Some(body) = op.get("requestBody") {
                assert!(
                    responses.contains_key("422"),
                    "{name} documents validation failures"
                );
                let media = &body["content"]["application/json"];
                let schema = resolve(&doc, &media["schema"]);
                assert!(
                    media.get("example").is_some()
                        || schema.get("example").is_some()
                        || schema.get("examples").is_some(),
                    "{name} has no request example"
                );
            }
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{name} documents its success"
            );
        }
    }
}

/// Generated clients name their functions after operation ids: each one is unique and reads
/// as verb + noun in camelCase (`listEntities`, `createIncident`), as docs/API-DESIGN.md says.
#[test]
fn every_operation_has_a_unique_descriptive_id() {
    let doc: Value = serde_json::from_str(COMMITTED).unwrap();
    let verbs = [
        "list",
        "get",
        "create",
        "update",
        "delete",
        "add",
        "review",
        "request",
        "close",
        "evaluate",
        "import",
        "verify",
        "revoke",
        "deregister",
        "confirm",
        "reject",
        "ping",
        "redeliver",
        "rotate",
        "issue",
        "publish",
        "withdraw",
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let name = format!("{} {path}", method.to_uppercase());
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{name} has no operationId"));
            assert!(
                seen.insert(id.to_string()),
                "{name}: operationId {id} is taken"
            );
            let verb = verbs.iter().find(|v| id.starts_with(*v));
            let noun = verb.map(|v| &id[v.len()..]).unwrap_or_default();
            assert!(
                verb.is_some()
                    && noun.starts_with(|c: char| c.is_ascii_uppercase())
                    && id.chars().all(|c| c.is_ascii_alphanumeric()),
                "{name}: operationId {id} is not verb + Noun in camelCase"
            );
        }
    }
}

/// OpenAPI allows a parameter name once per location; generators drop or rename repeats.
#[test]
fn no_operation_states_a_parameter_twice() {
    let doc = nis2hub::openapi::document();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let mut seen = std::collections::HashSet::new();
            for p in op["parameters"].as_array().into_iter().flatten() {
                assert!(
                    seen.insert((p["name"].to_string(), p["in"].to_string())),
                    "{method} {path} states {} in {} twice",
                    p["name"],
                    p["in"]
                );
            }
        }
    }
}

/// The `oauth2` scheme is the client-credentials grant at `/oauth/token` (RFC 6749 §4.4) and
/// declares every scope the service knows, each with what it allows; every scope an operation
/// names is one of them.
#[test]
fn the_oauth2_scheme_declares_every_scope() {
    let doc: Value = serde_json::from_str(COMMITTED).unwrap();
    let scheme = &doc["components"]["securitySchemes"]["oauth2"];
    assert_eq!(scheme["type"], "oauth2");
    let flows = scheme["flows"].as_object().unwrap();
    assert_eq!(
        flows.keys().collect::<Vec<_>>(),
        ["clientCredentials"],
        "one flow: client credentials"
    );
    let flow = &flows["clientCredentials"];
    assert_eq!(flow["tokenUrl"], "/oauth/token");
    let declared = flow["scopes"].as_object().unwrap();
    assert_eq!(
        declared.len(),
        Scope::ALL.len(),
        "no more scopes than the service knows"
    );
    for scope in Scope::ALL {
        let description = declared
            .get(scope.as_str())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{} is not declared", scope.as_str()));
        assert!(
            !description.trim().is_empty(),
            "{} has no description",
            scope.as_str()
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for requirement in op["security"].as_array().into_iter().flatten() {
                for (name, scopes) in requirement.as_object().unwrap() {
                    assert!(
                        doc["components"]["securitySchemes"].get(name).is_some(),
                        "{method} {path} names the undeclared scheme {name}"
                    );
                    for scope in scopes.as_array().unwrap() {
                        assert!(
                            name == "oauth2" && declared.contains_key(scope.as_str().unwrap()),
                            "{method} {path}: {scope} is not a declared scope of oauth2"
                        );
                    }
                }
            }
        }
    }
}

/// The document's `quarter` pattern is the service's own range: a quarter the pattern allows
/// is accepted and one it refuses is refused, for every four-digit year.
#[test]
fn the_quarter_pattern_is_the_range_the_service_accepts() {
    use nis2hub::awareness::routes::{quarter_bounds, QUARTER_PATTERN};
    let doc: Value = serde_json::from_str(COMMITTED).unwrap();
    let params = doc["paths"]["/api/v1/awareness/quarterly-summary"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let quarter = params.iter().find(|p| p["name"] == "quarter").unwrap();
    assert_eq!(quarter["schema"]["pattern"], QUARTER_PATTERN);
    let pattern = regex::Regex::new(QUARTER_PATTERN).unwrap();
    for year in 0..=9999 {
        for q in 0..=5 {
            let s = format!("{year:04}-Q{q}");
            assert_eq!(
                pattern.is_match(&s),
                quarter_bounds(&s).is_some(),
                "{s}: the pattern and the service disagree"
            );
        }
    }
    for s in [
        "0647-Q2", "1969-Q4", "2026-Q", "2026-Q12", "20260-Q1", " 2026-Q1", "2026-q1",
    ] {
        assert!(quarter_bounds(s).is_none() && !pattern.is_match(s), "{s}");
    }
    assert!(quarter_bounds("1970-Q1").is_some() && quarter_bounds("9999-Q4").is_some());
}
