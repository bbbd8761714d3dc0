//! The live machine as `mig_model::GpuSnapshot`s, for the verbs that plan,
//! assert, export or picture it: one backend snapshot per GPU (taken under
//! one lock on the simulator; read part by part through NVML).

use mig_model::backend::{Backend, BackendError, GpuRef, GpuSnapshot, SnapshotParts};

/// Every GPU of the machine, in index order.
pub fn machine_snapshots(b: &dyn Backend) -> Result<Vec<GpuSnapshot>, String> {
    snapshots(b, None).map_err(|e| e.to_string())
}

/// Snapshots of every GPU, or only of GPU `only` (a GPU that does not exist
/// is [`BackendError::NoSuchGpu`]).
pub fn snapshots(b: &dyn Backend, only: Option<u32>) -> Result<Vec<GpuSnapshot>, BackendError> {
    if let Some(i) = only {
        return Ok(vec![b.snapshot(&GpuRef::Index(i))?]);
    }
    b.devices()?
        .iter()
        .map(|d| b.snapshot(&GpuRef::Index(d.index)))
        .collect()
}

/// Every GPU, each read once with what planning and asserting need: MIG
/// mode, layout and processes, without the MIG device listing (`apply`
/// reads the machine this way once, and plans every phase from it).
pub fn plan_snapshots(b: &dyn Backend) -> Result<Vec<GpuSnapshot>, String> {
    b.devices()
        .and_then(|ds| {
            ds.iter()
                .map(|d| b.snapshot_parts(&GpuRef::Index(d.index), SnapshotParts::PLAN))
                .collect()
        })
        .map_err(|e| e.to_string())
}
