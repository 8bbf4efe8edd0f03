//! Process-wide counters and their OpenMetrics exposition (encoded by
//! `prometheus-client`).
//!
//! Hot counters (per link, per node) are atomics reached through an `Arc`
//! the transport and executor keep; the registry only holds the list for
//! rendering. Samples that nodes `record` are kept in a bounded window per
//! metric (the last [`SAMPLES_KEPT`]) so that objectives such as a p99 can be
//! computed exactly over the recent past without unbounded memory.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

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
    /// 1 while the link has a connection (remote links; see `/ready`).
    pub connected: AtomicI64,
    /// Messages waiting in the link's spool (beyond the queue).
    pub spooled: AtomicI64,
    /// The kernel's smoothed round-trip time of the link's connection, in
    /// microseconds, read at most every [`RTT_PERIOD`] while it writes (0:
    /// not measured).
    pub rtt_us: AtomicI64,
}

/// How often a writing link reads its connection's round-trip time.
pub const RTT_PERIOD: std::time::Duration = std::time::Duration::from_secs(1);

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
    /// A connection closed at accept: too many connections that have not
    /// completed the handshake, overall or from its source address.
    PreLoginLimit,
    /// A connection that ended before its handshake did, without a bad
    /// frame (the dialer went away, or reset it).
    Abandoned,
    /// An HTTP connection closed at accept: too many at once.
    HttpBusy,
    /// A privileged HTTP request refused (credential, host, origin, type).
    HttpDenied,
}

impl Rejection {
    fn as_str(self) -> &'static str {
        match self {
            Rejection::Oversize => "oversize",
            Rejection::Malformed => "malformed",
            Rejection::Truncated => "truncated",
            Rejection::Handshake => "handshake",
            Rejection::PreLoginLimit => "prelogin_limit",
            Rejection::Abandoned => "abandoned",
            Rejection::HttpBusy => "http_busy",
            Rejection::HttpDenied => "http_denied",
        }
    }
}

/// A rendered link counter: (name, help, type, getter).
type LinkCounter = (
    &'static str,
    &'static str,
    MetricType,
    fn(&LinkStats) -> i64,
);

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

    /// Every link counted so far, by `(from, to)`.
    pub fn links(&self) -> Vec<((u32, u32), Arc<LinkStats>)> {
        self.links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (*k, Arc::clone(v)))
            .collect()
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

    /// The peers local node `id` has a live connection (or a local link) to.
    pub fn connected_peers(&self, id: u32) -> std::collections::BTreeSet<u32> {
        self.links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|((from, _), l)| *from == id && l.connected.load(Ordering::Relaxed) == 1)
            .map(|((_, to), _)| *to)
            .collect()
    }

    /// Whether every registered local node is up.
    pub fn all_up(&self) -> bool {
        self.nodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .all(|n| n.up.load(Ordering::Relaxed) == 1)
    }

    /// The OpenMetrics text exposition of everything (what `GET /metrics`
    /// serves), encoded by `prometheus-client`.
    pub fn render(self: &Arc<Self>) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(Collect(Arc::clone(self))));
        let mut out = String::new();
        // Writing to a `String` cannot fail, and our collector only fails
        // when its writer does.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// A label value from protocol code (a metric or choice name), escaped as
/// the exposition format requires: the encoder writes label values as given.
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The registry as a `prometheus-client` collector: the hot counters stay
/// plain atomics the transport and executor bump; they are read at scrape.
#[derive(Debug)]
struct Collect(Arc<Registry>);

type Labels = Vec<(&'static str, String)>;

/// A rendered node figure: (name, help, getter).
type NodeFigure<T> = (&'static str, &'static str, fn(&NodeStats) -> T);

fn family<V>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    rows: impl IntoIterator<Item = (Labels, V)>,
    mut value: impl FnMut(&mut MetricEncoder<'_>, V) -> std::fmt::Result,
) -> std::fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, v) in rows {
        value(&mut metric.encode_family(&labels)?, v)?;
    }
    Ok(())
}

fn counter(m: &mut MetricEncoder<'_>, v: u64) -> std::fmt::Result {
    m.encode_counter::<NoLabelSet, _, u64>(&v, None)
}

fn gauge(m: &mut MetricEncoder<'_>, v: i64) -> std::fmt::Result {
    m.encode_gauge(&v)
}

fn gauge_f(m: &mut MetricEncoder<'_>, v: f64) -> std::fmt::Result {
    m.encode_gauge(&v)
}

impl Collector for Collect {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let r = &self.0;
        let links = r.links.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let link_counters: [LinkCounter; 11] = [
            (
                "prophet_spooled_messages",
                "messages waiting in the link's spool, beyond the queue",
                MetricType::Gauge,
                |l| l.spooled.load(Ordering::Relaxed),
            ),
            (
                "prophet_messages_sent",
                "messages handed to a socket or a local inbox",
                MetricType::Counter,
                |l| l.sent_msgs.load(Ordering::Relaxed) as i64,
            ),
            (
                "prophet_bytes_sent",
                "frame bytes written, prefixes included",
                MetricType::Counter,
                |l| l.sent_bytes.load(Ordering::Relaxed) as i64,
            ),
            (
                "prophet_messages_received",
                "messages received and delivered",
                MetricType::Counter,
                |l| l.recv_msgs.load(Ordering::Relaxed) as i64,
            ),
            (
                "prophet_bytes_received",
                "frame bytes received, prefixes included",
                MetricType::Counter,
                |l| l.recv_bytes.load(Ordering::Relaxed) as i64,
            ),
            (
                "prophet_messages_dropped_fault",
                "messages dropped by fault injection",
                MetricType::Counter,
                |l| l.dropped_fault.load(Ordering::Relaxed) as i64,
            ),
            (
                "prophet_messages_dropped_queue",
                "messages dropped by a full queue (lossy systems)",
                MetricType::Counter,
                |l| l.dropped_queue.load(Ordering::Relaxed) as i64,
            ),
            (
                "prophet_messages_dropped_connection",
                "messages lost with a connection that broke",
                MetricType::Counter,
                |l| l.dropped_conn.load(Ordering::Relaxed) as i64,
            ),
            (
                "prophet_send_queue_depth",
                "messages waiting in the send queue",
                MetricType::Gauge,
                |l| l.queue_depth.load(Ordering::Relaxed),
            ),
            (
                "prophet_connects",
                "successful (re)connections",
                MetricType::Counter,
                |l| l.connects.load(Ordering::Relaxed) as i64,
            ),
            (
                "prophet_link_connected",
                "1 while the link has a connection (remote links)",
                MetricType::Gauge,
                |l| l.connected.load(Ordering::Relaxed),
            ),
        ];
        let link_labels =
            |from: u32, to: u32| vec![("from", from.to_string()), ("to", to.to_string())];
        for (name, help, kind, get) in link_counters {
            let rows = links
                .iter()
                .map(|(&(from, to), stats)| (link_labels(from, to), get(stats)));
            family(&mut encoder, name, help, kind, rows, |m, v| match kind {
                MetricType::Counter => counter(m, v.max(0) as u64),
                _ => gauge(m, v),
            })?;
        }
        let nodes = r.nodes.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let node_labels = |id: u32| vec![("node", id.to_string())];
        let node_gauges: [NodeFigure<i64>; 2] = [
            ("prophet_node_up", "1 while the node runs", |n| {
                n.up.load(Ordering::Relaxed)
            }),
            (
                "prophet_inbox_depth",
                "events waiting in the node's inbox",
                |n| n.inbox_depth.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, get) in node_gauges {
            let rows = nodes.iter().map(|(&id, n)| (node_labels(id), get(n)));
            family(&mut encoder, name, help, MetricType::Gauge, rows, gauge)?;
        }
        let node_counters: [NodeFigure<u64>; 2] = [
            ("prophet_handlers", "handlers run", |n| {
                n.handlers.load(Ordering::Relaxed)
            }),
            ("prophet_durable_writes", "durable-state writes", |n| {
                n.durable_writes.load(Ordering::Relaxed)
            }),
        ];
        for (name, help, get) in node_counters {
            let rows = nodes.iter().map(|(&id, n)| (node_labels(id), get(n)));
            family(&mut encoder, name, help, MetricType::Counter, rows, counter)?;
        }
        let rows = nodes.iter().map(|(&id, n)| (node_labels(id), n));
        family(
            &mut encoder,
            "prophet_handler_seconds",
            "handler run time (a sample of the runs)",
            MetricType::Histogram,
            rows,
            |m, n| {
                let buckets: Vec<(f64, u64)> = HANDLER_BUCKETS_S
                    .iter()
                    .copied()
                    .chain([f64::MAX])
                    .zip(n.handler_buckets.iter().map(|b| b.load(Ordering::Relaxed)))
                    .collect();
                m.encode_histogram::<NoLabelSet>(
                    n.handler_ns.load(Ordering::Relaxed) as f64 / 1e9,
                    n.handlers_timed.load(Ordering::Relaxed),
                    &buckets,
                    None,
                )
            },
        )?;
        let recorded = r.recorded.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let sample_labels =
            |id: u32, metric: &str| vec![("node", id.to_string()), ("metric", label(metric))];
        let mut quantiles = Vec::new();
        for ((id, metric), s) in &recorded {
            let mut window: Vec<f64> = s.window.iter().copied().collect();
            window.sort_by(f64::total_cmp);
            for q in [0.5, 0.99] {
                if let Some(v) = quantile(&window, q) {
                    let mut labels = sample_labels(*id, metric);
                    labels.push(("quantile", q.to_string()));
                    quantiles.push((labels, v));
                }
            }
        }
        family(
            &mut encoder,
            "prophet_recorded",
            "quantiles of the recent samples a node recorded",
            MetricType::Gauge,
            quantiles,
            gauge_f,
        )?;
        let rows = recorded
            .iter()
            .map(|((id, metric), s)| (sample_labels(*id, metric), s.sum));
        family(
            &mut encoder,
            "prophet_recorded_sum",
            "sum of every sample recorded",
            MetricType::Gauge,
            rows,
            gauge_f,
        )?;
        let rows = recorded
            .iter()
            .map(|((id, metric), s)| (sample_labels(*id, metric), s.count));
        family(
            &mut encoder,
            "prophet_recorded_samples",
            "samples recorded",
            MetricType::Counter,
            rows,
            counter,
        )?;
        let choices = r.choices.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let rows = choices.iter().map(|(&(id, name, chosen), &n)| {
            (
                vec![
                    ("node", id.to_string()),
                    ("choice", label(name)),
                    ("chosen", chosen.to_string()),
                ],
                n,
            )
        });
        family(
            &mut encoder,
            "prophet_choices",
            "decisions by choice and candidate",
            MetricType::Counter,
            rows,
            counter,
        )?;
        let rejected = r.rejected.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let rows = rejected
            .iter()
            .map(|(why, &n)| (vec![("reason", why.as_str().to_string())], n));
        family(
            &mut encoder,
            "prophet_rejected",
            "connections or frames refused",
            MetricType::Counter,
            rows,
            counter,
        )?;
        Ok(())
    }
}

/// Shortest time (seconds) a rate is computed over.
pub const RATE_WINDOW_S_MIN: f64 = 0.5;

/// The value of `aggregate` over `samples`; `elapsed_s` is the time the
/// samples were gathered over (for rates). Quantiles, extremes and the
/// fraction under a threshold use the
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
        A::FractionAtMost(_) => {
            let threshold = aggregate.threshold().unwrap_or_default();
            let under = window.partition_point(|&v| v <= threshold);
            (!window.is_empty()).then(|| under as f64 / window.len() as f64)
        }
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
    fn fraction_under_a_threshold_of_the_window() {
        use prophet::model::Aggregate;
        let window: VecDeque<f64> = [2.0, 1.0005, 1.0, 0.5].into();
        let samples = Samples {
            count: 4,
            sum: window.iter().sum(),
            window,
        };
        let within = Aggregate::fraction_at_most(1.0);
        assert_eq!(aggregate(&samples, within, 1.0), Some(0.5));
        assert_eq!(aggregate(&Samples::default(), within, 1.0), None);
    }

    #[test]
    fn render_lists_links_nodes_samples_and_choices() {
        let r = Arc::new(Registry::default());
        r.link(0, 1).sent_msgs.fetch_add(3, Ordering::Relaxed);
        r.node(0).observe_handler(Duration::from_micros(20));
        for v in 1..=100 {
            r.record(0, "latency_ms", v as f64);
        }
        r.choice(0, "paxos.quorum", 1);
        r.reject(Rejection::Oversize);
        let text = r.render();
        assert!(text.contains("prophet_messages_sent_total{from=\"0\",to=\"1\"} 3"));
        assert!(text.contains("prophet_handler_seconds_bucket{le=\"0.00005\",node=\"0\"} 1"));
        assert!(text.contains("prophet_handler_seconds_bucket{le=\"0.00001\",node=\"0\"} 0"));
        assert!(
            text.contains(
                "prophet_recorded{node=\"0\",metric=\"latency_ms\",quantile=\"0.99\"} 99.0"
            )
        );
        assert!(
            text.contains("prophet_recorded_samples_total{node=\"0\",metric=\"latency_ms\"} 100")
        );
        // A label value from protocol code is escaped, not spliced in.
        r.record(0, "odd\"name\nx", 1.0);
        assert!(r.render().contains("metric=\"odd\\\"name\\nx\""));
        assert!(r.render().ends_with("# EOF\n"));
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
