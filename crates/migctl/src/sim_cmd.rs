//! `migctl sim ...`: create and drive the simulated machine.

use crate::error::CliError;
use clap::Subcommand;
use mig_model::catalog;
use mig_sim::SimMachine;

#[derive(Subcommand, Debug)]
pub enum SimCmd {
    /// Create a fresh simulated machine, one GPU per MODEL (MODELxN for N of
    /// them), MIG disabled, replacing any earlier state at that path.
    Init {
        /// Boards whose logical halves are mirrored in physical slices
        /// (GI IDs differ; seen on some A100 PCIe and H100 SXM5 boards).
        #[arg(long)]
        mirrored: bool,
        /// Managing MIG (mode, reset, creating and destroying instances)
        /// needs root, as with the driver's default mig/config capability
        /// (mode 0400); others get "Insufficient Permissions".
        #[arg(long)]
        root_only: bool,
        /// Replace the file at the state path even if it is not a migctl
        /// state file (without it, such a file is refused and left alone).
        #[arg(long)]
        force: bool,
        /// Model slugs (`migctl sim models`), e.g. a100-sxm4-40gb or h100-sxm5-80gbx8.
        #[arg(required = true, value_name = "MODEL")]
        models: Vec<String>,
    },
    /// List the GPU models the simulator knows.
    Models,
    /// Start a simulated process on a MIG device (or on a GPU with MIG
    /// disabled) and print its pid; with `-- CMD ARGS...`, run CMD as a real
    /// process holding the device until it exits (exit status is CMD's);
    /// with `--pid`, register a running process.
    Run {
        /// GPU index.
        #[arg(long)]
        gpu: u32,
        /// GPU instance ID.
        #[arg(long, requires = "ci")]
        gi: Option<u32>,
        /// Compute instance ID.
        #[arg(long, requires = "gi")]
        ci: Option<u32>,
        /// Process name shown by the status view.
        #[arg(long, default_value = "sim-process")]
        name: String,
        /// GPU memory the process uses, MiB.
        #[arg(long, default_value_t = 256)]
        memory: u64,
        /// Register this running process (it holds the device while it lives).
        #[arg(long, conflicts_with_all = ["name", "cmd"])]
        pid: Option<u32>,
        /// The program to run on the device, after `--`.
        #[arg(last = true, value_name = "CMD", conflicts_with = "name")]
        cmd: Vec<String>,
    },
    /// Write the simulated host (sysfs PCI entries, /proc/driver files,
    /// /dev nodes) under DIR at the host's own paths and keep it current
    /// after every change of the machine.
    Root(crate::sim_host::RootArgs),
    /// Run CMD with the simulated host in view: /sys/bus/pci, /proc/driver,
    /// /proc/devices, /proc/modules and /dev/nvidia* from the tree, the fake
    /// libnvidia-ml.so.1 first on LD_LIBRARY_PATH and migctl as nvidia-smi.
    Exec(crate::sim_host::ExecArgs),
    /// End a simulated process.
    Kill { pid: u32 },
    /// Set modelled readings of simulated GPUs (temperature=85 power=300
    /// utilization=50 ...), or show them.
    Set(crate::sim_set::SetArgs),
    /// Print the state file's path.
    Path,
    /// Print the path of a libnvidia-ml.so.1 that serves the NVML API from
    /// this simulated machine (put its directory on LD_LIBRARY_PATH; the
    /// library reads MIGCTL_SIM_STATE when the client calls nvmlInit).
    NvmlLib,
}

/// Expand `MODELxN` arguments into one entry per GPU.
fn expand_models(args: &[String], mirrored: bool) -> Result<Vec<(String, bool)>, String> {
    let mut out = Vec::new();
    for a in args {
        let (slug, n) = match a.rsplit_once('x') {
            Some((s, n)) if catalog::model(s).is_some() && n.parse::<u32>().is_ok() => {
                (s.to_string(), n.parse::<u32>().unwrap_or(1))
            }
            _ => (a.clone(), 1),
        };
        if catalog::model(&slug).is_none() {
            return Err(format!(
                "unknown GPU model {a:?}; `migctl sim models` lists them"
            ));
        }
        if n == 0 {
            return Err(format!("{a:?}: a count of 0 GPUs"));
        }
        out.extend(std::iter::repeat_n((slug, mirrored), n as usize));
    }
    if out.len() > 32 {
        return Err(format!(
            "{} GPUs: at most 32 per machine (nvidia-caps has 32 GPU slots)",
            out.len()
        ));
    }
    Ok(out)
}

/// Exit status for a backend failure: 6 for a GPU that does not exist
/// (as nvidia-smi's "No devices were found"), the NVML code's status for an
/// NVML error, else 1.
fn backend_exit(e: &mig_model::BackendError) -> u8 {
    match (e, e.nvml_code()) {
        (mig_model::BackendError::NoSuchGpu { .. }, _) => 6,
        (_, Some(code)) => mig_smi::run::exit_code(code).clamp(0, 255) as u8,
        _ => 1,
    }
}

/// Run a `migctl sim` verb.
pub fn run_cmd(cmd: SimCmd) -> Result<(), CliError> {
    run(cmd).map_err(CliError::from)
}

fn run(cmd: SimCmd) -> Result<(), (u8, String)> {
    let open = || SimMachine::open(mig_sim::default_state_path()).map_err(|e| (2, e.to_string()));
    match cmd {
        SimCmd::Models => {
            for m in catalog::all() {
                println!("{:<26} {}", m.slug, m.name);
            }
            Ok(())
        }
        SimCmd::Init {
            mirrored,
            root_only,
            force,
            models,
        } => {
            let models = expand_models(&models, mirrored).map_err(|e| (2, e))?;
            let sim = open()?;
            let st = sim
                .init_with(&models, root_only, force)
                .map_err(|e| (1, e.to_string()))?;
            // An apply journal of the machine just replaced is void.
            crate::reconcile_cmd::forget_journal();
            println!(
                "Simulated machine at {}: {} GPU(s), MIG disabled",
                sim.path().display(),
                st.gpus.len()
            );
            for (i, g) in st.gpus.iter().enumerate() {
                println!(
                    "  GPU {i}: {} ({}) {}",
                    g.model().name,
                    g.model,
                    g.pci_bus_id
                );
            }
            Ok(())
        }
        SimCmd::Run {
            gpu,
            gi,
            ci,
            memory,
            pid,
            cmd,
            ..
        } if pid.is_some() || !cmd.is_empty() => {
            crate::sim_host::run_host(&open()?, gpu, gi.zip(ci), memory, pid, &cmd)
        }
        SimCmd::Root(a) => crate::sim_host::root(&open()?, a),
        SimCmd::Exec(a) => crate::sim_host::exec(&open()?, a),
        SimCmd::Run {
            gpu,
            gi,
            ci,
            name,
            memory,
            ..
        } => {
            let sim = open()?;
            let mig = gi.zip(ci);
            let pid = sim
                .start_process(&mig_model::GpuRef::Index(gpu), mig, &name, memory)
                .map_err(|e| (backend_exit(&e), e.to_string()))?;
            let on = match mig {
                Some((gi, ci)) => format!("GPU {gpu} GPU instance {gi} compute instance {ci}"),
                None => format!("GPU {gpu}"),
            };
            println!(
                "{pid}: pid of simulated process {name:?} on {on} (`migctl sim kill {pid}` ends it)"
            );
            Ok(())
        }
        SimCmd::Kill { pid } => {
            let sim = open()?;
            sim.kill_process(pid)
                .map_err(|e| (backend_exit(&e), e.to_string()))?;
            crate::output::emit(&format!("killed simulated process {pid}\n"));
            Ok(())
        }
        SimCmd::Set(a) => crate::sim_set::run(open()?, a),
        SimCmd::Path => {
            println!("{}", mig_sim::default_state_path().display());
            Ok(())
        }
        SimCmd::NvmlLib => {
            let lib = crate::shim_path::nvml_lib().map_err(|e| (1, e))?;
            println!("{}", lib.display());
            Ok(())
        }
    }
}
