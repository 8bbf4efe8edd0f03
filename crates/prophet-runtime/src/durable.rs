//! Durable state on disk: one checksummed file per node.
//!
//! The executor calls [`DurableStore::store`] after a handler changed the
//! node's durable value and *before* any message that handler sent leaves the
//! node, so a Paxos acceptor never answers a promise it could forget. A write
//! goes to a temporary file which is synced, renamed over the old one, and the
//! directory synced, so a crash leaves either the old or the new value. A file
//! that is torn or corrupt anyway (bad disk, manual edit) fails its checksum
//! and is reported as an error, never used: silently restarting from nothing
//! would break exactly the promises this file exists to keep.
//!
//! Layout: `MAGIC` (8 bytes) ‖ payload length (u64 LE) ‖ CRC-32 of payload
//! (u32 LE) ‖ payload (postcard of the node's `Durable` value).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// First bytes of every durable file (format version 1).
pub const MAGIC: &[u8; 8] = b"PRPHDUR1";

const HEADER_BYTES: usize = 8 + 8 + 4;

/// Largest payload accepted when reading (64 MiB): a bigger length field is corruption.
pub const PAYLOAD_BYTES_MAX: u64 = 64 << 20;

/// Why durable state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DurableError {
    /// The file system refused.
    #[error("durable state {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file exists but is not a valid, complete durable record.
    #[error(
        "durable state {path} is corrupt: {reason}; refusing to start from it (move it away to start this node from scratch, losing its promises)"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The durable file of one node.
#[derive(Debug)]
pub struct DurableStore {
    path: PathBuf,
    last: Option<Vec<u8>>,
    writes: u64,
}

impl DurableStore {
    /// The store of node `id` under `dir` (created if missing).
    pub fn open(dir: &Path, id: u32) -> Result<DurableStore, DurableError> {
        fs::create_dir_all(dir).map_err(|source| DurableError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(DurableStore {
            path: dir.join(format!("node-{id}.durable")),
            last: None,
            writes: 0,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Completed writes since opening.
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// Reads the stored value: `Ok(None)` when no file exists yet.
    pub fn load<D: DeserializeOwned>(&mut self) -> Result<Option<D>, DurableError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(DurableError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let payload = parse(&bytes).map_err(|reason| DurableError::Corrupt {
            path: self.path.clone(),
            reason,
        })?;
        let value = postcard::from_bytes(payload).map_err(|e| DurableError::Corrupt {
            path: self.path.clone(),
            reason: format!("checksum matches but the value does not decode: {e}"),
        })?;
        self.last = Some(payload.to_vec());
        Ok(Some(value))
    }

    /// Whether `payload` differs from what is on disk (so a write is needed).
    pub fn is_new(&self, payload: &[u8]) -> bool {
        self.last.as_deref() != Some(payload)
    }

    /// Writes `payload` durably (file and directory synced) unless it is
    /// what the file already holds.
    pub fn store(&mut self, payload: &[u8]) -> Result<(), DurableError> {
        if !self.is_new(payload) {
            return Ok(());
        }
        let io = |source| DurableError::Io {
            path: self.path.clone(),
            source,
        };
        let tmp = self.path.with_extension("durable.tmp");
        let mut record = Vec::with_capacity(HEADER_BYTES + payload.len());
        record.extend_from_slice(MAGIC);
        record.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        record.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        record.extend_from_slice(payload);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io)?;
        file.write_all(&record).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        self.last = Some(payload.to_vec());
        self.writes += 1;
        Ok(())
    }
}

/// Checks a record and returns its payload.
fn parse(bytes: &[u8]) -> Result<&[u8], String> {
    if bytes.len() < HEADER_BYTES {
        return Err(format!(
            "{} bytes is shorter than the {HEADER_BYTES}-byte header (torn write?)",
            bytes.len()
        ));
    }
    if &bytes[..8] != MAGIC {
        return Err(
            "wrong magic bytes (not a Prophet durable file, or another format version)".into(),
        );
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[8..16]);
    let len = u64::from_le_bytes(len);
    if len > PAYLOAD_BYTES_MAX {
        return Err(format!(
            "declared payload of {len} bytes is over the {PAYLOAD_BYTES_MAX}-byte limit"
        ));
    }
    let payload = &bytes[HEADER_BYTES..];
    if payload.len() as u64 != len {
        return Err(format!(
            "payload is {} bytes but the header says {len} (torn write?)",
            payload.len()
        ));
    }
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[16..20]);
    if crc32fast::hash(payload) != u32::from_le_bytes(crc) {
        return Err("checksum mismatch".into());
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("prophet-durable-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_stored_value_survives_reopening() {
        let dir = temp_dir("roundtrip");
        let mut store = DurableStore::open(&dir, 3).expect("open");
        assert_eq!(store.load::<(u64, String)>().expect("no file"), None);
        let value = (7u64, "promise".to_string());
        store
            .store(&postcard::to_allocvec(&value).expect("encode"))
            .expect("store");
        store
            .store(&postcard::to_allocvec(&value).expect("encode"))
            .expect("unchanged");
        assert_eq!(store.writes(), 1, "an unchanged value is not rewritten");
        let mut again = DurableStore::open(&dir, 3).expect("open");
        assert_eq!(again.load::<(u64, String)>().expect("valid"), Some(value));
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn torn_and_corrupt_files_are_errors_never_values() {
        let dir = temp_dir("corrupt");
        let mut store = DurableStore::open(&dir, 0).expect("open");
        store
            .store(&postcard::to_allocvec(&(42u64, 9u64)).expect("encode"))
            .expect("store");
        let good = fs::read(store.path()).expect("read");
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            ("torn header", good[..10].to_vec()),
            ("torn payload", good[..good.len() - 1].to_vec()),
            ("flipped payload bit", {
                let mut b = good.clone();
                let last = b.len() - 1;
                b[last] ^= 1;
                b
            }),
            ("flipped checksum", {
                let mut b = good.clone();
                b[17] ^= 0x80;
                b
            }),
            ("wrong magic", {
                let mut b = good.clone();
                b[0] = b'X';
                b
            }),
            ("huge length", {
                let mut b = good.clone();
                b[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
                b
            }),
        ];
        for (name, bytes) in cases {
            fs::write(store.path(), &bytes).expect("write");
            let mut reopened = DurableStore::open(&dir, 0).expect("open");
            match reopened.load::<(u64, u64)>() {
                Err(DurableError::Corrupt { .. }) => {}
                other => panic!("{name}: expected a corruption error, got {other:?}"),
            }
        }
        // A valid checksum over a payload of the wrong type is also refused.
        let mut other = DurableStore::open(&dir, 1).expect("open");
        other.store(&[1]).expect("store");
        let mut typed = DurableStore::open(&dir, 1).expect("open");
        assert!(matches!(
            typed.load::<(u64, u64)>(),
            Err(DurableError::Corrupt { .. })
        ));
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
