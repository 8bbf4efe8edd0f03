//! A system: nodes, network semantics, faults, properties and objectives,
//! bundled as one [`Model`] the explorer can check.
//!
//! This module owns the system's declaration (its builder) and its
//! semantics as a transition system: the boot state, the events enabled in
//! a global state, and the successor of each (state in `state`, the handler
//! path in `execute`, branching on choices in `branch`, symmetry in
//! `symmetry`). It does not know about time: timed execution is the
//! simulator's.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crate::model::branch::{ScriptChooser, for_each_branch, panic_message};
use crate::model::chart::{ChartKind, ChartSend, ChartStep};
use crate::model::context::{Effects, TimerOp};
use crate::model::core::{Model, Property, StepError};
use crate::model::execute::{EffectSink, Input, apply_effects, execute};
use crate::model::fairness::{ActionLabel, Fairness};
use crate::model::network::{Envelope, InFlight, NetworkSemantics, message_kind};
use crate::model::node::{Node, NodeId};
use crate::model::objective::{Constraint, Objective};
use crate::model::state::{Event, GlobalState, NodeSlot, Step};

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
    /// Message kinds the network may lose even when it is not lossy.
    lossy_kinds: Vec<String>,
    max_crashes: u32,
    crashable: Vec<bool>,
    properties: Vec<Property<System<N>>>,
    objectives: Vec<Objective>,
    constraints: Vec<Constraint>,
    pub(crate) symmetry: Option<Canonicalizer<N>>,
    determinism: DeterminismCheck,
    choices: Option<Vec<&'static str>>,
    fairness: Vec<Fairness>,
}

/// The classes a node system labels its events with, for
/// [`System::fair`]: `deliver`, `lose`, `timer`, `crash`, `restart`.
pub const EVENT_CLASSES: [&str; 5] = ["deliver", "lose", "timer", "crash", "restart"];

/// A hash that tells instances of an event class apart within one run.
fn hash_of<T: Hash>(value: &T) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

impl<N: Node> System<N> {
    /// What the handler of `step` sent from `from`, re-run to list them:
    /// the network diff alone cannot tell a new copy from an old one in a
    /// duplicating network. Empty for steps that run no handler (and for a
    /// handler that panics).
    fn sends_of(&self, from: &GlobalState<N>, step: &Step<N>) -> Vec<(NodeId, N::Msg)> {
        let (id, input) = match &step.event {
            Event::Deliver(e) if from.is_up(e.dst) => (e.dst, Input::Message(e.src, e.msg.clone())),
            Event::Timer(n, t) => (*n, Input::Timer(t.clone())),
            Event::Restart(n) => (*n, Input::Start),
            _ => return Vec::new(),
        };
        let mut local = from.node(id).clone();
        let mut effects = Effects::default();
        let mut chooser = ScriptChooser::replaying(&step.choices);
        let ran = catch_unwind(AssertUnwindSafe(|| {
            execute(self, id, &mut local, input, &mut effects, &mut chooser)
        }));
        if ran.is_ok() {
            effects.sends
        } else {
            Vec::new()
        }
    }

    /// A system of `nodes` (node `i` gets id `i`) with a non-duplicating,
    /// unordered, reliable network and no crashes.
    pub fn new(name: impl Into<String>, nodes: Vec<N>) -> Self {
        let count = nodes.len();
        System {
            name: name.into(),
            nodes,
            semantics: NetworkSemantics::default(),
            lossy_kinds: Vec::new(),
            max_crashes: 0,
            crashable: vec![false; count],
            properties: Vec::new(),
            objectives: Vec::new(),
            constraints: Vec::new(),
            symmetry: None,
            determinism: DeterminismCheck::Sampled(8),
            choices: None,
            fairness: Vec::new(),
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

    /// Lets the network lose messages of these kinds ([`message_kind`]'s
    /// names: enum variants) even when its semantics are not lossy. This is
    /// how a protocol's claim that losing a kind is harmless (the kinds
    /// steering may filter) is checked: explore with only those lossy.
    pub fn lossy_kinds(mut self, kinds: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.lossy_kinds = kinds.into_iter().map(Into::into).collect();
        self
    }

    /// Whether the network may lose `msg`.
    pub fn may_lose(&self, msg: &N::Msg) -> bool {
        self.semantics.lossy
            || (!self.lossy_kinds.is_empty() && self.lossy_kinds.contains(&message_kind(msg)))
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

    /// Adds a leads-to property, `trigger ~> condition` (see
    /// [`Property::leads_to`]).
    pub fn leads_to(
        self,
        name: impl Into<String>,
        trigger: impl Fn(&System<N>, &GlobalState<N>) -> bool + Send + Sync + 'static,
        condition: impl Fn(&System<N>, &GlobalState<N>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.property(Property::leads_to(name, trigger, condition))
    }

    /// Adds an always-eventually property, `[]<>condition`.
    pub fn always_eventually(
        self,
        name: impl Into<String>,
        condition: impl Fn(&System<N>, &GlobalState<N>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.property(Property::always_eventually(name, condition))
    }

    /// Declares fairness for one class of events, which the liveness checks
    /// then assume. The classes are `deliver` (one instance per message in
    /// flight), `lose`, `timer` (per node and timer), `crash` and `restart`
    /// (per node). `.fair(Fairness::weak("deliver"))` says a message that
    /// stays deliverable is delivered; `.fair(Fairness::weak("timer"))` that
    /// a pending timer fires.
    /// Declaring a class twice keeps the stronger declaration.
    pub fn fair(mut self, fairness: Fairness) -> Self {
        match self.fairness.iter_mut().find(|f| f.class == fairness.class) {
            Some(known) => known.kind = known.kind.max(fairness.kind),
            None => self.fairness.push(fairness),
        }
        self
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
        let GlobalState { nodes, network, .. } = state;
        let mut sink = InFlightSink {
            from: id,
            network,
            timers: &mut nodes[id.index()].timers,
        };
        apply_effects(id, count, effects, &mut sink).map_err(|e| StepError::Panic {
            message: e.to_string(),
        })
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

    /// Every `(step, next state)` of `state` whose event `keep` accepts, in
    /// the order [`Model::successors`] gives them (which is this with every
    /// event kept). The handlers of the other events do not run, so a search
    /// over part of the events (steering's consequence search) pays only for
    /// that part.
    pub fn successors_where(
        &self,
        state: &GlobalState<N>,
        keep: impl Fn(&Event<N>) -> bool,
        out: &mut Vec<(Step<N>, GlobalState<N>)>,
    ) -> Result<(), (Step<N>, StepError)> {
        let mut effects = Effects::default();
        for event in self.events(state).into_iter().filter(|e| keep(e)) {
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

    /// The steps of [`Self::successors_where`], without their states
    /// (enumerating choice outcomes needs the handlers to run).
    pub fn actions_where(
        &self,
        state: &GlobalState<N>,
        keep: impl Fn(&Event<N>) -> bool,
        actions: &mut Vec<Step<N>>,
    ) {
        let mut out = Vec::new();
        let _ = self.successors_where(state, keep, &mut out);
        actions.extend(out.into_iter().map(|(a, _)| a));
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
            if self.may_lose(&envelope.msg) {
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

impl<N: Node> Model for System<N> {
    type State = GlobalState<N>;
    type Action = Step<N>;

    fn encode_state(&self, state: &GlobalState<N>, out: &mut Vec<u8>) -> bool {
        match postcard::to_extend(state, std::mem::take(out)) {
            Ok(bytes) => {
                *out = bytes;
                true
            }
            Err(_) => false,
        }
    }

    fn decode_state(&self, bytes: &[u8]) -> Option<GlobalState<N>> {
        postcard::from_bytes(bytes).ok()
    }

    fn init_states(&self) -> Vec<GlobalState<N>> {
        match self.start_all(self.boot_state()) {
            Ok(states) => states,
            // The trait has no error channel for initial states; the
            // explorer catches this panic and reports it as a finding.
            Err(error) => panic!("on_start failed: {error}"),
        }
    }

    fn actions(&self, state: &GlobalState<N>, actions: &mut Vec<Step<N>>) {
        self.actions_where(state, |_| true, actions);
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
        self.successors_where(state, |_| true, out)
    }

    fn fairness(&self) -> Vec<Fairness> {
        self.fairness.clone()
    }

    fn action_label(&self, _state: &GlobalState<N>, step: &Step<N>) -> Option<ActionLabel> {
        // One instance per event, whatever the handler chose while running it.
        let [deliver, lose, timer_class, crash, restart] = EVENT_CLASSES;
        let (class, instance) = match &step.event {
            Event::Deliver(envelope) => (deliver, hash_of(envelope)),
            Event::Lose(envelope) => (lose, hash_of(envelope)),
            Event::Timer(node, timer) => (timer_class, hash_of(&(node, timer))),
            Event::Crash(node) => (crash, node.index() as u64),
            Event::Restart(node) => (restart, node.index() as u64),
        };
        Some(ActionLabel::new(class, instance))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        self.properties.clone()
    }

    fn representative(&self, state: &GlobalState<N>) -> Option<GlobalState<N>> {
        self.symmetry.as_ref().map(|canon| canon(state))
    }

    fn describe_step(&self, from: &GlobalState<N>, step: &Step<N>, to: &GlobalState<N>) -> String {
        let mut line = format!("{step:?}");
        let id = match &step.event {
            Event::Deliver(e) if from.is_up(e.dst) => e.dst,
            Event::Deliver(e) => return format!("{line} (discarded: {} is down)", e.dst),
            Event::Timer(n, _) | Event::Restart(n) => *n,
            Event::Crash(n) => return format!("{line} → {n} state {:?}", to.node(*n)),
            Event::Lose(_) => return line,
        };
        if from.node(id) != to.node(id) {
            line.push_str(&format!(" → {id} state {:?}", to.node(id)));
        }
        let sent: Vec<String> = self
            .sends_of(from, step)
            .iter()
            .map(|(to, m)| format!("{to} ← {m:?}"))
            .collect();
        if !sent.is_empty() {
            line.push_str(&format!("; sends {}", sent.join(", ")));
        }
        line
    }

    fn chart_step(
        &self,
        from: &GlobalState<N>,
        step: &Step<N>,
        to: &GlobalState<N>,
    ) -> Option<ChartStep> {
        let (kind, node, sender, label) = match &step.event {
            Event::Deliver(e) if from.is_up(e.dst) => (
                ChartKind::Deliver,
                e.dst,
                Some(e.src),
                format!("{:?}", e.msg),
            ),
            Event::Deliver(e) => (
                ChartKind::Discarded,
                e.dst,
                Some(e.src),
                format!("{:?}", e.msg),
            ),
            Event::Lose(e) => (ChartKind::Lose, e.dst, Some(e.src), format!("{:?}", e.msg)),
            Event::Timer(n, t) => (ChartKind::Timer, *n, None, format!("{t:?}")),
            Event::Crash(n) => (ChartKind::Crash, *n, None, String::new()),
            Event::Restart(n) => (ChartKind::Restart, *n, None, String::new()),
        };
        let sends = self
            .sends_of(from, step)
            .into_iter()
            .map(|(to, m)| ChartSend {
                to: to.0,
                message: format!("{m:?}"),
            })
            .collect();
        Some(ChartStep {
            kind,
            node: node.0,
            from: sender.map(|s| s.0),
            label,
            sends,
            choices: step.choices.clone(),
            before: format!("{:?}", from.nodes.get(node.index())?),
            after: format!("{:?}", to.nodes.get(node.index())?),
        })
    }

    fn chart_nodes(&self, state: &GlobalState<N>) -> Vec<String> {
        state.nodes.iter().map(|slot| format!("{slot:?}")).collect()
    }

    fn describe_state(&self, state: &GlobalState<N>) -> String {
        format!("{state:?}")
    }
}

/// The explorer's effects: messages go in flight, timers stay pending (a
/// pending timer may fire at any point; its delay is the simulator's).
struct InFlightSink<'s, N: Node> {
    from: NodeId,
    network: &'s mut InFlight<N::Msg>,
    timers: &'s mut Vec<N::Timer>,
}

impl<N: Node> EffectSink<N> for InFlightSink<'_, N> {
    fn send(&mut self, to: NodeId, msg: N::Msg) {
        self.network.send(Envelope {
            src: self.from,
            dst: to,
            msg,
        });
    }

    fn timer(&mut self, op: TimerOp<N::Timer>) {
        match op {
            TimerOp::Set { timer, .. } => {
                if let Err(at) = self.timers.binary_search(&timer) {
                    self.timers.insert(at, timer);
                }
            }
            TimerOp::Cancel(timer) => {
                if let Ok(at) = self.timers.binary_search(&timer) {
                    self.timers.remove(at);
                }
            }
        }
    }
}
