//! A small safe layer over the raw NVML entry points of `nvml-wrapper-sys`.
//!
//! Every NVML handle is held in a wrapper that borrows the loaded library
//! ([`Nvml`]), so no handle outlives it. Every entry point is looked up
//! before it is called: a symbol the library lacks becomes
//! [`Fail::Missing`], never a panic. Return codes stay raw ([`Fail::Code`])
//! so callers can tell `NOT_FOUND` from `NOT_SUPPORTED` before mapping them
//! to [`mig_model::NvmlError`].

use mig_model::Placement;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_char, c_uint, OsStr};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

pub const SUCCESS: u32 = 0;
pub const ERR_INVALID_ARGUMENT: u32 = 2;
pub const ERR_NOT_SUPPORTED: u32 = 3;
pub const ERR_NO_PERMISSION: u32 = 4;
pub const ERR_NOT_FOUND: u32 = 6;
pub const ERR_INSUFFICIENT_SIZE: u32 = 7;
pub const ERR_ARGUMENT_VERSION_MISMATCH: u32 = 25;

/// `NVML_STRUCT_VERSION(x, v) = sizeof(x) | v << 24` (mig-facts 2.2).
const GI_PROFILE_INFO_V2: u32 = 0x0200_0098;
const CI_PROFILE_INFO_V2: u32 = 0x0200_0088;
const CI_PROFILE_INFO_V3: u32 = 0x0300_008C;

/// Buffer sizes of `nvml.h` (`NVML_DEVICE_NAME_V2_BUFFER_SIZE`, ...).
const NAME_LEN: usize = 96;
const UUID_LEN: usize = 96;
const DRIVER_VERSION_LEN: usize = 80;
const PROCESS_NAME_LEN: usize = 1024;

/// `NVML_VALUE_NOT_AVAILABLE` for 64-bit values.
pub const VALUE_NOT_AVAILABLE: u64 = u64::MAX;

/// Why a raw call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fail {
    /// NVML returned this `nvmlReturn_t`.
    Code(u32),
    /// The library does not export this entry point (an older driver).
    Missing(&'static str),
}

impl Fail {
    pub fn is(self, code: u32) -> bool {
        self == Fail::Code(code)
    }

    /// The NVML error a reading keeps: the code NVML answered, or
    /// `NotSupported` for an entry point the library lacks.
    pub fn reading(self) -> mig_model::NvmlError {
        match self {
            Fail::Code(c) => {
                mig_model::NvmlError::from_code(c).unwrap_or(mig_model::NvmlError::Unknown)
            }
            Fail::Missing(_) => mig_model::NvmlError::NotSupported,
        }
    }
}

pub type Res<T> = Result<T, Fail>;

fn check(rc: sys::nvmlReturn_t) -> Res<()> {
    if rc == SUCCESS {
        Ok(())
    } else {
        Err(Fail::Code(rc))
    }
}

/// The entry point `$name` of the loaded library, or [`Fail::Missing`].
macro_rules! sym {
    ($nvml:expr, $name:ident) => {
        $nvml
            .lib
            .$name
            .as_ref()
            .map(|f| *f)
            .map_err(|_| Fail::Missing(stringify!($name)))
    };
}

/// Plain C structs for which all-zero bytes are a valid value.
///
/// # Safety
/// Implement only for `repr(C)` types whose fields are integers, arrays of
/// integers, raw pointers or other `Zeroable` types.
unsafe trait Zeroable: Copy {}

// SAFETY: each of these bindgen structs has only integer, integer-array and
// raw-pointer fields (checked against bindings.rs of nvml-wrapper-sys 0.9).
unsafe impl Zeroable for sys::nvmlGpuInstancePlacement_t {}
// SAFETY: as above.
unsafe impl Zeroable for sys::nvmlComputeInstancePlacement_t {}
// SAFETY: as above.
unsafe impl Zeroable for sys::nvmlGpuInstanceProfileInfo_v2_t {}
// SAFETY: as above.
unsafe impl Zeroable for sys::nvmlGpuInstanceProfileInfo_v3_t {}
// SAFETY: as above.
unsafe impl Zeroable for sys::nvmlComputeInstanceProfileInfo_v3_t {}
// SAFETY: as above.
unsafe impl Zeroable for sys::nvmlGpuInstanceInfo_t {}
// SAFETY: as above.
unsafe impl Zeroable for sys::nvmlComputeInstanceInfo_t {}
// SAFETY: as above.
unsafe impl Zeroable for sys::nvmlPciInfo_t {}
// SAFETY: as above.
unsafe impl Zeroable for sys::nvmlMemory_t {}
// SAFETY: as above.
unsafe impl Zeroable for sys::nvmlBAR1Memory_t {}
// SAFETY: as above.
unsafe impl Zeroable for sys::nvmlProcessInfo_t {}
// SAFETY: a raw pointer; null is a valid value.
unsafe impl Zeroable for sys::nvmlGpuInstance_t {}
// SAFETY: as above.
unsafe impl Zeroable for sys::nvmlComputeInstance_t {}

fn zeroed<T: Zeroable>() -> T {
    // SAFETY: `Zeroable` promises all-zero bytes are a valid `T`.
    unsafe { std::mem::zeroed() }
}

/// A NUL-terminated C string in a fixed buffer, as Rust text.
pub fn c_text(buf: &[c_char]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .map(|&c| c as u8)
        .take_while(|&b| b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Fill a list through NVML's `(buffer, *count)` convention: `count` in is
/// the buffer's capacity (NULL buffer when it is 0, which asks for the
/// count), out the number of entries; `INSUFFICIENT_SIZE` asks for a larger
/// buffer. `call` gets a pointer to `count` writable elements (or NULL).
fn fetch<T: Zeroable>(
    initial: u32,
    mut call: impl FnMut(*mut T, &mut c_uint) -> sys::nvmlReturn_t,
) -> Res<Vec<T>> {
    const LIMIT: u32 = 1 << 16;
    let mut cap = initial.min(LIMIT);
    for _ in 0..8 {
        let mut buf: Vec<T> = (0..cap).map(|_| zeroed()).collect();
        let mut count: c_uint = cap;
        let p = if cap == 0 {
            ptr::null_mut()
        } else {
            buf.as_mut_ptr()
        };
        match call(p, &mut count) {
            SUCCESS if cap == 0 && count > 0 => cap = count.min(LIMIT),
            SUCCESS => {
                buf.truncate(count.min(cap) as usize);
                return Ok(buf);
            }
            ERR_INSUFFICIENT_SIZE => {
                cap = if count > cap {
                    count
                } else {
                    cap.saturating_mul(2).max(1)
                }
                .min(LIMIT)
            }
            rc => return Err(Fail::Code(rc)),
        }
    }
    Err(Fail::Code(ERR_INSUFFICIENT_SIZE))
}

/// `nvmlGpuInstanceProfileInfo_v2/v3_t`, version-independent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiProfileInfo {
    pub index: u32,
    pub id: u32,
    pub slices: u32,
    pub instances: u32,
    pub sm: u32,
    pub ce: u32,
    pub dec: u32,
    pub enc: u32,
    pub jpeg: u32,
    pub ofa: u32,
    pub memory_mb: u64,
    /// `MIG 1g.10gb`.
    pub name: String,
    pub p2p: bool,
    pub gfx: bool,
}

/// `nvmlComputeInstanceProfileInfo_v2/v3_t`, version-independent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiProfileInfo {
    pub id: u32,
    pub slices: u32,
    pub instances: u32,
    pub sm: u32,
    pub ce: u32,
    pub dec: u32,
    pub enc: u32,
    pub jpeg: u32,
    pub ofa: u32,
}

/// `nvmlGpuInstanceInfo_t` / `nvmlComputeInstanceInfo_t` without the handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceInfo {
    pub id: u32,
    pub profile_id: u32,
    pub placement: Placement,
}

/// The loaded NVML library.
pub struct Nvml {
    pub(crate) lib: sys::NvmlLib,
    /// The same library again, for entry points newer than the bindings
    /// (`nvmlDeviceGetAddressingMode`, NVML 13).
    pub(crate) newer: libloading::Library,
    /// Profile-info struct versions this library accepts (v3 until it says
    /// `ARGUMENT_VERSION_MISMATCH`).
    ci_info_version: AtomicU32,
    initialised: AtomicBool,
}

// SAFETY: `NvmlLib` holds the loaded library and plain function pointers;
// NVML itself is thread-safe ("NVML is thread-safe so it is safe to make
// simultaneous NVML calls from multiple threads", nvml.h), and the only
// mutable state here is atomic.
unsafe impl Sync for Nvml {}
// SAFETY: as above; nothing is tied to the loading thread.
unsafe impl Send for Nvml {}

impl Nvml {
    /// Load the library at `path` (no NVML call yet).
    pub fn load(path: &OsStr) -> Result<Nvml, libloading::Error> {
        // SAFETY: loading runs the library's initialisers; NVML's (and the
        // shim's) have no preconditions. Symbols are only looked up here,
        // and each is checked before use (`sym!`).
        let lib = unsafe { sys::NvmlLib::new(path) }?;
        // SAFETY: as above; the library is loaded already (a second handle).
        let newer = unsafe { libloading::Library::new(path) }?;
        Ok(Nvml {
            lib,
            newer,
            ci_info_version: AtomicU32::new(CI_PROFILE_INFO_V3),
            initialised: AtomicBool::new(false),
        })
    }

    /// `nvmlInit_v2`.
    pub fn init(&self) -> Res<()> {
        let f = sym!(self, nvmlInit_v2)?;
        // SAFETY: no arguments; NVML reference-counts init/shutdown.
        check(unsafe { f() })?;
        self.initialised.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// `nvmlSystemGetDriverVersion`.
    pub fn driver_version(&self) -> Res<String> {
        let f = sym!(self, nvmlSystemGetDriverVersion)?;
        let mut buf = [0 as c_char; DRIVER_VERSION_LEN];
        // SAFETY: `buf` is writable for the length passed.
        check(unsafe { f(buf.as_mut_ptr(), buf.len() as c_uint) })?;
        Ok(c_text(&buf))
    }

    /// `nvmlSystemGetCudaDriverVersion_v2`: the CUDA driver API version as
    /// NVML encodes it (1000 * major + 10 * minor).
    pub fn cuda_driver_version(&self) -> Res<i32> {
        let f = sym!(self, nvmlSystemGetCudaDriverVersion_v2)?;
        let mut v: std::ffi::c_int = 0;
        // SAFETY: `v` is a valid out pointer.
        check(unsafe { f(&mut v) })?;
        Ok(v)
    }

    /// `nvmlDeviceGetCount_v2`.
    pub fn device_count(&self) -> Res<u32> {
        let f = sym!(self, nvmlDeviceGetCount_v2)?;
        let mut n: c_uint = 0;
        // SAFETY: `n` is a valid out pointer.
        check(unsafe { f(&mut n) })?;
        Ok(n)
    }

    /// `nvmlDeviceGetHandleByIndex_v2`.
    pub fn device(&self, index: u32) -> Res<Device<'_>> {
        let f = sym!(self, nvmlDeviceGetHandleByIndex_v2)?;
        let mut h: sys::nvmlDevice_t = ptr::null_mut();
        // SAFETY: `h` is a valid out pointer.
        check(unsafe { f(index, &mut h) })?;
        Ok(Device { nvml: self, h })
    }

    /// A device handle an earlier [`Nvml::device`] returned, by its
    /// [`Device::raw`] value: NVML's GPU handles stay valid until
    /// `nvmlShutdown`, so a backend asks for each one once.
    pub fn device_from_raw(&self, raw: usize) -> Device<'_> {
        Device {
            nvml: self,
            h: raw as sys::nvmlDevice_t,
        }
    }

    /// `nvmlSystemGetProcessName`.
    pub fn process_name(&self, pid: u32) -> Res<String> {
        let f = sym!(self, nvmlSystemGetProcessName)?;
        let mut buf = vec![0 as c_char; PROCESS_NAME_LEN];
        // SAFETY: `buf` is writable for the length passed.
        check(unsafe { f(pid, buf.as_mut_ptr(), buf.len() as c_uint) })?;
        Ok(c_text(&buf))
    }
}

impl Drop for Nvml {
    fn drop(&mut self) {
        if !self.initialised.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(f) = sym!(self, nvmlShutdown) {
            // SAFETY: balances the successful nvmlInit_v2; no handle
            // outlives `self` (they borrow it).
            let _ = unsafe { f() };
        }
    }
}

/// A GPU or MIG device handle.
#[derive(Clone, Copy)]
pub struct Device<'a> {
    pub(crate) nvml: &'a Nvml,
    pub(crate) h: sys::nvmlDevice_t,
}

impl<'a> Device<'a> {
    /// The handle as a number, for [`Nvml::device_from_raw`].
    pub fn raw(&self) -> usize {
        self.h as usize
    }

    /// `nvmlDeviceGetName`.
    pub fn name(&self) -> Res<String> {
        let f = sym!(self.nvml, nvmlDeviceGetName)?;
        let mut buf = [0 as c_char; NAME_LEN];
        // SAFETY: live handle; `buf` is writable for the length passed.
        check(unsafe { f(self.h, buf.as_mut_ptr(), buf.len() as c_uint) })?;
        Ok(c_text(&buf))
    }

    /// `nvmlDeviceGetUUID` (`GPU-...`, or `MIG-...` on a MIG device).
    pub fn uuid(&self) -> Res<String> {
        let f = sym!(self.nvml, nvmlDeviceGetUUID)?;
        let mut buf = [0 as c_char; UUID_LEN];
        // SAFETY: live handle; `buf` is writable for the length passed.
        check(unsafe { f(self.h, buf.as_mut_ptr(), buf.len() as c_uint) })?;
        Ok(c_text(&buf))
    }

    /// `nvmlDeviceGetPciInfo_v3`: bus ID (`00000000:07:00.0`), `pciDeviceId`
    /// and `pciSubSystemId`.
    pub fn pci_info(&self) -> Res<(String, u32, u32)> {
        let f = sym!(self.nvml, nvmlDeviceGetPciInfo_v3)?;
        let mut pci: sys::nvmlPciInfo_t = zeroed();
        // SAFETY: live handle; `pci` is a valid out pointer.
        check(unsafe { f(self.h, &mut pci) })?;
        Ok((c_text(&pci.busId), pci.pciDeviceId, pci.pciSubSystemId))
    }

    /// `nvmlDeviceGetMinorNumber`.
    pub fn minor(&self) -> Res<u32> {
        let f = sym!(self.nvml, nvmlDeviceGetMinorNumber)?;
        let mut n: c_uint = 0;
        // SAFETY: live handle; `n` is a valid out pointer.
        check(unsafe { f(self.h, &mut n) })?;
        Ok(n)
    }

    /// `nvmlDeviceGetMemoryInfo`: (total, used) bytes; on a MIG device
    /// handle, the GPU instance's memory.
    pub fn memory(&self) -> Res<(u64, u64)> {
        let f = sym!(self.nvml, nvmlDeviceGetMemoryInfo)?;
        let mut m: sys::nvmlMemory_t = zeroed();
        // SAFETY: live handle; `m` is a valid out pointer.
        check(unsafe { f(self.h, &mut m) })?;
        Ok((m.total, m.used))
    }

    /// `nvmlDeviceGetBAR1MemoryInfo`: (total, used), bytes.
    pub fn bar1(&self) -> Res<(u64, u64)> {
        let f = sym!(self.nvml, nvmlDeviceGetBAR1MemoryInfo)?;
        let mut m: sys::nvmlBAR1Memory_t = zeroed();
        // SAFETY: live handle; `m` is a valid out pointer.
        check(unsafe { f(self.h, &mut m) })?;
        Ok((m.bar1Total, m.bar1Used))
    }

    /// `total` of `nvmlDeviceGetMemoryInfo`, bytes.
    pub fn memory_total(&self) -> Res<u64> {
        Ok(self.memory()?.0)
    }

    /// `nvmlDeviceGetMigMode`: (current, pending).
    pub fn mig_mode(&self) -> Res<(bool, bool)> {
        let f = sym!(self.nvml, nvmlDeviceGetMigMode)?;
        let (mut cur, mut pend): (c_uint, c_uint) = (0, 0);
        // SAFETY: live handle; valid out pointers.
        check(unsafe { f(self.h, &mut cur, &mut pend) })?;
        Ok((
            cur == sys::NVML_DEVICE_MIG_ENABLE,
            pend == sys::NVML_DEVICE_MIG_ENABLE,
        ))
    }

    /// `nvmlDeviceSetMigMode`; returns the activation status.
    pub fn set_mig_mode(&self, enable: bool) -> Res<u32> {
        let f = sym!(self.nvml, nvmlDeviceSetMigMode)?;
        let mode = if enable {
            sys::NVML_DEVICE_MIG_ENABLE
        } else {
            sys::NVML_DEVICE_MIG_DISABLE
        };
        let mut status: sys::nvmlReturn_t = SUCCESS;
        // SAFETY: live handle; `status` is a valid out pointer.
        check(unsafe { f(self.h, mode, &mut status) })?;
        Ok(status)
    }

    /// `nvmlDeviceGetGpuInstanceProfileInfoV` for profile **index** `index`,
    /// with the v2 struct. Driver 580.159.04 on a real H100 fills every v3
    /// field but the name (measured on that board), and v3's only
    /// addition, the capabilities word, carries P2P (also in v2) and GFX
    /// (also in the name: `+gfx`). So v2 answers everything in one call.
    pub fn gi_profile_info(&self, index: u32) -> Res<GiProfileInfo> {
        let f = sym!(self.nvml, nvmlDeviceGetGpuInstanceProfileInfoV)?;
        let mut info: sys::nvmlGpuInstanceProfileInfo_v2_t = zeroed();
        info.version = GI_PROFILE_INFO_V2;
        // SAFETY: live handle; `info` is a v2 struct and its `version` says so.
        check(unsafe { f(self.h, index, &mut info) })?;
        let name = c_text(&info.name);
        Ok(GiProfileInfo {
            index,
            id: info.id,
            slices: info.sliceCount,
            instances: info.instanceCount,
            sm: info.multiprocessorCount,
            ce: info.copyEngineCount,
            dec: info.decoderCount,
            enc: info.encoderCount,
            jpeg: info.jpegCount,
            ofa: info.ofaCount,
            memory_mb: info.memorySizeMB,
            gfx: name.contains("+gfx"),
            name,
            p2p: info.isP2pSupported != 0,
        })
    }

    /// `nvmlDeviceGetGpuInstancePossiblePlacements_v2` (takes the profile **ID**).
    pub fn gi_placements(&self, profile_id: u32) -> Res<Vec<Placement>> {
        let f = sym!(self.nvml, nvmlDeviceGetGpuInstancePossiblePlacements_v2)?;
        // one call in the common case: no profile has more than 8 placements,
        // and each NVML call here is an ioctl (about 0.25 ms on an H100)
        let v = fetch::<sys::nvmlGpuInstancePlacement_t>(16, |p, n| {
            // SAFETY: live handle; `p` is NULL or holds `*n` elements (fetch).
            unsafe { f(self.h, profile_id, p, n) }
        })?;
        Ok(v.iter().map(|p| Placement::new(p.start, p.size)).collect())
    }

    /// `nvmlDeviceGetGpuInstanceRemainingCapacity`.
    pub fn gi_remaining(&self, profile_id: u32) -> Res<u32> {
        let f = sym!(self.nvml, nvmlDeviceGetGpuInstanceRemainingCapacity)?;
        let mut n: c_uint = 0;
        // SAFETY: live handle; `n` is a valid out pointer.
        check(unsafe { f(self.h, profile_id, &mut n) })?;
        Ok(n)
    }

    /// `nvmlDeviceCreateGpuInstance[WithPlacement]`.
    pub fn create_gi(&self, profile_id: u32, at: Option<Placement>) -> Res<GpuInstance<'a>> {
        let mut h: sys::nvmlGpuInstance_t = ptr::null_mut();
        match at {
            None => {
                let f = sym!(self.nvml, nvmlDeviceCreateGpuInstance)?;
                // SAFETY: live handle; `h` is a valid out pointer.
                check(unsafe { f(self.h, profile_id, &mut h) })?;
            }
            Some(pl) => {
                let f = sym!(self.nvml, nvmlDeviceCreateGpuInstanceWithPlacement)?;
                let pl = sys::nvmlGpuInstancePlacement_t {
                    start: pl.start,
                    size: pl.size,
                };
                // SAFETY: live handle; `pl` outlives the call; `h` is a
                // valid out pointer.
                check(unsafe { f(self.h, profile_id, &pl, &mut h) })?;
            }
        }
        Ok(GpuInstance { nvml: self.nvml, h })
    }

    /// `nvmlDeviceGetGpuInstances` for one profile ID; `capacity` is the
    /// profile's `instanceCount`.
    pub fn gpu_instances(&self, profile_id: u32, capacity: u32) -> Res<Vec<GpuInstance<'a>>> {
        let f = sym!(self.nvml, nvmlDeviceGetGpuInstances)?;
        let v = fetch::<sys::nvmlGpuInstance_t>(capacity.max(1), |p, n| {
            // SAFETY: live handle; `p` is NULL or holds `*n` elements (fetch).
            unsafe { f(self.h, profile_id, p, n) }
        })?;
        Ok(v.into_iter()
            .map(|h| GpuInstance { nvml: self.nvml, h })
            .collect())
    }

    /// `nvmlDeviceGetGpuInstanceById`.
    pub fn gpu_instance(&self, id: u32) -> Res<GpuInstance<'a>> {
        let f = sym!(self.nvml, nvmlDeviceGetGpuInstanceById)?;
        let mut h: sys::nvmlGpuInstance_t = ptr::null_mut();
        // SAFETY: live handle; `h` is a valid out pointer.
        check(unsafe { f(self.h, id, &mut h) })?;
        Ok(GpuInstance { nvml: self.nvml, h })
    }

    /// `nvmlDeviceGetMaxMigDeviceCount`.
    pub fn max_mig_devices(&self) -> Res<u32> {
        let f = sym!(self.nvml, nvmlDeviceGetMaxMigDeviceCount)?;
        let mut n: c_uint = 0;
        // SAFETY: live handle; `n` is a valid out pointer.
        check(unsafe { f(self.h, &mut n) })?;
        Ok(n)
    }

    /// `nvmlDeviceGetMigDeviceHandleByIndex` (`NOT_FOUND` for an empty slot).
    pub fn mig_device(&self, index: u32) -> Res<Device<'a>> {
        let f = sym!(self.nvml, nvmlDeviceGetMigDeviceHandleByIndex)?;
        let mut h: sys::nvmlDevice_t = ptr::null_mut();
        // SAFETY: live handle; `h` is a valid out pointer.
        check(unsafe { f(self.h, index, &mut h) })?;
        Ok(Device { nvml: self.nvml, h })
    }

    /// `nvmlDeviceGetGpuInstanceId` (on a MIG device).
    pub fn gpu_instance_id(&self) -> Res<u32> {
        let f = sym!(self.nvml, nvmlDeviceGetGpuInstanceId)?;
        let mut n: c_uint = 0;
        // SAFETY: live handle; `n` is a valid out pointer.
        check(unsafe { f(self.h, &mut n) })?;
        Ok(n)
    }

    /// `nvmlDeviceGetComputeInstanceId` (on a MIG device).
    pub fn compute_instance_id(&self) -> Res<u32> {
        let f = sym!(self.nvml, nvmlDeviceGetComputeInstanceId)?;
        let mut n: c_uint = 0;
        // SAFETY: live handle; `n` is a valid out pointer.
        check(unsafe { f(self.h, &mut n) })?;
        Ok(n)
    }

    /// `nvmlDeviceGetComputeRunningProcesses_v3`: (pid, used bytes).
    pub fn compute_processes(&self) -> Res<Vec<(u32, u64)>> {
        let f = sym!(self.nvml, nvmlDeviceGetComputeRunningProcesses_v3)?;
        let v = fetch::<sys::nvmlProcessInfo_t>(0, |p, n| {
            // SAFETY: live handle; `p` is NULL or holds `*n` elements (fetch).
            unsafe { f(self.h, n, p) }
        })?;
        Ok(v.iter().map(|p| (p.pid, p.usedGpuMemory)).collect())
    }

    /// The same call on a parent GPU with MIG enabled: every process of the
    /// GPU with its GPU and compute instance IDs (`0xFFFFFFFF`: none), the
    /// aggregate view nvml.h gives privileged callers.
    pub fn compute_processes_on_instances(&self) -> Res<Vec<(u32, u64, u32, u32)>> {
        let f = sym!(self.nvml, nvmlDeviceGetComputeRunningProcesses_v3)?;
        let v = fetch::<sys::nvmlProcessInfo_t>(0, |p, n| {
            // SAFETY: live handle; `p` is NULL or holds `*n` elements (fetch).
            unsafe { f(self.h, n, p) }
        })?;
        Ok(v.iter()
            .map(|p| (p.pid, p.usedGpuMemory, p.gpuInstanceId, p.computeInstanceId))
            .collect())
    }
}

mod instances;
pub use instances::GpuInstance;

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the list convention: a NULL count query, then a buffer of that
    /// size; `INSUFFICIENT_SIZE` grows the buffer; errors pass through.
    #[test]
    fn fetch_follows_the_count_convention() {
        let data = [3u32, 5, 7];
        let mut calls = 0;
        let got = fetch::<sys::nvmlGpuInstancePlacement_t>(0, |p, n| {
            calls += 1;
            if p.is_null() {
                *n = data.len() as u32;
                return SUCCESS;
            }
            assert!(*n as usize >= data.len());
            for (i, &s) in data.iter().enumerate() {
                // SAFETY: fetch gave a buffer of `*n` >= 3 elements.
                unsafe {
                    p.add(i)
                        .write(sys::nvmlGpuInstancePlacement_t { start: s, size: 1 })
                };
            }
            *n = data.len() as u32;
            SUCCESS
        })
        .map(|v| v.iter().map(|p| p.start).collect::<Vec<_>>());
        assert_eq!(got, Ok(vec![3, 5, 7]));
        assert_eq!(calls, 2);

        let mut caps = Vec::new();
        let got = fetch::<sys::nvmlGpuInstancePlacement_t>(1, |_, n| {
            caps.push(*n);
            if *n < 4 {
                *n = 4;
                ERR_INSUFFICIENT_SIZE
            } else {
                *n = 0;
                SUCCESS
            }
        });
        assert_eq!(got.map(|v| v.len()), Ok(0));
        assert_eq!(caps, vec![1, 4]);

        let got = fetch::<sys::nvmlGpuInstancePlacement_t>(0, |_, _| ERR_NOT_SUPPORTED);
        assert_eq!(got.map(|v| v.len()), Err(Fail::Code(ERR_NOT_SUPPORTED)));
    }

    /// Proves fixed C buffers become text up to the first NUL.
    #[test]
    fn c_text_stops_at_nul() {
        let mut buf = [0 as c_char; 16];
        for (i, b) in b"MIG 1g.10gb".iter().enumerate() {
            buf[i] = *b as c_char;
        }
        buf[13] = b'x' as c_char;
        assert_eq!(c_text(&buf), "MIG 1g.10gb");
        assert_eq!(c_text(&[0 as c_char; 4]), "");
    }
}
