//! Live tests on loopback: several `Process`es in one test binary, each with
//! its own sockets, talking through the real transport.
//!
//! Waits are polls bounded in count and time; no assertion is about timing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prophet::model::{Ctx, Node, NodeId, System};
use prophet_runtime::auth::{self, Secret};
use prophet_runtime::codec::Frame;
use prophet_runtime::connection::Framed;
use prophet_runtime::durable::{DurableStore, Identity};
use prophet_runtime::http::{Credentials, Tier};
use prophet_runtime::metrics::Rejection;
use prophet_runtime::{ClusterConfig, Process, ProcessOptions};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A ring: each node forwards a counter to the next until it reaches `LAPS`
/// × n; the highest count seen is durable.
struct Ring;

const HOPS: u64 = 60;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct RingState {
    highest: u64,
    received: u64,
    restarted: bool,
}

impl Node for Ring {
    type State = RingState;
    type Msg = u64;
    type Timer = ();
    type Durable = u64;

    fn init(&self, _id: NodeId, recovered: Option<u64>) -> RingState {
        RingState {
            highest: recovered.unwrap_or(0),
            received: 0,
            restarted: recovered.is_some(),
        }
    }
    fn on_start(&self, state: &mut RingState, ctx: &mut Ctx<'_, Self>) {
        if ctx.id() == NodeId(0) && state.highest == 0 {
            ctx.send(NodeId(1), 1);
        }
    }
    fn on_message(&self, state: &mut RingState, ctx: &mut Ctx<'_, Self>, _from: NodeId, hop: u64) {
        state.received += 1;
        state.highest = state.highest.max(hop);
        ctx.record("ring.hop", hop as f64);
        if hop < HOPS {
            let next = NodeId::from((ctx.id().index() + 1) % ctx.node_count());
            ctx.send(next, hop + 1);
        }
    }
    fn durable(&self, state: &RingState) -> u64 {
        state.highest
    }
}

fn free_port() -> u16 {
    prophet_runtime::ports::free_port().expect("a free port")
}

const SECRET: &str = "00112233445566778899aabbccddeeff";

fn config(name: &str, nodes: usize, secret: &str) -> (ClusterConfig, PathBuf) {
    config_with(name, nodes, secret, "")
}

/// A cluster file with `tables` (e.g. `[limits]`) before the nodes.
fn config_with(name: &str, nodes: usize, secret: &str, tables: &str) -> (ClusterConfig, PathBuf) {
    let dir = std::env::temp_dir().join(format!("prophet-loopback-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut text = format!(
        "cluster = \"{name}\"\nsystem = \"ring\"\nsecret = \"{secret}\"\ndata_dir = \"{}\"\n{tables}\n",
        dir.display()
    );
    for id in 0..nodes {
        text.push_str(&format!(
            "[[nodes]]\nid = {id}\naddr = \"127.0.0.1:{}\"\nhttp = \"127.0.0.1:{}\"\n",
            free_port(),
            free_port()
        ));
    }
    (
        ClusterConfig::parse(&text, name, &dir).expect("valid config"),
        dir,
    )
}

fn ring(nodes: usize) -> Arc<System<Ring>> {
    Arc::new(System::new("ring", (0..nodes).map(|_| Ring).collect()))
}

/// Starts node `id` of `system` in a process of its own.
async fn start<N: Node>(system: &Arc<System<N>>, config: &ClusterConfig, id: u32) -> Process<N> {
    Process::start(Arc::clone(system), config, &[id], ProcessOptions::default())
        .await
        .expect("start")
}

/// Starts node `id` with its durable state kept in memory only.
async fn start_in_memory<N: Node>(
    system: &Arc<System<N>>,
    config: &ClusterConfig,
    id: u32,
) -> Process<N> {
    let options = ProcessOptions {
        no_disk: true,
        ..ProcessOptions::default()
    };
    Process::start(Arc::clone(system), config, &[id], options)
        .await
        .expect("start")
}

/// Polls `check` every 20 ms, at most `tries` times.
async fn eventually<F, Fut>(tries: u32, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..tries {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

async fn highest(process: &Process<Ring>) -> u64 {
    process
        .snapshots()
        .await
        .iter()
        .map(|s| {
            postcard::from_bytes::<RingState>(&s.state)
                .expect("state")
                .highest
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_pass_the_counter_and_a_restarted_node_recovers_it() {
    let (config, dir) = config("ring3", 3, SECRET);
    let system = ring(3);
    let mut processes = Vec::new();
    for id in 0..3u32 {
        processes.push(start(&system, &config, id).await);
    }
    let done = eventually(500, || async {
        let mut max = 0;
        for p in &processes {
            max = max.max(highest(p).await);
        }
        max == HOPS
    })
    .await;
    assert!(done, "the counter reached {HOPS} hops");
    // Every node handled exactly its share: HOPS messages in a ring of 3.
    let mut received = 0;
    for p in &processes {
        for s in p.snapshots().await {
            received += postcard::from_bytes::<RingState>(&s.state)
                .expect("state")
                .received;
        }
    }
    assert_eq!(received, HOPS);
    let node2 = processes.pop().expect("three");
    let before = highest(&node2).await;
    node2.stop().await.expect("clean stop");
    let node2 = start(&system, &config, 2).await;
    let snapshot = node2.snapshots().await;
    let state: RingState = postcard::from_bytes(&snapshot[0].state).expect("state");
    assert!(state.restarted);
    assert_eq!(
        state.highest, before,
        "durable highest survived the restart"
    );
    // Text of the metrics endpoint names the link counters.
    let http = processes[0].http_addr.expect("http").to_string();
    let (status, body) = prophet_runtime::http::request(&http, "GET", "/metrics", "", None)
        .await
        .expect("metrics");
    assert_eq!(status, 200);
    assert!(
        body.contains("prophet_messages_sent_total{from=\"0\",to=\"1\"} 20"),
        "{body}"
    );
    let (status, _) = prophet_runtime::http::request(&http, "GET", "/health", "", None)
        .await
        .expect("health");
    assert_eq!(status, 200);
    for p in processes {
        p.stop().await.expect("stop");
    }
    node2.stop().await.expect("stop");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_refuses_another_nodes_durable_file_by_name() {
    let (config, dir) = config("identity", 2, SECRET);
    let system = ring(2);
    // Node 1's promises, put in node 0's place as a swapped volume would.
    let mut theirs = DurableStore::open(
        &config.data_dir,
        Identity::new(&config.cluster, 1, system.name()),
    )
    .expect("open");
    theirs
        .store(&postcard::to_allocvec(&HOPS).expect("encode"))
        .expect("store");
    std::fs::rename(theirs.path(), config.data_dir.join("node-0.durable")).expect("swap");
    let mut p0 = start(&system, &config, 0).await;
    let exit = tokio::time::timeout(Duration::from_secs(10), p0.next_exit())
        .await
        .expect("the node stops by itself");
    let Some((0, Err(error))) = exit else {
        panic!("node 0 ran on node 1's file: {exit:?}");
    };
    let text = error.to_string();
    assert!(
        text.contains(
            "node-0.durable belongs to node 1 of cluster \"identity\" (system ring), not node 0 of cluster \"identity\""
        ),
        "{text}"
    );
    assert!(text.contains("refusing to start"), "{text}");
    assert!(
        p0.snapshots().await.is_empty(),
        "the node never ran, so none answers"
    );
    p0.stop().await.expect("nothing left to fail");
    let _ = std::fs::remove_dir_all(dir);
}

/// Starts node 1 with the cluster's own configuration and node 0 with
/// `tweak` applied to it, and checks that node 1 refuses node 0's handshake
/// and hears nothing from it.
async fn handshake_is_refused(name: &str, tweak: impl FnOnce(&mut ClusterConfig)) {
    let (good, dir) = config(name, 2, SECRET);
    let mut bad = good.clone();
    tweak(&mut bad);
    let system = ring(2);
    let p1 = Process::start(Arc::clone(&system), &good, &[1], ProcessOptions::default())
        .await
        .expect("start");
    let p0 = Process::start(Arc::clone(&system), &bad, &[0], ProcessOptions::default())
        .await
        .expect("start");
    let refused = eventually(500, || async {
        p1.metrics.rejections(Rejection::Handshake) >= 1
    })
    .await;
    assert!(refused, "{name}: node 1 refused node 0's handshake");
    let snapshot = p1.snapshots().await;
    let state: RingState = postcard::from_bytes(&snapshot[0].state).expect("state");
    assert_eq!(
        state.received, 0,
        "{name}: no message from the refused peer"
    );
    p0.stop().await.expect("stop");
    p1.stop().await.expect("stop");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_with_the_wrong_secret_is_refused() {
    handshake_is_refused("secret", |bad| {
        bad.secret = Secret::new(vec![9; 32]).expect("long enough");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_of_another_cluster_is_refused() {
    // The right secret but another cluster id: membership is per cluster.
    handshake_is_refused("cluster-id", |bad| bad.cluster.push_str("-other")).await;
}

/// What a stranger says in its Hello is refused in words that name the
/// right node, and reaches the log cut and escaped: a newline in a cluster
/// id forges no log line, and a huge one adds a bounded line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_right_node_and_peer_text_cannot_forge_log_lines() {
    let _ = log_buffer();
    let (config, _dir) = config("peertext", 4, SECRET);
    let system = ring(4);
    let p1 = start(&system, &config, 1).await;
    let addr = config.nodes[1].addr.clone();
    let dial = |cluster: String, to: u32| {
        let secret = config.secret.clone();
        let addr = addr.clone();
        async move {
            let stream = TcpStream::connect(&addr).await.expect("connect");
            let mut framed = Framed::new(stream, 1 << 20);
            auth::dial::<u64>(&mut framed, &secret, &cluster, 0, to).await
        }
    };
    let refused = dial(config.cluster.clone(), 7)
        .await
        .expect_err("node 7 does not exist");
    assert!(
        refused
            .to_string()
            .contains("node 7 is not a member of this cluster (it has 4 nodes)"),
        "{refused}"
    );
    let refused = dial(config.cluster.clone(), 2)
        .await
        .expect_err("node 2 lives elsewhere");
    assert!(
        refused
            .to_string()
            .contains("node 2 is not hosted by this process"),
        "{refused}"
    );
    // A forged line in a cluster id.
    let forged = "x\nERROR prophet_runtime: node stopped FORGED LINE".to_string();
    let _ = dial(forged, 1).await.expect_err("another cluster");
    // A cluster id far beyond the pre-login frame limit is refused unread.
    let _ = dial("y".repeat(100_000), 1)
        .await
        .expect_err("oversize hello");
    let quiet = eventually(100, || async {
        captured_logs().contains("FORGED LINE") && p1.metrics.rejections(Rejection::Oversize) >= 1
    })
    .await;
    assert!(
        quiet,
        "the forged hello was logged (escaped) and the huge one refused"
    );
    let logs = captured_logs();
    assert!(
        !logs
            .lines()
            .any(|l| l.starts_with("ERROR prophet_runtime: node stopped FORGED")),
        "a peer forged a log line:\n{logs}"
    );
    assert!(logs.contains("\\nERROR"), "the newline is escaped:\n{logs}");
    assert!(
        !logs.contains(&"y".repeat(100)),
        "the huge id never reached the log"
    );
    p1.stop().await.expect("stop");
}

/// Log lines of this test binary, captured by a global subscriber (the
/// nodes' tasks run on other threads, so a thread-local one would miss them).
fn captured_logs() -> String {
    let buffer = log_buffer();
    let bytes = buffer.lock().map(|b| b.clone()).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn log_buffer() -> Arc<std::sync::Mutex<Vec<u8>>> {
    static BUFFER: std::sync::OnceLock<Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    Arc::clone(BUFFER.get_or_init(|| {
        let buffer = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .with_writer(move || LogSink(Arc::clone(&sink)))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    }))
}

struct LogSink(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut buffer) = self.0.lock() {
            buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn closed_by_peer(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    for _ in 0..20 {
        match tokio::time::timeout(Duration::from_millis(250), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // a Refused frame, then the close
            Err(_) => continue,
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_close_only_their_connection() {
    log_buffer();
    let (config, dir) = config("badframes", 3, SECRET);
    let system = ring(3);
    // Node 1 is the target; nodes 0 and 2 keep the ring going through it.
    let p1 = start(&system, &config, 1).await;
    let addr = config.nodes[1].addr.clone();

    // Oversize: a length prefix over the limit, before any handshake.
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    s.write_all(&u32::MAX.to_be_bytes()).await.expect("write");
    assert!(
        closed_by_peer(&mut s).await,
        "oversize frame closes the connection"
    );

    // Malformed: a well-sized frame of junk.
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    s.write_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff])
        .await
        .expect("write");
    assert!(
        closed_by_peer(&mut s).await,
        "malformed frame closes the connection"
    );

    // Truncated: half a frame, then the writer goes away.
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    s.write_all(&[0, 0, 0, 50, 1, 2]).await.expect("write");
    s.shutdown().await.expect("shutdown");
    assert!(
        closed_by_peer(&mut s).await,
        "truncated frame closes the connection"
    );

    // Malformed after a successful handshake, by an authenticated peer.
    let stream = TcpStream::connect(&addr).await.expect("connect");
    let mut framed = Framed::new(stream, config.limits.max_frame_bytes);
    auth::dial::<u64>(&mut framed, &config.secret, &config.cluster, 0, 1)
        .await
        .expect("handshake");
    framed
        .write_frame(&Frame::Data(7u64))
        .await
        .expect("one good frame");
    framed
        .write_frame(&Frame::Data("not a number".to_string()))
        .await
        .expect("write");
    let closed = eventually(100, || async {
        p1.metrics.rejections(Rejection::Malformed) >= 2
    })
    .await;
    assert!(closed, "the junk after the handshake was refused");

    let rejected = eventually(100, || async {
        p1.metrics.rejections(Rejection::Oversize) == 1
            && p1.metrics.rejections(Rejection::Truncated) == 1
    })
    .await;
    assert!(rejected, "each bad connection counted once by kind");
    // And each closed connection left a warning line saying why.
    let logs = captured_logs();
    for why in [
        "exceeds the limit",
        "malformed frame body",
        "stream ended inside a frame",
        "trailing bytes after the frame",
    ] {
        assert!(
            logs.lines()
                .any(|l| l.contains("WARN") && l.contains("closing connection") && l.contains(why)),
            "no warning for `{why}`:\n{logs}"
        );
    }

    // The node kept serving: the ring still completes through node 1.
    let p0 = start(&system, &config, 0).await;
    let p2 = start(&system, &config, 2).await;
    let done = eventually(500, || async {
        highest(&p0).await.max(highest(&p2).await) == HOPS
    })
    .await;
    assert!(
        done,
        "the ring completed through the node that saw bad frames"
    );
    for p in [p0, p1, p2] {
        p.stop().await.expect("stop");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Sends a raw HTTP/1.1 request (the headers exactly as given) and
/// returns the status: what a browser or a script elsewhere could send.
async fn raw_http(addr: &str, request: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .expect("answered in time")
        .expect("read");
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"))
}

/// The control plane: fault injection needs the operator's token, JSON and
/// no foreign origin; states need at least the observer's; health and
/// metrics are public. Every refusal leaves the fault rules as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_plane_refuses_what_lacks_a_credential_or_comes_from_elsewhere() {
    let (config, _dir) = config("control", 2, SECRET);
    let system = ring(2);
    let p = start(&system, &config, 0).await;
    let http = p.http_addr.expect("http").to_string();
    let credentials = Credentials::derive(&config.secret, &config.cluster);
    let observer = credentials.token(Tier::Observer).expect("token");
    let operator = credentials.token(Tier::Operator).expect("token");
    let cut = r#"[{"partitioned":true}]"#;
    let post = |headers: &str| {
        format!(
            "POST /faults HTTP/1.1\r\nHost: {http}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{cut}",
            cut.len()
        )
    };
    // The attack as reported: no credentials, text/plain, a foreign origin.
    let attack = post("Content-Type: text/plain\r\nOrigin: http://evil.example\r\n");
    assert_eq!(
        raw_http(&http, &attack).await,
        403,
        "refused (its origin is checked first)"
    );
    // Each missing piece alone is enough to refuse.
    let bearer = |t: &str| format!("Authorization: Bearer {t}\r\n");
    let json = "Content-Type: application/json\r\n";
    let cases = [
        (json.to_string(), 401, "no token"),
        (
            format!("{json}{}", bearer(observer)),
            401,
            "an observer may not inject faults",
        ),
        (format!("{json}{}", bearer("00")), 401, "a wrong token"),
        (
            format!("Content-Type: text/plain\r\n{}", bearer(operator)),
            415,
            "not JSON",
        ),
        (
            format!("{json}{}Origin: http://evil.example\r\n", bearer(operator)),
            403,
            "a foreign origin",
        ),
    ];
    for (headers, status, why) in cases {
        assert_eq!(raw_http(&http, &post(&headers)).await, status, "{why}");
    }
    let rebound = format!(
        "POST /faults HTTP/1.1\r\nHost: evil.example\r\n{json}{}Content-Length: {}\r\nConnection: close\r\n\r\n{cut}",
        bearer(operator),
        cut.len()
    );
    assert_eq!(
        raw_http(&http, &rebound).await,
        403,
        "a Host that is not ours"
    );
    assert!(
        p.faults.rules().is_empty(),
        "no refused request changed the rules"
    );
    assert_eq!(p.metrics.rejections(Rejection::HttpDenied), 7);
    // Reads: public, observer, and a state read without a token.
    use prophet_runtime::http::request;
    for route in ["/health", "/metrics"] {
        let (status, _) = request(&http, "GET", route, "", None).await.expect("get");
        assert_eq!(status, 200, "{route} is public");
    }
    for route in ["/state", "/recorded", "/decisions", "/model", "/faults"] {
        let (status, _) = request(&http, "GET", route, "", None).await.expect("get");
        assert_eq!(status, 401, "{route} needs a token");
        let (status, _) = request(&http, "GET", route, "", Some(observer))
            .await
            .expect("get");
        assert_eq!(status, 200, "{route} with the observer's token");
    }
    // The operator, with JSON from the same origin, may.
    let ok = post(&format!(
        "{json}{}Origin: http://{http}\r\n",
        bearer(operator)
    ));
    assert_eq!(raw_http(&http, &ok).await, 200);
    assert_eq!(p.faults.rules().len(), 1);
    p.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_set_at_run_time_stops_traffic_and_healing_resumes_it() {
    let (config, dir) = config("partition", 2, SECRET);
    let system = ring(2);
    let p1 = start(&system, &config, 1).await;
    let http = p1.http_addr.expect("http").to_string();
    let credentials = Credentials::derive(&config.secret, &config.cluster);
    let operator = credentials.token(Tier::Operator);
    // Cut node 1 from node 0 before node 0 starts: the first hop is dropped.
    let (status, _) = prophet_runtime::http::request(
        &http,
        "POST",
        "/faults",
        r#"[{"from":0,"to":1,"partitioned":true}]"#,
        operator,
    )
    .await
    .expect("post");
    assert_eq!(status, 200);
    let (status, _) =
        prophet_runtime::http::request(&http, "POST", "/faults", r#"[{"from":7}]"#, operator)
            .await
            .expect("post");
    assert_eq!(status, 400, "a rule naming a missing node is refused");
    let p0 = start(&system, &config, 0).await;
    let dropped = eventually(500, || async {
        p1.metrics
            .render()
            .contains("prophet_messages_dropped_fault_total{from=\"0\",to=\"1\"} 1")
    })
    .await;
    assert!(dropped, "the first hop was dropped by the partition");
    assert_eq!(highest(&p1).await, 0);
    p0.stop().await.expect("stop");
    p1.faults.replace(Vec::new());
    // Node 0 restarts from its durable state (highest 0) and sends again.
    std::fs::remove_file(config.data_dir.join("node-0.durable")).ok();
    let p0 = start(&system, &config, 0).await;
    let done = eventually(500, || async {
        highest(&p1).await.max(highest(&p0).await) == HOPS
    })
    .await;
    assert!(done, "after healing the ring completes");
    p0.stop().await.expect("stop");
    p1.stop().await.expect("stop");
    let _ = std::fs::remove_dir_all(dir);
}

/// A node whose only traffic arrives on a link cut at its end keeps
/// reading (and dropping) it, and takes the traffic again once the cut
/// heals: a read that delivered nothing must not leave it asleep. Watched
/// through counters only: a snapshot request would wake the node itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_fed_only_by_a_cut_link_wakes_when_it_heals() {
    let (config, _dir) = config("cut-wake", 2, SECRET);
    // Node 0 sends a message per millisecond, on and on; node 1 has no
    // timers: nothing but its connection ever wakes it.
    let node = Stream {
        total: u64::MAX,
        chunk: 1,
        payload: 0,
        after_hello: false,
    };
    let system = Arc::new(System::new("ticker", vec![node.clone(), node]));
    let receiver = start_in_memory(&system, &config, 1).await;
    let sender = start_in_memory(&system, &config, 0).await;
    let link = receiver.metrics.link(0, 1);
    let received = || link.recv_msgs.load(std::sync::atomic::Ordering::Relaxed);
    let dropped = || {
        link.dropped_fault
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert!(
        eventually(250, || async { received() >= 5 }).await,
        "traffic flows"
    );
    receiver
        .faults
        .replace(vec![prophet_runtime::faults::FaultRule {
            from: Some(0),
            to: Some(1),
            partitioned: true,
            ..Default::default()
        }]);
    assert!(
        eventually(250, || async { dropped() >= 10 }).await,
        "the cut link is still read (and its messages dropped): {} dropped",
        dropped()
    );
    receiver.faults.replace(Vec::new());
    let before = received();
    assert!(
        eventually(250, || async { received() >= before + 10 }).await,
        "after the cut heals the node takes messages again ({} then {})",
        before,
        received()
    );
    sender.stop().await.expect("stop");
    receiver.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_never_leaves_before_the_state_it_depends_on_is_on_disk() {
    let (config, dir) = config("durable-first", 3, SECRET);
    let system = ring(3);
    // Node 1 cannot write its durable file: its temporary path is a directory.
    std::fs::create_dir_all(config.data_dir.join("node-1.durable.tmp")).expect("blocker");
    let p2 = start(&system, &config, 2).await;
    let mut p1 = start(&system, &config, 1).await;
    let p0 = start(&system, &config, 0).await;
    // Node 1 gets hop 1, fails to sync the new highest count, and stops
    // without forwarding hop 2.
    let exit = tokio::time::timeout(Duration::from_secs(30), p1.next_exit())
        .await
        .expect("node 1 stops")
        .expect("an exit");
    assert_eq!(exit.0, 1);
    assert!(
        matches!(exit.1, Err(prophet_runtime::RuntimeError::Durable(_))),
        "{:?}",
        exit.1
    );
    // Give a forwarded message every chance to arrive, then check none did.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let received: u64 = p2
            .snapshots()
            .await
            .iter()
            .map(|s| {
                postcard::from_bytes::<RingState>(&s.state)
                    .expect("state")
                    .received
            })
            .sum();
        assert_eq!(
            received, 0,
            "node 2 got a message node 1 sent without syncing"
        );
    }
    p0.stop().await.expect("stop");
    p2.stop().await.expect("stop");
    let _ = p1.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Node 0 streams `total` numbered messages of `payload` bytes to node 1,
/// `chunk` per handler (on start, or `after_hello` when node 1's hello
/// arrives, then on a 1 ms timer); node 1 counts them and every gap or
/// reordering.
#[derive(Clone)]
struct Stream {
    total: u64,
    chunk: u64,
    payload: usize,
    after_hello: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct StreamState {
    sent: u64,
    received: u64,
    next: u64,
    out_of_order: u64,
}

impl Stream {
    fn send_chunk(&self, state: &mut StreamState, ctx: &mut Ctx<'_, Self>) {
        let end = (state.sent + self.chunk).min(self.total);
        while state.sent < end {
            ctx.send(NodeId(1), (state.sent, vec![7u8; self.payload]));
            state.sent += 1;
        }
        if state.sent < self.total {
            ctx.set_timer((), Duration::from_millis(1));
        }
    }
}

impl Node for Stream {
    type State = StreamState;
    type Msg = (u64, Vec<u8>);
    type Timer = ();
    type Durable = ();

    fn init(&self, _: NodeId, _: Option<()>) -> StreamState {
        StreamState::default()
    }
    fn on_start(&self, state: &mut StreamState, ctx: &mut Ctx<'_, Self>) {
        match (ctx.id(), self.after_hello) {
            (NodeId(0), false) => self.send_chunk(state, ctx),
            (NodeId(1), true) => ctx.send(NodeId(0), (u64::MAX, Vec::new())),
            _ => {}
        }
    }
    fn on_timer(&self, state: &mut StreamState, ctx: &mut Ctx<'_, Self>, _: ()) {
        self.send_chunk(state, ctx);
    }
    fn on_message(
        &self,
        state: &mut StreamState,
        ctx: &mut Ctx<'_, Self>,
        _: NodeId,
        msg: (u64, Vec<u8>),
    ) {
        if ctx.id() == NodeId(0) {
            // Node 1's hello.
            self.send_chunk(state, ctx);
        } else {
            state.receive(msg.0);
        }
    }
    fn durable(&self, _: &StreamState) {}
}

impl StreamState {
    /// Counts message number `seq`, and whether it came out of order.
    fn receive(&mut self, seq: u64) {
        self.received += 1;
        if seq != self.next {
            self.out_of_order += 1;
        }
        self.next = seq + 1;
    }
}

/// Waits (bounded) until `receiver` has `total` messages from node 0, then
/// checks each arrived once, in order, and the sender counted all as sent.
async fn assert_whole_stream<N: Node<State = StreamState>>(
    sender: &Process<N>,
    receiver: &Process<N>,
    total: u64,
) {
    let done = eventually(1_500, || async {
        stream_state(receiver).await.received >= total
    })
    .await;
    let state = stream_state(receiver).await;
    assert!(done, "only {} of {total} arrived", state.received);
    assert_eq!(
        (state.received, state.out_of_order),
        (total, 0),
        "each message exactly once, in order"
    );
    let link = sender.metrics.link(0, 1);
    assert_eq!(
        link.sent_msgs.load(std::sync::atomic::Ordering::Relaxed),
        total
    );
}

async fn stream_state<N: Node<State = StreamState>>(process: &Process<N>) -> StreamState {
    process
        .snapshots()
        .await
        .first()
        .map(|s| postcard::from_bytes(&s.state).expect("state"))
        .unwrap_or_default()
}

/// 16 MiB through a queue of 8 on a reliable system: bursts far beyond the
/// socket's buffer take the writer's path and the link's spool (in memory
/// here), and every message still arrives once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reliable_stream_through_a_small_queue_arrives_whole_and_in_order() {
    let (config, _dir) = config_with("stream", 2, SECRET, "[limits]\nsend_queue = 8\n");
    let node = Stream {
        total: 4_000,
        chunk: 500,
        payload: 4096,
        after_hello: false,
    };
    let system = Arc::new(System::new("stream", vec![node.clone(), node]));
    let receiver = start_in_memory(&system, &config, 1).await;
    let sender = start_in_memory(&system, &config, 0).await;
    assert_whole_stream(&sender, &receiver, 4_000).await;
    let link = sender.metrics.link(0, 1);
    assert_eq!(
        link.dropped_queue
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    sender.stop().await.expect("stop");
    receiver.stop().await.expect("stop");
}

/// A peer that is down for 30 s while its sender produces 10 messages per
/// millisecond through a queue of 64: the sender never waits for it (its
/// timers keep firing, its state answers, `/health` says ok), what does not
/// fit in the queue waits in the link's spool on disk, and once the peer
/// starts every message arrives once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_peer_stalls_nothing_and_gets_every_message_when_it_starts() {
    let (config, dir) = config_with("deadpeer", 2, SECRET, "[limits]\nsend_queue = 64\n");
    let node = Stream {
        total: 200_000,
        chunk: 10,
        payload: 16,
        after_hello: false,
    };
    let system = Arc::new(System::new("deadpeer", vec![node.clone(), node]));
    let sender = start(&system, &config, 0).await;
    let http = sender.http_addr.expect("http").to_string();
    let started = std::time::Instant::now();
    let mut last_sent = 0;
    for second in 1..=30u64 {
        tokio::time::sleep_until(
            tokio::time::Instant::from_std(started) + Duration::from_secs(second),
        )
        .await;
        let state = tokio::time::timeout(Duration::from_secs(1), stream_state(&sender))
            .await
            .expect("the sender's state answers within a second");
        assert!(
            state.sent > last_sent || state.sent == 200_000,
            "second {second}: the sender's timers stopped at {} messages",
            state.sent
        );
        last_sent = state.sent;
        let (status, body) = prophet_runtime::http::request(&http, "GET", "/health", "", None)
            .await
            .expect("health answers");
        assert_eq!(status, 200, "second {second}: {body}");
    }
    let link = sender.metrics.link(0, 1);
    let spooled = link.spooled.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        spooled > 100_000,
        "most messages wait in the spool: {spooled}"
    );
    assert!(
        std::fs::metadata(dir.join("spool/link-0-1.spool")).is_ok_and(|m| m.len() > 1 << 20),
        "the spool is on disk"
    );
    // Alone, node 0 is not connected to a quorum of two: not ready.
    let ready = || prophet_runtime::http::request(&http, "GET", "/ready", "", None);
    let (status, body) = ready().await.expect("ready answers");
    assert_eq!(status, 503, "{body}");
    let receiver = start(&system, &config, 1).await;
    assert_whole_stream(&sender, &receiver, 200_000).await;
    let (status, body) = ready().await.expect("ready answers");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        link.dropped_queue
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert_eq!(link.spooled.load(std::sync::atomic::Ordering::Relaxed), 0);
    sender.stop().await.expect("stop");
    receiver.stop().await.expect("stop");
}

/// A TCP proxy on `listen` to `to` that records what the dialer sends and,
/// if `flip_at` is given, flips one bit of the dialer's byte at that offset
/// of the first connection. Runs until the test ends.
async fn recording_proxy(
    listen: tokio::net::TcpListener,
    to: String,
    flip_at: Option<usize>,
) -> Arc<std::sync::Mutex<Vec<u8>>> {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((mut inbound, _)) = listen.accept().await {
            let Ok(mut outbound) = TcpStream::connect(&to).await else {
                continue;
            };
            let flip = flip_at.filter(|_| first);
            first = false;
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                let (mut in_read, mut in_write) = inbound.split();
                let (mut out_read, mut out_write) = outbound.split();
                let upstream = async {
                    let mut buf = vec![0u8; 65_536];
                    let mut offset = 0;
                    loop {
                        let n = match in_read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if let Some(at) = flip
                            && (offset..offset + n).contains(&at)
                        {
                            buf[at - offset] ^= 0x20;
                        }
                        offset += n;
                        record.lock().expect("record").extend_from_slice(&buf[..n]);
                        if out_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = out_write.shutdown().await;
                };
                let downstream = async {
                    let _ = tokio::io::copy(&mut out_read, &mut in_write).await;
                    let _ = in_write.shutdown().await;
                };
                tokio::join!(upstream, downstream);
            });
        }
    });
    seen
}

/// A two-node cluster file whose node 1 is reached through a proxy.
async fn config_through_proxy(
    name: &str,
    tables: &str,
) -> (ClusterConfig, tokio::net::TcpListener) {
    let dir = std::env::temp_dir().join(format!("prophet-loopback-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let text = format!(
        "cluster = \"{name}\"\nsystem = \"stream\"\nsecret = \"{SECRET}\"\ndata_dir = \"{}\"\n{tables}\n\
         [[nodes]]\nid = 0\naddr = \"127.0.0.1:{}\"\n\
         [[nodes]]\nid = 1\naddr = \"{}\"\nlisten = \"127.0.0.1:{}\"\n",
        dir.display(),
        free_port(),
        proxy.local_addr().expect("addr"),
        free_port()
    );
    (
        ClusterConfig::parse(&text, name, &dir).expect("valid config"),
        proxy,
    )
}

/// Whether `bytes` hold the plaintext of a [`Stream`] payload (a run of 7s).
fn has_plaintext(bytes: &[u8]) -> bool {
    bytes.windows(64).any(|w| w.iter().all(|&b| b == 7))
}

/// `[transport] encrypt = true`: a stream of 2,000 messages arrives whole
/// and in order through a recording proxy, and what crossed the wire holds
/// none of their plaintext (the same run unencrypted does: the check can
/// fail). Then a single bit flipped on the wire closes the connection as a
/// record that does not open, instead of delivering an altered message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_node_port_hides_and_guards_every_message() {
    let node = Stream {
        total: 2_000,
        chunk: 100,
        payload: 512,
        after_hello: false,
    };
    let system = Arc::new(System::new("stream", vec![node.clone(), node]));
    for encrypt in [false, true] {
        let name = format!("wire-{encrypt}");
        let (config, proxy) =
            config_through_proxy(&name, &format!("[transport]\nencrypt = {encrypt}\n")).await;
        let to = config.nodes[1].listen.clone().expect("listen");
        let seen = recording_proxy(proxy, to, None).await;
        let receiver = start_in_memory(&system, &config, 1).await;
        let sender = start_in_memory(&system, &config, 0).await;
        assert_whole_stream(&sender, &receiver, 2_000).await;
        let wire = seen.lock().expect("record").clone();
        assert!(wire.len() > 2_000 * 512, "{} bytes crossed", wire.len());
        assert_eq!(has_plaintext(&wire), !encrypt, "encrypt = {encrypt}");
        sender.stop().await.expect("stop");
        receiver.stop().await.expect("stop");
    }
    let _ = log_buffer();
    let (config, proxy) = config_through_proxy("wire-flip", "[transport]\nencrypt = true\n").await;
    let to = config.nodes[1].listen.clone().expect("listen");
    let _seen = recording_proxy(proxy, to, Some(200_000)).await;
    let receiver = start_in_memory(&system, &config, 1).await;
    let sender = start_in_memory(&system, &config, 0).await;
    let refused = eventually(500, || async {
        receiver.metrics.rejections(Rejection::Malformed) >= 1
    })
    .await;
    assert!(refused, "the altered record closed its connection");
    assert!(
        captured_logs().contains("encrypted stream"),
        "{}",
        captured_logs()
    );
    let state = stream_state(&receiver).await;
    assert!(
        state.received < 2_000,
        "the altered connection delivered no more"
    );
    sender.stop().await.expect("stop");
    receiver.stop().await.expect("stop");
}

/// 12 MiB in one burst on a connected idle link: the socket takes part of
/// it, the link's writer the rest (frames found again by their length
/// prefixes), and every message arrives once, in order, counted as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_larger_than_the_socket_buffer_arrives_whole_and_in_order() {
    let (config, _dir) = config("burst", 2, SECRET);
    // One chunk of 3,000 sent when node 1's hello arrives: the link is
    // connected and idle, so the burst is encoded by the node and written
    // straight to a socket that cannot take it all at once.
    let node = Stream {
        total: 3_000,
        chunk: 3_000,
        payload: 4096,
        after_hello: true,
    };
    let system = Arc::new(System::new("burst", vec![node.clone(), node]));
    let sender = start_in_memory(&system, &config, 0).await;
    let receiver = start_in_memory(&system, &config, 1).await;
    assert_whole_stream(&sender, &receiver, 3_000).await;
    sender.stop().await.expect("stop");
    receiver.stop().await.expect("stop");
}

/// A delay set at run time holds messages in the queue (the writer sends
/// them when due), still in order, and they all arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_messages_arrive_in_order() {
    let (config, _dir) = config("delayed", 2, SECRET);
    let node = Stream {
        total: 300,
        chunk: 10,
        payload: 16,
        after_hello: false,
    };
    let system = Arc::new(System::new("stream", vec![node.clone(), node]));
    let receiver = start_in_memory(&system, &config, 1).await;
    let sender = start_in_memory(&system, &config, 0).await;
    sender
        .faults
        .replace(vec![prophet_runtime::faults::FaultRule {
            from: Some(0),
            to: Some(1),
            delay_ms: 30,
            ..Default::default()
        }]);
    let done = eventually(500, || async {
        stream_state(&receiver).await.received >= 300
    })
    .await;
    let state = stream_state(&receiver).await;
    assert!(done, "only {} of 300 arrived", state.received);
    assert_eq!((state.received, state.out_of_order), (300, 0));
    sender.stop().await.expect("stop");
    receiver.stop().await.expect("stop");
}

/// A lossy system's link to a peer that authenticates and then never reads:
/// the socket fills, the queue stays within its capacity by dropping its
/// oldest messages (counted), and the sending node keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_costs_a_lossy_sender_a_bounded_queue() {
    let (config, _dir) = config_with("stalled", 2, SECRET, "[limits]\nsend_queue = 16\n");
    let node = Stream {
        total: 20_000,
        chunk: 200,
        payload: 4096,
        after_hello: false,
    };
    let system = Arc::new(System::new("stream", vec![node.clone(), node]).network(
        prophet::model::NetworkSemantics {
            lossy: true,
            ..Default::default()
        },
    ));
    // Node 1's address is taken by a listener that completes the handshake
    // and then holds the connection without reading.
    let listener = tokio::net::TcpListener::bind(&config.nodes[1].addr)
        .await
        .expect("bind node 1's address");
    let secret = config.secret.clone();
    let cluster = config.cluster.clone();
    let stalled = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut conn = Framed::new(stream, 1 << 20);
        auth::accept::<(u64, Vec<u8>)>(&mut conn, &secret, &cluster, 2, |_| true)
            .await
            .expect("handshake");
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(conn);
    });
    let sender = Process::start(
        system,
        &config,
        &[0],
        ProcessOptions {
            no_disk: true,
            ..ProcessOptions::default()
        },
    )
    .await
    .expect("start");
    let link = sender.metrics.link(0, 1);
    let ordering = std::sync::atomic::Ordering::Relaxed;
    let mut deepest = 0;
    let dropped = eventually(1_000, || {
        deepest = deepest.max(link.queue_depth.load(ordering));
        async { link.dropped_queue.load(ordering) > 1_000 }
    })
    .await;
    assert!(dropped, "the full queue dropped its oldest messages");
    assert!(
        deepest <= 16,
        "queue depth {deepest} exceeded its capacity of 16"
    );
    // The sender kept handling events: it answers and went on sending.
    assert!(stream_state(&sender).await.sent > 1_000);
    sender.stop().await.expect("stop");
    stalled.abort();
}

/// Two nodes bounce a counter; node 1 writes a poisoned value into its
/// state and panics when the counter reaches `PANIC_AT`.
struct Fragile;

const PANIC_AT: u64 = 9;

impl Node for Fragile {
    type State = u64;
    type Msg = u64;
    type Timer = ();
    type Durable = u64;

    fn init(&self, _: NodeId, recovered: Option<u64>) -> u64 {
        recovered.unwrap_or(0)
    }
    fn on_start(&self, _: &mut u64, ctx: &mut Ctx<'_, Self>) {
        if ctx.id() == NodeId(0) {
            ctx.send(NodeId(1), 1);
        }
    }
    fn on_message(&self, state: &mut u64, ctx: &mut Ctx<'_, Self>, from: NodeId, n: u64) {
        if ctx.id() == NodeId(1) && n == PANIC_AT {
            *state = u64::MAX;
            panic!("poisoned at {n}");
        }
        *state = n;
        ctx.send(from, n + 1);
    }
    fn durable(&self, state: &u64) -> u64 {
        *state
    }
}

/// A panicking handler stops its node with an error naming the node and the
/// panic, and the half-updated state it left is never persisted: a restart
/// recovers the last value a completed handler committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_stops_its_node_and_its_state_is_not_persisted() {
    let (config, dir) = config("fragile", 2, SECRET);
    let system = Arc::new(System::new("fragile", vec![Fragile, Fragile]));
    let mut p1 = start(&system, &config, 1).await;
    let p0 = start(&system, &config, 0).await;
    let exit = tokio::time::timeout(Duration::from_secs(30), p1.next_exit())
        .await
        .expect("node 1 stops within 30 s");
    match exit {
        Some((1, Err(prophet_runtime::RuntimeError::HandlerPanicked { node, message }))) => {
            assert_eq!(node, 1);
            assert_eq!(message, format!("poisoned at {PANIC_AT}"));
        }
        other => panic!("expected node 1's handler panic, got {other:?}"),
    }
    // `stop` (not a drop) waits for the listeners to close, so the restart
    // below can bind the same ports.
    p1.stop().await.expect("the rest of process 1 stops");
    p0.stop().await.expect("node 0 is unaffected");
    // Restart node 1 alone: it recovers a value a completed handler wrote.
    let p1 = start(&system, &config, 1).await;
    let recovered = p1.snapshots().await[0].state.clone();
    let value: u64 = postcard::from_bytes(&recovered).expect("state");
    // Node 1 handles the odd counts; the last one it completed was
    // PANIC_AT - 2 (ping-pong: each burst is one message).
    assert_eq!(value, PANIC_AT - 2, "the poisoned value was not persisted");
    p1.stop().await.expect("stop");
    let _ = std::fs::remove_dir_all(dir);
}

/// Node 0 counts to 3 with itself, then sends to node 7 of a 2-node system
/// (the same node as in prophet/tests/registry.rs, where the checker and
/// the simulator report the same step with the same words).
struct Misaddressed;

impl Node for Misaddressed {
    type State = u8;
    type Msg = u8;
    type Timer = ();
    type Durable = ();

    fn init(&self, _: NodeId, _: Option<()>) -> u8 {
        0
    }
    fn on_start(&self, _: &mut u8, ctx: &mut Ctx<'_, Self>) {
        if ctx.id() == NodeId(0) {
            ctx.send(NodeId(0), 1);
        }
    }
    fn on_message(&self, state: &mut u8, ctx: &mut Ctx<'_, Self>, _: NodeId, n: u8) {
        *state = n;
        let to = if n == 3 { NodeId(7) } else { NodeId(0) };
        ctx.send(to, n + 1);
    }
    fn durable(&self, _: &u8) {}
}

/// A send to a node outside the system stops the live node with the words
/// the checker and the simulator use (it was logged and dropped before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_to_a_missing_node_stops_the_node_as_in_the_checker() {
    let (config, dir) = config("misaddressed", 2, SECRET);
    let system = Arc::new(System::new(
        "misaddressed",
        vec![Misaddressed, Misaddressed],
    ));
    let mut p0 = start(&system, &config, 0).await;
    let exit = tokio::time::timeout(Duration::from_secs(30), p0.next_exit())
        .await
        .expect("node 0 stops within 30 s");
    match exit {
        Some((0, Err(prophet_runtime::RuntimeError::HandlerFailed { node, message }))) => {
            assert_eq!(node, 0);
            assert_eq!(message, "n0 sent 4 to n7, but the system has 2 nodes");
        }
        other => panic!("expected node 0's refused send, got {other:?}"),
    }
    p0.stop().await.expect("the rest of the process stops");
    let _ = std::fs::remove_dir_all(dir);
}

/// Chooses under a name its system does not declare.
struct Undeclared;

impl Node for Undeclared {
    type State = u8;
    type Msg = u8;
    type Timer = ();
    type Durable = ();

    fn init(&self, _: NodeId, _: Option<()>) -> u8 {
        0
    }
    fn on_start(&self, state: &mut u8, ctx: &mut Ctx<'_, Self>) {
        *state = ctx.choose("pick.valeu", &[1u8, 2]);
    }
    fn on_message(&self, _: &mut u8, _: &mut Ctx<'_, Self>, _: NodeId, _: u8) {}
    fn durable(&self, _: &u8) {}
}

/// An undeclared `choose` stops the live node with the message the checker
/// and the simulator report (prophet/tests/registry.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeclared_choice_stops_the_node_as_in_the_checker() {
    let (config, dir) = config("undeclared", 1, SECRET);
    let system =
        Arc::new(System::new("undeclared", vec![Undeclared]).declare_choices(vec!["pick.value"]));
    let mut p0 = start(&system, &config, 0).await;
    let exit = tokio::time::timeout(Duration::from_secs(30), p0.next_exit())
        .await
        .expect("node 0 stops within 30 s");
    match exit {
        Some((0, Err(prophet_runtime::RuntimeError::HandlerPanicked { node, message }))) => {
            assert_eq!(node, 0);
            assert_eq!(
                message,
                "choose(\"pick.valeu\") names a choice the system does not declare; its choices are: pick.value"
            );
        }
        other => panic!("expected node 0's undeclared choice, got {other:?}"),
    }
    p0.stop().await.expect("the rest of the process stops");
    let _ = std::fs::remove_dir_all(dir);
}
