//! The tests of `significance`.

use super::*;
use chrono::TimeZone;
use serde_json::json;

use super::ir2690_table;

fn at(days: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap() + chrono::Duration::days(days)
}

fn met(sector: &str, impact: Impact) -> Vec<String> {
    criteria(
        &RuleSet::nis2_default(),
        &[sector],
        &impact,
        None,
        at(0),
        None,
        &[],
    )
}

/// IR 2024/2690 Arts. 3–14, point by point, for every entity type of its Art. 1: the
/// shared table (`ir2690_table.rs`, whose rows quote the articles), both sides of every
/// threshold and both ways of every "whichever number is smaller".
#[test]
fn the_law_s_significance_table() {
    let rows = ir2690_table::rows();
    assert!(rows.len() > 100, "{} rows", rows.len());
    for r in rows {
        let impact: Impact =
            serde_json::from_value(r.impact.clone()).unwrap_or_else(|e| panic!("{}: {e}", r.case));
        assert!(impact.validate().is_ok(), "{}: valid facts", r.case);
        assert_eq!(met(r.sector, impact), r.expected, "{}", r.case);
    }
}

/// Every point of the rule set is reached by a row of the table that meets it: no point of
/// Arts. 5–14 goes untested.
#[test]
fn every_point_of_the_rule_set_is_met_by_a_row() {
    let rs = RuleSet::nis2_default();
    let rows = ir2690_table::rows();
    for (t, rules) in &rs.types {
        for p in &rules.points {
            let id = p.rule_id(&rules.article);
            assert!(
                rows.iter().any(
                    |r| EntityType::of_sector(r.sector) == Some(*t) && r.expected.contains(&id)
                ),
                "no row meets {id} for {t:?}"
            );
        }
    }
}

/// NIS2 Art. 23(3) for every entity, and IR Art. 3(1)(b)–(d) for the types it covers.
#[test]
fn the_general_criteria() {
    let cloud = "digital_infrastructure.cloud";
    let energy = "energy.electricity";
    let i = Impact::default;
    let table: Vec<(&str, &str, Impact, Vec<&str>)> = vec![
        // Art. 3(1)(b): "exfiltration of trade secrets".
        (
            "trade secrets",
            cloud,
            Impact {
                trade_secrets_exfiltrated: true,
                ..i()
            },
            vec!["ir2690.art3_1_b.trade_secrets"],
        ),
        // Art. 3(1)(c): "the death of a natural person"; also Art. 23(3)(b).
        (
            "a death",
            cloud,
            Impact {
                deaths: Some(1),
                ..i()
            },
            vec![
                "nis2.art23_3_b.considerable_damage",
                "ir2690.art3_1_c.death",
            ],
        ),
        // Art. 3(1)(d): "considerable damage to a natural person's health".
        (
            "health damage",
            cloud,
            Impact {
                health_damage: true,
                ..i()
            },
            vec![
                "nis2.art23_3_b.considerable_damage",
                "ir2690.art3_1_d.health_damage",
            ],
        ),
        // Entities outside the implementing regulation: Art. 23(3) only.
        (
            "energy: a large loss alone",
            energy,
            Impact {
                financial_loss_eur: Some(9_000_000),
                unavailability_minutes: Some(600),
                ..i()
            },
            vec![],
        ),
        (
            "energy: severe disruption",
            energy,
            Impact {
                severe_operational_disruption: true,
                ..i()
            },
            vec!["nis2.art23_3_a.severe_disruption"],
        ),
        (
            "energy: damage to others",
            energy,
            Impact {
                considerable_damage_to_others: true,
                ..i()
            },
            vec!["nis2.art23_3_b.considerable_damage"],
        ),
        // Art. 3(2) leaves Art. 23(3) and Art. 3(1) alone.
        (
            "scheduled maintenance with a death",
            cloud,
            Impact {
                scheduled_maintenance: true,
                deaths: Some(1),
                unavailability_minutes: Some(600),
                ..i()
            },
            vec![
                "nis2.art23_3_b.considerable_damage",
                "ir2690.art3_1_c.death",
            ],
        ),
    ];
    for (what, sector, impact, expected) in table {
        assert_eq!(met(sector, impact), expected, "{what}");
    }
}

/// An entity that is both a managed service provider and a managed security service
/// provider meets each point of Art. 10 once.
#[test]
fn two_types_under_one_article_meet_each_point_once() {
    let found = criteria(
        &RuleSet::nis2_default(),
        &["ict_service_management.msp", "ict_service_management.mssp"],
        &Impact {
            unavailability_minutes: Some(31),
            ..Default::default()
        },
        None,
        at(0),
        None,
        &[],
    );
    assert_eq!(found, vec!["ir2690.art10_a.unavailable"]);
}

/// Ranges on every number and facts that only go together: the error names the field.
#[test]
fn bad_facts_are_refused_naming_the_field() {
    let bad = |v: serde_json::Value| -> Vec<String> {
        let impact: Impact = serde_json::from_value(v).unwrap();
        let mut fields: Vec<String> = impact
            .validate()
            .unwrap_err()
            .errors()
            .keys()
            .map(|k| k.to_string())
            .collect();
        fields.sort();
        fields
    };
    let ok = |v: serde_json::Value| {
        let impact: Impact = serde_json::from_value(v.clone()).unwrap();
        assert!(impact.validate().is_ok(), "{v}");
    };
    #[rustfmt::skip]
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (json!({"weekly_unavailability_minutes": 10_081}), "weekly_unavailability_minutes"),
        (json!({"unavailability_minutes": 5_256_001}), "unavailability_minutes"),
        (json!({"degraded_minutes": 5_256_001}), "degraded_minutes"),
        (json!({"financial_loss_eur": 1_000_000_000_001_u64}), "financial_loss_eur"),
        (json!({"deaths": 1_000_001}), "deaths"),
        (json!({"response_time_seconds": -0.5}), "response_time_seconds"),
        (json!({"response_time_seconds": 86_400.5}), "response_time_seconds"),
        (json!({"users_affected_percent": 100.01}), "users_affected_percent"),
        (json!({"users_affected_percent": -1.0}), "users_affected_percent"),
        (json!({"users_affected": 9_223_372_036_854_775_808_u64}), "users_affected"),
        (json!({"data_compromised": true, "data_compromised_users_percent": 100.5}), "data_compromised_users_percent"),
        (json!({"data_compromised": true, "misconfigured_domains": 0, "domains_managed": 0}), "domains_managed"),
        (json!({"data_compromised": true, "misconfigured_domains": 1_000_000_000_001_u64, "domains_managed": 1_000_000_000_000_u64}), "misconfigured_domains"),
        (json!({"data_compromise_malicious": true}), "data_compromise_malicious"),
        (json!({"data_compromised_users": 5}), "data_compromised_users"),
        (json!({"data_compromised_users_percent": 0.5}), "data_compromised_users_percent"),
        (json!({"data_compromised": true, "misconfigured_domains": 5}), "misconfigured_domains"),
        (json!({"data_compromised": true, "misconfigured_domains": 11, "domains_managed": 10}), "misconfigured_domains"),
    ];
    for (v, field) in cases {
        assert_eq!(bad(v.clone()), vec![field.to_string()], "{v}");
    }
    // Just inside every range.
    ok(
        json!({"weekly_unavailability_minutes": 10_080, "unavailability_minutes": 5_256_000,
              "degraded_minutes": 5_256_000, "financial_loss_eur": 1_000_000_000_000_u64,
              "deaths": 1_000_000, "response_time_seconds": 86_400.0,
              "users_affected_percent": 100.0, "users_affected": 9_223_372_036_854_775_807_u64,
              "data_compromised": true, "data_compromised_users_percent": 0.0,
              "misconfigured_domains": 10, "domains_managed": 10}),
    );
    ok(
        json!({"response_time_seconds": 0.0, "users_affected_percent": 0.0,
              "data_compromised_users": 0, "domains_managed": 1}),
    );
    // A number of the wrong kind does not parse at all.
    assert!(
        serde_json::from_value::<Impact>(json!({"weekly_unavailability_minutes": -1})).is_err()
    );
}

/// Art. 4: at least two incidents within six months, same root cause, together over the
/// financial threshold.
#[test]
fn recurring_incidents() {
    let rs = RuleSet::nis2_default();
    let past = |days: i64, cause: &str, loss: u64| PastIncident {
        occurred_at: at(days),
        root_cause: Some(cause.into()),
        financial_loss_eur: Some(loss),
    };
    let now = Impact {
        financial_loss_eur: Some(300_000),
        ..Default::default()
    };
    let run = |history: &[PastIncident], cause: Option<&str>| {
        criteria(
            &rs,
            &["digital_infrastructure.cloud"],
            &now,
            None,
            at(0),
            cause,
            history,
        )
        .contains(&"ir2690.art4.recurring".to_string())
    };
    assert!(
        run(&[past(-30, "phishing", 200_001)], Some("phishing")),
        "together over 500 000"
    );
    assert!(
        !run(&[past(-30, "phishing", 200_000)], Some("phishing")),
        "together exactly 500 000"
    );
    assert!(
        !run(&[past(-30, "unpatched vpn", 400_000)], Some("phishing")),
        "another root cause"
    );
    assert!(
        !run(&[past(-200, "phishing", 400_000)], Some("phishing")),
        "more than six months before"
    );
    assert!(
        run(
            &[
                past(-100, "Phishing", 100_000),
                past(-10, "phishing", 150_000)
            ],
            Some("phishing")
        ),
        "three together"
    );
    assert!(
        !run(&[past(-30, "phishing", 400_000)], None),
        "no root cause given"
    );
}

#[test]
fn the_financial_threshold_is_the_lower_one() {
    let rs = RuleSet::nis2_default();
    let threshold = |t| financial_threshold(&rs, t, None).threshold_eur;
    assert_eq!(threshold(None), 500_000);
    assert_eq!(threshold(Some(4_000_000)), 200_000);
    assert_eq!(threshold(Some(10_000_000)), 500_000);
    assert_eq!(threshold(Some(20_000_000)), 500_000);
    assert_eq!(threshold(Some(u64::MAX)), 500_000);
}

/// CIR 2024/2690 Art. 3(1)(a) with the turnover from the report, from the register, or
/// from neither, on both sides of the threshold: (case, reported turnover, registered
/// turnover, loss) → (criterion met, threshold, turnover used, where it came from).
#[test]
fn the_turnover_comes_from_the_report_else_the_register() {
    use TurnoverSource as S;
    let rs = RuleSet::nis2_default();
    let m = Some;
    type Row = (
        &'static str,
        Option<u64>,
        Option<u64>,
        u64,
        bool,
        u64,
        Option<u64>,
        S,
    );
    #[rustfmt::skip]
    let table: Vec<Row> = vec![
        ("register: 5 % of 5 M is 250 000, loss above",     None,           m(5_000_000),  400_000, true,  250_000, m(5_000_000),  S::Register),
        ("register: loss exactly at 250 000",                None,           m(5_000_000),  250_000, false, 250_000, m(5_000_000),  S::Register),
        ("register: loss just above 250 000",                None,           m(5_000_000),  250_001, true,  250_000, m(5_000_000),  S::Register),
        ("report wins over register",                        m(20_000_000),  m(5_000_000),  400_000, false, 500_000, m(20_000_000), S::Report),
        ("report: 5 % of 4 M is 200 000, loss above",        m(4_000_000),   None,          200_001, true,  200_000, m(4_000_000),  S::Report),
        ("report: loss exactly at 200 000",                  m(4_000_000),   None,          200_000, false, 200_000, m(4_000_000),  S::Report),
        ("neither: the fixed EUR 500 000, loss below",       None,           None,          400_000, false, 500_000, None,          S::None),
        ("neither: loss above EUR 500 000",                  None,           None,          500_001, true,  500_000, None,          S::None),
    ];
    for (case, reported, registered, loss, met, threshold, used, from) in table {
        let impact = Impact {
            financial_loss_eur: Some(loss),
            annual_turnover_eur: reported,
            ..Default::default()
        };
        let found = criteria(
            &rs,
            &["digital_infrastructure.cloud"],
            &impact,
            registered,
            at(0),
            None,
            &[],
        );
        assert_eq!(
            found.contains(&"ir2690.art3_1_a.financial_loss".to_string()),
            met,
            "{case}"
        );
        let applied = financial_threshold(&rs, reported, registered);
        assert_eq!(
            (
                applied.threshold_eur,
                applied.annual_turnover_eur,
                applied.turnover_from
            ),
            (threshold, used, from),
            "{case}"
        );
    }
}
