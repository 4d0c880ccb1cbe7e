//! `/api/v1/awareness…`: situational awareness figures and the quarterly summary for ENISA.

use super::model::{Awareness, GroupBy, QuarterlySummary, TimeBasis};
use super::{chart, service};
use crate::auth::{Caller, Scope};
use crate::error::{AppError, FieldError};
use crate::AppState;
use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

/// Awareness reads one sectoral CSIRT or supervisory authority may make per minute, all its
/// clients and tokens together. Disclosure
/// control does not rest on it — the grid holds whatever is asked — but it bounds what a
/// curious caller can try, and every read is audited.
pub const READS_PER_MINUTE: std::num::NonZeroU32 = match std::num::NonZeroU32::new(120) {
    Some(n) => n,
    None => std::num::NonZeroU32::MIN,
};

/// Refuses a read over the organisation's per-minute allowance with 429 and `Retry-After`.
/// The national CSIRT is not limited: its view is the register itself, with nothing withheld
/// that repeated reads could work out, and its dashboards refresh often on a mass-incident
/// day; its reads are audited like everyone's.
fn limit(state: &AppState, caller: &Caller) -> Result<(), AppError> {
    if caller.role == crate::auth::Role::NationalCsirt {
        return Ok(());
    }
    match state.awareness_limiter.check_key(&caller.org) {
        Ok(()) => Ok(()),
        Err(not_until) => {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            Err(AppError::TooManyRequests(wait.as_secs().max(1)))
        }
    }
}

/// The same question from the same caller (organisation, subject and client) is recorded
/// once per this interval: a dashboard refreshing its figures every few seconds on a
/// mass-incident day leaves one record a minute, not one a refresh, and does not queue behind
/// the reports for the audit chain's lock each time. A different question — another period
/// (as asked: a missing `from`/`to` is its own question), grouping or basis — is always
/// recorded, so the audit still shows who asked what, and every attempt to shift or combine
/// periods.
pub const READ_AUDIT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Records who asked for which figures, in its own transaction before they are computed,
/// unless the caller asked the same `question` within [`READ_AUDIT_INTERVAL`]. The record
/// takes the audit chain's lock alone (`audit::record_alone`), not the write lock reports
/// queue for.
async fn audit_read(
    state: &AppState,
    caller: &Caller,
    question: String,
    what: String,
) -> Result<(), AppError> {
    let audits = &state.awareness_read_audits;
    if audits.len() > 10_000 {
        audits.retain_recent();
    }
    let key = format!(
        "{}|{}|{}|{question}",
        caller.org,
        caller.sub,
        caller.client_id.as_deref().unwrap_or("")
    );
    if audits.check_key(&key).is_err() {
        return Ok(());
    }
    let caller = caller.clone();
    state
        .write(move |conn| {
            crate::audit::record_alone(conn, &caller, "awareness.read", "awareness", &what)
        })
        .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AwarenessQuery {
    /// Start of the period, inclusive (RFC 3339; default 28 days before `to`).
    #[serde(default, with = "crate::time::bounded_opt")]
    #[param(value_type = Option<crate::formats::Timestamp>)]
    pub from: Option<DateTime<Utc>>,
    /// End of the period, exclusive (RFC 3339; default now). At most the configured maximum
    /// (`NIS2HUB_AWARENESS_MAX_DAYS`, 366 days by default) after `from`.
    #[serde(default, with = "crate::time::bounded_opt")]
    #[param(value_type = Option<crate::formats::Timestamp>)]
    pub to: Option<DateTime<Utc>>,
    /// What to group by (default `sector`).
    #[param(value_type = Option<GroupBy>)]
    pub group_by: Option<String>,
    /// Which instant puts a notification into the period and its week: `reported` (the
    /// default: when its first report reached the service) or `aware` (when the entity became
    /// aware, `aware_at`, which may lie days before). Disclosure control is the same for
    /// both. The quarterly summary always counts by report time.
    #[param(value_type = Option<TimeBasis>)]
    pub time_basis: Option<String>,
}

fn bad(param: &str, message: impl Into<String>) -> AppError {
    let message = message.into();
    AppError::BadRequest {
        code: "invalid_query",
        detail: format!("{param}: {message}"),
        errors: vec![FieldError::new(format!("/{param}"), message)],
    }
}

/// The answer formats, from `Accept`: JSON unless CSV or SVG is asked for.
#[derive(PartialEq, Eq)]
enum Format {
    Json,
    Csv,
    Svg,
}

fn format_of(req: &HttpRequest) -> Format {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let asks = |m: &str| accept.split(',').any(|p| p.trim().starts_with(m));
    if asks("application/json") || asks("application/problem+json") {
        Format::Json
    } else if asks("text/csv") {
        Format::Csv
    } else if asks("image/svg+xml") {
        Format::Svg
    } else {
        Format::Json
    }
}

/// The period of a request: checked to be non-empty and within the configured maximum.
fn period(q: &AwarenessQuery, max_days: i64) -> Result<(DateTime<Utc>, DateTime<Utc>), AppError> {
    let from = q.from.map(crate::db::micros);
    let now = crate::db::now().and_utc();
    // With only `from`, the period runs to now, or as far as the longest period allows.
    let to = match (q.to.map(crate::db::micros), from) {
        (Some(t), _) => t,
        (None, Some(f)) => chrono::TimeDelta::try_days(max_days)
            .and_then(|d| f.checked_add_signed(d))
            .map_or(now, |end| end.min(now)),
        (None, None) => now,
    };
    let from = match from {
        Some(f) => f,
        None => crate::time::sub_days(to, 28).ok_or_else(|| bad("to", "lies too early"))?,
    };
    if from >= to {
        return Err(bad("from", "must lie before `to`"));
    }
    let longest = Duration::days(max_days);
    if to.signed_duration_since(from) > longest {
        return Err(bad(
            "to",
            format!("the period may be at most {max_days} days long"),
        ));
    }
    Ok((from, to))
}

/// Incidents, significant incidents, distinct entities, late reports, near misses and cyber
/// threats over a period, by group. National for the national CSIRT, for any period. For a
/// sectoral CSIRT or a supervisory authority: its own sectors, over the whole ISO weeks that
/// have ended within the period asked for (the answer's `from` and `to` say which), every key
/// of the grouping listed, each week's groups of fewer than `suppressed_below` entities
/// withheld (with complements, so that no total gives one away), and every figure the sum of
/// the weeks' published figures — so no combination of periods or groupings recovers a
/// withheld figure. Every read is audited; a sectoral CSIRT or authority is limited per organisation (429 with
/// `Retry-After`). `Accept: text/csv` for CSV; `Accept: image/svg+xml` for a bar chart of
/// the incidents per group (significant ones and the others stacked, withheld groups
/// outlined), ready for a briefing.
#[utoipa::path(
    operation_id = "getAwareness",
    tag = "awareness",
    params(AwarenessQuery),
    security(("bearer" = ["awareness:read"])),
    responses(
        (status = 200, description = "The figures", content(
            (Awareness = "application/json"),
            (String = "text/csv"),
            (String = "image/svg+xml"),
        )),
        (status = 400, description = "An unknown `group_by` or `time_basis`, or a period that is empty or longer than the maximum", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the scope, or the caller is an entity", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many awareness reads by the organisation this minute; `Retry-After` says when to ask again", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/awareness")]
pub async fn awareness(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<AwarenessQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::AwarenessRead)?;
    limit(&state, &caller)?;
    let cfg = state.config.awareness;
    let (from, to) = period(&q, cfg.max_period_days)?;
    let group_by = match q.group_by.as_deref() {
        None => GroupBy::Sector,
        Some(g) => GroupBy::parse(g).ok_or_else(|| {
            bad(
                "group_by",
                format!("`{g}` is not one of sector, week, threat_type, root_cause_category, category, stage"),
            )
        })?,
    };
    let basis = match q.time_basis.as_deref() {
        None => TimeBasis::Reported,
        Some(b) => TimeBasis::parse(b)
            .ok_or_else(|| bad("time_basis", format!("`{b}` is not one of reported, aware")))?,
    };
    let format = format_of(&req);
    let asked = |t: Option<DateTime<Utc>>| {
        t.map_or("default".to_string(), |t| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        })
    };
    audit_read(
        &state,
        &caller,
        format!(
            "awareness|{}|{}|{}|{}",
            group_by.as_str(),
            basis.as_str(),
            asked(q.from),
            asked(q.to)
        ),
        format!(
            "group_by={}&time_basis={}&from={}&to={}",
            group_by.as_str(),
            basis.as_str(),
            from.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            to.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        ),
    )
    .await?;
    let a: Awareness = state
        .db(move |conn| service::awareness(conn, &caller, &cfg, group_by, basis, from, to))
        .await?;
    Ok(match format {
        Format::Json => HttpResponse::Ok().json(a),
        Format::Csv => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(service::awareness_csv(&a)),
        Format::Svg => HttpResponse::Ok()
            .content_type("image/svg+xml")
            .body(chart::svg(&a)),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuarterQuery {
    /// The quarter, `YYYY-Qn`, of a year from 1970 to 9999.
    // The pattern is QUARTER_PATTERN, set on the document in openapi::contract (an attribute
    // takes only a literal).
    #[param(required = true, value_type = String, example = "2026-Q3")]
    pub quarter: Option<String>,
}

/// The quarters the service accepts: `YYYY-Qn` with a year from 1970 (no incident predates
/// the Unix epoch the service counts time from) to 9999 (four digits), n from 1 to 4. The
/// document shows this pattern and [`quarter_bounds`] matches it.
pub const QUARTER_PATTERN: &str = "^(?:19[7-9][0-9]|[2-9][0-9]{3})-Q[1-4]$";

/// `2026-Q3` → its first instant and the first instant of the next quarter; `None` unless
/// [`QUARTER_PATTERN`] matches.
pub fn quarter_bounds(s: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| regex::Regex::new(QUARTER_PATTERN).expect("the pattern compiles"));
    if !re.is_match(s) {
        return None;
    }
    let (year, q) = s.split_once("-Q")?;
    let year: i32 = year.parse().ok()?;
    let q: u32 = q.parse().ok().filter(|q| (1..=4).contains(q))?;
    let month = q.checked_mul(3)?.checked_sub(2)?;
    let start = NaiveDate::from_ymd_opt(year, month, 1)?;
    let end = if q == 4 {
        NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month.checked_add(3)?, 1)?
    };
    Some((
        start.and_hms_opt(0, 0, 0)?.and_utc(),
        end.and_hms_opt(0, 0, 0)?.and_utc(),
    ))
}

/// The NIS2 Art. 23(9) summary of a quarter for ENISA, from the single point of contact:
/// counts by sector, significance, threat type, root-cause category and category, near
/// misses, cyber threats and cross-border incidents. Anonymised (no entity names or ids) and
/// aggregated, with disclosure control. `Accept: text/csv` for CSV.
#[utoipa::path(
    operation_id = "getAwarenessQuarterlySummary",
    tag = "awareness",
    params(QuarterQuery),
    security(("bearer" = ["awareness:read"])),
    responses(
        (status = 200, description = "The summary", content(
            (QuarterlySummary = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "The quarter is not `YYYY-Qn` with a year from 1970 to 9999 and n from 1 to 4", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the scope, or the caller is not the national CSIRT", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many awareness reads by the organisation this minute; `Retry-After` says when to ask again", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/awareness/quarterly-summary")]
pub async fn quarterly_summary(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<QuarterQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    caller.require(Scope::AwarenessRead)?;
    limit(&state, &caller)?;
    let quarter = q
        .into_inner()
        .quarter
        .ok_or_else(|| bad("quarter", "name the quarter, like 2026-Q3"))?;
    let (from, to) = quarter_bounds(&quarter).ok_or_else(|| {
        bad(
            "quarter",
            format!("`{quarter}` is not a quarter like 2026-Q3"),
        )
    })?;
    let cfg = state.config.awareness;
    let format = format_of(&req);
    audit_read(
        &state,
        &caller,
        format!("quarterly|{quarter}"),
        format!("quarterly-summary={quarter}"),
    )
    .await?;
    let s: QuarterlySummary = state
        .db(move |conn| service::quarterly(conn, &caller, &cfg, &quarter, from, to))
        .await?;
    Ok(match format {
        Format::Csv => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(service::quarterly_csv(&s)),
        _ => HttpResponse::Ok().json(s),
    })
}
