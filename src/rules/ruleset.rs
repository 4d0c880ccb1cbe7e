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
    /// Thresholds per entity type of Implementing Regulation (EU) 2024/2690.
    pub types: BTreeMap<EntityType, TypeThresholds>,
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

/// Type-specific criteria (Arts. 5–14); a threshold left out does not apply to the type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeThresholds {
    pub article: String,
    /// Complete unavailability for more than this many minutes.
    pub unavailable_minutes: Option<u32>,
    /// Limited availability for more than this many minutes…
    pub limited_minutes: Option<u32>,
    /// …for more than this share of users in the Union…
    pub limited_users_percent: Option<f64>,
    /// …or more than this many users.
    pub limited_users: Option<u64>,
    /// Average response time above this many seconds…
    pub slow_response_seconds: Option<f64>,
    /// …for more than this many minutes.
    pub slow_minutes: Option<u32>,
    /// Compromised integrity, confidentiality or authenticity of stored or transmitted data.
    #[serde(default)]
    pub data_compromised: bool,
    /// When set, a data compromise counts only above this share of users…
    pub data_compromised_users_percent: Option<f64>,
    /// …or this many users.
    pub data_compromised_users: Option<u64>,
    /// Compromised physical access to restricted areas.
    #[serde(default)]
    pub physical_access: bool,
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
