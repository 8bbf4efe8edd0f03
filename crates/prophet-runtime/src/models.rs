//! Each local node's online performance model (`prophet::predict`), fed by
//! its chooser with the outcomes of its decisions, and served by the HTTP
//! control plane (`GET /model`).
//!
//! Live nodes feed the per-candidate half of the model (the cost, latency
//! and losses of each candidate's outcomes); the per-peer half (one-way
//! delay, the sender's service time and queue) needs those three in each
//! frame's header, which the wire format does not carry yet, so it stays
//! empty live.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use prophet::choice::Outcome;
use prophet::model::NodeId;
use prophet::predict::{ModelSnapshot, PerformanceModel};

/// The models of a process's nodes.
pub struct Models {
    /// The clock outcomes are timed on starts within milliseconds of this
    /// (the executors start just after the process), so ages are accurate
    /// to that.
    started: Instant,
    nodes: BTreeMap<u32, Mutex<PerformanceModel>>,
}

fn locked(model: &Mutex<PerformanceModel>) -> MutexGuard<'_, PerformanceModel> {
    model.lock().unwrap_or_else(|p| p.into_inner())
}

impl Models {
    /// Empty models for `nodes`.
    pub fn new(nodes: &[u32]) -> Models {
        Models {
            started: Instant::now(),
            nodes: nodes
                .iter()
                .map(|&n| (n, Mutex::new(PerformanceModel::new(NodeId(n)))))
                .collect(),
        }
    }

    /// An outcome of one of `outcome.node`'s decisions (ignored for a node
    /// not in this process).
    pub fn observe_outcome(&self, outcome: &Outcome) {
        if let Some(model) = self.nodes.get(&outcome.node.0) {
            locked(model).observe_outcome(outcome);
        }
    }

    /// Every node's model, now.
    pub fn snapshots(&self) -> Vec<ModelSnapshot> {
        let now = self.started.elapsed();
        self.nodes
            .values()
            .map(|model| locked(model).snapshot(now))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn outcomes_reach_their_nodes_model_only() {
        let models = Models::new(&[1, 2]);
        let outcome = |node: u32| Outcome {
            decision: 0,
            node: NodeId(node),
            name: "c",
            key: 5,
            context: None,
            samples: vec![(prophet::choice::LATENCY, 0.25)],
            at: Duration::from_millis(1),
        };
        models.observe_outcome(&outcome(2));
        models.observe_outcome(&outcome(2));
        models.observe_outcome(&outcome(9));
        let snapshots = models.snapshots();
        assert_eq!(snapshots.len(), 2);
        assert!(snapshots[0].candidates.is_empty());
        let latency = snapshots[1].candidates[0].latency.as_ref().expect("seen");
        assert_eq!((latency.count, latency.p50.value), (2, 0.25));
    }
}
