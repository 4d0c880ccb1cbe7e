//! What an issuer writes into an advisory (in) and what readers get (out).

use crate::entities::model::OrgRef;
use crate::error::{AppError, AppResult, FieldError};
use crate::formats::{is_cve, is_http_url};
use crate::http::json;
use crate::sectors;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

pub use crate::tlp::Tlp;

/// Who an advisory is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Every organisation and registered entity (national CSIRT only).
    National,
    /// The listed sectors' entities, their CSIRTs and authorities, and the national CSIRT.
    Sectoral,
    /// The named entities (and those matched), their CSIRTs, and the national CSIRT.
    Targeted,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::National => "national",
            Audience::Sectoral => "sectoral",
            Audience::Targeted => "targeted",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// Registered entities whose ranges or domains overlap these join the audience.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// CIDR blocks, e.g. the exposed systems a scan found.
    #[serde(default)]
    #[validate(length(max = 10000))]
    #[schema(max_items = 10000, value_type = Vec<crate::formats::Cidr>, example = json!(["192.0.2.0/24"]))]
    pub ip_ranges: Vec<String>,
    /// Domains; a registered domain matches when it is one of these, under one, or above one.
    #[serde(default)]
    #[validate(length(max = 10000))]
    #[schema(max_items = 10000, value_type = Vec<crate::formats::DomainName>, example = json!(["example.nl"]))]
    pub domains: Vec<String>,
}

impl Match {
    pub fn is_empty(&self) -> bool {
        self.ip_ranges.is_empty() && self.domains.is_empty()
    }
}

/// A weakness (CWE) by id and name, as in the CWE catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Cwe {
    #[schema(pattern = "^CWE-[0-9]{1,10}$", example = "CWE-79")]
    pub id: String,
    #[validate(length(min = 1, max = 300))]
    #[schema(
        min_length = 1,
        max_length = 300,
        example = "Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')"
    )]
    pub name: String,
}

/// A product the advisory is about, with the versions affected, fixed and not affected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AffectedProduct {
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200, example = "Example Vendor")]
    pub vendor: String,
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200, example = "Example Gateway")]
    pub product: String,
    /// Versions known to be affected. A product names at least one version in `versions`,
    /// `fixed_in` or `not_affected` (a vendor may answer only "fixed" or "not affected"), and
    /// a version has one status: it appears in one of the three, once.
    #[serde(default)]
    #[validate(length(max = 100))]
    #[schema(max_items = 100, example = json!(["4.1", "4.2"]))]
    pub versions: Vec<String>,
    /// Versions that fix it.
    #[serde(default)]
    #[validate(length(max = 100))]
    #[schema(max_items = 100, example = json!(["4.3"]))]
    pub fixed_in: Vec<String>,
    /// Versions known not to be affected.
    #[serde(default)]
    #[validate(length(max = 100))]
    #[schema(max_items = 100)]
    pub not_affected: Vec<String>,
    /// CPE 2.3 name of the product (`cpe:2.3:` and eleven more `:`-separated fields).
    #[validate(length(min = 1, max = 500))]
    #[schema(
        max_length = 500,
        pattern = "^cpe:2\\.3(?::[^:\\x00]*){11}$",
        example = "cpe:2.3:a:example:gateway:4.2:*:*:*:*:*:*:*"
    )]
    pub cpe: Option<String>,
    /// Package URL of the product.
    #[validate(length(min = 1, max = 500))]
    #[schema(
        max_length = 500,
        pattern = "^pkg:[^\\x00]*/[^\\x00]*$",
        example = "pkg:npm/example-gateway@4.2"
    )]
    pub purl: Option<String>,
}

/// A link to more information.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// An `http` or `https` URL without spaces or control characters.
    #[validate(length(min = 1, max = 2000))]
    #[schema(
        max_length = 2000,
        pattern = "^https?://[^\\x00-\\x20\\x7F-\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]+$",
        example = "https://vendor.example/security/2026-01"
    )]
    pub url: String,
    #[validate(length(min = 1, max = 500))]
    #[schema(min_length = 1, max_length = 500, example = "Vendor bulletin")]
    pub summary: String,
}

/// An advisory as the issuer writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "Remote code execution in Example Gateway",
    "summary": "Example Gateway 4.1 and 4.2 allow unauthenticated remote code execution.",
    "audience": "sectoral", "sectors": ["energy"], "tlp": "GREEN", "severity": "critical",
    "cves": ["CVE-2026-12345"], "cvss_v3": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "affected_products": [{"vendor": "Example Vendor", "product": "Example Gateway",
        "versions": ["4.1", "4.2"], "fixed_in": ["4.3"]}],
    "remediation": "Update to 4.3; until then block port 8443 from the internet.",
    "references": [{"url": "https://vendor.example/security/2026-01", "summary": "Vendor bulletin"}]
}))]
pub struct AdvisoryInput {
    /// Not blank.
    #[validate(length(min = 1, max = 300))]
    #[schema(min_length = 1, max_length = 300)]
    pub title: String,
    #[validate(length(min = 1, max = 20000))]
    #[schema(min_length = 1, max_length = 20000)]
    pub summary: String,
    pub audience: Audience,
    /// Sector or subsector codes, for a `sectoral` audience (at least one there, none for
    /// another audience).
    #[serde(default)]
    #[validate(length(max = 100))]
    #[schema(max_items = 100, value_type = Vec<crate::sectors::SectorCode>)]
    pub sectors: Vec<String>,
    /// Registered entities, for a `targeted` audience (none for another audience). TLP:RED
    /// needs at least one.
    #[serde(default)]
    #[validate(length(max = 10000))]
    #[schema(max_items = 10000, value_type = Vec<uuid::Uuid>)]
    pub entity_ids: Vec<String>,
    #[serde(default)]
    #[validate(nested)]
    pub r#match: Match,
    pub tlp: Tlp,
    pub severity: Severity,
    #[serde(default)]
    #[validate(length(max = 100))]
    #[schema(max_items = 100, example = json!(["CVE-2026-12345"]))]
    pub cves: Vec<String>,
    /// CVSS v3.x base vector, its eight base metrics in order; the score is computed from it.
    #[schema(
        pattern = "^CVSS:3\\.[01]/AV:[NALP]/AC:[LH]/PR:[NLH]/UI:[NR]/S:[UC]/C:[NLH]/I:[NLH]/A:[NLH]$",
        example = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    )]
    pub cvss_v3: Option<String>,
    #[serde(default)]
    #[validate(length(max = 50), nested)]
    #[schema(max_items = 50)]
    pub cwes: Vec<Cwe>,
    #[serde(default)]
    #[validate(length(max = 200), nested)]
    #[schema(max_items = 200)]
    pub affected_products: Vec<AffectedProduct>,
    #[validate(length(min = 1, max = 20000))]
    #[schema(min_length = 1, max_length = 20000)]
    pub remediation: Option<String>,
    #[serde(default)]
    #[validate(length(max = 100), nested)]
    #[schema(max_items = 100)]
    pub references: Vec<Reference>,
    /// Who is credited, e.g. the finder of a coordinated vulnerability (CSAF
    /// `acknowledgments`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[validate(length(max = 50), nested)]
    pub acknowledgments: Vec<Acknowledgment>,
}

/// A credit, as the credited one asked for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgment {
    #[validate(length(min = 1, max = 200))]
    #[schema(example = "Ada Finder")]
    pub name: String,
    #[validate(length(min = 1, max = 500))]
    #[schema(example = "for reporting this vulnerability")]
    pub summary: Option<String>,
}

fn is_cwe(s: &str) -> bool {
    s.strip_prefix("CWE-")
        .is_some_and(|n| !n.is_empty() && n.len() <= 10 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A CVSS v3 vector with every base metric, parsed.
pub fn parse_cvss(vector: &str) -> Result<cvss::v3::Vector, String> {
    let v: cvss::v3::Vector = vector.parse().map_err(|e| format!("{e}"))?;
    let complete = v.av.is_some()
        && v.ac.is_some()
        && v.pr.is_some()
        && v.ui.is_some()
        && v.s.is_some()
        && v.c.is_some()
        && v.i.is_some()
        && v.a.is_some();
    if !complete {
        return Err("every base metric (AV, AC, PR, UI, S, C, I, A) is needed".into());
    }
    Ok(v)
}

/// CVSS v3.0 or v3.1 base vector: the eight base metrics, in the specification's order.
pub const CVSS_V3_BASE_PATTERN: &str =
    "^CVSS:3\\.[01]/AV:[NALP]/AC:[LH]/PR:[NLH]/UI:[NR]/S:[UC]/C:[NLH]/I:[NLH]/A:[NLH]$";

fn is_cvss_base_vector(s: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(CVSS_V3_BASE_PATTERN).expect("the pattern compiles"))
        .is_match(s)
}

/// Sector codes and entity ids are checked against the issuer and the register by the service;
/// everything that needs neither is checked here.
impl AdvisoryInput {
    pub fn from_json(bytes: &[u8]) -> AppResult<Self> {
        let mut input: AdvisoryInput = json::parse_valid(bytes)?;
        input.check()?;
        input.normalise();
        Ok(input)
    }

    /// Runs after [`Self::check`], which takes the values exactly as the document describes
    /// them: domains are then kept in lower case without the trailing dot.
    fn normalise(&mut self) {
        self.title = self.title.trim().to_string();
        for d in &mut self.r#match.domains {
            *d = d.strip_suffix('.').unwrap_or(d).to_ascii_lowercase();
        }
    }

    fn check(&self) -> AppResult<()> {
        let mut e = Vec::new();
        let mut err = |p: String, m: String| e.push(FieldError::new(p, m));
        if self.title.trim().is_empty() {
            err("/title".into(), "must not be blank".into());
        }
        for (i, code) in self.sectors.iter().enumerate() {
            if sectors::find(code).is_none() {
                err(
                    format!("/sectors/{i}"),
                    format!("`{code}` is not a sector code; see GET /api/v1/sectors"),
                );
            } else if self.sectors[..i].contains(code) {
                err(format!("/sectors/{i}"), format!("`{code}` is listed twice"));
            }
        }
        match self.audience {
            Audience::Sectoral if self.sectors.is_empty() => err(
                "/sectors".into(),
                "a sectoral advisory names at least one sector".into(),
            ),
            Audience::National | Audience::Targeted if !self.sectors.is_empty() => err(
                "/sectors".into(),
                "sectors are for a `sectoral` audience".into(),
            ),
            _ => {}
        }
        if self.audience == Audience::Targeted
            && self.entity_ids.is_empty()
            && self.r#match.is_empty()
        {
            err(
                "/entity_ids".into(),
                "a targeted advisory names entities, or a `match` that finds them".into(),
            );
        }
        if self.audience != Audience::Targeted && !self.entity_ids.is_empty() {
            err(
                "/entity_ids".into(),
                "entity_ids are for a `targeted` audience".into(),
            );
        }
        if self.tlp == Tlp::Red
            && (self.audience != Audience::Targeted || self.entity_ids.is_empty())
        {
            err(
                "/tlp".into(),
                "TLP:RED is for named recipients only: a targeted advisory with entity_ids".into(),
            );
        }
        for (i, id) in self.entity_ids.iter().enumerate() {
            if crate::formats::uuid(id).is_none() {
                err(
                    format!("/entity_ids/{i}"),
                    format!("`{id}` is not an entity id"),
                );
            } else if self.entity_ids[..i].contains(id) {
                err(
                    format!("/entity_ids/{i}"),
                    format!("`{id}` is listed twice"),
                );
            }
        }
        for (i, r) in self.r#match.ip_ranges.iter().enumerate() {
            if !crate::formats::is_cidr(r) {
                err(
                    format!("/match/ip_ranges/{i}"),
                    format!("`{r}` is not a CIDR range such as 192.0.2.0/24 or 2001:db8::/32"),
                );
            }
        }
        for (i, d) in self.r#match.domains.iter().enumerate() {
            if !crate::formats::is_domain(d) {
                err(
                    format!("/match/domains/{i}"),
                    format!("`{d}` is not a domain name such as example.nl"),
                );
            }
        }
        for (i, c) in self.cves.iter().enumerate() {
            if !is_cve(c) {
                err(
                    format!("/cves/{i}"),
                    format!("`{c}` is not a CVE id such as CVE-2026-12345"),
                );
            } else if self.cves[..i].contains(c) {
                err(format!("/cves/{i}"), format!("`{c}` is listed twice"));
            }
        }
        if let Some(v) = &self.cvss_v3 {
            let parsed = if is_cvss_base_vector(v) {
                parse_cvss(v)
            } else {
                Err("the eight base metrics in order, nothing else".into())
            };
            if let Err(why) = parsed {
                err(
                    "/cvss_v3".into(),
                    format!(
                        "`{v}` is not a CVSS v3 vector such as \
                         CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H ({why})"
                    ),
                );
            }
        }
        for (i, c) in self.cwes.iter().enumerate() {
            if !is_cwe(&c.id) {
                err(
                    format!("/cwes/{i}/id"),
                    format!("`{}` is not a CWE id such as CWE-79", c.id),
                );
            }
        }
        for (i, p) in self.affected_products.iter().enumerate() {
            let lists = [
                ("versions", &p.versions),
                ("fixed_in", &p.fixed_in),
                ("not_affected", &p.not_affected),
            ];
            if lists.iter().all(|(_, list)| list.is_empty()) {
                err(
                    format!("/affected_products/{i}/versions"),
                    "name at least one version: affected (`versions`), fixed (`fixed_in`) or not affected (`not_affected`)".into(),
                );
            }
            let mut seen: Vec<&str> = vec![];
            for (name, list) in lists {
                for (j, v) in list.iter().enumerate() {
                    if seen.contains(&v.as_str()) {
                        err(
                            format!("/affected_products/{i}/{name}/{j}"),
                            format!("version `{v}` is listed twice (a version has one status)"),
                        );
                    }
                    seen.push(v);
                    if v.trim().is_empty() || v.chars().count() > 100 {
                        err(
                            format!("/affected_products/{i}/{name}/{j}"),
                            "a version is 1 to 100 characters".into(),
                        );
                    }
                }
            }
            if let Some(cpe) = &p.cpe {
                if !cpe.starts_with("cpe:2.3:")
                    || cpe.split(':').count() != 13
                    || cpe.contains('\0')
                {
                    err(
                        format!("/affected_products/{i}/cpe"),
                        format!("`{cpe}` is not a CPE 2.3 name (cpe:2.3:part:vendor:product:…, 13 fields)"),
                    );
                }
            }
            if let Some(purl) = &p.purl {
                if !purl.starts_with("pkg:") || !purl[4..].contains('/') {
                    err(
                        format!("/affected_products/{i}/purl"),
                        format!("`{purl}` is not a package URL such as pkg:npm/example@1.0"),
                    );
                }
            }
        }
        for (i, r) in self.references.iter().enumerate() {
            if !is_http_url(&r.url) {
                err(
                    format!("/references/{i}/url"),
                    format!("`{}` is not an http(s) URL", r.url),
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
pub enum AdvisoryStatus {
    Draft,
    Published,
    Withdrawn,
}

impl AdvisoryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AdvisoryStatus::Draft => "draft",
            AdvisoryStatus::Published => "published",
            AdvisoryStatus::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Draft, Self::Published, Self::Withdrawn]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// One publication of an advisory (or its withdrawal).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Revision {
    #[schema(example = 1)]
    pub number: i64,
    pub date: chrono::DateTime<chrono::Utc>,
    #[schema(example = "Initial release")]
    pub summary: String,
}

/// The CVSS v3 score computed from the vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CvssScore {
    #[schema(example = 9.8)]
    pub base_score: f64,
    #[schema(example = "CRITICAL")]
    pub base_severity: String,
}

/// An advisory as readers get it: the issuer sees its working copy, everyone else the text as
/// last published.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Advisory {
    pub id: String,
    /// The CSAF tracking id, e.g. `FD-NCSIRT-2026-0001`.
    #[schema(example = "FD-NCSIRT-2026-0001")]
    pub reference: String,
    pub status: AdvisoryStatus,
    /// The number of the latest revision (0 while a draft).
    pub revision: i64,
    pub revisions: Vec<Revision>,
    pub issuer: OrgRef,
    #[serde(flatten)]
    pub input: AdvisoryInput,
    pub cvss_v3_score: Option<CvssScore>,
    /// For the issuer: changes made since the last publication, published by the next
    /// `POST /publish`.
    pub pending_changes: bool,
    /// First publication.
    pub published_at: Option<chrono::DateTime<chrono::Utc>>,
    pub withdrawn_at: Option<chrono::DateTime<chrono::Utc>>,
    pub withdrawn_reason: Option<String>,
    /// The version the `ETag` names. The issuer sees its working copy's, which every `PATCH`
    /// moves; every other reader the version of the last published (or withdrawn) revision,
    /// which only `publish` and `withdraw` move.
    pub version: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// For the issuer, the last change of its working copy; for every other reader, the last
    /// published (or withdrawn) revision. `updated_since` filters on the same time.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// An advisory as it was published in one revision.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AdvisoryRevision {
    pub number: i64,
    pub date: chrono::DateTime<chrono::Utc>,
    pub summary: String,
    /// Who published it (`org/subject`).
    pub published_by: String,
    /// The full text of that revision.
    pub advisory: AdvisoryInput,
}

#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"summary": "Fixed version 4.3 released"}))]
pub struct Publish {
    /// What this revision changes; needed to publish again after a change.
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub summary: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "the vendor retracted the vulnerability"}))]
pub struct Withdraw {
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}
