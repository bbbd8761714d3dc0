//! One scrape's reading of the machine: a consistent snapshot per GPU
//! through the backend, the free capacity the model computes from it, the
//! owners of the processes, and the config state. Pure data; encoding is
//! [`crate::encode`]'s.

use crate::attribution::{owner_of, Owner};
use crate::capacity::{self, Capacity};
use crate::config_state::{ConfigSource, ConfigState};
use crate::gpm::{GpmReader, GpmReading};
use mig_apply::journal::JournalFile;
use mig_model::backend::{Backend, DeviceInfo, GpuRef, GpuSnapshot};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What the exporter reads besides the GPUs, fixed for its lifetime.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `Hostname` label's value (`NODE_NAME`, else the host's name, as
    /// dcgm-exporter does); see [`hostname`].
    pub hostname: String,
    /// Where process cgroups and environments are read (`/proc`).
    pub proc_root: PathBuf,
    /// `--config-file`/`-c`: the config whose state is reported.
    pub config: Option<ConfigSource>,
    /// The apply journal whose unfinished state is reported.
    pub journal: Option<JournalFile>,
}

impl Options {
    /// No config, no journal, `/proc`, this host's name.
    pub fn new() -> Options {
        Options {
            hostname: hostname(),
            proc_root: PathBuf::from("/proc"),
            config: None,
            journal: None,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options::new()
    }
}

/// The node name dcgm-exporter puts in its `Hostname` label: `NODE_NAME`
/// when set, else the kernel's host name.
pub fn hostname() -> String {
    if let Some(n) = std::env::var("NODE_NAME").ok().filter(|n| !n.is_empty()) {
        return n;
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A process on a GPU or MIG device, with its owner where its cgroup names one.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessReading {
    /// The backend's process record.
    pub process: mig_model::backend::ProcessInfo,
    /// Its Slurm job or pod.
    pub owner: Owner,
}

/// One GPU as one scrape read it.
#[derive(Debug, Clone)]
pub struct GpuReading {
    /// The GPU's state at one moment.
    pub snapshot: GpuSnapshot,
    /// Free capacity; `None` with MIG disabled or a board the catalog lacks.
    pub capacity: Option<Capacity>,
    /// Its processes with their owners.
    pub processes: Vec<ProcessReading>,
    /// Whether the board has GPM (Hopper and later); `false` means
    /// "not available", and no utilization series is emitted.
    pub gpm_supported: bool,
    /// GPM utilization per GPU instance (by GI ID), where a previous sample
    /// makes an interval; absent otherwise.
    pub gpm: Vec<(u32, GpmReading)>,
}

/// A GPU the machine listed whose state could not be read (it vanished, or
/// the driver failed): reported as `migctl_gpu_up 0`.
#[derive(Debug, Clone)]
pub struct GpuFailure {
    /// The GPU as the machine listed it.
    pub device: DeviceInfo,
    /// Why its state could not be read.
    pub error: String,
}

/// Everything one scrape read.
#[derive(Debug, Clone)]
pub struct Scrape {
    /// The `Hostname` label.
    pub hostname: String,
    /// `Err` when the machine could not be read at all (no GPU list).
    pub machine: Result<(), String>,
    /// The GPUs read.
    pub gpus: Vec<GpuReading>,
    /// The GPUs listed but not read.
    pub failed: Vec<GpuFailure>,
    /// The config's state, with `--config-file`.
    pub config: Option<ConfigState>,
    /// `Some(true)` when an apply journal is unfinished; `None` when no
    /// journal is watched or it cannot be read.
    pub journal_unfinished: Option<bool>,
    /// How long reading took.
    pub duration: Duration,
}

/// Read the machine once: the GPU list, then one snapshot per GPU.
pub fn collect(backend: &dyn Backend, gpm: &GpmReader, opts: &Options) -> Scrape {
    let t0 = Instant::now();
    let mut scrape = Scrape {
        hostname: opts.hostname.clone(),
        machine: Ok(()),
        gpus: Vec::new(),
        failed: Vec::new(),
        config: None,
        journal_unfinished: None,
        duration: Duration::ZERO,
    };
    match backend.devices() {
        Err(e) => scrape.machine = Err(e.to_string()),
        Ok(devices) => {
            for d in devices {
                match backend.snapshot(&GpuRef::Index(d.index)) {
                    Ok(s) => scrape.gpus.push(reading(backend, gpm, opts, s)),
                    Err(e) => scrape.failed.push(GpuFailure {
                        device: d,
                        error: e.to_string(),
                    }),
                }
            }
        }
    }
    gpm.forget_except(scrape.gpus.iter().map(|g| &g.snapshot));
    if let Some(src) = &opts.config {
        let snaps: Vec<GpuSnapshot> = scrape.gpus.iter().map(|g| g.snapshot.clone()).collect();
        scrape.config = Some(src.check(&snaps, scrape.machine.is_ok() && scrape.failed.is_empty()));
    }
    if let Some(j) = &opts.journal {
        scrape.journal_unfinished = mig_apply::pending(j).ok().map(|p| p.is_some());
    }
    scrape.duration = t0.elapsed();
    scrape
}

fn reading(backend: &dyn Backend, gpm: &GpmReader, opts: &Options, s: GpuSnapshot) -> GpuReading {
    let capacity = capacity::of(&s);
    let processes = s
        .processes
        .iter()
        .map(|p| ProcessReading {
            process: p.clone(),
            owner: owner_of(&opts.proc_root, p.pid),
        })
        .collect();
    let (gpm_supported, gpm_values) = gpm.read(backend, &s);
    GpuReading {
        snapshot: s,
        capacity,
        processes,
        gpm_supported,
        gpm: gpm_values,
    }
}
