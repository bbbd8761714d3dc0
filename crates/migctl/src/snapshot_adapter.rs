//! THE ADAPTER from today's `Backend` trait to `GpuSnapshot`.
//!
//! The cluster verbs (`caps`, `export cdi|slurm|k8s`, `env`, `mps`) work on
//! `mig_model::GpuSnapshot`s; this is the one place that builds them from the
//! old, NVML-shaped trait. When the reshaped trait's `snapshot(gpu)` and
//! `identity(gpu)` land, replace the body of [`snapshots`] with one call per
//! GPU (and drop the catalog lookup by name, which `identity` does better).

use mig_model::backend::{GpuIdentity, GpuSnapshot};
use mig_model::engine::{ComputeInstance, GpuInstance};
use mig_model::{catalog, Backend, BackendError, CiProfileId, GiProfileId, Layout};

/// Every GPU's snapshot, read with today's `Backend` calls.
pub fn snapshots(b: &dyn Backend) -> Result<Vec<GpuSnapshot>, BackendError> {
    let mut out = Vec::new();
    for d in b.devices()? {
        // Today's DeviceInfo has no PCI IDs or slug; board names are unique
        // in the catalog, so the name finds the model.
        let model = catalog::all().iter().find(|m| m.name == d.name);
        let mut layout = Layout::default();
        let mut mig_devices = Vec::new();
        if d.mig.current {
            for gi in b.gpu_instances(d.index)? {
                let compute_instances = b
                    .compute_instances(d.index, gi.id)?
                    .into_iter()
                    .map(|c| ComputeInstance {
                        id: c.id,
                        profile_id: CiProfileId(c.profile.id),
                        placement: c.placement,
                    })
                    .collect();
                layout.gpu_instances.push(GpuInstance {
                    id: gi.id,
                    profile_id: GiProfileId(gi.profile.id),
                    placement: gi.placement,
                    compute_instances,
                });
            }
            layout.gpu_instances.sort_by_key(|g| g.id);
            for g in &mut layout.gpu_instances {
                g.compute_instances.sort_by_key(|c| c.id);
            }
            mig_devices = b.mig_devices(d.index)?;
        }
        out.push(GpuSnapshot {
            identity: GpuIdentity {
                index: d.index,
                uuid: d.uuid.clone(),
                name: d.name.clone(),
                pci_bus_id: d.pci_bus_id.clone(),
                pci_device_id: model.map_or(0, |m| (u32::from(m.pci_device_id) << 16) | 0x10de),
                pci_subsystem_id: model.map_or(0, |m| m.pci_subsystem_id),
                minor: d.minor,
                memory_total_bytes: d.memory_total_bytes,
                model: model.map(|m| m.slug.clone()),
                // Not visible through today's trait; no generator here uses it.
                mirrored: false,
                mode_change_needs_reset: model.is_some_and(|m| m.mode_change_needs_reset),
            },
            mode: d.mig,
            layout,
            mig_devices,
            processes: b.processes(d.index)?,
        });
    }
    Ok(out)
}
