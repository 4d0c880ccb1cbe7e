//! Charts for a situation report: one bar per group of the awareness figures (a week, a
//! sector, a threat type, …), significant incidents and the others stacked, with integer
//! ticks, a legend, and an accessible `<title>` and `<desc>`.
//!
//! Written as SVG directly: a bar chart is a few rectangles and labels, and owning the markup
//! is what gives centred labels, whole-number ticks and the accessibility elements.

use super::model::{Awareness, Group, GroupBy};
use chrono::{DateTime, Datelike, Duration, Utc};
use std::fmt::Write;

/// The colour of the significant part of a bar.
pub const SIGNIFICANT: &str = "#1F4E79";
/// The colour of the other incidents of a bar.
pub const OTHER: &str = "#8FB8DE";
/// A withheld group (disclosure control) is drawn as a grey outline.
pub const WITHHELD: &str = "#BBBBBB";

/// Every ISO week (`2026-W05`) that `[from, to)` touches, in order.
pub fn weeks(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<String> {
    let mut day = from.date_naive();
    day = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
    let end = to.date_naive();
    let mut out = vec![];
    while day < end || (day == end && to.date_naive() == from.date_naive()) {
        out.push(day.format("%G-W%V").to_string());
        day += Duration::days(7);
        if out.len() > 600 {
            break;
        }
    }
    out
}

/// One bar: its label, and its significant and other incidents, or `None` when withheld.
struct Bar {
    label: String,
    counts: Option<(u64, u64)>,
}

fn bars(a: &Awareness) -> Vec<Bar> {
    let bar = |label: String, g: Option<&Group>| Bar {
        label,
        counts: match g {
            Some(g) if g.suppressed => None,
            Some(g) => {
                let incidents = g.incidents.unwrap_or(0);
                let significant = g.significant.unwrap_or(0).min(incidents);
                Some((significant, incidents.saturating_sub(significant)))
            }
            None => Some((0, 0)),
        },
    };
    if a.group_by == GroupBy::Week {
        // Every week of the period gets its bar, those without incidents too.
        weeks(a.from, a.to)
            .into_iter()
            .map(|w| {
                let g = a
                    .groups
                    .iter()
                    .find(|g| g.key.as_deref() == Some(w.as_str()));
                bar(w, g)
            })
            .collect()
    } else {
        a.groups
            .iter()
            .map(|g| {
                bar(
                    g.key.clone().unwrap_or_else(|| "(not given)".into()),
                    Some(g),
                )
            })
            .collect()
    }
}

/// The step between ticks: a whole number 1, 2 or 5 × 10^k giving at most six intervals.
fn tick_step(max: u64) -> u64 {
    let mut magnitude = 1u64;
    loop {
        for f in [1u64, 2, 5] {
            let step = f.saturating_mul(magnitude);
            if max.div_ceil(step.max(1)) <= 6 {
                return step.max(1);
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn what(g: GroupBy) -> &'static str {
    match g {
        GroupBy::Sector => "sector",
        GroupBy::Week => "week",
        GroupBy::ThreatType => "threat type",
        GroupBy::RootCauseCategory => "root-cause category",
        GroupBy::Category => "category",
        GroupBy::Stage => "stage",
    }
}

/// The bar chart of the incidents per group (near misses and threats excluded).
pub fn svg(a: &Awareness) -> String {
    let bars = bars(a);
    let top = bars
        .iter()
        .filter_map(|b| b.counts.map(|(s, o)| s.saturating_add(o)))
        .max()
        .unwrap_or(0);
    let step = tick_step(top.max(1));
    let y_max = top.max(1).div_ceil(step).saturating_mul(step);
    let rotate = bars.len() > 10 || bars.iter().any(|b| b.label.len() > 12);
    let (left, right, plot_top, plot_h) = (64.0, 24.0, 72.0, 240.0);
    let bottom = if rotate { 130.0 } else { 60.0 };
    let slot = 56.0_f64;
    let width = (left + right + slot * bars.len().max(1) as f64).max(560.0);
    let plot_w = width - left - right;
    let slot = plot_w / bars.len().max(1) as f64;
    let height = plot_top + plot_h + bottom + 28.0;
    let y = |v: u64| plot_top + plot_h - plot_h * (v as f64) / (y_max as f64);
    let period = format!(
        "{} to {}",
        a.from.format("%Y-%m-%d"),
        a.to.format("%Y-%m-%d")
    );
    let title = format!("Incidents by {}, {period}", what(a.group_by));
    let total: u64 = bars
        .iter()
        .filter_map(|b| b.counts.map(|(s, o)| s.saturating_add(o)))
        .sum();
    let withheld = bars.iter().filter(|b| b.counts.is_none()).count();
    let mut desc = format!(
        "{} bars, one per {}; {total} incidents shown, significant ones at the bottom of each bar.",
        bars.len(),
        what(a.group_by)
    );
    if withheld > 0 {
        let _ = write!(
            desc,
            " {withheld} groups withheld by disclosure control (fewer than {} entities).",
            a.suppressed_below.unwrap_or(0)
        );
    }
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" role="img" aria-labelledby="chart-title chart-desc" font-family="sans-serif">"#
    );
    let _ = write!(
        s,
        r#"<title id="chart-title">{}</title><desc id="chart-desc">{}</desc>"#,
        escape(&title),
        escape(&desc)
    );
    let _ = write!(
        s,
        r##"<rect width="100%" height="100%" fill="#FFFFFF"/><text x="{:.1}" y="28" font-size="18" text-anchor="middle">{}</text>"##,
        width / 2.0,
        escape(&title)
    );
    // Legend.
    let mut lx = left;
    let mut legend = vec![(SIGNIFICANT, "significant"), (OTHER, "other incidents")];
    if withheld > 0 {
        legend.push((WITHHELD, "withheld"));
    }
    for (colour, name) in legend {
        let _ = write!(
            s,
            r#"<rect x="{lx:.1}" y="42" width="12" height="12" fill="{colour}"/><text x="{:.1}" y="52" font-size="12">{name}</text>"#,
            lx + 16.0
        );
        lx += 24.0 + 7.0 * name.len() as f64;
    }
    // Whole-number ticks, a light line at each.
    let mut v = 0;
    while v <= y_max {
        let yy = y(v);
        let _ = write!(
            s,
            r##"<line x1="{left:.1}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#E5E5E5"/><text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end">{v}</text>"##,
            left + plot_w,
            left - 6.0,
            yy + 4.0
        );
        v = v.saturating_add(step);
        if step == 0 {
            break;
        }
    }
    let _ = write!(
        s,
        r#"<text x="16" y="{:.1}" font-size="12" text-anchor="middle" transform="rotate(-90 16 {:.1})">incidents</text>"#,
        plot_top + plot_h / 2.0,
        plot_top + plot_h / 2.0
    );
    for (i, b) in bars.iter().enumerate() {
        let x0 = left + slot * i as f64;
        let bw = slot * 0.7;
        let bx = x0 + (slot - bw) / 2.0;
        let centre = x0 + slot / 2.0;
        match b.counts {
            Some((significant, other)) => {
                let base = y(0);
                let ys = y(significant);
                let yo = y(significant.saturating_add(other));
                let _ = write!(
                    s,
                    r#"<rect x="{bx:.1}" y="{ys:.1}" width="{bw:.1}" height="{:.1}" fill="{SIGNIFICANT}"><title>{}: {significant} significant</title></rect>"#,
                    base - ys,
                    escape(&b.label)
                );
                let _ = write!(
                    s,
                    r#"<rect x="{bx:.1}" y="{yo:.1}" width="{bw:.1}" height="{:.1}" fill="{OTHER}"><title>{}: {other} other incidents</title></rect>"#,
                    ys - yo,
                    escape(&b.label)
                );
            }
            None => {
                let _ = write!(
                    s,
                    r#"<rect x="{bx:.1}" y="{plot_top:.1}" width="{bw:.1}" height="{plot_h:.1}" fill="none" stroke="{WITHHELD}" stroke-dasharray="4 3"><title>{}: withheld</title></rect>"#,
                    escape(&b.label)
                );
            }
        }
        let ly = plot_top + plot_h + 18.0;
        if rotate {
            let _ = write!(
                s,
                r#"<text x="{centre:.1}" y="{ly:.1}" font-size="11" text-anchor="end" transform="rotate(-45 {centre:.1} {ly:.1})">{}</text>"#,
                escape(&b.label)
            );
        } else {
            let _ = write!(
                s,
                r#"<text x="{centre:.1}" y="{ly:.1}" font-size="11" text-anchor="middle">{}</text>"#,
                escape(&b.label)
            );
        }
    }
    let _ = write!(
        s,
        r##"<line x1="{left:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#333333"/></svg>"##,
        left + plot_w,
        y(0),
        y(0)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_whole_numbers_and_at_most_six() {
        for (max, step) in [
            (1, 1),
            (5, 1),
            (6, 1),
            (7, 2),
            (12, 2),
            (13, 5),
            (30, 5),
            (31, 10),
            (600, 100),
            (601, 200),
        ] {
            assert_eq!(tick_step(max), step, "{max}");
        }
    }
}
