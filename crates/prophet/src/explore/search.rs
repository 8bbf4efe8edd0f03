//! State shared by the worker threads of one search: the visited set,
//! counters, bounds, and the findings so far.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::explore::trace::state_fingerprint;
use crate::explore::visited::{Fingerprint, Layout, Trail, Visited};
use crate::explore::{Progress, ProgressFn};
use crate::model::{Expectation, Model, Property, StepError};

/// A found state: where (fingerprint, depth) and, for step errors, what failed.
#[derive(Clone, Debug)]
pub(crate) struct Hit {
    pub depth: usize,
    pub fp: Fingerprint,
    /// For a step error: the failing action and the error.
    pub error: Option<(String, StepError)>,
    /// The path from a start state, when the visited set keeps no parents.
    pub chain: Option<Vec<Fingerprint>>,
}

/// Per-property findings; the smallest (depth, fingerprint) wins so that
/// parallel searches report the same finding from run to run.
#[derive(Default)]
pub(crate) struct Findings {
    pub violations: Vec<Option<Hit>>,
    pub examples: Vec<Option<Hit>>,
    pub step_error: Option<Hit>,
}

fn keep_min(slot: &mut Option<Hit>, hit: Hit) {
    let better = match slot {
        None => true,
        Some(old) => (hit.depth, hit.fp) < (old.depth, old.fp),
    };
    if better {
        *slot = Some(hit);
    }
}

/// One worker's share of the search's counters, added to them when dropped
/// (and at every progress tick). The shared atomics' cache line would
/// otherwise move between the cores on every new state and every
/// expansion. With a state bound the count of unique states goes through
/// at once, so that the bound stops the search exactly where it did.
pub(crate) struct Tally<'s> {
    unique: u64,
    total: u64,
    depth: usize,
    shared_unique: &'s AtomicU64,
    shared_total: &'s AtomicU64,
    shared_depth: &'s AtomicUsize,
    immediate: bool,
}

impl Tally<'_> {
    /// Counts a new state at `depth`.
    fn state(&mut self, depth: usize) {
        if self.immediate {
            self.shared_unique.fetch_add(1, Ordering::Relaxed);
        } else {
            self.unique += 1;
        }
        self.depth = self.depth.max(depth);
    }

    /// Counts `count` successors.
    pub fn successors(&mut self, count: usize) {
        self.total += count as u64;
    }

    /// Adds this tally to the search's counters.
    pub fn flush(&mut self) {
        if self.unique > 0 {
            self.shared_unique.fetch_add(self.unique, Ordering::Relaxed);
            self.unique = 0;
        }
        if self.total > 0 {
            self.shared_total.fetch_add(self.total, Ordering::Relaxed);
            self.total = 0;
        }
        if self.depth > 0 {
            self.shared_depth.fetch_max(self.depth, Ordering::Relaxed);
            self.depth = 0;
        }
    }
}

impl Drop for Tally<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

pub(crate) struct Bounds {
    pub max_depth: Option<usize>,
    pub max_states: Option<u64>,
    pub deadline: Option<Instant>,
}

pub(crate) struct Search<'m, M: Model> {
    pub model: &'m M,
    pub properties: Vec<Property<M>>,
    pub symmetry: bool,
    pub threads: usize,
    pub keep_going: bool,
    pub visited: Visited,
    pub unique: AtomicU64,
    pub total: AtomicU64,
    pub depth_seen: AtomicUsize,
    /// Set when a finding means the search should end (at the end of the
    /// current BFS level, immediately in DFS).
    pub found_stop: AtomicBool,
    /// Set when a bound (time, states) was hit: stop now.
    pub bound_stop: AtomicBool,
    pub depth_cut: AtomicU64,
    pub time_cut: AtomicBool,
    pub states_cut: AtomicBool,
    /// Why the search was stopped by [`Search::halt`].
    pub halted: Mutex<Option<String>>,
    /// The visited set and frontier live in a spill store, not in
    /// `visited` (a search under a memory budget).
    pub spilling: bool,
    pub findings: Mutex<Findings>,
    sometimes_found: Vec<AtomicBool>,
    pub bounds: Bounds,
    pub started: Instant,
    progress: Option<&'m ProgressFn<'m>>,
    last_progress: Mutex<Instant>,
}

impl<'m, M: Model> Search<'m, M> {
    pub fn new(
        model: &'m M,
        symmetry: bool,
        threads: usize,
        keep_going: bool,
        bounds: Bounds,
        progress: Option<&'m ProgressFn<'m>>,
        layout: Layout,
    ) -> Self {
        let properties = model.properties();
        let count = properties.len();
        let now = Instant::now();
        Search {
            model,
            symmetry,
            threads: threads.max(1),
            keep_going,
            visited: Visited::new(layout),
            unique: AtomicU64::new(0),
            total: AtomicU64::new(0),
            depth_seen: AtomicUsize::new(0),
            found_stop: AtomicBool::new(false),
            bound_stop: AtomicBool::new(false),
            depth_cut: AtomicU64::new(0),
            time_cut: AtomicBool::new(false),
            states_cut: AtomicBool::new(false),
            halted: Mutex::new(None),
            spilling: false,
            findings: Mutex::new(Findings {
                violations: vec![None; count],
                examples: vec![None; count],
                step_error: None,
            }),
            sometimes_found: (0..count).map(|_| AtomicBool::new(false)).collect(),
            properties,
            bounds,
            started: now,
            progress,
            last_progress: Mutex::new(now),
        }
    }

    /// A worker's tally of this search's counters.
    pub fn tally(&self) -> Tally<'_> {
        Tally {
            unique: 0,
            total: 0,
            depth: 0,
            shared_unique: &self.unique,
            shared_total: &self.total,
            shared_depth: &self.depth_seen,
            immediate: self.bounds.max_states.is_some(),
        }
    }

    pub fn fingerprint(&self, state: &M::State) -> Fingerprint {
        state_fingerprint(self.model, state, self.symmetry)
    }

    /// Records a new state if unseen; returns whether it was new.
    pub fn visit(
        &self,
        state: &M::State,
        fp: Fingerprint,
        parent: Fingerprint,
        depth: usize,
        trail: Option<&Trail>,
    ) -> bool {
        self.visit_tallied(state, fp, parent, depth, trail, &mut self.tally())
    }

    /// [`Search::visit`], counting the state in a worker's `tally`.
    pub fn visit_tallied(
        &self,
        state: &M::State,
        fp: Fingerprint,
        parent: Fingerprint,
        depth: usize,
        trail: Option<&Trail>,
        tally: &mut Tally<'_>,
    ) -> bool {
        if !self.visited.insert(fp, parent) {
            return false;
        }
        self.admit(state, fp, depth, trail, tally);
        true
    }

    /// Counts a state known to be new and checks the properties on it.
    pub fn admit(
        &self,
        state: &M::State,
        fp: Fingerprint,
        depth: usize,
        trail: Option<&Trail>,
        tally: &mut Tally<'_>,
    ) {
        tally.state(depth);
        self.check(state, fp, depth, trail);
    }

    /// Stops the search now for `reason`, which the report lists among what
    /// was left unexplored (a spill store that failed, say).
    pub fn halt(&self, reason: String) {
        let mut halted = self.halted.lock().unwrap_or_else(|p| p.into_inner());
        halted.get_or_insert(reason);
        self.bound_stop.store(true, Ordering::Relaxed);
    }

    /// The path to `fp` (reached from the state whose trail is `trail`) when
    /// the visited set cannot rebuild it.
    fn chain(&self, fp: Fingerprint, trail: Option<&Trail>) -> Option<Vec<Fingerprint>> {
        if self.visited.layout() == Layout::WithParents {
            return None;
        }
        let mut chain = trail.map(Trail::chain).unwrap_or_default();
        chain.push(fp);
        Some(chain)
    }

    fn check(&self, state: &M::State, fp: Fingerprint, depth: usize, trail: Option<&Trail>) {
        for (i, property) in self.properties.iter().enumerate() {
            match property.expectation {
                Expectation::Always => {
                    if !property.holds(self.model, state) {
                        keep_min(
                            &mut self.lock().violations[i],
                            Hit {
                                depth,
                                fp,
                                error: None,
                                chain: self.chain(fp, trail),
                            },
                        );
                        if !self.keep_going {
                            self.found_stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
                Expectation::Sometimes => {
                    // In BFS, later levels cannot beat an example already found.
                    if !self.sometimes_found[i].load(Ordering::Relaxed)
                        && property.holds(self.model, state)
                    {
                        keep_min(
                            &mut self.lock().examples[i],
                            Hit {
                                depth,
                                fp,
                                error: None,
                                chain: self.chain(fp, trail),
                            },
                        );
                        self.sometimes_found[i].store(true, Ordering::Relaxed);
                    }
                }
                Expectation::Eventually | Expectation::LeadsTo | Expectation::AlwaysEventually => {}
            }
        }
        if self.keep_going && self.all_decided() {
            self.found_stop.store(true, Ordering::Relaxed);
        }
    }

    fn all_decided(&self) -> bool {
        let findings = self.lock();
        self.properties
            .iter()
            .enumerate()
            .all(|(i, p)| match p.expectation {
                Expectation::Always => findings.violations[i].is_some(),
                Expectation::Sometimes => findings.examples[i].is_some(),
                Expectation::Eventually | Expectation::LeadsTo | Expectation::AlwaysEventually => {
                    false
                }
            })
    }

    /// Records a failed step at the state `fp`, whose own trail (DFS) is `trail`.
    pub fn step_error(
        &self,
        fp: Fingerprint,
        depth: usize,
        action: String,
        error: StepError,
        trail: Option<&Trail>,
    ) {
        let chain = (self.visited.layout() == Layout::FingerprintsOnly)
            .then(|| trail.map(Trail::chain).unwrap_or_else(|| vec![fp]));
        keep_min(
            &mut self.lock().step_error,
            Hit {
                depth,
                fp,
                error: Some((action, error)),
                chain,
            },
        );
        self.found_stop.store(true, Ordering::Relaxed);
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Findings> {
        self.findings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks the time and state bounds; `true` when the search must stop now.
    pub fn out_of_budget(&self) -> bool {
        if self.bound_stop.load(Ordering::Relaxed) {
            return true;
        }
        if let Some(max) = self.bounds.max_states
            && self.unique.load(Ordering::Relaxed) >= max
        {
            self.states_cut.store(true, Ordering::Relaxed);
            self.bound_stop.store(true, Ordering::Relaxed);
            return true;
        }
        if let Some(deadline) = self.bounds.deadline
            && Instant::now() >= deadline
        {
            self.time_cut.store(true, Ordering::Relaxed);
            self.bound_stop.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }

    pub fn should_stop(&self) -> bool {
        self.found_stop.load(Ordering::Relaxed) || self.out_of_budget()
    }

    /// Reports progress at most every 250 ms (workers flush their tallies
    /// first).
    pub fn tick(&self, depth: usize) {
        let Some(progress) = self.progress else {
            return;
        };
        let now = Instant::now();
        {
            let Ok(mut last) = self.last_progress.try_lock() else {
                return;
            };
            if now.duration_since(*last) < Duration::from_millis(250) {
                return;
            }
            *last = now;
        }
        progress(&self.snapshot(depth));
    }

    pub fn snapshot(&self, depth: usize) -> Progress {
        Progress {
            unique_states: self.unique.load(Ordering::Relaxed),
            total_states: self.total.load(Ordering::Relaxed),
            depth: depth.max(self.depth_seen.load(Ordering::Relaxed)),
            elapsed: self.started.elapsed(),
        }
    }
}
