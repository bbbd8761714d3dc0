//! GPU and compute instances of the loaded library (`nvmlGpuInstance_t`,
//! `nvmlComputeInstance_t`), each borrowing it as [`Device`] does.

use super::*;

/// A GPU-instance handle.
#[derive(Clone, Copy)]
pub struct GpuInstance<'a> {
    pub(super) nvml: &'a Nvml,
    pub(super) h: sys::nvmlGpuInstance_t,
}

impl<'a> GpuInstance<'a> {
    /// `nvmlGpuInstanceGetInfo`.
    pub fn info(&self) -> Res<InstanceInfo> {
        let f = sym!(self.nvml, nvmlGpuInstanceGetInfo)?;
        let mut i: sys::nvmlGpuInstanceInfo_t = zeroed();
        // SAFETY: live handle; `i` is a valid out pointer.
        check(unsafe { f(self.h, &mut i) })?;
        Ok(InstanceInfo {
            id: i.id,
            profile_id: i.profileId,
            placement: Placement::new(i.placement.start, i.placement.size),
        })
    }

    /// `nvmlGpuInstanceDestroy`.
    pub fn destroy(self) -> Res<()> {
        let f = sym!(self.nvml, nvmlGpuInstanceDestroy)?;
        // SAFETY: live handle, not used again (moved in).
        check(unsafe { f(self.h) })
    }

    /// `nvmlGpuInstanceGetComputeInstanceProfileInfoV` for CI profile index
    /// `index` and the shared engine profile, v3 struct or v2.
    pub fn ci_profile_info(&self, index: u32) -> Res<CiProfileInfo> {
        let f = sym!(self.nvml, nvmlGpuInstanceGetComputeInstanceProfileInfoV)?;
        loop {
            let version = self.nvml.ci_info_version.load(Ordering::SeqCst);
            // v3 is v2 plus a trailing `capabilities`: a v3-sized buffer
            // holds either.
            let mut info: sys::nvmlComputeInstanceProfileInfo_v3_t = zeroed();
            info.version = version;
            // SAFETY: live handle; `info` is the larger (v3, 140-byte)
            // struct and `version` tells NVML which layout to write; the
            // v2 layout is a prefix of it.
            let rc = unsafe {
                f(
                    self.h,
                    index,
                    sys::NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED,
                    (&mut info as *mut sys::nvmlComputeInstanceProfileInfo_v3_t).cast(),
                )
            };
            if rc == ERR_ARGUMENT_VERSION_MISMATCH && version == CI_PROFILE_INFO_V3 {
                self.nvml
                    .ci_info_version
                    .store(CI_PROFILE_INFO_V2, Ordering::SeqCst);
                continue;
            }
            check(rc)?;
            return Ok(CiProfileInfo {
                id: info.id,
                slices: info.sliceCount,
                instances: info.instanceCount,
                sm: info.multiprocessorCount,
                ce: info.sharedCopyEngineCount,
                dec: info.sharedDecoderCount,
                enc: info.sharedEncoderCount,
                jpeg: info.sharedJpegCount,
                ofa: info.sharedOfaCount,
            });
        }
    }

    /// `nvmlGpuInstanceGetComputeInstancePossiblePlacements`.
    pub fn ci_placements(&self, profile_id: u32) -> Res<Vec<Placement>> {
        let f = sym!(
            self.nvml,
            nvmlGpuInstanceGetComputeInstancePossiblePlacements
        )?;
        let v = fetch::<sys::nvmlComputeInstancePlacement_t>(8, |p, n| {
            // SAFETY: live handle; `p` is NULL or holds `*n` elements (fetch).
            unsafe { f(self.h, profile_id, p, n) }
        })?;
        Ok(v.iter().map(|p| Placement::new(p.start, p.size)).collect())
    }

    /// `nvmlGpuInstanceGetComputeInstanceRemainingCapacity`.
    pub fn ci_remaining(&self, profile_id: u32) -> Res<u32> {
        let f = sym!(
            self.nvml,
            nvmlGpuInstanceGetComputeInstanceRemainingCapacity
        )?;
        let mut n: c_uint = 0;
        // SAFETY: live handle; `n` is a valid out pointer.
        check(unsafe { f(self.h, profile_id, &mut n) })?;
        Ok(n)
    }

    /// `nvmlGpuInstanceCreateComputeInstance[WithPlacement]`.
    pub fn create_ci(&self, profile_id: u32, at: Option<Placement>) -> Res<ComputeInstance<'a>> {
        let mut h: sys::nvmlComputeInstance_t = ptr::null_mut();
        match at {
            None => {
                let f = sym!(self.nvml, nvmlGpuInstanceCreateComputeInstance)?;
                // SAFETY: live handle; `h` is a valid out pointer.
                check(unsafe { f(self.h, profile_id, &mut h) })?;
            }
            Some(pl) => {
                let f = sym!(self.nvml, nvmlGpuInstanceCreateComputeInstanceWithPlacement)?;
                let pl = sys::nvmlComputeInstancePlacement_t {
                    start: pl.start,
                    size: pl.size,
                };
                // SAFETY: live handle; `pl` outlives the call; `h` is a
                // valid out pointer.
                check(unsafe { f(self.h, profile_id, &pl, &mut h) })?;
            }
        }
        Ok(ComputeInstance { nvml: self.nvml, h })
    }

    /// `nvmlGpuInstanceGetComputeInstances` for one CI profile ID.
    pub fn compute_instances(
        &self,
        profile_id: u32,
        capacity: u32,
    ) -> Res<Vec<ComputeInstance<'a>>> {
        let f = sym!(self.nvml, nvmlGpuInstanceGetComputeInstances)?;
        let v = fetch::<sys::nvmlComputeInstance_t>(capacity.max(1), |p, n| {
            // SAFETY: live handle; `p` is NULL or holds `*n` elements (fetch).
            unsafe { f(self.h, profile_id, p, n) }
        })?;
        Ok(v.into_iter()
            .map(|h| ComputeInstance { nvml: self.nvml, h })
            .collect())
    }

    /// `nvmlGpuInstanceGetComputeInstanceById`.
    pub fn compute_instance(&self, id: u32) -> Res<ComputeInstance<'a>> {
        let f = sym!(self.nvml, nvmlGpuInstanceGetComputeInstanceById)?;
        let mut h: sys::nvmlComputeInstance_t = ptr::null_mut();
        // SAFETY: live handle; `h` is a valid out pointer.
        check(unsafe { f(self.h, id, &mut h) })?;
        Ok(ComputeInstance { nvml: self.nvml, h })
    }
}

/// A compute-instance handle.
#[derive(Clone, Copy)]
pub struct ComputeInstance<'a> {
    pub(super) nvml: &'a Nvml,
    pub(super) h: sys::nvmlComputeInstance_t,
}

impl ComputeInstance<'_> {
    /// `nvmlComputeInstanceGetInfo_v2`.
    pub fn info(&self) -> Res<InstanceInfo> {
        let f = sym!(self.nvml, nvmlComputeInstanceGetInfo_v2)?;
        let mut i: sys::nvmlComputeInstanceInfo_t = zeroed();
        // SAFETY: live handle; `i` is a valid out pointer.
        check(unsafe { f(self.h, &mut i) })?;
        Ok(InstanceInfo {
            id: i.id,
            profile_id: i.profileId,
            placement: Placement::new(i.placement.start, i.placement.size),
        })
    }

    /// `nvmlComputeInstanceDestroy`.
    pub fn destroy(self) -> Res<()> {
        let f = sym!(self.nvml, nvmlComputeInstanceDestroy)?;
        // SAFETY: live handle, not used again (moved in).
        check(unsafe { f(self.h) })
    }
}
