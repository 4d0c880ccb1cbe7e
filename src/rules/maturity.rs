//! The maturity model as data, and the pure rules over it: tier, gaps, validity, compliance.
//!
//! The parameter catalogue (`maturity/sim3-v1.json`: SIM3 v1's 44 parameters and its 0–4
//! scale) and the tier profiles (`maturity/tiers-example.json`: the minimum level per
//! parameter for basic, intermediate and advanced, and how long an assessment stays valid)
//! are built in and may each be replaced by a file (`NIS2HUB_MATURITY_MODEL`,
//! `NIS2HUB_MATURITY_TIERS`), checked at start like the routing rule set. Nothing here touches
//! the database or HTTP, so every rule is tested as a table.
//!
//! Arithmetic here works on client values (dates, scores): the lint refuses any operator that
//! could overflow; dates go through `crate::time`.
#![deny(clippy::arithmetic_side_effects)]

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

const SIM3_V1: &str = include_str!("../../maturity/sim3-v1.json");
const TIERS_EXAMPLE: &str = include_str!("../../maturity/tiers-example.json");

/// The highest level of the scale: SIM3 scores every parameter from 0 to 4.
pub const MAX_LEVEL: u8 = 4;

/// One step of the scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MaturityLevel)]
pub struct Level {
    #[schema(example = 3)]
    pub level: u8,
    #[schema(example = "explicit, formalised")]
    pub name: String,
    pub meaning: String,
}

/// A group (quadrant) of parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MaturityGroup)]
pub struct Group {
    #[schema(example = "O")]
    pub id: String,
    #[schema(example = "Organisation")]
    pub name: String,
}

/// One parameter of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MaturityParameter)]
pub struct Parameter {
    #[schema(example = "O-1")]
    pub id: String,
    #[schema(example = "O")]
    pub group: String,
    #[schema(example = "Mandate")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A parameter catalogue: the parameters a CSIRT is scored on, and the scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MaturityCatalogue)]
pub struct Catalogue {
    /// What assessments name in `model`.
    #[schema(example = "sim3-v1")]
    pub id: String,
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Levels 0 to 4, in order.
    pub scale: Vec<Level>,
    pub groups: Vec<Group>,
    /// In catalogue order.
    pub parameters: Vec<Parameter>,
}

/// A maturity tier, in ascending order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[schema(as = MaturityTier)]
pub enum Tier {
    None,
    Basic,
    Intermediate,
    Advanced,
}

impl Tier {
    /// The tiers a profile set defines, lowest first.
    pub const PROFILED: [Tier; 3] = [Tier::Basic, Tier::Intermediate, Tier::Advanced];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::None => "none",
            Tier::Basic => "basic",
            Tier::Intermediate => "intermediate",
            Tier::Advanced => "advanced",
        }
    }

    pub fn parse(s: &str) -> Option<Tier> {
        [Tier::None, Tier::Basic, Tier::Intermediate, Tier::Advanced]
            .into_iter()
            .find(|t| t.as_str() == s)
    }

    /// The tier above this one, if any.
    pub fn next(self) -> Option<Tier> {
        match self {
            Tier::None => Some(Tier::Basic),
            Tier::Basic => Some(Tier::Intermediate),
            Tier::Intermediate => Some(Tier::Advanced),
            Tier::Advanced => None,
        }
    }
}

/// Who carried out an assessment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = MaturityAssessmentType)]
pub enum AssessmentType {
    /// By the CSIRT itself.
    #[serde(rename = "self")]
    SelfAssessment,
    /// By other CSIRTs (a peer review).
    Peer,
    /// By an auditor.
    Audit,
}

impl AssessmentType {
    pub fn as_str(self) -> &'static str {
        match self {
            AssessmentType::SelfAssessment => "self",
            AssessmentType::Peer => "peer",
            AssessmentType::Audit => "audit",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::SelfAssessment, Self::Peer, Self::Audit]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// How many months an assessment of each type stays valid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MaturityValidity)]
pub struct Validity {
    #[serde(rename = "self")]
    #[schema(example = 12)]
    pub self_assessment: u32,
    #[schema(example = 36)]
    pub peer: u32,
    #[schema(example = 36)]
    pub audit: u32,
}

impl Validity {
    pub fn months(&self, t: AssessmentType) -> u32 {
        match t {
            AssessmentType::SelfAssessment => self.self_assessment,
            AssessmentType::Peer => self.peer,
            AssessmentType::Audit => self.audit,
        }
    }
}

/// The minimum level of every parameter, per tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MaturityProfiles)]
pub struct Profiles {
    pub basic: BTreeMap<String, u8>,
    pub intermediate: BTreeMap<String, u8>,
    pub advanced: BTreeMap<String, u8>,
}

impl Profiles {
    pub fn of(&self, tier: Tier) -> Option<&BTreeMap<String, u8>> {
        match tier {
            Tier::None => None,
            Tier::Basic => Some(&self.basic),
            Tier::Intermediate => Some(&self.intermediate),
            Tier::Advanced => Some(&self.advanced),
        }
    }
}

/// The tier profiles of one catalogue, and the validity of assessments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MaturityTierProfiles)]
pub struct TierProfiles {
    #[schema(example = "sim3-v1-tiers-example")]
    pub id: String,
    pub version: String,
    /// The catalogue (`id`) these profiles are for.
    #[schema(example = "sim3-v1")]
    pub model: String,
    /// False for the example profiles shipped with the service: replace them with the
    /// official tables.
    pub official: bool,
    #[serde(default)]
    pub description: String,
    pub validity_months: Validity,
    pub profiles: Profiles,
}

/// The model in force: a catalogue and its tier profiles.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = MaturityModel)]
pub struct Model {
    #[serde(flatten)]
    pub catalogue: Catalogue,
    pub tiers: TierProfiles,
}

/// A parameter below the level the next tier wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = MaturityGap)]
pub struct Gap {
    #[schema(example = "O-7")]
    pub parameter: String,
    #[schema(example = "Service Level Description")]
    pub name: String,
    #[schema(example = 1)]
    pub score: u8,
    /// The level the next tier wants at least.
    #[schema(example = 2)]
    pub wanted: u8,
}

impl Catalogue {
    pub fn parse(text: &str) -> Result<Self, String> {
        let c: Catalogue = serde_json::from_str(text)
            .map_err(|e| format!("the parameter catalogue is not valid: {e}"))?;
        c.check()?;
        Ok(c)
    }

    pub fn parameter(&self, id: &str) -> Option<&Parameter> {
        self.parameters.iter().find(|p| p.id == id)
    }

    fn check(&self) -> Result<(), String> {
        if !is_slug(&self.id) || self.version.trim().is_empty() || self.name.trim().is_empty() {
            return Err(
                "the catalogue needs an id (lower-case letters, digits, dashes, dots), a name and a version"
                    .into(),
            );
        }
        let levels: Vec<u8> = self.scale.iter().map(|l| l.level).collect();
        if levels != (0..=MAX_LEVEL).collect::<Vec<u8>>() {
            return Err(format!(
                "the scale must list the levels 0 to {MAX_LEVEL} in order, not {levels:?}"
            ));
        }
        for (i, g) in self.groups.iter().enumerate() {
            if g.id.trim().is_empty() || self.groups[..i].iter().any(|o| o.id == g.id) {
                return Err(format!("group `{}` is empty or listed twice", g.id));
            }
        }
        if self.parameters.is_empty() {
            return Err("the catalogue lists no parameters".into());
        }
        for (i, p) in self.parameters.iter().enumerate() {
            if !is_parameter_id(&p.id) {
                return Err(format!(
                    "parameter id `{}` is not of the form `O-1` (letters, a dash, a number)",
                    p.id
                ));
            }
            if self.parameters[..i].iter().any(|o| o.id == p.id) {
                return Err(format!("parameter `{}` is listed twice", p.id));
            }
            if !self.groups.iter().any(|g| g.id == p.group) {
                return Err(format!(
                    "parameter `{}` is in the group `{}`, which the catalogue does not list",
                    p.id, p.group
                ));
            }
            if p.name.trim().is_empty() {
                return Err(format!("parameter `{}` has no name", p.id));
            }
        }
        Ok(())
    }
}

impl TierProfiles {
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("the tier profiles are not valid: {e}"))
    }

    /// Checks the profiles against the catalogue they are for: every parameter has a minimum
    /// in every tier (no more, no fewer), within the scale, and a higher tier never asks less.
    fn check(&self, catalogue: &Catalogue) -> Result<(), String> {
        if self.id.trim().is_empty() || self.version.trim().is_empty() {
            return Err("the tier profiles need an id and a version".into());
        }
        if self.model != catalogue.id {
            return Err(format!(
                "the tier profiles are for the model `{}`, but the catalogue is `{}`",
                self.model, catalogue.id
            ));
        }
        for (name, months) in [
            ("self", self.validity_months.self_assessment),
            ("peer", self.validity_months.peer),
            ("audit", self.validity_months.audit),
        ] {
            if !(1..=120).contains(&months) {
                return Err(format!(
                    "validity_months.{name} must be between 1 and 120 months"
                ));
            }
        }
        for tier in Tier::PROFILED {
            let profile = self.profiles.of(tier).unwrap_or_else(|| unreachable!());
            for p in &catalogue.parameters {
                match profile.get(&p.id) {
                    None => {
                        return Err(format!(
                            "the {} profile has no minimum for `{}`",
                            tier.as_str(),
                            p.id
                        ))
                    }
                    Some(l) if *l > MAX_LEVEL => {
                        return Err(format!(
                            "the {} profile wants {l} for `{}`; the scale ends at {MAX_LEVEL}",
                            tier.as_str(),
                            p.id
                        ))
                    }
                    Some(_) => {}
                }
            }
            if let Some(unknown) = profile.keys().find(|k| catalogue.parameter(k).is_none()) {
                return Err(format!(
                    "the {} profile names `{unknown}`, which is not a parameter of `{}`",
                    tier.as_str(),
                    catalogue.id
                ));
            }
        }
        for p in &catalogue.parameters {
            let b = self.profiles.basic[&p.id];
            let i = self.profiles.intermediate[&p.id];
            let a = self.profiles.advanced[&p.id];
            if !(b <= i && i <= a) {
                return Err(format!(
                    "`{}` wants {b} for basic, {i} for intermediate, {a} for advanced: a higher tier cannot ask less",
                    p.id
                ));
            }
        }
        Ok(())
    }
}

impl Model {
    /// The model `NIS2HUB_MATURITY_MODEL` and `NIS2HUB_MATURITY_TIERS` name (files; the
    /// bundled ones where unset), checked together, the error naming the setting.
    pub fn from_settings(
        model_file: Option<std::path::PathBuf>,
        tiers_file: Option<std::path::PathBuf>,
    ) -> Result<Self, String> {
        Self::load(model_file.as_deref(), tiers_file.as_deref()).map_err(|e| {
            let which = match (&model_file, &tiers_file) {
                (Some(_), None) => "NIS2HUB_MATURITY_MODEL",
                (None, Some(_)) => "NIS2HUB_MATURITY_TIERS",
                _ => "NIS2HUB_MATURITY_MODEL / NIS2HUB_MATURITY_TIERS",
            };
            format!("{which}: {e}")
        })
    }

    /// SIM3 v1 with the example tier profiles, as built in.
    pub fn built_in() -> Self {
        Self::from_texts(SIM3_V1, TIERS_EXAMPLE).expect("the built-in maturity model is valid")
    }

    /// Parses and checks a catalogue and its tier profiles together.
    pub fn from_texts(catalogue: &str, tiers: &str) -> Result<Self, String> {
        let catalogue = Catalogue::parse(catalogue)?;
        let tiers = TierProfiles::parse(tiers)?;
        tiers.check(&catalogue)?;
        Ok(Model { catalogue, tiers })
    }

    /// The files named by the settings, or the built-in ones where a setting is unset.
    pub fn load(
        catalogue: Option<&std::path::Path>,
        tiers: Option<&std::path::Path>,
    ) -> Result<Self, String> {
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
        };
        let c = match catalogue {
            Some(p) => read(p)?,
            None => SIM3_V1.to_string(),
        };
        let t = match tiers {
            Some(p) => read(p)?,
            None => TIERS_EXAMPLE.to_string(),
        };
        Self::from_texts(&c, &t)
    }

    pub fn id(&self) -> &str {
        &self.catalogue.id
    }

    /// The highest tier whose every minimum the scores meet (a missing score counts as 0).
    pub fn tier(&self, scores: &BTreeMap<String, u8>) -> Tier {
        let mut reached = Tier::None;
        for tier in Tier::PROFILED {
            if self.gaps_to(tier, scores).is_empty() {
                reached = tier;
            } else {
                break;
            }
        }
        reached
    }

    /// The parameters below what `tier` wants, in catalogue order.
    pub fn gaps_to(&self, tier: Tier, scores: &BTreeMap<String, u8>) -> Vec<Gap> {
        let Some(profile) = self.tiers.profiles.of(tier) else {
            return vec![];
        };
        self.catalogue
            .parameters
            .iter()
            .filter_map(|p| {
                let wanted = profile.get(&p.id).copied().unwrap_or(0);
                let score = scores.get(&p.id).copied().unwrap_or(0);
                (score < wanted).then(|| Gap {
                    parameter: p.id.clone(),
                    name: p.name.clone(),
                    score,
                    wanted,
                })
            })
            .collect()
    }

    /// The tier reached, the next one (none above advanced) and the gaps to it.
    pub fn evaluate(&self, scores: &BTreeMap<String, u8>) -> (Tier, Option<Tier>, Vec<Gap>) {
        let tier = self.tier(scores);
        let next = tier.next();
        let gaps = next.map(|n| self.gaps_to(n, scores)).unwrap_or_default();
        (tier, next, gaps)
    }

    /// When an assessment made at `assessed_at` stops counting; `None` past the calendar.
    pub fn valid_until(
        &self,
        t: AssessmentType,
        assessed_at: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        crate::time::add_months(assessed_at, self.tiers.validity_months.months(t))
    }
}

/// The tier NIS2 administration asks of a CSIRT: intermediate for a sectoral CSIRT, advanced
/// for the national CSIRT.
pub fn required_tier(kind: crate::rules::coverage::OrgKind) -> Option<Tier> {
    use crate::rules::coverage::OrgKind;
    match kind {
        OrgKind::NationalCsirt => Some(Tier::Advanced),
        OrgKind::SectoralCsirt => Some(Tier::Intermediate),
        OrgKind::SupervisoryAuthority => None,
    }
}

/// What compliance needs to know of one assessment.
#[derive(Debug, Clone, PartialEq)]
pub struct AssessmentFacts {
    pub id: String,
    pub assessment_type: AssessmentType,
    pub assessed_at: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub tier: Tier,
}

/// A CSIRT's standing at `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    pub required: Tier,
    /// From the latest assessment still valid at `now`; `none` without one.
    pub tier: Tier,
    pub compliant: bool,
    /// The assessment the tier comes from.
    pub current: Option<String>,
    pub last_assessment_at: Option<DateTime<Utc>>,
    pub last_peer_review_at: Option<DateTime<Utc>>,
    /// When the current assessment stops counting: the CSIRT must be assessed again by then.
    /// `None` when it has no valid assessment (it is due now).
    pub next_due_at: Option<DateTime<Utc>>,
}

/// The standing of a CSIRT that must reach `required`, from its assessments.
pub fn standing(required: Tier, assessments: &[AssessmentFacts], now: DateTime<Utc>) -> Standing {
    let latest = |it: &mut dyn Iterator<Item = &AssessmentFacts>| {
        it.max_by(|a, b| (a.assessed_at, &a.id).cmp(&(b.assessed_at, &b.id)))
            .cloned()
    };
    let current = latest(&mut assessments.iter().filter(|a| a.valid_until > now));
    let tier = current.as_ref().map(|a| a.tier).unwrap_or(Tier::None);
    Standing {
        required,
        tier,
        compliant: tier >= required,
        next_due_at: current.as_ref().map(|a| a.valid_until),
        current: current.map(|a| a.id),
        last_assessment_at: latest(&mut assessments.iter()).map(|a| a.assessed_at),
        last_peer_review_at: latest(
            &mut assessments
                .iter()
                .filter(|a| a.assessment_type == AssessmentType::Peer),
        )
        .map(|a| a.assessed_at),
    }
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

fn is_parameter_id(s: &str) -> bool {
    match s.split_once('-') {
        Some((prefix, number)) => {
            !prefix.is_empty()
                && prefix.len() <= 8
                && prefix.bytes().all(|b| b.is_ascii_uppercase())
                && !number.is_empty()
                && number.len() <= 4
                && number.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)] // fixed test values
mod tests;
