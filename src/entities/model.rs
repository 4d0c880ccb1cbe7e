//! What an entity registers (in) and what the service returns (out).

use crate::error::{AppError, AppResult, FieldError};
use crate::formats;
use crate::http::json;
use crate::rules::category::{Category, EntityTypeFacts, Identification, SizeClass};
use crate::sectors;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

/// EU member states (ISO 3166-1 alpha-2; Greece is `GR`), defined with their format.
pub use crate::formats::MEMBER_STATES;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPerson {
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200, example = "Security desk")]
    pub name: String,
    #[validate(email)]
    #[schema(format = Email, example = "security@grid.example")]
    pub email: String,
    #[validate(length(max = 40))]
    #[schema(max_length = 40, example = "+31 20 000 0000")]
    pub phone: Option<String>,
}

/// An entity as registered or updated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Example Grid Operator B.V.", "identifier": "12345678", "country": "NL",
    "sector": "energy.electricity", "size": "large",
    "service_member_states": ["NL", "BE"],
    "contacts": [{"name": "Security desk", "email": "security@grid.example", "phone": "+31 20 000 0000"}],
    "ip_ranges": ["192.0.2.0/24"], "domains": ["grid.example"]
}))]
pub struct EntityInput {
    #[validate(length(min = 1, max = 300))]
    #[schema(min_length = 1, max_length = 300)]
    pub name: String,
    /// Legal identifier, e.g. the chamber of commerce number.
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub identifier: String,
    /// Home member state (ISO 3166-1 alpha-2).
    #[schema(value_type = crate::formats::MemberState)]
    pub country: String,
    /// The most specific taxonomy code, e.g. `energy.electricity` or `health`.
    #[schema(value_type = crate::sectors::RegistrableSectorCode)]
    pub sector: String,
    /// Further sectors the entity is active in, each once and other than `sector`.
    #[serde(default)]
    #[schema(value_type = Vec<crate::sectors::RegistrableSectorCode>)]
    pub additional_sectors: Vec<String>,
    /// Size class; derived from the figures below when absent.
    pub size: Option<SizeClass>,
    #[validate(range(max = 10_000_000))]
    #[schema(maximum = 10_000_000)]
    pub employees: Option<u32>,
    #[validate(range(max = 9_223_372_036_854_775_807_u64))]
    #[schema(maximum = 9_223_372_036_854_775_807_u64)]
    pub annual_turnover_eur: Option<u64>,
    #[validate(range(max = 9_223_372_036_854_775_807_u64))]
    #[schema(maximum = 9_223_372_036_854_775_807_u64)]
    pub balance_sheet_eur: Option<u64>,
    #[serde(default)]
    pub qualified_trust_service_provider: bool,
    /// Identified as a critical entity under Directive (EU) 2022/2557 (CER): in scope
    /// regardless of size (NIS2 Art. 2(3)) and essential (Art. 3(1)(f)). A designation, not a
    /// declaration: only the national CSIRT or the supervisory authority covering the entity
    /// sets or changes it; the entity's own change of it is refused (403 `forbidden`).
    #[serde(default)]
    pub critical_entity: bool,
    /// Identified by the member state under NIS2 Art. 2(2)(b)–(e) (sole provider, public
    /// safety, systemic risk, specific importance): in scope regardless of size, essential
    /// (Art. 3(1)(e)) or important (Art. 3(2)) as identified. Set and changed, like
    /// `critical_entity`, only by the national CSIRT or the supervisory authority covering the
    /// entity.
    #[serde(default)]
    pub member_state_identification: Option<Identification>,
    /// Member states where the entity provides services.
    #[serde(default)]
    #[schema(value_type = Vec<crate::formats::MemberState>)]
    pub service_member_states: Vec<String>,
    #[serde(default)]
    #[validate(length(max = 50), nested)]
    #[schema(max_items = 50)]
    pub contacts: Vec<ContactPerson>,
    /// Public IP ranges in CIDR notation.
    #[serde(default)]
    #[validate(length(max = 1000))]
    #[schema(max_items = 1000, value_type = Vec<crate::formats::Cidr>)]
    pub ip_ranges: Vec<String>,
    #[serde(default)]
    #[validate(length(max = 1000))]
    #[schema(max_items = 1000, value_type = Vec<crate::formats::DomainName>)]
    pub domains: Vec<String>,
}

impl EntityInput {
    /// Parses and fully validates a document: field rules, then codes and formats (exactly as
    /// the OpenAPI document describes them), then stores domains in lower case.
    pub fn from_json(bytes: &[u8]) -> AppResult<Self> {
        let mut input: EntityInput = json::parse_valid(bytes)?;
        input.check()?;
        input.normalise();
        Ok(input)
    }

    /// The checks and normalisation of `from_json` for a registration inside another document
    /// (already parsed and field-validated there), its errors under `pointer`.
    pub fn check_nested(&mut self, pointer: &str) -> Vec<FieldError> {
        let errors = match self.check() {
            Err(AppError::Validation(errors)) => errors,
            _ => vec![],
        };
        self.normalise();
        errors
            .into_iter()
            .map(|e| FieldError::new(format!("{pointer}{}", e.pointer), e.message))
            .collect()
    }

    fn normalise(&mut self) {
        self.name = self.name.trim().to_string();
        self.identifier = self.identifier.trim().to_string();
        for d in &mut self.domains {
            let lower = d.to_ascii_lowercase();
            *d = lower.strip_suffix('.').unwrap_or(&lower).to_string();
        }
    }

    /// What NIS2 Arts. 2(2)(b)–(e), 2(3) and 3(1)(b), (e), (f) need beyond sectors and size.
    pub fn type_facts(&self) -> EntityTypeFacts {
        EntityTypeFacts {
            qualified_tsp: self.qualified_trust_service_provider,
            critical_entity: self.critical_entity,
            identified: self.member_state_identification,
        }
    }

    /// The sectors the entity is active in: the primary one first.
    pub fn all_sectors(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.sector.as_str())
            .chain(self.additional_sectors.iter().map(String::as_str))
    }

    fn check(&self) -> AppResult<()> {
        let mut e = Vec::new();
        let mut err = |p: String, m: String| e.push(FieldError::new(p, m));
        if !MEMBER_STATES.contains(&self.country.as_str()) {
            err(
                "/country".into(),
                format!(
                    "`{}` is not an EU member state code (ISO 3166-1 alpha-2, e.g. NL)",
                    self.country
                ),
            );
        }
        let sector_error = |code: &str| -> Option<String> {
            if sectors::find(code).is_none() {
                Some(format!(
                    "`{code}` is not a sector code; see GET /api/v1/sectors"
                ))
            } else if !sectors::is_leaf(code) {
                let subs: Vec<&str> = sectors::children(code).map(|s| s.code).collect();
                Some(format!(
                    "`{code}` has subsectors; register under one of: {}",
                    subs.join(", ")
                ))
            } else {
                None
            }
        };
        if let Some(m) = sector_error(&self.sector) {
            err("/sector".into(), m);
        }
        for (i, code) in self.additional_sectors.iter().enumerate() {
            if let Some(m) = sector_error(code) {
                err(format!("/additional_sectors/{i}"), m);
            } else if *code == self.sector || self.additional_sectors[..i].contains(code) {
                err(
                    format!("/additional_sectors/{i}"),
                    format!("`{code}` is listed twice"),
                );
            }
        }
        if self.qualified_trust_service_provider
            && !self
                .all_sectors()
                .any(|s| s == "digital_infrastructure.trust_services")
        {
            err(
                "/qualified_trust_service_provider".into(),
                "a qualified trust service provider registers the sector digital_infrastructure.trust_services".into(),
            );
        }
        if self.size.is_none() && self.employees.is_none() {
            err(
                "/size".into(),
                "give the size class, or at least `employees` to derive it from".into(),
            );
        }
        for (i, s) in self.service_member_states.iter().enumerate() {
            if !MEMBER_STATES.contains(&s.as_str()) {
                err(
                    format!("/service_member_states/{i}"),
                    format!("`{s}` is not an EU member state code"),
                );
            }
        }
        for (i, r) in self.ip_ranges.iter().enumerate() {
            if !formats::is_cidr(r) {
                err(
                    format!("/ip_ranges/{i}"),
                    format!("`{r}` is not a CIDR range such as 192.0.2.0/24 or 2001:db8::/32"),
                );
            }
        }
        for (i, d) in self.domains.iter().enumerate() {
            if !formats::is_domain(d) {
                err(
                    format!("/domains/{i}"),
                    format!("`{d}` is not a domain name such as example.nl"),
                );
            }
        }
        if e.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(e))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntityStatus {
    Registered,
    /// The entity asked to leave the register, or made a change that would take it out of
    /// scope (see `deregistration_request.update`); until its supervisory authority or the
    /// national CSIRT confirms, it stays registered, as it was, with every obligation and
    /// stays visible.
    DeregistrationPending,
    Deregistered,
}

impl EntityStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityStatus::Registered => "registered",
            EntityStatus::DeregistrationPending => "deregistration_pending",
            EntityStatus::Deregistered => "deregistered",
        }
    }
}

/// A deregistration the entity asked for itself, waiting for a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeregistrationRequest {
    #[schema(example = "ceased operations")]
    pub reason: String,
    /// Who asked (`org/subject`).
    pub requested_by: String,
    pub requested_at: chrono::DateTime<chrono::Utc>,
    /// Present when the request is the entity's own update that would take it out of scope
    /// (category `out_of_scope` while it is essential or important): the JSON merge patch it
    /// sent, held instead of applied. Confirming applies it to the registration as it then
    /// is, and the entity stays in the register, out of scope; rejecting drops it. Absent for
    /// a request to leave the register.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, example = json!({"size": "small"}))]
    pub update: Option<serde_json::Value>,
}

/// What a change did that the organisations overseeing the entity must notice; kept in the
/// history and sent in `entity.updated` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeFlag {
    /// The entity made the change itself.
    SelfService,
    /// The category went down (essential → important → out of scope).
    CategoryLowered,
    CategoryRaised,
    /// The primary sector changed.
    SectorChanged,
    /// The home member state changed.
    CountryChanged,
    /// A sectoral CSIRT or supervisory authority that covered the entity before no longer does.
    LeftCoverage,
}

/// An organisation named by reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrgRef {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(example = "energy-csirt")]
    pub code: String,
    #[schema(example = "CSIRT Energy")]
    pub name: String,
}

/// A registered entity with what the service derived from it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Entity {
    #[schema(format = Uuid)]
    pub id: String,
    #[serde(flatten)]
    pub input: EntityInput,
    /// The size class the rules used: declared, or derived from the figures.
    pub size_class: SizeClass,
    pub status: EntityStatus,
    pub category: Category,
    /// The entity's sectoral CSIRT; `null` when none covers its sector (the national CSIRT acts).
    pub sectoral_csirt: Option<OrgRef>,
    pub supervisory_authority: Option<OrgRef>,
    /// Ids of the rules that decided the size, category, CSIRT and authority.
    #[schema(example = json!(["size.declared", "category.annex_i_large", "coverage.csirt.exact", "coverage.authority.sector"]))]
    pub decided_by: Vec<String>,
    /// The entity's own request to leave the register, while it waits for a decision.
    #[serde(default)]
    pub deregistration_request: Option<DeregistrationRequest>,
    pub version: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "ceased operations"}))]
pub struct Deregistration {
    /// Why the entity leaves the register (kept in its history).
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000, example = "ceased operations")]
    pub reason: String,
}

/// A decision on an entity's own deregistration request.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"comment": "confirmed: the company was dissolved on 2026-10-31"}))]
pub struct DeregistrationDecision {
    /// Why (kept in the entity's history).
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub comment: String,
}

/// One version of an entity.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntityVersion {
    pub version: i64,
    pub changed_at: chrono::DateTime<chrono::Utc>,
    /// Who made the change (`org/subject`).
    pub changed_by: String,
    /// `registered`, `updated`, `deregistered: <reason>`, `deregistration_requested: <reason>`,
    /// `deregistration_confirmed: <comment>`, `deregistration_rejected: <comment>`, and for an
    /// entity's own change that would take it out of scope `scope_exit_requested: <reason>`,
    /// `scope_exit_confirmed: <comment>` (the change applied) or
    /// `scope_exit_rejected: <comment>`.
    pub change: String,
    /// What the change did that the entity's CSIRT and authority must notice.
    #[schema(example = json!(["self_service", "category_lowered", "left_coverage"]))]
    pub flags: Vec<ChangeFlag>,
    /// The entity as it was after this change.
    pub entity: Entity,
}
