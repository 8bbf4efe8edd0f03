//! Connections that never log in, as an outsider on the network would open
//! them: bounded in memory (a small frame limit before the handshake), in
//! number (overall and per source address), and never fatal to the node.
//!
//! One test in its own binary: it measures this process's resident memory,
//! which another test running beside it would disturb.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prophet::model::{Ctx, Node, NodeId, System};
use prophet_runtime::metrics::Rejection;
use prophet_runtime::{ClusterConfig, Process, ProcessOptions};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

/// Node 0 sends node 1 one message at start; node 1 counts what it gets,
/// durably (so a delivery also proves the node can still open files).
struct Counter;

impl Node for Counter {
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
    fn on_message(&self, state: &mut u64, _: &mut Ctx<'_, Self>, _: NodeId, _: u64) {
        *state += 1;
    }
    fn durable(&self, state: &u64) -> u64 {
        *state
    }
}

fn config() -> (ClusterConfig, PathBuf) {
    let dir = std::env::temp_dir().join(format!("prophet-flood-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = || prophet_runtime::ports::free_port().expect("a free port");
    let text = format!(
        "cluster = \"flood\"\nsystem = \"counter\"\nsecret = \"00112233445566778899aabbccddeeff\"\ndata_dir = \"{}\"\n\
         [[nodes]]\nid = 0\naddr = \"127.0.0.1:{}\"\n[[nodes]]\nid = 1\naddr = \"127.0.0.1:{}\"\n",
        dir.display(),
        port(),
        port()
    );
    (
        ClusterConfig::parse(&text, "flood", &dir).expect("valid config"),
        dir,
    )
}

/// This process's resident set, in bytes.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

/// A connection to `to` from loopback address 127.0.0.`host`.
async fn connect_from(host: u8, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, host)),
        0,
    ))?;
    socket.connect(to).await
}

async fn eventually(tries: u32, mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..tries {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_log_in_cost_bounded_memory_and_never_stop_the_node() {
    let (config, dir) = config();
    let system = Arc::new(System::new("counter", vec![Counter, Counter]));
    let node1 = Process::start(
        Arc::clone(&system),
        &config,
        &[1],
        ProcessOptions::default(),
    )
    .await
    .expect("start");
    let (before, after) = prophet_runtime::process::raise_open_file_limit().expect("rlimit");
    assert!(after >= before, "the open-file limit is never lowered");
    let to: SocketAddr = config.nodes[1].addr.parse().expect("addr");
    let metrics = Arc::clone(&node1.metrics);

    // 1. 400 connections from 25 addresses (16 each, the per-source
    // limit), each announcing a 1 MiB frame and sending what the node
    // takes of it. Before the handshake the node accepts 4 KiB frames, so
    // each is refused at its length prefix.
    let zeros: &'static [u8] = Box::leak(vec![0u8; 1 << 20].into_boxed_slice());
    let rss_before = rss_bytes();
    let mut tasks = Vec::new();
    for i in 0..400u32 {
        let host = 2 + (i / 16) as u8;
        tasks.push(tokio::spawn(async move {
            let mut stream = match connect_from(host, to).await {
                Ok(stream) => stream,
                Err(e) => return format!("connect: {e}"),
            };
            if let Err(e) = stream.write_all(&(1u32 << 20).to_be_bytes()).await {
                return format!("prefix: {e}");
            }
            // Hold the connection until the node refuses it (the write then
            // fails).
            match tokio::time::timeout(Duration::from_secs(60), stream.write_all(zeros)).await {
                Ok(Ok(())) => "accepted 1 MiB".to_string(),
                Ok(Err(e)) => format!("refused: {:?}", e.kind()),
                Err(_) => "timed out".to_string(),
            }
        }));
    }
    let mut ends: std::collections::BTreeMap<String, usize> = Default::default();
    for task in tasks {
        *ends.entry(task.await.expect("flood task")).or_default() += 1;
    }
    eprintln!("client ends: {ends:?}");
    // Every connection ends at the node one way or another: refused at its
    // length prefix (nearly all), abandoned if the dialer's end was reset
    // before the node read it, or timed out in the handshake on a machine
    // too loaded to read it within 5 s (CI lost 6 of 400 and then 23 of
    // 400 this way while only the first kind was counted).
    let ended = || {
        [
            Rejection::Oversize,
            Rejection::PreLoginLimit,
            Rejection::Abandoned,
            Rejection::Truncated,
            Rejection::Malformed,
            Rejection::Handshake,
        ]
        .map(|r| metrics.rejections(r))
    };
    // A client whose connection was reset may have been refused by the
    // kernel before the node accepted it (one in 400, on a machine running
    // four of these at once); every other connection must be seen ending.
    let reset = ends
        .iter()
        .filter(|(end, _)| end.contains("ConnectionReset"))
        .map(|(_, &n)| n as u64)
        .sum::<u64>();
    // A client's write of 1 MiB can finish in the kernel's buffers before
    // the node has read its prefix, so the node's counts lag the clients:
    // wait for all 400 first (CI checked too early, while the resets were
    // allowed for, and saw 281), and allow for the resets only if the count
    // stops short.
    let all_seen = eventually(1_500, || ended().iter().sum::<u64>() >= 400).await;
    let seen = ended().iter().sum::<u64>();
    let accounted = seen <= 400 && (all_seen || seen + reset >= 400);
    let grown = rss_bytes().saturating_sub(rss_before);
    assert!(
        accounted,
        "every connection ended at the node: [oversize, over the limit, abandoned, truncated, malformed, handshake (timeout)] = {:?}; clients: {ends:?}",
        ended()
    );
    // At most 256 wait for a handshake at once, so at most 400 - 256 are
    // closed at accept (a loaded node reads prefixes late and closes more:
    // 86 with four of these tests side by side); the rest were read and
    // refused at their length prefix.
    assert!(
        metrics.rejections(Rejection::PreLoginLimit) <= 400 - 256,
        "at most 144 closed at accept: {:?}",
        ended()
    );
    assert!(
        metrics.rejections(Rejection::Oversize) >= 200,
        "most were refused at their length prefix: {:?}",
        ended()
    );
    eprintln!("ended at the node: {:?}", ended());
    assert!(
        grown <= 64 << 20,
        "400 partial 1 MiB frames grew the resident set by {} MiB (goal: at most 64)",
        grown >> 20
    );

    // 2. One source may hold 16 connections before login: the next 4 are
    // closed at accept.
    let limited = metrics.rejections(Rejection::PreLoginLimit);
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(connect_from(200, to).await.expect("connect"));
    }
    assert!(
        eventually(250, || metrics.rejections(Rejection::PreLoginLimit)
            == limited + 4)
        .await,
        "4 of 20 idle connections from one address refused, got {}",
        metrics.rejections(Rejection::PreLoginLimit) - limited
    );

    // 3. 1,200 idle connections from 75 addresses (more than the common
    // default of 1,024 open files): at most 256 wait for a handshake, the
    // rest are closed at accept, and the node runs on.
    for i in 0..1_200u32 {
        if let Ok(stream) = connect_from(10 + (i / 16) as u8, to).await {
            idle.push(stream);
        }
    }
    assert!(
        eventually(250, || {
            metrics.rejections(Rejection::PreLoginLimit) >= limited + 4 + (1_200 - 256 - 16)
        })
        .await,
        "the overall limit held: {} refused",
        metrics.rejections(Rejection::PreLoginLimit) - limited
    );
    assert!(metrics.all_up(), "the node runs on");
    drop(idle);

    // A real peer still gets through, and the node still writes its file.
    let node0 = Process::start(
        Arc::clone(&system),
        &config,
        &[0],
        ProcessOptions::default(),
    )
    .await
    .expect("start");
    let delivered = eventually(500, || {
        metrics
            .node(1)
            .durable_writes
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    })
    .await;
    assert!(delivered, "node 0's message arrived and was made durable");
    node0.stop().await.expect("stop");
    node1.stop().await.expect("stop");
    let _ = std::fs::remove_dir_all(dir);
}
