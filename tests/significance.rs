//! The register is the source of the law's facts: the financial-loss threshold of CIR 2024/2690
//! Art. 3(1)(a) uses the registered turnover when a report gives none, and the decision says
//! which turnover it used.

mod common;

use common::*;
use nis2hub::auth::Role;
use serde_json::json;

#[actix_web::test]
async fn a_loss_over_five_percent_of_the_registered_turnover_is_significant() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let mut body = entity_body("30000001", "digital_infrastructure.cloud");
    body["annual_turnover_eur"] = json!(5_000_000);
    let entity = send(&app, post("/api/v1/entities", &ctx.national(), &body)).await;
    assert_eq!(entity.status, 201, "{}", entity.text);
    let id = entity.body["id"].as_str().unwrap().to_string();
    let token = ctx.token(&id, Role::Entity);
    let now = chrono::Utc::now().to_rfc3339();

    // (reported turnover, loss) → (significant, threshold, turnover used, its source)
    let cases = [
        (None, 400_000, true, 250_000, json!(5_000_000), "register"),
        (None, 250_000, false, 250_000, json!(5_000_000), "register"),
        (
            Some(20_000_000),
            400_000,
            false,
            500_000,
            json!(20_000_000),
            "report",
        ),
    ];
    for (reported, loss, significant, threshold, used, from) in cases {
        let mut impact = json!({"financial_loss_eur": loss});
        if let Some(t) = reported {
            impact["annual_turnover_eur"] = json!(t);
        }
        let report = json!({"entity_id": id, "stage": "early_warning", "aware_at": now,
            "summary": "storage cluster lost", "impact": impact});
        let mut evaluation = report.clone();
        evaluation.as_object_mut().unwrap().remove("summary");
        for (path, body) in [
            ("/api/v1/routing/evaluate", &evaluation),
            ("/api/v1/incidents", &report),
        ] {
            let res = send(&app, post(path, &token, body)).await;
            assert!(res.status == 200 || res.status == 201, "{}", res.text);
            let c = &res.body["decision"]["classification"];
            let c = if c.is_null() {
                &res.body["classification"]
            } else {
                c
            };
            assert_eq!(c["significant"], significant, "{path} {loss}: {c}");
            let t = &c["financial_threshold"];
            assert_eq!(t["threshold_eur"], threshold, "{path}: {t}");
            assert_eq!(t["annual_turnover_eur"], used, "{path}: {t}");
            assert_eq!(t["turnover_from"], from, "{path}: {t}");
        }
    }

    // An entity with no registered turnover: the fixed EUR 500 000 alone.
    let other_id = register_entity(
        &app,
        &ctx.national(),
        "30000002",
        "digital_infrastructure.cloud",
    )
    .await;
    let report = json!({"entity_id": other_id, "stage": "early_warning", "aware_at": now,
        "summary": "storage cluster lost", "impact": {"financial_loss_eur": 400_000}});
    let res = send(
        &app,
        post(
            "/api/v1/incidents",
            &ctx.token(&other_id, Role::Entity),
            &report,
        ),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let c = &res.body["decision"]["classification"];
    assert_eq!(c["significant"], false);
    assert_eq!(c["financial_threshold"]["turnover_from"], "none");
    assert_eq!(c["financial_threshold"]["threshold_eur"], 500_000);
}

/// IR 2024/2690 Art. 4 through the register: an entity's incidents with the same apparent root
/// cause (compared trimmed and without regard to ASCII case) within 183 days count together
/// against the financial threshold; another root cause, or one outside the window, does not.
/// Also after the recurring-incident columns of the stored incidents are filled in again from
/// their facts, as at the start of a service whose incidents predate those columns.
#[actix_web::test]
async fn incidents_with_the_same_root_cause_within_the_window_count_together() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let mut body = entity_body("30000002", "digital_infrastructure.cloud");
    body["annual_turnover_eur"] = json!(5_000_000); // threshold: 5 % = € 250 000
    let entity = send(&app, post("/api/v1/entities", &ctx.national(), &body)).await;
    assert_eq!(entity.status, 201, "{}", entity.text);
    let id = entity.body["id"].as_str().unwrap().to_string();
    let token = ctx.token(&id, Role::Entity);
    let now = chrono::Utc::now();
    let days_ago = |d: i64| (now - chrono::Duration::days(d)).to_rfc3339();
    let recurring = |res: &Res| {
        let c = &res.body["decision"]["classification"];
        let criteria: Vec<String> =
            serde_json::from_value(c["significance_criteria"].clone()).unwrap();
        (
            c["significant"].as_bool().unwrap(),
            criteria.iter().any(|c| c == "ir2690.art4.recurring"),
        )
    };
    let report = |occurred: String, cause: &str| {
        json!({"entity_id": id, "stage": "early_warning", "aware_at": now.to_rfc3339(),
            "occurred_at": occurred, "summary": "storage cluster lost",
            "root_cause": cause, "impact": {"financial_loss_eur": 150_000}})
    };
    // (occurred days ago, root cause) → (significant, recurring), in the order reported. The
    // window reaches back 183 days from when the reported incident occurred, and never past it.
    let cases = [
        (200, "VPN appliance flaw", false, false),
        // The first is 200 days before: outside the window.
        (0, "vpn appliance FLAW", false, false),
        (20, "power cut", false, false),
        // The first is 170 days before (150 000 + 150 000 over 250 000); the second occurred
        // after it, the third has another root cause.
        (30, "  VPN appliance flaw ", true, true),
    ];
    for (days, cause, significant, rec) in cases {
        let res = send(
            &app,
            post("/api/v1/incidents", &token, &report(days_ago(days), cause)),
        )
        .await;
        assert_eq!(res.status, 201, "{}", res.text);
        assert_eq!(
            recurring(&res),
            (significant, rec),
            "{days} days ago, {cause:?}: {}",
            res.body["decision"]
        );
    }

    // The columns of the stored incidents emptied and filled in again at start.
    {
        use diesel::prelude::*;
        let mut conn = ctx.state.pool.get().unwrap();
        diesel::sql_query("UPDATE incidents SET root_cause_key = NULL, financial_loss_eur = NULL")
            .execute(&mut conn)
            .unwrap();
        diesel::sql_query("DELETE FROM counters WHERE name = 'incidents_recurring_indexed'")
            .execute(&mut conn)
            .unwrap();
        nis2hub::ops::migrate(&mut conn).unwrap();
    }
    let dry = json!({"entity_id": id, "stage": "early_warning", "aware_at": now.to_rfc3339(),
        "root_cause": "VPN Appliance Flaw", "impact": {"financial_loss_eur": 1}});
    let res = send(&app, post("/api/v1/routing/evaluate", &token, &dry)).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let c = &res.body["classification"];
    assert!(
        c["significance_criteria"]
            .as_array()
            .unwrap()
            .contains(&json!("ir2690.art4.recurring")),
        "{c}"
    );
    let other = json!({"entity_id": id, "stage": "early_warning", "aware_at": now.to_rfc3339(),
        "root_cause": "a flood", "impact": {"financial_loss_eur": 1}});
    let res = send(&app, post("/api/v1/routing/evaluate", &token, &other)).await;
    assert_eq!(
        res.body["classification"]["significant"], false,
        "{}",
        res.text
    );
}

/// The new facts of IR 2024/2690 through stored reports of registered entities, not only the
/// dry run: Art. 14(b)'s weekly unavailability, Art. 3(2)'s scheduled maintenance, Art. 7(c)'s
/// suspectedly malicious data compromise and (d)'s users, and a bad figure refused with the
/// field named.
#[actix_web::test]
async fn stored_reports_are_judged_by_the_articles_points() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let tsp = register_entity(
        &app,
        &ctx.national(),
        "30000010",
        "digital_infrastructure.trust_services",
    )
    .await;
    let cloud = register_entity(
        &app,
        &ctx.national(),
        "30000011",
        "digital_infrastructure.cloud",
    )
    .await;
    let now = chrono::Utc::now().to_rfc3339();
    // (entity, impact) → criteria met
    #[rustfmt::skip]
    let cases: Vec<(&str, serde_json::Value, Vec<&str>)> = vec![
        // Art. 14(b): "unavailable … for more than one hour calculated on a calendar week basis".
        (&tsp, json!({"unavailability_minutes": 10, "weekly_unavailability_minutes": 60}), vec![]),
        (&tsp, json!({"unavailability_minutes": 10, "weekly_unavailability_minutes": 61}),
            vec!["ir2690.art14_b.weekly_unavailability"]),
        // Art. 3(2): a scheduled interruption is no significant incident.
        (&tsp, json!({"scheduled_maintenance": true, "unavailability_minutes": 120,
                      "weekly_unavailability_minutes": 120}), vec![]),
        // Art. 7(c) and (d): an accidental compromise of ten users' data is not significant.
        (&cloud, json!({"data_compromised": true, "data_compromised_users": 10}), vec![]),
        (&cloud, json!({"data_compromised": true, "data_compromise_malicious": true,
                        "data_compromised_users": 10}),
            vec!["ir2690.art7_c.data_compromised_malicious"]),
        (&cloud, json!({"data_compromised": true, "data_compromised_users": 1_000_001}),
            vec!["ir2690.art7_d.data_compromised"]),
    ];
    for (entity, impact, expected) in cases {
        let report = json!({"entity_id": entity, "stage": "early_warning", "aware_at": now,
            "summary": "service incident", "impact": impact});
        let res = send(
            &app,
            post(
                "/api/v1/incidents",
                &ctx.token(entity, Role::Entity),
                &report,
            ),
        )
        .await;
        assert_eq!(res.status, 201, "{}", res.text);
        let c = &res.body["decision"]["classification"];
        assert_eq!(c["significance_criteria"], json!(expected), "{impact}: {c}");
        assert_eq!(c["significant"], !expected.is_empty(), "{impact}");
        assert_eq!(c["mandatory"], !expected.is_empty(), "{impact}");
    }
    let report = json!({"entity_id": tsp, "stage": "early_warning", "aware_at": now,
        "summary": "service incident", "impact": {"weekly_unavailability_minutes": 10_081}});
    let res = send(
        &app,
        post("/api/v1/incidents", &ctx.token(&tsp, Role::Entity), &report),
    )
    .await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(
        res.body["errors"][0]["pointer"], "/impact/weekly_unavailability_minutes",
        "{}",
        res.text
    );
}
