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
//! device handles), [`gpu_instance`], [`compute_instance`], [`process`], and for
//! monitoring clients [`sensors`] (temperature, power, utilization, fan),
//! [`clocks`], [`pcie`], [`bar1`], [`modes`] (persistence, compute mode, ECC,
//! accounting), [`board_info`] (serial, GSP firmware, cores), [`media`]
//! (encoder and FBC sessions), [`fields`] (`nvmlDeviceGetFieldValues`), [`events`] (event sets: MIG configuration changes),
//! [`export_table`] (`nvmlInternalGetExportTable`, which the real nvidia-smi needs),
//! [`nvlink`] (NVLink of SXM boards), [`topology`] (CPU and memory affinity,
//! PCIe paths, P2P, excluded devices) and [`units`];
//! under them [`handles`] (the tagged-integer handle encoding), [`machine`]
//! (the session and handle resolution) and [`errors`] (codes, the panic
//! guard, checked pointer access). Every other function of nvml.h is in
//! [`generated`], answering as [`fallback`] describes.
//!
//! Every exported function follows its nvml.h contract: each pointer
//! argument is either null (answered with `NVML_ERROR_INVALID_ARGUMENT`
//! where nvml.h does) or valid for the reads and writes nvml.h describes.
//! That is the `# Safety` section of all of them.
#![allow(clippy::missing_safety_doc)]
#![deny(unsafe_op_in_unsafe_fn)]

// the C-ABI plumbing (return codes, handles, the call log and its
// `log_args!` macro, the machine session) lives in `nvml-shim-abi`; its
// modules keep their paths here
#[macro_use]
extern crate nvml_shim_abi;
pub use nvml_shim_abi::{call_log, errors, handles, machine};
pub mod compute_instance;
pub mod details;
pub mod device;
pub mod events;
pub mod export_table;
pub mod fallback;
pub mod fields;
// Left out while the generator runs (`--features regen`), so that a function
// just modelled by hand does not clash with its stale generated fallback.
#[cfg(not(feature = "regen"))]
#[rustfmt::skip]
pub mod generated;
pub mod bar1;
pub mod board_info;
pub mod clocks;
pub mod gpm;
pub mod gpu_instance;
pub mod media;
pub mod mig_device;
pub mod modes;
pub mod nvlink;
pub mod pcie;
pub mod process;
pub mod sensors;
pub mod system;
pub mod topology;
pub mod units;

pub use bar1::*;
pub use board_info::*;
pub use clocks::*;
pub use compute_instance::*;
pub use device::*;
pub use events::*;
pub use export_table::nvmlInternalGetExportTable;
pub use fields::*;
#[cfg(not(feature = "regen"))]
pub use generated::*;
pub use gpu_instance::*;
pub use media::*;
pub use mig_device::*;
pub use modes::*;
pub use nvlink::*;
pub use pcie::*;
pub use process::*;
pub use sensors::*;
pub use system::*;
pub use topology::*;
pub use units::*;
