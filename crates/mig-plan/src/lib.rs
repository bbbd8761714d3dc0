//! `mig-plan`: decisions over the MIG model that span more than one operation.
//!
//! What it is for: mig-parted's config format and its validation against the
//! catalog, the reconciler that turns a wanted layout into ordered backend
//! steps (with a journal), the enumeration of every layout a GPU model allows
//! ([`layouts`]), fit checks ([`fit`]), pictures of a GPU's slices
//! ([`picture`]), fleet inventories ([`inventory`]) and packing a fleet's
//! demand onto its GPUs ([`pack`]).
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
pub mod fit;
pub mod fleetgen;
pub mod generate;
pub mod hooks;
pub mod inventory;
pub mod journal;
pub mod layouts;
pub mod pack;
pub mod picture;
pub mod plan;
pub mod profiles;
#[cfg(test)]
pub(crate) mod testutil;
pub mod validate;
