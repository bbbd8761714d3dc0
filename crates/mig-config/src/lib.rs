//! `mig-config`: mig-parted's MIG config format, as a versioned spec.
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
