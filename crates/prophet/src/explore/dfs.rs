//! Depth-first search on every core.
//!
//! Each worker runs its own stack; a worker with a deep stack gives the
//! bottom half of it to a shared pool when another worker is idle. The search
//! ends when every worker is idle and the pool is empty.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::explore::expand::expand;
use crate::explore::search::Search;
use crate::explore::visited::{Fingerprint, SeenCache, Trail};
use crate::model::Model;

struct Entry<S> {
    state: S,
    fp: Fingerprint,
    depth: usize,
    /// The path to the state's parent: the visited set keeps no parents.
    parent: Option<Arc<Trail>>,
}

/// Below this many entries a worker keeps its stack to itself.
const SHARE_THRESHOLD: usize = 32;

pub(crate) fn run<M: Model>(search: &Search<'_, M>, starts: &[M::State]) {
    let mut roots = Vec::new();
    for state in starts {
        let fp = search.fingerprint(state);
        if search.visit(state, fp, 0, 0, None) {
            roots.push(Entry {
                state: state.clone(),
                fp,
                depth: 0,
                parent: None,
            });
        }
    }
    roots.reverse();
    let pool: Mutex<Vec<Entry<M::State>>> = Mutex::new(roots);
    let idle = AtomicUsize::new(0);
    let threads = search.threads;
    thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| worker(search, &pool, &idle, threads));
        }
    });
}

fn worker<M: Model>(
    search: &Search<'_, M>,
    pool: &Mutex<Vec<Entry<M::State>>>,
    idle: &AtomicUsize,
    threads: usize,
) {
    let mut stack: Vec<Entry<M::State>> = Vec::new();
    let mut buffer = Vec::new();
    let mut fresh = Vec::new();
    let mut seen = SeenCache::for_states(search.bounds.max_states);
    let mut tally = search.tally();
    let mut since_tick = 0u32;
    loop {
        let Some(entry) = stack.pop() else {
            match take_work(pool, idle, threads, search) {
                Some(entry) => {
                    stack.push(entry);
                    continue;
                }
                None => return,
            }
        };
        if search.should_stop() {
            return;
        }
        if search
            .bounds
            .max_depth
            .is_some_and(|max| entry.depth >= max)
        {
            search.depth_cut.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let depth = entry.depth;
        let trail = Arc::new(Trail::new(entry.fp, entry.parent));
        fresh.clear();
        expand(
            search,
            &entry.state,
            entry.fp,
            depth,
            &mut buffer,
            &mut seen,
            &mut tally,
            Some(&trail),
            |s, f| fresh.push((s, f)),
        );
        // Push in reverse so that the first successor is explored first.
        while let Some((state, fp)) = fresh.pop() {
            stack.push(Entry {
                state,
                fp,
                depth: depth + 1,
                parent: Some(Arc::clone(&trail)),
            });
        }
        if stack.len() > SHARE_THRESHOLD && idle.load(Ordering::Relaxed) > 0 {
            let mut shared = pool.lock().unwrap_or_else(|p| p.into_inner());
            if shared.is_empty() {
                let half = stack.len() / 2;
                shared.extend(stack.drain(..half));
            }
        }
        since_tick += 1;
        if since_tick >= 1024 {
            since_tick = 0;
            tally.flush();
            search.tick(depth);
        }
    }
}

/// Blocks until there is shared work (returns it) or every worker is idle
/// with nothing left (returns `None`).
fn take_work<M: Model>(
    pool: &Mutex<Vec<Entry<M::State>>>,
    idle: &AtomicUsize,
    threads: usize,
    search: &Search<'_, M>,
) -> Option<Entry<M::State>> {
    idle.fetch_add(1, Ordering::SeqCst);
    loop {
        {
            let mut shared = pool.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = shared.pop() {
                idle.fetch_sub(1, Ordering::SeqCst);
                return Some(entry);
            }
            if idle.load(Ordering::SeqCst) == threads || search.should_stop() {
                return None;
            }
        }
        thread::sleep(Duration::from_micros(50));
    }
}
