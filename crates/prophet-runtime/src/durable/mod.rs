//! Durable state on disk: one checksummed file per node, naming its owner.
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
//! The file names the node, cluster and system it belongs to ([`Identity`]),
//! and a node refuses a file that is not its own: a replica started on
//! another node's promises (a swapped volume, a copied `data_dir`, a wrong
//! `--id`) would vote with someone else's memory, which breaks agreement as
//! surely as forgetting. The checksum covers the identity, so a damaged
//! header reads as corruption, never as another owner.
//!
//! Layout (format version 2; integers little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `PRPHDUR2` (its last byte is the format version) |
//! | 8..10 | identity length (u16) |
//! | 10..18 | payload length (u64) |
//! | 18..22 | CRC-32 of every other byte of the file (0..18 and 22..) |
//! | 22.. | identity: node id (u32) ‖ cluster length (u16) ‖ cluster (UTF-8) ‖ system length (u16) ‖ system (UTF-8) |
//! | then | payload: postcard of the node's `Durable` value |
//!
//! Version 1 (`PRPHDUR1` ‖ length ‖ CRC ‖ payload) named no owner; it is
//! refused with its own error rather than trusted.

mod identity;
mod record;
#[cfg(test)]
mod tests;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use identity::mismatch_text;
pub use identity::{Identity, IdentityField};
use record::{ParseError, encode, parse};

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u8 = b'2';

/// First bytes of every durable file of [`FORMAT_VERSION`].
pub const MAGIC: &[u8; 8] = b"PRPHDUR2";

/// Largest payload written or read (64 MiB): a bigger length field is corruption.
pub const PAYLOAD_BYTES_MAX: u64 = 64 << 20;

/// Largest encoded identity (bytes). Cluster ids are at most 64 characters
/// (see `config`) and system names are short, so this is far from reached.
pub const IDENTITY_BYTES_MAX: usize = 1024;

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
    /// The file is valid but belongs to another node, cluster or system.
    #[error(
        "durable state {path} belongs to {found}, not {expected}: {}; refusing to start (check data_dir and the volume mounted there; move the file away only to start this node from scratch, losing its promises)",
        mismatch_text(.found, .expected)
    )]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// Whose the file says it is (boxed, as is `expected`: errors
        /// travel in `Result`s of every runtime function).
        found: Box<Identity>,
        /// Whose this node expected.
        expected: Box<Identity>,
        /// The fields that differ, most global first.
        fields: Vec<IdentityField>,
    },
    /// A file of format version 1, which does not name its owner.
    #[error(
        "durable state {path} is format version 1, which does not say which node, cluster and system it belongs to (this build reads version 2 only); refusing to start on state it cannot attribute (a fresh cluster: delete data_dir; otherwise move the file away to start this node from scratch, losing its promises)"
    )]
    FormatV1 {
        /// The file.
        path: PathBuf,
    },
    /// A file of a format version this build does not know (a newer build wrote it?).
    #[error(
        "durable state {path} is format version {}, which this build does not read (it reads version 2); run the build that wrote it",
        char::from(*.version)
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// The version byte found.
        version: u8,
    },
    /// A value over [`PAYLOAD_BYTES_MAX`] was to be written: refused now,
    /// rather than written and refused at the next start.
    #[error(
        "durable state {path}: a value of {bytes} bytes is over the {PAYLOAD_BYTES_MAX}-byte limit"
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The encoded value's size.
        bytes: usize,
    },
}

/// The durable file of one node.
#[derive(Debug)]
pub struct DurableStore {
    path: PathBuf,
    identity: Identity,
    /// `identity`, encoded once.
    identity_bytes: Vec<u8>,
    last: Option<Vec<u8>>,
    writes: u64,
}

impl DurableStore {
    /// The store of `identity`'s node under `dir` (created if missing), at
    /// `<dir>/node-<id>.durable`.
    ///
    /// # Panics
    /// If the encoded identity is over [`IDENTITY_BYTES_MAX`] (a cluster id
    /// the cluster file would have refused).
    pub fn open(dir: &Path, identity: Identity) -> Result<DurableStore, DurableError> {
        let identity_bytes = identity.encode();
        assert!(
            identity_bytes.len() <= IDENTITY_BYTES_MAX,
            "durable identity of {} bytes is over {IDENTITY_BYTES_MAX}",
            identity_bytes.len()
        );
        fs::create_dir_all(dir).map_err(|source| DurableError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(DurableStore {
            path: dir.join(format!("node-{}.durable", identity.node)),
            identity,
            identity_bytes,
            last: None,
            writes: 0,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whose state this store holds.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Completed writes since opening.
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// Reads the stored value: `Ok(None)` when no file exists yet; an error
    /// when the file is corrupt, of another format version, or another
    /// node's, cluster's or system's.
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
        let corrupt = |reason: String| DurableError::Corrupt {
            path: self.path.clone(),
            reason,
        };
        let record = parse(&bytes).map_err(|e| match e {
            ParseError::Corrupt(reason) => corrupt(reason),
            ParseError::FormatV1 => DurableError::FormatV1 {
                path: self.path.clone(),
            },
            ParseError::Version(version) => DurableError::Version {
                path: self.path.clone(),
                version,
            },
        })?;
        if record.identity != self.identity_bytes.as_slice() {
            let found = Identity::decode(record.identity)
                .map_err(|reason| corrupt(format!("checksum matches but {reason}")))?;
            let fields = found.differences(&self.identity);
            // Equal identities encode equally: differing bytes mean a differing field.
            assert!(!fields.is_empty(), "identity encoding is not canonical");
            return Err(DurableError::Mismatch {
                path: self.path.clone(),
                found: Box::new(found),
                expected: Box::new(self.identity.clone()),
                fields,
            });
        }
        let value = postcard::from_bytes(record.payload).map_err(|e| {
            corrupt(format!(
                "checksum matches but the value does not decode: {e}"
            ))
        })?;
        self.last = Some(record.payload.to_vec());
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
        if payload.len() as u64 > PAYLOAD_BYTES_MAX {
            return Err(DurableError::TooLarge {
                path: self.path.clone(),
                bytes: payload.len(),
            });
        }
        let io = |source| DurableError::Io {
            path: self.path.clone(),
            source,
        };
        let tmp = self.path.with_extension("durable.tmp");
        let record = encode(&self.identity_bytes, payload);
        debug_assert!(
            parse(&record).is_ok_and(|r| r.payload == payload),
            "a record this build writes is one it reads"
        );
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
