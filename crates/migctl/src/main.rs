//! `migctl`: the command line. Parses arguments, picks the backend, prints.
//! No MIG rule is decided here (they live in `mig-model`).

// clap turns doc comments into help text, whose `PROFILE[xN]` notation is not a doc link
#![allow(rustdoc::broken_intra_doc_links)]

mod bench_cmd;
mod cluster_cmd;
mod cluster_host;
mod config_verbs;
mod help;
mod live;
mod parted;
mod plan_pack;
mod plan_verbs;
mod progress;
mod reconcile_cmd;
mod sim_cmd;
mod sim_host;
mod sim_set;
mod smi_args;
mod smi_out;
mod smi_query;
mod smi_run;
mod soak;

use mig_model::backend::{Backend, Inventory};
use mig_nvml::NvmlBackend;
use mig_sim::SimMachine;
use std::io::Write;
use std::process::ExitCode;

/// The model a simulated machine starts with when none was initialised:
/// the MIG User Guide's examples run on an A100-SXM4-40GB.
const DEFAULT_MODEL: &str = "a100-sxm4-40gb";

/// The name this binary was invoked by (`argv[0]`'s file name): `migctl`,
/// or `nvidia-mig-parted` / `nvidia-smi` through a link.
fn program_name() -> String {
    std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "migctl".into())
}

/// Which backend `MIGCTL_BACKEND` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BackendChoice {
    Auto,
    Sim,
    Nvml,
}

fn backend_choice() -> Result<BackendChoice, String> {
    match std::env::var("MIGCTL_BACKEND").as_deref().map(str::trim) {
        Err(_) | Ok("") | Ok("auto") => Ok(BackendChoice::Auto),
        Ok("sim") => Ok(BackendChoice::Sim),
        Ok("nvml") => Ok(BackendChoice::Nvml),
        Ok(other) => Err(format!(
            "MIGCTL_BACKEND={other:?} is not one of auto, sim, nvml"
        )),
    }
}

/// Open the simulated machine, creating the default one on first use.
fn open_sim() -> Result<SimMachine, String> {
    let sim = SimMachine::open(mig_sim::default_state_path()).map_err(|e| e.to_string())?;
    if !sim.path().exists() {
        sim.init(&[(DEFAULT_MODEL.to_string(), false)])
            .map_err(|e| e.to_string())?;
        eprintln!(
            "migctl: created a simulated machine at {} with one {DEFAULT_MODEL} (MIG disabled); \
             `migctl sim init MODEL...` makes another",
            sim.path().display()
        );
    }
    Ok(sim)
}

/// The NVML backend, after printing how long opening it took when
/// `MIGCTL_TRACE` is set.
fn traced(b: NvmlBackend) -> Box<dyn Backend> {
    if std::env::var_os("MIGCTL_TRACE").is_some() {
        let t = b.timings();
        eprintln!("migctl trace: load {}: {:?}", b.library(), t.load);
        eprintln!("migctl trace: nvmlInit_v2 + device count: {:?}", t.init);
    }
    Box::new(b)
}

/// Pick the backend as `MIGCTL_BACKEND` says: `nvml` requires NVML, `sim`
/// is the simulated machine, `auto` (the default) uses NVML when it loads,
/// initialises and has a GPU, else the simulated machine with a note.
fn open_backend() -> Result<Box<dyn Backend>, String> {
    open_backend_kind().map(|(b, _)| b)
}

/// [`open_backend`], and whether it is the simulated machine (whose apply journal
/// lives beside its state file, and whose host facts come from the model
/// rather than from `/proc` and `/dev`).
fn open_backend_kind() -> Result<(Box<dyn Backend>, bool), String> {
    let chose_sim = std::cell::Cell::new(false);
    let b = open_backend_inner(&chose_sim)?;
    reconcile_cmd::set_backend_is_sim(chose_sim.get());
    Ok((b, chose_sim.get()))
}

fn open_backend_inner(chose_sim: &std::cell::Cell<bool>) -> Result<Box<dyn Backend>, String> {
    let open_sim = || {
        chose_sim.set(true);
        open_sim()
    };
    match backend_choice()? {
        BackendChoice::Sim => Ok(Box::new(open_sim()?)),
        BackendChoice::Nvml => match NvmlBackend::open() {
            Ok(b) => Ok(traced(b)),
            Err(e) => Err(format!("MIGCTL_BACKEND=nvml: {e}")),
        },
        BackendChoice::Auto => match NvmlBackend::open() {
            Ok(b) => Ok(traced(b)),
            Err(e) => {
                let sim = open_sim()?;
                eprintln!(
                    "migctl: {}; using the {} (MIGCTL_BACKEND=sim hides this note)",
                    e.summary(),
                    sim.describe()
                );
                Ok(Box::new(sim))
            }
        },
    }
}

/// Parse a verb's command line with clap; help and usage errors are printed
/// as clap prints them and become the exit status (0 for help, 2 for errors).
fn parse_verb<T: clap::Parser>(argv: impl IntoIterator<Item = String>) -> Result<T, ExitCode> {
    T::try_parse_from(argv).map_err(|e| {
        let _ = e.print();
        ExitCode::from(if e.use_stderr() { 2 } else { 0 })
    })
}

fn main() -> ExitCode {
    let prog = program_name();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if prog == "nvidia-mig-parted" {
        return parted::main(&args);
    }
    if cluster_cmd::handles(&args) {
        return cluster_cmd::main(&args);
    }
    // the planning verbs first: they claim `export --inventory` only
    if let Some(code) = plan_verbs::main(&args) {
        return code;
    }
    match args.first().map(String::as_str) {
        Some("sim") => return sim_cmd::main(&args),
        Some("parted") => return parted::main(&args[1..]),
        Some("assert" | "export" | "apply" | "plan") => return config_verbs::main(&args),
        Some("bench") => return bench_cmd::main(&args),
        _ => {}
    }
    let cmd = match smi_args::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            print!("{}", e.text);
            return ExitCode::from(e.code.clamp(0, 255) as u8);
        }
    };
    if let Some(o) = smi_run::without_backend(&cmd) {
        print!("{}", help::name_program(&o.stdout, &prog));
        return ExitCode::SUCCESS;
    }
    let style = match smi_out::Style::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("migctl: {e}");
            return ExitCode::from(2);
        }
    };
    let backend = match open_backend_kind() {
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
    let result = smi_run::run(backend.as_ref(), &cmd, style);
    if trace {
        eprintln!("migctl trace: command: {:?}", t0.elapsed());
    }
    // The process ends here: the kernel releases NVML's handles with it, so
    // migctl skips nvmlShutdown, which costs about 2 ms on an H100 (measured
    // with the device tool, driver 580.159.04). The simulator holds no lock
    // between operations, so nothing else is left behind.
    std::mem::forget(backend);
    match result {
        Ok(o) => {
            let text = if matches!(&cmd, smi_args::SmiCommand::Mig(m) if m.action == smi_args::MigAction::Help)
            {
                help::name_program(&o.stdout, &prog)
            } else {
                o.stdout
            };
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
            ExitCode::from(o.code.clamp(0, 255) as u8)
        }
        Err(smi_run::Fatal(e)) => {
            eprintln!("migctl: {e}");
            ExitCode::from(1)
        }
    }
}
