//! The reconciler's side of `migctl plan` / `migctl apply` (and of the
//! `nvidia-mig-parted` drop-in's apply): plan a validated selection per GPU,
//! run it through the journal with progress, recover an interrupted apply,
//! and say what happened. `config_verbs::reconcile` (the executor plug)
//! calls these; the decisions are `mig_apply`'s.

use crate::progress::{describe_outcome, Display};
use clap::ValueEnum;
use mig_apply::journal::{self, JournalFile};
use mig_apply::{plan_gpu, GpuPlan, MigState, PlanOptions};
use mig_apply::{GpuOutcome, Outcome};
use mig_config::Selection;
use mig_model::backend::{Backend, GpuSnapshot};
use mig_model::{catalog, engine, GpuModel};
use std::path::PathBuf;

/// Output format of the data verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// A failure with its exit status (documented in the README).
pub struct Failure(pub u8, pub String);

static SIM: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Record whether the backend this process opened is the simulator.
pub fn set_backend_is_sim(sim: bool) {
    SIM.store(sim, std::sync::atomic::Ordering::SeqCst);
}

/// The journal for the backend this process opened.
pub fn current_journal() -> JournalFile {
    journal_file(SIM.load(std::sync::atomic::Ordering::SeqCst))
}

/// Where the journal lives: `$MIGCTL_JOURNAL`; next to the simulated
/// machine's state file when the backend is the simulator; else the
/// system default.
pub fn journal_file(sim: bool) -> JournalFile {
    let beside = sim.then(beside_sim_state);
    JournalFile::new(journal::default_path(beside, mig_sim::is_root()))
}

/// The journal's place beside the simulated machine's state file.
fn beside_sim_state() -> PathBuf {
    let mut p = mig_sim::default_state_path().into_os_string();
    p.push(".journal.json");
    PathBuf::from(p)
}

/// Remove the journal beside a simulated machine that `sim init` replaced
/// (a journal `$MIGCTL_JOURNAL` names is left alone: it may be another
/// machine's).
pub fn forget_journal() {
    let _ = std::fs::remove_file(beside_sim_state());
}

/// The line every backend command prints while an interrupted apply is
/// unfinished (nothing when there is none; a damaged journal is named).
pub fn unfinished_warning(sim: bool) -> Option<String> {
    unfinished_at(&journal_file(sim))
}

pub fn unfinished_at(file: &JournalFile) -> Option<String> {
    match mig_apply::pending(file) {
        Ok(None) => None,
        Ok(Some(j)) => {
            let gpus: Vec<String> = j
                .gpus
                .iter()
                .filter(|g| !g.phase.finished())
                .map(|g| format!("GPU {} ({})", g.index, g.uuid))
                .collect();
            Some(format!(
                "an interrupted `{}` left {} unfinished (journal {}); `migctl apply` or `migctl assert` finishes or rolls it back",
                j.command,
                gpus.join(", "),
                file.path().display()
            ))
        }
        Err(e) => Some(e.to_string()),
    }
}

/// Finish (or roll back) what an interrupted apply left, saying so on
/// stderr; `migctl apply` and `migctl assert` call this before reading the
/// GPUs.
pub fn recover(
    machine: &dyn Backend,
    journal: &JournalFile,
    display: &Display,
) -> Result<Vec<GpuOutcome>, Failure> {
    let out =
        mig_apply::recover(machine, journal, display).map_err(|e| Failure(1, e.to_string()))?;
    for o in &out {
        eprintln!("migctl: {}", describe_recovery(o));
    }
    Ok(out)
}

/// One recovery outcome as a sentence.
pub fn describe_recovery(o: &GpuOutcome) -> String {
    let g = format!("GPU {} ({})", o.index, o.uuid);
    match &o.outcome {
        Outcome::Finished { done, of } => format!(
            "{g}: finished an interrupted apply ({done} of {of} steps had been done); it now holds the layout that apply planned"
        ),
        Outcome::Restored { done, of } => format!(
            "{g}: rolled an interrupted apply back ({done} of {of} steps had been done); it is exactly as before that apply"
        ),
        other => format!("{g}: {}", describe_outcome(other)),
    }
}

/// A layout in one line: `3g.20gb@4:4{3g.20gb} 1g.5gb@0:1{1g.5gb}`.
pub fn layout_line(model: &GpuModel, st: &MigState) -> String {
    let mode = match (st.mig_current, st.mig_pending) {
        (true, true) => "MIG on",
        (false, false) => return "MIG off".into(),
        (true, false) => "MIG on (off pending)",
        (false, true) => return "MIG off (on pending)".into(),
    };
    if st.layout.gpu_instances.is_empty() {
        return format!("{mode}, no instances");
    }
    let gis: Vec<String> = st
        .layout
        .gpu_instances
        .iter()
        .map(|g| {
            let Ok(gp) = engine::gi_profile(model, g.profile_id) else {
                return format!("profile{}@{}", g.profile_id.0, g.placement);
            };
            let cis: Vec<String> = g
                .compute_instances
                .iter()
                .map(|c| {
                    engine::ci_profile(gp, c.profile_id)
                        .map(|cp| mig_model::ids::ci_short_name(gp, cp))
                        .unwrap_or_else(|_| format!("profile{}", c.profile_id.0))
                })
                .collect();
            format!("{}@{}{{{}}}", gp.name, g.placement, cis.join(","))
        })
        .collect();
    format!("{mode}: {}", gis.join(" "))
}

/// Everything `plan` and `apply` work out before touching a GPU.
pub struct Planned {
    pub name: String,
    pub selection: Selection,
    pub plans: Vec<GpuPlan>,
}

/// Plan every GPU a validated selection names (the entry point for the
/// config verbs' executor plug: they load and validate, this plans, and
/// [`execute`] runs). Any GPU that cannot be planned stops everything.
pub fn plan_selection(
    name: &str,
    selection: Selection,
    snaps: &[GpuSnapshot],
    opts: PlanOptions,
) -> Result<Planned, Failure> {
    let mut plans = Vec::new();
    let mut problems = Vec::new();
    for t in &selection.targets {
        let (Some(model), Some(snap)) = (
            catalog::model(&t.model),
            snaps.iter().find(|s| s.identity.index == t.index),
        ) else {
            problems.push(format!("GPU {}: not found", t.index));
            continue;
        };
        match plan_gpu(model, snap, &t.demand, opts) {
            Ok(p) => plans.push(p),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if !problems.is_empty() {
        return Err(Failure(
            1,
            format!(
                "nothing was changed on any GPU:\n  {}",
                problems.join("\n  ")
            ),
        ));
    }
    Ok(Planned {
        name: name.to_string(),
        selection,
        plans,
    })
}

/// Run a plan through the journal, with progress on stderr (none when
/// `quiet` and stderr is no terminal): each GPU's outcome, and whether
/// every GPU ended as wanted.
pub fn execute_outcomes(
    machine: &dyn Backend,
    journal: &JournalFile,
    command: &str,
    planned: &Planned,
    quiet: bool,
    stage: &'static str,
) -> Result<(Vec<mig_apply::GpuOutcome>, bool), Failure> {
    let display = Display::for_stage(quiet, stage);
    let outcomes = mig_apply::apply(machine, journal, command, &planned.plans, &display)
        .map_err(|e| Failure(1, e.to_string()))?;
    display.finish();
    let ok = outcomes.iter().all(|o| o.outcome.success());
    Ok((outcomes, ok))
}

/// Run a plan through the journal, with progress on stderr; the report to
/// print on stdout, and whether every GPU ended as wanted.
pub fn execute(
    machine: &dyn Backend,
    journal: &JournalFile,
    command: &str,
    planned: &Planned,
    json: bool,
) -> Result<(String, bool), Failure> {
    let (outcomes, ok) = execute_outcomes(machine, journal, command, planned, json, "")?;
    let out = if json {
        format!(
            "{:#}\n",
            serde_json::json!({"config": planned.name, "ok": ok, "gpus": outcomes})
        )
    } else {
        let mut s = String::new();
        for o in &outcomes {
            s.push_str(&format!(
                "GPU {} ({}): {}\n",
                o.index,
                o.uuid,
                describe_outcome(&o.outcome)
            ));
        }
        s
    };
    Ok((out, ok))
}

/// The state of each GPU before the first phase of this process's apply
/// (mig-parted's orchestration runs the mode, then the instances, as two
/// plans).
static FIRST: std::sync::Mutex<Vec<GpuPlan>> = std::sync::Mutex::new(Vec::new());

/// Remember, once per process, where the GPUs of the first phase started.
pub fn remember_first_phase(planned: &Planned) {
    if let Ok(mut f) = FIRST.lock() {
        if f.is_empty() {
            *f = planned.plans.clone();
        }
    }
}

/// After a later phase failed and rolled back: bring every GPU an earlier
/// phase changed back to where the first phase found it. The report, empty
/// when nothing had to go back.
pub fn undo_earlier_phases(
    machine: &dyn Backend,
    journal: &JournalFile,
) -> Result<String, Failure> {
    let first = FIRST.lock().map(|f| f.clone()).unwrap_or_default();
    let mut back = Vec::new();
    for p in first {
        let Some(model) = catalog::model(&p.model) else {
            continue;
        };
        let now = mig_apply::Machine::snapshot(machine, &mig_model::GpuRef::Uuid(p.uuid.clone()))
            .map_err(|e| Failure(1, e.to_string()))?;
        let now = MigState::of(&now);
        if now == p.before {
            continue;
        }
        let steps = mig_apply::plan_restore(model, &now, &p.before)
            .map_err(|e| Failure(1, format!("GPU {}: {e}", p.index)))?;
        back.push(GpuPlan {
            after: p.before.clone(),
            before: now,
            steps,
            ..p
        });
    }
    if back.is_empty() {
        return Ok(String::new());
    }
    let planned = Planned {
        name: "the state before this apply".into(),
        selection: Selection::default(),
        plans: back,
    };
    let (out, ok) = execute(machine, journal, "migctl apply (undo)", &planned, false)?;
    if !ok {
        return Err(Failure(1, format!("{out}undoing the earlier phase failed")));
    }
    Ok(out
        .lines()
        .map(|l| format!("{l} (undoing the MIG mode change of this apply)\n"))
        .collect())
}

/// The plan as text.
/// The steps per GPU with a before/after line each; with `pictures` (the
/// machine's snapshots, given when stdout is a terminal) also `migctl
/// show`'s slice map of each GPU before and after, busy instances marked.
pub fn plan_text(p: &Planned, pictures: Option<&[mig_model::GpuSnapshot]>) -> String {
    let mut out = String::new();
    for plan in &p.plans {
        let Some(model) = catalog::model(&plan.model) else {
            continue;
        };
        let n = plan.steps.len();
        out.push_str(&format!(
            "GPU {} ({}, {}): {}\n",
            plan.index,
            model.name,
            plan.uuid,
            if n == 0 {
                "already as wanted, 0 steps".to_string()
            } else {
                format!(
                    "{n} step{}, keeps {} GPU and {} compute instances",
                    if n == 1 { "" } else { "s" },
                    plan.kept.gpu_instances,
                    plan.kept.compute_instances
                )
            }
        ));
        out.push_str(&format!("  before: {}\n", layout_line(model, &plan.before)));
        out.push_str(&format!("  after:  {}\n", layout_line(model, &plan.after)));
        if let Some(snap) =
            pictures.and_then(|ss| ss.iter().find(|s| s.identity.index == plan.index))
        {
            let busy = mig_plan::picture::busy_of(snap);
            for (when, st) in [("before", &plan.before), ("after", &plan.after)] {
                let view = mig_plan::picture::View {
                    title: format!("GPU {} {when}", plan.index),
                    model,
                    mode: mig_model::backend::MigMode {
                        current: st.mig_current,
                        pending: st.mig_pending,
                    },
                    layout: &st.layout,
                    busy: &busy,
                };
                for line in mig_plan::picture::text(&view, false).lines() {
                    out.push_str(&format!("    {line}\n"));
                }
            }
        }
        for (k, s) in plan.steps.iter().enumerate() {
            let names = if s.is_destroy() {
                &plan.before
            } else {
                &plan.after
            };
            out.push_str(&format!(
                "  {}. {}\n",
                k + 1,
                s.describe(model, &names.layout)
            ));
        }
        for note in &plan.notes {
            out.push_str(&format!("  note: {note}\n"));
        }
    }
    for (gpu, why) in &p.selection.skipped {
        out.push_str(&format!("GPU {gpu}: {why}\n"));
    }
    for gpu in &p.selection.unselected {
        out.push_str(&format!(
            "GPU {gpu}: not selected by {}; left alone\n",
            p.name
        ));
    }
    out
}

pub fn plan_json(p: &Planned) -> serde_json::Value {
    serde_json::json!({
        "config": p.name,
        "gpus": p.plans.iter().map(|plan| {
            let model = catalog::model(&plan.model);
            let mut v = serde_json::to_value(plan).unwrap_or_default();
            if let (Some(m), Some(o)) = (model, v.as_object_mut()) {
                o.insert("before_text".into(), layout_line(m, &plan.before).into());
                o.insert("after_text".into(), layout_line(m, &plan.after).into());
                o.insert("steps_text".into(), plan.steps.iter().map(|s| {
                    let names = if s.is_destroy() { &plan.before } else { &plan.after };
                    s.describe(m, &names.layout)
                }).collect::<Vec<_>>().into());
            }
            v
        }).collect::<Vec<_>>(),
        "skipped": p.selection.skipped.iter().map(|(g, why)| serde_json::json!({"index": g, "why": why})).collect::<Vec<_>>(),
        "unselected": p.selection.unselected,
    })
}
