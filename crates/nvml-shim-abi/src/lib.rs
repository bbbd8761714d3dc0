//! The C-ABI plumbing that every entry point of the fake `libnvidia-ml.so.1`
//! (`crates/nvml-shim`) shares, and nothing of what any NVML function
//! answers:
//! - [`errors`]: NVML return codes, [`errors::Fail`], and the checked
//!   reading and writing of the caller's pointers, buffers and versioned
//!   structs;
//! - [`handles`]: `nvmlDevice_t` and the instance handles as tagged
//!   integers, validated on every call;
//! - [`call_log`]: the per-call guard (a panic never unwinds into C) and the
//!   `MIGCTL_NVML_LOG` call log, with the [`log_args!`] macro;
//! - [`machine`]: the session with the simulated machine (`nvmlInit` to
//!   `nvmlShutdown`) and the resolution of handles against a snapshot.
//!
//! It exports no C symbol; `nvml-shim` builds the library and re-exports
//! these modules under its own name.
//!
//! ```
//! use nvml_shim_abi::handles::{Handle, Kind};
//! let p = Handle::gpu(3).to_ptr::<std::ffi::c_void>().expect("a GPU index fits");
//! let h = Handle::from_ptr(p, &[Kind::Gpu]).expect("our own handle");
//! assert_eq!((h.kind, h.gpu), (Kind::Gpu, 3));
//! assert!(Handle::from_ptr(7 as *mut std::ffi::c_void, &[Kind::Gpu]).is_err());
//! ```

// first: its `log_args!` macro is used by the modules below
#[macro_use]
pub mod call_log;
pub mod errors;
pub mod handles;
pub mod machine;
