//! Swarm exploration: many small, diversified searches instead of one large
//! one, for state spaces no machine exhausts (SPIN's swarm verification).
//!
//! Each worker of a swarm of `size` runs seeded random walks; worker `index`
//! draws its own seed from the swarm's and its own walk length from a ladder
//! (½, 1, 2 and 4 times the base length), so that the workers differ in
//! search order and in depth. A worker is fully described by its
//! [`SwarmWorker`], so any worker's run can be repeated exactly. Each walk
//! also keeps a sample of the fingerprints it visited (those divisible by
//! [`SAMPLE_EVERY`]); since fingerprints are uniform hashes, the union of the
//! workers' samples times [`SAMPLE_EVERY`] estimates how many distinct states
//! the swarm as a whole visited, which no single worker knows.
//!
//! [`merge`] combines the workers' reports: every violation found, with the
//! shortest trace for each property (traces replay with the checker whatever
//! worker found them), the states visited, the estimated distinct states and
//! how the estimate grew worker by worker, and the coverage, when the number
//! of reachable states is known, as that estimate over it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::explore::{Finding, FindingKind, Report, Strategy};

/// The fingerprint sampling rate: a walk keeps the fingerprints that are a
/// multiple of this.
pub const SAMPLE_EVERY: u64 = 64;

/// The walk-length ladder, in halves of the base length.
const LADDER: [usize; 4] = [1, 2, 4, 8];

/// What one worker of a swarm does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmWorker {
    /// This worker's index, `0..size` (a Kubernetes Indexed Job's
    /// `JOB_COMPLETION_INDEX`).
    pub index: u32,
    /// The number of workers.
    pub size: u32,
    /// The swarm's seed (the same for every worker).
    pub swarm_seed: u64,
    /// This worker's walk seed, drawn from the swarm's seed and the index.
    pub seed: u64,
    /// This worker's walk length, in steps.
    pub walk_len: usize,
    /// Number of walks.
    pub walks: u64,
}

impl SwarmWorker {
    /// Worker `index` of `size`, for a swarm with seed `swarm_seed`, base
    /// walk length `walk_len` and `walks` walks per worker.
    ///
    /// ```
    /// # use prophet::explore::swarm::SwarmWorker;
    /// let a = SwarmWorker::plan(0, 4, 7, 100, 10).unwrap();
    /// let b = SwarmWorker::plan(1, 4, 7, 100, 10).unwrap();
    /// assert_ne!(a.seed, b.seed);
    /// assert_eq!((a.walk_len, b.walk_len), (50, 100));
    /// assert!(SwarmWorker::plan(4, 4, 7, 100, 10).is_err());
    /// ```
    pub fn plan(
        index: u32,
        size: u32,
        swarm_seed: u64,
        walk_len: usize,
        walks: u64,
    ) -> Result<Self, String> {
        if size == 0 {
            return Err("a swarm needs at least one worker".into());
        }
        if index >= size {
            return Err(format!(
                "worker index {index} is not below the swarm size {size} (indices are 0 to {})",
                size - 1
            ));
        }
        let rung = LADDER[index as usize % LADDER.len()];
        Ok(SwarmWorker {
            index,
            size,
            swarm_seed,
            seed: mix(swarm_seed, u64::from(index)),
            walk_len: (walk_len.saturating_mul(rung) / 2).max(1),
            walks,
        })
    }

    /// The strategy this worker runs.
    pub fn strategy(&self) -> Strategy {
        Strategy::Walk { seed: self.seed }
    }
}

/// SplitMix64 of `seed` and `index`: independent-looking seeds per worker.
fn mix(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One worker's output: which system, which worker, and its report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkerReport {
    /// The system checked.
    pub system: String,
    /// Its parameters.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The worker.
    pub swarm: SwarmWorker,
    /// What it found.
    #[serde(flatten)]
    pub report: Report,
}

/// A violation as the swarm found it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SwarmFinding {
    /// The shortest trace any worker found for the property.
    #[serde(flatten)]
    pub finding: Finding,
    /// The worker whose trace this is.
    pub worker: u32,
    /// Every worker that found a violation of the property.
    pub found_by: Vec<u32>,
}

/// What a swarm found, all workers together.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SwarmSummary {
    /// The system checked.
    pub system: String,
    /// Its parameters.
    pub params: BTreeMap<String, String>,
    /// The swarm size the workers were started with.
    pub size: u32,
    /// The swarm's seed.
    pub swarm_seed: u64,
    /// The workers whose reports were merged, in index order.
    pub workers: Vec<u32>,
    /// The indices below `size` with no report.
    pub missing: Vec<u32>,
    /// States generated, summed over workers.
    pub total_states: u64,
    /// Distinct states per worker, summed (a state two workers visited
    /// counts twice).
    pub visited_states: u64,
    /// Estimated distinct states the swarm visited: the union of the
    /// workers' fingerprint samples times [`SAMPLE_EVERY`].
    pub distinct_estimate: u64,
    /// The estimate after the first 1, 2, … workers (in index order): when
    /// it stops growing, more workers of this kind add little.
    pub growth: Vec<u64>,
    /// The number of reachable states, when given.
    pub reachable: Option<u64>,
    /// `distinct_estimate / reachable`, when `reachable` is given (an
    /// estimate: it can exceed 1 by sampling error on small spaces).
    pub coverage: Option<f64>,
    /// Violations, one per property, with the shortest trace.
    pub violations: Vec<SwarmFinding>,
}

impl SwarmSummary {
    /// Whether no worker found a violation.
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Combines workers' reports (see the module documentation). Refuses
/// reports of different systems, parameters, swarm sizes or seeds, and two
/// reports from one worker.
pub fn merge(reports: Vec<WorkerReport>, reachable: Option<u64>) -> Result<SwarmSummary, String> {
    let first = reports.first().ok_or("no worker reports to merge")?;
    let first_worker = first.swarm.index;
    let (assumed, symmetry, walks) = (
        first.report.assumed.clone(),
        first.report.symmetry,
        first.swarm.walks,
    );
    let (system, params, size, swarm_seed) = (
        first.system.clone(),
        first.params.clone(),
        first.swarm.size,
        first.swarm.swarm_seed,
    );
    let mut by_index: BTreeMap<u32, WorkerReport> = BTreeMap::new();
    for report in reports {
        let worker = report.swarm;
        if report.system != system || report.params != params {
            return Err(format!(
                "worker {} checked {} {:?}, worker {} checked {system} {params:?}",
                worker.index, report.system, report.params, first_worker
            ));
        }
        if worker.size != size || worker.swarm_seed != swarm_seed {
            return Err(format!(
                "worker {} belongs to a swarm of {} with seed {}, not of {size} with seed {swarm_seed}",
                worker.index, worker.size, worker.swarm_seed
            ));
        }
        if report.report.assumed != assumed
            || report.report.symmetry != symmetry
            || worker.walks != walks
        {
            return Err(format!(
                "worker {} ran with assumed {:?}, symmetry {}, {} walks; the first report (worker {first_worker}) with {:?}, {}, {}",
                worker.index,
                report.report.assumed,
                report.report.symmetry,
                worker.walks,
                assumed,
                symmetry,
                walks
            ));
        }
        if worker.seed != mix(worker.swarm_seed, u64::from(worker.index)) {
            return Err(format!(
                "worker {}'s seed {} is not the one its index and the swarm's seed give",
                worker.index, worker.seed
            ));
        }
        if worker.index >= size {
            return Err(format!(
                "worker index {} is not below the swarm size {size}",
                worker.index
            ));
        }
        if by_index.insert(worker.index, report).is_some() {
            return Err(format!("two reports from worker {}", worker.index));
        }
    }
    let mut sample: BTreeSet<u64> = BTreeSet::new();
    let mut growth = Vec::new();
    let mut violations: BTreeMap<String, SwarmFinding> = BTreeMap::new();
    let (mut total_states, mut visited_states) = (0u64, 0u64);
    for (&index, worker) in &by_index {
        total_states = total_states.saturating_add(worker.report.total_states);
        visited_states = visited_states.saturating_add(worker.report.unique_states);
        sample.extend(&worker.report.fingerprint_sample);
        growth.push(sample.len() as u64 * SAMPLE_EVERY);
        for finding in &worker.report.violations {
            // Every panic shares one property name; different panics are
            // different bugs.
            let key = match finding.kind {
                FindingKind::Panic | FindingKind::Nondeterminism => format!(
                    "{}: {}",
                    finding.property,
                    finding.detail.as_deref().unwrap_or("")
                ),
                _ => finding.property.clone(),
            };
            let entry = violations.entry(key).or_insert_with(|| SwarmFinding {
                finding: finding.clone(),
                worker: index,
                found_by: Vec::new(),
            });
            entry.found_by.push(index);
            if finding.trace_len < entry.finding.trace_len {
                entry.finding = finding.clone();
                entry.worker = index;
            }
        }
    }
    let distinct_estimate = sample.len() as u64 * SAMPLE_EVERY;
    Ok(SwarmSummary {
        system,
        params,
        size,
        swarm_seed,
        workers: by_index.keys().copied().collect(),
        missing: (0..size).filter(|i| !by_index.contains_key(i)).collect(),
        total_states,
        visited_states,
        distinct_estimate,
        growth,
        reachable,
        coverage: reachable
            .filter(|&r| r > 0)
            .map(|r| distinct_estimate as f64 / r as f64),
        violations: violations.into_values().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explore::Explorer;
    use crate::model::{Model, Property, StepError};

    /// A cycle of `n` states; `bad` (if any) is a state that breaks the invariant.
    struct Cycle {
        n: u32,
        bad: Option<u32>,
    }

    impl Model for Cycle {
        type State = u32;
        type Action = u32;
        fn init_states(&self) -> Vec<u32> {
            vec![0]
        }
        fn actions(&self, s: &u32, actions: &mut Vec<u32>) {
            actions.push((s + 1) % self.n);
        }
        fn next_state(&self, _: &u32, to: &u32) -> Result<Option<u32>, StepError> {
            Ok(Some(*to))
        }
        fn properties(&self) -> Vec<Property<Self>> {
            let bad = self.bad;
            vec![Property::always("not bad", move |_, s| Some(*s) != bad)]
        }
    }

    fn worker(model: &Cycle, index: u32, size: u32, walk_len: usize) -> WorkerReport {
        let plan = SwarmWorker::plan(index, size, 3, walk_len, 1).expect("plan");
        let report = Explorer::new(model)
            .strategy(plan.strategy())
            .max_depth(plan.walk_len)
            .walks(plan.walks)
            .fingerprint_sample(true)
            .run();
        WorkerReport {
            system: "cycle".into(),
            params: BTreeMap::new(),
            swarm: plan,
            report,
        }
    }

    #[test]
    fn the_sample_estimates_the_distinct_states_visited() {
        // One walk covers the whole cycle: 6,400 states, about 100 sampled.
        let model = Cycle {
            n: 6_400,
            bad: None,
        };
        let summary = merge(vec![worker(&model, 1, 2, 6_400)], Some(6_400)).expect("merge");
        assert_eq!(summary.visited_states, 6_400);
        let error = summary.distinct_estimate.abs_diff(6_400) as f64 / 6_400.0;
        // The sample's count is binomial(6400, 1/64): sd 10%; 3 sd allowed.
        assert!(
            error < 0.3,
            "estimate {} of 6400",
            summary.distinct_estimate
        );
        assert_eq!(
            summary.coverage,
            Some(summary.distinct_estimate as f64 / 6_400.0)
        );
        assert_eq!(summary.missing, [0]);
    }

    #[test]
    fn overlapping_workers_are_counted_once_in_the_estimate() {
        // Workers 0..4 walk 1/2, 1, 2 and 4 times 800 steps along the same
        // cycle: they overlap, so the union is the longest walk's 3,200.
        let model = Cycle {
            n: 100_000,
            bad: None,
        };
        let reports: Vec<WorkerReport> = (0..4).map(|i| worker(&model, i, 4, 800)).collect();
        let summary = merge(reports, None).expect("merge");
        assert_eq!(summary.visited_states, 401 + 801 + 1_601 + 3_201);
        assert!(summary.growth.windows(2).all(|w| w[0] <= w[1]));
        let error = summary.distinct_estimate.abs_diff(3_201) as f64 / 3_201.0;
        assert!(error < 0.45, "estimate {}", summary.distinct_estimate);
        assert_eq!(summary.coverage, None);
    }

    #[test]
    fn violations_keep_the_shortest_trace_and_every_finder() {
        // Only walks of at least 1,000 steps reach state 1,000.
        let model = Cycle {
            n: 5_000,
            bad: Some(1_000),
        };
        let reports: Vec<WorkerReport> = (0..4).map(|i| worker(&model, i, 4, 1_000)).collect();
        let summary = merge(reports, None).expect("merge");
        let [found] = summary.violations.as_slice() else {
            panic!("{summary:?}")
        };
        assert_eq!(found.finding.kind, FindingKind::Always);
        assert_eq!(found.finding.trace_len, 1_000);
        // Walk lengths 500, 1000, 2000, 4000: workers 1, 2 and 3 reach it.
        assert_eq!(found.found_by, [1, 2, 3]);
        assert_eq!(found.worker, 1);
        assert!(!summary.ok());
    }

    #[test]
    fn reports_of_different_swarms_are_refused() {
        let model = Cycle { n: 10, bad: None };
        let a = worker(&model, 0, 2, 10);
        let mut other_system = worker(&model, 1, 2, 10);
        other_system.system = "other".into();
        assert!(merge(vec![a.clone(), other_system], None).is_err());
        let twice = merge(vec![a.clone(), a.clone()], None).unwrap_err();
        assert!(twice.contains("two reports from worker 0"), "{twice}");
        let mut bigger = worker(&model, 1, 2, 10);
        bigger.swarm.size = 3;
        assert!(merge(vec![a.clone(), bigger], None).is_err());
        let mut fairer = worker(&model, 1, 2, 10);
        fairer.report.assumed = vec!["weak:deliver".into()];
        let refused = merge(vec![a.clone(), fairer], None).unwrap_err();
        assert!(
            refused.contains("ran with assumed [\"weak:deliver\"]"),
            "{refused}"
        );
        let mut forged = worker(&model, 1, 2, 10);
        forged.swarm.seed ^= 1;
        assert!(merge(vec![a, forged], None).is_err());
        assert!(merge(Vec::new(), None).is_err());
    }
}
