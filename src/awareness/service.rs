//! Awareness figures: counts from the incident register's indexed aggregates, limited to the
//! caller's sectors and passed through disclosure control.

use super::model::*;
use super::suppression::{self, Cell};
use crate::auth::{Caller, Role};
use crate::config::AwarenessConfig;
use crate::db::DbConn;
use crate::directory::load_directory;
use crate::error::{AppError, AppResult};
use crate::incidents::repo::{self, GroupCount, Grouping};
use crate::rules::coverage;
use chrono::{DateTime, Utc};

fn n(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn cell(c: &GroupCount) -> Cell {
    Cell {
        incidents: n(c.incidents)
            .saturating_add(n(c.near_misses))
            .saturating_add(n(c.cyber_threats)),
        significant: n(c.significant),
        entities: n(c.entities),
        late: n(c.late),
    }
}

fn group(c: GroupCount, hidden: bool) -> Group {
    let v = |x: i64| (!hidden).then(|| n(x));
    Group {
        incidents: v(c.incidents),
        significant: v(c.significant),
        entities: v(c.entities),
        late: v(c.late),
        near_misses: v(c.near_misses),
        cyber_threats: v(c.cyber_threats),
        cross_border: v(c.cross_border),
        suppressed: hidden,
        key: c.key,
    }
}

/// Suppresses what `threshold` asks (0: nothing) and shapes the groups.
fn publish(counts: Vec<GroupCount>, threshold: u64) -> Vec<Group> {
    let cells: Vec<Cell> = counts.iter().map(cell).collect();
    let hidden = suppression::suppress(&cells, threshold);
    counts
        .into_iter()
        .zip(hidden)
        .map(|(c, h)| group(c, h))
        .collect()
}

fn total(
    conn: &mut DbConn,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    sectors: Option<&[&str]>,
    threshold: u64,
) -> AppResult<Group> {
    let rows = repo::count_by(
        conn,
        Grouping::Total,
        from.naive_utc(),
        to.naive_utc(),
        sectors,
    )?;
    Ok(publish(rows, threshold)
        .into_iter()
        .next()
        .unwrap_or_else(|| group(empty(), false)))
}

fn empty() -> GroupCount {
    GroupCount {
        key: None,
        incidents: 0,
        significant: 0,
        entities: 0,
        late: 0,
        near_misses: 0,
        cyber_threats: 0,
        cross_border: 0,
    }
}

/// The figures of `[from, to)` grouped by `group_by`: national for the national CSIRT,
/// the caller's own sectors (those it is the CSIRT or authority of) for anyone else, with
/// disclosure control.
pub fn awareness(
    conn: &mut DbConn,
    caller: &Caller,
    cfg: &AwarenessConfig,
    group_by: GroupBy,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> AppResult<Awareness> {
    let dir = load_directory(conn)?;
    let (scope, sectors, threshold) = match caller.role {
        Role::NationalCsirt => (AwarenessScope::National, None, 0),
        Role::SectoralCsirt | Role::SupervisoryAuthority => (
            AwarenessScope::Sectoral,
            Some(coverage::sectors_of(&dir, &caller.org)),
            cfg.suppress_below,
        ),
        Role::Entity => {
            return Err(AppError::ForbiddenAction(
                "awareness figures are for CSIRTs and supervisory authorities".into(),
            ))
        }
    };
    let counts = repo::count_by(
        conn,
        group_by.grouping(),
        from.naive_utc(),
        to.naive_utc(),
        sectors.as_deref(),
    )?;
    Ok(Awareness {
        scope,
        from,
        to,
        group_by,
        suppressed_below: (threshold > 1).then_some(threshold),
        groups: publish(counts, threshold),
        total: total(conn, from, to, sectors.as_deref(), threshold)?,
    })
}

/// The Art. 23(9) summary of a quarter for ENISA (national CSIRT only): national figures,
/// with disclosure control because they leave the country.
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
    let mut by = |g: Grouping| -> AppResult<Vec<Group>> {
        Ok(publish(
            repo::count_by(conn, g, from.naive_utc(), to.naive_utc(), None)?,
            t,
        ))
    };
    let by_sector = by(Grouping::Sector)?;
    let by_threat_type = by(Grouping::ThreatType)?;
    let by_root_cause_category = by(Grouping::RootCauseCategory)?;
    let by_category = by(Grouping::Category)?;
    Ok(QuarterlySummary {
        quarter: quarter.to_string(),
        from,
        to,
        suppressed_below: t,
        total: total(conn, from, to, None, t)?,
        by_sector,
        by_threat_type,
        by_root_cause_category,
        by_category,
    })
}

const CSV_HEADER: &str =
    "key,incidents,significant,entities,late,near_misses,cyber_threats,cross_border,suppressed";

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_row(g: &Group) -> String {
    let v = |x: Option<u64>| x.map(|x| x.to_string()).unwrap_or_default();
    format!(
        "{},{},{},{},{},{},{},{},{}",
        csv_field(g.key.as_deref().unwrap_or("")),
        v(g.incidents),
        v(g.significant),
        v(g.entities),
        v(g.late),
        v(g.near_misses),
        v(g.cyber_threats),
        v(g.cross_border),
        g.suppressed
    )
}

/// One line per group, then `total`; a suppressed group has empty counts.
pub fn awareness_csv(a: &Awareness) -> String {
    let mut out = format!("{CSV_HEADER}\r\n");
    for g in &a.groups {
        out.push_str(&csv_row(g));
        out.push_str("\r\n");
    }
    let mut t = a.total.clone();
    t.key = Some("total".into());
    out.push_str(&csv_row(&t));
    out.push_str("\r\n");
    out
}

/// One line per figure, the dimension first (`total`, `sector`, `threat_type`, …).
pub fn quarterly_csv(q: &QuarterlySummary) -> String {
    let mut out = format!("quarter,dimension,{CSV_HEADER}\r\n");
    let mut line = |dim: &str, g: &Group| {
        out.push_str(&format!("{},{dim},{}\r\n", q.quarter, csv_row(g)));
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
    out
}
