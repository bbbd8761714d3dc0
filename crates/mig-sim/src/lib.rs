//! `mig-sim`: the simulated MIG machine.
//!
//! What it is for: a machine of simulated GPUs whose state lives in one file,
//! so that several processes (migctl, the fake `libnvidia-ml.so.1`, tests) see
//! the same machine. Every operation takes the file's lock, reads the state,
//! applies the MIG engine of `mig-model`, and replaces the file atomically.
//! It also simulates processes that keep MIG devices busy (or registers real
//! ones, [`procs`]), injects faults (`MIGCTL_SIM_FAULT`), writes the machine
//! as a host tree kept current after every change ([`host`]), and shows that
//! tree to a program in a private namespace ([`view`]).
//!
//! What it is not for: MIG rules (they are `mig_model::engine`'s and the
//! state machine `mig_model::mode`'s: this crate persists what they decide)
//! or printing.
#![doc = include_str!("example.md")]

pub mod cache;
mod fault;
pub mod gpm;
pub mod host;
pub mod host_write;
pub mod procs;
pub mod query_readings;
pub mod readings;
pub mod state;
pub mod telemetry;
pub mod view;

pub use fault::{BadFault, Fault, ENV_FAULT};
use mig_model::backend::{
    BackendError, CiInfo, CiProfileStatus, DeviceInfo, GiInfo, GiProfileStatus, GpuIdentity,
    GpuRef, GpuSnapshot, Inventory, LayoutControl, MigDeviceInfo, MigMode, ModeControl, Op,
    ProcessInfo, ProfileQuery,
};
use mig_model::engine::{self, ci_placements, gi_placements};
use mig_model::Placement;
use mig_model::{
    ids, Busy, CiProfileId, ComputeInstanceId, GiProfileId, GpuInstanceId, MigGpu, NvmlError,
};
pub use state::{MachineState, SimGpu, SimProcess, StateError, StateFile};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// Environment variable naming the state file.
pub const ENV_STATE: &str = "MIGCTL_SIM_STATE";

/// Memory in use on an idle GPU instance, MiB: what the simulator reports
/// through `nvmlDeviceGetMemoryInfo` on the handle of any of its MIG devices
/// before a process runs (the compute instances of a GI share its memory). A fact of the simulator, taken from the MIG User Guide's A100
/// status view (`11MiB / 20096MiB` on each idle 3g.20gb device, "Getting
/// Started" section); real boards and drivers differ (the guide's H100
/// capture shows 44 MiB). Processes add their own `used_memory_mb`.
pub const IDLE_MIG_DEVICE_MEMORY_USED_MB: u64 = 11;

/// BAR1 in use on a MIG device, MiB: what the fake `libnvidia-ml.so.1`
/// answers for `nvmlDeviceGetBAR1MemoryInfo` on a MIG handle (nvml-shim's
/// bar1 module), and what nvidia-smi 580 printed over it (`0MiB / 24740MiB`
/// on an H100 3g.40gb, `tests/golden/real-smi/`).
pub const MIG_DEVICE_BAR1_USED_MB: u64 = 0;

/// Where the state lives: `$MIGCTL_SIM_STATE`, else
/// `$XDG_STATE_HOME/migctl/sim-state.json`, else
/// `~/.local/state/migctl/sim-state.json`.
pub fn default_state_path() -> PathBuf {
    if let Some(p) = std::env::var_os(ENV_STATE).filter(|p| !p.is_empty()) {
        return p.into();
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("migctl").join("sim-state.json")
}

/// Whether this process runs as root (effective UID 0), read from
/// `/proc/self/status`; anything unreadable counts as not root.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Why a simulated process could not be started or stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessError {
    #[error("GPU {0} has MIG disabled; start the process without --gi/--ci")]
    MigDisabled(u32),
    #[error("GPU {0} is in MIG mode; name a MIG device with --gi and --ci")]
    MigEnabled(u32),
    #[error("GPU {gpu} has no MIG device with GPU instance {gi} and compute instance {ci} (`migctl -L` lists them)")]
    NoMigDevice { gpu: u32, gi: u32, ci: u32 },
    #[error("no simulated process with pid {0}")]
    NoProcess(u32),
    #[error("process {0} is already registered on a GPU")]
    AlreadyRegistered(u32),
}

/// The simulated machine behind a state file. Clones share the fault
/// counter, so "the Nth mutating operation" counts across them.
#[derive(Debug, Clone)]
pub struct SimMachine {
    file: StateFile,
    fault: Option<Fault>,
    mutations: Arc<AtomicU32>,
    cache: Arc<cache::Cache>,
}

fn state_err(op: Op, gpu: Option<&GpuRef>) -> impl Fn(StateError) -> BackendError + '_ {
    move |e| BackendError::machine(op, gpu.cloned(), e)
}

impl SimMachine {
    /// Open the machine at `path`, with the fault `MIGCTL_SIM_FAULT` names.
    pub fn open(path: impl Into<PathBuf>) -> Result<SimMachine, BadFault> {
        Ok(SimMachine::with_fault(path, Fault::from_env()?))
    }

    /// Open the machine at `path` with this fault (or none), whatever the
    /// environment says.
    pub fn with_fault(path: impl Into<PathBuf>, fault: Option<Fault>) -> SimMachine {
        SimMachine {
            file: StateFile::new(path),
            fault,
            mutations: Arc::new(AtomicU32::new(0)),
            cache: Arc::default(),
        }
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Create a fresh machine, replacing an earlier state at this path (but
    /// never a file that is not ours).
    pub fn init(&self, models: &[(String, bool)]) -> Result<MachineState, StateError> {
        self.init_with(models, false, false)
    }

    /// [`SimMachine::init`]; with `root_only`, MIG management needs root;
    /// with `force`, a file that is not a migctl state file is replaced too.
    pub fn init_with(
        &self,
        models: &[(String, bool)],
        root_only: bool,
        force: bool,
    ) -> Result<MachineState, StateError> {
        let mut st = MachineState::new(models)?;
        st.root_only = root_only;
        let mut lock = self.file.lock(true)?;
        if self.file.exists() && !force {
            match self.file.load_or_tidy(&mut lock) {
                Ok(_) => {}
                // ours, but unreadable: replacing it is what init is for
                Err(StateError::Corrupt { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        self.file.save(&lock, &st)?;
        let _ = host_write::refresh_roots(self.path(), &st);
        Ok(st)
    }

    /// The whole machine's state, read without a lock (see [`cache`]).
    pub fn state(&self) -> Result<MachineState, StateError> {
        self.shared_state().map(Arc::unwrap_or_clone)
    }

    /// [`SimMachine::state`], shared: no copy of the machine is made while
    /// the state file is unchanged since the last read (see [`cache`]).
    pub fn shared_state(&self) -> Result<Arc<MachineState>, StateError> {
        self.cache.state(&self.file)
    }

    /// Run `f` on the state under the exclusive lock and save the result if it
    /// succeeds. Counts as a mutating operation for fault injection when
    /// `counted`.
    fn update<T>(
        &self,
        op: Op,
        gpu: Option<&GpuRef>,
        counted: bool,
        f: impl FnOnce(&mut MachineState) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        let mut lock = match self.file.lock(true) {
            Ok(l) => l,
            Err(e) => return Err(self.refuse_unlocked(op, gpu, counted, e)),
        };
        let mut st = self
            .cache
            .load_locked(&self.file, &mut lock)
            .map_err(state_err(op, gpu))?;
        let n = if counted {
            self.mutations.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            0
        };
        let fail = |code| BackendError::Nvml {
            op,
            gpu: gpu.cloned(),
            code,
        };
        if let Some(Fault::Fail(k, e)) = self.fault {
            if k == n {
                return Err(fail(e));
            }
        }
        if counted && st.root_only && !is_root() {
            return Err(fail(NvmlError::NoPermission));
        }
        let out = f(&mut st)?;
        if let Some(Fault::Abort(k)) = self.fault {
            if k == n {
                let _ = self.file.save_with(&st, |f, _| {
                    f.sync_all()?;
                    std::process::abort()
                });
            }
        }
        self.file.save(&lock, &st).map_err(state_err(op, gpu))?;
        // Host trees follow the change, still under the lock; their errors
        // are recorded in each tree and cannot undo the saved change.
        let _ = host_write::refresh_roots(self.path(), &st);
        self.cache.saved(&self.file, &lock, st);
        Ok(out)
    }

    /// The error of a change that cannot take the write lock: a user who
    /// is not root, on a `--root-only` machine whose files only root may
    /// write, gets NVML's `NO_PERMISSION` for a MIG change, as from the
    /// driver; otherwise the lock's own error.
    fn refuse_unlocked(
        &self,
        op: Op,
        gpu: Option<&GpuRef>,
        counted: bool,
        e: StateError,
    ) -> BackendError {
        let denied = matches!(&e, StateError::Io { source, .. }
            if source.kind() == std::io::ErrorKind::PermissionDenied);
        if denied && counted && !is_root() && self.shared_state().is_ok_and(|st| st.root_only) {
            return BackendError::Nvml {
                op,
                gpu: gpu.cloned(),
                code: NvmlError::NoPermission,
            };
        }
        state_err(op, gpu)(e)
    }

    /// Run `f` on one GPU of the state under the exclusive lock (see
    /// [`SimMachine::update`]); NVML codes `f` returns carry `op` and the GPU.
    fn update_gpu<T>(
        &self,
        op: Op,
        gpu: &GpuRef,
        f: impl FnOnce(&mut MachineState, u32) -> Result<T, NvmlError>,
    ) -> Result<T, BackendError> {
        self.update(op, Some(gpu), true, |st| {
            let index = resolve(st, op, gpu)?;
            f(st, index).map_err(|code| BackendError::nvml(op, gpu.clone(), code))
        })
    }

    fn read<T>(
        &self,
        op: Op,
        gpu: &GpuRef,
        f: impl FnOnce(&MachineState, u32, &SimGpu) -> Result<T, NvmlError>,
    ) -> Result<T, BackendError> {
        let st = self.shared_state().map_err(state_err(op, Some(gpu)))?;
        let index = resolve(&st, op, gpu)?;
        f(&st, index, &st.gpus[index as usize])
            .map_err(|code| BackendError::nvml(op, gpu.clone(), code))
    }

    /// Start a simulated process on MIG device `gi`/`ci` of `gpu` (or on the
    /// whole GPU when `mig` is `None` and MIG is disabled). Returns its pid.
    pub fn start_process(
        &self,
        gpu: &GpuRef,
        mig: Option<(u32, u32)>,
        name: &str,
        used_memory_mb: u64,
    ) -> Result<u32, BackendError> {
        self.add_process(gpu, mig, name, used_memory_mb, None)
    }

    /// Register a process on a MIG device (or a GPU with MIG disabled):
    /// a simulated one (`host` is `None`, the pid is the machine's next), or
    /// a live host process `(pid, start time)` that holds the device until
    /// it exits ([`state::host_start_time`]).
    fn add_process(
        &self,
        gpu: &GpuRef,
        mig: Option<(u32, u32)>,
        name: &str,
        used_memory_mb: u64,
        host: Option<(u32, u64)>,
    ) -> Result<u32, BackendError> {
        let op = Op::StartProcess;
        self.update(op, Some(gpu), false, |st| {
            let index = resolve(st, op, gpu)?;
            let g = &st.gpus[index as usize];
            let refuse = |e: ProcessError| BackendError::machine(op, Some(gpu.clone()), e);
            match mig {
                Some((gi, ci)) => {
                    if !g.mig_current {
                        return Err(refuse(ProcessError::MigDisabled(index)));
                    }
                    if !g
                        .layout
                        .mig_devices()
                        .any(|(a, b)| a.id.0 == gi && b.id.0 == ci)
                    {
                        return Err(refuse(ProcessError::NoMigDevice { gpu: index, gi, ci }));
                    }
                }
                None if g.mig_current => return Err(refuse(ProcessError::MigEnabled(index))),
                None => {}
            }
            let pid = match host {
                Some((pid, _)) if st.processes.iter().any(|p| p.pid == pid) => {
                    return Err(refuse(ProcessError::AlreadyRegistered(pid)))
                }
                Some((pid, _)) => pid,
                None => {
                    st.next_pid += 1;
                    st.next_pid - 1
                }
            };
            st.processes.push(SimProcess {
                pid,
                gpu: index,
                gi: mig.map(|m| m.0),
                ci: mig.map(|m| m.1),
                name: name.to_string(),
                used_memory_mb,
                start_time: host.map(|h| h.1),
            });
            Ok(pid)
        })
    }

    /// End a simulated process.
    pub fn kill_process(&self, pid: u32) -> Result<(), BackendError> {
        let op = Op::StopProcess;
        self.update(op, None, false, |st| {
            let at = st
                .processes
                .iter()
                .position(|p| p.pid == pid)
                .ok_or_else(|| BackendError::machine(op, None, ProcessError::NoProcess(pid)))?;
            st.processes.remove(at);
            Ok(())
        })
    }
}

/// The index of the GPU `gpu` names in `st`.
fn resolve(st: &MachineState, op: Op, gpu: &GpuRef) -> Result<u32, BackendError> {
    let found = match gpu {
        GpuRef::Index(i) => (*i as usize) < st.gpus.len(),
        GpuRef::Uuid(_) => false,
    };
    if found {
        if let GpuRef::Index(i) = gpu {
            return Ok(*i);
        }
    }
    if let GpuRef::Uuid(u) = gpu {
        if let Some(i) = st.gpus.iter().position(|g| g.uuid.eq_ignore_ascii_case(u)) {
            return Ok(i as u32);
        }
    }
    Err(BackendError::NoSuchGpu {
        op,
        gpu: gpu.clone(),
    })
}

fn mig_on(g: &SimGpu) -> Result<(), NvmlError> {
    mig_model::MigGpu::new(g.mig_current, g.mig_pending, Default::default()).require_mig()
}

/// The processes on GPU `index`, as the model's busy set.
fn busy_of(st: &MachineState, index: u32) -> Busy {
    Busy::new(st.processes_on(index).map(|p| {
        p.gi.zip(p.ci)
            .map(|(g, c)| (GpuInstanceId(g), ComputeInstanceId(c)))
    }))
}

/// Run one transition of the model's state machine on GPU `index` and
/// persist what it leaves: the simulator decides nothing itself.
fn transition<T>(
    st: &mut MachineState,
    index: u32,
    f: impl FnOnce(&mut MigGpu, &Busy, &mig_model::GpuModel) -> Result<T, NvmlError>,
) -> Result<T, NvmlError> {
    let busy = busy_of(st, index);
    let g = &mut st.gpus[index as usize];
    let model = g.model();
    let mut m = MigGpu::new(g.mig_current, g.mig_pending, std::mem::take(&mut g.layout));
    let out = f(&mut m, &busy, model);
    g.mig_current = m.current;
    g.mig_pending = m.pending;
    g.layout = m.layout;
    out
}

fn gi_info(g: &SimGpu, gi: &engine::GpuInstance) -> Result<GiInfo, NvmlError> {
    Ok(GiInfo {
        id: gi.id,
        profile: engine::gi_profile(g.model(), gi.profile_id)?.clone(),
        placement: gi.placement,
    })
}

fn ci_info(
    g: &SimGpu,
    gi: &engine::GpuInstance,
    ci: &engine::ComputeInstance,
) -> Result<CiInfo, NvmlError> {
    let gp = engine::gi_profile(g.model(), gi.profile_id)?;
    let cp = engine::ci_profile(gp, ci.profile_id)?;
    Ok(CiInfo {
        gi: gi.id,
        id: ci.id,
        profile: cp.clone(),
        name: ids::ci_profile_name(gp, cp),
        placement: ci.placement,
    })
}

/// MIG devices of GPU `index` of `st` in the simulator's enumeration order:
/// by GI ID, then CI ID, the order `nvidia-smi -L` prints on real boards
/// (the guide's captures), which is the best evidence of the driver's own.
/// BAR1: the board's share for the GI's memory
/// (`mig_model::board::Board::mig_bar1_mib`, the catalog's board facts),
/// [`MIG_DEVICE_BAR1_USED_MB`] in use; `NotSupported` where the catalog has
/// no value for the board, as the fake library answers.
/// Memory in use: [`IDLE_MIG_DEVICE_MEMORY_USED_MB`] plus the processes on
/// any compute instance of the device's GPU instance.
pub fn mig_devices_of(st: &MachineState, index: u32) -> Result<Vec<MigDeviceInfo>, NvmlError> {
    let g = st
        .gpus
        .get(index as usize)
        .ok_or(NvmlError::InvalidArgument)?;
    if !g.mig_current {
        return Ok(Vec::new());
    }
    let m = g.model();
    let mut out = Vec::new();
    for (n, (gi, ci)) in g.layout.mig_devices().enumerate() {
        let gp = engine::gi_profile(m, gi.profile_id)?;
        let cp = engine::ci_profile(gp, ci.profile_id)?;
        let pipe = engine::syspipe(m, g.layout.mirrored, gi.placement, ci.placement);
        let uuid = ids::mig_uuid(m.pci_device_id, g.pdi, gi.id, pipe);
        let used = IDLE_MIG_DEVICE_MEMORY_USED_MB
            + st.processes_on(index)
                .filter(|p| p.gi == Some(gi.id.0))
                .map(|p| p.used_memory_mb)
                .sum::<u64>();
        let bar1 = mig_model::board::board(&m.slug)
            .mig_bar1_mib(gp.memory_mb)
            .map(|total| (MIG_DEVICE_BAR1_USED_MB, total))
            .ok_or(NvmlError::NotSupported);
        out.push(MigDeviceInfo::new(n as u32, gi.id, ci.id, uuid, gp, cp, used).with_bar1(bar1));
    }
    Ok(out)
}

fn identity_of(index: u32, g: &SimGpu) -> GpuIdentity {
    let m = g.model();
    GpuIdentity {
        index,
        uuid: g.uuid.clone(),
        name: m.name.clone(),
        pci_bus_id: g.pci_bus_id.clone(),
        pci_device_id: (u32::from(m.pci_device_id) << 16) | 0x10de,
        pci_subsystem_id: m.pci_subsystem_id,
        minor: g.minor,
        memory_total_bytes: m.memory_total_bytes,
        model: Some(m.slug.clone()),
        mirrored: g.layout.mirrored,
        mode_change_needs_reset: m.mode_change_needs_reset,
    }
}

fn processes_of(st: &MachineState, index: u32) -> Vec<ProcessInfo> {
    // listed MIG device by MIG device (the guide's capture shows GI 1's
    // process before GI 2's although it started later), then by start
    let mut procs: Vec<ProcessInfo> = st
        .processes_on(index)
        .map(|p| ProcessInfo {
            pid: p.pid,
            gpu: p.gpu,
            gi: p.gi.map(GpuInstanceId),
            ci: p.ci.map(ComputeInstanceId),
            name: p.name.clone(),
            used_memory_mb: p.used_memory_mb,
        })
        .collect();
    procs.sort_by_key(|p| (p.gi, p.ci));
    procs
}

impl Inventory for SimMachine {
    fn describe(&self) -> String {
        format!("simulated machine at {}", self.path().display())
    }

    fn driver_version(&self) -> Result<String, BackendError> {
        Ok(state::DRIVER_VERSION.into())
    }

    fn cuda_driver_version(&self) -> Result<Option<(u32, u32)>, BackendError> {
        Ok(mig_model::backend::cuda_version_parts(
            state::CUDA_DRIVER_VERSION,
        ))
    }

    fn devices(&self) -> Result<Vec<DeviceInfo>, BackendError> {
        let st = self.shared_state().map_err(state_err(Op::Devices, None))?;
        Ok(st
            .gpus
            .iter()
            .enumerate()
            .map(|(i, g)| DeviceInfo {
                index: i as u32,
                name: g.model().name.clone(),
                uuid: g.uuid.clone(),
                pci_bus_id: g.pci_bus_id.clone(),
                minor: g.minor,
                memory_total_bytes: g.model().memory_total_bytes,
                mig: MigMode {
                    current: g.mig_current,
                    pending: g.mig_pending,
                },
            })
            .collect())
    }

    fn index_of(&self, gpu: &GpuRef) -> Result<u32, BackendError> {
        let st = self
            .shared_state()
            .map_err(state_err(Op::Identity, Some(gpu)))?;
        resolve(&st, Op::Identity, gpu)
    }

    fn identity(&self, gpu: &GpuRef) -> Result<GpuIdentity, BackendError> {
        self.read(Op::Identity, gpu, |_, i, g| Ok(identity_of(i, g)))
    }

    fn snapshot(&self, gpu: &GpuRef) -> Result<GpuSnapshot, BackendError> {
        // one read of the state file, under one shared lock
        self.read(Op::Snapshot, gpu, |st, i, g| {
            Ok(GpuSnapshot {
                identity: identity_of(i, g),
                mode: MigMode {
                    current: g.mig_current,
                    pending: g.mig_pending,
                },
                layout: g.layout.clone(),
                mig_devices: mig_devices_of(st, i)?,
                processes: processes_of(st, i),
            })
        })
    }

    fn mig_devices(&self, gpu: &GpuRef) -> Result<Vec<MigDeviceInfo>, BackendError> {
        self.read(Op::MigDevices, gpu, |st, i, _| mig_devices_of(st, i))
    }

    fn processes(&self, gpu: &GpuRef) -> Result<Vec<ProcessInfo>, BackendError> {
        self.read(Op::Processes, gpu, |st, i, _| Ok(processes_of(st, i)))
    }

    fn readings(&self, gpu: &GpuRef) -> Result<mig_model::readings::Readings, BackendError> {
        self.read(Op::Identity, gpu, |st, i, g| {
            Ok(query_readings::readings(st, i, g))
        })
    }

    fn details(&self, gpu: &GpuRef) -> Result<mig_model::details::Details, BackendError> {
        self.read(Op::Identity, gpu, |st, i, g| {
            Ok(query_readings::details::details(g, &mig_devices_of(st, i)?))
        })
    }
}

impl ModeControl for SimMachine {
    fn mig_mode(&self, gpu: &GpuRef) -> Result<MigMode, BackendError> {
        self.read(Op::MigMode, gpu, |_, _, g| {
            Ok(MigMode {
                current: g.mig_current,
                pending: g.mig_pending,
            })
        })
    }

    fn set_mig_mode(&self, gpu: &GpuRef, enable: bool) -> Result<Option<NvmlError>, BackendError> {
        self.update_gpu(Op::SetMigMode, gpu, |st, i| {
            transition(st, i, |m, busy, _| m.set_mig_mode(enable, busy))
        })
    }

    fn reset(&self, gpu: &GpuRef) -> Result<(), BackendError> {
        self.update_gpu(Op::Reset, gpu, |st, i| {
            transition(st, i, |m, busy, _| m.reset(busy))
        })
    }
}

impl LayoutControl for SimMachine {
    fn gi_profiles(
        &self,
        gpu: &GpuRef,
        _want: ProfileQuery,
    ) -> Result<Vec<GiProfileStatus>, BackendError> {
        // the whole answer costs nothing here, so `want` is not needed
        self.read(Op::GiProfiles, gpu, |_, _, g| {
            let m = g.model();
            let mut out: Vec<GiProfileStatus> = m
                .gi_profiles
                .iter()
                .map(|p| GiProfileStatus {
                    profile: p.clone(),
                    placements: gi_placements(p).collect(),
                    // with MIG disabled the layout is empty: the real
                    // H100 then lists every instance as free (h100_lgip.txt)
                    remaining: g.layout.gi_remaining(m, p),
                })
                .collect();
            // the driver's order: NVML profile index
            out.sort_by_key(|p| p.profile.index);
            Ok(out)
        })
    }

    fn gpu_instances(&self, gpu: &GpuRef) -> Result<Vec<GiInfo>, BackendError> {
        self.read(Op::GpuInstances, gpu, |_, _, g| {
            mig_on(g)?;
            let mut out: Vec<(u32, GiInfo)> = Vec::new();
            for gi in &g.layout.gpu_instances {
                let index = engine::gi_profile(g.model(), gi.profile_id)?.index;
                out.push((index, gi_info(g, gi)?));
            }
            // as NVML answers them: profile by profile (index order), each
            // profile's instances by GI ID
            out.sort_by_key(|(index, gi)| (*index, gi.id));
            Ok(out.into_iter().map(|(_, gi)| gi).collect())
        })
    }

    fn create_gpu_instance(
        &self,
        gpu: &GpuRef,
        profile: GiProfileId,
        placement: Option<Placement>,
    ) -> Result<GiInfo, BackendError> {
        self.update_gpu(Op::CreateGpuInstance, gpu, |st, i| {
            let id = transition(st, i, |m, _, model| m.create_gi(model, profile, placement))?;
            let g = &st.gpus[i as usize];
            gi_info(g, g.layout.gpu_instance(id)?)
        })
    }

    fn destroy_gpu_instance(&self, gpu: &GpuRef, gi: GpuInstanceId) -> Result<(), BackendError> {
        self.update_gpu(Op::DestroyGpuInstance, gpu, |st, i| {
            transition(st, i, |m, busy, _| m.destroy_gi(gi, busy))
        })
    }

    fn ci_profiles(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
    ) -> Result<Vec<CiProfileStatus>, BackendError> {
        self.read(Op::CiProfiles, gpu, |_, _, g| {
            mig_on(g)?;
            let m = g.model();
            let inst = g.layout.gpu_instance(gi)?;
            let gp = engine::gi_profile(m, inst.profile_id)?;
            let mut out: Vec<CiProfileStatus> = gp
                .ci_profiles
                .iter()
                .map(|c| CiProfileStatus {
                    profile: c.clone(),
                    name: ids::ci_profile_name(gp, c),
                    placements: ci_placements(c).collect(),
                    remaining: g.layout.ci_remaining(m, gi, c),
                })
                .collect();
            // the driver's order: CI profile index, which is the profile ID
            out.sort_by_key(|c| c.profile.id);
            Ok(out)
        })
    }

    fn compute_instances(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
    ) -> Result<Vec<CiInfo>, BackendError> {
        self.read(Op::ComputeInstances, gpu, |_, _, g| {
            mig_on(g)?;
            let inst = g.layout.gpu_instance(gi)?;
            let mut out = inst
                .compute_instances
                .iter()
                .map(|c| ci_info(g, inst, c))
                .collect::<Result<Vec<_>, _>>()?;
            // as NVML answers them: profile by profile, then CI ID
            out.sort_by_key(|c| (c.profile.id, c.id));
            Ok(out)
        })
    }

    fn create_compute_instance(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
        profile: CiProfileId,
        placement: Option<Placement>,
    ) -> Result<CiInfo, BackendError> {
        self.update_gpu(Op::CreateComputeInstance, gpu, |st, i| {
            let id = transition(st, i, |m, _, model| {
                m.create_ci(model, gi, profile, placement)
            })?;
            let g = &st.gpus[i as usize];
            let inst = g.layout.gpu_instance(gi)?;
            let c = inst
                .compute_instances
                .iter()
                .find(|c| c.id == id)
                .ok_or(NvmlError::Unknown)?;
            ci_info(g, inst, c)
        })
    }

    fn destroy_compute_instance(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
        ci: ComputeInstanceId,
    ) -> Result<(), BackendError> {
        self.update_gpu(Op::DestroyComputeInstance, gpu, |st, i| {
            transition(st, i, |m, busy, _| m.destroy_ci(gi, ci, busy))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the fault grammar of DESIGN.md is accepted and bad specs are refused.
    #[test]
    fn fault_specs_parse() {
        assert_eq!(
            Fault::parse("fail:2"),
            Ok(Fault::Fail(2, NvmlError::Unknown))
        );
        assert_eq!(
            Fault::parse("fail:1:IN_USE"),
            Ok(Fault::Fail(1, NvmlError::InUse))
        );
        assert_eq!(Fault::parse("abort:3"), Ok(Fault::Abort(3)));
        assert_eq!(Fault::parse("vanish:2"), Ok(Fault::Vanish(2)));
        for bad in [
            "fail",
            "fail:0",
            "fail:x",
            "abort:1:IN_USE",
            "boom:1",
            "fail:1:NOPE",
        ] {
            assert!(Fault::parse(bad).is_err(), "{bad}");
        }
    }
}
