//! `mig-sim`: the simulated MIG machine.
//!
//! What it is for: a machine of simulated GPUs whose state lives in one file,
//! so that several processes (migctl, the fake `libnvidia-ml.so.1`, tests) see
//! the same machine. Every operation takes the file's lock, reads the state,
//! applies the MIG engine of `mig-model`, and replaces the file atomically.
//! It also simulates processes that keep MIG devices busy, and injects faults
//! (`MIGCTL_SIM_FAULT`).
//!
//! What it is not for: MIG rules (they are `mig_model::engine`'s) or printing.

pub mod state;
pub mod telemetry;

use mig_model::backend::{
    Backend, BackendError, CiInfo, CiProfileStatus, DeviceInfo, GiInfo, GiProfileStatus,
    MigDeviceInfo, MigMode, ProcessInfo,
};
use mig_model::engine::{self, ci_placements, gi_placements};
use mig_model::Placement;
use mig_model::{ids, CiProfileId, ComputeInstanceId, GiProfileId, GpuInstanceId, NvmlError};
pub use state::{MachineState, SimGpu, SimProcess, StateError, StateFile};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Environment variable naming the state file.
pub const ENV_STATE: &str = "MIGCTL_SIM_STATE";
/// Environment variable for fault injection.
pub const ENV_FAULT: &str = "MIGCTL_SIM_FAULT";

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

/// A fault to inject at the Nth mutating operation of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fail with this NVML error, changing nothing.
    Fail(u32, NvmlError),
    /// Die mid-write, as a crash would.
    Abort(u32),
}

impl Fault {
    /// Parse `fail:N[:ERROR]` or `abort:N`.
    pub fn parse(s: &str) -> Result<Fault, String> {
        let bad = || {
            format!(
                "{ENV_FAULT}={s:?}: expected fail:N[:ERROR] or abort:N (N >= 1, ERROR like IN_USE)"
            )
        };
        let parts: Vec<&str> = s.split(':').collect();
        let n: u32 = parts
            .get(1)
            .and_then(|n| n.parse().ok())
            .filter(|&n| n >= 1)
            .ok_or_else(bad)?;
        match (parts[0], parts.len()) {
            ("fail", 2) => Ok(Fault::Fail(n, NvmlError::Unknown)),
            ("fail", 3) => Ok(Fault::Fail(n, NvmlError::parse(parts[2]).ok_or_else(bad)?)),
            ("abort", 2) => Ok(Fault::Abort(n)),
            _ => Err(bad()),
        }
    }

    /// The fault configured in the environment, if any.
    pub fn from_env() -> Result<Option<Fault>, String> {
        match std::env::var(ENV_FAULT) {
            Ok(s) if !s.trim().is_empty() => Fault::parse(s.trim()).map(Some),
            _ => Ok(None),
        }
    }
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

/// Mutating operations so far in this process (for `MIGCTL_SIM_FAULT`).
static MUTATIONS: AtomicU32 = AtomicU32::new(0);

/// The simulated machine behind a state file.
#[derive(Debug, Clone)]
pub struct SimMachine {
    file: StateFile,
    fault: Option<Fault>,
}

fn state_err(e: StateError) -> BackendError {
    BackendError::Backend(e.to_string())
}

impl SimMachine {
    /// Open the machine at `path`, with the fault from the environment.
    pub fn open(path: impl Into<PathBuf>) -> Result<SimMachine, String> {
        Ok(SimMachine {
            file: StateFile::new(path),
            fault: Fault::from_env()?,
        })
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Create a fresh machine, replacing any earlier state at this path (but
    /// never a file that is not ours).
    pub fn init(&self, models: &[(String, bool)]) -> Result<MachineState, StateError> {
        self.init_with(models, false)
    }

    /// [`SimMachine::init`]; with `root_only`, MIG management needs root.
    pub fn init_with(
        &self,
        models: &[(String, bool)],
        root_only: bool,
    ) -> Result<MachineState, StateError> {
        let mut st = MachineState::new(models)?;
        st.root_only = root_only;
        let lock = self.file.lock(true)?;
        if self.file.exists() {
            match self.file.load(&lock) {
                Ok(_) | Err(StateError::Corrupt { .. }) => {}
                Err(e @ StateError::Foreign { .. }) => return Err(e),
                Err(e @ StateError::Io { .. }) => return Err(e),
                Err(_) => {}
            }
        }
        self.file.save(&lock, &st)?;
        Ok(st)
    }

    /// A consistent snapshot of the machine.
    pub fn snapshot(&self) -> Result<MachineState, StateError> {
        let lock = self.file.lock(false)?;
        self.file.load(&lock)
    }

    /// Run `f` on the state under the exclusive lock and save the result if it
    /// succeeds. Counts as a mutating operation for fault injection when
    /// `counted`.
    fn update<T>(
        &self,
        counted: bool,
        f: impl FnOnce(&mut MachineState) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        let lock = self.file.lock(true).map_err(state_err)?;
        let mut st = self.file.load(&lock).map_err(state_err)?;
        let n = if counted {
            MUTATIONS.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            0
        };
        if let Some(Fault::Fail(k, e)) = self.fault {
            if k == n {
                return Err(e.into());
            }
        }
        if counted && st.root_only && !is_root() {
            return Err(NvmlError::NoPermission.into());
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
        self.file.save(&lock, &st).map_err(state_err)?;
        Ok(out)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&MachineState) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        let st = self.snapshot().map_err(state_err)?;
        f(&st)
    }

    /// Start a simulated process on MIG device `gi`/`ci` of `gpu` (or on the
    /// whole GPU when both are `None` and MIG is disabled). Returns its pid.
    pub fn start_process(
        &self,
        gpu: u32,
        mig: Option<(u32, u32)>,
        name: &str,
        used_memory_mb: u64,
    ) -> Result<u32, BackendError> {
        self.update(false, |st| {
            let g = gpu_of(st, gpu)?;
            match mig {
                Some((gi, ci)) => {
                    if !g.mig_current {
                        return Err(BackendError::Backend(format!(
                            "GPU {gpu} has MIG disabled; start the process without --gi/--ci"
                        )));
                    }
                    if !g.layout.mig_devices().any(|(a, b)| a.id.0 == gi && b.id.0 == ci) {
                        return Err(BackendError::Backend(format!(
                            "GPU {gpu} has no MIG device with GPU instance {gi} and compute instance {ci}"
                        )));
                    }
                }
                None if g.mig_current => {
                    return Err(BackendError::Backend(format!(
                        "GPU {gpu} is in MIG mode; name a MIG device with --gi and --ci"
                    )))
                }
                None => {}
            }
            let pid = st.next_pid;
            st.next_pid += 1;
            st.processes.push(SimProcess {
                pid,
                gpu,
                gi: mig.map(|m| m.0),
                ci: mig.map(|m| m.1),
                name: name.to_string(),
                used_memory_mb,
            });
            Ok(pid)
        })
    }

    /// End a simulated process.
    pub fn kill_process(&self, pid: u32) -> Result<(), BackendError> {
        self.update(false, |st| {
            let at = st
                .processes
                .iter()
                .position(|p| p.pid == pid)
                .ok_or_else(|| {
                    BackendError::Backend(format!("no simulated process with pid {pid}"))
                })?;
            st.processes.remove(at);
            Ok(())
        })
    }
}

fn gpu_of(st: &MachineState, gpu: u32) -> Result<&SimGpu, BackendError> {
    st.gpus
        .get(gpu as usize)
        .ok_or(NvmlError::InvalidArgument.into())
}

fn gpu_mut(st: &mut MachineState, gpu: u32) -> Result<&mut SimGpu, BackendError> {
    st.gpus
        .get_mut(gpu as usize)
        .ok_or(NvmlError::InvalidArgument.into())
}

fn mig_on(g: &SimGpu) -> Result<(), BackendError> {
    if g.mig_current {
        Ok(())
    } else {
        Err(NvmlError::NotSupported.into())
    }
}

fn gi_info(g: &SimGpu, gi: &engine::GpuInstance) -> Result<GiInfo, BackendError> {
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
) -> Result<CiInfo, BackendError> {
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

/// MIG devices of a simulated GPU, in enumeration order.
pub fn mig_devices_of(g: &SimGpu) -> Result<Vec<MigDeviceInfo>, BackendError> {
    let m = g.model();
    let mut out = Vec::new();
    for (index, (gi, ci)) in g.layout.mig_devices().enumerate() {
        let gp = engine::gi_profile(m, gi.profile_id)?;
        let cp = engine::ci_profile(gp, ci.profile_id)?;
        let pipe = engine::syspipe(m, g.layout.mirrored, gi.placement, ci.placement);
        let uuid = ids::mig_uuid(m.pci_device_id, g.pdi, gi.id, pipe);
        out.push(MigDeviceInfo::new(index as u32, gi.id, ci.id, uuid, gp, cp));
    }
    Ok(out)
}

impl Backend for SimMachine {
    fn describe(&self) -> String {
        format!("simulated machine at {}", self.path().display())
    }

    fn driver_version(&self) -> Result<String, BackendError> {
        Ok(state::DRIVER_VERSION.into())
    }

    fn devices(&self) -> Result<Vec<DeviceInfo>, BackendError> {
        self.read(|st| {
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
        })
    }

    fn set_mig_mode(&mut self, gpu: u32, enable: bool) -> Result<Option<NvmlError>, BackendError> {
        self.update(true, |st| {
            let busy = st.processes_on(gpu).next().is_some();
            let g = gpu_mut(st, gpu)?;
            if !enable && !g.layout.gpu_instances.is_empty() {
                return Err(NvmlError::InUse.into());
            }
            g.mig_pending = enable;
            if g.mig_current == enable {
                return Ok(None);
            }
            // The switch needs the GPU idle: the driver resets it (Ampere) or
            // reconfigures it in place (Hopper and later). With processes on
            // it the new mode stays pending until a reset.
            if busy {
                return Ok(Some(NvmlError::InUse));
            }
            g.mig_current = enable;
            g.layout.gpu_instances.clear();
            Ok(None)
        })
    }

    fn reset(&mut self, gpu: u32) -> Result<(), BackendError> {
        self.update(true, |st| {
            if st.processes_on(gpu).next().is_some() {
                return Err(NvmlError::InUse.into());
            }
            let g = gpu_mut(st, gpu)?;
            g.mig_current = g.mig_pending;
            // MIG devices do not survive a GPU reset (guide, "Getting Started").
            g.layout.gpu_instances.clear();
            Ok(())
        })
    }

    fn gi_profiles(&self, gpu: u32) -> Result<Vec<GiProfileStatus>, BackendError> {
        self.read(|st| {
            let g = gpu_of(st, gpu)?;
            let m = g.model();
            Ok(m.gi_profiles
                .iter()
                .map(|p| GiProfileStatus {
                    profile: p.clone(),
                    placements: gi_placements(p).collect(),
                    remaining: g.layout.gi_remaining(m, p),
                })
                .collect())
        })
    }

    fn gpu_instances(&self, gpu: u32) -> Result<Vec<GiInfo>, BackendError> {
        self.read(|st| {
            let g = gpu_of(st, gpu)?;
            mig_on(g)?;
            g.layout
                .gpu_instances
                .iter()
                .map(|gi| gi_info(g, gi))
                .collect()
        })
    }

    fn create_gpu_instance(
        &mut self,
        gpu: u32,
        profile: GiProfileId,
        placement: Option<Placement>,
    ) -> Result<GiInfo, BackendError> {
        self.update(true, |st| {
            let g = gpu_mut(st, gpu)?;
            mig_on(g)?;
            let m = g.model();
            let id = g.layout.create_gi(m, profile, placement)?;
            gi_info(g, g.layout.gpu_instance(id)?)
        })
    }

    fn destroy_gpu_instance(&mut self, gpu: u32, gi: GpuInstanceId) -> Result<(), BackendError> {
        self.update(true, |st| {
            let busy = st.processes_on(gpu).any(|p| p.gi == Some(gi.0));
            let g = gpu_mut(st, gpu)?;
            mig_on(g)?;
            g.layout.gpu_instance(gi)?;
            if busy {
                return Err(NvmlError::InUse.into());
            }
            g.layout.destroy_gi(gi)?;
            Ok(())
        })
    }

    fn ci_profiles(
        &self,
        gpu: u32,
        gi: GpuInstanceId,
    ) -> Result<Vec<CiProfileStatus>, BackendError> {
        self.read(|st| {
            let g = gpu_of(st, gpu)?;
            mig_on(g)?;
            let inst = g.layout.gpu_instance(gi)?;
            let gp = engine::gi_profile(g.model(), inst.profile_id)?;
            Ok(gp
                .ci_profiles
                .iter()
                .map(|c| CiProfileStatus {
                    profile: c.clone(),
                    name: ids::ci_profile_name(gp, c),
                    placements: ci_placements(c).collect(),
                    remaining: g.layout.ci_remaining(gi, c),
                })
                .collect())
        })
    }

    fn compute_instances(&self, gpu: u32, gi: GpuInstanceId) -> Result<Vec<CiInfo>, BackendError> {
        self.read(|st| {
            let g = gpu_of(st, gpu)?;
            mig_on(g)?;
            let inst = g.layout.gpu_instance(gi)?;
            inst.compute_instances
                .iter()
                .map(|c| ci_info(g, inst, c))
                .collect()
        })
    }

    fn create_compute_instance(
        &mut self,
        gpu: u32,
        gi: GpuInstanceId,
        profile: CiProfileId,
        placement: Option<Placement>,
    ) -> Result<CiInfo, BackendError> {
        self.update(true, |st| {
            let g = gpu_mut(st, gpu)?;
            mig_on(g)?;
            let m = g.model();
            let id = g.layout.create_ci(m, gi, profile, placement)?;
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
        &mut self,
        gpu: u32,
        gi: GpuInstanceId,
        ci: ComputeInstanceId,
    ) -> Result<(), BackendError> {
        self.update(true, |st| {
            let busy = st
                .processes_on(gpu)
                .any(|p| p.gi == Some(gi.0) && p.ci == Some(ci.0));
            let g = gpu_mut(st, gpu)?;
            mig_on(g)?;
            let inst = g.layout.gpu_instance(gi)?;
            if !inst.compute_instances.iter().any(|c| c.id == ci) {
                return Err(NvmlError::NotFound.into());
            }
            if busy {
                return Err(NvmlError::InUse.into());
            }
            g.layout.destroy_ci(gi, ci)?;
            Ok(())
        })
    }

    fn mig_devices(&self, gpu: u32) -> Result<Vec<MigDeviceInfo>, BackendError> {
        self.read(|st| {
            let g = gpu_of(st, gpu)?;
            if !g.mig_current {
                return Ok(Vec::new());
            }
            mig_devices_of(g)
        })
    }

    fn processes(&self, gpu: u32) -> Result<Vec<ProcessInfo>, BackendError> {
        self.read(|st| {
            gpu_of(st, gpu)?;
            // listed MIG device by MIG device (the guide's capture shows GI 1's
            // process before GI 2's although it started later), then by start
            let mut procs: Vec<ProcessInfo> = st
                .processes_on(gpu)
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
            Ok(procs)
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
