//! SVG plots of simulation runs: latency CDF per policy, and the first
//! objective's metric over time (p99 per second).

use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use prophet::sim::RunReport;

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Writes `cdf-<metric>.svg` and `over-time-<metric>.svg` for the metric of
/// the first objective, one line per labelled run. Returns the files.
pub fn write_plots(dir: &Path, runs: &[(String, &RunReport)]) -> Result<Vec<PathBuf>, String> {
    let Some(metric) = runs
        .first()
        .and_then(|(_, r)| r.objectives.first())
        .map(|o| o.metric.clone())
    else {
        return Err("nothing to plot: the system declares no objective".into());
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let safe: String = metric
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let cdf_file = dir.join(format!("cdf-{safe}.svg"));
    let time_file = dir.join(format!("over-time-{safe}.svg"));
    let cdfs: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .filter_map(|(label, r)| r.metrics.get(&metric).map(|s| (label.clone(), s.cdf(400))))
        .collect();
    let over_time: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .filter_map(|(label, r)| {
            r.metrics
                .get(&metric)
                .map(|s| (label.clone(), p99_per_second(s.samples())))
        })
        .collect();
    draw(
        &cdf_file,
        &format!("CDF of {metric} (first seed)"),
        &format!("{metric} (log scale)"),
        "fraction ≤ x",
        &cdfs,
        true,
    )?;
    draw(
        &time_file,
        &format!("p99 of {metric} per second (first seed)"),
        "simulated time (s)",
        &metric,
        &over_time,
        false,
    )?;
    Ok(vec![cdf_file, time_file])
}

fn p99_per_second(samples: &[(f32, f32)]) -> Vec<(f64, f64)> {
    let mut buckets: std::collections::BTreeMap<u64, Vec<f32>> = Default::default();
    for &(t, v) in samples {
        buckets.entry(t.max(0.0) as u64).or_default().push(v);
    }
    buckets
        .into_iter()
        .map(|(second, mut values)| {
            values.sort_by(f32::total_cmp);
            let i = ((values.len() as f64 * 0.99).ceil() as usize).clamp(1, values.len()) - 1;
            (second as f64 + 0.5, f64::from(values[i]))
        })
        .collect()
}

fn draw(
    file: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    lines: &[(String, Vec<(f64, f64)>)],
    log_x: bool,
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("cannot draw {}: {e}", file.display());
    let points = lines.iter().flat_map(|(_, p)| p.iter());
    let (mut x_min, mut x_max, mut y_max) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
    for &(x, y) in points {
        x_min = x_min.min(x);
        x_max = x_max.max(x);
        y_max = y_max.max(y);
    }
    if !x_min.is_finite() {
        x_min = 0.0;
        x_max = 1.0;
    }
    let root = SVGBackend::new(file, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70);
    let y_top = if log_x { 1.0 } else { (y_max * 1.1).max(1e-9) };
    if log_x {
        let lo = x_min.max(1e-6);
        let hi = x_max.max(lo * 10.0);
        let chart = builder
            .build_cartesian_2d((lo..hi).log_scale(), 0.0..y_top)
            .map_err(|e| err(&e))?;
        // A log axis cannot show x ≤ 0: clamp to its low end.
        draw_lines(
            chart,
            (x_label, y_label),
            lines,
            lo,
            SeriesLabelPosition::LowerRight,
        )
        .map_err(|e| err(&e))?;
    } else {
        let chart = builder
            .build_cartesian_2d(x_min..x_max.max(x_min + 1.0), 0.0..y_top)
            .map_err(|e| err(&e))?;
        draw_lines(
            chart,
            (x_label, y_label),
            lines,
            f64::NEG_INFINITY,
            SeriesLabelPosition::UpperRight,
        )
        .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// Draws the mesh, one coloured line per labelled series (x clamped to at
/// least `x_floor`) and the legend, on a chart with any kind of x axis.
fn draw_lines<'a, X>(
    mut chart: ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, RangedCoordf64>>,
    (x_label, y_label): (&str, &str),
    lines: &[(String, Vec<(f64, f64)>)],
    x_floor: f64,
    legend: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<std::io::Error>>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .draw()?;
    for (i, (label, pts)) in lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|&(x, y)| (x.max(x_floor), y)),
                color.stroke_width(2),
            ))?
            .label(label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(legend)
        .draw()
}
