//! Which sectoral CSIRT and which supervisory authority are an entity's own: the organisation
//! whose coverage names the entity's subsector wins over one that names the whole sector.

use super::Rule;
use crate::sectors;

/// The kinds of organisation of the directory (defined with the roles they act in).
pub use crate::auth::scopes::OrgKind;

impl OrgKind {
    /// The function the organisation fills for the sectors it covers. A national CSIRT that
    /// lists coverage is the sectoral CSIRT of those sectors.
    pub fn function(self) -> Function {
        match self {
            OrgKind::NationalCsirt | OrgKind::SectoralCsirt => Function::Csirt,
            OrgKind::SupervisoryAuthority => Function::Authority,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Csirt,
    Authority,
}

/// What the rules need of an organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryOrg {
    pub id: String,
    pub code: String,
    pub name: String,
    pub kind: OrgKind,
    pub coverage: Vec<String>,
}

pub const CSIRT_EXACT: Rule = Rule {
    id: "coverage.csirt.exact",
    text: "the CSIRT whose coverage names the entity's (sub)sector",
};
pub const CSIRT_SECTOR: Rule = Rule {
    id: "coverage.csirt.sector",
    text: "the CSIRT whose coverage names the sector of the entity's subsector",
};
pub const CSIRT_NONE: Rule = Rule {
    id: "coverage.csirt.none",
    text: "no sectoral CSIRT covers the sector: the national CSIRT handles the entity (Art. 10)",
};
pub const AUTHORITY_EXACT: Rule = Rule {
    id: "coverage.authority.exact",
    text: "the authority whose coverage names the entity's (sub)sector",
};
pub const AUTHORITY_SECTOR: Rule = Rule {
    id: "coverage.authority.sector",
    text: "the authority whose coverage names the sector of the entity's subsector",
};
pub const AUTHORITY_NONE: Rule = Rule {
    id: "coverage.authority.none",
    text: "no supervisory authority covers the sector",
};

/// The organisation filling `function` for `sector`, and the rule that chose it.
pub fn assign<'a>(
    dir: &'a [DirectoryOrg],
    sector: &str,
    function: Function,
) -> (Option<&'a DirectoryOrg>, Rule) {
    let (exact, broad, none) = match function {
        Function::Csirt => (CSIRT_EXACT, CSIRT_SECTOR, CSIRT_NONE),
        Function::Authority => (AUTHORITY_EXACT, AUTHORITY_SECTOR, AUTHORITY_NONE),
    };
    let covering = |code: &str| {
        dir.iter()
            .filter(|o| o.kind.function() == function && o.coverage.iter().any(|c| c == code))
            .min_by(|a, b| a.code.cmp(&b.code))
    };
    if let Some(org) = covering(sector) {
        return (Some(org), exact);
    }
    if let Some(parent) = sectors::find(sector).and_then(|s| s.parent) {
        if let Some(org) = covering(parent) {
            return (Some(org), broad);
        }
    }
    (None, none)
}

/// The national CSIRT of the directory, if registered.
pub fn national_csirt(dir: &[DirectoryOrg]) -> Option<&DirectoryOrg> {
    dir.iter().find(|o| o.kind == OrgKind::NationalCsirt)
}

/// Every registrable sector code whose CSIRT or authority is `org_id`: what that organisation
/// may see of the register.
pub fn sectors_of(dir: &[DirectoryOrg], org_id: &str) -> Vec<&'static str> {
    let Some(org) = dir.iter().find(|o| o.id == org_id) else {
        return vec![];
    };
    let function = org.kind.function();
    sectors::SECTORS
        .iter()
        .filter(|s| sectors::is_leaf(s.code))
        .filter(|s| {
            assign(dir, s.code, function)
                .0
                .is_some_and(|o| o.id == org_id)
        })
        .map(|s| s.code)
        .collect()
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)] // fixed test values
mod tests {
    use super::*;

    fn org(id: &str, kind: OrgKind, coverage: &[&str]) -> DirectoryOrg {
        DirectoryOrg {
            id: id.into(),
            code: id.into(),
            name: id.into(),
            kind,
            coverage: coverage.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn directory() -> Vec<DirectoryOrg> {
        vec![
            org("ncsirt", OrgKind::NationalCsirt, &["public_administration"]),
            org("energy-csirt", OrgKind::SectoralCsirt, &["energy"]),
            org(
                "power-csirt",
                OrgKind::SectoralCsirt,
                &["energy.electricity"],
            ),
            org("health-csirt", OrgKind::SectoralCsirt, &["health"]),
            org(
                "energy-authority",
                OrgKind::SupervisoryAuthority,
                &["energy"],
            ),
        ]
    }

    /// Routing by coverage: sector code, function → organisation, rule.
    #[test]
    fn the_coverage_table() {
        let dir = directory();
        let table: &[(&str, Function, Option<&str>, &str)] = &[
            (
                "energy.electricity",
                Function::Csirt,
                Some("power-csirt"),
                "coverage.csirt.exact",
            ),
            (
                "energy.gas",
                Function::Csirt,
                Some("energy-csirt"),
                "coverage.csirt.sector",
            ),
            (
                "health",
                Function::Csirt,
                Some("health-csirt"),
                "coverage.csirt.exact",
            ),
            (
                "public_administration.central",
                Function::Csirt,
                Some("ncsirt"),
                "coverage.csirt.sector",
            ),
            ("space", Function::Csirt, None, "coverage.csirt.none"),
            (
                "energy.electricity",
                Function::Authority,
                Some("energy-authority"),
                "coverage.authority.sector",
            ),
            (
                "health",
                Function::Authority,
                None,
                "coverage.authority.none",
            ),
        ];
        for (sector, function, expected, rule) in table {
            let (got, r) = assign(&dir, sector, *function);
            assert_eq!(
                (got.map(|o| o.code.as_str()), r.id),
                (*expected, *rule),
                "{sector} {function:?}"
            );
        }
    }

    #[test]
    fn an_organisation_sees_only_the_sectors_it_is_assigned() {
        let dir = directory();
        let energy = sectors_of(&dir, "energy-csirt");
        assert!(energy.contains(&"energy.gas") && !energy.contains(&"energy.electricity"));
        assert_eq!(sectors_of(&dir, "power-csirt"), vec!["energy.electricity"]);
        assert!(sectors_of(&dir, "nobody").is_empty());
    }
}
