//! Which machine migctl drives: NVML or the simulated machine, as
//! `MIGCTL_BACKEND` says.

use mig_model::backend::{Backend, Inventory};
use mig_nvml::NvmlBackend;
use mig_sim::SimMachine;

/// The model a simulated machine starts with when none was initialised:
/// the MIG User Guide's examples run on an A100-SXM4-40GB.
const DEFAULT_MODEL: &str = "a100-sxm4-40gb";

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
pub fn open_sim() -> Result<SimMachine, String> {
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
pub fn open_backend() -> Result<Box<dyn Backend>, String> {
    open_backend_kind().map(|(b, _)| b)
}

/// [`open_backend`], and whether it is the simulated machine (whose apply journal
/// lives beside its state file, and whose host facts come from the model
/// rather than from `/proc` and `/dev`).
pub fn open_backend_kind() -> Result<(Box<dyn Backend>, bool), String> {
    let chose_sim = std::cell::Cell::new(false);
    let b = open_backend_inner(&chose_sim)?;
    crate::reconcile_cmd::set_backend_is_sim(chose_sim.get());
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
