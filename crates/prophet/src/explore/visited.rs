//! The visited set: state fingerprints and the fingerprint of the state each
//! was first reached from, sharded so that both cores can insert at once.
//!
//! Full states are never kept here (16 bytes of payload per state); a trace is
//! rebuilt by following parents back to an initial state and replaying.

use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Mutex;

use hashbrown::HashMap;

/// A 64-bit state fingerprint; 0 is reserved for "no parent".
pub type Fingerprint = u64;

/// The fingerprint of a value (never 0).
pub fn fingerprint<T: Hash + ?Sized>(value: &T) -> Fingerprint {
    use std::hash::BuildHasher;
    let hash = foldhash::fast::FixedState::with_seed(0x5eed_0f9e_09be_7001).hash_one(value);
    if hash == 0 { 1 } else { hash }
}

/// Fingerprints are already uniformly mixed: hash tables use them as they are.
#[derive(Default, Clone, Copy)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

type Shard = HashMap<Fingerprint, Fingerprint, BuildHasherDefault<IdentityHasher>>;

const SHARD_BITS: u32 = 6;

/// Fingerprint → parent fingerprint, in `2^SHARD_BITS` locked shards.
pub struct Visited {
    shards: Vec<Mutex<Shard>>,
}

impl Visited {
    /// An empty set.
    pub fn new() -> Self {
        Visited {
            shards: (0..1 << SHARD_BITS)
                .map(|_| Mutex::new(Shard::default()))
                .collect(),
        }
    }

    fn shard(&self, fp: Fingerprint) -> std::sync::MutexGuard<'_, Shard> {
        // The top bits pick the shard; hashbrown uses the low bits and the top 7
        // of its own, so shards stay evenly filled.
        let index = (fp.rotate_left(SHARD_BITS) as usize) & ((1 << SHARD_BITS) - 1);
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Inserts `fp` with `parent`; `true` if it was not there yet.
    pub fn insert(&self, fp: Fingerprint, parent: Fingerprint) -> bool {
        let mut shard = self.shard(fp);
        match shard.entry(fp) {
            hashbrown::hash_map::Entry::Occupied(_) => false,
            hashbrown::hash_map::Entry::Vacant(v) => {
                v.insert(parent);
                true
            }
        }
    }

    /// The parent recorded for `fp` (0 for an initial state).
    pub fn parent(&self, fp: Fingerprint) -> Option<Fingerprint> {
        self.shard(fp).get(&fp).copied()
    }

    /// Number of fingerprints stored.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|s| s.len()).unwrap_or(0))
            .sum()
    }

    /// The chain of fingerprints from an initial state to `fp`, inclusive.
    pub fn chain_to(&self, fp: Fingerprint) -> Vec<Fingerprint> {
        let mut chain = vec![fp];
        let mut current = fp;
        while let Some(parent) = self.parent(current) {
            if parent == 0 || chain.len() > 1 << 24 {
                break;
            }
            chain.push(parent);
            current = parent;
        }
        chain.reverse();
        chain
    }
}

impl Default for Visited {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_follows_parents() {
        let visited = Visited::new();
        assert!(visited.insert(10, 0));
        assert!(visited.insert(11, 10));
        assert!(visited.insert(12, 11));
        assert!(
            !visited.insert(11, 12),
            "a second insert keeps the first parent"
        );
        assert_eq!(visited.chain_to(12), vec![10, 11, 12]);
        assert_eq!(visited.len(), 3);
    }

    #[test]
    fn fingerprints_are_stable_and_nonzero() {
        assert_eq!(fingerprint(&(1u8, "a")), fingerprint(&(1u8, "a")));
        assert_ne!(fingerprint(&1u64), fingerprint(&2u64));
        assert_ne!(fingerprint(&0u64), 0);
    }
}
