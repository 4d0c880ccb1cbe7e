//! The OpenAPI document tells the truth about what the service accepts: data its schemas allow
//! is taken, data they refuse is refused, on both backends. Each test pairs a rule of the
//! document with the service's answer.

mod common;
use common::*;
use serde_json::{json, Value};

fn doc() -> Value {
    nis2hub::openapi::document()
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// The parameter `name` of the operation with this id.
fn param<'a>(doc: &'a Value, operation: &str, name: &str) -> &'a Value {
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            if op["operationId"] == operation {
                return op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["name"] == name)
                    .unwrap_or_else(|| panic!("{operation} has no parameter {name}"));
            }
        }
    }
    panic!("no operation {operation}")
}

fn operation<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|i| i.as_object().unwrap().values())
        .find(|op| op["operationId"] == id)
        .unwrap_or_else(|| panic!("no operation {id}"))
}

#[test]
fn closed_sets_are_enums_generated_from_the_code() {
    let d = doc();
    let sectors: Vec<String> = nis2hub::directory::sectors::SECTORS
        .iter()
        .map(|s| s.code.to_string())
        .collect();
    assert_eq!(strings(&schema(&d, "SectorCode")["enum"]), sectors);
    let registrable = strings(&schema(&d, "RegistrableSectorCode")["enum"]);
    assert!(registrable.contains(&"energy.electricity".to_string()));
    assert!(
        !registrable.contains(&"energy".to_string()),
        "a sector with subsectors is not registrable"
    );
    let states: Vec<String> = nis2hub::entities::model::MEMBER_STATES
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(strings(&schema(&d, "MemberState")["enum"]), states);
    assert_eq!(
        strings(&schema(&d, "GrantType")["enum"]),
        vec!["client_credentials"]
    );
    assert_eq!(
        strings(&schema(&d, "TokenRequest")["required"]),
        vec!["grant_type"]
    );
    let input = &schema(&d, "EntityInput")["properties"];
    assert_eq!(input["country"]["$ref"], "#/components/schemas/MemberState");
    assert_eq!(
        input["sector"]["$ref"],
        "#/components/schemas/RegistrableSectorCode"
    );
    assert_eq!(
        input["ip_ranges"]["items"]["$ref"],
        "#/components/schemas/Cidr"
    );
    assert_eq!(
        input["domains"]["items"]["$ref"],
        "#/components/schemas/DomainName"
    );
    assert_eq!(input["additional_sectors"]["uniqueItems"], true);
    assert_eq!(
        schema(&d, "ContactPerson")["properties"]["email"]["format"],
        "email"
    );
    assert_eq!(
        schema(&d, "OrganisationInput")["properties"]["coverage"]["uniqueItems"],
        true
    );
    assert_eq!(
        schema(&d, "ClientInput")["properties"]["organisation_id"]["format"],
        "uuid"
    );
}

#[test]
fn validator_limits_are_in_the_schema() {
    let d = doc();
    let org = &schema(&d, "OrganisationInput")["properties"];
    assert_eq!(org["code"]["minLength"], 2);
    assert_eq!(org["code"]["maxLength"], 40);
    assert_eq!(org["code"]["pattern"], "^[a-z0-9][a-z0-9-]*$");
    assert_eq!(org["name"]["minLength"], 1);
    let report = &schema(&d, "ReportInput")["properties"];
    assert_eq!(report["summary"]["minLength"], 1);
    assert_eq!(report["summary"]["maxLength"], 20000);
    assert_eq!(
        schema(&d, "Rotation")["properties"]["overlap_seconds"]["maximum"],
        604800
    );
    assert_eq!(
        schema(&d, "Deregistration")["properties"]["reason"]["minLength"],
        1
    );
}

#[test]
fn request_bodies_say_what_each_operation_takes() {
    let d = doc();
    let body = |id: &str| {
        operation(&d, id)["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        body("createIncident"),
        "#/components/schemas/FirstReportInput"
    );
    assert_eq!(
        body("addIncidentReport"),
        "#/components/schemas/NextReportInput"
    );
    let first = schema(&d, "FirstReportInput");
    assert!(strings(&first["required"]).contains(&"entity_id".to_string()));
    assert!(strings(&first["required"]).contains(&"aware_at".to_string()));
    let next = schema(&d, "NextReportInput");
    assert!(next["properties"].get("entity_id").is_none());
    assert_eq!(next["additionalProperties"], false);
    assert_eq!(body("updateEntity"), "#/components/schemas/EntityPatch");
    assert_eq!(
        body("updateOrganisation"),
        "#/components/schemas/OrganisationPatch"
    );
    assert_eq!(body("updateWebhook"), "#/components/schemas/WebhookPatch");
    assert_eq!(schema(&d, "EntityPatch")["additionalProperties"], false);
    assert!(schema(&d, "EvaluateInput")["allOf"][0]["oneOf"].is_array());
}

#[test]
fn headers_are_described() {
    let d = doc();
    let key = param(&d, "createEntity", "Idempotency-Key");
    assert_eq!(key["in"], "header");
    assert_eq!(key["schema"]["pattern"], "^[!-~]{1,255}$");
    assert_eq!(param(&d, "updateEntity", "If-Match")["in"], "header");
    let headers =
        |id: &str, status: &str| operation(&d, id)["responses"][status]["headers"].clone();
    assert!(headers("getEntity", "200")["ETag"].is_object());
    assert!(headers("getOrganisation", "200")["ETag"].is_object());
    assert!(headers("listEntities", "200")["Link"].is_object());
    assert!(headers("listFeedEvents", "200")["Link"].is_object());
    assert!(headers("createEntity", "201")["Idempotent-Replayed"].is_object());
    assert_eq!(
        param(&d, "listEntities", "cursor")["schema"]["pattern"],
        nis2hub::http::pagination::ID_CURSOR_PATTERN
    );
    assert_eq!(
        param(&d, "listAuditRecords", "cursor")["schema"]["pattern"],
        nis2hub::http::pagination::SEQ_CURSOR_PATTERN
    );
}

/// Every cursor the pattern allows names a position, so the list answers it, issued or not;
/// one the pattern refuses (an empty one too) is a 400.
#[actix_web::test]
async fn cursors_of_the_documented_shape_are_taken() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    for uri in [
        "/api/v1/entities?cursor=_____________________w",
        "/api/v1/organisations?cursor=AAAAAAAAAAAAAAAAAAAAAA",
        "/api/v1/audit?cursor=__________8",
        "/api/v1/audit?cursor=AAAAAAAAAAA",
    ] {
        let r = send(&app, get(uri, &t)).await;
        assert_eq!(r.status, 200, "{uri}: {}", r.text);
    }
    for uri in [
        "/api/v1/entities?cursor=",
        "/api/v1/entities?cursor=AAAAAAAAAAA",
        "/api/v1/audit?cursor=AAAAAAAAAAAAAAAAAAAAAA",
        "/api/v1/entities?cursor=_____________________x",
    ] {
        send(&app, get(uri, &t))
            .await
            .assert_problem(400, "invalid_cursor");
    }
}

#[actix_web::test]
async fn query_filters_are_checked_as_documented() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    for uri in [
        "/api/v1/entities?sector=",
        "/api/v1/entities?sector=energyy",
        "/api/v1/incidents?sector=nope",
        "/api/v1/incidents?entity_id=42",
        "/api/v1/audit?resource_type=a%00b",
        "/api/v1/entities?updated_since=9999-01-01T00:00:00Z",
    ] {
        send(&app, get(uri, &t))
            .await
            .assert_problem(400, "invalid_query");
    }
    for uri in [
        "/api/v1/entities?sector=energy",
        "/api/v1/incidents?entity_id=01A232EB-7312-706F-A749-CA7AFC0C998A",
        "/api/v1/entities?updated_since=1970-01-01T01:30:00%2B01:00",
    ] {
        let r = send(&app, get(uri, &t)).await;
        assert_eq!(r.status, 200, "{uri}: {}", r.text);
    }
}

/// What the schemas refuse, the service refuses; what they allow, it takes.
#[actix_web::test]
async fn registration_fields_follow_their_schemas() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let refused = [
        ("/country", json!("nl")),
        ("/domains/0", json!(" example.nl")),
        ("/domains/0", json!("example.nl..")),
        ("/ip_ranges/0", json!("010.0.0.0/8")),
        ("/annual_turnover_eur", json!(9_223_372_036_854_775_808_u64)),
        ("/name", json!("Grid\u{0}Operator")),
    ];
    for (i, (pointer, value)) in refused.iter().enumerate() {
        let mut body = entity_body(&format!("c{i}"), "energy.electricity");
        let path: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
        match path.as_slice() {
            [field] => body[*field] = value.clone(),
            [field, _] => body[*field] = json!([value]),
            _ => unreachable!(),
        }
        let r = send(&app, post("/api/v1/entities", &t, &body)).await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["pointer"], *pointer, "{}", r.text);
    }
    let mut body = entity_body("ok", "energy.electricity");
    body["employees"] = json!(250.0);
    body["domains"] = json!(["Grid.Example."]);
    body["ip_ranges"] = json!(["2001:db8::/32", "::ffff:192.0.2.1/128"]);
    let r = send(&app, post("/api/v1/entities", &t, &body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["employees"], 250);
    assert_eq!(r.body["domains"], json!(["grid.example"]));
}

#[actix_web::test]
async fn clients_and_tokens_follow_their_schemas() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let org = ctx.org_id("csirt-energy");
    for scope in ["incidents:read  feeds:read", " incidents:read", ""] {
        let r = send(
            &app,
            post(
                "/api/v1/clients",
                &t,
                &json!({"name": "x", "organisation_id": org, "scope": scope}),
            ),
        )
        .await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["pointer"], "/scope", "{}", r.text);
    }
    let r = send(
        &app,
        actix_web::test::TestRequest::post()
            .uri("/oauth/token")
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
            .set_payload("grant_type=client_credentials&client_id=a%00b&client_secret=x"),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["error"], "invalid_request");
}

fn advisory_body(extra: Value) -> Value {
    let mut body = json!({
        "title": "Remote code execution in Example Gateway",
        "summary": "Example Gateway 4.2 allows remote code execution.",
        "audience": "national", "tlp": "GREEN", "severity": "high",
        "affected_products": [{"vendor": "Example Vendor", "product": "Example Gateway", "versions": ["4.2"]}],
        "references": [{"url": "https://vendor.example/a", "summary": "Vendor bulletin"}]
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[test]
fn advisory_cvd_and_maturity_rules_are_in_the_schema() {
    let d = doc();
    let input = schema(&d, "AdvisoryInput");
    assert_eq!(
        input["properties"]["title"]["pattern"],
        nis2hub::http::formats::NOT_BLANK_PATTERN
    );
    assert_eq!(
        input["properties"]["sectors"]["items"]["$ref"],
        "#/components/schemas/SectorCode"
    );
    assert_eq!(input["properties"]["entity_ids"]["items"]["format"], "uuid");
    assert_eq!(
        input["properties"]["cves"]["items"]["pattern"],
        nis2hub::http::formats::CVE_PATTERN
    );
    assert_eq!(
        input["properties"]["cvss_v3"]["pattern"],
        nis2hub::advisories::model::CVSS_V3_BASE_PATTERN
    );
    assert_eq!(input["allOf"][0]["anyOf"].as_array().unwrap().len(), 5);
    let product = &schema(&d, "AffectedProduct")["properties"];
    assert_eq!(product["versions"]["items"]["maxLength"], 100);
    assert_eq!(product["versions"]["uniqueItems"], true);
    assert!(product["cpe"]["pattern"].is_string() && product["purl"]["pattern"].is_string());
    assert_eq!(
        schema(&d, "Reference")["properties"]["url"]["pattern"],
        nis2hub::http::formats::HTTP_URL_PATTERN
    );
    let body = |id: &str| {
        operation(&d, id)["requestBody"]["content"]["application/json"]["schema"]["$ref"].clone()
    };
    assert_eq!(body("updateAdvisory"), "#/components/schemas/AdvisoryPatch");
    assert_eq!(
        schema(&d, "VendorInput")["properties"]["answer_within_days"]["maximum"],
        365
    );
    assert!(schema(&d, "VendorInput")["allOf"][0]["oneOf"].is_array());
    assert!(schema(&d, "TriageInput")["allOf"][0]["oneOf"].is_array());
    assert_eq!(
        strings(&schema(&d, "VendorAnswer")["enum"]),
        vec!["unknown", "affected", "not_affected", "fixed"]
    );
    assert_eq!(
        schema(&d, "CoCoordinator")["properties"]["country"]["$ref"],
        "#/components/schemas/MemberState"
    );
    let m = &schema(&d, "MaturityAssessmentInput")["properties"];
    assert_eq!(m["scores"]["additionalProperties"]["maximum"], 4);
    assert_eq!(m["organisation_id"]["format"], "uuid");
    for (id, name) in [
        ("listAdvisories", "cursor"),
        ("listCvdCases", "cursor"),
        ("listCvdMessages", "cursor"),
        ("listMaturityAssessments", "cursor"),
    ] {
        assert_eq!(
            param(&d, id, name)["schema"]["pattern"],
            nis2hub::http::pagination::ID_CURSOR_PATTERN,
            "{id}"
        );
    }
    assert_eq!(
        param(&d, "listAdvisories", "sector")["schema"]["$ref"],
        "#/components/schemas/SectorCode"
    );
    assert_eq!(
        param(&d, "listAdvisories", "tlp")["schema"]["$ref"],
        "#/components/schemas/Tlp"
    );
}

/// What the advisory schema refuses, the service refuses (naming the field); what it allows,
/// the service takes.
#[actix_web::test]
async fn advisory_fields_follow_their_schemas() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let product = |extra: Value| {
        let mut p = json!({"vendor": "V", "product": "P", "versions": ["1.0"]});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        json!({"affected_products": [p]})
    };
    let refused = [
        (json!({"title": " \u{3000}"}), "/title"),
        (json!({"audience": "sectoral"}), "/sectors"),
        (json!({"sectors": ["energy"]}), "/sectors"),
        (json!({"tlp": "RED"}), "/tlp"),
        (json!({"cves": ["cve-2026-12345"]}), "/cves/0"),
        (
            json!({"cvss_v3": " CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}),
            "/cvss_v3",
        ),
        (
            json!({"audience": "targeted", "match": {"domains": ["example.nl.."]}}),
            "/match/domains/0",
        ),
        (
            json!({"audience": "targeted", "match": {"ip_ranges": ["010.0.0.0/8"]}}),
            "/match/ip_ranges/0",
        ),
        (product(json!({"cpe": ""})), "/affected_products/0/cpe"),
        (
            product(json!({"purl": "pkg:npm"})),
            "/affected_products/0/purl",
        ),
        (
            product(json!({"versions": [" "]})),
            "/affected_products/0/versions/0",
        ),
        (
            json!({"references": [{"url": "https://a b", "summary": "x"}]}),
            "/references/0/url",
        ),
    ];
    for (extra, pointer) in refused {
        let r = send(
            &app,
            post("/api/v1/advisories", &t, &advisory_body(extra.clone())),
        )
        .await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(
            r.body["errors"][0]["pointer"], pointer,
            "{extra}: {}",
            r.text
        );
    }
    for extra in [
        json!({"references": [{"url": "http://x", "summary": "short"}]}),
        json!({"audience": "targeted", "match": {"domains": ["Example.NL."]}, "tlp": "AMBER"}),
        json!({"cvss_v3": "CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:C/C:L/I:N/A:N"}),
        product(
            json!({"versions": ["1.0"], "purl": "pkg:npm/example@1.0", "cpe": "cpe:2.3:a:v:p:1.0:*:*:*:*:*:*:*"}),
        ),
    ] {
        let r = send(
            &app,
            post("/api/v1/advisories", &t, &advisory_body(extra.clone())),
        )
        .await;
        assert_eq!(r.status, 201, "{extra}: {}", r.text);
    }
    for uri in [
        "/api/v1/advisories?sector=nope",
        "/api/v1/advisories?tlp=amber",
        "/api/v1/advisories?cursor=",
        "/api/v1/maturity/assessments?organisation_id=42",
    ] {
        let r = send(&app, get(uri, &t)).await;
        assert_eq!(r.status, 400, "{uri}: {}", r.text);
    }
    for uri in [
        "/api/v1/advisories?sector=energy&tlp=AMBER%2BSTRICT&cursor=AAAAAAAAAAAAAAAAAAAAAA",
        "/api/v1/cvd/cases?cursor=_____________________w",
        "/api/v1/maturity/assessments?organisation_id=01A232EB-7312-706F-A749-CA7AFC0C998A",
    ] {
        let r = send(&app, get(uri, &t)).await;
        assert_eq!(r.status, 200, "{uri}: {}", r.text);
    }
}

/// Publishing takes no body at all (without a Content-Type), `null`, or a `Publish` object.
#[actix_web::test]
async fn a_first_publication_needs_no_body() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    for body in [None, Some("null")] {
        let r = send(
            &app,
            post("/api/v1/advisories", &t, &advisory_body(json!({}))),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.body["id"].as_str().unwrap().to_string();
        let mut req = actix_web::test::TestRequest::post()
            .uri(&format!("/api/v1/advisories/{id}/publish"))
            .insert_header(("Authorization", format!("Bearer {t}")));
        if let Some(b) = body {
            req = req
                .insert_header(("Content-Type", "application/json"))
                .set_payload(b);
        }
        let r = send(&app, req).await;
        assert_eq!(r.status, 200, "{body:?}: {}", r.text);
        assert_eq!(r.body["status"], "published");
    }
}

/// A co-coordinator is another member state's CSIRT: the code is a member state's.
#[actix_web::test]
async fn co_coordinators_name_member_states() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let report = json!({"title": "Bypass", "description": "Empty password logs in"});
    let r = send(&app, post("/api/v1/cvd/reports", &t, &report)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["case_id"].as_str().unwrap().to_string();
    let uri = format!("/api/v1/cvd/cases/{id}");
    for country in ["XX", "be", "UK"] {
        let body = json!({"co_coordinators": [{"country": country, "name": "CSIRT"}]});
        let r = send(&app, patch(&uri, &t, &body)).await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(
            r.body["errors"][0]["pointer"], "/co_coordinators/0/country",
            "{country}: {}",
            r.text
        );
    }
    let body = json!({"co_coordinators": [{"country": "BE", "name": "CCB / CERT.be"}], "versions": ["é".repeat(100)]});
    let r = send(&app, patch(&uri, &t, &body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}
