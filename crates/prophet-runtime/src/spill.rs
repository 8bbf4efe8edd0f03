//! The explorer's spill store on disk: what a breadth-first search under a
//! memory budget (`prophet check --max-memory`) keeps outside memory.
//!
//! One file per store file, named by its id, in a directory of the store's
//! own, created empty (a directory left by a run that was killed is
//! reused only after its files are removed) and removed when the store is
//! dropped. Files are opened for each operation and closed after, so a
//! search holding hundreds of files needs no raised descriptor limit;
//! reads and appends use positioned I/O, so threads share nothing but the
//! table of file lengths.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prophet::explore::spill::{FileId, SpillError, SpillStore};

/// A [`SpillStore`] in a directory.
pub struct DiskStore {
    dir: PathBuf,
    next: AtomicU64,
    /// Each live file's length, locked while it is appended to.
    lengths: Mutex<HashMap<FileId, Arc<Mutex<u64>>>>,
}

fn failed(what: &str, path: &Path, error: std::io::Error) -> SpillError {
    SpillError(format!("{what} {}: {error}", path.display()))
}

impl DiskStore {
    /// A store in a new directory `prophet-spill-<pid>` under `parent`
    /// (which must exist), removed when the store is dropped.
    ///
    /// Directories left in `parent` by runs that were killed (their process
    /// no longer exists) are removed first: a killed run cannot remove its
    /// own, and a search that spilled tens of gigabytes should not leave
    /// them for the next one to trip over.
    pub fn new_in(parent: &Path) -> Result<Self, SpillError> {
        remove_abandoned(parent);
        let dir = parent.join(format!("prophet-spill-{}", std::process::id()));
        if dir.exists() {
            // A run with the same process id that did not clean up.
            fs::remove_dir_all(&dir).map_err(|e| failed("cannot clear", &dir, e))?;
        }
        fs::create_dir(&dir).map_err(|e| failed("cannot create", &dir, e))?;
        Ok(DiskStore {
            dir,
            next: AtomicU64::new(0),
            lengths: Mutex::new(HashMap::new()),
        })
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, file: FileId) -> PathBuf {
        self.dir.join(format!("{:08}.run", file.0))
    }

    fn length(&self, file: FileId) -> Result<Arc<Mutex<u64>>, SpillError> {
        self.lengths
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&file)
            .cloned()
            .ok_or_else(|| SpillError(format!("file {} does not exist", file.0)))
    }
}

/// Removes `prophet-spill-<pid>` directories in `parent` whose process is
/// gone (best effort: what cannot be read or removed is left).
fn remove_abandoned(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("prophet-spill-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = Path::new("/proc").join(pid.to_string()).exists();
        if !alive && pid != std::process::id() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

impl SpillStore for DiskStore {
    fn create(&self) -> Result<FileId, SpillError> {
        let file = FileId(self.next.fetch_add(1, Ordering::Relaxed));
        let path = self.path(file);
        File::create_new(&path).map_err(|e| failed("cannot create", &path, e))?;
        self.lengths
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(file, Arc::new(Mutex::new(0)));
        Ok(file)
    }

    fn append(&self, file: FileId, bytes: &[u8]) -> Result<(), SpillError> {
        let length = self.length(file)?;
        let mut length = length.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.path(file);
        let handle = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| failed("cannot open", &path, e))?;
        handle
            .write_all_at(bytes, *length)
            .map_err(|e| failed("cannot write", &path, e))?;
        *length += bytes.len() as u64;
        Ok(())
    }

    fn read_at(&self, file: FileId, offset: u64, buf: &mut [u8]) -> Result<(), SpillError> {
        let length = *self.length(file)?.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.path(file);
        if offset.saturating_add(buf.len() as u64) > length {
            return Err(SpillError(format!(
                "read of {} bytes at {offset} past the end of {} ({length} bytes)",
                buf.len(),
                path.display()
            )));
        }
        let handle = File::open(&path).map_err(|e| failed("cannot open", &path, e))?;
        handle
            .read_exact_at(buf, offset)
            .map_err(|e| failed("cannot read", &path, e))
    }

    fn remove(&self, file: FileId) -> Result<(), SpillError> {
        self.lengths
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&file)
            .ok_or_else(|| SpillError(format!("file {} does not exist", file.0)))?;
        let path = self.path(file);
        fs::remove_file(&path).map_err(|e| failed("cannot remove", &path, e))
    }
}

impl Drop for DiskStore {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_written_read_back_and_removed_with_the_directory() {
        let parent = std::env::temp_dir().join(format!("spill-test-{}", std::process::id()));
        fs::create_dir_all(&parent).unwrap();
        let store = DiskStore::new_in(&parent).unwrap();
        let a = store.create().unwrap();
        store.append(a, b"hello ").unwrap();
        store.append(a, b"disk").unwrap();
        let mut buf = [0; 4];
        store.read_at(a, 6, &mut buf).unwrap();
        assert_eq!(&buf, b"disk");
        assert_eq!(fs::metadata(store.path(a)).unwrap().len(), 10);
        assert!(store.read_at(a, 8, &mut buf).is_err(), "past the end");
        store.remove(a).unwrap();
        assert!(!store.path(a).exists());
        assert!(store.append(a, b"x").is_err(), "removed");
        let dir = store.dir().to_path_buf();
        drop(store);
        assert!(!dir.exists());
        fs::remove_dir_all(&parent).unwrap();
    }

    #[test]
    fn a_killed_runs_directory_is_removed_and_a_live_ones_kept() {
        let parent = std::env::temp_dir().join(format!("spill-abandoned-{}", std::process::id()));
        fs::create_dir_all(&parent).unwrap();
        // No process has a pid this large (the kernel's limit is 2^22).
        let dead = parent.join("prophet-spill-4294967295");
        fs::create_dir_all(&dead).unwrap();
        fs::write(dead.join("00000000.run"), b"left over").unwrap();
        // pid 1 is always alive.
        let live = parent.join("prophet-spill-1");
        fs::create_dir_all(&live).unwrap();
        let other = parent.join("prophet-spill-notes");
        fs::create_dir_all(&other).unwrap();
        let store = DiskStore::new_in(&parent).unwrap();
        assert!(!dead.exists());
        assert!(live.exists());
        assert!(other.exists());
        drop(store);
        fs::remove_dir_all(&parent).unwrap();
    }
}
