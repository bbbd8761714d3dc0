//! `migctl`: the command line. [`cli::parse`] turns the arguments into one
//! [`cli::Mode`]; [`main`] dispatches it and prints. No MIG rule is decided
//! here (they live in `mig-model`).

// clap turns doc comments into help text, whose `PROFILE[xN]` notation is not a doc link
#![allow(rustdoc::broken_intra_doc_links)]

mod backend;
mod bench_cmd;
mod bench_nvml;
mod cli;
mod cluster_cmd;
mod cluster_host;
mod config_verbs;
mod declarative;
mod error;
mod exporter_cmd;
mod help;
mod live;
mod output;
mod parted;
mod plan_pack;
mod plan_verbs;
mod progress;
mod reconcile_cmd;
mod shim_path;
mod sim_cmd;
mod sim_host;
mod sim_set;
mod sim_set_gpm;

use cli::{ExportArgs, Mode, Verb};
use error::CliError;
use mig_smi::{args as smi_args, json as smi_json, out as smi_out, run as smi_run};
use std::process::ExitCode;

/// The name this binary was invoked by (`argv[0]`'s file name): `migctl`,
/// or `nvidia-mig-parted` / `nvidia-smi` through a link.
fn program_name() -> String {
    std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "migctl".into())
}

fn main() -> ExitCode {
    // A closed pipe (`migctl sim models | head -1`) ends migctl as it ends
    // `ls`: by SIGPIPE, quietly. Rust ignores SIGPIPE, which turns the
    // next write into an error and `print!` into a panic.
    // SAFETY: setting a signal's disposition to its default before any
    // thread starts has no memory-safety effect.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let prog = program_name();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = match cli::parse(&prog, &args) {
        Ok(m) => m,
        Err(e) => {
            let e = CliError::from(e);
            e.report("");
            return ExitCode::from(e.code());
        }
    };
    match mode {
        Mode::Parted(args) => parted::main(&args),
        Mode::SmiUsage(e) => {
            output::emit(&e.text);
            ExitCode::from(e.code.clamp(0, 255) as u8)
        }
        Mode::MigHelp => {
            output::emit(help::MIG);
            ExitCode::SUCCESS
        }
        Mode::Smi { cmd, json } => smi_main(&prog, &cmd, json),
        Mode::Verb(verb) => {
            let name = verb_name(&verb);
            match run_verb(verb) {
                Ok(code) => code,
                Err(e) => {
                    e.report(name);
                    ExitCode::from(e.code())
                }
            }
        }
    }
}

/// The verb's name, for error messages (`migctl fit: ...`).
fn verb_name(v: &Verb) -> &'static str {
    match v {
        Verb::Config(_) | Verb::Cluster(_) | Verb::Parted { .. } => "",
        Verb::Export(_) => "export",
        Verb::Plan(p) => match p {
            plan_verbs::PlanCmd::Layouts { .. } => "layouts",
            plan_verbs::PlanCmd::Fit { .. } => "fit",
            plan_verbs::PlanCmd::Show { .. } => "show",
            plan_verbs::PlanCmd::Pack { .. } => "pack",
        },
        Verb::Sim { .. } => "sim",
        Verb::Bench { .. } => "bench",
        Verb::Exporter { .. } => "exporter",
    }
}

/// Run one of migctl's own verbs; the exit status.
fn run_verb(verb: Verb) -> Result<ExitCode, CliError> {
    let code = match verb {
        Verb::Config(v) => {
            let (text, code) = config_verbs::run(v)?;
            output::emit(&text);
            code
        }
        Verb::Export(ExportArgs {
            what: Some(what), ..
        }) => cluster_cmd::run_export_cmd(what)?,
        Verb::Export(ExportArgs {
            inventory: true,
            node,
            output,
            output_file,
            ..
        }) => plan_pack::export_inventory(&node, output, output_file.as_deref())?,
        Verb::Export(a) => {
            config_verbs::export_config(
                &a.label,
                a.placements,
                a.output,
                a.output_file.as_deref(),
            )?;
            0
        }
        Verb::Cluster(c) => cluster_cmd::run_cmd(c)?,
        Verb::Plan(p) => plan_verbs::run_cmd(p)?,
        Verb::Sim { cmd } => {
            sim_cmd::run_cmd(cmd)?;
            0
        }
        Verb::Bench { args } if args.first().map(String::as_str) == Some("pack") => {
            plan_verbs::bench_pack(&args)?
        }
        Verb::Exporter { args } => {
            // the exporter's own parser (exporter_cmd.rs), as `bench` does
            let argv: Vec<String> = std::iter::once("exporter".to_string())
                .chain(args)
                .collect();
            return Ok(exporter_cmd::main(&argv));
        }
        Verb::Bench { args } => {
            // `bench apply|soak` keep their own parser (bench_cmd.rs)
            let argv: Vec<String> = std::iter::once("bench".to_string()).chain(args).collect();
            return Ok(bench_cmd::main(&argv));
        }
        Verb::Parted { args } => return Ok(parted::main(&args)),
    };
    Ok(ExitCode::from(code))
}

/// Run an nvidia-smi-grammar command: nvidia-smi's text and exit status, or
/// with migctl's `-o json` the same reads as JSON.
fn smi_main(prog: &str, cmd: &smi_args::SmiCommand, json: bool) -> ExitCode {
    use smi_args::{MigAction, SmiCommand};
    if matches!(cmd, SmiCommand::Help) {
        output::emit(&help::name_program(help::TOP, prog));
        return ExitCode::SUCCESS;
    }
    if let Some(o) = smi_run::without_backend(cmd) {
        output::emit(&help::name_program(&o.stdout, prog));
        return ExitCode::SUCCESS;
    }
    // `mig -h` needs no machine (and so prints no note about one)
    if matches!(cmd, SmiCommand::Mig(m) if m.action == MigAction::Help) {
        output::emit(&help::name_program(help::MIG, prog));
        return ExitCode::SUCCESS;
    }
    let style = match smi_out::Style::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("migctl: {e}");
            return ExitCode::from(2);
        }
    };
    let backend = match backend::open_backend_kind() {
        Ok((b, sim)) => {
            if let Some(w) = reconcile_cmd::unfinished_warning(sim) {
                eprintln!("migctl: {w}");
            }
            b
        }
        Err(e) => {
            eprintln!("migctl: {e}");
            return ExitCode::from(1);
        }
    };
    let t0 = std::time::Instant::now();
    let trace = std::env::var_os("MIGCTL_TRACE").is_some();
    let result = if json {
        match smi_json::run(backend.as_ref(), cmd) {
            Ok(Some(Ok(v))) => Ok(smi_run::Outcome {
                stdout: output::json_text(&v),
                code: 0,
            }),
            // nothing to list: nvidia-smi's sentence goes to stderr, keeping
            // stdout for JSON only
            Ok(Some(Err(o))) => {
                eprint!("{}", o.stdout);
                Ok(smi_run::Outcome {
                    stdout: String::new(),
                    code: o.code,
                })
            }
            Ok(None) => {
                eprintln!(
                    "migctl: -o json is for reads (-L, the status view, mig -lgi|-lci|-lgip|-lgipp|-lcip|-lcipp); this command prints text only (a change, -q, --query-gpu)"
                );
                return ExitCode::from(2);
            }
            Err(e) => Err(e),
        }
    } else {
        smi_run::run(backend.as_ref(), cmd, style)
    };
    if trace {
        eprintln!("migctl trace: command: {:?}", t0.elapsed());
    }
    // The process ends here: the kernel releases NVML's handles with it, so
    // migctl skips nvmlShutdown, which costs about 2 ms on an H100 (measured
    // on driver 580.159.04). The simulator holds no lock between operations,
    // so nothing else is left behind.
    std::mem::forget(backend);
    match result {
        Ok(o) => {
            output::emit(&o.stdout);
            ExitCode::from(o.code.clamp(0, 255) as u8)
        }
        Err(smi_run::Fatal(e)) => {
            eprintln!("migctl: {e}");
            ExitCode::from(1)
        }
    }
}
