//! What a plan is made of: a GPU's MIG state, the NVML mutations, and
//! their effect on a state as the driver would apply them.

use mig_model::backend::GpuSnapshot;
use mig_model::engine::{self, Layout};
use mig_model::{
    Busy, CiProfileId, ComputeInstanceId, GiProfileId, GpuInstanceId, GpuModel, MigGpu, ModeSwitch,
    NvmlError, Placement,
};
use serde::{Deserialize, Serialize};

/// A GPU's MIG mode and layout: what a plan starts from and ends in, and
/// what the journal records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigState {
    pub mig_current: bool,
    pub mig_pending: bool,
    pub layout: Layout,
}

impl MigState {
    pub fn of(snap: &GpuSnapshot) -> MigState {
        MigState {
            mig_current: snap.mode.current,
            mig_pending: snap.mode.pending,
            layout: snap.layout.clone(),
        }
    }

    /// GPU and compute instances, in total.
    pub fn instances(&self) -> usize {
        self.layout
            .gpu_instances
            .iter()
            .map(|g| 1 + g.compute_instances.len())
            .sum()
    }
}

/// One NVML mutation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Step {
    /// `nvmlDeviceSetMigMode`.
    SetMigMode { enable: bool },
    /// A GPU reset, to make a pending mode take effect (Ampere only). The
    /// executor skips it when the mode change before it took effect at once.
    Reset,
    /// `nvmlComputeInstanceDestroy`.
    DestroyCi {
        gi: GpuInstanceId,
        ci: ComputeInstanceId,
    },
    /// `nvmlGpuInstanceDestroy`.
    DestroyGi { gi: GpuInstanceId },
    /// `nvmlDeviceCreateGpuInstanceWithPlacement`; `id` is the GI ID it gets.
    CreateGi {
        profile: GiProfileId,
        placement: Placement,
        id: GpuInstanceId,
    },
    /// `nvmlGpuInstanceCreateComputeInstanceWithPlacement`; `id` is the CI ID it gets.
    CreateCi {
        gi: GpuInstanceId,
        profile: CiProfileId,
        placement: Placement,
        id: ComputeInstanceId,
    },
}

impl Step {
    /// One line for humans. `layout` is a state in which the step's GPU
    /// instance exists (the plan's after-layout for creates, its
    /// before-layout for destroys), for profile names.
    pub fn describe(&self, model: &GpuModel, layout: &Layout) -> String {
        let gi_name = |p: GiProfileId| {
            engine::gi_profile(model, p)
                .map(|p| p.name.clone())
                .unwrap_or_else(|_| format!("profile {}", p.0))
        };
        let ci_name = |gi: GpuInstanceId, p: CiProfileId| {
            layout
                .gpu_instance(gi)
                .ok()
                .and_then(|g| engine::gi_profile(model, g.profile_id).ok())
                .and_then(|gp| {
                    engine::ci_profile(gp, p)
                        .ok()
                        .map(|cp| mig_model::ids::ci_short_name(gp, cp))
                })
                .unwrap_or_else(|| format!("profile {}", p.0))
        };
        match self {
            Step::SetMigMode { enable } => {
                format!("set MIG mode {}", if *enable { "on" } else { "off" })
            }
            Step::Reset => "reset the GPU (applies the pending MIG mode)".into(),
            Step::DestroyCi { gi, ci } => format!("destroy compute instance {gi}/{ci}"),
            Step::DestroyGi { gi } => format!("destroy GPU instance {gi}"),
            Step::CreateGi {
                profile,
                placement,
                id,
            } => format!(
                "create GPU instance {} at {placement} (GI {id})",
                gi_name(*profile)
            ),
            Step::CreateCi {
                gi,
                profile,
                placement,
                id,
            } => format!(
                "create compute instance {} at {placement} in GI {gi} (CI {gi}/{id})",
                ci_name(*gi, *profile)
            ),
        }
    }

    /// Whether the step changes a layout or mode (all do; kept for callers
    /// that count).
    pub fn is_destroy(&self) -> bool {
        matches!(self, Step::DestroyCi { .. } | Step::DestroyGi { .. })
    }
}

/// Apply one step to a state, as the driver would: layout operations through
/// `mig_model::engine`, mode changes as the simulator and NVML describe them
/// (disabling needs an empty layout; on a product that needs a reset the new
/// mode stays pending until one; a mode switch clears the layout).
pub fn simulate(st: &mut MigState, model: &GpuModel, step: &Step) -> Result<(), NvmlError> {
    // the model's per-GPU state machine decides (mig_model::mode), as it
    // does for the simulator; a plan only runs on idle GPUs (busy instances
    // are refused before planning), so no process is in the way
    let mut gpu = MigGpu {
        current: st.mig_current,
        pending: st.mig_pending,
        layout: std::mem::take(&mut st.layout),
        switch: if model.mode_change_needs_reset {
            ModeSwitch::AfterReset
        } else {
            ModeSwitch::InPlace
        },
    };
    let idle = Busy::idle();
    let expect = |want: u32, got: u32| {
        if got == want {
            Ok(())
        } else {
            Err(NvmlError::Unknown)
        }
    };
    let done = match *step {
        Step::SetMigMode { enable } => gpu.set_mig_mode(enable, &idle).map(|_| ()),
        Step::Reset => gpu.reset(&idle),
        Step::DestroyCi { gi, ci } => gpu.destroy_ci(gi, ci, &idle),
        Step::DestroyGi { gi } => gpu.destroy_gi(gi, &idle),
        Step::CreateGi {
            profile,
            placement,
            id,
        } => gpu
            .create_gi(model, profile, Some(placement))
            .and_then(|got| expect(id.0, got.0)),
        Step::CreateCi {
            gi,
            profile,
            placement,
            id,
        } => gpu
            .create_ci(model, gi, profile, Some(placement))
            .and_then(|got| expect(id.0, got.0)),
    };
    st.mig_current = gpu.current;
    st.mig_pending = gpu.pending;
    st.layout = gpu.layout;
    done
}

/// The CI ID a create in `gi` gets next: the engine's lowest-free rule
/// (`mig_model::engine::lowest_free_ci_id`); one past the last ID when the
/// GI is full (a create there fails in simulation).
pub(crate) fn next_ci_id(layout: &Layout, gi: GpuInstanceId) -> ComputeInstanceId {
    match layout.gpu_instance(gi) {
        Ok(g) => {
            engine::lowest_free_ci_id(g).unwrap_or(ComputeInstanceId(engine::MAX_COMPUTE_INSTANCES))
        }
        Err(_) => ComputeInstanceId(0),
    }
}

/// Every CI, then every GI, of a layout.
pub(crate) fn destroy_all(layout: &Layout) -> Vec<Step> {
    let mut v: Vec<Step> = layout
        .mig_devices()
        .map(|(g, c)| Step::DestroyCi { gi: g.id, ci: c.id })
        .collect();
    v.extend(
        layout
            .gpu_instances
            .iter()
            .map(|g| Step::DestroyGi { gi: g.id }),
    );
    v
}

impl Step {
    /// The CI ID a `CreateCi` step creates.
    pub(crate) fn id(&self) -> Option<ComputeInstanceId> {
        match self {
            Step::CreateCi { id, .. } => Some(*id),
            _ => None,
        }
    }
}
