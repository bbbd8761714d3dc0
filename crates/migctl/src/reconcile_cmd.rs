//! `migctl plan` and `migctl apply`: mig-parted configs planned per GPU
//! and applied through the journal (`mig_plan::plan`, `mig_plan::exec`).
//! This file parses, wires and prints; the decisions are mig-plan's.

use crate::progress::Display;
use clap::{Args, Parser, ValueEnum};
use mig_model::backend::{Backend, GpuSnapshot};
use mig_model::{catalog, engine, GpuModel};
use mig_plan::config::Spec;
use mig_plan::exec::{self, GpuOutcome, Machine, Outcome};
use mig_plan::journal::{self, JournalFile};
use mig_plan::plan::{plan_gpu, GpuPlan, MigState, PlanOptions};
use mig_plan::validate::{validate, Selection};
use std::path::PathBuf;
use std::process::ExitCode;

/// Output format of the data verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// What `plan` and `apply` share.
#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// The mig-parted config file (`-` reads standard input).
    #[arg(short = 'f', long = "config-file", value_name = "FILE")]
    pub file: PathBuf,
    /// The named config to use (optional when the file holds one).
    #[arg(short = 'c', long = "selected-config", value_name = "NAME")]
    pub config: Option<String>,
    /// Only the MIG mode: no instances are created (those in the way of
    /// disabling MIG are destroyed).
    #[arg(short = 'm', long)]
    pub mode_only: bool,
    /// Never reset a GPU; on Ampere a mode change then stays pending.
    #[arg(short = 's', long)]
    pub skip_reset: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
}

#[derive(Parser, Debug)]
#[command(
    name = "migctl plan",
    about = "Show what `migctl apply` would do: the steps per GPU and each GPU's layout before and after",
    disable_version_flag = true
)]
struct PlanCli {
    #[command(flatten)]
    cfg: ConfigArgs,
}

#[derive(Parser, Debug)]
#[command(
    name = "migctl apply",
    about = "Apply a mig-parted config: keep what can stay, change the rest, roll a GPU back if a step fails",
    disable_version_flag = true
)]
struct ApplyCli {
    #[command(flatten)]
    cfg: ConfigArgs,
    /// Plan and print, change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// A failure with its exit status (documented in the README).
pub struct Failure(pub u8, pub String);

impl Failure {
    fn exit(self) -> ExitCode {
        eprintln!("migctl: {}", self.1);
        ExitCode::from(self.0)
    }
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

fn unfinished_at(file: &JournalFile) -> Option<String> {
    match exec::pending(file) {
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

/// A machine ready for planning: the backend behind the executor's
/// interface, the journal, and every GPU's snapshot.
pub struct Session {
    pub machine: Box<dyn Backend>,
    pub journal: JournalFile,
    pub snaps: Vec<GpuSnapshot>,
}

impl Session {
    pub fn open() -> Result<Session, Failure> {
        let (machine, sim) = crate::open_backend_kind().map_err(|e| Failure(1, e))?;
        Ok(Session {
            machine,
            journal: journal_file(sim),
            snaps: Vec::new(),
        })
    }

    /// Finish or roll back an interrupted apply, printing what happened.
    pub fn recover(&self, display: &Display) -> Result<Vec<GpuOutcome>, Failure> {
        recover(self.machine.as_ref(), &self.journal, display)
    }

    /// Read every GPU.
    pub fn read(&mut self) -> Result<(), Failure> {
        let gpus = self.machine.gpus().map_err(|e| Failure(1, e.to_string()))?;
        self.snaps = gpus
            .iter()
            .map(|g| self.machine.snapshot(g))
            .collect::<Result<_, _>>()
            .map_err(|e| Failure(1, e.to_string()))?;
        Ok(())
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
    let out = exec::recover(machine, journal, display).map_err(|e| Failure(1, e.to_string()))?;
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

/// One apply outcome as a phrase.
pub fn describe_outcome(o: &Outcome) -> String {
    match o {
        Outcome::Unchanged => "already as wanted; nothing changed".into(),
        Outcome::Applied { steps } => format!("applied ({steps} steps)"),
        Outcome::RolledBack {
            failed_step,
            of,
            error,
        } => format!(
            "step {failed_step} of {of} failed ({error}); rolled back, the GPU is exactly as before"
        ),
        Outcome::Reverted { done, of } => format!(
            "rolled back after {done} of {of} steps because a step on another GPU failed; the GPU is exactly as before"
        ),
        Outcome::Finished { done, of } => {
            format!("finished an interrupted apply ({done} of {of} steps had been done)")
        }
        Outcome::Restored { done, of } => {
            format!("rolled an interrupted apply back ({done} of {of} steps had been done)")
        }
        Outcome::Stuck { error } => {
            format!("NOT RESTORED: {error}; the journal is kept and the next migctl apply retries")
        }
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

/// Load, validate and plan. Nothing is changed; any problem on any GPU
/// stops everything.
pub fn plan_config(cfg: &ConfigArgs, snaps: &[GpuSnapshot]) -> Result<Planned, Failure> {
    let spec = Spec::load(&cfg.file).map_err(|e| Failure(2, e.to_string()))?;
    let origin = cfg.file.display().to_string();
    let named = spec
        .select(cfg.config.as_deref(), &origin)
        .map_err(|e| Failure(2, e.to_string()))?;
    let ids: Vec<_> = snaps.iter().map(|s| s.identity.clone()).collect();
    let selection = validate(named, &ids).map_err(|e| Failure(2, e.to_string()))?;
    let opts = PlanOptions {
        mode_only: cfg.mode_only,
        skip_reset: cfg.skip_reset,
    };
    plan_selection(&named.name, selection, snaps, opts)
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

/// Run a plan through the journal, with progress on stderr; the report to
/// print on stdout, and whether every GPU ended as wanted.
pub fn execute(
    machine: &dyn Backend,
    journal: &JournalFile,
    command: &str,
    planned: &Planned,
    json: bool,
) -> Result<(String, bool), Failure> {
    let display = Display::new(json);
    let outcomes = exec::apply(machine, journal, command, &planned.plans, &display)
        .map_err(|e| Failure(1, e.to_string()))?;
    display.finish();
    let ok = outcomes.iter().all(|o| o.outcome.success());
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
        if ok {
            s.push_str("MIG configuration applied successfully\n");
        }
        s
    };
    Ok((out, ok))
}

/// The plan as text.
pub fn plan_text(p: &Planned) -> String {
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

fn run_plan(cli: PlanCli) -> Result<(), Failure> {
    let mut s = Session::open()?;
    if let Some(w) = unfinished_at(&s.journal) {
        eprintln!("migctl: {w}");
    }
    s.read()?;
    let planned = plan_config(&cli.cfg, &s.snaps)?;
    match cli.cfg.output {
        Output::Text => print!("{}", plan_text(&planned)),
        Output::Json => println!("{:#}", plan_json(&planned)),
    }
    Ok(())
}

/// `migctl apply`: recover, read, validate, plan, run.
fn run_apply(cli: ApplyCli, command: &str) -> Result<(), Failure> {
    let mut s = Session::open()?;
    let display = Display::new(cli.cfg.output == Output::Json);
    if !cli.dry_run {
        s.recover(&display)?;
    } else if let Some(w) = unfinished_at(&s.journal) {
        eprintln!("migctl: {w}");
    }
    s.read()?;
    let planned = plan_config(&cli.cfg, &s.snaps)?;
    if cli.dry_run {
        match cli.cfg.output {
            Output::Text => println!("{}dry run: nothing was changed", plan_text(&planned)),
            Output::Json => println!("{:#}", plan_json(&planned)),
        }
        return Ok(());
    }
    let command = format!("migctl {command}");
    let (out, ok) = execute(
        s.machine.as_ref(),
        &s.journal,
        &command,
        &planned,
        cli.cfg.output == Output::Json,
    )?;
    print!("{out}");
    if ok {
        Ok(())
    } else {
        Err(Failure(
            1,
            "the config was not applied on every GPU (see above)".into(),
        ))
    }
}

/// Parse a verb's command line; help and usage errors exit here, as clap prints them.
pub fn parse<T: Parser>(args: &[String]) -> Result<T, ExitCode> {
    T::try_parse_from(args).map_err(|e| {
        let _ = e.print();
        ExitCode::from(if e.use_stderr() { 2 } else { 0 })
    })
}

/// `migctl plan ...` / `migctl apply ...` (`args[0]` is the verb).
pub fn main(args: &[String]) -> ExitCode {
    let argv: Vec<String> = std::iter::once(format!("migctl {}", args[0]))
        .chain(args[1..].iter().cloned())
        .collect();
    let r = match args[0].as_str() {
        "plan" => match parse::<PlanCli>(&argv) {
            Ok(cli) => run_plan(cli),
            Err(code) => return code,
        },
        _ => match parse::<ApplyCli>(&argv) {
            Ok(cli) => run_apply(cli, &args.join(" ")),
            Err(code) => return code,
        },
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.exit(),
    }
}
