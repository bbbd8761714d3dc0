//! The cluster verbs: `migctl caps`, `migctl export cdi|slurm|k8s`,
//! `migctl env`, `migctl mps`. They parse, read the node (one backend
//! snapshot per GPU), call `mig-cluster`'s generators, and print or write.

use crate::error::CliError;
use crate::output::{ConfigFormat, Format};
use crate::{cluster_host as host, live};
use clap::{Subcommand, ValueEnum};
use mig_cluster::caps::{self, NodeStatus};
use mig_cluster::k8s::{K8sOptions, Strategy};
use mig_cluster::{cdi, env, k8s, mps, slurm, NodeFacts};
use mig_model::GpuSnapshot;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// The nvidia-caps capability files and /dev/nvidia-caps nodes of every
    /// existing GPU and compute instance (and mig/config, mig/monitor), with
    /// the state of each node on this host.
    Caps {
        /// Make missing nodes as `nvidia-modprobe -f` would (root only).
        #[arg(long)]
        create: bool,
        /// Look at (and make) nodes under DIR instead of / (required with
        /// --create on the simulated machine).
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
    /// Per device: CUDA_VISIBLE_DEVICES, NVIDIA_VISIBLE_DEVICES, docker --gpus
    /// and CDI names.
    Env {
        #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
    /// MPS on MIG: one nvidia-cuda-mps-control daemon per MIG device. Prints
    /// the start script (or, with --print stop, the stop script).
    Mps {
        /// Directory under which each daemon gets `<MIG-uuid>/pipe` and `/log`.
        #[arg(long, value_name = "DIR", default_value = "/tmp/mps")]
        root: String,
        /// Start the daemons.
        #[arg(long, conflicts_with = "stop")]
        start: bool,
        /// Stop them (sends `quit` to each).
        #[arg(long)]
        stop: bool,
        /// Which script to print when neither --start nor --stop is given.
        #[arg(long, value_enum, default_value = "start")]
        print: MpsScript,
        #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
}

#[derive(Subcommand, Debug)]
pub enum ExportCmd {
    /// A CDI spec naming every MIG device as GPU:MIG and as its MIG UUID,
    /// with its /dev/nvidiaN and GI and CI cap nodes (stdout without
    /// --output-file).
    Cdi {
        /// Write the spec to FILE atomically (a temporary file renamed over it).
        #[arg(long, value_name = "FILE")]
        output_file: Option<PathBuf>,
        /// Output format (`--format` is accepted for it).
        #[arg(short = 'o', long, alias = "format", value_enum, default_value_t = ConfigFormat::Yaml)]
        output: ConfigFormat,
        /// CDI kind (vendor/class).
        #[arg(long, default_value = "nvidia.com/gpu")]
        kind: String,
    },
    /// Slurm gres.conf records and the node's Gres= and AccountingStorageTRES
    /// strings, with the type names of Slurm's AutoDetect=nvml.
    Slurm {
        /// Print only one part.
        #[arg(long, value_enum, default_value = "gres-conf")]
        print: SlurmPart,
        /// NodeName for the slurm.conf line (default: this host's name).
        #[arg(long)]
        node_name: Option<String>,
        /// Prefix for device paths (a test root with placeholder nodes).
        #[arg(long, value_name = "DIR", default_value = "")]
        dev_prefix: String,
        /// Write gres.conf to FILE atomically and print how to reload Slurm
        /// (`--output-file` is the same).
        #[arg(long, alias = "output-file", value_name = "FILE")]
        gres_conf: Option<PathBuf>,
        #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
    /// Kubernetes: the labels gpu-feature-discovery writes and the extended
    /// resources the device plugin advertises, for a MIG strategy.
    K8s {
        #[arg(long, value_enum)]
        strategy: K8sStrategy,
        #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SlurmPart {
    GresConf,
    NodeGres,
    Tres,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum K8sStrategy {
    None,
    Single,
    Mixed,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MpsScript {
    Start,
    Stop,
}

/// What a verb failed with: a message and an exit code.
struct Failure(String, u8);

impl From<String> for Failure {
    fn from(s: String) -> Failure {
        Failure(s, 1)
    }
}

impl From<mig_cluster::ClusterError> for Failure {
    fn from(e: mig_cluster::ClusterError) -> Failure {
        Failure(e.to_string(), 1)
    }
}

/// Run `caps`, `env` or `mps`; the exit status.
pub fn run_cmd(cmd: Cmd) -> Result<u8, CliError> {
    run(cmd).map_err(|Failure(msg, code)| CliError::with_code(code, msg))
}

/// Run `export cdi|slurm|k8s`; the exit status.
pub fn run_export_cmd(what: ExportCmd) -> Result<u8, CliError> {
    let node = read_node().map_err(|Failure(msg, code)| CliError::with_code(code, msg))?;
    run_export(&node, what).map_err(|Failure(msg, code)| CliError::with_code(code, msg))
}

/// The node: snapshots, host facts, and whether it is simulated.
struct Node {
    gpus: Vec<GpuSnapshot>,
    facts: NodeFacts,
    simulated: bool,
}

fn read_node() -> Result<Node, Failure> {
    let (backend, simulated) = crate::backend::open_backend_kind()?;
    let gpus = live::machine_snapshots(backend.as_ref())?;
    let driver = backend.driver_version().map_err(|e| e.to_string())?;
    let mut facts = host::facts(simulated, &driver)?;
    // gpu-feature-discovery's cuda.runtime* labels; a driver too old to
    // answer leaves them out, as before
    if let Ok(Some(v)) = backend.cuda_driver_version() {
        facts.cuda_version = Some(v);
    }
    // As in main: the process ends soon; skip nvmlShutdown.
    std::mem::forget(backend);
    Ok(Node {
        gpus,
        facts,
        simulated,
    })
}

fn json(v: &impl serde::Serialize) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

fn run(cmd: Cmd) -> Result<u8, Failure> {
    let node = read_node()?;
    match cmd {
        Cmd::Caps {
            create,
            root,
            output,
        } => run_caps(&node, create, root, output == Format::Json),
        Cmd::Env { output } => {
            let v = env::devices(&node.gpus, &node.facts.driver_version, "nvidia.com/gpu")?;
            if output == Format::Json {
                print!("{}", json(&v));
                return Ok(0);
            }
            if v.is_empty() {
                println!("No usable GPU or MIG device.");
            }
            for d in &v {
                match d.mig {
                    Some(m) => println!("GPU {} MIG {} ({}) {}", d.gpu, m, d.profile, d.uuid),
                    None => println!("GPU {} ({}) {}", d.gpu, d.profile, d.uuid),
                }
                println!("  CUDA_VISIBLE_DEVICES={}", d.cuda_visible_devices);
                println!("  NVIDIA_VISIBLE_DEVICES={}", d.nvidia_visible_devices);
                println!("  docker run --gpus {} IMAGE", d.docker_gpus);
                println!("  CDI: {}", d.cdi.join(" "));
            }
            Ok(0)
        }
        Cmd::Mps {
            root,
            start,
            stop,
            print,
            output,
        } => run_mps(&node, &root, start, stop, print, output == Format::Json),
    }
}

fn run_caps(
    node: &Node,
    create: bool,
    root: Option<PathBuf>,
    as_json: bool,
) -> Result<u8, Failure> {
    let mut nodes = caps::all_caps(&node.gpus, &node.facts)?;
    if !node.simulated {
        // The driver's own DeviceFileMode wins over the documented default.
        for n in &mut nodes {
            if let Some((_, mode)) = std::fs::read_to_string(&n.proc_file)
                .ok()
                .as_deref()
                .and_then(caps::parse_cap_file)
            {
                n.mode = mode;
            }
        }
    }
    if create {
        if !mig_sim::is_root() {
            return Err(Failure(
                "caps --create: making device nodes needs root".into(),
                4,
            ));
        }
        if node.simulated && root.is_none() {
            return Err(Failure(
                "caps --create on the simulated machine needs --root DIR (its nodes must not land in this host's /dev)".into(),
                2,
            ));
        }
    }
    let mut rows = Vec::new();
    let mut wrong = 0;
    for n in &nodes {
        let path = host::under(root.as_deref(), &n.dev_path);
        let mut status = NodeStatus::of(n, host::observe(&path));
        let mut action = None;
        if create {
            match status {
                NodeStatus::Missing => {
                    host::make_node(&path, n)?;
                    status = NodeStatus::of(n, host::observe(&path));
                    action = Some("created");
                }
                NodeStatus::WrongMode { .. } => {
                    host::set_mode(&path, n.mode)?;
                    status = NodeStatus::of(n, host::observe(&path));
                    action = Some("mode set");
                }
                _ => {}
            }
        }
        if matches!(
            status,
            NodeStatus::WrongNumbers { .. } | NodeStatus::NotCharDevice
        ) {
            wrong += 1;
        }
        rows.push((n, path, status, action));
    }
    if as_json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(n, path, status, action)| {
                serde_json::json!({
                    "capability": n.capability,
                    "proc_file": n.proc_file,
                    "dev_path": n.dev_path,
                    "host_path": path.display().to_string(),
                    "major": n.major,
                    "minor": n.minor,
                    "mode": format!("{:04o}", n.mode),
                    "state": status,
                    "action": action,
                })
            })
            .collect();
        print!("{}", json(&v));
    } else {
        for (n, path, status, action) in &rows {
            println!(
                "{:<58} {:<36} c {}:{} {:04o}  {}{}",
                n.proc_file,
                path.display().to_string(),
                n.major,
                n.minor,
                n.mode,
                status.describe(),
                action.map(|a| format!(" ({a})")).unwrap_or_default()
            );
        }
    }
    if wrong > 0 {
        eprintln!(
            "migctl: {wrong} node(s) exist with the wrong major/minor or type; they grant something else: remove them and run `migctl caps --create`"
        );
        return Ok(1);
    }
    Ok(0)
}

fn run_export(node: &Node, what: ExportCmd) -> Result<u8, Failure> {
    match what {
        ExportCmd::Cdi {
            output_file,
            output,
            kind,
        } => {
            let e = cdi::spec(&node.gpus, &node.facts, &cdi::CdiOptions { kind })?;
            let text = match output {
                ConfigFormat::Yaml => cdi::to_yaml(&e).map_err(|err| err.to_string())?,
                ConfigFormat::Json => {
                    for n in &e.notes {
                        eprintln!("migctl: {n}");
                    }
                    cdi::to_json(&e)
                }
            };
            match output_file {
                Some(path) => write_cdi_spec(&text, &path)?,
                None => crate::output::emit(&text),
            }
            Ok(0)
        }
        ExportCmd::Slurm {
            print,
            node_name,
            dev_prefix,
            gres_conf,
            output,
        } => {
            let e = slurm::export(&node.gpus, &node.facts, &slurm::SlurmOptions { dev_prefix })?;
            let node_name = node_name.unwrap_or_else(host::hostname);
            if let Some(path) = gres_conf {
                write_gres_conf(&e, &node_name, &path)?;
                return Ok(0);
            }
            if output == Format::Json {
                print!("{}", json(&e));
                return Ok(0);
            }
            match print {
                SlurmPart::GresConf => print!("{}", e.gres_conf(&node_name)),
                SlurmPart::NodeGres => println!("Gres={}", e.node_gres),
                SlurmPart::Tres => println!("AccountingStorageTRES={}", e.accounting_tres),
            }
            Ok(0)
        }
        ExportCmd::K8s { strategy, output } => {
            let strategy = match strategy {
                K8sStrategy::None => Strategy::None,
                K8sStrategy::Single => Strategy::Single,
                K8sStrategy::Mixed => Strategy::Mixed,
            };
            let bus: Vec<String> = node
                .gpus
                .iter()
                .map(|g| g.identity.pci_bus_id.clone())
                .collect();
            let opts = K8sOptions {
                strategy,
                gpu_mode: host::gpu_mode(node.simulated, &bus),
            };
            let e = k8s::export(&node.gpus, &node.facts, &opts)?;
            if output == Format::Json {
                print!("{}", json(&e));
            } else {
                print!("{}", e.text());
            }
            Ok(0)
        }
    }
}

/// Write a CDI spec where runtimes read it (`/var/run/cdi/...`): `apply
/// --cdi-spec PATH` calls this after a change, so the spec is never stale.
pub(crate) fn write_cdi_spec(text: &str, path: &std::path::Path) -> Result<(), String> {
    host::write_atomic(path, text)
}

/// Write gres.conf and say how Slurm picks it up: `apply --slurm-gres PATH`
/// calls this after a change.
pub(crate) fn write_gres_conf(
    e: &slurm::SlurmExport,
    node_name: &str,
    path: &std::path::Path,
) -> Result<(), String> {
    host::write_atomic(path, &e.gres_conf(node_name))?;
    eprintln!(
        "migctl: wrote {} ({} records)",
        path.display(),
        e.records.len()
    );
    if !e.node_gres.is_empty() {
        eprintln!(
            "migctl: reload: put `NodeName={node_name} ... Gres={}` in slurm.conf on every host, stop slurmd here (systemctl stop slurmd), restart slurmctld (systemctl restart slurmctld), start slurmd (systemctl start slurmd); `scontrol reconfigure` alone drains the node when a count changes",
            e.node_gres
        );
    }
    Ok(())
}

/// What `migctl apply` does for the node's consumers after a change: the
/// flags, flattened into apply's.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct AfterApply {
    /// After the change, write the node's CDI spec to PATH (atomically; YAML),
    /// so containers never get a stale one.
    #[arg(long, value_name = "PATH")]
    pub cdi_spec: Option<PathBuf>,
    /// After the change, rewrite the gres.conf at PATH and print how to
    /// reload Slurm.
    #[arg(long, value_name = "PATH")]
    pub slurm_gres: Option<PathBuf>,
    /// Print the `nvidia.com/mig.config.state` value the GPU Operator's MIG
    /// manager would set for this apply (pending, success, failed, rebooting).
    #[arg(long)]
    pub mig_config_state: bool,
}

/// What the MIG manager's state label depends on, as apply knows it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StateInputs {
    pub config_valid: bool,
    pub applied: bool,
    pub mode_applied: bool,
    pub apply_succeeded: Option<bool>,
}

impl StateInputs {
    /// A config that did not load or validate.
    pub fn invalid() -> StateInputs {
        StateInputs {
            config_valid: false,
            applied: false,
            mode_applied: false,
            apply_succeeded: None,
        }
    }
}

impl AfterApply {
    /// With `--mig-config-state`, print the label on stderr (stdout is the
    /// apply's report).
    pub fn report_state(&self, i: StateInputs) {
        if !self.mig_config_state {
            return;
        }
        let state = mig_cluster::mig_manager::final_state(mig_cluster::mig_manager::Facts {
            config_valid: i.config_valid,
            previous: None,
            applied: i.applied,
            mode_applied: i.mode_applied,
            // migctl applies mode changes itself (resetting where needed);
            // it never asks for a reboot.
            mode_needs_reboot: false,
            with_reboot: false,
            apply_succeeded: i.apply_succeeded,
        });
        eprintln!(
            "{}={}",
            mig_cluster::mig_manager::STATE_LABEL,
            state.as_str()
        );
    }

    /// Rewrite the CDI spec and gres.conf asked for, from the node as it is
    /// now; the lines say what was written.
    pub fn refresh(
        &self,
        backend: &dyn mig_model::backend::Backend,
        simulated: bool,
    ) -> Result<Vec<String>, String> {
        if self.cdi_spec.is_none() && self.slurm_gres.is_none() {
            return Ok(Vec::new());
        }
        let gpus = live::machine_snapshots(backend)?;
        let driver = backend.driver_version().map_err(|e| e.to_string())?;
        let facts = host::facts(simulated, &driver)?;
        let mut out = Vec::new();
        if let Some(path) = &self.cdi_spec {
            let e =
                cdi::spec(&gpus, &facts, &cdi::CdiOptions::default()).map_err(|e| e.to_string())?;
            write_cdi_spec(&cdi::to_yaml(&e).map_err(|e| e.to_string())?, path)?;
            out.push(format!("CDI spec written: {}", path.display()));
        }
        if let Some(path) = &self.slurm_gres {
            let e = slurm::export(&gpus, &facts, &slurm::SlurmOptions::default())
                .map_err(|e| e.to_string())?;
            write_gres_conf(&e, &host::hostname(), path)?;
            out.push(format!("gres.conf written: {}", path.display()));
        }
        Ok(out)
    }
}

fn run_mps(
    node: &Node,
    root: &str,
    start: bool,
    stop: bool,
    print: MpsScript,
    as_json: bool,
) -> Result<u8, Failure> {
    let plan = mps::plan(&node.gpus, &node.facts.driver_version, root)?;
    let program = host::find_program(mps::MPS_CONTROL);
    if !start && !stop {
        if as_json {
            print!("{}", json(&plan));
        } else {
            match print {
                MpsScript::Start => print!("{}", mps::start_script(&plan)),
                MpsScript::Stop => print!("{}", mps::stop_script(&plan)),
            }
        }
        if program.is_none() {
            eprintln!("migctl: note: {} is not on PATH here", mps::MPS_CONTROL);
        }
        return Ok(0);
    }
    let Some(program) = program else {
        return Err(Failure(
            format!(
                "{} is not on PATH (it comes with the NVIDIA driver's CUDA tools); nothing {}",
                mps::MPS_CONTROL,
                if start { "started" } else { "stopped" }
            ),
            1,
        ));
    };
    if plan.is_empty() {
        println!(
            "No MIG device on this node: no MPS daemon to {}.",
            if start { "start" } else { "stop" }
        );
        return Ok(0);
    }
    let mut failed = 0;
    for d in &plan {
        let mut cmd = std::process::Command::new(&program);
        cmd.envs(d.env());
        let status = if start {
            for dir in [&d.pipe_dir, &d.log_dir] {
                std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
            }
            cmd.arg("-d").status()
        } else {
            cmd.stdin(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    if let Some(mut i) = c.stdin.take() {
                        i.write_all(b"quit\n")?;
                    }
                    c.wait()
                })
        };
        let ok = matches!(&status, Ok(s) if s.success());
        if !ok {
            failed += 1;
        }
        println!(
            "GPU {} MIG {} ({}) {}: MPS control daemon {}{}",
            d.gpu,
            d.mig,
            d.profile,
            d.uuid,
            match (start, ok) {
                (true, true) => "started",
                (false, true) => "told to quit",
                (true, false) => "failed to start",
                (false, false) => "failed to stop",
            },
            if start {
                format!(" (CUDA_MPS_PIPE_DIRECTORY={})", d.pipe_dir)
            } else {
                String::new()
            }
        );
    }
    Ok(u8::from(failed > 0))
}
