//! The core model: the small trait every explorer works on.
//!
//! A [`Model`] is a transition system: initial states, the actions enabled in a
//! state, the state an action leads to, and the properties that must hold.
//! Plain models (in the style of TLA+) implement it directly; node-based
//! systems get it for free through [`crate::model::System`]. This module owns
//! nothing but the trait and the property type; it never executes anything.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use crate::model::fairness::{ActionLabel, Fairness};

/// What a property claims about the executions of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expectation {
    /// Holds in every reachable state (a safety invariant). A reachable state
    /// where it fails is a counterexample.
    Always,
    /// Holds in at least one reachable state (reachability). A witness path is
    /// an *example*; an exhausted space without one is a violation.
    Sometimes,
    /// Holds eventually on every execution. A path that ends (no action
    /// enabled) or loops without it ever holding is a counterexample.
    Eventually,
    /// `P ~> Q` (TLA+'s leads-to, `[](P => <>Q)`): on every execution, every
    /// state where the trigger `P` holds is followed, at that state or later,
    /// by one where the condition `Q` holds.
    LeadsTo,
    /// `[]<>Q`: on every execution the condition holds infinitely often (from
    /// any point on, a state satisfying it is still to come).
    AlwaysEventually,
}

impl Expectation {
    /// The lowercase name used in reports and JSON (`always`, `sometimes`, `eventually`).
    pub fn as_str(self) -> &'static str {
        match self {
            Expectation::Always => "always",
            Expectation::Sometimes => "sometimes",
            Expectation::Eventually => "eventually",
            Expectation::LeadsTo => "leads_to",
            Expectation::AlwaysEventually => "always_eventually",
        }
    }

    /// Whether the property is about infinite executions (decided by the
    /// liveness checks, not by the state search).
    pub fn is_liveness(self) -> bool {
        matches!(
            self,
            Expectation::Eventually | Expectation::LeadsTo | Expectation::AlwaysEventually
        )
    }
}

/// A predicate over the states of model `M`.
type Condition<M> = Arc<dyn Fn(&M, &<M as Model>::State) -> bool + Send + Sync>;

/// A named predicate over the states of model `M` with an [`Expectation`].
pub struct Property<M: Model + ?Sized> {
    /// Stable name, shown in reports and used by tests.
    pub name: String,
    /// What the predicate must do on the model's executions.
    pub expectation: Expectation,
    condition: Condition<M>,
    /// The trigger `P` of a leads-to property (`None` for the others).
    trigger: Option<Condition<M>>,
}

impl<M: Model + ?Sized> Clone for Property<M> {
    fn clone(&self) -> Self {
        Property {
            name: self.name.clone(),
            expectation: self.expectation,
            condition: Arc::clone(&self.condition),
            trigger: self.trigger.clone(),
        }
    }
}

impl<M: Model + ?Sized> Debug for Property<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Property")
            .field("name", &self.name)
            .field("expectation", &self.expectation)
            .finish()
    }
}

impl<M: Model + ?Sized> Property<M> {
    /// A property with an explicit expectation.
    pub fn new(
        name: impl Into<String>,
        expectation: Expectation,
        condition: impl Fn(&M, &M::State) -> bool + Send + Sync + 'static,
    ) -> Self {
        Property {
            name: name.into(),
            expectation,
            condition: Arc::new(condition),
            trigger: None,
        }
    }

    /// A safety invariant: `condition` must hold in every reachable state.
    pub fn always(
        name: impl Into<String>,
        condition: impl Fn(&M, &M::State) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self::new(name, Expectation::Always, condition)
    }

    /// A reachability property: some reachable state satisfies `condition`.
    pub fn sometimes(
        name: impl Into<String>,
        condition: impl Fn(&M, &M::State) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self::new(name, Expectation::Sometimes, condition)
    }

    /// A liveness property: every execution eventually reaches a state satisfying `condition`.
    pub fn eventually(
        name: impl Into<String>,
        condition: impl Fn(&M, &M::State) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self::new(name, Expectation::Eventually, condition)
    }

    /// A leads-to property, TLA+'s `trigger ~> condition`: whenever
    /// `trigger` holds, `condition` holds then or later, on every execution
    /// (under the model's declared [`Fairness`](crate::model::Fairness)).
    ///
    /// ```
    /// # use prophet::model::{Model, Property};
    /// # struct Counter;
    /// # impl Model for Counter {
    /// #     type State = u8; type Action = ();
    /// #     fn init_states(&self) -> Vec<u8> { vec![0] }
    /// #     fn actions(&self, _: &u8, a: &mut Vec<()>) { a.push(()) }
    /// #     fn next_state(&self, s: &u8, _: &()) -> Result<Option<u8>, prophet::model::StepError> { Ok(Some((s + 1) % 4)) }
    /// #     fn properties(&self) -> Vec<Property<Self>> { vec![] }
    /// # }
    /// let p = Property::<Counter>::leads_to("odd ~> zero", |_, s| s % 2 == 1, |_, s| *s == 0);
    /// assert!(p.triggered(&Counter, &1) && !p.triggered(&Counter, &2));
    /// assert!(p.holds(&Counter, &0));
    /// ```
    pub fn leads_to(
        name: impl Into<String>,
        trigger: impl Fn(&M, &M::State) -> bool + Send + Sync + 'static,
        condition: impl Fn(&M, &M::State) -> bool + Send + Sync + 'static,
    ) -> Self {
        let mut property = Self::new(name, Expectation::LeadsTo, condition);
        property.trigger = Some(Arc::new(trigger));
        property
    }

    /// `[]<>condition`: on every execution `condition` holds infinitely
    /// often (under the model's declared fairness).
    pub fn always_eventually(
        name: impl Into<String>,
        condition: impl Fn(&M, &M::State) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self::new(name, Expectation::AlwaysEventually, condition)
    }

    /// Evaluates the predicate on one state.
    pub fn holds(&self, model: &M, state: &M::State) -> bool {
        (self.condition)(model, state)
    }

    /// Whether `state` obliges the condition to hold then or later: the
    /// trigger of a leads-to property, true for `always_eventually` (every
    /// state obliges it), false for the others.
    pub fn triggered(&self, model: &M, state: &M::State) -> bool {
        match (&self.trigger, self.expectation) {
            (Some(trigger), _) => trigger(model, state),
            (None, Expectation::AlwaysEventually) => true,
            (None, _) => false,
        }
    }
}

/// Why a step could not be computed. The explorer reports these as
/// violations with the trace that led to them, never as a crash.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// Protocol code panicked while handling the step.
    #[error("handler panicked: {message}")]
    Panic {
        /// The panic payload, when it was a string.
        message: String,
    },
    /// Executing the same handler twice on the same inputs and choices gave
    /// different results, so no executor can trust it.
    #[error("nondeterministic handler: {detail}")]
    Nondeterministic {
        /// What differed between the two executions.
        detail: String,
    },
}

/// A transition system the explorer can check.
///
/// Implementations must be deterministic: `next_state(s, a)` returns the same
/// state every time, which is what lets the explorer keep only fingerprints
/// and rebuild a counterexample by replaying its actions.
pub trait Model: Sync {
    /// A global state. Hashing it gives the fingerprint the explorer stores.
    type State: Clone + Eq + Hash + Debug + Send + Sync;
    /// A step from one state to another.
    type Action: Clone + Eq + Hash + Debug + Send + Sync;

    /// The states executions start from.
    fn init_states(&self) -> Vec<Self::State>;

    /// Appends the actions enabled in `state` to `actions`.
    fn actions(&self, state: &Self::State, actions: &mut Vec<Self::Action>);

    /// The state `action` leads to from `state`, or `None` when the action
    /// turns out not to change anything worth exploring.
    fn next_state(
        &self,
        state: &Self::State,
        action: &Self::Action,
    ) -> Result<Option<Self::State>, StepError>;

    /// Appends every `(action, next state)` pair of `state` to `out`.
    ///
    /// The default composes [`Model::actions`] and [`Model::next_state`];
    /// models that compute both at once (node systems, which branch on
    /// `choose` while running a handler) override it. On error, `out` holds
    /// the successors computed so far and the error names the failing action.
    fn successors(
        &self,
        state: &Self::State,
        out: &mut Vec<(Self::Action, Self::State)>,
    ) -> Result<(), (Self::Action, StepError)> {
        let mut actions = Vec::new();
        self.actions(state, &mut actions);
        for action in actions {
            match self.next_state(state, &action) {
                Ok(Some(next)) => out.push((action, next)),
                Ok(None) => {}
                Err(error) => return Err((action, error)),
            }
        }
        Ok(())
    }

    /// The properties to check.
    fn properties(&self) -> Vec<Property<Self>>;

    /// States outside the boundary are counted but not expanded (a model's
    /// own bound, e.g. a maximum ballot number).
    fn within_boundary(&self, _state: &Self::State) -> bool {
        true
    }

    /// The canonical representative of `state` under the model's symmetry
    /// (interchangeable nodes), or `None` when the model declares none. The
    /// representative must be a state reachable by renaming `state`, and every
    /// property must be invariant under that renaming.
    fn representative(&self, _state: &Self::State) -> Option<Self::State> {
        None
    }

    /// One line describing a step, for counterexample traces.
    fn describe_step(
        &self,
        _from: &Self::State,
        action: &Self::Action,
        _to: &Self::State,
    ) -> String {
        format!("{action:?}")
    }

    /// A description of a state, for counterexample traces.
    fn describe_state(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }

    /// The step as a message-sequence chart draws it, for models made of
    /// nodes (`None`, the default, for others).
    fn chart_step(
        &self,
        _from: &Self::State,
        _action: &Self::Action,
        _to: &Self::State,
    ) -> Option<crate::model::ChartStep> {
        None
    }

    /// Each node's slot in `state`, one lane of a chart per node, for
    /// models made of nodes (empty, the default, for others).
    fn chart_nodes(&self, _state: &Self::State) -> Vec<String> {
        Vec::new()
    }

    /// The fairness the liveness checks assume, per action class (see
    /// [`Fairness`]). None by default: an execution may then avoid any
    /// action forever, so long as it never stops while a step is enabled.
    fn fairness(&self) -> Vec<Fairness> {
        Vec::new()
    }

    /// Whether an execution may stop for ever in a state where steps are
    /// still enabled, unless the declared fairness forbids it: TLA+'s
    /// semantics, where stuttering is always allowed and only fairness
    /// rules it out. Off by default: a Prophet execution never stops while
    /// a step is enabled, as if every specification said `WF_vars(Next)`.
    /// A TLA+ specification ported with its fairness turns this on to get
    /// TLC's liveness verdicts.
    fn may_stutter(&self) -> bool {
        false
    }

    /// The class and instance of `action` taken in `state`, which is what
    /// [`Model::fairness`] refers to (`None`: the action belongs to no class
    /// and no fairness applies to it). Plain models label their actions
    /// here; node systems label every event themselves (`deliver`, `lose`,
    /// `timer`, `crash`, `restart`).
    fn action_label(&self, _state: &Self::State, _action: &Self::Action) -> Option<ActionLabel> {
        None
    }

    /// Appends `state` as bytes that [`Model::decode_state`] reads back,
    /// and returns `true`; `false` (the default) when the model cannot.
    /// A search under a memory budget
    /// ([`Explorer::spill`](crate::explore::Explorer::spill)) writes its
    /// frontier out this way. Node systems encode every state (their parts
    /// are serde data); plain models opt in.
    fn encode_state(&self, _state: &Self::State, _out: &mut Vec<u8>) -> bool {
        false
    }

    /// The state [`Model::encode_state`] wrote as `bytes`; `None` if they
    /// are not such a state.
    fn decode_state(&self, _bytes: &[u8]) -> Option<Self::State> {
        None
    }
}
