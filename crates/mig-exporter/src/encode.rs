//! From a [`Scrape`] to metric families, and from those to Prometheus's
//! text format through `prometheus-client`. Every name, type and unit here
//! is listed in `docs/exporter.md`.

use crate::attribution::Owner;
use crate::collect::{GpuReading, Scrape};
use mig_model::backend::{DeviceInfo, GpuIdentity};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// One label set: names in the order they are printed.
pub type Labels = Vec<(&'static str, String)>;

/// A sample's value: integers print plain, ratios and seconds as floats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// A count, bytes, or 0/1.
    Int(u64),
    /// A ratio or seconds.
    Float(f64),
}

/// One metric family: all of it is a gauge.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The metric's name.
    pub name: &'static str,
    /// Its `# HELP` text.
    pub help: &'static str,
    /// Its samples.
    pub samples: Vec<(Labels, Value)>,
}

const MIB: u64 = 1 << 20;

struct Families(Vec<Family>);

impl Families {
    fn add(&mut self, name: &'static str, help: &'static str, labels: Labels, v: Value) {
        match self.0.iter_mut().find(|f| f.name == name) {
            Some(f) => f.samples.push((labels, v)),
            None => self.0.push(Family {
                name,
                help,
                samples: vec![(labels, v)],
            }),
        }
    }
}

fn b(v: bool) -> Value {
    Value::Int(v as u64)
}

/// dcgm-exporter's GPU labels, in its order: `gpu`, `UUID`, `pci_bus_id`,
/// `device`, `modelName`, then `Hostname` (when known).
fn gpu_labels(index: u32, uuid: &str, bus: &str, minor: u32, name: &str, host: &str) -> Labels {
    let mut l: Labels = vec![
        ("gpu", index.to_string()),
        ("UUID", uuid.to_string()),
        ("pci_bus_id", bus.to_string()),
        ("device", format!("nvidia{minor}")),
        ("modelName", name.to_string()),
    ];
    if !host.is_empty() {
        l.push(("Hostname", host.to_string()));
    }
    l
}

fn of_identity(i: &GpuIdentity, host: &str) -> Labels {
    gpu_labels(i.index, &i.uuid, &i.pci_bus_id, i.minor, &i.name, host)
}

fn of_device(d: &DeviceInfo, host: &str) -> Labels {
    gpu_labels(d.index, &d.uuid, &d.pci_bus_id, d.minor, &d.name, host)
}

fn with(mut l: Labels, more: &[(&'static str, String)]) -> Labels {
    l.extend(more.iter().cloned());
    l
}

/// The metric families of one scrape, in a fixed order.
pub fn families(s: &Scrape) -> Vec<Family> {
    let mut f = Families(Vec::new());
    f.add(
        "migctl_up",
        "1 when the machine's GPUs could be listed through the backend, else 0.",
        vec![],
        b(s.machine.is_ok()),
    );
    f.add(
        "migctl_scrape_duration_seconds",
        "Time this scrape took to read the machine, seconds.",
        vec![],
        Value::Float(s.duration.as_secs_f64()),
    );
    for g in &s.gpus {
        gpu(&mut f, g, &s.hostname);
    }
    for x in &s.failed {
        f.add(
            "migctl_gpu_up",
            "1 when the GPU's state was read in this scrape, 0 when it was listed but could not be read (it vanished or the driver failed).",
            of_device(&x.device, &s.hostname),
            b(false),
        );
    }
    if let Some(c) = &s.config {
        let l = vec![("config", c.name.clone())];
        f.add(
            "migctl_config_valid",
            "1 when the config file reads, parses and validates on this machine, else 0.",
            l.clone(),
            b(c.valid.is_ok()),
        );
        if let Some(a) = c.applied {
            f.add(
                "migctl_config_applied",
                "1 when every selected GPU holds the config (as `migctl assert`), else 0.",
                l.clone(),
                b(a),
            );
            f.add(
                "migctl_config_mismatched_gpus",
                "Selected GPUs that do not hold the config.",
                l,
                Value::Int(c.mismatched_gpus.into()),
            );
        }
    }
    if let Some(u) = s.journal_unfinished {
        f.add(
            "migctl_apply_journal_unfinished",
            "1 when an interrupted apply left its journal unfinished, else 0.",
            vec![],
            b(u),
        );
    }
    f.0
}

fn gpu(f: &mut Families, g: &GpuReading, host: &str) {
    let s = &g.snapshot;
    let gl = of_identity(&s.identity, host);
    f.add(
        "migctl_gpu_up",
        "1 when the GPU's state was read in this scrape, 0 when it was listed but could not be read (it vanished or the driver failed).",
        gl.clone(),
        b(true),
    );
    f.add(
        "migctl_gpu_info",
        "Always 1; the labels say which board it is (`model` is the catalog's slug, empty when the catalog lacks the board).",
        with(gl.clone(), &[("model", s.identity.model.clone().unwrap_or_default())]),
        Value::Int(1),
    );
    f.add(
        "migctl_gpu_mig_mode_current",
        "1 when MIG mode is enabled now, else 0.",
        gl.clone(),
        b(s.mode.current),
    );
    f.add(
        "migctl_gpu_mig_mode_pending",
        "1 when MIG mode is enabled after the next GPU reset, else 0.",
        gl.clone(),
        b(s.mode.pending),
    );
    f.add(
        "migctl_gpu_memory_total_bytes",
        "Framebuffer memory of the GPU, bytes.",
        gl.clone(),
        Value::Int(s.identity.memory_total_bytes),
    );
    let used_mib: u64 = if s.mode.current {
        // each GPU instance's memory, read once (its MIG devices share it)
        let mut seen = std::collections::BTreeMap::new();
        for d in &s.mig_devices {
            seen.entry(d.gi.0).or_insert(d.memory_used_mb);
        }
        seen.values().sum()
    } else {
        s.processes.iter().map(|p| p.used_memory_mb).sum()
    };
    f.add(
        "migctl_gpu_memory_used_bytes",
        "Framebuffer memory in use, bytes: with MIG on, the sum over GPU instances; with MIG off, the processes' memory.",
        gl.clone(),
        Value::Int(used_mib * MIB),
    );
    f.add(
        "migctl_gpu_gpm_supported",
        "1 when the GPU has GPM (Hopper and later) and per-instance utilization is reported, 0 when it is not available.",
        gl.clone(),
        b(g.gpm_supported),
    );
    if let Some(c) = &g.capacity {
        f.add(
            "migctl_gpu_memory_slices",
            "Memory slices of the GPU.",
            gl.clone(),
            Value::Int(c.slices_total.into()),
        );
        f.add(
            "migctl_gpu_memory_slices_used",
            "Memory slices under a GPU instance.",
            gl.clone(),
            Value::Int(c.slices_used.into()),
        );
        f.add(
            "migctl_gpu_memory_slices_stranded",
            "Free memory slices that no GPU instance profile can use with the current layout.",
            gl.clone(),
            Value::Int(c.slices_stranded.into()),
        );
        for (name, id, more) in &c.more {
            f.add(
                "migctl_gpu_profile_free_instances",
                "How many more GPU instances of the profile fit beside the current layout (as `migctl fit -i N`).",
                with(
                    gl.clone(),
                    &[("GPU_I_PROFILE", name.clone()), ("profile_id", id.to_string())],
                ),
                Value::Int((*more).into()),
            );
        }
    }
    let model = mig_plan::picture::model_of(s);
    for gi in &s.layout.gpu_instances {
        let pname = model
            .and_then(|m| mig_model::engine::gi_profile(m, gi.profile_id).ok())
            .map(|p| p.name.clone())
            .unwrap_or_else(|| format!("profile-{}", gi.profile_id.0));
        let il = with(
            gl.clone(),
            &[
                ("GPU_I_PROFILE", pname.clone()),
                ("GPU_I_ID", gi.id.0.to_string()),
            ],
        );
        f.add(
            "migctl_gpu_instance_info",
            "Always 1; one per GPU instance, its profile ID and placement (start and size in placement-grid units) in labels.",
            with(
                il.clone(),
                &[
                    ("profile_id", gi.profile_id.0.to_string()),
                    ("placement_start", gi.placement.start.to_string()),
                    ("placement_size", gi.placement.size.to_string()),
                ],
            ),
            Value::Int(1),
        );
        if let Some((_, r)) = g.gpm.iter().find(|(id, _)| *id == gi.id.0) {
            f.add(
                "migctl_gpu_instance_sm_active_ratio",
                "GPM SM activity of the GPU instance since the previous scrape, 0 to 1 (Hopper and later).",
                il.clone(),
                Value::Float(r.sm_active),
            );
            f.add(
                "migctl_gpu_instance_dram_active_ratio",
                "GPM DRAM bandwidth use of the GPU instance since the previous scrape, 0 to 1 (Hopper and later).",
                il.clone(),
                Value::Float(r.dram_active),
            );
        }
        for ci in &gi.compute_instances {
            let Some(dev) = s
                .mig_devices
                .iter()
                .find(|d| d.gi == gi.id && d.ci == ci.id)
            else {
                continue;
            };
            let ml = with(
                il.clone(),
                &[
                    ("ci_id", ci.id.0.to_string()),
                    ("mig_uuid", dev.uuid.clone()),
                ],
            );
            f.add(
                "migctl_compute_instance_info",
                "Always 1; one per compute instance (MIG device), with its GPU instance's profile and placement and its own profile, placement and MIG UUID in labels.",
                with(
                    ml.clone(),
                    &[
                        ("profile_id", gi.profile_id.0.to_string()),
                        ("placement_start", gi.placement.start.to_string()),
                        ("placement_size", gi.placement.size.to_string()),
                        ("ci_profile", dev.name.trim_start_matches("MIG ").to_string()),
                        ("ci_profile_id", ci.profile_id.0.to_string()),
                        ("ci_placement_start", ci.placement.start.to_string()),
                        ("ci_placement_size", ci.placement.size.to_string()),
                        ("mig_index", dev.index.to_string()),
                    ],
                ),
                Value::Int(1),
            );
            let total = dev.memory_mb * MIB;
            let used = dev.memory_used_mb * MIB;
            f.add(
                "migctl_mig_device_memory_total_bytes",
                "Framebuffer of the MIG device (its GPU instance's), bytes.",
                ml.clone(),
                Value::Int(total),
            );
            f.add(
                "migctl_mig_device_memory_used_bytes",
                "Framebuffer in use on the MIG device (its GPU instance's), bytes.",
                ml.clone(),
                Value::Int(used),
            );
            f.add(
                "migctl_mig_device_memory_free_bytes",
                "Framebuffer free on the MIG device (its GPU instance's), bytes.",
                ml.clone(),
                Value::Int(total.saturating_sub(used)),
            );
            let n = g
                .processes
                .iter()
                .filter(|p| p.process.gi == Some(gi.id) && p.process.ci == Some(ci.id))
                .count() as u64;
            f.add(
                "migctl_mig_device_processes",
                "Processes running on the MIG device.",
                ml.clone(),
                Value::Int(n),
            );
            f.add(
                "migctl_mig_device_busy",
                "1 when a process runs on the MIG device, else 0.",
                ml,
                b(n > 0),
            );
        }
    }
    for p in &g.processes {
        let pi = &p.process;
        let mut l = gl.clone();
        if let (Some(gid), Some(cid)) = (pi.gi, pi.ci) {
            let prof = s
                .layout
                .gpu_instances
                .iter()
                .find(|x| x.id == gid)
                .and_then(|x| {
                    model.and_then(|m| mig_model::engine::gi_profile(m, x.profile_id).ok())
                })
                .map(|p| p.name.clone())
                .unwrap_or_default();
            let uuid = s
                .mig_devices
                .iter()
                .find(|d| d.gi == gid && d.ci == cid)
                .map(|d| d.uuid.clone())
                .unwrap_or_default();
            l.extend([
                ("GPU_I_PROFILE", prof),
                ("GPU_I_ID", gid.0.to_string()),
                ("ci_id", cid.0.to_string()),
                ("mig_uuid", uuid),
            ]);
        }
        l.push(("pid", pi.pid.to_string()));
        l.push(("name", pi.name.clone()));
        match &p.owner {
            Owner::SlurmJob(j) => l.push(("slurm_job", j.clone())),
            Owner::Pod(u) => l.push(("pod_uid", u.clone())),
            Owner::Unknown => {}
        }
        f.add(
            "migctl_process_memory_used_bytes",
            "Memory the process uses on its GPU or MIG device, bytes; its Slurm job or Kubernetes pod in labels where its cgroup (or, for Slurm, its environment) names one.",
            l,
            Value::Int(pi.used_memory_mb * MIB),
        );
    }
}

#[derive(Debug)]
struct ScrapeCollector(Vec<Family>);

impl Collector for ScrapeCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for fam in &self.0 {
            let mut m = enc.encode_descriptor(fam.name, fam.help, None, MetricType::Gauge)?;
            for (labels, v) in &fam.samples {
                let e = m.encode_family(labels)?;
                match v {
                    Value::Int(i) => ConstGauge::new(*i as i64).encode(e)?,
                    Value::Float(x) => ConstGauge::new(*x).encode(e)?,
                }
            }
        }
        Ok(())
    }
}

/// The Content-Type of [`encode`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The scrape in Prometheus's text exposition format 0.0.4, whole (the
/// caller sends it only after this returns).
pub fn encode(s: &Scrape) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ScrapeCollector(families(s))));
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)?;
    Ok(out)
}
