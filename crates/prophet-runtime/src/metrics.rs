//! Process-wide counters and the Prometheus text rendering of them.
//!
//! Hot counters (per link, per node) are atomics reached through an `Arc`
//! the transport and executor keep; the registry only holds the list for
//! rendering. Samples that nodes `record` are kept in a bounded window per
//! metric (the last [`SAMPLES_KEPT`]) so that objectives such as a p99 can be
//! computed exactly over the recent past without unbounded memory.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Recorded samples kept per (node, metric).
pub const SAMPLES_KEPT: usize = 4096;

/// Upper bounds (seconds) of the handler-time histogram buckets.
pub const HANDLER_BUCKETS_S: [f64; 10] =
    [1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 1e-1];

/// Counters of one directed link `from → to`.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Messages handed to the socket (or to a local inbox).
    pub sent_msgs: AtomicU64,
    /// Frame bytes written, prefix included.
    pub sent_bytes: AtomicU64,
    /// Messages received and delivered.
    pub recv_msgs: AtomicU64,
    /// Frame bytes received, prefix included.
    pub recv_bytes: AtomicU64,
    /// Messages dropped by fault injection (loss or partition).
    pub dropped_fault: AtomicU64,
    /// Messages dropped because the send queue was full (lossy systems).
    pub dropped_queue: AtomicU64,
    /// Messages lost with a connection that broke while sending them.
    pub dropped_conn: AtomicU64,
    /// Messages waiting in the send queue.
    pub queue_depth: AtomicI64,
    /// Successful (re)connections.
    pub connects: AtomicU64,
}

/// Counters of one local node.
#[derive(Debug, Default)]
pub struct NodeStats {
    /// Handlers run.
    pub handlers: AtomicU64,
    /// Handlers timed (a sample of them: see `executor::HANDLER_TIMING_EVERY`).
    pub handlers_timed: AtomicU64,
    /// Total handler time in nanoseconds.
    pub handler_ns: AtomicU64,
    /// Handler-time histogram (cumulative at render time), one slot per
    /// bucket of [`HANDLER_BUCKETS_S`] plus +Inf.
    pub handler_buckets: [AtomicU64; HANDLER_BUCKETS_S.len() + 1],
    /// Durable-state writes.
    pub durable_writes: AtomicU64,
    /// 1 while the node runs, 0 once it stopped.
    pub up: AtomicI64,
    /// Events waiting in the node's inbox (sampled at each event).
    pub inbox_depth: AtomicI64,
}

impl NodeStats {
    /// Counts one timed handler run that took `took`.
    pub fn observe_handler(&self, took: Duration) {
        self.handlers_timed.fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.handler_ns.fetch_add(ns, Ordering::Relaxed);
        let s = took.as_secs_f64();
        let slot = HANDLER_BUCKETS_S
            .iter()
            .position(|&b| s <= b)
            .unwrap_or(HANDLER_BUCKETS_S.len());
        self.handler_buckets[slot].fetch_add(1, Ordering::Relaxed);
    }
}

/// A bounded window of samples plus exact totals.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    /// Every sample ever recorded.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The most recent [`SAMPLES_KEPT`].
    pub window: VecDeque<f64>,
}

/// Why a connection or handshake was refused, for the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rejection {
    /// Oversize frame.
    Oversize,
    /// Malformed frame.
    Malformed,
    /// Truncated frame.
    Truncated,
    /// Handshake failed (wrong secret, cluster, version or membership).
    Handshake,
}

impl Rejection {
    fn as_str(self) -> &'static str {
        match self {
            Rejection::Oversize => "oversize",
            Rejection::Malformed => "malformed",
            Rejection::Truncated => "truncated",
            Rejection::Handshake => "handshake",
        }
    }
}

/// A rendered link counter: (name, Prometheus type, getter).
type LinkCounter = (&'static str, &'static str, fn(&LinkStats) -> i64);

/// Everything one process counts.
#[derive(Debug, Default)]
pub struct Registry {
    links: Mutex<BTreeMap<(u32, u32), Arc<LinkStats>>>,
    nodes: Mutex<BTreeMap<u32, Arc<NodeStats>>>,
    recorded: Mutex<BTreeMap<(u32, &'static str), Samples>>,
    choices: Mutex<BTreeMap<(u32, &'static str, usize), u64>>,
    rejected: Mutex<BTreeMap<Rejection, u64>>,
}

impl Registry {
    /// The counters of link `from → to`.
    pub fn link(&self, from: u32, to: u32) -> Arc<LinkStats> {
        Arc::clone(
            self.links
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry((from, to))
                .or_default(),
        )
    }

    /// The counters of local node `id`.
    pub fn node(&self, id: u32) -> Arc<NodeStats> {
        Arc::clone(
            self.nodes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(id)
                .or_default(),
        )
    }

    /// Records a sample a node reported.
    pub fn record(&self, id: u32, metric: &'static str, value: f64) {
        let mut recorded = self.recorded.lock().unwrap_or_else(|p| p.into_inner());
        let samples = recorded.entry((id, metric)).or_default();
        samples.count += 1;
        samples.sum += value;
        if samples.window.len() == SAMPLES_KEPT {
            samples.window.pop_front();
        }
        samples.window.push_back(value);
    }

    /// Counts a decision.
    pub fn choice(&self, id: u32, name: &'static str, chosen: usize) {
        *self
            .choices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((id, name, chosen))
            .or_default() += 1;
    }

    /// Counts a refused frame or handshake.
    pub fn reject(&self, why: Rejection) {
        *self
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(why)
            .or_default() += 1;
    }

    /// How many refusals of kind `why` so far.
    pub fn rejections(&self, why: Rejection) -> u64 {
        self.rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&why)
            .copied()
            .unwrap_or(0)
    }

    /// How many samples of `metric` local nodes recorded (cheap: no copy).
    pub fn recorded_count(&self, metric: &str) -> u64 {
        self.recorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|((_, m), _)| *m == metric)
            .map(|(_, s)| s.count)
            .sum()
    }

    /// The recorded samples, merged over local nodes, by metric name.
    pub fn recorded(&self) -> BTreeMap<String, Samples> {
        let mut merged: BTreeMap<String, Samples> = BTreeMap::new();
        for ((_, metric), samples) in self
            .recorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let m = merged.entry((*metric).to_string()).or_default();
            m.count += samples.count;
            m.sum += samples.sum;
            m.window.extend(samples.window.iter().copied());
        }
        merged
    }

    /// Whether every registered local node is up.
    pub fn all_up(&self) -> bool {
        self.nodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .all(|n| n.up.load(Ordering::Relaxed) == 1)
    }

    /// The Prometheus text exposition of everything.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let links = self.links.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let link_counters: [LinkCounter; 9] = [
            ("prophet_messages_sent_total", "counter", |l| {
                l.sent_msgs.load(Ordering::Relaxed) as i64
            }),
            ("prophet_bytes_sent_total", "counter", |l| {
                l.sent_bytes.load(Ordering::Relaxed) as i64
            }),
            ("prophet_messages_received_total", "counter", |l| {
                l.recv_msgs.load(Ordering::Relaxed) as i64
            }),
            ("prophet_bytes_received_total", "counter", |l| {
                l.recv_bytes.load(Ordering::Relaxed) as i64
            }),
            ("prophet_messages_dropped_fault_total", "counter", |l| {
                l.dropped_fault.load(Ordering::Relaxed) as i64
            }),
            ("prophet_messages_dropped_queue_total", "counter", |l| {
                l.dropped_queue.load(Ordering::Relaxed) as i64
            }),
            (
                "prophet_messages_dropped_connection_total",
                "counter",
                |l| l.dropped_conn.load(Ordering::Relaxed) as i64,
            ),
            ("prophet_send_queue_depth", "gauge", |l| {
                l.queue_depth.load(Ordering::Relaxed)
            }),
            ("prophet_connects_total", "counter", |l| {
                l.connects.load(Ordering::Relaxed) as i64
            }),
        ];
        for (name, kind, get) in link_counters {
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for ((from, to), stats) in &links {
                let _ = writeln!(out, "{name}{{from=\"{from}\",to=\"{to}\"}} {}", get(stats));
            }
        }
        let nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let _ = writeln!(out, "# TYPE prophet_node_up gauge");
        for (id, n) in &nodes {
            let _ = writeln!(
                out,
                "prophet_node_up{{node=\"{id}\"}} {}",
                n.up.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "# TYPE prophet_handlers_total counter");
        for (id, n) in &nodes {
            let _ = writeln!(
                out,
                "prophet_handlers_total{{node=\"{id}\"}} {}",
                n.handlers.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "# TYPE prophet_inbox_depth gauge");
        for (id, n) in &nodes {
            let _ = writeln!(
                out,
                "prophet_inbox_depth{{node=\"{id}\"}} {}",
                n.inbox_depth.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "# TYPE prophet_durable_writes_total counter");
        for (id, n) in &nodes {
            let _ = writeln!(
                out,
                "prophet_durable_writes_total{{node=\"{id}\"}} {}",
                n.durable_writes.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "# TYPE prophet_handler_seconds histogram");
        for (id, n) in &nodes {
            let mut cumulative = 0;
            for (i, bound) in HANDLER_BUCKETS_S
                .iter()
                .map(|b| b.to_string())
                .chain(["+Inf".to_string()])
                .enumerate()
            {
                cumulative += n.handler_buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "prophet_handler_seconds_bucket{{node=\"{id}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "prophet_handler_seconds_sum{{node=\"{id}\"}} {}",
                n.handler_ns.load(Ordering::Relaxed) as f64 / 1e9
            );
            let _ = writeln!(
                out,
                "prophet_handler_seconds_count{{node=\"{id}\"}} {}",
                n.handlers_timed.load(Ordering::Relaxed)
            );
        }
        let recorded = self
            .recorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let _ = writeln!(out, "# TYPE prophet_recorded summary");
        for ((id, metric), s) in &recorded {
            let mut window: Vec<f64> = s.window.iter().copied().collect();
            window.sort_by(f64::total_cmp);
            for q in [0.5, 0.99] {
                if let Some(v) = quantile(&window, q) {
                    let _ = writeln!(
                        out,
                        "prophet_recorded{{node=\"{id}\",metric=\"{metric}\",quantile=\"{q}\"}} {v}"
                    );
                }
            }
            let _ = writeln!(
                out,
                "prophet_recorded_sum{{node=\"{id}\",metric=\"{metric}\"}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "prophet_recorded_count{{node=\"{id}\",metric=\"{metric}\"}} {}",
                s.count
            );
        }
        let _ = writeln!(out, "# TYPE prophet_choices_total counter");
        for ((id, name, chosen), n) in self
            .choices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "prophet_choices_total{{node=\"{id}\",choice=\"{name}\",chosen=\"{chosen}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# TYPE prophet_rejected_total counter");
        for (why, n) in self
            .rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "prophet_rejected_total{{reason=\"{}\"}} {n}",
                why.as_str()
            );
        }
        out
    }
}

/// Shortest time (seconds) a rate is computed over.
pub const RATE_WINDOW_S_MIN: f64 = 0.5;

/// The value of `aggregate` over `samples`; `elapsed_s` is the time the
/// samples were gathered over (for rates). Quantiles and extremes use the
/// recent window; count, mean and rate use every sample.
pub fn aggregate(
    samples: &Samples,
    aggregate: prophet::model::Aggregate,
    elapsed_s: f64,
) -> Option<f64> {
    use prophet::model::Aggregate as A;
    let mut window: Vec<f64> = samples.window.iter().copied().collect();
    window.sort_by(f64::total_cmp);
    match aggregate {
        A::Count => Some(samples.count as f64),
        A::Mean => (samples.count > 0).then(|| samples.sum / samples.count as f64),
        // A rate over less than half a second says more about start-up than load.
        A::Rate => (elapsed_s >= RATE_WINDOW_S_MIN).then(|| samples.count as f64 / elapsed_s),
        A::P50 => quantile(&window, 0.5),
        A::P99 => quantile(&window, 0.99),
        A::P999 => quantile(&window, 0.999),
        A::Max => window.last().copied(),
    }
}

/// The `q` quantile (nearest rank) of sorted `values`.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_lists_links_nodes_samples_and_choices() {
        let r = Registry::default();
        r.link(0, 1).sent_msgs.fetch_add(3, Ordering::Relaxed);
        r.node(0).observe_handler(Duration::from_micros(20));
        for v in 1..=100 {
            r.record(0, "latency_ms", v as f64);
        }
        r.choice(0, "paxos.quorum", 1);
        r.reject(Rejection::Oversize);
        let text = r.render();
        assert!(text.contains("prophet_messages_sent_total{from=\"0\",to=\"1\"} 3"));
        assert!(text.contains("prophet_handler_seconds_bucket{node=\"0\",le=\"0.00005\"} 1"));
        assert!(text.contains("prophet_handler_seconds_bucket{node=\"0\",le=\"0.00001\"} 0"));
        assert!(
            text.contains(
                "prophet_recorded{node=\"0\",metric=\"latency_ms\",quantile=\"0.99\"} 99"
            )
        );
        assert!(text.contains("prophet_recorded_count{node=\"0\",metric=\"latency_ms\"} 100"));
        assert!(
            text.contains(
                "prophet_choices_total{node=\"0\",choice=\"paxos.quorum\",chosen=\"1\"} 1"
            )
        );
        assert!(text.contains("prophet_rejected_total{reason=\"oversize\"} 1"));
    }

    #[test]
    fn the_sample_window_is_bounded() {
        let r = Registry::default();
        for v in 0..(SAMPLES_KEPT + 10) {
            r.record(1, "m", v as f64);
        }
        let m = &r.recorded()["m"];
        assert_eq!(m.count, (SAMPLES_KEPT + 10) as u64);
        assert_eq!(m.window.len(), SAMPLES_KEPT);
        assert_eq!(m.window.front(), Some(&10.0));
    }
}
