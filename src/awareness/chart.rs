//! The weekly chart for a situation report: one bar per ISO week of the period.

use super::model::Awareness;
use chrono::{DateTime, Datelike, Duration, Utc};
use plotters::prelude::*;

/// The colour of a published week's bar (`#1F77B4`); a suppressed week is drawn grey.
pub const BAR: RGBColor = RGBColor(31, 119, 180);
const SUPPRESSED: RGBColor = RGBColor(187, 187, 187);

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

/// A plain SVG bar chart of the incidents per week (near misses and threats excluded).
pub fn weekly_svg(a: &Awareness) -> Result<String, String> {
    let weeks = weeks(a.from, a.to);
    let bars: Vec<(String, Option<u64>, bool)> = weeks
        .iter()
        .map(
            |w| match a.groups.iter().find(|g| g.key.as_deref() == Some(w)) {
                Some(g) => (w.clone(), g.incidents, g.suppressed),
                None => (w.clone(), Some(0), false),
            },
        )
        .collect();
    let max = bars.iter().filter_map(|b| b.1).max().unwrap_or(0).max(1) as f64;
    let width = (80 + 28 * bars.len()).clamp(480, 4000) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let title = format!(
            "Incidents per week, {} to {}",
            a.from.format("%Y-%m-%d"),
            a.to.format("%Y-%m-%d")
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(44)
            .build_cartesian_2d(0f64..bars.len().max(1) as f64, 0f64..max * 1.1)
            .map_err(|e| e.to_string())?;
        let labels = bars.iter().map(|b| b.0.clone()).collect::<Vec<_>>();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.len().min(26))
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - x.floor()).abs() < f64::EPSILON {
                    labels.get(i).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("incidents")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, count, hidden))| {
                let x = i as f64;
                let (height, colour) = if *hidden {
                    (max * 1.1, SUPPRESSED)
                } else {
                    (count.unwrap_or(0) as f64, BAR)
                };
                Rectangle::new([(x + 0.1, 0.0), (x + 0.9, height)], colour.filled())
            }))
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}
