//! Breadth-first search, level by level on every core.
//!
//! Each level is split into chunks that the worker threads take in turn. A
//! level is always finished before the search stops on a finding, so the
//! reported counterexample is a shortest one and the same one on every run:
//! among the violating states of the first violating level, the one with the
//! smallest fingerprint.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use crate::explore::expand::expand;
use crate::explore::search::Search;
use crate::explore::visited::{Fingerprint, SeenCache};
use crate::model::Model;

const CHUNK: usize = 256;

pub(crate) fn run<M: Model>(search: &Search<'_, M>, starts: &[M::State]) {
    let mut frontier: Vec<(M::State, Fingerprint)> = Vec::new();
    for state in starts {
        let fp = search.fingerprint(state);
        if search.visit(state, fp, 0, 0, None) {
            frontier.push((state.clone(), fp));
        }
    }
    let mut depth = 0;
    while !frontier.is_empty() && !search.should_stop() {
        if search.bounds.max_depth.is_some_and(|max| depth >= max) {
            search
                .depth_cut
                .store(frontier.len() as u64, Ordering::Relaxed);
            return;
        }
        let cursor = AtomicUsize::new(0);
        let parts = Mutex::new(Vec::with_capacity(search.threads));
        let level = &frontier;
        let work = || {
            let mut next = Vec::new();
            let mut buffer = Vec::new();
            let mut seen = SeenCache::for_states(search.bounds.max_states);
            let mut tally = search.tally();
            'work: loop {
                let begin = cursor.fetch_add(CHUNK, Ordering::Relaxed);
                if begin >= level.len() {
                    break;
                }
                for (state, fp) in &level[begin..(begin + CHUNK).min(level.len())] {
                    if search.out_of_budget() {
                        break 'work;
                    }
                    expand(
                        search,
                        state,
                        *fp,
                        depth,
                        &mut buffer,
                        &mut seen,
                        &mut tally,
                        None,
                        |s, f| next.push((s, f)),
                    );
                }
                tally.flush();
                search.tick(depth + 1);
            }
            parts.lock().unwrap_or_else(|p| p.into_inner()).push(next);
        };
        if search.threads == 1 {
            // One worker runs here: a small bounded search (steering runs
            // thousands) would otherwise pay a thread per level.
            work();
        } else {
            thread::scope(|scope| {
                for _ in 0..search.threads {
                    scope.spawn(work);
                }
            });
        }
        frontier = parts
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .into_iter()
            .flatten()
            .collect();
        depth += 1;
    }
}
