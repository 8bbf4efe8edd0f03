//! Where a search under a memory budget keeps what does not fit.
//!
//! The explorer does no I/O: a [`SpillStore`] is handed to it
//! ([`Explorer::spill`](crate::explore::Explorer::spill)). The runtime's
//! `prophet_runtime::spill::DiskStore` keeps the files on disk;
//! [`MemoryStore`] keeps them in memory (tests, and a store that never runs
//! out of disk). Files are append-only byte strings read back at offsets, so
//! a store needs nothing but create, append, read and remove.

use std::sync::Mutex;

/// A file in a [`SpillStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u64);

/// A store operation failed (disk full, file removed under the search, …):
/// the search stops and its report says why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpillError(pub String);

/// Append-only files, written and read from several threads at once (each
/// file is written by one thread at a time; reads may overlap writes to
/// other files).
pub trait SpillStore: Send + Sync {
    /// A new, empty file.
    fn create(&self) -> Result<FileId, SpillError>;
    /// Appends `bytes` to `file`.
    fn append(&self, file: FileId, bytes: &[u8]) -> Result<(), SpillError>;
    /// Fills `buf` from `file` at `offset` (the whole of `buf`, or an error).
    fn read_at(&self, file: FileId, offset: u64, buf: &mut [u8]) -> Result<(), SpillError>;
    /// Removes `file`; its id is not reused.
    fn remove(&self, file: FileId) -> Result<(), SpillError>;
}

/// A [`SpillStore`] in memory: the search's format and merging without a
/// disk, for tests and for budgets that bound only the search's own buffers.
#[derive(Default)]
pub struct MemoryStore {
    files: Mutex<Vec<Option<Vec<u8>>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// Bytes held in files not yet removed.
    pub fn bytes(&self) -> u64 {
        self.lock().iter().flatten().map(|f| f.len() as u64).sum()
    }

    /// Files not yet removed.
    pub fn files(&self) -> usize {
        self.lock().iter().flatten().count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<Vec<u8>>>> {
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn missing(file: FileId) -> SpillError {
    SpillError(format!("file {} does not exist", file.0))
}

impl SpillStore for MemoryStore {
    fn create(&self) -> Result<FileId, SpillError> {
        let mut files = self.lock();
        files.push(Some(Vec::new()));
        Ok(FileId(files.len() as u64 - 1))
    }

    fn append(&self, file: FileId, bytes: &[u8]) -> Result<(), SpillError> {
        let mut files = self.lock();
        let data = files
            .get_mut(file.0 as usize)
            .and_then(Option::as_mut)
            .ok_or_else(|| missing(file))?;
        data.extend_from_slice(bytes);
        Ok(())
    }

    fn read_at(&self, file: FileId, offset: u64, buf: &mut [u8]) -> Result<(), SpillError> {
        let files = self.lock();
        let data = files
            .get(file.0 as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| missing(file))?;
        let start = usize::try_from(offset).map_err(|_| missing(file))?;
        let end = start
            .checked_add(buf.len())
            .filter(|&end| end <= data.len());
        let Some(end) = end else {
            return Err(SpillError(format!(
                "read of {} bytes at {offset} past the end of file {} ({} bytes)",
                buf.len(),
                file.0,
                data.len()
            )));
        };
        buf.copy_from_slice(&data[start..end]);
        Ok(())
    }

    fn remove(&self, file: FileId) -> Result<(), SpillError> {
        let mut files = self.lock();
        let slot = files
            .get_mut(file.0 as usize)
            .ok_or_else(|| missing(file))?;
        slot.take().map(drop).ok_or_else(|| missing(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_files_append_read_and_remove() {
        let store = MemoryStore::new();
        let a = store.create().unwrap();
        let b = store.create().unwrap();
        store.append(a, b"hello ").unwrap();
        store.append(a, b"world").unwrap();
        store.append(b, b"x").unwrap();
        let mut buf = [0; 5];
        store.read_at(a, 6, &mut buf).unwrap();
        assert_eq!(&buf, b"world");
        assert!(store.read_at(a, 7, &mut buf).is_err(), "past the end");
        assert_eq!(store.bytes(), 12);
        store.remove(a).unwrap();
        assert!(store.read_at(a, 0, &mut buf[..1]).is_err());
        assert!(store.remove(a).is_err(), "removed twice");
        assert_eq!(store.files(), 1);
    }
}
