//! Outcome attribution: pairs each decision made under a handle
//! (`Ctx::choose_with`) with the outcome later reported under it
//! (`Ctx::outcome`), and turns them into [`Outcome`]s with the latency in
//! between. Executor-neutral: the simulator calls it with virtual times,
//! the live runtime with real ones, so a policy learns the same way in both.

use std::time::Duration;

use crate::choice::policy::{LATENCY, Outcome};
use crate::model::{Effects, MetricOp, Node, NodeId};

/// Decisions waiting for their outcome, per tracker; beyond this a new
/// decision is not tracked (and [`FeedbackTracker::untracked`] counts it):
/// a protocol that never reports outcomes must not grow memory without end.
pub const OPEN_DECISIONS_MAX: usize = 65_536;

/// A decision waiting for its outcome.
#[derive(Clone, Copy, Debug)]
struct Open {
    /// The decision's number in its run.
    id: u64,
    name: &'static str,
    key: u64,
    context: Option<u64>,
    decided: Duration,
}

/// Open decisions by (node, handle), and the outcomes that close them.
#[derive(Default)]
pub struct FeedbackTracker {
    open: hashbrown::HashMap<(NodeId, u64), Vec<Open>, foldhash::fast::FixedState>,
    count: usize,
    untracked: u64,
}

impl FeedbackTracker {
    /// No open decisions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes note of one handler run at `node`: its decisions (made at
    /// `began`, numbered from `first_decision` in call order) and the
    /// outcomes it reported (observed at `ended`). Returns the outcomes, in
    /// the order the handler reported them.
    pub fn handler_ran<N: Node + ?Sized>(
        &mut self,
        node: NodeId,
        effects: &Effects<N>,
        first_decision: u64,
        began: Duration,
        ended: Duration,
    ) -> Vec<Outcome> {
        for (d, id) in effects.decisions.iter().zip(first_decision..) {
            let Some(handle) = d.attribution.handle else {
                continue;
            };
            if self.count >= OPEN_DECISIONS_MAX {
                self.untracked += 1;
                continue;
            }
            self.count += 1;
            self.open.entry((node, handle)).or_default().push(Open {
                id,
                name: d.name,
                key: d.key,
                context: d.attribution.context,
                decided: began,
            });
        }
        let mut outcomes = Vec::new();
        for op in &effects.metrics {
            let MetricOp::Outcome {
                handle,
                choice,
                credit,
            } = *op
            else {
                continue;
            };
            let Some(open) = self.open.get_mut(&(node, handle)) else {
                continue;
            };
            let Some(at) = open.iter().position(|o| o.name == choice) else {
                continue;
            };
            let decision = open.remove(at);
            if open.is_empty() {
                self.open.remove(&(node, handle));
            }
            self.count -= 1;
            if !credit {
                continue;
            }
            let mut samples = vec![(
                LATENCY,
                ended.saturating_sub(decision.decided).as_secs_f64(),
            )];
            samples.extend(effects.metrics.iter().filter_map(|op| match *op {
                MetricOp::OutcomeSample {
                    handle: h,
                    metric,
                    value,
                } if h == handle => Some((metric, value)),
                _ => None,
            }));
            outcomes.push(Outcome {
                decision: decision.id,
                node,
                name: decision.name,
                key: decision.key,
                context: decision.context,
                samples,
                at: ended,
            });
        }
        debug_assert_eq!(self.count, self.open.values().map(Vec::len).sum::<usize>());
        outcomes
    }

    /// Forgets the open decisions of a node that crashed.
    pub fn forget_node(&mut self, node: NodeId) {
        let count = &mut self.count;
        self.open.retain(|k, v| {
            if k.0 == node {
                *count -= v.len();
                false
            } else {
                true
            }
        });
    }

    /// Decisions waiting for their outcome.
    pub fn open_decisions(&self) -> usize {
        self.count
    }

    /// Decisions not tracked because [`OPEN_DECISIONS_MAX`] were open.
    pub fn untracked(&self) -> u64 {
        self.untracked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attribution, Ctx, FirstChoice};

    /// A client that reads from a chosen replica and hedges.
    struct Client;
    impl Node for Client {
        type State = ();
        type Msg = u8;
        type Timer = ();
        type Durable = ();
        fn init(&self, _: NodeId, _: Option<()>) {}
        fn on_message(&self, _: &mut (), _: &mut Ctx<'_, Self>, _: NodeId, _: u8) {}
        fn durable(&self, _: &()) {}
    }

    fn run(f: impl FnOnce(&mut Ctx<'_, Client>)) -> Effects<Client> {
        let mut effects = Effects::default();
        let mut chooser = FirstChoice;
        f(&mut Ctx::new(
            NodeId(3),
            4,
            &mut effects,
            &mut chooser,
            None,
        ));
        effects
    }

    #[test]
    fn one_outcome_credits_the_decisions_it_names_with_their_latency() {
        let mut tracker = FeedbackTracker::new();
        let decided = run(|ctx| {
            let how = Attribution::handle(9).context(42);
            ctx.choose_with("read_replica", &[NodeId(0), NodeId(1)], how);
            ctx.choose_with("hedge", &[None, Some(5u64)], how);
        });
        let ms = Duration::from_millis;
        assert!(
            tracker
                .handler_ran(NodeId(3), &decided, 5, ms(10), ms(10))
                .is_empty()
        );
        assert_eq!(tracker.open_decisions(), 2);
        let answered = run(|ctx| ctx.outcome(9, &["read_replica", "hedge"], &[("bytes", 64.0)]));
        let outcomes = tracker.handler_ran(NodeId(3), &answered, 7, ms(25), ms(25));
        assert_eq!(outcomes.len(), 2);
        assert_eq!(outcomes[0].name, "read_replica");
        assert_eq!((outcomes[0].decision, outcomes[1].decision), (5, 6));
        assert_eq!(outcomes[0].key, crate::model::candidate_key(&NodeId(0)));
        assert_eq!(outcomes[0].context, Some(42));
        assert_eq!(outcomes[1].samples, vec![(LATENCY, 0.015), ("bytes", 64.0)]);
        assert_eq!(tracker.open_decisions(), 0);
        // A late duplicate finds nothing open; another node's handle is its own.
        assert!(
            tracker
                .handler_ran(NodeId(3), &answered, 7, ms(30), ms(30))
                .is_empty()
        );
        assert!(
            tracker
                .handler_ran(NodeId(2), &answered, 7, ms(30), ms(30))
                .is_empty()
        );
    }

    #[test]
    fn no_outcome_and_a_crash_close_open_decisions() {
        let mut tracker = FeedbackTracker::new();
        let decided = run(|ctx| {
            ctx.choose_with("a", &[1u8, 2], Attribution::handle(1));
            ctx.choose_with("b", &[1u8, 2], Attribution::handle(2));
        });
        tracker.handler_ran(NodeId(3), &decided, 0, Duration::ZERO, Duration::ZERO);
        let unused = run(|ctx| ctx.no_outcome(1, &["a"]));
        assert!(
            tracker
                .handler_ran(NodeId(3), &unused, 2, Duration::ZERO, Duration::ZERO)
                .is_empty()
        );
        assert_eq!(tracker.open_decisions(), 1);
        tracker.forget_node(NodeId(3));
        assert_eq!(tracker.open_decisions(), 0);
    }
}
