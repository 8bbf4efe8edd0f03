//! How `choose` is resolved on a live node until the live resolver exists:
//! the same kind of policy the simulator uses, picked per cluster file.
//!
//! The seam for the resolver is [`ChoicePolicy::build`]: it returns any
//! [`Chooser`]; decisions reach [`crate::executor::DecisionLog`] by their
//! stable names either way.

use prophet::model::{Chooser, FirstChoice, NodeId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Which policy resolves choices.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ChoicePolicy {
    /// Always the first candidate: the programmer's default.
    #[default]
    First,
    /// Uniformly random, from a ChaCha8 generator seeded with `seed` and the node id.
    Random {
        /// Base seed.
        seed: u64,
    },
}

impl ChoicePolicy {
    /// A chooser for node `id`.
    pub fn build(&self, id: NodeId) -> Box<dyn Chooser + Send> {
        match self {
            ChoicePolicy::First => Box::new(FirstChoice),
            ChoicePolicy::Random { seed } => Box::new(SeededRandom {
                rng: ChaCha8Rng::seed_from_u64(seed ^ (u64::from(id.0) << 32 | 0x5eed)),
            }),
        }
    }
}

/// Uniform random choices from a seeded generator.
#[derive(Debug)]
pub struct SeededRandom {
    rng: ChaCha8Rng,
}

impl Chooser for SeededRandom {
    fn choose(&mut self, _node: NodeId, _name: &'static str, candidates: usize) -> usize {
        self.rng.random_range(0..candidates)
    }
}
