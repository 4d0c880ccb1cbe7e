//! Awareness figures kept per day and per ISO week ("cells"), so that what a period costs
//! does not follow the incidents reported in it (docs/ARCHITECTURE.md, "Awareness figures
//! from kept cells").
//!
//! A cell holds the figures of one day or week, one basis (report or awareness time), one
//! grouping, one sector (or `*`, all of them) and one key, with the exact set of entities
//! behind them as numbers ([`EntitySet`]), so distinct entities over many cells are a union,
//! not a sum. A period is answered from
//!
//! - the cells of its whole ISO weeks and whole days that have ended and are not *stale*, and
//! - the incidents themselves (`incidents::repo::count_by_entity`) for the rest: the parts of
//!   a day at either end, today, and any stale day.
//!
//! A day is stale when an incident of it was written after its cells were made: triggers on
//! `incidents` mark it in `awareness_stale` in the writing transaction (no round trip), and
//! [`rebuild`] (the sweep) makes its cells again from the incidents and clears the mark. So
//! an answer never depends on whether the sweep has run; only its cost does.

use super::suppression::{EntitySet, Figures};
use crate::db::DbConn;
use crate::error::AppResult;
use crate::incidents::repo::{self, EntityFigures, Grouping, TimeBasis};
use crate::schema::{awareness_cells as cells, awareness_stale as stale};
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Weekday};
use diesel::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// The groupings cells are kept for. By sector and by week need none of their own: they are
/// the `total` cells of each sector, and of each week.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kept {
    Total,
    ThreatType,
    RootCauseCategory,
    Category,
    Stage,
}

const KEPT: [Kept; 5] = [
    Kept::Total,
    Kept::ThreatType,
    Kept::RootCauseCategory,
    Kept::Category,
    Kept::Stage,
];

impl Kept {
    fn name(self) -> &'static str {
        match self {
            Kept::Total => "total",
            Kept::ThreatType => "threat_type",
            Kept::RootCauseCategory => "root_cause_category",
            Kept::Category => "category",
            Kept::Stage => "stage",
        }
    }

    fn of(g: Grouping) -> Kept {
        match g {
            Grouping::Sector | Grouping::Week | Grouping::Total => Kept::Total,
            Grouping::ThreatType => Kept::ThreatType,
            Grouping::RootCauseCategory => Kept::RootCauseCategory,
            Grouping::Category => Kept::Category,
            Grouping::Stage => Kept::Stage,
        }
    }

    fn key(self, r: &EntityFigures) -> Option<String> {
        match self {
            Kept::Total => None,
            Kept::ThreatType => r.threat_type.clone(),
            Kept::RootCauseCategory => r.root_cause_category.clone(),
            Kept::Category => r.category.clone(),
            Kept::Stage => Some(r.current_stage.clone()),
        }
    }
}

/// Whose figures: every sector together (the national view of a grouping other than by
/// sector), each sector on its own (the national view by sector), or only the named sectors
/// (a sectoral CSIRT's or authority's).
#[derive(Debug, Clone, Copy)]
pub enum Sectors<'a> {
    All,
    EachSector,
    Only(&'a [&'a str]),
}

/// One part of a period's figures, from a cell or counted from the incidents: the figures of
/// one key in one sector (`*` for all) and one ISO week.
#[derive(Debug, Clone)]
pub struct Piece {
    pub week: String,
    pub sector: String,
    pub key: Option<String>,
    pub figures: Figures,
    pub entities: EntitySet,
}

impl Piece {
    /// The key of the piece in `g`.
    pub fn key_in(&self, g: Grouping) -> Option<String> {
        match g {
            Grouping::Sector => Some(self.sector.clone()),
            Grouping::Week => Some(self.week.clone()),
            Grouping::Total => None,
            _ => self.key.clone(),
        }
    }
}

fn n(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn figures_of(r: &EntityFigures) -> Figures {
    Figures {
        incidents: n(r.incidents),
        significant: n(r.significant),
        late: n(r.late),
        near_misses: n(r.near_misses),
        cyber_threats: n(r.cyber_threats),
        cross_border: n(r.cross_border),
    }
}

fn entity(r: &EntityFigures) -> EntitySet {
    let mut set = EntitySet::default();
    set.insert(u32::try_from(r.number).unwrap_or(u32::MAX));
    set
}

fn day_label(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn week_label(d: NaiveDate) -> String {
    d.format("%G-W%V").to_string()
}

fn start(d: NaiveDate) -> NaiveDateTime {
    d.and_time(NaiveTime::MIN)
}

/// The Monday of an ISO week's label (`2026-W05`).
fn monday_of(label: &str) -> Option<NaiveDate> {
    let (year, week) = label.split_once("-W")?;
    NaiveDate::from_isoywd_opt(year.parse().ok()?, week.parse().ok()?, Weekday::Mon)
}

/// How a period is read: the kept cells of whole weeks and whole days, and the ranges to
/// count from the incidents.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Mondays of the weeks read from week cells.
    pub weeks: Vec<NaiveDate>,
    /// Days read from day cells.
    pub days: Vec<NaiveDate>,
    /// `[from, to)` ranges counted from the incidents, in order, adjacent ones merged.
    pub raw: Vec<(NaiveDateTime, NaiveDateTime)>,
}

impl Plan {
    fn count(&mut self, from: NaiveDateTime, to: NaiveDateTime) {
        if from >= to {
            return;
        }
        match self.raw.last_mut() {
            Some(last) if last.1 == from => last.1 = to,
            _ => self.raw.push((from, to)),
        }
    }
}

/// How to read `[from, to)`: the whole days that have ended before `today` from cells (a
/// whole ISO week as one), unless they (or, for a week, the week) are in `stale`; the rest
/// from the incidents. Pure.
pub fn plan(
    from: NaiveDateTime,
    to: NaiveDateTime,
    today: NaiveDate,
    stale: &BTreeSet<String>,
) -> Plan {
    let mut p = Plan::default();
    if from >= to {
        return p;
    }
    let first = if from.time() == NaiveTime::MIN {
        Some(from.date())
    } else {
        from.date().succ_opt()
    };
    let last = to.date().min(today);
    let Some(first) = first.filter(|f| *f < last) else {
        p.count(from, to);
        return p;
    };
    p.count(from, start(first));
    let is_stale = |d: NaiveDate| stale.contains(&day_label(d));
    let mut d = first;
    while d < last {
        let week_end = d.checked_add_signed(TimeDelta::days(7));
        let whole_week = d.weekday() == Weekday::Mon
            && week_end.is_some_and(|e| e <= last)
            && !stale.contains(&week_label(d))
            && d.iter_days().take(7).all(|x| !is_stale(x));
        if whole_week {
            p.weeks.push(d);
            d = week_end.unwrap_or(last);
            continue;
        }
        let Some(next) = d.succ_opt() else { break };
        if is_stale(d) {
            p.count(start(d), start(next));
        } else {
            p.days.push(d);
        }
        d = next;
    }
    p.count(start(last), to);
    p
}

/// Runs of consecutive values: `(first, last)` of each.
fn runs(items: &[NaiveDate], step: i64) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for d in items {
        match out.last_mut() {
            Some(run) if run.1.checked_add_signed(TimeDelta::days(step)) == Some(*d) => run.1 = *d,
            _ => out.push((*d, *d)),
        }
    }
    out
}

#[derive(Queryable, Insertable, Debug, Clone)]
#[diesel(table_name = cells)]
struct Cell {
    basis: String,
    grouping: String,
    sector: String,
    span: String,
    unit: String,
    key: String,
    incidents: i64,
    significant: i64,
    late: i64,
    near_misses: i64,
    cyber_threats: i64,
    cross_border: i64,
    entities: Vec<u8>,
}

impl Cell {
    fn figures(&self) -> Figures {
        Figures {
            incidents: n(self.incidents),
            significant: n(self.significant),
            late: n(self.late),
            near_misses: n(self.near_misses),
            cyber_threats: n(self.cyber_threats),
            cross_border: n(self.cross_border),
        }
    }

    fn piece(self) -> Piece {
        let week = if self.span == "week" {
            self.unit.clone()
        } else {
            NaiveDate::parse_from_str(&self.unit, "%Y-%m-%d")
                .map(week_label)
                .unwrap_or_default()
        };
        Piece {
            week,
            figures: self.figures(),
            entities: EntitySet::decode(&self.entities).unwrap_or_default(),
            key: (!self.key.is_empty()).then_some(self.key),
            sector: self.sector,
        }
    }
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The cells of one unit made from its parts: summed and united per grouping, sector and key.
fn cells_of(
    basis: TimeBasis,
    span: &str,
    unit: &str,
    parts: impl Iterator<Item = (&'static str, String, Option<String>, Figures, EntitySet)>,
) -> Vec<Cell> {
    let mut acc: BTreeMap<(&'static str, String, String), (Figures, EntitySet)> = BTreeMap::new();
    for (grouping, sector, key, figures, entities) in parts {
        let e = acc
            .entry((grouping, sector, key.unwrap_or_default()))
            .or_default();
        e.0.add(&figures);
        e.1.union_with(&entities);
    }
    acc.into_iter()
        .map(|((grouping, sector, key), (f, e))| Cell {
            basis: basis.as_str().into(),
            grouping: grouping.into(),
            sector,
            span: span.into(),
            unit: unit.into(),
            key,
            incidents: i(f.incidents),
            significant: i(f.significant),
            late: i(f.late),
            near_misses: i(f.near_misses),
            cyber_threats: i(f.cyber_threats),
            cross_border: i(f.cross_border),
            entities: e.encode(),
        })
        .collect()
}

fn stale_marks(conn: &mut DbConn, basis: TimeBasis) -> QueryResult<BTreeSet<String>> {
    Ok(stale::table
        .filter(stale::basis.eq(basis.as_str()))
        .select(stale::day)
        .load::<String>(conn)?
        .into_iter()
        .collect())
}

/// The pieces of `[from, to)`: from kept cells where they are current, from the incidents
/// elsewhere. `now` decides which days have ended.
pub fn pieces(
    conn: &mut DbConn,
    g: Grouping,
    basis: TimeBasis,
    from: NaiveDateTime,
    to: NaiveDateTime,
    sectors: Sectors<'_>,
    now: NaiveDateTime,
) -> AppResult<Vec<Piece>> {
    let stale = stale_marks(conn, basis)?;
    let plan = plan(from, to, now.date(), &stale);
    let kept = Kept::of(g);
    let mut out = Vec::new();
    let only = match sectors {
        Sectors::Only(list) => Some(list),
        _ => None,
    };
    for (a, b) in &plan.raw {
        for r in repo::count_by_entity(conn, basis, *a, *b, only, Some(g))? {
            out.push(Piece {
                week: r.week.clone(),
                sector: r.sector.clone(),
                key: kept.key(&r),
                figures: figures_of(&r),
                entities: entity(&r),
            });
        }
    }
    let ranges = runs(&plan.days, 1)
        .into_iter()
        .map(|(a, b)| ("day", day_label(a), day_label(b)))
        .chain(
            runs(&plan.weeks, 7)
                .into_iter()
                .map(|(a, b)| ("week", week_label(a), week_label(b))),
        );
    for (span, first, last) in ranges {
        let mut q = cells::table
            .filter(cells::basis.eq(basis.as_str()))
            .filter(cells::grouping.eq(kept.name()))
            .filter(cells::span.eq(span))
            .filter(cells::unit.ge(first))
            .filter(cells::unit.le(last))
            .into_boxed();
        q = match sectors {
            Sectors::All => q.filter(cells::sector.eq("*")),
            Sectors::EachSector => q.filter(cells::sector.ne("*")),
            Sectors::Only(list) => q.filter(cells::sector.eq_any(list.to_vec())),
        };
        let rows: Vec<Cell> = q.load(conn)?;
        out.extend(rows.into_iter().map(Cell::piece));
    }
    Ok(out)
}

/// Makes the cells of stale days that have ended before `today` again from the incidents, at
/// most `max_days` of them, then the cells of every ended week whose days are all current.
/// Call inside a write transaction: the marks are cleared together with the cells made, and
/// no incident changes meanwhile. Returns how many days and weeks were made.
pub fn rebuild(conn: &mut DbConn, today: NaiveDate, max_days: usize) -> AppResult<usize> {
    let marks: Vec<(String, String)> = stale::table
        .select((stale::basis, stale::day))
        .order((stale::basis, stale::day))
        .load(conn)?;
    let mut done = 0usize;
    let days: Vec<(TimeBasis, NaiveDate)> = marks
        .iter()
        .filter_map(|(b, d)| {
            let day = NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()?;
            Some((TimeBasis::parse(b)?, day))
        })
        .filter(|(_, d)| *d < today)
        .take(max_days)
        .collect();
    for (basis, day) in days {
        let Some(next) = day.succ_opt() else { continue };
        let rows = repo::count_by_entity(conn, basis, start(day), start(next), None, None)?;
        let parts = rows.iter().flat_map(|r| {
            KEPT.iter().flat_map(move |k| {
                [r.sector.clone(), "*".to_string()]
                    .map(|sector| (k.name(), sector, k.key(r), figures_of(r), entity(r)))
            })
        });
        let label = day_label(day);
        let made = cells_of(basis, "day", &label, parts);
        replace(conn, basis, "day", &label, &made)?;
        diesel::delete(
            stale::table
                .filter(stale::basis.eq(basis.as_str()))
                .filter(stale::day.eq(&label)),
        )
        .execute(conn)?;
        mark_stale(conn, basis, &week_label(day))?;
        done = done.saturating_add(1);
    }
    // Weeks whose last day has ended and none of whose days is stale.
    let marks: BTreeSet<(String, String)> = stale::table
        .select((stale::basis, stale::day))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    for (b, label) in &marks {
        let (Some(basis), Some(monday)) = (TimeBasis::parse(b), monday_of(label)) else {
            continue;
        };
        let Some(end) = monday.checked_add_signed(TimeDelta::days(7)) else {
            continue;
        };
        let days: Vec<NaiveDate> = monday.iter_days().take(7).collect();
        if end > today
            || days
                .iter()
                .any(|d| marks.contains(&(b.clone(), day_label(*d))))
        {
            continue;
        }
        let rows: Vec<Cell> = cells::table
            .filter(cells::basis.eq(basis.as_str()))
            .filter(cells::span.eq("day"))
            .filter(cells::unit.ge(day_label(monday)))
            .filter(cells::unit.le(day_label(days[6])))
            .load(conn)?;
        let grouping = |name: &str| KEPT.iter().map(|k| k.name()).find(|k| *k == name);
        let parts = rows.into_iter().filter_map(|c| {
            let g = grouping(&c.grouping)?;
            let f = c.figures();
            let e = EntitySet::decode(&c.entities).unwrap_or_default();
            let key = (!c.key.is_empty()).then_some(c.key);
            Some((g, c.sector, key, f, e))
        });
        let made = cells_of(basis, "week", label, parts);
        replace(conn, basis, "week", label, &made)?;
        diesel::delete(
            stale::table
                .filter(stale::basis.eq(b))
                .filter(stale::day.eq(label)),
        )
        .execute(conn)?;
        done = done.saturating_add(1);
    }
    Ok(done)
}

fn replace(
    conn: &mut DbConn,
    basis: TimeBasis,
    span: &str,
    unit: &str,
    made: &[Cell],
) -> AppResult<()> {
    diesel::delete(
        cells::table
            .filter(cells::basis.eq(basis.as_str()))
            .filter(cells::span.eq(span))
            .filter(cells::unit.eq(unit)),
    )
    .execute(conn)?;
    crate::insert_rows!(conn, cells::table, made, 13);
    Ok(())
}

fn mark_stale(conn: &mut DbConn, basis: TimeBasis, unit: &str) -> AppResult<()> {
    let sql = match conn {
        DbConn::Pg(_) => {
            "INSERT INTO awareness_stale (basis, day) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        }
        DbConn::Sqlite(_) => "INSERT OR IGNORE INTO awareness_stale (basis, day) VALUES (?, ?)",
    };
    diesel::sql_query(sql)
        .bind::<diesel::sql_types::Text, _>(basis.as_str())
        .bind::<diesel::sql_types::Text, _>(unit)
        .execute(conn)?;
    Ok(())
}

/// Runs [`rebuild`] in transactions of a week's days each until no ended day is stale; for
/// the sweep thread.
pub fn rebuild_all(pool: &crate::db::Pool) -> AppResult<usize> {
    let mut total = 0usize;
    loop {
        let mut conn = pool.get()?;
        let today = crate::db::now().date();
        let n = crate::db::write_tx(&mut conn, |conn| rebuild(conn, today, 7))?;
        total = total.saturating_add(n);
        if n == 0 {
            return Ok(total);
        }
    }
}

/// Makes the cells of every stale day that has ended at start (after an upgrade, all of the
/// register's days), then every `every`, on a thread of its own, off the HTTP workers.
pub fn spawn(pool: crate::db::Pool, every: std::time::Duration) {
    std::thread::Builder::new()
        .name("awareness-cells".into())
        .spawn(move || loop {
            match rebuild_all(&pool) {
                Ok(0) => {}
                Ok(n) => log::info!("awareness: made the cells of {n} day(s) and week(s)"),
                Err(e) => log::warn!("awareness: making cells failed: {e}"),
            }
            std::thread::sleep(every);
        })
        .expect("start the awareness cells thread");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// (case, from, to, today, stale) → (weeks, days, raw ranges).
    #[test]
    fn the_plan_table() {
        type Row = (
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            &'static [&'static str],
            &'static [&'static str],
            &'static [&'static str],
            &'static [(&'static str, &'static str)],
        );
        // 2026-11-02 and 2026-11-09 are Mondays.
        #[rustfmt::skip]
        let table: Vec<Row> = vec![
            ("within a day: counted", "2026-11-03 10:00", "2026-11-03 12:00", "2026-12-01", &[],
                &[], &[], &[("2026-11-03 10:00", "2026-11-03 12:00")]),
            ("two whole weeks, days at the ends, parts of days beyond",
                "2026-11-01 12:00", "2026-11-17 06:00", "2026-12-01", &[],
                &["2026-11-02", "2026-11-09"], &["2026-11-16"],
                &[("2026-11-01 12:00", "2026-11-02 00:00"), ("2026-11-17 00:00", "2026-11-17 06:00")]),
            ("a stale day breaks its week into days and is counted",
                "2026-11-02 00:00", "2026-11-09 00:00", "2026-12-01", &["2026-11-04"],
                &[], &["2026-11-02", "2026-11-03", "2026-11-05", "2026-11-06", "2026-11-07", "2026-11-08"],
                &[("2026-11-04 00:00", "2026-11-05 00:00")]),
            ("a stale week is read by its days",
                "2026-11-02 00:00", "2026-11-09 00:00", "2026-12-01", &["2026-W45"],
                &[], &["2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05", "2026-11-06", "2026-11-07", "2026-11-08"],
                &[]),
            ("today and after are counted",
                "2026-11-07 00:00", "2026-11-20 00:00", "2026-11-10", &[],
                &[], &["2026-11-07", "2026-11-08", "2026-11-09"],
                &[("2026-11-10 00:00", "2026-11-20 00:00")]),
            ("a week not yet ended is read by days",
                "2026-11-09 00:00", "2026-11-16 00:00", "2026-11-15", &[],
                &[], &["2026-11-09", "2026-11-10", "2026-11-11", "2026-11-12", "2026-11-13", "2026-11-14"],
                &[("2026-11-15 00:00", "2026-11-16 00:00")]),
            ("adjacent counted ranges merge",
                "2026-11-03 12:00", "2026-11-05 00:00", "2026-12-01", &["2026-11-04"],
                &[], &[], &[("2026-11-03 12:00", "2026-11-05 00:00")]),
            ("an empty period", "2026-11-05 00:00", "2026-11-05 00:00", "2026-12-01", &[],
                &[], &[], &[]),
        ];
        for (case, from, to, today, stale, weeks, days, raw) in table {
            let stale: BTreeSet<String> = stale.iter().map(|s| s.to_string()).collect();
            let p = plan(at(from), at(to), date(today), &stale);
            let expected = Plan {
                weeks: weeks.iter().map(|d| date(d)).collect(),
                days: days.iter().map(|d| date(d)).collect(),
                raw: raw.iter().map(|(a, b)| (at(a), at(b))).collect(),
            };
            assert_eq!(p, expected, "{case}");
        }
    }

    #[test]
    fn a_week_label_names_its_monday() {
        assert_eq!(monday_of("2026-W45"), Some(date("2026-11-02")));
        assert_eq!(week_label(date("2026-11-08")), "2026-W45");
        assert_eq!(monday_of("2027-W01"), Some(date("2027-01-04")));
        assert_eq!(monday_of("2026-X45"), None);
    }
}
