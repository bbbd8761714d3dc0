//! Compute instances inside a GPU instance: profile info (v1/v2/v3),
//! placements, remaining capacity, create (with or without a placement),
//! destroy, list, look up and describe.
//!
//! As for GPU instances, every answer comes from the simulated machine's
//! `Backend` methods. A CI profile's NVML index is its profile ID (0 = 1c,
//! 1 = 2c, ..., 7 = the `1_SLICE_REV1` CI of a `1g.20gb` GI); an index the GI
//! lacks is `NOT_SUPPORTED` and one at or past
//! `NVML_COMPUTE_INSTANCE_PROFILE_COUNT` is `INVALID_ARGUMENT`, mirroring the
//! GI lookups of the real dump.

use crate::call_log::call;
use crate::errors::{
    fill_chars, input, out, struct_version, write_instances, write_list, Fail, Result, Return,
};
use crate::handles::{Handle, Kind};
use crate::machine::{self, GiRef};
use mig_model::backend::CiProfileStatus;
use mig_model::backend::LayoutControl;
use mig_model::{CiProfileId, ComputeInstanceId, Placement};
use nvml_wrapper_sys::bindings as sys;
use std::ffi::c_uint;

/// `NVML_COMPUTE_INSTANCE_PROFILE_COUNT` of the R580 header.
pub const COMPUTE_INSTANCE_PROFILE_COUNT: u32 = 8;
/// `NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED`, the only engine profile.
const ENGINE_PROFILE_SHARED: c_uint = 0;
/// `nvmlComputeInstanceProfileInfo_v2` / `_v3` (`NVML_STRUCT_VERSION`).
const PROFILE_INFO_V2: c_uint = 0x0200_0088;
const PROFILE_INFO_V3: c_uint = 0x0300_008C;
/// `NVML_COMPUTE_INSTANCE_PROFILE_CAPS_GFX`.
const CAPS_GFX: c_uint = 0x1;

/// `nvmlComputeInstanceInfo_t` as the v1 `nvmlComputeInstanceGetInfo` wrote
/// it: without the placement that v2 appended.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ComputeInstanceInfoV1 {
    pub device: sys::nvmlDevice_t,
    pub gpu_instance: sys::nvmlGpuInstance_t,
    pub id: c_uint,
    pub profile_id: c_uint,
}

/// Run `f` with the GI a handle names and its CI profiles from the backend.
fn with_profiles<T>(
    gpu_instance: sys::nvmlGpuInstance_t,
    f: impl FnOnce(&GiRef<'_>, Vec<CiProfileStatus>) -> Result<T>,
) -> Result<T> {
    let st = machine::snapshot()?;
    let gi = machine::gpu_instance(&st, gpu_instance)?;
    let profiles = machine::sim()?.ci_profiles(&mig_model::GpuRef::Index(gi.gpu), gi.gi.id)?;
    f(&gi, profiles)
}

fn by_index(profiles: Vec<CiProfileStatus>, index: u32, eng: c_uint) -> Result<CiProfileStatus> {
    if index >= COMPUTE_INSTANCE_PROFILE_COUNT || eng != ENGINE_PROFILE_SHARED {
        return Err(Fail::INVALID_ARGUMENT);
    }
    profiles
        .into_iter()
        .find(|p| p.profile.id == index)
        .ok_or(Fail::NOT_SUPPORTED)
}

fn by_id(profiles: &[CiProfileStatus], id: u32) -> Result<&CiProfileStatus> {
    profiles
        .iter()
        .find(|p| p.profile.id == id)
        .ok_or(Fail::INVALID_ARGUMENT)
}

fn info_v1(p: &CiProfileStatus) -> sys::nvmlComputeInstanceProfileInfo_t {
    let c = &p.profile;
    sys::nvmlComputeInstanceProfileInfo_t {
        id: c.id,
        sliceCount: c.slices,
        instanceCount: c.instances,
        multiprocessorCount: c.sm,
        sharedCopyEngineCount: c.ce,
        sharedDecoderCount: c.dec,
        sharedEncoderCount: c.enc,
        sharedJpegCount: c.jpeg,
        sharedOfaCount: c.ofa,
    }
}

#[no_mangle]
pub unsafe extern "C" fn nvmlGpuInstanceGetComputeInstanceProfileInfo(
    gpu_instance: sys::nvmlGpuInstance_t,
    profile: c_uint,
    eng_profile: c_uint,
    info: *mut sys::nvmlComputeInstanceProfileInfo_t,
) -> Return {
    call(
        "nvmlGpuInstanceGetComputeInstanceProfileInfo",
        || log_args!(gpu_instance, profile, eng_profile),
        || {
            let info = unsafe { out(info) }?;
            *info = with_profiles(gpu_instance, |_, all| {
                Ok(info_v1(&by_index(all, profile, eng_profile)?))
            })?;
            Ok(())
        },
    )
}

/// v2 or v3 as the struct's `version` asks; `version` is cleared as the GI
/// call does on the real driver.
#[no_mangle]
pub unsafe extern "C" fn nvmlGpuInstanceGetComputeInstanceProfileInfoV(
    gpu_instance: sys::nvmlGpuInstance_t,
    profile: c_uint,
    eng_profile: c_uint,
    info: *mut sys::nvmlComputeInstanceProfileInfo_v2_t,
) -> Return {
    call(
        "nvmlGpuInstanceGetComputeInstanceProfileInfoV",
        || log_args!(gpu_instance, profile, eng_profile),
        || {
            let version = unsafe { struct_version(info.cast()) }?;
            if version != PROFILE_INFO_V2 && version != PROFILE_INFO_V3 {
                return Err(Fail::ARGUMENT_VERSION_MISMATCH);
            }
            let (p, gfx) = with_profiles(gpu_instance, |gi, all| {
                Ok((by_index(all, profile, eng_profile)?, gi.profile.gfx))
            })?;
            let v1 = info_v1(&p);
            let mut v2 = sys::nvmlComputeInstanceProfileInfo_v2_t {
                version: 0,
                id: v1.id,
                sliceCount: v1.sliceCount,
                instanceCount: v1.instanceCount,
                multiprocessorCount: v1.multiprocessorCount,
                sharedCopyEngineCount: v1.sharedCopyEngineCount,
                sharedDecoderCount: v1.sharedDecoderCount,
                sharedEncoderCount: v1.sharedEncoderCount,
                sharedJpegCount: v1.sharedJpegCount,
                sharedOfaCount: v1.sharedOfaCount,
                name: [0; 96],
            };
            fill_chars(&mut v2.name, &p.name);
            if version == PROFILE_INFO_V2 {
                *unsafe { out(info) }? = v2;
            } else {
                let v3 = unsafe { out(info.cast::<sys::nvmlComputeInstanceProfileInfo_v3_t>()) }?;
                *v3 = sys::nvmlComputeInstanceProfileInfo_v3_t {
                    version: 0,
                    id: v2.id,
                    sliceCount: v2.sliceCount,
                    instanceCount: v2.instanceCount,
                    multiprocessorCount: v2.multiprocessorCount,
                    sharedCopyEngineCount: v2.sharedCopyEngineCount,
                    sharedDecoderCount: v2.sharedDecoderCount,
                    sharedEncoderCount: v2.sharedEncoderCount,
                    sharedJpegCount: v2.sharedJpegCount,
                    sharedOfaCount: v2.sharedOfaCount,
                    name: v2.name,
                    capabilities: if gfx { CAPS_GFX } else { 0 },
                };
            }
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn nvmlGpuInstanceGetComputeInstanceRemainingCapacity(
    gpu_instance: sys::nvmlGpuInstance_t,
    profile_id: c_uint,
    count: *mut c_uint,
) -> Return {
    call(
        "nvmlGpuInstanceGetComputeInstanceRemainingCapacity",
        || log_args!(gpu_instance, profile_id),
        || {
            let count = unsafe { out(count) }?;
            *count = with_profiles(
                gpu_instance,
                |_, all| Ok(by_id(&all, profile_id)?.remaining),
            )?;
            Ok(())
        },
    )
}

/// Placements in compute slices relative to the GI; same list protocol as
/// the GI placements (NULL array -> count, short array -> `INSUFFICIENT_SIZE`).
#[no_mangle]
pub unsafe extern "C" fn nvmlGpuInstanceGetComputeInstancePossiblePlacements(
    gpu_instance: sys::nvmlGpuInstance_t,
    profile_id: c_uint,
    placements: *mut sys::nvmlComputeInstancePlacement_t,
    count: *mut c_uint,
) -> Return {
    call(
        "nvmlGpuInstanceGetComputeInstancePossiblePlacements",
        || log_args!(gpu_instance, profile_id),
        || {
            let items: Vec<sys::nvmlComputeInstancePlacement_t> =
                with_profiles(gpu_instance, |_, all| {
                    Ok(by_id(&all, profile_id)?
                        .placements
                        .iter()
                        .map(|p| sys::nvmlComputeInstancePlacement_t {
                            start: p.start,
                            size: p.size,
                        })
                        .collect())
                })?;
            unsafe { write_list(placements, count, &items) }
        },
    )
}

/// Create through the backend and hand back the new CI's handle.
fn create(
    gpu_instance: sys::nvmlGpuInstance_t,
    profile_id: c_uint,
    placement: Option<Placement>,
) -> Result<sys::nvmlComputeInstance_t> {
    let st = machine::snapshot()?;
    let gi = machine::gpu_instance(&st, gpu_instance)?;
    let ci = machine::sim()?.create_compute_instance(
        &mig_model::GpuRef::Index(gi.gpu),
        gi.gi.id,
        CiProfileId(profile_id),
        placement,
    )?;
    Handle::compute(
        Kind::ComputeInstance,
        gi.gpu,
        (gi.gi.id.0, gi.gi.profile_id.0),
        (ci.id.0, ci.profile.id),
    )
    .to_ptr()
}

#[no_mangle]
pub unsafe extern "C" fn nvmlGpuInstanceCreateComputeInstance(
    gpu_instance: sys::nvmlGpuInstance_t,
    profile_id: c_uint,
    compute_instance: *mut sys::nvmlComputeInstance_t,
) -> Return {
    call(
        "nvmlGpuInstanceCreateComputeInstance",
        || log_args!(gpu_instance, profile_id),
        || {
            let compute_instance = unsafe { out(compute_instance) }?;
            *compute_instance = create(gpu_instance, profile_id, None)?;
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn nvmlGpuInstanceCreateComputeInstanceWithPlacement(
    gpu_instance: sys::nvmlGpuInstance_t,
    profile_id: c_uint,
    placement: *const sys::nvmlComputeInstancePlacement_t,
    compute_instance: *mut sys::nvmlComputeInstance_t,
) -> Return {
    call(
        "nvmlGpuInstanceCreateComputeInstanceWithPlacement",
        || log_args!(gpu_instance, profile_id, placement),
        || {
            let placement = unsafe { input(placement) }?;
            let compute_instance = unsafe { out(compute_instance) }?;
            let p = Placement::new(placement.start, placement.size);
            *compute_instance = create(gpu_instance, profile_id, Some(p))?;
            Ok(())
        },
    )
}

/// `nvmlComputeInstanceDestroy`: `IN_USE` while a process runs on it.
#[no_mangle]
pub unsafe extern "C" fn nvmlComputeInstanceDestroy(
    compute_instance: sys::nvmlComputeInstance_t,
) -> Return {
    call(
        "nvmlComputeInstanceDestroy",
        || log_args!(compute_instance),
        || {
            let st = machine::snapshot()?;
            let ci = machine::compute_instance(&st, compute_instance)?;
            machine::sim()?.destroy_compute_instance(
                &mig_model::GpuRef::Index(ci.gi.gpu),
                ci.gi.gi.id,
                ci.ci.id,
            )?;
            Ok(())
        },
    )
}

/// The CI handles of `gi` whose profile matches `filter`.
fn ci_handles(
    gi: &GiRef<'_>,
    filter: impl Fn(&mig_model::engine::ComputeInstance) -> bool,
) -> Result<Vec<sys::nvmlComputeInstance_t>> {
    gi.gi
        .compute_instances
        .iter()
        .filter(|c| filter(c))
        .map(|c| machine::ci_handle(Kind::ComputeInstance, gi.gpu, gi.gi, c))
        .collect()
}

/// `nvmlGpuInstanceGetComputeInstances`: the CIs of one profile (the
/// incoming `*count` is not read; see `write_instances`).
#[no_mangle]
pub unsafe extern "C" fn nvmlGpuInstanceGetComputeInstances(
    gpu_instance: sys::nvmlGpuInstance_t,
    profile_id: c_uint,
    compute_instances: *mut sys::nvmlComputeInstance_t,
    count: *mut c_uint,
) -> Return {
    call(
        "nvmlGpuInstanceGetComputeInstances",
        || log_args!(gpu_instance, profile_id),
        || {
            let handles = with_profiles(gpu_instance, |gi, all| {
                by_id(&all, profile_id)?;
                ci_handles(gi, |c| c.profile_id.0 == profile_id)
            })?;
            unsafe { write_instances(compute_instances, count, &handles) }
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn nvmlGpuInstanceGetComputeInstanceById(
    gpu_instance: sys::nvmlGpuInstance_t,
    id: c_uint,
    compute_instance: *mut sys::nvmlComputeInstance_t,
) -> Return {
    call(
        "nvmlGpuInstanceGetComputeInstanceById",
        || log_args!(gpu_instance, id),
        || {
            let compute_instance = unsafe { out(compute_instance) }?;
            let st = machine::snapshot()?;
            let gi = machine::gpu_instance(&st, gpu_instance)?;
            let found = ci_handles(&gi, |c| c.id == ComputeInstanceId(id))?;
            *compute_instance = *found.first().ok_or(Fail::NOT_FOUND)?;
            Ok(())
        },
    )
}

/// The v2 info of the CI a handle names: its parent device, GI, ID, profile
/// and placement.
fn info_v2(compute_instance: sys::nvmlComputeInstance_t) -> Result<sys::nvmlComputeInstanceInfo_t> {
    let st = machine::snapshot()?;
    let ci = machine::compute_instance(&st, compute_instance)?;
    Ok(sys::nvmlComputeInstanceInfo_t {
        device: machine::gpu_handle(ci.gi.gpu)?,
        gpuInstance: machine::gi_handle(ci.gi.gpu, ci.gi.gi)?,
        id: ci.ci.id.0,
        profileId: ci.ci.profile_id.0,
        placement: sys::nvmlComputeInstancePlacement_t {
            start: ci.ci.placement.start,
            size: ci.ci.placement.size,
        },
    })
}

#[no_mangle]
pub unsafe extern "C" fn nvmlComputeInstanceGetInfo_v2(
    compute_instance: sys::nvmlComputeInstance_t,
    info: *mut sys::nvmlComputeInstanceInfo_t,
) -> Return {
    call(
        "nvmlComputeInstanceGetInfo_v2",
        || log_args!(compute_instance),
        || {
            let info = unsafe { out(info) }?;
            *info = info_v2(compute_instance)?;
            Ok(())
        },
    )
}

/// The v1 symbol: writes only the fields the v1 struct has.
#[no_mangle]
pub unsafe extern "C" fn nvmlComputeInstanceGetInfo(
    compute_instance: sys::nvmlComputeInstance_t,
    info: *mut ComputeInstanceInfoV1,
) -> Return {
    call(
        "nvmlComputeInstanceGetInfo",
        || log_args!(compute_instance),
        || {
            let info = unsafe { out(info) }?;
            let v2 = info_v2(compute_instance)?;
            *info = ComputeInstanceInfoV1 {
                device: v2.device,
                gpu_instance: v2.gpuInstance,
                id: v2.id,
                profile_id: v2.profileId,
            };
            Ok(())
        },
    )
}
