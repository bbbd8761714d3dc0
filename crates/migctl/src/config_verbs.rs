//! `migctl assert | export | apply | plan`: the declarative verbs over
//! mig-parted's config format. Parsing and printing only; the config,
//! validation, assertion and export are `mig_plan`'s, and applying is the
//! reconciler's, reached through [`reconcile`].

use crate::declarative::{
    load, reconcile, ApplyRequest, GpuResult, Loaded, Phase, Reconciled, VerbError,
};
use crate::live::machine_snapshots;
use crate::output::{ConfigFormat, Format as Output};
use clap::Subcommand;
use mig_apply::{assert_selection, Mismatch};
use mig_model::GpuSnapshot;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum Verb {
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
        #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Make the GPUs the config selects hold it: validated first, changed
    /// only where they differ.
    Apply {
        /// The config file (`-`: standard input).
        #[arg(short = 'f', long = "config-file", value_name = "FILE")]
        file: PathBuf,
        /// The named config (implicit when the file has one).
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
        #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
        output: Output,
        #[command(flatten)]
        cluster: crate::cluster_cmd::AfterApply,
    },
    /// Print the steps an apply would take, per GPU.
    Plan {
        /// The config file (`-`: standard input).
        #[arg(short = 'f', long = "config-file", value_name = "FILE")]
        file: PathBuf,
        /// The named config (implicit when the file has one).
        #[arg(short = 'c', long = "selected-config", value_name = "NAME")]
        config: Option<String>,
        #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
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

/// Lines naming the GPUs a config leaves alone, and why.
fn left_alone(l: &Loaded, snaps: &[GpuSnapshot]) -> Vec<String> {
    let name = |i: u32| {
        snaps
            .iter()
            .find(|s| s.identity.index == i)
            .map(|s| format!("GPU {i} ({})", s.identity.name))
            .unwrap_or_else(|| format!("GPU {i}"))
    };
    let mut out: Vec<(u32, String)> = l
        .selection
        .skipped
        .iter()
        .map(|(i, why)| (*i, format!("{}: left alone ({why})", name(*i))))
        .collect();
    out.extend(l.selection.unselected.iter().map(|i| {
        (
            *i,
            format!(
                "{}: left alone (no entry of {} selects it)",
                name(*i),
                l.name
            ),
        )
    }));
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, s)| s).collect()
}

fn selection_json(l: &Loaded) -> serde_json::Value {
    serde_json::json!({
        "unselected": l.selection.unselected,
        "skipped": l.selection.skipped.iter().map(|(i, why)| serde_json::json!({"gpu": i, "why": why})).collect::<Vec<_>>(),
    })
}

/// Run `assert`, `apply` or `plan`: what to print on stdout, and the exit
/// status.
pub fn run(verb: Verb) -> Result<(String, u8), VerbError> {
    let (mut backend, simulated) =
        crate::backend::open_backend_kind().map_err(VerbError::failure)?;
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
            if let Some(e) = l.none_selected() {
                return Err(e);
            }
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
                    let mut v = serde_json::json!({
                        "config": l.name,
                        "matches": ok,
                        "checked": l.selection.targets.iter().map(|t| t.index).collect::<Vec<_>>(),
                        "mismatches": mismatches,
                    });
                    merge(&mut v, selection_json(&l));
                    crate::output::json_text(&v)
                }
                Output::Text => {
                    let mut s = match &result {
                        Ok(()) if valid_config => format!("{}: valid for this machine\n", l.name),
                        Ok(()) => format!("{}: applied\n", l.name),
                        Err(ms) => {
                            let mut s = format!("{}: not applied\n", l.name);
                            for m in ms {
                                s.push_str(&format!("  {m}\n"));
                            }
                            s
                        }
                    };
                    for line in left_alone(&l, &snaps) {
                        s.push_str(&format!("  {line}\n"));
                    }
                    s
                }
            };
            Ok((text, if ok { 0 } else { 1 }))
        }
        Verb::Apply {
            file,
            config,
            dry_run,
            mode_only,
            skip_reset,
            hooks_file,
            output,
            cluster,
        } => {
            let l = match load(&file, config.as_deref(), &snaps)
                .and_then(|l| l.none_selected().map_or(Ok(l), Err))
            {
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
                Some(p) => mig_apply::Hooks::load(p).map_err(VerbError::input)?,
                None => mig_apply::Hooks::default(),
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
                config: l.name.clone(),
                printed: Vec::new(),
                results: Vec::new(),
            };
            let outcome =
                mig_apply::apply_with_hooks(&hooks, &envs, false, mode_only, &mut applier);
            if !dry_run {
                cluster.report_state(crate::cluster_cmd::StateInputs {
                    apply_succeeded: Some(outcome.is_ok()),
                    ..before
                });
            }
            outcome.map_err(VerbError::failure)?;
            // GPUs no phase had to touch are as wanted already
            let printed = std::mem::take(&mut applier.printed);
            let mut results = std::mem::take(&mut applier.results);
            for t in &l.selection.targets {
                if !results.iter().any(|r| r.index == t.index) {
                    let uuid = snaps
                        .iter()
                        .find(|s| s.identity.index == t.index)
                        .map(|s| s.identity.uuid.clone())
                        .unwrap_or_default();
                    results.push(GpuResult {
                        index: t.index,
                        uuid,
                        ok: true,
                        outcome: "already as wanted; nothing changed".into(),
                        ..GpuResult::default()
                    });
                }
            }
            results.sort_by_key(|r| r.index);
            let mut refreshed = Vec::new();
            if !dry_run {
                refreshed = cluster
                    .refresh(backend.as_ref(), simulated)
                    .map_err(VerbError::failure)?;
            }
            if output == Output::Json {
                let mut v = serde_json::json!({
                    "config": l.name,
                    "dry_run": dry_run,
                    "ok": true,
                    "gpus": if dry_run { serde_json::Value::Null } else { serde_json::json!(results) },
                    "plan": if dry_run { serde_json::json!(printed.join("\n")) } else { serde_json::Value::Null },
                    "refreshed": refreshed,
                });
                merge(&mut v, selection_json(&l));
                return Ok((crate::output::json_text(&v), 0));
            }
            let mut text = String::new();
            if dry_run {
                for p in &printed {
                    text.push_str(p);
                    text.push('\n');
                }
            } else {
                for r in &results {
                    text.push_str(&r.line());
                    text.push('\n');
                }
            }
            for line in left_alone(&l, &snaps) {
                text.push_str(&line);
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
            for line in refreshed {
                text.push_str(&line);
                text.push('\n');
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
                config: l.name.clone(),
                phase: Phase::All,
                dry_run: true,
                skip_reset: false,
                json: output == Output::Json,
            };
            match reconcile(backend.as_mut(), &l.selection, &mut snaps, &req)? {
                Reconciled::Plan(text) => {
                    let mut text = text + "\n";
                    if output == Output::Text {
                        for line in left_alone(&l, &snaps) {
                            text.push_str(&line);
                            text.push('\n');
                        }
                    }
                    Ok((text, 0))
                }
                Reconciled::Applied(_) => Ok((String::new(), 0)),
            }
        }
    }
}

/// Add `extra`'s fields to the object `v`.
fn merge(v: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
}

/// `migctl export` (the config form): the current layout as a mig-parted
/// config, on stdout or into `file` atomically.
pub fn export_config(
    label: &str,
    placements: bool,
    format: ConfigFormat,
    file: Option<&std::path::Path>,
) -> Result<(), VerbError> {
    let backend = crate::backend::open_backend().map_err(VerbError::failure)?;
    let snaps = machine_snapshots(backend.as_ref()).map_err(VerbError::failure)?;
    let spec = mig_apply::export(&snaps, label, placements);
    let text = match format {
        ConfigFormat::Yaml => spec.to_yaml(),
        ConfigFormat::Json => crate::output::json_text(&spec.to_json()),
    };
    match file {
        Some(p) => crate::output::write_file(p, &text).map_err(VerbError::failure),
        None => {
            crate::output::emit(&text);
            Ok(())
        }
    }
}
