//! Rebuilding traces: from a chain of fingerprints (what the visited set
//! remembers) or from an encoded path of successor indices (what a user
//! replays), by re-running the model's steps.

use crate::explore::report::{Trace, TraceStep};
use crate::explore::visited::{Fingerprint, fingerprint};
use crate::model::Model;

/// The fingerprint the search stores for `state`: of its symmetry
/// representative when symmetry reduction is on.
pub(crate) fn state_fingerprint<M: Model>(
    model: &M,
    state: &M::State,
    symmetry: bool,
) -> Fingerprint {
    if symmetry && let Some(rep) = model.representative(state) {
        return fingerprint(&rep);
    }
    fingerprint(state)
}

/// Builds a trace by walking `chain` (fingerprints from a start state to the
/// target) and, at each step, taking the first successor with the next
/// fingerprint. `None` if the chain cannot be followed (which would mean the
/// model is not deterministic).
pub(crate) fn trace_from_chain<M: Model>(
    model: &M,
    starts: &[M::State],
    chain: &[Fingerprint],
    symmetry: bool,
) -> Option<Trace> {
    let first = *chain.first()?;
    let init = starts
        .iter()
        .position(|s| state_fingerprint(model, s, symmetry) == first)?;
    let mut path = Vec::with_capacity(chain.len().saturating_sub(1));
    let mut state = starts[init].clone();
    let mut successors = Vec::new();
    for &target in &chain[1..] {
        successors.clear();
        let _ = model.successors(&state, &mut successors);
        let index = successors
            .iter()
            .position(|(_, next)| state_fingerprint(model, next, symmetry) == target)?;
        path.push(index);
        state = successors.swap_remove(index).1;
    }
    trace_from_path(model, starts, init, &path).ok()
}

/// Replays `path` (successor indices) from start state `init` and describes
/// every step.
pub(crate) fn trace_from_path<M: Model>(
    model: &M,
    starts: &[M::State],
    init: usize,
    path: &[usize],
) -> Result<Trace, String> {
    let first = starts.get(init).ok_or_else(|| {
        format!(
            "start state {init} does not exist (there are {})",
            starts.len()
        )
    })?;
    let mut state = first.clone();
    let mut steps = Vec::with_capacity(path.len());
    let mut successors = Vec::new();
    for (n, &index) in path.iter().enumerate() {
        successors.clear();
        if let Err((action, error)) = model.successors(&state, &mut successors)
            && index >= successors.len()
        {
            // The path of a panic or nondeterminism finding ends with the
            // index of the failing step (one past the successors computed
            // before it): that step is the trace's last, and shows the error.
            if index == successors.len() && n + 1 == path.len() {
                steps.push(TraceStep {
                    description: format!("{action:?} → {error}"),
                    action: format!("{action:?}"),
                    chart: None,
                });
                break;
            }
            return Err(format!("step {} ({action:?}) fails: {error}", n + 1));
        }
        if index >= successors.len() {
            return Err(format!(
                "step {} picks successor {index}, but that state has {} successors",
                n + 1,
                successors.len()
            ));
        }
        let (action, next) = successors.swap_remove(index);
        steps.push(TraceStep {
            description: model.describe_step(&state, &action, &next),
            action: format!("{action:?}"),
            chart: model.chart_step(&state, &action, &next),
        });
        state = next;
    }
    Ok(Trace {
        init,
        path: path.to_vec(),
        steps,
        first_state: model.describe_state(first),
        last_state: model.describe_state(&state),
        loop_start: None,
        nodes: model.chart_nodes(first),
    })
}

/// The index that encodes the failing step at the end of `path`: the number
/// of successors computed before the error. `None` if no step fails there.
pub(crate) fn failing_index<M: Model>(
    model: &M,
    starts: &[M::State],
    init: usize,
    path: &[usize],
) -> Option<usize> {
    let state = state_at(model, starts, init, path)?;
    let mut successors = Vec::new();
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        model.successors(&state, &mut successors).is_err()
    }));
    matches!(failed, Ok(true)).then_some(successors.len())
}

/// The state reached by following `path` from start state `init`.
pub(crate) fn state_at<M: Model>(
    model: &M,
    starts: &[M::State],
    init: usize,
    path: &[usize],
) -> Option<M::State> {
    let mut state = starts.get(init)?.clone();
    let mut successors = Vec::new();
    for &index in path {
        successors.clear();
        let _ = model.successors(&state, &mut successors);
        if index >= successors.len() {
            return None;
        }
        state = successors.swap_remove(index).1;
    }
    Some(state)
}
