//! CVD cases as clients send and see them.

use crate::entities::model::OrgRef;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

/// The states of a case. `received → triaged → coordinating → disclosed`; `rejected` and
/// `duplicate` end a case before disclosure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    Received,
    Triaged,
    Coordinating,
    Disclosed,
    Rejected,
    Duplicate,
}

impl CaseState {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Received => "received",
            CaseState::Triaged => "triaged",
            CaseState::Coordinating => "coordinating",
            CaseState::Disclosed => "disclosed",
            CaseState::Rejected => "rejected",
            CaseState::Duplicate => "duplicate",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }

    pub fn is_closed(self) -> bool {
        matches!(
            self,
            CaseState::Disclosed | CaseState::Rejected | CaseState::Duplicate
        )
    }

    /// The transition graph; everything else is a 409.
    pub fn may_become(self, next: CaseState) -> bool {
        use CaseState::*;
        matches!(
            (self, next),
            (Received, Triaged)
                | (Received, Rejected)
                | (Received, Duplicate)
                | (Triaged, Coordinating)
                | (Triaged, Rejected)
                | (Triaged, Duplicate)
                | (Coordinating, Disclosed)
                | (Coordinating, Rejected)
                | (Coordinating, Duplicate)
        )
    }
}

/// A vendor's answer for one case. `unresponsive` is set by the service when the vendor's
/// answer deadline passes without an answer; nobody may set it by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VendorStatus {
    Unknown,
    Affected,
    NotAffected,
    Fixed,
    Unresponsive,
}

impl VendorStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VendorStatus::Unknown => "unknown",
            VendorStatus::Affected => "affected",
            VendorStatus::NotAffected => "not_affected",
            VendorStatus::Fixed => "fixed",
            VendorStatus::Unresponsive => "unresponsive",
        }
    }

    pub fn parse(s: &str) -> Self {
        serde_json::from_value(serde_json::Value::String(s.to_string()))
            .unwrap_or(VendorStatus::Unknown)
    }
}

/// Who may read a message, besides the coordinators (who read every message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Every participant: coordinators, the finder and the vendors.
    Everyone,
    /// The coordinators only.
    #[default]
    Coordinators,
    /// The coordinators and every vendor of the case.
    Vendors,
    /// The coordinators and the finder.
    Finder,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Everyone => "everyone",
            Visibility::Coordinators => "coordinators",
            Visibility::Vendors => "vendors",
            Visibility::Finder => "finder",
        }
    }

    pub fn parse(s: &str) -> Self {
        serde_json::from_value(serde_json::Value::String(s.to_string()))
            .unwrap_or(Visibility::Coordinators)
    }
}

fn cve_id(s: &str) -> Result<(), ValidationError> {
    let ok = s
        .strip_prefix("CVE-")
        .and_then(|r| r.split_once('-'))
        .is_some_and(|(year, num)| {
            year.len() == 4
                && year.bytes().all(|b| b.is_ascii_digit())
                && num.len() >= 4
                && num.len() <= 19
                && num.bytes().all(|b| b.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new("cve")
            .with_message("must be a CVE id such as CVE-2026-12345".into()))
    }
}

pub fn check_cves(cves: &[String]) -> Result<(), ValidationError> {
    if cves.len() > 100 {
        return Err(ValidationError::new("length").with_message("at most 100 CVE ids".into()));
    }
    cves.iter().try_for_each(|c| cve_id(c))
}

fn member_state(code: &str) -> Result<(), ValidationError> {
    if crate::entities::model::MEMBER_STATES.contains(&code) {
        Ok(())
    } else {
        Err(ValidationError::new("member_state")
            .with_message("must be an EU member state code in capitals, such as `BE`".into()))
    }
}

fn check_versions(v: &[String]) -> Result<(), ValidationError> {
    if v.len() > 100 || v.iter().any(|s| s.is_empty() || s.chars().count() > 100) {
        return Err(ValidationError::new("versions")
            .with_message("at most 100 versions of 1 to 100 characters each".into()));
    }
    Ok(())
}

/// The finder's own details, when it gives them. Only the lead coordinator sees them (the
/// coordinating CSIRT and the national CSIRT), and other member states' co-coordinators only
/// when the finder agreed (`share_with_co_coordinators`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Finder {
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[validate(email, length(max = 254))]
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    /// An OpenPGP public key (ASCII armoured) to encrypt answers to.
    #[validate(length(min = 1, max = 20000))]
    #[schema(min_length = 1, max_length = 20000)]
    pub pgp_key: Option<String>,
    /// How the finder wants to be credited in the advisory; absent: not credited.
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub credit: Option<String>,
    /// The finder agrees that other member states' CSIRTs co-coordinating the case see these
    /// details (and the name it signs its messages with). Default false: only the lead
    /// coordinator (the coordinating CSIRT, and the national CSIRT) sees them.
    #[serde(default)]
    #[schema(default = false)]
    pub share_with_co_coordinators: bool,
}

/// A vulnerability report. Without a token, and without `finder`, the report is anonymous.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "Authentication bypass in the VPN portal",
    "description": "Sending an empty password to /login grants a session. Steps: ...",
    "vendor": "Example Networks", "product": "ExampleVPN", "versions": ["4.2", "4.3"],
    "cves": [], "wanted_disclosure_at": "2027-03-01T00:00:00Z"
}))]
pub struct VulnerabilityReport {
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    #[validate(length(min = 1, max = 20000))]
    #[schema(min_length = 1, max_length = 20000)]
    pub description: String,
    /// The vendor as the finder names it (the coordinator adds the vendors themselves).
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub vendor: Option<String>,
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub product: Option<String>,
    /// At most 100 versions of 1 to 100 characters.
    #[serde(default)]
    #[validate(custom(function = "check_versions"))]
    #[schema(max_items = 100)]
    pub versions: Vec<String>,
    #[serde(default)]
    #[validate(custom(function = "check_cves"))]
    #[schema(max_items = 100)]
    pub cves: Vec<String>,
    #[validate(nested)]
    pub finder: Option<Finder>,
    /// When the finder would like the vulnerability to become public.
    #[serde(default, with = "crate::time::bounded_opt")]
    #[schema(value_type = Option<crate::formats::Timestamp>)]
    pub wanted_disclosure_at: Option<DateTime<Utc>>,
}

/// The answer to a report.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReportReceipt {
    pub case_id: String,
    #[schema(example = "CVD-2026-0001")]
    pub reference: String,
    /// Shown once, for a report made without a token: `Authorization: Bearer <case_token>`
    /// reads the case and its messages for the finder and posts messages. Only its hash is
    /// kept; it cannot be shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_token: Option<String>,
    /// True when the coordinators know nothing about the finder beyond the report.
    pub anonymous: bool,
    pub acknowledge_due_at: DateTime<Utc>,
}

/// A coordinator of another member state's CSIRT (NIS2 Art. 12(1), more than one state
/// affected).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CoCoordinator {
    /// The member state (ISO 3166-1 alpha-2, in capitals).
    #[validate(custom(function = "member_state"))]
    #[schema(value_type = crate::formats::MemberState, example = "BE")]
    pub country: String,
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200, example = "CCB / CERT.be")]
    pub name: String,
    #[validate(email)]
    #[schema(format = Email)]
    pub contact_email: Option<String>,
    /// An organisation of the directory, when the CSIRT has one here (a CSIRT, nothing else):
    /// it then co-coordinates the case with its own tokens and receives its events. A
    /// co-coordinator reads and edits the case, talks to everyone, and may bring the embargo
    /// forward only as a forced act; it does not publish, end the case, change the
    /// co-coordinators or see the finder's identity unless the finder agreed.
    #[schema(format = Uuid)]
    pub organisation_id: Option<String>,
}

/// One vendor of a case.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Vendor {
    pub id: String,
    pub name: String,
    /// A registered entity: it acts with its own entity token.
    pub entity_id: Option<String>,
    /// An external vendor, invited by e-mail: it acts with its vendor token.
    pub contact_email: Option<String>,
    pub status: VendorStatus,
    pub statement: Option<String>,
    pub notified_at: DateTime<Utc>,
    /// The vendor is marked `unresponsive` when it has not answered by then.
    pub answer_due_at: DateTime<Utc>,
    pub responded_at: Option<DateTime<Utc>>,
    pub unresponsive_at: Option<DateTime<Utc>>,
    /// The entry's version: its `ETag` is `"v<version>"`, for `If-Match` on
    /// `PATCH /api/v1/cvd/cases/{id}/vendors/{vendor_id}`.
    pub version: i64,
}

/// Who reads a case: what it shows depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Viewer {
    Coordinator,
    Finder,
    Vendor,
}

/// A case as its reader may see it. Coordinators see everything; the finder sees the state,
/// its report and the embargo, never the vendors; a vendor sees the technical content and its
/// own entry, never the finder and never another vendor.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Case {
    pub id: String,
    #[schema(example = "CVD-2026-0001")]
    pub reference: String,
    pub state: CaseState,
    pub viewer: Viewer,
    pub title: String,
    pub description: String,
    /// The vendor as the finder named it (coordinators only).
    pub vendor: Option<String>,
    pub product: Option<String>,
    pub versions: Vec<String>,
    pub cves: Vec<String>,
    /// The finder's details (the lead coordinator only, and co-coordinators when the finder
    /// agreed; null for an anonymous report).
    pub finder: Option<Finder>,
    /// The organisation or entity that reported with a token (as `finder`).
    pub reported_by: Option<String>,
    pub coordinator: OrgRef,
    pub co_coordinators: Vec<CoCoordinator>,
    pub vendors: Vec<Vendor>,
    pub wanted_disclosure_at: Option<DateTime<Utc>>,
    /// The agreed public date, an instant.
    pub embargo_until: Option<DateTime<Utc>>,
    pub acknowledge_due_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledge_missed_at: Option<DateTime<Utc>>,
    /// Why the case was rejected or is a duplicate.
    pub reason: Option<String>,
    /// The case this one duplicates (coordinators only).
    pub duplicate_of: Option<String>,
    /// The advisory that published the case.
    pub advisory_id: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The assessment (the triage decision) is due three working days after the report.
    pub assess_due_at: DateTime<Utc>,
    /// When the case left `received`.
    pub assessed_at: Option<DateTime<Utc>>,
    /// When the sweep found the assessment late (coordinators only).
    pub assess_missed_at: Option<DateTime<Utc>>,
}

/// A case in a list (coordinators).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CaseSummary {
    pub id: String,
    pub reference: String,
    pub state: CaseState,
    pub title: String,
    pub coordinator_id: String,
    pub vendors: i64,
    pub embargo_until: Option<DateTime<Utc>>,
    pub acknowledge_due_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Changes to a case (coordinators). Absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"embargo_until": "2027-02-01T09:00:00Z", "cves": ["CVE-2026-12345"]}))]
pub struct CasePatch {
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    #[validate(length(min = 1, max = 20000))]
    #[schema(min_length = 1, max_length = 20000)]
    pub description: Option<String>,
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub product: Option<String>,
    /// At most 100 versions of 1 to 100 characters.
    #[validate(custom(function = "check_versions"))]
    #[schema(max_items = 100)]
    pub versions: Option<Vec<String>>,
    #[validate(custom(function = "check_cves"))]
    #[schema(max_items = 100)]
    pub cves: Option<Vec<String>>,
    /// The public date, an instant in the future. Bringing an agreed embargo forward (a date
    /// earlier than the current `embargo_until`) shortens the time vendors have to fix: it is
    /// refused (409 `embargo_in_force`) unless `force` is true with a `reason`; it is then
    /// audited as `cvd.case.embargo_forced` and recorded in a coordinators-only message (who,
    /// from when, to when, why).
    #[serde(default, with = "crate::time::bounded_opt")]
    #[schema(value_type = Option<crate::formats::Timestamp>)]
    pub embargo_until: Option<DateTime<Utc>>,
    /// Bring `embargo_until` forward (needs a `reason`).
    #[serde(default)]
    pub force: bool,
    /// Why the embargo is brought forward; every coordinator reads it.
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000, example = "Actively exploited")]
    pub reason: Option<String>,
    /// Hands the case to another CSIRT of the directory (national CSIRT only).
    #[schema(format = Uuid)]
    pub coordinator_id: Option<String>,
    /// Replaces the list of other member states' coordinators (the lead coordinator only:
    /// the coordinating CSIRT or the national CSIRT). An `organisation_id` must be a CSIRT of
    /// the directory.
    #[validate(nested)]
    pub co_coordinators: Option<Vec<CoCoordinator>>,
}

/// A state change.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"state": "duplicate", "reason": "Same flaw as the earlier report", "duplicate_of": "0193a0b2-7c1e-7d3a-9f00-2b8e4c1d5e6f"}))]
pub struct TriageInput {
    /// Any state but `disclosed` (a case is disclosed by publishing it).
    pub state: CaseState,
    /// Required for `rejected` and `duplicate`; the finder reads it.
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: Option<String>,
    /// Required for `duplicate`, and only there: the case this one duplicates.
    #[schema(format = Uuid)]
    pub duplicate_of: Option<String>,
}

/// A vendor to add: a registered entity, or an external vendor by e-mail address.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Example Networks", "contact_email": "psirt@example.com", "answer_within_days": 14}))]
pub struct VendorInput {
    /// Required for an external vendor; defaults to the entity's name.
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// A registered entity (then no `contact_email`).
    #[schema(format = Uuid)]
    pub entity_id: Option<String>,
    /// An external vendor's address (then no `entity_id`, and a `name`).
    #[validate(email, length(max = 254))]
    #[schema(format = Email, max_length = 254)]
    pub contact_email: Option<String>,
    /// Days the vendor has to answer (default 14).
    #[validate(range(min = 1, max = 365))]
    #[schema(minimum = 1, maximum = 365)]
    pub answer_within_days: Option<u32>,
}

/// The answer to adding a vendor: the vendor, and for an external vendor its token, shown once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VendorReceipt {
    #[serde(flatten)]
    pub vendor: Vendor,
    /// Shown once, for an external vendor: `Authorization: Bearer <vendor_token>` reads the
    /// case as this vendor, posts messages and sets its status and statement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_token: Option<String>,
}

/// A vendor's answer, or a coordinator's change to a vendor.
#[derive(Debug, Clone, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "affected", "statement": "Fixed in 4.3.1, released 2027-01-15."}))]
pub struct VendorPatch {
    /// Any status but `unresponsive`, which only the service sets.
    pub status: Option<VendorStatus>,
    #[validate(length(min = 1, max = 20000))]
    #[schema(min_length = 1, max_length = 20000)]
    pub statement: Option<String>,
    /// A new answer deadline (coordinators only), an instant in the future.
    #[serde(default, with = "crate::time::bounded_opt")]
    #[schema(value_type = Option<crate::formats::Timestamp>)]
    pub answer_due_at: Option<DateTime<Utc>>,
}

/// A message to post.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "Patch candidate: https://example.com/fix.diff", "visibility": "vendors"}))]
pub struct MessageInput {
    #[validate(length(min = 1, max = 20000))]
    #[schema(min_length = 1, max_length = 20000)]
    pub body: String,
    /// Default `coordinators`. A finder may write to `coordinators`, `finder` or `everyone`; a
    /// vendor to `coordinators`, `vendors` or `everyone`.
    #[serde(default)]
    pub visibility: Visibility,
}

/// Who wrote a message. A finder's and a vendor's name is shown to the coordinators and to
/// the author only.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Author {
    pub kind: Viewer,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub id: String,
    pub author: Author,
    pub visibility: Visibility,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

// ---------------------------------------------------------------------------------------
// Publication: `POST /api/v1/cvd/cases/{id}/publish`.

/// Publishes a case as an advisory. The advisory is made from the case (title, CVE ids, the
/// product and versions, each vendor's status, the finder's credit); the body adds what only
/// the coordinator can judge. Further detail (CVSS vector, CWEs) is added to the advisory
/// afterwards, as a revision.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "severity": "high", "tlp": "CLEAR",
    "summary": "ExampleVPN 4.2 grants a session for an empty password.",
    "remediation": "Update to 4.3.",
    "references": [{"url": "https://vendor.example/security/2027-01", "summary": "Vendor bulletin"}]
}))]
pub struct PublishCvdCase {
    pub severity: crate::advisories::model::Severity,
    /// Default `CLEAR`: a disclosed vulnerability is public. `RED` is not for a case
    /// advisory (it names no recipients).
    #[serde(default)]
    pub tlp: Option<PublicationTlp>,
    /// The public text; default the case's description.
    #[validate(length(min = 1, max = 20000))]
    #[schema(min_length = 1, max_length = 20000)]
    pub summary: Option<String>,
    #[validate(length(min = 1, max = 20000))]
    #[schema(min_length = 1, max_length = 20000)]
    pub remediation: Option<String>,
    /// Besides these, the advisory links the CVE record of each of the case's CVE ids.
    #[serde(default)]
    #[validate(length(max = 100), nested)]
    #[schema(max_items = 100)]
    pub references: Vec<crate::advisories::model::Reference>,
    /// Publish before `embargo_until` (needs a `reason`, which is kept on the case and the
    /// disclosure audited as forced).
    #[serde(default)]
    pub force: bool,
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000, example = "Actively exploited")]
    pub reason: Option<String>,
}

/// The TLP labels a case advisory may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
pub enum PublicationTlp {
    #[serde(rename = "CLEAR")]
    Clear,
    #[serde(rename = "GREEN")]
    Green,
    #[serde(rename = "AMBER")]
    Amber,
    #[serde(rename = "AMBER+STRICT")]
    AmberStrict,
}

impl PublicationTlp {
    pub fn tlp(self) -> crate::tlp::Tlp {
        use crate::tlp::Tlp;
        match self {
            PublicationTlp::Clear => Tlp::Clear,
            PublicationTlp::Green => Tlp::Green,
            PublicationTlp::Amber => Tlp::Amber,
            PublicationTlp::AmberStrict => Tlp::AmberStrict,
        }
    }
}

/// The disclosed case and the advisory that published it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CvdPublication {
    pub case: Case,
    pub advisory: crate::advisories::model::Advisory,
}
