//! The notification matrix: from the incident's facts, the entity and the directory to the
//! organisations that must be told, why, and what each must do by when.
//!
//! | condition                  | recipients                                                      |
//! |----------------------------|-----------------------------------------------------------------|
//! | every incident             | the entity's sectoral CSIRT; the national CSIRT if none covers it |
//! | significant                | + the entity's supervisory authority                              |
//! | cross-border               | + the national CSIRT as single point of contact (SPOC)            |
//! | cross-sectoral             | + the CSIRTs of the other sectors, + the national CSIRT as coordinator |
//!
//! A voluntary notification (Art. 30: a near miss, a cyber threat, or an incident that
//! imposes no obligation) goes through the same matrix and owes the reporter nothing. Its
//! first CSIRT is told to handle it after the mandatory notifications
//! (`matrix.voluntary_after_mandatory`, action `handle_after_mandatory`, no due time): Art. 30(2)
//! lets mandatory notifications take precedence, and the 24-hour feedback of Art. 23(5) is
//! owed for mandatory early warnings only.

use super::coverage::{self, DirectoryOrg, Function};
use super::deadlines::{self, Obligation, Request, Stage, StageStatus, Submitted};
use super::ruleset::RuleSet;
use super::significance::{self, Impact, PastIncident};
use crate::sectors;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RecipientRole {
    SectoralCsirt,
    SupervisoryAuthority,
    NationalCsirt,
    Spoc,
    Coordinator,
}

impl RecipientRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SectoralCsirt => "sectoral_csirt",
            Self::SupervisoryAuthority => "supervisory_authority",
            Self::NationalCsirt => "national_csirt",
            Self::Spoc => "spoc",
            Self::Coordinator => "coordinator",
        }
    }
}

/// What a notification is about. Near misses and cyber threats are notified only
/// voluntarily (Art. 30(1)); an incident may be either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    #[default]
    Incident,
    NearMiss,
    CyberThreat,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Incident, Kind::NearMiss, Kind::CyberThreat];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incident => "incident",
            Self::NearMiss => "near_miss",
            Self::CyberThreat => "cyber_threat",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One organisation the decision addresses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Recipient {
    pub organisation_id: String,
    #[schema(example = "csirt-energy")]
    pub organisation_code: String,
    pub role: RecipientRole,
    /// Ids of the matrix rules that put it here.
    #[schema(example = json!(["matrix.sectoral_csirt"]))]
    pub rules: Vec<String>,
    /// What it must do.
    #[schema(example = "initial_feedback")]
    pub action: String,
    /// By when; `null` when the law says "without undue delay" or sets no time.
    pub due_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Classification {
    /// An incident, a near miss or a cyber threat.
    #[serde(default)]
    pub kind: Kind,
    /// Art. 23 applies: an essential or important entity with a significant incident. Otherwise
    /// the report is voluntary (Art. 30): it owes the reporter nothing and its CSIRT handles it
    /// after the mandatory notifications (`matrix.voluntary_after_mandatory`).
    pub mandatory: bool,
    /// A significant incident (never a near miss or a cyber threat: the criteria of Art. 23(3)
    /// measure an incident's impact).
    pub significant: bool,
    /// The reporter declared the incident significant.
    pub declared_significant: bool,
    /// Ids of the significance criteria the reported facts meet.
    #[schema(example = json!(["ir2690.art5_a.unavailable"]))]
    pub significance_criteria: Vec<String>,
    pub cross_border: bool,
    pub cross_sectoral: bool,
    /// The CIR 2024/2690 Art. 3(1)(a) financial threshold and the turnover it came from; absent
    /// when the entity is of no type that regulation covers.
    #[serde(default)]
    pub financial_threshold: Option<significance::FinancialThreshold>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RuleSetRef {
    #[schema(example = "nis2-default")]
    pub id: String,
    #[schema(example = "2026.2")]
    pub version: String,
}

/// The routing decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Decision {
    pub ruleset: RuleSetRef,
    pub classification: Classification,
    pub recipients: Vec<Recipient>,
    /// What the reporter must send next, and by when; `null` when nothing is owed.
    pub next_obligation: Option<Obligation>,
    /// Member states other than the home state that the SPOC informs (ENISA is informed too).
    #[schema(example = json!(["BE", "DE"]))]
    pub foreign_member_states: Vec<String>,
    /// Sectors affected other than the entity's own.
    #[schema(example = json!(["transport.rail"]))]
    pub other_sectors: Vec<String>,
    pub stages: Vec<StageStatus>,
    pub decided_at: DateTime<Utc>,
}

/// What the rules need to know of the entity.
#[derive(Debug, Clone)]
pub struct EntityFacts<'a> {
    /// Home member state.
    pub country: &'a str,
    /// Sector codes, the primary one first.
    pub sectors: Vec<&'a str>,
    /// Essential or important (not out of scope).
    pub in_scope: bool,
    /// The registered annual turnover, used when a report gives none.
    pub annual_turnover_eur: Option<u64>,
}

/// The facts of an incident, accumulated over its reports.
#[derive(Debug, Clone)]
pub struct IncidentFacts<'a> {
    /// The stage of the report being decided on.
    pub stage: Stage,
    pub kind: Kind,
    pub aware_at: DateTime<Utc>,
    pub occurred_at: DateTime<Utc>,
    /// The reporter declared the incident significant in any report.
    pub declared_significant: bool,
    pub affected_member_states: &'a [String],
    pub affected_sectors: &'a [String],
    /// The latest impact facts.
    pub impact: &'a Impact,
    pub root_cause: Option<&'a str>,
    /// Criteria met by earlier reports: once significant, an incident stays significant.
    pub earlier_criteria: &'a [String],
}

/// Everything the decision is made from.
pub struct Input<'a> {
    pub rules: &'a RuleSet,
    pub directory: &'a [DirectoryOrg],
    pub entity: EntityFacts<'a>,
    pub incident: IncidentFacts<'a>,
    pub past_incidents: &'a [PastIncident],
    pub reports: &'a [Submitted],
    pub requests: &'a [Request],
    pub now: DateTime<Utc>,
}

/// True when `affected` is one of the entity's sectors or contains one.
fn is_own(entity_sectors: &[&str], affected: &str) -> bool {
    entity_sectors
        .iter()
        .any(|own| *own == affected || sectors::find(own).and_then(|s| s.parent) == Some(affected))
}

struct Builder {
    recipients: Vec<Recipient>,
}

impl Builder {
    fn add(
        &mut self,
        org: &DirectoryOrg,
        role: RecipientRole,
        rule: &str,
        action: &str,
        due_at: Option<DateTime<Utc>>,
    ) {
        if let Some(r) = self
            .recipients
            .iter_mut()
            .find(|r| r.organisation_id == org.id && r.role == role)
        {
            if !r.rules.iter().any(|x| x == rule) {
                r.rules.push(rule.to_string());
            }
            return;
        }
        self.recipients.push(Recipient {
            organisation_id: org.id.clone(),
            organisation_code: org.code.clone(),
            role,
            rules: vec![rule.to_string()],
            action: action.to_string(),
            due_at,
        });
    }
}

/// Decides. Pure: the same input always gives the same decision.
pub fn decide(input: &Input) -> Decision {
    let rs = input.rules;
    let f = &input.incident;
    let mut criteria = f.earlier_criteria.to_vec();
    let incident = f.kind == Kind::Incident;
    for c in significance::criteria(
        rs,
        &input.entity.sectors,
        f.impact,
        input.entity.annual_turnover_eur,
        f.occurred_at,
        f.root_cause,
        input.past_incidents,
    )
    .into_iter()
    .filter(|_| incident)
    {
        if !criteria.contains(&c) {
            criteria.push(c);
        }
    }
    let significant = incident && (f.declared_significant || !criteria.is_empty());
    let mandatory = input.entity.in_scope && significant;

    let home = input.entity.country;
    let mut foreign: Vec<String> = f
        .affected_member_states
        .iter()
        .filter(|m| m.as_str() != home)
        .cloned()
        .collect();
    foreign.sort();
    foreign.dedup();
    let mut other_sectors: Vec<String> = f
        .affected_sectors
        .iter()
        .filter(|s| !is_own(&input.entity.sectors, s))
        .cloned()
        .collect();
    other_sectors.sort();
    other_sectors.dedup();

    let national = coverage::national_csirt(input.directory);
    let reported_at = input.now;
    let hours = |h: i64| crate::time::add_hours(reported_at, h);
    // Art. 23(5): initial feedback within 24 hours of an early warning.
    // Art. 30(2): mandatory notifications first; a voluntary one waits for them.
    let (csirt_action, csirt_due) = if !mandatory {
        ("handle_after_mandatory", None)
    } else if f.stage == Stage::EarlyWarning {
        ("initial_feedback", hours(rs.deadlines.csirt_feedback_hours))
    } else {
        ("handle", None)
    };

    let mut b = Builder { recipients: vec![] };
    let primary = input.entity.sectors.first().copied().unwrap_or_default();
    let first = match coverage::assign(input.directory, primary, Function::Csirt) {
        (Some(csirt), _) => Some((csirt, RecipientRole::SectoralCsirt, "matrix.sectoral_csirt")),
        (None, _) => national.map(|n| {
            (
                n,
                RecipientRole::NationalCsirt,
                "matrix.national_csirt_fallback",
            )
        }),
    };
    if let Some((org, role, rule)) = first {
        b.add(org, role, rule, csirt_action, csirt_due);
        if !mandatory {
            b.add(
                org,
                role,
                "matrix.voluntary_after_mandatory",
                csirt_action,
                None,
            );
        }
    }
    if significant {
        if let (Some(authority), _) =
            coverage::assign(input.directory, primary, Function::Authority)
        {
            b.add(
                authority,
                RecipientRole::SupervisoryAuthority,
                "matrix.significant_authority",
                "supervise",
                None,
            );
        }
    }
    if !foreign.is_empty() {
        if let Some(n) = national {
            b.add(
                n,
                RecipientRole::Spoc,
                "matrix.cross_border_spoc",
                "inform_member_states_and_enisa",
                hours(rs.deadlines.spoc_forward_hours),
            );
        }
    }
    if !other_sectors.is_empty() {
        for sector in &other_sectors {
            if let (Some(csirt), _) = coverage::assign(input.directory, sector, Function::Csirt) {
                b.add(
                    csirt,
                    RecipientRole::SectoralCsirt,
                    "matrix.cross_sectoral_csirt",
                    "inform",
                    None,
                );
            }
        }
        if let Some(n) = national {
            b.add(
                n,
                RecipientRole::Coordinator,
                "matrix.cross_sectoral_coordinator",
                "coordinate",
                None,
            );
        }
    }

    let trust_service = input
        .entity
        .sectors
        .contains(&"digital_infrastructure.trust_services");
    let stages = deadlines::stages(
        rs,
        f.aware_at,
        trust_service,
        mandatory,
        input.reports,
        input.requests,
        input.now,
    );
    Decision {
        ruleset: RuleSetRef {
            id: rs.id.clone(),
            version: rs.version.clone(),
        },
        classification: Classification {
            kind: f.kind,
            mandatory,
            significant,
            declared_significant: f.declared_significant,
            significance_criteria: criteria,
            cross_border: !foreign.is_empty(),
            cross_sectoral: !other_sectors.is_empty(),
            financial_threshold: significance::ir2690_applies(&input.entity.sectors).then(|| {
                significance::financial_threshold(
                    rs,
                    f.impact.annual_turnover_eur,
                    input.entity.annual_turnover_eur,
                )
            }),
        },
        recipients: b.recipients,
        next_obligation: deadlines::next_obligation(&stages, mandatory),
        foreign_member_states: foreign,
        other_sectors,
        stages,
        decided_at: input.now,
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)] // fixed test values
mod tests {
    use super::*;
    use crate::rules::coverage::OrgKind;
    use chrono::TimeZone;

    fn org(code: &str, kind: OrgKind, coverage: &[&str]) -> DirectoryOrg {
        DirectoryOrg {
            id: format!("id-{code}"),
            code: code.into(),
            name: code.into(),
            kind,
            coverage: coverage.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn directory() -> Vec<DirectoryOrg> {
        vec![
            org("ncsirt", OrgKind::NationalCsirt, &[]),
            org("csirt-energy", OrgKind::SectoralCsirt, &["energy"]),
            org("csirt-transport", OrgKind::SectoralCsirt, &["transport"]),
            org("csirt-health", OrgKind::SectoralCsirt, &["health"]),
            org(
                "authority-energy",
                OrgKind::SupervisoryAuthority,
                &["energy"],
            ),
            org(
                "authority-transport",
                OrgKind::SupervisoryAuthority,
                &["transport"],
            ),
        ]
    }

    struct Case {
        sector: &'static str,
        kind: Kind,
        in_scope: bool,
        declared: bool,
        states: Vec<String>,
        sectors: Vec<String>,
        impact: Impact,
    }

    fn case(sector: &'static str) -> Case {
        Case {
            sector,
            kind: Kind::Incident,
            in_scope: true,
            declared: false,
            states: vec![],
            sectors: vec![],
            impact: Impact::default(),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 4, 10, 0, 0).unwrap()
    }

    fn run(c: &Case, stage: Stage) -> Decision {
        let rs = RuleSet::nis2_default();
        let dir = directory();
        decide(&Input {
            rules: &rs,
            directory: &dir,
            entity: EntityFacts {
                country: "NL",
                sectors: vec![c.sector],
                in_scope: c.in_scope,
                annual_turnover_eur: None,
            },
            incident: IncidentFacts {
                stage,
                kind: c.kind,
                aware_at: now() - chrono::Duration::hours(2),
                occurred_at: now() - chrono::Duration::hours(3),
                declared_significant: c.declared,
                affected_member_states: &c.states,
                affected_sectors: &c.sectors,
                impact: &c.impact,
                root_cause: None,
                earlier_criteria: &[],
            },
            past_incidents: &[],
            reports: &[],
            requests: &[],
            now: now(),
        })
    }

    fn recipients(d: &Decision) -> Vec<(String, &'static str, Vec<String>)> {
        d.recipients
            .iter()
            .map(|r| {
                (
                    r.organisation_code.clone(),
                    r.role.as_str(),
                    r.rules.clone(),
                )
            })
            .collect()
    }

    fn r(code: &str, role: &'static str, rules: &[&str]) -> (String, &'static str, Vec<String>) {
        (
            code.to_string(),
            role,
            rules.iter().map(|s| s.to_string()).collect(),
        )
    }

    /// The notification matrix, row by row.
    #[test]
    fn the_matrix_table() {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        type Expected = Vec<(String, &'static str, Vec<String>)>;
        let rows: Vec<(&str, Case, Expected)> = vec![
            (
                "every incident, voluntary included → the sectoral CSIRT",
                Case {
                    in_scope: false,
                    ..case("energy.gas")
                },
                vec![r(
                    "csirt-energy",
                    "sectoral_csirt",
                    &["matrix.sectoral_csirt", "matrix.voluntary_after_mandatory"],
                )],
            ),
            (
                "a near miss, even declared significant → the same matrix, no authority",
                Case {
                    kind: Kind::NearMiss,
                    declared: true,
                    ..case("energy.gas")
                },
                vec![r(
                    "csirt-energy",
                    "sectoral_csirt",
                    &["matrix.sectoral_csirt", "matrix.voluntary_after_mandatory"],
                )],
            ),
            (
                "a cyber threat where no sectoral CSIRT covers the sector → the national CSIRT",
                Case {
                    kind: Kind::CyberThreat,
                    ..case("space")
                },
                vec![r(
                    "ncsirt",
                    "national_csirt",
                    &[
                        "matrix.national_csirt_fallback",
                        "matrix.voluntary_after_mandatory",
                    ],
                )],
            ),
            (
                "a cross-border cyber threat → + the SPOC",
                Case {
                    kind: Kind::CyberThreat,
                    states: strings(&["DE"]),
                    ..case("energy.gas")
                },
                vec![
                    r(
                        "csirt-energy",
                        "sectoral_csirt",
                        &["matrix.sectoral_csirt", "matrix.voluntary_after_mandatory"],
                    ),
                    r("ncsirt", "spoc", &["matrix.cross_border_spoc"]),
                ],
            ),
            (
                "no sectoral CSIRT covers the sector → the national CSIRT (significant)",
                Case {
                    declared: true,
                    ..case("space")
                },
                vec![r(
                    "ncsirt",
                    "national_csirt",
                    &["matrix.national_csirt_fallback"],
                )],
            ),
            (
                "significant → + the supervisory authority",
                Case {
                    declared: true,
                    ..case("energy.gas")
                },
                vec![
                    r("csirt-energy", "sectoral_csirt", &["matrix.sectoral_csirt"]),
                    r(
                        "authority-energy",
                        "supervisory_authority",
                        &["matrix.significant_authority"],
                    ),
                ],
            ),
            (
                "cross-border with several member states → + the SPOC",
                Case {
                    states: strings(&["NL", "DE", "BE", "DE"]),
                    ..case("energy.gas")
                },
                vec![
                    r(
                        "csirt-energy",
                        "sectoral_csirt",
                        &["matrix.sectoral_csirt", "matrix.voluntary_after_mandatory"],
                    ),
                    r("ncsirt", "spoc", &["matrix.cross_border_spoc"]),
                ],
            ),
            (
                "cross-sectoral with several sectors → + their CSIRTs and the coordinator",
                Case {
                    sectors: strings(&["energy", "transport.rail", "health"]),
                    ..case("energy.gas")
                },
                vec![
                    r(
                        "csirt-energy",
                        "sectoral_csirt",
                        &["matrix.sectoral_csirt", "matrix.voluntary_after_mandatory"],
                    ),
                    r(
                        "csirt-health",
                        "sectoral_csirt",
                        &["matrix.cross_sectoral_csirt"],
                    ),
                    r(
                        "csirt-transport",
                        "sectoral_csirt",
                        &["matrix.cross_sectoral_csirt"],
                    ),
                    r(
                        "ncsirt",
                        "coordinator",
                        &["matrix.cross_sectoral_coordinator"],
                    ),
                ],
            ),
        ];
        for (what, c, expected) in rows {
            assert_eq!(
                recipients(&run(&c, Stage::EarlyWarning)),
                expected,
                "{what}"
            );
        }
    }

    #[test]
    fn the_classification_names_the_foreign_states_and_other_sectors() {
        let c = Case {
            states: vec!["NL".into(), "DE".into(), "BE".into()],
            sectors: vec!["energy".into(), "transport.rail".into()],
            declared: true,
            ..case("energy.gas")
        };
        let d = run(&c, Stage::EarlyWarning);
        assert_eq!(d.foreign_member_states, vec!["BE", "DE"]);
        assert_eq!(
            d.other_sectors,
            vec!["transport.rail"],
            "the entity's own sector is not another sector"
        );
        let cl = &d.classification;
        assert!(cl.mandatory && cl.significant && cl.cross_border && cl.cross_sectoral);
        assert_eq!(
            (d.ruleset.id.as_str(), d.ruleset.version.as_str()),
            ("nis2-default", "2026.2")
        );
    }

    #[test]
    fn significance_from_facts_alone_adds_the_authority() {
        let c = Case {
            impact: Impact {
                unavailability_minutes: Some(31),
                ..Default::default()
            },
            ..case("digital_infrastructure.dns")
        };
        let mut dir_case = c;
        dir_case.sector = "digital_infrastructure.dns";
        let d = run(&dir_case, Stage::Notification);
        assert!(d.classification.significant && !d.classification.declared_significant);
        assert_eq!(
            d.classification.significance_criteria,
            vec!["ir2690.art5_a.unavailable"]
        );
    }

    #[test]
    fn deadlines_and_actions_follow_the_stage() {
        let d = run(
            &Case {
                declared: true,
                ..case("energy.gas")
            },
            Stage::EarlyWarning,
        );
        let csirt = &d.recipients[0];
        assert_eq!(
            (csirt.action.as_str(), csirt.due_at),
            (
                "initial_feedback",
                Some(now() + chrono::Duration::hours(24))
            )
        );
        // Aware two hours ago: the early warning is due in 22 hours.
        assert_eq!(
            d.next_obligation,
            Some(Obligation {
                stage: Stage::EarlyWarning,
                due_at: Some(now() + chrono::Duration::hours(22))
            })
        );
        let voluntary = run(
            &Case {
                in_scope: false,
                declared: true,
                ..case("energy.gas")
            },
            Stage::EarlyWarning,
        );
        assert!(!voluntary.classification.mandatory);
        assert_eq!(
            (
                voluntary.recipients[0].action.as_str(),
                voluntary.recipients[0].due_at
            ),
            ("handle_after_mandatory", None),
            "a voluntary report waits for the mandatory ones"
        );
        assert_eq!(
            voluntary.next_obligation, None,
            "a voluntary report owes nothing"
        );
    }
}
