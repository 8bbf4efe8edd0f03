//! Chord (Stoica et al., SIGCOMM 2001), the ring overlay CrystalBall
//! checked in deployment, as nodes.
//!
//! Every node has a fixed place on an identifier ring of `2^bits` ids
//! ([`position`]: node `i` of `n` sits at `i * 2^bits / n`). Node 0 creates
//! the ring (its successor is itself); every other node **joins** by asking
//! node 0 to look up the successor of its own id. A lookup (`FindSucc`)
//! stops at the first node whose successor follows the key, and otherwise
//! moves to a known node (successor list or finger) between the current
//! node and the key, picked by the choice `chord.next_hop` (candidates
//! closest to the key first, so the policy `first` is Chord's "closest
//! preceding finger"). Each joined node then runs three periodic tasks:
//! - **stabilize** (timer): ask the successor for its predecessor and its
//!   successor list; adopt the predecessor as the new successor when it lies
//!   between, refresh the successor list (length `r`), then **notify** the
//!   successor. A successor that did not answer by the next round is taken
//!   for failed and dropped from the list, so the next one is used.
//! - **notify**: a node adopts the notifier as its predecessor when it has
//!   none or the notifier lies in `(predecessor, self)`. A node also
//!   notifies its successor at once whenever that changes (on joining, on
//!   adopting a closer one, on dropping a silent one).
//! - **fix fingers** (timer): look up the successor of `self + 2^k` for
//!   `k = 1..bits`, one `k` per round in turn (`k = 0` is the successor).
//!
//! What is simplified, to keep the state space small enough to check
//! exhaustively: the periodic tasks of a node run at most `rounds` times
//! between restarts (the checker's default is small; simulation and live
//! runs use a large bound, like Paxos's ballot rounds); there is no
//! `check_predecessor`: a node's predecessor is durable and only ever moves
//! closer, and a crashed node is expected to restart (the simulator's churn
//! restarts every node), so permanent departures are only routed around,
//! never repaired on the predecessor side; there are no keys or data, and
//! lookups serve joins and fingers only.
//!
//! The successor list and the predecessor are **durable** (written before a
//! message that depends on them leaves): a crash is a pause. Fingers, the
//! round budget and the stabilize in progress are soft state.
//!
//! Invariants (`always`), which the correct variant keeps in every reachable
//! state of the checked configurations, even though the explorer may fire a
//! stabilize timer before the answer to the last one arrives (a false
//! suspicion that drops a live successor):
//! - **ordered successor lists** — each node's list runs clockwise from
//!   itself, without repeats and without itself (except a creator alone,
//!   whose list is itself). It is built only from the successor's own list,
//!   cut where it would pass the node, with a closer node put first.
//! - **alone only as the ring's creator** — no node but node 0 ever has
//!   itself as successor. A joiner is unknown to every other node until its
//!   join completes (it notifies nobody before), so no lookup can answer
//!   with the joiner itself, and lists never contain their owner.
//! - **predecessor is the closest notifier** — for a node that cannot crash
//!   (node 0), every node whose successor it is, and whose notifications
//!   have all arrived, lies at or before its predecessor: a notification
//!   from `x` leaves the predecessor in `[x, self)`, and a checked notify
//!   only ever moves it closer. (A node that can crash may lose a
//!   notification addressed to it while it is down, so the claim is made
//!   for the nodes that cannot.)
//! - **at most one ring** — the successor pointers of the members (nodes
//!   with a successor, up or down) contain at most one cycle.
//!
//! And `sometimes` **ring formed**: every node up, and every successor and
//! predecessor pointer is the node's neighbour on the identifier ring.
//!
//! The seeded bugs, of the kinds CrystalBall found in deployed Chord code:
//! - [`Variant::UncheckedNotify`] adopts every notifier as predecessor; a
//!   late notification from a farther node replaces a closer predecessor
//!   (breaks "predecessor is the closest notifier").
//! - [`Variant::ForgetfulRejoin`] keeps nothing durable: a restarted node
//!   rejoins through node 0, whose lookup still ends at the restarted node
//!   (it is still someone's successor), so the node is told it is its own
//!   successor and makes itself a ring of one (breaks "alone only as the
//!   ring's creator").
//!
//! ```
//! use prophet::prelude::*;
//! use prophet_systems::chord::{self, Config};
//!
//! let report = Explorer::new(&chord::system(&Config::default())).run();
//! assert!(report.complete && report.violations.is_empty());
//! ```

use std::time::Duration;

use prophet::model::{
    Aggregate, Ctx, Delivery, GlobalState, NetworkSemantics, Node, NodeId, Objective, System,
};
use serde::{Deserialize, Serialize};

/// The node that creates the ring and that joiners contact.
pub const CREATOR: NodeId = NodeId(0);

/// Largest identifier-ring exponent (ids are `u8`).
pub const BITS_MAX: usize = 7;

/// How often a node stabilizes (simulation and live runs).
pub const STABILIZE_EVERY: Duration = Duration::from_millis(200);

/// How often a node refreshes one finger (simulation and live runs).
pub const FIX_FINGERS_EVERY: Duration = Duration::from_millis(500);

/// The system's behaviour: correct, or one of the seeded bugs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Checked notify; successor list and predecessor durable.
    Correct,
    /// A node adopts every notifier as its predecessor.
    UncheckedNotify,
    /// Nothing is durable: a restarted node rejoins from scratch.
    ForgetfulRejoin,
}

impl Variant {
    /// Every variant, in the order tools list them.
    pub const ALL: [Variant; 3] = [
        Variant::Correct,
        Variant::UncheckedNotify,
        Variant::ForgetfulRejoin,
    ];

    /// The name tools use.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Correct => "correct",
            Variant::UncheckedNotify => "unchecked-notify",
            Variant::ForgetfulRejoin => "forgetful-rejoin",
        }
    }

    /// The variant called `name`.
    pub fn from_name(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == name)
    }
}

/// The size of a checked or simulated ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Number of nodes, the creator included.
    pub nodes: usize,
    /// The identifier ring has `2^bits` ids.
    pub bits: usize,
    /// Nodes `0..members` start as a formed ring (as if their joins had
    /// completed); the others join at boot. At least 1: node 0 creates the
    /// ring.
    pub members: usize,
    /// Length of the successor list.
    pub successors: usize,
    /// Stabilize rounds per node between restarts.
    pub rounds: u32,
    /// Fix-fingers rounds per node between restarts.
    pub finger_rounds: u32,
    /// How many non-creator crashes may happen.
    pub crashes: u32,
    /// Which nodes may crash: every node but the creator (`true`: what the
    /// simulator's churn does), or only the initial members but the
    /// creator, at least node 1 (`false`: the checker's, which keeps its
    /// space small). The invariant "predecessor is the closest notifier"
    /// is claimed for the nodes that cannot crash.
    pub all_crash: bool,
    /// The implementation.
    pub variant: Variant,
}

impl Default for Config {
    /// The checker's default: 3 nodes on 8 ids, nodes 0 and 1 a formed
    /// ring that node 2 joins, successor lists of 2, one stabilize round per
    /// node and incarnation, no fix-fingers round (each multiplies the
    /// space by more than ten), one crash (of node 1).
    fn default() -> Self {
        Config {
            nodes: 3,
            bits: 3,
            members: 2,
            successors: 2,
            rounds: 1,
            finger_rounds: 0,
            crashes: 1,
            all_crash: false,
            variant: Variant::Correct,
        }
    }
}

/// Node `index`'s place on a ring of `2^bits` ids shared by `nodes` nodes.
pub fn position(index: usize, nodes: usize, bits: usize) -> u8 {
    debug_assert!(nodes >= 1 && nodes <= 1 << bits);
    u8::try_from(index * (1 << bits) / nodes).expect("bits <= BITS_MAX")
}

/// What a lookup is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Purpose {
    /// The origin's own id: its successor when it joins.
    Join,
    /// Finger `k` (`1..bits`) of the origin.
    Finger(u8),
}

/// Messages between Chord nodes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Msg {
    /// Find the successor of `key` for `origin`; `hops` so far.
    FindSucc {
        /// The id looked up.
        key: u8,
        /// Who asked.
        origin: NodeId,
        /// What for.
        purpose: Purpose,
        /// Messages the lookup has taken so far.
        hops: u8,
    },
    /// The answer to a lookup.
    Found {
        /// The successor of the key.
        succ: NodeId,
        /// What the lookup was for.
        purpose: Purpose,
        /// Messages the lookup took, this answer included.
        hops: u8,
    },
    /// Stabilize: what is your predecessor and successor list?
    GetPred,
    /// The answer to `GetPred`.
    PredIs {
        /// The sender's predecessor.
        pred: Option<NodeId>,
        /// The sender's successor list.
        succs: Vec<NodeId>,
    },
    /// The sender believes it is the receiver's predecessor.
    Notify,
}

/// Timers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// Stabilize with the successor (before joining: retry the join).
    Stabilize,
    /// Refresh the next finger.
    FixFingers,
}

/// A node's view of the ring.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct State {
    /// Successor list, closest first; empty until joined (durable).
    pub succs: Vec<NodeId>,
    /// Predecessor (durable).
    pub pred: Option<NodeId>,
    /// Finger `k` at index `k - 1` (soft state).
    pub fingers: Vec<Option<NodeId>>,
    /// The finger the next fix-fingers round refreshes, minus one.
    pub next_finger: u8,
    /// A stabilize request to the successor is unanswered.
    pub awaiting: bool,
    /// Stabilize rounds left before the next restart.
    pub rounds_left: u32,
    /// Fix-fingers rounds left before the next restart.
    pub finger_rounds_left: u32,
}

impl State {
    /// Whether the node has a successor (it created or joined the ring).
    pub fn joined(&self) -> bool {
        !self.succs.is_empty()
    }

    /// Its successor, once joined.
    pub fn succ(&self) -> Option<NodeId> {
        self.succs.first().copied()
    }
}

/// The durable part of [`State`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Links {
    /// Successor list.
    pub succs: Vec<NodeId>,
    /// Predecessor.
    pub pred: Option<NodeId>,
}

/// One Chord node, with the ring's layout.
#[derive(Clone, Debug)]
pub struct Chord {
    nodes: usize,
    bits: usize,
    members: usize,
    successors: usize,
    rounds: u32,
    finger_rounds: u32,
    variant: Variant,
}

/// Where a lookup goes next.
enum Route {
    /// The key's successor is known.
    Done(NodeId),
    /// Ask this node.
    Forward(NodeId),
}

impl Chord {
    fn pos(&self, id: NodeId) -> u8 {
        position(id.index(), self.nodes, self.bits)
    }

    /// Clockwise distance from `a` to `b` on the ring, in `0..2^bits`.
    fn dist(&self, a: u8, b: u8) -> u16 {
        let ring = 1u16 << self.bits;
        (u16::from(b) + ring - u16::from(a)) % ring
    }

    /// Whether `x` lies in the open interval `(a, b)` clockwise; `(a, a)` is
    /// the whole ring but `a`.
    fn between(&self, a: NodeId, x: NodeId, b: NodeId) -> bool {
        let (a, x, b) = (self.pos(a), self.pos(x), self.pos(b));
        let dx = self.dist(a, x);
        let db = self.dist(a, b);
        dx > 0 && (db == 0 || dx < db)
    }

    /// Whether key `k` lies in `(a, b]` clockwise.
    fn key_in(&self, a: NodeId, k: u8, b: NodeId) -> bool {
        let (a, b) = (self.pos(a), self.pos(b));
        let dk = self.dist(a, k);
        let db = self.dist(a, b);
        dk > 0 && (db == 0 || dk <= db)
    }

    /// The next step of a lookup for `key` at a joined node.
    fn route(&self, state: &State, ctx: &mut Ctx<'_, Self>, key: u8) -> Route {
        let me = ctx.id();
        let succ = state.succ().expect("routing needs a successor");
        if key == self.pos(me) {
            return Route::Done(me);
        }
        if succ == me || self.key_in(me, key, succ) {
            return Route::Done(succ);
        }
        // Known nodes strictly between here and the key, closest to the key
        // first: the successor is one of them, so there is always one.
        let mut candidates: Vec<NodeId> = state
            .succs
            .iter()
            .copied()
            .chain(state.fingers.iter().flatten().copied())
            .filter(|&n| {
                n != me && self.dist(self.pos(me), self.pos(n)) < self.dist(self.pos(me), key)
            })
            .collect();
        candidates.sort_by_key(|&n| std::cmp::Reverse(self.dist(self.pos(me), self.pos(n))));
        candidates.dedup();
        debug_assert!(candidates.contains(&succ));
        Route::Forward(ctx.choose("chord.next_hop", &candidates))
    }

    /// Sets the successor list to `head` followed by `rest`, cut at the
    /// first entry not strictly between the previous one and this node.
    fn set_succs(&self, state: &mut State, me: NodeId, head: NodeId, rest: &[NodeId]) {
        let mut list = vec![head];
        for &s in rest {
            if list.len() >= self.successors {
                break;
            }
            let last = *list.last().expect("non-empty");
            if !self.between(last, s, me) || s == me {
                break;
            }
            list.push(s);
        }
        state.succs = list;
    }

    fn arm(&self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(Timer::Stabilize, STABILIZE_EVERY);
        ctx.set_timer(Timer::FixFingers, FIX_FINGERS_EVERY);
    }

    fn take_round(state: &mut State) -> bool {
        if state.rounds_left == 0 {
            return false;
        }
        state.rounds_left -= 1;
        true
    }

    fn stabilize(&self, state: &mut State, ctx: &mut Ctx<'_, Self>) {
        let me = ctx.id();
        let Some(succ) = state.succ() else {
            // Not joined yet: retry the join (its lookup may have been lost
            // at a crashed node).
            if Self::take_round(state) {
                self.start_join(ctx);
                ctx.set_timer(Timer::Stabilize, STABILIZE_EVERY);
            }
            return;
        };
        if succ == me {
            // Alone: the successor's predecessor is our own.
            if let Some(p) = state.pred.filter(|&p| p != me) {
                self.set_succs(state, me, p, &[]);
                ctx.send(p, Msg::Notify);
            }
            ctx.set_timer(Timer::Stabilize, STABILIZE_EVERY);
            return;
        }
        if state.awaiting && state.succs.len() > 1 {
            // The successor did not answer a whole period: use the next.
            state.succs.remove(0);
            ctx.send(state.succs[0], Msg::Notify);
        }
        if !Self::take_round(state) {
            return;
        }
        state.awaiting = true;
        ctx.send(state.succs[0], Msg::GetPred);
        ctx.set_timer(Timer::Stabilize, STABILIZE_EVERY);
    }

    fn fix_fingers(&self, state: &mut State, ctx: &mut Ctx<'_, Self>) {
        if !state.joined() {
            ctx.set_timer(Timer::FixFingers, FIX_FINGERS_EVERY);
            return;
        }
        if self.bits < 2 || state.finger_rounds_left == 0 {
            return;
        }
        state.finger_rounds_left -= 1;
        let k = state.next_finger + 1;
        state.next_finger = (state.next_finger + 1) % u8::try_from(self.bits - 1).unwrap_or(1);
        let ring = 1u16 << self.bits;
        let key = u8::try_from((u16::from(self.pos(ctx.id())) + (1 << k)) % ring).unwrap_or(0);
        let purpose = Purpose::Finger(k);
        match self.route(state, ctx, key) {
            Route::Done(s) => state.fingers[usize::from(k) - 1] = Some(s),
            Route::Forward(next) => {
                ctx.begin_span("chord.lookup_latency", u64::from(k));
                ctx.send(
                    next,
                    Msg::FindSucc {
                        key,
                        origin: ctx.id(),
                        purpose,
                        hops: 1,
                    },
                );
            }
        }
        ctx.set_timer(Timer::FixFingers, FIX_FINGERS_EVERY);
    }

    /// The links node `id` boots with: its place in the initial ring of
    /// nodes `0..members`, or none.
    fn initial_links(&self, id: NodeId) -> Links {
        let m = self.members.max(1);
        if id.index() >= m {
            return Links::default();
        }
        let succs = (1..=self.successors.min(m.saturating_sub(1)).max(1))
            .map(|k| NodeId::from((id.index() + k) % m))
            .collect();
        let pred = (m > 1).then(|| NodeId::from((id.index() + m - 1) % m));
        Links { succs, pred }
    }

    fn start_join(&self, ctx: &mut Ctx<'_, Self>) {
        let me = ctx.id();
        ctx.send(
            CREATOR,
            Msg::FindSucc {
                key: self.pos(me),
                origin: me,
                purpose: Purpose::Join,
                hops: 1,
            },
        );
    }
}

impl Node for Chord {
    type State = State;
    type Msg = Msg;
    type Timer = Timer;
    type Durable = Links;

    fn init(&self, id: NodeId, recovered: Option<Links>) -> State {
        let links = match (self.variant, recovered) {
            (_, None) => self.initial_links(id),
            (Variant::ForgetfulRejoin, Some(_)) => Links::default(),
            (_, Some(links)) => links,
        };
        State {
            succs: links.succs,
            pred: links.pred,
            fingers: vec![None; self.bits.saturating_sub(1)],
            next_finger: 0,
            awaiting: false,
            rounds_left: self.rounds,
            finger_rounds_left: self.finger_rounds,
        }
    }

    fn on_start(&self, state: &mut State, ctx: &mut Ctx<'_, Self>) {
        let me = ctx.id();
        if me == CREATOR && !state.joined() {
            state.succs = vec![me];
        }
        if !state.joined() {
            ctx.begin_span("chord.join_latency", 0);
            self.start_join(ctx);
        }
        self.arm(ctx);
    }

    fn on_message(&self, state: &mut State, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        let me = ctx.id();
        match msg {
            Msg::FindSucc {
                key,
                origin,
                purpose,
                hops,
            } => {
                if !state.joined() {
                    // Cannot route: the origin retries.
                    return;
                }
                match self.route(state, ctx, key) {
                    Route::Done(succ) => ctx.send(
                        origin,
                        Msg::Found {
                            succ,
                            purpose,
                            hops: hops.saturating_add(1),
                        },
                    ),
                    Route::Forward(next) => ctx.send(
                        next,
                        Msg::FindSucc {
                            key,
                            origin,
                            purpose,
                            hops: hops.saturating_add(1),
                        },
                    ),
                }
            }
            Msg::Found {
                succ,
                purpose,
                hops,
            } => match purpose {
                Purpose::Join if !state.joined() => {
                    // Chord's join: successor = find_successor(self). Only
                    // a node someone still points at can be told it is its
                    // own successor, which the durable list rules out.
                    state.succs = vec![succ];
                    if succ != me {
                        ctx.send(succ, Msg::Notify);
                    }
                    ctx.end_span("chord.join_latency", 0);
                    ctx.record("chord.lookup_hops", f64::from(hops));
                }
                Purpose::Finger(k) if state.joined() => {
                    if let Some(slot) = state.fingers.get_mut(usize::from(k) - 1) {
                        *slot = Some(succ);
                    }
                    ctx.end_span("chord.lookup_latency", u64::from(k));
                    ctx.record("chord.lookup_hops", f64::from(hops));
                }
                _ => {}
            },
            Msg::GetPred => {
                ctx.send(
                    from,
                    Msg::PredIs {
                        pred: state.pred,
                        succs: state.succs.clone(),
                    },
                );
            }
            Msg::PredIs { pred, succs } => {
                if !state.awaiting || state.succ() != Some(from) {
                    return; // a stale answer
                }
                state.awaiting = false;
                self.set_succs(state, me, from, &succs);
                if let Some(x) = pred.filter(|&x| x != me && self.between(me, x, from)) {
                    let rest = state.succs.clone();
                    self.set_succs(state, me, x, &rest);
                }
                ctx.send(state.succs[0], Msg::Notify);
            }
            Msg::Notify => {
                if from == me {
                    return;
                }
                let accept = match self.variant {
                    Variant::UncheckedNotify => true,
                    _ => state.pred.is_none_or(|p| self.between(p, from, me)),
                };
                if accept {
                    state.pred = Some(from);
                }
            }
        }
    }

    fn on_timer(&self, state: &mut State, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Stabilize => self.stabilize(state, ctx),
            Timer::FixFingers => self.fix_fingers(state, ctx),
        }
    }

    fn durable(&self, state: &State) -> Links {
        Links {
            succs: state.succs.clone(),
            pred: state.pred,
        }
    }
}

/// The nodes of `state` that have joined, up or down, with their successor.
fn successor_graph(state: &GlobalState<Chord>) -> Vec<Option<NodeId>> {
    state.states().map(|(_, st)| st.succ()).collect()
}

/// How many distinct cycles the successor pointers form.
pub fn ring_count(state: &GlobalState<Chord>) -> usize {
    let next = successor_graph(state);
    let n = next.len();
    // 0: unvisited, 1: on the current walk, 2: done.
    let mut mark = vec![0u8; n];
    let mut cycles = 0;
    for start in 0..n {
        let mut walk = Vec::new();
        let mut at = Some(start);
        while let Some(i) = at {
            match mark[i] {
                0 => {
                    mark[i] = 1;
                    walk.push(i);
                    at = next[i].map(NodeId::index);
                }
                1 => {
                    cycles += 1;
                    break;
                }
                _ => break,
            }
        }
        for i in walk {
            mark[i] = 2;
        }
    }
    cycles
}

/// Whether every node is up and points at its ring neighbours.
pub fn ring_formed(state: &GlobalState<Chord>) -> bool {
    let n = state.nodes.len();
    state.states().all(|(id, st)| {
        let next = NodeId::from((id.index() + 1) % n);
        let prev = NodeId::from((id.index() + n - 1) % n);
        state.is_up(id) && st.succ() == Some(next) && (n == 1 || st.pred == Some(prev))
    })
}

/// Chord of `config.nodes` nodes; the nodes `config.all_crash` names may
/// crash, up to `config.crashes` crashes in all.
pub fn system(config: &Config) -> System<Chord> {
    assert!(config.nodes >= 1 && config.bits <= BITS_MAX && config.nodes <= 1 << config.bits);
    assert!(config.successors >= 1);
    let node = Chord {
        nodes: config.nodes,
        bits: config.bits,
        members: config.members,
        successors: config.successors,
        rounds: config.rounds,
        finger_rounds: config.finger_rounds,
        variant: config.variant,
    };
    let geometry = node.clone();
    let closest = node.clone();
    System::new("chord", vec![node; config.nodes])
        .network(NetworkSemantics {
            delivery: Delivery::Fifo,
            lossy: false,
        })
        .crashes(
            config.crashes,
            match config.all_crash {
                true => 1..config.nodes,
                false => 1..config.members.max(2).min(config.nodes),
            }
            .map(NodeId::from)
            .collect::<Vec<_>>(),
        )
        .always("ordered successor lists", move |_, s| {
            s.states().all(|(id, st)| {
                if st.succs == [id] {
                    return true;
                }
                let mut last = id;
                st.succs.iter().all(|&x| {
                    let ok = x != id && geometry.between(last, x, id);
                    last = x;
                    ok
                })
            })
        })
        .always("alone only as the ring's creator", |_, s| {
            s.states()
                .all(|(id, st)| id == CREATOR || st.succ() != Some(id))
        })
        .always("predecessor is the closest notifier", move |sys, s| {
            let crashable = sys.crash_budget().1;
            s.states()
                .filter(|(n, _)| !crashable[n.index()] && s.is_up(*n))
                .all(|(n, st)| {
                    s.states().all(|(x, xs)| {
                        if x == n || xs.succ() != Some(n) {
                            return true;
                        }
                        let pending = s
                            .in_flight()
                            .any(|(e, _)| e.src == x && e.dst == n && e.msg == Msg::Notify);
                        pending || st.pred.is_some_and(|p| p == x || !closest.between(p, x, n))
                    })
                })
        })
        .always("at most one ring", |_, s| ring_count(s) <= 1)
        .sometimes("ring formed", |_, s| ring_formed(s))
        .objective(Objective::minimize(
            "join latency",
            "chord.join_latency",
            Aggregate::P99,
        ))
        .objective(Objective::minimize(
            "lookup hops",
            "chord.lookup_hops",
            Aggregate::Mean,
        ))
}

/// Chord's default churn in simulation: 0.5 crashes per second among the
/// nodes other than the creator, each down for 1 s, until `until`.
pub fn churn(nodes: usize, until: std::time::Duration) -> prophet::sim::Fault {
    crate::churn_after_the_founder(nodes, until)
}

/// Chord's simulated network: 10 ms log-normal links.
pub fn network() -> prophet::sim::NetworkModel {
    prophet::sim::NetworkModel::uniform(prophet::sim::LatencyDist::LogNormal {
        median_ms: 10.0,
        sigma: 0.5,
    })
}

/// Chord in the registry.
pub struct ChordProtocol;

impl prophet::registry::Protocol for ChordProtocol {
    type Node = Chord;

    fn describe(&self) -> prophet::registry::Description {
        use prophet::registry::{Description, ParamSpec};
        Description::new(
            "chord",
            "Chord ring: join, stabilize, notify, fix fingers, successor lists, with churn",
        )
        .filterable(
            "Notify",
            "a node notifies its successor again at every stabilize round",
        )
        .filterable(
            "Found",
            "a joiner retries its join at its next stabilize timer; a finger is looked up again by fix-fingers",
        )
        .param(ParamSpec::int(
            "nodes",
            "number of nodes, the ring's creator included (at most 2^bits)",
            1,
            1 << BITS_MAX,
            "3",
        ))
        .param(ParamSpec::int(
            "bits",
            "the identifier ring has 2^bits ids (raised to fit the nodes)",
            1,
            BITS_MAX as u64,
            "3",
        ))
        .param(
            ParamSpec::int(
                "members",
                "nodes 0..members start as a formed ring; the others join at boot (the checker starts with two, so that its space stays small)",
                1,
                1 << BITS_MAX,
                "2",
            )
            .per_purpose("2", "1", "1"),
        )
        .param(ParamSpec::int(
            "successors",
            "length of each node's successor list",
            1,
            8,
            "2",
        ))
        .param(
            ParamSpec::int(
                "rounds",
                "periodic stabilize/fix-fingers runs per node between restarts (few when checked, so the space is finite)",
                1,
                1_000_000,
                "1",
            )
            .per_purpose("1", "100000", "1000000"),
        )
        .param(
            ParamSpec::int(
                "finger_rounds",
                "fix-fingers runs per node between restarts",
                0,
                1_000_000,
                "0",
            )
            .per_purpose("0", "100000", "1000000"),
        )
        .param(ParamSpec::int(
            "crashes",
            "crashes the checker explores (of the nodes `crashable` names)",
            0,
            4,
            "1",
        ))
        .param(
            ParamSpec::choice(
                "crashable",
                "which nodes may crash, and so are exempt from \"predecessor is the closest notifier\": `members` (the initial members but the creator, at least node 1: the checker's, to keep its space small) or `all` (every node but the creator, as the simulator's churn crashes any)",
                &["members", "all"],
                "members",
            )
            .per_purpose("members", "all", "all"),
        )
        .variant(
            Variant::Correct.name(),
            "checked notify; successor list and predecessor durable",
        )
        .variant(
            Variant::UncheckedNotify.name(),
            "bug: a node adopts every notifier as its predecessor",
        )
        .variant(
            Variant::ForgetfulRejoin.name(),
            "bug: nothing durable; a restarted node rejoins and is told it is its own successor",
        )
        .choice(
            "chord.next_hop",
            "which known node a lookup is forwarded to",
            "successors and fingers between this node and the key, closest to the key first",
        )
        .workload(
            "every node joins through node 0 at boot, then stabilizes every 200 ms and fixes a finger every 500 ms; in simulation, churn: 0.5 crashes/s among the other nodes, each down 1 s; 10 ms log-normal links",
        )
    }

    fn build(&self, params: &prophet::registry::Params) -> System<Chord> {
        let variant = Variant::from_name(params.text("variant"))
            .expect("the description lists exactly the variants");
        let nodes = params.int("nodes");
        // The smallest ring that fits the nodes, if `bits` is too small.
        let fit = (usize::BITS - nodes.saturating_sub(1).leading_zeros()) as usize;
        system(&Config {
            nodes,
            bits: params.int("bits").max(fit).min(BITS_MAX),
            members: params.int("members").clamp(1, nodes),
            successors: params.int("successors"),
            rounds: u32::try_from(params.int("rounds")).unwrap_or(u32::MAX),
            finger_rounds: u32::try_from(params.int("finger_rounds")).unwrap_or(u32::MAX),
            crashes: u32::try_from(params.int("crashes")).unwrap_or(u32::MAX),
            all_crash: params.text("crashable") == "all",
            variant,
        })
    }

    fn sim_defaults(
        &self,
        params: &prophet::registry::Params,
        limits: &prophet::sim::Limits,
    ) -> prophet::registry::SimDefaults {
        prophet::registry::SimDefaults {
            network: network(),
            faults: vec![churn(params.int("nodes"), limits.horizon)],
            ..Default::default()
        }
    }
}
