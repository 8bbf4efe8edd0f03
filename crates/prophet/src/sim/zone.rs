//! Zones: named sets of nodes (a data centre, an availability zone) and the
//! bytes sent between them.
//!
//! Owns the `[[zones]]` scenario section and the per-zone-pair byte
//! counters of a run. Every message between two different nodes that both
//! have a zone is counted, with its postcard-encoded size (the size the
//! bandwidth model uses), when it is handed to the network: a message lost
//! on the way was still paid for. It measures only; it never delays or
//! drops anything (latency between zones is `[[network.group_links]]`'s job).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::NodeId;
use crate::sim::scenario::{NodeSet, Scenario, ScenarioError};

/// Executor-derived metric: one sample per message between two zoned
/// nodes, its bytes if they are in different zones and 0 if in the same
/// (so `rate` is cross-zone bytes per second and `mean` per message).
pub const CROSS_ZONE_BYTES: &str = "cross_zone_bytes";

/// Most zones a scenario declares (the counters are zones² integers).
pub const ZONES_MAX: usize = 256;

/// A named set of nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    /// The zone's name (unique).
    pub name: String,
    /// Its nodes (a node is in at most one zone).
    pub nodes: Vec<NodeId>,
}

/// Checks `zones` against `n` nodes: names unique and non-empty, each node
/// in at most one zone, at most [`ZONES_MAX`] zones.
pub fn validate(zones: &[Zone], n: usize) -> Result<(), String> {
    if zones.len() > ZONES_MAX {
        return Err(format!("{} zones: give at most {ZONES_MAX}", zones.len()));
    }
    let mut owner: BTreeMap<NodeId, &str> = BTreeMap::new();
    for (i, z) in zones.iter().enumerate() {
        if z.name.is_empty() {
            return Err("a zone's name must not be empty".into());
        }
        if zones[..i].iter().any(|o| o.name == z.name) {
            return Err(format!("zone `{}` is declared twice", z.name));
        }
        for &id in &z.nodes {
            if id.index() >= n {
                return Err(format!(
                    "zone `{}`: node {id} does not exist (the system has {n} nodes)",
                    z.name
                ));
            }
            if let Some(other) = owner.insert(id, &z.name) {
                return Err(format!(
                    "node {id} is in zone `{other}` and in zone `{}`: a node is in one zone",
                    z.name
                ));
            }
        }
    }
    Ok(())
}

/// `[[zones]]` in a scenario.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneSpec {
    /// The zone's name.
    pub name: String,
    /// Its nodes.
    pub nodes: NodeSet,
}

/// The zones of `specs`, checked against `n` nodes; errors name the field.
pub fn zones_of(
    specs: &[ZoneSpec],
    scenario: &Scenario,
    n: usize,
) -> Result<Vec<Zone>, ScenarioError> {
    let zones: Vec<Zone> = specs
        .iter()
        .map(|s| Zone {
            name: s.name.clone(),
            nodes: s.nodes.0.clone(),
        })
        .collect();
    for s in specs {
        if let Some(bad) = s.nodes.0.iter().find(|id| id.index() >= n) {
            return Err(scenario.invalid_at(
                "zones.nodes",
                s.nodes.1.clone(),
                format!(
                    "node {} does not exist (the system has {n} nodes: 0..{n})",
                    bad.0
                ),
            ));
        }
    }
    validate(&zones, n).map_err(|e| scenario.invalid("zones", e))?;
    Ok(zones)
}

/// One run's byte counters per ordered zone pair.
#[derive(Clone, Debug, Default)]
pub(crate) struct ZoneBytes {
    /// Per node, its zone's index.
    zone_of: Vec<Option<u16>>,
    names: Vec<String>,
    /// `zones × zones`, `from * zones + to`.
    bytes: Vec<u64>,
}

impl ZoneBytes {
    pub(crate) fn new(zones: &[Zone], n: usize) -> Self {
        debug_assert!(zones.len() <= ZONES_MAX);
        let mut zone_of = vec![None; n];
        for (i, z) in zones.iter().enumerate() {
            for id in &z.nodes {
                zone_of[id.index()] = Some(i as u16);
            }
        }
        ZoneBytes {
            zone_of,
            names: zones.iter().map(|z| z.name.clone()).collect(),
            bytes: vec![0; zones.len() * zones.len()],
        }
    }

    /// Whether any zone is declared (then message sizes are needed).
    pub(crate) fn active(&self) -> bool {
        !self.names.is_empty()
    }

    /// Counts a message of `bytes` from `src` to `dst`; `Some(crossed)`
    /// when both have a zone and `src != dst`, else `None` (not counted).
    pub(crate) fn count(&mut self, src: NodeId, dst: NodeId, bytes: u64) -> Option<bool> {
        if src == dst {
            return None;
        }
        let a = (*self.zone_of.get(src.index())?)? as usize;
        let b = (*self.zone_of.get(dst.index())?)? as usize;
        let slot = &mut self.bytes[a * self.names.len() + b];
        *slot = slot.saturating_add(bytes);
        Some(a != b)
    }

    /// Bytes per ordered pair, keyed `"from->to"` (every pair, zeros too).
    pub(crate) fn per_pair(&self) -> BTreeMap<String, u64> {
        let z = self.names.len();
        let mut out = BTreeMap::new();
        for a in 0..z {
            for b in 0..z {
                out.insert(
                    format!("{}->{}", self.names[a], self.names[b]),
                    self.bytes[a * z + b],
                );
            }
        }
        out
    }

    /// Bytes between different zones.
    pub(crate) fn crossed(&self) -> u64 {
        let z = self.names.len();
        (0..z)
            .flat_map(|a| (0..z).filter(move |&b| b != a).map(move |b| (a, b)))
            .map(|(a, b)| self.bytes[a * z + b])
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two() -> Vec<Zone> {
        vec![
            Zone {
                name: "a".into(),
                nodes: vec![NodeId(0), NodeId(1)],
            },
            Zone {
                name: "b".into(),
                nodes: vec![NodeId(2)],
            },
        ]
    }

    #[test]
    fn counts_per_ordered_pair_and_skips_unzoned_and_self_sends() {
        let mut z = ZoneBytes::new(&two(), 4);
        assert_eq!(z.count(NodeId(0), NodeId(1), 10), Some(false));
        assert_eq!(z.count(NodeId(0), NodeId(2), 7), Some(true));
        assert_eq!(z.count(NodeId(2), NodeId(1), 5), Some(true));
        assert_eq!(z.count(NodeId(2), NodeId(2), 100), None);
        assert_eq!(z.count(NodeId(3), NodeId(0), 100), None);
        let pairs = z.per_pair();
        assert_eq!(pairs["a->a"], 10);
        assert_eq!(pairs["a->b"], 7);
        assert_eq!(pairs["b->a"], 5);
        assert_eq!(pairs["b->b"], 0);
        assert_eq!(z.crossed(), 12);
    }

    #[test]
    fn a_node_in_two_zones_is_refused() {
        let mut zones = two();
        zones[1].nodes.push(NodeId(1));
        let e = validate(&zones, 4).unwrap_err();
        assert!(
            e.contains("n1") && e.contains("`a`") && e.contains("`b`"),
            "{e}"
        );
        assert!(validate(&two(), 2).unwrap_err().contains("does not exist"));
    }
}
