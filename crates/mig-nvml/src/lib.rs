//! `mig-nvml`: migctl's real backend, NVIDIA's NVML loaded at run time.
//!
//! What it is for: [`NvmlBackend`] implements [`mig_model::Backend`] over
//! `libnvidia-ml.so.1` (or the library named by `MIGCTL_NVML_LIB`), through
//! the raw bindings of `nvml-wrapper-sys`, since `nvml-wrapper` has no safe
//! API for creating or destroying MIG instances (mig-facts 1). It reports
//! what the driver reports, in the driver's order: GI and CI profiles by
//! NVML profile index, instances profile by profile as NVML lists them, MIG
//! devices by the index NVML enumerates them at. (nvidia-smi's presentation
//! order is the CLI's business; the simulator answers in the same driver
//! order, so both backends agree.) NVML return codes become
//! [`BackendError::Nvml`](mig_model::BackendError::Nvml) with the operation and the GPU, so the CLI prints
//! nvidia-smi's messages. The backend is `Send + Sync`: NVML is thread-safe.
//!
//! What it is not for: MIG rules (NVML enforces them; `mig-model` names
//! things) or printing. A binary using it builds and starts on a machine
//! without an NVIDIA driver: [`NvmlBackend::open`] then fails cleanly.
//!
//! The code by concern: `machine` loads NVML and keeps what a command
//! reads once (GPU handles, identities, profiles); `read` reads a GPU with
//! as few calls as each answer needs; `inventory` and `control` implement
//! the backend traits over them; `gpm` reads GPM samples per MIG
//! instance; `raw` is the FFI.
#![doc = include_str!("example.md")]

/// The entry point `$name` of the device's library, or `NotSupported`
/// (`mig_model::NvmlError` in scope where used).
// first: `details` and `readings` use it
macro_rules! entry {
    ($d:expr, $name:ident) => {
        $d.nvml
            .lib
            .$name
            .as_ref()
            .map(|f| *f)
            .map_err(|_| NvmlError::NotSupported)
    };
}

mod control;
mod details;
mod gpm;
mod inventory;
mod machine;
mod raw;
mod read;
mod readings;

pub use machine::{
    library_path, MissingSymbol, NvmlBackend, OpenError, OpenTimings, DEFAULT_LIB, ENV_LIB,
};
