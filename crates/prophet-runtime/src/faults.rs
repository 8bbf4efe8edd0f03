//! Fault injection on links, changeable while the cluster runs.
//!
//! The kernels these clusters run on may have no `netem`, so wide-area links
//! and partitions are emulated here, at the edge of every local node: an
//! outgoing message may be delayed (per link, order kept), lost (seeded
//! coin), or cut by a partition; an incoming message on a partitioned link is
//! dropped too, so a partition configured in one process isolates its nodes
//! in both directions. Rules come from the cluster file and from
//! `POST /faults` on the metrics endpoint.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A rule: what happens on the link `from → to`. A missing end matches every node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Sending node (`None`: any).
    #[serde(default)]
    pub from: Option<u32>,
    /// Receiving node (`None`: any).
    #[serde(default)]
    pub to: Option<u32>,
    /// Extra one-way delay in milliseconds.
    #[serde(default)]
    pub delay_ms: u64,
    /// Probability in `[0, 1]` that a message is lost.
    #[serde(default)]
    pub loss: f64,
    /// Whether the link is cut.
    #[serde(default)]
    pub partitioned: bool,
}

impl FaultRule {
    fn matches(&self, from: u32, to: u32) -> bool {
        self.from.is_none_or(|f| f == from) && self.to.is_none_or(|t| t == to)
    }

    /// Checks the values; the error names the field.
    pub fn validate(&self, nodes: usize) -> Result<(), (&'static str, String)> {
        if !(0.0..=1.0).contains(&self.loss) {
            return Err((
                "loss",
                format!("{} is not a probability in [0, 1]", self.loss),
            ));
        }
        for (field, id) in [("from", self.from), ("to", self.to)] {
            if let Some(id) = id
                && id as usize >= nodes
            {
                return Err((
                    field,
                    format!("node {id} does not exist (the cluster has {nodes})"),
                ));
            }
        }
        Ok(())
    }
}

/// What to do with one outgoing message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send it after `delay`.
    Send {
        /// Extra delay.
        delay: Duration,
    },
    /// Drop it: the link is cut.
    Partitioned,
    /// Drop it: the loss coin said so.
    Lost,
}

/// The combined effect of the rules on one link: (delay ms, loss, cut).
type LinkEffect = (u64, f64, bool);

/// The live fault rules of one process.
#[derive(Debug)]
pub struct FaultTable {
    active: AtomicBool,
    rules: RwLock<Vec<FaultRule>>,
    cache: RwLock<HashMap<(u32, u32), LinkEffect>>,
    rng: Mutex<ChaCha8Rng>,
}

impl FaultTable {
    /// A table with `rules`; loss coins come from `seed`.
    pub fn new(rules: Vec<FaultRule>, seed: u64) -> FaultTable {
        let table = FaultTable {
            active: AtomicBool::new(false),
            rules: RwLock::new(Vec::new()),
            cache: RwLock::new(HashMap::new()),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
        };
        table.replace(rules);
        table
    }

    /// Replaces every rule.
    pub fn replace(&self, rules: Vec<FaultRule>) {
        let active = !rules.is_empty();
        *self.rules.write().unwrap_or_else(|p| p.into_inner()) = rules;
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.active.store(active, Ordering::Release);
    }

    /// The current rules.
    pub fn rules(&self) -> Vec<FaultRule> {
        self.rules.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The combined effect on `from → to`: delays add, losses compose, any
    /// partition cuts.
    fn link(&self, from: u32, to: u32) -> (u64, f64, bool) {
        if let Some(hit) = self
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(from, to))
        {
            return *hit;
        }
        let mut combined = (0u64, 0.0f64, false);
        for rule in self.rules.read().unwrap_or_else(|p| p.into_inner()).iter() {
            if rule.matches(from, to) {
                combined.0 = combined.0.saturating_add(rule.delay_ms);
                combined.1 = 1.0 - (1.0 - combined.1) * (1.0 - rule.loss);
                combined.2 |= rule.partitioned;
            }
        }
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert((from, to), combined);
        combined
    }

    /// What happens to a message sent on `from → to`.
    #[inline]
    pub fn outbound(&self, from: u32, to: u32) -> Verdict {
        if !self.active.load(Ordering::Acquire) {
            return Verdict::Send {
                delay: Duration::ZERO,
            };
        }
        self.outbound_with_rules(from, to)
    }

    #[cold]
    fn outbound_with_rules(&self, from: u32, to: u32) -> Verdict {
        let (delay_ms, loss, partitioned) = self.link(from, to);
        if partitioned {
            return Verdict::Partitioned;
        }
        if loss > 0.0
            && self
                .rng
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .random_bool(loss.min(1.0))
        {
            return Verdict::Lost;
        }
        Verdict::Send {
            delay: Duration::from_millis(delay_ms),
        }
    }

    /// Whether a message arriving on `from → to` must be dropped (partition).
    pub fn inbound_cut(&self, from: u32, to: u32) -> bool {
        self.active.load(Ordering::Acquire) && self.link(from, to).2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_combine_and_wildcards_match() {
        let table = FaultTable::new(
            vec![
                FaultRule {
                    from: Some(0),
                    to: None,
                    delay_ms: 5,
                    ..Default::default()
                },
                FaultRule {
                    from: Some(0),
                    to: Some(1),
                    delay_ms: 7,
                    ..Default::default()
                },
                FaultRule {
                    from: Some(2),
                    to: Some(0),
                    partitioned: true,
                    ..Default::default()
                },
            ],
            1,
        );
        assert_eq!(
            table.outbound(0, 1),
            Verdict::Send {
                delay: Duration::from_millis(12)
            }
        );
        assert_eq!(
            table.outbound(0, 2),
            Verdict::Send {
                delay: Duration::from_millis(5)
            }
        );
        assert_eq!(
            table.outbound(1, 0),
            Verdict::Send {
                delay: Duration::ZERO
            }
        );
        assert_eq!(table.outbound(2, 0), Verdict::Partitioned);
        assert!(table.inbound_cut(2, 0));
        assert!(!table.inbound_cut(0, 2));
        table.replace(Vec::new());
        assert_eq!(
            table.outbound(2, 0),
            Verdict::Send {
                delay: Duration::ZERO
            }
        );
    }

    #[test]
    fn loss_is_seeded_and_near_its_rate() {
        let rule = FaultRule {
            loss: 0.25,
            ..Default::default()
        };
        let count = |seed| {
            let table = FaultTable::new(vec![rule.clone()], seed);
            (0..4000)
                .filter(|_| table.outbound(0, 1) == Verdict::Lost)
                .count()
        };
        assert_eq!(count(9), count(9), "same seed, same losses");
        let lost = count(9);
        assert!((800..1200).contains(&lost), "lost {lost} of 4000 at p=0.25");
        assert_eq!(rule.validate(2), Ok(()));
        assert_eq!(
            FaultRule {
                loss: 1.5,
                ..Default::default()
            }
            .validate(2)
            .map_err(|e| e.0),
            Err("loss")
        );
        assert_eq!(
            FaultRule {
                to: Some(2),
                ..Default::default()
            }
            .validate(2)
            .map_err(|e| e.0),
            Err("to")
        );
    }
}
