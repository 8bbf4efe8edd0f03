//! The visited set: state fingerprints (and, for BFS and walks, the
//! fingerprint of the state each was first reached from), sharded so that
//! both cores can insert at once.
//!
//! Full states are never kept here: 8 or 16 bytes of payload per state in
//! flat open-addressing tables. A trace is rebuilt by following parents (or
//! a DFS [`Trail`]) back to a start state and replaying.

use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A 64-bit state fingerprint; 0 is reserved for "no parent".
pub type Fingerprint = u64;

/// The fingerprint of a value (never 0).
pub fn fingerprint<T: Hash + ?Sized>(value: &T) -> Fingerprint {
    use std::hash::BuildHasher;
    let hash = foldhash::fast::FixedState::with_seed(0x5eed_0f9e_09be_7001).hash_one(value);
    if hash == 0 { 1 } else { hash }
}

/// Fingerprints are already uniformly mixed: hash tables use them as they are.
/// What the visited set remembers per state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Fingerprint and the parent's fingerprint (16 bytes a slot): traces are
    /// rebuilt by following parents. BFS and random walks.
    WithParents,
    /// Fingerprint only (8 bytes a slot): the search keeps each pending
    /// state's path itself ([`Trail`]). DFS.
    FingerprintsOnly,
}

/// The path to a state in a depth-first search: its fingerprint and its
/// parent's trail. Only the ancestors of pending states are alive, so this
/// costs memory in proportion to the stack, not to the state space.
pub struct Trail {
    fp: Fingerprint,
    parent: Option<std::sync::Arc<Trail>>,
}

impl Trail {
    /// The trail of a state reached from `parent`.
    pub fn new(fp: Fingerprint, parent: Option<std::sync::Arc<Trail>>) -> Self {
        Trail { fp, parent }
    }

    /// Fingerprints from the start state to this one.
    pub fn chain(&self) -> Vec<Fingerprint> {
        let mut chain = vec![self.fp];
        let mut at = self.parent.as_deref();
        while let Some(node) = at {
            chain.push(node.fp);
            at = node.parent.as_deref();
        }
        chain.reverse();
        chain
    }
}

impl Drop for Trail {
    // Long trails would otherwise be freed recursively.
    fn drop(&mut self) {
        let mut next = self.parent.take();
        while let Some(node) = next {
            match std::sync::Arc::try_unwrap(node) {
                Ok(mut node) => next = node.parent.take(),
                Err(_) => break,
            }
        }
    }
}

/// One worker's memory of fingerprints it has lately found in (or added to)
/// the visited set: a direct-mapped table small enough to stay in the
/// core's own cache. The visited set only grows, so a hit proves a state was
/// seen without touching the shared shards (their locks' cache lines move
/// between cores on every insert); a miss proves nothing and the caller asks
/// the visited set. Most successors are states seen a moment ago (two
/// independent steps taken in either order), so most lookups stop here.
pub(crate) struct SeenCache {
    slots: Vec<Fingerprint>,
    /// `slots.len() - 1` (a power of two).
    mask: usize,
}

/// Slots in a [`SeenCache`]: 256 KiB of fingerprints.
const SEEN_CACHE_SLOTS: usize = 1 << 17;

impl SeenCache {
    pub fn new() -> Self {
        SeenCache::with_bytes(SEEN_CACHE_SLOTS * 8)
    }

    /// A cache no larger than a search that may visit at most
    /// `max_states` states needs (a bounded search from a given state, as
    /// steering runs thousands of times, would otherwise clear 1 MiB per
    /// worker and level).
    pub fn for_states(max_states: Option<u64>) -> Self {
        match max_states {
            Some(max) => {
                let slots = usize::try_from(max.saturating_mul(2)).unwrap_or(usize::MAX);
                SeenCache::with_bytes(slots.min(SEEN_CACHE_SLOTS).saturating_mul(8))
            }
            None => SeenCache::new(),
        }
    }

    /// A cache of at most `bytes` (at least 8 KiB): a search under a
    /// memory budget sizes it from the budget and counts it there.
    pub fn with_bytes(bytes: usize) -> Self {
        let slots = (bytes / 8).max(1024);
        // Round down to a power of two.
        let slots = 1 << (usize::BITS - 1 - slots.leading_zeros());
        SeenCache {
            slots: vec![0; slots],
            mask: slots - 1,
        }
    }

    /// The bytes it holds.
    pub fn bytes(&self) -> usize {
        self.slots.len() * 8
    }

    fn index(&self, fp: Fingerprint) -> usize {
        // The low bits: the visited set's shards and slots use the high ones.
        fp as usize & self.mask
    }

    /// Whether `fp` is known to be in the visited set.
    pub fn contains(&self, fp: Fingerprint) -> bool {
        self.slots[self.index(fp)] == fp
    }

    /// Asks the CPU to start loading the slot where `fp` would be.
    pub fn prefetch(&self, fp: Fingerprint) {
        prefetch(std::ptr::from_ref(&self.slots[self.index(fp)]) as usize);
    }

    /// Notes that `fp` is in the visited set (evicting whatever shared its
    /// slot).
    pub fn remember(&mut self, fp: Fingerprint) {
        let index = self.index(fp);
        self.slots[index] = fp;
    }
}

/// Asks the CPU to start loading the cache line at `address` (a no-op but
/// on x86-64).
fn prefetch(address: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults and never reads into
    // the program's state, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// One shard: open addressing with linear probing over a flat `u64` array
/// (`width` words a slot, the fingerprint first; 0 marks an empty slot).
/// Capacities need not be powers of two: the slot comes from the high bits
/// of a multiply, so the table grows by a quarter and stays between 68% and
/// 85% full (9.4–11.8 bytes per fingerprint-only state).
struct Table {
    words: Vec<u64>,
    width: usize,
    /// `words.len() / width`, kept to spare a division per lookup.
    slots: usize,
    len: usize,
}

const MAX_LOAD_PERCENT: usize = 85;
const MIN_SLOTS: usize = 64;

impl Table {
    fn new(width: usize) -> Self {
        Table {
            words: Vec::new(),
            width,
            slots: 0,
            len: 0,
        }
    }

    fn slots(&self) -> usize {
        self.slots
    }

    fn home(fp: Fingerprint, slots: usize) -> usize {
        // Shards use the top bits; spread the rest over the slots.
        ((u128::from(fp << SHARD_BITS) * slots as u128) >> 64) as usize
    }

    fn find(&self, fp: Fingerprint) -> Result<usize, usize> {
        let slots = self.slots();
        let mut i = Self::home(fp, slots);
        loop {
            let word = self.words[i * self.width];
            if word == fp {
                return Ok(i);
            }
            if word == 0 {
                return Err(i);
            }
            i += 1;
            if i == slots {
                i = 0;
            }
        }
    }

    fn insert(&mut self, fp: Fingerprint, parent: Fingerprint) -> bool {
        if (self.len + 1) * 100 > self.slots() * MAX_LOAD_PERCENT {
            self.grow();
        }
        match self.find(fp) {
            Ok(_) => false,
            Err(i) => {
                self.words[i * self.width] = fp;
                if self.width == 2 {
                    self.words[i * 2 + 1] = parent;
                }
                self.len += 1;
                true
            }
        }
    }

    fn grow(&mut self) {
        let slots = (self.slots() + self.slots() / 4).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.words, vec![0; slots * self.width]);
        self.slots = slots;
        for slot in old.chunks_exact(self.width) {
            if slot[0] != 0
                && let Err(i) = self.find(slot[0])
            {
                self.words[i * self.width..(i + 1) * self.width].copy_from_slice(slot);
            }
        }
    }

    fn parent(&self, fp: Fingerprint) -> Option<Fingerprint> {
        if self.width < 2 || self.words.is_empty() {
            return None;
        }
        self.find(fp).ok().map(|i| self.words[i * 2 + 1])
    }
}

const SHARD_BITS: u32 = 6;

pub struct Visited {
    shards: Vec<Mutex<Table>>,
    /// Per shard, the address and slot count of its words, published after
    /// every resize: enough to prefetch a slot without taking the lock.
    hints: Vec<(AtomicUsize, AtomicUsize)>,
    layout: Layout,
}

impl Visited {
    pub fn new(layout: Layout) -> Self {
        let width = match layout {
            Layout::WithParents => 2,
            Layout::FingerprintsOnly => 1,
        };
        Visited {
            shards: (0..1 << SHARD_BITS)
                .map(|_| Mutex::new(Table::new(width)))
                .collect(),
            hints: (0..1 << SHARD_BITS)
                .map(|_| (AtomicUsize::new(0), AtomicUsize::new(0)))
                .collect(),
            layout,
        }
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    fn shard(&self, fp: Fingerprint) -> std::sync::MutexGuard<'_, Table> {
        self.shards[Self::shard_index(fp)]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn shard_index(fp: Fingerprint) -> usize {
        (fp >> (64 - SHARD_BITS)) as usize
    }

    /// Records `fp` (reached from `parent`, 0 for a start state); `false`
    /// if it was already there (its first parent is kept).
    pub fn insert(&self, fp: Fingerprint, parent: Fingerprint) -> bool {
        let index = Self::shard_index(fp);
        let mut table = self.shard(fp);
        let slots = table.slots();
        let inserted = table.insert(fp, parent);
        if table.slots() != slots {
            let (base, count) = &self.hints[index];
            base.store(table.words.as_ptr() as usize, Ordering::Relaxed);
            count.store(table.slots(), Ordering::Relaxed);
        }
        inserted
    }

    /// Asks the CPU to start loading the slot where `fp` would live, so that
    /// several lookups' cache misses overlap instead of queueing behind the
    /// shard locks. A stale hint (the shard grew meanwhile) only wastes the
    /// prefetch.
    pub fn prefetch(&self, fp: Fingerprint) {
        let (base, count) = &self.hints[Self::shard_index(fp)];
        let (base, slots) = (base.load(Ordering::Relaxed), count.load(Ordering::Relaxed));
        if slots == 0 {
            return;
        }
        let width = match self.layout {
            Layout::WithParents => 16,
            Layout::FingerprintsOnly => 8,
        };
        prefetch(base.wrapping_add(Table::home(fp, slots) * width));
    }

    /// The parent recorded for `fp` (only with [`Layout::WithParents`]).
    pub fn parent(&self, fp: Fingerprint) -> Option<Fingerprint> {
        self.shard(fp).parent(fp)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|s| s.len).unwrap_or(0))
            .sum()
    }

    /// Fingerprints from a start state to `fp`, by following parents.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_follows_parents() {
        let visited = Visited::new(Layout::WithParents);
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
    fn tables_grow_without_losing_entries_in_both_layouts() {
        for layout in [Layout::WithParents, Layout::FingerprintsOnly] {
            let visited = Visited::new(layout);
            let fps: Vec<u64> = (1..=50_000u64).map(|i| fingerprint(&i)).collect();
            for (i, &fp) in fps.iter().enumerate() {
                assert!(visited.insert(fp, i as u64), "{layout:?} {i}");
            }
            for &fp in &fps {
                assert!(!visited.insert(fp, 7), "{layout:?}: lost {fp}");
            }
            assert_eq!(visited.len(), 50_000);
            let expected = (layout == Layout::WithParents).then_some(9);
            assert_eq!(visited.parent(fps[9]), expected);
            assert_eq!(visited.parent(fingerprint(&"absent")), None);
        }
    }

    #[test]
    fn trails_list_the_path_from_the_start() {
        let root = std::sync::Arc::new(Trail::new(1, None));
        let mid = std::sync::Arc::new(Trail::new(2, Some(root.clone())));
        let leaf = Trail::new(3, Some(mid));
        assert_eq!(leaf.chain(), vec![1, 2, 3]);
        drop(leaf);
        assert_eq!(root.chain(), vec![1]);
    }

    #[test]
    fn the_seen_cache_only_answers_for_what_it_was_told() {
        let mut seen = SeenCache::new();
        let fp = fingerprint(&1u64);
        assert!(!seen.contains(fp));
        seen.remember(fp);
        assert!(seen.contains(fp));
        // Same slot, another fingerprint: the newer one evicts the older.
        let rival = fp ^ (1 << 40);
        seen.remember(rival);
        assert!(seen.contains(rival));
        assert!(!seen.contains(fp));
    }

    #[test]
    fn fingerprints_are_stable_and_nonzero() {
        assert_eq!(fingerprint(&(1u8, "a")), fingerprint(&(1u8, "a")));
        assert_ne!(fingerprint(&1u64), fingerprint(&2u64));
        assert_ne!(fingerprint(&0u64), 0);
    }
}
