//! Moving messages between nodes: per-link bounded send queues, writer tasks
//! that (re)connect and authenticate, and the accept loop that reads frames
//! into the local nodes' inboxes.
//!
//! Topology: for each directed pair (local node `a`, node `b`) that `a`
//! sends to, one queue and one writer task. If `b` lives in this process the
//! writer hands messages straight to `b`'s inbox; otherwise it dials `b`,
//! runs the handshake as `a`, and writes frames. Receiving happens on the
//! connections other nodes dial to us. So a pair of remote nodes uses two TCP
//! connections, one per direction, and no connection is ever shared by two
//! senders, which keeps per-link FIFO order trivially.
//!
//! Slow peers ([`QueuePolicy`]): a system whose network semantics are lossy
//! gets `DropOldest` (a full queue drops its oldest message, counted in
//! `prophet_messages_dropped_queue_total`), since its protocol already copes
//! with loss and a stale message is the least useful one. A system that
//! assumes a reliable network gets `BackPressure`: the sending node waits for
//! room, so nothing is dropped by the runtime, at the price that a peer
//! which stays unreachable for a full queue's worth of messages stalls its
//! senders. Either way, messages already written to a socket that then breaks
//! may be lost (TCP gives no end-to-end acknowledgement); they are counted in
//! `prophet_messages_dropped_connection_total`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prophet::model::NodeId;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::auth::{self, AuthError, Secret};
use crate::codec::{CodecError, Frame};
use crate::connection::{ConnError, Framed};
use crate::faults::{FaultTable, Verdict};
use crate::metrics::{LinkStats, Registry, Rejection};

/// Messages written per batch (one `write` call).
pub const BATCH_MSGS_MAX: usize = 256;

/// Frames decoded from one connection and handed to an inbox in one go (at
/// most the inbox's capacity).
pub const READ_BATCH_MAX: usize = 1024;

/// First reconnect delay; doubles per failure up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(50);

/// Longest reconnect delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Longest wait for a TCP connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What a full send queue does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueuePolicy {
    /// Drop the oldest queued message (systems with lossy network semantics).
    DropOldest,
    /// Make the sender wait for room (systems that assume no loss).
    BackPressure,
}

/// What the transport needs to know about the cluster.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// Cluster id, checked in the handshake.
    pub cluster: String,
    /// Shared secret.
    pub secret: Secret,
    /// Where to dial each node, indexed by node id (`host:port`).
    pub addrs: Vec<String>,
    /// Largest frame body accepted or sent.
    pub max_frame_bytes: usize,
    /// Capacity of each per-link send queue.
    pub send_queue: usize,
    /// What a full queue does.
    pub policy: QueuePolicy,
}

/// One directed link's queue.
pub struct PeerQueue<M> {
    from: u32,
    to: u32,
    /// Messages with the time they may leave (`None`: at once, no clock read).
    items: Mutex<VecDeque<(Option<Instant>, M)>>,
    capacity: usize,
    policy: QueuePolicy,
    ready: Notify,
    room: Notify,
    stats: Arc<LinkStats>,
}

enum Pop {
    Got,
    NotBefore(Instant),
    Empty,
}

impl<M> PeerQueue<M> {
    /// Queues `msg`, to leave no earlier than `at`, under the queue's policy.
    /// With `wake` false the writer is not woken (the caller calls
    /// [`PeerQueue::wake`] once after a burst), except when the queue is full.
    pub async fn push(&self, at: Option<Instant>, msg: M, wake: bool) {
        // Fast path without registering as a waiter: there is room.
        let mut msg = Some(msg);
        if self.try_push(at, &mut msg, wake) {
            return;
        }
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if self.try_push(at, &mut msg, wake) {
                return;
            }
            // Full: the writer must drain before anyone can push.
            self.ready.notify_one();
            room.await;
        }
    }

    /// Wakes the writer to send what is queued.
    pub fn wake(&self) {
        self.ready.notify_one();
    }

    /// Queues `msg` if there is room (or the policy drops the oldest).
    fn try_push(&self, at: Option<Instant>, msg: &mut Option<M>, wake: bool) -> bool {
        let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        if items.len() >= self.capacity && self.policy == QueuePolicy::DropOldest {
            items.pop_front();
            self.stats.dropped_queue.fetch_add(1, Ordering::Relaxed);
            self.stats.queue_depth.fetch_sub(1, Ordering::Relaxed);
        }
        if items.len() >= self.capacity {
            return false;
        }
        if let Some(msg) = msg.take() {
            items.push_back((at, msg));
        }
        self.stats.queue_depth.fetch_add(1, Ordering::Relaxed);
        drop(items);
        if wake {
            self.ready.notify_one();
        }
        true
    }

    /// Moves up to `max` due messages into `out`.
    fn pop_batch(&self, max: usize, out: &mut Vec<M>) -> Pop {
        let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        let mut now = None;
        while out.len() < max {
            let due = match items.front() {
                Some((None, _)) => true,
                Some((Some(at), _)) => *at <= *now.get_or_insert_with(Instant::now),
                None => false,
            };
            match items.front() {
                Some(_) if due => {
                    if let Some((_, msg)) = items.pop_front() {
                        out.push(msg);
                    }
                }
                Some((Some(at), _)) if out.is_empty() => return Pop::NotBefore(*at),
                Some(_) => break,
                None if out.is_empty() => return Pop::Empty,
                None => break,
            }
        }
        self.stats
            .queue_depth
            .fetch_sub(out.len() as i64, Ordering::Relaxed);
        drop(items);
        self.room.notify_waiters();
        Pop::Got
    }
}

/// Every link queue of a process, by (from, to).
type Links<M> = HashMap<(u32, u32), Arc<PeerQueue<M>>>;

/// The transport of one process, for messages `M` delivered into inboxes of
/// events `E`.
pub struct Transport<M, E> {
    config: TransportConfig,
    inboxes: HashMap<u32, mpsc::Sender<E>>,
    links: Mutex<Links<M>>,
    faults: Arc<FaultTable>,
    metrics: Arc<Registry>,
}

impl<M, E> Transport<M, E>
where
    M: Serialize + DeserializeOwned + Send + Sync + 'static,
    E: From<(NodeId, M)> + Send + 'static,
{
    /// A transport for the local nodes whose inboxes are given.
    pub fn new(
        config: TransportConfig,
        inboxes: HashMap<u32, mpsc::Sender<E>>,
        faults: Arc<FaultTable>,
        metrics: Arc<Registry>,
    ) -> Arc<Self> {
        Arc::new(Transport {
            config,
            inboxes,
            links: Mutex::new(HashMap::new()),
            faults,
            metrics,
        })
    }

    /// The queue of link `from → to`, creating it and its writer on first use.
    pub fn link(self: &Arc<Self>, from: u32, to: u32) -> Arc<PeerQueue<M>> {
        let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(q) = links.get(&(from, to)) {
            return Arc::clone(q);
        }
        let queue = Arc::new(PeerQueue {
            from,
            to,
            items: Mutex::new(VecDeque::new()),
            capacity: self.config.send_queue.max(1),
            policy: self.config.policy,
            ready: Notify::new(),
            room: Notify::new(),
            stats: self.metrics.link(from, to),
        });
        links.insert((from, to), Arc::clone(&queue));
        let this = Arc::clone(self);
        let q = Arc::clone(&queue);
        if let Some(inbox) = self.inboxes.get(&to).cloned() {
            tokio::spawn(async move { this.run_local_writer(q, inbox).await });
        } else {
            tokio::spawn(async move { this.run_remote_writer(q).await });
        }
        queue
    }

    /// Sends `msg` on `queue` through the fault layer (see
    /// [`PeerQueue::push`] for `wake`).
    pub async fn send(&self, queue: &PeerQueue<M>, msg: M, wake: bool) {
        match self.faults.outbound(queue.from, queue.to) {
            Verdict::Send { delay } if delay.is_zero() => queue.push(None, msg, wake).await,
            Verdict::Send { delay } => queue.push(Some(Instant::now() + delay), msg, wake).await,
            Verdict::Partitioned | Verdict::Lost => {
                queue.stats.dropped_fault.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Waits for work on `queue`: `false` if `closed` completed first.
    async fn next_batch(queue: &PeerQueue<M>, batch: &mut Vec<M>) {
        loop {
            let ready = queue.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            match queue.pop_batch(BATCH_MSGS_MAX, batch) {
                Pop::Got => return,
                Pop::NotBefore(at) => tokio::time::sleep_until(at).await,
                Pop::Empty => ready.await,
            }
        }
    }

    async fn run_local_writer(self: Arc<Self>, queue: Arc<PeerQueue<M>>, inbox: mpsc::Sender<E>) {
        let mut batch = Vec::new();
        loop {
            Self::next_batch(&queue, &mut batch).await;
            for msg in batch.drain(..) {
                queue.stats.sent_msgs.fetch_add(1, Ordering::Relaxed);
                if self.faults.inbound_cut(queue.from, queue.to) {
                    queue.stats.dropped_fault.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                queue.stats.recv_msgs.fetch_add(1, Ordering::Relaxed);
                if inbox
                    .send(E::from((NodeId(queue.from), msg)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }

    async fn connect(&self, from: u32, to: u32) -> Result<Framed, String> {
        let addr = self
            .config
            .addrs
            .get(to as usize)
            .ok_or_else(|| format!("no address for node {to}"))?;
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr.as_str()))
            .await
            .map_err(|_| format!("connect to {addr} timed out"))?
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let mut conn = Framed::new(stream, self.config.max_frame_bytes);
        auth::dial::<M>(
            &mut conn,
            &self.config.secret,
            &self.config.cluster,
            from,
            to,
        )
        .await
        .map_err(|e| format!("handshake with n{to} at {addr}: {e}"))?;
        Ok(conn)
    }

    async fn run_remote_writer(self: Arc<Self>, queue: Arc<PeerQueue<M>>) {
        let (from, to) = (queue.from, queue.to);
        let mut backoff = BACKOFF_MIN;
        let mut failures = 0u64;
        let mut batch: Vec<M> = Vec::new();
        loop {
            let mut conn = match self.connect(from, to).await {
                Ok(conn) => conn,
                Err(error) => {
                    // Warn on the first failure of a streak, then stay quiet.
                    if failures == 0 {
                        warn!(from, to, %error, "cannot reach peer; retrying with backoff");
                    } else {
                        debug!(from, to, %error, ?backoff, "still cannot reach peer");
                    }
                    failures += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            };
            info!(from, to, after_failures = failures, "connected");
            failures = 0;
            backoff = BACKOFF_MIN;
            queue.stats.connects.fetch_add(1, Ordering::Relaxed);
            loop {
                if batch.is_empty() {
                    // The acceptor never writes after the handshake, so a
                    // completed read means the peer went away.
                    tokio::select! {
                        () = Self::next_batch(&queue, &mut batch) => {}
                        closed = conn.read_frame::<M>() => {
                            debug!(from, to, closed = ?closed.err(), "peer closed the connection");
                            break;
                        }
                    }
                }
                let mut bytes = 0;
                let count = batch.len();
                for msg in batch.drain(..) {
                    match conn.push(&Frame::Data(&msg)) {
                        Ok(n) => bytes += n,
                        Err(error) => {
                            warn!(from, to, %error, "message cannot be sent; dropped");
                            queue.stats.dropped_queue.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                if let Err(error) = conn.flush().await {
                    warn!(from, to, %error, lost = count, "connection broke while sending");
                    queue
                        .stats
                        .dropped_conn
                        .fetch_add(count as u64, Ordering::Relaxed);
                    break;
                }
                queue
                    .stats
                    .sent_msgs
                    .fetch_add(count as u64, Ordering::Relaxed);
                queue
                    .stats
                    .sent_bytes
                    .fetch_add(bytes as u64, Ordering::Relaxed);
            }
        }
    }

    /// Accepts connections on `listener` forever.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let this = Arc::clone(&self);
                    tokio::spawn(async move { this.serve_connection(stream).await });
                }
                Err(error) => {
                    warn!(%error, "accept failed");
                    tokio::time::sleep(BACKOFF_MIN).await;
                }
            }
        }
    }

    fn reject(&self, error: &ConnError) {
        let why = match error {
            ConnError::Codec(CodecError::Oversize { .. }) => Rejection::Oversize,
            ConnError::Codec(CodecError::Truncated { .. }) => Rejection::Truncated,
            _ => Rejection::Malformed,
        };
        self.metrics.reject(why);
    }

    async fn serve_connection(self: Arc<Self>, stream: TcpStream) {
        let mut conn = Framed::new(stream, self.config.max_frame_bytes);
        let peer = conn.peer_addr();
        let nodes = self.config.addrs.len();
        let accepted = auth::accept::<M>(
            &mut conn,
            &self.config.secret,
            &self.config.cluster,
            |from, to| (from as usize) < nodes && self.inboxes.contains_key(&to),
        )
        .await;
        let (from, to) = match accepted {
            Ok(pair) => pair,
            Err(AuthError::Conn(error)) => {
                warn!(%peer, %error, "closing connection during handshake");
                self.reject(&error);
                return;
            }
            Err(error) => {
                warn!(%peer, %error, "refused connection");
                self.metrics.reject(Rejection::Handshake);
                return;
            }
        };
        debug!(%peer, from, to, "accepted");
        let Some(inbox) = self.inboxes.get(&to).cloned() else {
            return;
        };
        let stats = self.metrics.link(from, to);
        // Everything one socket read brought is decoded first and handed to
        // the inbox under one reservation, so the node wakes once per read
        // and handles the whole burst before its writers are woken.
        let batch_max = inbox.max_capacity().clamp(1, READ_BATCH_MAX);
        let mut frames: Vec<Frame<M>> = Vec::with_capacity(batch_max);
        loop {
            match conn.read_frames::<M>(batch_max, &mut frames).await {
                Ok(bytes) => {
                    stats.recv_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
                    if self.faults.inbound_cut(from, to) {
                        stats
                            .dropped_fault
                            .fetch_add(frames.len() as u64, Ordering::Relaxed);
                        frames.clear();
                        continue;
                    }
                    let Ok(permits) = inbox.reserve_many(frames.len()).await else {
                        return;
                    };
                    let mut delivered = 0u64;
                    let mut bad = false;
                    for (permit, frame) in permits.zip(frames.drain(..)) {
                        match frame {
                            Frame::Data(msg) => {
                                permit.send(E::from((NodeId(from), msg)));
                                delivered += 1;
                            }
                            _ => {
                                bad = true;
                                break;
                            }
                        }
                    }
                    frames.clear();
                    stats.recv_msgs.fetch_add(delivered, Ordering::Relaxed);
                    if bad {
                        warn!(%peer, from, to, "handshake frame after the handshake; closing connection");
                        self.metrics.reject(Rejection::Malformed);
                        return;
                    }
                }
                Err(ConnError::Closed) => {
                    debug!(%peer, from, to, "peer closed");
                    return;
                }
                Err(error) => {
                    warn!(%peer, from, to, %error, "closing connection");
                    self.reject(&error);
                    return;
                }
            }
        }
    }
}
