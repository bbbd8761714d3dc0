//! The declarative core shared by migctl's `assert | apply | plan` and the
//! nvidia-mig-parted drop-in: loading a config against the machine, and
//! handing a selection to the reconciler.

use mig_config::{validate, Selection};
use mig_config::{Devices, Spec};
use mig_model::backend::Backend;
use mig_model::GpuSnapshot;
use std::path::Path;

/// What went wrong in a config verb, and the exit status it gets.
#[derive(Debug)]
pub struct VerbError {
    pub message: String,
    pub code: u8,
    /// Which step failed, for mig-parted's message prefixes.
    pub stage: Stage,
}

/// Where loading a config stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading or parsing the file.
    Parse,
    /// Choosing the named config.
    Select,
    /// Checking it against this machine.
    Validate,
    /// Anything after loading.
    Other,
}

impl VerbError {
    /// Bad input: a config that does not parse, select or validate (2).
    pub fn input(e: impl std::fmt::Display) -> VerbError {
        VerbError {
            message: e.to_string(),
            code: 2,
            stage: Stage::Other,
        }
    }
    /// migctl's own failure: backend, I/O (1).
    fn at(mut self, stage: Stage) -> VerbError {
        self.stage = stage;
        self
    }
    pub fn failure(e: impl std::fmt::Display) -> VerbError {
        VerbError {
            message: e.to_string(),
            code: 1,
            stage: Stage::Other,
        }
    }
}

/// A config file read, its named config selected, and validated on the
/// machine whose snapshots are `snaps`.
pub struct Loaded {
    /// The selected config's name.
    pub name: String,
    pub selection: Selection,
    /// Each entry's GPU filter as written (`device-filter 0x233010DE`,
    /// `devices [0, 1]`, `devices all`).
    pub filters: Vec<String>,
    /// The machine's GPUs as `GPU 0 (A100-SXM4-40GB, 0x20B010DE)`.
    pub seen: Vec<String>,
}

impl Loaded {
    /// When the config selects none of the machine's GPUs: the error,
    /// naming the filters and the GPUs seen (mig-parted v0.15 says nothing
    /// and succeeds; migctl's own verbs refuse, exit 1).
    pub fn none_selected(&self) -> Option<VerbError> {
        if !self.selection.targets.is_empty() || !self.selection.skipped.is_empty() {
            return None;
        }
        Some(VerbError::failure(format!(
            "config {:?} selects none of this machine's GPUs: no GPU matches its {} \
             (GPUs seen: {}); fix the config's device-filter or devices, or pick another \
             config with -c",
            self.name,
            self.filters.join("; "),
            if self.seen.is_empty() {
                "none".to_string()
            } else {
                self.seen.join(", ")
            }
        )))
    }
}

/// Read `file` (`-`: stdin), select `name` (or the only config), validate.
pub fn load(file: &Path, name: Option<&str>, snaps: &[GpuSnapshot]) -> Result<Loaded, VerbError> {
    let spec = Spec::load(file).map_err(|e| VerbError::input(e).at(Stage::Parse))?;
    let origin = if file.as_os_str() == "-" {
        "<stdin>".to_string()
    } else {
        file.display().to_string()
    };
    let c = spec
        .select(name, &origin)
        .map_err(|e| VerbError::input(e).at(Stage::Select))?;
    let ids: Vec<_> = snaps.iter().map(|s| s.identity.clone()).collect();
    let selection = validate(c, &ids)
        .map_err(|e| VerbError::input(format!("{origin}: {e}")).at(Stage::Validate))?;
    let filters = c
        .entries
        .iter()
        .map(|e| {
            let devices = match &e.devices {
                Devices::All => "devices all".to_string(),
                Devices::List(l) => format!(
                    "devices [{}]",
                    l.iter()
                        .map(|g| g.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            if e.device_filter.is_empty() {
                devices
            } else {
                let f: Vec<String> = e.device_filter.iter().map(|f| f.to_string()).collect();
                format!("device-filter {} with {devices}", f.join(","))
            }
        })
        .collect();
    let seen = ids
        .iter()
        .map(|i| format!("GPU {} ({}, 0x{:08X})", i.index, i.name, i.pci_device_id))
        .collect();
    Ok(Loaded {
        name: c.name.clone(),
        selection,
        filters,
        seen,
    })
}

/// Which part of an apply the reconciler is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// MIG mode only (and the resets it needs, unless `skip_reset`).
    Mode,
    /// GPU and compute instances (MIG mode already as wanted).
    Config,
    /// Both, in order.
    All,
}

/// What `apply`/`plan` ask of the reconciler.
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    /// The config's name, for reports.
    pub config: String,
    pub phase: Phase,
    /// Compute and print the steps, change nothing (`--dry-run`, `plan`).
    pub dry_run: bool,
    /// Leave pending MIG modes pending (`--skip-reset`).
    pub skip_reset: bool,
    /// `--output json` for `plan`.
    pub json: bool,
}

/// What one apply did to one GPU (over all its phases): the `apply`
/// report's line, and its JSON (`docs/json.md`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GpuResult {
    pub index: u32,
    pub uuid: String,
    /// `enabled` or `disabled` when this apply changed the MIG mode.
    pub mig_mode: Option<String>,
    /// Whether the GPU was reset.
    pub reset: bool,
    pub gpu_instances_destroyed: usize,
    pub gpu_instances_created: usize,
    pub compute_instances_destroyed: usize,
    pub compute_instances_created: usize,
    /// Steps done.
    pub steps: usize,
    /// Whether the GPU ended as wanted.
    pub ok: bool,
    /// How it ended, in words (`already as wanted; nothing changed`, ...).
    pub outcome: String,
}

impl GpuResult {
    fn of(plan: &mig_apply::GpuPlan, o: &mig_apply::GpuOutcome) -> GpuResult {
        use mig_apply::Outcome;
        use mig_apply::Step;
        let mut r = GpuResult {
            index: o.index,
            uuid: o.uuid.clone(),
            ok: o.outcome.success(),
            outcome: crate::progress::describe_outcome(&o.outcome),
            ..GpuResult::default()
        };
        let Outcome::Applied { steps } = o.outcome else {
            return r;
        };
        r.steps = steps;
        for s in &plan.steps {
            match s {
                Step::SetMigMode { enable } => {
                    r.mig_mode = Some(if *enable { "enabled" } else { "disabled" }.into())
                }
                Step::Reset => r.reset = true,
                Step::DestroyCi { .. } => r.compute_instances_destroyed += 1,
                Step::DestroyGi { .. } => r.gpu_instances_destroyed += 1,
                Step::CreateGi { .. } => r.gpu_instances_created += 1,
                Step::CreateCi { .. } => r.compute_instances_created += 1,
            }
        }
        // the executor skips a planned reset when the mode took effect at once
        if r.reset && plan.steps.len() > steps {
            r.reset = false;
        }
        r
    }

    /// Fold a later phase's result of the same GPU into this one.
    pub fn merge(&mut self, later: GpuResult) {
        self.mig_mode = later.mig_mode.or(self.mig_mode.take());
        self.reset |= later.reset;
        self.gpu_instances_destroyed += later.gpu_instances_destroyed;
        self.gpu_instances_created += later.gpu_instances_created;
        self.compute_instances_destroyed += later.compute_instances_destroyed;
        self.compute_instances_created += later.compute_instances_created;
        self.steps += later.steps;
        self.ok &= later.ok;
        self.outcome = if !later.ok {
            later.outcome
        } else if !self.ok {
            std::mem::take(&mut self.outcome)
        } else if self.steps == 0 {
            "already as wanted; nothing changed".into()
        } else {
            format!(
                "applied ({} step{})",
                self.steps,
                if self.steps == 1 { "" } else { "s" }
            )
        };
    }

    /// The GPU's one line: what changed, or that nothing had to.
    pub fn line(&self) -> String {
        let head = format!("GPU {} ({})", self.index, self.uuid);
        if !self.ok || self.steps == 0 {
            let what = if self.ok && self.steps == 0 {
                "nothing to do (already as wanted)".to_string()
            } else {
                self.outcome.clone()
            };
            return format!("{head}: {what}");
        }
        let mut parts = Vec::new();
        if let Some(m) = &self.mig_mode {
            parts.push(format!("MIG mode {m}"));
        }
        if self.reset {
            parts.push("reset".into());
        }
        let count = |n: usize, what: &str, verb: &str| {
            (n > 0).then(|| format!("{n} {what}{} {verb}", if n == 1 { "" } else { "s" }))
        };
        parts.extend(count(
            self.compute_instances_destroyed,
            "compute instance",
            "destroyed",
        ));
        parts.extend(count(
            self.gpu_instances_destroyed,
            "GPU instance",
            "destroyed",
        ));
        parts.extend(count(self.gpu_instances_created, "GPU instance", "created"));
        parts.extend(count(
            self.compute_instances_created,
            "compute instance",
            "created",
        ));
        format!(
            "{head}: {} ({} step{})",
            parts.join(", "),
            self.steps,
            if self.steps == 1 { "" } else { "s" }
        )
    }
}

/// What the reconciler did: the plan's text (dry run), or each GPU's result.
pub enum Reconciled {
    Plan(String),
    Applied(Vec<GpuResult>),
}

/// THE EXECUTOR PLUG POINT: make every GPU of `selection` hold its demand
/// for `request.phase` (with `dry_run`, only report the steps, as `plan`
/// does). `snaps` is the state read just before, by [`machine_snapshots`].
/// The reconciler (`crate::reconcile_cmd`, `mig_apply::plan_gpu`,
/// `mig_apply::apply`) first finishes an interrupted apply (re-reading the
/// GPUs if it did), then plans every GPU and runs the plans in parallel
/// through the journal; a failed step puts every GPU back.
pub fn reconcile(
    backend: &mut dyn Backend,
    selection: &Selection,
    snaps: &mut Vec<GpuSnapshot>,
    request: &ApplyRequest,
) -> Result<Reconciled, VerbError> {
    use crate::reconcile_cmd as rc;
    let fail = |f: rc::Failure| VerbError {
        message: f.1,
        code: f.0,
        stage: Stage::Other,
    };
    let journal = rc::current_journal();
    let display = crate::progress::Display::new(request.json);
    if request.dry_run {
        if let Some(w) = rc::unfinished_at(&journal) {
            eprintln!("migctl: {w}");
        }
    } else if !rc::recover(&*backend, &journal, &display)
        .map_err(fail)?
        .is_empty()
    {
        *snaps = crate::live::plan_snapshots(&*backend).map_err(VerbError::failure)?;
    }
    let opts = mig_apply::PlanOptions {
        mode_only: request.phase == Phase::Mode,
        skip_reset: request.skip_reset,
    };
    let planned =
        rc::plan_selection(&request.config, selection.clone(), snaps, opts).map_err(fail)?;
    if request.dry_run {
        let text = if request.json {
            format!("{:#}", rc::plan_json(&planned))
        } else {
            use std::io::IsTerminal;
            let pictures = std::io::stdout().is_terminal().then_some(&snaps[..]);
            rc::plan_text(&planned, pictures).trim_end().to_string()
        };
        return Ok(Reconciled::Plan(text));
    }
    rc::remember_first_phase(&planned);
    let stage = match request.phase {
        Phase::Mode => "MIG mode: ",
        Phase::Config => "instances: ",
        Phase::All => "",
    };
    let (outcomes, ok) = rc::execute_outcomes(
        &*backend,
        &journal,
        "migctl apply",
        &planned,
        request.json,
        stage,
    )
    .map_err(fail)?;
    let results: Vec<GpuResult> = planned
        .plans
        .iter()
        .zip(&outcomes)
        .map(|(p, o)| GpuResult::of(p, o))
        .collect();
    if ok {
        // every changed GPU was read back as planned: that is its state now,
        // so the next phase of this apply plans from it without a new read
        for p in planned.plans.iter().filter(|p| !p.steps.is_empty()) {
            if let Some(s) = snaps.iter_mut().find(|s| s.identity.uuid == p.uuid) {
                s.mode.current = p.after.mig_current;
                s.mode.pending = p.after.mig_pending;
                s.layout = p.after.layout.clone();
            }
        }
        return Ok(Reconciled::Applied(results));
    }
    let mut out: String = results.iter().map(|r| r.line() + "\n").collect();
    // a mode change made by an earlier phase of this apply goes back too
    let undone = rc::undo_earlier_phases(&*backend, &journal).map_err(fail)?;
    out.push_str(&undone);
    Err(VerbError::failure(format!(
        "{out}the config was not applied; every GPU is as it was before this apply"
    )))
}

impl From<VerbError> for crate::error::CliError {
    fn from(e: VerbError) -> crate::error::CliError {
        crate::error::CliError::with_code(e.code, e.message)
    }
}

#[cfg(test)]
mod tests {
    use super::GpuResult;

    fn phase(steps: usize) -> GpuResult {
        GpuResult {
            index: 0,
            uuid: "GPU-x".into(),
            steps,
            ok: true,
            outcome: format!("applied ({steps} steps)"),
            ..GpuResult::default()
        }
    }

    /// Proves the two phases of one apply fold into one line per GPU that
    /// tells the mode change, the reset and the instances with the total
    /// steps, and that one step is counted in the singular.
    #[test]
    fn phases_fold_into_one_line() {
        let mut r = GpuResult {
            mig_mode: Some("enabled".into()),
            reset: true,
            ..phase(2)
        };
        r.merge(GpuResult {
            gpu_instances_created: 2,
            compute_instances_created: 2,
            ..phase(4)
        });
        assert_eq!(
            r.line(),
            "GPU 0 (GPU-x): MIG mode enabled, reset, 2 GPU instances created, 2 compute instances created (6 steps)"
        );
        assert_eq!(r.outcome, "applied (6 steps)");
        let mut one = GpuResult {
            mig_mode: Some("disabled".into()),
            ..phase(1)
        };
        one.merge(phase(0));
        assert_eq!(one.line(), "GPU 0 (GPU-x): MIG mode disabled (1 step)");
        let mut none = phase(0);
        none.merge(phase(0));
        assert_eq!(
            none.line(),
            "GPU 0 (GPU-x): nothing to do (already as wanted)"
        );
    }
}
