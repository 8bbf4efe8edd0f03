//! `prophet sim --model-out FILE`: each node's online performance model
//! (`prophet::predict`), fed from what the node itself observed during the
//! run, written as one JSON document at the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use prophet::model::NodeId;
use prophet::predict::PerformanceModel;
use prophet::sim::Observation;

/// Models kept at most (over all seeds): beyond it the nodes are counted,
/// not modelled, so a 10,000-node run cannot exhaust memory.
pub const MODELS_MAX: usize = 1_024;

#[derive(Default)]
struct State {
    models: BTreeMap<(u64, NodeId), PerformanceModel>,
    /// The last observation's time, per seed.
    ended: BTreeMap<u64, Duration>,
    unmodelled: u64,
}

/// The models of a run being built.
pub struct ModelWriter {
    path: PathBuf,
    state: Mutex<State>,
}

impl ModelWriter {
    /// Checks that `path` can be written (the models are written at the end).
    pub fn create(path: &Path) -> Result<ModelWriter, String> {
        std::fs::write(path, b"")
            .map_err(|e| format!("cannot create the model file {}: {e}", path.display()))?;
        Ok(ModelWriter {
            path: path.to_path_buf(),
            state: Mutex::default(),
        })
    }

    /// Takes one observation: messages and outcomes feed their node's model.
    pub fn observe(&self, observation: &Observation<'_>) {
        let (seed, node, at) = match observation {
            Observation::Decision(_) => return,
            Observation::Outcome { seed, outcome } => (*seed, outcome.node, outcome.at),
            Observation::Message(m) => (m.seed, m.node, m.at),
        };
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let ended = state.ended.entry(seed).or_default();
        *ended = (*ended).max(at);
        let known = state.models.len();
        let model = match state.models.entry((seed, node)) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) if known < MODELS_MAX => {
                e.insert(PerformanceModel::new(node))
            }
            std::collections::btree_map::Entry::Vacant(_) => {
                state.unmodelled += 1;
                return;
            }
        };
        match observation {
            Observation::Outcome { outcome, .. } => model.observe_outcome(outcome),
            Observation::Message(m) => {
                model.observe_message(m.from, m.delay, m.service, m.queue, m.at)
            }
            Observation::Decision(_) => {}
        }
    }

    /// Writes every model's snapshot at its run's last observation; returns
    /// how many nodes were modelled.
    pub fn finish(self) -> Result<usize, String> {
        let state = self.state.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut runs: BTreeMap<u64, Vec<prophet::predict::ModelSnapshot>> = BTreeMap::new();
        for (&(seed, _), model) in &state.models {
            let at = state.ended.get(&seed).copied().unwrap_or_default();
            runs.entry(seed).or_default().push(model.snapshot(at));
        }
        let document = serde_json::json!({
            "runs": runs
                .into_iter()
                .map(|(seed, nodes)| serde_json::json!({ "seed": seed, "nodes": nodes }))
                .collect::<Vec<_>>(),
            "observations_not_modelled": state.unmodelled,
            "models_max": MODELS_MAX,
        });
        let text = serde_json::to_string_pretty(&document)
            .map_err(|e| format!("encoding the models: {e}"))?;
        std::fs::write(&self.path, text)
            .map_err(|e| format!("writing the model file {}: {e}", self.path.display()))?;
        Ok(state.models.len())
    }
}
