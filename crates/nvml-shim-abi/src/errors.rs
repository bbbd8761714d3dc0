//! NVML return codes: the failure type every entry point works with, the
//! strings `nvmlErrorString` gives, the guard that keeps a Rust panic from
//! unwinding into C, and the checked access to the caller's pointers.
//!
//! Every exported function is `entry(|| ...)`: the closure returns
//! `Result<(), Fail>` and the guard turns it (or a panic) into an
//! `nvmlReturn_t`. Pointer helpers answer a null pointer or a short buffer
//! with the code the real library gives, so a client bug never becomes a
//! crash here.

use mig_model::{BackendError, NvmlError};
use mig_sim::StateError;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_char, c_uint, CStr};

/// `nvmlReturn_t`.
pub type Return = sys::nvmlReturn_t;

/// An NVML return code other than `NVML_SUCCESS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fail(pub Return);

impl Fail {
    pub const UNINITIALIZED: Fail = Fail(sys::nvmlReturn_enum_NVML_ERROR_UNINITIALIZED);
    pub const INVALID_ARGUMENT: Fail = Fail(sys::nvmlReturn_enum_NVML_ERROR_INVALID_ARGUMENT);
    pub const NOT_SUPPORTED: Fail = Fail(sys::nvmlReturn_enum_NVML_ERROR_NOT_SUPPORTED);
    pub const NOT_FOUND: Fail = Fail(sys::nvmlReturn_enum_NVML_ERROR_NOT_FOUND);
    pub const INSUFFICIENT_SIZE: Fail = Fail(sys::nvmlReturn_enum_NVML_ERROR_INSUFFICIENT_SIZE);
    pub const ARGUMENT_VERSION_MISMATCH: Fail =
        Fail(sys::nvmlReturn_enum_NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
    pub const UNKNOWN: Fail = Fail(sys::nvmlReturn_enum_NVML_ERROR_UNKNOWN);
    pub const NOT_READY: Fail = Fail(sys::nvmlReturn_enum_NVML_ERROR_NOT_READY);
    pub const NO_PERMISSION: Fail = Fail(sys::nvmlReturn_enum_NVML_ERROR_NO_PERMISSION);
}

/// `NVML_SUCCESS`.
pub const SUCCESS: Return = sys::nvmlReturn_enum_NVML_SUCCESS;

pub type Result<T> = std::result::Result<T, Fail>;

impl From<NvmlError> for Fail {
    fn from(e: NvmlError) -> Fail {
        Fail(e.code())
    }
}

/// A backend problem that is not an NVML error (the state file is missing,
/// corrupt, unreadable) has no NVML code of its own: the client gets
/// `NVML_ERROR_UNKNOWN` and the user one line on stderr saying what to fix.
impl From<BackendError> for Fail {
    fn from(e: BackendError) -> Fail {
        match e.nvml_code() {
            Some(code) => code.into(),
            // a GPU index past the machine: what NVML answers for a bad handle
            None if matches!(e, BackendError::NoSuchGpu { .. }) => Fail::INVALID_ARGUMENT,
            None => report(&e.to_string()),
        }
    }
}

impl From<StateError> for Fail {
    fn from(e: StateError) -> Fail {
        report(&e.to_string())
    }
}

/// A board fact, or `NOT_SUPPORTED` where the catalog has no source for it
/// ("not modelled"): what a driver answers for a value it lacks.
pub fn modelled<T>(v: Option<T>) -> Result<T> {
    v.ok_or(Fail::NOT_SUPPORTED)
}

/// Print one line on stderr and answer `NVML_ERROR_UNKNOWN`.
pub fn report(msg: &str) -> Fail {
    eprintln!("nvml-shim: {}", msg.replace('\n', " "));
    Fail::UNKNOWN
}

/// The text `nvmlErrorString` returns. The codes migctl models come from
/// [`NvmlError::message`] (what nvidia-smi prints); the rest are the strings
/// pynvml's table and NVIDIA's DCGM use.
pub fn error_string(code: Return) -> &'static CStr {
    match code {
        SUCCESS => c"Success",
        1 => c"Uninitialized",
        2 => c"Invalid Argument",
        3 => c"Not Supported",
        4 => c"Insufficient Permissions",
        5 => c"Already Initialized",
        6 => c"Not Found",
        7 => c"Insufficient Size",
        8 => c"Insufficient External Power",
        9 => c"Driver Not Loaded",
        10 => c"Timeout",
        11 => c"Interrupt Request Issue",
        12 => c"NVML Shared Library Not Found",
        13 => c"Function Not Found",
        14 => c"Corrupted infoROM",
        15 => c"GPU is lost",
        16 => c"GPU requires restart",
        17 => c"The operating system has blocked the request.",
        18 => c"RM has detected an NVML/RM version mismatch.",
        19 => c"In use by another client",
        20 => c"Insufficient Memory",
        21 => c"No data",
        22 => c"The requested vgpu operation is not available on target device, becasue ECC is enabled",
        23 => c"Insufficient Resources",
        24 => c"Ran out of supported frequencies",
        25 => c"Argument version mismatch",
        26 => c"Deprecated",
        // the real 580 library's string (catalog/measured/h200-580.159.04/
        // monitoring-probe.json, nvmlDeviceGetLastBBXFlushTime)
        27 => c"System is not in ready state",
        28 => c"GPU not found",
        29 => c"Invalid state",
        _ => c"Unknown Error",
    }
}

/// The caller's output pointer, or `INVALID_ARGUMENT` when it is null.
///
/// # Safety
/// `p` is null or valid for writes of a `T` for the duration of the call.
pub unsafe fn out<'a, T>(p: *mut T) -> Result<&'a mut T> {
    // SAFETY: the caller promises `p` is null or valid; null is refused here.
    unsafe { p.as_mut() }.ok_or(Fail::INVALID_ARGUMENT)
}

/// The caller's input pointer, or `INVALID_ARGUMENT` when it is null.
///
/// # Safety
/// `p` is null or valid for reads of a `T` for the duration of the call.
pub unsafe fn input<'a, T>(p: *const T) -> Result<&'a T> {
    // SAFETY: as for `out`.
    unsafe { p.as_ref() }.ok_or(Fail::INVALID_ARGUMENT)
}

/// A C string argument (UUIDs, PCI bus IDs); null or non-UTF-8 text is an
/// invalid argument.
///
/// # Safety
/// `p` is null or a NUL-terminated string.
pub unsafe fn c_str<'a>(p: *const c_char) -> Result<&'a str> {
    if p.is_null() {
        return Err(Fail::INVALID_ARGUMENT);
    }
    // SAFETY: non-null and NUL-terminated per the caller's contract.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| Fail::INVALID_ARGUMENT)
}

/// Copy `s` and its NUL into the caller's buffer of `len` bytes, as NVML's
/// string getters do: null buffer -> `INVALID_ARGUMENT`, too short ->
/// `INSUFFICIENT_SIZE` (nothing written).
///
/// # Safety
/// `buf` is null or valid for writes of `len` bytes.
pub unsafe fn write_str(buf: *mut c_char, len: c_uint, s: &str) -> Result<()> {
    if buf.is_null() {
        return Err(Fail::INVALID_ARGUMENT);
    }
    let bytes = s.as_bytes();
    if (len as usize) < bytes.len() + 1 {
        return Err(Fail::INSUFFICIENT_SIZE);
    }
    // SAFETY: `buf` holds at least `len >= bytes.len() + 1` bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr().cast::<c_char>(), buf, bytes.len());
        *buf.add(bytes.len()) = 0;
    }
    Ok(())
}

/// Copy `s` into a fixed `char[N]` struct field, cut to fit with its NUL.
pub fn fill_chars<const N: usize>(field: &mut [c_char; N], s: &str) {
    *field = [0; N];
    for (dst, &b) in field
        .iter_mut()
        .zip(s.as_bytes().iter().take(N.saturating_sub(1)))
    {
        *dst = b as c_char;
    }
}

/// The placement lists (`nvmlDeviceGetGpuInstancePossiblePlacements*`,
/// `nvmlGpuInstanceGetComputeInstancePossiblePlacements`): nvml.h makes
/// `*count` output only ("Returns number of allowed placements") and the
/// array "Can be NULL to discover number of allowed placements ... If
/// non-NULL must be large enough to accommodate the placements supported by
/// the profile", so the incoming `*count` is never read (callers may leave
/// it uninitialised) and a non-null array gets every placement.
///
/// # Safety
/// `count` is null or valid; `array` is null or has room for `items.len()` entries.
pub unsafe fn write_list<T: Copy>(array: *mut T, count: *mut c_uint, items: &[T]) -> Result<()> {
    // SAFETY: per the caller's contract.
    let count = unsafe { out(count) }?;
    let needed = c_uint::try_from(items.len()).map_err(|_| Fail::UNKNOWN)?;
    if !array.is_null() {
        // SAFETY: a non-null `array` has room for every placement (nvml.h).
        unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), array, items.len()) };
    }
    *count = needed;
    Ok(())
}

/// The instance lists (`nvmlDeviceGetGpuInstances`,
/// `nvmlGpuInstanceGetComputeInstances`): nvml.h sizes the array by the
/// profile's instance count, which no list can exceed, and the real library
/// does not read `*count` on input (C callers often leave it uninitialised),
/// so neither does this; `*count` gets the number written.
///
/// # Safety
/// `count` is null or valid; `array` is null or has room for `items.len()` entries.
pub unsafe fn write_instances<T: Copy>(
    array: *mut T,
    count: *mut c_uint,
    items: &[T],
) -> Result<()> {
    // SAFETY: per the caller's contract.
    let count = unsafe { out(count) }?;
    if array.is_null() {
        return Err(Fail::INVALID_ARGUMENT);
    }
    // SAFETY: `array` has room for the profile's instance count >= `items.len()`.
    unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), array, items.len()) };
    *count = c_uint::try_from(items.len()).map_err(|_| Fail::UNKNOWN)?;
    Ok(())
}

/// Check the `version` word that starts a versioned NVML struct.
///
/// # Safety
/// `p` is null or points at a readable `u32`.
pub unsafe fn struct_version(p: *const c_uint) -> Result<c_uint> {
    // SAFETY: per the caller's contract.
    unsafe { input(p) }.copied()
}

/// Check the version word of a versioned struct the caller passed and give
/// the struct for writing: null is `INVALID_ARGUMENT`, another version
/// `ARGUMENT_VERSION_MISMATCH`.
///
/// # Safety
/// `p` is null or valid for reads and writes of a `T` that starts with a
/// `c_uint` version.
pub unsafe fn versioned<'a, T>(p: *mut T, version: c_uint) -> Result<&'a mut T> {
    // SAFETY: per the caller's contract.
    if unsafe { struct_version(p.cast()) }? != version {
        return Err(Fail::ARGUMENT_VERSION_MISMATCH);
    }
    // SAFETY: per the caller's contract.
    unsafe { out(p) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves nvmlErrorString agrees with mig-model's messages (what the CLI
    /// prints), so a client sees the text nvidia-smi shows for every modelled kind.
    #[test]
    fn error_strings_match_the_model() {
        for e in NvmlError::ALL {
            assert_eq!(
                error_string(e.code()).to_str().ok(),
                Some(e.message().as_str()),
                "{e:?}"
            );
        }
        assert_eq!(error_string(SUCCESS), c"Success");
        assert_eq!(error_string(12345), c"Unknown Error");
    }

    /// Proves string getters refuse a short buffer without writing, and NUL-terminate.
    #[test]
    fn write_str_checks_the_buffer() {
        let mut buf = [1 as c_char; 6];
        let r = unsafe { write_str(buf.as_mut_ptr(), 5, "hello") };
        assert_eq!(r, Err(Fail::INSUFFICIENT_SIZE));
        assert_eq!(buf, [1; 6]);
        unsafe { write_str(buf.as_mut_ptr(), 6, "hello") }.unwrap();
        assert_eq!(&buf, b"hello\0".map(|b| b as c_char).as_slice());
        let r = unsafe { write_str(std::ptr::null_mut(), 6, "x") };
        assert_eq!(r, Err(Fail::INVALID_ARGUMENT));
    }

    /// Proves the placement-list protocol of nvml.h: NULL asks for the
    /// count, and the incoming count is never read (a garbage or too small
    /// value still gets every placement).
    #[test]
    fn write_list_protocol() {
        let items = [7u32, 8, 9];
        let mut count = 0;
        unsafe { write_list(std::ptr::null_mut(), &mut count, &items) }.unwrap();
        assert_eq!(count, 3);
        for garbage in [0, 2, 0xDEAD_BEEF] {
            let mut arr = [0u32; 3];
            count = garbage;
            unsafe { write_list(arr.as_mut_ptr(), &mut count, &items) }.unwrap();
            assert_eq!((count, arr), (3, items));
        }
        let mut arr = [0u32; 3];
        let r = unsafe { write_list(arr.as_mut_ptr(), std::ptr::null_mut(), &items) };
        assert_eq!(r, Err(Fail::INVALID_ARGUMENT));
    }
}
