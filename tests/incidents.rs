//! The life of incidents through the API: stages, routing decisions, deadlines, reviews,
//! requests, visibility and each recipient's feed.

mod common;
use chrono::{Duration, Utc};
use common::*;
use nis2hub::auth::Role;
use serde_json::{json, Value};

fn codes(decision: &Value) -> Vec<(String, String)> {
    decision["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["organisation_code"].as_str().unwrap().to_string(),
                r["role"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn stage<'a>(incident: &'a Value, name: &str) -> &'a Value {
    incident["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == name)
        .unwrap()
}

fn feed_types(r: &Res) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn the_life_of_a_significant_cross_border_incident() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let entity_id = register_entity(&app, &national, "grid-1", "energy.electricity").await;
    let entity = ctx.token(&entity_id, Role::Entity);
    let csirt = ctx.token("csirt-energy", Role::SectoralCsirt);
    let authority = ctx.token("authority-infrastructure", Role::SupervisoryAuthority);
    let health = ctx.token("csirt-health", Role::SectoralCsirt);
    let aware = Utc::now() - Duration::hours(2);

    // 1. Early warning, declared significant, affecting Belgium too.
    let ew = send(
        &app,
        post(
            "/api/v1/incidents",
            &entity,
            &json!({
                "entity_id": entity_id, "stage": "early_warning", "aware_at": aware, "significant": true,
                "suspected_malicious": true, "affected_member_states": ["NL", "BE"],
                "summary": "Ransomware on the control-room jump hosts", "tlp": "AMBER"
            }),
        ),
    )
    .await;
    assert_eq!(ew.status, 201, "{}", ew.text);
    let id = ew.body["id"].as_str().unwrap().to_string();
    let reference = ew.body["reference"].as_str().unwrap();
    assert!(
        reference.starts_with(&format!("INC-{}-", Utc::now().format("%Y")))
            && reference.len() == 15,
        "{reference}"
    );
    let d = &ew.body["decision"];
    assert_eq!(
        codes(d),
        vec![
            ("csirt-energy".into(), "sectoral_csirt".into()),
            (
                "authority-infrastructure".into(),
                "supervisory_authority".into()
            ),
            ("ncsirt".into(), "spoc".into())
        ]
    );
    assert_eq!(d["classification"]["mandatory"], true);
    assert_eq!(d["classification"]["cross_border"], true);
    assert_eq!(d["foreign_member_states"], json!(["BE"]));
    assert_eq!(d["recipients"][0]["action"], "initial_feedback");
    assert_eq!(d["ruleset"]["id"], "nis2-default");
    assert_eq!(ew.body["next_obligation"]["stage"], "notification");
    let due: chrono::DateTime<Utc> =
        serde_json::from_value(stage(&ew.body, "notification")["due_at"].clone()).unwrap();
    assert_eq!(due, (aware + Duration::hours(72)).duration_trunc_micros());
    assert_eq!(stage(&ew.body, "early_warning")["late"], false);

    // Each recipient sees it; a CSIRT it was not routed to does not.
    assert_eq!(
        send(&app, get(&format!("/api/v1/incidents/{id}"), &csirt))
            .await
            .status,
        200
    );
    assert_eq!(
        send(&app, get(&format!("/api/v1/incidents/{id}"), &authority))
            .await
            .status,
        200
    );
    send(&app, get(&format!("/api/v1/incidents/{id}"), &health))
        .await
        .assert_problem(404, "not_found");
    let health_list = send(&app, get("/api/v1/incidents", &health)).await;
    assert_eq!(health_list.body["items"], json!([]));

    // 2. Notification; the incident now also touches rail: the rail CSIRT and the national
    //    coordinator are added.
    let n = send(
        &app,
        post(
            &format!("/api/v1/incidents/{id}/reports"),
            &entity,
            &json!({"stage": "notification", "affected_sectors": ["transport.rail"], "summary": "Signalling power affected",
                    "impact": {"severe_operational_disruption": true, "users_affected": 120000}, "threat_type": "malicious-code"}),
        ),
    )
    .await;
    assert_eq!(n.status, 201, "{}", n.text);
    assert_eq!(n.body["decision"]["classification"]["cross_sectoral"], true);
    assert!(codes(&n.body["decision"]).contains(&("ncsirt".into(), "coordinator".into())));
    assert_eq!(stage(&n.body, "notification")["late"], false);
    assert_eq!(n.body["next_obligation"]["stage"], "final");

    // A second notification is out of order.
    let again = send(
        &app,
        post(
            &format!("/api/v1/incidents/{id}/reports"),
            &entity,
            &json!({"stage": "notification", "summary": "x"}),
        ),
    )
    .await;
    again.assert_problem(409, "stage_out_of_order");
    // An intermediate report without a request is too.
    let early = send(
        &app,
        post(
            &format!("/api/v1/incidents/{id}/reports"),
            &entity,
            &json!({"stage": "intermediate", "summary": "x"}),
        ),
    )
    .await;
    early.assert_problem(409, "stage_out_of_order");

    // 3. The authority requests an intermediate report; the entity sends it.
    let due_at = Utc::now() + Duration::days(3);
    let rq = send(
        &app,
        post(
            &format!("/api/v1/incidents/{id}/requests"),
            &authority,
            &json!({"due_at": due_at, "note": "restoration status"}),
        ),
    )
    .await;
    assert_eq!(rq.status, 201, "{}", rq.text);
    let i = send(
        &app,
        post(
            &format!("/api/v1/incidents/{id}/reports"),
            &entity,
            &json!({"stage": "intermediate", "summary": "Restored 80 %"}),
        ),
    )
    .await;
    assert_eq!(i.status, 201, "{}", i.text);
    let inter = stage(&i.body, "intermediate");
    assert_eq!(
        (inter["late"].clone(), inter["request_id"].clone()),
        (json!(false), rq.body["id"].clone())
    );

    // 4. Final report.
    let f = send(
        &app,
        post(&format!("/api/v1/incidents/{id}/reports"), &entity, &json!({"stage": "final", "summary": "Root cause: phished VPN account", "root_cause": "phishing", "mitigation": "MFA everywhere"})),
    )
    .await;
    assert_eq!(f.status, 201, "{}", f.text);
    assert!(f.body["next_obligation"].is_null());
    assert_eq!(f.body["late"], false);
    assert_eq!(f.body["reports"].as_array().unwrap().len(), 4);
    let after_final = send(
        &app,
        post(
            &format!("/api/v1/incidents/{id}/reports"),
            &entity,
            &json!({"stage": "progress", "summary": "x"}),
        ),
    )
    .await;
    after_final.assert_problem(409, "stage_out_of_order");

    // 5. The authority reviews the final report; the rail CSIRT may not.
    let final_id = f.body["reports"][3]["id"].as_str().unwrap();
    let rv = send(
        &app,
        post(
            &format!("/api/v1/incidents/{id}/reports/{final_id}/review"),
            &authority,
            &json!({"status": "revision_required", "comment": "Name the substations"}),
        ),
    )
    .await;
    assert_eq!(rv.status, 200, "{}", rv.text);
    assert_eq!(rv.body["review"]["status"], "revision_required");
    let rail = ctx.token("csirt-energy", Role::SectoralCsirt);
    send(
        &app,
        post(
            &format!("/api/v1/incidents/{id}/reports/{final_id}/review"),
            &rail,
            &json!({"status": "passed"}),
        ),
    )
    .await
    .assert_problem(403, "insufficient_scope");

    // 6. Routing history, newest first: one decision per report.
    let h = send(
        &app,
        get(&format!("/api/v1/incidents/{id}/routing"), &national),
    )
    .await;
    let numbers: Vec<i64> = h.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![4, 3, 2, 1]);

    // 7. Feeds: each recipient got what was addressed to it, from the moment it was routed.
    let csirt_feed = send(&app, get("/api/v1/feed", &csirt)).await;
    assert_eq!(
        feed_types(&csirt_feed),
        vec![
            "incident.routed",
            "incident.reported",
            "incident.report_added",
            "incident.intermediate_requested",
            "incident.report_added",
            "incident.report_added",
            "incident.review_changed"
        ]
    );
    let coordinator_view = send(&app, get("/api/v1/feed?type=incident.routed", &national)).await;
    assert_eq!(
        coordinator_view.body["items"].as_array().unwrap().len(),
        2,
        "routed at the first report and when rail was added"
    );
    let authority_feed = send(&app, get("/api/v1/feed?significant=true", &authority)).await;
    assert!(feed_types(&authority_feed).contains(&"incident.review_changed".to_string()));
    assert!(send(&app, get("/api/v1/feed", &health)).await.body["items"]
        .as_array()
        .unwrap()
        .is_empty());
    let seqs: Vec<i64> = csirt_feed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    let mut sorted = seqs.clone();
    sorted.sort();
    assert_eq!(seqs, sorted);
    let next = csirt_feed.body["next_after"].as_i64().unwrap();
    assert_eq!(next, *seqs.last().unwrap());
    assert!(
        send(&app, get(&format!("/api/v1/feed?after={next}"), &csirt))
            .await
            .body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // 8. Every read of the incident is in the audit log.
    let audit = send(
        &app,
        get(&format!("/api/v1/audit?resource_id={id}"), &national),
    )
    .await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"incident.read") && actions.contains(&"incident.report"),
        "{actions:?}"
    );
}

trait Micros {
    fn duration_trunc_micros(self) -> Self;
}

impl Micros for chrono::DateTime<Utc> {
    fn duration_trunc_micros(self) -> Self {
        use chrono::DurationRound;
        self.duration_trunc(chrono::TimeDelta::microseconds(1))
            .unwrap()
    }
}

#[actix_web::test]
async fn late_reports_are_flagged_and_the_sweep_reports_missed_deadlines_once() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let entity_id = register_entity(&app, &national, "late-1", "health").await;
    let entity = ctx.token(&entity_id, Role::Entity);
    // Aware 30 hours ago: the early warning is 6 hours late when it arrives.
    let aware = Utc::now() - Duration::hours(30);
    let r = send(
        &app,
        post("/api/v1/incidents", &entity, &json!({"entity_id": entity_id, "stage": "early_warning", "aware_at": aware, "significant": true, "summary": "late"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(stage(&r.body, "early_warning")["late"], true);
    assert_eq!(r.body["late"], true);
    let id = r.body["id"].as_str().unwrap().to_string();
    let late = send(&app, get("/api/v1/incidents?late=true", &national)).await;
    assert_eq!(late.body["items"].as_array().unwrap().len(), 1);

    // Four days on, the notification (due at 72 h) is missed: the sweep says so exactly once,
    // even when two sweeps run.
    let later = (Utc::now() + Duration::days(4)).naive_utc();
    let sweep = |when| {
        let mut conn = ctx.state.pool.get().unwrap();
        nis2hub::db::write_tx(&mut conn, |c| {
            nis2hub::incidents::sweep::sweep(c, when, 100)
        })
        .unwrap()
    };
    assert_eq!(sweep(later), 1);
    assert_eq!(sweep(later), 0);
    let feed = send(
        &app,
        get(
            "/api/v1/feed?type=incident.deadline_missed",
            &ctx.token("csirt-health", Role::SectoralCsirt),
        ),
    )
    .await;
    let items = feed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", feed.text);
    assert_eq!(items[0]["data"]["missed_stage"], "notification");
    assert_eq!(items[0]["subject"]["id"], id.as_str());
}

#[actix_web::test]
async fn routing_evaluate_stores_nothing() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let t = ctx.national();
    let before = count(&ctx, "events");
    let r = send(
        &app,
        post(
            "/api/v1/routing/evaluate",
            &t,
            &json!({"entity": {"country": "NL", "sector": "digital_infrastructure.dns", "category": "essential"},
                    "stage": "early_warning", "affected_member_states": ["NL", "DE"], "impact": {"unavailability_minutes": 45}}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["classification"]["significance_criteria"],
        json!(["ir2690.art5_a.unavailable"])
    );
    assert_eq!(
        codes(&r.body),
        vec![
            ("csirt-digital".into(), "sectoral_csirt".into()),
            ("authority-digital".into(), "supervisory_authority".into()),
            ("ncsirt".into(), "spoc".into())
        ]
    );
    assert_eq!(count(&ctx, "events"), before);
    assert_eq!(count(&ctx, "incidents"), 0);
}

#[actix_web::test]
async fn an_incident_that_becomes_significant_later_reaches_the_authority_then() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let entity_id = register_entity(&app, &national, "dns-1", "digital_infrastructure.dns").await;
    let entity = ctx.token(&entity_id, Role::Entity);
    let authority = ctx.token("authority-digital", Role::SupervisoryAuthority);
    let aware = Utc::now() - Duration::hours(1);
    let first = send(
        &app,
        post("/api/v1/incidents", &entity, &json!({"entity_id": entity_id, "stage": "early_warning", "aware_at": aware, "summary": "resolver hiccup", "impact": {"unavailability_minutes": 10}})),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.body["classification"]["significant"], false);
    assert_eq!(
        first.body["classification"]["mandatory"], false,
        "not significant: a voluntary report"
    );
    assert_eq!(
        codes(&first.body["decision"]),
        vec![("csirt-digital".to_string(), "sectoral_csirt".to_string())]
    );
    let id = first.body["id"].as_str().unwrap();
    send(&app, get(&format!("/api/v1/incidents/{id}"), &authority))
        .await
        .assert_problem(404, "not_found");

    // The outage grows past 30 minutes: Art. 5 of Implementing Regulation 2024/2690 makes it
    // significant by the facts alone, and the authority is told from now on.
    let second = send(
        &app,
        post(&format!("/api/v1/incidents/{id}/reports"), &entity, &json!({"stage": "notification", "summary": "resolvers down 45 minutes", "impact": {"unavailability_minutes": 45}})),
    )
    .await;
    assert_eq!(second.status, 201, "{}", second.text);
    let cl = &second.body["classification"];
    assert_eq!(
        (
            cl["significant"].clone(),
            cl["declared_significant"].clone()
        ),
        (json!(true), json!(false))
    );
    assert_eq!(
        cl["significance_criteria"],
        json!(["ir2690.art5_a.unavailable"])
    );
    assert!(codes(&second.body["decision"]).contains(&(
        "authority-digital".to_string(),
        "supervisory_authority".to_string()
    )));
    assert_eq!(
        send(&app, get(&format!("/api/v1/incidents/{id}"), &authority))
            .await
            .status,
        200
    );
    let feed = send(&app, get("/api/v1/feed", &authority)).await;
    assert_eq!(
        feed_types(&feed),
        vec!["incident.routed", "incident.report_added"],
        "only what happened since it was routed"
    );

    // A smaller outage later does not make it insignificant again.
    let rq = send(
        &app,
        post(
            &format!("/api/v1/incidents/{id}/requests"),
            &authority,
            &json!({"due_at": Utc::now() + Duration::days(2)}),
        ),
    )
    .await;
    assert_eq!(rq.status, 201, "{}", rq.text);
    let third = send(
        &app,
        post(&format!("/api/v1/incidents/{id}/reports"), &entity, &json!({"stage": "intermediate", "summary": "stable", "impact": {"unavailability_minutes": 0}})),
    )
    .await;
    assert_eq!(third.body["classification"]["significant"], true);
}

#[actix_web::test]
async fn a_replacement_rule_set_decides_and_is_named_in_every_decision() {
    let ctx = Ctx::new();
    let mut cfg = config(ctx.db.url.clone());
    let mut rules: Value =
        serde_json::from_str(include_str!("../rules/nis2-default.json")).unwrap();
    rules["id"] = json!("freedonia-strict");
    rules["version"] = json!("7");
    rules["deadlines"]["early_warning_hours"] = json!(12);
    cfg.rules = nis2hub::rules::ruleset::RuleSet::parse(&rules.to_string()).unwrap();
    let state = nis2hub::AppState::new(cfg, ctx.state.pool.clone()).unwrap();
    let app = actix_web::test::init_service(nis2hub::build_app(state)).await;
    let national = ctx.national();
    let entity_id = register_entity(&app, &national, "strict-1", "health").await;
    let aware = Utc::now() - Duration::hours(13);
    let r = send(
        &app,
        post("/api/v1/incidents", &national, &json!({"entity_id": entity_id, "stage": "early_warning", "aware_at": aware, "significant": true, "summary": "x"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body["decision"]["ruleset"],
        json!({"id": "freedonia-strict", "version": "7"})
    );
    assert_eq!(
        stage(&r.body, "early_warning")["late"],
        true,
        "13 hours is late under a 12-hour rule"
    );
}

#[actix_web::test]
async fn who_may_report_and_close() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let a = register_entity(&app, &national, "a-1", "health").await;
    let b = register_entity(&app, &national, "b-1", "health").await;
    let body = |id: &str| json!({"entity_id": id, "stage": "early_warning", "aware_at": Utc::now(), "summary": "x"});
    // An entity reports for itself only; the body names no entity it may report for.
    let other = send(
        &app,
        post("/api/v1/incidents", &ctx.token(&a, Role::Entity), &body(&b)),
    )
    .await;
    other.assert_problem(422, "validation_failed");
    assert_eq!(other.body["errors"][0]["pointer"], "/entity_id");
    assert_eq!(count(&ctx, "incidents"), 0);
    // A final report cannot open a mandatory incident.
    let mut f = body(&a);
    f["stage"] = json!("final");
    f["significant"] = json!(true);
    send(
        &app,
        post("/api/v1/incidents", &ctx.token(&a, Role::Entity), &f),
    )
    .await
    .assert_problem(409, "stage_out_of_order");
    assert_eq!(
        (count(&ctx, "incidents"), count(&ctx, "events")),
        (0, 0),
        "a refused report writes nothing"
    );

    let r = send(
        &app,
        post("/api/v1/incidents", &ctx.token(&a, Role::Entity), &body(&a)),
    )
    .await;
    let id = r.body["id"].as_str().unwrap();
    let csirt = ctx.token("csirt-health", Role::SectoralCsirt);
    send(
        &app,
        post(&format!("/api/v1/incidents/{id}/close"), &csirt, &json!({})),
    )
    .await
    .assert_problem(403, "insufficient_scope");
    let closed = send(
        &app,
        post(
            &format!("/api/v1/incidents/{id}/close"),
            &national,
            &json!({}),
        ),
    )
    .await;
    assert_eq!(closed.status, 200, "{}", closed.text);
    assert_eq!(closed.body["status"], "closed");
    assert!(closed.body["next_obligation"].is_null());
    let more = send(
        &app,
        post(
            &format!("/api/v1/incidents/{id}/reports"),
            &ctx.token(&a, Role::Entity),
            &json!({"stage": "notification", "summary": "x"}),
        ),
    )
    .await;
    more.assert_problem(409, "incident_closed");
}

#[actix_web::test]
async fn intermediate_requests_need_their_own_scope_a_lead_time_and_a_cap() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let national = ctx.national();
    let entity_id = register_entity(&app, &national, "rq-1", "energy.electricity").await;
    let entity = ctx.token(&entity_id, Role::Entity);
    let r = send(
        &app,
        post("/api/v1/incidents", &entity, &json!({"entity_id": entity_id, "stage": "early_warning", "aware_at": Utc::now() - Duration::hours(1), "significant": true, "summary": "outage"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let n = send(
        &app,
        post(
            &format!("/api/v1/incidents/{id}/reports"),
            &entity,
            &json!({"stage": "notification", "summary": "x"}),
        ),
    )
    .await;
    assert_eq!(n.status, 201, "{}", n.text);
    let uri = format!("/api/v1/incidents/{id}/requests");
    let in_days = |d: i64| json!({"due_at": Utc::now() + Duration::days(d), "note": "status"});

    // Reading incidents is not enough: a request changes what the entity owes.
    let reader = ctx.token_with(
        &ctx.org_id("csirt-energy"),
        Role::SectoralCsirt,
        "incidents:read",
    );
    let refused = send(&app, post(&uri, &reader, &in_days(2))).await;
    refused.assert_problem(403, "insufficient_scope");
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("incidents:request"),
        "{}",
        refused.text
    );
    assert_eq!(count(&ctx, "incident_requests"), 0);

    // The entity gets at least the minimum lead time (24 hours in the built-in rule set).
    let authority = ctx.token("authority-infrastructure", Role::SupervisoryAuthority);
    for due in [
        Utc::now() + Duration::hours(2),
        Utc::now() + Duration::hours(23),
    ] {
        let soon = send(&app, post(&uri, &authority, &json!({"due_at": due}))).await;
        soon.assert_problem(422, "validation_failed");
        assert_eq!(
            soon.body["errors"][0]["pointer"], "/due_at",
            "{}",
            soon.text
        );
        assert!(
            soon.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("24 hours"),
            "{}",
            soon.text
        );
    }
    assert_eq!(
        count(&ctx, "incident_requests"),
        0,
        "a refused request writes nothing"
    );

    // At most three open requests per incident, whoever asks.
    let csirt = ctx.token("csirt-energy", Role::SectoralCsirt);
    for token in [&csirt, &authority, &authority] {
        let ok = send(&app, post(&uri, token, &in_days(2))).await;
        assert_eq!(ok.status, 201, "{}", ok.text);
    }
    let events = count(&ctx, "events");
    let fourth = send(&app, post(&uri, &national, &in_days(2))).await;
    fourth.assert_problem(409, "too_many_open_requests");
    assert_eq!(
        (count(&ctx, "incident_requests"), count(&ctx, "events")),
        (3, events),
        "a refused request writes nothing"
    );

    // An intermediate report answers one; then there is room for another request.
    let answer = send(
        &app,
        post(
            &format!("/api/v1/incidents/{id}/reports"),
            &entity,
            &json!({"stage": "intermediate", "summary": "restoring"}),
        ),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let again = send(&app, post(&uri, &authority, &in_days(2))).await;
    assert_eq!(again.status, 201, "{}", again.text);
}

#[actix_web::test]
async fn a_rule_set_sets_the_request_lead_time_and_cap() {
    let ctx = Ctx::new();
    let mut cfg = config(ctx.db.url.clone());
    let mut rules: Value =
        serde_json::from_str(include_str!("../rules/nis2-default.json")).unwrap();
    rules["requests"] = json!({"min_lead_hours": 72, "max_open_per_incident": 1});
    cfg.rules = nis2hub::rules::ruleset::RuleSet::parse(&rules.to_string()).unwrap();
    let state = nis2hub::AppState::new(cfg, ctx.state.pool.clone()).unwrap();
    let app = actix_web::test::init_service(nis2hub::build_app(state)).await;
    let national = ctx.national();
    let entity_id = register_entity(&app, &national, "rq-2", "health").await;
    let r = send(
        &app,
        post("/api/v1/incidents", &national, &json!({"entity_id": entity_id, "stage": "early_warning", "aware_at": Utc::now(), "significant": true, "summary": "x"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let uri = format!(
        "/api/v1/incidents/{}/requests",
        r.body["id"].as_str().unwrap()
    );
    let two_days = send(
        &app,
        post(
            &uri,
            &national,
            &json!({"due_at": Utc::now() + Duration::days(2)}),
        ),
    )
    .await;
    two_days.assert_problem(422, "validation_failed");
    assert!(two_days.body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("72 hours"));
    let ok = send(
        &app,
        post(
            &uri,
            &national,
            &json!({"due_at": Utc::now() + Duration::days(4)}),
        ),
    )
    .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    send(
        &app,
        post(
            &uri,
            &national,
            &json!({"due_at": Utc::now() + Duration::days(4)}),
        ),
    )
    .await
    .assert_problem(409, "too_many_open_requests");
}
