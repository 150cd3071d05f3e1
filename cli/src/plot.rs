//! The picture an operator wants: reports per minute over simulated time, window marked.

use std::path::Path;

use devcare::Campaign;
use devcare::sim::FleetOutcome;
use plotters::prelude::*;

use crate::error::{Result, internal};

/// Writes an SVG bar chart of reports per minute since issue, with the report window shaded.
pub(crate) fn reports_per_minute(path: &Path, c: &Campaign, out: &FleetOutcome) -> Result<()> {
    let s = &c.schedule;
    let open_min = (s.evaluate_after.as_millis() + s.report.offset.as_millis()) as f64 / 60_000.0;
    let close_min = open_min + s.report.window.as_millis() as f64 / 60_000.0;
    let last = out.reports_per_minute.keys().last().copied().unwrap_or(0) as f64;
    let x_max = (close_min.max(last) + 5.0).ceil();
    let y_max = (out.peak_reports_per_minute().max(1) as f64 * 1.35).ceil();

    let root = SVGBackend::new(path, (1000, 500)).into_drawing_area();
    let e = |e: &dyn std::fmt::Display| internal(format!("plot: {e}"));
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{}: {} reports from {} devices (window {} opening {} after issue)",
                c.id,
                out.reports_sent,
                out.devices,
                s.report.window,
                s.evaluate_after.plus(s.report.offset)
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc("minutes since issue (simulated)")
        .y_desc("reports per minute")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(|x| e(&x))?;
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(open_min, 0.0), (close_min, y_max)],
            RGBColor(255, 200, 80).mix(0.25).filled(),
        )))
        .map_err(|x| e(&x))?
        .label("report window")
        .legend(|(x, y)| {
            Rectangle::new(
                [(x, y - 5), (x + 15, y + 5)],
                RGBColor(255, 200, 80).mix(0.5).filled(),
            )
        });
    chart
        .draw_series(out.reports_per_minute.iter().map(|(&m, &n)| {
            let x = m as f64;
            Rectangle::new([(x, 0.0), (x + 0.9, n as f64)], BLUE.mix(0.8).filled())
        }))
        .map_err(|x| e(&x))?
        .label("reports sent")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], BLUE.mix(0.8).filled()));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))?;
    Ok(())
}
