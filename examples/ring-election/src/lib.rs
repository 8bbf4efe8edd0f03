//! Chang and Roberts' leader election on a unidirectional ring (1979), as a
//! protocol a user writes in their own crate, against Prophet's public API
//! only.
//!
//! Every node has a unique id (`uid`) and sends it to its successor. A node
//! forwards a uid larger than its own and drops a smaller one; a node that
//! receives its own uid back has the largest one and is the leader, and
//! announces itself around the ring. When a node starts its candidacy is a
//! declared choice (`ring.start_delay`); the objective is the time until the
//! last node knows the leader.
//!
//! The seeded bug (`variant=forward-all`) forwards smaller uids too, so
//! every uid comes back to its owner and every node declares itself leader:
//! the checker finds two leaders with a shortest trace.

use std::time::Duration;

use prophet::model::{Aggregate, Ctx, Node, NodeId, Objective, System};
use prophet::registry::{Description, ParamSpec, Params, Protocol, SimDefaults};
use prophet::sim::{LatencyDist, Limits, NetworkModel};
use serde::{Deserialize, Serialize};

/// The choice of when a node starts its candidacy.
pub const START_DELAY: &str = "ring.start_delay";
/// The candidates of [`START_DELAY`].
pub const START_DELAYS: [Duration; 3] = [
    Duration::from_millis(1),
    Duration::from_millis(10),
    Duration::from_millis(50),
];
/// The span from boot until a node knows the leader (seconds).
pub const ELECTION: &str = "ring.election";

/// How the nodes behave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Chang and Roberts: smaller uids are dropped.
    Correct,
    /// Bug: smaller uids are forwarded too.
    ForwardAll,
}

/// One node of the ring.
#[derive(Clone, Debug)]
pub struct RingNode {
    /// This node's unique id.
    pub uid: u64,
    /// The node it sends to.
    pub successor: NodeId,
    /// Correct, or the seeded bug.
    pub variant: Variant,
}

/// Messages around the ring.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Msg {
    /// A candidate's uid on its way round.
    Candidate(u64),
    /// The leader's uid, announced once it is known.
    Elected(u64),
}

/// A node's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct State {
    /// Whether this node has sent its own uid.
    pub started: bool,
    /// Whether this node believes it is the leader.
    pub leader: bool,
    /// The leader's uid, once this node knows it.
    pub known: Option<u64>,
}

/// The start timer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Start;

impl Node for RingNode {
    type State = State;
    type Msg = Msg;
    type Timer = Start;
    type Durable = ();

    fn init(&self, _: NodeId, _: Option<()>) -> State {
        State::default()
    }

    fn on_start(&self, _: &mut State, ctx: &mut Ctx<'_, Self>) {
        ctx.begin_span(ELECTION, 0);
        let delay = ctx.choose(START_DELAY, &START_DELAYS);
        ctx.set_timer(Start, delay);
    }

    fn on_timer(&self, state: &mut State, ctx: &mut Ctx<'_, Self>, _: Start) {
        if !state.started && state.known.is_none() {
            state.started = true;
            ctx.send(self.successor, Msg::Candidate(self.uid));
        }
    }

    fn on_message(&self, state: &mut State, ctx: &mut Ctx<'_, Self>, _: NodeId, msg: Msg) {
        match msg {
            Msg::Candidate(uid) if uid == self.uid => {
                state.leader = true;
                self.learn(state, ctx, uid);
                ctx.send(self.successor, Msg::Elected(uid));
            }
            Msg::Candidate(uid) if uid > self.uid || self.variant == Variant::ForwardAll => {
                // A larger candidate passes; this node no longer needs to
                // start its own (it cannot win).
                state.started = true;
                ctx.send(self.successor, Msg::Candidate(uid));
            }
            Msg::Candidate(_) => {}
            Msg::Elected(uid) if uid == self.uid => {}
            Msg::Elected(uid) => {
                self.learn(state, ctx, uid);
                ctx.send(self.successor, Msg::Elected(uid));
            }
        }
    }

    fn durable(&self, _: &State) {}
}

impl RingNode {
    fn learn(&self, state: &mut State, ctx: &mut Ctx<'_, Self>, leader: u64) {
        if state.known.is_none() {
            state.known = Some(leader);
            ctx.end_span(ELECTION, 0);
        }
    }
}

/// The uid of node `i`: distinct, and not in ring order, so that
/// candidacies travel different distances.
pub fn uid(i: usize) -> u64 {
    (i as u64 * 7919) % 10_007 + 1
}

/// A ring of `n` nodes.
pub fn system(n: usize, variant: Variant) -> System<RingNode> {
    let nodes: Vec<RingNode> = (0..n)
        .map(|i| RingNode {
            uid: uid(i),
            successor: NodeId::from((i + 1) % n),
            variant,
        })
        .collect();
    let largest = (0..n).map(uid).max().unwrap_or(0);
    System::new("ring-election", nodes)
        .always("one leader", |_, s| {
            s.states().filter(|(_, st)| st.leader).count() <= 1
        })
        .always("the leader has the largest uid", move |sys, s| {
            s.states()
                .all(|(id, st)| !st.leader || sys.nodes()[id.index()].uid == largest)
        })
        .sometimes("leader known everywhere", |_, s| {
            s.states().all(|(_, st)| st.known.is_some())
        })
        .objective(Objective::minimize(
            "time to elect",
            ELECTION,
            Aggregate::Max,
        ))
}

/// The ring in Prophet's registry.
pub struct Ring;

impl Protocol for Ring {
    type Node = RingNode;

    fn describe(&self) -> Description {
        Description::new(
            "ring-election",
            "Chang and Roberts' leader election on a unidirectional ring (an example crate)",
        )
        .param(ParamSpec::int("nodes", "nodes on the ring", 2, 64, "5").per_purpose("4", "16", "5"))
        .variant("correct", "smaller uids are dropped")
        .variant(
            "forward-all",
            "bug: smaller uids are forwarded too, so every node elects itself",
        )
        .choice(
            START_DELAY,
            "how long a node waits after boot before it sends its uid",
            "1, 10 or 50 ms",
        )
        .workload(
            "none: every node starts a candidacy at boot; 2 ms log-normal links in simulation",
        )
    }

    fn build(&self, params: &Params) -> System<RingNode> {
        let variant = match params.text("variant") {
            "forward-all" => Variant::ForwardAll,
            _ => Variant::Correct,
        };
        system(params.int("nodes"), variant)
    }

    fn sim_defaults(&self, _: &Params, _: &Limits) -> SimDefaults {
        SimDefaults {
            network: NetworkModel::uniform(LatencyDist::LogNormal {
                median_ms: 2.0,
                sigma: 0.5,
            }),
            ..SimDefaults::default()
        }
    }
}
