//! Symmetry reduction: groups of interchangeable nodes, and the
//! canonicalisation that maps a state to a member of its symmetry class
//! (see the guide's chapter on checking for what it does and does not
//! guarantee).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::model::node::{Node, NodeId};
use crate::model::rename::Rename;
use crate::model::state::{GlobalState, NodeSlot};
use crate::model::system::System;

impl<N: Node> System<N>
where
    N::State: Rename,
    N::Msg: Rename,
    N::Timer: Rename,
{
    /// Declares groups of interchangeable nodes: any permutation of ids within
    /// a group maps behaviours to behaviours. Their configurations must be
    /// identical, and every property must not depend on which member is which.
    pub fn symmetric(mut self, groups: Vec<Vec<NodeId>>) -> Self {
        self.symmetry = Some(Arc::new(move |state: &GlobalState<N>| {
            canonicalize(state, &groups)
        }));
        self
    }
}

/// Sorts each group's members by a fingerprint of their slot and renames ids
/// so that the sorted order is the id order. The result is a member of the
/// state's symmetry class, which is all soundness needs.
fn canonicalize<N: Node>(state: &GlobalState<N>, groups: &[Vec<NodeId>]) -> GlobalState<N>
where
    N::State: Rename,
    N::Msg: Rename,
    N::Timer: Rename,
{
    let count = state.nodes.len();
    let mut map: Vec<NodeId> = (0..count).map(NodeId::from).collect();
    let mut changed = false;
    for group in groups {
        let mut keyed: Vec<(u64, NodeId)> = group
            .iter()
            .map(|&id| {
                let mut h = DefaultHasher::new();
                state.nodes[id.index()].hash(&mut h);
                (h.finish(), id)
            })
            .collect();
        keyed.sort_unstable();
        for (slot_id, (_, old)) in group.iter().zip(&keyed) {
            map[old.index()] = *slot_id;
            changed |= slot_id != old;
        }
    }
    if !changed {
        return state.clone();
    }
    let mut nodes: Vec<Option<NodeSlot<N>>> = (0..count).map(|_| None).collect();
    for (old, slot) in state.nodes.iter().enumerate() {
        let mut timers: Vec<N::Timer> = slot.timers.iter().map(|t| t.rename(&map)).collect();
        timers.sort();
        nodes[map[old].index()] = Some(NodeSlot {
            state: slot.state.rename(&map),
            timers,
            up: slot.up,
        });
    }
    GlobalState {
        nodes: nodes
            .into_iter()
            .map(|s| s.expect("map is a permutation"))
            .collect(),
        network: state.network.renamed(&map),
        crashes: state.crashes,
    }
}
