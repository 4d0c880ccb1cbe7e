//! The NIS2 sector taxonomy (Directive (EU) 2022/2555, Annexes I and II).
//!
//! Reference data shipped with the service: clients and the rules engine rely on these codes
//! being stable, so a code is never renamed, only added.

use serde::Serialize;
use utoipa::ToSchema;

/// Which annex of the directive lists a sector; it decides the size thresholds of Art. 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum Annex {
    /// Sectors of high criticality.
    #[serde(rename = "I")]
    I,
    /// Other critical sectors.
    #[serde(rename = "II")]
    II,
}

/// One sector or subsector of the taxonomy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sector {
    pub code: &'static str,
    pub name: &'static str,
    pub annex: Annex,
    /// The sector a subsector belongs to; `None` for a sector.
    pub parent: Option<&'static str>,
}

const fn s(code: &'static str, name: &'static str, annex: Annex) -> Sector {
    Sector {
        code,
        name,
        annex,
        parent: None,
    }
}

const fn sub(parent: &'static str, code: &'static str, name: &'static str, annex: Annex) -> Sector {
    Sector {
        code,
        name,
        annex,
        parent: Some(parent),
    }
}

use Annex::{I, II};

/// Every sector and subsector, sectors before their subsectors, in the order of the annexes.
pub static SECTORS: &[Sector] = &[
    // Annex I — sectors of high criticality
    s("energy", "Energy", I),
    sub("energy", "energy.electricity", "Electricity", I),
    sub(
        "energy",
        "energy.district_heating_cooling",
        "District heating and cooling",
        I,
    ),
    sub("energy", "energy.oil", "Oil", I),
    sub("energy", "energy.gas", "Gas", I),
    sub("energy", "energy.hydrogen", "Hydrogen", I),
    s("transport", "Transport", I),
    sub("transport", "transport.air", "Air", I),
    sub("transport", "transport.rail", "Rail", I),
    sub("transport", "transport.water", "Water", I),
    sub("transport", "transport.road", "Road", I),
    s("banking", "Banking", I),
    s(
        "financial_market_infrastructures",
        "Financial market infrastructures",
        I,
    ),
    s("health", "Health", I),
    s("drinking_water", "Drinking water", I),
    s("waste_water", "Waste water", I),
    s("digital_infrastructure", "Digital infrastructure", I),
    sub(
        "digital_infrastructure",
        "digital_infrastructure.ixp",
        "Internet Exchange Point providers",
        I,
    ),
    sub(
        "digital_infrastructure",
        "digital_infrastructure.dns",
        "DNS service providers",
        I,
    ),
    sub(
        "digital_infrastructure",
        "digital_infrastructure.tld",
        "TLD name registries",
        I,
    ),
    sub(
        "digital_infrastructure",
        "digital_infrastructure.cloud",
        "Cloud computing service providers",
        I,
    ),
    sub(
        "digital_infrastructure",
        "digital_infrastructure.data_centre",
        "Data centre service providers",
        I,
    ),
    sub(
        "digital_infrastructure",
        "digital_infrastructure.cdn",
        "Content delivery network providers",
        I,
    ),
    sub(
        "digital_infrastructure",
        "digital_infrastructure.trust_services",
        "Trust service providers",
        I,
    ),
    sub(
        "digital_infrastructure",
        "digital_infrastructure.public_networks",
        "Providers of public electronic communications networks",
        I,
    ),
    sub(
        "digital_infrastructure",
        "digital_infrastructure.public_services",
        "Providers of publicly available electronic communications services",
        I,
    ),
    s(
        "ict_service_management",
        "ICT service management (business-to-business)",
        I,
    ),
    sub(
        "ict_service_management",
        "ict_service_management.msp",
        "Managed service providers",
        I,
    ),
    sub(
        "ict_service_management",
        "ict_service_management.mssp",
        "Managed security service providers",
        I,
    ),
    s("public_administration", "Public administration", I),
    sub(
        "public_administration",
        "public_administration.central",
        "Central government",
        I,
    ),
    sub(
        "public_administration",
        "public_administration.regional",
        "Regional government",
        I,
    ),
    s("space", "Space", I),
    // Annex II — other critical sectors
    s("postal", "Postal and courier services", II),
    s("waste_management", "Waste management", II),
    s(
        "chemicals",
        "Manufacture, production and distribution of chemicals",
        II,
    ),
    s(
        "food",
        "Production, processing and distribution of food",
        II,
    ),
    s("manufacturing", "Manufacturing", II),
    sub(
        "manufacturing",
        "manufacturing.medical_devices",
        "Medical devices and in vitro diagnostic medical devices",
        II,
    ),
    sub(
        "manufacturing",
        "manufacturing.computer_electronic_optical",
        "Computer, electronic and optical products (NACE C26)",
        II,
    ),
    sub(
        "manufacturing",
        "manufacturing.electrical_equipment",
        "Electrical equipment (NACE C27)",
        II,
    ),
    sub(
        "manufacturing",
        "manufacturing.machinery",
        "Machinery and equipment n.e.c. (NACE C28)",
        II,
    ),
    sub(
        "manufacturing",
        "manufacturing.motor_vehicles",
        "Motor vehicles, trailers and semi-trailers (NACE C29)",
        II,
    ),
    sub(
        "manufacturing",
        "manufacturing.other_transport_equipment",
        "Other transport equipment (NACE C30)",
        II,
    ),
    s("digital_providers", "Digital providers", II),
    sub(
        "digital_providers",
        "digital_providers.online_marketplaces",
        "Providers of online marketplaces",
        II,
    ),
    sub(
        "digital_providers",
        "digital_providers.search_engines",
        "Providers of online search engines",
        II,
    ),
    sub(
        "digital_providers",
        "digital_providers.social_networks",
        "Providers of social networking services platforms",
        II,
    ),
    s("research", "Research organisations", II),
];

/// The sector or subsector with this code.
pub fn find(code: &str) -> Option<&'static Sector> {
    SECTORS.iter().find(|s| s.code == code)
}

/// The subsectors of a sector (empty for a subsector or a sector without subsectors).
pub fn children(code: &str) -> impl Iterator<Item = &'static Sector> + '_ {
    SECTORS.iter().filter(move |s| s.parent == Some(code))
}

/// True when an entity may register under this code: a subsector, or a sector that has none.
pub fn is_leaf(code: &str) -> bool {
    find(code).is_some() && children(code).next().is_none()
}

/// A `sector` filter names a code of the taxonomy (an unknown one is a 400, as the document's
/// enum says).
pub fn check_sector_filter(sector: Option<&str>) -> Result<(), crate::error::AppError> {
    match sector {
        Some(s) if find(s).is_none() => Err(crate::error::AppError::bad_request(
            "invalid_query",
            format!("`{s}` is not a sector code; see GET /api/v1/sectors"),
        )),
        _ => Ok(()),
    }
}

crate::formats::named_schema!(
    SectorCode,
    "SectorCode",
    "A sector or subsector code of the NIS2 taxonomy (`GET /api/v1/sectors`).",
    crate::formats::string_enum(
        "A sector or subsector code of the NIS2 taxonomy (`GET /api/v1/sectors`).",
        SECTORS.iter().map(|s| s.code)
    )
);

crate::formats::named_schema!(
    RegistrableSectorCode,
    "RegistrableSectorCode",
    "A code an entity registers under: a subsector, or a sector without subsectors.",
    crate::formats::string_enum(
        "A code an entity registers under: a subsector, or a sector without subsectors.",
        SECTORS.iter().map(|s| s.code).filter(|c| is_leaf(c))
    )
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_parents_exist() {
        for (i, a) in SECTORS.iter().enumerate() {
            assert!(
                SECTORS[i + 1..].iter().all(|b| b.code != a.code),
                "duplicate {}",
                a.code
            );
            if let Some(p) = a.parent {
                let parent = find(p).expect("parent exists");
                assert_eq!(
                    parent.annex, a.annex,
                    "{} and its parent are in one annex",
                    a.code
                );
                assert!(
                    a.code.starts_with(&format!("{p}.")),
                    "{} is named under {p}",
                    a.code
                );
            }
        }
    }

    #[test]
    fn annexes_hold_every_sector_of_the_directive() {
        let top = |annex| {
            SECTORS
                .iter()
                .filter(|s| s.parent.is_none() && s.annex == annex)
                .count()
        };
        assert_eq!(top(Annex::I), 11, "Annex I lists eleven sectors");
        assert_eq!(top(Annex::II), 7, "Annex II lists seven sectors");
        assert_eq!(children("digital_infrastructure").count(), 9);
        assert_eq!(children("manufacturing").count(), 6);
        assert!(is_leaf("health") && is_leaf("energy.electricity") && !is_leaf("energy"));
    }
}
