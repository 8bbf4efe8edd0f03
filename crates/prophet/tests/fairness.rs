//! Liveness under fairness: leads-to, always-eventually, weak and strong
//! fairness, on models whose lassos are counted by hand, and on two TLA+
//! specifications whose TLC verdicts are published in the TLA+ examples
//! collection (github.com/tlaplus/Examples, commit 32a32c7, each
//! specification's `manifest.json`).

use prophet::explore::{Explorer, FindingKind, Report, Trace};
use prophet::model::{ActionLabel, Fairness, Model, Property, StepError};

/// Two processes: `a` flips `x` forever; `b` sets `done` once, and (when
/// `intermittent`) only while `x` is false.
struct Flip {
    intermittent: bool,
    fairness: Vec<Fairness>,
    properties: fn() -> Vec<Property<Flip>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Proc {
    A,
    B,
}

/// (x, done)
type FlipState = (bool, bool);

impl Model for Flip {
    type State = FlipState;
    type Action = Proc;

    fn init_states(&self) -> Vec<FlipState> {
        vec![(false, false)]
    }
    fn actions(&self, &(x, done): &FlipState, actions: &mut Vec<Proc>) {
        actions.push(Proc::A);
        let b_enabled = !done && (!self.intermittent || !x);
        if b_enabled {
            actions.push(Proc::B);
        }
    }
    fn next_state(
        &self,
        &(x, done): &FlipState,
        action: &Proc,
    ) -> Result<Option<FlipState>, StepError> {
        Ok(Some(match action {
            Proc::A => (!x, done),
            Proc::B => (x, true),
        }))
    }
    fn properties(&self) -> Vec<Property<Self>> {
        (self.properties)()
    }
    fn fairness(&self) -> Vec<Fairness> {
        self.fairness.clone()
    }
    fn action_label(&self, _: &FlipState, action: &Proc) -> Option<ActionLabel> {
        Some(match action {
            Proc::A => ActionLabel::new("a", 0),
            Proc::B => ActionLabel::new("b", 0),
        })
    }
}

fn eventually_done() -> Vec<Property<Flip>> {
    vec![Property::eventually("done", |_, s: &FlipState| s.1)]
}

fn flip(
    intermittent: bool,
    fairness: Vec<Fairness>,
    properties: fn() -> Vec<Property<Flip>>,
) -> Report {
    Explorer::new(&Flip {
        intermittent,
        fairness,
        properties,
    })
    .run()
}

fn lasso<'r>(report: &'r Report, property: &str, kind: FindingKind) -> &'r Trace {
    let finding = report
        .violation(property)
        .unwrap_or_else(|| panic!("no violation of {property}: {report}"));
    assert_eq!(finding.kind, kind, "{report}");
    finding.trace.as_ref().expect("a trace")
}

fn actions(trace: &Trace) -> Vec<&str> {
    trace.steps.iter().map(|s| s.action.as_str()).collect()
}

#[test]
fn without_fairness_eventually_fails_on_a_loop_of_the_other_process() {
    let report = flip(false, vec![], eventually_done);
    let trace = lasso(&report, "done", FindingKind::Eventually);
    // (F,F) -a-> (T,F) -a-> (F,F): two steps, the loop starts at the start.
    assert_eq!(actions(trace), ["A", "A"]);
    assert_eq!(trace.loop_start, Some(0));
}

#[test]
fn weak_fairness_of_a_continuously_enabled_action_makes_it_hold() {
    let report = flip(false, vec![Fairness::weak("b")], eventually_done);
    assert!(report.ok(), "{report}");
    assert!(report.complete && report.undecided.is_empty(), "{report}");
}

#[test]
fn weak_fairness_is_not_enough_for_an_action_enabled_only_now_and_then() {
    let report = flip(true, vec![Fairness::weak("b")], eventually_done);
    let trace = lasso(&report, "done", FindingKind::Eventually);
    // b is enabled at (F,F) and not at (T,F): the a-loop is weakly fair.
    assert_eq!(actions(trace), ["A", "A"]);
    assert_eq!(trace.loop_start, Some(0));
    let detail = report.violation("done").and_then(|f| f.detail.clone());
    assert!(detail.is_some_and(|d| d.contains("fair to weak:b")));
}

#[test]
fn strong_fairness_of_an_action_enabled_infinitely_often_makes_it_hold() {
    let report = flip(true, vec![Fairness::strong("b")], eventually_done);
    assert!(report.ok(), "{report}");
    // Fairness for a class the model never labels changes nothing.
    let report = flip(true, vec![Fairness::strong("c")], eventually_done);
    assert!(report.violation("done").is_some(), "{report}");
}

#[test]
fn leads_to_reports_the_trigger_then_a_fair_loop() {
    fn x_leads_to_done() -> Vec<Property<Flip>> {
        vec![Property::leads_to(
            "x ~> done",
            |_, s: &FlipState| s.0,
            |_, s: &FlipState| s.1,
        )]
    }
    let report = flip(true, vec![Fairness::weak("b")], x_leads_to_done);
    let trace = lasso(&report, "x ~> done", FindingKind::LeadsTo);
    // (F,F) -a-> (T,F) where x holds, then the loop a, a back to (T,F).
    assert_eq!(actions(trace), ["A", "A", "A"]);
    assert_eq!(trace.loop_start, Some(1));
    let detail = report.violation("x ~> done").and_then(|f| f.detail.clone());
    assert!(
        detail.is_some_and(|d| d.contains("after step 1")),
        "{report}"
    );

    let report = flip(true, vec![Fairness::strong("b")], x_leads_to_done);
    assert!(report.ok(), "{report}");
}

#[test]
fn always_eventually_fails_once_the_condition_can_never_come_back() {
    fn not_done_infinitely_often() -> Vec<Property<Flip>> {
        vec![
            Property::always_eventually("[]<> not done", |_, s: &FlipState| !s.1),
            Property::always_eventually("[]<> x", |_, s: &FlipState| s.0),
        ]
    }
    let report = flip(false, vec![], not_done_infinitely_often);
    let trace = lasso(&report, "[]<> not done", FindingKind::AlwaysEventually);
    // (F,F) -b-> (F,T), then a, a forever.
    assert_eq!(actions(trace), ["B", "A", "A"]);
    assert_eq!(trace.loop_start, Some(1));
    // x is true again on every execution: from every state a flips it on,
    // and no loop or end avoids it.
    assert!(report.violation("[]<> x").is_none(), "{report}");
    assert!(report.undecided.is_empty(), "{report}");
}

#[test]
fn a_lasso_replays_to_the_state_its_loop_starts_from() {
    let model = Flip {
        intermittent: true,
        fairness: vec![Fairness::weak("b")],
        properties: || {
            vec![Property::leads_to(
                "x ~> done",
                |_, s: &FlipState| s.0,
                |_, s: &FlipState| s.1,
            )]
        },
    };
    let explorer = Explorer::new(&model);
    let report = explorer.run();
    let trace = lasso(&report, "x ~> done", FindingKind::LeadsTo);
    let start = trace.loop_start.expect("a loop");
    let end = explorer.state_at(trace.init, &trace.path);
    let loop_state = explorer.state_at(trace.init, &trace.path[..start]);
    assert_eq!(end, loop_state);
    // A replay knows nothing of loops; the steps are the same.
    let replayed = explorer.replay(trace.init, &trace.path).expect("replay");
    assert_eq!(replayed.steps, trace.steps);
}

// ---------------------------------------------------------------------------
// EWD 840: Dijkstra's termination detection on a ring, after Stephan Merz's
// specifications/ewd840/EWD840.tla. TLC, with N = 3 and
// `Spec == Init /\ [][Next]_vars /\ WF_vars(System)`: 302 distinct states,
// 2,001 generated, and `Liveness == terminated ~> terminationDetected`
// holds ("result": "success" in specifications/ewd840/manifest.json).

struct Ewd840 {
    n: u8,
    /// `WF_vars(System)`.
    fair: bool,
    /// TLA+'s semantics: executions may stutter where no fair action is enabled.
    tla: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Ring840 {
    active: Vec<bool>,
    black: Vec<bool>,
    tpos: u8,
    token_black: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Ewd {
    InitiateProbe,
    PassToken(u8),
    SendMsg(u8, u8),
    Deactivate(u8),
}

fn bits(n: u8) -> Vec<Vec<bool>> {
    (0..1u32 << n)
        .map(|m| (0..n).map(|i| m >> i & 1 == 1).collect())
        .collect()
}

impl Model for Ewd840 {
    type State = Ring840;
    type Action = Ewd;

    fn init_states(&self) -> Vec<Ring840> {
        let mut states = Vec::new();
        for active in bits(self.n) {
            for black in bits(self.n) {
                for tpos in 0..self.n {
                    states.push(Ring840 {
                        active: active.clone(),
                        black: black.clone(),
                        tpos,
                        token_black: true,
                    });
                }
            }
        }
        states
    }

    fn actions(&self, s: &Ring840, actions: &mut Vec<Ewd>) {
        if s.tpos == 0 && (s.token_black || s.black[0]) {
            actions.push(Ewd::InitiateProbe);
        }
        let i = s.tpos;
        if i != 0 && (!s.active[i as usize] || s.black[i as usize] || s.token_black) {
            actions.push(Ewd::PassToken(i));
        }
        for i in 0..self.n {
            if s.active[i as usize] {
                for j in (0..self.n).filter(|&j| j != i) {
                    actions.push(Ewd::SendMsg(i, j));
                }
                actions.push(Ewd::Deactivate(i));
            }
        }
    }

    fn next_state(&self, s: &Ring840, action: &Ewd) -> Result<Option<Ring840>, StepError> {
        let mut t = s.clone();
        match *action {
            Ewd::InitiateProbe => {
                t.tpos = self.n - 1;
                t.token_black = false;
                t.black[0] = false;
            }
            Ewd::PassToken(i) => {
                t.tpos = i - 1;
                t.token_black = s.black[i as usize] || s.token_black;
                t.black[i as usize] = false;
            }
            Ewd::SendMsg(i, j) => {
                t.active[j as usize] = true;
                if j > i {
                    t.black[i as usize] = true;
                }
            }
            Ewd::Deactivate(i) => t.active[i as usize] = false,
        }
        Ok(Some(t))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        fn terminated(s: &Ring840) -> bool {
            s.active.iter().all(|a| !a)
        }
        fn detected(s: &Ring840) -> bool {
            s.tpos == 0 && !s.token_black && !s.black[0] && !s.active[0]
        }
        vec![
            Property::always("TerminationDetection", |_, s: &Ring840| {
                !detected(s) || terminated(s)
            }),
            Property::always("Inv", |_, s: &Ring840| {
                (0..s.active.len()).all(|i| i as u8 <= s.tpos || !s.active[i])
                    || (0..=s.tpos as usize).any(|j| s.black[j])
                    || s.token_black
            }),
            Property::leads_to(
                "Liveness",
                |_, s: &Ring840| terminated(s),
                |_, s: &Ring840| detected(s),
            ),
        ]
    }

    fn fairness(&self) -> Vec<Fairness> {
        if self.fair {
            vec![Fairness::weak("system")]
        } else {
            Vec::new()
        }
    }

    fn may_stutter(&self) -> bool {
        self.tla
    }

    fn action_label(&self, _: &Ring840, action: &Ewd) -> Option<ActionLabel> {
        // WF_vars(System): System is one action (a disjunction), not one per node.
        match action {
            Ewd::InitiateProbe | Ewd::PassToken(_) => Some(ActionLabel::new("system", 0)),
            Ewd::SendMsg(..) | Ewd::Deactivate(_) => None,
        }
    }
}

#[test]
fn ewd840_gives_tlc_distinct_count_and_its_liveness_holds_under_weak_fairness() {
    let report = Explorer::new(&Ewd840 {
        n: 3,
        fair: true,
        tla: true,
    })
    .run();
    // TLC's 2,001 generated states and depth 10 were counted while it also
    // checked `TDSpec`, a temporal property this port leaves out; the
    // distinct count is the state space's.
    assert_eq!(report.unique_states, 302, "{report}");
    assert!(report.ok() && report.complete, "{report}");
    assert!(report.undecided.is_empty(), "{report}");
}

#[test]
fn ewd840_without_fairness_stutters_short_of_detection() {
    // Without WF_vars(System), TLA+ lets an execution stop in a terminated
    // state before the token comes home.
    let model = Ewd840 {
        n: 3,
        fair: false,
        tla: true,
    };
    let explorer = Explorer::new(&model);
    let report = explorer.run();
    let trace = lasso(&report, "Liveness", FindingKind::LeadsTo);
    assert_eq!(trace.loop_start, None);
    // A terminated start state that has not detected termination: no step.
    assert_eq!(trace.len(), 0, "{report}");
    let detail = report.violation("Liveness").and_then(|f| f.detail.clone());
    assert!(detail.is_some_and(|d| d.contains("stutters")), "{report}");
    // Prophet's own semantics never stop while a step is enabled, and in a
    // terminated state the token can always move: no fairness needed.
    let report = Explorer::new(&Ewd840 {
        n: 3,
        fair: false,
        tla: false,
    })
    .run();
    assert!(report.ok(), "{report}");
}

// ---------------------------------------------------------------------------
// The Chandy–Misra dining philosophers, after Jeff Hemphill's
// specifications/DiningPhilosophers/DiningPhilosophers.tla (the PlusCal
// translation). TLC, with NP = 5 and `\A self : WF_vars(Philosopher(self))`:
// 67 distinct states, 336 generated, and
// `NobodyStarves == \A p : []<>(~hungry[p])` holds ("result": "success").

struct Dining {
    np: u8,
    /// `\A self : WF_vars(Philosopher(self))`.
    fair: bool,
    /// TLA+'s semantics: executions may stutter where no fair action is enabled.
    tla: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Pc {
    Loop,
    Eat,
    Think,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Table {
    /// Per fork (0-based): holder (0-based) and whether it is clean.
    forks: Vec<(u8, bool)>,
    hungry: Vec<bool>,
    pc: Vec<Pc>,
}

impl Dining {
    fn left_fork(&self, p: u8) -> usize {
        p as usize
    }
    fn right_fork(&self, p: u8) -> usize {
        ((p + 1) % self.np) as usize
    }
    fn left_philosopher(&self, p: u8) -> u8 {
        (p + self.np - 1) % self.np
    }
    fn right_philosopher(&self, p: u8) -> u8 {
        (p + 1) % self.np
    }
    fn can_eat(&self, s: &Table, p: u8) -> bool {
        let (l, r) = (s.forks[self.left_fork(p)], s.forks[self.right_fork(p)]);
        l.0 == p && r.0 == p && l.1 && r.1
    }
}

impl Model for Dining {
    type State = Table;
    /// The philosopher who steps (its pc says which of its actions).
    type Action = u8;

    fn init_states(&self) -> Vec<Table> {
        vec![Table {
            // Fork 2 (1-based) starts with philosopher 1, the others with
            // their own number.
            forks: (0..self.np)
                .map(|f| (if f == 1 { 0 } else { f }, false))
                .collect(),
            hungry: vec![true; self.np as usize],
            pc: vec![Pc::Loop; self.np as usize],
        }]
    }

    fn actions(&self, _: &Table, actions: &mut Vec<u8>) {
        actions.extend(0..self.np);
    }

    fn next_state(&self, s: &Table, &p: &u8) -> Result<Option<Table>, StepError> {
        let mut t = s.clone();
        let i = p as usize;
        match s.pc[i] {
            Pc::Loop => {
                let (l, r) = (self.left_fork(p), self.right_fork(p));
                if s.forks[l].0 == p && !s.forks[l].1 {
                    t.forks[l] = (self.left_philosopher(p), true);
                } else if s.forks[r].0 == p && !s.forks[r].1 {
                    t.forks[r] = (self.right_philosopher(p), true);
                }
                t.pc[i] = if !s.hungry[i] {
                    Pc::Think
                } else if self.can_eat(s, p) {
                    Pc::Eat
                } else {
                    Pc::Loop
                };
            }
            Pc::Think => {
                t.hungry[i] = true;
                t.pc[i] = Pc::Loop;
            }
            Pc::Eat => {
                t.hungry[i] = false;
                let (l, r) = (self.left_fork(p), self.right_fork(p));
                t.forks[l].1 = false;
                t.forks[r].1 = false;
                t.pc[i] = Pc::Loop;
            }
        }
        Ok(Some(t))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let np = self.np;
        let mut properties = vec![Property::always(
            "ExclusiveAccess",
            move |m: &Dining, s: &Table| {
                (0..np).all(|p| {
                    (0..np).all(|q| {
                        let share = [m.left_fork(p), m.right_fork(p)]
                            .iter()
                            .any(|f| *f == m.left_fork(q) || *f == m.right_fork(q));
                        p == q
                            || !share
                            || !(s.pc[p as usize] == Pc::Eat && s.pc[q as usize] == Pc::Eat)
                    })
                })
            },
        )];
        for p in 0..np as usize {
            properties.push(Property::always_eventually(
                format!("NobodyStarves({})", p + 1),
                move |_, s: &Table| !s.hungry[p],
            ));
        }
        properties
    }

    fn fairness(&self) -> Vec<Fairness> {
        if self.fair {
            vec![Fairness::weak("philosopher")]
        } else {
            Vec::new()
        }
    }

    fn may_stutter(&self) -> bool {
        self.tla
    }

    fn action_label(&self, _: &Table, &p: &u8) -> Option<ActionLabel> {
        Some(ActionLabel::new("philosopher", u64::from(p)))
    }
}

#[test]
fn dining_philosophers_give_tlc_counts_and_nobody_starves_under_weak_fairness() {
    let report = Explorer::new(&Dining {
        np: 5,
        fair: true,
        tla: true,
    })
    .run();
    assert_eq!(report.unique_states, 67, "{report}");
    assert_eq!(report.total_states, 336, "{report}");
    assert!(report.ok() && report.complete, "{report}");
    assert!(report.undecided.is_empty(), "{report}");
}

#[test]
fn without_fairness_every_philosopher_can_starve() {
    // The spec's own comment: without `fair`, "each process can stop at any
    // time and will never run again". Under TLA+'s semantics the first
    // state is already a counterexample: everybody hungry, nobody moves.
    let report = Explorer::new(&Dining {
        np: 5,
        fair: false,
        tla: true,
    })
    .run();
    for p in 1..=5 {
        let trace = lasso(
            &report,
            &format!("NobodyStarves({p})"),
            FindingKind::AlwaysEventually,
        );
        assert_eq!((trace.len(), trace.loop_start), (0, None), "{report}");
    }
}

#[test]
fn prophet_semantics_alone_keep_every_philosopher_fed() {
    // Prophet's semantics (no stopping while a step is enabled) alone keep
    // every philosopher fed here: a starved philosopher's neighbours end up
    // waiting, and then the only step left is its own.
    let report = Explorer::new(&Dining {
        np: 5,
        fair: false,
        tla: false,
    })
    .run();
    assert!(report.ok(), "{report}");
}

/// `x` cycles 0 → 1 → 2 → 0 by `a`; `c` swaps 1 and 2; `b` (only at 0)
/// sets done.
struct Three {
    fairness: Vec<Fairness>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Act3 {
    A,
    B,
    C,
}

impl Model for Three {
    type State = (u8, bool);
    type Action = Act3;

    fn init_states(&self) -> Vec<(u8, bool)> {
        vec![(0, false)]
    }
    fn actions(&self, &(x, done): &(u8, bool), actions: &mut Vec<Act3>) {
        actions.push(Act3::A);
        if x == 0 && !done {
            actions.push(Act3::B);
        }
        if x != 0 {
            actions.push(Act3::C);
        }
    }
    fn next_state(
        &self,
        &(x, done): &(u8, bool),
        action: &Act3,
    ) -> Result<Option<(u8, bool)>, StepError> {
        Ok(Some(match action {
            Act3::A => ((x + 1) % 3, done),
            Act3::B => (x, true),
            Act3::C => (3 - x, done),
        }))
    }
    fn properties(&self) -> Vec<Property<Self>> {
        vec![Property::eventually("done", |_, s: &(u8, bool)| s.1)]
    }
    fn fairness(&self) -> Vec<Fairness> {
        self.fairness.clone()
    }
    fn action_label(&self, _: &(u8, bool), action: &Act3) -> Option<ActionLabel> {
        let class = match action {
            Act3::A => "a",
            Act3::B => "b",
            Act3::C => "c",
        };
        Some(ActionLabel::new(class, 0))
    }
}

#[test]
fn strong_fairness_removes_the_states_it_rules_out_and_finds_the_loop_that_avoids_them() {
    // Strong fairness of b rules out the loops through x = 0 (where b is
    // enabled and never taken), but not the loop 1 ↔ 2, which never enables b.
    let report = Explorer::new(&Three {
        fairness: vec![Fairness::strong("b"), Fairness::weak("a")],
    })
    .run();
    let trace = lasso(&report, "done", FindingKind::Eventually);
    // (0) -a-> (1), then the loop a: 1 → 2, c: 2 → 1 (a is taken in it).
    assert_eq!(actions(trace), ["A", "A", "C"]);
    assert_eq!(trace.loop_start, Some(1));
    // Strong fairness of c as well: the loop must take c, and does
    // (1 -c-> 2 -c-> 1).
    let report = Explorer::new(&Three {
        fairness: vec![Fairness::strong("b"), Fairness::strong("c")],
    })
    .run();
    let trace = lasso(&report, "done", FindingKind::Eventually);
    assert_eq!(actions(trace), ["A", "C", "C"]);
    assert_eq!(trace.loop_start, Some(1));
    // Weak fairness of b alone admits the loop through 0 as well (b is
    // disabled at 1 and 2), so the first component found is the whole cycle.
    let report = Explorer::new(&Three {
        fairness: vec![Fairness::weak("b")],
    })
    .run();
    assert!(report.violation("done").is_some(), "{report}");
}

// ---------------------------------------------------------------------------
// Node systems label their events themselves.

mod nodes {
    use std::time::Duration;

    use prophet::explore::{Explorer, FindingKind};
    use prophet::prelude::*;

    /// Node 0 sends one message to node 1 at start and keeps a timer that
    /// flips a bit of its own for ever.
    #[derive(Clone)]
    struct Busy;

    impl Node for Busy {
        type State = (bool, bool);
        type Msg = ();
        type Timer = ();
        type Durable = ();

        fn init(&self, _: NodeId, _: Option<()>) -> (bool, bool) {
            (false, false)
        }
        fn on_start(&self, _: &mut (bool, bool), ctx: &mut Ctx<'_, Self>) {
            if ctx.id() == NodeId(0) {
                ctx.send(NodeId(1), ());
                ctx.set_timer((), Duration::from_millis(1));
            }
        }
        fn on_timer(&self, state: &mut (bool, bool), ctx: &mut Ctx<'_, Self>, _: ()) {
            state.0 = !state.0;
            ctx.set_timer((), Duration::from_millis(1));
        }
        fn on_message(&self, state: &mut (bool, bool), _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {
            state.1 = true;
        }
        fn durable(&self, _: &(bool, bool)) {}
    }

    fn system() -> System<Busy> {
        System::new("busy", vec![Busy, Busy]).eventually("delivered", |_, s| s.node(NodeId(1)).1)
    }

    #[test]
    fn a_message_starved_by_a_timer_loop_is_a_lasso_until_delivery_is_fair() {
        let system = system();
        let report = Explorer::new(&system).run();
        let finding = report.violation("delivered").expect("a lasso");
        assert_eq!(finding.kind, FindingKind::Eventually);
        let trace = finding.trace.as_ref().expect("trace");
        // The timer fires twice and node 0 is back where it was.
        assert_eq!(trace.len(), 2, "{report}");
        assert_eq!(trace.loop_start, Some(0));
        assert!(
            trace.steps.iter().all(|s| s.action.contains("timer")),
            "{report}"
        );

        let fair = system.fair(Fairness::weak("deliver"));
        let report = Explorer::new(&fair).run();
        assert!(report.ok() && report.undecided.is_empty(), "{report}");
        // Fairness of timers alone does not deliver the message.
        let timers = self::system().fair(Fairness::weak("timer"));
        let report = Explorer::new(&timers).run();
        assert!(report.violation("delivered").is_some(), "{report}");
    }
}

/// A counter from 0 up; states from `limit` on are outside the boundary, and
/// `fail_at` (if any) is a state whose step fails.
struct Count {
    limit: u8,
    fail_at: Option<u8>,
}

impl Model for Count {
    type State = u8;
    type Action = ();
    fn init_states(&self) -> Vec<u8> {
        vec![0]
    }
    fn actions(&self, _: &u8, actions: &mut Vec<()>) {
        actions.push(());
    }
    fn next_state(&self, s: &u8, _: &()) -> Result<Option<u8>, StepError> {
        if Some(*s) == self.fail_at {
            return Err(StepError::Panic {
                message: "boom".into(),
            });
        }
        Ok(Some(s + 1))
    }
    fn properties(&self) -> Vec<Property<Self>> {
        vec![Property::leads_to(
            "0 ~> 5",
            |_, s: &u8| *s == 0,
            |_, s: &u8| *s >= 5,
        )]
    }
    fn within_boundary(&self, s: &u8) -> bool {
        *s < self.limit
    }
}

#[test]
fn an_unexpanded_state_only_makes_the_verdict_unknown_where_it_could_hide_a_counterexample() {
    // The boundary cuts at 8, where the condition already holds: decided.
    let report = Explorer::new(&Count {
        limit: 8,
        fail_at: None,
    })
    .run();
    assert!(report.ok() && report.undecided.is_empty(), "{report}");
    // The boundary cuts at 3, before the condition: undecided, not a pass
    // and not an end of the execution.
    let report = Explorer::new(&Count {
        limit: 3,
        fail_at: None,
    })
    .run();
    assert!(report.violation("0 ~> 5").is_none(), "{report}");
    assert!(
        report
            .undecided
            .iter()
            .any(|u| u.contains("not all paths were followed")),
        "{report}"
    );
}

#[test]
fn a_failing_step_is_not_the_end_of_an_execution() {
    let report = Explorer::new(&Count {
        limit: 100,
        fail_at: Some(2),
    })
    .keep_going(true)
    .run();
    // The failing step is the finding; the liveness check does not claim
    // that execution stops at state 2.
    assert!(report.violation("handler panicked").is_some(), "{report}");
    assert!(report.violation("0 ~> 5").is_none(), "{report}");
}

#[test]
fn random_walks_leave_fair_liveness_undecided() {
    let report = Explorer::new(&Dining {
        np: 5,
        fair: true,
        tla: true,
    })
    .strategy(prophet::explore::Strategy::Walk { seed: 1 })
    .walks(3)
    .run();
    assert!(report.violations.is_empty(), "{report}");
    assert!(
        report
            .undecided
            .iter()
            .any(|u| u.contains("not checked by random walks")),
        "{report}"
    );
}
