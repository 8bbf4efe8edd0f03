//! Random walks from the start states, for state spaces too large to
//! exhaust. Single-threaded on purpose: a seed reproduces the run exactly.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use hashbrown::HashSet;

use crate::explore::expand::successors_of;
use crate::explore::search::Search;
use crate::explore::swarm::SAMPLE_EVERY;
use crate::explore::visited::Fingerprint;
use crate::model::Model;

pub(crate) fn run<M: Model>(
    search: &Search<'_, M>,
    starts: &[M::State],
    seed: u64,
    walks: u64,
    walk_len: usize,
    mut sample: Option<&mut HashSet<Fingerprint>>,
) {
    if starts.is_empty() {
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut buffer = Vec::new();
    for _ in 0..walks {
        if search.should_stop() {
            return;
        }
        let mut state = starts[rng.random_range(0..starts.len())].clone();
        let mut fp = search.fingerprint(&state);
        search.visit(&state, fp, 0, 0, None);
        keep(&mut sample, fp);
        for depth in 0..walk_len {
            successors_of(search, &state, fp, depth, &mut buffer, None);
            // Every successor is recorded, so the unique count is what the
            // walk saw and a violation one step away is caught.
            let mut fps = Vec::with_capacity(buffer.len());
            for (_, next) in &buffer {
                let next_fp = search.fingerprint(next);
                search.visit(next, next_fp, fp, depth + 1, None);
                keep(&mut sample, next_fp);
                fps.push(next_fp);
            }
            if buffer.is_empty() || search.should_stop() {
                break;
            }
            let pick = rng.random_range(0..buffer.len());
            state = buffer.swap_remove(pick).1;
            fp = fps[pick];
        }
        search.tick(walk_len);
    }
}

/// Keeps `fp` in the fingerprint sample (see [`crate::explore::swarm`]).
fn keep(sample: &mut Option<&mut HashSet<Fingerprint>>, fp: Fingerprint) {
    if let Some(sample) = sample
        && fp.is_multiple_of(SAMPLE_EVERY)
    {
        sample.insert(fp);
    }
}
