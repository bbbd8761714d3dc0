//! `mig-apply`: apply a MIG config to GPUs.
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
pub use hooks::{
    apply_with_hooks, Applier, ApplyError, HookError, HookPoint, HookSpec, Hooks,
};
pub use journal::{Journal, JournalFile, Phase};
pub use plan::{
    plan_gpu, plan_restore, simulate, BusyInstance, GpuPlan, Kept, MigState, PlanError,
    PlanOptions, RestoreError, Step,
};
