//! Execution steering in the simulator: neighbourhood checkpoints, the
//! immediate safety check and a bounded consequence search.
//!
//! Every node sends a checkpoint of its slot (state and pending timers) to
//! the nodes it has sent to, at most once per
//! [`SteerConfig::checkpoint_every`] and within its [`Budget`], as a real
//! message ([`crate::sim::steer`]) that also carries the messages the same
//! handler sent that node (they follow it on the link, so the receiver
//! knows they are in flight). Before the effects of a delivery of a
//! message kind the protocol declares safe to filter are committed, the
//! receiver assembles its **neighbourhood view**: its own slot, the latest
//! checkpoint it holds of every other node (a node it has none of is taken
//! at its boot state), the messages announced to it that have not arrived,
//! and the handler's sends. If an `always` property holds on that view
//! before the step and fails after it, the effects are discarded, as if the
//! network had lost the message. Otherwise, with a lookahead, a bounded
//! breadth-first search ([`Explorer::start_from`]) from the view after the
//! step over the events that follow from this node's own next actions (the
//! deliveries of messages in flight and the node's own timers) looks for an
//! invariant that breaks within the depth; the step is discarded when one
//! does and the same search from the view without the step finds none.
//! Each action is logged with the steps that justified it.
//!
//! What the view cannot see: messages other nodes sent it that no
//! checkpoint announced, changes newer than a checkpoint, other nodes'
//! timers, crashes, and losses. The rule "holds before, fails after" (and
//! its counterpart for the search) keeps a stale view from blaming a step
//! for an inconsistency that was already in it. No peeking: a node sees
//! another only through checkpoints that crossed the simulated network.

use std::hash::BuildHasher;
use std::time::Duration;

use foldhash::fast::FixedState;

use crate::explore::Explorer;
use crate::model::{
    Envelope, Event, Expectation, GlobalState, InFlight, Model, Node, NodeId, NodeSlot, Property,
    Step, StepError, System,
};
use crate::sim::condition::message_kind;
use crate::sim::steer::{
    ACTIONS_KEPT, Review, Steerer, Steering, SteeringAction, SteeringReport, Verdict,
};

/// How steering behaves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SteerConfig {
    /// The least time between two checkpoints of one node. A node sends
    /// one only when its slot changed since it last sent one to a peer
    /// (or the peer is new), so a quiet protocol sends few.
    pub checkpoint_every: Duration,
    /// Consequence prediction: the depth, in events, of the bounded search
    /// from the view after a reviewed step that passed the immediate check
    /// (0: the immediate check only).
    pub lookahead: usize,
    /// States one consequence search may visit.
    pub lookahead_states: u64,
    /// The bandwidth checkpoints may use, per node (`None`: no limit).
    pub budget: Option<Budget>,
}

/// What checkpoints may cost a node: the larger of a share of the bytes
/// its protocol sends and a fixed rate (a quiet protocol sends little), as
/// a token bucket that holds at most one second of the fixed rate. A
/// checkpoint the bucket cannot pay for waits for the node's next handler,
/// so the period adapts to the budget.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    /// Bytes per second per node, whatever the protocol sends.
    pub bytes_per_sec: f64,
    /// Share of the node's own protocol bytes (0.05: 5%).
    pub share: f64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            bytes_per_sec: DEFAULT_BUDGET_BYTES_PER_SEC,
            share: 0.05,
        }
    }
}

/// The default fixed part of a node's checkpoint budget, bytes per second.
pub const DEFAULT_BUDGET_BYTES_PER_SEC: f64 = 512.0;

impl Default for SteerConfig {
    fn default() -> Self {
        SteerConfig {
            checkpoint_every: Duration::from_millis(10),
            lookahead: DEFAULT_LOOKAHEAD,
            lookahead_states: DEFAULT_LOOKAHEAD_STATES,
            budget: Some(Budget::default()),
        }
    }
}

/// The bytes `value` takes postcard-encoded (what a checkpoint costs on the
/// wire; the simulator counts the same).
fn encoded_size<T: serde::Serialize>(value: &T) -> usize {
    postcard::experimental::serialized_size(value).unwrap_or(0)
}

/// How long a message announced by a checkpoint is taken to be in flight
/// (one the network lost is forgotten after this).
const ANNOUNCED_FOR: Duration = Duration::from_secs(1);

/// The default depth of the consequence search.
pub const DEFAULT_LOOKAHEAD: usize = 4;

/// The default state budget of one consequence search.
pub const DEFAULT_LOOKAHEAD_STATES: u64 = 2_000;

/// The model a consequence search explores: the system from a node's view,
/// restricted to the events that follow from that node's own next actions
/// (CrystalBall's consequence search): deliveries of messages in flight
/// (in a view, only those the judged step and its consequences sent) and
/// the node's own timers. Other nodes' timers, crashes, restarts and
/// losses are left out: they are not this node's to steer, and their
/// branching would spend the budget on futures the step does not cause.
struct Consequences<'a, N: Node> {
    system: &'a System<N>,
    node: NodeId,
    invariants: Vec<Property<Consequences<'a, N>>>,
}

impl<'a, N: Node> Consequences<'a, N> {
    fn new(system: &'a System<N>, node: NodeId, invariants: &[Property<System<N>>]) -> Self {
        let invariants = invariants
            .iter()
            .map(|p| {
                let p = p.clone();
                Property::always(p.name.clone(), move |c: &Consequences<'a, N>, s| {
                    p.holds(c.system, s)
                })
            })
            .collect();
        Consequences {
            system,
            node,
            invariants,
        }
    }

    fn follows(&self, event: &Event<N>) -> bool {
        match event {
            Event::Deliver(_) => true,
            Event::Timer(node, _) => *node == self.node,
            Event::Lose(_) | Event::Crash(_) | Event::Restart(_) => false,
        }
    }
}

impl<N: Node> Model for Consequences<'_, N> {
    type State = GlobalState<N>;
    type Action = Step<N>;

    fn init_states(&self) -> Vec<GlobalState<N>> {
        // A search always starts from a view (`Explorer::start_from`).
        Vec::new()
    }

    fn actions(&self, state: &GlobalState<N>, actions: &mut Vec<Step<N>>) {
        self.system
            .actions_where(state, |e| self.follows(e), actions);
    }

    fn next_state(
        &self,
        state: &GlobalState<N>,
        step: &Step<N>,
    ) -> Result<Option<GlobalState<N>>, StepError> {
        self.system.next_state(state, step)
    }

    fn successors(
        &self,
        state: &GlobalState<N>,
        out: &mut Vec<(Step<N>, GlobalState<N>)>,
    ) -> Result<(), (Step<N>, StepError)> {
        self.system
            .successors_where(state, |e| self.follows(e), out)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        self.invariants.clone()
    }

    fn describe_step(&self, from: &GlobalState<N>, step: &Step<N>, to: &GlobalState<N>) -> String {
        self.system.describe_step(from, step, to)
    }
}

/// What a consequence search found: the first invariant it saw break, and
/// the steps that lead there.
struct Predicted {
    property: String,
    steps: Vec<String>,
}

/// Searches `view` to `depth` events (at most `states` states) for an
/// invariant that breaks; also returns the states visited.
fn search<N: Node>(
    model: &Consequences<'_, N>,
    view: GlobalState<N>,
    depth: usize,
    states: u64,
) -> (Option<Predicted>, u64) {
    let report = Explorer::new(model)
        .threads(1)
        .max_depth(depth)
        .max_states(states)
        .start_from(vec![view])
        .run();
    let predicted = report.violations.into_iter().next().map(|f| Predicted {
        property: f.property,
        steps: f
            .trace
            .map(|t| t.steps.into_iter().map(|s| s.description).collect())
            .unwrap_or_default(),
    });
    (predicted, report.unique_states)
}

/// Steering for the runs of one system.
pub struct Steer<'a, N: Node> {
    system: &'a System<N>,
    filterable: Vec<String>,
    config: SteerConfig,
}

impl<'a, N: Node> Steer<'a, N> {
    /// Steering of `system` that may discard deliveries of the message
    /// kinds in `filterable` (the names [`message_kind`] gives: an enum
    /// variant's name). A kind belongs there only when the protocol already
    /// tolerates losing it (it is sent again, or its sender retries).
    pub fn new(
        system: &'a System<N>,
        filterable: impl IntoIterator<Item = impl Into<String>>,
        config: SteerConfig,
    ) -> Self {
        Steer {
            system,
            filterable: filterable.into_iter().map(Into::into).collect(),
            config,
        }
    }
}

impl<N: Node> Steering<N> for Steer<'_, N> {
    fn start(&self, _seed: u64) -> Box<dyn Steerer<N> + '_> {
        let n = self.system.nodes().len();
        Box::new(RunSteerer {
            steer: self,
            invariants: Model::properties(self.system)
                .into_iter()
                .filter(|p| p.expectation == Expectation::Always)
                .collect(),
            views: (0..n).map(|_| (0..n).map(|_| None).collect()).collect(),
            announced: (0..n).map(|_| Vec::new()).collect(),
            peers: vec![vec![None; n]; n],
            last: vec![None; n],
            versions: vec![(0, 0); n],
            tokens: vec![None; n],
            report: SteeringReport::default(),
        })
    }
}

/// One node's latest checkpoint of another, and when it was taken.
type Held<N> = Option<(NodeSlot<N>, Duration)>;

struct RunSteerer<'s, 'a, N: Node> {
    steer: &'s Steer<'a, N>,
    invariants: Vec<Property<System<N>>>,
    /// `views[i][j]`: node `i`'s latest checkpoint of node `j`.
    views: Vec<Vec<Held<N>>>,
    /// `announced[i]`: messages checkpoints told node `i` are on their way
    /// to it, in the order they were announced, with when they were sent.
    announced: Vec<Vec<(Envelope<N::Msg>, Duration)>>,
    /// `peers[i][j]`: node `i` has sent to node `j` since it last booted,
    /// and the version of its slot it last sent `j` as a checkpoint.
    peers: Vec<Vec<Option<u64>>>,
    /// When each node last sent checkpoints.
    last: Vec<Option<Duration>>,
    /// Per node: its slot's fingerprint and version (the version grows
    /// when the fingerprint changes).
    versions: Vec<(u64, u64)>,
    /// Per node: the bytes its budget holds, and when it was last filled.
    tokens: Vec<Option<(f64, Duration)>>,
    report: SteeringReport,
}

impl<N: Node> RunSteerer<'_, '_, N> {
    /// Node `node`'s view of the global state, with `own` as its own slot,
    /// the messages announced to it in flight, and the age of the oldest
    /// checkpoint in it.
    fn view(&self, node: NodeId, own: &NodeSlot<N>, now: Duration) -> (GlobalState<N>, Duration) {
        let system = self.steer.system;
        let mut oldest = Duration::ZERO;
        let nodes = (0..system.nodes().len())
            .map(|j| {
                if j == node.index() {
                    return own.clone();
                }
                match &self.views[node.index()][j] {
                    Some((slot, sent)) => {
                        oldest = oldest.max(now.saturating_sub(*sent));
                        slot.clone()
                    }
                    None => {
                        let id = NodeId::from(j);
                        NodeSlot {
                            state: system.nodes()[j].init(id, None),
                            timers: Vec::new(),
                            up: true,
                        }
                    }
                }
            })
            .collect();
        let mut network = InFlight::new(system.semantics().delivery);
        for (envelope, _) in &self.announced[node.index()] {
            network.send(envelope.clone());
        }
        let state = GlobalState {
            nodes,
            network,
            crashes: 0,
        };
        (state, oldest)
    }
}

impl<N: Node> RunSteerer<'_, '_, N> {
    /// Consequence prediction: whether, within the lookahead, the events
    /// that follow from `node`'s step lead its view `after` to a broken
    /// invariant that the same search from `before` (the step discarded)
    /// does not reach. The property, the predicted steps after the judged
    /// one, and how many steps ahead the violation lies.
    fn predict(
        &mut self,
        node: NodeId,
        before: GlobalState<N>,
        after: GlobalState<N>,
    ) -> Option<(String, Vec<String>, usize)> {
        let config = self.steer.config;
        if config.lookahead == 0 || self.invariants.is_empty() {
            return None;
        }
        let model = Consequences::new(self.steer.system, node, &self.invariants);
        self.report.searches += 1;
        let (found, states) = search(&model, after, config.lookahead, config.lookahead_states);
        self.report.search_states += states;
        let found = found?;
        // The same future without the step: a view already doomed (stale,
        // or the node's own timers lead there) does not blame it.
        let (without, states) = search(&model, before, config.lookahead, config.lookahead_states);
        self.report.searches += 1;
        self.report.search_states += states;
        if without.is_some_and(|w| w.property == found.property) {
            return None;
        }
        let depth = found.steps.len();
        Some((found.property, found.steps, depth))
    }
}

impl<N: Node> Steerer<N> for RunSteerer<'_, '_, N> {
    fn reviews(&self, msg: &N::Msg) -> bool {
        if self.steer.filterable.is_empty() {
            return false;
        }
        let kind = message_kind(msg);
        self.steer.filterable.contains(&kind)
    }

    fn arriving(&mut self, node: NodeId, from: NodeId, msg: &N::Msg) {
        let announced = &mut self.announced[node.index()];
        if let Some(i) = announced
            .iter()
            .position(|(e, _)| e.src == from && e.msg == *msg)
        {
            announced.remove(i);
        }
    }

    fn review(&mut self, review: &Review<'_, N>) -> Verdict {
        self.report.reviewed += 1;
        let system = self.steer.system;
        let (before, oldest) = self.view(review.node, review.before, review.now);
        let mut after = before.clone();
        after.nodes[review.node.index()].state = review.after.clone();
        for (to, msg) in review.sends {
            after.network.send(Envelope {
                src: review.node,
                dst: *to,
                msg: msg.clone(),
            });
        }
        let delivered = format!(
            "{} delivers {:?} from {}",
            review.node, review.msg, review.from
        );
        let (property, trace, depth) = if let Some(broken) = self
            .invariants
            .iter()
            .find(|p| !p.holds(system, &after) && p.holds(system, &before))
        {
            let why = format!(
                "{delivered}: `{}` holds on its view before and fails after",
                broken.name
            );
            (broken.name.clone(), vec![why], 0)
        } else {
            match self.predict(review.node, before, after) {
                Some((property, predicted, depth)) => {
                    let mut steps = vec![format!("{delivered}; then, predicted:")];
                    steps.extend(predicted);
                    (property, steps, depth)
                }
                None => return Verdict::Commit,
            }
        };
        self.report.discarded += 1;
        if depth > 0 {
            self.report.predicted += 1;
        }
        if self.report.actions.len() < ACTIONS_KEPT {
            self.report.actions.push(SteeringAction {
                node: review.node,
                at: review.now,
                from: review.from,
                msg: format!("{:?}", review.msg),
                property,
                trace,
                depth,
                oldest_checkpoint: oldest,
            });
        }
        Verdict::Discard
    }

    fn after_handler(
        &mut self,
        node: NodeId,
        slot: &NodeSlot<N>,
        now: Duration,
        sends: &[(NodeId, N::Msg)],
        checkpoint_to: &mut Vec<NodeId>,
    ) {
        let i = node.index();
        for (to, _) in sends {
            if let Some(peer @ None) = self.peers[i].get_mut(to.index()) {
                // A new peer: it has no version yet (versions start at 1).
                *peer = Some(0);
            }
        }
        let fingerprint = FixedState::with_seed(0).hash_one(slot);
        let (last_fingerprint, version) = &mut self.versions[i];
        if *version == 0 || *last_fingerprint != fingerprint {
            *last_fingerprint = fingerprint;
            *version += 1;
        }
        let version = *version;
        let budget = self.steer.config.budget;
        let mut tokens = budget.map(|b| {
            let own: usize = sends.iter().map(|(_, m)| encoded_size(m)).sum();
            let (held, filled) = self.tokens[i].unwrap_or((b.bytes_per_sec, now));
            let refill = now.saturating_sub(filled).as_secs_f64() * b.bytes_per_sec;
            // The fixed rate fills up to one second's worth; the share of
            // the node's traffic adds to that, up to ten seconds' worth.
            let fixed = (held + refill).min(b.bytes_per_sec.max(held));
            (fixed + b.share * own as f64).min(10.0 * b.bytes_per_sec.max(1.0))
        });
        let due = self.last[i]
            .is_none_or(|last| now.saturating_sub(last) >= self.steer.config.checkpoint_every);
        let before = checkpoint_to.len();
        if due {
            let slot_bytes = encoded_size(slot);
            for (j, peer) in self.peers[i].iter_mut().enumerate() {
                if j != i
                    && let Some(sent) = peer
                    && *sent != version
                {
                    if let Some(held) = &mut tokens {
                        let ahead: usize = sends
                            .iter()
                            .filter(|(to, _)| to.index() == j)
                            .map(|(_, m)| encoded_size(m))
                            .sum();
                        let cost = (slot_bytes + ahead) as f64;
                        if *held < cost {
                            // Not now: this peer gets the next one the
                            // budget pays for.
                            self.report.checkpoints_deferred += 1;
                            continue;
                        }
                        *held -= cost;
                    }
                    *sent = version;
                    checkpoint_to.push(NodeId::from(j));
                }
            }
        }
        if checkpoint_to.len() > before {
            self.last[i] = Some(now);
        }
        if let Some(held) = tokens {
            self.tokens[i] = Some((held, now));
        }
    }

    fn checkpoint(
        &mut self,
        node: NodeId,
        from: NodeId,
        slot: NodeSlot<N>,
        ahead: Vec<N::Msg>,
        sent: Duration,
        now: Duration,
    ) {
        let held = &mut self.views[node.index()][from.index()];
        if held.as_ref().is_none_or(|(_, at)| *at <= sent) {
            *held = Some((slot, sent));
        }
        let announced = &mut self.announced[node.index()];
        // An announced message the network lost never arrives: forget
        // what is older than any delivery could be.
        announced.retain(|(_, at)| now.saturating_sub(*at) < ANNOUNCED_FOR);
        announced.extend(ahead.into_iter().map(|msg| {
            let envelope = Envelope {
                src: from,
                dst: node,
                msg,
            };
            (envelope, sent)
        }));
    }

    fn crashed(&mut self, node: NodeId) {
        let i = node.index();
        self.views[i].iter_mut().for_each(|held| *held = None);
        self.announced[i].clear();
        self.peers[i].iter_mut().for_each(|peer| *peer = None);
        self.last[i] = None;
        self.versions[i] = (0, 0);
    }

    fn report(&mut self) -> SteeringReport {
        std::mem::take(&mut self.report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Ctx;
    use crate::sim::steer::Steering;
    use serde::{Deserialize, Serialize};

    /// Node 0, handed `Go`, tells node 1 to `Set` its flag (so does node
    /// 0's timer); the invariant: nodes 1 and 2 never both have theirs.
    #[derive(Clone)]
    struct Relay;

    #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
    enum Msg {
        Go,
        Set,
    }

    impl Node for Relay {
        type State = bool;
        type Msg = Msg;
        type Timer = ();
        type Durable = ();
        fn init(&self, _: NodeId, _: Option<()>) -> bool {
            false
        }
        fn on_message(&self, flag: &mut bool, ctx: &mut Ctx<'_, Self>, _: NodeId, msg: Msg) {
            match msg {
                Msg::Go => ctx.send(NodeId(1), Msg::Set),
                Msg::Set => *flag = true,
            }
        }
        fn on_timer(&self, _: &mut bool, ctx: &mut Ctx<'_, Self>, _: ()) {
            ctx.send(NodeId(1), Msg::Set);
        }
        fn durable(&self, _: &bool) {}
    }

    fn relay() -> System<Relay> {
        System::new("relay", vec![Relay; 3])
            .network(crate::model::NetworkSemantics {
                delivery: crate::model::Delivery::Fifo,
                lossy: false,
            })
            .always("not both flags", |_, s| {
                !(*s.node(NodeId(1)) && *s.node(NodeId(2)))
            })
    }

    fn slot(flag: bool, timers: Vec<()>) -> NodeSlot<Relay> {
        NodeSlot {
            state: flag,
            timers,
            up: true,
        }
    }

    /// Node 0 reviews a `Go` whose handler sends `Set` to node 1, having
    /// (or not) node 2's checkpoint that says its flag is up, with (or
    /// without) a pending timer of its own.
    fn review(lookahead: usize, informed: bool, timer: bool) -> (Verdict, SteeringReport) {
        let system = relay();
        let config = SteerConfig {
            lookahead,
            ..SteerConfig::default()
        };
        let steer = Steer::new(&system, ["Go"], config);
        let mut steerer = steer.start(0);
        assert!(steerer.reviews(&Msg::Go) && !steerer.reviews(&Msg::Set));
        if informed {
            let ms = Duration::from_millis;
            steerer.checkpoint(
                NodeId(0),
                NodeId(2),
                slot(true, vec![]),
                vec![],
                ms(1),
                ms(2),
            );
        }
        let before = slot(false, if timer { vec![()] } else { vec![] });
        let verdict = steerer.review(&Review {
            node: NodeId(0),
            now: Duration::from_millis(3),
            from: NodeId(2),
            msg: &Msg::Go,
            before: &before,
            after: &false,
            sends: &[(NodeId(1), Msg::Set)],
        });
        (verdict, steerer.report())
    }

    #[test]
    fn the_consequence_search_vetoes_a_step_whose_sends_break_an_invariant_later() {
        // The step itself breaks nothing: the immediate check lets it pass.
        assert_eq!(review(0, true, false).0, Verdict::Commit);
        // One event later node 1 handles the `Set`: predicted, discarded.
        let (verdict, report) = review(2, true, false);
        assert_eq!(verdict, Verdict::Discard);
        assert_eq!((report.discarded, report.predicted), (1, 1));
        let action = &report.actions[0];
        assert_eq!(action.property, "not both flags");
        assert_eq!(action.depth, 1);
        assert_eq!(action.trace.len(), 2, "{:?}", action.trace);
        assert!(action.trace[0].starts_with("n0 delivers Go from n2"));
        assert!(action.trace[1].contains("Set"), "{:?}", action.trace);
        assert!(report.searches == 2 && report.search_states >= 2);
    }

    #[test]
    fn the_search_sees_only_what_checkpoints_told_and_blames_only_the_step() {
        // Without node 2's checkpoint, node 2 is at its boot state: nothing
        // to predict.
        assert_eq!(review(2, false, false).0, Verdict::Commit);
        // With a timer of node 0's own that sends the same `Set`, the
        // future breaks the invariant whether or not the step is taken:
        // discarding it would avoid nothing.
        let (verdict, report) = review(2, true, true);
        assert_eq!(verdict, Verdict::Commit);
        assert_eq!((report.discarded, report.searches), (0, 2));
    }

    #[test]
    fn announced_messages_are_in_flight_in_the_view_until_they_arrive() {
        let system = relay();
        let steer = Steer::new(&system, ["Go"], SteerConfig::default());
        let mut steerer = RunSteerer {
            steer: &steer,
            invariants: Vec::new(),
            views: vec![vec![None; 3]; 3],
            announced: vec![Vec::new(); 3],
            peers: vec![vec![None; 3]; 3],
            last: vec![None; 3],
            versions: vec![(0, 0); 3],
            tokens: vec![None; 3],
            report: SteeringReport::default(),
        };
        let ms = Duration::from_millis;
        let ahead = vec![Msg::Set, Msg::Go];
        steerer.checkpoint(
            NodeId(1),
            NodeId(0),
            slot(false, vec![]),
            ahead,
            ms(1),
            ms(2),
        );
        let in_flight = |s: &RunSteerer<'_, '_, Relay>| {
            let (view, _) = s.view(NodeId(1), &slot(false, vec![]), ms(3));
            view.network.deliverable().len()
        };
        // FIFO per link: the view holds both, in order, the first deliverable.
        assert_eq!(steerer.announced[1].len(), 2);
        assert_eq!(in_flight(&steerer), 1);
        steerer.arriving(NodeId(1), NodeId(0), &Msg::Set);
        assert_eq!(steerer.announced[1].len(), 1);
        steerer.arriving(NodeId(1), NodeId(0), &Msg::Go);
        assert_eq!(in_flight(&steerer), 0);
        // A crash forgets them.
        steerer.checkpoint(
            NodeId(1),
            NodeId(0),
            slot(false, vec![]),
            vec![Msg::Set],
            ms(4),
            ms(5),
        );
        steerer.crashed(NodeId(1));
        assert_eq!(in_flight(&steerer), 0);
    }
}
