//! `prophet-bench transport`: the live runtime's transport against a plain
//! tokio TCP echo with the same framing, measured in the same run.
//!
//! Two nodes on loopback, each in its own runtime `Process` (so messages
//! cross real sockets, queues, the fault layer and the executor): node 0
//! sends small messages, node 1 echoes them. Two measurements each side:
//! - throughput: `window` messages in flight, `messages` in total, msgs/s;
//! - round trip: one message in flight, p50 / p99 over `round_trips`.
//!
//! Both are taken `rounds` times, both sides back to back in each round
//! (alternating which goes first). The ratios are medians of the rounds'
//! ratios (each round compares two measurements taken a second apart, in
//! the same state of the machine); the per-side figures pool all rounds.
//!
//! Node code never reads a clock: the run's duration and every round trip are
//! timed by the executor through spans, exactly as objectives are measured.
//! The baseline uses the same `Frame` type and codec, one TCP connection, a
//! client that keeps `window` frames in flight and a server that echoes every
//! frame it reads, batching what it has read into one write.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prophet::model::{Ctx, Node, NodeId, System};
use prophet_runtime::codec::{self, Frame, FrameBuffer, MAX_FRAME_BYTES_DEFAULT};
use prophet_runtime::metrics::quantile;
use prophet_runtime::{ClusterConfig, Process, ProcessOptions};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What to measure.
#[derive(Clone, Debug)]
pub struct TransportBench {
    /// Messages in the throughput run.
    pub messages: u64,
    /// Messages in flight in the throughput run.
    pub window: u64,
    /// Round trips in the latency run (at most 4096: the samples kept).
    pub round_trips: u64,
    /// Measure only this side (`tokio-echo` or `prophet`), for profiling.
    pub only: Option<String>,
    /// Rounds, each measuring both sides.
    pub rounds: u32,
    /// Prophet's side with encrypted node ports.
    pub encrypt: bool,
    /// Compare Prophet with a dashboard viewer connected (an event stream
    /// of node 0's view, one a second) against Prophet without one, instead
    /// of Prophet against the echo.
    pub viewer: bool,
}

impl Default for TransportBench {
    fn default() -> Self {
        TransportBench {
            messages: 1_000_000,
            window: 256,
            round_trips: 4_000,
            only: None,
            rounds: 9,
            encrypt: false,
            viewer: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Echo {
    Ping(u64),
    Pong(u64),
}

#[derive(Clone)]
struct EchoNode {
    messages: u64,
    window: u64,
    time_each: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct EchoState {
    sent: u64,
    received: u64,
}

/// How often the harness looks whether a Prophet run has finished.
const HARNESS_POLL_MS: u64 = 50;

/// Spans are recorded in seconds (see `Ctx::begin_span`).
const RUN: &str = "bench.run_s";
const RTT: &str = "bench.rtt_s";

impl Node for EchoNode {
    type State = EchoState;
    type Msg = Echo;
    type Timer = ();
    type Durable = ();

    fn init(&self, _: NodeId, _: Option<()>) -> EchoState {
        EchoState::default()
    }
    fn on_start(&self, _: &mut EchoState, ctx: &mut Ctx<'_, Self>) {
        if ctx.id() == NodeId(0) {
            // Warm-up round trip: connections are up before the clock starts.
            ctx.send(NodeId(1), Echo::Ping(0));
        }
    }
    fn on_message(&self, state: &mut EchoState, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Echo) {
        match msg {
            Echo::Ping(seq) => ctx.send(from, Echo::Pong(seq)),
            Echo::Pong(0) => {
                ctx.begin_span(RUN, 0);
                while state.sent < self.window.min(self.messages) {
                    self.send_next(state, ctx);
                }
            }
            Echo::Pong(seq) => {
                state.received += 1;
                if self.time_each {
                    ctx.end_span(RTT, seq);
                }
                if state.sent < self.messages {
                    self.send_next(state, ctx);
                }
                if state.received == self.messages {
                    ctx.end_span(RUN, 0);
                }
            }
        }
    }
    fn durable(&self, _: &EchoState) {}
}

impl EchoNode {
    fn send_next(&self, state: &mut EchoState, ctx: &mut Ctx<'_, Self>) {
        state.sent += 1;
        if self.time_each {
            ctx.begin_span(RTT, state.sent);
        }
        ctx.send(NodeId(1), Echo::Ping(state.sent));
    }
}

fn free_port() -> u16 {
    prophet_runtime::ports::free_port().unwrap_or(0)
}

/// Runs Prophet's two-node echo; returns (run duration, round-trip samples in seconds).
async fn prophet_echo(
    node: EchoNode,
    encrypt: bool,
    viewer: bool,
) -> Result<(Duration, Vec<f64>), String> {
    let http = free_port();
    let http_line = if viewer {
        format!("http = \"127.0.0.1:{http}\"\n")
    } else {
        String::new()
    };
    let text = format!(
        "cluster = \"bench\"\nsystem = \"echo\"\nsecret = \"{}\"\n[transport]\nencrypt = {encrypt}\n[limits]\nsend_queue = 65536\ninbox = 65536\n\
         [[nodes]]\nid = 0\naddr = \"127.0.0.1:{}\"\n{http_line}[[nodes]]\nid = 1\naddr = \"127.0.0.1:{}\"\n",
        prophet_runtime::auth::Secret::generate_hex(),
        free_port(),
        free_port()
    );
    let config = ClusterConfig::parse(&text, "bench", std::path::Path::new("."))
        .map_err(|e| e.to_string())?;
    let system = Arc::new(System::new("echo", vec![node.clone(), node.clone()]));
    let options = ProcessOptions {
        no_disk: true,
        ..ProcessOptions::default()
    };
    let server = Process::start(Arc::clone(&system), &config, &[1], options.clone())
        .await
        .map_err(|e| e.to_string())?;
    let client = Process::start(system, &config, &[0], options)
        .await
        .map_err(|e| e.to_string())?;
    let watching = viewer.then(|| {
        let token = prophet_runtime::http::Credentials::derive(&config.secret, &config.cluster)
            .token(prophet_runtime::http::Tier::Observer)
            .unwrap_or_default()
            .to_string();
        tokio::spawn(watch(format!("127.0.0.1:{http}"), token))
    });
    // Bounded wait: 2 minutes at most. The harness waits on a blocking
    // thread, outside the runtime's workers: a timer of its own in the
    // runtime would make every idle worker park with a timeout (costlier
    // than the echo's plain park) and its wake-ups would land in the
    // measured round trips.
    let metrics = Arc::clone(&client.metrics);
    let result = tokio::task::spawn_blocking(move || {
        for _ in 0..(120_000 / HARNESS_POLL_MS) {
            if metrics.recorded_count(RUN) > 0 {
                let recorded = metrics.recorded();
                if let Some(run) = recorded.get(RUN).filter(|s| s.count == 1) {
                    let rtts = recorded
                        .get(RTT)
                        .map(|s| s.window.iter().copied().collect())
                        .unwrap_or_default();
                    return Ok((Duration::from_secs_f64(run.sum), rtts));
                }
            }
            std::thread::sleep(Duration::from_millis(HARNESS_POLL_MS));
        }
        Err("the echo run did not finish within 2 minutes".to_string())
    })
    .await
    .map_err(|e| format!("harness wait failed: {e}"))?;
    if let Some(watching) = watching {
        watching.abort();
    }
    client.stop().await.map_err(|e| e.to_string())?;
    server.stop().await.map_err(|e| e.to_string())?;
    result
}

/// A dashboard viewer: keeps an event stream of `addr`'s view open (one
/// view a second; a stream ends after a minute and is opened again) and
/// reads everything it sends, until aborted.
async fn watch(addr: String, token: String) {
    let request = format!(
        "GET /ui/api/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Ok(mut stream) = TcpStream::connect(&addr).await
            && stream.write_all(request.as_bytes()).await.is_ok()
        {
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn echo_server(listener: TcpListener) -> Result<(), String> {
    let (mut stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut buffer = FrameBuffer::new();
    let mut out = Vec::new();
    loop {
        let spare = buffer.spare();
        spare.reserve(64 * 1024);
        if stream.read_buf(spare).await.map_err(|e| e.to_string())? == 0 {
            return Ok(());
        }
        while let Some(frame) = buffer
            .next_frame::<Echo>(MAX_FRAME_BYTES_DEFAULT)
            .map_err(|e| e.to_string())?
        {
            if let Frame::Data(Echo::Ping(seq)) = frame {
                codec::encode(
                    &Frame::Data(Echo::Pong(seq)),
                    MAX_FRAME_BYTES_DEFAULT,
                    &mut out,
                )
                .map_err(|e| e.to_string())?;
            }
        }
        stream.write_all(&out).await.map_err(|e| e.to_string())?;
        out.clear();
    }
}

/// Plain tokio echo with the same frames; returns (duration, rtt samples in seconds).
async fn tokio_echo(
    messages: u64,
    window: u64,
    time_each: bool,
) -> Result<(Duration, Vec<f64>), String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = tokio::spawn(echo_server(listener));
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut buffer = FrameBuffer::new();
    let mut out = Vec::new();
    let mut sent_at = std::collections::HashMap::new();
    let mut rtts = Vec::new();
    let (mut sent, mut received) = (0u64, 0u64);
    let started = Instant::now();
    while sent < window.min(messages) {
        sent += 1;
        if time_each {
            sent_at.insert(sent, Instant::now());
        }
        codec::encode(
            &Frame::Data(Echo::Ping(sent)),
            MAX_FRAME_BYTES_DEFAULT,
            &mut out,
        )
        .map_err(|e| e.to_string())?;
    }
    stream.write_all(&out).await.map_err(|e| e.to_string())?;
    out.clear();
    while received < messages {
        let spare = buffer.spare();
        spare.reserve(64 * 1024);
        if stream.read_buf(spare).await.map_err(|e| e.to_string())? == 0 {
            return Err("echo server closed".into());
        }
        while let Some(frame) = buffer
            .next_frame::<Echo>(MAX_FRAME_BYTES_DEFAULT)
            .map_err(|e| e.to_string())?
        {
            if let Frame::Data(Echo::Pong(seq)) = frame {
                received += 1;
                // Only the latency run times each message (as Prophet's
                // node ends a span only then): the throughput run must not
                // pay a hash lookup per message that Prophet's side skips.
                if time_each && let Some(at) = sent_at.remove(&seq) {
                    rtts.push(at.elapsed().as_secs_f64());
                }
                if sent < messages {
                    sent += 1;
                    if time_each {
                        sent_at.insert(sent, Instant::now());
                    }
                    codec::encode(
                        &Frame::Data(Echo::Ping(sent)),
                        MAX_FRAME_BYTES_DEFAULT,
                        &mut out,
                    )
                    .map_err(|e| e.to_string())?;
                }
            }
        }
        if !out.is_empty() {
            stream.write_all(&out).await.map_err(|e| e.to_string())?;
            out.clear();
        }
    }
    let took = started.elapsed();
    drop(stream);
    let _ = server.await;
    Ok((took, rtts))
}

/// Runs `run` as a task of the runtime (a worker thread on multi-thread).
async fn spawned<T: Send + 'static>(
    run: impl std::future::Future<Output = Result<T, String>> + Send + 'static,
) -> Result<T, String> {
    tokio::spawn(run)
        .await
        .map_err(|e| format!("bench task failed: {e}"))?
}

/// One side's measurements over every round.
#[derive(Default)]
struct Side {
    rates: Vec<f64>,
    /// Every round's samples, pooled.
    rtts: Vec<f64>,
    /// Each round's p99, in µs.
    p99s: Vec<f64>,
}

/// Quantile `q` of round-trip samples (seconds), in µs.
fn quantile_us(rtts: &[f64], q: f64) -> f64 {
    let mut rtts = rtts.to_vec();
    rtts.sort_by(f64::total_cmp);
    quantile(&rtts, q).unwrap_or(f64::NAN) * 1e6
}

impl Side {
    fn p(&self, q: f64) -> f64 {
        quantile_us(&self.rtts, q)
    }

    fn lines(&self, system: &str, bench: &TransportBench) -> [Value; 2] {
        [
            json!({"bench": "transport", "measurement": "throughput", "system": system,
                   "messages": bench.messages, "window": bench.window, "rounds": self.rates.len(),
                   "msgs_per_s": median(&self.rates), "msgs_per_s_each": self.rates}),
            json!({"bench": "transport", "measurement": "round_trip", "system": system,
                   "round_trips": self.rtts.len(), "p50_us": self.p(0.5), "p99_us": self.p(0.99),
                   "p99_us_each": self.p99s}),
        ]
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    quantile(&sorted, 0.5).unwrap_or(f64::NAN)
}

/// Measures one side once: (msgs/s, round-trip samples in seconds).
async fn measure(
    bench: &TransportBench,
    prophet: bool,
    round_trips: u64,
) -> Result<(f64, Vec<f64>), String> {
    // With --viewer both sides are Prophet's; the second has a viewer.
    let (prophet, viewer) = if bench.viewer {
        (true, prophet)
    } else {
        (prophet, false)
    };
    let (run, rtts) = if prophet {
        let throughput_node = EchoNode {
            messages: bench.messages,
            window: bench.window,
            time_each: false,
        };
        let (run, _) = spawned(prophet_echo(throughput_node, bench.encrypt, viewer)).await?;
        let latency_node = EchoNode {
            messages: round_trips,
            window: 1,
            time_each: true,
        };
        let (_, rtts) = spawned(prophet_echo(latency_node, bench.encrypt, viewer)).await?;
        (run, rtts)
    } else {
        let (run, _) = spawned(tokio_echo(bench.messages, bench.window, false)).await?;
        let (_, rtts) = spawned(tokio_echo(round_trips, 1, true)).await?;
        (run, rtts)
    };
    Ok((bench.messages as f64 / run.as_secs_f64(), rtts))
}

/// Runs every round; one JSON object per side, then the ratios.
///
/// Loopback throughput on a shared machine drifts by tens of percent from
/// one second to the next, so each round measures both sides back to back
/// (alternating which goes first) and the ratio reported is the median of
/// the rounds' ratios (throughput and p99 alike): a hiccup during one
/// measurement moves one round's ratio, not the result.
pub fn run(bench: &TransportBench) -> Result<Vec<Value>, String> {
    let mut builder = match std::env::var("PROPHET_BENCH_RUNTIME").as_deref() {
        Ok("current") => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = builder.enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let round_trips = bench
            .round_trips
            .min(prophet_runtime::metrics::SAMPLES_KEPT as u64);
        // Both sides run as spawned tasks: on the multi-thread runtime the
        // `block_on` future lives outside the worker pool, and a baseline
        // client there pays a cross-thread wake-up on every read.
        let with_echo = bench.only.as_deref() != Some("prophet");
        let with_prophet = bench.only.as_deref() != Some("tokio-echo");
        let (mut echo, mut prophet) = (Side::default(), Side::default());
        let (mut ratios, mut p99_ratios) = (Vec::new(), Vec::new());
        for round in 0..bench.rounds.max(1) {
            let mut order = [(false, with_echo), (true, with_prophet)];
            if round % 2 == 1 {
                order.reverse();
            }
            for (is_prophet, wanted) in order {
                if !wanted {
                    continue;
                }
                let (rate, rtts) = measure(bench, is_prophet, round_trips).await?;
                let side = if is_prophet { &mut prophet } else { &mut echo };
                side.rates.push(rate);
                side.p99s.push(quantile_us(&rtts, 0.99));
                side.rtts.extend(rtts);
            }
            if with_echo && with_prophet {
                let r = round as usize;
                ratios.push(prophet.rates[r] / echo.rates[r]);
                p99_ratios.push(prophet.p99s[r] / echo.p99s[r]);
            }
        }
        let mut lines = Vec::new();
        if bench.viewer {
            lines.extend(echo.lines("prophet", bench));
            lines.extend(prophet.lines("prophet+viewer", bench));
            let throughput_ratio = median(&ratios);
            lines.push(json!({"bench": "transport", "measurement": "viewer_ratio",
                   "throughput_ratio": throughput_ratio, "throughput_ratio_each": ratios,
                   "p99_ratio": median(&p99_ratios), "p99_ratio_each": p99_ratios,
                   "goal": "throughput_ratio >= 0.97 (a viewer connected against none)",
                   "goal_met": throughput_ratio >= 0.97}));
            return Ok(lines);
        }
        if with_echo {
            lines.extend(echo.lines("tokio-echo", bench));
        }
        if with_prophet {
            lines.extend(prophet.lines("prophet", bench));
        }
        if with_echo && with_prophet {
            let throughput_ratio = median(&ratios);
            let p99_ratio = median(&p99_ratios);
            lines.push(json!({"bench": "transport", "measurement": "ratio",
                   "throughput_ratio": throughput_ratio, "throughput_ratio_each": ratios,
                   "p99_ratio": p99_ratio, "p99_ratio_each": p99_ratios,
                   "p99_ratio_pooled": prophet.p(0.99) / echo.p(0.99),
                   "goal": "throughput_ratio >= 0.8 and p99_ratio <= 1.2",
                   "goal_met": throughput_ratio >= 0.8 && p99_ratio <= 1.2}));
        }
        Ok(lines)
    })
}
