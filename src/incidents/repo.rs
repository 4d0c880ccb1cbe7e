//! Queries over the incident register that other domains need: the awareness counts, and the
//! columns the recurring-incident rule reads (filled in at start for incidents stored before
//! they existed).
//!
//! The counts are one `GROUP BY` over the period's rows of a covering index
//! (`incidents_awareness` by report time, `incidents_awareness_aware` by awareness time: the
//! instant first, then every column counted or grouped by), so no incident is loaded and the
//! table is not read. Their cost grows with the incidents of the period, so awareness asks
//! them only for what its kept cells do not hold (`awareness::cells`).

use crate::db::DbConn;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

/// What the counts are grouped by. Each is a fixed SQL expression, never client text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    Sector,
    /// ISO 8601 week of the report, `2026-W05`.
    Week,
    ThreatType,
    RootCauseCategory,
    Category,
    Stage,
    /// One row for the whole period.
    Total,
}

/// The figures of one group.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct GroupCount {
    /// The group's value; `null` where the incidents leave it unset.
    #[diesel(sql_type = Nullable<Text>)]
    pub key: Option<String>,
    /// Incidents (not near misses or cyber threats).
    #[diesel(sql_type = BigInt)]
    pub incidents: i64,
    #[diesel(sql_type = BigInt)]
    pub significant: i64,
    /// Distinct entities (or reporters) behind every notification of the group.
    #[diesel(sql_type = BigInt)]
    pub entities: i64,
    /// Incidents with a stage submitted late or overdue.
    #[diesel(sql_type = BigInt)]
    pub late: i64,
    #[diesel(sql_type = BigInt)]
    pub near_misses: i64,
    #[diesel(sql_type = BigInt)]
    pub cyber_threats: i64,
    /// Incidents affecting another member state.
    #[diesel(sql_type = BigInt)]
    pub cross_border: i64,
}

/// Which instant puts a notification into a period and a week: when it was reported
/// (`created_at`, its first report) or when the entity became aware (`aware_at`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TimeBasis {
    /// When the first report reached the service.
    #[default]
    Reported,
    /// When the entity became aware of the incident (`aware_at`).
    Aware,
}

impl TimeBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reported => "reported",
            Self::Aware => "aware",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Reported, Self::Aware]
            .into_iter()
            .find(|b| b.as_str() == s)
    }

    fn column(self) -> &'static str {
        match self {
            Self::Reported => "created_at",
            Self::Aware => "aware_at",
        }
    }
}

fn key_sql(g: Grouping, postgres: bool, basis: TimeBasis) -> String {
    let at = basis.column();
    match (g, postgres) {
        (Grouping::Sector, _) => "sector".into(),
        (Grouping::Week, true) => format!("to_char({at}, 'IYYY-\"W\"IW')"),
        (Grouping::Week, false) => format!("strftime('%G-W%V', {at})"),
        (Grouping::ThreatType, _) => "threat_type".into(),
        (Grouping::RootCauseCategory, _) => "root_cause_category".into(),
        (Grouping::Category, _) => "category".into(),
        (Grouping::Stage, _) => "current_stage".into(),
        (Grouping::Total, _) => "NULL".into(),
    }
}

/// The SQL of [`count_by`] for one backend; public so that benchmarks can `EXPLAIN` it.
pub fn count_sql(g: Grouping, postgres: bool, by_sector: bool, basis: TimeBasis) -> String {
    let (p1, p2, p3) = if postgres {
        ("$1", "$2", "(SELECT json_array_elements_text($3::json))")
    } else {
        ("?", "?", "(SELECT value FROM json_each(?))")
    };
    let key = key_sql(g, postgres, basis);
    let key_cast = if postgres && g == Grouping::Total {
        "CAST(NULL AS TEXT)".to_string()
    } else {
        key
    };
    let at = basis.column();
    let sectors = if by_sector {
        format!(" AND sector IN {p3}")
    } else {
        String::new()
    };
    let group = if g == Grouping::Total {
        String::new()
    } else {
        " GROUP BY 1 ORDER BY 1".to_string()
    };
    format!(
        "SELECT {key_cast} AS key, COUNT(DISTINCT entity_id) AS entities, {FIGURES_SQL} \
         FROM incidents WHERE {at} >= {p1} AND {at} < {p2}{sectors}{group}"
    )
}

/// The summed figures of a group, as both count queries select them.
const FIGURES_SQL: &str = "\
    COALESCE(SUM(CASE WHEN kind = 'incident' THEN 1 ELSE 0 END), 0) AS incidents, \
    COALESCE(SUM(CASE WHEN kind = 'incident' AND significant THEN 1 ELSE 0 END), 0) AS significant, \
    COALESCE(SUM(CASE WHEN kind = 'incident' AND late THEN 1 ELSE 0 END), 0) AS late, \
    COALESCE(SUM(CASE WHEN kind = 'near_miss' THEN 1 ELSE 0 END), 0) AS near_misses, \
    COALESCE(SUM(CASE WHEN kind = 'cyber_threat' THEN 1 ELSE 0 END), 0) AS cyber_threats, \
    COALESCE(SUM(CASE WHEN kind = 'incident' AND cross_border THEN 1 ELSE 0 END), 0) AS cross_border";

/// The figures of one entity's notifications that share every column awareness groups by,
/// in one ISO week: what the kept awareness cells are made of, and what disclosure control
/// needs to know exactly which entities a withheld group stands for.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct EntityFigures {
    /// ISO 8601 week of the instant the period is measured by, `2026-W05`.
    #[diesel(sql_type = Text)]
    pub week: String,
    #[diesel(sql_type = Text)]
    pub sector: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub threat_type: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub root_cause_category: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub category: Option<String>,
    #[diesel(sql_type = Text)]
    pub current_stage: String,
    /// The entity's number (`awareness_entity_numbers`), not its id: the cells keep sets of
    /// these.
    #[diesel(sql_type = BigInt)]
    pub number: i64,
    #[diesel(sql_type = BigInt)]
    pub incidents: i64,
    #[diesel(sql_type = BigInt)]
    pub significant: i64,
    #[diesel(sql_type = BigInt)]
    pub late: i64,
    #[diesel(sql_type = BigInt)]
    pub near_misses: i64,
    #[diesel(sql_type = BigInt)]
    pub cyber_threats: i64,
    #[diesel(sql_type = BigInt)]
    pub cross_border: i64,
}

/// The SQL of [`count_by_entity`] for one backend. With `only`, the columns of the other
/// groupings are left out of the grouping (selected empty), which halves its cost on a day of
/// many reports. On PostgreSQL rows are grouped by the week's start and the ISO week label
/// is formatted once per group, not once per row.
pub fn count_by_entity_sql(
    postgres: bool,
    by_sector: bool,
    basis: TimeBasis,
    only: Option<Grouping>,
) -> String {
    let (p1, p2, p3) = if postgres {
        ("$1", "$2", "(SELECT json_array_elements_text($3::json))")
    } else {
        ("?", "?", "(SELECT value FROM json_each(?))")
    };
    let at = basis.column();
    let sectors = if by_sector {
        format!(" AND sector IN {p3}")
    } else {
        String::new()
    };
    let column = |g: Grouping, name: &str, empty: &str| match only {
        Some(o) if o != g => format!("{empty} AS {name}"),
        _ => name.to_string(),
    };
    let keys = [
        column(Grouping::ThreatType, "threat_type", "NULL"),
        column(Grouping::RootCauseCategory, "root_cause_category", "NULL"),
        column(Grouping::Category, "category", "NULL"),
        column(Grouping::Stage, "current_stage", "''"),
    ]
    .join(", ");
    if postgres {
        format!(
            "SELECT to_char(week_start, 'IYYY-\"W\"IW') AS week, sector, threat_type, \
             root_cause_category, category, current_stage, number, incidents, significant, late, \
             near_misses, cyber_threats, cross_border FROM ( \
             SELECT date_trunc('week', {at}) AS week_start, sector, {keys}, \
             entity_number AS number, {FIGURES_SQL} \
             FROM awareness_incidents \
             WHERE {at} >= {p1} AND {at} < {p2}{sectors} \
             GROUP BY 1, 2, 3, 4, 5, 6, 7) AS groups"
        )
    } else {
        let week = key_sql(Grouping::Week, postgres, basis);
        format!(
            "SELECT {week} AS week, sector, {keys}, entity_number AS number, {FIGURES_SQL} \
             FROM awareness_incidents \
             WHERE {at} >= {p1} AND {at} < {p2}{sectors} \
             GROUP BY 1, 2, 3, 4, 5, 6, 7"
        )
    }
}

/// Counts the notifications reported (or, by `basis`, become aware of) in `[from, to)` per
/// ISO week, entity and every column awareness groups by (or only `only`'s, the others left
/// empty); `sectors` limits them as in [`count_by`]. Read from `awareness_incidents`, the
/// narrow copy of what awareness counts of each incident that triggers keep, by its index on
/// the basis; the rows follow the period's incidents, so awareness asks this only for what
/// its kept cells do not hold (`awareness::cells`).
pub fn count_by_entity(
    conn: &mut DbConn,
    basis: TimeBasis,
    from: NaiveDateTime,
    to: NaiveDateTime,
    sectors: Option<&[&str]>,
    only: Option<Grouping>,
) -> QueryResult<Vec<EntityFigures>> {
    let list = sectors.map(|s| serde_json::to_string(s).unwrap_or_else(|_| "[]".into()));
    macro_rules! run {
        ($c:expr, $pg:expr) => {{
            let q = diesel::sql_query(count_by_entity_sql($pg, list.is_some(), basis, only))
                .into_boxed()
                .bind::<Timestamp, _>(from)
                .bind::<Timestamp, _>(to);
            match &list {
                Some(l) => q.bind::<Text, _>(l.clone()).load($c),
                None => q.load($c),
            }
        }};
    }
    match conn {
        DbConn::Pg(c) => run!(c, true),
        DbConn::Sqlite(c) => run!(c, false),
    }
}

/// Counts the notifications reported (or, by `basis`, become aware of) in `[from, to)`,
/// grouped; `sectors` limits them to those sectors (the entity's primary sector), `None`
/// counts all.
pub fn count_by(
    conn: &mut DbConn,
    g: Grouping,
    basis: TimeBasis,
    from: NaiveDateTime,
    to: NaiveDateTime,
    sectors: Option<&[&str]>,
) -> QueryResult<Vec<GroupCount>> {
    let list = sectors.map(|s| serde_json::to_string(s).unwrap_or_else(|_| "[]".into()));
    macro_rules! run {
        ($c:expr, $pg:expr) => {{
            let q = diesel::sql_query(count_sql(g, $pg, list.is_some(), basis))
                .into_boxed()
                .bind::<Timestamp, _>(from)
                .bind::<Timestamp, _>(to);
            match &list {
                Some(l) => q.bind::<Text, _>(l.clone()).load($c),
                None => q.load($c),
            }
        }};
    }
    match conn {
        DbConn::Pg(c) => run!(c, true),
        DbConn::Sqlite(c) => run!(c, false),
    }
}

/// The root cause as the recurring-incident rule compares it (trimmed, ASCII letters folded,
/// as `eq_ignore_ascii_case` does), digested to a fixed length so that the 2000 characters a
/// root cause may have fit into the index `incidents_recurring`: 128 bits of SHA-256 in hex.
/// `None` for no or a blank root cause, which the rule never compares.
pub fn root_cause_key(cause: Option<&str>) -> Option<String> {
    use sha2::{Digest, Sha256};
    let cause = cause.map(str::trim).filter(|c| !c.is_empty())?;
    let digest = Sha256::digest(cause.to_ascii_lowercase().as_bytes());
    Some(hex::encode(&digest[..16]))
}

/// A financial loss as stored: a loss beyond `i64::MAX` is kept as `i64::MAX`, which is over
/// any threshold all the same (the rule adds losses saturating).
pub fn stored_loss(loss: Option<u64>) -> Option<i64> {
    loss.map(|l| i64::try_from(l).unwrap_or(i64::MAX))
}

/// Fills `root_cause_key` and `financial_loss_eur` of the incidents stored before those
/// columns existed, from their facts, in batches of 1000; once, marked in `counters`.
pub fn backfill_recurring(conn: &mut DbConn) -> crate::error::AppResult<()> {
    use crate::schema::{counters, incidents};
    const MARK: &str = "incidents_recurring_indexed";
    #[derive(serde::Deserialize, Default)]
    struct Impact {
        financial_loss_eur: Option<u64>,
    }
    #[derive(serde::Deserialize)]
    struct Facts {
        root_cause: Option<String>,
        #[serde(default)]
        impact: Impact,
    }
    if crate::db::counter(conn, MARK)?.is_some() {
        return Ok(());
    }
    let mut after = String::new();
    loop {
        let finished = crate::db::write_tx(conn, |conn| {
            let rows: Vec<(String, String)> = incidents::table
                .filter(incidents::id.gt(&after))
                .order(incidents::id)
                .select((incidents::id, incidents::facts))
                .limit(1000)
                .load(conn)?;
            for (id, facts) in &rows {
                let f: Facts = serde_json::from_str(facts)?;
                let key = root_cause_key(f.root_cause.as_deref());
                let loss = stored_loss(f.impact.financial_loss_eur);
                if key.is_some() || loss.is_some() {
                    diesel::update(incidents::table.find(id))
                        .set((
                            incidents::root_cause_key.eq(key),
                            incidents::financial_loss_eur.eq(loss),
                        ))
                        .execute(conn)?;
                }
            }
            match rows.last() {
                Some((id, _)) => {
                    after = id.clone();
                    Ok(false)
                }
                None => {
                    // Another instance starting at the same time may have finished first.
                    crate::db::lock_writes(conn)?;
                    if crate::db::counter(conn, MARK)?.is_none() {
                        diesel::insert_into(counters::table)
                            .values((counters::name.eq(MARK), counters::value.eq(1)))
                            .execute(conn)?;
                    }
                    Ok(true)
                }
            }
        })?;
        if finished {
            return Ok(());
        }
    }
}
