//! `mig-apply`: apply a MIG config to GPUs, mig-parted style.
//!
//! What it is for: turning each selected GPU's [`mig_config::GpuDemand`] and
//! its current state into ordered steps ([`plan_gpu`], keeping every instance
//! the demand allows), running them through any `mig_model::Backend` with a
//! crash-safe [`journal`] that [`recover`] finishes or rolls back
//! ([`apply`]), mig-parted's hooks ([`apply_with_hooks`]), checking that GPUs
//! hold what a config asks ([`assert_selection`]), exporting the current
//! layouts as a config ([`export()`]) and checkpoints to restore
//! ([`checkpoint()`]).
//!
//! What it is not for: the config format and its validation (`mig-config`),
//! MIG rules (`mig_model::engine`), offline planning over layouts and fleets
//! (`mig-plan`), or printing (the CLI prints).
//!
//! # Example
//!
//! Plan two `3g.40gb` instances on an empty H100 with MIG enabled:
//!
//! ```
//! use mig_apply::{plan_gpu, PlanOptions, Step};
//! use mig_config::{catalog_identity, validate, Spec};
//! use mig_model::backend::MigMode;
//! use mig_model::{catalog, GpuSnapshot, Layout};
//!
//! let h100 = catalog::model("h100-sxm5-80gb").expect("catalog board");
//! let spec = Spec::parse(
//!     "version: v1\nmig-configs:\n  two:\n    - devices: all\n      mig-enabled: true\n      mig-devices: {\"3g.40gb\": 2}\n",
//!     "example.yaml",
//! )?;
//! let gpu = catalog_identity(0, h100);
//! let selection = validate(spec.select(Some("two"), "example.yaml")?, &[gpu.clone()])?;
//! let now = GpuSnapshot {
//!     identity: gpu,
//!     mode: MigMode { current: true, pending: true },
//!     layout: Layout::new(false),
//!     mig_devices: Vec::new(),
//!     processes: Vec::new(),
//! };
//! let plan = plan_gpu(h100, &now, &selection.targets[0].demand, PlanOptions::default())?;
//! let gis = plan.steps.iter().filter(|s| matches!(s, Step::CreateGi { .. })).count();
//! let cis = plan.steps.iter().filter(|s| matches!(s, Step::CreateCi { .. })).count();
//! assert_eq!((gis, cis, plan.steps.len()), (2, 2, 4));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
pub mod checkpoint;
pub mod journal;

mod assertion;
mod exec;
mod export;
mod hooks;
mod plan;

pub use assertion::{assert_gpu, assert_selection, layout_matches, Mismatch};
pub use checkpoint::{checkpoint, Checkpoint};
pub use exec::{
    apply, pending, recover, ExecError, GpuOutcome, Machine, Outcome, Performed, Progress, Quiet,
};
pub use export::{counts_of, export};
pub use hooks::{apply_with_hooks, Applier, ApplyError, HookError, HookPoint, HookSpec, Hooks};
pub use journal::{Journal, JournalFile, Phase};
pub use plan::{
    plan_gpu, plan_restore, simulate, BusyInstance, GpuPlan, Kept, MigState, PlanError,
    PlanOptions, RestoreError, Step,
};
