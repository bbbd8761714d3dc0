//! The simulated machine's state and its file: locked, atomically replaced,
//! checked on every load.

use mig_model::catalog::{self, GpuModel};
use mig_model::engine::Layout;
use mig_model::ids;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

/// Tag in every state file, so a foreign JSON file is never taken for ours.
pub const FORMAT: &str = "migctl-sim-state";
/// State file layout version.
pub const VERSION: u32 = 1;
/// The driver version the simulator reports (the catalog's measurements
/// were taken with it).
pub const DRIVER_VERSION: &str = "580.159.04";
/// The CUDA driver API version the simulated driver reports, encoded as
/// `nvmlSystemGetCudaDriverVersion` encodes it: 1000 * major + 10 * minor
/// (13.0, what driver 580.159.04 reports).
pub const CUDA_DRIVER_VERSION: i32 = 13000;
/// The NVML version the simulator reports.
pub const NVML_VERSION: &str = "13.580.159.04";

/// PCI bus numbers of a DGX A100's eight GPUs, used for simulated GPUs.
const BUSES: [u32; 8] = [0x07, 0x0F, 0x47, 0x4E, 0x87, 0x90, 0xB7, 0xBD];

/// The whole simulated machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineState {
    pub format: String,
    pub version: u32,
    pub gpus: Vec<SimGpu>,
    #[serde(default)]
    pub processes: Vec<SimProcess>,
    pub next_pid: u32,
    /// Whether managing MIG needs root, as on a real machine where
    /// `/proc/driver/nvidia/capabilities/mig/config` has its default mode
    /// 0400 (the guide's "Device Nodes" section). Off unless `sim init
    /// --root-only` asked for it, so that anyone can try the simulator.
    #[serde(default)]
    pub root_only: bool,
}

/// One simulated GPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimGpu {
    /// Catalog slug.
    pub model: String,
    pub uuid: String,
    pub pci_bus_id: String,
    pub minor: u32,
    /// `nvmlDeviceGetPdi`, input of MIG UUIDs.
    pub pdi: u64,
    pub mig_current: bool,
    pub mig_pending: bool,
    pub layout: Layout,
    /// Modelled sensor readings and modes (`migctl sim set`); absent in older files.
    #[serde(default)]
    pub telemetry: crate::readings::Telemetry,
    /// GPM activity per GPU instance (`migctl sim set --gi`); absent in older files.
    #[serde(default, skip_serializing_if = "crate::readings::GpmState::is_empty")]
    pub gpm: crate::readings::GpmState,
}

/// A simulated process holding a GPU or a MIG device busy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimProcess {
    pub pid: u32,
    pub gpu: u32,
    pub gi: Option<u32>,
    pub ci: Option<u32>,
    pub name: String,
    pub used_memory_mb: u64,
    /// For a live host process (`migctl sim run -- CMD`, `--pid`): its start
    /// time in clock ticks after boot (`/proc/PID/stat` field 22), which
    /// tells it from a later process that reuses the pid. It holds the
    /// device while that process lives; `None` for simulated processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<u64>,
}

/// The start time of live process `pid` (`/proc/PID/stat` field 22), or
/// `None` when no such process runs (zombies count as gone).
pub fn host_start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the command name (field 2) may hold spaces and parentheses
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if matches!(fields.first(), Some(&"Z") | Some(&"X") | None) {
        return None;
    }
    fields.get(19)?.parse().ok()
}

impl SimProcess {
    /// Whether the process still holds its device: simulated ones until
    /// `migctl sim kill`, host ones while the same process lives.
    pub fn is_alive(&self) -> bool {
        self.start_time
            .is_none_or(|t| host_start_time(self.pid) == Some(t))
    }
}

/// Problems with the state file. Each names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: cannot {action}: {source}{}", hint(.source))]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    #[error("{path}: no simulated machine here; create one with `migctl sim init MODEL...`")]
    Missing { path: PathBuf },
    #[error("{path}: not a migctl simulated-machine state file ({why}); refusing to use or overwrite it: `migctl sim init --force MODEL...` replaces it, or set MIGCTL_SIM_STATE to another path")]
    Foreign { path: PathBuf, why: String },
    #[error("{path}: corrupt simulated-machine state: {why}; recreate it with `migctl sim init MODEL...`")]
    Corrupt { path: PathBuf, why: String },
    #[error("unknown GPU model {0:?}; `migctl sim models` lists them")]
    UnknownModel(String),
}

/// What to do about an I/O error on the state path.
fn hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            " (set MIGCTL_SIM_STATE to a path you may write)"
        }
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => {
            " (a directory on the path is missing or is a file; set MIGCTL_SIM_STATE to another path)"
        }
        std::io::ErrorKind::AlreadyExists => {
            " (a file stands where a directory of the path must be; set MIGCTL_SIM_STATE to another path)"
        }
        _ => "",
    }
}

impl SimGpu {
    /// The catalog entry of this GPU (checked when the state was loaded).
    pub fn model(&self) -> &'static GpuModel {
        catalog::model(&self.model).expect("model checked on load")
    }
}

impl MachineState {
    /// A fresh machine: one GPU per (model, mirrored), MIG disabled.
    pub fn new(models: &[(String, bool)]) -> Result<MachineState, StateError> {
        let mut gpus = Vec::new();
        for (i, (slug, mirrored)) in models.iter().enumerate() {
            let m = catalog::model(slug).ok_or_else(|| StateError::UnknownModel(slug.clone()))?;
            let i = i as u32;
            let uuid = ids::sim_gpu_uuid(&m.slug, i);
            let bus = BUSES.get(i as usize).copied().unwrap_or(0xC0 + i);
            gpus.push(SimGpu {
                model: m.slug.clone(),
                pdi: ids::sim_pdi(&uuid),
                uuid,
                pci_bus_id: format!("00000000:{bus:02X}:00.0"),
                minor: i,
                mig_current: false,
                mig_pending: false,
                layout: Layout::new(*mirrored),
                telemetry: Default::default(),
                gpm: Default::default(),
            });
        }
        Ok(MachineState {
            format: FORMAT.into(),
            version: VERSION,
            gpus,
            processes: Vec::new(),
            next_pid: 4100,
            root_only: false,
        })
    }

    /// Parse and check a state file's text.
    pub fn parse(path: &Path, text: &str) -> Result<MachineState, StateError> {
        let value: serde_json::Value =
            // migctl writes state atomically, so a file that is not JSON
            // was never one of its state files
            serde_json::from_str(text).map_err(|e| StateError::Foreign {
                path: path.into(),
                why: format!("it is not JSON: {e}"),
            })?;
        let tag = value.get("format").and_then(|v| v.as_str());
        if tag != Some(FORMAT) {
            return Err(StateError::Foreign {
                path: path.into(),
                why: format!(
                    "its \"format\" is {:?}, expected {FORMAT:?}",
                    tag.unwrap_or("missing")
                ),
            });
        }
        let version = value.get("version").and_then(|v| v.as_u64());
        if version != Some(u64::from(VERSION)) {
            return Err(StateError::Foreign {
                path: path.into(),
                why: match version {
                    Some(v) => {
                        format!("it is state version {v}, this migctl reads version {VERSION}")
                    }
                    None => format!("it has no state version, this migctl reads version {VERSION}"),
                },
            });
        }
        let st: MachineState = serde_json::from_value(value).map_err(|e| StateError::Corrupt {
            path: path.into(),
            why: e.to_string(),
        })?;
        st.check().map_err(|why| StateError::Corrupt {
            path: path.into(),
            why,
        })?;
        Ok(st)
    }

    /// Consistency of a loaded state: known models, rule-abiding layouts,
    /// processes on existing devices.
    fn check(&self) -> Result<(), String> {
        for (i, g) in self.gpus.iter().enumerate() {
            let m = catalog::model(&g.model)
                .ok_or_else(|| format!("GPU {i}: unknown model {:?}", g.model))?;
            if !g.mig_current && !g.layout.gpu_instances.is_empty() {
                return Err(format!("GPU {i}: GPU instances exist with MIG disabled"));
            }
            g.layout.validate(m).map_err(|e| format!("GPU {i}: {e}"))?;
            if self.gpus[..i]
                .iter()
                .any(|h| h.uuid == g.uuid || h.pci_bus_id == g.pci_bus_id)
            {
                return Err(format!("GPU {i}: duplicate UUID or PCI bus ID"));
            }
        }
        for p in &self.processes {
            let g = self
                .gpus
                .get(p.gpu as usize)
                .ok_or_else(|| format!("process {}: no GPU {}", p.pid, p.gpu))?;
            if let (Some(gi), Some(ci)) = (p.gi, p.ci) {
                let ok = g
                    .layout
                    .mig_devices()
                    .any(|(a, b)| a.id.0 == gi && b.id.0 == ci);
                if !ok {
                    return Err(format!("process {}: no MIG device {gi}/{ci}", p.pid));
                }
            }
        }
        Ok(())
    }

    /// Drop host processes that have exited: they free their devices.
    pub fn retain_live_processes(&mut self) {
        self.processes.retain(SimProcess::is_alive);
    }

    /// Whether any process is a live host process, whose life is checked on
    /// every read ([`SimProcess::is_alive`]).
    pub fn has_host_processes(&self) -> bool {
        self.processes.iter().any(|p| p.start_time.is_some())
    }

    /// Processes running on GPU `gpu` (any MIG device of it).
    pub fn processes_on(&self, gpu: u32) -> impl Iterator<Item = &SimProcess> {
        self.processes.iter().filter(move |p| p.gpu == gpu)
    }
}

/// What tells one state file from another without reading it: the inode
/// (a save always makes a new file and renames it into place) and, against
/// a file changed in place by hand, its size and change times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileKey {
    /// The key of an open file; `None` if it cannot be `stat`ed.
    pub(crate) fn of_file(f: &File) -> Option<FileKey> {
        f.metadata().ok().map(|m| FileKey::of(&m))
    }

    fn of(m: &fs::Metadata) -> FileKey {
        use std::os::unix::fs::MetadataExt;
        FileKey {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// The state file and its lock file (`<state>.lock`).
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

/// A held lock; released on drop. A lock file this lock created beside a
/// state file that turned out missing or foreign is removed again, so a
/// refused path is left as it was found.
pub struct Lock {
    _file: File,
    created: Option<PathBuf>,
}

impl Lock {
    pub(crate) fn forget_created(&mut self) {
        if let Some(p) = self.created.take() {
            let _ = fs::remove_file(p);
        }
    }
}

impl StateFile {
    pub fn new(path: impl Into<PathBuf>) -> StateFile {
        StateFile { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, action: &'static str) -> impl Fn(std::io::Error) -> StateError + '_ {
        move |source| StateError::Io {
            path: self.path.clone(),
            action,
            source,
        }
    }

    fn lock_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".lock");
        p.into()
    }

    /// Take the machine's lock: shared for reading, exclusive for updates.
    pub fn lock(&self, exclusive: bool) -> Result<Lock, StateError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(self.io("create its directory"))?;
        }
        let lock_path = self.lock_path();
        let existed = lock_path.exists();
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(self.io("open its lock file"))?;
        if exclusive { f.lock() } else { f.lock_shared() }.map_err(self.io("lock it"))?;
        Ok(Lock {
            _file: f,
            created: (!existed).then_some(lock_path),
        })
    }

    /// [`StateFile::load`], removing a lock file that `lock` created when the
    /// state turns out missing or foreign.
    pub fn load_or_tidy(&self, lock: &mut Lock) -> Result<MachineState, StateError> {
        let r = self.load(lock);
        if matches!(
            r,
            Err(StateError::Missing { .. } | StateError::Foreign { .. })
        ) {
            lock.forget_created();
        }
        r
    }

    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// Read and check the state (caller holds the lock).
    pub fn load(&self, _lock: &Lock) -> Result<MachineState, StateError> {
        let (mut st, _, _) = self.read()?;
        st.retain_live_processes();
        Ok(st)
    }

    /// The identity of the file now at the state path (`stat`), without
    /// reading it; [`StateError::Missing`] when there is none.
    pub fn key(&self) -> Result<FileKey, StateError> {
        match fs::metadata(&self.path) {
            Ok(m) => Ok(FileKey::of(&m)),
            Err(e) => Err(self.read_error(e)),
        }
    }

    fn read_error(&self, e: std::io::Error) -> StateError {
        if e.kind() == std::io::ErrorKind::NotFound {
            StateError::Missing {
                path: self.path.clone(),
            }
        } else {
            self.io("read it")(e)
        }
    }

    /// Read and check the state without any lock: every writer replaces the
    /// file by an atomic rename ([`StateFile::save`]), so an open file is
    /// one whole state, old or new. Returns the state as written (host
    /// processes not yet checked for life), the identity of the file read
    /// and the open file itself.
    pub fn read(&self) -> Result<(MachineState, FileKey, File), StateError> {
        use std::io::Read;
        let mut f = File::open(&self.path).map_err(|e| self.read_error(e))?;
        let key = FileKey::of(&f.metadata().map_err(self.io("read it"))?);
        let mut text = String::new();
        f.read_to_string(&mut text).map_err(self.io("read it"))?;
        Ok((MachineState::parse(&self.path, &text)?, key, f))
    }

    /// Replace the state atomically: write a temporary file beside it, flush
    /// it to disk, rename it over the old one (caller holds the exclusive lock).
    pub fn save(&self, _lock: &Lock, st: &MachineState) -> Result<(), StateError> {
        self.save_with(st, |_, _| Ok(()))
    }

    /// [`StateFile::save`] with a hook that runs after half the new state
    /// is written and before the rename (fault injection: a crash there).
    pub(crate) fn save_with(
        &self,
        st: &MachineState,
        mid_write: impl FnOnce(&mut File, &[u8]) -> std::io::Result<()>,
    ) -> Result<(), StateError> {
        let mut text = serde_json::to_vec_pretty(st).map_err(|e| StateError::Corrupt {
            path: self.path.clone(),
            why: e.to_string(),
        })?;
        text.push(b'\n');
        let mut tmp = self.path.clone().into_os_string();
        // One fixed name: writers hold the exclusive lock, so no two write at
        // once, and a crash leaves at most this one file, replaced next time.
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        mig_atomic::replace_with(&self.path, &tmp, &text, mid_write).map_err(self.io("write it"))
    }
}
