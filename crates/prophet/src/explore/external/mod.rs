//! Breadth-first search under a memory budget: the visited set and the
//! frontier live in a [`SpillStore`], and memory holds only bounded buffers.
//!
//! This is delayed duplicate detection, as in Stern and Dill's disk-based
//! Murφ and Korf's external BFS. Each level is expanded on every core into
//! per-worker buffers of candidate successors (fingerprint, parent, encoded
//! state). A full buffer is sorted, deduplicated and written as a *run*,
//! split into [`PARTITIONS`] by the fingerprint's top bits. At the end of
//! the level each partition, on whichever core is free, merges its slices
//! of the runs and drops what its sorted *visited runs* already hold: what
//! remains are the level's new states, which are checked (exactly where the
//! in-memory BFS checks them, so counts, findings and the shortest
//! counterexample are the same) and written to the next frontier, to the
//! level's parent records (traces are rebuilt from these) and to a new
//! visited run. A visited run is merged with the one before it while it is
//! at least half that one's size, as in a log-structured merge tree, so a
//! partition holds a logarithmic number of runs and each fingerprint is
//! rewritten a logarithmic number of times.
//!
//! Nothing here touches a disk: the store does. What is kept in memory is
//! bounded by the budget: per worker a candidate buffer, a seen cache and a
//! page per open file; [`SpillReport`] gives the largest amount held.

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread;

use serde::{Deserialize, Serialize};

use crate::explore::expand::expand_unvisited;
use crate::explore::search::{Search, Tally};
use crate::explore::spill::{SpillError, SpillStore};
use crate::explore::visited::{Fingerprint, SeenCache};
use crate::model::Model;

mod candidates;
mod pages;

use candidates::Candidates;

use pages::{Format, Io, Membership, Paged, Reader, Writer, merge, parse, record, u64_at};

const PARTITION_BITS: u32 = 4;
/// Partitions of the fingerprint space, merged independently.
const PARTITIONS: usize = 1 << PARTITION_BITS;
/// The smallest budget accepted.
pub const MIN_BUDGET_BYTES: u64 = 1 << 20;
const PAGE_BYTES_MAX: usize = 256 << 10;
const PAGE_BYTES_MIN: usize = 4 << 10;

/// What a search under a memory budget held and moved.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpillReport {
    /// The budget.
    pub budget_bytes: u64,
    /// The most bytes the search's buffers held at once (it never exceeds
    /// the budget; the model's own working memory is not counted).
    pub buffered_bytes_max: u64,
    /// The most bytes the store held at once.
    pub stored_bytes_max: u64,
    /// Bytes written to the store.
    pub written_bytes: u64,
    /// Bytes read back.
    pub read_bytes: u64,
    /// Sorted runs of candidates written (more than one per level when a
    /// level's successors do not fit in the buffers).
    pub candidate_runs: u64,
    /// What stopped the search, when the store or the model's state
    /// encoding failed (the report's `unexplored` says it too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// The probability that two of `distinct` states share a 64-bit
/// fingerprint, so that one of them (and what only it leads to) is
/// wrongly taken for visited: at most `n(n-1)/2^65` for uniform hashes.
pub fn collision_probability(distinct: u64) -> f64 {
    let n = distinct as f64;
    (n * (n - 1.0) / 2f64.powi(65)).min(1.0)
}

/// A sorted run of candidates: per partition, the range of its pages.
struct Run {
    paged: Paged,
    parts: Vec<Range<usize>>,
}

fn partition(fp: Fingerprint) -> usize {
    (fp >> (64 - PARTITION_BITS)) as usize
}

/// The shared state of one search.
struct External<'s, 'm, M: Model> {
    search: &'s Search<'m, M>,
    io: Io<'s>,
    budget: u64,
    /// Bytes of one worker's candidate buffer (arena and index together).
    buffer_bytes: usize,
    seen_bytes: usize,
    /// Files one merge may read at once.
    streams_max: usize,
    /// Fingerprints of recently admitted states, direct-mapped (a newer one
    /// evicts an older): written while merging, read while expanding (the
    /// phases never overlap), so that a successor already visited in the
    /// last level or two, as most repeats in a breadth-first search are,
    /// is dropped before it costs a record in a run.
    recent: Vec<AtomicU64>,
    runs: AtomicU64,
    /// Per partition, its visited runs, oldest (largest) first.
    visited: Vec<Mutex<Vec<Paged>>>,
    /// Per level, per partition, the parent records.
    parents: Mutex<Vec<Vec<Option<Paged>>>>,
}

/// Slots of the recent-fingerprint table: an eighth of the budget, a
/// power of two.
fn recent_slots(budget: u64) -> usize {
    let slots = (budget / 8 / 8).max(1) as usize;
    1 << (usize::BITS - 1 - slots.leading_zeros())
}

impl<'s, 'm, M: Model> External<'s, 'm, M> {
    fn recent_slot(&self, fp: Fingerprint) -> &AtomicU64 {
        // The low bits: partitions use the top ones.
        &self.recent[fp as usize & (self.recent.len() - 1)]
    }

    /// Whether `fp` is known to be visited.
    fn recently_visited(&self, fp: Fingerprint) -> bool {
        self.recent_slot(fp).load(Ordering::Relaxed) == fp
    }

    fn new(search: &'s Search<'m, M>, store: &'s dyn SpillStore, budget: u64) -> Self {
        let threads = search.threads as u64;
        let budget = budget.max(MIN_BUDGET_BYTES);
        let page_bytes = ((budget / 128) as usize).clamp(PAGE_BYTES_MIN, PAGE_BYTES_MAX);
        External {
            search,
            io: Io::new(store, page_bytes),
            budget,
            buffer_bytes: (budget / 2 / threads) as usize,
            seen_bytes: (budget / 16 / threads) as usize,
            streams_max: ((budget / 4 / threads) as usize / page_bytes).max(4),
            recent: (0..recent_slots(budget))
                .map(|_| AtomicU64::new(0))
                .collect(),
            runs: AtomicU64::new(0),
            visited: (0..PARTITIONS).map(|_| Mutex::new(Vec::new())).collect(),
            parents: Mutex::new(Vec::new()),
        }
    }

    fn report(&self) -> SpillReport {
        SpillReport {
            budget_bytes: self.budget,
            buffered_bytes_max: self.io.buffered_max.load(Ordering::Relaxed),
            stored_bytes_max: self.io.stored_max.load(Ordering::Relaxed),
            written_bytes: self.io.written.load(Ordering::Relaxed),
            read_bytes: self.io.read.load(Ordering::Relaxed),
            candidate_runs: self.runs.load(Ordering::Relaxed),
            failure: None,
        }
    }
}

/// The next level's frontier: per partition its file, if it has states.
type Frontier = Vec<Option<Paged>>;

/// Runs the search; the report's counts and findings come from `search`.
pub(crate) fn run<M: Model>(
    search: &Search<'_, M>,
    starts: &[M::State],
    store: &dyn SpillStore,
    budget: u64,
) -> SpillReport {
    let x = External::new(search, store, budget);
    let recent_bytes = x.recent.len() * 8;
    x.io.hold(recent_bytes);
    let outcome = levels(&x, starts);
    x.io.release(recent_bytes);
    let failure = outcome.err().map(|error| error.0);
    if let Some(error) = &failure {
        search.halt(format!("stopped: {error}"));
    }
    if let Err(error) = attach_chains(&x) {
        search.halt(format!("traces could not be read back: {error}"));
    }
    if let Err(error) = x.io.remove_all() {
        search.halt(format!(
            "the spill store's files could not all be removed: {error}"
        ));
    }
    SpillReport {
        failure,
        ..x.report()
    }
}

fn levels<M: Model>(x: &External<'_, '_, M>, starts: &[M::State]) -> Result<(), SpillError> {
    let search = x.search;
    let mut first = Candidates::new(x.buffer_bytes.min(64 << 20));
    let mut bytes = Vec::new();
    for state in starts {
        bytes.clear();
        if !search.model.encode_state(state, &mut bytes) {
            search.halt(
                "not explored: the model cannot write its states out (Model::encode_state), which a search under a memory budget needs".into(),
            );
            return Ok(());
        }
        let fp = search.fingerprint(state);
        if !first.fits(bytes.len()) {
            return Err(SpillError(
                "the start states do not fit in the memory budget".into(),
            ));
        }
        first.push(fp, 0, &bytes);
    }
    let runs = vec![first.write(x)?];
    let mut frontier = merge_level(x, runs, 0)?;
    let mut depth = 0;
    while frontier.iter().any(Option::is_some) && !search.should_stop() {
        if search.bounds.max_depth.is_some_and(|max| depth >= max) {
            let cut: u64 = x.parents.lock().unwrap_or_else(|p| p.into_inner())[depth]
                .iter()
                .flatten()
                .map(|p| p.bytes / 16)
                .sum();
            search.depth_cut.store(cut, Ordering::Relaxed);
            remove_frontier(x, frontier)?;
            return Ok(());
        }
        let runs = expand_level(x, &frontier, depth);
        remove_frontier(x, frontier)?;
        let runs = runs?;
        if search.out_of_budget() {
            for run in &runs {
                x.io.remove(&run.paged)?;
            }
            return Ok(());
        }
        frontier = merge_level(x, runs, depth + 1)?;
        depth += 1;
    }
    remove_frontier(x, frontier)
}

fn remove_frontier<M: Model>(
    x: &External<'_, '_, M>,
    frontier: Frontier,
) -> Result<(), SpillError> {
    frontier
        .into_iter()
        .flatten()
        .try_for_each(|paged| x.io.remove(&paged))
}

/// Expands every state of `frontier` (at `depth`) into sorted candidate runs.
fn expand_level<M: Model>(
    x: &External<'_, '_, M>,
    frontier: &Frontier,
    depth: usize,
) -> Result<Vec<Run>, SpillError> {
    let search = x.search;
    let work: Vec<(&Paged, usize)> = frontier
        .iter()
        .flatten()
        .flat_map(|paged| (0..paged.pages.len()).map(move |i| (paged, i)))
        .collect();
    let cursor = AtomicUsize::new(0);
    let runs = Mutex::new(Vec::new());
    let failure = Mutex::new(None);
    thread::scope(|scope| {
        for _ in 0..search.threads {
            scope.spawn(|| {
                let result = expand_worker(x, &work, &cursor, depth, &runs);
                if let Err(error) = result {
                    search.bound_stop.store(true, Ordering::Relaxed);
                    failure
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(error);
                }
            });
        }
    });
    let runs = runs.into_inner().unwrap_or_else(|p| p.into_inner());
    match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(error) => {
            for run in &runs {
                let _ = x.io.remove(&run.paged);
            }
            Err(error)
        }
        None => Ok(runs),
    }
}

fn expand_worker<M: Model>(
    x: &External<'_, '_, M>,
    work: &[(&Paged, usize)],
    cursor: &AtomicUsize,
    depth: usize,
    runs: &Mutex<Vec<Run>>,
) -> Result<(), SpillError> {
    let search = x.search;
    let mut candidates = Candidates::new(x.buffer_bytes);
    let mut seen = SeenCache::with_bytes(x.seen_bytes);
    let held = x.buffer_bytes + seen.bytes() + x.io.page_bytes;
    x.io.hold(held);
    let outcome = (|| {
        let mut tally = search.tally();
        let mut buffer = Vec::new();
        let mut page = Vec::new();
        let mut encoded = Vec::new();
        let mut failed: Option<SpillError> = None;
        'work: loop {
            let i = cursor.fetch_add(1, Ordering::Relaxed);
            let Some(&(paged, p)) = work.get(i) else {
                break;
            };
            x.io.load(paged.file, &paged.pages[p], &mut page)?;
            let mut at = 0;
            while at < page.len() {
                if search.out_of_budget() {
                    break 'work;
                }
                let (fp, _, data, next) = parse(Format::Frontier, &page, at);
                at = next;
                let state = search.model.decode_state(&page[data]).ok_or_else(|| {
                    SpillError("the model could not read back a state it wrote".into())
                })?;
                seen.remember(fp);
                expand_unvisited(
                    search,
                    &state,
                    fp,
                    depth,
                    &mut buffer,
                    &mut seen,
                    &mut tally,
                    |next, next_fp| {
                        if failed.is_some() || x.recently_visited(next_fp) {
                            return;
                        }
                        encoded.clear();
                        if !search.model.encode_state(&next, &mut encoded) {
                            failed = Some(SpillError("the model could not write a state".into()));
                            return;
                        }
                        if !candidates.fits(encoded.len())
                            && !candidates.compact()
                            && let Err(error) =
                                candidates.write(x).and_then(|run| add_run(x, runs, run))
                        {
                            failed = Some(error);
                        }
                        if candidates.fits(encoded.len()) {
                            candidates.push(next_fp, fp, &encoded);
                        } else if failed.is_none() {
                            failed = Some(SpillError(format!(
                                "a state of {} bytes does not fit in the memory budget",
                                encoded.len()
                            )));
                        }
                    },
                );
                if let Some(error) = failed.take() {
                    return Err(error);
                }
            }
            tally.flush();
            search.tick(depth + 1);
        }
        if !candidates.index.is_empty() {
            let run = candidates.write(x)?;
            add_run(x, runs, run)?;
        }
        Ok(())
    })();
    x.io.release(held);
    outcome
}

/// Adds `run` to the level's runs, first merging it with the newest while
/// it is at least half that one's size (as the visited runs are merged):
/// a level's successors are deduplicated across runs as they come, so the
/// store holds about the distinct ones rather than every one generated
/// (two-phase commit generates 13 successors per distinct state).
fn add_run<M: Model>(
    x: &External<'_, '_, M>,
    runs: &Mutex<Vec<Run>>,
    mut run: Run,
) -> Result<(), SpillError> {
    loop {
        let partner = {
            let mut list = runs.lock().unwrap_or_else(|p| p.into_inner());
            match list.last() {
                Some(last) if run.paged.bytes * 2 >= last.paged.bytes => list.pop(),
                _ => {
                    list.push(run);
                    return Ok(());
                }
            }
        };
        // `pop` after `last` returned a run: never `None`.
        let Some(partner) = partner else {
            continue;
        };
        run = merge_runs(x, vec![partner, run])?;
    }
}

/// Merges the level's runs partition by partition (on every core): checks
/// and records the new states at `depth`, and returns them as the next
/// frontier. The runs are removed.
fn merge_level<M: Model>(
    x: &External<'_, '_, M>,
    mut runs: Vec<Run>,
    depth: usize,
) -> Result<Frontier, SpillError> {
    let search = x.search;
    // A merge reads every run and visited run of its partition at once:
    // merge runs first when there are more than the budget has pages for.
    let visited_max = x
        .visited
        .iter()
        .map(|v| v.lock().unwrap_or_else(|p| p.into_inner()).len())
        .max()
        .unwrap_or(0);
    let runs_max = x.streams_max.saturating_sub(visited_max + 3).max(2);
    while runs.len() > runs_max {
        let group: Vec<Run> = runs.drain(..runs_max).collect();
        runs.push(merge_runs(x, group)?);
    }
    {
        let mut parents = x.parents.lock().unwrap_or_else(|p| p.into_inner());
        debug_assert_eq!(parents.len(), depth);
        parents.push((0..PARTITIONS).map(|_| None).collect());
    }
    let cursor = AtomicUsize::new(0);
    let frontier = Mutex::new((0..PARTITIONS).map(|_| None).collect::<Frontier>());
    let failure = Mutex::new(None);
    thread::scope(|scope| {
        for _ in 0..search.threads {
            scope.spawn(|| {
                let mut tally = search.tally();
                loop {
                    let p = cursor.fetch_add(1, Ordering::Relaxed);
                    if p >= PARTITIONS {
                        break;
                    }
                    let merged = merge_partition(x, &runs, p, depth, &mut tally);
                    search.tick(depth);
                    match merged {
                        Ok(Some((next, parents))) => {
                            frontier.lock().unwrap_or_else(|e| e.into_inner())[p] = Some(next);
                            x.parents.lock().unwrap_or_else(|e| e.into_inner())[depth][p] =
                                Some(parents);
                        }
                        Ok(None) => {}
                        Err(error) => {
                            search.bound_stop.store(true, Ordering::Relaxed);
                            failure
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .get_or_insert(error);
                            break;
                        }
                    }
                }
            });
        }
    });
    for run in &runs {
        x.io.remove(&run.paged)?;
    }
    let frontier = frontier.into_inner().unwrap_or_else(|p| p.into_inner());
    match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(error) => {
            remove_frontier(x, frontier)?;
            Err(error)
        }
        None => Ok(frontier),
    }
}

/// Merges runs into one (the candidates of a level that spilled more runs
/// than a merge can read at once).
fn merge_runs<M: Model>(x: &External<'_, '_, M>, group: Vec<Run>) -> Result<Run, SpillError> {
    let mut writer = Writer::new(&x.io)?;
    let mut parts = Vec::with_capacity(PARTITIONS);
    let mut scratch = Vec::new();
    let mut rec = Vec::new();
    for p in 0..PARTITIONS {
        let start = writer.pages.len();
        let mut readers = partition_readers(x, &group, p)?;
        merge(&mut readers, &mut scratch, |fp, parent, state| {
            record(Format::Candidate, fp, parent, state, &mut rec);
            writer.push(fp, &rec)?;
            Ok(true)
        })?;
        writer.flush()?;
        parts.push(start..writer.pages.len());
    }
    for run in &group {
        x.io.remove(&run.paged)?;
    }
    Ok(Run {
        paged: writer.finish()?,
        parts,
    })
}

/// A reader of partition `p` of each run.
fn partition_readers<'x, 's, M: Model>(
    x: &'x External<'s, '_, M>,
    runs: &[Run],
    p: usize,
) -> Result<Vec<Reader<'x, 's>>, SpillError> {
    runs.iter()
        .map(|r| {
            let pages = &r.paged.pages[r.parts[p].clone()];
            Reader::new(&x.io, r.paged.file, pages, Format::Candidate)
        })
        .collect()
}

/// Partition `p` of a level: the new states, written as the frontier and
/// the parent records (`None` when there are none), and the visited runs
/// brought up to date.
fn merge_partition<M: Model>(
    x: &External<'_, '_, M>,
    runs: &[Run],
    p: usize,
    depth: usize,
    tally: &mut Tally<'_>,
) -> Result<Option<(Paged, Paged)>, SpillError> {
    let search = x.search;
    let mut readers = partition_readers(x, runs, p)?;
    let mut visited = x.visited[p].lock().unwrap_or_else(|e| e.into_inner());
    x.io.hold(visited.len() * x.io.page_bytes);
    let held = visited.len() * x.io.page_bytes;
    let outcome = (|| {
        let mut members: Vec<Membership<'_>> = visited.iter().map(Membership::new).collect();
        let mut frontier = Writer::new(&x.io)?;
        let mut parents = Writer::new(&x.io)?;
        let mut fps = Writer::new(&x.io)?;
        let mut scratch = Vec::new();
        let mut rec = Vec::new();
        let mut new = 0u64;
        merge(&mut readers, &mut scratch, |fp, parent, state| {
            for member in &mut members {
                if member.contains(&x.io, fp)? {
                    return Ok(true);
                }
            }
            let decoded = search
                .model
                .decode_state(state)
                .filter(|s| search.fingerprint(s) == fp)
                .ok_or_else(|| {
                    SpillError(
                        "the model's decode_state did not give back a state its encode_state wrote"
                            .into(),
                    )
                })?;
            search.admit(&decoded, fp, depth, None, tally);
            x.recent_slot(fp).store(fp, Ordering::Relaxed);
            record(Format::Frontier, fp, 0, state, &mut rec);
            frontier.push(fp, &rec)?;
            record(Format::Parent, fp, parent, &[], &mut rec);
            parents.push(fp, &rec)?;
            fps.push(fp, &fp.to_le_bytes())?;
            new += 1;
            Ok(!search.out_of_budget())
        })?;
        tally.flush();
        drop(members);
        let (frontier, parents, fps) = (frontier.finish()?, parents.finish()?, fps.finish()?);
        if new == 0 {
            x.io.remove(&frontier)?;
            x.io.remove(&parents)?;
            x.io.remove(&fps)?;
            return Ok(None);
        }
        visited.push(fps);
        // Keep the runs' sizes at least doubling from newest to oldest.
        while visited.len() >= 2
            && visited[visited.len() - 1].bytes * 2 >= visited[visited.len() - 2].bytes
        {
            let newer = visited.pop().expect("two runs");
            let older = visited.pop().expect("two runs");
            let mut readers = vec![
                Reader::new(&x.io, older.file, &older.pages, Format::Fingerprint)?,
                Reader::new(&x.io, newer.file, &newer.pages, Format::Fingerprint)?,
            ];
            let mut writer = Writer::new(&x.io)?;
            merge(&mut readers, &mut scratch, |fp, _, _| {
                writer.push(fp, &fp.to_le_bytes())?;
                Ok(true)
            })?;
            drop(readers);
            visited.push(writer.finish()?);
            x.io.remove(&older)?;
            x.io.remove(&newer)?;
        }
        Ok(Some((frontier, parents)))
    })();
    x.io.release(held);
    outcome
}

/// Gives every finding its path from a start state, read from the levels'
/// parent records.
fn attach_chains<M: Model>(x: &External<'_, '_, M>) -> Result<(), SpillError> {
    let mut findings = x.search.lock();
    let findings = &mut *findings;
    let hits = findings
        .violations
        .iter_mut()
        .chain(findings.examples.iter_mut())
        .chain(std::iter::once(&mut findings.step_error))
        .flatten();
    let parents = x.parents.lock().unwrap_or_else(|p| p.into_inner());
    let mut page = Vec::new();
    for hit in hits {
        if hit.chain.is_some() {
            continue;
        }
        let mut chain = vec![hit.fp];
        let mut fp = hit.fp;
        for level in (1..=hit.depth).rev() {
            let Some(paged) = parents.get(level).and_then(|l| l[partition(fp)].as_ref()) else {
                break;
            };
            let Some(parent) = parent_of(x, paged, fp, &mut page)? else {
                break;
            };
            chain.push(parent);
            fp = parent;
        }
        chain.reverse();
        hit.chain = Some(chain);
    }
    Ok(())
}

/// The parent recorded for `fp` in a level's sorted parent records.
fn parent_of<M: Model>(
    x: &External<'_, '_, M>,
    paged: &Paged,
    fp: Fingerprint,
    page: &mut Vec<u8>,
) -> Result<Option<Fingerprint>, SpillError> {
    let Some(target) = paged
        .pages
        .partition_point(|p| p.first <= fp)
        .checked_sub(1)
    else {
        return Ok(None);
    };
    x.io.load(paged.file, &paged.pages[target], page)?;
    let records = page.len() / 16;
    let (mut lo, mut hi) = (0, records);
    while lo < hi {
        let mid = (lo + hi) / 2;
        match u64_at(page, mid * 16).cmp(&fp) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Ok(Some(u64_at(page, mid * 16 + 8))),
        }
    }
    Ok(None)
}
