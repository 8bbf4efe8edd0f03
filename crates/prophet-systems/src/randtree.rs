//! RandTree, the random overlay tree of the CrystalBall paper, as nodes.
//!
//! Node 0 is the root. Every other node joins by sending `Join` to the root.
//! A node with room (children plus pending offers below `max_children`)
//! reserves a slot and **offers** it to the joiner; a full node forwards the
//! join to one of its children, picked by the choice
//! `randtree.forward_join`. The joiner takes the first offer (its parent),
//! acknowledges it, and declines any later one; the acknowledgement turns
//! the reserved slot into a child, and the parent tells its other children
//! about their new sibling.
//!
//! The tree links (a node's parent, children and reserved slots) are
//! **durable**: written before the offer or acknowledgement that depends on
//! them leaves the node. Sibling lists are soft state, refreshed from the
//! parent after a restart. Invariants, over nodes that are up:
//! - **no cycles** — following parent links always ends at the root;
//! - **degree bound** — no node has more than `max_children` children;
//! - **parent/child consistency** — a child's parent lists it (as a child or
//!   a reserved slot), and a parent's child points back to it;
//! - **sibling consistency** — every sibling a node knows is a child of its
//!   parent.
//!
//! The seeded bug ([`Variant::ForgetfulRejoin`]) keeps the tree links in
//! volatile memory: a node that crashes and restarts rejoins from scratch,
//! while its old parent still lists it as a child.
//!
//! ```
//! use prophet::prelude::*;
//! use prophet_systems::randtree::{self, Variant};
//!
//! let report = Explorer::new(&randtree::system(3, 1, Variant::Correct)).run();
//! assert!(report.complete && report.violations.is_empty());
//! ```

use std::collections::BTreeSet;

use prophet::model::{Aggregate, Ctx, Node, NodeId, Objective, Rename, System};
use serde::{Deserialize, Serialize};

/// The root's id.
pub const ROOT: NodeId = NodeId(0);

/// The system's behaviour: correct, or the seeded bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Tree links are durable; a restarted node resumes its place.
    Correct,
    /// Tree links are volatile; a restarted node rejoins from scratch.
    ForgetfulRejoin,
}

/// Variant names, for parameter declarations.
pub const VARIANTS: &[&str] = &["correct", "forgetful-rejoin"];

impl Variant {
    /// The name tools use.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Correct => "correct",
            Variant::ForgetfulRejoin => "forgetful-rejoin",
        }
    }

    /// The variant called `name`.
    pub fn from_name(name: &str) -> Option<Variant> {
        [Variant::Correct, Variant::ForgetfulRejoin]
            .into_iter()
            .find(|v| v.name() == name)
    }
}

/// Messages of the join protocol.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Msg {
    /// `joiner` asks for a place in the tree (sent to the root, forwarded down).
    Join(NodeId),
    /// A reserved slot under the sender, with the sender's current children.
    Offer(Vec<NodeId>),
    /// The joiner took the sender's offer.
    Ack,
    /// The joiner already has a parent: release the slot.
    Decline,
    /// A restarted child asks its parent for its siblings.
    Refresh,
    /// The parent's current children (the receiver's siblings and itself).
    Siblings(Vec<NodeId>),
    /// A new child of the sender's: the receiver's new sibling.
    NewSibling(NodeId),
}

/// A node's view of the tree.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct State {
    /// Its parent, once it took an offer (durable).
    pub parent: Option<NodeId>,
    /// Its children (durable).
    pub children: BTreeSet<NodeId>,
    /// Slots offered and not yet acknowledged or declined (durable).
    pub pending: BTreeSet<NodeId>,
    /// What it believes its siblings are (soft state).
    pub siblings: BTreeSet<NodeId>,
}

/// The durable part of [`State`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Links {
    /// Parent.
    pub parent: Option<NodeId>,
    /// Children.
    pub children: BTreeSet<NodeId>,
    /// Reserved slots.
    pub pending: BTreeSet<NodeId>,
}

impl Rename for Msg {
    fn rename(&self, map: &[NodeId]) -> Self {
        match self {
            Msg::Join(joiner) => Msg::Join(joiner.rename(map)),
            Msg::Offer(siblings) => Msg::Offer(siblings.rename(map)),
            Msg::Siblings(siblings) => Msg::Siblings(siblings.rename(map)),
            Msg::NewSibling(sibling) => Msg::NewSibling(sibling.rename(map)),
            Msg::Ack => Msg::Ack,
            Msg::Decline => Msg::Decline,
            Msg::Refresh => Msg::Refresh,
        }
    }
}

impl Rename for State {
    fn rename(&self, map: &[NodeId]) -> Self {
        State {
            parent: self.parent.rename(map),
            children: self.children.rename(map),
            pending: self.pending.rename(map),
            siblings: self.siblings.rename(map),
        }
    }
}

/// One RandTree node.
#[derive(Clone, Debug)]
pub struct RandTree {
    max_children: usize,
    variant: Variant,
}

impl RandTree {
    fn siblings_of(state: &State, child: NodeId) -> Vec<NodeId> {
        state
            .children
            .iter()
            .copied()
            .filter(|&c| c != child)
            .collect()
    }
}

impl Node for RandTree {
    type State = State;
    type Msg = Msg;
    type Timer = ();
    type Durable = Links;

    fn init(&self, _id: NodeId, recovered: Option<Links>) -> State {
        let links = match self.variant {
            Variant::Correct => recovered.unwrap_or_default(),
            Variant::ForgetfulRejoin => Links::default(),
        };
        State {
            parent: links.parent,
            children: links.children,
            pending: links.pending,
            siblings: BTreeSet::new(),
        }
    }

    fn on_start(&self, state: &mut State, ctx: &mut Ctx<'_, Self>) {
        if ctx.id() == ROOT {
            return;
        }
        match state.parent {
            None => ctx.send(ROOT, Msg::Join(ctx.id())),
            Some(parent) => ctx.send(parent, Msg::Refresh),
        }
        ctx.begin_span("randtree.join_latency", 0);
    }

    fn on_message(&self, state: &mut State, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Join(joiner) => {
                if joiner == ctx.id() {
                    return;
                }
                if state.pending.contains(&joiner) || state.children.contains(&joiner) {
                    // A retried join reached the same place: offer again.
                    ctx.send(joiner, Msg::Offer(Self::siblings_of(state, joiner)));
                } else if state.children.len() + state.pending.len() < self.max_children {
                    state.pending.insert(joiner);
                    ctx.send(joiner, Msg::Offer(Self::siblings_of(state, joiner)));
                } else if !state.children.is_empty() {
                    let children: Vec<NodeId> = state.children.iter().copied().collect();
                    let next = ctx.choose("randtree.forward_join", &children);
                    ctx.send(next, Msg::Join(joiner));
                } else {
                    // Every slot is reserved for joiners still answering:
                    // send the join back to the root to try again.
                    ctx.send(ROOT, Msg::Join(joiner));
                }
            }
            Msg::Offer(siblings) => match state.parent {
                None if ctx.id() != ROOT => {
                    state.parent = Some(from);
                    state.siblings = siblings.into_iter().collect();
                    ctx.send(from, Msg::Ack);
                    ctx.end_span("randtree.join_latency", 0);
                }
                Some(parent) if parent == from => {
                    state.siblings = siblings.into_iter().collect();
                    ctx.send(from, Msg::Ack);
                }
                _ => ctx.send(from, Msg::Decline),
            },
            Msg::Ack => {
                if state.pending.remove(&from) && state.children.insert(from) {
                    for &child in state.children.iter().filter(|&&c| c != from) {
                        ctx.send(child, Msg::NewSibling(from));
                    }
                }
            }
            Msg::Decline => {
                state.pending.remove(&from);
            }
            Msg::Refresh => {
                if state.pending.remove(&from) {
                    state.children.insert(from);
                }
                if state.children.contains(&from) {
                    ctx.send(from, Msg::Siblings(Self::siblings_of(state, from)));
                }
            }
            Msg::Siblings(siblings) => {
                if state.parent == Some(from) {
                    state.siblings = siblings.into_iter().collect();
                    ctx.end_span("randtree.join_latency", 0);
                }
            }
            Msg::NewSibling(sibling) => {
                if state.parent == Some(from) {
                    state.siblings.insert(sibling);
                }
            }
        }
    }

    fn durable(&self, state: &State) -> Links {
        Links {
            parent: state.parent,
            children: state.children.clone(),
            pending: state.pending.clone(),
        }
    }
}

/// The up nodes and their states.
fn up_nodes(state: &prophet::model::GlobalState<RandTree>) -> Vec<(NodeId, &State)> {
    state.states().filter(|(id, _)| state.is_up(*id)).collect()
}

/// RandTree with `nodes` nodes (root included) and at most `max_children`
/// children per node. Any non-root node may crash once. The non-root nodes
/// are interchangeable (`--symmetry` explores one state per permutation).
pub fn system(nodes: usize, max_children: usize, variant: Variant) -> System<RandTree> {
    let node = RandTree {
        max_children,
        variant,
    };
    let count = nodes;
    System::new("randtree", vec![node; nodes])
        .crashes(1, (1..nodes).map(NodeId::from).collect::<Vec<_>>())
        .symmetric(vec![(1..nodes).map(NodeId::from).collect()])
        .always("no cycles", move |_, s| {
            s.states().all(|(id, _)| {
                let mut at = id;
                for _ in 0..count {
                    match s.node(at).parent {
                        None => return true,
                        Some(p) => at = p,
                    }
                }
                false
            })
        })
        .always("degree bound", move |_, s| {
            s.states().all(|(_, st)| st.children.len() <= max_children)
        })
        .always("parent/child consistency", |_, s| {
            up_nodes(s).into_iter().all(|(id, st)| {
                let child_ok = st.parent.is_none_or(|p| {
                    !s.is_up(p) || {
                        let ps = s.node(p);
                        ps.children.contains(&id) || ps.pending.contains(&id)
                    }
                });
                let parent_ok = st
                    .children
                    .iter()
                    .all(|&c| !s.is_up(c) || s.node(c).parent == Some(id));
                child_ok && parent_ok
            })
        })
        .always("sibling consistency", |_, s| {
            up_nodes(s).into_iter().all(|(id, st)| match st.parent {
                Some(p) if s.is_up(p) => st
                    .siblings
                    .iter()
                    .all(|sib| *sib != id && s.node(p).children.contains(sib)),
                _ => true,
            })
        })
        .sometimes("everyone joined", |_, s| {
            s.states().all(|(id, st)| id == ROOT || st.parent.is_some())
        })
        .objective(Objective::minimize(
            "join latency",
            "randtree.join_latency",
            Aggregate::P99,
        ))
}

/// RandTree's default churn in simulation: 0.5 crashes per second among
/// the non-root nodes, each down for 1 s, over the whole horizon.
pub fn churn(nodes: usize, until: std::time::Duration) -> prophet::sim::Fault {
    crate::churn_after_the_founder(nodes, until)
}

/// RandTree in the registry.
pub struct RandTreeProtocol;

impl prophet::registry::Protocol for RandTreeProtocol {
    type Node = RandTree;

    fn describe(&self) -> prophet::registry::Description {
        use prophet::registry::{Description, ParamSpec};
        Description::new(
            "randtree",
            "RandTree, CrystalBall's random overlay tree, with one crash/restart",
        )
        // Up to 10,000: the simulator runs a 10,000-node tree under churn
        // (`prophet-bench sim`, a few seconds); the checker stays bounded
        // by its own limits at any size.
        .param(ParamSpec::int(
            "nodes",
            "number of nodes, root included",
            2,
            10_000,
            "4",
        ))
        .param(ParamSpec::int("max_children", "degree bound", 1, 16, "2"))
        .variant(
            Variant::Correct.name(),
            "tree links are durable; a restarted node resumes its place",
        )
        .variant(
            Variant::ForgetfulRejoin.name(),
            "bug: tree links are volatile; a restarted node rejoins from scratch",
        )
        .choice(
            "randtree.forward_join",
            "which child a full node forwards a join request to",
            "the node's children",
        )
        .workload(
            "every node joins at boot; in simulation, churn: 0.5 crashes/s among non-root nodes, each down 1 s; 10 ms log-normal links",
        )
        .default_policy("randtree.forward_join", "random")
    }

    fn build(&self, params: &prophet::registry::Params) -> System<RandTree> {
        let variant = Variant::from_name(params.text("variant"))
            .expect("the description lists exactly the variants");
        system(params.int("nodes"), params.int("max_children"), variant)
    }

    fn sim_defaults(
        &self,
        params: &prophet::registry::Params,
        limits: &prophet::sim::Limits,
    ) -> prophet::registry::SimDefaults {
        prophet::registry::SimDefaults {
            network: prophet::sim::NetworkModel::uniform(prophet::sim::LatencyDist::LogNormal {
                median_ms: 10.0,
                sigma: 0.5,
            }),
            faults: vec![churn(params.int("nodes"), limits.horizon)],
            ..Default::default()
        }
    }
}
