//! The online performance model: what one node has learned of its
//! environment from its own observations, kept as it runs.
//!
//! Per peer: the one-way delay of its messages (from the envelope's send
//! time), its handlers' service time and its queue length (both
//! piggybacked on its messages), each a [`Stream`] with quantiles, their
//! intervals and age, and change detection that notices a peer turning
//! slow, or fast again, within a few observations. Per candidate of each
//! choice: the cost and latency of the outcomes of decisions that picked
//! it, and the share of them that were lost (an outcome carrying the
//! [`crate::choice::LOST`] sample), forgotten with the latency's regime
//! when the latency shifts.
//!
//! The model is fed by an executor (the simulator through its observer,
//! the live runtime from its frames and outcomes) with nothing but what
//! the node saw, does no I/O, and exports itself as the simulator's
//! [`NetworkModel`] ([`PerformanceModel::network_model`]), so predictions
//! run on measured conditions, or on conditions drawn from the model's
//! uncertainty ([`PerformanceModel::sample_network_model`], a bootstrap of
//! each window).
//!
//! ```
//! use std::time::Duration;
//! use prophet::model::NodeId;
//! use prophet::predict::PerformanceModel;
//!
//! let mut model = PerformanceModel::new(NodeId(0));
//! for i in 0..20u64 {
//!     let at = Duration::from_millis(10 * i);
//!     model.observe_message(NodeId(1), Duration::from_millis(2), Duration::from_micros(300), 1, at);
//! }
//! let peer = model.peer(NodeId(1)).expect("observed");
//! assert_eq!(peer.delay.quantile(0.5).map(|q| q.value), Some(0.002));
//! let snapshot = model.snapshot(Duration::from_millis(200));
//! assert_eq!(snapshot.peers[0].delay.as_ref().map(|d| d.count), Some(20));
//! ```

pub mod stream;

use std::collections::BTreeMap;
use std::time::Duration;

use rand::{Rng, RngCore};
use serde::Serialize;

use crate::choice::{LOST, Outcome};
use crate::model::NodeId;
use crate::sim::network::{LatencyDist, LinkModel, NetworkModel};
pub use stream::{Quantile, Rate, Share, Stream, StreamSummary};

/// Peers a model tracks; messages from further peers are counted, not kept.
pub const PEERS_MAX: usize = 4_096;
/// Candidates (choice, key) a model tracks; outcomes beyond are counted.
pub const CANDIDATES_MAX: usize = 4_096;
/// Observations a stream needs before the model exports it.
pub const EXPORT_MIN: usize = 4;

/// What a node has learned of one peer.
#[derive(Clone, Debug, Default)]
pub struct PeerModel {
    /// One-way delay of its messages, seconds.
    pub delay: Stream,
    /// Its handlers' service time, seconds.
    pub service: Stream,
    /// Inputs waiting at it when it sent.
    pub queue: Stream,
}

/// What a node has learned of one candidate of one choice.
#[derive(Clone, Debug, Default)]
pub struct CandidateModel {
    /// The cost of its outcomes (what policies minimise).
    pub cost: Stream,
    /// The latency of its outcomes, seconds.
    pub latency: Stream,
    /// The share of its outcomes that were lost.
    pub lost: Rate,
}

/// One node's online performance model.
#[derive(Clone, Debug)]
pub struct PerformanceModel {
    me: NodeId,
    peers: BTreeMap<NodeId, PeerModel>,
    candidates: BTreeMap<(&'static str, u64), CandidateModel>,
    /// Messages from peers beyond [`PEERS_MAX`].
    untracked_messages: u64,
    /// Outcomes of candidates beyond [`CANDIDATES_MAX`].
    untracked_outcomes: u64,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl PerformanceModel {
    /// An empty model for node `me`.
    pub fn new(me: NodeId) -> Self {
        PerformanceModel {
            me,
            peers: BTreeMap::new(),
            candidates: BTreeMap::new(),
            untracked_messages: 0,
            untracked_outcomes: 0,
        }
    }

    /// The node this model belongs to.
    pub fn me(&self) -> NodeId {
        self.me
    }

    /// A message from `from` arrived at `at`, `delay` after it was sent,
    /// sent by a handler that ran for `service` with `queue` inputs waiting.
    pub fn observe_message(
        &mut self,
        from: NodeId,
        delay: Duration,
        service: Duration,
        queue: u32,
        at: Duration,
    ) {
        let tracked = self.peers.len();
        let peer = match self.peers.get_mut(&from) {
            Some(peer) => peer,
            None if tracked < PEERS_MAX => self.peers.entry(from).or_default(),
            None => {
                self.untracked_messages += 1;
                return;
            }
        };
        let at = secs(at);
        peer.delay.push(secs(delay), at);
        peer.service.push(secs(service), at);
        peer.queue.push(f64::from(queue), at);
    }

    /// The outcome of one of this node's decisions.
    pub fn observe_outcome(&mut self, outcome: &Outcome) {
        let key = (outcome.name, outcome.key);
        let tracked = self.candidates.len();
        let candidate = match self.candidates.get_mut(&key) {
            Some(c) => c,
            None if tracked < CANDIDATES_MAX => self.candidates.entry(key).or_default(),
            None => {
                self.untracked_outcomes += 1;
                return;
            }
        };
        let at = secs(outcome.at);
        candidate.cost.push(outcome.cost(), at);
        candidate
            .lost
            .push(outcome.sample(LOST).is_some_and(|v| v > 0.0));
        // Losses belong to the latency's regime: a partition that heals
        // shows as a shift in latency (timeouts end), and the losses from
        // before it no longer describe the candidate.
        if candidate.latency.push(outcome.latency(), at) {
            let regime = candidate.latency.values().len();
            candidate.lost.keep_last(regime);
        }
    }

    /// What the model holds of `peer`.
    pub fn peer(&self, peer: NodeId) -> Option<&PeerModel> {
        self.peers.get(&peer)
    }

    /// What the model holds of candidate `key` of choice `choice`.
    pub fn candidate(&self, choice: &str, key: u64) -> Option<&CandidateModel> {
        self.candidates
            .iter()
            .find(|((name, k), _)| *name == choice && *k == key)
            .map(|(_, c)| c)
    }

    /// The model as the simulator's network model: `fallback` with every
    /// peer it has measured replaced by what it measured. The link from a
    /// measured peer to this node, and back (the model sees one direction
    /// and assumes the other alike), gets the window of measured delays as
    /// an empirical distribution; the peer's handlers get its measured
    /// service times. Peers with fewer than [`EXPORT_MIN`] observations
    /// keep `fallback`'s values.
    pub fn network_model(&self, fallback: &NetworkModel) -> NetworkModel {
        self.export(fallback, |values| values.to_vec())
    }

    /// Like [`Self::network_model`], with each window resampled with
    /// replacement (a bootstrap draw): one plausible environment among
    /// those the observations allow, so several draws show the model's
    /// uncertainty.
    pub fn sample_network_model(
        &self,
        fallback: &NetworkModel,
        rng: &mut dyn RngCore,
    ) -> NetworkModel {
        self.export(fallback, |values| {
            (0..values.len())
                .map(|_| values[rng.random_range(0..values.len())])
                .collect()
        })
    }

    fn export(
        &self,
        fallback: &NetworkModel,
        mut draw: impl FnMut(&[f64]) -> Vec<f64>,
    ) -> NetworkModel {
        let mut model = fallback.clone();
        for (&peer, measured) in &self.peers {
            if measured.delay.values().len() >= EXPORT_MIN {
                let ms: Vec<f64> = measured.delay.values().map(|s| s * 1e3).collect();
                let latency = LatencyDist::Empirical {
                    samples_ms: draw(&ms),
                    file: None,
                };
                for link in [(peer, self.me), (self.me, peer)] {
                    let base = model
                        .links
                        .get(&link)
                        .cloned()
                        .unwrap_or_else(|| fallback.default_link.clone());
                    model.links.insert(
                        link,
                        LinkModel {
                            latency: latency.clone(),
                            ..base
                        },
                    );
                }
            }
            if measured.service.values().len() >= EXPORT_MIN {
                let ms: Vec<f64> = measured.service.values().map(|s| s * 1e3).collect();
                model.service.insert(
                    peer,
                    LatencyDist::Empirical {
                        samples_ms: draw(&ms),
                        file: None,
                    },
                );
            }
        }
        model
    }

    /// The model at time `now`, as it would be shown to a person.
    pub fn snapshot(&self, now: Duration) -> ModelSnapshot {
        let now = secs(now);
        ModelSnapshot {
            node: self.me.0,
            at: now,
            peers: self
                .peers
                .iter()
                .map(|(&peer, m)| PeerSnapshot {
                    peer: peer.0,
                    delay: m.delay.summary(now),
                    service: m.service.summary(now),
                    queue: m.queue.summary(now),
                })
                .collect(),
            candidates: self
                .candidates
                .iter()
                .map(|(&(choice, key), m)| CandidateSnapshot {
                    choice: choice.to_string(),
                    key,
                    cost: m.cost.summary(now),
                    latency: m.latency.summary(now),
                    lost: m.lost.share(),
                })
                .collect(),
            untracked_messages: self.untracked_messages,
            untracked_outcomes: self.untracked_outcomes,
        }
    }
}

/// A [`PerformanceModel`] at one instant (what `prophet sim --model-out`
/// writes and a live node serves).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelSnapshot {
    /// The node.
    pub node: u32,
    /// Seconds since the run started.
    pub at: f64,
    /// Per peer, in id order.
    pub peers: Vec<PeerSnapshot>,
    /// Per candidate, by choice then key.
    pub candidates: Vec<CandidateSnapshot>,
    /// Messages from peers beyond [`PEERS_MAX`].
    pub untracked_messages: u64,
    /// Outcomes of candidates beyond [`CANDIDATES_MAX`].
    pub untracked_outcomes: u64,
}

/// One peer in a [`ModelSnapshot`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PeerSnapshot {
    /// The peer.
    pub peer: u32,
    /// One-way delay, seconds.
    pub delay: Option<StreamSummary>,
    /// Service time, seconds.
    pub service: Option<StreamSummary>,
    /// Queue length.
    pub queue: Option<StreamSummary>,
}

/// One candidate in a [`ModelSnapshot`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CandidateSnapshot {
    /// The choice.
    pub choice: String,
    /// The candidate's stable key.
    pub key: u64,
    /// Outcome cost.
    pub cost: Option<StreamSummary>,
    /// Outcome latency, seconds.
    pub latency: Option<StreamSummary>,
    /// Share of outcomes lost.
    pub lost: Option<Share>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::choice::LATENCY;
    use rand::SeedableRng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn outcome(key: u64, latency: f64, lost: bool, at: Duration) -> Outcome {
        let mut samples = vec![(LATENCY, latency)];
        if lost {
            samples.push((LOST, 1.0));
        }
        Outcome {
            decision: 0,
            node: NodeId(0),
            name: "replica",
            key,
            context: None,
            samples,
            at,
        }
    }

    #[test]
    fn a_peer_that_turns_slow_is_noticed_within_a_few_messages() {
        let mut model = PerformanceModel::new(NodeId(0));
        let mut t = 0;
        for i in 0..100u64 {
            t += 10;
            let service = Duration::from_micros(200 + (i * 37 % 50));
            model.observe_message(NodeId(2), ms(1), service, 0, ms(t));
        }
        for _ in 0..3 {
            t += 10;
            model.observe_message(NodeId(2), ms(1), ms(5), 4, ms(t));
        }
        let peer = model.peer(NodeId(2)).expect("observed");
        assert_eq!(peer.service.changes(), 1);
        assert_eq!(peer.service.quantile(0.5).map(|q| q.value), Some(0.005));
        assert_eq!(peer.delay.changes(), 0, "the delay did not change");
        let snapshot = model.snapshot(ms(t));
        let queue = snapshot.peers[0].queue.as_ref().expect("queue");
        assert_eq!(queue.p50.value, 4.0);
    }

    #[test]
    fn outcomes_are_kept_per_candidate_with_their_losses() {
        let mut model = PerformanceModel::new(NodeId(0));
        for i in 0..40 {
            model.observe_outcome(&outcome(7, 0.002, false, ms(i)));
            model.observe_outcome(&outcome(9, 5.0, i % 4 == 0, ms(i)));
        }
        let fast = model.candidate("replica", 7).expect("seen");
        assert_eq!(fast.lost.share().map(|s| s.hits), Some(0));
        let slow = model.candidate("replica", 9).expect("seen");
        assert_eq!(slow.lost.share().map(|s| (s.hits, s.of)), Some((10, 40)));
        assert_eq!(slow.latency.quantile(0.5).map(|q| q.value), Some(5.0));
        assert!(model.candidate("other", 7).is_none());
        let json = serde_json::to_value(model.snapshot(ms(40))).expect("serialises");
        assert_eq!(json["candidates"][1]["lost"]["hits"], 10);
    }

    #[test]
    fn the_model_exports_what_it_measured_as_the_simulators_network_model() {
        let mut model = PerformanceModel::new(NodeId(0));
        for i in 0..10u64 {
            model.observe_message(NodeId(1), ms(3 + i % 2), ms(1), 0, ms(i));
        }
        // Too few messages from node 2 to export.
        model.observe_message(NodeId(2), ms(50), ms(9), 0, ms(1));
        let mut fallback = NetworkModel::default();
        fallback.default_link.loss = 0.01;
        let exported = model.network_model(&fallback);
        let to_me = &exported.links[&(NodeId(1), NodeId(0))];
        assert!((to_me.latency.mean_ms() - 3.5).abs() < 1e-9);
        assert_eq!(to_me.loss, 0.01, "what was not measured keeps the fallback");
        assert_eq!(
            exported.links[&(NodeId(0), NodeId(1))].latency,
            to_me.latency
        );
        assert!((exported.service[&NodeId(1)].mean_ms() - 1.0).abs() < 1e-9);
        assert!(!exported.links.contains_key(&(NodeId(2), NodeId(0))));
        assert!(!exported.service.contains_key(&NodeId(2)));
        // A bootstrap draw keeps the measured support and differs by seed.
        let mut a = rand::rngs::StdRng::seed_from_u64(1);
        let mut b = rand::rngs::StdRng::seed_from_u64(2);
        let drawn = |rng: &mut rand::rngs::StdRng| match &model
            .sample_network_model(&fallback, rng)
            .links[&(NodeId(1), NodeId(0))]
            .latency
        {
            LatencyDist::Empirical { samples_ms, .. } => samples_ms.clone(),
            other => panic!("not empirical: {other:?}"),
        };
        let (da, db) = (drawn(&mut a), drawn(&mut b));
        assert_eq!(da.len(), 10);
        assert!(da.iter().all(|&v| v == 3.0 || v == 4.0));
        assert_ne!(da, db);
        let mut again = rand::rngs::StdRng::seed_from_u64(1);
        assert_eq!(drawn(&mut again), da, "a seed reproduces its draw");
    }

    #[test]
    fn beyond_its_caps_the_model_counts_instead_of_growing() {
        let mut model = PerformanceModel::new(NodeId(0));
        for p in 0..(PEERS_MAX as u32 + 10) {
            model.observe_message(NodeId(p + 1), ms(1), ms(0), 0, ms(1));
        }
        let snapshot = model.snapshot(ms(1));
        assert_eq!(snapshot.peers.len(), PEERS_MAX);
        assert_eq!(snapshot.untracked_messages, 10);
    }
}
