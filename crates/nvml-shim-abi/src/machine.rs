//! The library's session with the simulated machine: `nvmlInit` opens the
//! machine named by `MIGCTL_SIM_STATE`, and every later call reads a current
//! snapshot (so changes made by other processes, such as `migctl sim run` or
//! another NVML client, show at once; the parsed machine is kept while the
//! state file is unchanged, `mig_sim::cache`) or mutates through the `Backend`
//! methods of [`SimMachine`], which hold the state file's lock.
//!
//! This module also resolves handles against a snapshot, through
//! `mig_sim::query_readings::lookup` (whose `Device`, `GiRef` and `CiRef`
//! it re-exports). It decides no MIG rule: IDs, placements, capacity, names
//! and UUIDs all come from `mig-sim` and `mig-model`.

use crate::errors::{Fail, Result};
use crate::handles::{Handle, Kind};
use mig_model::backend::MigDeviceInfo;
use mig_model::engine::{ComputeInstance, GpuInstance};
use mig_sim::query_readings::lookup;
use mig_sim::{MachineState, SimGpu, SimMachine};
use std::sync::{Arc, Mutex, MutexGuard};

pub use lookup::{CiRef, Device, GiRef};

/// An initialised library: the machine and how many `nvmlInit`s are open
/// (NVML counts them; the last `nvmlShutdown` closes the library).
struct Session {
    sim: SimMachine,
    refs: u32,
}

static SESSION: Mutex<Option<Session>> = Mutex::new(None);

fn session() -> MutexGuard<'static, Option<Session>> {
    // A panic elsewhere cannot leave the session half-written; keep using it.
    SESSION.lock().unwrap_or_else(|e| e.into_inner())
}

/// `nvmlInit*`: the first call opens the machine and checks that its state
/// file loads, as a real `nvmlInit` fails without a driver.
pub fn init() -> Result<()> {
    let mut s = session();
    if let Some(s) = s.as_mut() {
        s.refs += 1;
        return Ok(());
    }
    let sim = SimMachine::open(mig_sim::default_state_path())
        .map_err(|e| crate::errors::report(&e.to_string()))?;
    sim.state()?;
    *s = Some(Session { sim, refs: 1 });
    Ok(())
}

/// `nvmlShutdown`.
pub fn shutdown() -> Result<()> {
    let mut s = session();
    match s.as_mut() {
        None => Err(Fail::UNINITIALIZED),
        Some(open) if open.refs > 1 => {
            open.refs -= 1;
            Ok(())
        }
        Some(_) => {
            *s = None;
            Ok(())
        }
    }
}

/// The machine, for `Backend` calls; `UNINITIALIZED` before `nvmlInit`.
pub fn sim() -> Result<SimMachine> {
    session()
        .as_ref()
        .map(|s| s.sim.clone())
        .ok_or(Fail::UNINITIALIZED)
}

/// `MIGCTL_SIM_FAULT=vanish:N`: before the Nth read of a GPU instance
/// (`nvmlGpuInstanceGetInfo`) in this process, destroy that instance (its
/// CIs, then itself) as a racing client would; see [`mig_sim::Fault::Vanish`].
pub fn vanish_before_read<T>(p: *mut T) -> Result<()> {
    use mig_model::backend::LayoutControl;
    use std::sync::atomic::{AtomicU32, Ordering};
    static READS: AtomicU32 = AtomicU32::new(0);
    let Ok(Some(mig_sim::Fault::Vanish(n))) = mig_sim::Fault::from_env() else {
        return Ok(());
    };
    if READS.fetch_add(1, Ordering::SeqCst) + 1 != n {
        return Ok(());
    }
    let st = snapshot()?;
    let Ok(gi) = gpu_instance(&st, p) else {
        return Ok(());
    };
    let (gpu, id) = (mig_model::GpuRef::Index(gi.gpu), gi.gi.id);
    let sim = sim()?;
    for ci in &gi.gi.compute_instances {
        let _ = sim.destroy_compute_instance(&gpu, id, ci.id);
    }
    let _ = sim.destroy_gpu_instance(&gpu, id);
    Ok(())
}

/// A consistent view of the machine for one call: shared, and read again
/// only when the state file changed since the last call (`mig_sim::cache`).
pub fn snapshot() -> Result<Arc<MachineState>> {
    let s = session();
    let open = s.as_ref().ok_or(Fail::UNINITIALIZED)?;
    Ok(open.sim.shared_state()?)
}

/// A GPU of the snapshot by NVML index; an index beyond the machine (a
/// handle from before `migctl sim init` shrank it) is an invalid argument.
pub fn gpu(st: &MachineState, index: u32) -> Result<&SimGpu> {
    Ok(lookup::gpu(st, index)?)
}

/// Resolve a GPU-instance handle's fields; `NOT_FOUND` once the instance is
/// gone (or MIG was switched off, which destroys every instance).
fn gi_ref<'a>(st: &'a MachineState, h: &Handle) -> Result<GiRef<'a>> {
    Ok(lookup::gpu_instance(st, h.gpu, h.gi, h.gi_profile)?)
}

fn ci_ref<'a>(st: &'a MachineState, h: &Handle) -> Result<CiRef<'a>> {
    Ok(lookup::compute_instance(
        st,
        h.gpu,
        (h.gi, h.gi_profile),
        (h.ci, h.ci_profile),
    )?)
}

/// Resolve an `nvmlDevice_t`.
pub fn device<T>(st: &MachineState, p: *mut T) -> Result<Device<'_>> {
    let h = Handle::from_ptr(p, &[Kind::Gpu, Kind::MigDevice])?;
    match h.kind {
        Kind::MigDevice => Ok(lookup::mig_device(
            st,
            h.gpu,
            (h.gi, h.gi_profile),
            (h.ci, h.ci_profile),
        )?),
        _ => Ok(Device::Gpu {
            index: h.gpu,
            sim: gpu(st, h.gpu)?,
        }),
    }
}

/// Resolve an `nvmlGpuInstance_t`.
pub fn gpu_instance<T>(st: &MachineState, p: *mut T) -> Result<GiRef<'_>> {
    gi_ref(st, &Handle::from_ptr(p, &[Kind::GpuInstance])?)
}

/// Resolve an `nvmlComputeInstance_t`.
pub fn compute_instance<T>(st: &MachineState, p: *mut T) -> Result<CiRef<'_>> {
    ci_ref(st, &Handle::from_ptr(p, &[Kind::ComputeInstance])?)
}

/// The handle of a physical GPU.
pub fn gpu_handle<T>(gpu: u32) -> Result<*mut T> {
    Handle::gpu(gpu).to_ptr()
}

/// The handle of a GPU instance.
pub fn gi_handle<T>(gpu: u32, gi: &GpuInstance) -> Result<*mut T> {
    Handle::gpu_instance(gpu, gi.id.0, gi.profile_id.0).to_ptr()
}

/// The handle of a compute instance, or of its MIG device.
pub fn ci_handle<T>(
    kind: Kind,
    gpu: u32,
    gi: &GpuInstance,
    ci: &ComputeInstance,
) -> Result<*mut T> {
    Handle::compute(
        kind,
        gpu,
        (gi.id.0, gi.profile_id.0),
        (ci.id.0, ci.profile_id.0),
    )
    .to_ptr()
}

/// The MIG device handle of the device with this enumeration entry.
pub fn mig_handle<T>(gpu: u32, sim: &SimGpu, d: &MigDeviceInfo) -> Result<*mut T> {
    let (gi, ci) = lookup::mig_instances(sim, d)?;
    ci_handle(Kind::MigDevice, gpu, gi, ci)
}
