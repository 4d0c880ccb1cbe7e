//! What reporters send and what the service returns about incidents.

use crate::entities::model::MEMBER_STATES;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::json;
use crate::rules::deadlines::{Obligation, Stage, StageStatus};
use crate::rules::routing::{Classification, Decision};
use crate::rules::significance::Impact;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

pub use crate::rules::routing::Kind;
pub use crate::tlp::Tlp;

/// The top-level classes of the Reference Security Incident Taxonomy (RSIT), by their
/// machine names. Stored reports keep `threat_type` as text, so this list is checked when a
/// report arrives, not when an old one is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ThreatType {
    AbusiveContent,
    MaliciousCode,
    InformationGathering,
    IntrusionAttempts,
    Intrusions,
    Availability,
    InformationContentSecurity,
    Fraud,
    Vulnerable,
    Other,
    Test,
}

impl ThreatType {
    pub const ALL: [ThreatType; 11] = [
        Self::AbusiveContent,
        Self::MaliciousCode,
        Self::InformationGathering,
        Self::IntrusionAttempts,
        Self::Intrusions,
        Self::Availability,
        Self::InformationContentSecurity,
        Self::Fraud,
        Self::Vulnerable,
        Self::Other,
        Self::Test,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AbusiveContent => "abusive-content",
            Self::MaliciousCode => "malicious-code",
            Self::InformationGathering => "information-gathering",
            Self::IntrusionAttempts => "intrusion-attempts",
            Self::Intrusions => "intrusions",
            Self::Availability => "availability",
            Self::InformationContentSecurity => "information-content-security",
            Self::Fraud => "fraud",
            Self::Vulnerable => "vulnerable",
            Self::Other => "other",
            Self::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// ENISA's root-cause categories (the annual incident reporting under NIS and the telecom
/// framework): what set the incident off, beside the free-text `root_cause`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RootCauseCategory {
    SystemFailure,
    NaturalPhenomenon,
    HumanError,
    MaliciousAction,
    ThirdPartyFailure,
}

impl RootCauseCategory {
    pub const ALL: [RootCauseCategory; 5] = [
        Self::SystemFailure,
        Self::NaturalPhenomenon,
        Self::HumanError,
        Self::MaliciousAction,
        Self::ThirdPartyFailure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SystemFailure => "system_failure",
            Self::NaturalPhenomenon => "natural_phenomenon",
            Self::HumanError => "human_error",
            Self::MaliciousAction => "malicious_action",
            Self::ThirdPartyFailure => "third_party_failure",
        }
    }
}

/// A report of one stage. The first report (`POST /api/v1/incidents`) names the entity and
/// when it became aware; later ones (`POST /api/v1/incidents/{id}/reports`) add to the incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "entity_id": "01a207f9-aa99-767d-8241-7ba5a21fe3d5",
    "stage": "early_warning",
    "aware_at": "2026-11-23T08:00:00Z",
    "occurred_at": "2026-11-23T07:30:00Z",
    "significant": true,
    "suspected_malicious": true,
    "affected_member_states": ["NL", "BE"],
    "affected_sectors": ["transport.rail"],
    "summary": "Ransomware on the SCADA jump hosts; grid control degraded",
    "impact": {"severe_operational_disruption": true, "users_affected": 120000},
    "threat_type": "malicious-code",
    "root_cause_category": "malicious_action",
    "tlp": "AMBER"
}))]
pub struct ReportInput {
    /// The entity the incident belongs to (first report only).
    #[schema(format = Uuid)]
    pub entity_id: Option<String>,
    /// A reporter outside the register (NIS2 Art. 30; first report only, instead of
    /// `entity_id`; the national CSIRT only): the organisation's details, recorded with the
    /// report as an entity out of the scope of NIS2 — so the notification is voluntary and
    /// imposes no obligation — whose id later reports, and an API client of its own, use.
    /// An organisation NIS2 covers is registered as an entity instead (422).
    #[validate(nested)]
    pub reporter: Option<crate::entities::model::EntityInput>,
    pub stage: Stage,
    /// What is notified (first report only; default `incident`). A near miss or a cyber
    /// threat is always voluntary (Art. 30): it imposes no stage, deadline or obligation.
    pub kind: Option<Kind>,
    /// When the entity became aware (first report; deadlines run from here).
    #[serde(default, with = "crate::time::bounded_opt")]
    #[schema(value_type = Option<crate::formats::Timestamp>)]
    pub aware_at: Option<DateTime<Utc>>,
    /// When the incident began (first report; defaults to `aware_at`).
    #[serde(default, with = "crate::time::bounded_opt")]
    #[schema(value_type = Option<crate::formats::Timestamp>)]
    pub occurred_at: Option<DateTime<Utc>>,
    /// The reporter's own assessment that the incident is significant.
    #[serde(default)]
    pub significant: bool,
    /// Suspected unlawful or malicious act (Art. 23(4)(a)).
    #[serde(default)]
    pub suspected_malicious: bool,
    /// Member states affected, the home state included or not.
    #[serde(default)]
    #[validate(length(max = 40))]
    #[schema(max_items = 40, value_type = Vec<crate::formats::MemberState>)]
    pub affected_member_states: Vec<String>,
    /// Sectors affected besides the entity's own.
    #[serde(default)]
    #[validate(length(max = 60))]
    #[schema(max_items = 60, value_type = Vec<crate::sectors::SectorCode>)]
    pub affected_sectors: Vec<String>,
    #[validate(length(min = 1, max = 20000))]
    #[schema(min_length = 1, max_length = 20000)]
    pub summary: String,
    #[serde(default)]
    #[validate(nested)]
    pub impact: Impact,
    /// RSIT top-level class (machine name).
    #[schema(value_type = Option<ThreatType>)]
    pub threat_type: Option<String>,
    /// Free text; the recurring-incident rule compares it between incidents.
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub root_cause: Option<String>,
    pub root_cause_category: Option<RootCauseCategory>,
    #[validate(length(max = 20000))]
    #[schema(max_length = 20000)]
    pub mitigation: Option<String>,
    /// Indicators of compromise.
    #[serde(default)]
    #[validate(length(max = 1000))]
    #[schema(max_items = 1000)]
    pub indicators: Vec<String>,
    /// Sharing label of this report (default AMBER).
    pub tlp: Option<Tlp>,
    /// For a progress report: when handling ended, if it has (the final report is due a month later).
    #[serde(default, with = "crate::time::bounded_opt")]
    #[schema(value_type = Option<crate::formats::Timestamp>)]
    pub handling_ended_at: Option<DateTime<Utc>>,
}

impl ReportInput {
    /// Parses and checks a report; `first` when it opens the incident.
    pub fn from_json(bytes: &[u8], first: bool, now: DateTime<Utc>) -> AppResult<Self> {
        let mut r: ReportInput = json::parse_valid(bytes)?;
        r.aware_at = r.aware_at.map(crate::db::micros);
        r.occurred_at = r.occurred_at.map(crate::db::micros);
        r.handling_ended_at = r.handling_ended_at.map(crate::db::micros);
        let mut e = Vec::new();
        if first {
            match (&r.entity_id, &mut r.reporter) {
                (None, None) => e.push(FieldError::new(
                    "/entity_id",
                    "name the entity the incident belongs to (or, for a reporter outside the register, give `reporter`)",
                )),
                (Some(_), Some(_)) => e.push(FieldError::new(
                    "/reporter",
                    "give either entity_id or reporter, not both",
                )),
                (None, Some(reporter)) => e.extend(reporter.check_nested("/reporter")),
                (Some(_), None) => {}
            }
            match r.aware_at {
                None => e.push(FieldError::new(
                    "/aware_at",
                    "say when the entity became aware of the incident",
                )),
                Some(a) if crate::time::add_minutes(now, 5).is_some_and(|limit| a > limit) => {
                    e.push(FieldError::new("/aware_at", "lies in the future"))
                }
                Some(a) => {
                    if r.occurred_at.is_some_and(|o| o > a) {
                        e.push(FieldError::new(
                            "/occurred_at",
                            "lies after aware_at: an incident is known only after it began",
                        ));
                    }
                }
            }
        } else {
            for (field, set) in [
                ("/entity_id", r.entity_id.is_some()),
                ("/reporter", r.reporter.is_some()),
                ("/kind", r.kind.is_some()),
                ("/aware_at", r.aware_at.is_some()),
                ("/occurred_at", r.occurred_at.is_some()),
            ] {
                if set {
                    e.push(FieldError::new(
                        field,
                        "is set by the first report and cannot change",
                    ));
                }
            }
        }
        for (i, m) in r.affected_member_states.iter().enumerate() {
            if !MEMBER_STATES.contains(&m.as_str()) {
                e.push(FieldError::new(
                    format!("/affected_member_states/{i}"),
                    format!("`{m}` is not an EU member state code"),
                ));
            }
        }
        for (i, s) in r.affected_sectors.iter().enumerate() {
            if crate::sectors::find(s).is_none() {
                e.push(FieldError::new(
                    format!("/affected_sectors/{i}"),
                    format!("`{s}` is not a sector code; see GET /api/v1/sectors"),
                ));
            }
        }
        if let Some(t) = r.threat_type.as_deref() {
            if ThreatType::parse(t).is_none() {
                e.push(FieldError::new(
                    "/threat_type",
                    "is not a top-level class of the Reference Security Incident Taxonomy (abusive-content, malicious-code, information-gathering, intrusion-attempts, intrusions, availability, information-content-security, fraud, vulnerable, other, test)",
                ));
            }
        }
        if r.handling_ended_at.is_some() && r.stage != Stage::Progress {
            e.push(FieldError::new(
                "/handling_ended_at",
                "belongs to a progress report",
            ));
        }
        if e.is_empty() {
            Ok(r)
        } else {
            Err(AppError::Validation(e))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    UnderReview,
    Passed,
    RevisionRequired,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnderReview => "under_review",
            Self::Passed => "passed",
            Self::RevisionRequired => "revision_required",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::UnderReview, Self::Passed, Self::RevisionRequired]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A supervisory authority's review of one report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Review {
    pub status: ReviewStatus,
    pub comment: Option<String>,
    pub reviewed_by: String,
    pub reviewed_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "revision_required", "comment": "Name the affected substations."}))]
pub struct ReviewInput {
    pub status: ReviewStatus,
    #[validate(length(max = 5000))]
    #[schema(max_length = 5000)]
    pub comment: Option<String>,
}

/// One submitted report; reports are never changed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Report {
    pub id: String,
    /// 1 for the first report of the incident, then 2, 3, …
    pub number: i64,
    pub stage: Stage,
    pub submitted_at: DateTime<Utc>,
    /// `org/subject` of the submitter.
    pub submitted_by: String,
    /// The report as submitted; absent when the report's TLP keeps its content from the
    /// caller (see `content_withheld` on the incident).
    pub content: Option<ReportInput>,
    pub review: Option<Review>,
}

/// A request for an intermediate report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IntermediateRequest {
    pub id: String,
    /// `org/subject` of the requester.
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub note: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"due_at": "2026-11-30T12:00:00Z", "note": "Status of the restoration, please."}))]
pub struct RequestInput {
    /// When the report is due: at least the rule set's `requests.min_lead_hours` (24 by
    /// default) from now.
    #[serde(with = "crate::time::bounded")]
    #[schema(value_type = crate::formats::Timestamp)]
    pub due_at: DateTime<Utc>,
    #[validate(length(max = 5000))]
    #[schema(max_length = 5000)]
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Open,
    Closed,
}

/// An incident with its reports, deadlines and current routing decision.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Incident {
    pub id: String,
    /// Human reference.
    #[schema(example = "INC-2026-000042")]
    pub reference: String,
    pub entity_id: String,
    /// The entity's primary sector.
    pub sector: String,
    pub status: IncidentStatus,
    /// Stage of the latest report.
    pub current_stage: Stage,
    pub aware_at: DateTime<Utc>,
    pub occurred_at: DateTime<Utc>,
    pub tlp: Tlp,
    pub classification: Classification,
    /// Every stage with its deadline, late and overdue flags, as of this response.
    pub stages: Vec<StageStatus>,
    /// Some stage was submitted late or is overdue.
    pub late: bool,
    pub next_obligation: Option<Obligation>,
    pub decision: Decision,
    /// Set when some reports' content is withheld from the caller: their TLP (`RED`,
    /// `AMBER+STRICT`) keeps it to the recipients the law requires, and the caller was told
    /// only because its sector is affected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_withheld: Option<String>,
    pub reports: Vec<Report>,
    pub requests: Vec<IntermediateRequest>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// An incident in a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IncidentSummary {
    pub id: String,
    #[schema(example = "INC-2026-000042")]
    pub reference: String,
    pub entity_id: String,
    pub sector: String,
    pub status: IncidentStatus,
    pub current_stage: Stage,
    pub significant: bool,
    pub mandatory: bool,
    pub cross_border: bool,
    pub cross_sectoral: bool,
    pub late: bool,
    pub tlp: Tlp,
    pub next_obligation: Option<Obligation>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One decision in an incident's routing history.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoutingRecord {
    pub number: i64,
    /// The report that led to it; `null` for a re-evaluation.
    pub report_id: Option<String>,
    pub decided_at: DateTime<Utc>,
    pub decision: Decision,
}

/// Hypothetical facts for a dry run: a registered entity, or an entity described inline.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "entity": {"country": "NL", "sector": "digital_infrastructure.dns", "category": "essential"},
    "stage": "early_warning",
    "affected_member_states": ["NL", "DE"],
    "impact": {"unavailability_minutes": 45}
}))]
pub struct EvaluateInput {
    /// A registered entity the caller may see…
    #[schema(format = Uuid)]
    pub entity_id: Option<String>,
    /// …or an entity described here.
    #[validate(nested)]
    pub entity: Option<HypotheticalEntity>,
    pub stage: Stage,
    /// What would be notified (default `incident`).
    #[serde(default)]
    pub kind: Kind,
    #[serde(default, with = "crate::time::bounded_opt")]
    #[schema(value_type = Option<crate::formats::Timestamp>)]
    pub aware_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub significant: bool,
    #[serde(default)]
    #[schema(value_type = Vec<crate::formats::MemberState>)]
    pub affected_member_states: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Vec<crate::sectors::SectorCode>)]
    pub affected_sectors: Vec<String>,
    #[serde(default)]
    #[validate(nested)]
    pub impact: Impact,
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub root_cause: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HypotheticalEntity {
    /// Home member state.
    #[schema(value_type = crate::formats::MemberState)]
    pub country: String,
    #[schema(value_type = crate::sectors::SectorCode)]
    pub sector: String,
    #[serde(default)]
    #[schema(value_type = Vec<crate::sectors::SectorCode>)]
    pub additional_sectors: Vec<String>,
    pub category: crate::rules::category::Category,
    /// Annual turnover, for the financial-loss threshold when the impact gives none.
    #[validate(range(max = 9_223_372_036_854_775_807_u64))]
    #[schema(maximum = 9_223_372_036_854_775_807_u64)]
    pub annual_turnover_eur: Option<u64>,
}
