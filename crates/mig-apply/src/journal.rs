//! The apply journal: one file recording, per GPU (by UUID), the state
//! before, the plan, and how far it got. It is replaced atomically (a
//! temporary file beside it, flushed, renamed, the directory flushed) before
//! every step, so after a crash it names the step that may have been under
//! way, and the next migctl command can finish the apply or roll it back.
//!
//! Where it lives: `$MIGCTL_JOURNAL` if set; else the caller's choice (the
//! CLI puts the simulator's next to its state file); else
//! `/var/lib/migctl/apply-journal.json` for root, and
//! `$XDG_STATE_HOME/migctl/apply-journal.json` (or
//! `~/.local/state/migctl/apply-journal.json`) for anyone else.

use crate::plan::{MigState, Step};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

/// Tag in every journal, so a foreign file is never taken for one.
pub const FORMAT: &str = "migctl-apply-journal";
/// Journal layout version.
pub const VERSION: u32 = 1;
/// Environment variable naming the journal file.
pub const ENV_JOURNAL: &str = "MIGCTL_JOURNAL";

/// Where a GPU's apply stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Planned, no step started.
    Planned,
    /// Running the plan's steps.
    Applying,
    /// A step failed; running the steps back to `before`.
    RollingBack,
    /// Finishing an interrupted apply: running steps to `after`.
    Finishing,
    /// At `after`.
    Applied,
    /// Back at `before`.
    RolledBack,
    /// Neither: a rollback failed too. The next command tries again.
    Stuck,
}

impl Phase {
    /// Whether nothing is left to do for this GPU.
    pub fn finished(self) -> bool {
        matches!(self, Phase::Applied | Phase::RolledBack)
    }
}

/// One GPU's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuEntry {
    /// `GPU-...`: indices may change across a reboot, UUIDs do not.
    pub uuid: String,
    /// The index at the time, for messages.
    pub index: u32,
    /// Catalog slug.
    pub model: String,
    pub before: MigState,
    pub after: MigState,
    pub phase: Phase,
    /// The steps being run now (the plan's, or a rollback's or a finish's).
    pub steps: Vec<Step>,
    /// How many of `steps` completed; step `done` (0-based) may have been in
    /// flight when the journal was last written.
    pub done: usize,
    /// How many steps of the original plan completed before it stopped.
    #[serde(default)]
    pub plan_done: usize,
    /// How many steps the original plan had.
    #[serde(default)]
    pub plan_len: usize,
    /// Why the apply stopped, if it failed.
    #[serde(default)]
    pub error: Option<String>,
}

/// The whole journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    pub format: String,
    pub version: u32,
    /// Process that wrote it last.
    pub pid: u32,
    /// The command line, for messages.
    pub command: String,
    pub gpus: Vec<GpuEntry>,
}

impl Journal {
    pub fn new(command: &str, gpus: Vec<GpuEntry>) -> Journal {
        Journal {
            format: FORMAT.into(),
            version: VERSION,
            pid: std::process::id(),
            command: command.into(),
            gpus,
        }
    }

    /// Whether some GPU is neither applied nor rolled back.
    pub fn unfinished(&self) -> bool {
        self.gpus.iter().any(|g| !g.phase.finished())
    }
}

/// Problems with the journal file. Each names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a migctl apply journal ({why}); move it away or set {ENV_JOURNAL} to another path")]
    Foreign { path: PathBuf, why: String },
    #[error("{path}: corrupt apply journal: {why}; check the GPUs with `migctl -lgi` and remove the file once they are as wanted")]
    Corrupt { path: PathBuf, why: String },
    #[error("{path}: apply journal version {found} is newer than this migctl understands ({VERSION}); use a newer migctl")]
    Version { path: PathBuf, found: u32 },
}

/// The journal's file.
#[derive(Debug, Clone)]
pub struct JournalFile {
    path: PathBuf,
}

/// A held lock on the journal; applies are serialised by it. Released on drop.
pub struct JournalLock(#[allow(dead_code)] File);

/// The default journal path for a process (see the module doc); `root`
/// says whether it runs as root.
pub fn default_path(fallback: Option<PathBuf>, root: bool) -> PathBuf {
    if let Some(p) = std::env::var_os(ENV_JOURNAL).filter(|p| !p.is_empty()) {
        return p.into();
    }
    if let Some(p) = fallback {
        return p;
    }
    if root {
        return PathBuf::from("/var/lib/migctl/apply-journal.json");
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("migctl").join("apply-journal.json")
}

impl JournalFile {
    pub fn new(path: impl Into<PathBuf>) -> JournalFile {
        JournalFile { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> JournalError {
        JournalError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(suffix);
        p.into()
    }

    /// Take the journal's exclusive lock (one apply at a time).
    pub fn lock(&self) -> Result<JournalLock, JournalError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(self.sibling(".lock"))
            .map_err(|e| self.io(e))?;
        f.lock().map_err(|e| self.io(e))?;
        Ok(JournalLock(f))
    }

    /// The journal, if there is one. A file that is not a journal, or a
    /// damaged one, is an error naming the file, never a panic.
    pub fn load(&self) -> Result<Option<Journal>, JournalError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(e)),
        };
        self.parse(&text).map(Some)
    }

    /// Parse `text` as this file's contents (what [`JournalFile::load`] does
    /// after reading it): any text gives a journal or an error naming the file.
    pub fn parse(&self, text: &str) -> Result<Journal, JournalError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| JournalError::Corrupt {
                path: self.path.clone(),
                why: e.to_string(),
            })?;
        match value.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(JournalError::Foreign {
                    path: self.path.clone(),
                    why: format!("its format is {other:?}"),
                })
            }
            None => {
                return Err(JournalError::Foreign {
                    path: self.path.clone(),
                    why: "it has no \"format\" field".into(),
                })
            }
        }
        match value.get("version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(VERSION) => {}
            Some(v) => {
                return Err(JournalError::Version {
                    path: self.path.clone(),
                    found: u32::try_from(v).unwrap_or(u32::MAX),
                })
            }
            None => {
                return Err(JournalError::Corrupt {
                    path: self.path.clone(),
                    why: "no \"version\" number".into(),
                })
            }
        }
        let j: Journal = serde_json::from_value(value).map_err(|e| JournalError::Corrupt {
            path: self.path.clone(),
            why: e.to_string(),
        })?;
        for g in &j.gpus {
            if g.done > g.steps.len() {
                return Err(JournalError::Corrupt {
                    path: self.path.clone(),
                    why: format!("{}: {} steps done of {}", g.uuid, g.done, g.steps.len()),
                });
            }
        }
        Ok(j)
    }

    /// Replace the journal atomically and durably.
    pub fn write(&self, lock: &JournalLock, j: &Journal) -> Result<(), JournalError> {
        self.put(lock, j, true)
    }

    /// Replace the journal atomically, without flushing it to disk: for the
    /// step counter, written before every step. The plan it counts in was
    /// written durably before the first step, and recovery plans from the
    /// GPU's actual state, so a counter a power cut leaves behind changes
    /// only the count reported; a crashed process leaves it exact.
    pub fn write_progress(&self, lock: &JournalLock, j: &Journal) -> Result<(), JournalError> {
        self.put(lock, j, false)
    }

    fn put(&self, _lock: &JournalLock, j: &Journal, flush: bool) -> Result<(), JournalError> {
        let mut text = serde_json::to_vec_pretty(j).map_err(|e| JournalError::Corrupt {
            path: self.path.clone(),
            why: e.to_string(),
        })?;
        text.push(b'\n');
        let tmp = self.sibling(".tmp");
        if flush {
            mig_atomic::replace(&self.path, &tmp, &text)
        } else {
            mig_atomic::replace_unflushed(&self.path, &tmp, &text)
        }
        .map_err(|e| self.io(e))
    }

    /// Remove the journal once every GPU is finished.
    pub fn remove(&self, _lock: &JournalLock) -> Result<(), JournalError> {
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> (tempfile::TempDir, JournalFile) {
        let d = tempfile::tempdir().unwrap();
        let f = JournalFile::new(d.path().join("j.json"));
        (d, f)
    }

    /// Proves a written journal reads back equal, and a missing one is `None`.
    #[test]
    fn round_trip() {
        let (_d, f) = tmp();
        assert!(f.load().unwrap().is_none());
        let st = MigState {
            mig_current: true,
            mig_pending: true,
            layout: Default::default(),
        };
        let j = Journal::new(
            "apply",
            vec![GpuEntry {
                uuid: "GPU-x".into(),
                index: 0,
                model: "a100-sxm4-40gb".into(),
                before: st.clone(),
                after: st,
                phase: Phase::Applying,
                steps: vec![Step::Reset],
                done: 0,
                plan_done: 0,
                plan_len: 1,
                error: None,
            }],
        );
        let lock = f.lock().unwrap();
        f.write(&lock, &j).unwrap();
        assert_eq!(f.load().unwrap(), Some(j));
        f.remove(&lock).unwrap();
        assert!(f.load().unwrap().is_none());
    }

    /// Proves damaged, foreign, future and inconsistent files are clear
    /// errors naming the file, never panics.
    #[test]
    fn bad_files_are_errors() {
        let (_d, f) = tmp();
        let cases = [
            ("{not json", "corrupt"),
            ("[]", "not a migctl apply journal"),
            (r#"{"format":"other"}"#, "not a migctl apply journal"),
            (r#"{"format":"migctl-apply-journal"}"#, "corrupt"),
            (r#"{"format":"migctl-apply-journal","version":99}"#, "newer"),
            (
                r#"{"format":"migctl-apply-journal","version":1,"pid":1,"command":"x","gpus":[{"uuid":"u"}]}"#,
                "corrupt",
            ),
            (
                r#"{"format":"migctl-apply-journal","version":1,"pid":1,"command":"x","gpus":[{"uuid":"u","index":0,"model":"m","before":{"mig_current":true,"mig_pending":true,"layout":{}},"after":{"mig_current":true,"mig_pending":true,"layout":{}},"phase":"applying","steps":[],"done":3}]}"#,
                "3 steps done of 0",
            ),
            ("", "corrupt"),
        ];
        for (text, want) in cases {
            fs::write(f.path(), text).unwrap();
            let e = f.load().unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(e.contains("j.json"), "{e}");
        }
    }
}
