//! Is an incident significant? NIS2 Art. 23(3), and for the entity types of Implementing
//! Regulation (EU) 2024/2690 its general (Art. 3), recurring (Art. 4) and type-specific
//! (Arts. 5–14) criteria. Returns the ids of the criteria met; none met and not declared
//! significant by the reporter means not significant.

use super::ruleset::{EntityType, RuleSet, TypeThresholds};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

/// Structured impact facts of an incident, as far as the reporter knows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Impact {
    /// Direct financial loss caused or likely, in euro (at most 10^12).
    #[validate(range(max = 1_000_000_000_000_u64))]
    #[schema(maximum = 1_000_000_000_000_u64)]
    pub financial_loss_eur: Option<u64>,
    /// The entity's total annual turnover of the last financial year, in euro.
    #[validate(range(max = 9_223_372_036_854_775_807_u64))]
    #[schema(maximum = 9_223_372_036_854_775_807_u64)]
    pub annual_turnover_eur: Option<u64>,
    /// Deaths caused or likely.
    #[validate(range(max = 1_000_000))]
    #[schema(maximum = 1_000_000)]
    pub deaths: Option<u32>,
    /// Considerable damage to a person's health caused or likely.
    #[serde(default)]
    pub health_damage: bool,
    /// Trade secrets exfiltrated or likely exfiltrated.
    #[serde(default)]
    pub trade_secrets_exfiltrated: bool,
    /// Successful, suspectedly malicious and unauthorised access able to cause severe disruption.
    #[serde(default)]
    pub malicious_access: bool,
    /// Severe operational disruption of the services, or financial loss, for the entity (Art. 23(3)(a)).
    #[serde(default)]
    pub severe_operational_disruption: bool,
    /// Considerable material or non-material damage to others (Art. 23(3)(b)).
    #[serde(default)]
    pub considerable_damage_to_others: bool,
    /// Minutes the service was completely unavailable.
    #[validate(range(max = 5_256_000))]
    #[schema(maximum = 5_256_000)]
    pub unavailability_minutes: Option<u32>,
    /// Minutes the service's availability was limited (or its responses slow).
    #[validate(range(max = 5_256_000))]
    #[schema(maximum = 5_256_000)]
    pub degraded_minutes: Option<u32>,
    /// Average response time while degraded, in seconds (DNS and TLD).
    #[validate(range(min = 0.0, max = 86400.0))]
    #[schema(minimum = 0.0, maximum = 86400.0)]
    pub response_time_seconds: Option<f64>,
    /// Users (or relying parties) affected.
    #[validate(range(max = 9_223_372_036_854_775_807_u64))]
    #[schema(maximum = 9_223_372_036_854_775_807_u64)]
    pub users_affected: Option<u64>,
    /// Share of the service's users in the Union affected, in percent.
    #[validate(range(min = 0.0, max = 100.0))]
    #[schema(minimum = 0.0, maximum = 100.0)]
    pub users_affected_percent: Option<f64>,
    /// Integrity, confidentiality or authenticity of stored, transmitted or processed data compromised.
    #[serde(default)]
    pub data_compromised: bool,
    /// Users whose data was compromised.
    #[validate(range(max = 9_223_372_036_854_775_807_u64))]
    #[schema(maximum = 9_223_372_036_854_775_807_u64)]
    pub data_compromised_users: Option<u64>,
    /// Share of users whose data was compromised, in percent.
    #[validate(range(min = 0.0, max = 100.0))]
    #[schema(minimum = 0.0, maximum = 100.0)]
    pub data_compromised_users_percent: Option<f64>,
    /// Physical access to restricted areas compromised.
    #[serde(default)]
    pub physical_access_compromised: bool,
}

/// An earlier incident of the same entity, for the recurring-incident rule.
#[derive(Debug, Clone, PartialEq)]
pub struct PastIncident {
    pub occurred_at: DateTime<Utc>,
    pub root_cause: Option<String>,
    pub financial_loss_eur: Option<u64>,
}

/// Where the turnover behind the Art. 3(1)(a) threshold came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TurnoverSource {
    /// The report's `impact.annual_turnover_eur`.
    Report,
    /// The entity's registered `annual_turnover_eur`.
    Register,
    /// Neither gave one: the fixed amount alone applies.
    None,
}

/// The Art. 3(1)(a) threshold applied to an incident, and the turnover it was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FinancialThreshold {
    /// A direct financial loss above this many euros meets the criterion.
    #[schema(example = 250000)]
    pub threshold_eur: u64,
    /// The annual turnover used, if any.
    #[schema(example = 5000000)]
    pub annual_turnover_eur: Option<u64>,
    pub turnover_from: TurnoverSource,
}

/// The Art. 3(1)(a) threshold: the lower of the fixed amount and the share of turnover. The
/// turnover in the report wins (it is the newer figure); else the register's, which is the
/// source of truth for what the entity declared; else the fixed amount alone.
pub fn financial_threshold(
    rs: &RuleSet,
    reported_turnover_eur: Option<u64>,
    registered_turnover_eur: Option<u64>,
) -> FinancialThreshold {
    let fixed = rs.general.financial_loss_eur;
    let (turnover, from) = match (reported_turnover_eur, registered_turnover_eur) {
        (Some(t), _) => (Some(t), TurnoverSource::Report),
        (None, Some(t)) => (Some(t), TurnoverSource::Register),
        (None, None) => (None, TurnoverSource::None),
    };
    let threshold_eur = match turnover {
        // `as` saturates: a turnover too large for f64's precision still gives a huge share.
        Some(t) => fixed
            .min((t as f64 * rs.general.financial_loss_turnover_percent / 100.0).floor() as u64),
        None => fixed,
    };
    FinancialThreshold {
        threshold_eur,
        annual_turnover_eur: turnover,
        turnover_from: from,
    }
}

/// True when the entity's sectors make it one of the types of Implementing Regulation (EU)
/// 2024/2690, whose criteria (the financial threshold among them) then apply.
pub fn ir2690_applies(sectors: &[&str]) -> bool {
    sectors.iter().any(|s| EntityType::of_sector(s).is_some())
}

fn more_than(value: Option<u32>, threshold: Option<u32>) -> bool {
    matches!((value, threshold), (Some(v), Some(t)) if v > t)
}

fn users_over(
    impact: &Impact,
    percent: Option<f64>,
    count: Option<u64>,
    users: Option<u64>,
    share: Option<f64>,
) -> bool {
    if percent.is_none() && count.is_none() {
        return true;
    }
    let by_share = matches!((share, percent), (Some(s), Some(p)) if s > p);
    let by_count = matches!((users, count), (Some(u), Some(c)) if u > c);
    let _ = impact;
    by_share || by_count
}

fn type_criteria(t: EntityType, th: &TypeThresholds, i: &Impact, out: &mut Vec<String>) {
    let id = |what: &str| format!("ir2690.art{}.{}.{what}", th.article, t.as_str());
    if more_than(i.unavailability_minutes, th.unavailable_minutes) {
        out.push(id("unavailable"));
    }
    if th.limited_minutes.is_some()
        && more_than(i.degraded_minutes, th.limited_minutes)
        && (th.limited_users_percent.is_some() || th.limited_users.is_some())
        && users_over(
            i,
            th.limited_users_percent,
            th.limited_users,
            i.users_affected,
            i.users_affected_percent,
        )
    {
        out.push(id("limited_availability"));
    }
    if let (Some(secs), Some(limit)) = (i.response_time_seconds, th.slow_response_seconds) {
        if secs > limit && more_than(i.degraded_minutes, th.slow_minutes) {
            out.push(id("slow_response"));
        }
    }
    if th.data_compromised
        && i.data_compromised
        && users_over(
            i,
            th.data_compromised_users_percent,
            th.data_compromised_users,
            i.data_compromised_users,
            i.data_compromised_users_percent,
        )
    {
        out.push(id("data_compromised"));
    }
    if th.physical_access && i.physical_access_compromised {
        out.push(id("physical_access"));
    }
}

/// The significance criteria an incident meets.
///
/// `sectors` are the entity's sectors (the primary first); `past` are its earlier incidents.
pub fn criteria(
    rs: &RuleSet,
    sectors: &[&str],
    impact: &Impact,
    registered_turnover_eur: Option<u64>,
    occurred_at: DateTime<Utc>,
    root_cause: Option<&str>,
    past: &[PastIncident],
) -> Vec<String> {
    let mut out = Vec::new();
    // Art. 23(3), for every entity.
    if impact.severe_operational_disruption {
        out.push("nis2.art23_3_a.severe_disruption".to_string());
    }
    if impact.considerable_damage_to_others
        || impact.deaths.unwrap_or(0) > 0
        || impact.health_damage
    {
        out.push("nis2.art23_3_b.considerable_damage".to_string());
    }
    let types: Vec<EntityType> = sectors
        .iter()
        .filter_map(|s| EntityType::of_sector(s))
        .collect();
    if types.is_empty() {
        return out;
    }
    // Implementing Regulation (EU) 2024/2690, Art. 3: general criteria.
    let threshold =
        financial_threshold(rs, impact.annual_turnover_eur, registered_turnover_eur).threshold_eur;
    if impact.financial_loss_eur.is_some_and(|l| l > threshold) {
        out.push("ir2690.art3_1_a.financial_loss".to_string());
    }
    if impact.trade_secrets_exfiltrated {
        out.push("ir2690.art3_1_b.trade_secrets".to_string());
    }
    if impact.deaths.unwrap_or(0) > 0 {
        out.push("ir2690.art3_1_c.death".to_string());
    }
    if impact.health_damage {
        out.push("ir2690.art3_1_d.health_damage".to_string());
    }
    if impact.malicious_access {
        out.push("ir2690.art3_1_e.malicious_access".to_string());
    }
    // Art. 4: recurring incidents with the same apparent root cause, together over the
    // financial threshold.
    if let Some(cause) = root_cause.map(str::trim).filter(|c| !c.is_empty()) {
        let since = crate::time::sub_days(occurred_at, rs.general.recurring_window_days);
        let same: Vec<&PastIncident> = past
            .iter()
            .filter(|p| {
                p.root_cause
                    .as_deref()
                    .map(str::trim)
                    .is_some_and(|c| c.eq_ignore_ascii_case(cause))
            })
            .filter(|p| p.occurred_at <= occurred_at && since.is_none_or(|s| p.occurred_at >= s))
            .collect();
        // Saturating: a sum past u64::MAX is over any threshold all the same.
        let total: u64 = same
            .iter()
            .filter_map(|p| p.financial_loss_eur)
            .chain(impact.financial_loss_eur)
            .fold(0u64, u64::saturating_add);
        if same.len().saturating_add(1) >= rs.general.recurring_min_incidents && total > threshold {
            out.push("ir2690.art4.recurring".to_string());
        }
    }
    // Arts. 5–14: type-specific criteria.
    for t in types {
        if let Some(th) = rs.types.get(&t) {
            type_criteria(t, th, impact, &mut out);
        }
    }
    out.dedup();
    out
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)] // fixed test values
mod tests {
    use super::*;
    use chrono::TimeZone;

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

    /// Each criterion on both sides of its boundary: sector, impact → criteria met.
    #[test]
    fn the_significance_table() {
        let dns = "digital_infrastructure.dns";
        let cloud = "digital_infrastructure.cloud";
        let tsp = "digital_infrastructure.trust_services";
        let i = Impact::default;
        let table: Vec<(&str, &str, Impact, Vec<&str>)> = vec![
            ("nothing happened", dns, i(), vec![]),
            // Art. 3(1)(a): EUR 500 000 or 5 % of turnover, whichever is lower.
            (
                "loss of exactly EUR 500 000",
                dns,
                Impact {
                    financial_loss_eur: Some(500_000),
                    ..i()
                },
                vec![],
            ),
            (
                "loss over EUR 500 000",
                dns,
                Impact {
                    financial_loss_eur: Some(500_001),
                    ..i()
                },
                vec!["ir2690.art3_1_a.financial_loss"],
            ),
            (
                "loss at 5 % of a EUR 4 M turnover",
                cloud,
                Impact {
                    financial_loss_eur: Some(200_000),
                    annual_turnover_eur: Some(4_000_000),
                    ..i()
                },
                vec![],
            ),
            (
                "loss over 5 % of a EUR 4 M turnover",
                cloud,
                Impact {
                    financial_loss_eur: Some(200_001),
                    annual_turnover_eur: Some(4_000_000),
                    ..i()
                },
                vec!["ir2690.art3_1_a.financial_loss"],
            ),
            (
                "a large turnover keeps the EUR 500 000 cap",
                cloud,
                Impact {
                    financial_loss_eur: Some(500_001),
                    annual_turnover_eur: Some(1_000_000_000),
                    ..i()
                },
                vec!["ir2690.art3_1_a.financial_loss"],
            ),
            (
                "trade secrets",
                cloud,
                Impact {
                    trade_secrets_exfiltrated: true,
                    ..i()
                },
                vec!["ir2690.art3_1_b.trade_secrets"],
            ),
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
            (
                "malicious access",
                cloud,
                Impact {
                    malicious_access: true,
                    ..i()
                },
                vec!["ir2690.art3_1_e.malicious_access"],
            ),
            // Art. 5 DNS: more than 30 minutes unavailable; slower than 10 s for more than an hour.
            (
                "DNS down 30 minutes",
                dns,
                Impact {
                    unavailability_minutes: Some(30),
                    ..i()
                },
                vec![],
            ),
            (
                "DNS down 31 minutes",
                dns,
                Impact {
                    unavailability_minutes: Some(31),
                    ..i()
                },
                vec!["ir2690.art5.dns.unavailable"],
            ),
            (
                "DNS slow 60 minutes",
                dns,
                Impact {
                    response_time_seconds: Some(11.0),
                    degraded_minutes: Some(60),
                    ..i()
                },
                vec![],
            ),
            (
                "DNS slow 61 minutes",
                dns,
                Impact {
                    response_time_seconds: Some(11.0),
                    degraded_minutes: Some(61),
                    ..i()
                },
                vec!["ir2690.art5.dns.slow_response"],
            ),
            (
                "DNS 10 s for hours",
                dns,
                Impact {
                    response_time_seconds: Some(10.0),
                    degraded_minutes: Some(600),
                    ..i()
                },
                vec![],
            ),
            (
                "DNS data compromised",
                dns,
                Impact {
                    data_compromised: true,
                    ..i()
                },
                vec!["ir2690.art5.dns.data_compromised"],
            ),
            // Art. 6 TLD: any complete unavailability.
            (
                "TLD down a minute",
                "digital_infrastructure.tld",
                Impact {
                    unavailability_minutes: Some(1),
                    ..i()
                },
                vec!["ir2690.art6.tld.unavailable"],
            ),
            // Art. 7 cloud: limited for over an hour for over 5 % or 1 million users.
            (
                "cloud limited 61 min for 5 %",
                cloud,
                Impact {
                    degraded_minutes: Some(61),
                    users_affected_percent: Some(5.0),
                    ..i()
                },
                vec![],
            ),
            (
                "cloud limited 61 min for 5.1 %",
                cloud,
                Impact {
                    degraded_minutes: Some(61),
                    users_affected_percent: Some(5.1),
                    ..i()
                },
                vec!["ir2690.art7.cloud.limited_availability"],
            ),
            (
                "cloud limited 60 min for 2 M users",
                cloud,
                Impact {
                    degraded_minutes: Some(60),
                    users_affected: Some(2_000_000),
                    ..i()
                },
                vec![],
            ),
            (
                "cloud limited 61 min for 1 000 001 users",
                cloud,
                Impact {
                    degraded_minutes: Some(61),
                    users_affected: Some(1_000_001),
                    ..i()
                },
                vec!["ir2690.art7.cloud.limited_availability"],
            ),
            (
                "data centre intrusion",
                "digital_infrastructure.data_centre",
                Impact {
                    physical_access_compromised: true,
                    ..i()
                },
                vec!["ir2690.art8.data_centre.physical_access"],
            ),
            // Art. 14 trust services: more than 20 minutes; data of more than 100 users or 0.1 %.
            (
                "TSP down 20 minutes",
                tsp,
                Impact {
                    unavailability_minutes: Some(20),
                    ..i()
                },
                vec![],
            ),
            (
                "TSP down 21 minutes",
                tsp,
                Impact {
                    unavailability_minutes: Some(21),
                    ..i()
                },
                vec!["ir2690.art14.trust_service.unavailable"],
            ),
            (
                "TSP data of 100 users",
                tsp,
                Impact {
                    data_compromised: true,
                    data_compromised_users: Some(100),
                    ..i()
                },
                vec![],
            ),
            (
                "TSP data of 101 users",
                tsp,
                Impact {
                    data_compromised: true,
                    data_compromised_users: Some(101),
                    ..i()
                },
                vec!["ir2690.art14.trust_service.data_compromised"],
            ),
            (
                "marketplace out for 6 %",
                "digital_providers.online_marketplaces",
                Impact {
                    degraded_minutes: Some(1),
                    users_affected_percent: Some(6.0),
                    ..i()
                },
                vec!["ir2690.art11.online_marketplace.limited_availability"],
            ),
            // Entities outside the implementing regulation: Art. 23(3) only.
            (
                "energy: a large loss alone",
                "energy.electricity",
                Impact {
                    financial_loss_eur: Some(9_000_000),
                    unavailability_minutes: Some(600),
                    ..i()
                },
                vec![],
            ),
            (
                "energy: severe disruption",
                "energy.electricity",
                Impact {
                    severe_operational_disruption: true,
                    ..i()
                },
                vec!["nis2.art23_3_a.severe_disruption"],
            ),
            (
                "energy: damage to others",
                "energy.electricity",
                Impact {
                    considerable_damage_to_others: true,
                    ..i()
                },
                vec!["nis2.art23_3_b.considerable_damage"],
            ),
        ];
        for (what, sector, impact, expected) in table {
            assert_eq!(met(sector, impact), expected, "{what}");
        }
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
}
