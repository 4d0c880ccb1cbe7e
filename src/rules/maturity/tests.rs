//! The tests of the maturity model.

use super::*;
use chrono::TimeZone;

fn model() -> Model {
    Model::built_in()
}

/// Every parameter at `level`.
fn flat(m: &Model, level: u8) -> BTreeMap<String, u8> {
    m.catalogue
        .parameters
        .iter()
        .map(|p| (p.id.clone(), level))
        .collect()
}

/// Exactly the minimum of `tier` everywhere.
fn at(m: &Model, tier: Tier) -> BTreeMap<String, u8> {
    m.tiers.profiles.of(tier).unwrap().clone()
}

fn t(y: i32, mo: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, 0, 0, 0).unwrap()
}

#[test]
fn the_built_in_catalogue_is_sim3_v1_with_44_parameters_in_four_groups() {
    let m = model();
    assert_eq!(m.id(), "sim3-v1");
    assert_eq!(m.catalogue.parameters.len(), 44);
    for (group, count) in [("O", 11), ("H", 7), ("T", 10), ("P", 16)] {
        let ids: Vec<&str> = m
            .catalogue
            .parameters
            .iter()
            .filter(|p| p.group == group)
            .map(|p| p.id.as_str())
            .collect();
        let expected: Vec<String> = (1..=count).map(|n| format!("{group}-{n}")).collect();
        assert_eq!(ids, expected, "group {group}");
    }
    for (id, name) in [
        ("O-1", "Mandate"),
        ("O-2", "Constituency"),
        ("H-3", "Skillset Description"),
        ("T-4", "Incident Tracking System"),
        ("P-11", "Secure Information Handling Process"),
    ] {
        assert_eq!(m.catalogue.parameter(id).unwrap().name, name);
    }
    let levels: Vec<(u8, &str)> = m
        .catalogue
        .scale
        .iter()
        .map(|l| (l.level, l.name.as_str()))
        .collect();
    assert_eq!(
        levels,
        [
            (0, "not available"),
            (1, "implicit"),
            (2, "explicit, internal"),
            (3, "explicit, formalised"),
            (4, "assessable")
        ]
    );
    assert!(
        !m.tiers.official,
        "the shipped profiles say they are an example"
    );
    assert!(m.tiers.description.starts_with("EXAMPLE"));
}

#[test]
fn the_tier_is_the_highest_profile_met_everywhere() {
    let m = model();
    let mut one_short = at(&m, Tier::Intermediate);
    *one_short.get_mut("O-1").unwrap() -= 1;
    let mut above_but_hole = flat(&m, 4);
    above_but_hole.insert("T-5".into(), 0);
    let cases: Vec<(&str, BTreeMap<String, u8>, Tier)> = vec![
        ("nothing", BTreeMap::new(), Tier::None),
        ("all zero", flat(&m, 0), Tier::None),
        ("exactly basic", at(&m, Tier::Basic), Tier::Basic),
        ("intermediate but O-1", one_short, Tier::Basic),
        (
            "exactly intermediate",
            at(&m, Tier::Intermediate),
            Tier::Intermediate,
        ),
        ("exactly advanced", at(&m, Tier::Advanced), Tier::Advanced),
        ("all four", flat(&m, 4), Tier::Advanced),
        (
            "all four but one basic parameter at zero",
            above_but_hole,
            Tier::None,
        ),
    ];
    for (what, scores, want) in cases {
        assert_eq!(m.tier(&scores), want, "{what}");
    }
}

#[test]
fn gaps_name_each_parameter_below_the_next_tier_with_the_level_it_wants() {
    let m = model();
    let mut scores = at(&m, Tier::Basic);
    let (tier, next, gaps) = m.evaluate(&scores);
    assert_eq!((tier, next), (Tier::Basic, Some(Tier::Intermediate)));
    let want = m.gaps_to(Tier::Intermediate, &scores);
    assert_eq!(gaps, want);
    assert!(gaps.iter().all(|g| g.score < g.wanted));
    let o1 = gaps.iter().find(|g| g.parameter == "O-1").unwrap();
    assert_eq!((o1.score, o1.wanted), (1, 3));
    // Raising every gap to what it wants reaches the next tier.
    for g in &gaps {
        scores.insert(g.parameter.clone(), g.wanted);
    }
    assert_eq!(m.tier(&scores), Tier::Intermediate);
    // Advanced has no next tier and no gaps.
    let (tier, next, gaps) = m.evaluate(&flat(&m, 4));
    assert_eq!((tier, next, gaps.len()), (Tier::Advanced, None, 0));
    // No tier: the gaps are those to basic, in catalogue order.
    let (_, next, gaps) = m.evaluate(&BTreeMap::new());
    assert_eq!(next, Some(Tier::Basic));
    assert_eq!(gaps[0].parameter, "O-1");
}

#[test]
fn validity_runs_per_type_in_calendar_months_and_never_overflows() {
    let m = model();
    let at = t(2026, 1, 31);
    assert_eq!(
        m.valid_until(AssessmentType::SelfAssessment, at),
        Some(t(2027, 1, 31))
    );
    assert_eq!(
        m.valid_until(AssessmentType::Peer, at),
        Some(t(2029, 1, 31))
    );
    assert_eq!(
        m.valid_until(AssessmentType::Audit, at),
        Some(t(2029, 1, 31))
    );
    assert_eq!(
        m.valid_until(AssessmentType::Peer, DateTime::<Utc>::MAX_UTC),
        None
    );
}

fn facts(
    id: &str,
    t_: AssessmentType,
    at: DateTime<Utc>,
    until: DateTime<Utc>,
    tier: Tier,
) -> AssessmentFacts {
    AssessmentFacts {
        id: id.into(),
        assessment_type: t_,
        assessed_at: at,
        valid_until: until,
        tier,
    }
}

#[test]
fn compliance_comes_from_the_latest_valid_assessment() {
    use AssessmentType::*;
    let now = t(2027, 6, 1);
    let peer = facts("a", Peer, t(2025, 1, 1), t(2028, 1, 1), Tier::Intermediate);
    let old_self = facts(
        "b",
        SelfAssessment,
        t(2026, 1, 1),
        t(2027, 1, 1),
        Tier::Advanced,
    );
    let low_self = facts(
        "c",
        SelfAssessment,
        t(2027, 3, 1),
        t(2028, 3, 1),
        Tier::Basic,
    );
    type Case = (
        &'static str,
        Tier,
        Vec<AssessmentFacts>,
        Tier,
        bool,
        Option<DateTime<Utc>>,
    );
    let cases: Vec<Case> = vec![
        (
            "no assessment",
            Tier::Intermediate,
            vec![],
            Tier::None,
            false,
            None,
        ),
        (
            "a valid peer review at the required tier",
            Tier::Intermediate,
            vec![peer.clone()],
            Tier::Intermediate,
            true,
            Some(t(2028, 1, 1)),
        ),
        (
            "an expired self-assessment newer than the peer review does not count",
            Tier::Intermediate,
            vec![peer.clone(), old_self.clone()],
            Tier::Intermediate,
            true,
            Some(t(2028, 1, 1)),
        ),
        (
            "a newer valid self-assessment below the required tier",
            Tier::Intermediate,
            vec![peer.clone(), old_self.clone(), low_self.clone()],
            Tier::Basic,
            false,
            Some(t(2028, 3, 1)),
        ),
        (
            "intermediate is not enough for the national CSIRT",
            Tier::Advanced,
            vec![peer.clone()],
            Tier::Intermediate,
            false,
            Some(t(2028, 1, 1)),
        ),
        (
            "everything expired",
            Tier::Basic,
            vec![old_self.clone()],
            Tier::None,
            false,
            None,
        ),
    ];
    for (what, required, list, tier, compliant, due) in cases {
        let s = standing(required, &list, now);
        assert_eq!(
            (s.tier, s.compliant, s.next_due_at),
            (tier, compliant, due),
            "{what}"
        );
    }
    let s = standing(Tier::Intermediate, &[peer.clone(), old_self, low_self], now);
    assert_eq!(s.last_assessment_at, Some(t(2027, 3, 1)));
    assert_eq!(s.last_peer_review_at, Some(t(2025, 1, 1)));
    assert_eq!(s.current.as_deref(), Some("c"));
    // At the moment of expiry the assessment no longer counts.
    let s = standing(Tier::Intermediate, &[peer], t(2028, 1, 1));
    assert_eq!((s.tier, s.compliant), (Tier::None, false));
}

#[test]
fn required_tiers_follow_the_kind_of_csirt() {
    use crate::rules::coverage::OrgKind;
    assert_eq!(required_tier(OrgKind::NationalCsirt), Some(Tier::Advanced));
    assert_eq!(
        required_tier(OrgKind::SectoralCsirt),
        Some(Tier::Intermediate)
    );
    assert_eq!(required_tier(OrgKind::SupervisoryAuthority), None);
}

#[test]
fn broken_files_are_refused_with_the_reason() {
    let tiers: serde_json::Value = serde_json::from_str(TIERS_EXAMPLE).unwrap();
    let cat: serde_json::Value = serde_json::from_str(SIM3_V1).unwrap();
    let with_tiers = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = tiers.clone();
        f(&mut v);
        Model::from_texts(SIM3_V1, &v.to_string())
    };
    let with_cat = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = cat.clone();
        f(&mut v);
        Model::from_texts(&v.to_string(), TIERS_EXAMPLE)
    };
    let cases: Vec<(&str, Result<Model, String>, &str)> = vec![
        (
            "not JSON",
            Model::from_texts("{", TIERS_EXAMPLE),
            "not valid",
        ),
        (
            "a missing minimum",
            with_tiers(&|v| {
                v["profiles"]["basic"]
                    .as_object_mut()
                    .unwrap()
                    .remove("P-16");
            }),
            "no minimum for `P-16`",
        ),
        (
            "an unknown parameter",
            with_tiers(&|v| v["profiles"]["advanced"]["X-1"] = 1.into()),
            "`X-1`",
        ),
        (
            "a level above the scale",
            with_tiers(&|v| {
                v["profiles"]["advanced"]["O-1"] = 5.into();
            }),
            "scale ends at 4",
        ),
        (
            "a higher tier asking less",
            with_tiers(&|v| v["profiles"]["basic"]["O-1"] = 4.into()),
            "cannot ask less",
        ),
        (
            "another model",
            with_tiers(&|v| v["model"] = "sim3-v2".into()),
            "`sim3-v2`",
        ),
        (
            "no validity",
            with_tiers(&|v| v["validity_months"]["peer"] = 0.into()),
            "validity_months.peer",
        ),
        (
            "an unknown field",
            with_tiers(&|v| v["tiers"] = 1.into()),
            "unknown field",
        ),
        (
            "a parameter twice",
            with_cat(&|v| {
                let first = v["parameters"][0].clone();
                v["parameters"].as_array_mut().unwrap().push(first);
            }),
            "listed twice",
        ),
        (
            "a parameter of no group",
            with_cat(&|v| v["parameters"][0]["group"] = "X".into()),
            "group `X`",
        ),
        (
            "a scale that is not 0 to 4",
            with_cat(&|v| {
                v["scale"].as_array_mut().unwrap().pop();
            }),
            "levels 0 to 4",
        ),
        (
            "a malformed id",
            with_cat(&|v| v["parameters"][0]["id"] = "o1".into()),
            "`o1`",
        ),
    ];
    for (what, result, reason) in cases {
        let err = result.err().unwrap_or_else(|| panic!("{what} is refused"));
        assert!(err.contains(reason), "{what}: {err}");
    }
}

#[test]
fn official_tables_in_the_same_format_load_without_code_changes() {
    // Another set of minimums, declared official, with another validity: accepted as is.
    let mut v: serde_json::Value = serde_json::from_str(TIERS_EXAMPLE).unwrap();
    v["id"] = "gcmf-profiles".into();
    v["version"] = "2021-2".into();
    v["official"] = true.into();
    v["validity_months"]["self"] = 24.into();
    for p in ["basic", "intermediate", "advanced"] {
        for (_, level) in v["profiles"][p].as_object_mut().unwrap() {
            *level = 2.into();
        }
    }
    let m = Model::from_texts(SIM3_V1, &v.to_string()).unwrap();
    assert!(m.tiers.official);
    let scores: BTreeMap<String, u8> = flat(&m, 2);
    assert_eq!(m.tier(&scores), Tier::Advanced);
}
