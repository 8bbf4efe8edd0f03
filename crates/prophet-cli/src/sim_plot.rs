//! SVG plots of simulation runs, for the metric of the first objective, one
//! series per labelled variant:
//!
//! - `cdf-<metric>.svg`: the distribution (log latency axis);
//! - `tail-<metric>.svg`: the tail, `1 − F` on a log axis from 1 down to
//!   1e-4, where the 99th and 99.9th percentiles are a decade apart instead
//!   of a hair's width at the top of a CDF;
//! - `over-time-<metric>.svg`: the p99 per simulated second, on a log axis
//!   (a 2 s stall and a 10 ms baseline both stay readable);
//! - `within-<objective>.svg`, for each objective that is a fraction of
//!   samples under a threshold (e.g. reads within 1 s): that fraction per
//!   simulated second, from 0 to 1.
//!
//! With several seeds each series is the median over the seeds, with a band
//! from the lowest to the highest seed. Twelve colours, each with its own
//! marker shape, tell twelve series apart (more repeat a colour with another
//! marker).

use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;
use prophet::sim::RunReport;

/// Twelve distinct colours (Paired-like, darkened where light).
pub const COLORS: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(90, 90, 90),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 128),
    RGBColor(128, 0, 64),
];

/// Smallest `1 − F` the tail plot shows.
const TAIL_MIN: f64 = 1e-4;

/// A line's points.
type Points = Vec<(f64, f64)>;

/// One series: the median over seeds, and the band (lowest, highest seed)
/// when there are several seeds.
struct Series {
    label: String,
    median: Points,
    band: Option<(Points, Points)>,
}

/// Per x of `per_seed` (each seed's points at the same xs), the median,
/// lowest and highest y over the seeds.
fn over_seeds(label: &str, per_seed: &[Vec<(f64, f64)>]) -> Series {
    let len = per_seed.iter().map(Vec::len).min().unwrap_or(0);
    let mut median = Vec::with_capacity(len);
    let (mut low, mut high) = (Vec::with_capacity(len), Vec::with_capacity(len));
    for i in 0..len {
        let x = per_seed[0][i].0;
        let mut ys: Vec<f64> = per_seed.iter().map(|s| s[i].1).collect();
        ys.sort_by(f64::total_cmp);
        let mid = if ys.len() % 2 == 1 {
            ys[ys.len() / 2]
        } else {
            (ys[ys.len() / 2 - 1] + ys[ys.len() / 2]) / 2.0
        };
        median.push((x, mid));
        low.push((x, ys[0]));
        high.push((x, ys[ys.len() - 1]));
    }
    Series {
        label: label.to_string(),
        median,
        band: (per_seed.len() > 1).then_some((low, high)),
    }
}

/// Swaps x and y of every point (quantile curves are computed per `q`).
fn swap(series: Series) -> Series {
    let flip = |v: Vec<(f64, f64)>| v.into_iter().map(|(a, b)| (b, a)).collect();
    Series {
        label: series.label,
        median: flip(series.median),
        band: series.band.map(|(l, h)| (flip(l), flip(h))),
    }
}

/// Writes the three plots for the first objective's metric, and one per
/// fraction-under-a-threshold objective; `runs` holds each variant's label
/// and its runs (one per seed). Returns the files.
/// Quantile levels of the distributions in `prophet sim --json`.
const CDF_LEVELS: usize = 100;

/// Each objective metric's distribution over `reports` (one per seed): at
/// 101 evenly spaced quantile levels, the median over the seeds of each
/// seed's quantile, as `{metric: {"quantiles": [q…], "values": [x…]}}`
/// (what the dashboard's simulation page draws).
pub fn distributions(reports: &[&RunReport]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    let Some(first) = reports.first() else {
        return serde_json::Value::Object(out);
    };
    let qs: Vec<f64> = (0..=CDF_LEVELS)
        .map(|i| i as f64 / CDF_LEVELS as f64)
        .collect();
    for objective in &first.objectives {
        if out.contains_key(&objective.metric) {
            continue;
        }
        let metrics: Vec<_> = reports
            .iter()
            .filter_map(|r| r.metrics.get(&objective.metric))
            .filter(|m| m.count() > 0)
            .collect();
        if metrics.is_empty() {
            continue;
        }
        let per_seed: Vec<Vec<(f64, f64)>> = metrics
            .iter()
            .map(|m| qs.iter().map(|&q| (q, m.quantile(q))).collect())
            .collect();
        let series = over_seeds(&objective.metric, &per_seed);
        out.insert(
            objective.metric.clone(),
            serde_json::json!({
                "quantiles": series.median.iter().map(|p| p.0).collect::<Vec<_>>(),
                "values": series.median.iter().map(|p| p.1).collect::<Vec<_>>(),
            }),
        );
    }
    serde_json::Value::Object(out)
}

pub fn write_plots(dir: &Path, runs: &[(String, Vec<&RunReport>)]) -> Result<Vec<PathBuf>, String> {
    let Some(metric) = runs
        .first()
        .and_then(|(_, r)| r.first())
        .and_then(|r| r.objectives.first())
        .map(|o| o.metric.clone())
    else {
        return Err("nothing to plot: the system declares no objective".into());
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let safe: String = metric
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let seeds = runs.first().map_or(0, |(_, r)| r.len());
    let note = if seeds > 1 {
        format!("median of {seeds} seeds, band: lowest to highest")
    } else {
        "one seed".to_string()
    };
    // Quantile curves, per seed, at the same quantiles: the CDF at evenly
    // spaced q, the tail at q = 1 − 10^(−k/20) down to 1 − TAIL_MIN.
    let cdf_qs: Vec<f64> = (0..=200).map(|i| f64::from(i) / 200.0).collect();
    let tail_qs: Vec<f64> = (0..=((-TAIL_MIN.log10()) * 20.0) as i32)
        .map(|k| 1.0 - 10f64.powf(-f64::from(k) / 20.0))
        .collect();
    let mut cdf = Vec::new();
    let mut tail = Vec::new();
    let mut over_time = Vec::new();
    for (label, reports) in runs {
        let metrics: Vec<_> = reports
            .iter()
            .filter_map(|r| r.metrics.get(&metric))
            .collect();
        if metrics.is_empty() {
            continue;
        }
        let curve = |qs: &[f64], y: &dyn Fn(f64) -> f64| -> Vec<Vec<(f64, f64)>> {
            metrics
                .iter()
                .map(|m| qs.iter().map(|&q| (y(q), m.quantile(q))).collect())
                .collect()
        };
        cdf.push(swap(over_seeds(label, &curve(&cdf_qs, &|q| q))));
        tail.push(swap(over_seeds(label, &curve(&tail_qs, &|q| 1.0 - q))));
        let per_second: Vec<Vec<(f64, f64)>> = metrics
            .iter()
            .map(|m| p99_per_second(m.samples()))
            .collect();
        over_time.push(over_seeds(label, &aligned(per_second)));
    }
    let cdf_file = dir.join(format!("cdf-{safe}.svg"));
    let tail_file = dir.join(format!("tail-{safe}.svg"));
    let time_file = dir.join(format!("over-time-{safe}.svg"));
    let (lo, hi) = extent(&cdf, |p| p.0);
    Plot {
        file: &cdf_file,
        title: &format!("CDF of {metric} ({note})"),
        x_label: &format!("{metric} (log scale)"),
        y_label: "fraction ≤ x",
    }
    .draw(&cdf, Axis::Log(lo, hi), Axis::Linear(0.0, 1.0))?;
    Plot {
        file: &tail_file,
        title: &format!("Tail of {metric} ({note})"),
        x_label: &format!("{metric} (log scale)"),
        y_label: "fraction > x (log scale)",
    }
    .draw(&tail, Axis::Log(lo, hi), Axis::Log(TAIL_MIN, 1.0))?;
    let (t0, t1) = extent(&over_time, |p| p.0);
    let (y0, y1) = extent(&over_time, |p| p.1);
    Plot {
        file: &time_file,
        title: &format!("p99 of {metric} per second ({note})"),
        x_label: "simulated time (s)",
        y_label: &format!("{metric} (log scale)"),
    }
    .draw(
        &over_time,
        Axis::Linear(t0, t1.max(t0 + 1.0)),
        Axis::Log(y0, y1),
    )?;
    let mut files = vec![cdf_file, tail_file, time_file];
    files.extend(write_fraction_plots(dir, runs, &note)?);
    Ok(files)
}

/// One plot per objective that is a fraction under a threshold: the
/// fraction per simulated second.
fn write_fraction_plots(
    dir: &Path,
    runs: &[(String, Vec<&RunReport>)],
    note: &str,
) -> Result<Vec<PathBuf>, String> {
    let declared: Vec<(String, String, f64)> = runs
        .first()
        .and_then(|(_, r)| r.first())
        .map(|r| {
            r.objectives
                .iter()
                .filter_map(|o| {
                    let t = o.aggregate.threshold()?;
                    Some((o.name.clone(), o.metric.clone(), t))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut files = Vec::new();
    for (name, metric, threshold) in declared {
        let mut series = Vec::new();
        for (label, reports) in runs {
            let per_second: Vec<Vec<(f64, f64)>> = reports
                .iter()
                .filter_map(|r| r.metrics.get(&metric))
                .map(|m| fraction_per_second(m.samples(), threshold))
                .collect();
            if !per_second.is_empty() {
                series.push(over_seeds(label, &aligned(per_second)));
            }
        }
        let (t0, t1) = extent(&series, |p| p.0);
        let safe: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let file = dir.join(format!("within-{safe}.svg"));
        Plot {
            file: &file,
            title: &format!("{name}: fraction of {metric} ≤ {threshold} per second ({note})"),
            x_label: "simulated time (s)",
            y_label: &format!("fraction of {metric} ≤ {threshold}"),
        }
        .draw(
            &series,
            Axis::Linear(t0, t1.max(t0 + 1.0)),
            Axis::Linear(0.0, 1.0),
        )?;
        files.push(file);
    }
    Ok(files)
}

/// Per simulated second, the fraction of samples at most `threshold`.
fn fraction_per_second(samples: &[(f32, f32)], threshold: f64) -> Vec<(f64, f64)> {
    let mut buckets: std::collections::BTreeMap<u64, (u64, u64)> = Default::default();
    for &(t, v) in samples {
        let (under, all) = buckets.entry(t.max(0.0) as u64).or_default();
        *under += u64::from(f64::from(v) <= threshold);
        *all += 1;
    }
    buckets
        .into_iter()
        .map(|(second, (under, all))| (second as f64 + 0.5, under as f64 / all as f64))
        .collect()
}

/// Per-second series of several seeds restricted to the seconds all have.
fn aligned(per_seed: Vec<Vec<(f64, f64)>>) -> Vec<Vec<(f64, f64)>> {
    let common: std::collections::BTreeSet<u64> = per_seed
        .iter()
        .map(|s| {
            s.iter()
                .map(|p| p.0.to_bits())
                .collect::<std::collections::BTreeSet<_>>()
        })
        .reduce(|a, b| a.intersection(&b).copied().collect())
        .unwrap_or_default();
    per_seed
        .into_iter()
        .map(|s| {
            s.into_iter()
                .filter(|p| common.contains(&p.0.to_bits()))
                .collect()
        })
        .collect()
}

/// The positive range of `coord` over every series' points (for a log axis).
fn extent(series: &[Series], coord: impl Fn(&(f64, f64)) -> f64) -> (f64, f64) {
    let values = series
        .iter()
        .flat_map(|s| {
            s.median
                .iter()
                .chain(s.band.iter().flat_map(|(l, h)| l.iter().chain(h)))
        })
        .map(coord)
        .filter(|v| *v > 0.0 && v.is_finite());
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo.is_finite() {
        (lo, hi.max(lo * 10.0))
    } else {
        (1e-6, 1.0)
    }
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

#[derive(Clone, Copy)]
enum Axis {
    Linear(f64, f64),
    Log(f64, f64),
}

struct Plot<'p> {
    file: &'p Path,
    title: &'p str,
    x_label: &'p str,
    y_label: &'p str,
}

impl Plot<'_> {
    fn draw(&self, series: &[Series], x: Axis, y: Axis) -> Result<(), String> {
        let err = |e: &dyn std::fmt::Display| format!("cannot draw {}: {e}", self.file.display());
        let root = SVGBackend::new(self.file, (960, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(self.title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(80);
        let drawn = match (x, y) {
            (Axis::Log(a, b), Axis::Linear(c, d)) => {
                let chart = builder.build_cartesian_2d((a..b).log_scale(), c..d);
                self.lines(chart.map_err(|e| err(&e))?, series, (a, c))
            }
            (Axis::Log(a, b), Axis::Log(c, d)) => {
                let chart = builder.build_cartesian_2d((a..b).log_scale(), (c..d).log_scale());
                self.lines(chart.map_err(|e| err(&e))?, series, (a, c))
            }
            (Axis::Linear(a, b), Axis::Log(c, d)) => {
                let chart = builder.build_cartesian_2d(a..b, (c..d).log_scale());
                self.lines(chart.map_err(|e| err(&e))?, series, (a, c))
            }
            (Axis::Linear(a, b), Axis::Linear(c, d)) => {
                let chart = builder.build_cartesian_2d(a..b, c..d);
                self.lines(chart.map_err(|e| err(&e))?, series, (a, c))
            }
        };
        drawn.map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
        Ok(())
    }

    /// The mesh, each series' band, line, markers and legend entry. Points
    /// are clamped to `floor` (a log axis cannot show values ≤ 0).
    fn lines<'a, X, Y>(
        &self,
        mut chart: ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
        series: &[Series],
        floor: (f64, f64),
    ) -> Result<(), DrawingAreaErrorKind<std::io::Error>>
    where
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        chart
            .configure_mesh()
            .x_desc(self.x_label)
            .y_desc(self.y_label)
            .draw()?;
        let clamp = move |&(x, y): &(f64, f64)| (x.max(floor.0), y.max(floor.1));
        for (i, s) in series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            if let Some((low, high)) = &s.band {
                let outline: Vec<(f64, f64)> =
                    high.iter().chain(low.iter().rev()).map(clamp).collect();
                chart.draw_series(std::iter::once(Polygon::new(outline, color.mix(0.15))))?;
            }
            let points: Vec<(f64, f64)> = s.median.iter().map(clamp).collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(s.label.clone())
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (20, 0)], color.stroke_width(2))
                        + marker((10, 0), i, color)
                });
            let every = (points.len() / 12).max(1);
            chart.draw_series(
                points
                    .iter()
                    .skip(i % every)
                    .step_by(every)
                    .map(|&p| EmptyElement::at(p) + marker((0, 0), i, color)),
            )?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
    }
}

/// Series `i`'s marker at pixel offset `at`: a circle, triangle or cross by
/// turns, so series whose colours repeat still differ.
fn marker<'b, DB: DrawingBackend>(
    at: (i32, i32),
    i: usize,
    color: RGBColor,
) -> DynElement<'b, DB, (i32, i32)> {
    let style = color.stroke_width(2);
    match (i / COLORS.len() + i) % 3 {
        0 => Circle::new(at, 4, style).into_dyn(),
        1 => TriangleMarker::new(at, 5, style).into_dyn(),
        _ => Cross::new(at, 4, style).into_dyn(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_colours_are_distinct_and_the_median_band_spans_the_seeds() {
        let colours: std::collections::BTreeSet<(u8, u8, u8)> =
            COLORS.iter().map(|c| (c.0, c.1, c.2)).collect();
        assert_eq!(colours.len(), 12);
        let s = over_seeds(
            "x",
            &[
                vec![(1.0, 3.0), (2.0, 30.0)],
                vec![(1.0, 1.0), (2.0, 10.0)],
                vec![(1.0, 2.0), (2.0, 20.0)],
            ],
        );
        assert_eq!(s.median, [(1.0, 2.0), (2.0, 20.0)]);
        let (low, high) = s.band.expect("a band for several seeds");
        assert_eq!(
            (low, high),
            (vec![(1.0, 1.0), (2.0, 10.0)], vec![(1.0, 3.0), (2.0, 30.0)])
        );
        assert!(over_seeds("one", &[vec![(1.0, 1.0)]]).band.is_none());
    }

    #[test]
    fn fraction_per_second_counts_samples_at_most_the_threshold() {
        let samples = [(0.1, 0.5), (0.9, 1.0), (0.95, 1.5), (2.2, 3.0), (2.5, 0.2)];
        assert_eq!(
            fraction_per_second(&samples, 1.0),
            [(0.5, 2.0 / 3.0), (2.5, 0.5)]
        );
    }
}
