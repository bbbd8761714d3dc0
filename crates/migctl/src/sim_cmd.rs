//! `migctl sim ...`: create and drive the simulated machine.

use clap::{Parser, Subcommand};
use mig_model::catalog;
use mig_sim::SimMachine;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "migctl sim",
    about = "The simulated MIG machine (state file: $MIGCTL_SIM_STATE)",
    disable_version_flag = true
)]
struct SimCli {
    #[command(subcommand)]
    cmd: SimCmd,
}

#[derive(Subcommand, Debug)]
enum SimCmd {
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
        (_, Some(code)) => crate::smi_run::exit_code(code).clamp(0, 255) as u8,
        _ => 1,
    }
}

pub fn main(args: &[String]) -> ExitCode {
    // usage lines name the command as typed: `migctl sim ...`
    let argv = std::iter::once("migctl sim".to_string()).chain(args.iter().skip(1).cloned());
    let cli: SimCli = match crate::parse_verb(argv) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match run(cli.cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, msg)) => {
            eprintln!("migctl sim: {msg}");
            ExitCode::from(code)
        }
    }
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
                .map_err(|e| match e {
                    mig_sim::StateError::Foreign { .. } => {
                        (1, format!("{e}; `migctl sim init --force ...` replaces it"))
                    }
                    e => (1, e.to_string()),
                })?;
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
                .map_err(|e| (backend_exit(&e), e.to_string()))
        }
        SimCmd::Set(a) => crate::sim_set::run(open()?, a),
        SimCmd::Path => {
            println!("{}", mig_sim::default_state_path().display());
            Ok(())
        }
        SimCmd::NvmlLib => {
            let lib = nvml_lib().map_err(|e| (1, e))?;
            println!("{}", lib.display());
            Ok(())
        }
    }
}

/// The file Cargo builds from the nvml-shim crate.
const SHIM_FILE: &str = "libnvml_shim.so";
/// The name NVML clients load.
const NVML_SONAME: &str = "libnvidia-ml.so.1";
/// Environment variable naming the shim library when it is not beside the
/// executable (an installed migctl).
const ENV_SHIM: &str = "MIGCTL_NVML_SHIM";

/// Find the shim (`$MIGCTL_NVML_SHIM`, else `<exe dir>/../lib/migctl/`, else
/// where Cargo built it beside this executable) and make
/// `<its dir>/nvml-shim/libnvidia-ml.so.1` point at it, replacing a stale
/// link. The link gets its own directory so that putting it on
/// `LD_LIBRARY_PATH` exposes nothing else.
///
/// Where Cargo leaves the shim: `target/<profile>/` after `cargo build`, but
/// only `target/<profile>/deps/` when `cargo test` built it as a test
/// dependency; a test binary itself runs from `deps/`, one level below. The
/// newest candidate wins, so a stale copy never shadows a fresh build.
pub(crate) fn nvml_lib() -> Result<PathBuf, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot locate the migctl executable: {e}"))?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let dir = exe.parent().unwrap_or(Path::new("."));
    // Listed so that on equal times (Cargo's uplift is a hard link) the
    // executable's own directory, which comes last, wins.
    if let Some(p) = std::env::var_os(ENV_SHIM).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if !p.is_file() {
            return Err(format!("{ENV_SHIM}={}: no such file", p.display()));
        }
        return link_soname(&p);
    }
    let shim = [
        dir.parent().map(|d| d.join("lib").join("migctl")),
        dir.parent().map(Path::to_path_buf),
        Some(dir.join("deps")),
        Some(dir.to_path_buf()),
    ]
    .into_iter()
    .flatten()
    .map(|d| d.join(SHIM_FILE))
    .filter_map(|p| {
        let modified = fs::metadata(&p)
            .ok()
            .filter(|m| m.is_file())?
            .modified()
            .ok()?;
        Some((modified, p))
    })
    .max_by_key(|(modified, _)| *modified)
    .map(|(_, p)| p)
    .ok_or_else(|| {
        format!(
            "the NVML shim {SHIM_FILE} is not next to {} nor in its ../lib/migctl/; build it \
             with `cargo build --release -p nvml-shim` and copy it there, or name it with {ENV_SHIM}",
            exe.display()
        )
    })?;
    link_soname(&shim)
}

/// Make `<shim's dir>/nvml-shim/libnvidia-ml.so.1` point at `shim`.
fn link_soname(shim: &Path) -> Result<PathBuf, String> {
    let shim = shim.canonicalize().unwrap_or_else(|_| shim.to_path_buf());
    let link_dir = shim.with_file_name("nvml-shim");
    let link = link_dir.join(NVML_SONAME);
    let fail = |p: &Path, e: std::io::Error| format!("cannot create {}: {e}", p.display());
    if fs::read_link(&link).ok().as_deref() == Some(shim.as_path()) {
        return Ok(link);
    }
    fs::create_dir_all(&link_dir).map_err(|e| fail(&link_dir, e))?;
    // Build the link beside the final name and rename it over any stale one,
    // so concurrent callers never see a missing or half-made library.
    let tmp = link_dir.join(format!(".{NVML_SONAME}.{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    #[cfg(unix)]
    std::os::unix::fs::symlink(&shim, &tmp).map_err(|e| fail(&tmp, e))?;
    #[cfg(not(unix))]
    fs::copy(&shim, &tmp).map_err(|e| fail(&tmp, e))?;
    fs::rename(&tmp, &link).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        fail(&link, e)
    })?;
    Ok(link)
}
