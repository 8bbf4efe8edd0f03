//! Liveness under fairness: leads-to (`P ~> Q`), always-eventually
//! (`[]<>Q`), and `eventually` when the model declares fairness.
//!
//! Each such property fails exactly when some execution, fair to the model's
//! declared [`Fairness`], reaches a state that obliges `Q` (a start state for
//! `eventually`, a `P` state for leads-to, any state for `[]<>`) and from
//! there never reaches `Q`. Such an execution either ends in a state with no
//! step out, or stays forever inside one strongly connected component of the
//! states where `Q` is false. So the check builds the reachable graph once
//! (breadth first, with each step's fairness label), then for each property
//! runs Tarjan's algorithm over the `¬Q` states reachable from an obliging
//! state, and asks of each component whether a fair execution can stay in it
//! (Emerson and Lei's test):
//!
//! - the execution that takes every step of the component infinitely often
//!   is the fairest one there, so the component is fair if that one is:
//! - a weakly fair action enabled in every state of the component must have a
//!   step inside it, else no execution staying there is fair;
//! - a strongly fair action enabled somewhere in it must have a step inside
//!   it; if not, the states where it is enabled are removed and the rest is
//!   split into components again, which are tested the same way.
//!
//! The counterexample is a lasso: the shortest path to the obliging state,
//! the shortest path on to the component, and a loop inside it that takes
//! every fair action the component can take (or visits a state where it is
//! disabled). Steps that leave the state unchanged are stuttering: they
//! neither count as a loop nor as taking an action. Symmetry reduction is
//! not applied here (fairness is about concrete instances: which message).
//! The graph keeps every reachable state's edges, about 12 bytes per step,
//! so this check is for state spaces of millions of states, not billions.

use std::collections::VecDeque;

use hashbrown::{HashMap, HashSet};

use crate::explore::liveness::{Limits, Outcome};
use crate::explore::trace::trace_from_path;
use crate::explore::visited::{Fingerprint, fingerprint};
use crate::model::{Expectation, Fairness, FairnessKind, Model, Property};

const NONE: u32 = u32::MAX;
/// Edges (and so states) the graph holds at most: ids are `u32`, and
/// `NONE` is reserved.
const MAX_EDGES: usize = (u32::MAX - 1) as usize;

#[derive(Clone, Copy)]
struct Edge {
    to: u32,
    /// The interned fairness label, `NONE` when no fairness applies.
    label: u32,
}

/// The reachable graph with the truth of each checked property per state.
pub(crate) struct Graph {
    /// Per state: the parent and the successor index taken from it, or
    /// `(NONE, start index)` for a start state.
    parent: Vec<(u32, u32)>,
    /// Per state: its edges in `edges`, in the model's successor order (so
    /// an edge's offset is its successor index); empty when not expanded.
    range: Vec<(u32, u32)>,
    expanded: Vec<bool>,
    edges: Vec<Edge>,
    /// Per interned label: its fairness.
    kinds: Vec<FairnessKind>,
    /// Per checked property: whether it obliges the condition, per state.
    obliges: Vec<Vec<bool>>,
    /// Per checked property: whether the condition holds, per state.
    holds: Vec<Vec<bool>>,
    /// The state index of each start state.
    start_index: Vec<u32>,
    /// Why the graph is not the whole reachable space, if it is not.
    cut: Option<String>,
    fairness: Vec<Fairness>,
    /// Whether an execution may stop where no fair action is enabled.
    may_stutter: bool,
}

/// Whether `property` needs this check (rather than the plain lasso search
/// of [`crate::explore::liveness`], which keeps no graph).
pub(crate) fn needed<M: Model>(model: &M, property: &Property<M>, fairness: &[Fairness]) -> bool {
    match property.expectation {
        Expectation::LeadsTo | Expectation::AlwaysEventually => true,
        Expectation::Eventually => !fairness.is_empty() || model.may_stutter(),
        Expectation::Always | Expectation::Sometimes => false,
    }
}

/// "after step N", or "in the first state".
fn at_step(steps: usize) -> String {
    match steps {
        0 => "in the first state".into(),
        n => format!("after step {n}"),
    }
}

/// "from step N on", or "from the first state on".
fn from_step(steps: usize) -> String {
    match steps {
        0 => "from the first state on".into(),
        n => format!("from step {n} on"),
    }
}

impl Graph {
    /// Explores the reachable states breadth first, recording every step.
    pub(crate) fn build<M: Model>(
        model: &M,
        starts: &[M::State],
        properties: &[&Property<M>],
        limits: &Limits,
    ) -> Graph {
        let fairness = model.fairness();
        // A class declared twice gets the stronger of its declarations.
        let mut declared: HashMap<&str, FairnessKind> = HashMap::new();
        for f in &fairness {
            let kind = declared.entry(f.class.as_str()).or_insert(f.kind);
            *kind = (*kind).max(f.kind);
        }
        let mut graph = Graph {
            parent: Vec::new(),
            range: Vec::new(),
            expanded: Vec::new(),
            edges: Vec::new(),
            kinds: Vec::new(),
            obliges: vec![Vec::new(); properties.len()],
            holds: vec![Vec::new(); properties.len()],
            start_index: Vec::new(),
            cut: None,
            fairness: fairness.clone(),
            may_stutter: model.may_stutter(),
        };
        let mut ids: HashMap<Fingerprint, u32> = HashMap::new();
        let mut labels: HashMap<(&'static str, u64), u32> = HashMap::new();
        let mut queue: VecDeque<(u32, M::State, usize)> = VecDeque::new();
        for (k, start) in starts.iter().enumerate() {
            let fp = fingerprint(start);
            let id = match ids.get(&fp) {
                Some(&id) => id,
                None => {
                    let id = graph.add(model, properties, start, (NONE, k as u32));
                    ids.insert(fp, id);
                    queue.push_back((id, start.clone(), 0));
                    id
                }
            };
            graph.start_index.push(id);
        }
        let mut successors = Vec::new();
        while let Some((id, state, depth)) = queue.pop_front() {
            if !model.within_boundary(&state) {
                graph.cut_by("a path left the model's boundary".into());
                continue;
            }
            if limits.max_depth.is_some_and(|max| depth >= max) {
                graph.cut_by(format!("paths longer than {depth} steps"));
                continue;
            }
            if limits.max_states.is_some_and(|max| ids.len() as u64 >= max) {
                graph.cut_by(format!("stopped after {} states", ids.len()));
                break;
            }
            if limits
                .deadline
                .is_some_and(|d| std::time::Instant::now() >= d)
            {
                graph.cut_by("time limit reached".into());
                break;
            }
            if graph.edges.len() >= MAX_EDGES {
                graph.cut_by(format!("the graph reached {MAX_EDGES} steps"));
                break;
            }
            successors.clear();
            let expanded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                model.successors(&state, &mut successors).is_ok()
            }));
            if !matches!(expanded, Ok(true)) {
                // A state whose steps are not all known is left unexpanded
                // (its missing steps could be fair ones); the state search
                // reports the failing step with its trace.
                graph.cut_by("a step failed".into());
                continue;
            }
            let begin = graph.edges.len() as u32;
            for (k, (action, next)) in successors.drain(..).enumerate() {
                let label = match model.action_label(&state, &action) {
                    Some(l) => match declared.get(l.class) {
                        Some(&kind) => *labels.entry((l.class, l.instance)).or_insert_with(|| {
                            graph.kinds.push(kind);
                            graph.kinds.len() as u32 - 1
                        }),
                        None => NONE,
                    },
                    None => NONE,
                };
                let fp = fingerprint(&next);
                let to = match ids.get(&fp) {
                    Some(&to) => to,
                    None => {
                        let to = graph.add(model, properties, &next, (id, k as u32));
                        ids.insert(fp, to);
                        queue.push_back((to, next, depth + 1));
                        to
                    }
                };
                graph.edges.push(Edge { to, label });
            }
            graph.range[id as usize] = (begin, graph.edges.len() as u32);
            graph.expanded[id as usize] = true;
        }
        graph
    }

    fn add<M: Model>(
        &mut self,
        model: &M,
        properties: &[&Property<M>],
        state: &M::State,
        parent: (u32, u32),
    ) -> u32 {
        let id = self.parent.len() as u32;
        self.parent.push(parent);
        self.range.push((0, 0));
        self.expanded.push(false);
        for (j, property) in properties.iter().enumerate() {
            self.obliges[j].push(property.triggered(model, state));
            self.holds[j].push(property.holds(model, state));
        }
        id
    }

    fn cut_by(&mut self, reason: String) {
        self.cut.get_or_insert(reason);
    }

    /// Number of states in the graph.
    pub(crate) fn len(&self) -> usize {
        self.parent.len()
    }

    fn edges_of(&self, v: u32) -> &[Edge] {
        let (begin, end) = self.range[v as usize];
        &self.edges[begin as usize..end as usize]
    }

    /// The fair labels with a step out of `v` that changes the state.
    fn enabled(&self, v: u32) -> Vec<u32> {
        let mut labels: Vec<u32> = self
            .edges_of(v)
            .iter()
            .filter(|e| e.to != v && e.label != NONE)
            .map(|e| e.label)
            .collect();
        labels.sort_unstable();
        labels.dedup();
        labels
    }

    /// Checks property `j` (its index among those the graph was built for).
    pub(crate) fn check<M: Model>(
        &self,
        model: &M,
        starts: &[M::State],
        j: usize,
        property: &Property<M>,
    ) -> Outcome {
        let holds = &self.holds[j];
        let region = |v: u32| !holds[v as usize];
        let sources: Vec<u32> = match property.expectation {
            Expectation::Eventually => {
                let mut s: Vec<u32> = self.start_index.clone();
                s.sort_unstable();
                s.dedup();
                s.retain(|&v| region(v));
                s
            }
            _ => (0..self.len() as u32)
                .filter(|&v| self.obliges[j][v as usize] && region(v))
                .collect(),
        };
        // An execution may end in a state with no step that changes it or,
        // when stuttering is allowed, stop in one where no fair action is
        // enabled: the nearest such state is the shortest counterexample.
        // Otherwise a fair loop must be found.
        let found = match self.nearest(&sources, region, |v| self.stops(v)) {
            Some((root, v)) => Some((root, vec![v], false)),
            None => self.components(sources.iter().copied(), region, |root, members| {
                self.fair_part(members).map(|fair| (root, fair, true))
            }),
        };
        let Some((source, members, looping)) = found else {
            // Only an unexpanded state where the condition is false, reached
            // from an obliging state, could hide a counterexample.
            let hidden = self
                .nearest(&sources, region, |v| !self.expanded[v as usize])
                .is_some();
            return match (&self.cut, hidden) {
                (Some(reason), true) => Outcome::Unknown(format!(
                    "no counterexample found, but not all paths were followed: {reason}"
                )),
                _ => Outcome::Holds,
            };
        };
        let (init, mut path) = self.path_to(source);
        let oblige_at = path.len();
        let set: HashSet<u32> = members.iter().copied().collect();
        let Some((to_entry, entry)) = self.bfs(source, |v| set.contains(&v), region, false) else {
            return Outcome::Unknown("the counterexample's path could not be rebuilt".into());
        };
        path.extend(to_entry);
        let loop_start = path.len();
        if looping {
            match self.fair_loop(entry, &set) {
                Some(cycle) => path.extend(cycle),
                None => {
                    return Outcome::Unknown(
                        "the counterexample's loop could not be rebuilt".into(),
                    );
                }
            }
        }
        let mut trace = match trace_from_path(model, starts, init, &path) {
            Ok(trace) => trace,
            Err(error) => {
                return Outcome::Unknown(format!("the trace could not be replayed: {error}"));
            }
        };
        trace.loop_start = looping.then_some(loop_start);
        let what = if looping {
            format!("loops forever{}", self.fair_to())
        } else if self.edges_of(members[0]).iter().all(|e| e.to == members[0]) {
            "ends (no step changes the state)".to_string()
        } else {
            "stops (stutters for ever where no fair action is enabled)".to_string()
        };
        let detail = match property.expectation {
            Expectation::LeadsTo => format!(
                "the trigger holds {}, then an execution {what} without reaching the condition",
                at_step(oblige_at)
            ),
            Expectation::AlwaysEventually => format!(
                "{}, an execution {what} without reaching it",
                from_step(oblige_at)
            ),
            _ => format!("an execution {what} without reaching it"),
        };
        Outcome::Violated { trace, detail }
    }

    fn fair_to(&self) -> String {
        if self.fairness.is_empty() {
            return String::new();
        }
        let list: Vec<String> = self.fairness.iter().map(ToString::to_string).collect();
        format!(", fair to {}", list.join(", "))
    }

    /// Whether an execution may stay in `v` for ever: no step changes it, or
    /// stuttering is allowed and no fair action is enabled there.
    fn stops(&self, v: u32) -> bool {
        self.expanded[v as usize]
            && (self.edges_of(v).iter().all(|e| e.to == v)
                || (self.may_stutter && self.enabled(v).is_empty()))
    }

    /// The state `target` admits nearest to `sources` through states
    /// `region` admits, with the source it is reached from.
    fn nearest(
        &self,
        sources: &[u32],
        region: impl Fn(u32) -> bool,
        target: impl Fn(u32) -> bool,
    ) -> Option<(u32, u32)> {
        let mut root_of: HashMap<u32, u32> = HashMap::new();
        let mut queue = VecDeque::new();
        for &s in sources {
            if root_of.contains_key(&s) {
                continue;
            }
            if target(s) {
                return Some((s, s));
            }
            root_of.insert(s, s);
            queue.push_back(s);
        }
        while let Some(v) = queue.pop_front() {
            let root = root_of[&v];
            for edge in self.edges_of(v) {
                let w = edge.to;
                if w == v || !region(w) || root_of.contains_key(&w) {
                    continue;
                }
                if target(w) {
                    return Some((root, w));
                }
                root_of.insert(w, root);
                queue.push_back(w);
            }
        }
        None
    }

    /// Tarjan's algorithm over the states `allowed` admits, from `roots` in
    /// order, ignoring stuttering steps. Calls `on_component(root, members)`
    /// for each component as it completes (the root it was reached from),
    /// and stops at the first `Some`.
    fn components<T>(
        &self,
        roots: impl Iterator<Item = u32>,
        allowed: impl Fn(u32) -> bool,
        mut on_component: impl FnMut(u32, &[u32]) -> Option<T>,
    ) -> Option<T> {
        // Per visited state: (index, lowlink, on stack).
        let mut marks: HashMap<u32, (u32, u32, bool)> = HashMap::new();
        let mut stack: Vec<u32> = Vec::new();
        let mut next = 0u32;
        for root in roots {
            if marks.contains_key(&root) || !allowed(root) {
                continue;
            }
            let mut calls: Vec<(u32, usize)> = vec![(root, 0)];
            marks.insert(root, (next, next, true));
            next += 1;
            stack.push(root);
            while let Some(&(v, pos)) = calls.last() {
                let edges = self.edges_of(v);
                if let Some(edge) = edges.get(pos) {
                    if let Some(top) = calls.last_mut() {
                        top.1 += 1;
                    }
                    let w = edge.to;
                    if w == v || !allowed(w) {
                        continue;
                    }
                    match marks.get(&w).copied() {
                        None => {
                            marks.insert(w, (next, next, true));
                            next += 1;
                            stack.push(w);
                            calls.push((w, 0));
                        }
                        Some((index, _, true)) => {
                            if let Some(m) = marks.get_mut(&v) {
                                m.1 = m.1.min(index);
                            }
                        }
                        Some(_) => {}
                    }
                    continue;
                }
                calls.pop();
                let (index, low, _) = marks[&v];
                if let Some(&(u, _)) = calls.last()
                    && let Some(m) = marks.get_mut(&u)
                {
                    m.1 = m.1.min(low);
                }
                if low == index {
                    let mut members = Vec::new();
                    while let Some(w) = stack.pop() {
                        if let Some(m) = marks.get_mut(&w) {
                            m.2 = false;
                        }
                        members.push(w);
                        if w == v {
                            break;
                        }
                    }
                    members.sort_unstable();
                    if let Some(found) = on_component(root, &members) {
                        return Some(found);
                    }
                }
            }
        }
        None
    }

    /// The part of component `members` a fair execution can stay in forever,
    /// if any (see the module's documentation).
    fn fair_part(&self, members: &[u32]) -> Option<Vec<u32>> {
        if members.len() < 2 {
            // A single state's only loop is a stutter.
            return None;
        }
        let inside: HashSet<u32> = members.iter().copied().collect();
        let mut enabled: HashMap<u32, usize> = HashMap::new();
        let mut taken: HashSet<u32> = HashSet::new();
        let mut enabled_at: HashMap<u32, Vec<u32>> = HashMap::new();
        for &v in members {
            let here = self.enabled(v);
            for &l in &here {
                *enabled.entry(l).or_default() += 1;
            }
            enabled_at.insert(v, here);
            for e in self.edges_of(v) {
                if e.to != v && e.label != NONE && inside.contains(&e.to) {
                    taken.insert(e.label);
                }
            }
        }
        let mut unfair: Vec<u32> = Vec::new();
        for (&label, &count) in &enabled {
            if taken.contains(&label) {
                continue;
            }
            match self.kinds[label as usize] {
                FairnessKind::Weak if count == members.len() => return None,
                FairnessKind::Weak => {}
                FairnessKind::Strong => unfair.push(label),
            }
        }
        if unfair.is_empty() {
            return Some(members.to_vec());
        }
        let keep: HashSet<u32> = members
            .iter()
            .copied()
            .filter(|v| !enabled_at[v].iter().any(|l| unfair.contains(l)))
            .collect();
        let mut roots: Vec<u32> = keep.iter().copied().collect();
        roots.sort_unstable();
        self.components(
            roots.into_iter(),
            |w| keep.contains(&w),
            |_, sub| self.fair_part(sub),
        )
    }

    /// A loop from `entry` back to it inside `set` that takes every fair
    /// action with a step inside `set` and, for a weakly fair action
    /// without one, visits a state where it is disabled.
    fn fair_loop(&self, entry: u32, set: &HashSet<u32>) -> Option<Vec<usize>> {
        let inside = |v: u32| set.contains(&v);
        let mut members: Vec<u32> = set.iter().copied().collect();
        members.sort_unstable();
        // Each member's enabled fair labels, computed once.
        let enabled: HashMap<u32, Vec<u32>> =
            members.iter().map(|&v| (v, self.enabled(v))).collect();
        let disabled_at = |v: u32, label: u32| enabled.get(&v).is_none_or(|l| !l.contains(&label));
        let mut obligations: Vec<u32> = enabled.values().flatten().copied().collect();
        obligations.sort_unstable();
        obligations.dedup();
        let mut path: Vec<usize> = Vec::new();
        let mut visited: HashSet<u32> = HashSet::from_iter([entry]);
        let mut taken: HashSet<u32> = HashSet::new();
        let mut cur = entry;
        let follow = |from: u32,
                      steps: &[usize],
                      visited: &mut HashSet<u32>,
                      taken: &mut HashSet<u32>|
         -> u32 {
            let mut at = from;
            for &k in steps {
                let edge = self.edges_of(at)[k];
                taken.insert(edge.label);
                visited.insert(edge.to);
                at = edge.to;
            }
            at
        };
        for label in obligations {
            let weak = self.kinds[label as usize] == FairnessKind::Weak;
            if taken.contains(&label) || (weak && visited.iter().any(|&v| disabled_at(v, label))) {
                continue;
            }
            let step_inside = |v: u32| {
                self.edges_of(v)
                    .iter()
                    .position(|e| e.label == label && e.to != v && inside(e.to))
            };
            let steps = if members.iter().any(|&v| step_inside(v).is_some()) {
                let (mut steps, at) = self.bfs(cur, |v| step_inside(v).is_some(), inside, false)?;
                steps.push(step_inside(at)?);
                steps
            } else {
                self.bfs(cur, |v| disabled_at(v, label), inside, false)?.0
            };
            cur = follow(cur, &steps, &mut visited, &mut taken);
            path.extend(steps);
        }
        let (back, _) = self.bfs(cur, |v| v == entry, inside, true)?;
        path.extend(back);
        Some(path)
    }

    /// The shortest path (successor indices) from `from` to a state
    /// `target` admits, through states `allowed` admits, without
    /// stuttering; with `step`, at least one step long.
    fn bfs(
        &self,
        from: u32,
        target: impl Fn(u32) -> bool,
        allowed: impl Fn(u32) -> bool,
        step: bool,
    ) -> Option<(Vec<usize>, u32)> {
        if !step && target(from) {
            return Some((Vec::new(), from));
        }
        let mut parents: HashMap<u32, (u32, usize)> = HashMap::new();
        let mut queue = VecDeque::from([from]);
        let mut seen: HashSet<u32> = HashSet::from_iter([from]);
        while let Some(v) = queue.pop_front() {
            for (k, edge) in self.edges_of(v).iter().enumerate() {
                let w = edge.to;
                if w == v || !allowed(w) {
                    continue;
                }
                if target(w) {
                    let mut steps = vec![k];
                    let mut at = v;
                    while at != from {
                        let (p, pk) = parents[&at];
                        steps.push(pk);
                        at = p;
                    }
                    steps.reverse();
                    return Some((steps, w));
                }
                if seen.insert(w) {
                    parents.insert(w, (v, k));
                    queue.push_back(w);
                }
            }
        }
        None
    }

    /// The start index and successor path of the breadth-first tree's path
    /// to `v`.
    fn path_to(&self, v: u32) -> (usize, Vec<usize>) {
        let mut path = Vec::new();
        let mut at = v;
        loop {
            let (parent, k) = self.parent[at as usize];
            if parent == NONE {
                path.reverse();
                return (k as usize, path);
            }
            path.push(k as usize);
            at = parent;
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::explore::liveness;

    /// A random directed graph over `n` states; the goal is every state
    /// whose number is a multiple of `goal_every`.
    struct Random {
        successors: Vec<Vec<u8>>,
        goal_every: u8,
    }

    impl Model for Random {
        type State = u8;
        type Action = u8;
        fn init_states(&self) -> Vec<u8> {
            vec![1]
        }
        fn actions(&self, s: &u8, actions: &mut Vec<u8>) {
            actions.extend(&self.successors[*s as usize]);
        }
        fn next_state(&self, _: &u8, to: &u8) -> Result<Option<u8>, crate::model::StepError> {
            Ok(Some(*to))
        }
        fn properties(&self) -> Vec<Property<Self>> {
            let every = self.goal_every;
            vec![Property::eventually("goal", move |_, s| s % every == 0)]
        }
    }

    /// Without fairness, the graph check and the plain lasso search agree
    /// on `eventually`, over many random graphs with loops, dead ends and
    /// self-loops.
    #[test]
    fn without_fairness_the_graph_check_agrees_with_the_lasso_search() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let limits = Limits {
            max_depth: None,
            max_states: None,
            deadline: None,
        };
        let (mut held, mut failed) = (0, 0);
        for _ in 0..400 {
            let n = rng.random_range(2..12u8);
            let model = Random {
                successors: (0..n)
                    .map(|_| {
                        let k = rng.random_range(0..3);
                        (0..k).map(|_| rng.random_range(0..n)).collect()
                    })
                    .collect(),
                goal_every: rng.random_range(3..7),
            };
            let starts = model.init_states();
            let property = &model.properties()[0];
            let graph = Graph::build(&model, &starts, &[property], &limits);
            let fair = graph.check(&model, &starts, 0, property);
            let plain = liveness::check(&model, &starts, property, false, &limits);
            match (fair, plain) {
                (Outcome::Holds, Outcome::Holds) => held += 1,
                (Outcome::Violated { trace: a, .. }, Outcome::Violated { trace: b, .. }) => {
                    // Both are counterexamples; each must be one.
                    for trace in [a, b] {
                        let states: Vec<u8> = std::iter::once(1)
                            .chain(trace.path.iter().scan(1u8, |s, &k| {
                                *s = model.successors[*s as usize][k];
                                Some(*s)
                            }))
                            .collect();
                        assert!(states.iter().all(|s| s % model.goal_every != 0));
                        if let Some(start) = trace.loop_start {
                            assert_eq!(states[start], states[states.len() - 1]);
                        }
                    }
                    failed += 1;
                }
                (a, b) => panic!(
                    "verdicts differ on {:?} (goal every {}): graph {}, lasso search {}",
                    model.successors,
                    model.goal_every,
                    name(&a),
                    name(&b)
                ),
            }
        }
        // Both verdicts occur often enough for the agreement to mean something.
        assert!(held > 50 && failed > 50, "held {held}, failed {failed}");
    }

    fn name(outcome: &Outcome) -> &'static str {
        match outcome {
            Outcome::Holds => "holds",
            Outcome::Violated { .. } => "violated",
            Outcome::Unknown(_) => "unknown",
        }
    }
}
