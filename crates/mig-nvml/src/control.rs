//! Changing a GPU through NVML: MIG mode, GPU and compute instances, one
//! NVML mutation each (plus the info call that names what was created).

use crate::machine::NvmlBackend;
use crate::raw::{self, Fail};
use crate::read::{ci_info, ci_profile_list, gi_info, not_supported_is, require_mig};
use mig_model::backend::{
    BackendError, CiInfo, CiProfileStatus, GiInfo, GiProfileStatus, GpuRef, LayoutControl, MigMode,
    ModeControl, Op, ProfileQuery,
};
use mig_model::engine;
use mig_model::{
    ids, CiProfileId, ComputeInstanceId, GiProfileId, GpuInstanceId, NvmlError, Placement,
};

impl ModeControl for NvmlBackend {
    fn mig_mode(&self, gpu: &GpuRef) -> Result<MigMode, BackendError> {
        self.on(Op::MigMode, gpu, |_, d| {
            let (current, pending) = d.mig_mode()?;
            Ok(MigMode { current, pending })
        })
    }

    fn set_mig_mode(&self, gpu: &GpuRef, enable: bool) -> Result<Option<NvmlError>, BackendError> {
        self.on(Op::SetMigMode, gpu, |i, d| {
            self.forget_profiles(i);
            Ok(NvmlError::from_code(d.set_mig_mode(enable)?))
        })
    }

    /// NVML has no GPU reset (`nvmlDeviceResetGpu` does not exist; nvidia-smi
    /// resets through the driver directly). What the CLI's reset is for is
    /// making a pending MIG mode effective, and NVML does that when the mode
    /// is set again on an idle GPU: so a pending mode is applied with
    /// `nvmlDeviceSetMigMode` (failing as it does, e.g. `IN_USE`), and with
    /// nothing pending the reset is `NOT_SUPPORTED`.
    fn reset(&self, gpu: &GpuRef) -> Result<(), BackendError> {
        self.on(Op::Reset, gpu, |i, d| {
            self.forget_profiles(i);
            let (current, pending) = d.mig_mode()?;
            if current == pending {
                return Err(Fail::Code(raw::ERR_NOT_SUPPORTED).into());
            }
            match d.set_mig_mode(pending)? {
                raw::SUCCESS => Ok(()),
                code => Err(Fail::Code(code).into()),
            }
        })
    }
}

impl LayoutControl for NvmlBackend {
    fn gi_profiles(
        &self,
        gpu: &GpuRef,
        want: ProfileQuery,
    ) -> Result<Vec<GiProfileStatus>, BackendError> {
        self.on(Op::GiProfiles, gpu, |i, d| {
            self.profile_list(i, &d, want.placements)?
                .into_iter()
                .map(|p| {
                    // A driver that lists profiles with MIG disabled may refuse
                    // the capacity: none can be created then.
                    let remaining = if want.remaining {
                        not_supported_is(d.gi_remaining(p.id), 0)?
                    } else {
                        0
                    };
                    Ok(GiProfileStatus {
                        placements: engine::gi_placements(&p).collect(),
                        remaining,
                        profile: p,
                    })
                })
                .collect()
        })
    }

    fn gpu_instances(&self, gpu: &GpuRef) -> Result<Vec<GiInfo>, BackendError> {
        self.read(Op::GpuInstances, gpu, |i, d| self.gi_list(i, d))
    }

    fn create_gpu_instance(
        &self,
        gpu: &GpuRef,
        profile: GiProfileId,
        placement: Option<Placement>,
    ) -> Result<GiInfo, BackendError> {
        self.on(Op::CreateGpuInstance, gpu, |i, d| {
            let gi = d.create_gi(profile.0, placement)?;
            let (info, p) = gi_info(&gi, &self.profile_list(i, &d, false)?)?;
            Ok(GiInfo {
                id: GpuInstanceId(info.id),
                profile: p,
                placement: info.placement,
            })
        })
    }

    fn destroy_gpu_instance(&self, gpu: &GpuRef, gi: GpuInstanceId) -> Result<(), BackendError> {
        self.on(Op::DestroyGpuInstance, gpu, |_, d| {
            Ok(d.gpu_instance(gi.0)?.destroy()?)
        })
    }

    fn ci_profiles(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
    ) -> Result<Vec<CiProfileStatus>, BackendError> {
        self.on(Op::CiProfiles, gpu, |i, d| {
            require_mig(&d)?;
            let h = d.gpu_instance(gi.0)?;
            let (_, gp) = gi_info(&h, &self.profile_list(i, &d, false)?)?;
            ci_profile_list(&h, true, &self.ci_indexes(i, &d, &gp)?)?
                .into_iter()
                .map(|c| {
                    Ok(CiProfileStatus {
                        name: ids::ci_profile_name(&gp, &c),
                        placements: engine::ci_placements(&c).collect(),
                        remaining: h.ci_remaining(c.id)?,
                        profile: c,
                    })
                })
                .collect()
        })
    }

    fn compute_instances(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
    ) -> Result<Vec<CiInfo>, BackendError> {
        self.read(Op::ComputeInstances, gpu, |i, d| self.ci_list(i, d, gi))
    }

    fn create_compute_instance(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
        profile: CiProfileId,
        placement: Option<Placement>,
    ) -> Result<CiInfo, BackendError> {
        self.on(Op::CreateComputeInstance, gpu, |i, d| {
            let h = d.gpu_instance(gi.0)?;
            let ci = h.create_ci(profile.0, placement)?;
            let info = ci.info()?;
            let (_, gp) = gi_info(&h, &self.profile_list(i, &d, false)?)?;
            ci_info(gi, &gp, info, &self.ci_profiles_of(i, &d, &h, &gp)?)
        })
    }

    /// The create and one info call: no profile is read.
    fn create_compute_instance_id(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
        profile: CiProfileId,
        placement: Option<Placement>,
    ) -> Result<ComputeInstanceId, BackendError> {
        self.on(Op::CreateComputeInstance, gpu, |_, d| {
            let h = d.gpu_instance(gi.0)?;
            let ci = h.create_ci(profile.0, placement)?;
            Ok(ComputeInstanceId(ci.info()?.id))
        })
    }

    fn destroy_compute_instance(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
        ci: ComputeInstanceId,
    ) -> Result<(), BackendError> {
        self.on(Op::DestroyComputeInstance, gpu, |_, d| {
            let h = d.gpu_instance(gi.0)?;
            Ok(h.compute_instance(ci.0)?.destroy()?)
        })
    }
}
