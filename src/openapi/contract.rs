//! The parts of the contract the annotations cannot say: the request-body shapes that differ
//! per operation (first and later incident reports, merge patches, the routing dry run), the
//! headers (`Idempotency-Key`, `If-Match`, `ETag`, `Link`) and `uniqueItems`. Each is derived
//! from a schema the code generates, so it cannot drift from the structs.

use crate::awareness::routes::QUARTER_PATTERN;
use crate::formats::{CVE_PATTERN, IDEMPOTENCY_KEY_PATTERN, NOT_BLANK_PATTERN};
use serde_json::{json, Map, Value};

/// Operations whose 200/201 answer carries the record's version in `ETag`.
const ETAGGED: &[&str] = &[
    "getOrganisation",
    "updateOrganisation",
    "getEntity",
    "updateEntity",
    "deregisterEntity",
    "confirmEntityDeregistration",
    "rejectEntityDeregistration",
    "getIncident",
    "getAdvisory",
    "updateAdvisory",
    "publishAdvisory",
    "withdrawAdvisory",
    "getCvdCase",
    "updateCvdCase",
    "updateCvdCaseState",
];

/// Merge-patch operations and the input schema their result must satisfy.
const PATCHES: &[(&str, &str, &str)] = &[
    ("updateEntity", "EntityInput", "EntityPatch"),
    (
        "updateOrganisation",
        "OrganisationInput",
        "OrganisationPatch",
    ),
    ("updateWebhook", "WebhookInput", "WebhookPatch"),
    ("updateAdvisory", "AdvisoryInput", "AdvisoryPatch"),
];

/// Arrays whose items must differ (the service refuses a code listed twice).
const UNIQUE_ITEMS: &[(&str, &str)] = &[
    ("OrganisationInput", "coverage"),
    ("OrganisationPatch", "coverage"),
    ("EntityPatch", "additional_sectors"),
    ("EntityInput", "additional_sectors"),
    ("AdvisoryInput", "sectors"),
    ("AdvisoryInput", "entity_ids"),
    ("AdvisoryInput", "cves"),
    ("AffectedProduct", "versions"),
    ("AffectedProduct", "fixed_in"),
    ("AffectedProduct", "not_affected"),
];

/// Item rules of string lists, which the field annotations cannot reach: (schema, property,
/// what each item is).
fn list_items() -> Vec<(&'static str, &'static str, Value)> {
    let version = json!({ "type": "string", "minLength": 1, "maxLength": 100 });
    let cve = json!({ "type": "string", "pattern": CVE_PATTERN });
    let mut version_not_blank = version.clone();
    version_not_blank["pattern"] = json!(NOT_BLANK_PATTERN);
    vec![
        ("AffectedProduct", "versions", version_not_blank.clone()),
        ("AffectedProduct", "fixed_in", version_not_blank.clone()),
        ("AffectedProduct", "not_affected", version_not_blank),
        ("AdvisoryInput", "cves", cve.clone()),
        ("VulnerabilityReport", "versions", version.clone()),
        ("VulnerabilityReport", "cves", cve.clone()),
        ("CasePatch", "versions", version),
        ("CasePatch", "cves", cve),
    ]
}

/// Free text that may not be blank (the service trims it, and nothing may be left).
const NOT_BLANK: &[(&str, &str)] = &[
    ("AdvisoryInput", "title"),
    ("MaturityAssessor", "organisation"),
];

pub fn apply(doc: &mut Value) {
    report_inputs(doc);
    for (schema, property, items) in list_items() {
        if let Some(p) = doc.pointer_mut(&format!(
            "/components/schemas/{schema}/properties/{property}/items"
        )) {
            *p = items;
        }
    }
    for (schema, property) in NOT_BLANK {
        if let Some(p) = doc.pointer_mut(&format!(
            "/components/schemas/{schema}/properties/{property}"
        )) {
            p["pattern"] = json!(NOT_BLANK_PATTERN);
        }
    }
    for (schema, property) in UNIQUE_ITEMS {
        if let Some(p) = doc.pointer_mut(&format!(
            "/components/schemas/{schema}/properties/{property}"
        )) {
            p["uniqueItems"] = json!(true);
        }
    }
    advisory_input(doc);
    cvd_inputs(doc);
    maturity_input(doc);
    patch_inputs(doc);
    evaluate_input(doc);
    headers(doc);
    no_nul_in_requests(doc);
    quarter_parameter(doc);
}

/// The quarter the summary is asked for: exactly the years the service accepts
/// ([`QUARTER_PATTERN`], which the service matches too).
fn quarter_parameter(doc: &mut Value) {
    for (id, op) in operations(doc) {
        if id != "getAwarenessQuarterlySummary" {
            continue;
        }
        for p in op["parameters"].as_array_mut().into_iter().flatten() {
            if p["name"] == "quarter" && p["in"] == "query" {
                p["schema"]["pattern"] = json!(QUARTER_PATTERN);
            }
        }
    }
}

/// What a client's free text may hold: anything but NUL (`\u0000`), which the service refuses
/// in bodies (422) and query strings (400) because PostgreSQL cannot store it.
pub const NO_NUL_PATTERN: &str = "^[^\\x00]*$";

/// Adds [`NO_NUL_PATTERN`] to every free-text string a request can carry: the properties of
/// every schema a request body reaches and the string query parameters.
fn no_nul_in_requests(doc: &mut Value) {
    let mut names: Vec<String> = vec![];
    let mut queue: Vec<Value> = vec![];
    for (_, op) in operations(doc) {
        if let Some(body) = op.get("requestBody") {
            queue.push(body.clone());
        }
        if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
            for p in params.iter_mut().filter(|p| p["in"] == "query") {
                free_text(&mut p["schema"]);
            }
        }
    }
    while let Some(v) = queue.pop() {
        collect_refs(
            &v,
            &mut |name| {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_string());
                    true
                } else {
                    false
                }
            },
            &mut queue,
            doc,
        );
    }
    let all = schemas(doc);
    for name in names {
        if let Some(s) = all.get_mut(&name) {
            walk_free_text(s);
        }
    }
}

fn collect_refs(
    v: &Value,
    first_time: &mut impl FnMut(&str) -> bool,
    queue: &mut Vec<Value>,
    doc: &Value,
) {
    match v {
        Value::Object(o) => {
            if let Some(name) = o
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                if first_time(name) {
                    if let Some(s) = doc.pointer(&format!("/components/schemas/{name}")) {
                        queue.push(s.clone());
                    }
                }
            }
            o.values()
                .for_each(|c| collect_refs(c, first_time, queue, doc));
        }
        Value::Array(a) => a
            .iter()
            .for_each(|c| collect_refs(c, first_time, queue, doc)),
        _ => {}
    }
}

/// Walks a schema's own subschemas (not into `$ref`s), marking free-text strings.
fn walk_free_text(v: &mut Value) {
    if let Value::Object(o) = v {
        for (key, child) in o.iter_mut() {
            match key.as_str() {
                "properties" => {
                    if let Some(props) = child.as_object_mut() {
                        props.values_mut().for_each(walk_free_text);
                    }
                }
                "items" | "additionalProperties" => walk_free_text(child),
                "oneOf" | "anyOf" | "allOf" => {
                    if let Some(a) = child.as_array_mut() {
                        a.iter_mut().for_each(walk_free_text);
                    }
                }
                _ => {}
            }
        }
    }
    free_text(v);
}

fn free_text(schema: &mut Value) {
    let Some(o) = schema.as_object_mut() else {
        return;
    };
    let is_string = match o.get("type") {
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(a)) => a.contains(&json!("string")),
        _ => false,
    };
    let constrained = ["pattern", "enum", "const", "format", "$ref"]
        .iter()
        .any(|k| o.contains_key(*k));
    if is_string && !constrained {
        o.insert("pattern".into(), json!(NO_NUL_PATTERN));
    }
}

fn schemas(doc: &mut Value) -> &mut Map<String, Value> {
    doc.pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .expect("the document has schemas")
}

/// Every operation with its id.
fn operations(doc: &mut Value) -> impl Iterator<Item = (String, &mut Value)> {
    doc.get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|op| {
            let id = op.get("operationId")?.as_str()?.to_string();
            Some((id, op))
        })
}

fn set_body(doc: &mut Value, operation: &str, schema: &str) {
    for (id, op) in operations(doc) {
        if id == operation {
            op["requestBody"]["content"]["application/json"]["schema"] =
                json!({ "$ref": format!("#/components/schemas/{schema}") });
        }
    }
}

fn timestamp() -> Value {
    json!({ "$ref": "#/components/schemas/Timestamp" })
}

/// Sets an object schema's rules between fields (an `anyOf` or `oneOf` of partial schemas) as
/// the one member of an `allOf`. JSON Schema reads both forms alike: the object matches its
/// `properties` and one of the alternatives. Generators do not: beside `properties`,
/// openapi-typescript 7 reads `anyOf` as "the properties or an alternative" (`Core | A | B`,
/// where an alternative of optional fields accepts a misspelt field or a value outside an enum,
/// so `tsc --strict` passes a wrong request body), and openapi-python-client splits the body
/// into anonymous `…Type0`, `…Type1` models. Under `allOf` they make `Core & (A | B)` and one
/// named model.
fn between_fields(schema: &mut Value, keyword: &str, alternatives: Value) {
    debug_assert!(schema.get("allOf").is_none(), "one set of rules per schema");
    let mut rule = serde_json::Map::new();
    rule.insert(keyword.to_string(), alternatives);
    schema["allOf"] = json!([rule]);
}

/// A report's `handling_ended_at` belongs to a progress report.
fn handling_ended_only_when_progress() -> Value {
    json!([
        { "properties": { "stage": { "const": "progress" } } },
        { "properties": { "handling_ended_at": { "type": "null" } } }
    ])
}

/// The first report of an incident names the entity and when it became aware; later reports
/// cannot change those (nor `occurred_at`). `ReportInput` stays the shape of a stored report.
fn report_inputs(doc: &mut Value) {
    let all = schemas(doc);
    let Some(report) = all.get("ReportInput").cloned() else {
        return;
    };
    let mut first = report.clone();
    first["description"] = json!(
        "The first report of an incident, of any stage: it names the entity and when it became aware."
    );
    first["properties"]["entity_id"] = json!({
        "type": "string", "format": "uuid",
        "description": "The registered entity the incident belongs to."
    });
    first["properties"]["aware_at"] = timestamp();
    first["properties"]["aware_at"]["description"] =
        json!("When the entity became aware (deadlines run from here); at most 5 minutes ahead of the service's clock.");
    if let Some(req) = first["required"].as_array_mut() {
        req.insert(0, json!("aware_at"));
        req.insert(0, json!("entity_id"));
    }
    between_fields(&mut first, "anyOf", handling_ended_only_when_progress());

    let mut next = report;
    next["description"] = json!(
        "A later report of an incident. The entity, `aware_at` and `occurred_at` were set by the first report."
    );
    if let Some(props) = next["properties"].as_object_mut() {
        for p in ["entity_id", "aware_at", "occurred_at"] {
            props.remove(p);
        }
    }
    between_fields(&mut next, "anyOf", handling_ended_only_when_progress());
    next["example"] = json!({
        "stage": "notification",
        "summary": "Jump hosts rebuilt; grid control restored, SCADA network segmented",
        "significant": true,
        "impact": {"severe_operational_disruption": true, "users_affected": 120000, "unavailability_minutes": 95},
        "root_cause": "phishing",
        "mitigation": "credentials rotated, jump hosts rebuilt from images"
    });
    all.insert("FirstReportInput".into(), first);
    all.insert("NextReportInput".into(), next);
    set_body(doc, "createIncident", "FirstReportInput");
    set_body(doc, "addIncidentReport", "NextReportInput");
}

/// A merge patch (RFC 7396) may name any field of the input; `null` removes an optional one.
/// Fields the input requires cannot be removed, so they are not nullable here.
fn patch_inputs(doc: &mut Value) {
    for (operation, input, name) in PATCHES {
        let all = schemas(doc);
        let Some(source) = all.get(*input).cloned() else {
            continue;
        };
        let required: Vec<String> = source["required"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let mut props = source["properties"].clone();
        if let Some(props) = props.as_object_mut() {
            for (key, schema) in props.iter_mut() {
                if !required.contains(key) {
                    *schema = nullable(schema.take());
                }
            }
        }
        let patch = json!({
            "type": "object",
            "description": format!(
                "A JSON merge patch (RFC 7396) of `{input}`: the fields to change; `null` removes an optional field. The result is validated as a whole."
            ),
            "properties": props,
            "additionalProperties": false
        });
        all.insert((*name).into(), patch);
        let mut example = None;
        for (id, op) in operations(doc) {
            if id == *operation {
                example = op
                    .pointer("/requestBody/content/application~1json/example")
                    .cloned();
            }
        }
        if let Some(e) = example {
            schemas(doc)[*name]["example"] = e;
        }
        set_body(doc, operation, name);
    }
}

fn nullable(schema: Value) -> Value {
    let is_null = |v: &Value| v.get("type") == Some(&json!("null"));
    match &schema {
        Value::Object(o) => {
            let types = o.get("type");
            let already = match types {
                Some(Value::Array(a)) => a.contains(&json!("null")),
                _ => o
                    .get("oneOf")
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.iter().any(is_null)),
            };
            if already {
                return schema;
            }
            if let Some(Value::String(t)) = types {
                let mut o = o.clone();
                o.insert("type".into(), json!([t, "null"]));
                return Value::Object(o);
            }
            json!({ "oneOf": [{ "type": "null" }, schema] })
        }
        _ => schema,
    }
}

/// Who an advisory is for decides which of `sectors` and `entity_ids` it names: a sectoral one
/// at least one sector, a targeted one entities or a `match` that finds them, the others
/// neither; TLP:RED is for a targeted advisory with named entities.
fn advisory_input(doc: &mut Value) {
    let not_red = json!({ "type": "string", "enum": ["CLEAR", "GREEN", "AMBER", "AMBER+STRICT"] });
    let none = json!({ "type": "array", "items": { "type": "string" }, "maxItems": 0 });
    let some = json!({ "type": "array", "items": { "type": "string" }, "minItems": 1 });
    let all = schemas(doc);
    for (list, name) in [
        ("ip_ranges", "MatchByRanges"),
        ("domains", "MatchByDomains"),
    ] {
        if let Some(mut m) = all.get("Match").cloned() {
            m["description"] = json!(format!("A `match` that names at least one of `{list}`."));
            m["required"] = json!([list]);
            m["properties"][list]["minItems"] = json!(1);
            all.insert(name.into(), m);
        }
    }
    if let Some(s) = all.get_mut("AdvisoryInput") {
        let targeted_matching = |name: &str| {
            json!({ "required": ["match"], "properties": {
                "audience": { "const": "targeted" }, "sectors": none, "tlp": not_red,
                "match": { "$ref": format!("#/components/schemas/{name}") }
            } })
        };
        between_fields(
            s,
            "anyOf",
            json!([
                { "properties": { "audience": { "const": "national" }, "sectors": none, "entity_ids": none, "tlp": not_red } },
                { "required": ["sectors"], "properties": { "audience": { "const": "sectoral" }, "sectors": some, "entity_ids": none, "tlp": not_red } },
                { "required": ["entity_ids"], "properties": { "audience": { "const": "targeted" }, "sectors": none, "entity_ids": some } },
                targeted_matching("MatchByRanges"),
                targeted_matching("MatchByDomains")
            ]),
        );
    }
}

/// The CVD bodies' rules between fields: a vendor is a registered entity or an external one
/// with a name and address; `rejected` and `duplicate` need a reason, and only a duplicate
/// names the case it duplicates; nobody sets `unresponsive` or `disclosed` by hand.
fn cvd_inputs(doc: &mut Value) {
    let all = schemas(doc);
    if let Some(s) = all.get_mut("VendorInput") {
        between_fields(
            s,
            "oneOf",
            json!([
                { "required": ["entity_id"], "properties": { "entity_id": { "type": "string" }, "contact_email": { "type": "null" } } },
                { "required": ["contact_email", "name"], "properties": { "contact_email": { "type": "string" }, "name": { "type": "string" }, "entity_id": { "type": "null" } } }
            ]),
        );
    }
    if let Some(s) = all.get_mut("TriageInput") {
        between_fields(
            s,
            "oneOf",
            json!([
                { "properties": { "state": { "type": "string", "enum": ["received", "triaged", "coordinating"] }, "duplicate_of": { "type": "null" } } },
                { "required": ["reason"], "properties": { "state": { "const": "rejected" }, "reason": { "type": "string" }, "duplicate_of": { "type": "null" } } },
                { "required": ["reason", "duplicate_of"], "properties": { "state": { "const": "duplicate" }, "reason": { "type": "string" }, "duplicate_of": { "type": "string" } } }
            ]),
        );
    }
    all.insert(
        "VendorAnswer".into(),
        json!({
            "type": "string",
            "description": "A vendor's status as the vendor or a coordinator sets it (`unresponsive` is only set by the service).",
            "enum": ["unknown", "affected", "not_affected", "fixed"]
        }),
    );
    if let Some(p) = all
        .get_mut("VendorPatch")
        .and_then(|s| s.pointer_mut("/properties/status"))
    {
        *p = json!({ "oneOf": [{ "type": "null" }, { "$ref": "#/components/schemas/VendorAnswer" }] });
    }
}

/// Scores are levels of the scale, evidence is bounded, and a peer review names its reviewers
/// with their member states. Which parameters there are is the loaded catalogue's (see
/// `GET /api/v1/maturity/model`), not the document's.
fn maturity_input(doc: &mut Value) {
    let all = schemas(doc);
    if let Some(mut peer) = all.get("MaturityAssessor").cloned() {
        peer["description"] = json!("A reviewer of a peer review: its member state is required.");
        peer["required"] = json!(["organisation", "member_state"]);
        peer["properties"]["member_state"] = json!({ "$ref": "#/components/schemas/MemberState" });
        all.insert("MaturityPeerAssessor".into(), peer);
    }
    let Some(s) = all.get_mut("MaturityAssessmentInput") else {
        return;
    };
    s["properties"]["scores"]["additionalProperties"] = json!({
        "type": "integer", "minimum": 0, "maximum": crate::rules::maturity::MAX_LEVEL
    });
    s["properties"]["evidence"]["additionalProperties"] =
        json!({ "type": "string", "maxLength": 10000 });
    between_fields(
        s,
        "anyOf",
        json!([
            { "properties": { "type": { "type": "string", "enum": ["self", "audit"] } } },
            { "required": ["assessors"], "properties": { "type": { "const": "peer" }, "assessors": {
                "type": "array",
                "minItems": 1,
                "items": { "$ref": "#/components/schemas/MaturityPeerAssessor" }
            } } }
        ]),
    );
}

/// The dry run takes either a registered entity or one described inline, never both.
fn evaluate_input(doc: &mut Value) {
    if let Some(s) = schemas(doc).get_mut("EvaluateInput") {
        between_fields(
            s,
            "oneOf",
            json!([
                { "required": ["entity_id"], "properties": { "entity_id": { "type": "string" } } },
                { "required": ["entity"], "properties": { "entity": { "$ref": "#/components/schemas/HypotheticalEntity" } } }
            ]),
        );
    }
}

/// Request and response headers: `Idempotency-Key` (its shape), `ETag` on versioned reads and
/// writes, `Link` on every cursor-paginated list and the feed.
fn headers(doc: &mut Value) {
    for (id, op) in operations(doc) {
        if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
            for p in params.iter_mut() {
                match p["name"].as_str() {
                    Some("Idempotency-Key") => {
                        p["schema"] =
                            json!({ "type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN });
                        p["description"] = json!("1 to 255 visible ASCII characters, unique per request you mean: a retry with the same key and body gets the first response again (with `Idempotent-Replayed: true`); the same key with another body gets 422. Keys are kept 24 hours per caller.");
                    }
                    Some("If-Match") => {
                        p["description"] = json!("The `ETag` you read (`\"v<version>\"`, or `*`); the write happens only if the record still has that version, else 412. Without it the last writer wins.");
                    }
                    _ => {}
                }
            }
        }
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        for (status, response) in responses.iter_mut() {
            if !status.starts_with('2') {
                continue;
            }
            let body = response
                .pointer("/content/application~1json/schema/$ref")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let mut add = |name: &str, description: &str| {
                response["headers"][name] = json!({
                    "description": description,
                    "schema": { "type": "string" }
                });
            };
            if ETAGGED.contains(&id.as_str()) {
                add(
                    "ETag",
                    "The record's version as a strong tag, `\"v<version>\"`; send it back in `If-Match`.",
                );
            }
            let paged = body.starts_with("#/components/schemas/Page_") && id != "listSectors";
            if paged || id == "listFeedEvents" {
                add(
                    "Link",
                    "`<…>; rel=\"next\"`: the next page, with your filters; absent on the last page.",
                );
            }
            if status == "201" && op_has_idempotency(&id) {
                add(
                    "Idempotent-Replayed",
                    "`true` when this is the stored first response to an earlier request with the same `Idempotency-Key`.",
                );
            }
        }
    }
}

fn op_has_idempotency(id: &str) -> bool {
    matches!(
        id,
        "createOrganisation"
            | "createEntity"
            | "createClient"
            | "createIncident"
            | "addIncidentReport"
            | "createWebhook"
            | "createAdvisory"
            | "createCvdReport"
            | "addCvdVendor"
            | "createCvdMessage"
            | "createMaturityAssessment"
    )
}
