//! The workload a tick-based simulator is built for: every host keeps
//! `window` requests outstanding to its peers, so each tick of turmoil
//! carries many messages (ping-pong's one message per pair makes turmoil pay
//! a whole tick for almost nothing, and the ratio flatters Prophet).
//!
//! Host `i`'s request number `r` goes to host `(i + 1 + r mod (N - 1)) mod
//! N`; with `requests` a multiple of `N - 1`, every host also answers exactly
//! `requests` requests, so a turmoil host knows when it may stop. Both
//! simulators run the same requests over 1 ms links: `2 × N × requests`
//! messages.
//!
//! Alongside, [`heap_baseline`] prices what any discrete-event simulator
//! must do per message (a heap push, a heap pop, a handler call) on this
//! machine in the same run, so Prophet's ns per message is read against it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use prophet::model::{Ctx, Node, NodeId, System};
use prophet::sim::{LatencyDist, Limits, NetworkModel, Simulator};
use serde::{Deserialize, Serialize};

/// One host of the workload.
#[derive(Clone)]
pub struct Concurrent {
    hosts: u32,
    window: u64,
    requests: u64,
}

/// A request or its answer, with the request's number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Msg {
    /// Please answer.
    Req(u64),
    /// The answer.
    Resp(u64),
}

/// Requests sent and answers received so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Counts {
    sent: u64,
    answered: u64,
}

/// The peer that host `id`'s request number `r` goes to.
fn peer(id: u32, r: u64, hosts: u32) -> u32 {
    let offset = 1 + (r % u64::from(hosts - 1)) as u32;
    (id + offset) % hosts
}

impl Concurrent {
    fn send_next(&self, s: &mut Counts, ctx: &mut Ctx<'_, Self>) {
        let to = peer(ctx.id().0, s.sent, self.hosts);
        ctx.send(NodeId(to), Msg::Req(s.sent));
        s.sent += 1;
    }
}

impl Node for Concurrent {
    type State = Counts;
    type Msg = Msg;
    type Timer = ();
    type Durable = ();

    fn init(&self, _: NodeId, _: Option<()>) -> Counts {
        Counts::default()
    }
    fn on_start(&self, s: &mut Counts, ctx: &mut Ctx<'_, Self>) {
        for _ in 0..self.window.min(self.requests) {
            self.send_next(s, ctx);
        }
    }
    fn on_message(&self, s: &mut Counts, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Req(r) => ctx.send(from, Msg::Resp(r)),
            Msg::Resp(_) => {
                s.answered += 1;
                if s.sent < self.requests {
                    self.send_next(s, ctx);
                }
            }
        }
    }
    fn durable(&self, _: &Counts) {}
}

/// Requests per host for about `messages` messages in all, rounded to a
/// multiple of `hosts - 1` (see the module comment).
pub fn requests_per_host(hosts: usize, messages: u64) -> u64 {
    let per = (hosts - 1) as u64;
    (messages / (2 * hosts as u64) / per).max(1) * per
}

/// Prophet's run: (messages delivered, wall seconds).
pub fn prophet(hosts: usize, window: u64, requests: u64) -> Result<(u64, f64), String> {
    let node = Concurrent {
        hosts: hosts as u32,
        window,
        requests,
    };
    let system = System::new("concurrent", vec![node; hosts]);
    let started = Instant::now();
    let report = Simulator::new(&system)
        .network(NetworkModel::uniform(LatencyDist::Constant { ms: 1.0 }))
        .limits(Limits {
            horizon: Duration::from_secs(1_000_000),
            ..Limits::default()
        })
        .run(1)
        .map_err(|e| e.to_string())?;
    let wall = started.elapsed().as_secs_f64();
    let expected = 2 * hosts as u64 * requests;
    if report.messages_delivered != expected {
        return Err(format!(
            "concurrent: Prophet delivered {} messages, expected {expected}",
            report.messages_delivered
        ));
    }
    Ok((report.messages_delivered, wall))
}

/// turmoil's run of the same requests: one UDP socket per host that
/// answers requests and keeps `window` of its own outstanding.
pub fn turmoil(hosts: usize, window: u64, requests: u64) -> Result<(u64, f64), String> {
    const PORT: u16 = 9000;
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(1_000_000))
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(1))
        // Room for every message that can be queued at one host (turmoil
        // drops UDP datagrams beyond a socket's capacity).
        .udp_capacity(4 * window as usize * hosts + 64)
        .build();
    let n = hosts as u32;
    for i in 0..n {
        sim.client(format!("h{i}"), async move {
            let socket =
                turmoil::net::UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)).await?;
            let peers: Vec<SocketAddr> = (0..n)
                .map(|j| SocketAddr::new(turmoil::lookup(format!("h{j}")), PORT))
                .collect();
            let (mut sent, mut answered, mut served) = (0u64, 0u64, 0u64);
            let mut buf = [0u8; 9];
            while sent < window.min(requests) {
                buf[0] = 0;
                buf[1..].copy_from_slice(&sent.to_le_bytes());
                socket
                    .send_to(&buf, peers[peer(i, sent, n) as usize])
                    .await?;
                sent += 1;
            }
            while answered < requests || served < requests {
                let (_, from) = socket.recv_from(&mut buf).await?;
                if buf[0] == 0 {
                    buf[0] = 1;
                    socket.send_to(&buf, from).await?;
                    served += 1;
                } else {
                    answered += 1;
                    if sent < requests {
                        buf[0] = 0;
                        buf[1..].copy_from_slice(&sent.to_le_bytes());
                        socket
                            .send_to(&buf, peers[peer(i, sent, n) as usize])
                            .await?;
                        sent += 1;
                    }
                }
            }
            Ok(())
        });
    }
    let started = Instant::now();
    sim.run().map_err(|e| format!("turmoil: {e}"))?;
    let wall = started.elapsed().as_secs_f64();
    Ok((2 * hosts as u64 * requests, wall))
}

/// What one message costs at the least: a push and a pop on a binary heap
/// of `in_flight` timed events (the same 16-byte key Prophet orders by,
/// plus a 16-byte payload) and a call of a handler through a function
/// pointer, `messages` times. Returns ns per message.
pub fn heap_baseline(in_flight: usize, messages: u64) -> f64 {
    type Event = Reverse<(u64, u64, u32, u32, u64)>;
    fn handler(state: &mut u64, payload: u64) -> u64 {
        *state = state.wrapping_add(payload);
        *state & 0xff
    }
    let call: fn(&mut u64, u64) -> u64 = black_box(handler);
    let mut heap: BinaryHeap<Event> = BinaryHeap::with_capacity(in_flight + 1);
    let mut seq = 0u64;
    for i in 0..in_flight as u64 {
        seq += 1;
        heap.push(Reverse((1_000_000 + i % 7, seq, i as u32, 0, i)));
    }
    let mut state = 0u64;
    let started = Instant::now();
    for _ in 0..messages {
        let Some(Reverse((at, _, src, dst, payload))) = heap.pop() else {
            break;
        };
        let jitter = call(&mut state, payload);
        seq += 1;
        heap.push(Reverse((at + 1_000_000 + jitter, seq, dst, src, payload)));
    }
    let wall = started.elapsed().as_secs_f64();
    black_box(state);
    wall * 1e9 / messages as f64
}
