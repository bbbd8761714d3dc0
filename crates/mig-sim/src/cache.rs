//! The last state read, kept while its file is unchanged, so that a read of
//! the machine costs one `stat` of the state file rather than a parse of
//! the whole machine.
//!
//! Why a `stat` is enough: every change replaces the state file by an
//! atomic rename of a new file ([`crate::state::StateFile::save`]), so a
//! changed machine is a file with another inode. The cache holds the file
//! it read open, which keeps that inode allocated: no later file can get
//! its number while it is cached. Against a file rewritten in place (by
//! hand, or a test corrupting it) the key also compares size and change
//! times. A change by any other process or handle is therefore seen by the
//! next read, and concurrent clients still see one machine.
//!
//! Reads take no lock (a rename is atomic), so anyone who may read the
//! state file may read the machine; only changes take the write lock.

use crate::state::{FileKey, Lock, MachineState, StateError, StateFile};
use std::fs::File;
use std::sync::{Arc, Mutex};

/// One parsed state and the file it came from.
#[derive(Debug)]
struct Entry {
    key: FileKey,
    /// Held open so that its inode number is not reused (see the module doc).
    _file: File,
    /// As written: host processes are checked for life on each read.
    state: Arc<MachineState>,
}

/// The cache of one machine, shared by the clones of a `SimMachine`.
#[derive(Debug, Default)]
pub struct Cache {
    entry: Mutex<Option<Entry>>,
}

impl Cache {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Entry>> {
        // an entry is replaced whole, so a panic elsewhere cannot leave half of one
        self.entry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The state at `file` as written, from the cache while the file is
    /// the one cached, else read (without a lock) and cached.
    fn raw(&self, file: &StateFile) -> Result<Arc<MachineState>, StateError> {
        let key = file.key();
        let mut slot = self.slot();
        if let (Ok(key), Some(e)) = (&key, slot.as_ref()) {
            if e.key == *key {
                return Ok(e.state.clone());
            }
        }
        *slot = None;
        key?;
        let (st, key, f) = file.read()?;
        let state = Arc::new(st);
        *slot = Some(Entry {
            key,
            _file: f,
            state: state.clone(),
        });
        Ok(state)
    }

    /// The machine now: the cached state, less host processes that exited.
    pub fn state(&self, file: &StateFile) -> Result<Arc<MachineState>, StateError> {
        let st = self.raw(file)?;
        if !st.has_host_processes() {
            return Ok(st);
        }
        let mut live = (*st).clone();
        live.retain_live_processes();
        Ok(Arc::new(live))
    }

    /// [`Cache::state`] under the write lock, owned for changing; removes a
    /// lock file `lock` created when the state is missing or foreign.
    pub fn load_locked(
        &self,
        file: &StateFile,
        lock: &mut Lock,
    ) -> Result<MachineState, StateError> {
        match self.state(file) {
            Ok(st) => Ok(Arc::unwrap_or_clone(st)),
            Err(e) => {
                if matches!(e, StateError::Missing { .. } | StateError::Foreign { .. }) {
                    lock.forget_created();
                }
                Err(e)
            }
        }
    }

    /// Remember `st`, just saved to `file` under the write lock, so the
    /// next read need not parse it again. Not cached if the file cannot be
    /// opened (the next read then reads it).
    pub fn saved(&self, file: &StateFile, _lock: &Lock, st: MachineState) {
        let mut slot = self.slot();
        *slot = File::open(file.path()).ok().and_then(|f| {
            let key = FileKey::of_file(&f)?;
            Some(Entry {
                key,
                _file: f,
                state: Arc::new(st),
            })
        });
    }
}
