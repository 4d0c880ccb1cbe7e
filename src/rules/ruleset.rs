//! The rule set: deadlines and significance thresholds as data. The NIS2 default is built in
//! (`rules/nis2-default.json`); a file named by `NIS2HUB_RULESET` replaces it, checked at start.
//! Every decision records the id and version of the rule set that made it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const DEFAULT: &str = include_str!("../../rules/nis2-default.json");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    pub id: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    pub deadlines: Deadlines,
    pub general: General,
    /// Limits on the intermediate reports a CSIRT or authority may request. A rule-set file
    /// written before these limits existed gets the defaults.
    #[serde(default)]
    pub requests: RequestLimits,
    /// The criteria of Arts. 5–14 per entity type of Implementing Regulation (EU) 2024/2690.
    pub types: BTreeMap<EntityType, TypeRules>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deadlines {
    pub early_warning_hours: i64,
    pub notification_hours: i64,
    pub trust_service_notification_hours: i64,
    pub final_report_months: u32,
    pub csirt_feedback_hours: i64,
    pub spoc_forward_hours: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct General {
    /// Art. 3(1)(a): direct financial loss above the lower of this amount…
    pub financial_loss_eur: u64,
    /// …and this share of last year's turnover.
    pub financial_loss_turnover_percent: f64,
    /// Art. 4: recurring incidents within this many days…
    pub recurring_window_days: i64,
    /// …at least this many of them.
    pub recurring_min_incidents: usize,
}

/// How soon and how often an entity can be asked for an intermediate report (Art. 23(4)(c)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestLimits {
    /// A request gives the entity at least this many hours: the law's shortest reporting
    /// window (the early warning's 24 hours) by default.
    pub min_lead_hours: i64,
    /// At most this many requests may be open (not yet answered by an intermediate report)
    /// on one incident at a time.
    pub max_open_per_incident: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            min_lead_hours: 24,
            max_open_per_incident: 3,
        }
    }
}

/// The type-specific criteria of one article of Arts. 5–14, point by point. Each point is one
/// rule, `ir2690.art{article}_{point}.{criterion}`; a point the rule set leaves out does not
/// apply to the type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeRules {
    /// The article of Implementing Regulation (EU) 2024/2690 for the type ("5" … "14").
    pub article: String,
    pub points: Vec<Point>,
}

/// What a point of Arts. 5–14 looks at. It fixes the impact facts the point reads
/// ([`Point::required_inputs`]) and which thresholds it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// The service is completely unavailable for more than `minutes` (any duration at 0),
    /// for more than `users_percent` or `users` where set.
    Unavailable,
    /// The service's availability is limited for more than `minutes` (any duration at 0),
    /// for more than `users_percent` or `users` where set.
    LimitedAvailability,
    /// For more than `minutes`, the average response time is more than `seconds`.
    SlowResponse,
    /// Unavailable to users or relying parties for more than `minutes` in a calendar week,
    /// added up (Art. 14(b)).
    WeeklyUnavailability,
    /// The integrity, confidentiality or authenticity of stored, transmitted or processed data
    /// is compromised (for more than `users_percent` or `users` where set), save for the
    /// misconfiguration exception where set (Art. 5(c)).
    DataCompromised,
    /// Such a compromise results from a suspectedly malicious action.
    DataCompromisedMalicious,
    /// Physical access to the restricted areas is compromised.
    PhysicalAccess,
}

impl Criterion {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unavailable => "unavailable",
            Self::LimitedAvailability => "limited_availability",
            Self::SlowResponse => "slow_response",
            Self::WeeklyUnavailability => "weekly_unavailability",
            Self::DataCompromised => "data_compromised",
            Self::DataCompromisedMalicious => "data_compromised_malicious",
            Self::PhysicalAccess => "physical_access",
        }
    }

    /// Criteria about the availability of the service, which scheduled interruptions and the
    /// planned consequences of scheduled maintenance do not meet (Art. 3(2)).
    pub fn is_availability(self) -> bool {
        matches!(
            self,
            Self::Unavailable
                | Self::LimitedAvailability
                | Self::SlowResponse
                | Self::WeeklyUnavailability
        )
    }
}

/// Art. 5(c)'s exception: data of fewer than `fewer_than_domains` domain names, amounting to
/// not more than `max_percent` of those managed, compromised due to misconfiguration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MisconfigurationException {
    pub fewer_than_domains: u64,
    pub max_percent: f64,
}

/// One point of an article of Arts. 5–14. Every threshold is "more than"; a user threshold is
/// the share or the number, "whichever number is smaller", so either one exceeded meets it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Point {
    /// The point's letter: "a", "b", …
    pub point: String,
    /// The point's wording in the regulation, for readers of the rule set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    pub criterion: Criterion,
    /// More than this many minutes (0: any duration). Durations criteria only, and required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u32>,
    /// Average response time above this many seconds (`slow_response` only, and required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// More than this share of the service's users in the Union, in percent…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users_percent: Option<f64>,
    /// …or more than this many of them, whichever number is smaller (both or neither).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<u64>,
    /// Art. 5(c)'s misconfiguration exception (`data_compromised` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misconfiguration_exception: Option<MisconfigurationException>,
    /// The impact facts (fields of the report's `impact`) the point reads: stated in the
    /// data for its readers, and checked against [`Point::required_inputs`] at load.
    pub inputs: Vec<String>,
}

impl Point {
    /// The rule's id: `ir2690.art{article}_{point}.{criterion}`.
    pub fn rule_id(&self, article: &str) -> String {
        format!(
            "ir2690.art{article}_{}.{}",
            self.point,
            self.criterion.as_str()
        )
    }

    /// The impact facts this point reads, from its criterion and the thresholds it sets.
    pub fn required_inputs(&self) -> Vec<&'static str> {
        let users = self.users.is_some() || self.users_percent.is_some();
        let mut out: Vec<&'static str> = match self.criterion {
            Criterion::Unavailable => vec!["unavailability_minutes"],
            Criterion::LimitedAvailability => vec!["degraded_minutes"],
            Criterion::SlowResponse => vec!["response_time_seconds", "degraded_minutes"],
            Criterion::WeeklyUnavailability => vec!["weekly_unavailability_minutes"],
            Criterion::DataCompromised => vec!["data_compromised"],
            Criterion::DataCompromisedMalicious => {
                vec!["data_compromised", "data_compromise_malicious"]
            }
            Criterion::PhysicalAccess => vec!["physical_access_compromised"],
        };
        if users {
            out.extend(match self.criterion {
                Criterion::DataCompromised => {
                    ["data_compromised_users", "data_compromised_users_percent"]
                }
                _ => ["users_affected", "users_affected_percent"],
            });
        }
        if self.misconfiguration_exception.is_some() {
            out.extend([
                "misconfigured_domains",
                "domains_managed",
                "data_compromise_malicious",
            ]);
        }
        if self.criterion.is_availability() {
            out.push("scheduled_maintenance");
        }
        out
    }

    fn check(&self, at: &str) -> Result<(), String> {
        let c = self.criterion;
        let durations = c.is_availability();
        let fail = |what: &str| Err(format!("{at}: {what}"));
        if self.point.len() != 1 || !self.point.bytes().all(|b| b.is_ascii_lowercase()) {
            return fail("point must be one lower-case letter");
        }
        if durations != self.minutes.is_some() {
            return fail("minutes is required by the duration criteria and only by them");
        }
        if (c == Criterion::SlowResponse) != self.seconds.is_some() {
            return fail("seconds is required by slow_response and only by it");
        }
        if self.seconds.is_some_and(|s| !(s > 0.0 && s <= 86_400.0)) {
            return fail("seconds must be above 0 and at most 86400");
        }
        if self.minutes.is_some_and(|m| m > 5_256_000) {
            return fail("minutes must be at most 5256000");
        }
        if self.users.is_some() != self.users_percent.is_some() {
            return fail("users and users_percent go together (whichever number is smaller)");
        }
        let takes_users = matches!(
            c,
            Criterion::Unavailable | Criterion::LimitedAvailability | Criterion::DataCompromised
        );
        if self.users.is_some() && !takes_users {
            return fail("this criterion takes no user threshold");
        }
        if self.users_percent.is_some_and(|p| !(p > 0.0 && p <= 100.0)) {
            return fail("users_percent must be above 0 and at most 100");
        }
        if let Some(e) = self.misconfiguration_exception {
            if c != Criterion::DataCompromised {
                return fail("misconfiguration_exception belongs to data_compromised");
            }
            if !(e.max_percent > 0.0 && e.max_percent <= 100.0) || e.fewer_than_domains == 0 {
                return fail("misconfiguration_exception is out of range");
            }
        }
        let mut want = self.required_inputs();
        let mut have: Vec<&str> = self.inputs.iter().map(String::as_str).collect();
        want.sort_unstable();
        have.sort_unstable();
        if want != have {
            return fail(&format!(
                "inputs must be exactly the facts the point reads: {}",
                self.required_inputs().join(", ")
            ));
        }
        Ok(())
    }
}

/// The entity types for which Implementing Regulation (EU) 2024/2690 sets significance criteria.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityType {
    Dns,
    Tld,
    Cloud,
    DataCentre,
    Cdn,
    Msp,
    Mssp,
    OnlineMarketplace,
    SearchEngine,
    SocialNetwork,
    TrustService,
}

impl EntityType {
    /// The type an entity registered under this sector code has, if any.
    pub fn of_sector(code: &str) -> Option<Self> {
        Some(match code {
            "digital_infrastructure.dns" => Self::Dns,
            "digital_infrastructure.tld" => Self::Tld,
            "digital_infrastructure.cloud" => Self::Cloud,
            "digital_infrastructure.data_centre" => Self::DataCentre,
            "digital_infrastructure.cdn" => Self::Cdn,
            "digital_infrastructure.trust_services" => Self::TrustService,
            "ict_service_management.msp" => Self::Msp,
            "ict_service_management.mssp" => Self::Mssp,
            "digital_providers.online_marketplaces" => Self::OnlineMarketplace,
            "digital_providers.search_engines" => Self::SearchEngine,
            "digital_providers.social_networks" => Self::SocialNetwork,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Tld => "tld",
            Self::Cloud => "cloud",
            Self::DataCentre => "data_centre",
            Self::Cdn => "cdn",
            Self::Msp => "msp",
            Self::Mssp => "mssp",
            Self::OnlineMarketplace => "online_marketplace",
            Self::SearchEngine => "search_engine",
            Self::SocialNetwork => "social_network",
            Self::TrustService => "trust_service",
        }
    }
}

impl RuleSet {
    /// The rule set `NIS2HUB_RULESET` names (a file), or the built-in NIS2 one when unset;
    /// checked whole, the error naming the setting.
    pub fn from_setting(path: Option<String>) -> Result<Self, String> {
        match path {
            None => Ok(Self::nis2_default()),
            Some(path) => {
                Self::load(std::path::Path::new(&path)).map_err(|e| format!("NIS2HUB_RULESET: {e}"))
            }
        }
    }

    /// The built-in NIS2 rule set.
    pub fn nis2_default() -> Self {
        Self::parse(DEFAULT).expect("the built-in rule set is valid")
    }

    /// Parses and checks a rule-set document.
    pub fn parse(text: &str) -> Result<Self, String> {
        let rs: RuleSet =
            serde_json::from_str(text).map_err(|e| format!("the rule set is not valid: {e}"))?;
        rs.check()?;
        Ok(rs)
    }

    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the rule set {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn check(&self) -> Result<(), String> {
        let d = &self.deadlines;
        if self.id.trim().is_empty() || self.version.trim().is_empty() {
            return Err("the rule set needs an id and a version".into());
        }
        for (name, hours) in [
            ("early_warning_hours", d.early_warning_hours),
            ("notification_hours", d.notification_hours),
            (
                "trust_service_notification_hours",
                d.trust_service_notification_hours,
            ),
            ("csirt_feedback_hours", d.csirt_feedback_hours),
            ("spoc_forward_hours", d.spoc_forward_hours),
        ] {
            if !(1..=24 * 365).contains(&hours) {
                return Err(format!("deadlines.{name} must be between 1 and 8760 hours"));
            }
        }
        if d.early_warning_hours > d.notification_hours {
            return Err("the early warning cannot be due after the notification".into());
        }
        if !(0..=24 * 365).contains(&self.requests.min_lead_hours) {
            return Err("requests.min_lead_hours must be between 0 and 8760 hours".into());
        }
        if !(1..=100).contains(&self.requests.max_open_per_incident) {
            return Err("requests.max_open_per_incident must be between 1 and 100".into());
        }
        if !(1..=12).contains(&d.final_report_months) {
            return Err("deadlines.final_report_months must be between 1 and 12".into());
        }
        let g = &self.general;
        if !(0.0..=100.0).contains(&g.financial_loss_turnover_percent)
            || g.recurring_min_incidents < 2
            || g.recurring_window_days < 1
        {
            return Err("general thresholds are out of range".into());
        }
        for (t, rules) in &self.types {
            let at = format!("types.{}", t.as_str());
            if rules.article.is_empty() || !rules.article.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{at}.article must be an article number"));
            }
            if rules.points.is_empty() {
                return Err(format!("{at}.points must name at least one point"));
            }
            for (i, p) in rules.points.iter().enumerate() {
                p.check(&format!("{at}.points[{i}]"))?;
                if rules.points[..i].iter().any(|q| q.point == p.point) {
                    return Err(format!("{at}.points[{i}]: point ({}) twice", p.point));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)] // fixed test values
mod tests {
    use super::*;

    #[test]
    fn the_built_in_rule_set_is_valid_and_covers_every_type() {
        let rs = RuleSet::nis2_default();
        assert_eq!(
            (
                rs.id.as_str(),
                rs.deadlines.early_warning_hours,
                rs.deadlines.notification_hours
            ),
            ("nis2-default", 24, 72)
        );
        for t in [
            EntityType::Dns,
            EntityType::Tld,
            EntityType::Cloud,
            EntityType::DataCentre,
            EntityType::Cdn,
            EntityType::Msp,
            EntityType::Mssp,
            EntityType::OnlineMarketplace,
            EntityType::SearchEngine,
            EntityType::SocialNetwork,
            EntityType::TrustService,
        ] {
            assert!(rs.types.contains_key(&t), "{t:?} has thresholds");
        }
    }

    #[test]
    fn a_broken_rule_set_is_refused_with_the_reason() {
        assert!(RuleSet::parse("{}").unwrap_err().contains("not valid"));
        let mut v: serde_json::Value = serde_json::from_str(DEFAULT).unwrap();
        v["deadlines"]["early_warning_hours"] = 100.into();
        assert!(RuleSet::parse(&v.to_string())
            .unwrap_err()
            .contains("early warning"));
        v["requests"]["max_open_per_incident"] = 0.into();
        v["deadlines"]["early_warning_hours"] = 24.into();
        assert!(RuleSet::parse(&v.to_string())
            .unwrap_err()
            .contains("max_open_per_incident"));
    }

    /// The built-in rule set has one point per point of IR 2024/2690 Arts. 5–14, with the
    /// article and letters of the text, and its `inputs` say what each point reads.
    #[test]
    fn the_built_in_points_are_the_articles_points() {
        let rs = RuleSet::nis2_default();
        let ids: Vec<(EntityType, Vec<String>)> = rs
            .types
            .iter()
            .map(|(t, r)| (*t, r.points.iter().map(|p| p.rule_id(&r.article)).collect()))
            .collect();
        let std = |a: &str| {
            vec![
                format!("ir2690.art{a}_a.unavailable"),
                format!("ir2690.art{a}_b.limited_availability"),
                format!("ir2690.art{a}_c.data_compromised_malicious"),
                format!("ir2690.art{a}_d.data_compromised"),
            ]
        };
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        use EntityType as T;
        assert_eq!(
            ids,
            vec![
                (
                    T::Dns,
                    s(&[
                        "ir2690.art5_a.unavailable",
                        "ir2690.art5_b.slow_response",
                        "ir2690.art5_c.data_compromised"
                    ])
                ),
                (
                    T::Tld,
                    s(&[
                        "ir2690.art6_a.unavailable",
                        "ir2690.art6_b.slow_response",
                        "ir2690.art6_c.data_compromised"
                    ])
                ),
                (T::Cloud, std("7")),
                (
                    T::DataCentre,
                    s(&[
                        "ir2690.art8_a.unavailable",
                        "ir2690.art8_b.limited_availability",
                        "ir2690.art8_c.data_compromised_malicious",
                        "ir2690.art8_d.physical_access"
                    ])
                ),
                (T::Cdn, std("9")),
                (T::Msp, std("10")),
                (T::Mssp, std("10")),
                (T::OnlineMarketplace, std("11")),
                (T::SearchEngine, std("12")),
                (T::SocialNetwork, std("13")),
                (
                    T::TrustService,
                    s(&[
                        "ir2690.art14_a.unavailable",
                        "ir2690.art14_b.weekly_unavailability",
                        "ir2690.art14_c.limited_availability",
                        "ir2690.art14_d.physical_access",
                        "ir2690.art14_e.data_compromised"
                    ])
                ),
            ]
        );
        let cloud_b = &rs.types[&T::Cloud].points[1];
        assert_eq!(
            cloud_b.inputs,
            s(&[
                "degraded_minutes",
                "users_affected",
                "users_affected_percent",
                "scheduled_maintenance"
            ])
        );
        assert!(rs
            .types
            .values()
            .flat_map(|r| &r.points)
            .all(|p| !p.text.is_empty()));
    }

    /// A point that reads other inputs than it says, or takes thresholds its criterion does
    /// not, is refused at load with where and why.
    #[test]
    fn a_point_that_misstates_its_inputs_or_thresholds_is_refused() {
        let base: serde_json::Value = serde_json::from_str(DEFAULT).unwrap();
        let refused = |path: &[&str], value: serde_json::Value| {
            let mut v = base.clone();
            let mut at = &mut v["types"];
            for (i, k) in path.iter().enumerate() {
                at = match k.parse::<usize>() {
                    Ok(n) if i > 0 => &mut at[n],
                    _ => &mut at[*k],
                };
            }
            *at = value;
            RuleSet::parse(&v.to_string()).unwrap_err()
        };
        let e = refused(
            &["cloud", "points", "1", "inputs"],
            serde_json::json!(["degraded_minutes"]),
        );
        assert!(
            e.contains("types.cloud.points[1]") && e.contains("users_affected"),
            "{e}"
        );
        let e = refused(&["cloud", "points", "1", "users"], serde_json::Value::Null);
        assert!(e.contains("whichever number is smaller"), "{e}");
        let e = refused(
            &["data_centre", "points", "1", "minutes"],
            serde_json::Value::Null,
        );
        assert!(e.contains("minutes is required"), "{e}");
        let e = refused(&["dns", "points", "1", "seconds"], serde_json::json!(0.0));
        assert!(e.contains("seconds must be above 0"), "{e}");
        let e = refused(
            &["trust_service", "points", "4", "users_percent"],
            serde_json::json!(100.5),
        );
        assert!(e.contains("users_percent"), "{e}");
        let e = refused(
            &["trust_service", "points", "1", "point"],
            serde_json::json!("a"),
        );
        assert!(e.contains("point (a) twice"), "{e}");
        let e = refused(
            &["tld", "points", "0", "criterion"],
            serde_json::json!("physical_access"),
        );
        assert!(e.contains("types.tld.points[0]"), "{e}");
        let e = refused(&["tld", "article"], serde_json::json!("6a"));
        assert!(e.contains("article"), "{e}");
    }

    #[test]
    fn request_limits_are_in_the_built_in_rule_set_and_default_when_left_out() {
        let rs = RuleSet::nis2_default();
        assert_eq!(rs.requests, RequestLimits::default());
        assert_eq!(
            (
                rs.requests.min_lead_hours,
                rs.requests.max_open_per_incident
            ),
            (24, 3)
        );
        let mut v: serde_json::Value = serde_json::from_str(DEFAULT).unwrap();
        v.as_object_mut().unwrap().remove("requests");
        assert_eq!(
            RuleSet::parse(&v.to_string()).unwrap().requests,
            RequestLimits::default()
        );
    }
}
