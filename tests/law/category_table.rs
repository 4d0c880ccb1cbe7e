//! NIS2 Arts. 2 and 3 (scope; essential and important entities), and the size classes of
//! Commission Recommendation 2003/361/EC, as a table of cases with the category and the rule
//! the text gives them.
//!
//! One table, read by the unit tests of `src/rules/category.rs` and by `tests/law_category.rs`
//! (the same rows through `POST /api/v1/entities` on SQLite and PostgreSQL). Pure data: no
//! crate types, so both can include it. The expectations are written from the text of
//! Directive (EU) 2022/2555, not from the code: each sector code is listed with the annex and
//! the provision that governs it, and the whole taxonomy must be listed (a test checks it).
//!
//! The text relied on (Directive (EU) 2022/2555):
//!
//! * Art. 2(1): "This Directive applies to public or private entities of a type referred to in
//!   Annex I or II which qualify as medium-sized enterprises under Article 2 of the Annex to
//!   Recommendation 2003/361/EC, or exceed the ceilings for medium-sized enterprises provided
//!   for in paragraph 1 of that Article, and which provide their services or carry out their
//!   activities within the Union."
//! * Art. 2(2): "Regardless of their size, this Directive also applies to entities of a type
//!   referred to in Annex I or II, where: (a) services are provided by: (i) providers of public
//!   electronic communications networks or of publicly available electronic communications
//!   services; (ii) trust service providers; (iii) top-level domain name registries and domain
//!   name system service providers; (b) the entity is the sole provider in a Member State of a
//!   service which is essential for the maintenance of critical societal or economic
//!   activities; (c) disruption of the service provided by the entity could have a significant
//!   impact on public safety, public security or public health; (d) disruption of the service
//!   provided by the entity could induce a significant systemic risk […]; (e) the entity is
//!   critical because of its specific importance at national or regional level […]; (f) the
//!   entity is a public administration entity: (i) of central government as defined by a
//!   Member State in accordance with national law; or (ii) at regional level as defined by a
//!   Member State in accordance with national law that, following a risk-based assessment,
//!   provides services the disruption of which could have a significant impact on critical
//!   societal or economic activities."
//! * Art. 2(3): "Regardless of their size, this Directive applies to entities identified as
//!   critical entities under Directive (EU) 2022/2557."
//! * Art. 2(4): "Regardless of their size, this Directive applies to entities providing domain
//!   name registration services." (Not a type of Annex I or II, so neither essential nor
//!   important; the taxonomy has no code for it — see the report of this change.)
//! * Art. 3(1): essential are "(a) entities of a type referred to in Annex I which exceed the
//!   ceilings for medium-sized enterprises […]; (b) qualified trust service providers and
//!   top-level domain name registries as well as DNS service providers, regardless of their
//!   size; (c) providers of public electronic communications networks or of publicly available
//!   electronic communications services which qualify as medium-sized enterprises […]; (d)
//!   public administration entities referred to in Article 2(2), point (f)(i); (e) any other
//!   entities of a type referred to in Annex I or II that are identified by a Member State as
//!   essential entities pursuant to Article 2(2), points (b) to (e); (f) entities identified as
//!   critical entities under Directive (EU) 2022/2557, referred to in Article 2(3) […]".
//! * Art. 3(2): "entities of a type referred to in Annex I or II which do not qualify as
//!   essential entities pursuant to paragraph 1 of this Article shall be considered to be
//!   important entities. This includes entities identified by Member States as important
//!   entities pursuant to Article 2(2), points (b) to (e)."
//!
//! Recommendation 2003/361/EC, Annex, Art. 2: medium "fewer than 250 persons and […] an annual
//! turnover not exceeding EUR 50 million, and/or an annual balance sheet total not exceeding
//! EUR 43 million"; small "fewer than 50 persons and […] annual turnover and/or annual balance
//! sheet total does not exceed EUR 10 million"; micro "fewer than 10 persons and […] annual
//! turnover and/or annual balance sheet total does not exceed EUR 2 million".
#![allow(dead_code)]

/// What the text says of a sector code: which provision decides its category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An Annex I type with no size-independent provision: the size cap of Art. 2(1), and
    /// Art. 3(1)(a) (large → essential) or 3(2) (medium → important).
    AnnexI,
    /// An Annex II type: the size cap of Art. 2(1), and Art. 3(2) (medium or large → important).
    AnnexII,
    /// Annex I point 8, public electronic communications networks or services: Art. 2(2)(a)(i)
    /// (any size), 3(1)(c) (medium → essential), 3(1)(a) (large → essential), 3(2) (below).
    PublicEcn,
    /// Annex I point 8, trust service providers (not qualified): Art. 2(2)(a)(ii) (any size),
    /// 3(1)(a) (large → essential), 3(2) (below).
    TrustServices,
    /// Annex I point 8, TLD name registries and DNS service providers: Art. 2(2)(a)(iii),
    /// 3(1)(b) (essential regardless of size).
    TldDns,
    /// Annex I point 10, central government: Art. 2(2)(f)(i), 3(1)(d).
    CentralGovernment,
    /// Annex I point 10, regional level: Art. 2(2)(f)(ii), 3(2).
    RegionalGovernment,
}

/// Every registrable code of the taxonomy, with its annex and its kind. The annex is the one
/// of Directive (EU) 2022/2555 (Annex I: sectors of high criticality; Annex II: other
/// critical sectors), written here from the text and checked against the taxonomy.
pub const SECTORS: &[(&str, &str, Kind)] = &[
    // Annex I point 1, energy
    ("energy.electricity", "I", Kind::AnnexI),
    ("energy.district_heating_cooling", "I", Kind::AnnexI),
    ("energy.oil", "I", Kind::AnnexI),
    ("energy.gas", "I", Kind::AnnexI),
    ("energy.hydrogen", "I", Kind::AnnexI),
    // Annex I point 2, transport
    ("transport.air", "I", Kind::AnnexI),
    ("transport.rail", "I", Kind::AnnexI),
    ("transport.water", "I", Kind::AnnexI),
    ("transport.road", "I", Kind::AnnexI),
    // Annex I points 3–7
    ("banking", "I", Kind::AnnexI),
    ("financial_market_infrastructures", "I", Kind::AnnexI),
    ("health", "I", Kind::AnnexI),
    ("drinking_water", "I", Kind::AnnexI),
    ("waste_water", "I", Kind::AnnexI),
    // Annex I point 8, digital infrastructure
    ("digital_infrastructure.ixp", "I", Kind::AnnexI),
    ("digital_infrastructure.dns", "I", Kind::TldDns),
    ("digital_infrastructure.tld", "I", Kind::TldDns),
    ("digital_infrastructure.cloud", "I", Kind::AnnexI),
    ("digital_infrastructure.data_centre", "I", Kind::AnnexI),
    ("digital_infrastructure.cdn", "I", Kind::AnnexI),
    (
        "digital_infrastructure.trust_services",
        "I",
        Kind::TrustServices,
    ),
    (
        "digital_infrastructure.public_networks",
        "I",
        Kind::PublicEcn,
    ),
    (
        "digital_infrastructure.public_services",
        "I",
        Kind::PublicEcn,
    ),
    // Annex I point 9, ICT service management (business-to-business)
    ("ict_service_management.msp", "I", Kind::AnnexI),
    ("ict_service_management.mssp", "I", Kind::AnnexI),
    // Annex I point 10, public administration
    (
        "public_administration.central",
        "I",
        Kind::CentralGovernment,
    ),
    (
        "public_administration.regional",
        "I",
        Kind::RegionalGovernment,
    ),
    // Annex I point 11, space
    ("space", "I", Kind::AnnexI),
    // Annex II points 1–4
    ("postal", "II", Kind::AnnexII),
    ("waste_management", "II", Kind::AnnexII),
    ("chemicals", "II", Kind::AnnexII),
    ("food", "II", Kind::AnnexII),
    // Annex II point 5, manufacturing
    ("manufacturing.medical_devices", "II", Kind::AnnexII),
    (
        "manufacturing.computer_electronic_optical",
        "II",
        Kind::AnnexII,
    ),
    ("manufacturing.electrical_equipment", "II", Kind::AnnexII),
    ("manufacturing.machinery", "II", Kind::AnnexII),
    ("manufacturing.motor_vehicles", "II", Kind::AnnexII),
    (
        "manufacturing.other_transport_equipment",
        "II",
        Kind::AnnexII,
    ),
    // Annex II point 6, digital providers
    ("digital_providers.online_marketplaces", "II", Kind::AnnexII),
    ("digital_providers.search_engines", "II", Kind::AnnexII),
    ("digital_providers.social_networks", "II", Kind::AnnexII),
    // Annex II point 7, research
    ("research", "II", Kind::AnnexII),
];

/// The size classes, smallest first.
pub const SIZES: [&str; 4] = ["micro", "small", "medium", "large"];

/// Per kind, per size class (micro, small, medium, large): category, rule id, provision.
pub fn expected(kind: Kind) -> [(&'static str, &'static str, &'static str); 4] {
    const OUT: (&str, &str, &str) = (
        "out_of_scope",
        "category.below_size_threshold",
        "Art. 2(1): below the medium-sized ceilings, no size-independent case",
    );
    match kind {
        Kind::AnnexI => [
            OUT,
            OUT,
            (
                "important",
                "category.annex_i_medium",
                "Art. 2(1) medium-sized; Art. 3(2)",
            ),
            (
                "essential",
                "category.annex_i_large",
                "Art. 3(1)(a): Annex I, exceeds the medium-sized ceilings",
            ),
        ],
        Kind::AnnexII => {
            let important = (
                "important",
                "category.annex_ii_medium_large",
                "Art. 2(1) medium-sized or above; Art. 3(2)",
            );
            [OUT, OUT, important, important]
        }
        Kind::PublicEcn => {
            let below = (
                "important",
                "category.public_ecn_small",
                "Art. 2(2)(a)(i) regardless of size; Art. 3(2)",
            );
            [
                below,
                below,
                (
                    "essential",
                    "category.public_ecn_medium_large",
                    "Art. 3(1)(c): qualifies as medium-sized",
                ),
                (
                    "essential",
                    "category.public_ecn_medium_large",
                    "Art. 3(1)(a): Annex I, exceeds the medium-sized ceilings",
                ),
            ]
        }
        Kind::TrustServices => {
            let below = (
                "important",
                "category.non_qualified_tsp",
                "Art. 2(2)(a)(ii) regardless of size; Art. 3(2)",
            );
            [
                below,
                below,
                below,
                (
                    "essential",
                    "category.annex_i_large",
                    "Art. 3(1)(a): Annex I, exceeds the medium-sized ceilings",
                ),
            ]
        }
        Kind::TldDns => {
            [(
                "essential",
                "category.tld_dns",
                "Art. 2(2)(a)(iii); Art. 3(1)(b) regardless of size",
            ); 4]
        }
        Kind::CentralGovernment => {
            [(
                "essential",
                "category.central_government",
                "Art. 2(2)(f)(i); Art. 3(1)(d) regardless of size",
            ); 4]
        }
        // Art. 2(2)(f)(ii) leaves the regional level to the member state's risk-based
        // assessment; an entity registered under this code is read as one the member state
        // has so identified (the register is the list of Art. 3(3)). Art. 3(1)(d) names only
        // point (f)(i) as essential, so the regional level is important (Art. 3(2)) at any
        // size: public administration is not an enterprise of Recommendation 2003/361/EC,
        // and its scope comes from Art. 2(2)(f), not the size cap. A member state that
        // identifies one as essential does so under Art. 2(2)(e), 3(1)(e).
        Kind::RegionalGovernment => {
            [(
                "important",
                "category.regional_government",
                "Art. 2(2)(f)(ii); Art. 3(2) regardless of size",
            ); 4]
        }
    }
}

/// A case beyond one sector × one size: several sectors, or the qualified trust service flag.
pub struct Case {
    pub law: &'static str,
    /// The primary sector first.
    pub sectors: &'static [&'static str],
    pub size: &'static str,
    pub qualified_tsp: bool,
    pub category: &'static str,
    pub rule: &'static str,
}

/// Size-independent cases that need more than a sector code, and entities in several sectors
/// (the category is that of the entity, the highest any of its activities gives).
pub const CASES: &[Case] = &[
    // Art. 3(1)(b): "qualified trust service providers […] regardless of their size".
    Case {
        law: "Art. 3(1)(b) qualified TSP, micro",
        sectors: &["digital_infrastructure.trust_services"],
        size: "micro",
        qualified_tsp: true,
        category: "essential",
        rule: "category.qualified_tsp",
    },
    Case {
        law: "Art. 3(1)(b) qualified TSP, small",
        sectors: &["digital_infrastructure.trust_services"],
        size: "small",
        qualified_tsp: true,
        category: "essential",
        rule: "category.qualified_tsp",
    },
    Case {
        law: "Art. 3(1)(b) qualified TSP, medium",
        sectors: &["digital_infrastructure.trust_services"],
        size: "medium",
        qualified_tsp: true,
        category: "essential",
        rule: "category.qualified_tsp",
    },
    Case {
        law: "Art. 3(1)(b) qualified TSP, large",
        sectors: &["digital_infrastructure.trust_services"],
        size: "large",
        qualified_tsp: true,
        category: "essential",
        rule: "category.qualified_tsp",
    },
    // Art. 3(1)(b) through an additional activity: a small manufacturer that also runs DNS.
    Case {
        law: "Art. 2(2)(a)(iii), 3(1)(b) as a further activity",
        sectors: &["manufacturing.machinery", "digital_infrastructure.dns"],
        size: "small",
        qualified_tsp: false,
        category: "essential",
        rule: "category.tld_dns",
    },
    // Art. 2(2)(a)(i), 3(2): a small electricity supplier that also sells telephony.
    Case {
        law: "Art. 2(2)(a)(i), 3(2) as a further activity",
        sectors: &[
            "energy.electricity",
            "digital_infrastructure.public_services",
        ],
        size: "small",
        qualified_tsp: false,
        category: "important",
        rule: "category.public_ecn_small",
    },
    // Art. 3(1)(b) beats Art. 3(2): a medium hospital group that is also a qualified TSP.
    Case {
        law: "Art. 3(1)(b) beats Art. 3(2)",
        sectors: &["health", "digital_infrastructure.trust_services"],
        size: "medium",
        qualified_tsp: true,
        category: "essential",
        rule: "category.qualified_tsp",
    },
    // Art. 3(1)(a) beats Art. 3(2): a large Annex II manufacturer with an Annex I activity.
    Case {
        law: "Art. 3(1)(a) beats Art. 3(2)",
        sectors: &["manufacturing.motor_vehicles", "energy.hydrogen"],
        size: "large",
        qualified_tsp: false,
        category: "essential",
        rule: "category.annex_i_large",
    },
    // Two grounds of the same rank: the primary sector's is cited.
    Case {
        law: "Art. 3(1)(b), two grounds: the primary sector's is cited",
        sectors: &[
            "digital_infrastructure.tld",
            "digital_infrastructure.trust_services",
        ],
        size: "micro",
        qualified_tsp: true,
        category: "essential",
        rule: "category.tld_dns",
    },
    // Below the size cap in every activity: out of scope.
    Case {
        law: "Art. 2(1): small in an Annex I and an Annex II sector",
        sectors: &["research", "health"],
        size: "small",
        qualified_tsp: false,
        category: "out_of_scope",
        rule: "category.below_size_threshold",
    },
];

/// A size derived from figures (Recommendation 2003/361/EC, Annex Art. 2), or declared and
/// checked against them.
pub struct SizeCase {
    pub law: &'static str,
    pub declared: Option<&'static str>,
    pub employees: u32,
    pub turnover: Option<u64>,
    pub balance: Option<u64>,
    pub size: &'static str,
    pub rule: &'static str,
}

const fn derived(
    law: &'static str,
    employees: u32,
    turnover: Option<u64>,
    balance: Option<u64>,
    size: &'static str,
) -> SizeCase {
    SizeCase {
        law,
        declared: None,
        employees,
        turnover,
        balance,
        size,
        rule: "size.derived",
    }
}

/// Both sides of every ceiling: headcount (fewer than 10 / 50 / 250), turnover (not more than
/// EUR 2 / 10 / 50 million) and balance sheet (not more than EUR 2 / 10 / 43 million), and the
/// "and/or" between turnover and balance sheet both ways.
pub const SIZE_CASES: &[SizeCase] = &[
    // Headcount alone (no financial figure given).
    derived("micro: fewer than 10 persons", 9, None, None, "micro"),
    derived("10 persons is not micro", 10, None, None, "small"),
    derived("small: fewer than 50 persons", 49, None, None, "small"),
    derived("50 persons is not small", 50, None, None, "medium"),
    derived("medium: fewer than 250 persons", 249, None, None, "medium"),
    derived(
        "250 persons exceeds the medium ceiling",
        250,
        None,
        None,
        "large",
    ),
    derived(
        "headcount decides alone above the ceiling",
        250,
        Some(1),
        Some(1),
        "large",
    ),
    // Micro: turnover and/or balance sheet not exceeding EUR 2 million.
    derived("micro: turnover EUR 2 m", 9, Some(2_000_000), None, "micro"),
    derived(
        "micro: turnover above EUR 2 m",
        9,
        Some(2_000_001),
        None,
        "small",
    ),
    derived("micro: balance EUR 2 m", 9, None, Some(2_000_000), "micro"),
    derived(
        "micro: balance above EUR 2 m",
        9,
        None,
        Some(2_000_001),
        "small",
    ),
    derived(
        "micro: turnover above, balance within (and/or)",
        9,
        Some(5_000_000),
        Some(2_000_000),
        "micro",
    ),
    derived(
        "micro: turnover within, balance above (and/or)",
        9,
        Some(2_000_000),
        Some(5_000_000),
        "micro",
    ),
    derived(
        "micro: both above",
        9,
        Some(2_000_001),
        Some(2_000_001),
        "small",
    ),
    // Small: turnover and/or balance sheet not exceeding EUR 10 million.
    derived(
        "small: turnover EUR 10 m",
        49,
        Some(10_000_000),
        None,
        "small",
    ),
    derived(
        "small: turnover above EUR 10 m",
        49,
        Some(10_000_001),
        None,
        "medium",
    ),
    derived(
        "small: turnover above, balance within (and/or)",
        49,
        Some(30_000_000),
        Some(10_000_000),
        "small",
    ),
    derived(
        "small: turnover within, balance above (and/or)",
        49,
        Some(10_000_000),
        Some(30_000_000),
        "small",
    ),
    derived(
        "small: both above",
        49,
        Some(10_000_001),
        Some(10_000_001),
        "medium",
    ),
    // Medium: turnover not exceeding EUR 50 million and/or balance not exceeding EUR 43 million.
    derived(
        "medium: turnover EUR 50 m",
        249,
        Some(50_000_000),
        None,
        "medium",
    ),
    derived(
        "medium: turnover above EUR 50 m",
        249,
        Some(50_000_001),
        None,
        "large",
    ),
    derived(
        "medium: balance EUR 43 m",
        249,
        None,
        Some(43_000_000),
        "medium",
    ),
    derived(
        "medium: balance above EUR 43 m",
        249,
        None,
        Some(43_000_001),
        "large",
    ),
    derived(
        "medium: turnover above, balance within (and/or)",
        249,
        Some(60_000_000),
        Some(43_000_000),
        "medium",
    ),
    derived(
        "medium: turnover within, balance above (and/or)",
        249,
        Some(50_000_000),
        Some(60_000_000),
        "medium",
    ),
    derived(
        "medium: both above",
        249,
        Some(50_000_001),
        Some(43_000_001),
        "large",
    ),
    // A declaration and figures. The figures are the test of the Recommendation; a declared
    // class above them stands (it may count partner and linked enterprises, Annex Art. 6,
    // which the figures here do not), one below them does not.
    SizeCase {
        law: "declared above the figures stands (linked enterprises)",
        declared: Some("large"),
        employees: 3,
        turnover: None,
        balance: None,
        size: "large",
        rule: "size.declared",
    },
    SizeCase {
        law: "declared equal to the figures",
        declared: Some("medium"),
        employees: 60,
        turnover: Some(20_000_000),
        balance: None,
        size: "medium",
        rule: "size.declared",
    },
    SizeCase {
        law: "declared small, 300 persons: the headcount exceeds the medium ceiling",
        declared: Some("small"),
        employees: 300,
        turnover: None,
        balance: None,
        size: "large",
        rule: "size.figures_above_declared",
    },
    SizeCase {
        law: "declared micro, 40 persons and EUR 9 m: small by the figures",
        declared: Some("micro"),
        employees: 40,
        turnover: Some(9_000_000),
        balance: None,
        size: "small",
        rule: "size.figures_above_declared",
    },
];

/// A size-independent case that no sector code can say: a designation by the member state,
/// registered by the national CSIRT. `identification` is (ground, category) as the register's
/// `member_state_identification` spells them.
pub struct DesignationCase {
    pub law: &'static str,
    pub sector: &'static str,
    pub size: &'static str,
    pub critical_entity: bool,
    pub identification: Option<(&'static str, &'static str)>,
    pub category: &'static str,
    pub rule: &'static str,
}

const fn designated(
    law: &'static str,
    sector: &'static str,
    size: &'static str,
    critical_entity: bool,
    identification: Option<(&'static str, &'static str)>,
    category: &'static str,
    rule: &'static str,
) -> DesignationCase {
    DesignationCase {
        law,
        sector,
        size,
        critical_entity,
        identification,
        category,
        rule,
    }
}

/// Art. 2(3) with 3(1)(f), and Art. 2(2)(b)–(e) with 3(1)(e) and 3(2): every ground × essential
/// or important × micro or large, and both sides of each (the same entity without the
/// designation). Annex II `food` is the sector where a designation decides both ways: micro it
/// is out of scope by Art. 2(1), large it is important by Art. 3(2), so only Art. 3(1)(e) or
/// (f) makes it essential; Annex I rows show that Art. 3(1)(a) is cited first on a tie.
#[rustfmt::skip]
pub const DESIGNATION_CASES: &[DesignationCase] = &[
    // Both sides: no designation.
    designated("Art. 2(1): micro Annex II, no designation", "food", "micro", false, None, "out_of_scope", "category.below_size_threshold"),
    designated("Art. 3(2): large Annex II, no designation", "food", "large", false, None, "important", "category.annex_ii_medium_large"),
    designated("Art. 2(1): micro Annex I, no designation", "drinking_water", "micro", false, None, "out_of_scope", "category.below_size_threshold"),
    // Art. 2(3): "Regardless of their size, this Directive applies to entities identified as
    // critical entities under Directive (EU) 2022/2557"; Art. 3(1)(f): they are essential.
    designated("Art. 2(3), 3(1)(f): micro critical entity, Annex II", "food", "micro", true, None, "essential", "category.critical_entity"),
    designated("Art. 2(3), 3(1)(f): large critical entity, Annex II (beats 3(2))", "food", "large", true, None, "essential", "category.critical_entity"),
    designated("Art. 2(3), 3(1)(f): micro critical entity, Annex I", "drinking_water", "micro", true, None, "essential", "category.critical_entity"),
    designated("Art. 3(1)(a) cited first: large critical entity, Annex I", "drinking_water", "large", true, None, "essential", "category.annex_i_large"),
    // Art. 2(2)(b): "the entity is the sole provider in a Member State of a service which is
    // essential for the maintenance of critical societal or economic activities".
    designated("Art. 2(2)(b), 3(1)(e): sole provider, essential, micro", "food", "micro", false, Some(("sole_provider", "essential")), "essential", "category.sole_provider"),
    designated("Art. 2(2)(b), 3(1)(e): sole provider, essential, large", "food", "large", false, Some(("sole_provider", "essential")), "essential", "category.sole_provider"),
    designated("Art. 2(2)(b), 3(2): sole provider, important, micro", "food", "micro", false, Some(("sole_provider", "important")), "important", "category.sole_provider"),
    designated("Art. 2(2)(b), 3(2): sole provider, important, large (3(2) either way: the sector cited)", "food", "large", false, Some(("sole_provider", "important")), "important", "category.annex_ii_medium_large"),
    // Art. 2(2)(c): "disruption of the service provided by the entity could have a significant
    // impact on public safety, public security or public health".
    designated("Art. 2(2)(c), 3(1)(e): public safety, essential, micro", "food", "micro", false, Some(("public_safety_impact", "essential")), "essential", "category.public_safety_impact"),
    designated("Art. 2(2)(c), 3(1)(e): public safety, essential, large", "food", "large", false, Some(("public_safety_impact", "essential")), "essential", "category.public_safety_impact"),
    designated("Art. 2(2)(c), 3(2): public safety, important, micro", "food", "micro", false, Some(("public_safety_impact", "important")), "important", "category.public_safety_impact"),
    designated("Art. 2(2)(c), 3(2): public safety, important, large (the sector cited)", "food", "large", false, Some(("public_safety_impact", "important")), "important", "category.annex_ii_medium_large"),
    // Art. 2(2)(d): "disruption of the service provided by the entity could induce a
    // significant systemic risk, in particular for sectors where such disruption could have a
    // cross-border impact".
    designated("Art. 2(2)(d), 3(1)(e): systemic risk, essential, micro", "food", "micro", false, Some(("systemic_risk", "essential")), "essential", "category.systemic_risk"),
    designated("Art. 2(2)(d), 3(1)(e): systemic risk, essential, large", "food", "large", false, Some(("systemic_risk", "essential")), "essential", "category.systemic_risk"),
    designated("Art. 2(2)(d), 3(2): systemic risk, important, micro", "food", "micro", false, Some(("systemic_risk", "important")), "important", "category.systemic_risk"),
    designated("Art. 2(2)(d), 3(2): systemic risk, important, large (the sector cited)", "food", "large", false, Some(("systemic_risk", "important")), "important", "category.annex_ii_medium_large"),
    // Art. 2(2)(e): "the entity is critical because of its specific importance at national or
    // regional level for the particular sector or type of service, or for other
    // interdependent sectors in the Member State".
    designated("Art. 2(2)(e), 3(1)(e): specific importance, essential, micro", "food", "micro", false, Some(("specific_importance", "essential")), "essential", "category.specific_importance"),
    designated("Art. 2(2)(e), 3(1)(e): specific importance, essential, large", "food", "large", false, Some(("specific_importance", "essential")), "essential", "category.specific_importance"),
    designated("Art. 2(2)(e), 3(2): specific importance, important, micro", "food", "micro", false, Some(("specific_importance", "important")), "important", "category.specific_importance"),
    designated("Art. 2(2)(e), 3(2): specific importance, important, large (the sector cited)", "food", "large", false, Some(("specific_importance", "important")), "important", "category.annex_ii_medium_large"),
    // Identified as important, but the sector makes it essential: Art. 3(1)(a) and (c) win.
    designated("Art. 3(1)(a) beats an identification as important", "drinking_water", "large", false, Some(("systemic_risk", "important")), "essential", "category.annex_i_large"),
    designated("Art. 3(1)(c) beats an identification as important", "digital_infrastructure.public_networks", "medium", false, Some(("sole_provider", "important")), "essential", "category.public_ecn_medium_large"),
    // Art. 2(2)(f)(ii) regional administration, important at any size, made essential by an
    // identification under Art. 2(2)(e), 3(1)(e).
    designated("Art. 2(2)(e), 3(1)(e): regional administration identified as essential", "public_administration.regional", "micro", false, Some(("specific_importance", "essential")), "essential", "category.specific_importance"),
];
