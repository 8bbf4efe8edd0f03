//! A replicated key-value store: N replicas and M clients.
//!
//! Writes go to every replica and are acknowledged once a majority has stored
//! them durably; a replica keeps, per key, the largest value by
//! `(n, writer)` (last writer wins), so an acknowledged write survives any
//! replica restart. Reads go to **one** replica, which the client picks with
//! the choice [`READ_REPLICA`]; a second choice, [`HEDGE`], decides whether
//! and after how long to send a backup read to another replica (picked with
//! [`HEDGE_REPLICA`]); the first answer wins. Reads are not linearizable (a
//! replica outside the write quorum may answer with an older value); they
//! return a value that some client wrote, or nothing.
//!
//! Latencies are measured with spans (the executor timestamps them):
//! [`REQUEST_LATENCY`] for every request, [`READ_LATENCY`] and
//! [`WRITE_LATENCY`] by kind. Each decision is attributed to the request's
//! sequence number (`Ctx::choose_with`), and its outcome reported under it
//! (`Ctx::outcome`): a replica choice when that replica answers (so a
//! policy learns the replica's response time), the hedge delay when the
//! read completes. A read that times out is the outcome of all three
//! decisions, at the timeout's cost and with a `kv.timeouts` and a `lost`
//! sample (what the online performance model counts as a loss): a
//! crashed replica costs the policy that picked it (see [`Config::timeout`],
//! the `timeout_ms` parameter). The sequence number is in the client's
//! state already: attribution adds no state.
//!
//! Requests enter through [`KvWorkload`] (the [`Workload`] seam) in the
//! simulator and the live runtime; for the explorer, each client issues
//! `boot_requests` requests to itself when it starts (alternately a write and
//! a read), which exercises the same code path.
//!
//! A client's write counter is durable: a value's `(n, writer)` must be new,
//! and larger than every value the writer produced before, across the
//! writer's restarts, or its next writes are hidden by its old ones (see
//! [`COUNTER_BLOCK`]). The checker may crash any one node, replica or client.
//!
//! Variants: `correct`; `volatile-store`, whose replicas keep writes only in
//! volatile memory, so a replica crash loses acknowledged writes (the
//! invariant `acknowledged writes survive` finds it); and
//! `volatile-client-counter`, whose clients keep their write counter in
//! volatile memory only, so a restarted client counts from 0 again and its
//! new writes are hidden by its values from before the crash (the invariant
//! `no value is ahead of its writer's counter` finds it).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use prophet::model::{
    Aggregate, Attribution, Ctx, Node, NodeId, Objective, System, Workload, mix_seq,
};
use serde::{Deserialize, Serialize};

/// Choice: which replica serves a read (candidates: every replica, in id order).
pub const READ_REPLICA: &str = "kv.read_replica";
/// Choice: whether and when to send a hedged backup read
/// (candidates: [`HEDGE_DELAYS_MS`]; index 0 never hedges).
pub const HEDGE: &str = "kv.hedge";
/// Choice: which replica gets the backup read (candidates: every replica;
/// picking the primary again sends no backup).
pub const HEDGE_REPLICA: &str = "kv.hedge_replica";
/// Span metric: every request, from acceptance to answer (seconds).
pub const REQUEST_LATENCY: &str = "kv.request_latency";
/// Span metric: reads (seconds).
pub const READ_LATENCY: &str = "kv.read_latency";
/// Span metric: writes, until a majority acknowledged (seconds).
pub const WRITE_LATENCY: &str = "kv.write_latency";
/// Metric: 1 per request that timed out.
pub const TIMEOUTS: &str = "kv.timeouts";
/// Backup reads sent (one sample per hedge).
pub const HEDGES: &str = "kv.hedges";
/// The candidates of [`HEDGE`]: `None` never hedges, `Some(ms)` sends a
/// backup read after `ms` milliseconds without an answer.
pub const HEDGE_DELAYS_MS: [Option<u64>; 4] = [None, Some(10), Some(50), Some(200)];
/// Write counter values a client reserves per durable write.
///
/// A client may only use a counter value that is durable (reserved), since
/// after a restart it resumes from what it recovered: a value it used beyond
/// that would be issued again, and the new write would be hidden by the old
/// one. Persisting the counter on every write would cost the live client an
/// fsync per write, on the write's path (no `Write` leaves before the sync).
/// Reserving a block instead costs one durable write per `COUNTER_BLOCK`
/// writes; a restart skips the unused rest of the block, which is harmless:
/// values only need to be new and increasing per writer, not dense.
pub const COUNTER_BLOCK: u64 = 64;

/// Which implementation the nodes run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Replicas store writes, and clients reserve their write counter, in
    /// durable state.
    Correct,
    /// Bug: replicas keep writes in volatile state only and lose them on a crash.
    VolatileStore,
    /// Bug: clients keep their write counter in volatile state only; after a
    /// restart their new writes are hidden by their values from before.
    VolatileClientCounter,
}

impl Variant {
    /// The variant's parameter name.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Correct => "correct",
            Variant::VolatileStore => "volatile-store",
            Variant::VolatileClientCounter => "volatile-client-counter",
        }
    }

    /// The variant named `name`.
    pub fn parse(name: &str) -> Option<Variant> {
        [
            Variant::Correct,
            Variant::VolatileStore,
            Variant::VolatileClientCounter,
        ]
        .into_iter()
        .find(|v| v.name() == name)
    }
}

/// A value written: the `n`-th write accepted by client `writer` (n ≥ 1).
/// Ordered by `(n, writer)` for last-writer-wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Val {
    /// The writer's write counter at the write.
    pub n: u64,
    /// The client that wrote it.
    pub writer: NodeId,
}

/// A request operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Op {
    /// Read `key`.
    Read(u64),
    /// Write a new value to `key`.
    Write(u64),
}

/// Messages.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum KvMsg {
    /// An external request, handed to a client by the workload (from itself).
    Request {
        /// Request number (the span key).
        seq: u64,
        /// What to do.
        op: Op,
    },
    /// Client → replica: read `key`.
    Read {
        /// Request number.
        seq: u64,
        /// The key.
        key: u64,
    },
    /// Replica → client: the replica's value of the key.
    ReadReply {
        /// Request number.
        seq: u64,
        /// The value, if any was written.
        value: Option<Val>,
    },
    /// Client → replica: store `value` at `key`.
    Write {
        /// Request number.
        seq: u64,
        /// The key.
        key: u64,
        /// The value.
        value: Val,
    },
    /// Replica → client: the write is stored.
    WriteAck {
        /// Request number.
        seq: u64,
        /// The value stored: a client counts only acks of the value it is
        /// waiting for, since after its restart an ack of its previous
        /// incarnation's write may come for the same `seq`.
        value: Val,
    },
}

/// Timers (clients only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum KvTimer {
    /// Send a backup read for request `seq` if it is still unanswered.
    Hedge(u64),
    /// Give up on request `seq`.
    Timeout(u64),
}

/// A request a client is waiting on.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Pending {
    /// A read sent to `primary` (and maybe a backup).
    Read {
        /// The replica picked by [`READ_REPLICA`].
        primary: NodeId,
        /// The replica of the backup read, once sent.
        backup: Option<NodeId>,
        /// The key read.
        key: u64,
    },
    /// A write waiting for a majority.
    Write {
        /// Acknowledgements so far.
        acks: u32,
        /// The key written.
        key: u64,
        /// The value written.
        value: Val,
    },
}

/// A client's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClientState {
    /// The write counter: the last `n` used (the next write gets
    /// `n = writes + 1`). At least every `n` this client ever used, across
    /// restarts (in the correct variant).
    pub writes: u64,
    /// The durable bound of `writes`: values up to it may be used without
    /// a durable write (see [`COUNTER_BLOCK`]).
    pub writes_reserved: u64,
    /// Requests in progress by sequence number.
    pub pending: BTreeMap<u64, Pending>,
    /// Replica reads of answered requests whose reply has not come yet
    /// (their feedback span is still open): `(seq, replica)`. The request's
    /// timeout removes what is still here then, so a replica that crashed
    /// does not leave entries behind.
    pub late: BTreeSet<(u64, NodeId)>,
    /// The last read's key and result.
    pub last_read: Option<(u64, Option<Val>)>,
    /// Per key, the largest value whose write was acknowledged to this client.
    pub acked: BTreeMap<u64, Val>,
}

/// A replica's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReplicaState {
    /// Per key, the largest value stored.
    pub store: BTreeMap<u64, Val>,
}

/// What a node keeps across a crash.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KvDurable {
    /// A replica's store.
    Replica(BTreeMap<u64, Val>),
    /// A client's reserved write counter: it never used an `n` above it.
    Client {
        /// [`ClientState::writes_reserved`].
        writes_reserved: u64,
    },
}

/// A node's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KvState {
    /// A replica.
    Replica(ReplicaState),
    /// A client.
    Client(ClientState),
}

/// A node: replica or client, with its configuration.
#[derive(Clone, Debug)]
pub enum KvNode {
    /// A storage replica.
    Replica {
        /// Whether writes are durable.
        variant: Variant,
    },
    /// A client that serves requests by talking to the replicas.
    Client {
        /// Whether the write counter is durable.
        variant: Variant,
        /// Every replica, in id order (the candidates of the replica choices).
        replicas: Vec<NodeId>,
        /// Requests to issue to itself at start (for the explorer).
        boot_requests: u32,
        /// Give up on a request after this long.
        timeout: Duration,
    },
}

/// Configuration of a store.
#[derive(Clone, Debug)]
pub struct Config {
    /// Number of replicas (ids `0..replicas`).
    pub replicas: usize,
    /// Number of clients (ids after the replicas).
    pub clients: usize,
    /// Requests each client issues to itself at start (0 when a workload drives it).
    pub boot_requests: u32,
    /// Request timeout: also what a timed-out read costs the decisions
    /// behind it.
    pub timeout: Duration,
    /// Implementation variant.
    pub variant: Variant,
}

impl Config {
    /// `replicas` replicas and `clients` clients, correct, 5 s timeout, no boot requests.
    pub fn new(replicas: usize, clients: usize) -> Self {
        Config {
            replicas,
            clients,
            boot_requests: 0,
            timeout: Duration::from_secs(5),
            variant: Variant::Correct,
        }
    }

    /// The ids of the clients.
    pub fn client_ids(&self) -> Vec<NodeId> {
        (self.replicas..self.replicas + self.clients)
            .map(NodeId::from)
            .collect()
    }

    /// Write quorum: a majority of the replicas.
    pub fn quorum(&self) -> usize {
        self.replicas / 2 + 1
    }
}

fn quorum_of(replicas: usize) -> u32 {
    u32::try_from(replicas / 2 + 1).expect("replica count fits in u32")
}

impl Node for KvNode {
    type State = KvState;
    type Msg = KvMsg;
    type Timer = KvTimer;
    type Durable = KvDurable;

    fn init(&self, id: NodeId, recovered: Option<KvDurable>) -> KvState {
        match (self, recovered) {
            (KvNode::Replica { .. }, None) => KvState::Replica(ReplicaState::default()),
            (KvNode::Replica { .. }, Some(KvDurable::Replica(store))) => {
                KvState::Replica(ReplicaState { store })
            }
            (KvNode::Client { .. }, None) => KvState::Client(ClientState::default()),
            // Resume above every value used before the crash: the reserved
            // bound covers them all.
            (KvNode::Client { .. }, Some(KvDurable::Client { writes_reserved })) => {
                KvState::Client(ClientState {
                    writes: writes_reserved,
                    writes_reserved,
                    ..ClientState::default()
                })
            }
            (node, Some(durable)) => {
                panic!("{id} is a {node:?} but recovered another role's durable state {durable:?}")
            }
        }
    }

    fn on_start(&self, _state: &mut KvState, ctx: &mut Ctx<'_, Self>) {
        if let KvNode::Client { boot_requests, .. } = self {
            let me = ctx.id();
            for i in 0..u64::from(*boot_requests) {
                let seq = u64::from(me.0) * 1_000_000 + i;
                let op = if i % 2 == 0 {
                    Op::Write(0)
                } else {
                    Op::Read(0)
                };
                ctx.send(me, KvMsg::Request { seq, op });
            }
        }
    }

    fn on_message(&self, state: &mut KvState, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: KvMsg) {
        match (self, state) {
            (KvNode::Replica { .. }, KvState::Replica(replica)) => {
                on_replica_message(replica, ctx, from, msg)
            }
            (
                KvNode::Client {
                    replicas, timeout, ..
                },
                KvState::Client(client),
            ) => on_client_message(replicas, *timeout, client, ctx, from, msg),
            _ => unreachable!("a node's state matches its role"),
        }
    }

    fn on_timer(&self, state: &mut KvState, ctx: &mut Ctx<'_, Self>, timer: KvTimer) {
        let (KvNode::Client { replicas, .. }, KvState::Client(client)) = (self, state) else {
            return;
        };
        match timer {
            KvTimer::Hedge(seq) => {
                let Some(Pending::Read {
                    primary,
                    backup,
                    key,
                }) = client.pending.get_mut(&seq)
                else {
                    return;
                };
                let target = ctx.choose_with(
                    HEDGE_REPLICA,
                    replicas,
                    Attribution::handle(seq).context(*key),
                );
                if target != *primary && backup.is_none() {
                    *backup = Some(target);
                    ctx.send(target, KvMsg::Read { seq, key: *key });
                    ctx.record(HEDGES, 1.0);
                } else {
                    // No second read went out: nothing will answer for it.
                    ctx.no_outcome(seq, &[HEDGE_REPLICA]);
                }
            }
            KvTimer::Timeout(seq) => {
                let Some(pending) = client.pending.remove(&seq) else {
                    // An answered read whose other replica never replied.
                    let late = (seq, NodeId(0))..=(seq, NodeId(u32::MAX));
                    let silent: Vec<_> = client.late.range(late).copied().collect();
                    if !silent.is_empty() {
                        for entry in &silent {
                            client.late.remove(entry);
                        }
                        ctx.outcome(seq, &[READ_REPLICA, HEDGE_REPLICA], &[]);
                    }
                    return;
                };
                ctx.record(TIMEOUTS, 1.0);
                ctx.cancel_timer(KvTimer::Hedge(seq));
                ctx.end_span(REQUEST_LATENCY, seq);
                match pending {
                    Pending::Read { .. } => {
                        ctx.end_span(READ_LATENCY, seq);
                        // A read that times out is an outcome of every
                        // decision behind it, at the timeout's cost (the
                        // executor measures the time since each decision):
                        // a replica that never answers must cost its
                        // chooser, or a learning policy keeps picking it.
                        // Its reply, if it ever comes, finds nothing open.
                        ctx.outcome(
                            seq,
                            &[READ_REPLICA, HEDGE_REPLICA, HEDGE],
                            &[(TIMEOUTS, 1.0), (prophet::choice::LOST, 1.0)],
                        );
                    }
                    Pending::Write { .. } => ctx.end_span(WRITE_LATENCY, seq),
                }
            }
        }
    }

    fn durable(&self, state: &KvState) -> KvDurable {
        match (self, state) {
            (KvNode::Replica { variant }, KvState::Replica(replica)) => match variant {
                Variant::VolatileStore => KvDurable::Replica(BTreeMap::new()),
                Variant::Correct | Variant::VolatileClientCounter => {
                    KvDurable::Replica(replica.store.clone())
                }
            },
            (KvNode::Client { variant, .. }, KvState::Client(client)) => KvDurable::Client {
                writes_reserved: match variant {
                    Variant::VolatileClientCounter => 0,
                    Variant::Correct | Variant::VolatileStore => client.writes_reserved,
                },
            },
            _ => unreachable!("a node's state matches its role"),
        }
    }

    /// A replica reads or writes one key: with a cache in the simulator,
    /// both find it warm if the replica handled it recently, and both warm it.
    fn cache_key(&self, msg: &KvMsg) -> Option<u64> {
        match (self, msg) {
            (KvNode::Replica { .. }, KvMsg::Read { key, .. } | KvMsg::Write { key, .. }) => {
                Some(*key)
            }
            _ => None,
        }
    }
}

fn on_replica_message(
    replica: &mut ReplicaState,
    ctx: &mut Ctx<'_, KvNode>,
    from: NodeId,
    msg: KvMsg,
) {
    match msg {
        KvMsg::Read { seq, key } => {
            let value = replica.store.get(&key).copied();
            ctx.send(from, KvMsg::ReadReply { seq, value });
        }
        KvMsg::Write { seq, key, value } => {
            let slot = replica.store.entry(key).or_insert(value);
            if *slot < value {
                *slot = value;
            }
            ctx.send(from, KvMsg::WriteAck { seq, value });
        }
        _ => {}
    }
}

fn on_client_message(
    replicas: &[NodeId],
    timeout: Duration,
    client: &mut ClientState,
    ctx: &mut Ctx<'_, KvNode>,
    from: NodeId,
    msg: KvMsg,
) {
    match msg {
        KvMsg::Request { seq, op } if from == ctx.id() => {
            if client.pending.contains_key(&seq) {
                return;
            }
            ctx.begin_span(REQUEST_LATENCY, seq);
            ctx.set_timer(KvTimer::Timeout(seq), timeout);
            match op {
                Op::Read(key) => {
                    // Both decisions are credited under the request's
                    // sequence number, which the client keeps anyway: the
                    // replica when it answers, the hedge delay when the
                    // read completes or times out.
                    let how = Attribution::handle(seq).context(key);
                    let primary = ctx.choose_with(READ_REPLICA, replicas, how);
                    let hedge = ctx.choose_with(HEDGE, &HEDGE_DELAYS_MS, how);
                    ctx.begin_span(READ_LATENCY, seq);
                    ctx.send(primary, KvMsg::Read { seq, key });
                    if let Some(ms) = hedge {
                        ctx.set_timer(KvTimer::Hedge(seq), Duration::from_millis(ms));
                    }
                    client.pending.insert(
                        seq,
                        Pending::Read {
                            primary,
                            backup: None,
                            key,
                        },
                    );
                }
                Op::Write(key) => {
                    debug_assert!(client.writes <= client.writes_reserved);
                    if client.writes == client.writes_reserved {
                        // Durable (synced before the writes below leave)
                        // before any value of the block is used.
                        client.writes_reserved += COUNTER_BLOCK;
                    }
                    client.writes += 1;
                    let value = Val {
                        n: client.writes,
                        writer: ctx.id(),
                    };
                    ctx.begin_span(WRITE_LATENCY, seq);
                    for &replica in replicas {
                        ctx.send(replica, KvMsg::Write { seq, key, value });
                    }
                    client.pending.insert(
                        seq,
                        Pending::Write {
                            acks: 0,
                            key,
                            value,
                        },
                    );
                }
            }
        }
        KvMsg::ReadReply { seq, value } => {
            if client.late.remove(&(seq, from)) {
                ctx.cancel_timer(KvTimer::Timeout(seq));
                credit_replica(ctx, seq, from, None);
                return;
            }
            let Some(Pending::Read {
                primary,
                backup,
                key,
            }) = client.pending.get(&seq).cloned()
            else {
                return;
            };
            client.pending.remove(&seq);
            credit_replica(ctx, seq, from, Some(primary));
            ctx.outcome(seq, &[HEDGE], &[]);
            // The other replica's read is still out: close its span when it answers.
            let other = if from == primary {
                backup
            } else {
                Some(primary)
            };
            match other {
                // The timeout stays armed for the other read: if its
                // replica never answers (it crashed), the timeout closes
                // its decision at the timeout's cost and `late` forgets it.
                Some(other) => {
                    client.late.insert((seq, other));
                }
                None => ctx.cancel_timer(KvTimer::Timeout(seq)),
            }
            ctx.cancel_timer(KvTimer::Hedge(seq));
            ctx.end_span(READ_LATENCY, seq);
            ctx.end_span(REQUEST_LATENCY, seq);
            client.last_read = Some((key, value));
        }
        KvMsg::WriteAck { seq, value: stored } => {
            let Some(Pending::Write { acks, key, value }) = client.pending.get_mut(&seq) else {
                return;
            };
            if stored != *value {
                return;
            }
            *acks += 1;
            if *acks < quorum_of(replicas.len()) {
                return;
            }
            let (key, value) = (*key, *value);
            client.pending.remove(&seq);
            let slot = client.acked.entry(key).or_insert(value);
            if *slot < value {
                *slot = value;
            }
            ctx.cancel_timer(KvTimer::Timeout(seq));
            ctx.end_span(WRITE_LATENCY, seq);
            ctx.end_span(REQUEST_LATENCY, seq);
        }
        _ => {}
    }
}

/// Reports the outcome of the replica decision that sent read `seq` to
/// `from`: the primary's is [`READ_REPLICA`], the backup's
/// [`HEDGE_REPLICA`]. `primary` is `None` for a late reply, whose decision
/// is the one still open.
fn credit_replica(ctx: &mut Ctx<'_, KvNode>, seq: u64, from: NodeId, primary: Option<NodeId>) {
    match primary {
        Some(p) if p == from => ctx.outcome(seq, &[READ_REPLICA], &[]),
        Some(_) => ctx.outcome(seq, &[HEDGE_REPLICA], &[]),
        // An outcome for a decision no longer open is ignored, so naming
        // both is safe and keeps the client state small.
        None => ctx.outcome(seq, &[READ_REPLICA, HEDGE_REPLICA], &[]),
    }
}

/// Requests for a store: a mix of reads and writes over `keys` keys.
#[derive(Clone, Debug)]
pub struct KvWorkload {
    /// The clients requests go to.
    pub clients: Vec<NodeId>,
    /// Number of distinct keys.
    pub keys: u64,
    /// Percentage of requests that are writes (0..=100).
    pub write_percent: u64,
    /// Skew of key popularity: the Zipf exponent `s` (key `k`, 0-based, is
    /// asked with probability about ∝ `(k + 1)^-s`); 0 is uniform.
    pub key_skew: f64,
}

impl KvWorkload {
    /// The operation of request `seq`: a deterministic function of `seq`.
    pub fn op(&self, seq: u64) -> Op {
        let h = mix_seq(seq);
        let key = if self.key_skew > 0.0 {
            zipf_rank(h >> 11, self.keys.max(1), self.key_skew)
        } else {
            (h >> 8) % self.keys.max(1)
        };
        if h % 100 < self.write_percent {
            Op::Write(key)
        } else {
            Op::Read(key)
        }
    }
}

/// A rank in `0..n` from 53 uniform bits, Zipf-like with exponent `s > 0`:
/// the inverse CDF of the continuous power law `x^-s` on `[1, n + 1)`
/// (exact per draw, O(1), no table), rank `floor(x) - 1`.
fn zipf_rank(bits53: u64, n: u64, s: f64) -> u64 {
    debug_assert!(s > 0.0 && n > 0);
    let u = bits53 as f64 / (1u64 << 53) as f64;
    let top = (n + 1) as f64;
    let x = if (s - 1.0).abs() < 1e-9 {
        top.powf(u)
    } else {
        let e = 1.0 - s;
        (1.0 + u * (top.powf(e) - 1.0)).powf(1.0 / e)
    };
    ((x.floor() as u64).saturating_sub(1)).min(n - 1)
}

impl Workload<KvNode> for KvWorkload {
    fn clients(&self) -> Vec<NodeId> {
        self.clients.clone()
    }

    fn request(&self, _client: NodeId, seq: u64) -> KvMsg {
        KvMsg::Request {
            seq,
            op: self.op(seq),
        }
    }

    fn span_metric(&self) -> &'static str {
        REQUEST_LATENCY
    }
}

/// The default workload of a store: 100 keys, 10% writes.
pub fn workload(config: &Config) -> KvWorkload {
    KvWorkload {
        clients: config.client_ids(),
        keys: 100,
        write_percent: 10,
        key_skew: 0.0,
    }
}

/// A store with `replicas` replicas and `clients` clients, each client
/// issuing `boot_requests` requests at start (use 0 when a workload drives
/// it, 2 for model checking), one crash allowed, of any node.
pub fn system(
    replicas: usize,
    clients: usize,
    boot_requests: u32,
    variant: Variant,
) -> System<KvNode> {
    let mut config = Config::new(replicas, clients);
    config.boot_requests = boot_requests;
    config.variant = variant;
    system_with(&config)
}

/// A store built from `config`.
///
/// # Panics
/// If there are no replicas or no clients.
pub fn system_with(config: &Config) -> System<KvNode> {
    assert!(config.replicas > 0, "a store needs at least one replica");
    assert!(config.clients > 0, "a store needs at least one client");
    let replica_ids: Vec<NodeId> = (0..config.replicas).map(NodeId::from).collect();
    let mut nodes: Vec<KvNode> = (0..config.replicas)
        .map(|_| KvNode::Replica {
            variant: config.variant,
        })
        .collect();
    nodes.extend((0..config.clients).map(|_| KvNode::Client {
        variant: config.variant,
        replicas: replica_ids.clone(),
        boot_requests: config.boot_requests,
        timeout: config.timeout,
    }));
    let quorum = config.quorum();
    let replicas = config.replicas;
    let every_node = (0..config.replicas + config.clients).map(NodeId::from);
    System::new(format!("kv-{}", config.variant.name()), nodes)
        // One crash in all, of any node: a replica's tests that a majority
        // keeps acknowledged writes, a client's that its restart does not
        // reuse values; each seeded bug needs only one. A client's crash is
        // what costs: its leftover messages meet its second incarnation's
        // (795,388 states at the checker's default size; 5,940 with replica
        // crashes only, measured while a timed-out read still waited for its
        // replicas' late replies, which cost 732,045 with clients; 502,104
        // while an answered hedged read's silent replica kept its `late`
        // entry forever instead of timing out).
        .crashes(1, every_node)
        // The per-writer order last-writer-wins relies on: a writer's next
        // value (`n = writes + 1`) is above every value it produced before,
        // across its restarts. If a value is out (stored, or in flight) with
        // `n` above its writer's counter, the writer's next writes, acknowledged
        // or not, are hidden by that older value. The client's memory of what
        // was acknowledged dies with it; this is what the checker can see.
        .always("no value is ahead of its writer's counter", |_, s| {
            let stored = s
                .states()
                .filter_map(|(_, state)| match state {
                    KvState::Replica(r) => Some(r.store.values().copied()),
                    KvState::Client(_) => None,
                })
                .flatten();
            let sent = s.in_flight().filter_map(|(e, _)| carried(&e.msg));
            stored.chain(sent).all(|v| within_counter(s, v))
        })
        .always("reads return written values", |_, s| {
            s.states().all(|(_, state)| match state {
                KvState::Client(c) => match c.last_read {
                    Some((_, Some(v))) => was_written(s, v),
                    _ => true,
                },
                KvState::Replica(r) => r.store.values().all(|&v| was_written(s, v)),
            })
        })
        .always("acknowledged writes survive", move |_, s| {
            s.states().all(|(_, state)| match state {
                KvState::Client(c) => c.acked.iter().all(|(key, &value)| {
                    (0..replicas)
                        .filter(|&r| match s.node(NodeId::from(r)) {
                            KvState::Replica(rep) => {
                                rep.store.get(key).is_some_and(|&v| v >= value)
                            }
                            KvState::Client(_) => false,
                        })
                        .count()
                        >= quorum
                }),
                KvState::Replica(_) => true,
            })
        })
        .objective(Objective::minimize(
            "read_latency_p99",
            READ_LATENCY,
            Aggregate::P99,
        ))
        .objective(Objective::minimize(
            "read_latency_p999",
            READ_LATENCY,
            Aggregate::P999,
        ))
        .objective(Objective::maximize(
            "reads_within_1s",
            READ_LATENCY,
            Aggregate::fraction_within(Duration::from_secs(1)),
        ))
        .objective(Objective::minimize(
            "write_latency_p99",
            WRITE_LATENCY,
            Aggregate::P99,
        ))
        .objective(Objective::maximize(
            "throughput",
            REQUEST_LATENCY,
            Aggregate::Rate,
        ))
}

/// Whether `v` was written: `v.n` is one its writer's counter has reached.
fn was_written(s: &prophet::model::GlobalState<KvNode>, v: Val) -> bool {
    v.n >= 1 && within_counter(s, v)
}

/// Whether `v`'s writer is a client whose write counter has reached `v.n`
/// (for a crashed client: the counter it restarts with).
fn within_counter(s: &prophet::model::GlobalState<KvNode>, v: Val) -> bool {
    v.writer.index() < s.nodes.len()
        && matches!(s.node(v.writer), KvState::Client(c) if c.writes >= v.n)
}

/// The value a message carries, if any.
fn carried(msg: &KvMsg) -> Option<Val> {
    match *msg {
        KvMsg::Write { value, .. } | KvMsg::WriteAck { value, .. } => Some(value),
        KvMsg::ReadReply { value, .. } => value,
        KvMsg::Request { .. } | KvMsg::Read { .. } => None,
    }
}

/// The store's default network in simulation: 1 ms log-normal links, 2 ms
/// log-normal replica service time, instant clients.
pub fn network(config: &Config) -> prophet::sim::NetworkModel {
    use prophet::sim::LatencyDist;
    let mut net = prophet::sim::NetworkModel::uniform(LatencyDist::LogNormal {
        median_ms: 1.0,
        sigma: 0.5,
    });
    for r in 0..config.replicas {
        net.service.insert(
            NodeId::from(r),
            LatencyDist::LogNormal {
                median_ms: 2.0,
                sigma: 0.5,
            },
        );
    }
    net
}

/// The replicated key-value store in the registry.
pub struct Kv;

impl Kv {
    /// The configuration and workload `params` describe.
    pub fn config(params: &prophet::registry::Params) -> (Config, KvWorkload) {
        let mut config = Config::new(params.int("replicas"), params.int("clients"));
        config.boot_requests = u32::try_from(params.int("requests")).unwrap_or(u32::MAX);
        config.timeout = Duration::from_millis(params.int("timeout_ms") as u64);
        config.variant = Variant::parse(params.text("variant"))
            .expect("the description lists exactly the variants");
        let mut workload = workload(&config);
        workload.keys = params.int("keys") as u64;
        workload.write_percent = params.int("write_percent") as u64;
        workload.key_skew = params.int("key_skew") as f64 / 100.0;
        (config, workload)
    }
}

impl prophet::registry::Protocol for Kv {
    type Node = KvNode;

    fn describe(&self) -> prophet::registry::Description {
        use prophet::registry::{Description, ParamSpec};
        Description::new(
            "kv",
            "replicated key-value store: majority writes, reads from a chosen replica, hedging",
        )
        .param(ParamSpec::int("replicas", "number of replicas", 1, 256, "3").per_purpose("2", "11", "3"))
        .param(
            ParamSpec::int("clients", "number of clients (each balances on its own)", 1, 256, "1")
                .per_purpose("1", "10", "1"),
        )
        .param(
            ParamSpec::int(
                "requests",
                "requests each client issues to itself at boot, alternately a write and a read (the checker's workload; sim and run drive the store with the workload instead)",
                0,
                8,
                "0",
            )
            .per_purpose("2", "0", "0"),
        )
        .param(ParamSpec::int(
            "keys",
            "distinct keys the workload uses (sim and run)",
            1,
            1_000_000,
            "100",
        ))
        .param(ParamSpec::int(
            "key_skew",
            "skew of the workload's key popularity: the Zipf exponent × 100 (0 uniform, 100 for s = 1, where the 10% hottest of 1000 keys get about 2/3 of requests)",
            0,
            400,
            "0",
        ))
        .param(ParamSpec::int(
            "write_percent",
            "share of the workload's requests that are writes (sim and run)",
            0,
            100,
            "10",
        ))
        .param(ParamSpec::int(
            "timeout_ms",
            "a client gives up on a request after this many milliseconds; a timed-out read costs its replica choice this much",
            1,
            3_600_000,
            "5000",
        ))
        .variant(Variant::Correct.name(), "replicas store writes, and clients reserve their write counter, in durable state")
        .variant(
            Variant::VolatileStore.name(),
            "bug: replicas keep writes in volatile memory and lose them on a crash",
        )
        .variant(
            Variant::VolatileClientCounter.name(),
            "bug: clients keep their write counter in volatile memory; after a restart their writes are hidden by older ones",
        )
        .choice(READ_REPLICA, "which replica serves a read", "the replicas")
        .choice(
            HEDGE,
            "whether (and after how long) a read is hedged to a second replica",
            "never, or after one of a few delays",
        )
        .choice(HEDGE_REPLICA, "which replica a hedged read goes to", "the replicas")
        .workload(
            "open loop, 1000 requests/s in simulation, 10% writes over 100 keys; 1 ms log-normal links, 2 ms replica service",
        )
        .default_policy(READ_REPLICA, "random")
    }

    fn build(&self, params: &prophet::registry::Params) -> System<KvNode> {
        system_with(&Kv::config(params).0)
    }

    fn workload(
        &self,
        params: &prophet::registry::Params,
    ) -> Option<std::sync::Arc<dyn prophet::model::Workload<KvNode>>> {
        Some(std::sync::Arc::new(Kv::config(params).1))
    }

    fn sim_defaults(
        &self,
        params: &prophet::registry::Params,
        _: &prophet::sim::Limits,
    ) -> prophet::registry::SimDefaults {
        prophet::registry::SimDefaults {
            network: network(&Kv::config(params).0),
            load: prophet::sim::Load::Open {
                rate_per_sec: 1000.0,
            },
            faults: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prophet::explore::Explorer;

    #[test]
    fn correct_store_keeps_its_invariants_under_any_one_crash() {
        // The checker's default size (`prophet check kv`).
        let system = system(2, 1, 2, Variant::Correct);
        let report = Explorer::new(&system).run();
        assert!(report.complete, "{report:?}");
        assert!(report.violations.is_empty(), "{:?}", report.violations);
        // Exact count: pins down the protocol and the explorer together
        // (5940 while only replicas could crash; 732,045 while a timed-out
        // read kept waiting for its replicas' late replies; 502,104 while an
        // answered hedged read's silent replica never timed out).
        assert_eq!(report.unique_states, 795_388);
    }

    #[test]
    fn volatile_client_counter_is_found_when_the_client_crashes_after_a_write() {
        let system = system(2, 1, 2, Variant::VolatileClientCounter);
        let report = Explorer::new(&system).run();
        assert_eq!(report.violations.len(), 1, "{report:?}");
        let finding = &report.violations[0];
        assert_eq!(
            finding.property,
            "no value is ahead of its writer's counter"
        );
        // Shortest: the client sends its first value, then crashes and
        // would count from 0 again.
        assert_eq!(finding.trace_len, 2);
        let trace = finding.trace.as_ref().expect("a trace");
        assert!(trace.steps[0].action.contains("Write(0)"), "{trace:?}");
        assert_eq!(trace.steps[1].action, "n2 crashes");
    }

    #[test]
    fn volatile_store_loses_an_acknowledged_write() {
        let system = system(1, 1, 1, Variant::VolatileStore);
        let report = Explorer::new(&system).run();
        assert_eq!(report.violations.len(), 1, "{report:?}");
        assert_eq!(report.violations[0].property, "acknowledged writes survive");
    }

    /// The values of write requests `seqs` handled by client `id` of
    /// `system`, in order.
    fn write_values(
        system: &System<KvNode>,
        id: NodeId,
        state: &mut KvState,
        seqs: std::ops::Range<u64>,
    ) -> Vec<Val> {
        use prophet::model::{Effects, FirstChoice, Input, execute};
        let mut values = Vec::new();
        for seq in seqs {
            let mut effects = Effects::default();
            let request = KvMsg::Request {
                seq,
                op: Op::Write(seq % 3),
            };
            execute(
                system,
                id,
                state,
                Input::Message(id, request),
                &mut effects,
                &mut FirstChoice,
            );
            let sent: BTreeSet<Val> = effects
                .sends
                .iter()
                .filter_map(|(_, m)| match m {
                    KvMsg::Write { value, .. } => Some(*value),
                    _ => None,
                })
                .collect();
            assert_eq!(sent.len(), 1, "one value per write, to every replica");
            values.extend(sent);
        }
        values
    }

    /// Client `id` of `system` after a crash: rebuilt from its durable state.
    fn restarted(system: &System<KvNode>, id: NodeId, state: &KvState) -> KvState {
        let node = &system.nodes()[id.index()];
        node.init(id, Some(node.durable(state)))
    }

    #[test]
    fn a_restarted_client_writes_above_everything_it_wrote_before() {
        let system = system(2, 1, 0, Variant::Correct);
        let id = NodeId(2);
        let mut state = system.nodes()[2].init(id, None);
        // More writes than a block holds, then two restarts, the first in
        // the middle of the second block.
        let mut before = write_values(&system, id, &mut state, 0..COUNTER_BLOCK + 3);
        for _ in 0..2 {
            let mut after = restarted(&system, id, &state);
            let next = write_values(&system, id, &mut after, 0..2);
            let highest = *before.iter().max().expect("wrote before");
            assert!(
                next.iter().all(|v| *v > highest),
                "{next:?} after {highest:?}"
            );
            before.extend(next);
            state = after;
        }
        assert!(before.windows(2).all(|w| w[0] < w[1]), "values increase");
    }

    #[test]
    fn a_client_persists_its_counter_once_per_block_of_writes() {
        let system = system(2, 1, 0, Variant::Correct);
        let id = NodeId(2);
        let node = &system.nodes()[2];
        let mut state = node.init(id, None);
        let mut durable = vec![node.durable(&state)];
        for seq in 0..2 * COUNTER_BLOCK {
            write_values(&system, id, &mut state, seq..seq + 1);
            let now = node.durable(&state);
            if durable.last() != Some(&now) {
                durable.push(now);
            }
        }
        // The live runtime syncs only a durable value that changed.
        let reserved = [0, COUNTER_BLOCK, 2 * COUNTER_BLOCK]
            .map(|writes_reserved| KvDurable::Client { writes_reserved });
        assert_eq!(durable, reserved);
    }

    #[test]
    fn a_restarted_client_with_a_volatile_counter_reuses_its_values() {
        let system = system(2, 1, 0, Variant::VolatileClientCounter);
        let id = NodeId(2);
        let mut state = system.nodes()[2].init(id, None);
        let before = write_values(&system, id, &mut state, 0..2);
        let mut after = restarted(&system, id, &state);
        let next = write_values(&system, id, &mut after, 0..2);
        // The bug the variant seeds: the same values again, which the
        // replicas order no higher than the old ones.
        assert_eq!(next, before);
    }

    #[test]
    fn a_timed_out_read_is_an_outcome_of_its_replica_choice_at_the_timeout() {
        use prophet::choice::{FeedbackTracker, LATENCY};
        use prophet::model::{Effects, FirstChoice, Input, execute};
        let mut config = Config::new(2, 1);
        config.timeout = Duration::from_millis(750);
        let system = system_with(&config);
        let id = NodeId(2);
        let mut state = system.nodes()[2].init(id, None);
        let mut tracker = FeedbackTracker::new();
        let mut run = |input: Input<KvNode>, at: Duration| {
            let mut effects = Effects::default();
            execute(
                &system,
                id,
                &mut state,
                input,
                &mut effects,
                &mut FirstChoice,
            );
            tracker.handler_ran(id, &effects, 0, at, at)
        };
        let read = KvMsg::Request {
            seq: 7,
            op: Op::Read(1),
        };
        let t0 = Duration::from_secs(3);
        assert!(run(Input::Message(id, read), t0).is_empty());
        // Replica 0 never answers; the client's timer fires 750 ms later.
        let outcomes = run(Input::Timer(KvTimer::Timeout(7)), t0 + config.timeout);
        let names: Vec<_> = outcomes.iter().map(|o| o.name).collect();
        assert_eq!(names, [READ_REPLICA, HEDGE]);
        let replica = &outcomes[0];
        assert_eq!(replica.key, prophet::model::candidate_key(&NodeId(0)));
        assert_eq!(
            replica.samples,
            vec![
                (LATENCY, 0.75),
                (TIMEOUTS, 1.0),
                (prophet::choice::LOST, 1.0)
            ]
        );
        assert_eq!(replica.cost(), 0.75);
        assert_eq!(tracker.open_decisions(), 0);
    }

    /// A hedged read answered by its backup while the primary is silent
    /// (crashed): the timeout closes the primary's decision at its cost and
    /// the client keeps nothing of the read.
    #[test]
    fn a_hedged_read_whose_primary_never_answers_leaves_nothing_behind() {
        use prophet::choice::{FeedbackTracker, LATENCY};
        use prophet::model::{ChoiceRequest, Chooser, Effects, Input, execute};
        /// Primary replica 0, hedge after 10 ms, backup replica 1.
        struct Hedging;
        impl Chooser for Hedging {
            fn choose(&mut self, request: &ChoiceRequest<'_>) -> usize {
                usize::from(request.name != READ_REPLICA)
            }
        }
        let config = Config::new(2, 1);
        let system = system_with(&config);
        let id = NodeId(2);
        let mut state = system.nodes()[2].init(id, None);
        let mut tracker = FeedbackTracker::new();
        let mut run = |input: Input<KvNode>, at: Duration| {
            let mut effects = Effects::default();
            execute(&system, id, &mut state, input, &mut effects, &mut Hedging);
            let outcomes = tracker.handler_ran(id, &effects, 0, at, at);
            (outcomes, tracker.open_decisions())
        };
        let read = KvMsg::Request {
            seq: 7,
            op: Op::Read(1),
        };
        let t0 = Duration::from_secs(3);
        run(Input::Message(id, read), t0);
        run(
            Input::Timer(KvTimer::Hedge(7)),
            t0 + Duration::from_millis(10),
        );
        let reply = KvMsg::ReadReply {
            seq: 7,
            value: None,
        };
        let (outcomes, open) = run(
            Input::Message(NodeId(1), reply),
            t0 + Duration::from_millis(12),
        );
        let names: Vec<_> = outcomes.iter().map(|o| o.name).collect();
        assert_eq!(names, [HEDGE_REPLICA, HEDGE]);
        assert_eq!(open, 1, "the primary's read is open");
        let (outcomes, open) = run(Input::Timer(KvTimer::Timeout(7)), t0 + config.timeout);
        assert_eq!(outcomes.len(), 1);
        assert_eq!(outcomes[0].name, READ_REPLICA);
        assert_eq!(outcomes[0].samples, vec![(LATENCY, 5.0)]);
        assert_eq!(open, 0);
        let KvState::Client(client) = &state else {
            panic!("a client's state")
        };
        assert!(client.late.is_empty() && client.pending.is_empty());
    }

    #[test]
    fn the_timeout_is_a_parameter_with_a_range() {
        use prophet::registry::{Entry, Purpose};
        let entry = Entry::nodes(Kv);
        let parse = |pairs: &[&str]| {
            let pairs: Vec<String> = pairs.iter().map(|p| p.to_string()).collect();
            entry.params(Purpose::Sim, &pairs)
        };
        let params = parse(&["timeout_ms=1000"]).expect("in range");
        assert_eq!(Kv::config(&params).0.timeout, Duration::from_secs(1));
        assert!(parse(&["timeout_ms=0"]).is_err());
        assert!(parse(&["timeout_ms=3600001"]).is_err());
        let default = parse(&[]).expect("defaults");
        assert_eq!(Kv::config(&default).0.timeout, Duration::from_secs(5));
    }

    #[test]
    fn workload_mix_is_deterministic_and_close_to_its_write_share() {
        let w = workload(&Config::new(3, 2));
        let writes = (0..10_000)
            .filter(|&s| matches!(w.op(s), Op::Write(_)))
            .count();
        // 10% of 10 000 requests, within ±1.5 points.
        assert!((850..=1150).contains(&writes), "{writes} writes");
        assert_eq!(w.op(42), w.op(42));
    }

    #[test]
    fn skewed_keys_follow_the_power_law() {
        let mut w = workload(&Config::new(3, 1));
        w.keys = 1000;
        w.key_skew = 1.0;
        let key_of = |w: &KvWorkload, s| match w.op(s) {
            Op::Read(k) | Op::Write(k) => k,
        };
        let key = |s| key_of(&w, s);
        let n = 100_000u64;
        let hot = (0..n).filter(|&s| key(s) < 100).count() as f64 / n as f64;
        let first = (0..n).filter(|&s| key(s) == 0).count() as f64 / n as f64;
        // Continuous power law, s = 1, on [1, 1001): P(rank < 100) =
        // ln 101 / ln 1001 = 0.668 and P(rank 0) = ln 2 / ln 1001 = 0.100;
        // 100 000 draws: standard errors under 0.0015, allow 0.01.
        assert!((hot - 0.668).abs() < 0.01, "{hot}");
        assert!((first - 0.100).abs() < 0.01, "{first}");
        assert!((0..n).all(|s| key(s) < 1000));
        w.key_skew = 2.0;
        let first = (0..n).filter(|&s| key_of(&w, s) == 0).count() as f64 / n as f64;
        // s = 2: P(x < 2) = (1 - 1/2) / (1 - 1/1001) = 0.5005.
        assert!((first - 0.5005).abs() < 0.01, "{first}");
    }
}
