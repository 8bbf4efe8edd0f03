//! Delay distributions: what the network model samples for link latency,
//! service, think and down times, seeded by the run's generator. Parsing a
//! file of measured delays is here; reading it is the caller's.

use std::time::Duration;

use rand::{Rng, RngCore};
use rand_distr::{Distribution, LogNormal, Normal};
use serde::{Deserialize, Serialize};

/// A distribution of delays, in milliseconds. Samples are never negative.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "kebab-case", deny_unknown_fields)]
pub enum LatencyDist {
    /// Always `ms`.
    Constant {
        /// The delay.
        ms: f64,
    },
    /// Uniform on `[min_ms, max_ms]`.
    Uniform {
        /// Lower end.
        min_ms: f64,
        /// Upper end.
        max_ms: f64,
    },
    /// Normal with the given mean and standard deviation, cut at 0.
    Normal {
        /// Mean.
        mean_ms: f64,
        /// Standard deviation.
        sd_ms: f64,
    },
    /// Log-normal with the given median; `sigma` is the standard deviation of
    /// the logarithm (0.5 gives a moderately long tail).
    LogNormal {
        /// Median (`exp(mu)`).
        median_ms: f64,
        /// Shape.
        sigma: f64,
    },
    /// Pareto: `scale_ms / U^(1/shape)` for `U` uniform on (0, 1], so never
    /// below `scale_ms`; a `shape` near 1 gives a very heavy tail (the mean
    /// is infinite at `shape` ≤ 1).
    Pareto {
        /// The minimum (`x_m`).
        scale_ms: f64,
        /// The tail index (`α` > 0).
        shape: f64,
    },
    /// Measured delays, sampled by inverse transform of their empirical CDF
    /// (every measured value equally likely): `samples_ms` written inline,
    /// or the lines of `file`, which the caller reads and hands over with
    /// [`LatencyDist::load_samples`] (this crate does no I/O).
    Empirical {
        /// The samples, sorted once loaded from a file.
        #[serde(default)]
        samples_ms: Vec<f64>,
        /// A file of measured delays, one per line with its unit (`12.5ms`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<String>,
    },
}

impl Default for LatencyDist {
    fn default() -> Self {
        LatencyDist::Constant { ms: 0.0 }
    }
}

impl LatencyDist {
    /// A constant delay.
    pub fn constant(d: Duration) -> Self {
        LatencyDist::Constant {
            ms: d.as_secs_f64() * 1e3,
        }
    }

    /// Checks the parameters; the error says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let ok = |x: f64| x.is_finite() && x >= 0.0;
        match self {
            LatencyDist::Constant { ms } if !ok(*ms) => Err(format!("ms = {ms} must be ≥ 0")),
            LatencyDist::Uniform { min_ms, max_ms } if !(ok(*min_ms) && min_ms <= max_ms) => Err(
                format!("need 0 ≤ min_ms ≤ max_ms, got {min_ms} and {max_ms}"),
            ),
            LatencyDist::Normal { mean_ms, sd_ms } if !(ok(*mean_ms) && ok(*sd_ms)) => Err(
                format!("mean_ms and sd_ms must be ≥ 0, got {mean_ms} and {sd_ms}"),
            ),
            LatencyDist::LogNormal { median_ms, sigma }
                if !(ok(*sigma) && median_ms.is_finite() && *median_ms > 0.0) =>
            {
                Err(format!(
                    "need median_ms > 0 and sigma ≥ 0, got {median_ms} and {sigma}"
                ))
            }
            LatencyDist::Pareto { scale_ms, shape }
                if !(scale_ms.is_finite()
                    && *scale_ms > 0.0
                    && shape.is_finite()
                    && *shape > 0.0) =>
            {
                Err(format!(
                    "pareto needs scale_ms > 0 and shape > 0, got {scale_ms} and {shape}"
                ))
            }
            LatencyDist::Empirical {
                samples_ms,
                file: Some(file),
            } if samples_ms.is_empty() => Err(format!("empirical file {file} holds no delay")),
            LatencyDist::Empirical { samples_ms, .. }
                if samples_ms.is_empty() || !samples_ms.iter().all(|&s| ok(s)) =>
            {
                Err("samples_ms must be a non-empty list of delays ≥ 0".to_string())
            }
            _ => Ok(()),
        }
    }

    /// Whether every sample is 0 (lets the simulator skip sampling).
    pub fn is_zero(&self) -> bool {
        matches!(self, LatencyDist::Constant { ms } if *ms == 0.0)
    }

    /// One sample, in nanoseconds.
    pub fn sample_ns(&self, rng: &mut dyn RngCore) -> u64 {
        let ms = match self {
            LatencyDist::Constant { ms } => *ms,
            LatencyDist::Uniform { min_ms, max_ms } => {
                if max_ms > min_ms {
                    rng.random_range(*min_ms..=*max_ms)
                } else {
                    *min_ms
                }
            }
            LatencyDist::Normal { mean_ms, sd_ms } => Normal::new(*mean_ms, *sd_ms)
                .map(|d| d.sample(rng))
                .unwrap_or(*mean_ms),
            LatencyDist::LogNormal { median_ms, sigma } => LogNormal::new(median_ms.ln(), *sigma)
                .map(|d| d.sample(rng))
                .unwrap_or(*median_ms),
            LatencyDist::Pareto { scale_ms, shape } => {
                // Inverse CDF: F(x) = 1 - (x_m / x)^α, with 1 - U in (0, 1].
                let u: f64 = rng.random();
                scale_ms / (1.0 - u).powf(1.0 / shape)
            }
            // The inverse of the empirical CDF at a uniform U is the sample
            // of rank ⌈U·n⌉: a uniformly drawn index.
            LatencyDist::Empirical { samples_ms, .. } => {
                samples_ms[rng.random_range(0..samples_ms.len())]
            }
        };
        (ms.max(0.0) * 1e6) as u64
    }

    /// The distribution's mean in milliseconds (for the normal, of the
    /// uncut distribution).
    pub fn mean_ms(&self) -> f64 {
        match self {
            LatencyDist::Constant { ms } => *ms,
            LatencyDist::Uniform { min_ms, max_ms } => (min_ms + max_ms) / 2.0,
            LatencyDist::Normal { mean_ms, .. } => *mean_ms,
            LatencyDist::LogNormal { median_ms, sigma } => median_ms * (sigma * sigma / 2.0).exp(),
            LatencyDist::Pareto { scale_ms, shape } if *shape > 1.0 => {
                shape * scale_ms / (shape - 1.0)
            }
            LatencyDist::Pareto { .. } => f64::INFINITY,
            LatencyDist::Empirical { samples_ms, .. } => {
                samples_ms.iter().sum::<f64>() / samples_ms.len().max(1) as f64
            }
        }
    }

    /// The file an empirical distribution is read from, if any.
    pub fn samples_file(&self) -> Option<&str> {
        match self {
            LatencyDist::Empirical { file, .. } => file.as_deref(),
            _ => None,
        }
    }

    /// Fills an empirical distribution read from a file with `text`'s
    /// delays: one per line with its unit (`12.5ms`, `0.8s`, `900us`);
    /// blank lines and lines starting with `#` are skipped. At most
    /// [`EMPIRICAL_SAMPLES_MAX`] values. The error names the file and line.
    pub fn load_samples(&mut self, text: &str) -> Result<(), String> {
        let LatencyDist::Empirical {
            samples_ms,
            file: Some(file),
        } = self
        else {
            return Ok(());
        };
        let mut samples = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| format!("{file}: line {}: `{line}` {why}", i + 1);
            if line.ends_with(|c: char| c.is_ascii_digit() || c == '.') {
                return Err(bad(
                    "has no unit: write each delay with one (12.5ms, 0.8s, 900us)",
                ));
            }
            let d = crate::sim::scenario::parse_duration(line)
                .map_err(|e| format!("{file}: line {}: {e}", i + 1))?;
            if samples.len() >= EMPIRICAL_SAMPLES_MAX {
                return Err(bad(&format!(
                    "is past the limit of {EMPIRICAL_SAMPLES_MAX} delays per file"
                )));
            }
            samples.push(d.as_secs_f64() * 1e3);
        }
        if samples.is_empty() {
            return Err(format!(
                "{file}: holds no delay (expected one per line with its unit, e.g. 12.5ms)"
            ));
        }
        samples.sort_by(f64::total_cmp);
        *samples_ms = samples;
        Ok(())
    }
}

/// Most delays one empirical file may hold.
pub const EMPIRICAL_SAMPLES_MAX: usize = 10_000_000;

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn sample_means_match_the_distributions() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for dist in [
            LatencyDist::Uniform {
                min_ms: 2.0,
                max_ms: 6.0,
            },
            LatencyDist::Normal {
                mean_ms: 10.0,
                sd_ms: 2.0,
            },
            LatencyDist::LogNormal {
                median_ms: 5.0,
                sigma: 0.5,
            },
            LatencyDist::Empirical {
                samples_ms: vec![1.0, 2.0, 9.0],
                file: None,
            },
            LatencyDist::Pareto {
                scale_ms: 2.0,
                shape: 3.0,
            },
        ] {
            let n = 20_000;
            let mean: f64 = (0..n)
                .map(|_| dist.sample_ns(&mut rng) as f64 / 1e6)
                .sum::<f64>()
                / n as f64;
            // 20 000 samples: the standard error is under 0.5% of these means; allow 3%.
            let expected = dist.mean_ms();
            assert!(
                (mean - expected).abs() < 0.03 * expected,
                "{dist:?}: mean {mean} vs {expected}"
            );
        }
    }

    #[test]
    fn pareto_and_empirical_quantiles_match_their_cdfs() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let n = 40_000;
        // Pareto(x_m = 2, α = 1.5): P(X > x) = (2 / x)^1.5, so the median is
        // 2 · 2^(1/1.5) ≈ 3.175 and the 99th percentile 2 · 100^(1/1.5) ≈ 43.09.
        let pareto = LatencyDist::Pareto {
            scale_ms: 2.0,
            shape: 1.5,
        };
        let mut xs: Vec<f64> = (0..n)
            .map(|_| pareto.sample_ns(&mut rng) as f64 / 1e6)
            .collect();
        xs.sort_by(f64::total_cmp);
        assert!(xs[0] >= 2.0);
        // Quantile margins: ±2% at the median, ±8% at p99 (its standard
        // error over 40 000 samples is about 3%).
        let (p50, p99) = (xs[n / 2], xs[n * 99 / 100]);
        assert!((p50 / 3.175 - 1.0).abs() < 0.02, "p50 {p50}");
        assert!((p99 / 43.09 - 1.0).abs() < 0.08, "p99 {p99}");
        // Measured delays from a file: each value equally likely.
        let mut dist = LatencyDist::Empirical {
            samples_ms: Vec::new(),
            file: Some("measured.txt".into()),
        };
        dist.load_samples("# read latencies\n4ms\n\n1ms\n0.002s\n3000us\n")
            .expect("loads");
        assert_eq!(
            dist,
            LatencyDist::Empirical {
                samples_ms: vec![1.0, 2.0, 3.0, 4.0],
                file: Some("measured.txt".into()),
            }
        );
        let mut counts = [0u32; 4];
        for _ in 0..n {
            counts[(dist.sample_ns(&mut rng) / 1_000_000) as usize - 1] += 1;
        }
        // Each a quarter: sd ≈ 87 of 10 000; margin 400.
        assert!(
            counts.iter().all(|&c| c.abs_diff(10_000) < 400),
            "{counts:?}"
        );
    }

    #[test]
    fn a_bad_empirical_file_names_its_line() {
        let mut dist = LatencyDist::Empirical {
            samples_ms: Vec::new(),
            file: Some("m.txt".into()),
        };
        let e = dist.load_samples("1ms\n2.5\n").unwrap_err();
        assert!(e.contains("m.txt: line 2: `2.5` has no unit"), "{e}");
        let e = dist.load_samples("1ms\nfast\n").unwrap_err();
        assert!(e.contains("m.txt: line 2: `fast`"), "{e}");
        let e = dist.load_samples("# nothing\n\n").unwrap_err();
        assert!(e.contains("m.txt: holds no delay"), "{e}");
        assert!(dist.validate().unwrap_err().contains("m.txt"));
    }
}
