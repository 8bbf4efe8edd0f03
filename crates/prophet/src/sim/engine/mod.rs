//! The discrete-event loop: virtual time, one priority queue of events, one
//! seeded ChaCha8 generator per run.
//!
//! Every handler runs through [`model::execute`](crate::model::execute), so
//! the nodes are exactly those the explorer checks. Events at the same
//! instant run in the order they were scheduled (a sequence number breaks
//! ties), and every random decision (latency, loss, arrivals, churn,
//! policies) draws from the run's generator, so a seed reproduces a run
//! exactly; [`RunReport::trace_hash`] fingerprints the whole event trace.

mod check;
mod churn;
mod queue;
mod transmit;

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use foldhash::fast::FixedState;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};

use crate::choice::{ChoiceView, Explanation, FeedbackTracker, PolicyTable};
use crate::model::{
    ChoiceRequest, Chooser, EffectSink, Effects, Envelope, Event, GlobalState, Input, MetricOp,
    Node, NodeId, NodeSlot, Step, TimerOp, apply_effects, execute,
};
use crate::sim::cache::{CACHE_HIT, Caches};
use crate::sim::fault::{Fault, Load};
use crate::sim::metrics::Metrics;
use crate::sim::network::{ResolvedNetwork, message_kind};
use crate::sim::observe::{MessageSeen, Observation, Observer, SERVICE_NS_MAX};
use crate::sim::steer::{Review, Steerer, Verdict};
use crate::sim::zone::ZoneBytes;
use crate::sim::{RecordedRun, RunReport, SimError, Simulator, StopReason};

type FastMap<K, V> = hashbrown::HashMap<K, V, FixedState>;

fn fast_map<K, V>() -> FastMap<K, V> {
    hashbrown::HashMap::with_hasher(FixedState::with_seed(0))
}

enum Ev<N: Node> {
    Start(NodeId),
    Deliver {
        src: NodeId,
        dst: NodeId,
        msg: N::Msg,
        /// The envelope's header: when it left, and what its sender
        /// piggybacked (what an observer sees; the run never reads it).
        header: Header,
    },
    Timer {
        node: NodeId,
        timer: N::Timer,
        generation: u64,
    },
    /// An open-loop arrival (of stream `.0` under a phased load).
    Arrival(usize),
    Issue(NodeId),
    Crash(NodeId),
    Restart(NodeId),
    Churn(usize),
    /// A busy node finished: serve what waits for it.
    Wake(NodeId),
    /// A steering checkpoint of `src`'s slot, taken at `sent`, with the
    /// messages the same handler sent `dst` (which follow it on the link).
    Checkpoint {
        src: NodeId,
        dst: NodeId,
        body: Box<(NodeSlot<N>, Vec<N::Msg>)>,
        sent: u64,
    },
}

impl<N: Node> Ev<N> {
    /// The node whose handler this event runs, for the inputs that queue
    /// behind a busy node.
    fn input_of(&self) -> Option<NodeId> {
        match self {
            Ev::Start(node) | Ev::Timer { node, .. } => Some(*node),
            Ev::Deliver { dst, .. } => Some(*dst),
            _ => None,
        }
    }
}

/// What a message's envelope carries besides the message: its send time
/// and the sender's service time and queue length when it left.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Header {
    pub(super) sent: u64,
    pub(super) service_ns: u32,
    pub(super) queue: u32,
}

struct NodeRt<N: Node> {
    busy_until: u64,
    timers: FastMap<N::Timer, u64>,
    /// Inputs that arrived while the node was busy (or others waited), in
    /// arrival order: served one per completion, so an overloaded node costs
    /// the scheduler a constant per message (re-scheduling every waiting
    /// input at each completion cost the length of the queue).
    waiting: VecDeque<Ev<N>>,
    /// Whether a [`Ev::Wake`] is scheduled for the node.
    wake: bool,
}

/// Resolves `choose` through the run's policies and generator.
struct RunChooser<'r> {
    policies: &'r mut PolicyTable,
    rng: &'r mut ChaCha8Rng,
    now: u64,
    /// Set when the run is observed: each decision is explained and shown.
    tap: Option<DecisionTap<'r>>,
}

/// Where an observed run's decisions go.
struct DecisionTap<'r> {
    observer: Observer<'r>,
    explanation: &'r mut Explanation,
    seed: u64,
    /// The next decision's number in the run.
    next: u64,
}

impl Chooser for RunChooser<'_> {
    fn choose(&mut self, request: &ChoiceRequest<'_>) -> usize {
        let view = ChoiceView::of(request, Duration::from_nanos(self.now));
        let Some(tap) = &mut self.tap else {
            return self.policies.choose(&view, self.rng);
        };
        let record = self.policies.choose_recorded(
            &view,
            self.rng,
            tap.explanation,
            tap.next,
            Some(tap.seed),
        );
        let pick = record.pick;
        tap.next += 1;
        (tap.observer)(&Observation::Decision(&record));
        pick
    }
}

type SpanKey = (&'static str, u64);

/// One run's mutable state.
pub(crate) struct Run<'s, 'a, N: Node> {
    sim: &'s Simulator<'a, N>,
    net: ResolvedNetwork,
    state: GlobalState<N>,
    nodes: Vec<NodeRt<N>>,
    queue: queue::EventQueue<Ev<N>>,
    now: u64,
    rng: ChaCha8Rng,
    policies: PolicyTable,
    metrics: Metrics,
    /// Per node, its open spans' start times: a crash forgets one node's
    /// (a single map was scanned whole at every crash, O(open spans)).
    spans: Vec<FastMap<SpanKey, u64>>,
    feedback: FeedbackTracker,
    /// The handler's effect buffers, reused; boxed so that lending them to
    /// a handler moves a pointer, not five vectors.
    effects: Option<Box<Effects<N>>>,
    /// Per fault, for a churn fault: its nodes that are up.
    churn: Vec<Option<churn::UpSet>>,
    /// Whether any node has a service time (else handlers take no time
    /// and the model is not consulted per handler).
    any_service: bool,
    timer_generation: u64,
    arrivals: u64,
    /// Arrivals so far per stream of a phased load (round-robin position).
    stream_arrivals: Vec<u64>,
    trace: foldhash::fast::FoldHasher,
    measure_bytes: bool,
    link_free: FastMap<(NodeId, NodeId), u64>,
    /// Per link: the last arrival time, and the send time from which it no
    /// longer holds later messages back (the end of a slowdown it was in).
    link_last: FastMap<(NodeId, NodeId), (u64, u64)>,
    /// Whether every link already delivers in send order, so `link_last`
    /// is never consulted: each link's latency is constant and nothing
    /// delays it for a while (no slowdowns), and a node's sends leave in
    /// time order (no service times: they leave at the handler's instant,
    /// which never decreases; a bandwidth queue keeps that order). Then the
    /// FIFO clamp never moves an arrival, and skipping it saves a hash
    /// lookup per message (a map of every used link: a million entries
    /// with 1,000 hosts all talking to each other).
    fifo_by_construction: bool,
    report: RunReport,
    /// The handlers run, as explorer steps, when the caller asked for them.
    schedule: Option<Vec<Step<N>>>,
    caches: Caches,
    zones: ZoneBytes,
    /// Scratch for explaining decisions to an observer.
    explanation: Explanation,
    /// The resolver's deliberation for this run, if a policy needs it.
    deliberator: Option<Box<dyn crate::sim::deliberate::Deliberator<N> + 'a>>,
    /// Execution steering for this run, if asked for.
    steerer: Option<Box<dyn Steerer<N> + 'a>>,
    /// Checkpoints sent, their bytes, and those received.
    checkpoints: (u64, u64, u64),
    /// Bytes of the protocol's own messages (counted when bytes are
    /// measured or steering runs).
    protocol_bytes: u64,
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl<'s, 'a, N: Node> Run<'s, 'a, N> {
    pub(crate) fn new(sim: &'s Simulator<'a, N>, seed: u64) -> Result<Self, SimError> {
        let system = sim.system;
        let n = system.nodes().len();
        sim.network.validate(n).map_err(SimError::Config)?;
        let net = sim.network.resolve(n);
        let zones = ZoneBytes::new(&sim.network.zones, n);
        let measure_bytes = net.any_bandwidth()
            || zones.active()
            || system
                .objectives()
                .iter()
                .chain(&sim.objectives)
                .map(|o| &o.metric)
                .chain(system.constraints().iter().map(|c| &c.metric))
                .chain(sim.constraints.iter().map(|c| &c.metric))
                .any(|m| m == BYTES_SENT);
        let (state, timers) = match &sim.start {
            Some((state, timers)) => (state.clone(), timers.clone()),
            None => (system.boot_state(), Vec::new()),
        };
        if state.nodes.len() != n {
            return Err(SimError::Config(format!(
                "start state has {} nodes, the system {n}",
                state.nodes.len()
            )));
        }
        let policies = PolicyTable::new(sim.default_policy.clone(), sim.policies.clone());
        let deliberator = match sim.deliberation {
            Some(d) if policies.deliberates() => Some(d.start(seed)),
            None if policies.deliberates() => {
                return Err(SimError::Config(
                    "policy `prophet` deliberates by simulating, and this simulator has no \
                     deliberation: run it through the registry (`prophet sim`), attach one \
                     with `Simulator::deliberate`, or use `prophet:fast`"
                        .into(),
                ));
            }
            _ => None,
        };
        let mut run = Run {
            sim,
            net,
            state,
            nodes: (0..n)
                .map(|_| NodeRt {
                    busy_until: 0,
                    timers: fast_map(),
                    waiting: VecDeque::new(),
                    wake: false,
                })
                .collect(),
            queue: queue::EventQueue::new(),
            now: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            policies,
            metrics: if sim.keep_metrics {
                let mut metrics = Metrics::new(sim.sample_cap);
                metrics.count_thresholds_of(system.objectives(), system.constraints());
                metrics
            } else {
                Metrics::off()
            },
            spans: (0..n).map(|_| fast_map()).collect(),
            feedback: FeedbackTracker::new(),
            effects: Some(Box::default()),
            churn: Vec::new(),
            // Cache hits have service times of their own.
            any_service: !sim.network.default_service.is_zero()
                || sim.network.service.values().any(|d| !d.is_zero())
                || sim
                    .network
                    .kind_service
                    .iter()
                    .any(|(_, _, d)| !d.is_zero())
                || !sim.network.caches.is_empty(),
            timer_generation: 0,
            arrivals: 0,
            stream_arrivals: Vec::new(),
            trace: FixedState::with_seed(0).build_hasher(),
            measure_bytes,
            link_free: fast_map(),
            link_last: fast_map(),
            fifo_by_construction: false,
            report: RunReport::empty(seed),
            schedule: None,
            caches: Caches::new(&sim.network.caches, n),
            zones,
            explanation: Explanation::default(),
            deliberator,
            steerer: sim.steering.map(|s| s.start(seed)),
            checkpoints: (0, 0, 0),
            protocol_bytes: 0,
        };
        run.fifo_by_construction =
            !run.any_service && run.net.slowdowns.is_empty() && run.net.all_latencies_constant();
        run.churn = sim
            .faults
            .iter()
            .map(|fault| match fault {
                Fault::Churn { nodes, .. } => Some(churn::UpSet::new(nodes, |node| {
                    run.state.nodes.get(node.index()).is_some_and(|s| s.up)
                })),
                Fault::Crash { .. } => None,
            })
            .collect();
        run.schedule_start(timers)?;
        Ok(run)
    }

    #[inline]
    fn push(&mut self, at: u64, ev: Ev<N>) {
        self.report.scheduled += 1;
        self.queue.push(at, ev);
    }

    fn schedule_start(
        &mut self,
        timers: Vec<(NodeId, N::Timer, Duration)>,
    ) -> Result<(), SimError> {
        let n = self.state.nodes.len();
        if self.sim.start.is_none() {
            for i in 0..n {
                self.push(0, Ev::Start(NodeId::from(i)));
            }
        } else {
            // Messages in flight in the given state leave at time 0.
            let in_flight: Vec<_> = self.state.network.iter().collect();
            self.state.network.retain(|_| false);
            for (envelope, copies) in in_flight {
                for _ in 0..copies {
                    let header = Header::default();
                    self.send(header, envelope.src, envelope.dst, envelope.msg.clone());
                }
            }
            for (node, timer, due) in timers {
                if node.index() >= n {
                    return Err(SimError::Config(format!("timer for unknown node {node}")));
                }
                self.arm_timer(node, timer, ns(due));
            }
        }
        for slot in &mut self.state.nodes {
            slot.timers.clear();
        }
        if let Some(workload) = self.sim.workload {
            let clients = workload.clients();
            if let Some(bad) = clients.iter().find(|c| c.index() >= n) {
                return Err(SimError::Config(format!(
                    "workload client {bad} does not exist"
                )));
            }
            match &self.sim.load {
                Load::None => {}
                Load::Open { rate_per_sec } => {
                    if !(rate_per_sec.is_finite() && *rate_per_sec > 0.0) {
                        return Err(SimError::Config(format!(
                            "open-loop rate {rate_per_sec} must be > 0"
                        )));
                    }
                    if !clients.is_empty() {
                        let first = self.exp_ns(*rate_per_sec);
                        self.push(first, Ev::Arrival(0));
                    }
                }
                Load::Phased { streams } => {
                    for (i, stream) in streams.iter().enumerate() {
                        stream.validate().map_err(SimError::Config)?;
                        if let Some(bad) = stream
                            .clients
                            .iter()
                            .flatten()
                            .find(|c| !clients.contains(c))
                        {
                            return Err(SimError::Config(format!(
                                "load stream {i}: node {bad} is not one of the workload's clients ({clients:?})"
                            )));
                        }
                        if !clients.is_empty()
                            && let Some(at) = stream.next_arrival(0, &mut self.rng)
                        {
                            self.push(at, Ev::Arrival(i));
                        }
                    }
                    self.stream_arrivals = vec![0; streams.len()];
                }
                Load::Closed { outstanding, .. } => {
                    for &c in &clients {
                        for _ in 0..*outstanding {
                            self.push(0, Ev::Issue(c));
                        }
                    }
                }
            }
        }
        for (i, fault) in self.sim.faults.iter().enumerate() {
            match fault {
                Fault::Crash {
                    node,
                    at,
                    restart_after,
                } => {
                    if node.index() >= n {
                        return Err(SimError::Config(format!("fault on unknown node {node}")));
                    }
                    self.push(ns(*at), Ev::Crash(*node));
                    if let Some(d) = restart_after {
                        self.push(ns(*at + *d), Ev::Restart(*node));
                    }
                }
                Fault::Churn {
                    nodes,
                    rate_per_sec,
                    from,
                    ..
                } => {
                    if let Some(bad) = nodes.iter().find(|c| c.index() >= n) {
                        return Err(SimError::Config(format!("churn on unknown node {bad}")));
                    }
                    if *rate_per_sec > 0.0 {
                        let at = ns(*from) + self.exp_ns(*rate_per_sec);
                        self.push(at, Ev::Churn(i));
                    }
                }
            }
        }
        Ok(())
    }

    fn exp_ns(&mut self, rate_per_sec: f64) -> u64 {
        let secs: f64 = Exp::new(rate_per_sec)
            .map(|d| d.sample(&mut self.rng))
            .unwrap_or(f64::INFINITY);
        (secs * 1e9).min(u64::MAX as f64 / 2.0) as u64
    }

    fn arm_timer(&mut self, node: NodeId, timer: N::Timer, at: u64) {
        self.timer_generation += 1;
        let generation = self.timer_generation;
        self.nodes[node.index()]
            .timers
            .insert(timer.clone(), generation);
        self.push(
            at,
            Ev::Timer {
                node,
                timer,
                generation,
            },
        );
    }

    /// Runs the event loop to a bound.
    /// Records every handler run (and crash) as an explorer [`Step`].
    pub(crate) fn record(mut self) -> Self {
        self.schedule = Some(Vec::new());
        self
    }

    pub(crate) fn run(self) -> Result<(RunReport, GlobalState<N>), SimError> {
        self.run_recorded().map(|r| (r.report, r.state))
    }

    pub(crate) fn run_recorded(mut self) -> Result<RecordedRun<N>, SimError> {
        let limits = self.sim.limits;
        let horizon = ns(limits.horizon);
        let started = Instant::now();
        let stop = loop {
            let Some(at) = self.queue.peek_at() else {
                break StopReason::Quiescent;
            };
            if at > horizon {
                // The event past the horizon leaves the queue, as it
                // always has (a final invariant check does not see it).
                self.queue.pop();
                self.now = horizon;
                break StopReason::Horizon;
            }
            if self.report.events >= limits.max_events {
                break StopReason::EventLimit;
            }
            if self.report.events.is_multiple_of(4096)
                && let Some(budget) = limits.wall_budget
                && started.elapsed() > budget
            {
                break StopReason::WallBudget;
            }
            let (at, ev) = self.queue.pop().expect("an event is due");
            self.now = at;
            self.report.events += 1;
            if let Some(progress) = self.sim.progress
                && self
                    .report
                    .events
                    .is_multiple_of(crate::sim::PROGRESS_EVENTS)
            {
                progress(&crate::sim::RunProgress {
                    seed: self.report.seed,
                    sim_time: Duration::from_nanos(self.now),
                    horizon: limits.horizon,
                    events: self.report.events,
                });
            }
            self.handle(ev)?;
            if let Some(every) = self.sim.check_every
                && self.report.events.is_multiple_of(every.max(1))
                && self.check_invariants()
            {
                break StopReason::Violation;
            }
        };
        if stop != StopReason::Violation && self.sim.check_every.is_some() {
            self.check_invariants();
        }
        self.report.stop = stop;
        self.report.wall = started.elapsed();
        self.report.sim_time = Duration::from_nanos(self.now);
        self.report.trace_hash = self.trace.finish();
        let secs = self.report.sim_time.as_secs_f64();
        let summaries = self.metrics.summaries(secs);
        // The system's objectives and constraints, then the scenario's.
        let objectives: Vec<_> = (self.sim.system.objectives().iter())
            .chain(&self.sim.objectives)
            .cloned()
            .collect();
        let constraints: Vec<_> = (self.sim.system.constraints().iter())
            .chain(&self.sim.constraints)
            .cloned()
            .collect();
        self.report.objectives =
            crate::sim::metrics::objectives(&objectives, &self.metrics, &summaries);
        self.report.constraints =
            crate::sim::metrics::constraints(&constraints, &self.metrics, &summaries);
        self.report.cache_lookups = self.caches.lookups;
        self.report.cache_hits = self.caches.hits;
        self.report.zone_bytes = self.zones.per_pair();
        self.report.cross_zone_bytes = self.zones.crossed();
        if let Some(steerer) = &mut self.steerer {
            let mut steering = steerer.report();
            (
                steering.checkpoints_sent,
                steering.checkpoint_bytes,
                steering.checkpoints_received,
            ) = self.checkpoints;
            steering.protocol_bytes = self.protocol_bytes;
            self.report.steering = Some(steering);
        }
        self.report.summaries = summaries;
        self.report.metrics = self.metrics;
        // Give the state its pending timers back, as the explorer keeps them.
        for (slot, rt) in self.state.nodes.iter_mut().zip(&self.nodes) {
            let mut timers: Vec<N::Timer> = rt.timers.keys().cloned().collect();
            timers.sort();
            slot.timers = timers;
        }
        Ok(RecordedRun {
            report: self.report,
            state: self.state,
            schedule: self.schedule.unwrap_or_default(),
        })
    }

    fn trace_event(&mut self, kind: u8, node: NodeId, detail: &impl Hash) {
        self.now.hash(&mut self.trace);
        kind.hash(&mut self.trace);
        node.hash(&mut self.trace);
        detail.hash(&mut self.trace);
    }

    /// Hands request number `arrivals` to `client`, as a message from itself
    /// (open- and closed-loop load alike).
    fn issue_request(&mut self, workload: &dyn crate::model::Workload<N>, client: NodeId) {
        let k = self.arrivals;
        self.arrivals += 1;
        self.trace_event(3, client, &k);
        let msg = workload.request(client, k);
        self.push(
            self.now,
            Ev::Deliver {
                src: client,
                dst: client,
                msg,
                header: Header {
                    sent: self.now,
                    ..Header::default()
                },
            },
        );
    }

    fn handle(&mut self, ev: Ev<N>) -> Result<(), SimError> {
        if (self.sim.observer.is_some() || self.deliberator.is_some())
            && let Ev::Deliver {
                src, dst, header, ..
            } = &ev
            && src != dst
            && self.state.nodes[dst.index()].up
        {
            let seen = Observation::Message(MessageSeen {
                seed: self.report.seed,
                node: *dst,
                from: *src,
                at: Duration::from_nanos(self.now),
                delay: Duration::from_nanos(self.now.saturating_sub(header.sent)),
                service: Duration::from_nanos(u64::from(header.service_ns)),
                queue: header.queue,
            });
            if let Some(observer) = self.sim.observer {
                observer(&seen);
            }
            if let Some(d) = &mut self.deliberator {
                d.observe(&seen);
            }
        }
        if let Some(node) = ev.input_of() {
            let rt = &mut self.nodes[node.index()];
            if rt.busy_until > self.now || !rt.waiting.is_empty() {
                rt.waiting.push_back(ev);
                self.schedule_wake(node);
                return Ok(());
            }
            return self.serve(ev);
        }
        match ev {
            Ev::Wake(node) => {
                self.nodes[node.index()].wake = false;
                // Inputs that run no handler (a message to a node that went
                // down, a stale timer) leave it free for the next at once.
                while self.nodes[node.index()].busy_until <= self.now {
                    let Some(next) = self.nodes[node.index()].waiting.pop_front() else {
                        break;
                    };
                    self.serve(next)?;
                }
                if !self.nodes[node.index()].waiting.is_empty() {
                    self.schedule_wake(node);
                }
                Ok(())
            }
            other => self.handle_other(other),
        }
    }

    /// Schedules node `node`'s next [`Ev::Wake`] for when it is free, unless one is.
    fn schedule_wake(&mut self, node: NodeId) {
        let rt = &mut self.nodes[node.index()];
        if !rt.wake {
            rt.wake = true;
            let at = rt.busy_until.max(self.now);
            self.push(at, Ev::Wake(node));
        }
    }

    /// Runs an input on its node, which is free and has nothing waiting.
    fn serve(&mut self, ev: Ev<N>) -> Result<(), SimError> {
        match ev {
            Ev::Start(node) => {
                if !self.state.nodes[node.index()].up {
                    return Ok(());
                }
                self.trace_event(0, node, &());
                self.run_handler(node, Input::Start)
            }
            Ev::Deliver { src, dst, msg, .. } => {
                let up = self.state.nodes[dst.index()].up;
                if !up || (src != dst && self.net.blocked(src, dst, Duration::from_nanos(self.now)))
                {
                    self.report.messages_dropped += 1;
                    self.record_drop(src, dst, &msg, !up);
                    return Ok(());
                }
                self.trace_event(1, dst, &(src, &msg));
                self.report.messages_delivered += 1;
                self.run_handler(dst, Input::Message(src, msg))
            }
            Ev::Timer {
                node,
                timer,
                generation,
            } => {
                let rt = &self.nodes[node.index()];
                if rt.timers.get(&timer) != Some(&generation) || !self.state.nodes[node.index()].up
                {
                    return Ok(());
                }
                self.nodes[node.index()].timers.remove(&timer);
                self.trace_event(2, node, &timer);
                self.run_handler(node, Input::Timer(timer))
            }
            other => self.handle_other(other),
        }
    }

    /// Events that are not a node's input.
    fn handle_other(&mut self, ev: Ev<N>) -> Result<(), SimError> {
        match ev {
            Ev::Arrival(i) if matches!(self.sim.load, Load::Phased { .. }) => {
                let (Some(workload), Load::Phased { streams }) =
                    (self.sim.workload, &self.sim.load)
                else {
                    return Ok(());
                };
                let stream = &streams[i];
                let k = self.stream_arrivals[i];
                self.stream_arrivals[i] += 1;
                let client = match &stream.clients {
                    Some(clients) if !clients.is_empty() => {
                        clients[(k % clients.len() as u64) as usize]
                    }
                    _ => {
                        let clients = workload.clients();
                        clients[(k % clients.len() as u64) as usize]
                    }
                };
                self.issue_request(workload, client);
                if let Some(at) = stream.next_arrival(self.now, &mut self.rng) {
                    self.push(at, Ev::Arrival(i));
                }
                Ok(())
            }
            Ev::Arrival(_) => {
                let Some(workload) = self.sim.workload else {
                    return Ok(());
                };
                let clients = workload.clients();
                let client = clients[(self.arrivals % clients.len() as u64) as usize];
                self.issue_request(workload, client);
                if let Load::Open { rate_per_sec } = self.sim.load {
                    let at = self.now + self.exp_ns(rate_per_sec);
                    self.push(at, Ev::Arrival(0));
                }
                Ok(())
            }
            Ev::Issue(client) => {
                let Some(workload) = self.sim.workload else {
                    return Ok(());
                };
                self.issue_request(workload, client);
                Ok(())
            }
            Ev::Crash(node) => {
                self.crash(node);
                Ok(())
            }
            Ev::Checkpoint {
                src,
                dst,
                body,
                sent,
            } => {
                let now = Duration::from_nanos(self.now);
                if self.state.nodes[dst.index()].up
                    && !(src != dst && self.net.blocked(src, dst, now))
                    && let Some(steerer) = &mut self.steerer
                {
                    self.checkpoints.2 += 1;
                    let (slot, ahead) = *body;
                    steerer.checkpoint(dst, src, slot, ahead, Duration::from_nanos(sent), now);
                }
                Ok(())
            }
            Ev::Restart(node) => {
                let slot = &mut self.state.nodes[node.index()];
                if !slot.up {
                    slot.up = true;
                    self.churn_set(node, true);
                    self.report.restarts += 1;
                    self.net.restarted(node, Duration::from_nanos(self.now));
                    self.trace_event(5, node, &());
                    self.push(self.now, Ev::Start(node));
                }
                Ok(())
            }
            Ev::Churn(i) => {
                let Fault::Churn {
                    nodes,
                    rate_per_sec,
                    down_for,
                    until,
                    ..
                } = &self.sim.faults[i]
                else {
                    return Ok(());
                };
                if self.now >= ns(*until) {
                    return Ok(());
                }
                let up = self.churn[i].as_ref().expect("built for every churn fault");
                if up.len() > 0 {
                    let victim = up.nth(self.rng.random_range(0..up.len()));
                    debug_assert!(nodes.contains(&victim));
                    self.crash(victim);
                    let down = down_for.sample_ns(&mut self.rng);
                    self.push(self.now + down, Ev::Restart(victim));
                }
                let at = self.now + self.exp_ns(*rate_per_sec);
                self.push(at, Ev::Churn(i));
                Ok(())
            }
            // A node's input or wake-up goes through `handle`.
            input => self.handle(input),
        }
    }

    /// Records a message the run dropped, when recording: as the explorer's
    /// delivery to a down node (which discards it) or as its loss.
    pub(super) fn record_drop(&mut self, src: NodeId, dst: NodeId, msg: &N::Msg, to_down: bool) {
        if let Some(schedule) = &mut self.schedule {
            let envelope = Envelope {
                src,
                dst,
                msg: msg.clone(),
            };
            schedule.push(Step {
                event: if to_down {
                    Event::Deliver(envelope)
                } else {
                    Event::Lose(envelope)
                },
                choices: Vec::new(),
            });
        }
    }

    /// The explorer's crash: durable state kept, volatile lost, timers cleared.
    fn crash(&mut self, id: NodeId) {
        let node = &self.sim.system.nodes()[id.index()];
        let slot = &mut self.state.nodes[id.index()];
        if !slot.up {
            return;
        }
        let durable = node.durable(&slot.state);
        slot.state = node.init(id, Some(durable));
        slot.up = false;
        self.churn_set(id, false);
        self.state.crashes += 1;
        self.report.crashes += 1;
        let rt = &mut self.nodes[id.index()];
        rt.timers.clear();
        rt.busy_until = 0;
        self.caches.forget(id);
        if let Some(steerer) = &mut self.steerer {
            steerer.crashed(id);
        }
        self.spans[id.index()] = fast_map();
        self.feedback.forget_node(id);
        self.trace_event(4, id, &());
        if let Some(schedule) = &mut self.schedule {
            schedule.push(Step {
                event: Event::Crash(id),
                choices: Vec::new(),
            });
        }
    }

    /// Tells the churn faults that `node` went up or down.
    fn churn_set(&mut self, node: NodeId, up: bool) {
        for set in self.churn.iter_mut().flatten() {
            set.set(node, up);
        }
    }

    fn run_handler(&mut self, id: NodeId, input: Input<N>) -> Result<(), SimError> {
        let system = self.sim.system;
        let count = system.nodes().len();
        // The explorer's event for this input (a boot is the explorer's
        // restart of a running node: both run `on_start`).
        let recorded = self.schedule.is_some().then(|| match &input {
            Input::Start => Event::Restart(id),
            Input::Message(src, msg) => Event::Deliver(Envelope {
                src: *src,
                dst: id,
                msg: msg.clone(),
            }),
            Input::Timer(timer) => Event::Timer(id, timer.clone()),
        });
        let kind = match &input {
            Input::Message(_, msg) if self.net.by_kind => Some(message_kind(msg)),
            _ => None,
        };
        let cache_key = match &input {
            Input::Message(_, msg) if self.caches.at(id) => {
                system.nodes()[id.index()].cache_key(msg)
            }
            _ => None,
        };
        if let Some(d) = &mut self.deliberator {
            d.before_handler(
                id,
                &self.state.nodes[id.index()].state,
                Duration::from_nanos(self.now),
                &mut self.policies,
            );
        }
        // A delivery the steerer reviews: what it needs once the handler ran.
        let review = match &input {
            Input::Message(src, msg) => {
                let reviewed = match &mut self.steerer {
                    Some(steerer) => {
                        steerer.arriving(id, *src, msg);
                        steerer.reviews(msg)
                    }
                    None => false,
                };
                reviewed.then(|| (*src, msg.clone(), self.slot_of(id)))
            }
            _ => None,
        };
        let mut effects = self.effects.take().unwrap_or_default();
        effects.clear();
        let first_decision = self.report.decisions;
        let mut chooser = RunChooser {
            policies: &mut self.policies,
            rng: &mut self.rng,
            now: self.now,
            tap: self.sim.observer.map(|observer| DecisionTap {
                observer,
                explanation: &mut self.explanation,
                seed: self.report.seed,
                next: first_decision,
            }),
        };
        let state = &mut self.state.nodes[id.index()].state;
        let ran = catch_unwind(AssertUnwindSafe(|| {
            execute(system, id, state, input, &mut effects, &mut chooser)
        }));
        if let Err(payload) = ran {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            return Err(SimError::Panic {
                node: id,
                at: Duration::from_nanos(self.now),
                message,
            });
        }
        if let Some((src, msg, before)) = review
            && let Some(steerer) = &mut self.steerer
        {
            let verdict = steerer.review(&Review {
                node: id,
                now: Duration::from_nanos(self.now),
                from: src,
                msg: &msg,
                before: &before,
                after: &self.state.nodes[id.index()].state,
                sends: &effects.sends,
            });
            if verdict == Verdict::Discard {
                // As if the network had lost the message.
                self.state.nodes[id.index()].state = before.state;
                effects.clear();
                self.effects = Some(effects);
                self.report.messages_delivered -= 1;
                self.report.messages_dropped += 1;
                self.record_drop(src, id, &msg, false);
                return Ok(());
            }
        }
        let t = Duration::from_nanos(self.now);
        let cached = cache_key.map(|key| {
            let hit = self
                .caches
                .hit_ns(id, key, &self.net, t, kind.as_deref(), &mut self.rng);
            let at_secs = self.now as f64 / 1e9;
            self.metrics
                .record(CACHE_HIT, at_secs, f64::from(u8::from(hit.is_some())));
            hit
        });
        let service = match cached.flatten() {
            Some(hit_ns) => hit_ns,
            None if self.any_service => self.net.service_ns(id, t, kind.as_deref(), &mut self.rng),
            None => 0,
        };
        let done = self.now + service;
        self.nodes[id.index()].busy_until = done;
        if let (Some(schedule), Some(event)) = (&mut self.schedule, recorded) {
            schedule.push(Step {
                event,
                choices: effects.decisions.iter().map(|d| d.chosen).collect(),
            });
        }
        self.report.decisions += effects.decisions.len() as u64;
        self.apply_metrics(id, &effects, first_decision, done);
        if self.steerer.is_some() {
            // Before the handler's sends, so that on each link the
            // checkpoint arrives ahead of them.
            self.after_steered_handler(id, &effects.sends, done);
        }
        let applied = apply_effects(
            id,
            count,
            &mut effects,
            &mut TimedSink {
                run: self,
                id,
                done,
            },
        );
        self.effects = Some(effects);
        applied.map_err(|e| SimError::Panic {
            node: id,
            at: Duration::from_nanos(self.now),
            message: e.to_string(),
        })
    }

    /// Node `id`'s slot as a checkpoint or a review sees it: its state and
    /// its pending timers, sorted.
    fn slot_of(&self, id: NodeId) -> NodeSlot<N> {
        let mut timers: Vec<N::Timer> = self.nodes[id.index()].timers.keys().cloned().collect();
        timers.sort();
        NodeSlot {
            state: self.state.nodes[id.index()].state.clone(),
            timers,
            up: self.state.nodes[id.index()].up,
        }
    }

    /// Tells the steerer what node `id` did, and sends the checkpoints it
    /// asks for when the handler's service ends (`at`): the node's new
    /// state, with its timers as they were before the handler's own timer
    /// operations (which apply with its sends), and the messages it sends
    /// the checkpoint's receiver (which follow the checkpoint on the link).
    fn after_steered_handler(&mut self, id: NodeId, sends: &[(NodeId, N::Msg)], at: u64) {
        let slot = self.slot_of(id);
        let mut checkpoint_to = Vec::new();
        if let Some(steerer) = &mut self.steerer {
            steerer.after_handler(
                id,
                &slot,
                Duration::from_nanos(self.now),
                sends,
                &mut checkpoint_to,
            );
        }
        for dst in checkpoint_to {
            let ahead: Vec<N::Msg> = sends
                .iter()
                .filter(|(to, _)| *to == dst)
                .map(|(_, m)| m.clone())
                .collect();
            self.send_checkpoint(id, dst, slot.clone(), ahead, at);
        }
    }

    /// Puts a checkpoint on the network: partitions, loss, the link's
    /// bandwidth queue and latency, as a message of its encoded size (the
    /// slot and a copy of the messages it announces).
    fn send_checkpoint(
        &mut self,
        src: NodeId,
        dst: NodeId,
        slot: NodeSlot<N>,
        ahead: Vec<N::Msg>,
        at: u64,
    ) {
        let body = (slot, ahead);
        let bytes = postcard::experimental::serialized_size(&body).unwrap_or(0) as u64;
        self.checkpoints.0 += 1;
        self.checkpoints.1 += bytes;
        if self.measure_bytes {
            self.metrics
                .record(BYTES_SENT, at as f64 / 1e9, bytes as f64);
        }
        if src != dst && !self.net.partitions.is_empty() {
            let cut = self.net.partition_loss(src, dst, Duration::from_nanos(at));
            if cut >= 1.0 || (cut > 0.0 && self.rng.random_bool(cut)) {
                return;
            }
        }
        let link = self.net.link(src, dst);
        let (loss, bandwidth) = (link.loss, link.bandwidth_bytes_per_sec);
        if loss > 0.0 && self.rng.random_bool(loss) {
            return;
        }
        let start = match bandwidth {
            Some(bw) => self.after_link_queue(src, dst, at, bytes, bw),
            None => at,
        };
        let (delay, window_end) = self.delay_ns(src, dst, at, None);
        // In the link's order, as on the connection that carries the
        // protocol's messages: a checkpoint sent before a message arrives
        // before it.
        let arrive = match self.fifo_by_construction {
            true => start + delay,
            false => self.in_link_order(src, dst, at, start + delay, window_end),
        };
        self.push(
            arrive,
            Ev::Checkpoint {
                src,
                dst,
                body: Box::new(body),
                sent: at,
            },
        );
    }

    fn apply_metrics(&mut self, id: NodeId, effects: &Effects<N>, first_decision: u64, done: u64) {
        let at_secs = done as f64 / 1e9;
        if !effects.decisions.is_empty() || !effects.metrics.is_empty() {
            let outcomes = self.feedback.handler_ran(
                id,
                effects,
                first_decision,
                Duration::from_nanos(self.now),
                Duration::from_nanos(done),
            );
            for outcome in &outcomes {
                self.policies.observe(outcome);
                let seen = Observation::Outcome {
                    seed: self.report.seed,
                    outcome,
                };
                if let Some(observer) = self.sim.observer {
                    observer(&seen);
                }
                if let Some(d) = &mut self.deliberator {
                    d.observe(&seen);
                }
            }
        }
        for op in &effects.metrics {
            match *op {
                MetricOp::Record { metric, value } => self.metrics.record(metric, at_secs, value),
                MetricOp::Begin { metric, key } => {
                    self.spans[id.index()].insert((metric, key), self.now);
                }
                MetricOp::End { metric, key } => {
                    let Some(begun) = self.spans[id.index()].remove(&(metric, key)) else {
                        continue;
                    };
                    let secs = done.saturating_sub(begun) as f64 / 1e9;
                    self.metrics.span(metric, at_secs, secs);
                    if let (Some(w), Load::Closed { think, .. }) =
                        (self.sim.workload, &self.sim.load)
                        && w.span_metric() == metric
                    {
                        let at = done + think.sample_ns(&mut self.rng);
                        self.push(at, Ev::Issue(id));
                    }
                }
                // Outcomes went to the feedback tracker above.
                MetricOp::Outcome { .. } | MetricOp::OutcomeSample { .. } => {}
            }
        }
    }
}

/// The simulator's effects: timers and messages scheduled in virtual time
/// from the end of the handler's service.
struct TimedSink<'r, 's, 'a, N: Node> {
    run: &'r mut Run<'s, 'a, N>,
    id: NodeId,
    done: u64,
}

impl<N: Node> EffectSink<N> for TimedSink<'_, '_, '_, N> {
    fn send(&mut self, to: NodeId, msg: N::Msg) {
        let rt = &self.run.nodes[self.id.index()];
        let header = Header {
            sent: self.done,
            service_ns: (self.done - self.run.now).min(SERVICE_NS_MAX) as u32,
            queue: u32::try_from(rt.waiting.len()).unwrap_or(u32::MAX),
        };
        self.run.send(header, self.id, to, msg);
    }

    fn timer(&mut self, op: TimerOp<N::Timer>) {
        match op {
            TimerOp::Set { timer, after } => {
                self.run.arm_timer(self.id, timer, self.done + ns(after));
            }
            TimerOp::Cancel(timer) => {
                self.run.nodes[self.id.index()].timers.remove(&timer);
            }
        }
    }
}

/// Executor-derived metric: postcard-encoded bytes of each message sent
/// (measured when a link limits bandwidth or an objective or constraint names it).
pub const BYTES_SENT: &str = "bytes_sent";
