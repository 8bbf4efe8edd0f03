//! A system: nodes, network semantics, faults, properties and objectives,
//! bundled as one [`Model`] the explorer can check.
//!
//! This module owns the explorer's view of a node system: the global state
//! ([`GlobalState`]: every node's state and pending timers plus the messages in
//! flight), the events that move it ([`Event`]), and the branching on `choose`
//! (a handler runs once per combination of choice outcomes, each a separate
//! successor). It does not know about time: timed execution is the
//! simulator's.

use std::collections::hash_map::DefaultHasher;
use std::fmt::{self, Debug};
use std::hash::{Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crate::model::context::{ChoiceRequest, Chooser, Ctx, Effects, TimerOp};
use crate::model::core::{Model, Property, StepError};
use crate::model::network::{Envelope, InFlight, NetworkSemantics};
use crate::model::node::{Node, NodeId};
use crate::model::objective::{Constraint, Objective};
use crate::model::rename::Rename;

/// The input a handler runs on.
pub enum Input<N: Node> {
    /// Boot (first start or restart).
    Start,
    /// A message from a node.
    Message(NodeId, N::Msg),
    /// A timer that fired.
    Timer(N::Timer),
}

impl<N: Node> Clone for Input<N> {
    fn clone(&self) -> Self {
        match self {
            Input::Start => Input::Start,
            Input::Message(from, msg) => Input::Message(*from, msg.clone()),
            Input::Timer(t) => Input::Timer(t.clone()),
        }
    }
}

impl<N: Node> Debug for Input<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Start => write!(f, "start"),
            Input::Message(from, msg) => write!(f, "{msg:?} from {from}"),
            Input::Timer(t) => write!(f, "timer {t:?}"),
        }
    }
}

/// Runs one handler of node `id` of `system` on `state`, collecting its
/// effects into `effects` and resolving choices through `chooser` (a
/// `choose` whose name the system does not declare panics). Every executor
/// calls this, so a node behaves identically everywhere.
pub fn execute<N: Node>(
    system: &System<N>,
    id: NodeId,
    state: &mut N::State,
    input: Input<N>,
    effects: &mut Effects<N>,
    chooser: &mut dyn Chooser,
) {
    let node = &system.nodes[id.index()];
    let mut ctx = Ctx::new(
        id,
        system.nodes.len(),
        effects,
        chooser,
        system.declared_choices(),
    );
    match input {
        Input::Start => node.on_start(state, &mut ctx),
        Input::Message(from, msg) => node.on_message(state, &mut ctx, from, msg),
        Input::Timer(timer) => node.on_timer(state, &mut ctx, timer),
    }
}

/// One node's part of the global state.
pub struct NodeSlot<N: Node> {
    /// The node's state. For a crashed node: the state `init` rebuilds from
    /// its durable part, which is what it restarts with.
    pub state: N::State,
    /// Pending timers, sorted and without duplicates.
    pub timers: Vec<N::Timer>,
    /// Whether the node is running.
    pub up: bool,
}

impl<N: Node> Clone for NodeSlot<N> {
    fn clone(&self) -> Self {
        NodeSlot {
            state: self.state.clone(),
            timers: self.timers.clone(),
            up: self.up,
        }
    }
}
impl<N: Node> PartialEq for NodeSlot<N> {
    fn eq(&self, other: &Self) -> bool {
        self.up == other.up && self.timers == other.timers && self.state == other.state
    }
}
impl<N: Node> Eq for NodeSlot<N> {}
impl<N: Node> Hash for NodeSlot<N> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.state.hash(h);
        self.timers.hash(h);
        self.up.hash(h);
    }
}
impl<N: Node> Debug for NodeSlot<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.up {
            write!(f, "DOWN ")?;
        }
        write!(f, "{:?}", self.state)?;
        if !self.timers.is_empty() {
            write!(f, " timers={:?}", self.timers)?;
        }
        Ok(())
    }
}

/// The global state of a node system: what invariants are evaluated on and
/// what executors can start from.
pub struct GlobalState<N: Node> {
    /// Per-node slots, indexed by [`NodeId`].
    pub nodes: Vec<NodeSlot<N>>,
    /// Messages in flight.
    pub network: InFlight<N::Msg>,
    /// Crashes injected so far (bounded by the system's fault budget).
    pub crashes: u32,
}

impl<N: Node> Clone for GlobalState<N> {
    fn clone(&self) -> Self {
        GlobalState {
            nodes: self.nodes.clone(),
            network: self.network.clone(),
            crashes: self.crashes,
        }
    }
}
impl<N: Node> PartialEq for GlobalState<N> {
    fn eq(&self, other: &Self) -> bool {
        self.crashes == other.crashes && self.nodes == other.nodes && self.network == other.network
    }
}
impl<N: Node> Eq for GlobalState<N> {}
impl<N: Node> Hash for GlobalState<N> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.nodes.hash(h);
        self.network.hash(h);
        self.crashes.hash(h);
    }
}
impl<N: Node> Debug for GlobalState<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("GlobalState");
        for (i, slot) in self.nodes.iter().enumerate() {
            s.field(&format!("n{i}"), slot);
        }
        s.field("in_flight", &self.network.iter().collect::<Vec<_>>())
            .finish()
    }
}

impl<N: Node> GlobalState<N> {
    /// The state of node `id`.
    pub fn node(&self, id: NodeId) -> &N::State {
        &self.nodes[id.index()].state
    }

    /// Whether node `id` is running.
    pub fn is_up(&self, id: NodeId) -> bool {
        self.nodes[id.index()].up
    }

    /// Every node's id and state.
    pub fn states(&self) -> impl Iterator<Item = (NodeId, &N::State)> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, s)| (NodeId::from(i), &s.state))
    }

    /// Every message in flight with its multiplicity.
    pub fn in_flight(&self) -> impl Iterator<Item = (Envelope<N::Msg>, u32)> + '_ {
        self.network.iter()
    }
}

/// An event the explorer can schedule.
pub enum Event<N: Node> {
    /// `dst` handles `msg` from `src`.
    Deliver(Envelope<N::Msg>),
    /// The network loses `msg` (lossy systems only).
    Lose(Envelope<N::Msg>),
    /// `node`'s pending `timer` fires.
    Timer(NodeId, N::Timer),
    /// `node` crashes: volatile state and timers are lost, durable state kept.
    Crash(NodeId),
    /// A crashed `node` restarts from its durable state.
    Restart(NodeId),
}

impl<N: Node> Clone for Event<N> {
    fn clone(&self) -> Self {
        match self {
            Event::Deliver(e) => Event::Deliver(e.clone()),
            Event::Lose(e) => Event::Lose(e.clone()),
            Event::Timer(n, t) => Event::Timer(*n, t.clone()),
            Event::Crash(n) => Event::Crash(*n),
            Event::Restart(n) => Event::Restart(*n),
        }
    }
}

impl<N: Node> PartialEq for Event<N> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Event::Deliver(a), Event::Deliver(b)) | (Event::Lose(a), Event::Lose(b)) => a == b,
            (Event::Timer(n, t), Event::Timer(m, u)) => n == m && t == u,
            (Event::Crash(n), Event::Crash(m)) | (Event::Restart(n), Event::Restart(m)) => n == m,
            _ => false,
        }
    }
}
impl<N: Node> Eq for Event<N> {}

impl<N: Node> Hash for Event<N> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        std::mem::discriminant(self).hash(h);
        match self {
            Event::Deliver(e) | Event::Lose(e) => e.hash(h),
            Event::Timer(n, t) => {
                n.hash(h);
                t.hash(h);
            }
            Event::Crash(n) | Event::Restart(n) => n.hash(h),
        }
    }
}

impl<N: Node> Debug for Event<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Deliver(e) => write!(f, "{} handles {:?} from {}", e.dst, e.msg, e.src),
            Event::Lose(e) => write!(f, "network loses {:?} from {} to {}", e.msg, e.src, e.dst),
            Event::Timer(n, t) => write!(f, "{n} handles timer {t:?}"),
            Event::Crash(n) => write!(f, "{n} crashes"),
            Event::Restart(n) => write!(f, "{n} restarts"),
        }
    }
}

/// An explorer step: an event plus the outcome of every `choose` the handler
/// made, in call order (indices into the candidate lists).
pub struct Step<N: Node> {
    /// What happened.
    pub event: Event<N>,
    /// Outcome of each `choose`, in call order.
    pub choices: Vec<usize>,
}

impl<N: Node> Clone for Step<N> {
    fn clone(&self) -> Self {
        Step {
            event: self.event.clone(),
            choices: self.choices.clone(),
        }
    }
}
impl<N: Node> PartialEq for Step<N> {
    fn eq(&self, other: &Self) -> bool {
        self.event == other.event && self.choices == other.choices
    }
}
impl<N: Node> Eq for Step<N> {}
impl<N: Node> Hash for Step<N> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.event.hash(h);
        self.choices.hash(h);
    }
}

impl<N: Node> Debug for Step<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.event)?;
        if !self.choices.is_empty() {
            write!(f, " with choices {:?}", self.choices)?;
        }
        Ok(())
    }
}

/// How often the explorer re-runs a handler to check it is deterministic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeterminismCheck {
    /// Never (fastest; replay still catches some divergence).
    Off,
    /// On every handler execution (doubles handler cost).
    Always,
    /// On the executions whose state fingerprint is divisible by `k`; the
    /// sample is the same from run to run.
    Sampled(u64),
}

type Canonicalizer<N> = Arc<dyn Fn(&GlobalState<N>) -> GlobalState<N> + Send + Sync>;

/// A node system: the nodes, their network and faults, and what must hold.
pub struct System<N: Node> {
    name: String,
    nodes: Vec<N>,
    semantics: NetworkSemantics,
    max_crashes: u32,
    crashable: Vec<bool>,
    properties: Vec<Property<System<N>>>,
    objectives: Vec<Objective>,
    constraints: Vec<Constraint>,
    symmetry: Option<Canonicalizer<N>>,
    determinism: DeterminismCheck,
    choices: Option<Vec<&'static str>>,
}

impl<N: Node> System<N> {
    /// A system of `nodes` (node `i` gets id `i`) with a non-duplicating,
    /// unordered, reliable network and no crashes.
    pub fn new(name: impl Into<String>, nodes: Vec<N>) -> Self {
        let count = nodes.len();
        System {
            name: name.into(),
            nodes,
            semantics: NetworkSemantics::default(),
            max_crashes: 0,
            crashable: vec![false; count],
            properties: Vec::new(),
            objectives: Vec::new(),
            constraints: Vec::new(),
            symmetry: None,
            determinism: DeterminismCheck::Sampled(8),
            choices: None,
        }
    }

    /// Declares the names the nodes may pass to `choose`; every executor
    /// then refuses any other name (the handler panics, which each reports).
    /// The registry declares a protocol's described choices this way.
    pub fn declare_choices(mut self, names: Vec<&'static str>) -> Self {
        self.choices = Some(names);
        self
    }

    /// The declared choice names (`None`: not declared, any name goes).
    pub fn declared_choices(&self) -> Option<&[&'static str]> {
        self.choices.as_deref()
    }

    /// Sets the network semantics.
    pub fn network(mut self, semantics: NetworkSemantics) -> Self {
        self.semantics = semantics;
        self
    }

    /// Allows up to `max_crashes` crashes in total, of the nodes in `crashable`.
    /// A crashed node may restart at any later point.
    pub fn crashes(
        mut self,
        max_crashes: u32,
        crashable: impl IntoIterator<Item = NodeId>,
    ) -> Self {
        self.max_crashes = max_crashes;
        self.crashable = vec![false; self.nodes.len()];
        for id in crashable {
            self.crashable[id.index()] = true;
        }
        self
    }

    /// Adds a property.
    pub fn property(mut self, property: Property<System<N>>) -> Self {
        self.properties.push(property);
        self
    }

    /// Adds a safety invariant over the global state.
    pub fn always(
        self,
        name: impl Into<String>,
        condition: impl Fn(&System<N>, &GlobalState<N>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.property(Property::always(name, condition))
    }

    /// Adds a reachability property.
    pub fn sometimes(
        self,
        name: impl Into<String>,
        condition: impl Fn(&System<N>, &GlobalState<N>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.property(Property::sometimes(name, condition))
    }

    /// Adds a liveness property.
    pub fn eventually(
        self,
        name: impl Into<String>,
        condition: impl Fn(&System<N>, &GlobalState<N>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.property(Property::eventually(name, condition))
    }

    /// Declares an objective (measured by the simulator and the runtime).
    pub fn objective(mut self, objective: Objective) -> Self {
        self.objectives.push(objective);
        self
    }

    /// Declares a constraint (measured by the simulator and the runtime).
    pub fn constraint(mut self, constraint: Constraint) -> Self {
        self.constraints.push(constraint);
        self
    }

    /// Sets how often handlers are re-run to detect nondeterminism.
    pub fn determinism_check(mut self, check: DeterminismCheck) -> Self {
        self.determinism = check;
        self
    }

    /// The system's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node configurations, indexed by id.
    pub fn nodes(&self) -> &[N] {
        &self.nodes
    }

    /// The network semantics.
    pub fn semantics(&self) -> NetworkSemantics {
        self.semantics
    }

    /// The crash budget and which nodes may crash.
    pub fn crash_budget(&self) -> (u32, &[bool]) {
        (self.max_crashes, &self.crashable)
    }

    /// The declared objectives.
    pub fn objectives(&self) -> &[Objective] {
        &self.objectives
    }

    /// The declared constraints.
    pub fn constraints(&self) -> &[Constraint] {
        &self.constraints
    }

    /// The global state before any node has started: every node `init`ed.
    pub fn boot_state(&self) -> GlobalState<N> {
        GlobalState {
            nodes: self
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| NodeSlot {
                    state: n.init(NodeId::from(i), None),
                    timers: Vec::new(),
                    up: true,
                })
                .collect(),
            network: InFlight::new(self.semantics.delivery),
            crashes: 0,
        }
    }

    /// Runs one input at node `id` with the given choice script, applying the
    /// effects to `state`. Shared by successor generation and replay.
    fn run_input(
        &self,
        state: &mut GlobalState<N>,
        id: NodeId,
        input: Input<N>,
        chooser: &mut ScriptChooser,
        effects: &mut Effects<N>,
    ) -> Result<(), StepError> {
        let slot = &mut state.nodes[id.index()];
        let count = self.nodes.len();
        let mut local = slot.state.clone();
        effects.clear();
        let ran = catch_unwind(AssertUnwindSafe(|| {
            execute(self, id, &mut local, input.clone(), effects, chooser)
        }));
        if let Err(payload) = ran {
            return Err(StepError::Panic {
                message: panic_message(&payload),
            });
        }
        if let Some(detail) = chooser.divergence.take() {
            return Err(StepError::Nondeterministic {
                detail: format!("{id} on {input:?}: {detail}"),
            });
        }
        if self.should_check_determinism(&slot.state) {
            let mut again_state = slot.state.clone();
            let mut again_effects = Effects::default();
            let mut replay = ScriptChooser::replaying(&chooser.script);
            let ran = catch_unwind(AssertUnwindSafe(|| {
                execute(
                    self,
                    id,
                    &mut again_state,
                    input.clone(),
                    &mut again_effects,
                    &mut replay,
                )
            }));
            let same = ran.is_ok()
                && replay.divergence.is_none()
                && again_state == local
                && again_effects.sends == effects.sends
                && again_effects.timers == effects.timers
                && again_effects.decisions == effects.decisions;
            if !same {
                return Err(StepError::Nondeterministic {
                    detail: format!(
                        "{id} on {input:?} gave different results when run twice with the same \
                         state and choices (first: {local:?}, second: {again_state:?})"
                    ),
                });
            }
        }
        slot.state = local;
        for (to, msg) in effects.sends.drain(..) {
            if to.index() >= count {
                return Err(StepError::Panic {
                    message: format!("{id} sent {msg:?} to {to}, but the system has {count} nodes"),
                });
            }
            state.network.send(Envelope {
                src: id,
                dst: to,
                msg,
            });
        }
        let timers = &mut state.nodes[id.index()].timers;
        for op in effects.timers.drain(..) {
            match op {
                TimerOp::Set { timer, .. } => {
                    if let Err(at) = timers.binary_search(&timer) {
                        timers.insert(at, timer);
                    }
                }
                TimerOp::Cancel(timer) => {
                    if let Ok(at) = timers.binary_search(&timer) {
                        timers.remove(at);
                    }
                }
            }
        }
        Ok(())
    }

    fn should_check_determinism(&self, state: &N::State) -> bool {
        match self.determinism {
            DeterminismCheck::Off => false,
            DeterminismCheck::Always => true,
            DeterminismCheck::Sampled(k) => {
                let mut h = DefaultHasher::new();
                state.hash(&mut h);
                h.finish().is_multiple_of(k.max(1))
            }
        }
    }

    /// The events enabled in `state`, in a fixed order.
    pub fn events(&self, state: &GlobalState<N>) -> Vec<Event<N>> {
        let mut events = Vec::new();
        let duplicating = matches!(state.network, InFlight::Set(_));
        for envelope in state.network.deliverable() {
            let dst_up = state.nodes[envelope.dst.index()].up;
            // Delivering a kept copy to a crashed node changes nothing.
            if dst_up || !duplicating {
                events.push(Event::Deliver(envelope.clone()));
            }
            if self.semantics.lossy {
                events.push(Event::Lose(envelope));
            }
        }
        for (i, slot) in state.nodes.iter().enumerate() {
            let id = NodeId::from(i);
            if slot.up {
                for timer in &slot.timers {
                    events.push(Event::Timer(id, timer.clone()));
                }
                if self.crashable[i] && state.crashes < self.max_crashes {
                    events.push(Event::Crash(id));
                }
            } else {
                events.push(Event::Restart(id));
            }
        }
        events
    }

    /// Applies `event` with the given choice script. Returns the new state,
    /// the effects of the handler (if one ran) and the choice counts seen.
    fn apply(
        &self,
        state: &GlobalState<N>,
        event: &Event<N>,
        chooser: &mut ScriptChooser,
        effects: &mut Effects<N>,
    ) -> Result<GlobalState<N>, StepError> {
        let mut next = state.clone();
        effects.clear();
        match event {
            Event::Deliver(envelope) => {
                if !next.network.deliver(envelope) {
                    return Err(StepError::Nondeterministic {
                        detail: format!(
                            "replayed delivery of {envelope:?}, which is not in flight"
                        ),
                    });
                }
                if next.nodes[envelope.dst.index()].up {
                    let input = Input::Message(envelope.src, envelope.msg.clone());
                    self.run_input(&mut next, envelope.dst, input, chooser, effects)?;
                }
            }
            Event::Lose(envelope) => {
                next.network.lose(envelope);
            }
            Event::Timer(id, timer) => {
                let timers = &mut next.nodes[id.index()].timers;
                if let Ok(at) = timers.binary_search(timer) {
                    timers.remove(at);
                }
                self.run_input(
                    &mut next,
                    *id,
                    Input::Timer(timer.clone()),
                    chooser,
                    effects,
                )?;
            }
            Event::Crash(id) => {
                let node = &self.nodes[id.index()];
                let slot = &mut next.nodes[id.index()];
                let durable = node.durable(&slot.state);
                slot.state = node.init(*id, Some(durable));
                slot.timers.clear();
                slot.up = false;
                next.crashes += 1;
            }
            Event::Restart(id) => {
                next.nodes[id.index()].up = true;
                self.run_input(&mut next, *id, Input::Start, chooser, effects)?;
            }
        }
        Ok(next)
    }

    /// Runs every node's `on_start` from `boot`, branching on choices.
    fn start_all(&self, boot: GlobalState<N>) -> Result<Vec<GlobalState<N>>, StepError> {
        let mut states = vec![boot];
        let mut effects = Effects::default();
        for i in 0..self.nodes.len() {
            let id = NodeId::from(i);
            let mut started = Vec::new();
            for state in &states {
                for_each_branch(|chooser| {
                    let mut next = state.clone();
                    self.run_input(&mut next, id, Input::Start, chooser, &mut effects)?;
                    started.push(next);
                    Ok(())
                })?;
            }
            states = started;
        }
        Ok(states)
    }
}

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

/// Replays a fixed prefix of choice outcomes, then picks 0 at each new choice
/// point while recording how many candidates it had. The explorer walks the
/// tree of outcomes with it, one handler execution per leaf.
#[derive(Debug, Default)]
pub struct ScriptChooser {
    script: Vec<usize>,
    counts: Vec<usize>,
    pos: usize,
    divergence: Option<String>,
}

impl ScriptChooser {
    /// A chooser that replays `script` exactly (used for replaying a step).
    pub fn replaying(script: &[usize]) -> Self {
        ScriptChooser {
            script: script.to_vec(),
            counts: Vec::new(),
            pos: 0,
            divergence: None,
        }
    }

    /// The outcomes taken, in call order.
    pub fn script(&self) -> &[usize] {
        &self.script
    }

    fn rewind(&mut self) {
        self.pos = 0;
        self.divergence = None;
    }

    /// Moves to the next leaf of the outcome tree; `false` when done.
    fn advance(&mut self) -> bool {
        self.script.truncate(self.pos);
        self.counts.truncate(self.pos);
        while let Some(&last) = self.script.last() {
            let at = self.script.len() - 1;
            if last + 1 < self.counts[at] {
                self.script[at] = last + 1;
                return true;
            }
            self.script.pop();
            self.counts.pop();
        }
        false
    }
}

impl Chooser for ScriptChooser {
    fn choose(&mut self, request: &ChoiceRequest<'_>) -> usize {
        let (name, candidates) = (request.name, request.candidates());
        let pos = self.pos;
        self.pos += 1;
        if pos < self.script.len() {
            if let Some(&expected) = self.counts.get(pos)
                && expected != candidates
                && self.divergence.is_none()
            {
                self.divergence = Some(format!(
                    "choice \"{name}\" had {expected} candidates and then {candidates} on the same inputs"
                ));
            }
            if self.counts.len() <= pos {
                self.counts.push(candidates);
            }
            // A replayed script may name an outcome the handler no longer offers.
            self.script[pos].min(candidates - 1)
        } else {
            self.script.push(0);
            self.counts.push(candidates);
            0
        }
    }
}

/// Calls `run` once per leaf of the choice tree of a handler execution.
fn for_each_branch(
    mut run: impl FnMut(&mut ScriptChooser) -> Result<(), StepError>,
) -> Result<(), StepError> {
    let mut chooser = ScriptChooser::default();
    loop {
        chooser.rewind();
        run(&mut chooser)?;
        if !chooser.advance() {
            return Ok(());
        }
    }
}

fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

impl<N: Node> Model for System<N> {
    type State = GlobalState<N>;
    type Action = Step<N>;

    fn init_states(&self) -> Vec<GlobalState<N>> {
        match self.start_all(self.boot_state()) {
            Ok(states) => states,
            // The trait has no error channel for initial states; the
            // explorer catches this panic and reports it as a finding.
            Err(error) => panic!("on_start failed: {error}"),
        }
    }

    fn actions(&self, state: &GlobalState<N>, actions: &mut Vec<Step<N>>) {
        let mut out = Vec::new();
        // Enumerating choice outcomes needs the handlers to run.
        let _ = self.successors(state, &mut out);
        actions.extend(out.into_iter().map(|(a, _)| a));
    }

    fn next_state(
        &self,
        state: &GlobalState<N>,
        step: &Step<N>,
    ) -> Result<Option<GlobalState<N>>, StepError> {
        let mut chooser = ScriptChooser::replaying(&step.choices);
        let mut effects = Effects::default();
        let next = self.apply(state, &step.event, &mut chooser, &mut effects)?;
        if chooser.script.len() != step.choices.len() || chooser.pos != step.choices.len() {
            return Err(StepError::Nondeterministic {
                detail: format!(
                    "replaying {step:?} made {} choices instead of {}",
                    chooser.pos,
                    step.choices.len()
                ),
            });
        }
        Ok(Some(next))
    }

    fn successors(
        &self,
        state: &GlobalState<N>,
        out: &mut Vec<(Step<N>, GlobalState<N>)>,
    ) -> Result<(), (Step<N>, StepError)> {
        let mut effects = Effects::default();
        for event in self.events(state) {
            let mut last_script = Vec::new();
            let result = for_each_branch(|chooser| {
                last_script = chooser.script.clone();
                let next = self.apply(state, &event, chooser, &mut effects)?;
                let choices = chooser.script[..chooser.pos].to_vec();
                out.push((
                    Step {
                        event: event.clone(),
                        choices,
                    },
                    next,
                ));
                Ok(())
            });
            if let Err(error) = result {
                return Err((
                    Step {
                        event,
                        choices: last_script,
                    },
                    error,
                ));
            }
        }
        Ok(())
    }

    fn properties(&self) -> Vec<Property<Self>> {
        self.properties.clone()
    }

    fn representative(&self, state: &GlobalState<N>) -> Option<GlobalState<N>> {
        self.symmetry.as_ref().map(|canon| canon(state))
    }

    fn describe_step(&self, from: &GlobalState<N>, step: &Step<N>, to: &GlobalState<N>) -> String {
        let mut line = format!("{step:?}");
        let (id, input) = match &step.event {
            Event::Deliver(e) if from.is_up(e.dst) => (e.dst, Input::Message(e.src, e.msg.clone())),
            Event::Deliver(e) => return format!("{line} (discarded: {} is down)", e.dst),
            Event::Timer(n, t) => (*n, Input::Timer(t.clone())),
            Event::Restart(n) => (*n, Input::Start),
            Event::Crash(n) => return format!("{line} → {n} state {:?}", to.node(*n)),
            Event::Lose(_) => return line,
        };
        if from.node(id) != to.node(id) {
            line.push_str(&format!(" → {id} state {:?}", to.node(id)));
        }
        // Re-run the handler to list what it sent: the network diff alone
        // cannot tell a new copy from an old one in a duplicating network.
        let mut local = from.node(id).clone();
        let mut effects = Effects::default();
        let mut chooser = ScriptChooser::replaying(&step.choices);
        let ran = catch_unwind(AssertUnwindSafe(|| {
            execute(self, id, &mut local, input, &mut effects, &mut chooser)
        }));
        if ran.is_ok() && !effects.sends.is_empty() {
            let sent: Vec<String> = effects
                .sends
                .iter()
                .map(|(to, m)| format!("{to} ← {m:?}"))
                .collect();
            line.push_str(&format!("; sends {}", sent.join(", ")));
        }
        line
    }

    fn describe_state(&self, state: &GlobalState<N>) -> String {
        format!("{state:?}")
    }
}
