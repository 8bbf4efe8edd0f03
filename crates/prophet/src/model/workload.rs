//! The workload seam: how requests from outside a system reach its nodes.
//!
//! A load generator (the simulator's open- and closed-loop generators, or a
//! live front end accepting real requests) knows *when* request number `k`
//! arrives; the protocol knows *what* that request is and which node takes
//! it. [`Workload`] is the small contract between the two, so the same
//! request path runs in every executor:
//!
//! 1. the generator picks a client among [`Workload::clients`] and asks
//!    [`Workload::request`] for request `k`'s message;
//! 2. the executor hands that message to the client's
//!    [`on_message`](crate::model::Node::on_message) **as sent by the client
//!    itself** (`from == client`): there is no other input kind, so nothing
//!    in the protocol is executor-specific;
//! 3. the client begins a span `span_metric` with key `k` when it accepts the
//!    request and ends it when the request is answered; the executor records
//!    the duration as request latency and, for closed-loop clients, issues
//!    the next request.
//!
//! Nothing here does I/O or reads a clock.

use crate::model::node::{Node, NodeId};

/// Turns the arrival of external request number `seq` into a message for a
/// client node. Implemented by a system (usually on a small config struct).
pub trait Workload<N: Node>: Send + Sync {
    /// The nodes that accept external requests, in a fixed order. Generators
    /// spread arrivals over them round-robin (`seq % clients.len()`).
    fn clients(&self) -> Vec<NodeId>;

    /// The message delivered to `client` (from itself) for request `seq`.
    /// `seq` counts arrivals from 0 over the whole run; a request's content
    /// must be a deterministic function of `(client, seq)`.
    fn request(&self, client: NodeId, seq: u64) -> N::Msg;

    /// The span metric the client uses for requests: it calls
    /// `ctx.begin_span(span_metric, seq)` on accepting request `seq` and
    /// `ctx.end_span(span_metric, seq)` when it is answered.
    fn span_metric(&self) -> &'static str;
}

/// A deterministic 64-bit mix of `seq` (SplitMix64's finaliser), for
/// workloads that derive request content (key, read or write) from the
/// request number without a random generator.
pub fn mix_seq(seq: u64) -> u64 {
    let mut z = seq.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
