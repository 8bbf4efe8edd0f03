//! A live process's decision log: the same JSON lines `prophet sim
//! --decisions` writes (`prophet::choice::log`), kept two ways. The most
//! recent lines stay in memory for the control plane's `/decisions`
//! endpoint (observer tier); with `[choose] log = true` every line also goes
//! to `<data_dir>/decisions-<node>-<start ms>.jsonl`, written by a thread of
//! its own so that a handler never waits for a disk.
//!
//! Both are bounded: [`RECENT_LINES_MAX`] lines in memory, and
//! [`QUEUED_LINES_MAX`] lines waiting for the writer; a line that finds the
//! queue full is dropped and counted ([`Journal::dropped`]), never waited for.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use prophet::choice::LineRef;
use tracing::warn;

/// Lines the endpoint can serve (the most recent).
pub const RECENT_LINES_MAX: usize = 4096;
/// Lines waiting for the file writer at most.
pub const QUEUED_LINES_MAX: usize = 65_536;

/// One process's decision log.
pub struct Journal {
    recent: Mutex<VecDeque<Arc<str>>>,
    file: Option<SyncSender<(u32, Arc<str>)>>,
    written: AtomicU64,
    dropped: AtomicU64,
}

impl Journal {
    /// A log kept in memory only.
    pub fn in_memory() -> Arc<Journal> {
        Arc::new(Journal {
            recent: Mutex::new(VecDeque::new()),
            file: None,
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        })
    }

    /// A log also written to one file per node under `dir`, named with
    /// `started_ms` so that a restarted node starts a file of its own (its
    /// decisions are numbered from 0 again).
    pub fn to_files(dir: &Path, started_ms: u128) -> std::io::Result<Arc<Journal>> {
        std::fs::create_dir_all(dir)?;
        let (tx, rx) = sync_channel::<(u32, Arc<str>)>(QUEUED_LINES_MAX);
        let dir = dir.to_path_buf();
        std::thread::Builder::new()
            .name("decision-log".into())
            .spawn(move || write_files(&dir, started_ms, rx))?;
        Ok(Arc::new(Journal {
            recent: Mutex::new(VecDeque::new()),
            file: Some(tx),
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }))
    }

    /// Records one line of node `node`.
    pub fn push(&self, node: u32, line: LineRef<'_>) {
        let text: Arc<str> = match serde_json::to_string(&line) {
            Ok(text) => text.into(),
            Err(error) => {
                warn!(%error, "a decision-log line could not be encoded");
                return;
            }
        };
        {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if recent.len() == RECENT_LINES_MAX {
                recent.pop_front();
            }
            recent.push_back(Arc::clone(&text));
            debug_assert!(recent.len() <= RECENT_LINES_MAX);
        }
        self.written.fetch_add(1, Ordering::Relaxed);
        if let Some(tx) = &self.file {
            match tx.try_send((node, text)) {
                Ok(()) => {}
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// The most recent lines, oldest first, as JSON lines.
    pub fn recent(&self) -> String {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::with_capacity(recent.iter().map(|l| l.len() + 1).sum());
        for line in recent.iter() {
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// Lines logged so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Lines the file writer could not take (queue full or writer gone).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The file writer: one file per node, flushed whenever the queue is empty.
fn write_files(dir: &Path, started_ms: u128, rx: std::sync::mpsc::Receiver<(u32, Arc<str>)>) {
    let mut files: std::collections::BTreeMap<u32, BufWriter<File>> = Default::default();
    let path = |node: u32| -> PathBuf { dir.join(format!("decisions-{node}-{started_ms}.jsonl")) };
    let mut failed = false;
    while let Ok((node, line)) = rx.recv() {
        let mut next = Some((node, line));
        while let Some((node, line)) = next.take() {
            let out = match files.entry(node) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => match File::create(path(node)) {
                    Ok(f) => e.insert(BufWriter::new(f)),
                    Err(error) => {
                        if !failed {
                            warn!(%error, file = %path(node).display(), "cannot create the decision log");
                            failed = true;
                        }
                        next = rx.try_recv().ok();
                        continue;
                    }
                },
            };
            if let Err(error) = out
                .write_all(line.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                && !failed
            {
                warn!(%error, file = %path(node).display(), "writing the decision log failed");
                failed = true;
            }
            next = rx.try_recv().ok();
        }
        for out in files.values_mut() {
            let _ = out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prophet::choice::{DecisionRecord, LogLine, OutcomeRecord};

    fn decision(id: u64) -> DecisionRecord {
        DecisionRecord {
            id,
            seed: None,
            t: id as f64,
            node: 2,
            choice: "c".into(),
            policy: "random".into(),
            context: None,
            candidates: vec![1, 2],
            pick: 0,
            propensity: Some(0.5),
            probabilities: vec![0.5, 0.5],
            predicted: vec![],
        }
    }

    #[test]
    fn recent_lines_are_bounded_and_files_get_every_line() {
        let dir = std::env::temp_dir().join(format!("prophet-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let journal = Journal::to_files(&dir, 17).unwrap();
        for id in 0..(RECENT_LINES_MAX as u64 + 10) {
            journal.push(2, LineRef::Decision(&decision(id)));
        }
        let outcome = OutcomeRecord {
            id: 3,
            seed: None,
            t: 9.0,
            node: 2,
            choice: "c".into(),
            cost: 0.1,
            samples: Default::default(),
        };
        journal.push(2, LineRef::Outcome(&outcome));
        let recent = prophet::choice::log::parse_log(&journal.recent()).unwrap();
        assert_eq!(recent.len(), RECENT_LINES_MAX);
        assert_eq!(recent[0], LogLine::Decision(decision(11)));
        assert_eq!(recent.last(), Some(&LogLine::Outcome(outcome)));
        assert_eq!(journal.written(), RECENT_LINES_MAX as u64 + 11);
        assert_eq!(journal.dropped(), 0);
        // The writer thread ends when the journal goes; the file then holds all.
        drop(journal);
        let file = dir.join("decisions-2-17.jsonl");
        let mut lines = 0;
        for _ in 0..200 {
            lines = std::fs::read_to_string(&file).map_or(0, |t| t.lines().count());
            if lines == RECENT_LINES_MAX + 11 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(lines, RECENT_LINES_MAX + 11);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
