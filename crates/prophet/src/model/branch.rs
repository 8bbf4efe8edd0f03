//! Branching on `choose` in the explorer: a handler runs once per leaf of
//! its tree of choice outcomes, each a separate successor.

use crate::model::context::{ChoiceRequest, Chooser};
use crate::model::core::StepError;

/// Replays a fixed prefix of choice outcomes, then picks 0 at each new choice
/// point while recording how many candidates it had. The explorer walks the
/// tree of outcomes with it, one handler execution per leaf.
#[derive(Debug, Default)]
pub struct ScriptChooser {
    pub(crate) script: Vec<usize>,
    counts: Vec<usize>,
    pub(crate) pos: usize,
    pub(crate) divergence: Option<String>,
}

impl ScriptChooser {
    /// A chooser that replays `script` exactly (used for replaying a step).
    pub fn replaying(script: &[usize]) -> Self {
        ScriptChooser {
            script: script.to_vec(),
            counts: Vec::new(),
            pos: 0,
            divergence: None,
        }
    }

    /// The outcomes taken, in call order.
    pub fn script(&self) -> &[usize] {
        &self.script
    }

    fn rewind(&mut self) {
        self.pos = 0;
        self.divergence = None;
    }

    /// Moves to the next leaf of the outcome tree; `false` when done.
    fn advance(&mut self) -> bool {
        self.script.truncate(self.pos);
        self.counts.truncate(self.pos);
        while let Some(&last) = self.script.last() {
            let at = self.script.len() - 1;
            if last + 1 < self.counts[at] {
                self.script[at] = last + 1;
                return true;
            }
            self.script.pop();
            self.counts.pop();
        }
        false
    }
}

impl Chooser for ScriptChooser {
    fn choose(&mut self, request: &ChoiceRequest<'_>) -> usize {
        let (name, candidates) = (request.name, request.candidates());
        let pos = self.pos;
        self.pos += 1;
        if pos < self.script.len() {
            if let Some(&expected) = self.counts.get(pos)
                && expected != candidates
                && self.divergence.is_none()
            {
                self.divergence = Some(format!(
                    "choice \"{name}\" had {expected} candidates and then {candidates} on the same inputs"
                ));
            }
            if self.counts.len() <= pos {
                self.counts.push(candidates);
            }
            // A replayed script may name an outcome the handler no longer offers.
            self.script[pos].min(candidates - 1)
        } else {
            self.script.push(0);
            self.counts.push(candidates);
            0
        }
    }
}

/// Calls `run` once per leaf of the choice tree of a handler execution.
pub(crate) fn for_each_branch(
    mut run: impl FnMut(&mut ScriptChooser) -> Result<(), StepError>,
) -> Result<(), StepError> {
    let mut chooser = ScriptChooser::default();
    loop {
        chooser.rewind();
        run(&mut chooser)?;
        if !chooser.advance() {
            return Ok(());
        }
    }
}

pub(crate) fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}
