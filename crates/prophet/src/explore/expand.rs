//! Expanding one state: the step every strategy shares.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::explore::search::{Search, Tally};
use crate::explore::visited::{Fingerprint, SeenCache, Trail};
use crate::model::{Model, StepError};

const PREFETCH_BATCH: usize = 32;

/// Generates the successors of `state` (at `depth`), records the new ones and
/// hands each to `push`. Step errors (a panicking or nondeterministic
/// handler) are recorded as findings. `seen` is the calling worker's own
/// cache of visited fingerprints, `tally` its counts. Returns the number of
/// successors.
#[allow(clippy::too_many_arguments)]
pub(crate) fn expand<M: Model>(
    search: &Search<'_, M>,
    state: &M::State,
    fp: Fingerprint,
    depth: usize,
    buffer: &mut Vec<(M::Action, M::State)>,
    seen: &mut SeenCache,
    tally: &mut Tally<'_>,
    trail: Option<&Trail>,
    mut push: impl FnMut(M::State, Fingerprint),
) -> usize {
    let count = successors_into(search, state, fp, depth, buffer, trail);
    tally.successors(count);
    // Three passes, so that the cache misses of one successor's lookups
    // overlap with the others' instead of queueing: fingerprint every
    // successor and prefetch its slot in the worker's own cache; prefetch
    // the visited-set slot of each the cache does not know; then visit.
    let mut fps = [0; PREFETCH_BATCH];
    let batch = buffer.len().min(PREFETCH_BATCH);
    for (slot, (_, next)) in fps.iter_mut().zip(buffer.iter()) {
        *slot = search.fingerprint(next);
        seen.prefetch(*slot);
    }
    for &next_fp in &fps[..batch] {
        if !seen.contains(next_fp) {
            search.visited.prefetch(next_fp);
        }
    }
    for (i, (_, next)) in buffer.drain(..).enumerate() {
        let next_fp = match fps.get(i) {
            Some(&fp) => fp,
            None => search.fingerprint(&next),
        };
        if seen.contains(next_fp) {
            continue;
        }
        let new = search.visit_tallied(&next, next_fp, fp, depth + 1, trail, tally);
        seen.remember(next_fp);
        if new {
            push(next, next_fp);
        }
    }
    count
}

/// Generates the successors of `state` (at `depth`) and hands `push` each
/// that this worker has not lately handed on, without consulting the
/// visited set: a search under a memory budget deduplicates them later,
/// level by level. Returns the number of successors.
#[allow(clippy::too_many_arguments)]
pub(crate) fn expand_unvisited<M: Model>(
    search: &Search<'_, M>,
    state: &M::State,
    fp: Fingerprint,
    depth: usize,
    buffer: &mut Vec<(M::Action, M::State)>,
    seen: &mut SeenCache,
    tally: &mut Tally<'_>,
    mut push: impl FnMut(M::State, Fingerprint),
) -> usize {
    let count = successors_into(search, state, fp, depth, buffer, None);
    tally.successors(count);
    for (_, next) in buffer.drain(..) {
        let next_fp = search.fingerprint(&next);
        if !seen.contains(next_fp) {
            seen.remember(next_fp);
            push(next, next_fp);
        }
    }
    count
}

/// Fills `buffer` with the successors of `state`, recording step errors as
/// findings and counting the successors in the search's total.
pub(crate) fn successors_of<M: Model>(
    search: &Search<'_, M>,
    state: &M::State,
    fp: Fingerprint,
    depth: usize,
    buffer: &mut Vec<(M::Action, M::State)>,
    trail: Option<&Trail>,
) -> usize {
    let count = successors_into(search, state, fp, depth, buffer, trail);
    search.tally().successors(count);
    count
}

/// [`successors_of`] without counting them.
fn successors_into<M: Model>(
    search: &Search<'_, M>,
    state: &M::State,
    fp: Fingerprint,
    depth: usize,
    buffer: &mut Vec<(M::Action, M::State)>,
    trail: Option<&Trail>,
) -> usize {
    buffer.clear();
    if !search.model.within_boundary(state) {
        return 0;
    }
    let result = catch_unwind(AssertUnwindSafe(|| search.model.successors(state, buffer)));
    match result {
        Ok(Ok(())) => {}
        Ok(Err((action, error))) => {
            search.step_error(fp, depth, format!("{action:?}"), error, trail)
        }
        Err(payload) => {
            let message = panic_text(&payload);
            search.step_error(
                fp,
                depth,
                "computing successors".into(),
                StepError::Panic { message },
                trail,
            );
            buffer.clear();
        }
    }
    buffer.len()
}

/// The message of a caught panic.
pub(crate) fn panic_text(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}
