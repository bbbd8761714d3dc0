//! The backend itself: loading and initialising NVML, the values it reads
//! once per command, and running one operation on one GPU with its errors
//! named.

use crate::raw::{self, Device, Fail, Nvml};
use mig_model::backend::{BackendError, GpuIdentity, GpuRef, Inventory, Op};
use mig_model::{CiProfile, GiProfile, NvmlError};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;
use std::sync::Mutex;

/// Environment variable naming the NVML library to load.
pub const ENV_LIB: &str = "MIGCTL_NVML_LIB";
/// The library loaded when [`ENV_LIB`] is unset.
pub const DEFAULT_LIB: &str = "libnvidia-ml.so.1";

/// GI profile indexes probed (`NVML_GPU_INSTANCE_PROFILE_*`): the header of
/// CUDA 13 defines 0..=16 (newer ones add 0x11); unknown ones answer
/// `NOT_SUPPORTED` or `INVALID_ARGUMENT` and are skipped.
pub(crate) const GI_PROFILE_INDEXES: u32 = 0x20;
/// CI profile indexes probed (`NVML_COMPUTE_INSTANCE_PROFILE_*`: 0..=8).
pub(crate) const CI_PROFILE_INDEXES: u32 = 0x10;

/// Why [`NvmlBackend::open`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The library did not load: no NVIDIA driver is installed (or
    /// `MIGCTL_NVML_LIB` names nothing loadable).
    #[error("cannot load the NVML library {lib} (is the NVIDIA driver installed? {ENV_LIB} names another): {reason}")]
    Load { lib: String, reason: String },
    /// It loaded but is not a usable NVML (an entry point is missing).
    #[error("{lib} is not a usable NVML library: it has no {symbol}")]
    NotNvml { lib: String, symbol: String },
    /// `nvmlInit_v2` failed.
    #[error("{lib}: nvmlInit_v2 failed: {error}")]
    Init { lib: String, error: String },
    /// NVML works but reports no GPU.
    #[error("{lib}: NVML found no GPU")]
    NoGpu { lib: String },
}

impl OpenError {
    /// A short reason for a one-line notice (`no NVIDIA driver found`, ...).
    pub fn summary(&self) -> String {
        match self {
            OpenError::Load { .. } => "no NVIDIA driver found".into(),
            OpenError::NotNvml { lib, symbol } => format!("{lib} is not NVML (no {symbol})"),
            OpenError::Init { error, .. } => format!("NVML did not initialise ({error})"),
            OpenError::NoGpu { .. } => "NVML found no GPU".into(),
        }
    }
}

/// The library lacks an entry point migctl needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the NVML library has no {0}: the NVIDIA driver is too old for migctl's NVML backend")]
pub struct MissingSymbol(pub &'static str);

/// What went wrong inside one backend call, before it is given the
/// operation and the GPU.
#[derive(Debug)]
pub(crate) enum Why {
    Nvml(Fail),
    /// The driver reported something no profile listing accounts for.
    Inconsistent(String),
}

impl From<Fail> for Why {
    fn from(f: Fail) -> Why {
        Why::Nvml(f)
    }
}

pub(crate) type Res<T> = Result<T, Why>;

/// How many times a multi-call read is made before a NOT_FOUND stands
/// (see `NvmlBackend::read`).
pub(crate) const READ_ATTEMPTS: u32 = 3;

/// A raw failure of `op` on `gpu` as a [`BackendError`].
pub(crate) fn error(op: Op, gpu: Option<&GpuRef>, why: Why) -> BackendError {
    match why {
        Why::Nvml(Fail::Code(c)) => BackendError::Nvml {
            op,
            gpu: gpu.cloned(),
            code: NvmlError::from_code(c).unwrap_or(NvmlError::Unknown),
        },
        Why::Nvml(Fail::Missing(name)) => {
            BackendError::machine(op, gpu.cloned(), MissingSymbol(name))
        }
        Why::Inconsistent(what) => match gpu {
            Some(g) => BackendError::Inconsistent {
                op,
                gpu: g.clone(),
                what,
            },
            None => BackendError::machine(op, None, what),
        },
    }
}

/// The machine's GPUs as NVML reports them.
pub struct NvmlBackend {
    pub(crate) nvml: std::sync::Arc<Nvml>,
    lib: String,
    /// Each NVML call costs about 0.3 ms on an H100, so what stays constant
    /// is read once per command and only when it is needed:
    /// GPU handles by index (valid until `nvmlShutdown`), ...
    handles: Cache<u32, usize>,
    /// ... each GPU's identity (board facts; `mirrored` is worked out from
    /// the layout on each read), ...
    pub(crate) identities: Cache<u32, GpuIdentity>,
    /// ... GI profiles per GPU, without placements and with them, and CI
    /// profiles (without placements) per GPU and GI profile ID: constant
    /// while the MIG mode stays (nvml.h), so forgotten when it changes.
    pub(crate) profiles: Cache<(u32, bool), Vec<GiProfile>>,
    pub(crate) ci_profiles: Cache<(u32, u32), Vec<CiProfile>>,
    timings: OpenTimings,
}

/// A map behind a lock, for the backend's read-once values.
pub(crate) struct Cache<K, V>(Mutex<HashMap<K, V>>);

impl<K: std::hash::Hash + Eq, V: Clone> Cache<K, V> {
    fn new() -> Self {
        Cache(Mutex::new(HashMap::new()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, V>> {
        // a panic elsewhere cannot leave a half-written entry: keep using it
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value for `k`, made by `make` the first time.
    pub(crate) fn get_or<E>(&self, k: K, make: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        if let Some(v) = self.lock().get(&k) {
            return Ok(v.clone());
        }
        let v = make()?;
        self.lock().insert(k, v.clone());
        Ok(v)
    }

    /// Drop every entry `keep` refuses.
    pub(crate) fn retain(&self, keep: impl FnMut(&K, &mut V) -> bool) {
        self.lock().retain(keep);
    }
}

impl fmt::Debug for NvmlBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NvmlBackend")
            .field("lib", &self.lib)
            .finish_non_exhaustive()
    }
}

/// The library [`NvmlBackend::open`] loads: `$MIGCTL_NVML_LIB`, else
/// `libnvidia-ml.so.1`.
pub fn library_path() -> String {
    std::env::var(ENV_LIB)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_LIB.to_string())
}

fn code_text(f: Fail) -> String {
    match f {
        Fail::Code(c) => match NvmlError::from_code(c) {
            Some(NvmlError::Unknown) | None => format!("NVML error {c}"),
            Some(e) => e.message(),
        },
        Fail::Missing(s) => format!("no {s}"),
    }
}

/// How long opening NVML took, for `MIGCTL_TRACE` (the CLI prints it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenTimings {
    /// Loading the library.
    pub load: std::time::Duration,
    /// Loading, `nvmlInit_v2` and the device count together.
    pub init: std::time::Duration,
}

impl NvmlBackend {
    /// Load [`library_path`], initialise NVML, and require at least one GPU.
    pub fn open() -> Result<NvmlBackend, OpenError> {
        NvmlBackend::open_path(&library_path())
    }

    /// Like [`NvmlBackend::open`], with the library named explicitly.
    pub fn open_path(lib: &str) -> Result<NvmlBackend, OpenError> {
        let t0 = std::time::Instant::now();
        let nvml = Nvml::load(OsStr::new(lib)).map_err(|e| OpenError::Load {
            lib: lib.to_string(),
            reason: e.to_string(),
        })?;
        let load = t0.elapsed();
        nvml.init().map_err(|f| match f {
            Fail::Missing(s) => OpenError::NotNvml {
                lib: lib.to_string(),
                symbol: s.to_string(),
            },
            Fail::Code(_) => OpenError::Init {
                lib: lib.to_string(),
                error: code_text(f),
            },
        })?;
        let n = nvml.device_count().map_err(|f| match f {
            Fail::Missing(s) => OpenError::NotNvml {
                lib: lib.to_string(),
                symbol: s.to_string(),
            },
            Fail::Code(_) => OpenError::Init {
                lib: lib.to_string(),
                error: format!("nvmlDeviceGetCount_v2: {}", code_text(f)),
            },
        })?;
        let init = t0.elapsed();
        if n == 0 {
            return Err(OpenError::NoGpu {
                lib: lib.to_string(),
            });
        }
        Ok(NvmlBackend {
            nvml: std::sync::Arc::new(nvml),
            lib: lib.to_string(),
            handles: Cache::new(),
            identities: Cache::new(),
            profiles: Cache::new(),
            ci_profiles: Cache::new(),
            timings: OpenTimings { load, init },
        })
    }

    /// How long [`NvmlBackend::open`] took.
    pub fn timings(&self) -> OpenTimings {
        self.timings
    }

    /// The library this backend loaded.
    pub fn library(&self) -> &str {
        &self.lib
    }

    /// Forget what a MIG mode change can change: the GPU's profiles.
    pub(crate) fn forget_profiles(&self, gpu: u32) {
        self.profiles.retain(|(g, _), _| *g != gpu);
        self.ci_profiles.retain(|(g, _), _| *g != gpu);
    }

    /// The handle of GPU `index`, asked of NVML once.
    pub(crate) fn device(&self, index: u32) -> raw::Res<Device<'_>> {
        let raw = self
            .handles
            .get_or(index, || self.nvml.device(index).map(|d| d.raw()))?;
        Ok(self.nvml.device_from_raw(raw))
    }

    /// Run `f` on the device `gpu` names; failures carry `op` and `gpu`.
    pub(crate) fn on<T>(
        &self,
        op: Op,
        gpu: &GpuRef,
        f: impl FnOnce(u32, Device<'_>) -> Res<T>,
    ) -> Result<T, BackendError> {
        let index = self.index_of(gpu)?;
        let d = self.device(index).map_err(|f| match f {
            // nvmlDeviceGetHandleByIndex answers an index past the end so
            Fail::Code(raw::ERR_INVALID_ARGUMENT) => BackendError::NoSuchGpu {
                op,
                gpu: gpu.clone(),
            },
            f => error(op, Some(gpu), f.into()),
        })?;
        f(index, d).map_err(|w| error(op, Some(gpu), w))
    }

    /// [`NvmlBackend::on`] for a read made of several NVML calls. NVML has
    /// no atomic read of a GPU, so an instance one call enumerates can be
    /// destroyed by another client before the next call asks about it, which
    /// then answers NOT_FOUND (found by `migctl bench soak`: a `-lgi` racing
    /// a `-dgi` failed). Such a read is made again, up to [`READ_ATTEMPTS`]
    /// times in all, so a listing is not failed by a concurrent destroy; a
    /// NOT_FOUND that persists (an instance that never existed) is returned.
    pub(crate) fn read<T>(
        &self,
        op: Op,
        gpu: &GpuRef,
        f: impl Fn(u32, &Device<'_>) -> Res<T>,
    ) -> Result<T, BackendError> {
        self.on(op, gpu, |i, d| {
            let mut r = f(i, &d);
            for _ in 1..READ_ATTEMPTS {
                match r {
                    Err(Why::Nvml(Fail::Code(raw::ERR_NOT_FOUND))) => r = f(i, &d),
                    _ => break,
                }
            }
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mig_model::backend::GpuRef;

    /// Proves a missing library is a clear error, not a panic: a binary with
    /// this backend starts on a machine without the NVIDIA driver.
    #[test]
    fn missing_library_is_a_clear_error() {
        let lib = "/nonexistent/dir/libnvidia-ml.so.1";
        let e = NvmlBackend::open_path(lib).expect_err("no such library");
        assert!(matches!(e, OpenError::Load { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains(lib), "{msg}");
        assert!(msg.contains("NVIDIA driver"), "{msg}");
        assert_eq!(e.summary(), "no NVIDIA driver found");
    }

    /// Proves a library that loads but is not NVML (here the C library)
    /// gives a clear error naming the missing entry point, not a panic.
    #[test]
    fn a_library_that_is_not_nvml_is_refused() {
        let e = NvmlBackend::open_path("libc.so.6").expect_err("libc is not NVML");
        assert_eq!(
            e,
            OpenError::NotNvml {
                lib: "libc.so.6".into(),
                symbol: "nvmlInit_v2".into()
            }
        );
        assert!(e.to_string().contains("nvmlInit_v2"), "{e}");
    }

    /// Proves NVML codes map to the CLI's error kinds with the operation
    /// and GPU attached, and missing symbols become a machine error that
    /// names the function.
    #[test]
    fn failures_map_to_backend_errors() {
        let g = GpuRef::Index(3);
        let e = error(Op::CreateGpuInstance, Some(&g), Fail::Code(19).into());
        assert_eq!(e.nvml_code(), Some(NvmlError::InUse));
        assert_eq!(
            e.to_string(),
            "cannot create a GPU instance on GPU 3: In use by another client"
        );
        let e = error(
            Op::Reset,
            Some(&g),
            Fail::Code(raw::ERR_ARGUMENT_VERSION_MISMATCH).into(),
        );
        assert_eq!(e.nvml_code(), Some(NvmlError::Unknown));
        let e = error(
            Op::MigMode,
            None,
            Fail::Missing("nvmlDeviceGetMigMode").into(),
        );
        assert_eq!(e.nvml_code(), None);
        assert!(e.to_string().contains("nvmlDeviceGetMigMode"), "{e}");
    }

    /// Proves the backend can be shared by threads (reconfiguring GPUs in
    /// parallel needs `Send + Sync`).
    #[test]
    fn backend_is_send_and_sync() {
        fn both<T: Send + Sync>() {}
        both::<NvmlBackend>();
    }
}
