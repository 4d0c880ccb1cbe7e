//! Awareness figures: counts from the incident register's indexed aggregates, limited to the
//! caller's sectors and passed through disclosure control.

use super::cells::{self, Piece, Sectors};
use super::model::*;
use super::suppression::{self, Figures, UnitCell};
use crate::auth::{Caller, Role};
use crate::config::AwarenessConfig;
use crate::db::DbConn;
use crate::directory::load_directory;
use crate::error::{AppError, AppResult};
use crate::http::csv::{Cell, CsvWriter};
use crate::incidents::repo::Grouping;
use crate::rules::coverage;
use chrono::{DateTime, Datelike, Utc};
use std::collections::BTreeMap;

/// The national CSIRT's figures, summed and united from the period's pieces: nothing is
/// withheld from it. Only keys with notifications are listed (by grouping `total`, always the
/// one group), in the keys' order, unset first.
fn national(pieces: &[Piece], g: Grouping) -> (Vec<Group>, Group) {
    let mut by: BTreeMap<Option<String>, UnitCell> = BTreeMap::new();
    let mut all = UnitCell::default();
    if g == Grouping::Total {
        by.entry(None).or_default();
    }
    for p in pieces {
        by.entry(p.key_in(g))
            .or_default()
            .add(&p.entities, &p.figures);
        all.add(&p.entities, &p.figures);
    }
    let shape = |key: Option<String>, c: &UnitCell| Group {
        withheld_units: None,
        ..published(key, &c.figures, c.entities.len() as u64, 0)
    };
    let groups = by.into_iter().map(|(k, c)| shape(k, &c)).collect();
    (groups, shape(None, &all))
}

/// The sectors whose pieces the national view of `g` reads.
fn national_sectors(g: Grouping) -> Sectors<'static> {
    if g == Grouping::Sector {
        Sectors::EachSector
    } else {
        Sectors::All
    }
}

/// A group as published under disclosure control: the sum of its units' published cells.
fn published(key: Option<String>, f: &Figures, entities: u64, withheld: u32) -> Group {
    Group {
        key,
        incidents: Some(f.incidents),
        significant: Some(f.significant),
        entities: Some(entities),
        late: Some(f.late),
        near_misses: Some(f.near_misses),
        cyber_threats: Some(f.cyber_threats),
        cross_border: Some(f.cross_border),
        suppressed: false,
        withheld_units: Some(withheld),
    }
}

fn withheld(key: Option<String>, units: u32) -> Group {
    Group {
        key,
        incidents: None,
        significant: None,
        entities: None,
        late: None,
        near_misses: None,
        cyber_threats: None,
        cross_border: None,
        suppressed: true,
        withheld_units: Some(units),
    }
}

/// Every key a grouping can have, whether or not anything was reported under it: under
/// disclosure control each unit's table lists them all, so the keys shown say nothing.
fn key_domain(g: Grouping, sectors: &[&str], weeks: &[String]) -> Vec<Option<String>> {
    use crate::incidents::model::{RootCauseCategory, ThreatType};
    use crate::rules::category::Category;
    use crate::rules::deadlines::Stage;
    let some = |v: Vec<&str>| v.into_iter().map(|k| Some(k.to_string())).collect();
    match g {
        Grouping::Sector => some(sectors.to_vec()),
        Grouping::Week => weeks.iter().cloned().map(Some).collect(),
        Grouping::ThreatType => std::iter::once(None)
            .chain(ThreatType::ALL.iter().map(|t| Some(t.as_str().to_string())))
            .collect(),
        Grouping::RootCauseCategory => std::iter::once(None)
            .chain(
                RootCauseCategory::ALL
                    .iter()
                    .map(|t| Some(t.as_str().to_string())),
            )
            .collect(),
        Grouping::Category => some(
            [
                Category::Essential,
                Category::Important,
                Category::OutOfScope,
            ]
            .iter()
            .map(|c| c.as_str())
            .collect(),
        ),
        Grouping::Stage => some(Stage::ALL.iter().map(|s| s.as_str()).collect()),
        Grouping::Total => vec![None],
    }
}

/// Grid units in order, each with its table: key → cell. Keys of the domain come first, in
/// order; a key the rows hold beyond the domain (a sector code of an older taxonomy) joins it.
type UnitTables = BTreeMap<String, BTreeMap<Option<String>, UnitCell>>;

fn unit_tables(
    pieces: &[Piece],
    g: Grouping,
    units: &[String],
    unit_of: impl Fn(&Piece) -> String,
    domain: &[Option<String>],
) -> UnitTables {
    let mut tables: UnitTables = units
        .iter()
        .map(|u| {
            let cells = domain
                .iter()
                .map(|k| (k.clone(), UnitCell::default()))
                .collect();
            (u.clone(), cells)
        })
        .collect();
    for p in pieces {
        let table = tables.entry(unit_of(p)).or_default();
        for k in domain {
            table.entry(k.clone()).or_default();
        }
        table
            .entry(p.key_in(g))
            .or_default()
            .add(&p.entities, &p.figures);
    }
    tables
}

/// The groups and the total of a period under disclosure control: each unit's table is
/// protected on its own ([`suppression::protect`]), then every group, and the total, is the
/// sum of what its units published.
fn protected_groups(tables: &UnitTables, threshold: u64) -> (Vec<Group>, Group) {
    struct Sum {
        figures: Figures,
        entities: u64,
        published: u32,
        withheld: u32,
    }
    let mut sums: BTreeMap<Option<String>, Sum> = BTreeMap::new();
    let mut total = Sum {
        figures: Figures::default(),
        entities: 0,
        published: 0,
        withheld: 0,
    };
    let count = |set: &suppression::EntitySet| set.len() as u64;
    for table in tables.values() {
        let cells: Vec<UnitCell> = table.values().cloned().collect();
        let hidden = suppression::protect(&cells, threshold);
        for ((key, cell), h) in table.iter().zip(hidden) {
            let sum = sums.entry(key.clone()).or_insert(Sum {
                figures: Figures::default(),
                entities: 0,
                published: 0,
                withheld: 0,
            });
            if h {
                sum.withheld = sum.withheld.saturating_add(1);
            } else {
                sum.figures.add(&cell.figures);
                sum.entities = sum.entities.saturating_add(count(&cell.entities));
                sum.published = sum.published.saturating_add(1);
            }
        }
        if suppression::total_published(&cells, threshold) {
            let mut all = UnitCell::default();
            for c in &cells {
                all.figures.add(&c.figures);
                all.entities.union_with(&c.entities);
            }
            total.figures.add(&all.figures);
            total.entities = total.entities.saturating_add(count(&all.entities));
            total.published = total.published.saturating_add(1);
        } else {
            total.withheld = total.withheld.saturating_add(1);
        }
    }
    let shape = |key: Option<String>, s: &Sum| {
        if s.published == 0 {
            withheld(key, s.withheld)
        } else {
            published(key, &s.figures, s.entities, s.withheld)
        }
    };
    let groups = sums.iter().map(|(k, s)| shape(k.clone(), s)).collect();
    (groups, shape(None, &total))
}

/// Monday 00:00 UTC of the ISO week `t` falls in.
pub fn week_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let date = t.date_naive();
    let back = i64::from(date.weekday().num_days_from_monday());
    let monday = date
        .checked_sub_signed(chrono::TimeDelta::days(back))
        .unwrap_or(date);
    monday.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The ISO weeks `[from, to)` covers, both on week starts, as `2026-W05`.
fn weeks_between(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<String> {
    let mut weeks = Vec::new();
    let mut w = from;
    while w < to {
        weeks.push(w.format("%G-W%V").to_string());
        match w.checked_add_signed(chrono::TimeDelta::weeks(1)) {
            Some(next) => w = next,
            None => break,
        }
    }
    weeks
}

/// The period a caller under disclosure control is answered for: the whole ISO weeks that
/// have ended, from the week `from` falls in up to the week `to` falls in (that week left out
/// unless `to` is its very start), never past the start of the current week.
pub fn grid_period(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AppResult<(DateTime<Utc>, DateTime<Utc>)> {
    let from = week_start(from);
    let to = week_start(to.min(now));
    if from >= to {
        return Err(AppError::BadRequest {
            code: "invalid_query",
            detail: "to: under disclosure control figures are given for whole ISO weeks (Monday 00:00 UTC to Monday) that have ended; this period holds none".into(),
            errors: vec![crate::error::FieldError::new(
                "/to",
                "the period must include at least one whole ISO week that has ended",
            )],
        });
    }
    Ok((from, to))
}

/// The figures of `[from, to)` grouped by `group_by`: national for the national CSIRT,
/// the caller's own sectors (those it is the CSIRT or authority of) for anyone else, on the
/// grid of whole ISO weeks and with disclosure control ([`suppression`]).
///
/// `basis` only decides which instant of a notification puts it into the period and a week
/// (when it was reported, or when the entity became aware); the grid and the disclosure
/// control are the same for either.
#[allow(clippy::too_many_arguments)]
pub fn awareness(
    conn: &mut DbConn,
    caller: &Caller,
    cfg: &AwarenessConfig,
    group_by: GroupBy,
    basis: TimeBasis,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> AppResult<Awareness> {
    let dir = load_directory(conn)?;
    let now = crate::db::now();
    let sectors = match caller.role {
        Role::NationalCsirt => {
            let g = group_by.grouping();
            let pieces = cells::pieces(
                conn,
                g,
                basis,
                from.naive_utc(),
                to.naive_utc(),
                national_sectors(g),
                now,
            )?;
            let (groups, total) = national(&pieces, g);
            return Ok(Awareness {
                scope: AwarenessScope::National,
                from,
                to,
                group_by,
                time_basis: basis,
                suppressed_below: None,
                groups,
                total,
            });
        }
        Role::SectoralCsirt | Role::SupervisoryAuthority => coverage::sectors_of(&dir, &caller.org),
        Role::Entity => {
            return Err(AppError::ForbiddenAction(
                "awareness figures are for CSIRTs and supervisory authorities".into(),
            ))
        }
    };
    let threshold = cfg.suppress_below;
    let (from, to) = grid_period(from, to, now.and_utc())?;
    let weeks = weeks_between(from, to);
    let g = group_by.grouping();
    let pieces = cells::pieces(
        conn,
        g,
        basis,
        from.naive_utc(),
        to.naive_utc(),
        Sectors::Only(&sectors),
        now,
    )?;
    let domain = key_domain(g, &sectors, &weeks);
    let tables = unit_tables(&pieces, g, &weeks, |p| p.week.clone(), &domain);
    let (mut groups, total) = protected_groups(&tables, threshold);
    if g == Grouping::Week {
        // A week's table has the one cell of its own week; the others are empty by definition,
        // not withheld, and are left out.
        groups.retain(|gr| gr.key.is_some());
        for gr in &mut groups {
            gr.withheld_units = Some(u32::from(gr.suppressed));
        }
    }
    Ok(Awareness {
        scope: AwarenessScope::Sectoral,
        from,
        to,
        group_by,
        time_basis: basis,
        suppressed_below: (threshold > 1).then_some(threshold),
        groups,
        total,
    })
}

/// The Art. 23(9) summary of a quarter for ENISA (national CSIRT only): national figures,
/// with disclosure control because they leave the country. The grid unit is the quarter
/// itself (quarters never overlap), each table lists every key of its dimension, and each is
/// protected as the awareness tables are ([`suppression`]).
pub fn quarterly(
    conn: &mut DbConn,
    caller: &Caller,
    cfg: &AwarenessConfig,
    quarter: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> AppResult<QuarterlySummary> {
    if caller.role != Role::NationalCsirt {
        return Err(AppError::ForbiddenAction(
            "the quarterly summary is the single point of contact's, the national CSIRT".into(),
        ));
    }
    let t = cfg.suppress_below;
    let unit = vec![quarter.to_string()];
    let leaves: Vec<&str> = crate::sectors::SECTORS
        .iter()
        .filter(|s| crate::sectors::is_leaf(s.code))
        .map(|s| s.code)
        .collect();
    let mut by = |g: Grouping| -> AppResult<(Vec<Group>, Group)> {
        // Always by report time: a quarter's summary, once sent to ENISA, must not change
        // when an incident the entity became aware of in that quarter is reported later.
        let pieces = cells::pieces(
            conn,
            g,
            TimeBasis::Reported,
            from.naive_utc(),
            to.naive_utc(),
            national_sectors(g),
            crate::db::now(),
        )?;
        let domain = key_domain(g, &leaves, &[]);
        let tables = unit_tables(&pieces, g, &unit, |_| quarter.to_string(), &domain);
        let (mut groups, total) = protected_groups(&tables, t);
        for gr in &mut groups {
            gr.withheld_units = None;
        }
        Ok((groups, total))
    };
    let (by_sector, mut total) = by(Grouping::Sector)?;
    total.withheld_units = None;
    let by_threat_type = by(Grouping::ThreatType)?.0;
    let by_root_cause_category = by(Grouping::RootCauseCategory)?.0;
    let by_category = by(Grouping::Category)?.0;
    Ok(QuarterlySummary {
        quarter: quarter.to_string(),
        from,
        to,
        suppressed_below: t,
        total,
        by_sector,
        by_threat_type,
        by_root_cause_category,
        by_category,
    })
}

/// The columns of a group, after any the download puts first.
const CSV_HEADER: [&str; 9] = [
    "key",
    "incidents",
    "significant",
    "entities",
    "late",
    "near_misses",
    "cyber_threats",
    "cross_border",
    "suppressed",
];

/// A group's cells: its key as text (neutralised like any text cell, see [`crate::http::csv`]),
/// its figures as numbers, empty where suppressed.
fn csv_cells(g: &Group) -> [Cell<'_>; 9] {
    [
        Cell::from(g.key.as_deref().unwrap_or("")),
        g.incidents.into(),
        g.significant.into(),
        g.entities.into(),
        g.late.into(),
        g.near_misses.into(),
        g.cyber_threats.into(),
        g.cross_border.into(),
        g.suppressed.into(),
    ]
}

/// One line per group, then `total`; a suppressed group has empty counts.
pub fn awareness_csv(a: &Awareness) -> String {
    let mut out = CsvWriter::rfc4180();
    out.row(CSV_HEADER.map(Cell::Text));
    for g in &a.groups {
        out.row(csv_cells(g));
    }
    let mut t = a.total.clone();
    t.key = Some("total".into());
    out.row(csv_cells(&t));
    out.finish()
}

/// One line per figure, the dimension first (`total`, `sector`, `threat_type`, …).
pub fn quarterly_csv(q: &QuarterlySummary) -> String {
    let mut out = CsvWriter::rfc4180();
    out.row(
        ["quarter", "dimension"]
            .into_iter()
            .chain(CSV_HEADER)
            .map(Cell::Text),
    );
    let mut line = |dim: &str, g: &Group| {
        out.row(
            [Cell::Text(&q.quarter), Cell::Text(dim)]
                .into_iter()
                .chain(csv_cells(g)),
        );
    };
    line("total", &q.total);
    for (dim, groups) in [
        ("sector", &q.by_sector),
        ("threat_type", &q.by_threat_type),
        ("root_cause_category", &q.by_root_cause_category),
        ("category", &q.by_category),
    ] {
        for g in groups {
            line(dim, g);
        }
    }
    out.finish()
}
