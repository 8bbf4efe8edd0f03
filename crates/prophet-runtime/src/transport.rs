//! Moving messages between nodes: per-link bounded send queues, writer tasks
//! that (re)connect and authenticate, and the accept loop that hands
//! authenticated connections to the nodes that read them.
//!
//! Topology: for each directed pair (local node `a`, node `b`) that `a`
//! sends to, one queue and one writer task. If `b` lives in this process the
//! writer hands messages straight to `b`'s inbox. A pair of nodes in
//! different processes shares one TCP connection that carries both
//! directions (wire protocol 2): the lower id dials it as soon as its
//! process starts and runs the handshake; the higher id's link waits for
//! it. Each direction of that connection is written by one link only, under
//! its lock, which keeps per-link FIFO order.
//!
//! The fast path crosses no task boundary and moves no message through a
//! queue: on a link that is connected with nothing queued before it
//! ([`PeerQueue::is_direct`]), the node encodes what its handlers send
//! during one wake-up as they send it, and at the end of the burst writes
//! the bytes to the socket itself in one non-blocking write
//! ([`PeerQueue::write_burst`]); the receiving node reads its inbound
//! connections itself and runs each handler as its frame is decoded
//! ([`Inbound`]). The writer task does the rest: connecting, messages the
//! fault layer delays, messages for a link that is busy or down
//! ([`PeerQueue::send_all`]), and the part of a burst a full socket did not
//! take. Writers and the node write under the link's lock, so frames leave
//! in the order they were sent.
//!
//! Slow peers ([`QueuePolicy`]): a node never waits for a peer. A system
//! whose network semantics are lossy gets `DropOldest` (a full queue drops
//! its oldest message, counted in `prophet_messages_dropped_queue_total`),
//! since its protocol already copes with loss and a stale message is the
//! least useful one. A system that assumes a reliable network gets `Spill`:
//! what does not fit in the queue waits in the link's [`Spool`] (a file
//! under the data directory, read back in order as the peer drains the
//! queue), so a peer that is down or cut off gets every message once it is
//! back, and its senders go on serving everyone else meanwhile; a spool
//! over `limits.spool_bytes` stops the sending node with an error (fail-stop,
//! never a silent drop). The queue's capacity bounds what waits in memory
//! for a slow peer; beyond it, a link holds at most the one burst a wake-up
//! staged (the sends of up to [`READ_BATCH_MAX`] events). Either way,
//! messages already written to a socket that then breaks may be lost (TCP
//! gives no end-to-end acknowledgement); they are counted in
//! `prophet_messages_dropped_connection_total`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use prophet::model::NodeId;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::auth::{self, AuthError, Secret};
use crate::codec::{self, CodecError, Frame};
use crate::connection::{ConnError, Framed, HANDSHAKE_FRAME_BYTES_MAX};
use crate::crypt::{Keys, Sealer};
use crate::faults::{FaultTable, Verdict};
use crate::metrics::{LinkStats, Registry, Rejection};
use crate::spool::{Spool, SpoolError};

/// Messages encoded per write (one `write` call).
pub const BATCH_MSGS_MAX: usize = 256;

/// Events a node handles per wake-up, inbox events and messages from its
/// inbound connections together (each message handled as it is decoded).
pub const READ_BATCH_MAX: usize = 1024;

/// First reconnect delay; doubles per failure up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(50);

/// Longest reconnect delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Failed dials to a peer never reached before the first warning (about
/// 1.5 s of backoff): a peer that has not started yet is not news.
pub const QUIET_DIAL_FAILURES: u64 = 5;

/// Longest wait for a TCP connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What a full send queue does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueuePolicy {
    /// Drop the oldest queued message (systems with lossy network semantics).
    DropOldest,
    /// Keep what does not fit in the link's spool (systems that assume no
    /// loss): the sender never waits.
    Spill,
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
    /// Connections not yet past the handshake, at most.
    pub prelogin_connections: usize,
    /// Of those, at most this many from one source address.
    pub prelogin_per_source: usize,
    /// Where links spool (`None`: in memory).
    pub spool_dir: Option<std::path::PathBuf>,
    /// Bytes one link's spool may hold.
    pub spool_bytes: u64,
    /// Whether connections run the Noise handshake and carry records
    /// ([`crate::crypt`]).
    pub encrypt: bool,
}

/// One directed link's queue, and its socket while connected.
///
/// Whoever writes (the sending node after a burst, or the link's writer
/// task) does so holding `state`, with non-blocking writes only, so frames
/// leave in queue order and the lock is never held across an `await`.
pub struct PeerQueue<M> {
    from: u32,
    to: u32,
    state: Mutex<LinkState<M>>,
    capacity: usize,
    policy: QueuePolicy,
    max_frame_bytes: usize,
    ready: Notify,
    stats: Arc<LinkStats>,
}

struct LinkState<M> {
    /// Messages with the time they may leave (`None`: at once, no clock read).
    items: VecDeque<(Option<Instant>, M)>,
    /// Frames encoded but not yet fully written: at most one batch of the
    /// writer's or one burst of the node's, so the queue's capacity (plus
    /// one burst) still bounds what a slow peer holds in memory.
    out: Vec<u8>,
    /// Bytes at the front of `out` already written.
    written: usize,
    /// Offset in `out` of the first frame not yet fully written (`out`
    /// holds whole frames only, so the rest are found by their prefixes).
    unsent_from: usize,
    /// The connection while there is one (remote links only).
    socket: Option<Arc<Conn>>,
    /// What waits beyond the queue's capacity (`Spill` only): non-empty
    /// only while `items` is full, so order is `items`, then the spool.
    spool: Spool,
}

/// One TCP connection between two nodes, carrying both directions: the
/// node with the lower id dials, and after the handshake each end's node
/// reads it ([`Inbound`]) while each end's link writes to it.
pub struct Conn {
    stream: Arc<TcpStream>,
    closed: AtomicBool,
    gone: Notify,
    /// Seals what is written, on an encrypted connection (the one link
    /// writing this direction holds its queue's lock, so this lock is
    /// never contended).
    sealer: Option<Mutex<Sealer>>,
}

impl Conn {
    fn new(stream: Arc<TcpStream>, keys: Option<Arc<Keys>>) -> Arc<Self> {
        Arc::new(Conn {
            stream,
            closed: AtomicBool::new(false),
            gone: Notify::new(),
            sealer: keys.map(|k| Mutex::new(Sealer::new(k))),
        })
    }

    fn sealer(sealer: &Mutex<Sealer>) -> std::sync::MutexGuard<'_, Sealer> {
        sealer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes `bytes` of the frame stream as far as the socket takes them
    /// (sealed into records on an encrypted connection): the bytes taken,
    /// or `WouldBlock`.
    fn try_write(&self, bytes: &[u8]) -> std::io::Result<usize> {
        match &self.sealer {
            None => self.stream.try_write(bytes),
            Some(sealer) => Self::sealer(sealer).try_write(&self.stream, bytes),
        }
    }

    /// Writes sealed bytes still waiting for the socket (`WouldBlock` if
    /// it is full).
    fn flush(&self) -> std::io::Result<()> {
        match &self.sealer {
            None => Ok(()),
            Some(sealer) => Self::sealer(sealer).flush(&self.stream),
        }
    }

    /// Whether sealed bytes wait for the socket.
    fn has_staged(&self) -> bool {
        self.sealer
            .as_ref()
            .is_some_and(|s| Self::sealer(s).has_staged())
    }

    /// Marks the connection over and shuts the socket down, so the other
    /// user of it (reader or writer) stops too.
    fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            let _ = socket2::SockRef::from(&*self.stream).shutdown(std::net::Shutdown::Both);
        }
        self.gone.notify_waiters();
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Completes once the connection is closed.
    async fn closed(&self) {
        loop {
            let gone = self.gone.notified();
            tokio::pin!(gone);
            gone.as_mut().enable();
            if self.is_closed() {
                return;
            }
            gone.await;
        }
    }
}

enum Pop {
    Got,
    NotBefore(Instant),
    Empty,
}

/// Where writing what is queued on a connected link stopped.
enum Pumped {
    /// Nothing due is left; `Some(at)`: a delayed message leaves at `at`.
    Idle(Option<Instant>),
    /// The socket's buffer is full: wait until it is writable.
    Blocked,
    /// The connection failed.
    Broken(std::io::Error),
}

impl<M> PeerQueue<M> {
    fn lock(&self) -> std::sync::MutexGuard<'_, LinkState<M>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes up to `max` due messages off the front of `items`, in order,
    /// handing each to `take` (the caller then refills `items` from the
    /// spool: [`PeerQueue::refill`]).
    fn pop_each(
        &self,
        items: &mut VecDeque<(Option<Instant>, M)>,
        max: usize,
        mut take: impl FnMut(M),
    ) -> Pop {
        let mut now = None;
        let mut taken = 0;
        while taken < max {
            let due = match items.front() {
                Some((None, _)) => true,
                Some((Some(at), _)) => *at <= *now.get_or_insert_with(Instant::now),
                None => false,
            };
            match items.front() {
                Some(_) if due => {
                    if let Some((_, msg)) = items.pop_front() {
                        take(msg);
                        taken += 1;
                    }
                }
                Some((Some(at), _)) if taken == 0 => return Pop::NotBefore(*at),
                Some(_) => break,
                None if taken == 0 => return Pop::Empty,
                None => break,
            }
        }
        self.stats
            .queue_depth
            .fetch_sub(taken as i64, Ordering::Relaxed);
        Pop::Got
    }
}

impl<M: Serialize + DeserializeOwned> PeerQueue<M> {
    /// Queues `msg`, to leave no earlier than `at`, under the queue's
    /// policy, without waking the writer (the caller wakes it once after a
    /// burst) and without waiting: a full queue drops its oldest message
    /// (`DropOldest`) or spools `msg` (`Spill`).
    fn push(&self, at: Option<Instant>, msg: M) -> Result<(), SpoolError> {
        let mut state = self.lock();
        if self.policy == QueuePolicy::DropOldest && state.items.len() >= self.capacity {
            state.items.pop_front();
            self.stats.dropped_queue.fetch_add(1, Ordering::Relaxed);
            self.stats.queue_depth.fetch_sub(1, Ordering::Relaxed);
        }
        if state.items.len() < self.capacity && state.spool.is_empty() {
            state.items.push_back((at, msg));
            self.stats.queue_depth.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        match postcard::to_allocvec(&msg) {
            Ok(body) => {
                state.spool.push(at, &body)?;
                self.stats.spooled.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                warn!(from = self.from, to = self.to, %error, "message cannot be encoded; dropped");
                self.stats.dropped_queue.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Moves spooled messages back into the queue while it has room.
    fn refill(&self, state: &mut LinkState<M>) {
        while state.items.len() < self.capacity && !state.spool.is_empty() {
            match state.spool.pop() {
                Ok(Some((at, body))) => {
                    self.stats.spooled.fetch_sub(1, Ordering::Relaxed);
                    match postcard::from_bytes(&body) {
                        Ok(msg) => {
                            state.items.push_back((at, msg));
                            self.stats.queue_depth.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(error) => {
                            error!(from = self.from, to = self.to, %error, "spooled message does not decode; dropped");
                            self.stats.dropped_queue.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    // The spool's file failed under us: what it held is lost
                    // (counted, logged), the link goes on from the queue,
                    // and the next message that needs a spool stops the
                    // node (a spool with no room).
                    let lost = state.spool.len() as u64;
                    error!(from = self.from, to = self.to, %error, lost, "spool unreadable; its messages are dropped");
                    self.stats.dropped_queue.fetch_add(lost, Ordering::Relaxed);
                    self.stats.spooled.fetch_sub(lost as i64, Ordering::Relaxed);
                    state.spool = Spool::new(None, 0);
                    break;
                }
            }
        }
    }

    /// Writes the rest of the last batch, then encodes and writes batches of
    /// due messages, until nothing due is left or the socket stops taking
    /// bytes.
    fn pump(&self, state: &mut LinkState<M>, conn: &Conn) -> Pumped {
        loop {
            match conn.flush() {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                    return Pumped::Blocked;
                }
                Err(error) => return Pumped::Broken(error),
            }
            while state.written < state.out.len() {
                match conn.try_write(&state.out[state.written..]) {
                    Ok(0) => return Pumped::Broken(std::io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        state.written += n;
                        self.stats.sent_bytes.fetch_add(n as u64, Ordering::Relaxed);
                        self.count_sent(state);
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                        return Pumped::Blocked;
                    }
                    Err(error) => return Pumped::Broken(error),
                }
            }
            state.out.clear();
            state.written = 0;
            state.unsent_from = 0;
            let mut batch = std::mem::take(&mut state.items);
            let popped = self.pop_each(&mut batch, BATCH_MSGS_MAX, |msg| {
                self.encode_frame(&msg, &mut state.out);
            });
            state.items = batch;
            self.refill(state);
            match popped {
                Pop::Got => {}
                // Sealed bytes still to go: wait until the socket takes them.
                _ if conn.has_staged() => return Pumped::Blocked,
                Pop::NotBefore(at) => return Pumped::Idle(Some(at)),
                Pop::Empty => return Pumped::Idle(None),
            }
        }
    }

    /// Queues messages (each with the time it may leave) in order, emptying
    /// `staged`, under the queue's policy (never waiting), and wakes the
    /// writer. This is the path of a link that is not connected, busy,
    /// local, or delayed by the fault layer; a connected idle link takes
    /// [`PeerQueue::write_burst`]. An error means the spool is spent or
    /// broken: the sending node must stop.
    pub fn send_all(&self, staged: &mut Vec<(Option<Instant>, M)>) -> Result<(), SpoolError> {
        let mut result = Ok(());
        for (at, msg) in staged.drain(..) {
            if result.is_ok() {
                result = self.push(at, msg);
            }
        }
        self.ready.notify_one();
        result
    }

    /// Whether the node may encode its next burst itself and write it
    /// straight to the socket ([`PeerQueue::write_burst`]): the link is
    /// connected and nothing is queued or half written before it. Only the
    /// link's node adds to the queue, so this holds until its burst ends
    /// (unless the connection goes, which `write_burst` handles).
    pub fn is_direct(&self) -> bool {
        let state = self.lock();
        state.socket.as_ref().is_some_and(|c| !c.is_closed())
            && state.items.is_empty()
            && state.out.is_empty()
    }

    /// Appends `msg` to `bytes` as one frame; `false` (logged and counted as
    /// dropped) if it cannot be encoded.
    pub fn encode_frame(&self, msg: &M, bytes: &mut Vec<u8>) -> bool {
        match codec::encode(&Frame::Data(msg), self.max_frame_bytes, bytes) {
            Ok(()) => true,
            Err(error) => {
                warn!(from = self.from, to = self.to, %error, "message cannot be sent; dropped");
                self.stats.dropped_queue.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Writes `frames` frames the node encoded into `bytes` (see
    /// [`PeerQueue::is_direct`]) with non-blocking writes, emptying `bytes`.
    /// What the socket does not take at once goes to the link's writer,
    /// which finishes it before anything queued later. If the connection
    /// went since the burst began, none of these frames was written: they
    /// wait, whole, for the next connection (one burst at most: the next
    /// burst sees the link down and takes the bounded queue).
    pub fn write_burst(&self, bytes: &mut Vec<u8>, frames: u64) {
        let mut state = self.lock();
        let conn = state.socket.clone().filter(|c| !c.is_closed());
        let idle = state.out.is_empty() && state.items.is_empty();
        let Some(conn) = conn.filter(|_| idle) else {
            // Only the node adds to the queue and `is_direct` found it
            // empty, so nothing queued can be older than these frames.
            debug_assert!(
                state.items.is_empty(),
                "a direct burst behind queued messages"
            );
            state.out.extend_from_slice(bytes);
            bytes.clear();
            drop(state);
            self.ready.notify_one();
            return;
        };
        let mut written = 0;
        while written < bytes.len() {
            match conn.try_write(&bytes[written..]) {
                Ok(n) if n > 0 => written += n,
                // Full socket, or an error the writer will meet and report.
                _ => break,
            }
        }
        self.stats
            .sent_bytes
            .fetch_add(written as u64, Ordering::Relaxed);
        if written == bytes.len() {
            self.stats.sent_msgs.fetch_add(frames, Ordering::Relaxed);
            bytes.clear();
            if conn.has_staged() {
                // Sealed but not all written: the writer finishes it.
                drop(state);
                self.ready.notify_one();
            }
            return;
        }
        // The rest goes through the writer: swap the buffers (no copy).
        std::mem::swap(&mut state.out, bytes);
        state.written = written;
        state.unsent_from = 0;
        self.count_sent(&mut state);
        drop(state);
        self.ready.notify_one();
    }

    /// Counts as sent the frames the bytes written so far have completed.
    fn count_sent(&self, state: &mut LinkState<M>) {
        let mut done = 0;
        for end in frame_ends(&state.out, state.unsent_from) {
            if end > state.written {
                break;
            }
            state.unsent_from = end;
            done += 1;
        }
        self.stats.sent_msgs.fetch_add(done, Ordering::Relaxed);
    }

    /// Frames not fully written are lost with their connection: dropped
    /// (they must not be finished on another connection) and counted.
    fn drop_unsent(&self, state: &mut LinkState<M>) -> usize {
        let lost = frame_ends(&state.out, state.unsent_from).count();
        state.out.clear();
        state.written = 0;
        state.unsent_from = 0;
        self.stats
            .dropped_conn
            .fetch_add(lost as u64, Ordering::Relaxed);
        lost
    }

    /// Makes `conn` the link's connection (replacing and closing an older
    /// one) and wakes the writer.
    fn install(&self, conn: Arc<Conn>) {
        let mut state = self.lock();
        self.stats.connected.store(1, Ordering::Relaxed);
        if let Some(old) = state.socket.replace(conn) {
            old.close();
            self.drop_unsent(&mut state);
        }
        drop(state);
        self.ready.notify_one();
    }

    /// Forgets `conn` if it is still the link's connection; returns the
    /// frames lost with it.
    fn disconnect(&self, conn: &Arc<Conn>) -> usize {
        conn.close();
        let mut state = self.lock();
        if !state.socket.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            return 0;
        }
        state.socket = None;
        self.stats.connected.store(0, Ordering::Relaxed);
        self.drop_unsent(&mut state)
    }
}

/// The reading side of a connection, read by the node it delivers to (no
/// task between the socket and the node's handler). Dropping it (the
/// connection ended, or the node stopped) closes the connection.
pub struct Inbound {
    conn: Framed,
    link: Arc<Conn>,
    peer: String,
    from: u32,
    to: u32,
    stats: Arc<LinkStats>,
    faults: Arc<FaultTable>,
    metrics: Arc<Registry>,
}

impl Inbound {
    /// Reads what the socket has, up to `max` messages, handing each to
    /// `deliver` as it is decoded (the node runs its handler right there).
    /// `Ready(false)` when the connection is over (closed by the peer, or a
    /// bad frame, logged and counted); `Pending` registers `cx` for more
    /// bytes.
    pub fn poll_read<M: DeserializeOwned>(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
        mut deliver: impl FnMut(NodeId, M),
    ) -> Poll<bool> {
        let (from, to, peer) = (self.from, self.to, &self.peer);
        // Frames that arrive while the link is cut are read and dropped.
        let cut = self.faults.inbound_cut(from, to);
        let (mut delivered, mut dropped, mut bad) = (0u64, 0u64, false);
        let read = self.conn.poll_read_each::<M>(cx, max, |frame| match frame {
            _ if bad => {}
            Frame::Data(_) if cut => dropped += 1,
            Frame::Data(msg) => {
                deliver(NodeId(from), msg);
                delivered += 1;
            }
            _ => bad = true,
        });
        match ready!(read) {
            Ok(bytes) => {
                self.stats
                    .recv_bytes
                    .fetch_add(bytes as u64, Ordering::Relaxed);
                self.stats.recv_msgs.fetch_add(delivered, Ordering::Relaxed);
                self.stats
                    .dropped_fault
                    .fetch_add(dropped, Ordering::Relaxed);
                if bad {
                    warn!(%peer, from, to, "handshake frame after the handshake; closing connection");
                    self.metrics.reject(Rejection::Malformed);
                    return Poll::Ready(false);
                }
                Poll::Ready(true)
            }
            Err(ConnError::Closed) => {
                debug!(%peer, from, to, "peer closed");
                Poll::Ready(false)
            }
            Err(error) => {
                warn!(%peer, from, to, %error, "closing connection");
                self.metrics.reject(rejection(&error));
                Poll::Ready(false)
            }
        }
    }
}

impl Drop for Inbound {
    fn drop(&mut self) {
        self.link.close();
    }
}

/// The rejection counter a connection error belongs to.
fn rejection(error: &ConnError) -> Rejection {
    match error {
        ConnError::Codec(CodecError::Oversize { .. }) => Rejection::Oversize,
        ConnError::Codec(CodecError::Truncated { .. }) => Rejection::Truncated,
        _ => Rejection::Malformed,
    }
}

/// The end offset of each frame in `out[from..]`, found by its length
/// prefix (`from` must be the start of a frame).
fn frame_ends(out: &[u8], from: usize) -> impl Iterator<Item = usize> + '_ {
    let mut at = from;
    std::iter::from_fn(move || {
        let prefix: [u8; codec::LENGTH_BYTES] =
            out.get(at..at + codec::LENGTH_BYTES)?.try_into().ok()?;
        at += codec::LENGTH_BYTES + u32::from_be_bytes(prefix) as usize;
        Some(at)
    })
}

/// Every link queue of a process, by (from, to).
type Links<M> = HashMap<(u32, u32), Arc<PeerQueue<M>>>;

/// The transport of one process, for messages `M` delivered into inboxes of
/// events `E`.
pub struct Transport<M, E> {
    config: TransportConfig,
    inboxes: HashMap<u32, mpsc::Sender<E>>,
    links: Mutex<Links<M>>,
    /// The writer tasks, ended by [`Transport::shutdown`].
    writers: Mutex<Vec<tokio::task::AbortHandle>>,
    faults: Arc<FaultTable>,
    metrics: Arc<Registry>,
    prelogin: Arc<PreLogin>,
}

/// Connections accepted that have not completed the handshake: overall and
/// per source address, each under its limit. What such a connection may
/// cost is bounded too: a [`HANDSHAKE_FRAME_BYTES_MAX`] frame limit and the
/// handshake timeout.
#[derive(Debug)]
pub struct PreLogin {
    total_max: usize,
    per_source_max: usize,
    counts: Mutex<(usize, HashMap<std::net::IpAddr, usize>)>,
}

/// One admitted connection's place in [`PreLogin`], given back on drop.
pub struct Ticket {
    prelogin: Arc<PreLogin>,
    source: std::net::IpAddr,
}

impl PreLogin {
    /// Limits of `total_max` connections, `per_source_max` per address.
    pub fn new(total_max: usize, per_source_max: usize) -> Arc<Self> {
        Arc::new(PreLogin {
            total_max,
            per_source_max,
            counts: Mutex::new((0, HashMap::new())),
        })
    }

    /// A place for a connection from `source`, if both limits allow one.
    pub fn admit(self: &Arc<Self>, source: std::net::IpAddr) -> Option<Ticket> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let (total, per_source) = &mut *counts;
        let here = per_source.entry(source).or_default();
        if *total >= self.total_max || *here >= self.per_source_max {
            return None;
        }
        *here += 1;
        *total += 1;
        Some(Ticket {
            prelogin: Arc::clone(self),
            source,
        })
    }

    /// Connections holding a place now.
    pub fn pending(&self) -> usize {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).0
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut counts = self
            .prelogin
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let (total, per_source) = &mut *counts;
        *total -= 1;
        if let Some(here) = per_source.get_mut(&self.source) {
            *here -= 1;
            if *here == 0 {
                per_source.remove(&self.source);
            }
        }
    }
}

impl<M, E> Transport<M, E>
where
    M: Serialize + DeserializeOwned + Send + Sync + 'static,
    E: From<(NodeId, M)> + From<Inbound> + Send + 'static,
{
    /// A transport for the local nodes whose inboxes are given.
    pub fn new(
        config: TransportConfig,
        inboxes: HashMap<u32, mpsc::Sender<E>>,
        faults: Arc<FaultTable>,
        metrics: Arc<Registry>,
    ) -> Arc<Self> {
        let prelogin = PreLogin::new(config.prelogin_connections, config.prelogin_per_source);
        Arc::new(Transport {
            config,
            inboxes,
            prelogin,
            links: Mutex::new(HashMap::new()),
            writers: Mutex::new(Vec::new()),
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
            state: Mutex::new(LinkState {
                items: VecDeque::new(),
                out: Vec::new(),
                written: 0,
                unsent_from: 0,
                socket: None,
                spool: Spool::new(
                    self.config
                        .spool_dir
                        .as_ref()
                        .map(|dir| dir.join(format!("link-{from}-{to}.spool"))),
                    self.config.spool_bytes,
                ),
            }),
            capacity: self.config.send_queue.max(1),
            policy: self.config.policy,
            max_frame_bytes: self.config.max_frame_bytes,
            ready: Notify::new(),
            stats: self.metrics.link(from, to),
        });
        links.insert((from, to), Arc::clone(&queue));
        let this = Arc::clone(self);
        let q = Arc::clone(&queue);
        let writer = if let Some(inbox) = self.inboxes.get(&to).cloned() {
            // A link inside the process is always connected.
            queue.stats.connected.store(1, Ordering::Relaxed);
            tokio::spawn(async move { this.run_local_writer(q, inbox).await })
        } else if from < to {
            tokio::spawn(async move { this.run_dialing_writer(q).await })
        } else {
            tokio::spawn(async move { this.run_accepting_writer(q).await })
        };
        self.writers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(writer.abort_handle());
        queue
    }

    /// Stops every writer and closes every connection, so peers see this
    /// process go (and a stopped process never redials them).
    pub fn shutdown(&self) {
        for writer in self
            .writers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            writer.abort();
        }
        for queue in self
            .links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            if let Some(conn) = queue.lock().socket.take() {
                conn.close();
            }
            queue.stats.connected.store(0, Ordering::Relaxed);
        }
    }

    /// Opens every connection this process dials (its nodes to each remote
    /// node with a higher id) without waiting for a first message: a node
    /// with a lower id may need to hear from a peer it never writes to.
    pub fn connect_all(self: &Arc<Self>) {
        let nodes = self.config.addrs.len() as u32;
        let mut local: Vec<u32> = self.inboxes.keys().copied().collect();
        local.sort_unstable();
        for from in local {
            for to in from + 1..nodes {
                if !self.inboxes.contains_key(&to) {
                    self.link(from, to);
                }
            }
        }
    }

    /// When a message on `queue` may leave, by the fault layer: `None` if it
    /// is lost or partitioned away (counted), `Some(None)` at once, else the
    /// time it is delayed to.
    pub fn departure(&self, queue: &PeerQueue<M>) -> Option<Option<Instant>> {
        match self.faults.outbound(queue.from, queue.to) {
            Verdict::Send { delay } if delay.is_zero() => Some(None),
            Verdict::Send { delay } => Some(Some(Instant::now() + delay)),
            Verdict::Partitioned | Verdict::Lost => {
                queue.stats.dropped_fault.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Waits for due messages on `queue` and moves a batch into `batch`.
    async fn next_batch(queue: &PeerQueue<M>, batch: &mut Vec<M>) {
        loop {
            let ready = queue.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            let popped = {
                let mut state = queue.lock();
                let mut items = std::mem::take(&mut state.items);
                let popped = queue.pop_each(&mut items, BATCH_MSGS_MAX, |msg| batch.push(msg));
                state.items = items;
                queue.refill(&mut state);
                popped
            };
            match popped {
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

    async fn connect(&self, from: u32, to: u32) -> Result<(Framed, Option<Arc<Keys>>), String> {
        let addr = self
            .config
            .addrs
            .get(to as usize)
            .ok_or_else(|| format!("no address for node {to}"))?;
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr.as_str()))
            .await
            .map_err(|_| format!("connect to {addr} timed out"))?
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let mut conn = Framed::new(stream, HANDSHAKE_FRAME_BYTES_MAX);
        let keys = auth::dial_session::<M>(
            &mut conn,
            &self.config.secret,
            &self.config.cluster,
            from,
            to,
            self.config.encrypt,
        )
        .await
        .map_err(|e| format!("handshake with n{to} at {addr}: {e}"))?;
        conn.set_max_frame_bytes(self.config.max_frame_bytes);
        Ok((conn, keys))
    }

    /// The link of a lower id to a higher one: dials, runs the handshake,
    /// hands the reading side to the local node, and writes; reconnects
    /// with backoff whenever the connection ends.
    async fn run_dialing_writer(self: Arc<Self>, queue: Arc<PeerQueue<M>>) {
        let (from, to) = (queue.from, queue.to);
        let mut backoff = BACKOFF_MIN;
        let mut failures = 0u64;
        let mut ever_connected = false;
        loop {
            let (framed, keys) = match self.connect(from, to).await {
                Ok(connected) => connected,
                Err(error) => {
                    // Warn once per streak: at once when an established link
                    // is lost, after a few tries for a peer that has not come
                    // up yet (peers of a cluster start in any order).
                    let warn_at = if ever_connected {
                        0
                    } else {
                        QUIET_DIAL_FAILURES
                    };
                    if failures == warn_at {
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
            ever_connected = true;
            failures = 0;
            let Some(conn) = self.open(framed, keys, to, from) else {
                return;
            };
            let connected = Instant::now();
            self.write_while_connected(&queue, conn).await;
            // A connection that ends at once (the peer's node has stopped
            // while its process still accepts) is retried with backoff too,
            // not in a tight loop; one that lived a while starts afresh.
            if connected.elapsed() < BACKOFF_MAX {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            } else {
                backoff = BACKOFF_MIN;
            }
        }
    }

    /// The link of a higher id to a lower one: the peer dials; each time its
    /// connection arrives ([`Transport::serve`] installs it), write on it.
    async fn run_accepting_writer(self: Arc<Self>, queue: Arc<PeerQueue<M>>) {
        loop {
            let ready = queue.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            let conn = queue.lock().socket.clone();
            match conn {
                // Closed before this writer took it up (its reader ended):
                // forget it, so the node stops writing to it, and wait for
                // the peer to dial again.
                Some(conn) if conn.is_closed() => {
                    let lost = queue.disconnect(&conn);
                    if lost > 0 {
                        warn!(
                            from = queue.from,
                            to = queue.to,
                            lost,
                            "connection closed before it was written"
                        );
                    }
                }
                Some(conn) => self.write_while_connected(&queue, conn).await,
                None => ready.await,
            }
        }
    }

    /// Sets up both sides of a fresh connection: the reading side goes to
    /// local node `reader` (messages from `peer`), the writing side becomes
    /// the link `reader → peer`. `None` if the node has stopped.
    fn open(
        self: &Arc<Self>,
        framed: Framed,
        keys: Option<Arc<Keys>>,
        peer: u32,
        reader: u32,
    ) -> Option<Arc<Conn>> {
        let inbox = self.inboxes.get(&reader)?;
        let conn = Conn::new(framed.stream(), keys);
        let peer_addr = framed.peer_addr();
        let inbound = Inbound {
            conn: framed,
            link: Arc::clone(&conn),
            peer: peer_addr,
            from: peer,
            to: reader,
            stats: self.metrics.link(peer, reader),
            faults: Arc::clone(&self.faults),
            metrics: Arc::clone(&self.metrics),
        };
        // Full inbox: the node is busy; it takes the connection when it can.
        let sender = inbox.clone();
        tokio::spawn(async move {
            let _ = sender.send(E::from(inbound)).await;
        });
        self.link(reader, peer).install(Arc::clone(&conn));
        Some(conn)
    }

    /// Writes what the link's node left for it (messages queued while
    /// disconnected, delayed by the fault layer, or beyond what the socket
    /// took at once) until `conn` ends.
    async fn write_while_connected(&self, queue: &PeerQueue<M>, conn: Arc<Conn>) {
        let (from, to) = (queue.from, queue.to);
        queue.stats.connects.fetch_add(1, Ordering::Relaxed);
        let mut rtt_read = None::<std::time::Instant>;
        let why = loop {
            if rtt_read.is_none_or(|at| at.elapsed() >= crate::metrics::RTT_PERIOD) {
                if let Some(rtt) = crate::connection::smoothed_rtt_us(&conn.stream) {
                    queue.stats.rtt_us.store(i64::from(rtt), Ordering::Relaxed);
                }
                rtt_read = Some(std::time::Instant::now());
            }
            let ready = queue.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            let pumped = {
                let mut state = queue.lock();
                if !state.socket.as_ref().is_some_and(|c| Arc::ptr_eq(c, &conn)) {
                    // Replaced by a newer connection: that one is written now.
                    return;
                }
                queue.pump(&mut state, &conn)
            };
            match pumped {
                Pumped::Idle(None) => tokio::select! {
                    () = &mut ready => {}
                    () = conn.closed() => break "connection closed".to_string(),
                },
                Pumped::Idle(Some(at)) => tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = &mut ready => {}
                    () = conn.closed() => break "connection closed".to_string(),
                },
                Pumped::Blocked => tokio::select! {
                    writable = conn.stream.writable() => {
                        if let Err(error) = writable {
                            break error.to_string();
                        }
                    }
                    () = conn.closed() => break "connection closed".to_string(),
                },
                Pumped::Broken(error) => break error.to_string(),
            }
        };
        let lost = queue.disconnect(&conn);
        if lost > 0 {
            warn!(from, to, error = %why, lost, "connection broke while sending");
        } else {
            debug!(from, to, error = %why, "connection ended");
        }
    }

    /// Accepts connections on `listener` forever. A connection counts
    /// against [`PreLogin`]'s limits until its handshake ends; beyond them
    /// it is closed at once (counted as `prelogin_limit`). Accept errors
    /// (EMFILE: out of file descriptors) back off and retry, never end the
    /// loop.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        let mut backoff = BACKOFF_MIN;
        loop {
            match listener.accept().await {
                Ok((stream, source)) => {
                    backoff = BACKOFF_MIN;
                    let Some(ticket) = self.prelogin.admit(source.ip()) else {
                        let refused = self.metrics.rejections(Rejection::PreLoginLimit);
                        if refused.is_power_of_two() || refused == 0 {
                            warn!(%source, refused = refused + 1, "too many connections before login; closing new ones");
                        }
                        self.metrics.reject(Rejection::PreLoginLimit);
                        continue;
                    };
                    let this = Arc::clone(&self);
                    tokio::spawn(async move { this.serve_connection(stream, ticket).await });
                }
                Err(error) => {
                    warn!(%error, ?backoff, "accept failed; backing off");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// Runs the handshake, then hands the connection to the node it is for,
    /// which reads it itself (see [`Inbound`]).
    async fn serve_connection(self: Arc<Self>, stream: TcpStream, ticket: Ticket) {
        let mut conn = Framed::new(stream, HANDSHAKE_FRAME_BYTES_MAX);
        let peer = conn.peer_addr();
        let nodes = self.config.addrs.len();
        let accepted = auth::accept_session::<M>(
            &mut conn,
            &self.config.secret,
            &self.config.cluster,
            nodes,
            |to| self.inboxes.contains_key(&to),
            self.config.encrypt,
        )
        .await;
        let (from, to, keys) = match accepted {
            Ok(pair) => pair,
            Err(AuthError::Conn(ConnError::Codec(error))) => {
                warn!(%peer, %error, "closing connection during handshake");
                self.metrics.reject(rejection(&ConnError::Codec(error)));
                return;
            }
            Err(AuthError::Conn(error)) => {
                // The dialer went away mid-handshake (it stopped, or gave up).
                debug!(%peer, %error, "connection ended during handshake");
                self.metrics.reject(Rejection::Abandoned);
                return;
            }
            Err(error) => {
                warn!(%peer, %error, "refused connection");
                self.metrics.reject(Rejection::Handshake);
                return;
            }
        };
        drop(ticket);
        conn.set_max_frame_bytes(self.config.max_frame_bytes);
        debug!(%peer, from, to, "accepted");
        // The dialer is `from`; this end's node `to` reads the connection
        // and writes its messages for `from` on it.
        self.open(conn, keys, from, to);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    enum Event {
        Message,
        Inbound,
    }
    impl From<(NodeId, u64)> for Event {
        fn from(_: (NodeId, u64)) -> Self {
            Event::Message
        }
    }
    impl From<Inbound> for Event {
        fn from(_: Inbound) -> Self {
            Event::Inbound
        }
    }

    /// A burst encoded while its link was up, whose connection went before
    /// the burst ended: none of it was written, so it waits whole for the
    /// next connection (not counted as lost) and the link is not direct.
    #[tokio::test]
    async fn a_burst_whose_connection_went_waits_for_the_next_one() {
        let config = TransportConfig {
            cluster: "t".into(),
            secret: Secret::new(vec![7; 32]).expect("secret"),
            // Nobody listens on port 1: the link stays down.
            addrs: vec!["127.0.0.1:1".into(), "127.0.0.1:1".into()],
            max_frame_bytes: 1024,
            send_queue: 8,
            policy: QueuePolicy::Spill,
            prelogin_connections: 4,
            prelogin_per_source: 2,
            spool_dir: None,
            spool_bytes: 1 << 20,
            encrypt: false,
        };
        let metrics = Arc::new(Registry::default());
        let transport: Arc<Transport<u64, Event>> = Transport::new(
            config,
            HashMap::new(),
            Arc::new(FaultTable::new(Vec::new(), 0)),
            Arc::clone(&metrics),
        );
        let queue = transport.link(0, 1);
        assert!(!queue.is_direct(), "no connection: not direct");
        let mut bytes = Vec::new();
        for msg in [1u64, 2, 3] {
            assert!(queue.encode_frame(&msg, &mut bytes));
        }
        let len = bytes.len();
        queue.write_burst(&mut bytes, 3);
        assert!(bytes.is_empty());
        {
            let state = queue.lock();
            assert_eq!((state.out.len(), state.written), (len, 0));
            let unsent: Vec<usize> = frame_ends(&state.out, state.unsent_from).collect();
            assert_eq!(unsent, [6, 12, 18]);
        }
        let stats = metrics.link(0, 1);
        assert_eq!(stats.dropped_conn.load(Ordering::Relaxed), 0);
        assert_eq!(stats.sent_msgs.load(Ordering::Relaxed), 0);
        assert!(!queue.is_direct(), "unsent bytes: the next burst queues");
        transport.shutdown();
    }

    #[test]
    fn frames_of_a_partly_written_burst_are_found_by_their_prefixes() {
        let mut out = Vec::new();
        for msg in [1u64, 300, 70_000] {
            codec::encode(&Frame::Data(msg), 1024, &mut out).unwrap();
        }
        // Frames of 4+2, 4+3, 4+4 bytes (tag, then the varint): ends 6, 13, 21.
        assert_eq!(out.len(), 21);
        // (frames sent, ends of those not) once `written` bytes are out.
        let split = |from: usize, written: usize| {
            let (done, open): (Vec<usize>, Vec<usize>) =
                frame_ends(&out, from).partition(|&end| end <= written);
            (done.len(), open)
        };
        // 13 bytes written: two whole frames sent, the third still open.
        let (sent, ends) = split(0, 13);
        assert_eq!(sent, 2);
        assert_eq!(ends, [21]);
        // Mid-frame: the second frame is not sent yet.
        let (sent, ends) = split(0, 7);
        assert_eq!(sent, 1);
        assert_eq!(ends, [13, 21]);
        // Appended behind 6 earlier bytes, nothing written.
        let (sent, ends) = split(6, 0);
        assert_eq!(sent, 0);
        assert_eq!(ends, [13, 21]);
    }
}
