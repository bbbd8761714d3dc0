//! `mig-config`: mig-parted's MIG config format, as a versioned spec.
//!
//! What it is for: reading and writing the files of `nvidia-mig-parted`
//! (`version: v1`) and migctl's extension of them (`version: migctl/v1`,
//! which adds board UUIDs and pinned placements) in [`v1`], in the style of
//! mig-parted's `api/spec/v1`; checking a named config against the GPUs of a
//! machine and the catalog ([`validate()`]), which yields per GPU a
//! [`GpuDemand`] (what the GPU should hold, whatever the file said); and
//! `generate-config` ([`generate()`]), a config for the boards present.
//!
//! What it is not for: changing a GPU (apply, journal, check and export are
//! `mig-apply`'s), MIG rules (they are `mig_model::engine`'s: validation asks
//! the engine), or printing.
//!
//! # Example
//!
//! Load a config and validate it against two H100s:
//!
//! ```
//! use mig_config::{catalog_identity, validate, Spec};
//!
//! let text = r#"
//! version: v1
//! mig-configs:
//!   all-3g.40gb:
//!     - devices: all
//!       mig-enabled: true
//!       mig-devices:
//!         "3g.40gb": 2
//!   too-many:
//!     - devices: all
//!       mig-enabled: true
//!       mig-devices:
//!         "3g.40gb": 3
//! "#;
//! let spec = Spec::parse(text, "example.yaml")?;
//! let h100 = mig_model::catalog::model("h100-sxm5-80gb").expect("catalog board");
//! let gpus = [catalog_identity(0, h100), catalog_identity(1, h100)];
//!
//! let selection = validate(spec.select(Some("all-3g.40gb"), "example.yaml")?, &gpus)?;
//! assert_eq!(selection.targets.len(), 2);
//! assert_eq!(selection.targets[0].demand.gpu_instances.len(), 2);
//!
//! // An H100 holds two 3g.40gb instances, not three: the error says why.
//! let err = validate(spec.select(Some("too-many"), "example.yaml")?, &gpus).unwrap_err();
//! assert!(err.to_string().contains("3g.40gb"), "{err}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
pub mod v1;

mod demand;
mod generate;
#[cfg(any(test, feature = "testutil"))]
#[doc(hidden)]
pub mod testutil;
mod validate;

pub use demand::{CiDemand, GiDemand, GpuDemand};
pub use generate::generate;
pub use v1::{
    CiSpec, ConfigError, DeviceFilter, Devices, Entry, GiSpec, MigDevices, NamedConfig,
    ProfileError, ProfileName, Spec, SpecVersion,
};
pub use validate::{
    catalog_identity, check_fit, demand_for, entry_selects, validate, FitError, Problem,
    ProblemKind, Selection, Target, ValidationError,
};
