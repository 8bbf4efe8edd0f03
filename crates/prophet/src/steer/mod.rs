//! Execution steering, first step: neighbourhood checkpoints and the
//! immediate safety check, in the simulator.
//!
//! Every node sends a checkpoint of its slot (state and pending timers) to
//! the nodes it has sent to, at most once per
//! [`SteerConfig::checkpoint_every`], as a real message
//! ([`crate::sim::steer`]). Before the effects of a delivery of a message
//! kind the protocol declares safe to filter are committed, the receiver
//! assembles its **neighbourhood view**: its own slot, the latest
//! checkpoint it holds of every other node (a node it has none of is taken
//! at its boot state), and the handler's sends in flight. If an `always`
//! property holds on that view before the step and fails after it, the
//! effects are discarded, as if the network had lost the message, and the
//! action is logged with the step and the property.
//!
//! What the check cannot see: messages in flight it was not handed (other
//! nodes' sends it has no checkpoint of yet), changes newer than a
//! checkpoint, and violations that need more than this one step (a bounded
//! consequence search over the neighbourhood is the next step). The rule
//! "holds before, fails after" keeps a stale view from blaming a step for
//! an inconsistency that was already in the view. No peeking: a node sees
//! another only through checkpoints that crossed the simulated network.

use std::hash::BuildHasher;
use std::time::Duration;

use foldhash::fast::FixedState;

use crate::model::{
    Envelope, Expectation, GlobalState, InFlight, Model, Node, NodeId, NodeSlot, Property, System,
};
use crate::sim::condition::message_kind;
use crate::sim::steer::{
    ACTIONS_KEPT, Review, Steerer, Steering, SteeringAction, SteeringReport, Verdict,
};

/// How steering behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SteerConfig {
    /// The least time between two checkpoints of one node. A node sends
    /// one only when its slot changed since it last sent one to a peer
    /// (or the peer is new), so a quiet protocol sends few.
    pub checkpoint_every: Duration,
}

impl Default for SteerConfig {
    fn default() -> Self {
        SteerConfig {
            checkpoint_every: Duration::from_millis(10),
        }
    }
}

/// Steering for the runs of one system.
pub struct Steer<'a, N: Node> {
    system: &'a System<N>,
    filterable: Vec<String>,
    config: SteerConfig,
}

impl<'a, N: Node> Steer<'a, N> {
    /// Steering of `system` that may discard deliveries of the message
    /// kinds in `filterable` (the names [`message_kind`] gives: an enum
    /// variant's name). A kind belongs there only when the protocol already
    /// tolerates losing it (it is sent again, or its sender retries).
    pub fn new(
        system: &'a System<N>,
        filterable: impl IntoIterator<Item = impl Into<String>>,
        config: SteerConfig,
    ) -> Self {
        Steer {
            system,
            filterable: filterable.into_iter().map(Into::into).collect(),
            config,
        }
    }
}

impl<N: Node> Steering<N> for Steer<'_, N> {
    fn start(&self, _seed: u64) -> Box<dyn Steerer<N> + '_> {
        let n = self.system.nodes().len();
        Box::new(RunSteerer {
            steer: self,
            invariants: Model::properties(self.system)
                .into_iter()
                .filter(|p| p.expectation == Expectation::Always)
                .collect(),
            views: (0..n).map(|_| (0..n).map(|_| None).collect()).collect(),
            peers: vec![vec![None; n]; n],
            last: vec![None; n],
            versions: vec![(0, 0); n],
            report: SteeringReport::default(),
        })
    }
}

/// One node's latest checkpoint of another, and when it was taken.
type Held<N> = Option<(NodeSlot<N>, Duration)>;

struct RunSteerer<'s, 'a, N: Node> {
    steer: &'s Steer<'a, N>,
    invariants: Vec<Property<System<N>>>,
    /// `views[i][j]`: node `i`'s latest checkpoint of node `j`.
    views: Vec<Vec<Held<N>>>,
    /// `peers[i][j]`: node `i` has sent to node `j` since it last booted,
    /// and the version of its slot it last sent `j` as a checkpoint.
    peers: Vec<Vec<Option<u64>>>,
    /// When each node last sent checkpoints.
    last: Vec<Option<Duration>>,
    /// Per node: its slot's fingerprint and version (the version grows
    /// when the fingerprint changes).
    versions: Vec<(u64, u64)>,
    report: SteeringReport,
}

impl<N: Node> RunSteerer<'_, '_, N> {
    /// Node `node`'s view of the global state, with `own` as its own slot,
    /// and the age of the oldest checkpoint in it.
    fn view(&self, node: NodeId, own: &NodeSlot<N>, now: Duration) -> (GlobalState<N>, Duration) {
        let system = self.steer.system;
        let mut oldest = Duration::ZERO;
        let nodes = (0..system.nodes().len())
            .map(|j| {
                if j == node.index() {
                    return own.clone();
                }
                match &self.views[node.index()][j] {
                    Some((slot, sent)) => {
                        oldest = oldest.max(now.saturating_sub(*sent));
                        slot.clone()
                    }
                    None => {
                        let id = NodeId::from(j);
                        NodeSlot {
                            state: system.nodes()[j].init(id, None),
                            timers: Vec::new(),
                            up: true,
                        }
                    }
                }
            })
            .collect();
        let state = GlobalState {
            nodes,
            network: InFlight::new(system.semantics().delivery),
            crashes: 0,
        };
        (state, oldest)
    }
}

impl<N: Node> Steerer<N> for RunSteerer<'_, '_, N> {
    fn reviews(&self, msg: &N::Msg) -> bool {
        if self.steer.filterable.is_empty() {
            return false;
        }
        let kind = message_kind(msg);
        self.steer.filterable.contains(&kind)
    }

    fn review(&mut self, review: &Review<'_, N>) -> Verdict {
        self.report.reviewed += 1;
        let system = self.steer.system;
        let (before, oldest) = self.view(review.node, review.before, review.now);
        let mut after = before.clone();
        after.nodes[review.node.index()].state = review.after.clone();
        for (to, msg) in review.sends {
            after.network.send(Envelope {
                src: review.node,
                dst: *to,
                msg: msg.clone(),
            });
        }
        let Some(broken) = self
            .invariants
            .iter()
            .find(|p| !p.holds(system, &after) && p.holds(system, &before))
        else {
            return Verdict::Commit;
        };
        self.report.discarded += 1;
        if self.report.actions.len() < ACTIONS_KEPT {
            self.report.actions.push(SteeringAction {
                node: review.node,
                at: review.now,
                from: review.from,
                msg: format!("{:?}", review.msg),
                property: broken.name.clone(),
                trace: vec![format!(
                    "{} delivers {:?} from {}: `{}` holds on its view before and fails after",
                    review.node, review.msg, review.from, broken.name
                )],
                oldest_checkpoint: oldest,
            });
        }
        Verdict::Discard
    }

    fn after_handler(
        &mut self,
        node: NodeId,
        slot: &NodeSlot<N>,
        now: Duration,
        sent_to: &[NodeId],
        checkpoint_to: &mut Vec<NodeId>,
    ) {
        let i = node.index();
        for to in sent_to {
            if let Some(peer @ None) = self.peers[i].get_mut(to.index()) {
                // A new peer: it has no version yet (versions start at 1).
                *peer = Some(0);
            }
        }
        let fingerprint = FixedState::with_seed(0).hash_one(slot);
        let (last_fingerprint, version) = &mut self.versions[i];
        if *version == 0 || *last_fingerprint != fingerprint {
            *last_fingerprint = fingerprint;
            *version += 1;
        }
        let version = *version;
        let due = self.last[i]
            .is_none_or(|last| now.saturating_sub(last) >= self.steer.config.checkpoint_every);
        if !due {
            return;
        }
        let before = checkpoint_to.len();
        for (j, peer) in self.peers[i].iter_mut().enumerate() {
            if j != i
                && let Some(sent) = peer
                && *sent != version
            {
                *sent = version;
                checkpoint_to.push(NodeId::from(j));
            }
        }
        if checkpoint_to.len() > before {
            self.last[i] = Some(now);
        }
    }

    fn checkpoint(
        &mut self,
        node: NodeId,
        from: NodeId,
        slot: NodeSlot<N>,
        sent: Duration,
        _now: Duration,
    ) {
        let held = &mut self.views[node.index()][from.index()];
        if held.as_ref().is_none_or(|(_, at)| *at <= sent) {
            *held = Some((slot, sent));
        }
    }

    fn crashed(&mut self, node: NodeId) {
        let i = node.index();
        self.views[i].iter_mut().for_each(|held| *held = None);
        self.peers[i].iter_mut().for_each(|peer| *peer = None);
        self.last[i] = None;
        self.versions[i] = (0, 0);
    }

    fn report(&mut self) -> SteeringReport {
        std::mem::take(&mut self.report)
    }
}
