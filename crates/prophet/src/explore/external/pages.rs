//! The files of a search under a memory budget: pages of whole records,
//! written once and read back in order, and the accounting of every byte
//! the search holds in memory or keeps in its store.

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::explore::spill::{FileId, SpillError, SpillStore};
use crate::explore::visited::Fingerprint;

/// The store, with what the search holds and has moved.
pub(super) struct Io<'s> {
    store: &'s dyn SpillStore,
    /// Bytes of a page: a reader or writer holds one.
    pub page_bytes: usize,
    buffered: AtomicU64,
    pub buffered_max: AtomicU64,
    stored: AtomicU64,
    pub stored_max: AtomicU64,
    pub written: AtomicU64,
    pub read: AtomicU64,
    /// Files created and not yet removed: all are removed at the end,
    /// whatever stopped the search.
    live: Mutex<hashbrown::HashSet<FileId>>,
}

impl<'s> Io<'s> {
    pub fn new(store: &'s dyn SpillStore, page_bytes: usize) -> Self {
        Io {
            store,
            page_bytes,
            buffered: AtomicU64::new(0),
            buffered_max: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            stored_max: AtomicU64::new(0),
            written: AtomicU64::new(0),
            read: AtomicU64::new(0),
            live: Mutex::new(hashbrown::HashSet::new()),
        }
    }

    pub fn create(&self) -> Result<FileId, SpillError> {
        let file = self.store.create()?;
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(file);
        Ok(file)
    }

    pub fn hold(&self, bytes: usize) {
        let now = self.buffered.fetch_add(bytes as u64, Ordering::Relaxed) + bytes as u64;
        self.buffered_max.fetch_max(now, Ordering::Relaxed);
    }

    pub fn release(&self, bytes: usize) {
        self.buffered.fetch_sub(bytes as u64, Ordering::Relaxed);
    }

    pub fn stored(&self, bytes: u64) {
        let now = self.stored.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.stored_max.fetch_max(now, Ordering::Relaxed);
    }

    pub fn remove(&self, paged: &Paged) -> Result<(), SpillError> {
        self.stored.fetch_sub(paged.bytes, Ordering::Relaxed);
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&paged.file);
        self.store.remove(paged.file)
    }

    /// Reads `page` of `file` into `buf`.
    pub fn load(&self, file: FileId, page: &Page, buf: &mut Vec<u8>) -> Result<(), SpillError> {
        buf.resize(page.len as usize, 0);
        self.store.read_at(file, page.offset, buf)?;
        self.read.fetch_add(u64::from(page.len), Ordering::Relaxed);
        Ok(())
    }

    /// Removes every file not yet removed; the first error, if any.
    pub fn remove_all(&self) -> Result<(), SpillError> {
        let live = std::mem::take(&mut *self.live.lock().unwrap_or_else(|p| p.into_inner()));
        let mut files: Vec<FileId> = live.into_iter().collect();
        files.sort_unstable();
        let mut first = Ok(());
        for file in files {
            if let Err(error) = self.store.remove(file)
                && first.is_ok()
            {
                first = Err(error);
            }
        }
        first
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Page {
    pub offset: u64,
    pub len: u32,
    /// The first record's fingerprint: a sorted file is searched by page.
    pub first: Fingerprint,
}

/// A file of pages, each holding whole records.
#[derive(Debug)]
pub(super) struct Paged {
    pub file: FileId,
    pub pages: Vec<Page>,
    pub bytes: u64,
}

/// The record layouts; every record starts with its fingerprint.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// Fingerprint, parent, state length (u32), state: a candidate.
    Candidate,
    /// Fingerprint, state length, state: a frontier state.
    Frontier,
    /// Fingerprint: a visited run.
    Fingerprint,
    /// Fingerprint and parent: how a level's states were reached.
    Parent,
}

pub(super) fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(word)
}

pub(super) fn u32_at(buf: &[u8], at: usize) -> usize {
    let mut word = [0; 4];
    word.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(word) as usize
}

/// A parsed record: fingerprint, parent (0 where the format has none), the
/// state's bytes, and where the next record starts.
pub(super) fn parse(
    format: Format,
    buf: &[u8],
    at: usize,
) -> (Fingerprint, Fingerprint, Range<usize>, usize) {
    let fp = u64_at(buf, at);
    match format {
        Format::Candidate => {
            let len = u32_at(buf, at + 16);
            let data = at + 20..at + 20 + len;
            (fp, u64_at(buf, at + 8), data.clone(), data.end)
        }
        Format::Frontier => {
            let len = u32_at(buf, at + 8);
            let data = at + 12..at + 12 + len;
            (fp, 0, data.clone(), data.end)
        }
        Format::Fingerprint => (fp, 0, at + 8..at + 8, at + 8),
        Format::Parent => (fp, u64_at(buf, at + 8), at + 16..at + 16, at + 16),
    }
}

/// Encodes a record into `out` (cleared first).
pub(super) fn record(
    format: Format,
    fp: Fingerprint,
    parent: Fingerprint,
    state: &[u8],
    out: &mut Vec<u8>,
) {
    out.clear();
    out.extend_from_slice(&fp.to_le_bytes());
    match format {
        Format::Candidate => {
            out.extend_from_slice(&parent.to_le_bytes());
            out.extend_from_slice(&(state.len() as u32).to_le_bytes());
            out.extend_from_slice(state);
        }
        Format::Frontier => {
            out.extend_from_slice(&(state.len() as u32).to_le_bytes());
            out.extend_from_slice(state);
        }
        Format::Fingerprint => {}
        Format::Parent => out.extend_from_slice(&parent.to_le_bytes()),
    }
}

/// Writes records into pages of a new file.
pub(super) struct Writer<'x, 's> {
    x: &'x Io<'s>,
    file: FileId,
    buf: Vec<u8>,
    first: Fingerprint,
    pub pages: Vec<Page>,
    offset: u64,
}

impl<'x, 's> Writer<'x, 's> {
    pub fn new(x: &'x Io<'s>) -> Result<Self, SpillError> {
        x.hold(x.page_bytes);
        Ok(Writer {
            x,
            file: x.create()?,
            buf: Vec::with_capacity(x.page_bytes),
            first: 0,
            pages: Vec::new(),
            offset: 0,
        })
    }

    pub fn push(&mut self, fp: Fingerprint, record: &[u8]) -> Result<(), SpillError> {
        if !self.buf.is_empty() && self.buf.len() + record.len() > self.x.page_bytes {
            self.flush()?;
        }
        if self.buf.is_empty() {
            self.first = fp;
        }
        self.buf.extend_from_slice(record);
        Ok(())
    }

    /// Ends the current page.
    pub fn flush(&mut self) -> Result<(), SpillError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.x.store.append(self.file, &self.buf)?;
        let len = self.buf.len() as u64;
        self.x.written.fetch_add(len, Ordering::Relaxed);
        self.x.stored(len);
        self.pages.push(Page {
            offset: self.offset,
            len: self.buf.len() as u32,
            first: self.first,
        });
        self.offset += len;
        self.buf.clear();
        Ok(())
    }

    pub fn finish(mut self) -> Result<Paged, SpillError> {
        self.flush()?;
        Ok(Paged {
            file: self.file,
            pages: std::mem::take(&mut self.pages),
            bytes: self.offset,
        })
    }
}

impl Drop for Writer<'_, '_> {
    fn drop(&mut self) {
        self.x.release(self.x.page_bytes);
    }
}

/// Reads the records of some pages of a file in order.
pub(super) struct Reader<'x, 's> {
    x: &'x Io<'s>,
    file: FileId,
    pages: Vec<Page>,
    next_page: usize,
    buf: Vec<u8>,
    at: usize,
    format: Format,
    /// The current record, or `None` at the end.
    head: Option<(Fingerprint, Fingerprint, Range<usize>)>,
}

impl<'x, 's> Reader<'x, 's> {
    pub fn new(
        x: &'x Io<'s>,
        file: FileId,
        pages: &[Page],
        format: Format,
    ) -> Result<Self, SpillError> {
        x.hold(x.page_bytes);
        let mut reader = Reader {
            x,
            file,
            pages: pages.to_vec(),
            next_page: 0,
            buf: Vec::new(),
            at: 0,
            format,
            head: None,
        };
        reader.advance()?;
        Ok(reader)
    }

    pub fn advance(&mut self) -> Result<(), SpillError> {
        if self.at >= self.buf.len() {
            let Some(page) = self.pages.get(self.next_page) else {
                self.head = None;
                return Ok(());
            };
            self.x.load(self.file, page, &mut self.buf)?;
            self.next_page += 1;
            self.at = 0;
        }
        let (fp, parent, data, next) = parse(self.format, &self.buf, self.at);
        self.head = Some((fp, parent, data));
        self.at = next;
        Ok(())
    }

    pub fn fp(&self) -> Option<Fingerprint> {
        self.head.as_ref().map(|h| h.0)
    }

    pub fn data(&self) -> &[u8] {
        self.head.as_ref().map_or(&[], |h| &self.buf[h.2.clone()])
    }
}

impl Drop for Reader<'_, '_> {
    fn drop(&mut self) {
        self.x.release(self.x.page_bytes);
    }
}

/// Merges sorted readers, handing `emit` each fingerprint once, with the
/// smallest parent it was reached from and that record's state bytes.
pub(super) fn merge(
    readers: &mut [Reader<'_, '_>],
    scratch: &mut Vec<u8>,
    mut emit: impl FnMut(Fingerprint, Fingerprint, &[u8]) -> Result<bool, SpillError>,
) -> Result<(), SpillError> {
    loop {
        let mut best: Option<(Fingerprint, Fingerprint, usize)> = None;
        for (i, reader) in readers.iter().enumerate() {
            if let Some((fp, parent, _)) = reader.head
                && best.is_none_or(|(f, p, _)| (fp, parent) < (f, p))
            {
                best = Some((fp, parent, i));
            }
        }
        let Some((fp, parent, i)) = best else {
            return Ok(());
        };
        scratch.clear();
        scratch.extend_from_slice(readers[i].data());
        for reader in readers.iter_mut() {
            while reader.fp() == Some(fp) {
                reader.advance()?;
            }
        }
        if !emit(fp, parent, scratch)? {
            return Ok(());
        }
    }
}

/// Answers "is this fingerprint in the run?" for increasing fingerprints,
/// reading only the pages that could hold them.
pub(super) struct Membership<'p> {
    run: &'p Paged,
    page: Option<usize>,
    buf: Vec<u8>,
    at: usize,
}

impl<'p> Membership<'p> {
    pub fn new(run: &'p Paged) -> Self {
        Membership {
            run,
            page: None,
            buf: Vec::new(),
            at: 0,
        }
    }

    pub fn contains(&mut self, x: &Io<'_>, fp: Fingerprint) -> Result<bool, SpillError> {
        let from = self.page.unwrap_or(0);
        let after = from + self.run.pages[from..].partition_point(|p| p.first <= fp);
        let Some(target) = after.checked_sub(1) else {
            return Ok(false);
        };
        if self.page != Some(target) {
            x.load(self.run.file, &self.run.pages[target], &mut self.buf)?;
            self.page = Some(target);
            self.at = 0;
        }
        while self.at < self.buf.len() {
            let here = u64_at(&self.buf, self.at);
            if here >= fp {
                return Ok(here == fp);
            }
            self.at += 8;
        }
        Ok(false)
    }
}
