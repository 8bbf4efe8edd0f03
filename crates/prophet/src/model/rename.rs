//! Renaming node ids inside values, for symmetry reduction.
//!
//! When nodes are interchangeable (three identical acceptors), states that
//! differ only by a permutation of their ids behave the same. The explorer
//! maps each state to a representative, a permutation of it, and keeps one
//! state per representative; to build it, every value that mentions a
//! [`NodeId`] must be able to rewrite those ids. Types without ids implement
//! [`Rename`] as the identity with [`rename_identity!`](crate::rename_identity).
//!
//! A representative is not always the same for every permutation of a state
//! (see `System::symmetric`), so the explorer may keep several states of one
//! class: never fewer than one, which is what soundness needs.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::model::node::NodeId;

/// Rewrites every [`NodeId`] in a value through `map` (`map[old] = new`).
pub trait Rename: Sized {
    /// The value with each id `i` replaced by `map[i.index()]`.
    fn rename(&self, map: &[NodeId]) -> Self;
}

impl Rename for NodeId {
    fn rename(&self, map: &[NodeId]) -> Self {
        map[self.index()]
    }
}

/// Implements [`Rename`] as the identity for types that hold no [`NodeId`].
#[macro_export]
macro_rules! rename_identity {
    ($($t:ty),* $(,)?) => {
        $(impl $crate::model::Rename for $t {
            fn rename(&self, _map: &[$crate::model::NodeId]) -> Self { self.clone() }
        })*
    };
}

rename_identity!(
    bool,
    u8,
    u16,
    u32,
    u64,
    usize,
    i8,
    i16,
    i32,
    i64,
    (),
    String,
    char
);

impl<T: Rename> Rename for Option<T> {
    fn rename(&self, map: &[NodeId]) -> Self {
        self.as_ref().map(|v| v.rename(map))
    }
}

impl<T: Rename> Rename for Vec<T> {
    fn rename(&self, map: &[NodeId]) -> Self {
        self.iter().map(|v| v.rename(map)).collect()
    }
}

impl<T: Rename> Rename for VecDeque<T> {
    fn rename(&self, map: &[NodeId]) -> Self {
        self.iter().map(|v| v.rename(map)).collect()
    }
}

impl<T: Rename + Ord> Rename for BTreeSet<T> {
    fn rename(&self, map: &[NodeId]) -> Self {
        self.iter().map(|v| v.rename(map)).collect()
    }
}

impl<K: Rename + Ord, V: Rename> Rename for BTreeMap<K, V> {
    fn rename(&self, map: &[NodeId]) -> Self {
        self.iter()
            .map(|(k, v)| (k.rename(map), v.rename(map)))
            .collect()
    }
}

impl<A: Rename, B: Rename> Rename for (A, B) {
    fn rename(&self, map: &[NodeId]) -> Self {
        (self.0.rename(map), self.1.rename(map))
    }
}

impl<A: Rename, B: Rename, C: Rename> Rename for (A, B, C) {
    fn rename(&self, map: &[NodeId]) -> Self {
        (self.0.rename(map), self.1.rename(map), self.2.rename(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_nested_ids() {
        let map = [NodeId(2), NodeId(0), NodeId(1)];
        let value: BTreeMap<NodeId, Vec<Option<NodeId>>> =
            [(NodeId(0), vec![Some(NodeId(1)), None])]
                .into_iter()
                .collect();
        let renamed = value.rename(&map);
        assert_eq!(renamed.get(&NodeId(2)), Some(&vec![Some(NodeId(0)), None]));
    }
}
