//! Checking `eventually` properties: a search for a lasso or a dead end.
//!
//! An execution violates "eventually P" when P never holds on it. Every such
//! execution stays inside the states where P is false, so the search explores
//! only those (from the start states where P is false), depth first, keeping
//! its path on a stack. A step back to a state on the stack closes a loop
//! that never reaches P (a lasso); a state with no step out other than to
//! itself is a dead end. Either is a counterexample. Steps that leave the
//! state unchanged (a duplicate delivery ignored by its receiver) are
//! stuttering and are not counted as a loop: the check assumes a system
//! does not stutter forever, and no weaker fairness than that.

use std::time::Instant;

use hashbrown::HashMap;

use crate::explore::report::Trace;
use crate::explore::trace::{state_fingerprint, trace_from_path};
use crate::explore::visited::Fingerprint;
use crate::model::{Model, Property};

pub(crate) enum Outcome {
    Holds,
    Violated { trace: Trace, detail: String },
    Unknown(String),
}

struct Frame<M: Model> {
    fp: Fingerprint,
    /// Whether the state is inside the model's boundary (else not expanded).
    inside: bool,
    successors: Vec<(M::Action, M::State)>,
    next: usize,
    /// Index of the successor of the parent frame that led here.
    taken: usize,
}

pub(crate) struct Limits {
    pub max_depth: Option<usize>,
    pub max_states: Option<u64>,
    pub deadline: Option<Instant>,
}

pub(crate) fn check<M: Model>(
    model: &M,
    starts: &[M::State],
    property: &Property<M>,
    symmetry: bool,
    limits: &Limits,
) -> Outcome {
    // true: on the current path; false: fully explored without a counterexample.
    let mut on_path: HashMap<Fingerprint, bool> = HashMap::new();
    let mut cut = None;
    for (init, start) in starts.iter().enumerate() {
        if property.holds(model, start) {
            continue;
        }
        let fp = state_fingerprint(model, start, symmetry);
        if on_path.contains_key(&fp) {
            continue;
        }
        let mut stack: Vec<Frame<M>> = Vec::new();
        on_path.insert(fp, true);
        stack.push(frame(model, start, fp, 0));
        while let Some(top) = stack.last() {
            if top.next == 0
                && !top
                    .successors
                    .iter()
                    .any(|(_, s)| state_fingerprint(model, s, symmetry) != top.fp)
            {
                if !top.inside {
                    cut.get_or_insert_with(|| "a path left the model's boundary".to_string());
                } else if let Ok(trace) = trace_from_path(model, starts, init, &path_of(&stack)) {
                    return Outcome::Violated {
                        trace,
                        detail: "an execution ends (no step changes the state) without reaching it"
                            .into(),
                    };
                }
            }
            let depth = stack.len();
            let top = stack.last_mut().expect("stack is not empty");
            if top.next >= top.successors.len() {
                on_path.insert(top.fp, false);
                stack.pop();
                continue;
            }
            let index = top.next;
            top.next += 1;
            let top_fp = top.fp;
            let next_state = top.successors[index].1.clone();
            let next_fp = state_fingerprint(model, &next_state, symmetry);
            if next_fp == top_fp || property.holds(model, &next_state) {
                continue;
            }
            match on_path.get(&next_fp) {
                Some(true) => {
                    let loop_start = stack.iter().position(|f| f.fp == next_fp).unwrap_or(0);
                    let mut path = path_of(&stack);
                    path.push(index);
                    if let Ok(mut trace) = trace_from_path(model, starts, init, &path) {
                        trace.loop_start = Some(loop_start);
                        return Outcome::Violated {
                            trace,
                            detail: "an execution loops forever without reaching it".into(),
                        };
                    }
                }
                Some(false) => {}
                None => {
                    if limits.max_depth.is_some_and(|max| depth > max) {
                        cut.get_or_insert_with(|| format!("paths longer than {} steps", depth - 1));
                        continue;
                    }
                    if limits
                        .max_states
                        .is_some_and(|max| on_path.len() as u64 >= max)
                    {
                        return Outcome::Unknown(format!("stopped after {} states", on_path.len()));
                    }
                    if limits.deadline.is_some_and(|d| Instant::now() >= d) {
                        return Outcome::Unknown("time limit reached".into());
                    }
                    on_path.insert(next_fp, true);
                    stack.push(frame(model, &next_state, next_fp, index));
                }
            }
        }
    }
    match cut {
        Some(reason) => Outcome::Unknown(format!(
            "no counterexample found, but not all paths were followed: {reason}"
        )),
        None => Outcome::Holds,
    }
}

/// The successor indices that lead from the start state to the top of `stack`.
fn path_of<M: Model>(stack: &[Frame<M>]) -> Vec<usize> {
    stack.iter().skip(1).map(|f| f.taken).collect()
}

fn frame<M: Model>(model: &M, state: &M::State, fp: Fingerprint, taken: usize) -> Frame<M> {
    let mut successors = Vec::new();
    let inside = model.within_boundary(state);
    if inside {
        let _ = model.successors(state, &mut successors);
    }
    Frame {
        fp,
        inside,
        successors,
        next: 0,
        taken,
    }
}
