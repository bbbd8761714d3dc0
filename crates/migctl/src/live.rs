//! The live machine as `mig_model::GpuSnapshot`s, for `assert`, `export`,
//! `checkpoint` and validation.
//!
//! ADAPTER OVER TODAY'S BACKEND API. The reshaped `Backend` trait will have
//! `identity(gpu)` and `snapshot(gpu) -> GpuSnapshot`; until then
//! [`machine_snapshots`] builds them from `devices()`, `gpu_instances()`,
//! `compute_instances()`, `mig_devices()` and `processes()`. This is the only
//! place the config verbs read the backend: when the reshape lands, replace
//! its body with one `snapshot(gpu)` call per GPU.
//!
//! What today's API cannot tell, and how it is filled in here: the board's
//! catalog model is found by its NVML name (and memory size when names
//! repeat); the PCI device and subsystem IDs are the catalog's for that
//! board; `mirrored` is false (it only affects the GI IDs of what-if
//! layouts, not the IDs read back from the machine).

use mig_model::backend::Backend;
use mig_model::engine::{ComputeInstance, GpuInstance, Layout};
use mig_model::{catalog, GpuIdentity, GpuSnapshot};

/// Every GPU of the machine, in index order, read through the backend.
pub fn machine_snapshots(b: &dyn Backend) -> Result<Vec<GpuSnapshot>, String> {
    let mut out = Vec::new();
    for d in b.devices().map_err(|e| e.to_string())? {
        let model = catalog::all()
            .iter()
            .filter(|m| m.name == d.name)
            .min_by_key(|m| m.memory_total_bytes.abs_diff(d.memory_total_bytes));
        let identity = GpuIdentity {
            index: d.index,
            uuid: d.uuid.clone(),
            name: d.name.clone(),
            pci_bus_id: d.pci_bus_id.clone(),
            pci_device_id: model
                .map(|m| (u32::from(m.pci_device_id) << 16) | 0x10de)
                .unwrap_or(0),
            pci_subsystem_id: model.map(|m| m.pci_subsystem_id).unwrap_or(0),
            minor: d.minor,
            memory_total_bytes: d.memory_total_bytes,
            model: model.map(|m| m.slug.clone()),
            mirrored: false,
            mode_change_needs_reset: model.is_some_and(|m| m.mode_change_needs_reset),
        };
        let mut layout = Layout::new(false);
        let mut mig_devices = Vec::new();
        if d.mig.current && model.is_some() {
            for gi in b.gpu_instances(d.index).map_err(|e| e.to_string())? {
                let mut cis: Vec<ComputeInstance> = b
                    .compute_instances(d.index, gi.id)
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(|c| ComputeInstance {
                        id: c.id,
                        profile_id: mig_model::CiProfileId(c.profile.id),
                        placement: c.placement,
                    })
                    .collect();
                cis.sort_by_key(|c| c.id);
                layout.gpu_instances.push(GpuInstance {
                    id: gi.id,
                    profile_id: mig_model::GiProfileId(gi.profile.id),
                    placement: gi.placement,
                    compute_instances: cis,
                });
            }
            layout.gpu_instances.sort_by_key(|g| g.id);
            mig_devices = b.mig_devices(d.index).map_err(|e| e.to_string())?;
        }
        let processes = b.processes(d.index).map_err(|e| e.to_string())?;
        out.push(GpuSnapshot {
            identity,
            mode: d.mig,
            layout,
            mig_devices,
            processes,
        });
    }
    Ok(out)
}
