//! Putting a message on the simulated network: partitions, loss,
//! bandwidth queueing, latency, slowdowns, FIFO order and duplication.

use std::time::Duration;

use rand::Rng;

use super::{BYTES_SENT, Ev, Header, Run};
use crate::model::{Node, NodeId};
use crate::sim::network::message_kind;
use crate::sim::zone::CROSS_ZONE_BYTES;

impl<N: Node> Run<'_, '_, N> {
    /// Puts a message on the network at `header.sent`.
    pub(super) fn send(&mut self, header: Header, src: NodeId, dst: NodeId, msg: N::Msg) {
        let at = header.sent;
        self.report.messages_sent += 1;
        let bytes = if self.measure_bytes || self.steerer.is_some() {
            postcard::experimental::serialized_size(&msg).unwrap_or(0) as u64
        } else {
            0
        };
        // What checkpoints cost is judged against the protocol's own bytes.
        self.protocol_bytes += bytes;
        if self.measure_bytes {
            self.metrics
                .record(BYTES_SENT, at as f64 / 1e9, bytes as f64);
            if let Some(crossed) = self.zones.count(src, dst, bytes) {
                let value = if crossed { bytes as f64 } else { 0.0 };
                self.metrics
                    .record(CROSS_ZONE_BYTES, at as f64 / 1e9, value);
            }
        }
        // A node's message to itself takes its link's time like any other
        // (an instant self-send could loop forever at one instant); only
        // partitions, which separate nodes, never block it.
        if src != dst && !self.net.partitions.is_empty() {
            // A full cut drops without a draw, as it always has.
            let cut = self.net.partition_loss(src, dst, Duration::from_nanos(at));
            if cut >= 1.0 || (cut > 0.0 && self.rng.random_bool(cut)) {
                self.report.messages_dropped += 1;
                self.record_drop(src, dst, &msg, false);
                return;
            }
        }
        let kind = self.net.by_kind.then(|| message_kind(&msg));
        let kind = kind.as_deref();
        let link = self.net.link(src, dst);
        let (loss, dup, reorder) = (link.loss, link.duplicate, link.reorder);
        if loss > 0.0 && self.rng.random_bool(loss) {
            self.report.messages_dropped += 1;
            self.record_drop(src, dst, &msg, false);
            return;
        }
        let start = match link.bandwidth_bytes_per_sec {
            Some(bw) => self.after_link_queue(src, dst, at, bytes, bw),
            None => at,
        };
        let (delay, window_end) = self.delay_ns(src, dst, at, kind);
        let arrive = start + delay;
        let ordered = reorder <= 0.0 || !self.rng.random_bool(reorder);
        let arrive = if ordered && !self.fifo_by_construction {
            self.in_link_order(src, dst, at, arrive, window_end)
        } else {
            arrive
        };
        if dup > 0.0 && self.rng.random_bool(dup) {
            let again = start + self.delay_ns(src, dst, at, kind).0;
            self.push(
                again,
                Ev::Deliver {
                    src,
                    dst,
                    msg: msg.clone(),
                    header,
                },
            );
        }
        self.push(
            arrive,
            Ev::Deliver {
                src,
                dst,
                msg,
                header,
            },
        );
    }

    /// When `bytes` sent at `at` have left a link of `bw` bytes/s, behind
    /// what it is already transmitting.
    pub(super) fn after_link_queue(
        &mut self,
        src: NodeId,
        dst: NodeId,
        at: u64,
        bytes: u64,
        bw: f64,
    ) -> u64 {
        let free = self.link_free.entry((src, dst)).or_insert(0);
        let start = at.max(*free) + (bytes as f64 / bw * 1e9) as u64;
        *free = start;
        start
    }

    /// The arrival of a message sent at `at` that would arrive at `arrive`,
    /// kept behind the link's earlier messages: per-link FIFO, except
    /// behind a message a slowdown delayed once that slowdown is over (one
    /// sent after the window must not inherit the window's delay, which
    /// ends at `window_end`; 0: none).
    pub(super) fn in_link_order(
        &mut self,
        src: NodeId,
        dst: NodeId,
        at: u64,
        arrive: u64,
        window_end: u64,
    ) -> u64 {
        let (last, stale_at) = self.link_last.entry((src, dst)).or_insert((0, u64::MAX));
        let before = if at >= *stale_at { 0 } else { *last };
        let own_stale_at = if window_end > 0 { window_end } else { u64::MAX };
        *stale_at = if before > arrive {
            (*stale_at).min(own_stale_at)
        } else {
            own_stale_at
        };
        *last = arrive.max(before);
        *last
    }

    /// A message's delay (ns) and the end (ns; 0: none) of the slowdowns in it.
    #[inline(always)]
    pub(super) fn delay_ns(
        &mut self,
        src: NodeId,
        dst: NodeId,
        at: u64,
        kind: Option<&str>,
    ) -> (u64, u64) {
        let sampled = self.net.sample_latency_ns(src, dst, &mut self.rng);
        if self.net.slowdowns.is_empty() {
            // What the general case gives with no slowdown (factor 1.0
            // leaves the f64 unchanged), without the call; below 2^53 the
            // round trip through f64 is exact.
            if sampled < 1 << 53 {
                return (sampled, 0);
            }
            return ((sampled as f64) as u64, 0);
        }
        self.slowed_ns(src, dst, at, kind, sampled)
    }

    /// [`Run::delay_ns`] under slowdowns, out of line.
    #[inline(never)]
    fn slowed_ns(
        &self,
        src: NodeId,
        dst: NodeId,
        at: u64,
        kind: Option<&str>,
        sampled: u64,
    ) -> (u64, u64) {
        let t = Duration::from_nanos(at);
        let (extra, factor, end) = self.net.slowdown(src, dst, t, kind);
        ((sampled as f64 * factor) as u64 + extra, end)
    }
}
