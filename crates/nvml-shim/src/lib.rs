//! `nvml-shim`: a drop-in `libnvidia-ml.so.1` that serves the NVML C API
//! from migctl's simulated machine.
//!
//! What it is for: running unmodified NVML clients (pynvml, go-nvml and
//! go-nvlib programs, migctl's own NVML backend) against simulated MIG GPUs,
//! so the real-NVML code path is tested without a GPU. Build the workspace,
//! then `migctl sim nvml-lib` prints the path of a `libnvidia-ml.so.1` to put
//! on `LD_LIBRARY_PATH`; `MIGCTL_SIM_STATE` names the machine it serves.
//!
//! What it is not for: MIG rules. Creation, IDs, default placements,
//! capacity, names and UUIDs come from the `Backend` methods of
//! `mig_sim::SimMachine` (and through it `mig-model`); this crate only
//! translates between NVML's structs, handles and return codes and those
//! methods, and returns the error a real driver returns for null pointers,
//! short buffers, wrong struct versions, stale or foreign handles and calls
//! before `nvmlInit`.
//!
//! Areas, one module each: [`system`] (init, versions, error strings),
//! [`device`] (discovery and identity), [`mig_device`] (MIG mode and MIG
//! device handles), [`gpu_instance`], [`compute_instance`], [`process`];
//! under them [`handles`] (the tagged-integer handle encoding), [`machine`]
//! (the session and handle resolution) and [`errors`] (codes, the panic
//! guard, checked pointer access) and [`call_log`] (`MIGCTL_NVML_LOG`).
//!
//! Every exported function follows its nvml.h contract: each pointer
//! argument is either null (answered with `NVML_ERROR_INVALID_ARGUMENT`
//! where nvml.h does) or valid for the reads and writes nvml.h describes.
//! That is the `# Safety` section of all of them.
#![allow(clippy::missing_safety_doc)]
#![deny(unsafe_op_in_unsafe_fn)]

#[macro_use]
pub mod call_log;
pub mod compute_instance;
pub mod device;
pub mod errors;
pub mod gpu_instance;
pub mod handles;
pub mod machine;
pub mod mig_device;
pub mod process;
pub mod system;

pub use compute_instance::*;
pub use device::*;
pub use gpu_instance::*;
pub use mig_device::*;
pub use process::*;
pub use system::*;
