//! Fairness: which executions the liveness checks consider possible.
//!
//! Without fairness an execution may ignore an enabled action forever (a
//! message never delivered while the others keep moving), and most liveness
//! properties of distributed protocols fail on such an execution. A model
//! declares fairness per *action class*; every action carries a label (its
//! class, and the instance within the class: which message, whose timer),
//! and fairness applies to each instance separately, as TLA+'s
//! `\A i : WF_vars(A(i))` does.
//!
//! - **Weak** (TLA+'s `WF`): an instance that stays enabled from some point
//!   on is eventually taken.
//! - **Strong** (TLA+'s `SF`): an instance enabled infinitely often (perhaps
//!   not continuously) is taken infinitely often.
//!
//! A step that leaves the state unchanged does not count as taking an
//! action, and an action whose only steps leave the state unchanged is not
//! enabled (TLA+'s `ENABLED <<A>>_vars`). Prophet also never lets an
//! execution stop while some step is enabled, as if every specification
//! carried `WF_vars(Next)`: see the guide's chapter on checking.

use std::fmt;

/// How strongly an action class is assumed to make progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FairnessKind {
    /// Continuously enabled implies eventually taken (TLA+'s `WF`).
    Weak,
    /// Infinitely often enabled implies infinitely often taken (TLA+'s `SF`).
    Strong,
}

/// Fairness declared for one action class.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fairness {
    /// The class, as [`ActionLabel::class`] names it (`deliver`, `timer`, or
    /// a plain model's own class names).
    pub class: String,
    /// Weak or strong.
    pub kind: FairnessKind,
}

impl Fairness {
    /// Weak fairness for every instance of `class`.
    pub fn weak(class: impl Into<String>) -> Self {
        Fairness {
            class: class.into(),
            kind: FairnessKind::Weak,
        }
    }

    /// Strong fairness for every instance of `class`.
    pub fn strong(class: impl Into<String>) -> Self {
        Fairness {
            class: class.into(),
            kind: FairnessKind::Strong,
        }
    }

    /// Parses `weak:CLASS` or `strong:CLASS` (the CLI's `--fair`).
    ///
    /// ```
    /// # use prophet::model::{Fairness, FairnessKind};
    /// assert_eq!(Fairness::parse("weak:deliver"), Ok(Fairness::weak("deliver")));
    /// assert!(Fairness::parse("fair:deliver").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, String> {
        let (kind, class) = text
            .split_once(':')
            .ok_or_else(|| format!("fairness `{text}` should look like `weak:deliver`"))?;
        if class.is_empty() {
            return Err(format!("fairness `{text}` names no action class"));
        }
        match kind {
            "weak" => Ok(Fairness::weak(class)),
            "strong" => Ok(Fairness::strong(class)),
            other => Err(format!(
                "fairness kind `{other}` is not `weak` or `strong` (in `{text}`)"
            )),
        }
    }
}

impl fmt::Display for Fairness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            FairnessKind::Weak => "weak",
            FairnessKind::Strong => "strong",
        };
        write!(f, "{kind}:{}", self.class)
    }
}

/// What an action is, for fairness: its class and which instance of the
/// class it is. Two actions with the same label are the same action taken
/// in different states (the delivery of one message, one node's timer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActionLabel {
    /// The class fairness is declared for.
    pub class: &'static str,
    /// The instance within the class (a process index, a hash of the
    /// message): any value that tells instances apart.
    pub instance: u64,
}

impl ActionLabel {
    /// A label of `class` for `instance`.
    pub fn new(class: &'static str, instance: u64) -> Self {
        ActionLabel { class, instance }
    }
}
