//! `mig-plan`: decisions over the MIG model that span more than one operation.
//!
//! What it is for: mig-parted's config format and its validation against the
//! catalog, the reconciler that turns a wanted layout into ordered backend
//! steps (with a journal), the enumeration of every layout a GPU model allows,
//! fit checks, and packing a fleet's demand onto its GPUs.
//!
//! What it is not for: single MIG rules (placement validity, IDs, default
//! placements live in `mig_model::engine`), talking to a GPU directly (it
//! drives any `mig_model::Backend`), or printing (the CLI prints).
pub mod assertion;
pub mod baseline;
pub mod checkpoint;
pub mod config;
pub mod demand;
pub mod exec;
pub mod export;
pub mod generate;
pub mod hooks;
pub mod journal;
pub mod plan;
#[cfg(test)]
pub(crate) mod testutil;
pub mod validate;
