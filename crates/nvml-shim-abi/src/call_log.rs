//! The NVML call log: with `MIGCTL_NVML_LOG=FILE`, every call into this
//! library appends one line to FILE, from any client:
//!
//! ```text
//! nvmlDeviceCreateGpuInstanceWithPlacement device=gpu0 profile_id=9 placement=4:4 -> 0 (Success) [pid 4242]
//! ```
//!
//! The function's name comes first, then its input arguments (handles
//! decoded as `gpu0`, `gpu0/gi1`, `gpu0/gi1/ci0`, `gpu0/mig(1,0)`; strings
//! quoted; output pointers left out), then the return code and its text, then
//! the calling process. Lines from several processes may interleave but never
//! mix: each is one `write` to a file opened for appending. The variable is
//! read once, at a process's first call.
//!
//! Every entry point goes through [`call`] (or
//! [`entry`], which logs no arguments), so one place decides
//! what is logged.

use crate::errors::{error_string, report, Fail, Result, Return, SUCCESS};
use crate::handles::{Handle, Kind};
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_char, c_int, c_uint, c_ulonglong, CStr};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, OnceLock};

/// Environment variable naming the log file.
pub const ENV_LOG: &str = "MIGCTL_NVML_LOG";

static LOG: OnceLock<Option<Mutex<File>>> = OnceLock::new();

fn log() -> Option<&'static Mutex<File>> {
    LOG.get_or_init(|| {
        let path = std::env::var_os(ENV_LOG).filter(|p| !p.is_empty())?;
        match OpenOptions::new().create(true).append(true).open(&path) {
            Ok(f) => Some(Mutex::new(f)),
            Err(e) => {
                eprintln!(
                    "nvml-shim: {ENV_LOG}={}: {e}; not logging",
                    path.to_string_lossy()
                );
                None
            }
        }
    })
    .as_ref()
}

/// Whether calls are being logged.
pub fn enabled() -> bool {
    log().is_some()
}

/// Append one line: `name args -> code (text) [pid N]`.
pub fn record(name: &str, args: &str, rc: Return) {
    if enabled() {
        record_value(
            name,
            args,
            &format!("{rc} ({})", error_string(rc).to_string_lossy()),
        );
    }
}

/// Append one line for a function that returns something other than a
/// code (`nvmlErrorString`): `name args -> value [pid N]`.
pub fn record_value(name: &str, args: &str, value: &str) {
    if let Some(f) = log() {
        let sep = if args.is_empty() { "" } else { " " };
        let line = format!(
            "{name}{sep}{args} -> {value} [pid {}]\n",
            std::process::id()
        );
        if let Ok(mut f) = f.lock() {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// How an argument is written in the log.
pub trait LogArg {
    /// # Safety
    /// Pointer arguments are null or valid for the reads their NVML
    /// function's contract describes (the exported functions' `# Safety`).
    unsafe fn log_value(&self) -> String;
}

macro_rules! plain {
    ($($t:ty),*) => {$(
        impl LogArg for $t {
            unsafe fn log_value(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
plain!(c_uint, c_int, c_ulonglong);

/// Handles (`nvmlDevice_t`, `nvmlGpuInstance_t`, `nvmlComputeInstance_t`)
/// decoded; anything else (a foreign or null pointer) as an address.
impl<T> LogArg for *mut T {
    unsafe fn log_value(&self) -> String {
        if self.is_null() {
            return "NULL".into();
        }
        let all = [
            Kind::Gpu,
            Kind::MigDevice,
            Kind::GpuInstance,
            Kind::ComputeInstance,
        ];
        match Handle::from_ptr(*self, &all) {
            Ok(h) => match h.kind {
                Kind::Gpu => format!("gpu{}", h.gpu),
                Kind::MigDevice => format!("gpu{}/mig({},{})", h.gpu, h.gi, h.ci),
                Kind::GpuInstance => format!("gpu{}/gi{}", h.gpu, h.gi),
                Kind::ComputeInstance => format!("gpu{}/gi{}/ci{}", h.gpu, h.gi, h.ci),
            },
            Err(_) => format!("{:#x}", self.addr()),
        }
    }
}

impl LogArg for *const c_char {
    unsafe fn log_value(&self) -> String {
        if self.is_null() {
            return "NULL".into();
        }
        // SAFETY: the caller's contract: a valid NUL-terminated string.
        format!("{:?}", unsafe { CStr::from_ptr(*self) }.to_string_lossy())
    }
}

impl LogArg for *const sys::nvmlGpuInstancePlacement_t {
    unsafe fn log_value(&self) -> String {
        // SAFETY: null or valid for a read, as the function's contract says.
        match unsafe { self.as_ref() } {
            Some(p) => format!("{}:{}", p.start, p.size),
            None => "NULL".into(),
        }
    }
}

impl LogArg for *const sys::nvmlComputeInstancePlacement_t {
    unsafe fn log_value(&self) -> String {
        // SAFETY: as above.
        match unsafe { self.as_ref() } {
            Some(p) => format!("{}:{}", p.start, p.size),
            None => "NULL".into(),
        }
    }
}

/// `name=value` pairs, space-separated.
///
/// # Safety
/// As [`LogArg::log_value`].
pub unsafe fn args(pairs: &[(&str, &dyn LogArg)]) -> String {
    pairs
        .iter()
        // SAFETY: forwarded from the caller.
        .map(|(n, v)| format!("{n}={}", unsafe { v.log_value() }))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The arguments of an entry point for [`call`]:
/// `call("nvmlX", || log_args!(device, profile_id), || { ... })`.
#[macro_export]
macro_rules! log_args {
    ($($name:ident),* $(,)?) => {
        // SAFETY: the arguments are the exported function's own, which its
        // contract makes null or valid.
        unsafe { $crate::call_log::args(&[$((stringify!($name), &$name as &dyn $crate::call_log::LogArg)),*]) }
    };
}

/// Run an entry point's body: success, its NVML code, or `NVML_ERROR_UNKNOWN`
/// if it panicked (a bug here must not unwind into the C caller).
/// Logged by name alone (see [`call`] to log the arguments too).
pub fn entry(name: &str, body: impl FnOnce() -> Result<()>) -> Return {
    call(name, String::new, body)
}

/// [`entry`], and with `MIGCTL_NVML_LOG` set one line in the call log:
/// the name, `args()` (formatted before the body runs, only when logging),
/// the return code.
pub fn call(
    name: &str,
    args: impl FnOnce() -> String,
    body: impl FnOnce() -> Result<()>,
) -> Return {
    let logged = enabled().then(args);
    let rc = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => SUCCESS,
        Ok(Err(Fail(code))) => code,
        Err(_) => report(&format!("internal error in {name}; please report it")).0,
    };
    if let Some(a) = logged {
        record(name, &a, rc);
    }
    rc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves a panic inside an entry point becomes NVML_ERROR_UNKNOWN.
    #[test]
    fn panics_do_not_cross_the_boundary() {
        let r = entry("test", || panic!("boom"));
        assert_eq!(r, Fail::UNKNOWN.0);
        assert_eq!(entry("test", || Ok(())), SUCCESS);
        assert_eq!(entry("test", || Err(Fail::NOT_FOUND)), 6);
    }
}
