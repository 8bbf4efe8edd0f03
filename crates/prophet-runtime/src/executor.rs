//! The live executor of one node: a task that takes one event at a time from
//! its inbox, in arrival order, and runs the node's handler through
//! [`prophet::model::execute`], the same function the explorer and the
//! simulator call.
//!
//! After a handler returns, its decisions and metrics are logged, its timers
//! armed or disarmed, and its messages staged (encoded at once for a
//! connected idle link, see [`PeerQueue::is_direct`]). A node handles what
//! one wake-up brought as a burst: first up to [`EVENTS_PER_WAKE`] inbox
//! events, then messages from its inbound connections, each handled as its
//! frame is decoded, up to [`READ_BATCH_MAX`] events in all. At the end of
//! the burst the
//! durable value, if it changed, is written and synced once (group commit),
//! and only then do the staged messages leave, so no message leaves before
//! the state it depends on is on disk. A handler that panics discards its
//! burst's staged messages and unsynced state, as a crash would.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Instant;

use prophet::choice::FeedbackTracker;
use prophet::model::{
    Decision, EffectSink, Effects, Input, MetricOp, Node, NodeId, System, TimerOp, apply_effects,
    execute,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::RuntimeError;
use crate::choice::LiveChooser;
use crate::durable::DurableStore;
use crate::metrics::{NodeStats, Registry};
use crate::transport::{Inbound, PeerQueue, READ_BATCH_MAX, Transport};

/// A map keyed by span: hashed with foldhash (span keys come from the
/// node's own code, not from the network, so a fast hash is safe here).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Spans (`begin_span` without `end_span` yet) kept per node; beyond this a
/// new span is not timed and a warning is logged.
pub const SPANS_OPEN_MAX: usize = 65_536;

/// One handler in this many is timed for `prophet_handler_seconds`.
pub const HANDLER_TIMING_EVERY: u64 = 64;

/// Inbox events taken per wake-up (handled one at a time, before the
/// messages read from inbound connections in the same wake-up).
pub const EVENTS_PER_WAKE: usize = 64;

/// An event in a node's inbox.
pub enum NodeEvent<N: Node> {
    /// A message from a node.
    Message(NodeId, N::Msg),
    /// A timer fired; stale generations are ignored.
    Timer(N::Timer, u64),
    /// A request for the node's current state.
    Snapshot(oneshot::Sender<NodeSnapshot>),
    /// Stop after the events before this one.
    Stop,
    /// An authenticated connection from a peer: the node reads it itself.
    /// (Boxed: it is rare and large, and every event is moved.)
    Inbound(Box<Inbound>),
}

impl<N: Node> From<Inbound> for NodeEvent<N> {
    fn from(inbound: Inbound) -> Self {
        NodeEvent::Inbound(Box::new(inbound))
    }
}

impl<N: Node> From<(NodeId, N::Msg)> for NodeEvent<N> {
    fn from((from, msg): (NodeId, N::Msg)) -> Self {
        NodeEvent::Message(from, msg)
    }
}

/// A node's state as seen from outside.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct NodeSnapshot {
    /// The node.
    pub id: u32,
    /// `Debug` of the state, for people.
    pub debug: String,
    /// postcard of the state, for programs (hex in JSON).
    pub state: Vec<u8>,
    /// Handlers run so far.
    pub handled: u64,
}

/// Where decisions go besides the metrics: the seam for the live resolver's
/// decision log (it sees every choice by its stable name).
pub trait DecisionLog: Send + Sync {
    /// Called once per `choose` a handler made, in call order.
    fn decided(&self, node: NodeId, decision: &Decision);
}

/// Where every handled input goes, with its choice outcomes: the seam for
/// recording a live run as a schedule, which the checker can replay (the
/// differential test in `tests/loopback.rs` does).
pub trait InputLog: Send + Sync {
    /// Called after each handler that completed, in the node's handling
    /// order: the node, the postcard encoding of its
    /// [`prophet::model::Input`], and the index chosen at each `choose`.
    fn handled(&self, node: NodeId, input: &[u8], choices: &[usize]);
}

/// The transport type nodes of type `N` use.
pub type NodeTransport<N> = Transport<<N as Node>::Msg, NodeEvent<N>>;

/// Everything a node task needs.
pub struct NodeTask<N: Node> {
    /// The system the node belongs to (its configuration is `nodes()[id]`).
    pub system: Arc<System<N>>,
    /// Which node.
    pub id: NodeId,
    /// The process's transport.
    pub transport: Arc<NodeTransport<N>>,
    /// The node's inbox (its sender is in the transport and in `inbox_tx`).
    pub inbox: mpsc::Receiver<NodeEvent<N>>,
    /// A sender to the same inbox, for timers.
    pub inbox_tx: mpsc::Sender<NodeEvent<N>>,
    /// The durable file, or `None` for a node kept in memory only.
    pub store: Option<DurableStore>,
    /// Resolves `choose` and learns from outcomes.
    pub chooser: Box<dyn LiveChooser>,
    /// Optional decision log.
    pub decisions: Option<Arc<dyn DecisionLog>>,
    /// Optional log of handled inputs.
    pub inputs: Option<Arc<dyn InputLog>>,
    /// The process's counters.
    pub metrics: Arc<Registry>,
}

struct Running<N: Node> {
    task: NodeTask<N>,
    state: N::State,
    effects: Effects<N>,
    timers: HashMap<N::Timer, (u64, JoinHandle<()>)>,
    timer_generation: u64,
    spans: FastMap<(&'static str, u64), Instant>,
    /// Decisions waiting for their outcome (the simulator's tracker).
    feedback: FeedbackTracker,
    /// Decisions made so far: the next one's number in the decision log.
    decisions_made: u64,
    started: Instant,
    /// Per destination: its link (made on first send) and what handlers
    /// sent on it during this wake-up, sent together when the burst ends.
    links: Vec<Outbox<N::Msg>>,
    /// Destinations with staged messages.
    dirty_links: Vec<usize>,
    stats: Arc<NodeStats>,
    handled: u64,
    /// Handlers already added to `stats.handlers`.
    counted: u64,
    /// Connections from peers, read by this task, which runs each message's
    /// handler as its frame is decoded.
    inbound: Vec<Inbound>,
}

/// The live runtime's effects: timers armed on the node's clock, messages
/// staged per link (encoded at once for a direct link, else queued; see
/// [`Outbox`]) until the burst of events is handled, so a burst leaves in
/// one write per link (see `send_staged`).
struct LiveSink<'r, N: Node> {
    id: NodeId,
    task: &'r NodeTask<N>,
    links: &'r mut Vec<Outbox<N::Msg>>,
    dirty_links: &'r mut Vec<usize>,
    timers: &'r mut HashMap<N::Timer, (u64, JoinHandle<()>)>,
    timer_generation: &'r mut u64,
}

impl<N: Node> EffectSink<N> for LiveSink<'_, N> {
    fn send(&mut self, to: NodeId, msg: N::Msg) {
        let (id, task) = (self.id, self.task);
        // `apply_effects` checked the destination exists.
        let outbox = &mut self.links[to.index()];
        let queue = outbox
            .queue
            .get_or_insert_with(|| task.transport.link(id.0, to.0));
        let Some(at) = task.transport.departure(queue) else {
            return;
        };
        let direct = match outbox.direct {
            Some(direct) => direct,
            None => {
                self.dirty_links.push(to.index());
                *outbox.direct.insert(queue.is_direct())
            }
        };
        if direct && at.is_none() && outbox.queued.is_empty() {
            if queue.encode_frame(&msg, &mut outbox.bytes) {
                outbox.frames += 1;
            }
        } else {
            outbox.queued.push((at, msg));
        }
    }

    fn timer(&mut self, op: TimerOp<N::Timer>) {
        match op {
            TimerOp::Set { timer, after } => {
                *self.timer_generation += 1;
                let generation = *self.timer_generation;
                let inbox = self.task.inbox_tx.clone();
                let fired = timer.clone();
                let handle = tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let _ = inbox.send(NodeEvent::Timer(fired, generation)).await;
                });
                if let Some((_, old)) = self.timers.insert(timer, (generation, handle)) {
                    old.abort();
                }
            }
            TimerOp::Cancel(timer) => {
                if let Some((_, old)) = self.timers.remove(&timer) {
                    old.abort();
                }
            }
        }
    }
}

/// One destination's link, and what one wake-up's handlers sent on it
/// until the burst ends.
struct Outbox<M> {
    /// The link, made when the node first sends to the destination.
    queue: Option<Arc<PeerQueue<M>>>,
    /// Whether the burst is encoded here and written straight to the
    /// socket (decided at the burst's first message on the link, see
    /// [`PeerQueue::is_direct`]); `None` while nothing is staged.
    direct: Option<bool>,
    /// Frames encoded for a direct link, in send order.
    bytes: Vec<u8>,
    /// How many frames `bytes` holds.
    frames: u64,
    /// Messages for the link's queue (with the time each may leave): every
    /// message of a link that is not direct, and on a direct link every
    /// message from the first delayed one on, so order is kept.
    queued: Vec<(Option<tokio::time::Instant>, M)>,
}

impl<M> Default for Outbox<M> {
    fn default() -> Self {
        Outbox {
            queue: None,
            direct: None,
            bytes: Vec::new(),
            frames: 0,
            queued: Vec::new(),
        }
    }
}

impl<M> Outbox<M> {
    /// Forgets what was staged (a handler of the burst failed).
    fn discard(&mut self) {
        self.direct = None;
        self.bytes.clear();
        self.frames = 0;
        self.queued.clear();
    }
}

impl<N: Node> NodeTask<N> {
    /// Runs the node until a `Stop` event or an error.
    pub async fn run(mut self) -> Result<(), RuntimeError> {
        let id = self.id;
        let recovered: Option<N::Durable> = match self.store.as_mut() {
            Some(store) => store.load()?,
            None => None,
        };
        if recovered.is_some() {
            info!(node = id.0, "recovered durable state");
        }
        let node_count = self.system.nodes().len();
        let state = self.system.nodes()[id.index()].init(id, recovered);
        let stats = self.metrics.node(id.0);
        stats.up.store(1, Ordering::Relaxed);
        let mut running = Running {
            task: self,
            state,
            effects: Effects::default(),
            timers: HashMap::new(),
            timer_generation: 0,
            spans: FastMap::default(),
            feedback: FeedbackTracker::new(),
            decisions_made: 0,
            started: Instant::now(),
            links: (0..node_count).map(|_| Outbox::default()).collect(),
            dirty_links: Vec::new(),
            stats: Arc::clone(&stats),
            handled: 0,
            counted: 0,
            inbound: Vec::new(),
        };
        let result = running.event_loop().await;
        stats.up.store(0, Ordering::Relaxed);
        for (_, (_, handle)) in running.timers.drain() {
            handle.abort();
        }
        if let Err(error) = &result {
            error!(node = id.0, %error, "node stopped");
        }
        result
    }
}

impl<N: Node> Running<N> {
    async fn event_loop(&mut self) -> Result<(), RuntimeError> {
        let started = self.handle(Input::Start);
        self.end_burst(started.map(|()| false).map_err(|e| *e))
            .await?;
        let mut events = Vec::with_capacity(EVENTS_PER_WAKE);
        while let Some(outcome) = std::future::poll_fn(|cx| self.poll_burst(cx, &mut events)).await
        {
            if self.end_burst(outcome).await? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Ends a burst of handlers (group commit): the durable state, if it
    /// changed, is written and synced once, then the messages the burst's
    /// handlers sent leave. If a handler failed, its state may be half
    /// updated, so nothing is persisted or sent: the node stops as if it
    /// crashed before the burst. Returns whether the node is to stop.
    async fn end_burst(
        &mut self,
        outcome: Result<bool, RuntimeError>,
    ) -> Result<bool, RuntimeError> {
        // Counted per burst: one atomic add instead of one per handler.
        let handled = self.handled - self.counted;
        self.stats.handlers.fetch_add(handled, Ordering::Relaxed);
        self.counted = self.handled;
        if outcome.is_err() {
            for index in self.dirty_links.drain(..) {
                self.links[index].discard();
            }
            return outcome;
        }
        self.persist().await?;
        self.send_staged()?;
        outcome
    }

    /// Handles what is ready, as one burst: the inbox's events (timers,
    /// local messages, new connections, control), then the messages read
    /// from inbound connections, each handled as soon as it is decoded (no
    /// buffer between socket and handler). `Ready(None)` once the inbox is
    /// closed; `Ready(Some(outcome))` after a burst, with whether the node
    /// is to stop (or why a handler failed; the burst stops there);
    /// `Pending` registers the task with every source.
    fn poll_burst(
        &mut self,
        cx: &mut Context<'_>,
        events: &mut Vec<NodeEvent<N>>,
    ) -> Poll<Option<Result<bool, RuntimeError>>> {
        if let Poll::Ready(0) = self.task.inbox.poll_recv_many(cx, events, EVENTS_PER_WAKE) {
            return Poll::Ready(None);
        }
        let mut handled = events.len();
        if handled > 0 {
            self.stats
                .inbox_depth
                .store(self.task.inbox.len() as i64, Ordering::Relaxed);
        }
        for event in events.drain(..) {
            let outcome = self.dispatch(event);
            if !matches!(outcome, Ok(false)) {
                return Poll::Ready(Some(outcome));
            }
        }
        // Start with a different connection each time, so one busy peer
        // cannot fill every wake-up.
        let mut inbound = std::mem::take(&mut self.inbound);
        if inbound.len() > 1 {
            inbound.rotate_left(1);
        }
        let mut outcome = Ok(());
        // Whether a connection gave something (even frames a cut link
        // drops): its read did not register this task for more, so the
        // burst must end and the node poll again rather than sleep.
        let mut progressed = false;
        let mut index = 0;
        while index < inbound.len() && handled < READ_BATCH_MAX && outcome.is_ok() {
            let room = READ_BATCH_MAX - handled;
            let read = inbound[index].poll_read(cx, room, |from, msg| {
                handled += 1;
                if outcome.is_ok() {
                    outcome = self.handle(Input::Message(from, msg));
                }
            });
            match read {
                Poll::Ready(false) => {
                    progressed = true;
                    inbound.swap_remove(index);
                }
                Poll::Ready(true) => {
                    progressed = true;
                    index += 1;
                }
                Poll::Pending => index += 1,
            }
        }
        // Connections only arrive as inbox events, handled above.
        self.inbound = inbound;
        match outcome {
            Err(error) => Poll::Ready(Some(Err(*error))),
            Ok(()) if handled > 0 || progressed => Poll::Ready(Some(Ok(false))),
            Ok(()) => Poll::Pending,
        }
    }

    /// Sends what handlers sent since the last call: per link, the frames
    /// encoded for a direct link in one write, then what takes the queue
    /// (see [`PeerQueue::write_burst`] and [`PeerQueue::send_all`]). Every
    /// message staged here comes from a handler whose durable state is
    /// already on disk.
    fn send_staged(&mut self) -> Result<(), RuntimeError> {
        let mut result = Ok(());
        for index in self.dirty_links.drain(..) {
            let outbox = &mut self.links[index];
            outbox.direct = None;
            let Some(queue) = &outbox.queue else {
                continue;
            };
            if outbox.frames > 0 {
                queue.write_burst(&mut outbox.bytes, outbox.frames);
                outbox.frames = 0;
            }
            if !outbox.queued.is_empty()
                && let Err(error) = queue.send_all(&mut outbox.queued)
                && result.is_ok()
            {
                result = Err(RuntimeError::LinkOverflow {
                    node: self.task.id.0,
                    to: index as u32,
                    message: error.to_string(),
                });
            }
        }
        result
    }

    /// Handles one inbox event; `true` when it asks the node to stop.
    fn dispatch(&mut self, event: NodeEvent<N>) -> Result<bool, RuntimeError> {
        {
            match event {
                NodeEvent::Message(from, msg) => {
                    self.handle(Input::Message(from, msg)).map_err(|e| *e)?
                }
                NodeEvent::Timer(timer, generation) => {
                    if self
                        .timers
                        .get(&timer)
                        .is_some_and(|(g, _)| *g == generation)
                    {
                        self.timers.remove(&timer);
                        self.handle(Input::Timer(timer)).map_err(|e| *e)?;
                    }
                }
                NodeEvent::Snapshot(reply) => {
                    let _ = reply.send(NodeSnapshot {
                        id: self.task.id.0,
                        debug: format!("{:?}", self.state),
                        state: postcard::to_allocvec(&self.state).unwrap_or_default(),
                        handled: self.handled,
                    });
                }
                NodeEvent::Stop => {
                    info!(node = self.task.id.0, "stopping");
                    return Ok(true);
                }
                NodeEvent::Inbound(inbound) => self.inbound.push(*inbound),
            }
        }
        Ok(false)
    }

    /// Runs one handler and applies its effects. The error (a panicking
    /// handler) is boxed: this runs per message, and a small `Result` is
    /// cheaper to return.
    fn handle(&mut self, input: Input<N>) -> Result<(), Box<RuntimeError>> {
        let id = self.task.id;
        self.effects.clear();
        // Encoded before the handler takes it; only when a log is attached.
        let logged = self
            .task
            .inputs
            .as_ref()
            .map(|_| postcard::to_allocvec(&input));
        // Reading the clock costs as much as a small handler on some
        // machines, so handler time is sampled; every handler is counted.
        let started = self
            .handled
            .is_multiple_of(HANDLER_TIMING_EVERY)
            .then(Instant::now);
        let ran = catch_unwind(AssertUnwindSafe(|| {
            execute(
                &self.task.system,
                id,
                &mut self.state,
                input,
                &mut self.effects,
                self.task.chooser.as_mut(),
            )
        }));
        let finished = started.map(|started| {
            let now = Instant::now();
            self.stats.observe_handler(now.duration_since(started));
            now
        });
        self.handled += 1;
        if let Err(payload) = ran {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            return Err(Box::new(RuntimeError::HandlerPanicked {
                node: id.0,
                message,
            }));
        }
        if !(self.effects.decisions.is_empty() && self.effects.metrics.is_empty()) {
            self.observe(finished);
        }
        let Running {
            task,
            effects,
            links,
            dirty_links,
            timers,
            timer_generation,
            ..
        } = self;
        let count = task.system.nodes().len();
        let mut sink = LiveSink {
            id,
            task,
            links,
            dirty_links,
            timers,
            timer_generation,
        };
        apply_effects(id, count, effects, &mut sink).map_err(|e| {
            Box::new(RuntimeError::HandlerFailed {
                node: id.0,
                message: e.to_string(),
            })
        })?;
        if let (Some(log), Some(input)) = (&task.inputs, logged) {
            let input = input.map_err(|e| Box::new(RuntimeError::Encode(e.to_string())))?;
            let choices: Vec<usize> = effects.decisions.iter().map(|d| d.chosen).collect();
            log.handled(id, &input, &choices);
        }
        Ok(())
    }

    /// Logs the last handler's decisions and applies its metric events
    /// (`finished`: when it returned, if the clock was read). Kept out of
    /// [`Running::handle`]: most handlers neither choose nor record.
    #[inline(never)]
    fn observe(&mut self, finished: Option<Instant>) {
        let id = self.task.id;
        let first_decision = self.decisions_made;
        self.decisions_made += self.effects.decisions.len() as u64;
        // Decisions and outcomes are numbered by two counters that must agree.
        debug_assert!(
            self.task
                .chooser
                .decided()
                .is_none_or(|d| d == self.decisions_made)
        );
        for decision in &self.effects.decisions {
            self.task
                .metrics
                .choice(id.0, decision.name, decision.chosen);
            if let Some(log) = &self.task.decisions {
                log.decided(id, decision);
            }
        }
        // The clock is read only when the handler recorded something.
        let now = match finished {
            Some(now) => now,
            None if self.effects.metrics.is_empty() => self.started,
            None => Instant::now(),
        };
        // Outcomes are paired with decisions by the handle the protocol
        // gave, exactly as in the simulator.
        let at = now.duration_since(self.started);
        for outcome in self
            .feedback
            .handler_ran(id, &self.effects, first_decision, at, at)
        {
            self.task.chooser.observe(&outcome);
        }
        for op in self.effects.metrics.drain(..) {
            match op {
                MetricOp::Record { metric, value } => self.task.metrics.record(id.0, metric, value),
                MetricOp::Begin { metric, key } => {
                    if self.spans.len() < SPANS_OPEN_MAX {
                        self.spans.insert((metric, key), now);
                    } else {
                        warn!(
                            node = id.0,
                            metric, "too many open spans; not timing this one"
                        );
                    }
                }
                MetricOp::End { metric, key } => {
                    if let Some(began) = self.spans.remove(&(metric, key)) {
                        let took = now.duration_since(began);
                        self.task.metrics.record(id.0, metric, took.as_secs_f64());
                    }
                }
                MetricOp::Outcome { .. } | MetricOp::OutcomeSample { .. } => {}
            }
        }
    }

    async fn persist(&mut self) -> Result<(), RuntimeError> {
        let Some(store) = self.task.store.as_ref() else {
            return Ok(());
        };
        let node = &self.task.system.nodes()[self.task.id.index()];
        let payload = postcard::to_allocvec(&node.durable(&self.state))
            .map_err(|e| RuntimeError::Encode(e.to_string()))?;
        if !store.is_new(&payload) {
            return Ok(());
        }
        let Some(mut store) = self.task.store.take() else {
            return Ok(());
        };
        let (store, result) = tokio::task::spawn_blocking(move || {
            let result = store.store(&payload);
            (store, result)
        })
        .await
        .map_err(|e| RuntimeError::Encode(format!("durable writer task failed: {e}")))?;
        self.task.store = Some(store);
        result?;
        self.stats.durable_writes.fetch_add(1, Ordering::Relaxed);
        debug!(node = self.task.id.0, "durable state synced");
        Ok(())
    }
}
