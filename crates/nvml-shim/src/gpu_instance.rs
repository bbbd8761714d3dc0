//! GPU instances: profile info (by NVML index, v1/v2/v3 structs, or by
//! profile ID), placements, remaining capacity, create (with or without a
//! placement), destroy, list, look up and describe.
//!
//! Everything comes from the `Backend` methods of the simulated machine;
//! this module only translates between NVML's structs and handles and the
//! model's types. Profile lookups follow the real H100 dump
//! (`shared/reference/h100-80gb-hbm3/h100_nvml.json`): an index the GPU lacks
//! is `NOT_SUPPORTED`, an index at or past `NVML_GPU_INSTANCE_PROFILE_COUNT`
//! is `INVALID_ARGUMENT`, and the versioned struct comes back with
//! `version` 0 (the driver clears the struct before filling it).

use crate::call_log::call;
use crate::errors::{
    fill_chars, input, out, struct_version, write_instances, write_list, Fail, Result, Return,
};
use crate::handles::Handle;
use crate::machine;
use mig_model::backend::GiProfileStatus;
use mig_model::backend::LayoutControl;
use mig_model::{ids, GiProfile, GiProfileId, GpuInstanceId, Placement};
use nvml_wrapper_sys::bindings as sys;
use std::ffi::c_uint;

/// `NVML_GPU_INSTANCE_PROFILE_COUNT` of the R580 driver: indexes 0..=16
/// exist (the dump: 17 and above are "Invalid Argument"). The 0.9 bindings
/// carry an older header's 13.
pub const GPU_INSTANCE_PROFILE_COUNT: u32 = 17;
/// `nvmlGpuInstanceProfileInfo_v2` / `_v3` (`NVML_STRUCT_VERSION`).
const PROFILE_INFO_V2: c_uint = 0x0200_0098;
const PROFILE_INFO_V3: c_uint = 0x0300_0098;
/// `NVML_GPU_INSTANCE_PROFILE_CAPS_P2P` and `_GFX`.
const CAPS_P2P: c_uint = 0x1;
const CAPS_GFX: c_uint = 0x2;

/// The GPU a parent handle names and its GI profiles with placements and
/// remaining capacity, from the backend.
fn profiles(device: sys::nvmlDevice_t) -> Result<(u32, Vec<GiProfileStatus>)> {
    let st = machine::snapshot()?;
    let (gpu, _) = machine::device(&st, device)?.require_gpu()?;
    Ok((
        gpu,
        machine::sim()?.gi_profiles(
            &mig_model::GpuRef::Index(gpu),
            mig_model::backend::ProfileQuery::ALL,
        )?,
    ))
}

/// A profile by `NVML_GPU_INSTANCE_PROFILE_*` index.
fn by_index(profiles: &[GiProfileStatus], index: u32) -> Result<&GiProfileStatus> {
    if index >= GPU_INSTANCE_PROFILE_COUNT {
        return Err(Fail::INVALID_ARGUMENT);
    }
    profiles
        .iter()
        .find(|p| p.profile.index == index)
        .ok_or(Fail::NOT_SUPPORTED)
}

/// A profile by profile ID (what create and placements take).
fn by_id(profiles: &[GiProfileStatus], id: u32) -> Result<&GiProfileStatus> {
    profiles
        .iter()
        .find(|p| p.profile.id == id)
        .ok_or(Fail::INVALID_ARGUMENT)
}

fn info_v1(p: &GiProfile) -> sys::nvmlGpuInstanceProfileInfo_t {
    sys::nvmlGpuInstanceProfileInfo_t {
        id: p.id,
        isP2pSupported: c_uint::from(p.p2p),
        sliceCount: p.slices,
        instanceCount: p.instances,
        multiprocessorCount: p.sm,
        copyEngineCount: p.ce,
        decoderCount: p.dec,
        encoderCount: p.enc,
        jpegCount: p.jpeg,
        ofaCount: p.ofa,
        memorySizeMB: p.memory_mb,
    }
}

/// Fill a v2 or v3 struct as its `version` field asks.
///
/// # Safety
/// `info` is null or points at a v2-or-larger struct (v2 and v3 are both 152 bytes).
unsafe fn fill_versioned(
    info: *mut sys::nvmlGpuInstanceProfileInfo_v2_t,
    p: &GiProfile,
) -> Result<()> {
    let name = ids::gi_profile_name(p);
    let v1 = info_v1(p);
    match unsafe { struct_version(info.cast()) }? {
        PROFILE_INFO_V2 => {
            let out = unsafe { out(info) }?;
            *out = sys::nvmlGpuInstanceProfileInfo_v2_t {
                version: 0,
                id: v1.id,
                isP2pSupported: v1.isP2pSupported,
                sliceCount: v1.sliceCount,
                instanceCount: v1.instanceCount,
                multiprocessorCount: v1.multiprocessorCount,
                copyEngineCount: v1.copyEngineCount,
                decoderCount: v1.decoderCount,
                encoderCount: v1.encoderCount,
                jpegCount: v1.jpegCount,
                ofaCount: v1.ofaCount,
                memorySizeMB: v1.memorySizeMB,
                name: [0; 96],
            };
            fill_chars(&mut out.name, &name);
        }
        PROFILE_INFO_V3 => {
            let out = unsafe { out(info.cast::<sys::nvmlGpuInstanceProfileInfo_v3_t>()) }?;
            let caps = if p.p2p { CAPS_P2P } else { 0 } | if p.gfx { CAPS_GFX } else { 0 };
            *out = sys::nvmlGpuInstanceProfileInfo_v3_t {
                version: 0,
                id: v1.id,
                sliceCount: v1.sliceCount,
                instanceCount: v1.instanceCount,
                multiprocessorCount: v1.multiprocessorCount,
                copyEngineCount: v1.copyEngineCount,
                decoderCount: v1.decoderCount,
                encoderCount: v1.encoderCount,
                jpegCount: v1.jpegCount,
                ofaCount: v1.ofaCount,
                memorySizeMB: v1.memorySizeMB,
                name: [0; 96],
                capabilities: caps,
            };
            fill_chars(&mut out.name, &name);
        }
        _ => return Err(Fail::ARGUMENT_VERSION_MISMATCH),
    }
    Ok(())
}

/// `nvmlDeviceGetGpuInstanceProfileInfo`: the v1 struct by profile index.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstanceProfileInfo(
    device: sys::nvmlDevice_t,
    profile: c_uint,
    info: *mut sys::nvmlGpuInstanceProfileInfo_t,
) -> Return {
    call(
        "nvmlDeviceGetGpuInstanceProfileInfo",
        || log_args!(device, profile),
        || {
            let info = unsafe { out(info) }?;
            let (_, all) = profiles(device)?;
            *info = info_v1(&by_index(&all, profile)?.profile);
            Ok(())
        },
    )
}

/// `nvmlDeviceGetGpuInstanceProfileInfoV`: v2 or v3 by profile index.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstanceProfileInfoV(
    device: sys::nvmlDevice_t,
    profile: c_uint,
    info: *mut sys::nvmlGpuInstanceProfileInfo_v2_t,
) -> Return {
    call(
        "nvmlDeviceGetGpuInstanceProfileInfoV",
        || log_args!(device, profile),
        || {
            let (_, all) = profiles(device)?;
            let p = by_index(&all, profile)?;
            unsafe { fill_versioned(info, &p.profile) }
        },
    )
}

/// `nvmlDeviceGetGpuInstanceProfileInfoByIdV`: v2 or v3 by profile ID.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstanceProfileInfoByIdV(
    device: sys::nvmlDevice_t,
    profile_id: c_uint,
    info: *mut sys::nvmlGpuInstanceProfileInfo_v2_t,
) -> Return {
    call(
        "nvmlDeviceGetGpuInstanceProfileInfoByIdV",
        || log_args!(device, profile_id),
        || {
            let (_, all) = profiles(device)?;
            let p = by_id(&all, profile_id)?;
            unsafe { fill_versioned(info, &p.profile) }
        },
    )
}

unsafe fn placements(
    name: &str,
    device: sys::nvmlDevice_t,
    profile_id: c_uint,
    array: *mut sys::nvmlGpuInstancePlacement_t,
    count: *mut c_uint,
) -> Return {
    call(
        name,
        || log_args!(device, profile_id),
        || {
            let (_, all) = profiles(device)?;
            let items: Vec<sys::nvmlGpuInstancePlacement_t> = by_id(&all, profile_id)?
                .placements
                .iter()
                .map(|p| sys::nvmlGpuInstancePlacement_t {
                    start: p.start,
                    size: p.size,
                })
                .collect();
            unsafe { write_list(array, count, &items) }
        },
    )
}

/// `nvmlDeviceGetGpuInstancePossiblePlacements_v2`: every placement of the
/// profile, whether MIG is on or not and whatever is free (nvml.h).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstancePossiblePlacements_v2(
    device: sys::nvmlDevice_t,
    profile_id: c_uint,
    placements_out: *mut sys::nvmlGpuInstancePlacement_t,
    count: *mut c_uint,
) -> Return {
    unsafe {
        placements(
            "nvmlDeviceGetGpuInstancePossiblePlacements_v2",
            device,
            profile_id,
            placements_out,
            count,
        )
    }
}

/// The deprecated v1 symbol, answered like v2 but for a NULL array, which
/// it refuses with INVALID_ARGUMENT (count untouched) where `_v2` answers
/// the count: what the lent H200 answered (driver 580.159.04,
/// `catalog/measured/h200-580.159.04/monitoring-probe.json`).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstancePossiblePlacements(
    device: sys::nvmlDevice_t,
    profile_id: c_uint,
    placements_out: *mut sys::nvmlGpuInstancePlacement_t,
    count: *mut c_uint,
) -> Return {
    if placements_out.is_null() {
        return call(
            "nvmlDeviceGetGpuInstancePossiblePlacements",
            || log_args!(device, profile_id),
            || Err(Fail::INVALID_ARGUMENT),
        );
    }
    unsafe {
        placements(
            "nvmlDeviceGetGpuInstancePossiblePlacements",
            device,
            profile_id,
            placements_out,
            count,
        )
    }
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstanceRemainingCapacity(
    device: sys::nvmlDevice_t,
    profile_id: c_uint,
    count: *mut c_uint,
) -> Return {
    call(
        "nvmlDeviceGetGpuInstanceRemainingCapacity",
        || log_args!(device, profile_id),
        || {
            let count = unsafe { out(count) }?;
            let (_, all) = profiles(device)?;
            *count = by_id(&all, profile_id)?.remaining;
            Ok(())
        },
    )
}

/// Create through the backend and hand back the new GI's handle.
fn create(
    device: sys::nvmlDevice_t,
    profile_id: c_uint,
    placement: Option<Placement>,
) -> Result<sys::nvmlGpuInstance_t> {
    let st = machine::snapshot()?;
    let (gpu, _) = machine::device(&st, device)?.require_gpu()?;
    let gi = machine::sim()?.create_gpu_instance(
        &mig_model::GpuRef::Index(gpu),
        GiProfileId(profile_id),
        placement,
    )?;
    Handle::gpu_instance(gpu, gi.id.0, gi.profile.id).to_ptr()
}

/// `nvmlDeviceCreateGpuInstance`: the driver's default placement (the
/// simulator's rule).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceCreateGpuInstance(
    device: sys::nvmlDevice_t,
    profile_id: c_uint,
    gpu_instance: *mut sys::nvmlGpuInstance_t,
) -> Return {
    call(
        "nvmlDeviceCreateGpuInstance",
        || log_args!(device, profile_id),
        || {
            let gpu_instance = unsafe { out(gpu_instance) }?;
            *gpu_instance = create(device, profile_id, None)?;
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceCreateGpuInstanceWithPlacement(
    device: sys::nvmlDevice_t,
    profile_id: c_uint,
    placement: *const sys::nvmlGpuInstancePlacement_t,
    gpu_instance: *mut sys::nvmlGpuInstance_t,
) -> Return {
    call(
        "nvmlDeviceCreateGpuInstanceWithPlacement",
        || log_args!(device, profile_id, placement),
        || {
            let placement = unsafe { input(placement) }?;
            let gpu_instance = unsafe { out(gpu_instance) }?;
            let p = Placement::new(placement.start, placement.size);
            *gpu_instance = create(device, profile_id, Some(p))?;
            Ok(())
        },
    )
}

/// `nvmlGpuInstanceDestroy`: `IN_USE` while compute instances or processes remain.
#[no_mangle]
pub unsafe extern "C" fn nvmlGpuInstanceDestroy(gpu_instance: sys::nvmlGpuInstance_t) -> Return {
    call(
        "nvmlGpuInstanceDestroy",
        || log_args!(gpu_instance),
        || {
            let st = machine::snapshot()?;
            let gi = machine::gpu_instance(&st, gpu_instance)?;
            machine::sim()?.destroy_gpu_instance(&mig_model::GpuRef::Index(gi.gpu), gi.gi.id)?;
            Ok(())
        },
    )
}

/// `nvmlDeviceGetGpuInstances`: the GIs of one profile (see
/// [`write_instances`] for why the incoming `*count` is not read).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstances(
    device: sys::nvmlDevice_t,
    profile_id: c_uint,
    gpu_instances: *mut sys::nvmlGpuInstance_t,
    count: *mut c_uint,
) -> Return {
    call(
        "nvmlDeviceGetGpuInstances",
        || log_args!(device, profile_id),
        || {
            let (gpu, all) = profiles(device)?;
            by_id(&all, profile_id)?;
            let handles = machine::sim()?
                .gpu_instances(&mig_model::GpuRef::Index(gpu))?
                .iter()
                .filter(|g| g.profile.id == profile_id)
                .map(|g| Handle::gpu_instance(gpu, g.id.0, g.profile.id).to_ptr())
                .collect::<Result<Vec<sys::nvmlGpuInstance_t>>>()?;
            unsafe { write_instances(gpu_instances, count, &handles) }
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstanceById(
    device: sys::nvmlDevice_t,
    id: c_uint,
    gpu_instance: *mut sys::nvmlGpuInstance_t,
) -> Return {
    call(
        "nvmlDeviceGetGpuInstanceById",
        || log_args!(device, id),
        || {
            let gpu_instance = unsafe { out(gpu_instance) }?;
            let st = machine::snapshot()?;
            let (gpu, _) = machine::device(&st, device)?.require_gpu()?;
            let gi = machine::sim()?
                .gpu_instances(&mig_model::GpuRef::Index(gpu))?
                .into_iter()
                .find(|g| g.id == GpuInstanceId(id))
                .ok_or(Fail::NOT_FOUND)?;
            *gpu_instance = Handle::gpu_instance(gpu, gi.id.0, gi.profile.id).to_ptr()?;
            Ok(())
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn nvmlGpuInstanceGetInfo(
    gpu_instance: sys::nvmlGpuInstance_t,
    info: *mut sys::nvmlGpuInstanceInfo_t,
) -> Return {
    call(
        "nvmlGpuInstanceGetInfo",
        || log_args!(gpu_instance),
        || {
            let info = unsafe { out(info) }?;
            machine::vanish_before_read(gpu_instance)?;
            let st = machine::snapshot()?;
            let gi = machine::gpu_instance(&st, gpu_instance)?;
            *info = sys::nvmlGpuInstanceInfo_t {
                device: machine::gpu_handle(gi.gpu)?,
                id: gi.gi.id.0,
                profileId: gi.gi.profile_id.0,
                placement: sys::nvmlGpuInstancePlacement_t {
                    start: gi.gi.placement.start,
                    size: gi.gi.placement.size,
                },
            };
            Ok(())
        },
    )
}
