//! CSIRT maturity (SIM3): the model in force, assessments with their tier, gaps and validity,
//! who may record and read them, bad input, compliance, and the sweep's events.

mod common;

use common::*;
use nis2hub::auth::Role;
use nis2hub::maturity::model::{Model, Tier};
use serde_json::{json, Value};

fn model() -> Model {
    Model::built_in()
}

/// Every parameter at `level`.
fn flat(level: u8) -> serde_json::Map<String, Value> {
    model()
        .catalogue
        .parameters
        .iter()
        .map(|p| (p.id.clone(), json!(level)))
        .collect()
}

/// Exactly the minimums of `tier`.
fn at(tier: Tier) -> serde_json::Map<String, Value> {
    model()
        .tiers
        .profiles
        .of(tier)
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect()
}

fn days_ago(n: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - chrono::Duration::days(n)
}

fn assessment(
    org: &str,
    kind: &str,
    scores: serde_json::Map<String, Value>,
    assessed_at: chrono::DateTime<chrono::Utc>,
) -> Value {
    let assessors = if kind == "peer" {
        json!([{"name": "A. Reviewer", "organisation": "CERT-EE", "member_state": "EE"},
               {"organisation": "CERT.at", "member_state": "AT"}])
    } else {
        json!([])
    };
    json!({
        "organisation_id": org, "type": kind, "assessors": assessors,
        "assessed_at": assessed_at, "model": "sim3-v1", "scores": scores,
        "evidence": {"O-1": "Mandate in the national cyber security act"}
    })
}

fn feed_types(r: &Res) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a feed page: {}", r.text))
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn the_model_in_force_is_sim3_v1_with_its_scale_and_example_profiles() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let authority = ctx.token("authority-infrastructure", Role::SupervisoryAuthority);
    let r = send(&app, get("/api/v1/maturity/model", &authority)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let b = &r.body;
    assert_eq!(b["id"], "sim3-v1");
    let params = b["parameters"].as_array().unwrap();
    assert_eq!(params.len(), 44);
    assert_eq!(
        params[0],
        json!({"id": "O-1", "group": "O", "name": "Mandate"})
    );
    assert_eq!(
        b["groups"].as_array().unwrap().len(),
        4,
        "O, H, T, P: {}",
        b["groups"]
    );
    let levels: Vec<i64> = b["scale"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["level"].as_i64().unwrap())
        .collect();
    assert_eq!(levels, [0, 1, 2, 3, 4]);
    assert_eq!(b["tiers"]["official"], false);
    assert!(b["tiers"]["description"]
        .as_str()
        .unwrap()
        .starts_with("EXAMPLE"));
    for tier in ["basic", "intermediate", "advanced"] {
        assert_eq!(
            b["tiers"]["profiles"][tier].as_object().unwrap().len(),
            44,
            "{tier}"
        );
    }
    assert_eq!(b["tiers"]["validity_months"]["self"], 12);
}

#[actix_web::test]
async fn a_self_assessment_gets_its_tier_the_gaps_to_the_next_and_its_validity() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let energy_id = ctx.org_id("csirt-energy");
    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);
    // Intermediate everywhere but O-1, which stays at the basic minimum.
    let mut scores = at(Tier::Intermediate);
    let basic_o1 = model().tiers.profiles.basic["O-1"];
    let wanted_o1 = model().tiers.profiles.intermediate["O-1"];
    assert!(basic_o1 < wanted_o1);
    scores.insert("O-1".into(), json!(basic_o1));
    let when = chrono::DateTime::parse_from_rfc3339("2026-06-30T10:00:00Z")
        .unwrap()
        .to_utc();
    let body = assessment(&energy_id, "self", scores, when);
    let r = send(
        &app,
        post("/api/v1/maturity/assessments", &energy, &body)
            .insert_header(("Idempotency-Key", "energy-self-2026")),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let a = &r.body;
    assert_eq!(a["tier"], "basic", "{}", r.text);
    assert_eq!(a["next_tier"], "intermediate");
    assert_eq!(
        a["gaps"],
        json!([{"parameter": "O-1", "name": "Mandate", "score": basic_o1, "wanted": wanted_o1}])
    );
    assert_eq!(a["valid_until"], "2027-06-30T10:00:00Z");
    assert_eq!(a["expired"], false);
    assert_eq!(a["type"], "self");
    assert_eq!(a["organisation"]["code"], "csirt-energy");
    assert_eq!(a["recorded_by"], energy_id.as_str());
    assert_eq!(a["profiles"]["official"], false);
    assert_eq!(
        a["evidence"]["O-1"],
        "Mandate in the national cyber security act"
    );
    let id = a["id"].as_str().unwrap().to_string();

    // A retry with the same key returns the first answer and records nothing new.
    let again = send(
        &app,
        post("/api/v1/maturity/assessments", &energy, &body)
            .insert_header(("Idempotency-Key", "energy-self-2026")),
    )
    .await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.body["id"], id.as_str());
    assert_eq!(count(&ctx, "maturity_assessments"), 1);

    let one = send(
        &app,
        get(&format!("/api/v1/maturity/assessments/{id}"), &energy),
    )
    .await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.body, r.body);
    let list = send(&app, get("/api/v1/maturity/assessments?type=self", &energy)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["items"][0]["id"], id.as_str());
    let none = send(&app, get("/api/v1/maturity/assessments?type=peer", &energy)).await;
    assert_eq!(none.body["items"], json!([]));

    // Everything at 4 is advanced, with nothing above it.
    let r = send(
        &app,
        post(
            "/api/v1/maturity/assessments",
            &energy,
            &assessment(&energy_id, "self", flat(4), days_ago(1)),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (&r.body["tier"], &r.body["next_tier"], &r.body["gaps"]),
        (&json!("advanced"), &Value::Null, &json!([]))
    );
    // The recording is audited and is an event for the CSIRT and the authorities.
    let feed = send(&app, get("/api/v1/feed?limit=500", &energy)).await;
    assert!(feed_types(&feed).contains(&"maturity.assessment_recorded".to_string()));
    let authority = ctx.token("authority-finance", Role::SupervisoryAuthority);
    let feed = send(&app, get("/api/v1/feed?limit=500", &authority)).await;
    assert!(feed_types(&feed).contains(&"maturity.assessment_recorded".to_string()));
    let audit = send(
        &app,
        get(
            "/api/v1/audit?resource_type=maturity_assessment&limit=200",
            &ctx.national(),
        ),
    )
    .await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["maturity.assessment.create", "maturity.assessment.create"],
        "{}",
        audit.text
    );
}

#[actix_web::test]
async fn csirts_record_their_own_self_assessments_and_only_the_national_csirt_peer_reviews() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let energy_id = ctx.org_id("csirt-energy");
    let health_id = ctx.org_id("csirt-health");
    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);
    let health = ctx.token("csirt-health", Role::SectoralCsirt);
    let authority = ctx.token("authority-infrastructure", Role::SupervisoryAuthority);
    let national = ctx.national();
    let url = "/api/v1/maturity/assessments";

    for (what, token, body) in [
        (
            "a sectoral CSIRT recording its own peer review",
            &energy,
            assessment(&energy_id, "peer", flat(3), days_ago(2)),
        ),
        (
            "a sectoral CSIRT recording its own audit",
            &energy,
            assessment(&energy_id, "audit", flat(3), days_ago(2)),
        ),
        (
            "a sectoral CSIRT assessing another CSIRT",
            &energy,
            assessment(&health_id, "self", flat(3), days_ago(2)),
        ),
    ] {
        let r = send(&app, post(url, token, &body)).await;
        r.assert_problem(403, "forbidden");
        assert!(r.status == 403, "{what}");
    }
    let r = send(
        &app,
        post(
            url,
            &authority,
            &assessment(&energy_id, "self", flat(3), days_ago(2)),
        ),
    )
    .await;
    r.assert_problem(403, "insufficient_scope");
    assert_eq!(count(&ctx, "maturity_assessments"), 0);

    // The national CSIRT records the peer review; the CSIRT itself reads it.
    let r = send(
        &app,
        post(
            url,
            &national,
            &assessment(&energy_id, "peer", flat(3), days_ago(2)),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["assessors"][0]["member_state"], "EE");
    let id = r.body["id"].as_str().unwrap().to_string();
    let one = format!("{url}/{id}");
    for (who, token) in [
        ("the energy CSIRT", &energy),
        ("an authority", &authority),
        ("the national CSIRT", &national),
    ] {
        let r = send(&app, get(&one, token)).await;
        assert_eq!(r.status, 200, "{who}: {}", r.text);
    }
    // Another sectoral CSIRT does not see it: not by id, not in its list.
    let hidden = send(&app, get(&one, &health)).await;
    hidden.assert_problem(404, "not_found");
    let missing = send(
        &app,
        get(&format!("{url}/{}", uuid::Uuid::now_v7()), &health),
    )
    .await;
    missing.assert_problem(404, "not_found");
    assert_eq!(hidden.body["detail"], missing.body["detail"]);
    let list = send(&app, get(&format!("{url}?limit=200"), &health)).await;
    assert_eq!(list.body["items"], json!([]), "{}", list.text);
    let list = send(
        &app,
        get(&format!("{url}?organisation_id={energy_id}"), &health),
    )
    .await;
    assert_eq!(list.body["items"], json!([]), "{}", list.text);
    // Its own self-assessment it may record.
    let r = send(
        &app,
        post(
            url,
            &health,
            &assessment(&health_id, "self", flat(1), days_ago(2)),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);

    // Compliance: a sectoral CSIRT sees its own row only; authorities see every CSIRT.
    let rows = send(&app, get("/api/v1/maturity/compliance", &health)).await;
    assert_eq!(rows.status, 200, "{}", rows.text);
    let codes: Vec<&str> = rows.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["organisation"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["csirt-health"]);
    let rows = send(&app, get("/api/v1/maturity/compliance", &authority)).await;
    let codes: Vec<&str> = rows.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["organisation"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "ncsirt",
            "csirt-digital",
            "csirt-energy",
            "csirt-finance",
            "csirt-health"
        ]
    );
}

#[actix_web::test]
async fn bad_assessments_get_problems_naming_the_field_and_change_nothing() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let energy_id = ctx.org_id("csirt-energy");
    let authority_id = ctx.org_id("authority-infrastructure");
    let national = ctx.national();
    let good = assessment(&energy_id, "self", flat(2), days_ago(1));
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        v
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "an unknown parameter",
            with(&|v| v["scores"]["X-1"] = json!(2)),
            "/scores/X-1",
        ),
        (
            "a score of 5",
            with(&|v| v["scores"]["O-1"] = json!(5)),
            "/scores/O-1",
        ),
        (
            "a score of -1",
            with(&|v| v["scores"]["H-3"] = json!(-1)),
            "/scores/H-3",
        ),
        (
            "a score of 2.5",
            with(&|v| v["scores"]["T-4"] = json!(2.5)),
            "/scores/T-4",
        ),
        (
            "a score as text",
            with(&|v| v["scores"]["P-11"] = json!("3")),
            "/scores/P-11",
        ),
        (
            "a missing score",
            with(&|v| {
                v["scores"].as_object_mut().unwrap().remove("P-16");
            }),
            "/scores",
        ),
        (
            "a model not loaded",
            with(&|v| v["model"] = json!("sim3-v2")),
            "/model",
        ),
        (
            "an authority assessed",
            with(&|v| v["organisation_id"] = json!(authority_id)),
            "/organisation_id",
        ),
        (
            "an organisation that does not exist",
            with(&|v| v["organisation_id"] = json!(uuid::Uuid::now_v7().to_string())),
            "/organisation_id",
        ),
        (
            "evidence for an unknown parameter",
            with(&|v| v["evidence"]["Q-1"] = json!("x")),
            "/evidence/Q-1",
        ),
        (
            "an unknown type",
            with(&|v| v["type"] = json!("gut-feeling")),
            "/type",
        ),
        (
            "a peer review without assessors",
            with(&|v| v["type"] = json!("peer")),
            "/assessors",
        ),
        (
            "a peer reviewer without a member state",
            with(&|v| {
                v["type"] = json!("peer");
                v["assessors"] = json!([{"organisation": "CERT-EE"}]);
            }),
            "/assessors/0/member_state",
        ),
        (
            "a peer reviewer of no member state",
            with(&|v| {
                v["type"] = json!("peer");
                v["assessors"] = json!([{"organisation": "CERT-EE", "member_state": "XX"}]);
            }),
            "/assessors/0/member_state",
        ),
        (
            "an assessment made tomorrow",
            with(&|v| v["assessed_at"] = json!(chrono::Utc::now() + chrono::Duration::days(1))),
            "/assessed_at",
        ),
        (
            "the year 10000",
            with(&|v| v["assessed_at"] = json!("+10000-01-01T00:00:00Z")),
            "/assessed_at",
        ),
        (
            "an assessment valid past 9999",
            with(&|v| v["assessed_at"] = json!("9999-06-01T00:00:00Z")),
            "/assessed_at",
        ),
        (
            "no scores",
            with(&|v| {
                v.as_object_mut().unwrap().remove("scores");
            }),
            "/scores",
        ),
        (
            "an unknown field",
            with(&|v| v["tier"] = json!("advanced")),
            "",
        ),
    ];
    for (what, body, pointer) in cases {
        let r = send(&app, post("/api/v1/maturity/assessments", &national, &body)).await;
        r.assert_problem(422, "validation_failed");
        let pointers: Vec<&str> = r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["pointer"].as_str().unwrap())
            .collect();
        assert!(
            pointers
                .iter()
                .any(|p| *p == pointer || (pointer.is_empty() && !p.is_empty())),
            "{what}: {pointers:?} should name {pointer}: {}",
            r.text
        );
    }
    assert_eq!(count(&ctx, "maturity_assessments"), 0);
    assert_eq!(count(&ctx, "events"), 0);
    // Control: the good one is accepted.
    let r = send(&app, post("/api/v1/maturity/assessments", &national, &good)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Bad list filters are a 400, not a 5xx.
    let r = send(
        &app,
        get("/api/v1/maturity/assessments?type=rumour", &national),
    )
    .await;
    r.assert_problem(400, "invalid_query");
}

fn row<'a>(r: &'a Res, code: &str) -> &'a Value {
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["organisation"]["code"] == code)
        .unwrap_or_else(|| panic!("a row for {code}: {}", r.text))
}

#[actix_web::test]
async fn compliance_follows_the_latest_valid_assessment() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let energy_id = ctx.org_id("csirt-energy");
    let ncsirt_id = ctx.org_id("ncsirt");
    let url = "/api/v1/maturity/compliance";

    let r = send(&app, get(url, &national)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let energy = row(&r, "csirt-energy");
    assert_eq!(
        (
            &energy["required_tier"],
            &energy["tier"],
            &energy["compliant"],
            &energy["next_due_at"],
            &energy["last_assessment_at"]
        ),
        (
            &json!("intermediate"),
            &json!("none"),
            &json!(false),
            &Value::Null,
            &Value::Null
        )
    );
    assert_eq!(row(&r, "ncsirt")["required_tier"], "advanced");
    let codes: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["organisation"]["code"].as_str().unwrap())
        .collect();
    assert!(
        !codes.iter().any(|c| c.starts_with("authority-")),
        "authorities are not assessed: {codes:?}"
    );

    // A peer review at intermediate: compliant until it expires.
    let peer_at = chrono::DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
        .unwrap()
        .to_utc();
    let r = send(
        &app,
        post(
            "/api/v1/maturity/assessments",
            &national,
            &assessment(&energy_id, "peer", at(Tier::Intermediate), peer_at),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let peer_id = r.body["id"].as_str().unwrap().to_string();
    // An older self-assessment at advanced does not replace the later peer review.
    let r = send(
        &app,
        post(
            "/api/v1/maturity/assessments",
            &national,
            &assessment(&energy_id, "self", flat(4), days_ago(400)),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // The national CSIRT's own intermediate self-assessment is not enough for it.
    let r = send(
        &app,
        post(
            "/api/v1/maturity/assessments",
            &national,
            &assessment(&ncsirt_id, "self", at(Tier::Intermediate), days_ago(3)),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let r = send(&app, get(url, &national)).await;
    let energy = row(&r, "csirt-energy");
    assert_eq!(energy["tier"], "intermediate", "{}", r.text);
    assert_eq!(energy["compliant"], true);
    assert_eq!(energy["assessment_id"], peer_id.as_str());
    assert_eq!(energy["last_peer_review_at"], "2026-03-01T12:00:00Z");
    assert_eq!(energy["last_assessment_at"], "2026-03-01T12:00:00Z");
    assert_eq!(energy["next_due_at"], "2029-03-01T12:00:00Z");
    let ncsirt = row(&r, "ncsirt");
    assert_eq!(
        (&ncsirt["tier"], &ncsirt["compliant"]),
        (&json!("intermediate"), &json!(false))
    );

    // A later self-assessment below intermediate takes over, and the CSIRT falls out.
    let r = send(
        &app,
        post(
            "/api/v1/maturity/assessments",
            &national,
            &assessment(&energy_id, "self", at(Tier::Basic), days_ago(1)),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = send(&app, get(url, &national)).await;
    let energy = row(&r, "csirt-energy");
    assert_eq!(
        (&energy["tier"], &energy["compliant"]),
        (&json!("basic"), &json!(false))
    );
    let energy_token = ctx.token("csirt-energy", Role::SectoralCsirt);
    let feed = send(&app, get("/api/v1/feed?limit=500", &energy_token)).await;
    let types = feed_types(&feed);
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "maturity.compliance_lost")
            .count(),
        1,
        "{types:?}"
    );
}

#[actix_web::test]
async fn the_sweep_reports_an_expired_assessment_and_the_loss_of_compliance_once() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let energy_id = ctx.org_id("csirt-energy");
    let r = send(
        &app,
        post(
            "/api/v1/maturity/assessments",
            &national,
            &assessment(&energy_id, "self", at(Tier::Intermediate), days_ago(10)),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let until = chrono::DateTime::parse_from_rfc3339(r.body["valid_until"].as_str().unwrap())
        .unwrap()
        .naive_utc();
    let m = ctx.state.config.maturity.clone();
    let sweep = |when: chrono::NaiveDateTime| {
        let mut conn = ctx.state.pool.get().unwrap();
        nis2hub::db::write_tx(&mut conn, |c| {
            nis2hub::maturity::service::sweep(c, &m, when, 100)
        })
        .unwrap()
    };
    // Before the end of validity nothing happens, however often it runs.
    let now = nis2hub::db::now();
    assert_eq!(sweep(now), 0);
    assert_eq!(sweep(until - chrono::Duration::seconds(1)), 0);
    // After it: one expiry, one loss of compliance; then nothing more.
    let later = until + chrono::Duration::hours(1);
    assert_eq!(sweep(later), 2);
    assert_eq!(sweep(later), 0);
    assert_eq!(sweep(later + chrono::Duration::days(1)), 0);

    let energy = ctx.token("csirt-energy", Role::SectoralCsirt);
    let authority = ctx.token("authority-health", Role::SupervisoryAuthority);
    let health = ctx.token("csirt-health", Role::SectoralCsirt);
    for (who, token) in [
        ("the CSIRT", &energy),
        ("an authority", &authority),
        ("the national CSIRT", &national),
    ] {
        let feed = send(&app, get("/api/v1/feed?limit=500", token)).await;
        let items = feed.body["items"].as_array().unwrap();
        let expired: Vec<&Value> = items
            .iter()
            .filter(|e| e["type"] == "maturity.assessment_expired")
            .collect();
        assert_eq!(expired.len(), 1, "{who}: {}", feed.text);
        assert_eq!(expired[0]["subject"]["id"], id.as_str());
        assert_eq!(expired[0]["data"]["organisation_code"], "csirt-energy");
        let lost: Vec<&Value> = items
            .iter()
            .filter(|e| e["type"] == "maturity.compliance_lost")
            .collect();
        assert_eq!(lost.len(), 1, "{who}: {}", feed.text);
        assert_eq!(lost[0]["data"]["previous_tier"], "intermediate");
        assert_eq!(lost[0]["data"]["tier"], "none");
        assert_eq!(lost[0]["data"]["required_tier"], "intermediate");
    }
    let feed = send(&app, get("/api/v1/feed?limit=500", &health)).await;
    assert!(
        !feed_types(&feed).iter().any(|t| t.starts_with("maturity.")),
        "another CSIRT learns nothing of it: {}",
        feed.text
    );
}

#[actix_web::test]
async fn the_sweep_thread_runs_the_maturity_sweep_after_the_deadlines() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let energy_id = ctx.org_id("csirt-energy");
    // A self-assessment made a year and a day ago: recorded, and expired already.
    let r = send(
        &app,
        post(
            "/api/v1/maturity/assessments",
            &national,
            &assessment(&energy_id, "self", flat(4), days_ago(367)),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["expired"], true, "{}", r.text);
    let (deadlines, maturity) =
        nis2hub::incidents::sweep::pass(&ctx.state.pool, &ctx.state.config.maturity);
    assert_eq!(deadlines.unwrap(), 0);
    assert_eq!(maturity.unwrap(), 1, "one expiry");
    let (_, maturity) =
        nis2hub::incidents::sweep::pass(&ctx.state.pool, &ctx.state.config.maturity);
    assert_eq!(maturity.unwrap(), 0, "reported once");
    let feed = send(&app, get("/api/v1/feed?limit=500", &national)).await;
    assert_eq!(
        feed_types(&feed)
            .iter()
            .filter(|t| *t == "maturity.assessment_expired")
            .count(),
        1
    );
}
