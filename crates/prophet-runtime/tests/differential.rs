//! The same schedule in the live runtime and the checker: three node
//! processes on loopback pass a token to peers they choose, arming and
//! cancelling a timer on each hop; every process logs each input its nodes
//! handled with the choice outcomes (`InputLog`). The checker then replays
//! that schedule from the boot state with `next_state` and must reach the
//! node states the live nodes report, with no message left in flight: the
//! same states and the same messages. (The simulator is held to the
//! checker the same way in `prophet-systems/tests/differential.rs`.)
//!
//! Bounded: the token stops after `HOPS` hops; waits are polls bounded in
//! count and time.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prophet::model::{
    Attribution, Ctx, Envelope, Event, GlobalState, Input, Model, Node, NodeId, Step, System,
};
use prophet_runtime::executor::InputLog;
use prophet_runtime::{ClusterConfig, Process, ProcessOptions};
use serde::{Deserialize, Serialize};

const HOPS: u64 = 40;

/// Passes a token to a chosen peer; a `Quiet` timer is armed on every hop
/// and cancelled on the next (it never fires: 1 hour).
struct Token;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct TokenState {
    seen: u64,
    sent_to: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
struct Quiet;

impl Node for Token {
    type State = TokenState;
    type Msg = u64;
    type Timer = Quiet;
    type Durable = ();

    fn init(&self, _: NodeId, _: Option<()>) -> TokenState {
        TokenState {
            seen: 0,
            sent_to: Vec::new(),
        }
    }
    fn on_start(&self, state: &mut TokenState, ctx: &mut Ctx<'_, Self>) {
        if ctx.id() == NodeId(0) {
            self.pass(state, ctx, 1);
        }
    }
    fn on_message(&self, state: &mut TokenState, ctx: &mut Ctx<'_, Self>, _: NodeId, hop: u64) {
        state.seen = hop;
        ctx.cancel_timer(Quiet);
        if hop < HOPS {
            self.pass(state, ctx, hop + 1);
        }
    }
    fn durable(&self, _: &TokenState) {}
}

impl Token {
    fn pass(&self, state: &mut TokenState, ctx: &mut Ctx<'_, Self>, hop: u64) {
        let peers: Vec<NodeId> = (0..ctx.node_count())
            .map(NodeId::from)
            .filter(|&p| p != ctx.id())
            .collect();
        let to = ctx.choose_with("token.next", &peers, Attribution::handle(hop));
        state.sent_to.push(to.0);
        ctx.set_timer(Quiet, Duration::from_secs(3600));
        ctx.send(to, hop);
    }
}

/// One handled input: the node, its encoded input, its choice outcomes.
type Handled = (NodeId, Vec<u8>, Vec<usize>);

/// What every process handled, per node, in each node's order.
#[derive(Default)]
struct Recorder {
    handled: Mutex<Vec<Handled>>,
}

impl InputLog for Recorder {
    fn handled(&self, node: NodeId, input: &[u8], choices: &[usize]) {
        self.handled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((node, input.to_vec(), choices.to_vec()));
    }
}

fn config(nodes: usize) -> (ClusterConfig, PathBuf) {
    let dir = std::env::temp_dir().join(format!("prophet-differential-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut text = format!(
        "cluster = \"differential\"\nsystem = \"token\"\nsecret = \"00112233445566778899aabbccddeeff\"\n\
         data_dir = \"{}\"\n\n[choose]\npolicy = \"random\"\nseed = 7\n\n",
        dir.display()
    );
    for id in 0..nodes {
        let port = prophet_runtime::ports::free_port().expect("a free port");
        text.push_str(&format!(
            "[[nodes]]\nid = {id}\naddr = \"127.0.0.1:{port}\"\n"
        ));
    }
    (
        ClusterConfig::parse(&text, "differential", &dir).expect("valid config"),
        dir,
    )
}

/// Replays the per-node input sequences in the checker: repeatedly takes
/// the next input of any node whose step is enabled (its message is in
/// flight). Steps of different nodes commute, so any such merge reaches
/// the same state as the live interleaving did.
fn replay(system: &System<Token>, mut queues: Vec<VecDeque<Step<Token>>>) -> GlobalState<Token> {
    let mut state = system.boot_state();
    loop {
        let mut advanced = false;
        for queue in &mut queues {
            while let Some(step) = queue.front() {
                match system.next_state(&state, step) {
                    Ok(Some(next)) => {
                        state = next;
                        queue.pop_front();
                        advanced = true;
                    }
                    // Its message has not been sent yet in this merge.
                    Ok(None) | Err(_) => break,
                }
            }
        }
        if queues.iter().all(VecDeque::is_empty) {
            return state;
        }
        assert!(advanced, "no node's next input is enabled: {queues:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_schedule_replays_in_the_checker_to_the_same_states_and_messages() {
    let (config, dir) = config(3);
    let system = Arc::new(System::new("token", vec![Token, Token, Token]));
    let recorder = Arc::new(Recorder::default());
    let options = ProcessOptions {
        no_disk: true,
        inputs: Some(recorder.clone() as Arc<dyn InputLog>),
        ..ProcessOptions::default()
    };
    let mut processes: Vec<Process<Token>> = Vec::new();
    for id in [2, 1, 0] {
        processes.push(
            Process::start(Arc::clone(&system), &config, &[id], options.clone())
                .await
                .expect("start"),
        );
    }
    // Wait (bounded) until the last hop has been handled.
    let mut done = false;
    for _ in 0..500 {
        let count = recorder.handled.lock().map(|h| h.len()).unwrap_or(0);
        // 3 boots + HOPS deliveries.
        if count >= 3 + HOPS as usize {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(done, "the token made {HOPS} hops within 10 s");
    let mut live = Vec::new();
    for p in &processes {
        live.extend(p.snapshots().await);
    }
    live.sort_by_key(|s| s.id);
    for p in processes {
        p.stop().await.expect("stop");
    }

    let handled = recorder
        .handled
        .lock()
        .map(|h| h.clone())
        .unwrap_or_default();
    assert_eq!(handled.len(), 3 + HOPS as usize);
    let mut queues: Vec<VecDeque<Step<Token>>> = vec![VecDeque::new(); 3];
    for (node, bytes, choices) in handled {
        let input: Input<Token> = postcard::from_bytes(&bytes).expect("an input");
        let event = match input {
            Input::Start => Event::Restart(node),
            Input::Message(src, msg) => Event::Deliver(Envelope {
                src,
                dst: node,
                msg,
            }),
            Input::Timer(timer) => Event::Timer(node, timer),
        };
        queues[node.index()].push_back(Step { event, choices });
    }
    let explored = replay(&system, queues);
    for snapshot in &live {
        let state: TokenState = postcard::from_bytes(&snapshot.state).expect("a state");
        let slot = &explored.nodes[snapshot.id as usize];
        assert_eq!(state, slot.state, "node {}", snapshot.id);
    }
    // The same messages: every one the checker's handlers sent was
    // delivered live, and none is left over.
    assert_eq!(explored.in_flight().count(), 0);
    let hops: u64 = explored
        .nodes
        .iter()
        .map(|n| n.state.sent_to.len() as u64)
        .sum();
    assert_eq!(hops, HOPS);
    // The holder of the last hop cancelled its timer and set none.
    let last = explored
        .nodes
        .iter()
        .position(|n| n.state.seen == HOPS)
        .expect("a node saw the last hop");
    assert!(explored.nodes[last].timers.is_empty());
    let _ = std::fs::remove_dir_all(dir);
}
