//! The hook through which a safety check forbids candidates before a
//! policy picks one: where execution steering's consequence prediction
//! plugs in (a candidate whose predicted future violates an invariant is
//! vetoed), and any other check a deployment wants.
//!
//! The policy sees only the surviving candidates, as if they were all the
//! handler offered (a learner keyed by candidate key keeps what it learned
//! of them; `fixed:<i>` and round-robin count among the survivors), and its
//! pick is mapped back to the handler's index. If every candidate is
//! vetoed, the programmer's default stands (the handler's first candidate,
//! as when no policy is set) and the decision says so, to be reported.

use rand::RngCore;

use crate::choice::log::Explanation;
use crate::choice::{ChoiceView, PolicyTable};

/// A check that may forbid some candidates of a decision.
pub trait Veto {
    /// Sets `vetoed[i]` for every candidate `i` of `view` that must not be
    /// picked (all `false` on entry, one per candidate).
    fn veto(&mut self, view: &ChoiceView<'_>, vetoed: &mut [bool]);
}

/// A decision made under a [`Veto`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The handler's index of the pick.
    pub pick: usize,
    /// Candidates vetoed.
    pub vetoed: usize,
    /// Every candidate was vetoed, and the programmer's default stood.
    pub overridden: bool,
}

/// Reusable buffers for vetoed decisions (a decision allocates nothing once
/// they have grown to the largest candidate count).
#[derive(Default)]
pub struct VetoScratch {
    vetoed: Vec<bool>,
    keys: Vec<u64>,
    survivors: Vec<usize>,
    explanation: Explanation,
}

impl PolicyTable {
    /// Resolves a choice among the candidates `veto` leaves; with
    /// `explain`, also says what the policy would do, in the handler's
    /// candidate order (a vetoed candidate has probability 0 and no
    /// prediction).
    pub fn choose_checked(
        &mut self,
        view: &ChoiceView<'_>,
        veto: &mut dyn Veto,
        rng: &mut dyn RngCore,
        scratch: &mut VetoScratch,
        explain: Option<&mut Explanation>,
    ) -> Checked {
        scratch.vetoed.clear();
        scratch.vetoed.resize(view.candidates, false);
        veto.veto(view, &mut scratch.vetoed);
        let vetoed = scratch.vetoed.iter().filter(|&&v| v).count();
        if vetoed == 0 {
            if let Some(out) = explain {
                self.explain(view, out);
            }
            let pick = self.choose(view, rng).min(view.candidates - 1);
            return Checked {
                pick,
                vetoed,
                overridden: false,
            };
        }
        if vetoed == view.candidates {
            if let Some(out) = explain {
                out.probabilities.clear();
                out.probabilities.resize(view.candidates, 0.0);
                out.probabilities[0] = 1.0;
                out.predicted.clear();
            }
            return Checked {
                pick: 0,
                vetoed,
                overridden: true,
            };
        }
        scratch.survivors.clear();
        scratch.keys.clear();
        for (i, _) in scratch.vetoed.iter().enumerate().filter(|(_, v)| !**v) {
            scratch.survivors.push(i);
            scratch.keys.push(view.keys[i]);
        }
        let sub = ChoiceView {
            candidates: scratch.survivors.len(),
            keys: &scratch.keys,
            ..*view
        };
        if let Some(out) = explain {
            self.explain(&sub, &mut scratch.explanation);
            out.probabilities.clear();
            out.predicted.clear();
            if !scratch.explanation.probabilities.is_empty() {
                out.probabilities.resize(view.candidates, 0.0);
                for (j, &i) in scratch.survivors.iter().enumerate() {
                    out.probabilities[i] = scratch.explanation.probabilities[j];
                }
            }
            if !scratch.explanation.predicted.is_empty() {
                out.predicted.resize(view.candidates, None);
                for (j, &i) in scratch.survivors.iter().enumerate() {
                    out.predicted[i] = scratch.explanation.predicted[j];
                }
            }
        }
        let j = self.choose(&sub, rng).min(sub.candidates - 1);
        Checked {
            pick: scratch.survivors[j],
            vetoed,
            overridden: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::choice::{LATENCY, Outcome, PolicySpec};
    use crate::model::NodeId;
    use rand::SeedableRng;
    use std::collections::BTreeMap;
    use std::time::Duration;

    /// Vetoes the candidates whose key is in the list.
    struct Keys(Vec<u64>);
    impl Veto for Keys {
        fn veto(&mut self, view: &ChoiceView<'_>, vetoed: &mut [bool]) {
            for (i, k) in view.keys.iter().enumerate() {
                vetoed[i] = self.0.contains(k);
            }
        }
    }

    fn view(keys: &[u64]) -> ChoiceView<'_> {
        ChoiceView {
            node: NodeId(0),
            name: "c",
            candidates: keys.len(),
            keys,
            context: None,
            now: Duration::ZERO,
        }
    }

    fn table(policy: &str) -> PolicyTable {
        PolicyTable::new(PolicySpec::parse(policy).expect("policy"), BTreeMap::new())
    }

    #[test]
    fn a_vetoed_candidate_is_never_picked_and_the_explanation_gives_it_nothing() {
        let keys = [10, 11, 12, 13];
        for policy in ["random", "round-robin", "thompson", "p2c", "c3", "fixed:2"] {
            let mut t = table(policy);
            let mut rng = rand::rngs::StdRng::seed_from_u64(3);
            let mut scratch = VetoScratch::default();
            let mut explained = Explanation::default();
            let mut picked = [0usize; 4];
            for i in 0..400 {
                let checked = t.choose_checked(
                    &view(&keys),
                    &mut Keys(vec![12]),
                    &mut rng,
                    &mut scratch,
                    Some(&mut explained),
                );
                assert_eq!((checked.vetoed, checked.overridden), (1, false));
                assert_ne!(checked.pick, 2, "{policy} picked the vetoed candidate");
                picked[checked.pick] += 1;
                if !explained.probabilities.is_empty() {
                    assert_eq!(explained.probabilities[2], 0.0, "{policy}");
                    let sum: f64 = explained.probabilities.iter().sum();
                    assert!((sum - 1.0).abs() < 1e-9, "{policy}: {sum}");
                }
                t.observe(&Outcome {
                    decision: i,
                    node: NodeId(0),
                    name: "c",
                    key: keys[checked.pick],
                    context: None,
                    samples: vec![(LATENCY, 0.001 * (checked.pick + 1) as f64)],
                    at: Duration::from_millis(i),
                });
            }
            if policy == "random" || policy == "round-robin" {
                assert!(
                    picked
                        .iter()
                        .enumerate()
                        .all(|(i, &n)| (i == 2) == (n == 0))
                );
            }
        }
    }

    #[test]
    fn with_nothing_vetoed_the_decisions_are_the_policys_own() {
        let keys = [1, 2, 3, 4, 5];
        let (mut a, mut b) = (table("thompson"), table("thompson"));
        let mut ra = rand::rngs::StdRng::seed_from_u64(9);
        let mut rb = rand::rngs::StdRng::seed_from_u64(9);
        let mut scratch = VetoScratch::default();
        for _ in 0..200 {
            let checked =
                a.choose_checked(&view(&keys), &mut Keys(vec![]), &mut ra, &mut scratch, None);
            assert_eq!(checked.pick, b.choose(&view(&keys), &mut rb));
        }
    }

    #[test]
    fn when_every_candidate_is_vetoed_the_programmers_default_stands_and_says_so() {
        let keys = [7, 8];
        let mut t = table("random");
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut explained = Explanation::default();
        let checked = t.choose_checked(
            &view(&keys),
            &mut Keys(vec![7, 8]),
            &mut rng,
            &mut VetoScratch::default(),
            Some(&mut explained),
        );
        assert_eq!(
            checked,
            Checked {
                pick: 0,
                vetoed: 2,
                overridden: true
            }
        );
        assert_eq!(explained.probabilities, vec![1.0, 0.0]);
    }
}
