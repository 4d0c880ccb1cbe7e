//! Benchmarks of the pure rules engine: routing decisions, significance criteria, and the
//! category and coverage rules of an entity registration.
//!
//! Run with `cargo bench --bench rules`; the figures are recorded in `docs/BENCHMARKS.md`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use nis2hub::rules::category::{self, SizeClass, SizeFacts};
use nis2hub::rules::coverage::{self, DirectoryOrg, Function, OrgKind};
use nis2hub::rules::deadlines::{Request, Stage, Submitted};
use nis2hub::rules::routing::{decide, EntityFacts, IncidentFacts, Input};
use nis2hub::rules::ruleset::RuleSet;
use nis2hub::rules::significance::{self, Impact, PastIncident};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, 10, 0, 0).unwrap()
}

fn org(code: &str, kind: OrgKind, coverage: &[&str]) -> DirectoryOrg {
    DirectoryOrg {
        id: format!("org-{code}"),
        code: code.into(),
        name: format!("Organisation {code}"),
        kind,
        coverage: coverage.iter().map(|s| s.to_string()).collect(),
    }
}

/// A realistic directory of 12 organisations, after `examples/directory.json`.
fn directory() -> Vec<DirectoryOrg> {
    use OrgKind::*;
    vec![
        org(
            "ncsirt",
            NationalCsirt,
            &[
                "public_administration",
                "space",
                "postal",
                "waste_management",
                "chemicals",
                "food",
                "manufacturing",
                "research",
            ],
        ),
        org(
            "csirt-energy",
            SectoralCsirt,
            &["energy", "drinking_water", "waste_water"],
        ),
        org("csirt-transport", SectoralCsirt, &["transport"]),
        org(
            "csirt-finance",
            SectoralCsirt,
            &["banking", "financial_market_infrastructures"],
        ),
        org(
            "csirt-health",
            SectoralCsirt,
            &["health", "manufacturing.medical_devices"],
        ),
        org(
            "csirt-digital",
            SectoralCsirt,
            &[
                "digital_infrastructure",
                "ict_service_management",
                "digital_providers",
            ],
        ),
        org(
            "authority-infrastructure",
            SupervisoryAuthority,
            &[
                "energy",
                "transport",
                "drinking_water",
                "waste_water",
                "waste_management",
                "chemicals",
                "food",
                "space",
            ],
        ),
        org(
            "authority-electricity",
            SupervisoryAuthority,
            &["energy.electricity"],
        ),
        org(
            "authority-finance",
            SupervisoryAuthority,
            &["banking", "financial_market_infrastructures"],
        ),
        org(
            "authority-health",
            SupervisoryAuthority,
            &["health", "manufacturing"],
        ),
        org(
            "authority-digital",
            SupervisoryAuthority,
            &[
                "digital_infrastructure",
                "ict_service_management",
                "digital_providers",
                "postal",
                "public_administration",
                "research",
            ],
        ),
        org(
            "authority-telecom",
            SupervisoryAuthority,
            &[
                "digital_infrastructure.public_networks",
                "digital_infrastructure.public_services",
            ],
        ),
    ]
}

/// Twenty earlier incidents within the last year; every fourth shares the root cause.
fn past_incidents() -> Vec<PastIncident> {
    (0..20)
        .map(|i| PastIncident {
            occurred_at: now() - Duration::days(10 + 17 * i),
            root_cause: Some(if i % 4 == 0 {
                "Resolver misconfiguration".to_string()
            } else {
                format!("cause {i}")
            }),
            financial_loss_eur: Some(20_000 * (i as u64 + 1)),
        })
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn bench_decide(c: &mut Criterion) {
    let rs = RuleSet::nis2_default();
    let dir = directory();

    // (a) A simple incident: an electricity entity, its sectoral CSIRT, no impact facts.
    let no_impact = Impact::default();
    let simple = Input {
        rules: &rs,
        directory: &dir[..2],
        entity: EntityFacts {
            country: "NL",
            sectors: vec!["energy.electricity"],
            in_scope: true,
            annual_turnover_eur: None,
        },
        incident: IncidentFacts {
            stage: Stage::EarlyWarning,
            kind: nis2hub::rules::routing::Kind::Incident,
            aware_at: now() - Duration::hours(2),
            occurred_at: now() - Duration::hours(3),
            declared_significant: false,
            affected_member_states: &[],
            affected_sectors: &[],
            impact: &no_impact,
            root_cause: None,
            earlier_criteria: &[],
        },
        past_incidents: &[],
        reports: &[],
        requests: &[],
        now: now(),
    };
    let d = decide(&simple);
    assert!(!d.classification.significant);
    assert_eq!(d.recipients.len(), 1);
    c.bench_function("decide/simple", |b| b.iter(|| decide(black_box(&simple))));

    // (b) A complex one: a DNS provider, significant by facts (45 minutes unavailable, a
    // financial loss, a recurring root cause), 4 other member states, 3 other sectors.
    let impact = Impact {
        financial_loss_eur: Some(650_000),
        annual_turnover_eur: Some(40_000_000),
        unavailability_minutes: Some(45),
        users_affected: Some(1_200_000),
        ..Default::default()
    };
    let states = strings(&["NL", "DE", "BE", "FR", "LU", "DE"]);
    let sectors = strings(&[
        "digital_infrastructure",
        "energy.electricity",
        "banking",
        "health",
    ]);
    let past = past_incidents();
    let aware = now() - Duration::days(5);
    let reports = vec![
        Submitted {
            stage: Stage::EarlyWarning,
            submitted_at: aware + Duration::hours(6),
            handling_ended_at: None,
        },
        Submitted {
            stage: Stage::Notification,
            submitted_at: aware + Duration::hours(40),
            handling_ended_at: None,
        },
        Submitted {
            stage: Stage::Intermediate,
            submitted_at: aware + Duration::days(4),
            handling_ended_at: None,
        },
    ];
    let requests = vec![Request {
        id: "0196a3b2-1111-7000-8000-000000000001".into(),
        requested_at: aware + Duration::days(3),
        due_at: aware + Duration::days(6),
    }];
    let earlier = strings(&["ir2690.art5_a.unavailable"]);
    let complex = Input {
        rules: &rs,
        directory: &dir,
        entity: EntityFacts {
            country: "NL",
            sectors: vec!["digital_infrastructure.dns", "ict_service_management.msp"],
            in_scope: true,
            annual_turnover_eur: None,
        },
        incident: IncidentFacts {
            stage: Stage::Intermediate,
            kind: nis2hub::rules::routing::Kind::Incident,
            aware_at: aware,
            occurred_at: aware - Duration::hours(1),
            declared_significant: false,
            affected_member_states: &states,
            affected_sectors: &sectors,
            impact: &impact,
            root_cause: Some("resolver misconfiguration "),
            earlier_criteria: &earlier,
        },
        past_incidents: &past,
        reports: &reports,
        requests: &requests,
        now: now(),
    };
    let d = decide(&complex);
    let cl = &d.classification;
    assert!(cl.mandatory && cl.significant && cl.cross_border && cl.cross_sectoral);
    assert_eq!(
        cl.significance_criteria,
        [
            "ir2690.art5_a.unavailable",
            "ir2690.art3_1_a.financial_loss",
            "ir2690.art4.recurring",
            "ir2690.art10_a.unavailable",
        ]
    );
    assert_eq!(d.foreign_member_states.len(), 4);
    assert_eq!(d.other_sectors.len(), 3);
    assert_eq!(d.recipients.len(), 7);
    c.bench_function("decide/complex", |b| b.iter(|| decide(black_box(&complex))));

    // (c) The significance criteria alone, for the complex incident's facts.
    let entity_sectors = ["digital_infrastructure.dns", "ict_service_management.msp"];
    let occurred = aware - Duration::hours(1);
    c.bench_function("significance/criteria", |b| {
        b.iter(|| {
            significance::criteria(
                black_box(&rs),
                black_box(&entity_sectors),
                black_box(&impact),
                black_box(Some(40_000_000)),
                black_box(occurred),
                black_box(Some("resolver misconfiguration ")),
                black_box(&past),
            )
        })
    });
}

fn bench_registration(c: &mut Criterion) {
    let dir = directory();
    let facts = SizeFacts {
        declared: None,
        employees: Some(320),
        annual_turnover_eur: Some(85_000_000),
        balance_sheet_eur: Some(60_000_000),
    };
    let sectors = ["energy.electricity", "energy.gas", "transport.rail"];

    // (d) An entity registration: its size class and category, then its CSIRT and authority.
    assert_eq!(
        category::size_class(&facts).map(|(size, _)| size),
        Some(SizeClass::Large)
    );
    assert_eq!(
        category::classify(sectors, SizeClass::Large, false).0,
        category::Category::Essential
    );
    assert_eq!(
        coverage::assign(&dir, sectors[0], Function::Authority)
            .0
            .map(|o| o.code.as_str()),
        Some("authority-electricity")
    );
    c.bench_function("registration/classify_assign", |b| {
        b.iter(|| {
            let facts = black_box(&facts);
            let sectors = black_box(&sectors);
            let dir = black_box(&dir[..]);
            let (size, size_rule) =
                category::size_class(facts).unwrap_or((SizeClass::Micro, category::SIZE_DECLARED));
            let (cat, cat_rule) = category::classify(sectors.iter().copied(), size, false);
            let (csirt, csirt_rule) = coverage::assign(dir, sectors[0], Function::Csirt);
            let (authority, authority_rule) =
                coverage::assign(dir, sectors[0], Function::Authority);
            (
                cat,
                [size_rule.id, cat_rule.id, csirt_rule.id, authority_rule.id],
                csirt.map(|o| o.id.len()),
                authority.map(|o| o.id.len()),
            )
        })
    });
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_decide, bench_registration
}
criterion_main!(benches);
