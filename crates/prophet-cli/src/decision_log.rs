//! `prophet sim --decisions FILE`: the simulator's decisions and outcomes
//! written as a decision log (JSON lines, `prophet::choice::log`), with a
//! per-choice summary of what was written.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use prophet::choice::{ChoiceSummary, LineRef, LogSummary, OutcomeRecord};
use prophet::sim::Observation;

/// Lines a log holds at most; past it the writer stops and says so (a run
/// with a million decisions per simulated minute would otherwise fill a disk).
pub const LOG_LINES_MAX: u64 = 20_000_000;

struct State {
    out: BufWriter<File>,
    summary: LogSummary,
    lines: u64,
    truncated: bool,
    error: Option<std::io::Error>,
}

/// A decision log being written.
pub struct LogWriter {
    path: PathBuf,
    state: Mutex<State>,
}

/// What a finished log holds.
pub struct Written {
    /// Lines written.
    pub lines: u64,
    /// Whether [`LOG_LINES_MAX`] cut it short.
    pub truncated: bool,
    /// Per choice.
    pub choices: BTreeMap<String, ChoiceSummary>,
}

impl LogWriter {
    /// Creates (or empties) `path`.
    pub fn create(path: &Path) -> Result<LogWriter, String> {
        let file = File::create(path)
            .map_err(|e| format!("cannot create the decision log {}: {e}", path.display()))?;
        Ok(LogWriter {
            path: path.to_path_buf(),
            state: Mutex::new(State {
                out: BufWriter::new(file),
                summary: LogSummary::default(),
                lines: 0,
                truncated: false,
                error: None,
            }),
        })
    }

    /// Takes one observation: decisions and outcomes are written.
    pub fn observe(&self, observation: &Observation<'_>) {
        let outcome;
        let line = match observation {
            Observation::Decision(d) => LineRef::Decision(d),
            Observation::Outcome { seed, outcome: o } => {
                outcome = OutcomeRecord::of(o, Some(*seed));
                LineRef::Outcome(&outcome)
            }
            Observation::Message(_) => return,
        };
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.error.is_some() || state.truncated {
            return;
        }
        if state.lines >= LOG_LINES_MAX {
            state.truncated = true;
            return;
        }
        let written = serde_json::to_writer(&mut state.out, &line)
            .map_err(std::io::Error::other)
            .and_then(|()| state.out.write_all(b"\n"));
        match written {
            Ok(()) => {
                state.lines += 1;
                state.summary.add(line);
            }
            Err(e) => state.error = Some(e),
        }
    }

    /// Flushes the file; the first write error, if any, names the file.
    pub fn finish(self) -> Result<Written, String> {
        let mut state = self.state.into_inner().unwrap_or_else(|p| p.into_inner());
        let flushed = state.out.flush();
        if let Some(e) = state.error.take() {
            return Err(format!(
                "writing the decision log {}: {e}",
                self.path.display()
            ));
        }
        flushed.map_err(|e| format!("writing the decision log {}: {e}", self.path.display()))?;
        Ok(Written {
            lines: state.lines,
            truncated: state.truncated,
            choices: state.summary.finish(),
        })
    }
}
