//! Traffic Light Protocol 2.0: the labels, and who may read what they cover.
//!
//! An incident's reports are always shared with the recipients the law requires — the
//! entity's sectoral CSIRT (or the national CSIRT when none covers it), its supervisory
//! authority when the incident is significant, the national CSIRT as single point of contact
//! and as cross-sector coordinator — and with the entity itself. Only the CSIRTs of *other*
//! affected sectors (rule `matrix.cross_sectoral_csirt`) are told beyond what the law
//! requires; under `RED` and `AMBER+STRICT` they learn that the incident exists and why they
//! were told, not what was reported.

use crate::rules::routing::Decision;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Traffic Light Protocol 2.0 label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Tlp {
    #[serde(rename = "CLEAR")]
    Clear,
    #[serde(rename = "GREEN")]
    Green,
    #[serde(rename = "AMBER")]
    Amber,
    #[serde(rename = "AMBER+STRICT")]
    AmberStrict,
    #[serde(rename = "RED")]
    Red,
}

impl Tlp {
    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "CLEAR",
            Tlp::Green => "GREEN",
            Tlp::Amber => "AMBER",
            Tlp::AmberStrict => "AMBER+STRICT",
            Tlp::Red => "RED",
        }
    }
}

impl Tlp {
    pub fn parse(s: &str) -> Option<Tlp> {
        [
            Tlp::Clear,
            Tlp::Green,
            Tlp::Amber,
            Tlp::AmberStrict,
            Tlp::Red,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    /// Whether only (part of) an advisory's audience may read it.
    pub fn restricted(self) -> bool {
        matches!(self, Tlp::Amber | Tlp::AmberStrict | Tlp::Red)
    }

    /// `RED` and `AMBER+STRICT` keep content to the recipients the law requires.
    pub fn keeps_content_to_required_recipients(self) -> bool {
        matches!(self, Tlp::Red | Tlp::AmberStrict)
    }
}

/// The one routing rule that tells an organisation about an incident beyond what the law
/// requires.
pub const BEYOND_THE_LAW: &str = "matrix.cross_sectoral_csirt";

/// True when the recipient `org` of `decision` may read the content of reports labelled
/// `tlp`: under the strict labels only if some rule other than [`BEYOND_THE_LAW`] names it.
/// An organisation the decision does not name at all reads nothing under the strict labels.
pub fn recipient_reads_content(tlp: Tlp, decision: &Decision, org: &str) -> bool {
    if !tlp.keeps_content_to_required_recipients() {
        return true;
    }
    decision
        .recipients
        .iter()
        .filter(|r| r.organisation_id == org)
        .any(|r| r.rules.iter().any(|rule| rule != BEYOND_THE_LAW))
}

/// The recipients of `decision` that may not read content labelled `tlp`.
pub fn withheld_from(tlp: Tlp, decision: &Decision) -> Vec<String> {
    let mut out: Vec<String> = decision
        .recipients
        .iter()
        .map(|r| r.organisation_id.clone())
        .filter(|org| !recipient_reads_content(tlp, decision, org))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::routing::{Classification, Recipient, RecipientRole, RuleSetRef};

    fn decision(recipients: &[(&str, RecipientRole, &[&str])]) -> Decision {
        Decision {
            ruleset: RuleSetRef {
                id: "nis2-default".into(),
                version: "test".into(),
            },
            classification: Classification {
                kind: Default::default(),
                mandatory: true,
                significant: true,
                declared_significant: true,
                significance_criteria: vec![],
                cross_border: true,
                cross_sectoral: true,
                financial_threshold: None,
            },
            recipients: recipients
                .iter()
                .map(|(org, role, rules)| Recipient {
                    organisation_id: org.to_string(),
                    organisation_code: org.to_string(),
                    role: *role,
                    rules: rules.iter().map(|r| r.to_string()).collect(),
                    action: "handle".into(),
                    due_at: None,
                })
                .collect(),
            next_obligation: None,
            foreign_member_states: vec![],
            other_sectors: vec![],
            stages: vec![],
            decided_at: chrono::Utc::now(),
        }
    }

    /// The sharing matrix for incident reports: recipient (by the rules that named it) × TLP →
    /// may it read the reports' content.
    #[test]
    fn who_reads_an_incidents_reports_under_each_label() {
        use RecipientRole::*;
        let d = decision(&[
            ("own-csirt", SectoralCsirt, &["matrix.sectoral_csirt"]),
            (
                "authority",
                SupervisoryAuthority,
                &["matrix.significant_authority"],
            ),
            ("ncsirt", Spoc, &["matrix.cross_border_spoc"]),
            (
                "ncsirt",
                Coordinator,
                &["matrix.cross_sectoral_coordinator"],
            ),
            (
                "health-csirt",
                SectoralCsirt,
                &["matrix.cross_sectoral_csirt"],
            ),
            // Covers the entity's own sector and another affected one: required.
            (
                "both-csirt",
                SectoralCsirt,
                &["matrix.sectoral_csirt", "matrix.cross_sectoral_csirt"],
            ),
        ]);
        let all = [
            Tlp::Clear,
            Tlp::Green,
            Tlp::Amber,
            Tlp::AmberStrict,
            Tlp::Red,
        ];
        #[rustfmt::skip]
        let table: [(&str, [bool; 5]); 5] = [
            //                CLEAR  GREEN  AMBER  AMBER+STRICT  RED
            ("own-csirt",    [true,  true,  true,  true,         true ]),
            ("authority",    [true,  true,  true,  true,         true ]),
            ("ncsirt",       [true,  true,  true,  true,         true ]),
            ("both-csirt",   [true,  true,  true,  true,         true ]),
            ("health-csirt", [true,  true,  true,  false,        false]),
        ];
        for (org, row) in table {
            for (tlp, expected) in all.iter().zip(row) {
                assert_eq!(
                    recipient_reads_content(*tlp, &d, org),
                    expected,
                    "{org} under {}",
                    tlp.as_str()
                );
            }
        }
        // Under the strict labels, an organisation the decision does not name reads nothing.
        assert!(!recipient_reads_content(Tlp::Red, &d, "stranger"));
        assert_eq!(
            withheld_from(Tlp::Red, &d),
            vec!["health-csirt".to_string()]
        );
        assert!(withheld_from(Tlp::Amber, &d).is_empty());
    }
}
