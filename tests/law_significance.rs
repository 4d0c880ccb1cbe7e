//! Implementing Regulation (EU) 2024/2690 Arts. 3–14 through the dry run: the same table as
//! the rules' unit test (`src/rules/ir2690_table.rs`, whose rows quote the articles), each row
//! posted to `POST /api/v1/routing/evaluate` with a hypothetical entity of the row's type. What
//! a reporter sees over HTTP is what the law's table says, on SQLite and PostgreSQL alike.

mod common;

#[path = "../src/rules/ir2690_table.rs"]
mod ir2690_table;

use common::*;
use serde_json::{json, Value};

fn evaluation(sector: &str, additional: &[&str], impact: &Value) -> Value {
    json!({
        "entity": {"country": "NL", "sector": sector, "additional_sectors": additional,
                   "category": "essential"},
        "stage": "early_warning",
        "impact": impact,
    })
}

#[actix_web::test]
async fn the_law_s_table_through_the_dry_run() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let token = ctx.national();
    let rows = ir2690_table::rows();
    assert!(rows.len() > 100, "{} rows", rows.len());
    for r in rows {
        let res = send(
            &app,
            post(
                "/api/v1/routing/evaluate",
                &token,
                &evaluation(r.sector, &[], &r.impact),
            ),
        )
        .await;
        assert_eq!(res.status, 200, "{}: {}", r.case, res.text);
        let c = &res.body["classification"];
        assert_eq!(
            c["significance_criteria"],
            json!(r.expected),
            "{}: {}",
            r.case,
            r.impact
        );
        assert_eq!(c["significant"], !r.expected.is_empty(), "{}", r.case);
        assert_eq!(res.body["ruleset"]["version"], "2026.2", "{}", r.case);
    }
}

/// An entity that is both a managed service provider and a managed security service provider
/// (Art. 10 covers both) meets each point once.
#[actix_web::test]
async fn one_article_for_two_types_is_met_once() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let body = evaluation(
        ir2690_table::MSP,
        &[ir2690_table::MSSP],
        &json!({"unavailability_minutes": 31, "data_compromised": true,
                "data_compromise_malicious": true}),
    );
    let res = send(
        &app,
        post("/api/v1/routing/evaluate", &ctx.national(), &body),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(
        res.body["classification"]["significance_criteria"],
        json!([
            "ir2690.art10_a.unavailable",
            "ir2690.art10_c.data_compromised_malicious"
        ])
    );
}

/// Out-of-range numbers and facts that only go together are refused with a problem naming the
/// field under `/impact`, on both sides of each range.
#[actix_web::test]
async fn bad_impact_facts_are_refused_naming_the_field() {
    let ctx = Ctx::new();
    let app = app!(ctx);
    let token = ctx.national();
    #[rustfmt::skip]
    let refused: Vec<(Value, &str)> = vec![
        (json!({"weekly_unavailability_minutes": 10_081}), "/impact/weekly_unavailability_minutes"),
        (json!({"data_compromised_users_percent": 100.5, "data_compromised": true}), "/impact/data_compromised_users_percent"),
        (json!({"data_compromise_malicious": true}), "/impact/data_compromise_malicious"),
        (json!({"data_compromised": true, "misconfigured_domains": 5}), "/impact/misconfigured_domains"),
        (json!({"data_compromised": true, "misconfigured_domains": 11, "domains_managed": 10}), "/impact/misconfigured_domains"),
        (json!({"data_compromised": true, "misconfigured_domains": 0, "domains_managed": 0}), "/impact/domains_managed"),
        (json!({"users_affected_percent": 100.01}), "/impact/users_affected_percent"),
    ];
    for (impact, pointer) in refused {
        let res = send(
            &app,
            post(
                "/api/v1/routing/evaluate",
                &token,
                &evaluation(ir2690_table::DNS, &[], &impact),
            ),
        )
        .await;
        res.assert_problem(422, "validation_failed");
        let pointers: Vec<&str> = res.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["pointer"].as_str())
            .collect();
        assert_eq!(pointers, vec![pointer], "{impact}: {}", res.text);
    }
    #[rustfmt::skip]
    let accepted = [
        json!({"weekly_unavailability_minutes": 10_080}),
        json!({"data_compromised_users_percent": 100.0, "data_compromised": true}),
        json!({"data_compromised": true, "misconfigured_domains": 10, "domains_managed": 10}),
        json!({"users_affected_percent": 100.0}),
    ];
    for impact in accepted {
        let res = send(
            &app,
            post(
                "/api/v1/routing/evaluate",
                &token,
                &evaluation(ir2690_table::DNS, &[], &impact),
            ),
        )
        .await;
        assert_eq!(res.status, 200, "{impact}: {}", res.text);
    }
}
