//! `msgdex bench --chart`: the per-template median latency of each engine
//! as grouped bars on a log scale, in SVG.

use std::path::Path;

use msgdex_bench::harness::BenchReport;
use plotters::prelude::*;

/// The colours of the engines' bars, in the report's engine order.
const COLOURS: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];

/// Draws the report's medians into an SVG file at `path`.
pub(crate) fn draw(report: &BenchReport, path: &Path) -> Result<(), String> {
    let fail = |error: &dyn std::fmt::Display| format!("cannot draw {}: {error}", path.display());
    let templates: Vec<String> = report
        .latencies
        .first()
        .map(|(_, per_template)| per_template.iter().map(|(template, _)| template.to_string()).collect())
        .unwrap_or_default();
    let micros: Vec<(&str, Vec<f64>)> = report
        .latencies
        .iter()
        .map(|(engine, per_template)| {
            let medians = per_template.iter().map(|(_, latencies)| latencies.median().as_secs_f64() * 1e6).collect();
            (engine.name(), medians)
        })
        .collect();
    let positive = micros.iter().flat_map(|(_, medians)| medians.iter().copied()).filter(|&value| value > 0.0);
    let (low, high) = positive.fold((f64::MAX, f64::MIN), |(low, high), value| (low.min(value), high.max(value)));
    if templates.is_empty() || low > high {
        return Err(fail(&"the report holds no latencies"));
    }
    let root = SVGBackend::new(path, (1200, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|error| fail(&error))?;
    let count = templates.len();
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("median latency per template, {} messages (log scale)", report.messages), ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(36)
        .y_label_area_size(72)
        .build_cartesian_2d(-0.5f64..count as f64 - 0.5, ((low / 2.0)..(high * 2.0)).log_scale())
        .map_err(|error| fail(&error))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(count)
        .x_label_formatter(&|x| {
            let index = x.round();
            (index >= 0.0 && (x - index).abs() < 1e-6)
                .then(|| templates.get(index as usize).cloned())
                .flatten()
                .unwrap_or_default()
        })
        .y_desc("median latency (µs)")
        .draw()
        .map_err(|error| fail(&error))?;
    let width = 0.8 / micros.len() as f64;
    for (number, (engine, medians)) in micros.iter().enumerate() {
        let colour = COLOURS[number % COLOURS.len()];
        let bars = medians.iter().enumerate().filter(|(_, &value)| value > 0.0).map(move |(template, &value)| {
            let left = template as f64 - 0.4 + number as f64 * width;
            Rectangle::new([(left, low / 2.0), (left + width, value)], colour.filled())
        });
        chart
            .draw_series(bars)
            .map_err(|error| fail(&error))?
            .label(*engine)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|error| fail(&error))?;
    root.present().map_err(|error| fail(&error))
}
