//! Two-phase commit as a plain model, following Lamport's `TwoPhase.tla`.
//!
//! The state is exactly the specification's four variables — `rmState`,
//! `tmState`, `tmPrepared`, `msgs` — packed into bit sets so that a state is
//! a few machine words. Actions are the specification's seven, and TLC's
//! published state counts are matched: 288 distinct states for 3 resource
//! managers, 8,832 for 5.
//!
//! ```
//! use prophet::prelude::*;
//! use prophet_systems::two_phase::TwoPhase;
//!
//! let report = Explorer::new(&TwoPhase::new(3)).run();
//! assert_eq!(report.unique_states, 288);
//! assert!(report.violations.is_empty());
//! ```

use std::fmt;

use prophet::model::{Model, Property, StepError};

/// Most resource managers a [`TwoPhase`] supports (2 bits each in a `u64`).
pub const MAX_RMS: usize = 32;

/// A resource manager's state (`rmState[rm]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RmState {
    /// `"working"`.
    Working = 0,
    /// `"prepared"`.
    Prepared = 1,
    /// `"committed"`.
    Committed = 2,
    /// `"aborted"`.
    Aborted = 3,
}

impl RmState {
    fn from_bits(bits: u64) -> RmState {
        match bits & 3 {
            0 => RmState::Working,
            1 => RmState::Prepared,
            2 => RmState::Committed,
            _ => RmState::Aborted,
        }
    }
}

/// The transaction manager's state (`tmState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TmState {
    /// `"init"`.
    Init,
    /// `"done"` after sending Commit.
    Committed,
    /// `"done"` after sending Abort.
    Aborted,
}

/// One state of the specification.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct State {
    /// `rmState`: 2 bits per resource manager.
    rm_state: u64,
    /// `tmState`; with `Committed`/`Aborted` it also records which of the
    /// `[type |-> "Commit"]` / `[type |-> "Abort"]` messages is in `msgs`
    /// (the TM sends exactly one, when it leaves `"init"`).
    tm_state: TmState,
    /// `tmPrepared`: one bit per resource manager.
    tm_prepared: u32,
    /// The `[type |-> "Prepared", rm |-> r]` messages in `msgs`.
    msgs_prepared: u32,
}

impl State {
    /// `rmState[rm]`.
    pub fn rm_state(&self, rm: usize) -> RmState {
        RmState::from_bits(self.rm_state >> (2 * rm))
    }

    fn set_rm_state(&mut self, rm: usize, to: RmState) {
        self.rm_state = (self.rm_state & !(3 << (2 * rm))) | ((to as u64) << (2 * rm));
    }

    /// `tmState`.
    pub fn tm_state(&self) -> TmState {
        self.tm_state
    }

    /// `rm \in tmPrepared`.
    pub fn tm_prepared(&self, rm: usize) -> bool {
        self.tm_prepared & (1 << rm) != 0
    }

    /// `[type |-> "Prepared", rm |-> rm] \in msgs`.
    pub fn prepared_sent(&self, rm: usize) -> bool {
        self.msgs_prepared & (1 << rm) != 0
    }

    /// `[type |-> "Commit"] \in msgs`.
    pub fn commit_sent(&self) -> bool {
        self.tm_state == TmState::Committed
    }

    /// `[type |-> "Abort"] \in msgs`.
    pub fn abort_sent(&self) -> bool {
        self.tm_state == TmState::Aborted
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Bits above the model's RM count are always zero; print up to the
        // highest one in use (at least one RM).
        let used = (64 - self.rm_state.leading_zeros() as usize).div_ceil(2);
        let rms = used
            .max(32 - self.tm_prepared.leading_zeros() as usize)
            .max(32 - self.msgs_prepared.leading_zeros() as usize)
            .max(1);
        let rm: Vec<RmState> = (0..rms).map(|r| self.rm_state(r)).collect();
        let prepared: Vec<usize> = (0..rms).filter(|&r| self.tm_prepared(r)).collect();
        let mut msgs: Vec<String> = (0..rms)
            .filter(|&r| self.prepared_sent(r))
            .map(|r| format!("Prepared(rm{r})"))
            .collect();
        if self.commit_sent() {
            msgs.push("Commit".into());
        }
        if self.abort_sent() {
            msgs.push("Abort".into());
        }
        let tm = match self.tm_state {
            TmState::Init => "init",
            _ => "done",
        };
        write!(
            f,
            "rmState={rm:?} tmState={tm} tmPrepared={prepared:?} msgs={{{}}}",
            msgs.join(", ")
        )
    }
}

/// The specification's actions, with their resource manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `TMRcvPrepared(rm)`.
    TmRcvPrepared(u8),
    /// `TMCommit`.
    TmCommit,
    /// `TMAbort`.
    TmAbort,
    /// `RMPrepare(rm)`.
    RmPrepare(u8),
    /// `RMChooseToAbort(rm)`.
    RmChooseToAbort(u8),
    /// `RMRcvCommitMsg(rm)`.
    RmRcvCommitMsg(u8),
    /// `RMRcvAbortMsg(rm)`.
    RmRcvAbortMsg(u8),
}

/// `TwoPhase.tla` with `RM` = `{0, .., rms - 1}`.
#[derive(Clone, Debug)]
pub struct TwoPhase {
    rms: usize,
}

impl TwoPhase {
    /// The specification for `rms` resource managers (1 to [`MAX_RMS`]).
    ///
    /// # Panics
    /// If `rms` is 0 or above [`MAX_RMS`].
    pub fn new(rms: usize) -> TwoPhase {
        assert!(
            (1..=MAX_RMS).contains(&rms),
            "two-phase commit supports 1 to {MAX_RMS} resource managers, not {rms}"
        );
        TwoPhase { rms }
    }

    /// The number of resource managers.
    pub fn rms(&self) -> usize {
        self.rms
    }

    fn for_each_action(&self, state: &State, mut emit: impl FnMut(Action)) {
        if state.tm_state == TmState::Init {
            if state.tm_prepared == self.all_prepared() {
                emit(Action::TmCommit);
            }
            emit(Action::TmAbort);
        }
        for rm in 0..self.rms {
            let r = rm as u8;
            if state.tm_state == TmState::Init && state.prepared_sent(rm) {
                emit(Action::TmRcvPrepared(r));
            }
            if state.rm_state(rm) == RmState::Working {
                emit(Action::RmPrepare(r));
                emit(Action::RmChooseToAbort(r));
            }
            if state.commit_sent() {
                emit(Action::RmRcvCommitMsg(r));
            }
            if state.abort_sent() {
                emit(Action::RmRcvAbortMsg(r));
            }
        }
    }

    fn apply(&self, state: &State, action: Action) -> State {
        let mut next = *state;
        match action {
            Action::TmRcvPrepared(rm) => next.tm_prepared |= 1 << rm,
            Action::TmCommit => next.tm_state = TmState::Committed,
            Action::TmAbort => next.tm_state = TmState::Aborted,
            Action::RmPrepare(rm) => {
                next.set_rm_state(rm.into(), RmState::Prepared);
                next.msgs_prepared |= 1 << rm;
            }
            Action::RmChooseToAbort(rm) => next.set_rm_state(rm.into(), RmState::Aborted),
            Action::RmRcvCommitMsg(rm) => next.set_rm_state(rm.into(), RmState::Committed),
            Action::RmRcvAbortMsg(rm) => next.set_rm_state(rm.into(), RmState::Aborted),
        }
        next
    }

    fn all_in(&self, state: &State, rm: RmState) -> bool {
        (0..self.rms).all(|r| state.rm_state(r) == rm)
    }

    fn any_in(&self, state: &State, rm: RmState) -> bool {
        (0..self.rms).any(|r| state.rm_state(r) == rm)
    }

    fn all_prepared(&self) -> u32 {
        if self.rms == 32 {
            u32::MAX
        } else {
            (1u32 << self.rms) - 1
        }
    }
}

impl Model for TwoPhase {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![State {
            rm_state: 0,
            tm_state: TmState::Init,
            tm_prepared: 0,
            msgs_prepared: 0,
        }]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        self.for_each_action(state, |a| actions.push(a));
    }

    /// Enumerates actions and applies them in one pass, without an action
    /// buffer: the explorer's hot loop.
    fn successors(
        &self,
        state: &State,
        out: &mut Vec<(Action, State)>,
    ) -> Result<(), (Action, StepError)> {
        self.for_each_action(state, |a| out.push((a, self.apply(state, a))));
        Ok(())
    }

    fn next_state(&self, state: &State, action: &Action) -> Result<Option<State>, StepError> {
        Ok(Some(self.apply(state, *action)))
    }

    /// 17 bytes: the three bit sets and the TM's state.
    fn encode_state(&self, state: &State, out: &mut Vec<u8>) -> bool {
        out.extend_from_slice(&state.rm_state.to_le_bytes());
        out.extend_from_slice(&state.tm_prepared.to_le_bytes());
        out.extend_from_slice(&state.msgs_prepared.to_le_bytes());
        out.push(state.tm_state as u8);
        true
    }

    fn decode_state(&self, bytes: &[u8]) -> Option<State> {
        let [rm @ .., a, b, c, d, e, f, g, h, tm] = bytes else {
            return None;
        };
        let rm_state = u64::from_le_bytes(rm.try_into().ok()?);
        let tm_prepared = u32::from_le_bytes([*a, *b, *c, *d]);
        let msgs_prepared = u32::from_le_bytes([*e, *f, *g, *h]);
        let tm_state = match tm {
            0 => TmState::Init,
            1 => TmState::Committed,
            2 => TmState::Aborted,
            _ => return None,
        };
        // Bits of resource managers the model does not have must be clear.
        let rm_mask = (0..self.rms).fold(0u64, |mask, r| mask | (3 << (2 * r)));
        let fits = rm_state & !rm_mask == 0
            && tm_prepared & !self.all_prepared() == 0
            && msgs_prepared & !self.all_prepared() == 0;
        fits.then_some(State {
            rm_state,
            tm_state,
            tm_prepared,
            msgs_prepared,
        })
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            // TPConsistent: no RM committed while another aborted.
            Property::always("atomicity", |m: &TwoPhase, s: &State| {
                !(m.any_in(s, RmState::Committed) && m.any_in(s, RmState::Aborted))
            }),
            Property::sometimes("all committed", |m: &TwoPhase, s: &State| {
                m.all_in(s, RmState::Committed)
            }),
            Property::sometimes("all aborted", |m: &TwoPhase, s: &State| {
                m.all_in(s, RmState::Aborted)
            }),
        ]
    }

    /// Resource managers are interchangeable: sort them by their
    /// `(rmState, in tmPrepared, Prepared sent)` triple.
    fn representative(&self, state: &State) -> Option<State> {
        let mut keys: Vec<(RmState, bool, bool)> = (0..self.rms)
            .map(|r| {
                (
                    state.rm_state(r),
                    state.tm_prepared(r),
                    state.prepared_sent(r),
                )
            })
            .collect();
        keys.sort_unstable();
        let mut canonical = State {
            rm_state: 0,
            tm_state: state.tm_state,
            tm_prepared: 0,
            msgs_prepared: 0,
        };
        for (r, (rm, prepared, sent)) in keys.into_iter().enumerate() {
            canonical.set_rm_state(r, rm);
            canonical.tm_prepared |= u32::from(prepared) << r;
            canonical.msgs_prepared |= u32::from(sent) << r;
        }
        Some(canonical)
    }

    fn describe_step(&self, from: &State, action: &Action, to: &State) -> String {
        let change = |r: u8| {
            format!(
                "rm{r}: {:?} → {:?}",
                from.rm_state(r.into()),
                to.rm_state(r.into())
            )
        };
        match *action {
            Action::TmRcvPrepared(r) => format!("TM receives Prepared from rm{r}"),
            Action::TmCommit => "TM commits and sends Commit".into(),
            Action::TmAbort => "TM aborts and sends Abort".into(),
            Action::RmPrepare(r) => format!("rm{r} prepares and sends Prepared ({})", change(r)),
            Action::RmChooseToAbort(r) => format!("rm{r} chooses to abort ({})", change(r)),
            Action::RmRcvCommitMsg(r) => format!("rm{r} receives Commit ({})", change(r)),
            Action::RmRcvAbortMsg(r) => format!("rm{r} receives Abort ({})", change(r)),
        }
    }
}

/// Two-phase commit (a plain model) in the registry.
pub struct TwoPhaseProtocol;

impl prophet::registry::ModelProtocol for TwoPhaseProtocol {
    type Model = TwoPhase;

    fn describe(&self) -> prophet::registry::Description {
        use prophet::registry::{Description, ParamSpec};
        Description::new(
            "two-phase-commit",
            "Lamport's TwoPhase.tla as a plain model (TLC: 288 states for 3 RMs, 8,832 for 5)",
        )
        .param(ParamSpec::int(
            "rms",
            "number of resource managers",
            1,
            MAX_RMS as u64,
            "3",
        ))
        .workload("none: a plain model is checked, not simulated or run")
    }

    fn build(&self, params: &prophet::registry::Params) -> TwoPhase {
        TwoPhase::new(params.int("rms"))
    }
}
