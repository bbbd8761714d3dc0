//! The per-GPU MIG state machine: MIG mode (current and pending), GPU reset,
//! the layout, and the processes that keep instances busy.
//!
//! Rules and their sources:
//! - disabling MIG while GPU instances exist is refused with In Use (NVML
//!   `nvmlDeviceSetMigMode`; nvidia-smi asks to destroy them first);
//! - a mode change takes effect at once when the GPU is idle (the driver
//!   resets the GPU itself on Ampere and reconfigures in place on Hopper and
//!   later: the guide's "Enable MIG Mode" example shows `Enabled` right
//!   after `-mig 1`); with processes on the GPU the new mode stays pending
//!   and the activation status is In Use; where the driver may not reset
//!   the GPU itself ([`ModeSwitch::AfterReset`]: Ampere in a VM, or a
//!   planner that resets explicitly, the catalog's `mode_change_needs_reset`)
//!   it stays pending until a reset, with status Reset Required;
//! - a mode switch clears the layout, and so does a reset (MIG devices do
//!   not survive a GPU reset: the guide, "Getting Started");
//! - a reset with processes on the GPU is refused with In Use; it makes the
//!   pending mode current;
//! - instance operations with MIG disabled are Not Supported;
//! - a GPU or compute instance with processes on it cannot be destroyed
//!   (In Use); a GPU instance with compute instances neither
//!   ([`Layout::destroy_gi`]).
//!
//! Pure: the simulator persists a [`MigGpu`] per GPU, the planner steps one
//! through the transitions it plans.

use crate::catalog::GpuModel;
use crate::engine::Layout;
use crate::error::NvmlError;
use crate::types::{CiProfileId, ComputeInstanceId, GiProfileId, GpuInstanceId, Placement};

/// How a MIG mode change takes effect when the GPU is idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModeSwitch {
    /// At once: the driver resets or reconfigures the GPU itself.
    #[default]
    InPlace,
    /// Only at the next GPU reset.
    AfterReset,
}

/// The processes on one GPU: for each, the MIG device it runs on (`None`
/// for a process on the whole GPU with MIG disabled).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Busy {
    on: Vec<Option<(GpuInstanceId, ComputeInstanceId)>>,
}

impl Busy {
    /// No process on the GPU.
    pub fn idle() -> Self {
        Busy::default()
    }

    /// The processes, each as the MIG device it runs on (or `None`).
    pub fn new(on: impl IntoIterator<Item = Option<(GpuInstanceId, ComputeInstanceId)>>) -> Self {
        Busy {
            on: on.into_iter().collect(),
        }
    }

    /// Whether any process runs on the GPU.
    pub fn any(&self) -> bool {
        !self.on.is_empty()
    }

    /// Whether a process runs on a compute instance of GPU instance `gi`.
    pub fn gi(&self, gi: GpuInstanceId) -> bool {
        self.on.iter().flatten().any(|(g, _)| *g == gi)
    }

    /// Whether a process runs on compute instance `ci` of `gi`.
    pub fn ci(&self, gi: GpuInstanceId, ci: ComputeInstanceId) -> bool {
        self.on.iter().flatten().any(|&d| d == (gi, ci))
    }
}

/// One GPU's MIG state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigGpu {
    /// MIG mode in effect.
    pub current: bool,
    /// MIG mode after the next reset (equal to `current` when none waits).
    pub pending: bool,
    /// The GPU and compute instances (empty while MIG is disabled).
    pub layout: Layout,
    /// How a mode change takes effect.
    pub switch: ModeSwitch,
}

impl MigGpu {
    /// A GPU in this mode state with this layout.
    pub fn new(current: bool, pending: bool, layout: Layout) -> Self {
        MigGpu {
            current,
            pending,
            layout,
            switch: ModeSwitch::InPlace,
        }
    }

    /// Instance operations need MIG enabled (NVML: Not Supported).
    pub fn require_mig(&self) -> Result<(), NvmlError> {
        if self.current {
            Ok(())
        } else {
            Err(NvmlError::NotSupported)
        }
    }

    /// `nvmlDeviceSetMigMode`: the error refuses the change (nothing
    /// changes); `Ok(Some(status))` is the activation status of a change left
    /// pending.
    pub fn set_mig_mode(
        &mut self,
        enable: bool,
        busy: &Busy,
    ) -> Result<Option<NvmlError>, NvmlError> {
        if !enable && !self.layout.gpu_instances.is_empty() {
            return Err(NvmlError::InUse);
        }
        self.pending = enable;
        if self.current == enable {
            return Ok(None);
        }
        if busy.any() {
            return Ok(Some(NvmlError::InUse));
        }
        if self.switch == ModeSwitch::AfterReset {
            return Ok(Some(NvmlError::ResetRequired));
        }
        self.switch_to(enable);
        Ok(None)
    }

    fn switch_to(&mut self, enable: bool) {
        self.current = enable;
        self.layout.gpu_instances.clear();
    }

    /// A GPU reset (`nvidia-smi -r`): refused while processes run; makes
    /// the pending mode current and clears the layout.
    pub fn reset(&mut self, busy: &Busy) -> Result<(), NvmlError> {
        if busy.any() {
            return Err(NvmlError::InUse);
        }
        self.switch_to(self.pending);
        Ok(())
    }

    /// `nvmlDeviceCreateGpuInstance[WithPlacement]`.
    pub fn create_gi(
        &mut self,
        model: &GpuModel,
        profile: GiProfileId,
        placement: Option<Placement>,
    ) -> Result<GpuInstanceId, NvmlError> {
        self.require_mig()?;
        self.layout.create_gi(model, profile, placement)
    }

    /// `nvmlGpuInstanceDestroy`: Not Found for an unknown GI, In Use while
    /// a process runs on it or it has compute instances.
    pub fn destroy_gi(&mut self, gi: GpuInstanceId, busy: &Busy) -> Result<(), NvmlError> {
        self.require_mig()?;
        self.layout.gpu_instance(gi)?;
        if busy.gi(gi) {
            return Err(NvmlError::InUse);
        }
        self.layout.destroy_gi(gi).map(|_| ())
    }

    /// `nvmlGpuInstanceCreateComputeInstance[WithPlacement]`.
    pub fn create_ci(
        &mut self,
        model: &GpuModel,
        gi: GpuInstanceId,
        profile: CiProfileId,
        placement: Option<Placement>,
    ) -> Result<ComputeInstanceId, NvmlError> {
        self.require_mig()?;
        self.layout.create_ci(model, gi, profile, placement)
    }

    /// `nvmlComputeInstanceDestroy`: Not Found for an unknown GI or CI, In
    /// Use while a process runs on it.
    pub fn destroy_ci(
        &mut self,
        gi: GpuInstanceId,
        ci: ComputeInstanceId,
        busy: &Busy,
    ) -> Result<(), NvmlError> {
        self.require_mig()?;
        let inst = self.layout.gpu_instance(gi)?;
        if !inst.compute_instances.iter().any(|c| c.id == ci) {
            return Err(NvmlError::NotFound);
        }
        if busy.ci(gi, ci) {
            return Err(NvmlError::InUse);
        }
        self.layout.destroy_ci(gi, ci).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    fn a100() -> &'static GpuModel {
        catalog::model("a100-sxm4-40gb").unwrap()
    }

    /// Proves the guide's sequence: enabling on an idle GPU takes effect at
    /// once, disabling with instances is refused (In Use) and changes
    /// nothing, destroying them first lets it through.
    #[test]
    fn enable_then_disable_needs_an_empty_layout() {
        let mut g = MigGpu::default();
        assert_eq!(
            g.create_gi(a100(), GiProfileId(9), None),
            Err(NvmlError::NotSupported)
        );
        assert_eq!(g.set_mig_mode(true, &Busy::idle()), Ok(None));
        assert!(g.current && g.pending);
        let gi = g.create_gi(a100(), GiProfileId(9), None).unwrap();
        let before = g.clone();
        assert_eq!(g.set_mig_mode(false, &Busy::idle()), Err(NvmlError::InUse));
        assert_eq!(g, before);
        g.destroy_gi(gi, &Busy::idle()).unwrap();
        assert_eq!(g.set_mig_mode(false, &Busy::idle()), Ok(None));
        assert!(!g.current && !g.pending);
    }

    /// Proves a change asked for while processes run stays pending with In
    /// Use, a reset is refused while they run, and after they end the reset
    /// makes the pending mode current.
    #[test]
    fn busy_gpu_keeps_the_change_pending_until_reset() {
        let mut g = MigGpu::default();
        let busy = Busy::new([None]);
        assert_eq!(g.set_mig_mode(true, &busy), Ok(Some(NvmlError::InUse)));
        assert!(!g.current && g.pending);
        assert_eq!(g.reset(&busy), Err(NvmlError::InUse));
        g.reset(&Busy::idle()).unwrap();
        assert!(g.current && g.pending);
    }

    /// Proves a GPU that switches only at reset reports Reset Required and
    /// switches, clearing the layout, at the reset.
    #[test]
    fn after_reset_switch_waits_for_the_reset() {
        let mut g = MigGpu::new(true, true, Layout::new(false));
        g.switch = ModeSwitch::AfterReset;
        g.create_gi(a100(), GiProfileId(9), None).unwrap();
        assert_eq!(g.set_mig_mode(false, &Busy::idle()), Err(NvmlError::InUse));
        g.layout.gpu_instances.clear();
        assert_eq!(
            g.set_mig_mode(false, &Busy::idle()),
            Ok(Some(NvmlError::ResetRequired))
        );
        assert!(g.current && !g.pending);
        g.reset(&Busy::idle()).unwrap();
        assert!(!g.current);
    }

    /// Proves busy instances cannot be destroyed (In Use) while idle
    /// siblings can, and unknown ones are Not Found.
    #[test]
    fn busy_instances_are_not_destroyed() {
        let m = a100();
        let mut g = MigGpu::new(true, true, Layout::new(false));
        let gi = g.create_gi(m, GiProfileId(9), None).unwrap();
        let c0 = g.create_ci(m, gi, CiProfileId(0), None).unwrap();
        let c1 = g.create_ci(m, gi, CiProfileId(0), None).unwrap();
        let busy = Busy::new([Some((gi, c0))]);
        assert_eq!(g.destroy_ci(gi, c0, &busy), Err(NvmlError::InUse));
        assert_eq!(
            g.destroy_ci(gi, ComputeInstanceId(7), &busy),
            Err(NvmlError::NotFound)
        );
        g.destroy_ci(gi, c1, &busy).unwrap();
        assert_eq!(g.destroy_gi(gi, &busy), Err(NvmlError::InUse));
        assert_eq!(
            g.destroy_gi(GpuInstanceId(14), &busy),
            Err(NvmlError::NotFound)
        );
        g.destroy_ci(gi, c0, &Busy::idle()).unwrap();
        g.destroy_gi(gi, &Busy::idle()).unwrap();
    }
}
