//! How `choose` is resolved on a live node until the live resolver exists:
//! by the policies the simulator uses (`prophet::choice`), chosen per
//! cluster file, learning from outcomes attributed as in the simulator (by
//! the handle the protocol gave, through `prophet::choice::FeedbackTracker`).
//!
//! The seam for the resolver is [`LiveChooser`]: any chooser that can also
//! learn from outcomes; decisions reach [`crate::executor::DecisionLog`] by
//! their stable names either way.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use std::sync::Arc;

use prophet::choice::{
    ChoiceView, Explanation, LineRef, Outcome, OutcomeRecord, PolicySpec, PolicyTable,
};
use prophet::model::{ChoiceRequest, Chooser, NodeId};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::journal::Journal;
use crate::models::Models;

/// A chooser the live executor can also feed outcomes to.
pub trait LiveChooser: Chooser + Send {
    /// The observed cost of an earlier decision.
    fn observe(&mut self, _outcome: &Outcome) {}
    /// Decisions made so far, if the chooser counts them (the executor
    /// checks its own count against it: both number the decision log).
    fn decided(&self) -> Option<u64> {
        None
    }
}

/// The `[choose]` section of a cluster file.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ChoiceConfig {
    /// The policy of every choice not named in `choices` (a simulator
    /// policy name: first, random, round-robin, epsilon-greedy, ucb1,
    /// thompson, p2c, peak-ewma, c3, prophet:fast, `fixed:<i>`; not
    /// `prophet`, whose deliberation runs in the simulator only so far).
    pub policy: String,
    /// Seed of the per-node ChaCha8 generators random policies draw from.
    pub seed: u64,
    /// Policies by choice name.
    pub choices: BTreeMap<String, String>,
    /// Also write every decision and outcome to
    /// `<data_dir>/decisions-<node>-<start ms>.jsonl` (the recent ones are
    /// always served at `/decisions`).
    pub log: bool,
}

impl Default for ChoiceConfig {
    fn default() -> Self {
        ChoiceConfig {
            policy: "first".into(),
            seed: 0,
            choices: BTreeMap::new(),
            log: false,
        }
    }
}

/// A policy name as a live node takes it: every simulator policy but
/// `prophet` with deliberation, which simulates forward from the node's
/// state and runs in the simulator only so far; `prophet:fast` (its fast
/// path on the node's own outcomes) runs live.
pub fn parse_live_policy(text: &str) -> Result<PolicySpec, String> {
    match PolicySpec::parse(text).map_err(|e| e.to_string())? {
        PolicySpec::Prophet { deliberate: true } => Err(
            "policy `prophet` deliberates by simulating forward from the node's state, which \
             only the simulator does so far; live, use `prophet:fast` (the same fast path on \
             the node's own outcomes, without deliberation)"
                .into(),
        ),
        spec => Ok(spec),
    }
}

impl ChoiceConfig {
    /// Checks every policy name; the error is (field, message).
    pub fn validate(&self) -> Result<(), (String, String)> {
        parse_live_policy(&self.policy).map_err(|e| ("choose.policy".to_string(), e))?;
        for (name, policy) in &self.choices {
            parse_live_policy(policy).map_err(|e| (format!("choose.choices.\"{name}\""), e))?;
        }
        Ok(())
    }

    /// The chooser of node `id`, logging its decisions to `journal` and
    /// feeding their outcomes to `models`.
    pub fn build(
        &self,
        id: NodeId,
        journal: Option<Arc<Journal>>,
        models: Option<Arc<Models>>,
    ) -> Box<dyn LiveChooser> {
        let default = parse_live_policy(&self.policy).unwrap_or(PolicySpec::First);
        let specs = self
            .choices
            .iter()
            .filter_map(|(k, v)| parse_live_policy(v).ok().map(|s| (k.clone(), s)))
            .collect();
        Box::new(PolicyChooser {
            table: PolicyTable::new(default, specs),
            rng: ChaCha8Rng::seed_from_u64(self.seed ^ (u64::from(id.0) << 32 | 0x5eed)),
            started: Instant::now(),
            journal,
            models,
            explanation: Explanation::default(),
            decided: 0,
        })
    }
}

/// Simulator policies on real time.
pub struct PolicyChooser {
    table: PolicyTable,
    rng: ChaCha8Rng,
    started: Instant,
    /// Where decisions and outcomes are logged, explained as in the simulator.
    journal: Option<Arc<Journal>>,
    /// The node's online performance model.
    models: Option<Arc<Models>>,
    explanation: Explanation,
    /// Decisions made: the next one's number (the executor numbers the
    /// outcomes' decisions the same way, one per `choose`).
    decided: u64,
}

impl PolicyChooser {
    /// Time since the chooser was built: the policies' clock.
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Chooser for PolicyChooser {
    fn choose(&mut self, request: &ChoiceRequest<'_>) -> usize {
        let view = ChoiceView::of(request, self.started.elapsed());
        let id = self.decided;
        self.decided += 1;
        let Some(journal) = &self.journal else {
            return self
                .table
                .choose(&view, &mut self.rng)
                .min(request.candidates() - 1);
        };
        let record =
            self.table
                .choose_recorded(&view, &mut self.rng, &mut self.explanation, id, None);
        let pick = record.pick;
        journal.push(view.node.0, LineRef::Decision(&record));
        pick
    }
}

impl LiveChooser for PolicyChooser {
    fn observe(&mut self, outcome: &Outcome) {
        self.table.observe(outcome);
        if let Some(models) = &self.models {
            models.observe_outcome(outcome);
        }
        if let Some(journal) = &self.journal {
            let record = OutcomeRecord::of(outcome, None);
            journal.push(outcome.node.0, LineRef::Outcome(&record));
        }
    }

    fn decided(&self) -> Option<u64> {
        Some(self.decided)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_validated_by_name_and_random_is_seeded() {
        let mut config = ChoiceConfig::default();
        assert!(config.validate().is_ok());
        config.policy = "random".into();
        let picks = |config: &ChoiceConfig| {
            let mut c = config.build(NodeId(1), None, None);
            let keys = [1, 2, 3, 4, 5];
            let request = ChoiceRequest {
                node: NodeId(1),
                name: "x",
                keys: &keys,
                context: None,
            };
            (0..50).map(|_| c.choose(&request)).collect::<Vec<_>>()
        };
        assert_eq!(picks(&config), picks(&config), "same seed, same choices");
        assert!(picks(&config).iter().any(|&i| i != 0));
        config
            .choices
            .insert("kv.read_replica".into(), "nope".into());
        assert_eq!(
            config.validate().map_err(|e| e.0),
            Err("choose.choices.\"kv.read_replica\"".to_string())
        );
    }

    #[test]
    fn prophet_with_deliberation_is_refused_live_and_its_fast_path_runs() {
        let mut config = ChoiceConfig {
            policy: "prophet".into(),
            ..ChoiceConfig::default()
        };
        let (field, message) = config.validate().expect_err("refused live");
        assert_eq!(field, "choose.policy");
        assert!(message.contains("prophet:fast"), "{message}");
        config.policy = "prophet:fast".into();
        assert!(config.validate().is_ok());
    }
}
