//! Essential, important or out of scope: NIS2 Art. 2 and 3, with the size classes of
//! Commission Recommendation 2003/361/EC.

use super::Rule;
use crate::sectors::{self, Annex};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SizeClass {
    Micro,
    Small,
    Medium,
    Large,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    OutOfScope,
    Important,
    Essential,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::OutOfScope => "out_of_scope",
            Category::Important => "important",
            Category::Essential => "essential",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Category::OutOfScope,
            Category::Important,
            Category::Essential,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

pub const SIZE_DECLARED: Rule = Rule {
    id: "size.declared",
    text: "size class as declared by the entity, not below what its own figures show (Recommendation 2003/361/EC, Annex Art. 2 and 6)",
};
pub const SIZE_DERIVED: Rule = Rule {
    id: "size.derived",
    text: "size class derived from staff, turnover and balance sheet (Recommendation 2003/361/EC, Annex Art. 2)",
};
pub const SIZE_FIGURES_ABOVE_DECLARED: Rule = Rule {
    id: "size.figures_above_declared",
    text: "the staff, turnover and balance sheet figures exceed the ceilings of the declared size class: the figures decide (Recommendation 2003/361/EC, Annex Art. 2; NIS2 Art. 2(1))",
};
pub const QTSP: Rule = Rule {
    id: "category.qualified_tsp",
    text: "qualified trust service provider: in scope (Art. 2(2)(a)(ii)) and essential regardless of size (Art. 3(1)(b))",
};
pub const TLD_DNS: Rule = Rule {
    id: "category.tld_dns",
    text: "TLD name registry or DNS service provider: in scope (Art. 2(2)(a)(iii)) and essential regardless of size (Art. 3(1)(b))",
};
pub const ECN_MEDIUM_LARGE: Rule = Rule {
    id: "category.public_ecn_medium_large",
    text: "provider of public electronic communications networks or services: essential when medium-sized (Art. 3(1)(c)) or large (Art. 3(1)(a))",
};
pub const ECN_SMALL: Rule = Rule {
    id: "category.public_ecn_small",
    text: "provider of public electronic communications networks or services, micro or small: in scope regardless of size (Art. 2(2)(a)(i)), important (Art. 3(2))",
};
pub const TSP: Rule = Rule {
    id: "category.non_qualified_tsp",
    text: "trust service provider, not qualified, below large size: in scope regardless of size (Art. 2(2)(a)(ii)), important (Art. 3(2)); a large one is essential (Art. 3(1)(a))",
};
pub const CENTRAL_GOVERNMENT: Rule = Rule {
    id: "category.central_government",
    text: "public administration entity of central government: in scope (Art. 2(2)(f)(i)) and essential regardless of size (Art. 3(1)(d))",
};
pub const REGIONAL_GOVERNMENT: Rule = Rule {
    id: "category.regional_government",
    text: "public administration entity at regional level identified by the member state's risk-based assessment: in scope regardless of size (Art. 2(2)(f)(ii)), important (Art. 3(2))",
};
pub const ANNEX_I_LARGE: Rule = Rule {
    id: "category.annex_i_large",
    text:
        "Annex I type exceeding the ceilings for medium-sized enterprises: essential (Art. 3(1)(a))",
};
pub const ANNEX_I_MEDIUM: Rule = Rule {
    id: "category.annex_i_medium",
    text: "Annex I type, medium-sized enterprise: in scope (Art. 2(1)), important (Art. 3(2))",
};
pub const ANNEX_II: Rule = Rule {
    id: "category.annex_ii_medium_large",
    text: "Annex II type, medium-sized or large enterprise: in scope (Art. 2(1)), important (Art. 3(2))",
};
pub const BELOW_THRESHOLD: Rule = Rule {
    id: "category.below_size_threshold",
    text: "micro or small enterprise in a sector without a size-independent rule: out of scope (Art. 2(1))",
};
pub const CRITICAL_ENTITY: Rule = Rule {
    id: "category.critical_entity",
    text: "identified as a critical entity under Directive (EU) 2022/2557: in scope (Art. 2(3)) and essential regardless of size (Art. 3(1)(f))",
};
pub const SOLE_PROVIDER: Rule = Rule {
    id: "category.sole_provider",
    text: "sole provider in a member state of a service essential for critical societal or economic activities: in scope regardless of size (Art. 2(2)(b)); essential or important as the member state identified it (Art. 3(1)(e), 3(2))",
};
pub const PUBLIC_SAFETY: Rule = Rule {
    id: "category.public_safety_impact",
    text: "disruption could significantly impact public safety, public security or public health: in scope regardless of size (Art. 2(2)(c)); essential or important as the member state identified it (Art. 3(1)(e), 3(2))",
};
pub const SYSTEMIC_RISK: Rule = Rule {
    id: "category.systemic_risk",
    text: "disruption could induce a significant systemic risk: in scope regardless of size (Art. 2(2)(d)); essential or important as the member state identified it (Art. 3(1)(e), 3(2))",
};
pub const NATIONAL_IMPORTANCE: Rule = Rule {
    id: "category.specific_importance",
    text: "critical for its specific importance at national or regional level: in scope regardless of size (Art. 2(2)(e)); essential or important as the member state identified it (Art. 3(1)(e), 3(2))",
};

/// Every rule this module can cite.
pub const RULES: &[Rule] = &[
    SIZE_DECLARED,
    SIZE_DERIVED,
    SIZE_FIGURES_ABOVE_DECLARED,
    QTSP,
    TLD_DNS,
    ECN_MEDIUM_LARGE,
    ECN_SMALL,
    TSP,
    CENTRAL_GOVERNMENT,
    REGIONAL_GOVERNMENT,
    ANNEX_I_LARGE,
    ANNEX_I_MEDIUM,
    ANNEX_II,
    BELOW_THRESHOLD,
    CRITICAL_ENTITY,
    SOLE_PROVIDER,
    PUBLIC_SAFETY,
    SYSTEMIC_RISK,
    NATIONAL_IMPORTANCE,
];

/// What the size rules need to know.
#[derive(Debug, Clone, Default)]
pub struct SizeFacts {
    pub declared: Option<SizeClass>,
    pub employees: Option<u32>,
    pub annual_turnover_eur: Option<u64>,
    pub balance_sheet_eur: Option<u64>,
}

/// The enterprise size class of Recommendation 2003/361/EC (Annex Art. 2), which NIS2
/// Art. 2(1) and 3(1)(a), (c) refer to.
///
/// From the figures: the headcount ceiling ("fewer than" 10 / 50 / 250 persons) always, and
/// the financial ceiling (turnover not more than EUR 2 / 10 / 50 million "and/or" balance
/// sheet not more than EUR 2 / 10 / 43 million) met by either figure that is given. A figure
/// not given cannot show that a ceiling is met; when neither is given, the headcount alone
/// decides (the register asks for the headcount at least, and a supervisory authority can
/// ask for the rest).
///
/// A declared class and figures together: the figures are the Recommendation's test, so a
/// declaration never puts an entity below what its own figures show (rule
/// `size.figures_above_declared`). A declaration above the figures stands: the figures here
/// are the entity's own, while Annex Art. 6 adds those of partner and linked enterprises,
/// which only the entity knows. `None` when there is nothing to go on.
///
/// Not modelled, and left to the supervisory authority: the two-consecutive-years rule of
/// Annex Art. 4(2), and the aggregation of partner and linked enterprises (Art. 6). Annex
/// Art. 3(4) (public bodies holding 25 %) does not apply, NIS2 Art. 2(1) second subparagraph.
pub fn size_class(f: &SizeFacts) -> Option<(SizeClass, Rule)> {
    let derived = f.employees.map(|staff| {
        let money_within = |turnover_max: u64, balance_max: u64| match (
            f.annual_turnover_eur,
            f.balance_sheet_eur,
        ) {
            (None, None) => true,
            (t, b) => t.is_some_and(|t| t <= turnover_max) || b.is_some_and(|b| b <= balance_max),
        };
        if staff < 10 && money_within(2_000_000, 2_000_000) {
            SizeClass::Micro
        } else if staff < 50 && money_within(10_000_000, 10_000_000) {
            SizeClass::Small
        } else if staff < 250 && money_within(50_000_000, 43_000_000) {
            SizeClass::Medium
        } else {
            SizeClass::Large
        }
    });
    match (f.declared, derived) {
        (Some(declared), Some(derived)) if derived > declared => {
            Some((derived, SIZE_FIGURES_ABOVE_DECLARED))
        }
        (Some(declared), _) => Some((declared, SIZE_DECLARED)),
        (None, Some(derived)) => Some((derived, SIZE_DERIVED)),
        (None, None) => None,
    }
}

/// A ground of NIS2 Art. 2(2), points (b) to (e), on which a member state identifies an
/// entity of an Annex I or II type whatever its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentificationGround {
    /// Art. 2(2)(b): the sole provider in a member state of a service essential for the
    /// maintenance of critical societal or economic activities.
    SoleProvider,
    /// Art. 2(2)(c): disruption could significantly impact public safety, security or health.
    PublicSafetyImpact,
    /// Art. 2(2)(d): disruption could induce a significant systemic risk.
    SystemicRisk,
    /// Art. 2(2)(e): critical for its specific importance at national or regional level.
    SpecificImportance,
}

/// The category a member state gave the entity it identified under Art. 2(2)(b)–(e).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentifiedAs {
    /// Art. 3(1)(e): "identified by a Member State as essential entities pursuant to Article
    /// 2(2), points (b) to (e)".
    Essential,
    /// Art. 3(2), second sentence: "entities identified by Member States as important entities
    /// pursuant to Article 2(2), points (b) to (e)".
    Important,
}

/// A member state's identification of an entity of an Annex I or II type under NIS2
/// Art. 2(2)(b)–(e), whatever its size: on which ground, and as essential (Art. 3(1)(e)) or
/// important (Art. 3(2), second sentence). A designation by the member state, not the
/// entity's own declaration: only the national CSIRT or the supervisory authority covering
/// the entity sets or changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"ground": "sole_provider", "category": "essential"}))]
pub struct Identification {
    pub ground: IdentificationGround,
    pub category: IdentifiedAs,
}

/// What the law says of the entity beyond its sectors and size: the flags of the entity
/// types that Art. 2(2)–(3) and 3(1) name. The sector code already says TLD registry, DNS
/// provider, public electronic communications, trust service provider, central or regional
/// government; these are the facts a sector code cannot say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntityTypeFacts {
    /// Qualified trust service provider (Regulation (EU) No 910/2014), Art. 3(1)(b).
    pub qualified_tsp: bool,
    /// Identified as a critical entity under Directive (EU) 2022/2557, Art. 2(3), 3(1)(f).
    pub critical_entity: bool,
    /// Identified by the member state under Art. 2(2)(b)–(e).
    pub identified: Option<Identification>,
}

/// The category for one sector code and size.
///
/// The size-independent cases of Art. 2(2)(a) and (f) come first, as the text puts them
/// "regardless of their size"; everything else is the size cap of Art. 2(1) with Art. 3(1)(a)
/// and 3(2).
pub fn category_for(sector: &str, size: SizeClass, qualified_tsp: bool) -> (Category, Rule) {
    use Category::*;
    use SizeClass::*;
    match sector {
        // Art. 2(2)(a)(ii): trust service providers at any size. Qualified: essential,
        // Art. 3(1)(b). Otherwise essential only above the medium ceilings, 3(1)(a), and
        // important below, 3(2).
        "digital_infrastructure.trust_services" if qualified_tsp => (Essential, QTSP),
        "digital_infrastructure.trust_services" if size == Large => (Essential, ANNEX_I_LARGE),
        "digital_infrastructure.trust_services" => (Important, TSP),
        // Art. 2(2)(a)(iii), 3(1)(b). Art. 6(20) excludes root name server operators from
        // "DNS service provider"; such an operator does not belong under this code.
        "digital_infrastructure.tld" | "digital_infrastructure.dns" => (Essential, TLD_DNS),
        // Art. 2(2)(a)(i) at any size; Art. 3(1)(c) names medium-sized providers, large ones
        // are essential by 3(1)(a); micro and small ones are important, 3(2).
        "digital_infrastructure.public_networks" | "digital_infrastructure.public_services"
            if size >= Medium =>
        {
            (Essential, ECN_MEDIUM_LARGE)
        }
        "digital_infrastructure.public_networks" | "digital_infrastructure.public_services" => {
            (Important, ECN_SMALL)
        }
        // Art. 2(2)(f)(i), 3(1)(d).
        "public_administration.central" => (Essential, CENTRAL_GOVERNMENT),
        // Art. 2(2)(f)(ii) leaves the regional level to the member state ("as defined by a
        // Member State", "following a risk-based assessment"). The reading applied here: an
        // entity registered under this code is one the member state's assessment put in scope
        // (the register is the list of Art. 3(3)), and it is important at any size. Art.
        // 3(1)(d) names only point (f)(i) as essential; public administration is not an
        // enterprise of Recommendation 2003/361/EC, so the size ceilings of 3(1)(a) are not
        // its test. A member state that wants a regional entity essential identifies it under
        // Art. 2(2)(e), 3(1)(e) (see `EntityTypeFacts::identified`).
        "public_administration.regional" => (Important, REGIONAL_GOVERNMENT),
        // Art. 2(4) (domain name registration services, "regardless of their size") has no
        // code on purpose: such a provider is not a type of Annex I or II, so Art. 3 makes it
        // neither essential nor important; what NIS2 asks of it is to be on the member state's
        // list (Art. 3(3)) and in the registry of Art. 27, and the registration data of
        // Art. 28, not the obligations this register derives. A registrar that
        // is also a DNS service provider or TLD registry registers under that code (3(1)(b));
        // one that is nothing else is out of scope of the categories (docs/API-DESIGN.md).
        code => match (sectors::find(code).map(|s| s.annex), size) {
            (Some(Annex::I), Large) => (Essential, ANNEX_I_LARGE),
            (Some(Annex::I), Medium) => (Important, ANNEX_I_MEDIUM),
            (Some(Annex::II), Medium | Large) => (Important, ANNEX_II),
            _ => (OutOfScope, BELOW_THRESHOLD),
        },
    }
}

/// The category of an entity active in several sectors: the highest any of them gives, with
/// the rule that gave it.
pub fn classify<'a>(
    sectors: impl IntoIterator<Item = &'a str>,
    size: SizeClass,
    qualified_tsp: bool,
) -> (Category, Rule) {
    classify_entity(
        sectors,
        size,
        &EntityTypeFacts {
            qualified_tsp,
            ..Default::default()
        },
    )
}

/// The category of an entity: the highest that any of its sectors, or any entity-type fact of
/// Art. 2(2)(b)–(e), 2(3), gives. NIS2 classifies the entity, not the activity: one activity
/// that brings it in scope brings all of it. On a tie the first ground is cited, the primary
/// sector before further ones and sectors before the entity-type facts.
pub fn classify_entity<'a>(
    sectors: impl IntoIterator<Item = &'a str>,
    size: SizeClass,
    facts: &EntityTypeFacts,
) -> (Category, Rule) {
    let by_sector = sectors
        .into_iter()
        .map(|s| category_for(s, size, facts.qualified_tsp));
    // Art. 2(3), 3(1)(f): critical entities under the CER Directive.
    let critical = facts
        .critical_entity
        .then_some((Category::Essential, CRITICAL_ENTITY));
    // Art. 2(2)(b)–(e): in scope at any size; essential when the member state identified the
    // entity as essential (Art. 3(1)(e)), otherwise important (Art. 3(2), second sentence).
    let identified = facts.identified.map(|id| {
        let rule = match id.ground {
            IdentificationGround::SoleProvider => SOLE_PROVIDER,
            IdentificationGround::PublicSafetyImpact => PUBLIC_SAFETY,
            IdentificationGround::SystemicRisk => SYSTEMIC_RISK,
            IdentificationGround::SpecificImportance => NATIONAL_IMPORTANCE,
        };
        let category = match id.category {
            IdentifiedAs::Essential => Category::Essential,
            IdentifiedAs::Important => Category::Important,
        };
        (category, rule)
    });
    by_sector
        .chain(critical)
        .chain(identified)
        .fold(None, |best: Option<(Category, Rule)>, next| match best {
            Some(b) if b.0 >= next.0 => Some(b),
            _ => Some(next),
        })
        .unwrap_or((Category::OutOfScope, BELOW_THRESHOLD))
}

/// The law as a table (NIS2 Arts. 2 and 3, Recommendation 2003/361/EC), shared with
/// `tests/law_category.rs`, which runs the same rows through the HTTP API.
#[cfg(test)]
#[path = "../../tests/law/category_table.rs"]
mod law_table;

#[cfg(test)]
mod tests {
    use super::law_table::{self, Kind};
    use super::SizeClass::*;
    use super::*;

    fn size(s: &str) -> SizeClass {
        serde_json::from_value(serde_json::Value::from(s)).expect("a size class")
    }

    fn category(s: &str) -> Category {
        Category::parse(s).expect("a category")
    }

    /// Every registrable code of the taxonomy is in the law table, in the annex the table
    /// gives it, and nothing else is: a code added to the taxonomy fails here until its row
    /// says which provision governs it.
    #[test]
    fn the_law_table_lists_the_whole_taxonomy() {
        let leaves: Vec<&str> = sectors::SECTORS
            .iter()
            .filter(|s| sectors::is_leaf(s.code))
            .map(|s| s.code)
            .collect();
        let listed: Vec<&str> = law_table::SECTORS.iter().map(|(c, _, _)| *c).collect();
        assert_eq!(listed, leaves, "the table lists the taxonomy in its order");
        for (code, annex, _) in law_table::SECTORS {
            let in_taxonomy = match sectors::find(code).map(|s| s.annex) {
                Some(Annex::I) => "I",
                Some(Annex::II) => "II",
                None => "none",
            };
            assert_eq!(in_taxonomy, *annex, "{code}");
        }
    }

    /// NIS2 Art. 2 and 3: every sector code × micro, small, medium, large.
    #[test]
    fn every_sector_and_size_class() {
        for (code, _, kind) in law_table::SECTORS {
            for (size_name, (cat, rule, law)) in
                law_table::SIZES.iter().zip(law_table::expected(*kind))
            {
                let got = category_for(code, size(size_name), false);
                assert_eq!(
                    (got.0, got.1.id),
                    (category(cat), rule),
                    "{code} {size_name}: {law}"
                );
                let via_classify = classify([*code], size(size_name), false);
                assert_eq!(via_classify, got, "{code} {size_name}");
            }
        }
    }

    /// The qualified trust service flag and entities active in several sectors.
    #[test]
    fn size_independent_and_multi_sector_cases() {
        for c in law_table::CASES {
            let got = classify(c.sectors.iter().copied(), size(c.size), c.qualified_tsp);
            assert_eq!(
                (got.0, got.1.id),
                (category(c.category), c.rule),
                "{}",
                c.law
            );
        }
    }

    /// Recommendation 2003/361/EC, Annex Art. 2: both sides of every ceiling.
    #[test]
    fn size_classes_on_both_sides_of_every_ceiling() {
        for c in law_table::SIZE_CASES {
            let facts = SizeFacts {
                declared: c.declared.map(size),
                employees: Some(c.employees),
                annual_turnover_eur: c.turnover,
                balance_sheet_eur: c.balance,
            };
            let (got, rule) = size_class(&facts).expect("a size");
            assert_eq!((got, rule.id), (size(c.size), c.rule), "{}", c.law);
        }
        let declared_only = SizeFacts {
            declared: Some(Small),
            ..Default::default()
        };
        assert_eq!(size_class(&declared_only), Some((Small, SIZE_DECLARED)));
        assert!(size_class(&SizeFacts::default()).is_none());
    }

    /// Art. 2(3), 3(1)(f) (CER critical entities) and Art. 2(2)(b)–(e) with 3(1)(e) and 3(2)
    /// (identified by the member state): in scope at any size, in an Annex I or II sector, and
    /// both sides of each (the same entity without the designation).
    #[test]
    fn critical_and_identified_entities_at_any_size() {
        for c in law_table::DESIGNATION_CASES {
            let identified = c.identification.map(|(ground, category)| {
                serde_json::from_value::<Identification>(serde_json::json!({
                    "ground": ground, "category": category
                }))
                .expect("an identification")
            });
            let facts = EntityTypeFacts {
                critical_entity: c.critical_entity,
                identified,
                ..Default::default()
            };
            let got = classify_entity([c.sector], size(c.size), &facts);
            assert_eq!(
                (got.0, got.1.id),
                (category(c.category), c.rule),
                "{}",
                c.law
            );
        }
    }

    /// Every ground and both categories are in the table, at micro and at large size.
    #[test]
    fn the_designation_table_covers_every_ground_both_ways() {
        for ground in [
            "sole_provider",
            "public_safety_impact",
            "systemic_risk",
            "specific_importance",
        ] {
            for cat in ["essential", "important"] {
                for sz in ["micro", "large"] {
                    assert!(
                        law_table::DESIGNATION_CASES
                            .iter()
                            .any(|c| c.identification == Some((ground, cat)) && c.size == sz),
                        "{ground} {cat} {sz}"
                    );
                }
            }
        }
        for sz in ["micro", "large"] {
            assert!(law_table::DESIGNATION_CASES
                .iter()
                .any(|c| c.critical_entity && c.size == sz));
        }
    }

    /// Every rule id is unique and names its provision.
    #[test]
    fn rules_are_unique_and_cite_the_text() {
        for (i, r) in RULES.iter().enumerate() {
            assert!(RULES[i + 1..].iter().all(|o| o.id != r.id), "{}", r.id);
            assert!(
                r.text.contains("Art.") || r.text.contains("Recommendation"),
                "{} cites its provision",
                r.id
            );
        }
        assert_eq!(
            law_table::expected(Kind::TldDns)[0].1,
            TLD_DNS.id,
            "the table and the rules name the same ids"
        );
    }
}
