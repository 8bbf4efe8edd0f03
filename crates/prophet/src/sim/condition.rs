//! Conditions that hold for a while: slowdowns (steady, periodic, ramped,
//! or after each restart of a node; of every message or of some kinds) and
//! partitions (between sides or between two groups, full or lossy). They
//! say when and how strongly they hold; the resolved network combines them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::NodeId;

/// What a slowdown applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// Every message arriving at the node, and the node's handlers.
    Node(NodeId),
    /// Both directions of the link between two nodes.
    Link(NodeId, NodeId),
}

/// How a slowdown's strength varies inside its window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Shape {
    /// Full strength for the whole window.
    #[default]
    Steady,
    /// On for the first `duty` of every `period` counted from the window's
    /// start, off for the rest (an alternating replica).
    Periodic {
        /// Length of one on-and-off cycle (> 0).
        period: Duration,
        /// Fraction of the period that is on, in (0, 1).
        duty: f64,
    },
    /// Full strength at the window's start, fading linearly to none at its
    /// end (a cold cache warming up).
    Ramp,
}

/// A condition that holds from `from` until `until`: a node or link slows down.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slowdown {
    /// Start (inclusive).
    pub from: Duration,
    /// End (exclusive).
    pub until: Duration,
    /// Node or link.
    pub target: Target,
    /// Added to every affected message's delay (a stuck replica that answers
    /// after 2 s: `Node(r)` with 2 s here).
    pub extra_latency: Duration,
    /// Multiplies sampled link latency (1 = unchanged).
    pub latency_factor: f64,
    /// Multiplies the node's handler service time (1 = unchanged).
    pub service_factor: f64,
    /// How the strength varies inside the window.
    #[serde(default)]
    pub shape: Shape,
    /// When set, the window is instead this long from each restart of the
    /// target node (still only between `from` and `until`).
    #[serde(default)]
    pub after_restart: Option<Duration>,
    /// Message kinds affected (the variant name `Debug` prints, e.g.
    /// `Read`); empty: all messages. A handler of a kind not listed, or of a
    /// timer, runs at normal speed.
    #[serde(default)]
    pub kinds: Vec<String>,
}

impl Slowdown {
    /// A steady slowdown of `target` from `from` until `until` that changes
    /// nothing yet (set the effects on the result).
    pub fn window(from: Duration, until: Duration, target: Target) -> Self {
        Slowdown {
            from,
            until,
            target,
            extra_latency: Duration::ZERO,
            latency_factor: 1.0,
            service_factor: 1.0,
            shape: Shape::Steady,
            after_restart: None,
            kinds: Vec::new(),
        }
    }

    /// Checks the shape's parameters.
    pub fn validate(&self) -> Result<(), String> {
        if let Shape::Periodic { period, duty } = self.shape {
            if period.is_zero() {
                return Err("period must be > 0".into());
            }
            if !(duty > 0.0 && duty < 1.0) {
                return Err(format!("duty = {duty} must be in (0, 1)"));
            }
        }
        if self.after_restart.is_some() && !matches!(self.target, Target::Node(_)) {
            return Err("after_restart needs a node target (the node that restarts)".into());
        }
        for (name, f) in [
            ("latency_factor", self.latency_factor),
            ("service_factor", self.service_factor),
        ] {
            if !(f.is_finite() && f > 0.0) {
                return Err(format!("{name} = {f} must be > 0"));
            }
        }
        Ok(())
    }

    /// Whether a message or handler of `kind` (`None`: a timer or start) is affected.
    pub(crate) fn applies_to(&self, kind: Option<&str>) -> bool {
        self.kinds.is_empty() || kind.is_some_and(|k| self.kinds.iter().any(|x| x == k))
    }

    /// The strength at `t` (1 = full, 0 exclusive = none) and the end of the
    /// stretch it holds in, or `None` when inactive; `restarted` is the
    /// target's last restart.
    pub fn strength(&self, t: Duration, restarted: Option<Duration>) -> Option<(f64, Duration)> {
        if t < self.from || t >= self.until {
            return None;
        }
        let (start, end) = match self.after_restart {
            None => (self.from, self.until),
            Some(lasts) => {
                let r = restarted?;
                if t < r || t >= r + lasts {
                    return None;
                }
                (r, (r + lasts).min(self.until))
            }
        };
        match self.shape {
            Shape::Steady => Some((1.0, end)),
            Shape::Periodic { period, duty } => {
                let into = Duration::from_nanos(
                    ((t - start).as_nanos() % period.as_nanos().max(1)) as u64,
                );
                let on = period.mul_f64(duty);
                (into < on).then(|| (1.0, (t - into + on).min(end)))
            }
            Shape::Ramp => {
                let span = (end - start).as_secs_f64();
                let w = 1.0 - (t - start).as_secs_f64() / span.max(1e-12);
                (w > 0.0).then_some((w, end))
            }
        }
    }
}

/// A factor `f` at strength `w`: `f` at full strength, 1 at none.
pub(crate) fn scaled(f: f64, w: f64) -> f64 {
    1.0 + (f - 1.0) * w
}

/// Nodes split into sides that cannot talk to each other, from `from` until
/// `until` (healed then; `None`: never heals). Nodes in no listed side form
/// one more side together, unless `listed_only`: then only links between
/// two listed sides are cut (two groups cut off from each other while both
/// still reach everyone else).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Partition {
    /// Start (inclusive).
    pub from: Duration,
    /// Heal time (exclusive).
    pub until: Option<Duration>,
    /// The sides.
    pub sides: Vec<Vec<NodeId>>,
    /// Only links between two listed sides are cut.
    #[serde(default)]
    pub listed_only: bool,
    /// Probability a message across the cut is lost (1: a full cut, and
    /// messages in flight across it when it starts are lost too).
    #[serde(default = "certain")]
    pub loss: f64,
}

fn certain() -> f64 {
    1.0
}

impl Partition {
    /// A full cut between `sides` (and the nodes in none) from `from`.
    pub fn new(from: Duration, until: Option<Duration>, sides: Vec<Vec<NodeId>>) -> Self {
        Partition {
            from,
            until,
            sides,
            listed_only: false,
            loss: 1.0,
        }
    }

    fn side(&self, node: NodeId) -> Option<usize> {
        match self.sides.iter().position(|side| side.contains(&node)) {
            Some(i) => Some(i),
            None if self.listed_only => None,
            None => Some(self.sides.len()),
        }
    }

    /// Whether the partition stands between `a` and `b` at time `t`
    /// (fully or lossily).
    pub fn separates(&self, a: NodeId, b: NodeId, t: Duration) -> bool {
        t >= self.from
            && self.until.is_none_or(|u| t < u)
            && match (self.side(a), self.side(b)) {
                (Some(x), Some(y)) => x != y,
                _ => false,
            }
    }

    /// Whether the partition fully cuts `a` from `b` at time `t`.
    pub fn blocks(&self, a: NodeId, b: NodeId, t: Duration) -> bool {
        self.loss >= 1.0 && self.separates(a, b, t)
    }
}

pub use crate::model::message_kind;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_hold_in_their_windows() {
        let s = |shape| Slowdown {
            shape,
            ..Slowdown::window(
                Duration::from_secs(2),
                Duration::from_secs(10),
                Target::Node(NodeId(0)),
            )
        };
        let at = |ms| Duration::from_millis(ms);
        let periodic = s(Shape::Periodic {
            period: Duration::from_secs(4),
            duty: 0.5,
        });
        assert_eq!(periodic.strength(at(1_999), None), None);
        assert_eq!(periodic.strength(at(2_000), None), Some((1.0, at(4_000))));
        assert_eq!(periodic.strength(at(3_999), None), Some((1.0, at(4_000))));
        assert_eq!(periodic.strength(at(4_000), None), None);
        assert_eq!(periodic.strength(at(6_500), None), Some((1.0, at(8_000))));
        // The last on-stretch ends with the window.
        assert_eq!(periodic.strength(at(9_000), None), None);
        assert_eq!(periodic.strength(at(10_000), None), None);
        let ramp = s(Shape::Ramp);
        assert_eq!(ramp.strength(at(2_000), None), Some((1.0, at(10_000))));
        assert_eq!(ramp.strength(at(6_000), None), Some((0.5, at(10_000))));
        let after = Slowdown {
            after_restart: Some(at(1_000)),
            ..s(Shape::Steady)
        };
        assert_eq!(after.strength(at(5_000), None), None);
        assert_eq!(
            after.strength(at(5_500), Some(at(5_000))),
            Some((1.0, at(6_000)))
        );
        assert_eq!(after.strength(at(6_000), Some(at(5_000))), None);
        let bad = s(Shape::Periodic {
            period: Duration::ZERO,
            duty: 0.5,
        });
        assert!(bad.validate().unwrap_err().contains("period"));
    }

    #[test]
    fn partitions_block_across_sides_until_healed() {
        let p = Partition::new(
            Duration::from_secs(1),
            Some(Duration::from_secs(2)),
            vec![vec![NodeId(0)]],
        );
        let t = Duration::from_millis(1500);
        assert!(p.blocks(NodeId(0), NodeId(1), t));
        assert!(!p.blocks(NodeId(1), NodeId(2), t));
        assert!(!p.blocks(NodeId(0), NodeId(1), Duration::from_secs(2)));
        assert!(!p.blocks(NodeId(0), NodeId(1), Duration::from_millis(999)));
    }
}
