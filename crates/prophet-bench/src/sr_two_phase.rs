//! Two-phase commit written in stateright 0.31's API, twice:
//!
//! - [`Packed`] wraps Prophet's own `TwoPhase` (same state type, same action
//!   enumeration, same successor function) so that the comparison measures
//!   the checkers and nothing else;
//! - [`Idiomatic`] is the model as stateright's own example writes it
//!   (`Vec` per RM and a `BTreeSet` of messages), for reference.

use std::collections::BTreeSet;

use prophet::model::Model as _;
use prophet_systems::two_phase::{self, RmState as PRm, TwoPhase};
use stateright::{Model, Property};

/// Prophet's `TwoPhase` through stateright's `Model` trait.
pub struct Packed(pub TwoPhase);

impl Model for Packed {
    type State = two_phase::State;
    type Action = two_phase::Action;

    fn init_states(&self) -> Vec<Self::State> {
        self.0.init_states()
    }

    fn actions(&self, state: &Self::State, actions: &mut Vec<Self::Action>) {
        self.0.actions(state, actions);
    }

    fn next_state(&self, state: &Self::State, action: Self::Action) -> Option<Self::State> {
        self.0.next_state(state, &action).ok().flatten()
    }

    fn properties(&self) -> Vec<Property<Self>> {
        fn states(m: &Packed, s: &two_phase::State) -> impl Iterator<Item = PRm> {
            (0..m.0.rms()).map(move |r| s.rm_state(r))
        }
        vec![
            Property::always("atomicity", |m: &Packed, s: &two_phase::State| {
                !(states(m, s).any(|r| r == PRm::Committed)
                    && states(m, s).any(|r| r == PRm::Aborted))
            }),
            Property::sometimes("all committed", |m: &Packed, s: &two_phase::State| {
                states(m, s).all(|r| r == PRm::Committed)
            }),
            Property::sometimes("all aborted", |m: &Packed, s: &two_phase::State| {
                states(m, s).all(|r| r == PRm::Aborted)
            }),
        ]
    }
}

/// The TwoPhase model in stateright's idiom.
pub struct Idiomatic {
    /// Number of resource managers.
    pub rms: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdiomaticState {
    rm_state: Vec<Rm>,
    tm_state: Tm,
    tm_prepared: Vec<bool>,
    msgs: BTreeSet<Message>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Message {
    Prepared(usize),
    Commit,
    Abort,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Rm {
    Working,
    Prepared,
    Committed,
    Aborted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Tm {
    Init,
    Committed,
    Aborted,
}

#[derive(Clone, Debug, PartialEq)]
pub enum IdiomaticAction {
    TmRcvPrepared(usize),
    TmCommit,
    TmAbort,
    RmPrepare(usize),
    RmChooseToAbort(usize),
    RmRcvCommitMsg(usize),
    RmRcvAbortMsg(usize),
}

impl Model for Idiomatic {
    type State = IdiomaticState;
    type Action = IdiomaticAction;

    fn init_states(&self) -> Vec<Self::State> {
        vec![IdiomaticState {
            rm_state: vec![Rm::Working; self.rms],
            tm_state: Tm::Init,
            tm_prepared: vec![false; self.rms],
            msgs: BTreeSet::new(),
        }]
    }

    fn actions(&self, s: &Self::State, actions: &mut Vec<Self::Action>) {
        use IdiomaticAction as A;
        if s.tm_state == Tm::Init {
            if s.tm_prepared.iter().all(|p| *p) {
                actions.push(A::TmCommit);
            }
            actions.push(A::TmAbort);
        }
        for rm in 0..self.rms {
            if s.tm_state == Tm::Init && s.msgs.contains(&Message::Prepared(rm)) {
                actions.push(A::TmRcvPrepared(rm));
            }
            if s.rm_state[rm] == Rm::Working {
                actions.push(A::RmPrepare(rm));
                actions.push(A::RmChooseToAbort(rm));
            }
            if s.msgs.contains(&Message::Commit) {
                actions.push(A::RmRcvCommitMsg(rm));
            }
            if s.msgs.contains(&Message::Abort) {
                actions.push(A::RmRcvAbortMsg(rm));
            }
        }
    }

    fn next_state(&self, last: &Self::State, action: Self::Action) -> Option<Self::State> {
        use IdiomaticAction as A;
        let mut s = last.clone();
        match action {
            A::TmRcvPrepared(rm) => s.tm_prepared[rm] = true,
            A::TmCommit => {
                s.tm_state = Tm::Committed;
                s.msgs.insert(Message::Commit);
            }
            A::TmAbort => {
                s.tm_state = Tm::Aborted;
                s.msgs.insert(Message::Abort);
            }
            A::RmPrepare(rm) => {
                s.rm_state[rm] = Rm::Prepared;
                s.msgs.insert(Message::Prepared(rm));
            }
            A::RmChooseToAbort(rm) | A::RmRcvAbortMsg(rm) => s.rm_state[rm] = Rm::Aborted,
            A::RmRcvCommitMsg(rm) => s.rm_state[rm] = Rm::Committed,
        }
        Some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("atomicity", |_, s: &IdiomaticState| {
                !(s.rm_state.contains(&Rm::Committed) && s.rm_state.contains(&Rm::Aborted))
            }),
            Property::sometimes("all committed", |_, s: &IdiomaticState| {
                s.rm_state.iter().all(|r| *r == Rm::Committed)
            }),
            Property::sometimes("all aborted", |_, s: &IdiomaticState| {
                s.rm_state.iter().all(|r| *r == Rm::Aborted)
            }),
        ]
    }
}
