//! The node layer under the explorer: choices, crashes, network semantics,
//! symmetry.

use std::time::Duration;

use prophet::explore::Explorer;
use prophet::model::{
    Ctx, Delivery, DeterminismCheck, Model, NetworkSemantics, Node, NodeId, System,
};
use serde::{Deserialize, Serialize};

/// On start, node 0 sends 1 then 2 to node 1; node 1 logs what it receives.
struct Sender;

impl Node for Sender {
    type State = Vec<u8>;
    type Msg = u8;
    type Timer = ();
    type Durable = ();
    fn init(&self, _: NodeId, _: Option<()>) -> Vec<u8> {
        Vec::new()
    }
    fn on_start(&self, _: &mut Vec<u8>, ctx: &mut Ctx<'_, Self>) {
        if ctx.id() == NodeId(0) {
            ctx.send(NodeId(1), 1);
            ctx.send(NodeId(1), 2);
        }
    }
    fn on_message(&self, log: &mut Vec<u8>, _: &mut Ctx<'_, Self>, _: NodeId, msg: u8) {
        log.push(msg);
    }
    fn durable(&self, _: &Vec<u8>) {}
}

fn sender_system(delivery: Delivery, lossy: bool) -> System<Sender> {
    System::new("sender", vec![Sender, Sender])
        .network(NetworkSemantics { delivery, lossy })
        .always("in order", |_, s| {
            s.node(NodeId(1)).windows(2).all(|w| w[0] < w[1])
        })
}

#[test]
fn fifo_links_keep_order_and_unordered_ones_do_not() {
    let report = Explorer::new(&sender_system(Delivery::Fifo, false)).run();
    assert!(report.ok() && report.complete);
    assert_eq!(report.unique_states, 3, "nothing, [1], [1,2]");

    let report = Explorer::new(&sender_system(Delivery::UnorderedNonDuplicating, false)).run();
    let violation = report.violation("in order").expect("2 can overtake 1");
    assert_eq!(violation.trace_len, 2);
    let text = &violation.trace.as_ref().expect("trace").steps[0].description;
    assert_eq!(text, "n1 handles 2 from n0 → n1 state [2]");
}

#[test]
fn loss_and_duplication_change_the_reachable_states() {
    // Lossy FIFO: any subsequence of [1, 2] can arrive, in order. States
    // (in flight, log): ([1,2],[]) ([2],[1]) ([2],[]) ([],[1,2]) ([],[1])
    // ([],[2]) ([],[]).
    let report = Explorer::new(&sender_system(Delivery::Fifo, true)).run();
    assert!(report.ok());
    assert_eq!(report.unique_states, 7);
    // Duplicating: 1 and 2 may arrive any number of times, so order breaks.
    let report = Explorer::new(&sender_system(Delivery::UnorderedDuplicating, false))
        .max_depth(3)
        .run();
    assert_eq!(report.violation("in order").map(|f| f.trace_len), Some(2));
}

/// Picks a colour on start with `choose`; the colour is durable, the number
/// of restarts seen is volatile.
struct Painter;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Paint {
    colour: u8,
    boots: u8,
}

impl Node for Painter {
    type State = Paint;
    type Msg = ();
    type Timer = ();
    type Durable = u8;
    fn init(&self, _: NodeId, recovered: Option<u8>) -> Paint {
        Paint {
            colour: recovered.unwrap_or(0),
            boots: 0,
        }
    }
    fn on_start(&self, state: &mut Paint, ctx: &mut Ctx<'_, Self>) {
        state.boots += 1;
        if state.colour == 0 {
            state.colour = ctx.choose("painter.colour", &[1u8, 2, 3]);
        }
    }
    fn on_message(&self, _: &mut Paint, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}
    fn durable(&self, state: &Paint) -> u8 {
        state.colour
    }
}

#[test]
fn every_choice_outcome_is_its_own_successor() {
    let system = System::new("painters", vec![Painter, Painter]);
    assert_eq!(system.init_states().len(), 9, "3 colours × 3 colours");
    let report = Explorer::new(&system).run();
    assert_eq!(report.unique_states, 9);
}

#[test]
fn a_crash_keeps_durable_state_and_loses_the_rest() {
    let system = System::new("painter", vec![Painter])
        .crashes(1, [NodeId(0)])
        .always("colour never changes after a restart", |_, s| {
            let p = s.node(NodeId(0));
            p.colour != 0 && (s.is_up(NodeId(0)) || p.boots == 0)
        })
        .sometimes("restarted", |_, s| s.is_up(NodeId(0)) && s.crashes == 1);
    let report = Explorer::new(&system).run();
    assert!(report.ok(), "{report}");
    // 3 colours × (up, down, up again); boots is 1 after the restart too,
    // because the volatile count was lost with the crash.
    assert_eq!(report.unique_states, 9);
    let example = report.example("restarted").expect("reachable");
    assert_eq!(example.trace_len, 2);
}

/// Three identical nodes that each flip a bit once, on a timer.
#[derive(Clone)]
struct Flipper;

impl Node for Flipper {
    type State = bool;
    type Msg = ();
    type Timer = ();
    type Durable = ();
    fn init(&self, _: NodeId, _: Option<()>) -> bool {
        false
    }
    fn on_start(&self, _: &mut bool, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer((), Duration::from_millis(1));
    }
    fn on_message(&self, _: &mut bool, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}
    fn on_timer(&self, bit: &mut bool, _: &mut Ctx<'_, Self>, _: ()) {
        *bit = true;
    }
    fn durable(&self, _: &bool) {}
}

#[test]
fn symmetry_reduction_keeps_one_state_per_permutation_class() {
    let ids: Vec<NodeId> = (0..3).map(NodeId::from).collect();
    let system = System::new("flippers", vec![Flipper; 3])
        .symmetric(vec![ids])
        .always("at most three set", |_, s| {
            s.states().filter(|(_, b)| **b).count() <= 3
        });
    let full = Explorer::new(&system).run();
    assert_eq!(full.unique_states, 8, "2^3 assignments of bits");
    for strategy in [
        prophet::explore::Strategy::Bfs,
        prophet::explore::Strategy::Dfs,
    ] {
        let reduced = Explorer::new(&system)
            .symmetry(true)
            .strategy(strategy)
            .run();
        assert!(reduced.complete && reduced.ok());
        assert_eq!(reduced.unique_states, 4, "0, 1, 2 or 3 bits set");
    }
}

/// Handlers that are not deterministic: they read a global counter.
struct Drifter;

static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Node for Drifter {
    type State = u64;
    type Msg = ();
    type Timer = ();
    type Durable = ();
    fn init(&self, _: NodeId, _: Option<()>) -> u64 {
        0
    }
    fn on_start(&self, _: &mut u64, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer((), Duration::from_millis(1));
    }
    fn on_message(&self, _: &mut u64, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}
    fn on_timer(&self, state: &mut u64, _: &mut Ctx<'_, Self>, _: ()) {
        *state = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    }
    fn durable(&self, _: &u64) {}
}

#[test]
fn a_nondeterministic_handler_is_reported_with_its_trace() {
    let system = System::new("drifter", vec![Drifter]).determinism_check(DeterminismCheck::Always);
    let report = Explorer::new(&system).run();
    let finding = report
        .violation("nondeterministic handler")
        .expect("detected");
    assert_eq!(finding.kind, prophet::explore::FindingKind::Nondeterminism);
    assert!(
        finding
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("n0 on timer ()"),
        "{:?}",
        finding.detail
    );
    assert_eq!(finding.trace_len, 1, "the failing step itself");
}

/// A node whose message handler panics on a particular message, and whose
/// start handler may panic too.
struct Fragile {
    panic_on_start: bool,
}

impl Node for Fragile {
    type State = u8;
    type Msg = u8;
    type Timer = ();
    type Durable = ();
    fn init(&self, _: NodeId, _: Option<()>) -> u8 {
        0
    }
    fn on_start(&self, _: &mut u8, ctx: &mut Ctx<'_, Self>) {
        assert!(!self.panic_on_start, "cannot start");
        if ctx.id() == NodeId(0) {
            ctx.send(NodeId(1), 1);
            ctx.send(NodeId(1), 13);
        }
    }
    fn on_message(&self, state: &mut u8, _: &mut Ctx<'_, Self>, _: NodeId, msg: u8) {
        assert!(msg != 13, "unlucky message");
        *state = msg;
    }
    fn durable(&self, _: &u8) {}
}

#[test]
fn a_panicking_handler_is_reported_with_the_trace_to_it() {
    let fragile = || Fragile {
        panic_on_start: false,
    };
    let report = Explorer::new(&System::new("fragile", vec![fragile(), fragile()])).run();
    let finding = report.violation("handler panicked").expect("reported");
    assert_eq!(finding.kind, prophet::explore::FindingKind::Panic);
    assert!(
        finding
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("unlucky message")
    );
    assert_eq!(finding.trace_len, 1, "delivering 13 first panics at once");

    let broken = || Fragile {
        panic_on_start: true,
    };
    let report = Explorer::new(&System::new("broken", vec![broken()])).run();
    let finding = report.violation("handler panicked").expect("reported");
    assert!(
        finding
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("cannot start"),
        "{:?}",
        finding.detail
    );
    assert!(!report.complete);
}
