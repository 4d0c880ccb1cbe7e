//! Essential, important or out of scope: NIS2 Art. 2 and 3, with the size classes of
//! Commission Recommendation 2003/361/EC.

use super::Rule;
use crate::directory::sectors::{self, Annex};
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
    text: "size class as declared by the entity",
};
pub const SIZE_DERIVED: Rule = Rule {
    id: "size.derived",
    text: "size class derived from staff, turnover and balance sheet (Recommendation 2003/361/EC)",
};
pub const QTSP: Rule = Rule {
    id: "category.qualified_tsp",
    text: "qualified trust service provider: essential regardless of size (Art. 3(1)(b))",
};
pub const TLD_DNS: Rule = Rule {
    id: "category.tld_dns",
    text: "TLD name registry or DNS service provider: essential regardless of size (Art. 3(1)(b))",
};
pub const ECN_MEDIUM_LARGE: Rule = Rule {
    id: "category.public_ecn_medium_large",
    text: "public electronic communications provider of medium size or larger: essential (Art. 3(1)(c))",
};
pub const ECN_SMALL: Rule = Rule {
    id: "category.public_ecn_small",
    text: "public electronic communications provider below medium size: important (Art. 2(2)(b)(i), 3(2))",
};
pub const TSP: Rule = Rule {
    id: "category.non_qualified_tsp",
    text: "non-qualified trust service provider below large size: important regardless of size (Art. 2(2)(b)(iii), 3(2))",
};
pub const CENTRAL_GOVERNMENT: Rule = Rule {
    id: "category.central_government",
    text: "public administration entity of central government: essential regardless of size (Art. 3(1)(d))",
};
pub const REGIONAL_GOVERNMENT: Rule = Rule {
    id: "category.regional_government",
    text: "public administration entity at regional level: important (Art. 2(2)(f)(ii), 3(2))",
};
pub const ANNEX_I_LARGE: Rule = Rule {
    id: "category.annex_i_large",
    text: "Annex I sector, large enterprise: essential (Art. 3(1)(a))",
};
pub const ANNEX_I_MEDIUM: Rule = Rule {
    id: "category.annex_i_medium",
    text: "Annex I sector, medium-sized enterprise: important (Art. 3(2))",
};
pub const ANNEX_II: Rule = Rule {
    id: "category.annex_ii_medium_large",
    text: "Annex II sector, medium-sized or large enterprise: important (Art. 3(2))",
};
pub const BELOW_THRESHOLD: Rule = Rule {
    id: "category.below_size_threshold",
    text: "micro or small enterprise in a sector without a size-independent rule: out of scope (Art. 2(1))",
};

/// Every rule this module can cite.
pub const RULES: &[Rule] = &[
    SIZE_DECLARED,
    SIZE_DERIVED,
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
];

/// What the size rules need to know.
#[derive(Debug, Clone, Default)]
pub struct SizeFacts {
    pub declared: Option<SizeClass>,
    pub employees: Option<u32>,
    pub annual_turnover_eur: Option<u64>,
    pub balance_sheet_eur: Option<u64>,
}

/// The enterprise size class: declared if given, else derived from the figures (headcount
/// ceiling, and turnover or balance sheet ceiling when either is known). `None` when there is
/// nothing to go on.
pub fn size_class(f: &SizeFacts) -> Option<(SizeClass, Rule)> {
    if let Some(size) = f.declared {
        return Some((size, SIZE_DECLARED));
    }
    let staff = f.employees?;
    let money_within =
        |turnover_max: u64, balance_max: u64| match (f.annual_turnover_eur, f.balance_sheet_eur) {
            (None, None) => true,
            (t, b) => t.is_some_and(|t| t <= turnover_max) || b.is_some_and(|b| b <= balance_max),
        };
    let size = if staff < 10 && money_within(2_000_000, 2_000_000) {
        SizeClass::Micro
    } else if staff < 50 && money_within(10_000_000, 10_000_000) {
        SizeClass::Small
    } else if staff < 250 && money_within(50_000_000, 43_000_000) {
        SizeClass::Medium
    } else {
        SizeClass::Large
    };
    Some((size, SIZE_DERIVED))
}

/// The category for one sector code and size.
pub fn category_for(sector: &str, size: SizeClass, qualified_tsp: bool) -> (Category, Rule) {
    use Category::*;
    use SizeClass::*;
    let medium_or_larger = size >= Medium;
    match sector {
        "digital_infrastructure.trust_services" if qualified_tsp => (Essential, QTSP),
        "digital_infrastructure.trust_services" if size == Large => (Essential, ANNEX_I_LARGE),
        "digital_infrastructure.trust_services" => (Important, TSP),
        "digital_infrastructure.tld" | "digital_infrastructure.dns" => (Essential, TLD_DNS),
        "digital_infrastructure.public_networks" | "digital_infrastructure.public_services"
            if medium_or_larger =>
        {
            (Essential, ECN_MEDIUM_LARGE)
        }
        "digital_infrastructure.public_networks" | "digital_infrastructure.public_services" => {
            (Important, ECN_SMALL)
        }
        "public_administration.central" => (Essential, CENTRAL_GOVERNMENT),
        "public_administration.regional" => (Important, REGIONAL_GOVERNMENT),
        code => match (sectors::find(code).map(|s| s.annex), size) {
            (Some(Annex::I), Large) => (Essential, ANNEX_I_LARGE),
            (Some(Annex::I), Medium) => (Important, ANNEX_I_MEDIUM),
            (Some(Annex::II), Medium | Large) => (Important, ANNEX_II),
            _ => (OutOfScope, BELOW_THRESHOLD),
        },
    }
}

/// The category of an entity active in several sectors: the highest any of them gives, with
/// the size rule and the rule that gave it.
pub fn classify<'a>(
    sectors: impl IntoIterator<Item = &'a str>,
    size: SizeClass,
    qualified_tsp: bool,
) -> (Category, Rule) {
    sectors
        .into_iter()
        .map(|s| category_for(s, size, qualified_tsp))
        .max_by_key(|(c, _)| *c)
        .unwrap_or((Category::OutOfScope, BELOW_THRESHOLD))
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)] // fixed test values
mod tests {
    use super::Category::*;
    use super::SizeClass::*;
    use super::*;

    /// NIS2 Art. 2–3 as a table: sector, size, qualified TSP → category, rule.
    #[test]
    fn the_category_table() {
        let table: &[(&str, SizeClass, bool, Category, &str)] = &[
            (
                "energy.electricity",
                Large,
                false,
                Essential,
                "category.annex_i_large",
            ),
            (
                "energy.electricity",
                Medium,
                false,
                Important,
                "category.annex_i_medium",
            ),
            (
                "energy.electricity",
                Small,
                false,
                OutOfScope,
                "category.below_size_threshold",
            ),
            (
                "health",
                Micro,
                false,
                OutOfScope,
                "category.below_size_threshold",
            ),
            (
                "manufacturing.machinery",
                Large,
                false,
                Important,
                "category.annex_ii_medium_large",
            ),
            (
                "manufacturing.machinery",
                Medium,
                false,
                Important,
                "category.annex_ii_medium_large",
            ),
            (
                "research",
                Small,
                false,
                OutOfScope,
                "category.below_size_threshold",
            ),
            (
                "digital_infrastructure.trust_services",
                Micro,
                true,
                Essential,
                "category.qualified_tsp",
            ),
            (
                "digital_infrastructure.trust_services",
                Small,
                false,
                Important,
                "category.non_qualified_tsp",
            ),
            (
                "digital_infrastructure.trust_services",
                Large,
                false,
                Essential,
                "category.annex_i_large",
            ),
            (
                "digital_infrastructure.tld",
                Micro,
                false,
                Essential,
                "category.tld_dns",
            ),
            (
                "digital_infrastructure.dns",
                Small,
                false,
                Essential,
                "category.tld_dns",
            ),
            (
                "digital_infrastructure.public_networks",
                Medium,
                false,
                Essential,
                "category.public_ecn_medium_large",
            ),
            (
                "digital_infrastructure.public_services",
                Small,
                false,
                Important,
                "category.public_ecn_small",
            ),
            (
                "public_administration.central",
                Micro,
                false,
                Essential,
                "category.central_government",
            ),
            (
                "public_administration.regional",
                Large,
                false,
                Important,
                "category.regional_government",
            ),
            (
                "digital_infrastructure.cloud",
                Medium,
                false,
                Important,
                "category.annex_i_medium",
            ),
        ];
        for (sector, size, qtsp, category, rule) in table {
            let got = category_for(sector, *size, *qtsp);
            assert_eq!(
                (got.0, got.1.id),
                (*category, *rule),
                "{sector} {size:?} qualified={qtsp}"
            );
        }
    }

    #[test]
    fn the_highest_category_of_all_sectors_wins() {
        let (c, r) = classify(["research", "digital_infrastructure.dns"], Small, false);
        assert_eq!((c, r.id), (Essential, "category.tld_dns"));
    }

    /// Recommendation 2003/361/EC thresholds, on both sides of each boundary.
    #[test]
    fn the_size_table() {
        let f = |e, t, b| SizeFacts {
            declared: None,
            employees: Some(e),
            annual_turnover_eur: t,
            balance_sheet_eur: b,
        };
        let table: &[(SizeFacts, SizeClass)] = &[
            (f(9, Some(2_000_000), None), Micro),
            (f(9, Some(2_000_001), Some(2_000_001)), Small),
            (f(10, None, None), Small),
            (f(49, Some(10_000_000), None), Small),
            (f(50, None, None), Medium),
            (f(249, Some(60_000_000), Some(43_000_000)), Medium),
            (f(249, Some(50_000_001), Some(43_000_001)), Large),
            (f(250, Some(1), Some(1)), Large),
        ];
        for (facts, expected) in table {
            assert_eq!(
                size_class(facts).unwrap(),
                (*expected, SIZE_DERIVED),
                "{facts:?}"
            );
        }
        let declared = SizeFacts {
            declared: Some(Large),
            employees: Some(3),
            ..Default::default()
        };
        assert_eq!(size_class(&declared).unwrap(), (Large, SIZE_DECLARED));
        assert!(size_class(&SizeFacts::default()).is_none());
    }
}
