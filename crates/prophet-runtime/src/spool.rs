//! Messages that wait for a peer beyond what a link's in-memory queue
//! holds, for systems whose network semantics promise delivery: appended to
//! a file (or, for nodes kept in memory only, to a buffer), read back in
//! order as the peer drains the queue, under a byte budget.
//!
//! A node never waits for a slow or unreachable peer: what does not fit in
//! the queue goes here, and what does not fit here stops the sending node
//! with [`SpoolError::Full`] (a fail-stop the operator sees) rather than
//! drop a message the protocol relies on.
//!
//! Record layout: body length (u32 LE) ‖ departure (u64 LE, milliseconds
//! after [`epoch`], or `u64::MAX` for "at once") ‖ body (postcard of the
//! message). The file is truncated whenever it has been read to its end,
//! and removed when the spool is dropped; a spool left by a process that
//! crashed is removed at start (its messages are lost as the crashed
//! process's queues are).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::time::Instant;

/// A spooled message: when it may leave, and its body.
pub type Record = (Option<Instant>, Vec<u8>);

/// Bytes of a record's header.
const HEADER_BYTES: usize = 4 + 8;

/// Why a message could not be spooled.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The budget is spent: the peer has not taken `bytes` bytes of messages.
    #[error(
        "{bytes} bytes of messages wait for a peer that does not take them (limits.spool_bytes = {limit})"
    )]
    Full {
        /// Bytes waiting.
        bytes: u64,
        /// The budget.
        limit: u64,
    },
    /// The file system refused.
    #[error("spool {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The instant departures are counted from (the first use in this process).
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn encode_at(at: Option<Instant>) -> u64 {
    at.map_or(u64::MAX, |at| {
        u64::try_from(at.saturating_duration_since(epoch()).as_millis()).unwrap_or(u64::MAX - 1)
    })
}

fn decode_at(ms: u64) -> Option<Instant> {
    (ms != u64::MAX).then(|| epoch() + Duration::from_millis(ms))
}

enum Store {
    /// A file: records from `read` to `write`.
    File {
        file: File,
        path: PathBuf,
        read: u64,
        write: u64,
    },
    /// In memory (no data directory).
    Memory(VecDeque<(u64, Vec<u8>)>),
}

/// One link's spool.
pub struct Spool {
    /// `None` until first used (no file exists before).
    store: Option<Store>,
    /// Where the file goes when it is made (`None`: in memory).
    path: Option<PathBuf>,
    limit: u64,
    bytes: u64,
    count: usize,
}

impl Spool {
    /// A spool kept in file `path` (created on first use; a stale one is
    /// removed now), or in memory when `path` is `None`, holding at most
    /// `limit` bytes.
    pub fn new(path: Option<PathBuf>, limit: u64) -> Spool {
        if let Some(path) = &path {
            let _ = std::fs::remove_file(path);
        }
        Spool {
            store: None,
            path,
            limit,
            bytes: 0,
            count: 0,
        }
    }

    /// Whether nothing waits here.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Bytes waiting (records, headers included).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
        move |source| SpoolError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The store for a first record: a new file at `path`, or memory.
    fn open(path: Option<PathBuf>) -> Result<Store, SpoolError> {
        let Some(path) = path else {
            return Ok(Store::Memory(VecDeque::new()));
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(Self::io(dir))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(Self::io(&path))?;
        Ok(Store::File {
            file,
            path,
            read: 0,
            write: 0,
        })
    }

    /// Appends a message body that may leave at `at`.
    pub fn push(&mut self, at: Option<Instant>, body: &[u8]) -> Result<(), SpoolError> {
        let size = (HEADER_BYTES + body.len()) as u64;
        if self.bytes + size > self.limit {
            return Err(SpoolError::Full {
                bytes: self.bytes + size,
                limit: self.limit,
            });
        }
        let len = u32::try_from(body.len()).map_err(|_| SpoolError::Full {
            bytes: size,
            limit: self.limit,
        })?;
        let store = match &mut self.store {
            Some(store) => store,
            None => self.store.insert(Self::open(self.path.take())?),
        };
        match store {
            Store::Memory(records) => records.push_back((encode_at(at), body.to_vec())),
            Store::File {
                file, path, write, ..
            } => {
                let mut record = Vec::with_capacity(HEADER_BYTES + body.len());
                record.extend_from_slice(&len.to_le_bytes());
                record.extend_from_slice(&encode_at(at).to_le_bytes());
                record.extend_from_slice(body);
                file.write_all_at(&record, *write).map_err(Self::io(path))?;
                *write += size;
            }
        }
        self.bytes += size;
        self.count += 1;
        Ok(())
    }

    /// Takes the oldest message: its departure and body.
    pub fn pop(&mut self) -> Result<Option<Record>, SpoolError> {
        if self.count == 0 {
            return Ok(None);
        }
        let (at, body) = match &mut self.store {
            None => return Ok(None),
            Some(Store::Memory(records)) => match records.pop_front() {
                Some(record) => record,
                None => return Ok(None),
            },
            Some(Store::File {
                file,
                path,
                read,
                write,
            }) => {
                let mut header = [0u8; HEADER_BYTES];
                file.read_exact_at(&mut header, *read)
                    .map_err(Self::io(path))?;
                let (len, at) = header.split_at(4);
                let len = u32::from_le_bytes(len.try_into().unwrap_or_default()) as usize;
                let at = u64::from_le_bytes(at.try_into().unwrap_or_default());
                let mut body = vec![0u8; len];
                file.read_exact_at(&mut body, *read + HEADER_BYTES as u64)
                    .map_err(Self::io(path))?;
                *read += (HEADER_BYTES + len) as u64;
                if *read == *write {
                    // Read to its end: start the file over.
                    file.set_len(0).map_err(Self::io(path))?;
                    (*read, *write) = (0, 0);
                }
                (at, body)
            }
        };
        self.bytes -= (HEADER_BYTES + body.len()) as u64;
        self.count -= 1;
        Ok(Some((decode_at(at), body)))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(Store::File { path, .. }) = &self.store {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(mut spool: Spool) {
        let now = Instant::now();
        for i in 0..100u32 {
            let at = (i % 3 == 0).then(|| now + Duration::from_millis(u64::from(i)));
            spool.push(at, &i.to_le_bytes()).expect("room");
        }
        assert_eq!((spool.len(), spool.bytes()), (100, 100 * 16));
        for i in 0..50u32 {
            let (at, body) = spool.pop().expect("read").expect("a record");
            assert_eq!(body, i.to_le_bytes());
            assert_eq!(at.is_some(), i % 3 == 0);
        }
        // Interleaved pushes keep the order.
        spool.push(None, b"tail").expect("room");
        let rest: Vec<Vec<u8>> =
            std::iter::from_fn(|| spool.pop().expect("read").map(|(_, b)| b)).collect();
        assert_eq!(rest.len(), 51);
        assert_eq!(rest[0], 50u32.to_le_bytes());
        assert_eq!(rest[50], b"tail");
        assert!(spool.is_empty());
        assert_eq!(spool.bytes(), 0);
    }

    #[test]
    fn records_come_back_in_order_from_memory_and_from_disk() {
        round_trip(Spool::new(None, 1 << 20));
        let dir = std::env::temp_dir().join(format!("prophet-spool-{}", std::process::id()));
        let path = dir.join("link-0-1.spool");
        round_trip(Spool::new(Some(path.clone()), 1 << 20));
        assert!(!path.exists(), "dropped spools remove their file");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_spent_budget_is_an_error_not_a_drop() {
        let mut spool = Spool::new(None, 40);
        spool.push(None, &[0; 8]).expect("20 bytes");
        spool.push(None, &[0; 8]).expect("40 bytes");
        let full = spool.push(None, &[0; 1]).expect_err("over budget");
        assert!(
            matches!(
                full,
                SpoolError::Full {
                    bytes: 53,
                    limit: 40
                }
            ),
            "{full}"
        );
        assert_eq!(spool.len(), 2);
    }
}
