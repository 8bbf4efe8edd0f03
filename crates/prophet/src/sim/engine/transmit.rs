//! Putting a message on the simulated network: partitions, loss,
//! bandwidth queueing, latency, slowdowns, FIFO order and duplication.

use std::time::Duration;

use rand::Rng;

use super::{BYTES_SENT, Ev, Run};
use crate::model::{Node, NodeId};

impl<N: Node> Run<'_, '_, N> {
    /// Puts a message on the network at `at`.
    pub(super) fn send(&mut self, at: u64, src: NodeId, dst: NodeId, msg: N::Msg) {
        self.report.messages_sent += 1;
        let bytes = if self.measure_bytes {
            postcard::experimental::serialized_size(&msg).unwrap_or(0) as u64
        } else {
            0
        };
        if self.measure_bytes {
            self.metrics
                .record(BYTES_SENT, at as f64 / 1e9, bytes as f64);
        }
        // A node's message to itself takes its link's time like any other
        // (an instant self-send could loop forever at one instant); only
        // partitions, which separate nodes, never block it.
        let t = Duration::from_nanos(at);
        if src != dst && self.net.blocked(src, dst, t) {
            self.report.messages_dropped += 1;
            return;
        }
        let link = self.net.link(src, dst);
        let (loss, dup, reorder) = (link.loss, link.duplicate, link.reorder);
        if loss > 0.0 && self.rng.random_bool(loss) {
            self.report.messages_dropped += 1;
            return;
        }
        let mut start = at;
        if let Some(bw) = link.bandwidth_bytes_per_sec {
            let free = self.link_free.entry((src, dst)).or_insert(0);
            start = start.max(*free);
            let tx = (bytes as f64 / bw * 1e9) as u64;
            start += tx;
            *free = start;
        }
        let arrive = start + self.delay_ns(src, dst, t);
        let ordered = reorder <= 0.0 || !self.rng.random_bool(reorder);
        let arrive = if ordered && !self.fifo_by_construction {
            let last = self.link_last.entry((src, dst)).or_insert(0);
            let a = arrive.max(*last);
            *last = a;
            a
        } else {
            arrive
        };
        if dup > 0.0 && self.rng.random_bool(dup) {
            let again = start + self.delay_ns(src, dst, t);
            self.push(
                again,
                Ev::Deliver {
                    src,
                    dst,
                    msg: msg.clone(),
                },
            );
        }
        self.push(arrive, Ev::Deliver { src, dst, msg });
    }

    fn delay_ns(&mut self, src: NodeId, dst: NodeId, t: Duration) -> u64 {
        let sampled = self.net.link(src, dst).latency.sample_ns(&mut self.rng);
        let (extra, factor) = self.net.slowdown(src, dst, t);
        (sampled as f64 * factor) as u64 + extra
    }
}
