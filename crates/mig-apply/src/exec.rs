//! The executor: runs per-GPU plans on a machine, independent GPUs in
//! parallel, journaling before every step; a failed step rolls that GPU
//! back to exactly its state before, and [`recover`] finishes (or rolls
//! back) what a crash interrupted.
//!
//! It drives a [`Machine`]: a whole-GPU snapshot and one step at a time,
//! GPUs addressed by UUID; every `mig_model::Backend` is one. Progress goes to a [`Progress`] the CLI supplies
//! (this crate never prints).

use crate::journal::{GpuEntry, Journal, JournalError, JournalFile, JournalLock, Phase};
use crate::plan::{plan_restore, GpuPlan, MigState, Step};
use mig_model::backend::{Backend, BackendError, GpuRef, GpuSnapshot, Inventory, SnapshotParts};
use mig_model::catalog;
use mig_model::{ComputeInstanceId, GpuInstanceId, GpuModel};
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

/// Why a GPU stopped when another GPU's step failed.
const STOPPED: &str = "stopped: a step on another GPU failed";

/// What the executor needs of a machine. `Sync`: GPUs run in parallel.
pub trait Machine: Sync {
    /// Every GPU, in NVML index order.
    fn gpus(&self) -> Result<Vec<GpuRef>, BackendError>;
    /// One GPU's whole state, read at one moment.
    fn snapshot(&self, gpu: &GpuRef) -> Result<GpuSnapshot, BackendError>;
    /// One GPU's MIG mode and layout alone (what a rollback plans from and
    /// a read-back compares), with no more reads than that needs.
    fn state(&self, gpu: &GpuRef) -> Result<MigState, BackendError> {
        Ok(MigState::of(&self.snapshot(gpu)?))
    }
    /// The index a GPU has now (a journal names GPUs by UUID).
    fn locate(&self, gpu: &GpuRef) -> Result<u32, BackendError> {
        Ok(self.snapshot(gpu)?.identity.index)
    }
    /// Perform one step.
    fn perform(&self, gpu: &GpuRef, step: &Step) -> Result<Performed, BackendError>;
}

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Performed {
    Done,
    /// `SetMigMode`: the new mode is in effect (no reset needed).
    ModeInEffect,
    /// `SetMigMode`: the new mode is pending until a reset.
    ModePending,
    /// A GI was created with this ID.
    Gi(GpuInstanceId),
    /// A CI was created with this ID.
    Ci(ComputeInstanceId),
}

/// Where the executor reports progress (the CLI draws it).
pub trait Progress: Sync {
    /// `gpu` starts `n` steps of `phase`.
    fn begin(&self, gpu: u32, uuid: &str, n: usize, phase: Phase);
    /// Step `k` (1-based) of `n` starts.
    fn step(&self, gpu: u32, k: usize, n: usize, what: &str, phase: Phase);
    /// The GPU is finished.
    fn end(&self, gpu: u32, outcome: &Outcome);
}

/// A [`Progress`] that reports nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn begin(&self, _: u32, _: &str, _: usize, _: Phase) {}
    fn step(&self, _: u32, _: usize, _: usize, _: &str, _: Phase) {}
    fn end(&self, _: u32, _: &Outcome) {}
}

/// How one GPU ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// Already as wanted; nothing done.
    Unchanged,
    /// All steps done.
    Applied { steps: usize },
    /// Step `failed_step` (1-based) of `of` failed; the GPU is back exactly
    /// where it was.
    RolledBack {
        failed_step: usize,
        of: usize,
        error: String,
    },
    /// Another GPU's step failed, so this GPU (after `done` of `of` steps)
    /// went back exactly where it was too.
    Reverted { done: usize, of: usize },
    /// An interrupted apply (stopped after `done` of `of` steps) was finished.
    Finished { done: usize, of: usize },
    /// An interrupted apply (stopped after `done` of `of` steps) was rolled
    /// back to the state before it.
    Restored { done: usize, of: usize },
    /// The GPU is neither as before nor as planned; the journal is kept and
    /// the next command tries again.
    Stuck { error: String },
}

impl Outcome {
    /// Whether the GPU ended where the command wanted it.
    pub fn success(&self) -> bool {
        matches!(
            self,
            Outcome::Unchanged | Outcome::Applied { .. } | Outcome::Finished { .. }
        )
    }
}

/// One GPU's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GpuOutcome {
    pub index: u32,
    pub uuid: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Why the executor could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{path}: an interrupted apply is unfinished; run `migctl apply` or `migctl assert` to finish it first")]
    Unfinished { path: String },
    #[error("{model}: not in the catalog (journal entry for {uuid})")]
    UnknownModel { model: String, uuid: String },
}

/// The journal, shared by the GPU threads: every update rewrites the file.
struct Shared<'a> {
    file: &'a JournalFile,
    lock: &'a JournalLock,
    journal: Mutex<Journal>,
    /// Set when a GPU's step fails: the others stop and go back too, so a
    /// failed apply leaves every GPU as it was.
    failed: std::sync::atomic::AtomicBool,
}

impl Shared<'_> {
    /// Change a GPU's entry and write the journal durably.
    fn update(&self, uuid: &str, f: impl FnOnce(&mut GpuEntry)) -> Result<(), String> {
        self.put(uuid, f, true)
    }

    /// Count a GPU's steps done (written atomically, not flushed: see
    /// `JournalFile::write_progress`).
    fn progress(&self, uuid: &str, done: usize) -> Result<(), String> {
        self.put(uuid, |e| e.done = done, false)
    }

    fn put(&self, uuid: &str, f: impl FnOnce(&mut GpuEntry), flush: bool) -> Result<(), String> {
        let mut j = self
            .journal
            .lock()
            .map_err(|_| "journal lock poisoned".to_string())?;
        if let Some(e) = j.gpus.iter_mut().find(|e| e.uuid == uuid) {
            f(e);
        }
        j.pid = std::process::id();
        let w = if flush {
            self.file.write(self.lock, &j)
        } else {
            self.file.write_progress(self.lock, &j)
        };
        w.map_err(|e| e.to_string())
    }

    fn finished(&self) -> bool {
        self.journal
            .lock()
            .map(|j| !j.unfinished())
            .unwrap_or(false)
    }
}

/// One GPU's context while it runs.
struct Gpu<'a, M: Machine + ?Sized> {
    machine: &'a M,
    shared: &'a Shared<'a>,
    progress: &'a dyn Progress,
    model: &'static GpuModel,
    index: u32,
    uuid: String,
}

impl<M: Machine + ?Sized> Gpu<'_, M> {
    /// Steps address the GPU by the index it has in this process (resolved
    /// from the UUID when recovering): a UUID would cost a device listing
    /// per call.
    fn gref(&self) -> GpuRef {
        GpuRef::Index(self.index)
    }

    /// Run `steps`, journaling before each. On failure: the 0-based index
    /// of the failed step and why.
    fn run(&self, steps: &[Step], phase: Phase, names: &MigState) -> Result<(), (usize, String)> {
        let n = steps.len();
        // An apply's steps were flushed with its plan (`apply`): entering
        // the phase needs no flush of its own; a rollback's or a recovery's
        // steps are new and are flushed before the first.
        let record = |e: &mut GpuEntry| {
            e.phase = phase;
            e.steps = steps.to_vec();
            e.done = 0;
        };
        if phase == Phase::Applying {
            self.shared.put(&self.uuid, record, false)
        } else {
            self.shared.update(&self.uuid, record)
        }
        .map_err(|e| (0, e))?;
        self.progress.begin(self.index, &self.uuid, n, phase);
        let mut mode_in_effect = false;
        for (k, step) in steps.iter().enumerate() {
            if phase == Phase::Applying && self.shared.failed.load(Ordering::SeqCst) {
                return Err((k, STOPPED.into()));
            }
            if k > 0 {
                self.shared.progress(&self.uuid, k).map_err(|e| (k, e))?;
            }
            self.progress.step(
                self.index,
                k + 1,
                n,
                &step.describe(self.model, &names.layout),
                phase,
            );
            if matches!(step, Step::Reset) && mode_in_effect {
                // the mode change took effect without one (the driver reset
                // the idle GPU itself)
                continue;
            }
            let got = self
                .machine
                .perform(&self.gref(), step)
                .map_err(|e| (k, e.to_string()))?;
            mode_in_effect = got == Performed::ModeInEffect;
            let bad_id = match (step, got) {
                (Step::CreateGi { id, .. }, Performed::Gi(g)) => {
                    (*id != g).then(|| format!("GI {g}, expected {id}"))
                }
                (Step::CreateCi { id, .. }, Performed::Ci(c)) => {
                    (*id != c).then(|| format!("CI {c}, expected {id}"))
                }
                _ => None,
            };
            if let Some(why) = bad_id {
                return Err((k, format!("the driver gave {why}")));
            }
        }
        self.shared.progress(&self.uuid, n).map_err(|e| (n, e))
    }

    /// Read the GPU's mode and layout back and compare them with `want`.
    fn verify(&self, want: &MigState) -> Result<(), String> {
        let now = self
            .machine
            .state(&self.gref())
            .map_err(|e| e.to_string())?;
        if now != *want {
            return Err("the GPU does not read back as planned".into());
        }
        Ok(())
    }

    /// Bring the GPU to exactly `target` from wherever it is, and check it.
    fn drive_to(&self, target: &MigState, phase: Phase) -> Result<(), String> {
        let cur = self
            .machine
            .state(&self.gref())
            .map_err(|e| e.to_string())?;
        let steps = plan_restore(self.model, &cur, target).map_err(|e| e.to_string())?;
        self.run(
            &steps,
            phase,
            if phase == Phase::RollingBack {
                &cur
            } else {
                target
            },
        )
        .map_err(|(k, e)| format!("step {} of {}: {e}", k + 1, steps.len()))?;
        if steps.is_empty() {
            return Ok(());
        }
        self.verify(target)
    }

    fn finish(&self, phase: Phase, error: Option<String>) {
        // A journal that cannot be written now was written before the
        // steps; the outcome reported is still the truth. A GPU that
        // reached its target needs no flush: were the record lost, the
        // next command would find it there and finish with no step.
        let _ = self.shared.put(
            &self.uuid,
            |e| {
                e.phase = phase;
                if error.is_some() {
                    e.error = error;
                }
            },
            phase != Phase::Applied,
        );
    }

    /// Run the plan's steps, then read the GPU back once: a GPU that does
    /// not hold exactly the planned state counts as a failed last step.
    fn apply(&self, plan: &GpuPlan) -> Outcome {
        let n = plan.steps.len();
        let done = self
            .run(&plan.steps, Phase::Applying, &plan.after)
            .and_then(|()| self.verify(&plan.after).map_err(|e| (n - 1, e)));
        match done {
            Ok(()) => {
                self.finish(Phase::Applied, None);
                Outcome::Applied { steps: n }
            }
            Err((k, error)) => {
                let stopped = error == STOPPED;
                if !stopped {
                    self.shared.failed.store(true, Ordering::SeqCst);
                }
                let _ = self.shared.update(&self.uuid, |e| {
                    e.plan_done = k;
                    e.error = Some(error.clone());
                });
                self.roll_back(plan, || {
                    if stopped {
                        Outcome::Reverted { done: k, of: n }
                    } else {
                        Outcome::RolledBack {
                            failed_step: k + 1,
                            of: n,
                            error: error.clone(),
                        }
                    }
                })
            }
        }
    }

    /// Back to `plan.before`; `ok` says what to report when that works.
    fn roll_back(&self, plan: &GpuPlan, ok: impl FnOnce() -> Outcome) -> Outcome {
        match self.drive_to(&plan.before, Phase::RollingBack) {
            Ok(()) => {
                self.finish(Phase::RolledBack, None);
                ok()
            }
            Err(e) => {
                let error = format!("the apply failed and rolling back failed too: {e}");
                self.finish(Phase::Stuck, Some(error.clone()));
                Outcome::Stuck { error }
            }
        }
    }

    /// Finish an interrupted apply, or roll it back if it had failed (or
    /// finishing fails).
    fn recover(&self, e: &GpuEntry) -> Outcome {
        let (done, of) = match e.phase {
            Phase::Applying | Phase::Planned => (e.done, e.steps.len()),
            _ => (e.plan_done, e.plan_len),
        };
        let _ = self.shared.update(&self.uuid, |x| {
            if matches!(x.phase, Phase::Applying | Phase::Planned) {
                x.plan_done = x.done;
            }
        });
        let failed_before = e.error.is_some();
        if !failed_before {
            match self.drive_to(&e.after, Phase::Finishing) {
                Ok(()) => {
                    self.finish(Phase::Applied, None);
                    return Outcome::Finished { done, of };
                }
                Err(err) => {
                    let _ = self.shared.update(&self.uuid, |x| x.error = Some(err));
                }
            }
        }
        match self.drive_to(&e.before, Phase::RollingBack) {
            Ok(()) => {
                self.finish(Phase::RolledBack, None);
                Outcome::Restored { done, of }
            }
            Err(err) => {
                let error = format!(
                    "the interrupted apply could be neither finished nor rolled back: {err}"
                );
                self.finish(Phase::Stuck, Some(error.clone()));
                Outcome::Stuck { error }
            }
        }
    }
}

fn model_of(slug: &str, uuid: &str) -> Result<&'static GpuModel, ExecError> {
    catalog::model(slug).ok_or_else(|| ExecError::UnknownModel {
        model: slug.into(),
        uuid: uuid.into(),
    })
}

/// Run `f` on every item, one thread each, in item order; a panicked
/// thread reports its GPU stuck.
fn parallel<'a, T: Sync, M: Machine + ?Sized>(
    ctx: Ctx<'a, M>,
    items: &[(&'a T, &'static GpuModel, u32, String)],
    f: impl Fn(&Gpu<'_, M>, &T) -> Outcome + Sync,
) -> Vec<Outcome> {
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .iter()
            .map(|(item, model, index, uuid)| {
                let g = Gpu {
                    machine: ctx.machine,
                    shared: ctx.shared,
                    progress: ctx.progress,
                    model,
                    index: *index,
                    uuid: uuid.clone(),
                };
                let f = &f;
                s.spawn(move || {
                    let o = f(&g, item);
                    g.progress.end(g.index, &o);
                    o
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| Outcome::Stuck {
                    error: "internal error: the GPU's thread panicked".into(),
                })
            })
            .collect()
    })
}

/// What every GPU thread shares.
struct Ctx<'a, M: Machine + ?Sized> {
    machine: &'a M,
    shared: &'a Shared<'a>,
    progress: &'a dyn Progress,
}

impl<M: Machine + ?Sized> Clone for Ctx<'_, M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M: Machine + ?Sized> Copy for Ctx<'_, M> {}

/// Run `plans` (GPUs with no steps are reported unchanged and not touched),
/// one thread per GPU. Refuses while an unfinished journal exists: call
/// [`recover`] first.
pub fn apply<M: Machine + ?Sized>(
    machine: &M,
    file: &JournalFile,
    command: &str,
    plans: &[GpuPlan],
    progress: &dyn Progress,
) -> Result<Vec<GpuOutcome>, ExecError> {
    let lock = file.lock()?;
    if file.load()?.is_some_and(|j| j.unfinished()) {
        return Err(ExecError::Unfinished {
            path: file.path().display().to_string(),
        });
    }
    let work: Vec<&GpuPlan> = plans.iter().filter(|p| !p.steps.is_empty()).collect();
    let mut models = Vec::new();
    for p in &work {
        models.push(model_of(&p.model, &p.uuid)?);
    }
    let entries = work
        .iter()
        .map(|p| GpuEntry {
            uuid: p.uuid.clone(),
            index: p.index,
            model: p.model.clone(),
            before: p.before.clone(),
            after: p.after.clone(),
            phase: Phase::Planned,
            steps: p.steps.clone(),
            done: 0,
            plan_done: 0,
            plan_len: p.steps.len(),
            error: None,
        })
        .collect();
    let shared = Shared {
        file,
        lock: &lock,
        journal: Mutex::new(Journal::new(command, entries)),
        failed: Default::default(),
    };
    if !work.is_empty() {
        let j = shared.journal.lock().map_err(|_| ExecError::Unfinished {
            path: file.path().display().to_string(),
        })?;
        file.write(&lock, &j)?;
    }
    let items: Vec<_> = work
        .iter()
        .zip(&models)
        .map(|(p, &m)| (*p, m, p.index, p.uuid.clone()))
        .collect();
    let ctx = Ctx {
        machine,
        shared: &shared,
        progress,
    };
    let mut outcomes = parallel(ctx, &items, |g, p: &GpuPlan| g.apply(p));
    if shared.failed.load(Ordering::SeqCst) {
        // GPUs that finished before another failed go back too.
        let done: Vec<_> = items
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| matches!(o, Outcome::Applied { .. }))
            .map(|(i, _)| i.clone())
            .collect();
        let reverted = parallel(ctx, &done, |g, p: &GpuPlan| {
            let n = p.steps.len();
            g.roll_back(p, || Outcome::Reverted { done: n, of: n })
        });
        let mut reverted = reverted.into_iter();
        for o in outcomes.iter_mut() {
            if matches!(o, Outcome::Applied { .. }) {
                if let Some(r) = reverted.next() {
                    *o = r;
                }
            }
        }
    }
    if shared.finished() {
        file.remove(&lock)?;
    }
    let mut out = Vec::new();
    let mut done = work.iter().zip(outcomes);
    for p in plans {
        if p.steps.is_empty() {
            let o = Outcome::Unchanged;
            progress.end(p.index, &o);
            out.push(GpuOutcome {
                index: p.index,
                uuid: p.uuid.clone(),
                outcome: o,
            });
        } else if let Some((w, o)) = done.next() {
            out.push(GpuOutcome {
                index: w.index,
                uuid: w.uuid.clone(),
                outcome: o,
            });
        }
    }
    Ok(out)
}

/// The unfinished part of the journal at `file`, if any, without touching
/// anything (for the warning every backend command prints).
pub fn pending(file: &JournalFile) -> Result<Option<Journal>, JournalError> {
    Ok(file.load()?.filter(|j| j.unfinished()))
}

/// Finish (or, where it had failed, roll back) every GPU an interrupted
/// apply left unfinished, then remove the journal. Returns what happened
/// per GPU (empty when there was nothing to do).
pub fn recover<M: Machine + ?Sized>(
    machine: &M,
    file: &JournalFile,
    progress: &dyn Progress,
) -> Result<Vec<GpuOutcome>, ExecError> {
    let lock = file.lock()?;
    let Some(journal) = file.load()? else {
        return Ok(Vec::new());
    };
    if !journal.unfinished() {
        file.remove(&lock)?;
        return Ok(Vec::new());
    }
    let todo: Vec<GpuEntry> = journal
        .gpus
        .iter()
        .filter(|e| !e.phase.finished())
        .cloned()
        .collect();
    let mut models = Vec::new();
    for e in &todo {
        models.push(model_of(&e.model, &e.uuid)?);
    }
    let shared = Shared {
        file,
        lock: &lock,
        journal: Mutex::new(journal),
        failed: Default::default(),
    };
    let items: Vec<_> = todo
        .iter()
        .zip(&models)
        .map(|(e, &m)| {
            // indices may change across a reboot; the UUID does not
            let index = machine
                .locate(&GpuRef::Uuid(e.uuid.clone()))
                .unwrap_or(e.index);
            (e, m, index, e.uuid.clone())
        })
        .collect();
    let ctx = Ctx {
        machine,
        shared: &shared,
        progress,
    };
    let outcomes = parallel(ctx, &items, |g, e: &GpuEntry| g.recover(e));
    if shared.finished() {
        file.remove(&lock)?;
    }
    Ok(todo
        .iter()
        .zip(outcomes)
        .map(|(e, outcome)| GpuOutcome {
            index: e.index,
            uuid: e.uuid.clone(),
            outcome,
        })
        .collect())
}

/// Every backend is a machine: the seam's `snapshot`, and each step one
/// mode or layout call.
impl<B: Backend + ?Sized> Machine for B {
    fn gpus(&self) -> Result<Vec<GpuRef>, BackendError> {
        Ok(self
            .devices()?
            .into_iter()
            .map(|d| GpuRef::Index(d.index))
            .collect())
    }

    fn snapshot(&self, gpu: &GpuRef) -> Result<GpuSnapshot, BackendError> {
        Inventory::snapshot(self, gpu)
    }

    fn state(&self, gpu: &GpuRef) -> Result<MigState, BackendError> {
        Ok(MigState::of(
            &self.snapshot_parts(gpu, SnapshotParts::LAYOUT)?,
        ))
    }

    fn locate(&self, gpu: &GpuRef) -> Result<u32, BackendError> {
        self.index_of(gpu)
    }

    fn perform(&self, gpu: &GpuRef, step: &Step) -> Result<Performed, BackendError> {
        Ok(match *step {
            Step::SetMigMode { enable } => match self.set_mig_mode(gpu, enable)? {
                None => Performed::ModeInEffect,
                Some(_) => Performed::ModePending,
            },
            Step::Reset => {
                self.reset(gpu)?;
                Performed::Done
            }
            Step::DestroyCi { gi, ci } => {
                self.destroy_compute_instance(gpu, gi, ci)?;
                Performed::Done
            }
            Step::DestroyGi { gi } => {
                self.destroy_gpu_instance(gpu, gi)?;
                Performed::Done
            }
            Step::CreateGi {
                profile, placement, ..
            } => Performed::Gi(self.create_gpu_instance(gpu, profile, Some(placement))?.id),
            Step::CreateCi {
                gi,
                profile,
                placement,
                ..
            } => {
                Performed::Ci(self.create_compute_instance_id(gpu, gi, profile, Some(placement))?)
            }
        })
    }
}
