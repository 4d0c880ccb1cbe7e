//! Coordinated vulnerability disclosure: intake, case and vendor tokens, triage, vendors,
//! messages and who sees what, the deadline sweep, and bad input.

mod common;

use actix_web::test::TestRequest;
use common::cvd::*;
use common::*;
use nis2hub::auth::Role;
use serde_json::{json, Value};

fn sweep(ctx: &Ctx, when: chrono::DateTime<chrono::Utc>) -> usize {
    let mut conn = ctx.state.pool.get().unwrap();
    nis2hub::db::write_tx(&mut conn, |c| {
        nis2hub::cvd::sweep::sweep(c, when.naive_utc(), 100)
    })
    .unwrap()
}

/// How many audit records name this action.
fn audited(ctx: &Ctx, action: &str) -> i64 {
    use diesel::prelude::*;
    use nis2hub::schema::audit_log as a;
    let mut conn = ctx.state.pool.get().unwrap();
    a::table
        .filter(a::action.eq(action))
        .count()
        .get_result(&mut conn)
        .unwrap()
}

/// Everything a participant can read about a case: the case and its messages, as text.
async fn everything<S, B>(app: &S, case: &str, token: &str) -> String
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let c = send(app, get(&format!("/api/v1/cvd/cases/{case}"), token)).await;
    assert_eq!(c.status, 200, "{}", c.text);
    let m = send(
        app,
        get(
            &format!("/api/v1/cvd/cases/{case}/messages?limit=200"),
            token,
        ),
    )
    .await;
    assert_eq!(m.status, 200, "{}", m.text);
    format!("{}\n{}", c.text, m.text)
}

async fn feed<S, B>(app: &S, token: &str) -> Vec<Value>
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let r = send(app, get("/api/v1/feed?limit=500", token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn a_full_case_shows_each_participant_exactly_what_it_may() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();

    // Anonymous report: a reference, a case token shown once, nothing kept about the sender.
    let r = send(&app, anonymous(&report_body("VPN bypass"), "203.0.113.5")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let case = r.body["case_id"].as_str().unwrap().to_string();
    let year = chrono::Utc::now().format("%Y").to_string();
    assert_eq!(r.body["reference"], format!("CVD-{year}-0001"));
    assert_eq!(r.body["anonymous"], true);
    let case_token = r.body["case_token"].as_str().unwrap().to_string();
    assert!(case_token.starts_with("n2hcase_"), "{case_token}");
    assert!(r.body["acknowledge_due_at"].is_string());
    let stored = {
        use diesel::prelude::*;
        use nis2hub::schema::cvd_cases as c;
        let mut conn = ctx.state.pool.get().unwrap();
        c::table
            .find(&case)
            .select((c::reporter_org, c::finder, c::case_token_hash))
            .first::<(Option<String>, Option<String>, Option<String>)>(&mut conn)
            .unwrap()
    };
    assert_eq!(
        (stored.0, stored.1),
        (None, None),
        "nothing about the finder"
    );
    assert_ne!(
        stored.2.as_deref(),
        Some(case_token.as_str()),
        "only a hash"
    );
    let audit = send(&app, get("/api/v1/audit?limit=200", &national)).await;
    assert!(
        !audit.text.contains("203.0.113.5"),
        "no address in the audit log"
    );

    // The coordinator hears of it.
    let events = feed(&app, &national).await;
    assert!(events
        .iter()
        .any(|e| e["type"] == "cvd.case_received" && e["subject"]["id"] == case.as_str()));

    // Follow-up with the case token.
    let f = send(&app, get(&format!("/api/v1/cvd/cases/{case}"), &case_token)).await;
    assert_eq!(f.status, 200, "{}", f.text);
    assert_eq!(f.body["state"], "received");
    assert_eq!(f.body["viewer"], "finder");

    // Triage: acknowledged, and a 60-day embargo by default.
    let t = send(
        &app,
        post(
            &format!("/api/v1/cvd/cases/{case}/triage"),
            &national,
            &json!({"state": "triaged"}),
        ),
    )
    .await;
    assert_eq!(t.status, 200, "{}", t.text);
    assert_eq!(t.body["state"], "triaged");
    assert!(t.body["acknowledged_at"].is_string());
    let embargo: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(t.body["embargo_until"].clone()).unwrap();
    let days = (embargo - chrono::Utc::now()).num_days();
    assert!((59..=60).contains(&days), "{days}");

    // Two vendors: a registered entity, and an external vendor with a token of its own.
    let entity = register_entity(&app, &national, "cvd-vendor-1", "energy.electricity").await;
    let entity_token = ctx.token(&entity, Role::Entity);
    let v1 = send(
        &app,
        post(
            &format!("/api/v1/cvd/cases/{case}/vendors"),
            &national,
            &json!({"entity_id": entity}),
        ),
    )
    .await;
    assert_eq!(v1.status, 201, "{}", v1.text);
    assert!(v1.body.get("vendor_token").is_none());
    let v1_id = v1.body["id"].as_str().unwrap().to_string();
    let v2 = send(
        &app,
        post(
            &format!("/api/v1/cvd/cases/{case}/vendors"),
            &national,
            &json!({"name": "Example Networks", "contact_email": "psirt@example.com", "answer_within_days": 7}),
        ),
    )
    .await;
    assert_eq!(v2.status, 201, "{}", v2.text);
    let vendor_token = v2.body["vendor_token"].as_str().unwrap().to_string();
    assert!(vendor_token.starts_with("n2hvendor_"));
    let v2_id = v2.body["id"].as_str().unwrap().to_string();
    assert_eq!(v2.body["status"], "unknown");

    // Messages of each visibility, from each kind of participant.
    let post_as = |token: &str, body: &str, visibility: &str| {
        post(
            &format!("/api/v1/cvd/cases/{case}/messages"),
            token,
            &json!({"body": body, "visibility": visibility}),
        )
    };
    for (token, body, visibility) in [
        (&national, "coord-everyone", "everyone"),
        (&national, "coord-coordinators", "coordinators"),
        (&national, "coord-vendors", "vendors"),
        (&national, "coord-finder", "finder"),
        (&case_token, "finder-coordinators", "coordinators"),
        (&case_token, "finder-everyone", "everyone"),
        (&entity_token, "entity-vendors", "vendors"),
        (&entity_token, "entity-coordinators", "coordinators"),
    ] {
        let r = send(&app, post_as(token, body, visibility)).await;
        assert_eq!(r.status, 201, "{body}: {}", r.text);
    }
    // The entity vendor answers; the external vendor stays silent.
    let a = send(
        &app,
        patch(
            &format!("/api/v1/cvd/cases/{case}/vendors/{v1_id}"),
            &entity_token,
            &json!({"status": "affected", "statement": "entity-statement"}),
        ),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "affected");

    // Participant × item: what each one reads.
    let readers = [
        ("coordinator", national.clone()),
        ("finder", case_token.clone()),
        ("entity vendor", entity_token.clone()),
        ("external vendor", vendor_token.clone()),
    ];
    #[rustfmt::skip]
    let table: &[(&str, [bool; 4])] = &[
        //                        coord  finder entity external
        ("coord-everyone",       [true,  true,  true,  true ]),
        ("coord-coordinators",   [true,  false, false, false]),
        ("coord-vendors",        [true,  false, true,  true ]),
        ("coord-finder",         [true,  true,  false, false]),
        ("finder-coordinators",  [true,  true,  false, false]),
        ("finder-everyone",      [true,  true,  true,  true ]),
        ("entity-vendors",       [true,  false, true,  true ]),
        ("entity-coordinators",  [true,  false, true,  false]),
        ("entity-statement",     [true,  false, true,  false]),
        ("psirt@example.com",    [true,  false, false, true ]),
        ("Example Networks",     [true,  false, false, true ]),
    ];
    for (i, (who, token)) in readers.iter().enumerate() {
        let seen = everything(&app, &case, token).await;
        for (item, expected) in table {
            assert_eq!(
                seen.contains(item),
                expected[i],
                "{who} reading `{item}`: {seen}"
            );
        }
    }
    // The vendor's own name is not shown as the author of its messages to others.
    let m = send(
        &app,
        get(&format!("/api/v1/cvd/cases/{case}/messages"), &vendor_token),
    )
    .await;
    let by_entity = m.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["body"] == "entity-vendors")
        .unwrap()
        .clone();
    assert_eq!(by_entity["author"], json!({"kind": "vendor", "name": null}));

    // A coordinators-only message is no event for the vendors.
    let entity_events = feed(&app, &entity_token).await;
    let updates = entity_events
        .iter()
        .filter(|e| e["type"] == "cvd.case_updated" && e["subject"]["id"] == case.as_str())
        .count();
    let national_updates = feed(&app, &national)
        .await
        .iter()
        .filter(|e| e["type"] == "cvd.case_updated" && e["subject"]["id"] == case.as_str())
        .count();
    assert!(
        updates > 0 && updates < national_updates,
        "{updates} of {national_updates}"
    );

    // The external vendor does not answer within 7 days: unresponsive, once, with an event.
    let later = chrono::Utc::now() + chrono::Duration::days(8);
    assert_eq!(sweep(&ctx, later), 1);
    assert_eq!(sweep(&ctx, later), 0, "marked once");
    let c = send(&app, get(&format!("/api/v1/cvd/cases/{case}"), &national)).await;
    let vendors = c.body["vendors"].as_array().unwrap();
    let status = |id: &str| {
        vendors.iter().find(|v| v["id"] == id).unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status(&v2_id), "unresponsive");
    assert_eq!(status(&v1_id), "affected");
    let last = feed(&app, &national).await.last().cloned().unwrap();
    assert_eq!(last["type"], "cvd.case_updated");
    assert_eq!(last["data"]["changes"], json!(["vendors.status"]));
    // The vendor sees its own status.
    let own = send(
        &app,
        get(&format!("/api/v1/cvd/cases/{case}"), &vendor_token),
    )
    .await;
    assert_eq!(
        own.body["vendors"][0]["status"], "unresponsive",
        "{}",
        own.text
    );
    assert_eq!(own.body["vendors"].as_array().unwrap().len(), 1);

    // Publication during the embargo is refused, and writes nothing: no advisory, no event.
    let publish_uri = format!("/api/v1/cvd/cases/{case}/publish");
    let body = json!({
        "severity": "high",
        "summary": "ExampleVPN 4.2 grants a session for an empty password.",
        "references": [{"url": "https://vendor.example/psirt/1", "summary": "Vendor bulletin"}]
    });
    let tables = ["advisories", "cvd_cases", "events", "audit_log", "counters"];
    let snapshot = || tables.map(|t| count(&ctx, t));
    let before = snapshot();
    let version = c.body["version"].clone();
    send(&app, post(&publish_uri, &national, &body))
        .await
        .assert_problem(409, "embargo_in_force");
    // Forcing needs a reason.
    let mut forced = body.clone();
    forced["force"] = json!(true);
    let r = send(&app, post(&publish_uri, &national, &forced)).await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["pointer"], "/reason");
    // Only coordinators publish: not the finder, not a vendor.
    for token in [&case_token, &vendor_token, &entity_token] {
        let mut forced = forced.clone();
        forced["reason"] = json!("mine");
        let r = send(&app, post(&publish_uri, token, &forced)).await;
        assert_eq!(r.status, 403, "{}", r.text);
    }
    assert_eq!(snapshot(), before, "refusals write nothing");
    let c = send(&app, get(&format!("/api/v1/cvd/cases/{case}"), &national)).await;
    assert_eq!(c.body["version"], version);
    assert_eq!(c.body["state"], "coordinating");

    // Forced with a reason: one advisory, published, and the case disclosed with it.
    forced["reason"] = json!("actively exploited");
    let p = send(&app, post(&publish_uri, &national, &forced)).await;
    assert_eq!(p.status, 201, "{}", p.text);
    let advisory = p.body["advisory"]["id"].as_str().unwrap().to_string();
    assert_eq!(p.body["case"]["state"], "disclosed");
    assert_eq!(p.body["case"]["advisory_id"], advisory.as_str());
    assert_eq!(p.body["case"]["reason"], "actively exploited");
    assert_eq!(p.body["advisory"]["status"], "published");
    assert_eq!(p.body["advisory"]["tlp"], "CLEAR");
    assert_eq!(p.body["advisory"]["audience"], "national");
    assert_eq!(p.body["advisory"]["title"], "VPN bypass");
    assert!(
        p.body["advisory"].get("acknowledgments").is_none(),
        "an anonymous finder is not credited: {}",
        p.text
    );
    // Only the vendor that answered has a product status; the silent one is named.
    assert_eq!(
        p.body["advisory"]["affected_products"],
        json!([{"vendor": "Entity cvd-vendor-1", "product": "ExampleVPN", "versions": ["4.2"],
                "fixed_in": [], "not_affected": [], "cpe": null, "purl": null}])
    );
    assert!(p.body["advisory"]["summary"]
        .as_str()
        .unwrap()
        .contains("did not answer by their deadline: Example Networks"));
    assert_eq!(count(&ctx, "advisories"), before[0] + 1);
    for action in [
        "advisory.create",
        "advisory.publish",
        "cvd.case.disclose_forced",
    ] {
        assert_eq!(audited(&ctx, action), 1, "{action}");
    }
    // The advisory register did the rest: its event reaches the vendor entity's feed, and the
    // CSAF document is public (TLP:CLEAR) and valid.
    let published = feed(&app, &entity_token)
        .await
        .into_iter()
        .find(|e| e["type"] == "advisory.published")
        .expect("advisory.published in the entity's feed");
    assert_eq!(published["subject"]["id"], advisory.as_str());
    let d = send(
        &app,
        TestRequest::get().uri(&format!("/api/v1/advisories/{advisory}/csaf")),
    )
    .await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.body["document"]["distribution"]["tlp"]["label"], "WHITE");
    let status = &d.body["vulnerabilities"][0]["product_status"];
    assert_eq!(
        status["known_affected"].as_array().unwrap().len(),
        1,
        "{status}"
    );
    assert!(d.body["vulnerabilities"][0]
        .get("acknowledgments")
        .is_none());
    common::csaf::assert_valid(&d.body);
    // Disclosed is final.
    send(&app, post(&publish_uri, &national, &forced))
        .await
        .assert_problem(409, "invalid_transition");
}

#[actix_web::test]
async fn finder_details_reach_the_coordinators_only() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let mut body = report_body("XSS");
    body["finder"] = json!({"name": "Ada Finder", "email": "ada@finder.example", "credit": "Ada"});
    let r = send(&app, anonymous(&body, "203.0.113.6")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["anonymous"], false);
    let case = r.body["case_id"].as_str().unwrap().to_string();
    let v = triage_and_add_vendor(&app, &case, &national).await;
    let vendor_token = v.body["vendor_token"].as_str().unwrap().to_string();
    let m = send(
        &app,
        post(
            &format!("/api/v1/cvd/cases/{case}/messages"),
            r.body["case_token"].as_str().unwrap(),
            &json!({"body": "hello all", "visibility": "everyone"}),
        ),
    )
    .await;
    assert_eq!(m.status, 201, "{}", m.text);
    let coordinator = everything(&app, &case, &national).await;
    assert!(coordinator.contains("ada@finder.example"));
    assert!(coordinator.contains("Ada Finder"));
    let vendor = everything(&app, &case, &vendor_token).await;
    assert!(vendor.contains("hello all"), "{vendor}");
    assert!(!vendor.contains("ada@finder.example"), "{vendor}");
    assert!(!vendor.contains("Ada Finder"), "{vendor}");
}

#[actix_web::test]
async fn missed_acknowledgement_and_assessment_are_each_marked_once_with_an_event() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let r = send(&app, anonymous(&report_body("Late"), "203.0.113.7")).await;
    let case = r.body["case_id"].as_str().unwrap().to_string();
    let at =
        |v: &Value| -> chrono::DateTime<chrono::Utc> { serde_json::from_value(v.clone()).unwrap() };
    let ack_due = at(&r.body["acknowledge_due_at"]);
    let c = send(&app, get(&format!("/api/v1/cvd/cases/{case}"), &national)).await;
    let assess_due = at(&c.body["assess_due_at"]);
    // One working day to acknowledge, three to assess (never less than three calendar days).
    assert!(
        assess_due - ack_due >= chrono::Duration::days(2),
        "{}",
        c.text
    );
    assert_eq!(
        nis2hub::cvd::service::three_working_days_after(at(&c.body["created_at"])),
        assess_due
    );
    // The finder sees when the assessment is due, not whether it was missed.
    let f = send(
        &app,
        get(
            &format!("/api/v1/cvd/cases/{case}"),
            r.body["case_token"].as_str().unwrap(),
        ),
    )
    .await;
    assert_eq!(f.body["assess_due_at"], c.body["assess_due_at"]);

    // A second case, triaged in time, misses neither.
    let other = send(&app, anonymous(&report_body("In time"), "203.0.113.7")).await;
    let other = other.body["case_id"].as_str().unwrap().to_string();
    let t = send(
        &app,
        post(
            &format!("/api/v1/cvd/cases/{other}/triage"),
            &national,
            &json!({"state": "triaged"}),
        ),
    )
    .await;
    assert!(t.body["assessed_at"].is_string(), "{}", t.text);

    assert_eq!(sweep(&ctx, chrono::Utc::now()), 0, "not due yet");
    let second = chrono::Duration::seconds(1);
    assert_eq!(sweep(&ctx, ack_due + second), 1, "the acknowledgement");
    assert_eq!(sweep(&ctx, ack_due + second), 0);
    assert_eq!(sweep(&ctx, assess_due + second), 1, "the assessment");
    assert_eq!(
        sweep(&ctx, assess_due + chrono::Duration::days(30)),
        0,
        "once"
    );
    let c = send(&app, get(&format!("/api/v1/cvd/cases/{case}"), &national)).await;
    assert!(c.body["acknowledge_missed_at"].is_string(), "{}", c.text);
    assert!(c.body["assess_missed_at"].is_string(), "{}", c.text);
    assert!(c.body["assessed_at"].is_null(), "{}", c.text);
    let o = send(&app, get(&format!("/api/v1/cvd/cases/{other}"), &national)).await;
    assert!(o.body["assess_missed_at"].is_null(), "{}", o.text);
    let events = feed(&app, &national).await;
    for change in ["acknowledge_missed_at", "assess_missed_at"] {
        let missed: Vec<_> = events
            .iter()
            .filter(|e| e["data"]["changes"] == json!([change]))
            .collect();
        assert_eq!(missed.len(), 1, "{change}");
        assert_eq!(missed[0]["subject"]["id"], case.as_str());
    }
    let log = send(&app, get("/api/v1/audit?limit=200", &national)).await;
    assert!(log.text.contains("cvd.assess_missed"), "{}", log.text);
}

const TABLES: [&str; 5] = [
    "cvd_cases",
    "cvd_vendors",
    "cvd_messages",
    "events",
    "audit_log",
];

fn counts(ctx: &Ctx) -> Vec<i64> {
    TABLES.iter().map(|t| count(ctx, t)).collect()
}

#[actix_web::test]
async fn bad_input_gets_a_problem_and_writes_nothing() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let a = send(&app, anonymous(&report_body("A"), "203.0.113.8")).await;
    let b = send(&app, anonymous(&report_body("B"), "203.0.113.8")).await;
    let case_a = a.body["case_id"].as_str().unwrap().to_string();
    let token_a = a.body["case_token"].as_str().unwrap().to_string();
    let case_b = b.body["case_id"].as_str().unwrap().to_string();
    let token_b = b.body["case_token"].as_str().unwrap().to_string();
    let before = counts(&ctx);

    // A report without a description.
    let mut no_description = report_body("C");
    no_description
        .as_object_mut()
        .unwrap()
        .remove("description");
    let r = send(&app, anonymous(&no_description, "203.0.113.8")).await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["pointer"], "/description");

    // A transition outside the graph.
    let r = send(
        &app,
        post(
            &format!("/api/v1/cvd/cases/{case_a}/triage"),
            &national,
            &json!({"state": "coordinating"}),
        ),
    )
    .await;
    r.assert_problem(409, "invalid_transition");

    // Vendors before triage are refused; after triage an unknown entity is.
    let r = send(
        &app,
        post(
            &format!("/api/v1/cvd/cases/{case_a}/vendors"),
            &national,
            &json!({"entity_id": uuid::Uuid::now_v7().to_string()}),
        ),
    )
    .await;
    r.assert_problem(409, "case_not_triaged");
    assert_eq!(counts(&ctx), before);
    let t = send(
        &app,
        post(
            &format!("/api/v1/cvd/cases/{case_a}/triage"),
            &national,
            &json!({"state": "triaged"}),
        ),
    )
    .await;
    assert_eq!(t.status, 200, "{}", t.text);
    let before = counts(&ctx);
    let r = send(
        &app,
        post(
            &format!("/api/v1/cvd/cases/{case_a}/vendors"),
            &national,
            &json!({"entity_id": uuid::Uuid::now_v7().to_string()}),
        ),
    )
    .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["pointer"], "/entity_id");

    // An embargo in the past.
    let r = send(
        &app,
        patch(
            &format!("/api/v1/cvd/cases/{case_a}"),
            &national,
            &json!({"embargo_until": "2020-01-01T00:00:00Z"}),
        ),
    )
    .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["pointer"], "/embargo_until");

    // A duplicate without the case it duplicates, and a rejection without a reason.
    let r = send(
        &app,
        post(
            &format!("/api/v1/cvd/cases/{case_b}/triage"),
            &national,
            &json!({"state": "duplicate", "reason": "same"}),
        ),
    )
    .await;
    r.assert_problem(422, "validation_failed");
    let r = send(
        &app,
        post(
            &format!("/api/v1/cvd/cases/{case_b}/triage"),
            &national,
            &json!({"state": "rejected"}),
        ),
    )
    .await;
    r.assert_problem(422, "validation_failed");

    // A case token used on another case, and on coordinator operations.
    let r = send(&app, get(&format!("/api/v1/cvd/cases/{case_b}"), &token_a)).await;
    r.assert_problem(404, "not_found");
    let r = send(
        &app,
        post(
            &format!("/api/v1/cvd/cases/{case_b}/messages"),
            &token_a,
            &json!({"body": "x"}),
        ),
    )
    .await;
    r.assert_problem(404, "not_found");
    let r = send(
        &app,
        post(
            &format!("/api/v1/cvd/cases/{case_a}/triage"),
            &token_a,
            &json!({"state": "rejected", "reason": "mine"}),
        ),
    )
    .await;
    r.assert_problem(403, "insufficient_scope");
    // A finder cannot write to the vendors only.
    let r = send(
        &app,
        post(
            &format!("/api/v1/cvd/cases/{case_a}/messages"),
            &token_a,
            &json!({"body": "x", "visibility": "vendors"}),
        ),
    )
    .await;
    r.assert_problem(422, "validation_failed");

    // A forged token is refused, and not audited as a refused JWT.
    for forged in [
        "n2hcase_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "n2hvendor_x",
    ] {
        let r = send(&app, get(&format!("/api/v1/cvd/cases/{case_a}"), forged)).await;
        r.assert_problem(401, "unauthorized");
    }
    assert_eq!(counts(&ctx), before, "refused requests write nothing");

    // Case B is rejected, and its token expires 30 days after.
    let r = send(
        &app,
        post(
            &format!("/api/v1/cvd/cases/{case_b}/triage"),
            &national,
            &json!({"state": "rejected", "reason": "not a vulnerability"}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = send(&app, get(&format!("/api/v1/cvd/cases/{case_b}"), &token_b)).await;
    assert_eq!(r.status, 200, "the finder reads the outcome: {}", r.text);
    assert_eq!(r.body["reason"], "not a vulnerability");
    let old = (chrono::Utc::now() - chrono::Duration::days(31)).naive_utc();
    sql(
        &ctx,
        &format!("UPDATE cvd_cases SET closed_at = '{old}' WHERE id = '{case_b}'"),
    );
    let before = counts(&ctx);
    let r = send(&app, get(&format!("/api/v1/cvd/cases/{case_b}"), &token_b)).await;
    r.assert_problem(401, "unauthorized");
    assert_eq!(counts(&ctx), before);
}

#[actix_web::test]
async fn the_public_intake_is_limited_per_address() {
    let ctx = Ctx::with_config(true, |c| c.cvd_intake_per_minute = 2);
    let app = app!(ctx);
    for _ in 0..2 {
        let r = send(&app, anonymous(&report_body("x"), "198.51.100.1")).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let before = count(&ctx, "cvd_cases");
    let r = send(&app, anonymous(&report_body("x"), "198.51.100.1")).await;
    r.assert_problem(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
    assert_eq!(count(&ctx, "cvd_cases"), before);
    // Another address has its own limit; a reporter with a token is not limited by address.
    let r = send(&app, anonymous(&report_body("x"), "198.51.100.2")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let entity_token = ctx.token(&ctx.org_id("csirt-energy"), Role::SectoralCsirt);
    let _ = entity_token;
    let csirt = ctx.token("csirt-energy", Role::SectoralCsirt);
    let r = send(
        &app,
        post("/api/v1/cvd/reports", &csirt, &report_body("x"))
            .peer_addr("198.51.100.1:40000".parse().unwrap()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body.get("case_token").is_none(), "{}", r.text);
    // A presented token must verify: no silent fallback to an anonymous report.
    let r = send(
        &app,
        post("/api/v1/cvd/reports", "not-a-token", &report_body("x"))
            .peer_addr("198.51.100.3:40000".parse().unwrap()),
    )
    .await;
    r.assert_problem(401, "unauthorized");
}

#[actix_web::test]
async fn a_sectoral_csirt_coordinates_the_cases_assigned_to_it_only() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let csirt = ctx.token("csirt-energy", Role::SectoralCsirt);
    let r = send(&app, anonymous(&report_body("x"), "203.0.113.9")).await;
    let case = r.body["case_id"].as_str().unwrap().to_string();
    let uri = format!("/api/v1/cvd/cases/{case}");
    send(&app, get(&uri, &csirt))
        .await
        .assert_problem(404, "not_found");
    let list = send(&app, get("/api/v1/cvd/cases", &csirt)).await;
    assert_eq!(list.body["items"], json!([]), "{}", list.text);
    // Only the national CSIRT hands a case on.
    let to = ctx.org_id("csirt-energy");
    let p = send(&app, patch(&uri, &national, &json!({"coordinator_id": to}))).await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.body["coordinator"]["code"], "csirt-energy");
    let r = send(&app, get(&uri, &csirt)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["viewer"], "coordinator");
    let list = send(&app, get("/api/v1/cvd/cases", &csirt)).await;
    assert_eq!(list.body["items"][0]["id"], case.as_str(), "{}", list.text);
    let back = ctx.org_id("ncsirt");
    send(&app, patch(&uri, &csirt, &json!({"coordinator_id": back})))
        .await
        .assert_problem(403, "forbidden");
    // Another member state's CSIRT as co-coordinator, with its state recorded.
    let p = send(
        &app,
        patch(
            &uri,
            &csirt,
            &json!({"co_coordinators": [{"country": "BE", "name": "CCB", "contact_email": "cert@ccb.example"}]}),
        ),
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.body["co_coordinators"][0]["country"], "BE");
}

#[actix_web::test]
async fn case_tokens_are_no_jwts_and_creations_replay_without_their_tokens() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let r = send(&app, anonymous(&report_body("x"), "203.0.113.10")).await;
    let case = r.body["case_id"].as_str().unwrap().to_string();
    let case_token = r.body["case_token"].as_str().unwrap().to_string();
    // A case token is for its case only: not the list, and no refused-JWT audit record.
    let audit = count(&ctx, "audit_log");
    send(&app, get("/api/v1/cvd/cases", &case_token))
        .await
        .assert_problem(403, "insufficient_scope");
    send(
        &app,
        get(
            "/api/v1/cvd/cases",
            "n2hcase_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
    )
    .await
    .assert_problem(401, "unauthorized");
    assert_eq!(count(&ctx, "audit_log"), audit);

    send(
        &app,
        post(
            &format!("/api/v1/cvd/cases/{case}/triage"),
            &national,
            &json!({"state": "triaged"}),
        ),
    )
    .await;
    // Adding a vendor with an Idempotency-Key: the replay is the same vendor, without its token.
    let add = || {
        post(
            &format!("/api/v1/cvd/cases/{case}/vendors"),
            &national,
            &json!({"name": "V", "contact_email": "v@vendor.example"}),
        )
        .insert_header(("Idempotency-Key", "vendor-1"))
    };
    let first = send(&app, add()).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert!(first.body["vendor_token"].is_string());
    let vendors = count(&ctx, "cvd_vendors");
    let again = send(&app, add()).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.body["id"], first.body["id"]);
    assert!(again.body.get("vendor_token").is_none(), "{}", again.text);
    assert_eq!(count(&ctx, "cvd_vendors"), vendors);
    // A finder's message with a key is posted once.
    let say = || {
        post(
            &format!("/api/v1/cvd/cases/{case}/messages"),
            &case_token,
            &json!({"body": "once"}),
        )
        .insert_header(("Idempotency-Key", "m-1"))
    };
    let m1 = send(&app, say()).await;
    let m2 = send(&app, say()).await;
    assert_eq!(m1.status, 201, "{}", m1.text);
    assert_eq!(m1.body["id"], m2.body["id"]);
    assert_eq!(count(&ctx, "cvd_messages"), 1);
}

#[actix_web::test]
async fn publication_after_the_embargo_maps_vendor_statuses_and_credits_the_finder() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let mut report = report_body("Heap overflow in the portal");
    report["finder"] = json!({"email": "ada@finder.example", "credit": "Ada Finder"});
    report["cves"] = json!(["CVE-2026-40001"]);
    let r = send(&app, anonymous(&report, "203.0.113.11")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let case = r.body["case_id"].as_str().unwrap().to_string();
    let publish_uri = format!("/api/v1/cvd/cases/{case}/publish");
    let body = json!({"severity": "critical", "remediation": "Update."});
    // A received case is not published.
    send(&app, post(&publish_uri, &national, &body))
        .await
        .assert_problem(409, "invalid_transition");
    send(
        &app,
        post(
            &format!("/api/v1/cvd/cases/{case}/triage"),
            &national,
            &json!({"state": "triaged"}),
        ),
    )
    .await;
    let mut tokens = vec![];
    for name in ["A", "B", "C"] {
        let v = send(
            &app,
            post(
                &format!("/api/v1/cvd/cases/{case}/vendors"),
                &national,
                &json!({"name": format!("Vendor {name}"), "contact_email": format!("{name}@vendor.example")}),
            ),
        )
        .await;
        assert_eq!(v.status, 201, "{}", v.text);
        tokens.push((
            v.body["id"].as_str().unwrap().to_string(),
            v.body["vendor_token"].as_str().unwrap().to_string(),
        ));
    }
    // No vendor has answered: nothing to state in an advisory.
    let mut forced = body.clone();
    forced["force"] = json!(true);
    forced["reason"] = json!("test");
    send(&app, post(&publish_uri, &national, &forced))
        .await
        .assert_problem(409, "no_vendor_status");
    for ((id, token), status) in tokens.iter().zip(["affected", "fixed", "not_affected"]) {
        let a = send(
            &app,
            patch(
                &format!("/api/v1/cvd/cases/{case}/vendors/{id}"),
                token,
                &json!({"status": status, "statement": format!("statement-{status}")}),
            ),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.text);
    }
    let before = everything(&app, &case, &tokens[0].1).await;
    assert!(!before.contains("statement-fixed"), "{before}");
    // A reference must be an http(s) URL; the refusal writes nothing.
    let advisories = count(&ctx, "advisories");
    let mut bad = body.clone();
    bad["references"] = json!([{"url": "https://vendor.example/a b", "summary": "x"}]);
    let r = send(&app, post(&publish_uri, &national, &bad)).await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["pointer"], "/references/0/url");
    assert_eq!(count(&ctx, "advisories"), advisories);

    // The embargo is over: publication needs no force.
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).naive_utc();
    sql(
        &ctx,
        &format!("UPDATE cvd_cases SET embargo_until = '{past}' WHERE id = '{case}'"),
    );
    let p = send(&app, post(&publish_uri, &national, &body)).await;
    assert_eq!(p.status, 201, "{}", p.text);
    assert_eq!(p.body["case"]["state"], "disclosed");
    assert!(p.body["case"]["reason"].is_null(), "{}", p.text);
    let a = &p.body["advisory"];
    assert_eq!(a["cves"], json!(["CVE-2026-40001"]));
    assert_eq!(a["severity"], "critical");
    assert_eq!(
        a["references"],
        json!([{"url": "https://www.cve.org/CVERecord?id=CVE-2026-40001", "summary": "CVE record CVE-2026-40001"}])
    );
    assert_eq!(a["acknowledgments"][0]["name"], "Ada Finder");
    assert_eq!(audited(&ctx, "cvd.case.disclose"), 1);
    assert_eq!(audited(&ctx, "cvd.case.disclose_forced"), 0);

    // CSAF: affected → known_affected, fixed → fixed, not_affected → known_not_affected, and
    // the finder credited as it asked (its e-mail address appears nowhere).
    let id = a["id"].as_str().unwrap();
    let d = send(
        &app,
        TestRequest::get().uri(&format!("/api/v1/advisories/{id}/csaf")),
    )
    .await;
    assert_eq!(d.status, 200, "{}", d.text);
    let names = |key: &str| -> Vec<String> {
        let ids = d.body["vulnerabilities"][0]["product_status"][key]
            .as_array()
            .unwrap_or_else(|| panic!("{key}: {}", d.text))
            .clone();
        ids.iter()
            .map(|pid| {
                let needle = format!("\"product_id\":\"{}\"", pid.as_str().unwrap());
                // The document is served as stored (pretty-printed): look in its compact form.
                assert!(d.body.to_string().contains(&needle), "{needle}");
                let tree = d.body["product_tree"]["branches"].as_array().unwrap();
                tree.iter()
                    .find(|v| v.to_string().contains(&needle))
                    .unwrap()["name"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(names("known_affected"), ["Vendor A"]);
    assert_eq!(names("fixed"), ["Vendor B"]);
    assert_eq!(names("known_not_affected"), ["Vendor C"]);
    assert_eq!(d.body["vulnerabilities"][0]["cve"], "CVE-2026-40001");
    assert_eq!(
        d.body["vulnerabilities"][0]["acknowledgments"][0]["names"],
        json!(["Ada Finder"])
    );
    assert!(!d.text.contains("ada@finder.example"));
    common::csaf::assert_valid(&d.body);

    // The advisory stays the register's to revise: the products of the vendors that answered
    // only "fixed" or "not affected" name no affected version, and a change is accepted.
    let r = send(
        &app,
        patch(
            &format!("/api/v1/advisories/{id}"),
            &national,
            &json!({"cvss_v3": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Disclosed: a vendor reads the other vendors' statements, not their addresses.
    let after = everything(&app, &case, &tokens[0].1).await;
    assert!(after.contains("statement-fixed"), "{after}");
    assert!(!after.contains("B@vendor.example"), "{after}");
}

#[actix_web::test]
async fn the_public_intake_is_body_limited_and_writes_nothing_over_it() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let limit = 64 * 1024;
    let mut bytes = serde_json::to_vec(&report_body("Big")).unwrap();
    bytes.resize(limit + 1, b' ');
    let before = counts(&ctx);
    let r = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/cvd/reports")
            .peer_addr("203.0.113.20:40000".parse().unwrap())
            .insert_header(("Content-Type", "application/json"))
            .set_payload(bytes.clone()),
    )
    .await;
    r.assert_problem(413, "payload_too_large");
    assert_eq!(counts(&ctx), before);
    // At the limit it is taken.
    bytes.truncate(limit);
    let r = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/cvd/reports")
            .peer_addr("203.0.113.20:40000".parse().unwrap())
            .insert_header(("Content-Type", "application/json"))
            .set_payload(bytes),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[actix_web::test]
async fn a_duplicate_names_its_original_and_the_finder_reads_why() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let a = send(&app, anonymous(&report_body("First"), "203.0.113.21")).await;
    let b = send(&app, anonymous(&report_body("Again"), "203.0.113.21")).await;
    let (first, again) = (
        a.body["case_id"].as_str().unwrap().to_string(),
        b.body["case_id"].as_str().unwrap().to_string(),
    );
    let r = send(
        &app,
        post(
            &format!("/api/v1/cvd/cases/{again}/triage"),
            &national,
            &json!({"state": "duplicate", "reason": "reported before", "duplicate_of": first}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["state"], "duplicate");
    assert_eq!(r.body["duplicate_of"], first.as_str());
    let f = send(
        &app,
        get(
            &format!("/api/v1/cvd/cases/{again}"),
            b.body["case_token"].as_str().unwrap(),
        ),
    )
    .await;
    assert_eq!(f.body["reason"], "reported before");
    assert!(
        f.body["duplicate_of"].is_null(),
        "coordinators only: {}",
        f.text
    );
    // A closed case goes nowhere.
    send(
        &app,
        post(
            &format!("/api/v1/cvd/cases/{again}/triage"),
            &national,
            &json!({"state": "triaged"}),
        ),
    )
    .await
    .assert_problem(409, "invalid_transition");
}
