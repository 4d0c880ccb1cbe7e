//! Is an incident significant? NIS2 Art. 23(3), and for the entity types of Implementing
//! Regulation (EU) 2024/2690 its general (Art. 3), recurring (Art. 4) and type-specific
//! (Arts. 5–14) criteria. Returns the ids of the criteria met; none met and not declared
//! significant by the reporter means not significant.

use super::ruleset::{Criterion, EntityType, Point, RuleSet, TypeRules};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError, ValidationErrors};

/// Structured impact facts of an incident, as far as the reporter knows them. Each fact names
/// the criteria of NIS2 Art. 23(3) or of Implementing Regulation (EU) 2024/2690 (the IR) that
/// read it. Users are counted as IR Art. 3(3) says: customers with a contract giving access to
/// the service, and the natural and legal persons associated with business customers; where
/// the entity cannot count them, its estimate of the possible maximum (IR recital 30).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Impact {
    /// Direct financial loss caused or likely, in euro (IR Art. 3(1)(a), Art. 4).
    #[schema(maximum = 1_000_000_000_000_u64)]
    pub financial_loss_eur: Option<u64>,
    /// The entity's total annual turnover of the last financial year, in euro (IR Art. 3(1)(a)).
    #[schema(maximum = 9_223_372_036_854_775_807_u64)]
    pub annual_turnover_eur: Option<u64>,
    /// Deaths caused or likely (IR Art. 3(1)(c)).
    #[schema(maximum = 1_000_000)]
    pub deaths: Option<u32>,
    /// Considerable damage to a person's health caused or likely (IR Art. 3(1)(d)).
    #[serde(default)]
    pub health_damage: bool,
    /// Trade secrets exfiltrated or likely exfiltrated (IR Art. 3(1)(b)).
    #[serde(default)]
    pub trade_secrets_exfiltrated: bool,
    /// A successful, suspectedly malicious and unauthorised access to network and information
    /// systems occurred, capable of causing severe operational disruption (IR Art. 3(1)(e)).
    /// Not the same as `data_compromise_malicious`.
    #[serde(default)]
    pub malicious_access: bool,
    /// Severe operational disruption of the services, or financial loss, for the entity (Art. 23(3)(a)).
    #[serde(default)]
    pub severe_operational_disruption: bool,
    /// Considerable material or non-material damage to others (Art. 23(3)(b)).
    #[serde(default)]
    pub considerable_damage_to_others: bool,
    /// Minutes the service was completely unavailable (IR Arts. 5(a), 6(a), 7(a), 8(a), 9(a),
    /// 10(a), 14(a)). For the criteria that set no duration (Arts. 6(a), 8(a), 11–13(a)), any
    /// number above zero says that the service was completely unavailable.
    #[schema(maximum = 5_256_000)]
    pub unavailability_minutes: Option<u32>,
    /// Minutes the service's availability was limited, or its responses slow (IR Arts. 5(b),
    /// 6(b), 7(b), 8(b), 9(b), 10(b)). For the criteria that set no duration (Arts. 11–13(b),
    /// 14(c)), any number above zero says that the availability was limited.
    #[schema(maximum = 5_256_000)]
    pub degraded_minutes: Option<u32>,
    /// A trust service's unavailability to users or relying parties in the calendar week
    /// (Monday to Sunday) of this incident, in minutes, added up over the week: this incident's
    /// and the week's other unavailability, scheduled interruptions excepted (IR Art. 14(b):
    /// "unavailable … for more than one hour calculated on a calendar week basis"). For an
    /// incident over two weeks, the larger of the two totals. At most the minutes of a week.
    #[schema(maximum = 10_080)]
    pub weekly_unavailability_minutes: Option<u32>,
    /// Average response time while degraded, in seconds (IR Arts. 5(b) and 6(b), DNS and TLD).
    #[schema(minimum = 0.0, maximum = 86400.0)]
    pub response_time_seconds: Option<f64>,
    /// Users (or relying parties) in the Union impacted by the unavailability or the limited
    /// availability (IR Arts. 7(b), 9(b), 10(b), 11–13(a) and (b), 14(c)).
    #[schema(maximum = 9_223_372_036_854_775_807_u64)]
    pub users_affected: Option<u64>,
    /// The same as a share of the service's users in the Union, in percent. The IR's user
    /// thresholds are "more than X % or more than N users, whichever number is smaller": a
    /// share or a count above its figure meets them.
    #[schema(minimum = 0.0, maximum = 100.0)]
    pub users_affected_percent: Option<f64>,
    /// Integrity, confidentiality or authenticity of stored, transmitted or processed data
    /// compromised (IR Arts. 5(c), 6(c), 7(c)–(d), 8(c), 9(c)–(d), 10(c)–(d), 11–13(c)–(d), 14(e)).
    #[serde(default)]
    pub data_compromised: bool,
    /// The data compromise results from a suspectedly malicious action (IR Arts. 7(c), 8(c),
    /// 9(c), 10(c), 11(c), 12(c), 13(c)), whatever the number of users. Needs
    /// `data_compromised`. Distinct from `malicious_access` (Art. 3(1)(e)), which is about
    /// access to systems, not data.
    #[serde(default)]
    pub data_compromise_malicious: bool,
    /// Users (or relying parties) in the Union whose data was compromised (IR Arts. 7(d), 9(d),
    /// 10(d), 11–13(d), 14(e)). Above zero, needs `data_compromised`.
    #[schema(maximum = 9_223_372_036_854_775_807_u64)]
    pub data_compromised_users: Option<u64>,
    /// The same as a share of the service's users in the Union, in percent. Above zero, needs
    /// `data_compromised`.
    #[schema(minimum = 0.0, maximum = 100.0)]
    pub data_compromised_users_percent: Option<f64>,
    /// DNS: domain names whose data was compromised due to misconfiguration, for IR Art. 5(c)'s
    /// exception ("fewer than 1 000 domain names …, amounting to not more than 1 % of the domain
    /// names managed …, compromised due to misconfiguration"). Give it only when the compromise
    /// is due to misconfiguration; needs `data_compromised` and `domains_managed`, and at most
    /// that many. Without it, or with `data_compromise_malicious`, the exception does not apply.
    #[schema(maximum = 1_000_000_000_000_u64)]
    pub misconfigured_domains: Option<u64>,
    /// DNS: domain names the DNS service provider manages (IR Art. 5(c)).
    #[schema(minimum = 1, maximum = 1_000_000_000_000_u64)]
    pub domains_managed: Option<u64>,
    /// Physical access to restricted areas compromised (IR Arts. 8(d) and 14(d)).
    #[serde(default)]
    pub physical_access_compromised: bool,
    /// The interruption reported is a scheduled interruption of service, or a planned
    /// consequence of a scheduled maintenance operation carried out by or on behalf of the
    /// entity: IR Art. 3(2) says these are not significant incidents, so the availability
    /// criteria (unavailability, limited availability, slow responses, weekly unavailability)
    /// do not apply. The other criteria still do: an unplanned consequence is no planned one.
    /// An overrun of the planned window is not planned either: report it with this flag unset
    /// and the figures of the overrun.
    #[serde(default)]
    pub scheduled_maintenance: bool,
}

/// The largest financial and domain-name figures accepted: 10^12. Counts up to this are exact
/// in an `f64`, which the share comparisons use.
const MAX_AMOUNT: u64 = 1_000_000_000_000;
/// The largest user count accepted (the largest stored integer).
const MAX_COUNT: u64 = 9_223_372_036_854_775_807;
/// Minutes in a year and in a week.
const YEAR_MINUTES: u32 = 5_256_000;
const WEEK_MINUTES: u32 = 10_080;

/// A range error on `field`, in the form the problem document describes ("must be between …").
fn range<T: PartialOrd + Serialize + Copy>(
    errors: &mut ValidationErrors,
    field: &'static str,
    value: Option<T>,
    min: Option<T>,
    max: T,
) {
    let Some(v) = value else { return };
    // Written so that a NaN (which serde_json never produces) fails as well.
    let ok = min.is_none_or(|m| v >= m) && v <= max;
    if !ok {
        let mut e = ValidationError::new("range");
        if let Some(m) = min {
            e.add_param("min".into(), &m);
        }
        e.add_param("max".into(), &max);
        e.add_param("value".into(), &v);
        errors.add(field, e);
    }
}

fn inconsistent(errors: &mut ValidationErrors, field: &'static str, message: &'static str) {
    errors.add(
        field,
        ValidationError::new("inconsistent").with_message(message.into()),
    );
}

/// Ranges on every number, and the facts that only make sense together: a problem naming the
/// field (`/impact/<field>`) rather than a silent guess.
impl Validate for Impact {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut e = ValidationErrors::new();
        let pct = (Some(0.0), 100.0);
        range(
            &mut e,
            "financial_loss_eur",
            self.financial_loss_eur,
            None,
            MAX_AMOUNT,
        );
        range(
            &mut e,
            "annual_turnover_eur",
            self.annual_turnover_eur,
            None,
            MAX_COUNT,
        );
        range(&mut e, "deaths", self.deaths, None, 1_000_000);
        range(
            &mut e,
            "unavailability_minutes",
            self.unavailability_minutes,
            None,
            YEAR_MINUTES,
        );
        range(
            &mut e,
            "degraded_minutes",
            self.degraded_minutes,
            None,
            YEAR_MINUTES,
        );
        range(
            &mut e,
            "weekly_unavailability_minutes",
            self.weekly_unavailability_minutes,
            None,
            WEEK_MINUTES,
        );
        range(
            &mut e,
            "response_time_seconds",
            self.response_time_seconds,
            Some(0.0),
            86_400.0,
        );
        range(
            &mut e,
            "users_affected",
            self.users_affected,
            None,
            MAX_COUNT,
        );
        range(
            &mut e,
            "users_affected_percent",
            self.users_affected_percent,
            pct.0,
            pct.1,
        );
        range(
            &mut e,
            "data_compromised_users",
            self.data_compromised_users,
            None,
            MAX_COUNT,
        );
        range(
            &mut e,
            "data_compromised_users_percent",
            self.data_compromised_users_percent,
            pct.0,
            pct.1,
        );
        range(
            &mut e,
            "misconfigured_domains",
            self.misconfigured_domains,
            None,
            MAX_AMOUNT,
        );
        range(
            &mut e,
            "domains_managed",
            self.domains_managed,
            Some(1),
            MAX_AMOUNT,
        );
        if !self.data_compromised {
            let needs = "needs data_compromised: a detail of a data compromise not reported";
            if self.data_compromise_malicious {
                inconsistent(&mut e, "data_compromise_malicious", needs);
            }
            if self.data_compromised_users.is_some_and(|n| n > 0) {
                inconsistent(&mut e, "data_compromised_users", needs);
            }
            if self.data_compromised_users_percent.is_some_and(|p| p > 0.0) {
                inconsistent(&mut e, "data_compromised_users_percent", needs);
            }
            if self.misconfigured_domains.is_some() {
                inconsistent(&mut e, "misconfigured_domains", needs);
            }
        }
        match (self.misconfigured_domains, self.domains_managed) {
            (Some(_), None) => inconsistent(
                &mut e,
                "misconfigured_domains",
                "needs domains_managed: Art. 5(c) compares the two",
            ),
            (Some(n), Some(m)) if n > m => inconsistent(
                &mut e,
                "misconfigured_domains",
                "must be at most domains_managed",
            ),
            _ => {}
        }
        if e.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    }
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

/// "More than `threshold` minutes": `Some(0)` as threshold is any duration above zero.
fn more_than(value: Option<u32>, threshold: Option<u32>) -> bool {
    matches!((value, threshold), (Some(v), Some(t)) if v > t)
}

/// "More than `percent` % … or more than `count` …, whichever number is smaller": the smaller
/// of the two figures is exceeded exactly when the share is above the percentage or the
/// number above the count, so either one exceeded meets the threshold. A point with no user
/// threshold is met by any number.
fn users_over(
    users: Option<u64>,
    share: Option<f64>,
    percent: Option<f64>,
    count: Option<u64>,
) -> bool {
    if percent.is_none() && count.is_none() {
        return true;
    }
    let by_share = matches!((share, percent), (Some(s), Some(p)) if s > p);
    let by_count = matches!((users, count), (Some(u), Some(c)) if u > c);
    by_share || by_count
}

/// IR Art. 5(c)'s exception: fewer than N domain names, not more than P % of those managed,
/// compromised due to misconfiguration. The reading a supervisory authority applies: the
/// entity must show the exception, so it holds only when both counts are given; and a
/// compromise suspected to be malicious is not one "due to misconfiguration".
fn misconfiguration_excepted(p: &Point, i: &Impact) -> bool {
    let Some(ex) = p.misconfiguration_exception else {
        return false;
    };
    match (i.misconfigured_domains, i.domains_managed) {
        // Both at most 10^12 (validated), so exact in f64; `as` never panics.
        (Some(n), Some(m)) if !i.data_compromise_malicious => {
            n < ex.fewer_than_domains && n as f64 * 100.0 <= m as f64 * ex.max_percent
        }
        _ => false,
    }
}

/// Whether the facts meet one point of Arts. 5–14. Pure: the point's criterion and thresholds
/// say what it reads (`Point::required_inputs`).
fn point_met(p: &Point, i: &Impact) -> bool {
    // Art. 3(2): "Scheduled interruptions of service and planned consequences of scheduled
    // maintenance operations carried out by or on behalf of the relevant entities shall not
    // be considered to be significant incidents."
    if p.criterion.is_availability() && i.scheduled_maintenance {
        return false;
    }
    let users = || {
        users_over(
            i.users_affected,
            i.users_affected_percent,
            p.users_percent,
            p.users,
        )
    };
    match p.criterion {
        Criterion::Unavailable => more_than(i.unavailability_minutes, p.minutes) && users(),
        Criterion::LimitedAvailability => more_than(i.degraded_minutes, p.minutes) && users(),
        Criterion::SlowResponse => {
            matches!((i.response_time_seconds, p.seconds), (Some(s), Some(l)) if s > l)
                && more_than(i.degraded_minutes, p.minutes)
        }
        Criterion::WeeklyUnavailability => more_than(i.weekly_unavailability_minutes, p.minutes),
        Criterion::DataCompromised => {
            i.data_compromised
                && users_over(
                    i.data_compromised_users,
                    i.data_compromised_users_percent,
                    p.users_percent,
                    p.users,
                )
                && !misconfiguration_excepted(p, i)
        }
        Criterion::DataCompromisedMalicious => i.data_compromised && i.data_compromise_malicious,
        Criterion::PhysicalAccess => i.physical_access_compromised,
    }
}

fn type_criteria(rules: &TypeRules, i: &Impact, out: &mut Vec<String>) {
    for p in &rules.points {
        if point_met(p, i) {
            out.push(p.rule_id(&rules.article));
        }
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
    // Arts. 5–14: type-specific criteria (Art. 3(1)(g)).
    for t in types {
        if let Some(rules) = rs.types.get(&t) {
            type_criteria(rules, impact, &mut out);
        }
    }
    // An entity of two types under one article (MSP and MSSP, Art. 10) meets its points once.
    let mut seen = std::collections::HashSet::new();
    out.retain(|c| seen.insert(c.clone()));
    out
}

/// The law's table as test rows, shared with the HTTP test of the dry run.
#[cfg(test)]
#[path = "ir2690_table.rs"]
mod ir2690_table;

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)] // fixed test values
mod tests;
