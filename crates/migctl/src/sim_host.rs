//! `migctl sim root`, `migctl sim exec` and `migctl sim run -- CMD`: the
//! simulated machine as a whole host. The tree, the namespace and the
//! process registry live in `mig-sim` (`host`, `view`, `procs`); this file
//! parses and prints.

use clap::{Args, ValueEnum};
use mig_sim::host::{HostRoot, NodeKind};
use mig_sim::SimMachine;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

type Fail = (u8, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct RootArgs {
    /// Where to write the tree (DIR/sys, DIR/proc, DIR/dev); created if missing.
    #[arg(value_name = "DIR", required_unless_present = "list")]
    dir: Option<PathBuf>,
    /// Stop keeping DIR current (its files stay).
    #[arg(long, requires = "dir")]
    forget: bool,
    /// List the directories this machine keeps current.
    #[arg(long, conflicts_with_all = ["dir", "forget"])]
    list: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// The host tree to show (default: STATE.host beside the state file).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// The program and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    cmd: Vec<String>,
}

fn nodes_word(k: NodeKind) -> &'static str {
    match k {
        NodeKind::Chardev => "character devices",
        NodeKind::Placeholder => "placeholder files",
    }
}

fn print_roots(roots: &[HostRoot], output: Output) {
    match output {
        Output::Json => {
            let items: Vec<serde_json::Value> = roots
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "dir": r.dir.display().to_string(),
                        "nodes": match r.nodes {
                            NodeKind::Chardev => "chardev",
                            NodeKind::Placeholder => "placeholder",
                        },
                        "why": r.why,
                    })
                })
                .collect();
            println!("{}", serde_json::Value::Array(items));
        }
        Output::Text => {
            for r in roots {
                let why = if r.why.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", r.why)
                };
                println!(
                    "{}: /dev nodes are {}{why}",
                    r.dir.display(),
                    nodes_word(r.nodes)
                );
            }
        }
    }
}

pub fn root(sim: &SimMachine, a: RootArgs) -> Result<(), Fail> {
    let err = |e: mig_sim::host::HostError| (1, e.to_string());
    if a.list {
        print_roots(&sim.host_roots().map_err(err)?, a.output);
        return Ok(());
    }
    let dir = a.dir.unwrap_or_default();
    if a.forget {
        if !sim.forget_host_root(&dir).map_err(err)? {
            return Err((
                2,
                format!("{} is not kept current by this machine", dir.display()),
            ));
        }
        return Ok(());
    }
    let r = sim.add_host_root(&dir).map_err(err)?;
    print_roots(&[r], a.output);
    Ok(())
}

/// The default tree of `sim exec`: `<state>.host`.
fn default_root(state: &Path) -> PathBuf {
    let mut p = state.as_os_str().to_owned();
    p.push(".host");
    p.into()
}

pub fn exec(sim: &SimMachine, a: ExecArgs) -> Result<(), Fail> {
    let state = std::path::absolute(sim.path()).map_err(|e| (1, e.to_string()))?;
    let root = a.root.unwrap_or_else(|| default_root(&state));
    let r = sim.add_host_root(&root).map_err(|e| (1, e.to_string()))?;
    let lib = crate::shim_path::nvml_lib().map_err(|e| (1, e))?;
    let libdir = lib.parent().unwrap_or(Path::new("/")).to_path_buf();
    let me = std::env::current_exe().map_err(|e| (1, format!("cannot locate migctl: {e}")))?;
    let me = me.canonicalize().unwrap_or(me);
    let (bindir, not_shown) = mig_sim::view::enter(&r.dir, &[("nvidia-smi", me.as_path())])
        .map_err(|e| (1, e.to_string()))?;
    if !not_shown.is_empty() {
        let list: Vec<String> = not_shown
            .iter()
            .map(|n| format!("{} ({})", n.target, n.why))
            .collect();
        eprintln!("migctl sim exec: not shown: {}", list.join("; "));
    }
    let prepend = |var: &str, first: &Path| {
        let mut v = first.as_os_str().to_owned();
        if let Some(old) = std::env::var_os(var).filter(|o| !o.is_empty()) {
            v.push(":");
            v.push(old);
        }
        v
    };
    let err = std::process::Command::new(&a.cmd[0])
        .args(&a.cmd[1..])
        .env("MIGCTL_SIM_STATE", &state)
        .env("LD_LIBRARY_PATH", prepend("LD_LIBRARY_PATH", &libdir))
        .env("PATH", prepend("PATH", &bindir))
        .exec();
    Err((127, format!("cannot run {:?}: {err}", a.cmd[0])))
}

pub fn run_host(
    sim: &SimMachine,
    gpu: u32,
    mig: Option<(u32, u32)>,
    memory: u64,
    pid: Option<u32>,
    cmd: &[String],
) -> Result<(), Fail> {
    if let Some(pid) = pid {
        let pid = sim
            .register_host_process(&mig_model::GpuRef::Index(gpu), mig, pid, memory)
            .map_err(|e| (1, e.to_string()))?;
        println!("{pid}");
        return Ok(());
    }
    let code = sim
        .run_host_process(&mig_model::GpuRef::Index(gpu), mig, memory, cmd, |pid| {
            eprintln!(
                "migctl sim run: pid {pid} holds GPU {gpu}{}",
                match mig {
                    Some((gi, ci)) => format!(" GI {gi} CI {ci}"),
                    None => String::new(),
                }
            );
        })
        .map_err(|e| (1, e.to_string()))?;
    std::process::exit(code)
}
