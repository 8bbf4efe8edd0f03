//! A worker's candidate successors between two writes: encoded states in an
//! arena and a sorted index, deduplicated in place while they fit.

use std::sync::atomic::Ordering;

use super::pages::{Format, Writer, record};
use super::{External, PARTITIONS, Run, partition};
use crate::explore::spill::SpillError;
use crate::explore::visited::Fingerprint;
use crate::model::Model;

/// Bytes of one candidate's index entry.
const ENTRY_BYTES: usize = std::mem::size_of::<Entry>();

/// One candidate in a worker's buffer.
#[derive(Clone, Copy)]
pub(super) struct Entry {
    fp: Fingerprint,
    parent: Fingerprint,
    start: u32,
    len: u32,
}

/// A worker's candidate successors: encoded states in an arena and an
/// index, both allocated once at their share of the budget.
pub(super) struct Candidates {
    arena: Vec<u8>,
    pub index: Vec<Entry>,
}

impl Candidates {
    pub fn new(bytes: usize) -> Self {
        Candidates {
            arena: Vec::with_capacity(bytes / 2),
            index: Vec::with_capacity((bytes / 2 / ENTRY_BYTES).max(1)),
        }
    }

    pub fn fits(&self, len: usize) -> bool {
        self.index.len() < self.index.capacity() && self.arena.len() + len <= self.arena.capacity()
    }

    pub fn push(&mut self, fp: Fingerprint, parent: Fingerprint, state: &[u8]) {
        debug_assert!(self.fits(state.len()));
        self.index.push(Entry {
            fp,
            parent,
            start: self.arena.len() as u32,
            len: state.len() as u32,
        });
        self.arena.extend_from_slice(state);
    }

    /// Sorts by fingerprint and keeps the first (smallest parent) of each.
    fn dedup(&mut self) {
        self.index.sort_unstable_by_key(|e| (e.fp, e.parent));
        self.index.dedup_by_key(|e| e.fp);
    }

    /// Drops repeated candidates and, when the arena is over half full,
    /// the bytes only they used; returns whether at least half of both is
    /// free, so that filling the buffer again is worth more than a run.
    pub fn compact(&mut self) -> bool {
        self.dedup();
        if self.arena.len() * 2 > self.arena.capacity() {
            // Move states down in arena order, so that none is overwritten
            // before it has moved.
            self.index.sort_unstable_by_key(|e| e.start);
            let mut packed = 0usize;
            for entry in &mut self.index {
                let (start, len) = (entry.start as usize, entry.len as usize);
                debug_assert!(packed <= start);
                self.arena.copy_within(start..start + len, packed);
                entry.start = packed as u32;
                packed += len;
            }
            self.arena.truncate(packed);
            self.index.sort_unstable_by_key(|e| e.fp);
        }
        self.index.len() * 2 <= self.index.capacity()
            && self.arena.len() * 2 <= self.arena.capacity()
    }

    /// Writes the candidates as a sorted run and empties the buffer.
    pub fn write<M: Model>(&mut self, x: &External<'_, '_, M>) -> Result<Run, SpillError> {
        self.dedup();
        let mut writer = Writer::new(&x.io)?;
        let mut parts = Vec::with_capacity(PARTITIONS);
        let mut rec = Vec::new();
        let mut at = 0;
        for p in 0..PARTITIONS {
            let start = writer.pages.len();
            while let Some(e) = self.index.get(at).filter(|e| partition(e.fp) == p) {
                let state = &self.arena[e.start as usize..(e.start + e.len) as usize];
                record(Format::Candidate, e.fp, e.parent, state, &mut rec);
                writer.push(e.fp, &rec)?;
                at += 1;
            }
            writer.flush()?;
            parts.push(start..writer.pages.len());
        }
        debug_assert_eq!(at, self.index.len());
        self.index.clear();
        self.arena.clear();
        x.runs.fetch_add(1, Ordering::Relaxed);
        Ok(Run {
            paged: writer.finish()?,
            parts,
        })
    }
}
