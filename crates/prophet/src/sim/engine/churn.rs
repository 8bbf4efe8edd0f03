//! The up nodes of a churn fault's list, kept so that picking the next
//! victim costs O(log n) instead of a scan of the list (at 10,000 nodes and
//! 200 crashes/s the scan was most of a RandTree run).
//!
//! The pick is the one the scan made: the `k`-th up entry of the list, in
//! list order (a node listed twice counts twice), with `k` drawn the same
//! way from the run's generator, so a seed gives the same victims.

use crate::model::NodeId;

/// A Fenwick tree over the positions of one churn list, 1 where the node
/// at that position is up.
pub(super) struct UpSet {
    list: Vec<NodeId>,
    tree: Vec<u32>,
    /// (node, position) sorted, to find a node's positions.
    positions: Vec<(NodeId, u32)>,
    up: u32,
}

impl UpSet {
    /// The list with each node's current state.
    pub(super) fn new(list: &[NodeId], is_up: impl Fn(NodeId) -> bool) -> Self {
        let mut positions: Vec<(NodeId, u32)> = list
            .iter()
            .enumerate()
            .map(|(i, &node)| (node, i as u32))
            .collect();
        positions.sort_unstable();
        let mut set = UpSet {
            list: list.to_vec(),
            tree: vec![0; list.len() + 1],
            positions,
            up: 0,
        };
        for (i, &node) in list.iter().enumerate() {
            if is_up(node) {
                set.add(i, 1);
            }
        }
        set
    }

    fn add(&mut self, position: usize, delta: i32) {
        let mut i = position + 1;
        while i < self.tree.len() {
            self.tree[i] = self.tree[i].wrapping_add_signed(delta);
            i += i & i.wrapping_neg();
        }
        self.up = self.up.wrapping_add_signed(delta);
    }

    /// Records that `node` went up (`true`) or down; the caller reports
    /// only changes.
    pub(super) fn set(&mut self, node: NodeId, up: bool) {
        let start = self.positions.partition_point(|&(n, _)| n < node);
        let delta = if up { 1 } else { -1 };
        for k in start..self.positions.len() {
            let (n, position) = self.positions[k];
            if n != node {
                break;
            }
            self.add(position as usize, delta);
        }
    }

    /// How many entries are up.
    pub(super) fn len(&self) -> usize {
        self.up as usize
    }

    /// The `k`-th up entry (from 0) in list order; `k < len()`.
    pub(super) fn nth(&self, k: usize) -> NodeId {
        debug_assert!(k < self.len());
        let mut remaining = k as u32;
        let mut at = 0usize;
        let mut step = (self.tree.len() - 1).next_power_of_two();
        while step > 0 {
            let next = at + step;
            if next < self.tree.len() && self.tree[next] <= remaining {
                at = next;
                remaining -= self.tree[next];
            }
            step /= 2;
        }
        // `at` is the longest prefix with at most k up entries: the entry
        // after it is the k-th.
        self.list[at]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_is_the_scans_pick() {
        let list: Vec<NodeId> = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]
            .into_iter()
            .map(NodeId::from)
            .collect();
        let mut up = [true; 10];
        let mut set = UpSet::new(&list, |n| up[n.index()]);
        for (node, state) in [(1, false), (5, false), (9, false), (1, true), (3, false)] {
            up[node] = state;
            set.set(NodeId::from(node), state);
            let scan: Vec<NodeId> = list.iter().copied().filter(|n| up[n.index()]).collect();
            assert_eq!(set.len(), scan.len());
            for (k, &expected) in scan.iter().enumerate() {
                assert_eq!(set.nth(k), expected);
            }
        }
    }
}
