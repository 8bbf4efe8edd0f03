//! Single-decree Paxos as Prophet nodes: clients, proposers and acceptors.
//!
//! Each client owns one proposer and asks it to get the client's value
//! chosen. Proposer `i` uses ballots `(round, i)`, so ballots of different
//! proposers never tie. Acceptors keep their promise and their accepted
//! ballot and value in **durable** state, which survives a crash: an acceptor
//! that forgot a promise could let two different values be chosen.
//!
//! Two choices are left to the executor:
//! - `paxos.quorum` — which acceptors a proposer contacts: every acceptor
//!   (the default) or one of the rotated majorities;
//! - `paxos.retry_timeout` — how long a proposer waits before retrying with a
//!   higher ballot.
//!
//! The checker verifies **agreement** (no two nodes decide different values)
//! and **validity** (a decided value was proposed by a client), and shows that
//! a value can be chosen at all (`sometimes "value chosen"`). Two seeded bugs
//! are available as [`Variant`]s.
//!
//! ```
//! use prophet::prelude::*;
//! use prophet_systems::paxos::{self, Variant};
//!
//! let report = Explorer::new(&paxos::system(1, 3, Variant::Correct)).run();
//! assert!(report.complete && report.violations.is_empty());
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use prophet::model::{Aggregate, Ctx, Node, NodeId, Objective, System};
use serde::{Deserialize, Serialize};

/// A value a client wants chosen (client `i` proposes `i + 1`).
pub type Value = u8;

/// A ballot: `(round, proposer index)`, ordered lexicographically.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ballot {
    /// Retry round, from 1.
    pub round: u8,
    /// Index of the proposer among proposers, breaking ties.
    pub proposer: u8,
}

impl fmt::Debug for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b{}.{}", self.round, self.proposer)
    }
}

/// The system's behaviour: correct, or one of the seeded bugs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Textbook Paxos.
    Correct,
    /// Acceptors restart without their promises (volatile instead of durable).
    ForgetfulAcceptor,
    /// Proposers propose their own value even when a promise reports an
    /// accepted one.
    IgnoreAccepted,
}

impl Variant {
    /// Every variant, in the order tools list them.
    pub const ALL: [Variant; 3] = [
        Variant::Correct,
        Variant::ForgetfulAcceptor,
        Variant::IgnoreAccepted,
    ];

    /// The name tools use.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Correct => "correct",
            Variant::ForgetfulAcceptor => "forgetful-acceptor",
            Variant::IgnoreAccepted => "ignore-accepted",
        }
    }

    /// The variant called `name`.
    pub fn from_name(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == name)
    }
}

/// Variant names, for parameter declarations.
pub const VARIANTS: &[&str] = &["correct", "forgetful-acceptor", "ignore-accepted"];

/// Messages between clients, proposers and acceptors.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Msg {
    /// Client → proposer: get this value chosen.
    Propose(Value),
    /// Proposer → acceptor: phase 1a.
    Prepare(Ballot),
    /// Acceptor → proposer: phase 1b, with the highest accepted proposal.
    Promise(Ballot, Option<(Ballot, Value)>),
    /// Proposer → acceptor: phase 2a.
    Accept(Ballot, Value),
    /// Acceptor → proposer: phase 2b.
    Accepted(Ballot),
    /// Proposer → client: the value chosen.
    Decided(Value),
}

/// Timers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// Proposer: no decision yet, retry with a higher ballot.
    Retry,
}

/// Where a proposer is in the protocol.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Phase {
    /// Waiting for a client's value.
    Idle,
    /// Phase 1: collecting promises (acceptor, its accepted proposal).
    Preparing {
        /// Promises received so far.
        promises: Vec<(NodeId, Option<(Ballot, Value)>)>,
    },
    /// Phase 2: collecting acceptances of `value`.
    Accepting {
        /// The value proposed in this ballot.
        value: Value,
        /// Acceptors that accepted.
        accepted: BTreeSet<NodeId>,
    },
    /// A majority accepted `value`.
    Decided(Value),
}

/// Per-role state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum State {
    /// A client: its value and the decision it learned.
    Client {
        /// The value this client proposes.
        value: Value,
        /// The decided value, once learned.
        decided: Option<Value>,
    },
    /// A proposer.
    Proposer {
        /// The client it serves and that client's value, once asked.
        client: Option<(NodeId, Value)>,
        /// The current ballot.
        ballot: Ballot,
        /// Acceptors contacted in this ballot.
        quorum: Vec<NodeId>,
        /// Progress in this ballot.
        phase: Phase,
    },
    /// An acceptor: exactly its durable part.
    Acceptor(AcceptorState),
}

/// What an acceptor must never forget.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AcceptorState {
    /// Highest ballot promised.
    pub promised: Option<Ballot>,
    /// Highest proposal accepted.
    pub accepted: Option<(Ballot, Value)>,
}

/// Durable state: acceptors persist theirs, other roles nothing.
pub type Durable = Option<AcceptorState>;

/// The role of one node, with the system's layout.
#[derive(Clone, Debug)]
pub struct PaxosNode {
    role: Role,
    layout: Layout,
    variant: Variant,
    max_rounds: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Client,
    Proposer,
    Acceptor,
}

/// Node ids: clients `0..c`, proposers `c..2c`, acceptors `2c..2c+a`.
#[derive(Clone, Copy, Debug)]
struct Layout {
    clients: usize,
    acceptors: usize,
}

impl Layout {
    fn proposer_of(self, client: NodeId) -> NodeId {
        NodeId::from(client.index() + self.clients)
    }
    fn proposer_index(self, proposer: NodeId) -> u8 {
        u8::try_from(proposer.index() - self.clients).unwrap_or(u8::MAX)
    }
    fn acceptors(self) -> impl Iterator<Item = NodeId> {
        (2 * self.clients..2 * self.clients + self.acceptors).map(NodeId::from)
    }
    fn majority(self) -> usize {
        self.acceptors / 2 + 1
    }
    /// Every acceptor, then each rotated window of a majority.
    fn quorums(self) -> Vec<Vec<NodeId>> {
        let all: Vec<NodeId> = self.acceptors().collect();
        let mut quorums = vec![all.clone()];
        if self.majority() < self.acceptors {
            for start in 0..self.acceptors {
                let mut q: Vec<NodeId> = (0..self.majority())
                    .map(|k| all[(start + k) % self.acceptors])
                    .collect();
                q.sort();
                quorums.push(q);
            }
        }
        quorums
    }
}

/// Retry timeouts offered to `paxos.retry_timeout`.
pub const RETRY_TIMEOUTS: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
];

impl PaxosNode {
    fn start_ballot(&self, state: &mut State, ctx: &mut Ctx<'_, Self>) {
        let State::Proposer {
            ballot,
            quorum,
            phase,
            ..
        } = state
        else {
            return;
        };
        let quorums = self.layout.quorums();
        *quorum = ctx.choose("paxos.quorum", &quorums);
        *phase = Phase::Preparing {
            promises: Vec::new(),
        };
        for &acceptor in quorum.iter() {
            ctx.send(acceptor, Msg::Prepare(*ballot));
        }
        if ballot.round < self.max_rounds {
            let timeout = ctx.choose("paxos.retry_timeout", &RETRY_TIMEOUTS);
            ctx.set_timer(Timer::Retry, timeout);
        }
    }

    fn proposer(&self, state: &mut State, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        let majority = self.layout.majority();
        let State::Proposer {
            client,
            ballot,
            quorum,
            phase,
        } = state
        else {
            return;
        };
        match msg {
            Msg::Propose(value) if client.is_none() => {
                *client = Some((from, value));
                ctx.begin_span("paxos.decide_latency", 0);
                self.start_ballot(state, ctx);
            }
            Msg::Promise(b, accepted) if b == *ballot => {
                let Phase::Preparing { promises } = phase else {
                    return;
                };
                if promises.iter().any(|(a, _)| *a == from) {
                    return;
                }
                promises.push((from, accepted));
                if promises.len() < majority {
                    return;
                }
                let own = client.map(|(_, v)| v).unwrap_or_default();
                let highest = promises.iter().filter_map(|(_, acc)| *acc).max();
                let value = match (self.variant, highest) {
                    (Variant::IgnoreAccepted, _) | (_, None) => own,
                    (_, Some((_, v))) => v,
                };
                *phase = Phase::Accepting {
                    value,
                    accepted: BTreeSet::new(),
                };
                for &acceptor in quorum.iter() {
                    ctx.send(acceptor, Msg::Accept(*ballot, value));
                }
            }
            Msg::Accepted(b) if b == *ballot => {
                let Phase::Accepting { value, accepted } = phase else {
                    return;
                };
                accepted.insert(from);
                if accepted.len() >= majority {
                    let value = *value;
                    *phase = Phase::Decided(value);
                    ctx.cancel_timer(Timer::Retry);
                    ctx.end_span("paxos.decide_latency", 0);
                    if let Some((client, _)) = client {
                        ctx.send(*client, Msg::Decided(value));
                    }
                }
            }
            _ => {}
        }
    }
}

impl Node for PaxosNode {
    type State = State;
    type Msg = Msg;
    type Timer = Timer;
    type Durable = Durable;

    fn init(&self, id: NodeId, recovered: Option<Durable>) -> State {
        match self.role {
            Role::Client => State::Client {
                value: Value::try_from(id.index() + 1).unwrap_or(Value::MAX),
                decided: None,
            },
            Role::Proposer => State::Proposer {
                client: None,
                ballot: Ballot {
                    round: 1,
                    proposer: self.layout.proposer_index(id),
                },
                quorum: Vec::new(),
                phase: Phase::Idle,
            },
            Role::Acceptor => {
                let kept = match self.variant {
                    Variant::ForgetfulAcceptor => None,
                    _ => recovered.flatten(),
                };
                State::Acceptor(kept.unwrap_or_default())
            }
        }
    }

    fn on_start(&self, state: &mut State, ctx: &mut Ctx<'_, Self>) {
        if let State::Client {
            value,
            decided: None,
        } = state
        {
            ctx.send(self.layout.proposer_of(ctx.id()), Msg::Propose(*value));
        }
    }

    fn on_message(&self, state: &mut State, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self.role {
            Role::Client => {
                if let (State::Client { decided, .. }, Msg::Decided(v)) = (state, msg) {
                    *decided = Some(v);
                }
            }
            Role::Proposer => self.proposer(state, ctx, from, msg),
            Role::Acceptor => {
                let State::Acceptor(acc) = state else { return };
                match msg {
                    Msg::Prepare(b) if acc.promised.is_none_or(|p| b > p) => {
                        acc.promised = Some(b);
                        ctx.send(from, Msg::Promise(b, acc.accepted));
                    }
                    Msg::Accept(b, v) if acc.promised.is_none_or(|p| b >= p) => {
                        acc.promised = Some(b);
                        acc.accepted = Some((b, v));
                        ctx.send(from, Msg::Accepted(b));
                    }
                    _ => {}
                }
            }
        }
    }

    fn on_timer(&self, state: &mut State, ctx: &mut Ctx<'_, Self>, _timer: Timer) {
        if let State::Proposer { ballot, phase, .. } = state {
            if matches!(phase, Phase::Decided(_)) || ballot.round >= self.max_rounds {
                return;
            }
            ballot.round += 1;
            self.start_ballot(state, ctx);
        }
    }

    fn durable(&self, state: &State) -> Durable {
        match state {
            State::Acceptor(acc) => Some(acc.clone()),
            _ => None,
        }
    }
}

/// Every value some node has decided (proposers and clients).
pub fn decided_values<'a>(states: impl Iterator<Item = &'a State>) -> BTreeSet<Value> {
    states
        .filter_map(|s| match s {
            State::Client { decided, .. } => *decided,
            State::Proposer {
                phase: Phase::Decided(v),
                ..
            } => Some(*v),
            _ => None,
        })
        .collect()
}

/// Single-decree Paxos with `clients` competing clients (each with its own
/// proposer) and `acceptors` acceptors. Proposers retry at most once (two
/// ballot rounds) so that the state space is finite; at most one acceptor
/// crash is explored.
pub fn system(clients: usize, acceptors: usize, variant: Variant) -> System<PaxosNode> {
    system_with_rounds(clients, acceptors, variant, 1)
}

/// [`system`] with a bound on ballot rounds per proposer (the simulator and
/// the live runtime use a larger one).
pub fn system_with_rounds(
    clients: usize,
    acceptors: usize,
    variant: Variant,
    max_rounds: u8,
) -> System<PaxosNode> {
    let layout = Layout { clients, acceptors };
    let node = |role| PaxosNode {
        role,
        layout,
        variant,
        max_rounds,
    };
    let nodes: Vec<PaxosNode> = std::iter::repeat_n(node(Role::Client), clients)
        .chain(std::iter::repeat_n(node(Role::Proposer), clients))
        .chain(std::iter::repeat_n(node(Role::Acceptor), acceptors))
        .collect();
    let acceptor_ids: Vec<NodeId> = layout.acceptors().collect();
    let max_value = Value::try_from(clients).unwrap_or(Value::MAX);
    System::new("paxos", nodes)
        .crashes(1, acceptor_ids)
        .always("agreement", |_, s| {
            decided_values(s.states().map(|(_, st)| st)).len() <= 1
        })
        .always("validity", move |_, s| {
            decided_values(s.states().map(|(_, st)| st))
                .iter()
                .all(|v| (1..=max_value).contains(v))
        })
        .sometimes("value chosen", |_, s| {
            !decided_values(s.states().map(|(_, st)| st)).is_empty()
        })
        .objective(Objective::minimize(
            "time to decide",
            "paxos.decide_latency",
            Aggregate::Max,
        ))
}

/// Single-decree Paxos in the registry.
pub struct Paxos;

impl prophet::registry::Protocol for Paxos {
    type Node = PaxosNode;

    fn describe(&self) -> prophet::registry::Description {
        use prophet::registry::{Description, ParamSpec};
        Description::new(
            "paxos",
            "single-decree Paxos: clients, proposers (one per client) and acceptors",
        )
        .param(ParamSpec::int("acceptors", "number of acceptors", 1, 9, "3"))
        .param(ParamSpec::int(
            "clients",
            "number of competing clients, each with its own proposer",
            1,
            5,
            "2",
        ))
        .param(
            ParamSpec::int(
                "rounds",
                "ballot rounds a proposer may try (few when checked, so the space is finite; many live, so restarts and contention do not stop progress)",
                1,
                255,
                "1",
            )
            .per_purpose("1", "20", "200"),
        )
        .variant(Variant::Correct.name(), "textbook Paxos")
        .variant(
            Variant::ForgetfulAcceptor.name(),
            "bug: acceptors restart without their promises",
        )
        .variant(
            Variant::IgnoreAccepted.name(),
            "bug: proposers ignore a value a promise reports as accepted",
        )
        .choice(
            "paxos.quorum",
            "which majority of acceptors a proposer contacts",
            "the majorities of the acceptors",
        )
        .choice(
            "paxos.retry_timeout",
            "how long a proposer waits before a new ballot",
            "100, 200 or 400 ms",
        )
        .workload("each client proposes once at boot; 5 ms log-normal links in simulation")
    }

    fn build(&self, params: &prophet::registry::Params) -> System<PaxosNode> {
        let variant = Variant::from_name(params.text("variant"))
            .expect("the description lists exactly the variants");
        let rounds = u8::try_from(params.int("rounds")).unwrap_or(u8::MAX);
        system_with_rounds(
            params.int("clients"),
            params.int("acceptors"),
            variant,
            rounds,
        )
    }

    fn sim_defaults(
        &self,
        _: &prophet::registry::Params,
        _: &prophet::sim::Limits,
    ) -> prophet::registry::SimDefaults {
        prophet::registry::SimDefaults {
            network: prophet::sim::NetworkModel::uniform(prophet::sim::LatencyDist::LogNormal {
                median_ms: 5.0,
                sigma: 0.5,
            }),
            ..Default::default()
        }
    }
}
