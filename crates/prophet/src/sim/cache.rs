//! Caches in the simulator's service-time model: a node answers a key it
//! handled recently faster.
//!
//! Owns the `[[caches]]` scenario section, the per-node LRU sets of keys and
//! the hit counts. A message's key comes from
//! [`Node::cache_key`](crate::model::Node::cache_key); a handler for a key in
//! the node's set takes a sample of the cache's `hit` time instead of the
//! node's service time. A cache changes *when* a handler's effects leave the
//! node, never *what* the handler does: it never sees node state or
//! messages. It is volatile: a crash empties it.

use std::collections::BTreeMap;
use std::time::Duration;

use foldhash::fast::FixedState;
use rand::RngCore;
use serde::Deserialize;

use crate::model::NodeId;
use crate::sim::network::{LatencyDist, ResolvedNetwork};
use crate::sim::scenario::{NodeSet, Scenario, ScenarioError};

/// Most keys one node's cache holds (a bound on the simulator's memory:
/// two map entries per key).
pub const CACHE_CAPACITY_MAX: usize = 10_000_000;

/// Executor-derived metric: one sample per handler of a message with a
/// cache key at a node with a cache, 1 for a hit and 0 for a miss (its
/// mean is the hit ratio).
pub const CACHE_HIT: &str = "cache_hit";

/// A cache at some nodes: each keeps the `capacity` keys it handled most
/// recently (least recently used is evicted first).
#[derive(Clone, Debug, PartialEq)]
pub struct CacheModel {
    /// The nodes with a cache (each its own).
    pub nodes: Vec<NodeId>,
    /// Keys per node, 1 to [`CACHE_CAPACITY_MAX`].
    pub capacity: usize,
    /// Service time of a handler whose key is cached (a miss takes the
    /// node's service time). Slowdowns' `service_factor` applies to both.
    pub hit: LatencyDist,
}

impl CacheModel {
    /// Checks the capacity, the distribution and that node ids are below `n`.
    pub fn validate(&self, n: usize) -> Result<(), String> {
        if !(1..=CACHE_CAPACITY_MAX).contains(&self.capacity) {
            return Err(format!(
                "capacity = {} must be 1 to {CACHE_CAPACITY_MAX} keys",
                self.capacity
            ));
        }
        self.hit.validate().map_err(|e| format!("hit: {e}"))?;
        if let Some(bad) = self.nodes.iter().find(|id| id.index() >= n) {
            return Err(format!(
                "node {bad} does not exist (the system has {n} nodes)"
            ));
        }
        Ok(())
    }
}

/// `[[caches]]` in a scenario.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSpec {
    /// The nodes with a cache (each its own).
    pub nodes: NodeSet,
    /// Keys per node.
    pub capacity: toml::Spanned<u64>,
    /// Service time on a hit.
    pub hit: toml::Spanned<LatencyDist>,
}

impl CacheSpec {
    /// The model, checked against `n` nodes; errors name the field.
    pub fn to_model(&self, scenario: &Scenario, n: usize) -> Result<CacheModel, ScenarioError> {
        if let Some(bad) = self.nodes.0.iter().find(|id| id.index() >= n) {
            return Err(scenario.invalid_at(
                "caches.nodes",
                self.nodes.1.clone(),
                format!(
                    "node {} does not exist (the system has {n} nodes: 0..{n})",
                    bad.0
                ),
            ));
        }
        let capacity = *self.capacity.get_ref();
        if !(1..=CACHE_CAPACITY_MAX as u64).contains(&capacity) {
            return Err(scenario.invalid_at(
                "caches.capacity",
                Some(self.capacity.span()),
                format!("{capacity} keys is out of range: give 1 to {CACHE_CAPACITY_MAX}"),
            ));
        }
        self.hit
            .get_ref()
            .validate()
            .map_err(|e| scenario.invalid_at("caches.hit", Some(self.hit.span()), e))?;
        Ok(CacheModel {
            nodes: self.nodes.0.clone(),
            capacity: capacity as usize,
            hit: self.hit.get_ref().clone(),
        })
    }
}

/// A bounded set of keys, least recently used evicted first.
///
/// Deterministic: eviction follows the access stamps (a `BTreeMap`), and
/// the key index is a hash map that is only looked up, never iterated.
#[derive(Clone, Debug)]
pub(crate) struct Lru {
    capacity: usize,
    clock: u64,
    stamp_of: hashbrown::HashMap<u64, u64, FixedState>,
    key_at: BTreeMap<u64, u64>,
}

impl Lru {
    pub(crate) fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "a cache holds at least one key");
        Lru {
            capacity,
            clock: 0,
            stamp_of: hashbrown::HashMap::with_hasher(FixedState::with_seed(0)),
            key_at: BTreeMap::new(),
        }
    }

    /// Marks `key` used now; whether it was in the set.
    pub(crate) fn touch(&mut self, key: u64) -> bool {
        self.clock += 1;
        let hit = match self.stamp_of.insert(key, self.clock) {
            Some(old) => {
                let removed = self.key_at.remove(&old);
                debug_assert_eq!(removed, Some(key));
                true
            }
            None => false,
        };
        self.key_at.insert(self.clock, key);
        if self.key_at.len() > self.capacity {
            let (_, oldest) = self.key_at.pop_first().expect("over capacity");
            self.stamp_of.remove(&oldest);
        }
        debug_assert_eq!(self.key_at.len(), self.stamp_of.len());
        debug_assert!(self.key_at.len() <= self.capacity);
        hit
    }

    pub(crate) fn clear(&mut self) {
        self.stamp_of.clear();
        self.key_at.clear();
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.key_at.len()
    }
}

/// Checks every cache and that no node has two.
pub fn validate_all(caches: &[CacheModel], n: usize) -> Result<(), String> {
    let mut seen = BTreeMap::new();
    for (i, c) in caches.iter().enumerate() {
        c.validate(n).map_err(|e| format!("cache {}: {e}", i + 1))?;
        for &id in &c.nodes {
            if let Some(j) = seen.insert(id, i) {
                return Err(format!(
                    "node {id} has two caches (entries {} and {}): give each node one",
                    j + 1,
                    i + 1
                ));
            }
        }
    }
    Ok(())
}

/// One run's caches: per node, its set and the index of its model.
#[derive(Clone, Debug, Default)]
pub(crate) struct Caches {
    per_node: Vec<Option<(Lru, usize)>>,
    hit_times: Vec<LatencyDist>,
    pub(crate) lookups: u64,
    pub(crate) hits: u64,
}

impl Caches {
    /// The caches of `models` (checked by [`validate_all`]) for `n` nodes.
    pub(crate) fn new(models: &[CacheModel], n: usize) -> Self {
        let mut per_node: Vec<Option<(Lru, usize)>> = vec![None; n];
        for (i, m) in models.iter().enumerate() {
            for id in &m.nodes {
                per_node[id.index()] = Some((Lru::new(m.capacity), i));
            }
        }
        Caches {
            per_node,
            hit_times: models.iter().map(|m| m.hit.clone()).collect(),
            lookups: 0,
            hits: 0,
        }
    }

    /// Whether `node` has a cache (then its messages' keys are worth asking for).
    pub(crate) fn at(&self, node: NodeId) -> bool {
        self.per_node.get(node.index()).is_some_and(Option::is_some)
    }

    /// Records a handler for `key` at `node`; on a hit, its service time
    /// (ns) at `t`, on a miss `None` (the node's own service time applies).
    pub(crate) fn hit_ns(
        &mut self,
        node: NodeId,
        key: u64,
        net: &ResolvedNetwork,
        t: Duration,
        kind: Option<&str>,
        rng: &mut dyn RngCore,
    ) -> Option<u64> {
        let (lru, model) = self.per_node.get_mut(node.index())?.as_mut()?;
        self.lookups += 1;
        if !lru.touch(key) {
            return None;
        }
        self.hits += 1;
        let dist = &self.hit_times[*model];
        Some((dist.sample_ns(rng) as f64 * net.service_factor(node, t, kind)) as u64)
    }

    /// A crash empties the node's cache.
    pub(crate) fn forget(&mut self, node: NodeId) {
        if let Some(Some((lru, _))) = self.per_node.get_mut(node.index()) {
            lru.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_evicts_the_least_recently_used_key() {
        let mut lru = Lru::new(2);
        assert!(!lru.touch(1));
        assert!(!lru.touch(2));
        assert!(lru.touch(1)); // 2 is now the oldest
        assert!(!lru.touch(3)); // evicts 2
        assert_eq!(lru.len(), 2);
        assert!(lru.touch(1));
        assert!(!lru.touch(2)); // was evicted; evicts 3
        assert!(!lru.touch(3));
        lru.clear();
        assert_eq!(lru.len(), 0);
        assert!(!lru.touch(1));
    }

    #[test]
    fn a_cyclic_scan_larger_than_the_cache_never_hits() {
        let mut lru = Lru::new(3);
        let hits = (0..40u64).filter(|i| lru.touch(i % 4)).count();
        assert_eq!(hits, 0);
        let mut lru = Lru::new(4);
        let hits = (0..40u64).filter(|i| lru.touch(i % 4)).count();
        assert_eq!(hits, 36);
    }

    #[test]
    fn capacity_out_of_range_is_refused_with_the_range() {
        let m = CacheModel {
            nodes: vec![NodeId(0)],
            capacity: 0,
            hit: LatencyDist::Constant { ms: 0.1 },
        };
        let e = m.validate(3).unwrap_err();
        assert!(e.contains("capacity = 0") && e.contains("1 to"), "{e}");
    }
}
