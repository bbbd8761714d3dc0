//! What the machine has, through NVML: GPUs, identities, snapshots.

use crate::machine::{error, NvmlBackend};
use crate::raw::Fail;
use crate::read::not_supported_is;
use mig_model::backend::{
    BackendError, DeviceInfo, GpuIdentity, GpuRef, GpuSnapshot, Inventory, MigDeviceInfo, MigMode,
    Op, ProcessInfo, SnapshotParts,
};
use mig_model::engine::{self, Layout};
use mig_model::{GpuInstanceId, Placement};

impl Inventory for NvmlBackend {
    fn describe(&self) -> String {
        match self.nvml.driver_version() {
            Ok(v) => format!("NVML ({}, driver {v})", self.library()),
            Err(_) => format!("NVML ({})", self.library()),
        }
    }

    fn driver_version(&self) -> Result<String, BackendError> {
        self.nvml
            .driver_version()
            .map_err(|f| error(Op::DriverVersion, None, f.into()))
    }

    fn cuda_driver_version(&self) -> Result<Option<(u32, u32)>, BackendError> {
        let v = self
            .nvml
            .cuda_driver_version()
            .map_err(|f| error(Op::DriverVersion, None, f.into()))?;
        Ok(mig_model::backend::cuda_version_parts(v))
    }

    fn devices(&self) -> Result<Vec<DeviceInfo>, BackendError> {
        let fail = |w| error(Op::Devices, None, w);
        let n = self.nvml.device_count().map_err(|f| fail(f.into()))?;
        let mut out = Vec::with_capacity(n as usize);
        for index in 0..n {
            let d = self.device(index).map_err(|f| fail(f.into()))?;
            out.push(
                self.device_info(index, &d)
                    .map_err(|w| error(Op::Devices, Some(&GpuRef::Index(index)), w))?,
            );
        }
        Ok(out)
    }

    fn index_of(&self, gpu: &GpuRef) -> Result<u32, BackendError> {
        let want = match gpu {
            GpuRef::Index(i) => return Ok(*i),
            GpuRef::Uuid(u) => u,
        };
        let fail = |f: Fail| error(Op::Identity, Some(gpu), f.into());
        let n = self.nvml.device_count().map_err(fail)?;
        for index in 0..n {
            let d = self.device(index).map_err(fail)?;
            if d.uuid().map_err(fail)?.eq_ignore_ascii_case(want) {
                return Ok(index);
            }
        }
        Err(BackendError::NoSuchGpu {
            op: Op::Identity,
            gpu: gpu.clone(),
        })
    }

    fn identity(&self, gpu: &GpuRef) -> Result<GpuIdentity, BackendError> {
        self.on(Op::Identity, gpu, |i, d| self.identity_of(i, &d))
    }

    fn snapshot(&self, gpu: &GpuRef) -> Result<GpuSnapshot, BackendError> {
        self.snapshot_parts(gpu, SnapshotParts::ALL)
    }

    /// NVML has no atomic read of a whole GPU: the parts are read one after
    /// another, as nvidia-smi does; a change by another client in between
    /// can show, and an instance destroyed midway makes the read start again
    /// (`NvmlBackend::read`). The simulator's snapshot is atomic. The board's
    /// identity and profiles are read once per command; the layout costs one
    /// listing per GI profile of the board, one info per GI, one listing per
    /// CI profile a GI can hold and one info per CI.
    fn snapshot_parts(
        &self,
        gpu: &GpuRef,
        parts: SnapshotParts,
    ) -> Result<GpuSnapshot, BackendError> {
        self.read(Op::Snapshot, gpu, |i, d| {
            let mut identity = self.board(i, d)?;
            let (current, pending) = not_supported_is(d.mig_mode(), (false, false))?;
            let mut layout = Layout::new(false);
            if current {
                layout.gpu_instances = self.layout_of(i, d)?;
                if let Some(m) = self.model_of(i, d)? {
                    let seen: Vec<(Placement, GpuInstanceId)> = layout
                        .gpu_instances
                        .iter()
                        .map(|g| (g.placement, g.id))
                        .collect();
                    identity.mirrored = engine::mirrored_from(m, &seen).unwrap_or(false);
                }
            }
            layout.mirrored = identity.mirrored;
            Ok(GpuSnapshot {
                identity,
                mode: MigMode { current, pending },
                layout,
                mig_devices: if parts.mig_devices {
                    self.mig_list(i, d)?
                } else {
                    Vec::new()
                },
                processes: if parts.processes {
                    self.process_list(i, d, current)?
                } else {
                    Vec::new()
                },
            })
        })
    }

    fn mig_devices(&self, gpu: &GpuRef) -> Result<Vec<MigDeviceInfo>, BackendError> {
        self.read(Op::MigDevices, gpu, |i, d| self.mig_list(i, d))
    }

    fn processes(&self, gpu: &GpuRef) -> Result<Vec<ProcessInfo>, BackendError> {
        self.on(Op::Processes, gpu, |i, d| {
            let mig = not_supported_is(d.mig_mode(), (false, false))?.0;
            self.process_list(i, &d, mig)
        })
    }

    fn readings(&self, gpu: &GpuRef) -> Result<mig_model::readings::Readings, BackendError> {
        self.on(Op::Identity, gpu, |_, d| Ok(crate::readings::read(&d)))
    }

    fn details(&self, gpu: &GpuRef) -> Result<mig_model::details::Details, BackendError> {
        self.on(Op::Identity, gpu, |_, d| {
            // MIG devices in the order `mig_devices` lists them; none with
            // MIG disabled
            let migs: Vec<_> = if d.mig_mode()?.0 {
                crate::read::mig_handles(&d)?
                    .into_iter()
                    .map(|(.., m)| m)
                    .collect()
            } else {
                Vec::new()
            };
            Ok(crate::details::read(&d, &migs))
        })
    }
}
