//! The registry as a user's tool sees it: one description per protocol,
//! parameters validated once, and declared choices enforced by every
//! executor in this crate.

use prophet::explore::FindingKind;
use prophet::prelude::*;
use prophet::registry::{
    CheckOptions, CheckOutcome, Description, Entry, ParamSpec, Params, Protocol, Purpose, Registry,
    RegistryError, SimRequest,
};
use prophet::sim::Limits;
use std::collections::BTreeMap;
use std::time::Duration;

/// A node that picks a peer at boot under the name its variant says.
#[derive(Clone)]
struct Picker {
    name: &'static str,
}

impl Node for Picker {
    type State = u8;
    type Msg = u8;
    type Timer = ();
    type Durable = ();

    fn init(&self, _: NodeId, _: Option<()>) -> u8 {
        0
    }
    fn on_start(&self, state: &mut u8, ctx: &mut Ctx<'_, Self>) {
        *state = ctx.choose(self.name, &[1u8, 2]);
    }
    fn on_message(&self, _: &mut u8, _: &mut Ctx<'_, Self>, _: NodeId, _: u8) {}
    fn durable(&self, _: &u8) {}
}

struct Pickers;

impl Protocol for Pickers {
    type Node = Picker;
    fn describe(&self) -> Description {
        Description::new("pickers", "nodes that choose once")
            .param(ParamSpec::int("nodes", "how many", 1, 8, "2").per_purpose("2", "3", "4"))
            .variant("correct", "chooses under its declared name")
            .variant("typo", "bug: chooses under a name nobody declared")
            .choice("pick.value", "which value", "1 or 2")
    }
    fn build(&self, params: &Params) -> System<Picker> {
        let name = match params.text("variant") {
            "typo" => "pick.valeu",
            _ => "pick.value",
        };
        System::new("pickers", vec![Picker { name }; params.int("nodes")])
    }
}

fn registry() -> Registry {
    Registry::new().with(Entry::nodes(Pickers))
}

#[test]
fn one_parameter_list_with_a_default_per_purpose() {
    let registry = registry();
    let entry = registry.find("pickers").expect("registered");
    let counts: Vec<Option<usize>> = Purpose::ALL
        .into_iter()
        .map(|p| entry.node_count(&entry.params(p, &[]).expect("defaults")))
        .collect();
    assert_eq!(counts, [Some(2), Some(3), Some(4)]);
    assert_eq!(
        entry.params(Purpose::Live, &["variant=odd".into()]),
        Err(RegistryError::BadValue {
            name: "variant".into(),
            value: "odd".into(),
            expected: "one of correct, typo".into(),
        })
    );
    let names: Vec<&str> = entry.param_specs().iter().map(|p| p.name).collect();
    assert_eq!(names, ["nodes", "variant"]);
}

#[test]
fn the_checker_reports_an_undeclared_choice() {
    let registry = registry();
    let entry = registry.find("pickers").expect("registered");
    let ok = entry.params(Purpose::Check, &[]).expect("defaults");
    let Ok(CheckOutcome::Report(report)) = entry.check(&ok, &CheckOptions::default()) else {
        panic!("a report");
    };
    assert!(report.ok(), "{report}");
    // Boot runs every on_start, branching on each choice: 2 picks for each
    // of 2 nodes gives 4 initial states, and nothing follows them.
    assert_eq!(report.unique_states, 4);

    let typo = entry
        .params(Purpose::Check, &["variant=typo".into()])
        .expect("valid");
    let Ok(CheckOutcome::Report(report)) = entry.check(&typo, &CheckOptions::default()) else {
        panic!("a report");
    };
    let finding = &report.violations[0];
    assert_eq!(finding.kind, FindingKind::Panic, "{report}");
    // The panic is in on_start, while the initial states are built.
    assert_eq!(finding.trace_len, 0, "{report}");
    let detail = finding.detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains(
            "choose(\"pick.valeu\") names a choice the system does not declare; its choices are: pick.value"
        ),
        "{detail}"
    );
}

#[test]
fn the_simulator_reports_an_undeclared_choice_and_refuses_an_undeclared_policy() {
    let registry = registry();
    let entry = registry.find("pickers").expect("registered");
    let run = |params: &Params, policies: BTreeMap<String, PolicySpec>| {
        let mut progress = |_: &prophet::sim::RunReport| {};
        let mut request = SimRequest {
            scenario: None,
            policies,
            default_policy: None,
            limits: Limits {
                horizon: Duration::from_secs(1),
                ..Limits::default()
            },
            seeds: vec![1],
            check_every: None,
            progress: &mut progress,
            run_progress: None,
            observer: None,
            steer: None,
        };
        entry.simulate(params, &mut request)
    };
    let typo = entry
        .params(Purpose::Sim, &["variant=typo".into()])
        .expect("valid");
    let error = run(&typo, BTreeMap::new()).expect_err("the handler panics");
    assert!(
        error.contains("names a choice the system does not declare"),
        "{error}"
    );
    let ok = entry.params(Purpose::Sim, &[]).expect("defaults");
    assert_eq!(run(&ok, BTreeMap::new()).map(|r| r.len()), Ok(1));
    let error = run(
        &ok,
        BTreeMap::from([("pick.valu".to_string(), PolicySpec::Random)]),
    )
    .expect_err("refused");
    assert_eq!(
        error,
        "`pickers` makes no choice named `pick.valu`; its choices are: pick.value"
    );
}

#[test]
fn unknown_systems_and_plain_models_are_refused_by_name() {
    let registry = registry();
    assert_eq!(
        registry.find("picker").unwrap_err().to_string(),
        "unknown system `picker`; the systems are: pickers"
    );
    assert!(
        registry
            .find("pickers")
            .is_ok_and(|e| e.supports(Purpose::Live).is_ok())
    );
}

/// A node that panics on the second message it receives.
#[derive(Clone)]
struct Fragile;

impl Node for Fragile {
    type State = u8;
    type Msg = u8;
    type Timer = ();
    type Durable = ();

    fn init(&self, _: NodeId, _: Option<()>) -> u8 {
        0
    }
    fn on_start(&self, _: &mut u8, ctx: &mut Ctx<'_, Self>) {
        ctx.send(ctx.id(), 1);
        ctx.send(ctx.id(), 2);
    }
    fn on_message(&self, state: &mut u8, _: &mut Ctx<'_, Self>, _: NodeId, msg: u8) {
        assert!(*state == 0, "got {msg} after {state}");
        *state = msg;
    }
    fn durable(&self, _: &u8) {}
}

#[test]
fn the_path_of_a_panic_finding_includes_the_failing_step() {
    let system = System::new("fragile", vec![Fragile]);
    let explorer = Explorer::new(&system);
    let report = explorer.run();
    let finding = &report.violations[0];
    assert_eq!(finding.kind, FindingKind::Panic);
    let trace = finding.trace.as_ref().expect("a trace");
    // One delivery, then the delivery that panics: two indices.
    assert_eq!(trace.path.len(), 2, "{trace}");
    assert_eq!(trace.len(), 2);
    let replayed = explorer
        .replay(trace.init, &trace.path)
        .expect("the failing step replays");
    assert_eq!(replayed.len(), 2);
    assert!(
        replayed.steps[1]
            .description
            .contains("handler panicked: got"),
        "{replayed}"
    );
    assert!(
        trace
            .to_string()
            .ends_with(&format!("  path: {}", trace.encoded()))
    );
}

/// Node 0 counts to 3 with itself, then sends to node 7 of a 2-node system.
#[derive(Clone)]
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

/// The error every executor gives for the same broken step (the live
/// runtime's test in prophet-runtime/tests/loopback.rs expects it too).
const MISADDRESSED: &str = "n0 sent 4 to n7, but the system has 2 nodes";

#[test]
fn a_send_to_a_missing_node_is_the_same_failure_in_the_checker_and_the_simulator() {
    let system = System::new("misaddressed", vec![Misaddressed, Misaddressed]);
    let report = Explorer::new(&system).run();
    let finding = &report.violations[0];
    assert_eq!(finding.kind, FindingKind::Panic);
    assert!(
        finding
            .detail
            .as_deref()
            .is_some_and(|d| d.contains(MISADDRESSED)),
        "{report}"
    );
    // Three deliveries, then the one whose send is refused.
    assert_eq!(finding.trace_len, 3, "{report}");
    let error = prophet::sim::Simulator::new(&system)
        .run(1)
        .expect_err("the run stops");
    assert_eq!(
        error.to_string(),
        format!("n0 panicked at t=3ms: {MISADDRESSED}")
    );
}
