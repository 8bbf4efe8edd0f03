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
}

impl Expectation {
    /// The lowercase name used in reports and JSON (`always`, `sometimes`, `eventually`).
    pub fn as_str(self) -> &'static str {
        match self {
            Expectation::Always => "always",
            Expectation::Sometimes => "sometimes",
            Expectation::Eventually => "eventually",
        }
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
}

impl<M: Model + ?Sized> Clone for Property<M> {
    fn clone(&self) -> Self {
        Property {
            name: self.name.clone(),
            expectation: self.expectation,
            condition: Arc::clone(&self.condition),
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

    /// Evaluates the predicate on one state.
    pub fn holds(&self, model: &M, state: &M::State) -> bool {
        (self.condition)(model, state)
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
}
