//! Messages in flight in the explorer's global state, under the system's
//! network semantics.
//!
//! The representation is canonical (ordered collections), so two global
//! states with the same messages in flight hash and compare equal however the
//! messages were sent. Timing lives in the simulator's own network model, not
//! here: the explorer treats every in-flight message as deliverable next.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use crate::model::node::NodeId;
use crate::model::rename::Rename;

/// How the network delivers messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Any message in flight may be delivered, any number of times (the
    /// network may duplicate). Cheapest to explore.
    UnorderedDuplicating,
    /// Any message in flight may be delivered, each send at most once.
    UnorderedNonDuplicating,
    /// Per-link FIFO: messages from `a` to `b` arrive in send order, once.
    Fifo,
}

/// The network semantics of a system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NetworkSemantics {
    /// Ordering and duplication.
    pub delivery: Delivery,
    /// Whether a message in flight may be lost.
    pub lossy: bool,
}

impl Default for NetworkSemantics {
    fn default() -> Self {
        NetworkSemantics {
            delivery: Delivery::UnorderedNonDuplicating,
            lossy: false,
        }
    }
}

/// One message in flight.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Envelope<M> {
    /// Sender.
    pub src: NodeId,
    /// Receiver.
    pub dst: NodeId,
    /// Payload.
    pub msg: M,
}

impl<M: std::fmt::Debug> std::fmt::Debug for Envelope<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}→{} {:?}", self.src, self.dst, self.msg)
    }
}

impl<M: Rename> Rename for Envelope<M> {
    fn rename(&self, map: &[NodeId]) -> Self {
        Envelope {
            src: self.src.rename(map),
            dst: self.dst.rename(map),
            msg: self.msg.rename(map),
        }
    }
}

/// The messages in flight, stored as the delivery semantics require.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InFlight<M: Ord> {
    /// Duplicating network: a set; delivery does not consume.
    Set(BTreeSet<Envelope<M>>),
    /// Non-duplicating unordered network: a multiset.
    Multiset(BTreeMap<Envelope<M>, u32>),
    /// Per-link FIFO queues keyed by (src, dst).
    Fifo(BTreeMap<(NodeId, NodeId), VecDeque<M>>),
}

impl<M: Clone + Ord> InFlight<M> {
    /// An empty network of the given kind.
    pub fn new(delivery: Delivery) -> Self {
        match delivery {
            Delivery::UnorderedDuplicating => InFlight::Set(BTreeSet::new()),
            Delivery::UnorderedNonDuplicating => InFlight::Multiset(BTreeMap::new()),
            Delivery::Fifo => InFlight::Fifo(BTreeMap::new()),
        }
    }

    /// Puts a message in flight.
    pub fn send(&mut self, envelope: Envelope<M>) {
        match self {
            InFlight::Set(set) => {
                set.insert(envelope);
            }
            InFlight::Multiset(bag) => *bag.entry(envelope).or_insert(0) += 1,
            InFlight::Fifo(queues) => queues
                .entry((envelope.src, envelope.dst))
                .or_default()
                .push_back(envelope.msg),
        }
    }

    /// The messages that may be delivered next (each distinct one once).
    pub fn deliverable(&self) -> Vec<Envelope<M>> {
        match self {
            InFlight::Set(set) => set.iter().cloned().collect(),
            InFlight::Multiset(bag) => bag.keys().cloned().collect(),
            InFlight::Fifo(queues) => queues
                .iter()
                .filter_map(|(&(src, dst), q)| {
                    q.front().map(|m| Envelope {
                        src,
                        dst,
                        msg: m.clone(),
                    })
                })
                .collect(),
        }
    }

    /// Takes `envelope` out of the network for delivery. A duplicating
    /// network keeps it. Returns `false` if it was not deliverable.
    pub fn deliver(&mut self, envelope: &Envelope<M>) -> bool {
        match self {
            InFlight::Set(set) => set.contains(envelope),
            _ => self.lose(envelope),
        }
    }

    /// Removes one copy of `envelope` (a loss). Returns `false` if absent.
    pub fn lose(&mut self, envelope: &Envelope<M>) -> bool {
        match self {
            InFlight::Set(set) => set.remove(envelope),
            InFlight::Multiset(bag) => match bag.get_mut(envelope) {
                Some(count) if *count > 1 => {
                    *count -= 1;
                    true
                }
                Some(_) => {
                    bag.remove(envelope);
                    true
                }
                None => false,
            },
            InFlight::Fifo(queues) => {
                let key = (envelope.src, envelope.dst);
                let Some(queue) = queues.get_mut(&key) else {
                    return false;
                };
                if queue.front() != Some(&envelope.msg) {
                    return false;
                }
                queue.pop_front();
                if queue.is_empty() {
                    queues.remove(&key);
                }
                true
            }
        }
    }

    /// Every message in flight with its multiplicity, in canonical order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (Envelope<M>, u32)> + '_> {
        match self {
            InFlight::Set(set) => Box::new(set.iter().map(|e| (e.clone(), 1))),
            InFlight::Multiset(bag) => Box::new(bag.iter().map(|(e, &n)| (e.clone(), n))),
            InFlight::Fifo(queues) => Box::new(queues.iter().flat_map(|(&(src, dst), q)| {
                q.iter().map(move |m| {
                    (
                        Envelope {
                            src,
                            dst,
                            msg: m.clone(),
                        },
                        1,
                    )
                })
            })),
        }
    }

    /// Number of messages in flight (counting multiplicity).
    pub fn len(&self) -> usize {
        match self {
            InFlight::Set(set) => set.len(),
            InFlight::Multiset(bag) => bag.values().map(|&n| n as usize).sum(),
            InFlight::Fifo(queues) => queues.values().map(VecDeque::len).sum(),
        }
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every message from or to `node` (used when symmetry or faults
    /// require it; a crash itself does not touch the network).
    pub fn retain(&mut self, mut keep: impl FnMut(&Envelope<M>) -> bool) {
        match self {
            InFlight::Set(set) => set.retain(|e| keep(e)),
            InFlight::Multiset(bag) => bag.retain(|e, _| keep(e)),
            InFlight::Fifo(queues) => {
                for (&(src, dst), q) in queues.iter_mut() {
                    q.retain(|m| {
                        keep(&Envelope {
                            src,
                            dst,
                            msg: m.clone(),
                        })
                    });
                }
                queues.retain(|_, q| !q.is_empty());
            }
        }
    }
}

impl<M: Clone + Ord + Rename> InFlight<M> {
    /// The same messages with every node id renamed.
    pub fn renamed(&self, map: &[NodeId]) -> Self {
        match self {
            InFlight::Set(set) => InFlight::Set(set.iter().map(|e| e.rename(map)).collect()),
            InFlight::Multiset(bag) => {
                InFlight::Multiset(bag.iter().map(|(e, &n)| (e.rename(map), n)).collect())
            }
            InFlight::Fifo(queues) => InFlight::Fifo(
                queues
                    .iter()
                    .map(|(&(s, d), q)| ((s.rename(map), d.rename(map)), q.rename(map)))
                    .collect(),
            ),
        }
    }
}

/// A message's kind: its enum variant's name as `Debug` prints it (`Read`
/// for `KvMsg::Read { .. }`), or the type's name for a struct. Only the
/// name is formatted: the writer stops at its end.
pub fn message_kind<M: std::fmt::Debug>(msg: &M) -> String {
    struct Name(String);
    impl std::fmt::Write for Name {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            for c in s.chars() {
                if c.is_alphanumeric() || c == '_' {
                    self.0.push(c);
                } else {
                    return Err(std::fmt::Error);
                }
            }
            Ok(())
        }
    }
    let mut name = Name(String::new());
    // Stopping at the first character after the name is the writer's error.
    let _ = std::fmt::write(&mut name, format_args!("{msg:?}"));
    name.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(src: u32, dst: u32, msg: u8) -> Envelope<u8> {
        Envelope {
            src: NodeId(src),
            dst: NodeId(dst),
            msg,
        }
    }

    #[test]
    fn duplicating_network_keeps_delivered_messages() {
        let mut net = InFlight::new(Delivery::UnorderedDuplicating);
        net.send(env(0, 1, 7));
        net.send(env(0, 1, 7));
        assert_eq!(net.len(), 1);
        assert!(net.deliver(&env(0, 1, 7)));
        assert_eq!(net.len(), 1);
    }

    #[test]
    fn multiset_counts_copies() {
        let mut net = InFlight::new(Delivery::UnorderedNonDuplicating);
        net.send(env(0, 1, 7));
        net.send(env(0, 1, 7));
        assert_eq!(net.deliverable().len(), 1);
        assert!(net.deliver(&env(0, 1, 7)));
        assert!(net.deliver(&env(0, 1, 7)));
        assert!(!net.deliver(&env(0, 1, 7)));
        assert!(net.is_empty());
    }

    #[test]
    fn fifo_delivers_heads_in_order() {
        let mut net = InFlight::new(Delivery::Fifo);
        net.send(env(0, 1, 1));
        net.send(env(0, 1, 2));
        net.send(env(2, 1, 3));
        assert_eq!(net.deliverable(), vec![env(0, 1, 1), env(2, 1, 3)]);
        assert!(
            !net.deliver(&env(0, 1, 2)),
            "only the head of a link is deliverable"
        );
        assert!(net.deliver(&env(0, 1, 1)));
        assert!(net.deliver(&env(0, 1, 2)));
    }
}
