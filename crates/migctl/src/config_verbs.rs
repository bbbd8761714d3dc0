//! `migctl assert | export | apply | plan`: the declarative verbs over
//! mig-parted's config format. Parsing and printing only; the config,
//! validation, assertion and export are `mig_plan`'s, and applying is the
//! reconciler's, reached through [`reconcile`].

use crate::live::machine_snapshots;
use clap::{Parser, Subcommand, ValueEnum};
use mig_model::backend::Backend;
use mig_model::GpuSnapshot;
use mig_plan::assertion::{assert_selection, Mismatch};
use mig_plan::config::Spec;
use mig_plan::validate::{validate, Selection};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
}

/// Read `file` (`-`: stdin), select `name` (or the only config), validate.
pub fn load(file: &Path, name: Option<&str>, snaps: &[GpuSnapshot]) -> Result<Loaded, VerbError> {
    let spec = Spec::load(file).map_err(|e| VerbError::input(e).at(Stage::Parse))?;
    let origin = if file.as_os_str() == "-" {
        "<stdin>".to_string()
    } else {
        file.display().to_string()
    };
    let chosen = spec
        .select(name, &origin)
        .map_err(|e| VerbError::input(e).at(Stage::Select))?
        .name
        .clone();
    let ids: Vec<_> = snaps.iter().map(|s| s.identity.clone()).collect();
    let selection = {
        let c = spec
            .select(Some(&chosen), &origin)
            .map_err(VerbError::input)?;
        validate(c, &ids)
            .map_err(|e| VerbError::input(format!("{origin}: {e}")).at(Stage::Validate))?
    };
    Ok(Loaded {
        name: chosen,
        selection,
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
    pub phase: Phase,
    /// Compute and print the steps, change nothing (`--dry-run`, `plan`).
    pub dry_run: bool,
    /// Leave pending MIG modes pending (`--skip-reset`).
    pub skip_reset: bool,
    /// `--output json` for `plan`.
    pub json: bool,
}

/// THE EXECUTOR PLUG POINT: make every GPU of `selection` hold its demand
/// for `request.phase` (with `dry_run`, only report the steps, as `plan`
/// does), returning the lines to print. `snaps` is the state read before
/// (once per apply: the executor reads each changed GPU back, and the
/// state each GPU was brought to is left in `snaps` for the next phase,
/// so the phases of one apply never read the machine again). The reconciler (`crate::reconcile_cmd`,
/// `mig_plan::plan`, `mig_plan::exec`) first finishes an interrupted apply
/// (re-reading the GPUs if it did), then plans every GPU and runs the plans
/// in parallel through the journal; a failed step puts every GPU back.
pub fn reconcile(
    backend: &mut dyn Backend,
    selection: &Selection,
    snaps: &mut Vec<GpuSnapshot>,
    request: &ApplyRequest,
) -> Result<Vec<String>, VerbError> {
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
    let opts = mig_plan::plan::PlanOptions {
        mode_only: request.phase == Phase::Mode,
        skip_reset: request.skip_reset,
    };
    let planned = rc::plan_selection("the config", selection.clone(), snaps, opts).map_err(fail)?;
    if request.dry_run {
        let text = if request.json {
            format!("{:#}", rc::plan_json(&planned))
        } else {
            use std::io::IsTerminal;
            let pictures = std::io::stdout().is_terminal().then_some(&snaps[..]);
            rc::plan_text(&planned, pictures).trim_end().to_string()
        };
        return Ok(vec![text]);
    }
    rc::remember_first_phase(&planned);
    let (out, ok) =
        rc::execute(&*backend, &journal, "migctl apply", &planned, request.json).map_err(fail)?;
    let mut out = out.trim_end().to_string();
    if ok {
        // every changed GPU was read back as planned: that is its state now
        for p in planned.plans.iter().filter(|p| !p.steps.is_empty()) {
            if let Some(s) = snaps.iter_mut().find(|s| s.identity.uuid == p.uuid) {
                s.mode.current = p.after.mig_current;
                s.mode.pending = p.after.mig_pending;
                s.layout = p.after.layout.clone();
            }
        }
        return Ok(if out.is_empty() {
            Vec::new()
        } else {
            vec![out]
        });
    }
    // a mode change made by an earlier phase of this apply goes back too
    let undone = rc::undo_earlier_phases(&*backend, &journal).map_err(fail)?;
    if !undone.is_empty() {
        out.push('\n');
        out.push_str(undone.trim_end());
    }
    Err(VerbError::failure(format!(
        "{out}\nthe config was not applied; every GPU is as it was before this apply"
    )))
}

#[derive(Parser, Debug)]
#[command(name = "migctl", disable_version_flag = true)]
struct Cli {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
    Yaml,
    Json,
}

#[derive(Subcommand, Debug)]
enum Verb {
    /// Exit 0 exactly when every GPU the config selects matches it (MIG
    /// mode, GPU and compute instances, pinned placements); GPUs no entry
    /// selects are not checked. Exit 1 when one does not match, 2 when the
    /// config is invalid for this machine.
    Assert {
        /// The config file (`-`: standard input).
        #[arg(short = 'f', long = "config-file", value_name = "FILE")]
        file: PathBuf,
        /// The named config (implicit when the file has one).
        #[arg(short = 'c', long = "selected-config", value_name = "NAME")]
        config: Option<String>,
        /// Check the MIG mode only.
        #[arg(short = 'm', long)]
        mode_only: bool,
        /// Check only that the config is valid for this machine.
        #[arg(short = 'a', long)]
        valid_config: bool,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Print the current layout as a mig-parted v1 config (identical GPUs
    /// merged); with --placements, as migctl/v1 with every start slot.
    Export {
        /// Name of the exported config.
        #[arg(short = 'l', long = "config-label", default_value = "current")]
        label: String,
        /// Pin GI and CI placements (version: migctl/v1).
        #[arg(long)]
        placements: bool,
        #[arg(short = 'o', long, value_enum, default_value_t = ExportFormat::Yaml)]
        output: ExportFormat,
    },
    /// Make the GPUs the config selects hold it: validated first, changed
    /// only where they differ.
    Apply {
        #[arg(short = 'f', long = "config-file", value_name = "FILE")]
        file: PathBuf,
        #[arg(short = 'c', long = "selected-config", value_name = "NAME")]
        config: Option<String>,
        /// Print the steps, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Change the MIG mode only, not the instances.
        #[arg(short = 'm', long)]
        mode_only: bool,
        /// Leave a MIG mode change pending instead of resetting the GPU.
        #[arg(short = 's', long)]
        skip_reset: bool,
        /// mig-parted hooks file (apply-start, pre-apply-mode,
        /// pre-apply-config, apply-exit).
        #[arg(short = 'k', long = "hooks-file", value_name = "FILE")]
        hooks_file: Option<PathBuf>,
        #[command(flatten)]
        cluster: crate::cluster_cmd::AfterApply,
    },
    /// Print the steps an apply would take, per GPU.
    Plan {
        #[arg(short = 'f', long = "config-file", value_name = "FILE")]
        file: PathBuf,
        #[arg(short = 'c', long = "selected-config", value_name = "NAME")]
        config: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

fn mismatch_json(m: &Mismatch) -> serde_json::Value {
    let gpu = match m {
        Mismatch::Mode { gpu, .. } | Mismatch::Layout { gpu, .. } | Mismatch::Missing { gpu } => {
            *gpu
        }
    };
    serde_json::json!({"gpu": gpu, "why": m.to_string()})
}

fn run(verb: Verb) -> Result<(String, u8), VerbError> {
    let (mut backend, simulated) = crate::open_backend_kind().map_err(VerbError::failure)?;
    if matches!(
        verb,
        Verb::Assert { .. } | Verb::Apply { dry_run: false, .. }
    ) {
        // an interrupted apply is finished (or rolled back) before judging
        let display = crate::progress::Display::new(true);
        crate::reconcile_cmd::recover(
            backend.as_ref(),
            &crate::reconcile_cmd::current_journal(),
            &display,
        )
        .map_err(|f| VerbError::failure(f.1))?;
    }
    // apply reads each GPU once, without the MIG device listing it does not use
    let mut snaps = if matches!(verb, Verb::Apply { .. }) {
        crate::live::plan_snapshots(backend.as_ref())
    } else {
        machine_snapshots(backend.as_ref())
    }
    .map_err(VerbError::failure)?;
    match verb {
        Verb::Assert {
            file,
            config,
            mode_only,
            valid_config,
            output,
        } => {
            let l = load(&file, config.as_deref(), &snaps)?;
            let result = if valid_config {
                Ok(())
            } else {
                assert_selection(&l.selection, &snaps, mode_only)
            };
            let ok = result.is_ok();
            let text = match output {
                Output::Json => {
                    let mismatches: Vec<_> = result
                        .as_ref()
                        .err()
                        .map(|v| v.iter().map(mismatch_json).collect())
                        .unwrap_or_default();
                    let v = serde_json::json!({
                        "config": l.name,
                        "matches": ok,
                        "checked": l.selection.targets.iter().map(|t| t.index).collect::<Vec<_>>(),
                        "unselected": l.selection.unselected,
                        "skipped": l.selection.skipped.iter().map(|(i, why)| serde_json::json!({"gpu": i, "why": why})).collect::<Vec<_>>(),
                        "mismatches": mismatches,
                    });
                    format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default())
                }
                Output::Text => match &result {
                    Ok(()) if valid_config => format!("{}: valid for this machine\n", l.name),
                    Ok(()) => format!("{}: applied\n", l.name),
                    Err(ms) => {
                        let mut s = format!("{}: not applied\n", l.name);
                        for m in ms {
                            s.push_str(&format!("  {m}\n"));
                        }
                        s
                    }
                },
            };
            Ok((text, if ok { 0 } else { 1 }))
        }
        Verb::Export {
            label,
            placements,
            output,
        } => {
            let spec = mig_plan::export::export(&snaps, &label, placements);
            let text = match output {
                ExportFormat::Yaml => spec.to_yaml(),
                ExportFormat::Json => format!(
                    "{}\n",
                    serde_json::to_string_pretty(&spec.to_json()).unwrap_or_default()
                ),
            };
            Ok((text, 0))
        }
        Verb::Apply {
            file,
            config,
            dry_run,
            mode_only,
            skip_reset,
            hooks_file,
            cluster,
        } => {
            let l = match load(&file, config.as_deref(), &snaps) {
                Ok(l) => l,
                Err(e) => {
                    cluster.report_state(crate::cluster_cmd::StateInputs::invalid());
                    return Err(e);
                }
            };
            let before = crate::cluster_cmd::StateInputs {
                config_valid: true,
                applied: assert_selection(&l.selection, &snaps, false).is_ok(),
                mode_applied: assert_selection(&l.selection, &snaps, true).is_ok(),
                ..crate::cluster_cmd::StateInputs::invalid()
            };
            let hooks = match &hooks_file {
                Some(p) => mig_plan::hooks::Hooks::load(p).map_err(VerbError::input)?,
                None => mig_plan::hooks::Hooks::default(),
            };
            let envs = crate::parted::hook_envs(&[
                ("MIG_PARTED_CONFIG_FILE", file.display().to_string()),
                ("MIG_PARTED_SELECTED_CONFIG", l.name.clone()),
                (
                    "MIG_PARTED_HOOKS_FILE",
                    hooks_file
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                ),
                ("MIG_PARTED_SKIP_RESET", skip_reset.to_string()),
                ("MIG_PARTED_MODE_CHANGE_ONLY", mode_only.to_string()),
            ]);
            let mut applier = crate::parted::LiveApplier {
                backend: backend.as_mut(),
                selection: &l.selection,
                snaps: snaps.clone(),
                dry_run,
                skip_reset,
                printed: Vec::new(),
            };
            let outcome =
                mig_plan::hooks::apply_with_hooks(&hooks, &envs, false, mode_only, &mut applier);
            if !dry_run {
                cluster.report_state(crate::cluster_cmd::StateInputs {
                    apply_succeeded: Some(outcome.is_ok()),
                    ..before
                });
            }
            outcome.map_err(VerbError::failure)?;
            let mut text = applier.printed.join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!(
                "{}: {}\n",
                l.name,
                if dry_run {
                    "dry run, nothing changed"
                } else {
                    "applied"
                }
            ));
            if !dry_run {
                for line in cluster
                    .refresh(backend.as_ref(), simulated)
                    .map_err(VerbError::failure)?
                {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
            Ok((text, 0))
        }
        Verb::Plan {
            file,
            config,
            output,
        } => {
            let l = load(&file, config.as_deref(), &snaps)?;
            let req = ApplyRequest {
                phase: Phase::All,
                dry_run: true,
                skip_reset: false,
                json: output == Output::Json,
            };
            let lines = reconcile(backend.as_mut(), &l.selection, &mut snaps, &req)?;
            Ok((lines.join("\n") + "\n", 0))
        }
    }
}

/// `migctl assert|export|apply|plan ...` (`args[0]` is the verb).
pub fn main(args: &[String]) -> ExitCode {
    let cli: Cli = match crate::parse_verb(
        std::iter::once("migctl".to_string()).chain(args.iter().cloned()),
    ) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match run(cli.verb) {
        Ok((text, code)) => {
            print!("{text}");
            ExitCode::from(code)
        }
        Err(e) => {
            eprintln!("migctl: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}
