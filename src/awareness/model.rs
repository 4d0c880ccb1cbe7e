//! What the awareness endpoints answer.

use crate::incidents::repo::Grouping;
pub use crate::incidents::repo::TimeBasis;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What the figures are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// The entity's primary sector.
    Sector,
    /// ISO 8601 week, e.g. `2026-W05`: of the first report, or with `time_basis=aware` of
    /// when the entity became aware.
    Week,
    ThreatType,
    RootCauseCategory,
    /// The entity's category when it reported (`essential`, `important`, `out_of_scope`).
    Category,
    /// The stage of the latest report.
    Stage,
}

impl GroupBy {
    pub const ALL: [GroupBy; 6] = [
        Self::Sector,
        Self::Week,
        Self::ThreatType,
        Self::RootCauseCategory,
        Self::Category,
        Self::Stage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sector => "sector",
            Self::Week => "week",
            Self::ThreatType => "threat_type",
            Self::RootCauseCategory => "root_cause_category",
            Self::Category => "category",
            Self::Stage => "stage",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }

    pub fn grouping(self) -> Grouping {
        match self {
            Self::Sector => Grouping::Sector,
            Self::Week => Grouping::Week,
            Self::ThreatType => Grouping::ThreatType,
            Self::RootCauseCategory => Grouping::RootCauseCategory,
            Self::Category => Grouping::Category,
            Self::Stage => Grouping::Stage,
        }
    }
}

/// Whose figures: the whole country, or the caller's sectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AwarenessScope {
    National,
    Sectoral,
}

/// The figures of one group. A suppressed group has every count `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Group {
    /// The group's value (a sector code, `2026-W05`, a threat type, …); `null` for the
    /// notifications that leave it unset, and for the totals.
    pub key: Option<String>,
    /// Incidents (near misses and cyber threats are counted apart).
    #[schema(minimum = 0)]
    pub incidents: Option<u64>,
    /// Significant incidents.
    #[schema(minimum = 0)]
    pub significant: Option<u64>,
    /// Distinct entities or reporters behind the group's notifications.
    #[schema(minimum = 0)]
    pub entities: Option<u64>,
    /// Incidents with a stage submitted late or overdue.
    #[schema(minimum = 0)]
    pub late: Option<u64>,
    #[schema(minimum = 0)]
    pub near_misses: Option<u64>,
    #[schema(minimum = 0)]
    pub cyber_threats: Option<u64>,
    /// Incidents affecting another member state.
    #[schema(minimum = 0)]
    pub cross_border: Option<u64>,
    /// Withheld by disclosure control in every grid unit (ISO week) of the period: too few
    /// entities, or the complement of such a group. Its counts are then `null`.
    pub suppressed: bool,
    /// Under disclosure control (anyone but the national CSIRT): the weeks of the period in
    /// which this group's figures were withheld (fewer than `suppressed_below` entities, none
    /// included, or the complement of such a group). The counts are the sums of the other
    /// weeks, and `entities` sums each week's distinct entities. Absent in the national view
    /// and in the quarterly summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub withheld_units: Option<u32>,
}

/// Awareness figures over a period. Under disclosure control (anyone but the national
/// CSIRT) the period is the whole ISO weeks that have ended within the one asked for (`from`
/// and `to` say which), every key of the grouping is listed, and each figure is the sum of
/// the weeks' published figures.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Awareness {
    pub scope: AwarenessScope,
    /// Start of the period (inclusive).
    pub from: DateTime<Utc>,
    /// End of the period (exclusive).
    pub to: DateTime<Utc>,
    pub group_by: GroupBy,
    /// Which instant put each notification into the period and its week.
    pub time_basis: TimeBasis,
    /// Groups with fewer distinct entities are suppressed; `null` when nothing is (the
    /// national CSIRT's view).
    #[schema(minimum = 2)]
    pub suppressed_below: Option<u64>,
    /// The groups, ordered by key: those with at least one notification in the national view,
    /// every key of the grouping under disclosure control.
    pub groups: Vec<Group>,
    /// The whole period; subtracting the published groups from it leaves only unions of
    /// withheld groups that stand for at least `suppressed_below` entities.
    pub total: Group,
}

/// The NIS2 Art. 23(9) summary for ENISA: anonymised (no entity names or ids) and
/// aggregated. It counts the notifications *reported* in the quarter (never by awareness
/// time): Art. 23(9) summarises the notifications received, and a summary once sent must not
/// change when an incident the entity became aware of in that quarter is reported later.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuarterlySummary {
    #[schema(example = "2026-Q3")]
    pub quarter: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Disclosure control applied before the figures leave the country.
    #[schema(minimum = 1)]
    pub suppressed_below: u64,
    /// Every notification of the quarter: incidents (significant among them), near misses,
    /// cyber threats, cross-border incidents.
    pub total: Group,
    pub by_sector: Vec<Group>,
    pub by_threat_type: Vec<Group>,
    pub by_root_cause_category: Vec<Group>,
    /// The entity's category when it reported.
    pub by_category: Vec<Group>,
}
