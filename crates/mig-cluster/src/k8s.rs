//! Kubernetes: the extended resources NVIDIA's device plugin advertises and
//! the node labels gpu-feature-discovery (GFD) writes, for a MIG strategy.
//!
//! The rules are read from NVIDIA/k8s-device-plugin at commit 1b826acc
//! (v0.20.0, 2026-08-19): labels from `internal/lm/{nvml,resource,
//! mig-strategy,machine-type,vgpu}.go`, resources from
//! `internal/rm/{rm,device_map}.go`. The goldens under
//! `crates/migctl/tests/golden/k8s/` were checked against what that GFD
//! wrote for the same simulated machines (`../shared/reference/peers`).
//!
//! Where GFD's answer depends on Go's map order (two board models on one
//! node write the same `nvidia.com/gpu.*` keys), migctl lets the GPU with the
//! lowest index win and says so in a note.

use crate::node::{gpu_model, mig_devs, ClusterError, GpuState, MigDev, NodeFacts};
use mig_model::GpuSnapshot;
use serde::Serialize;
use std::collections::BTreeMap;

/// `--mig-strategy` of the device plugin and GFD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    None,
    Single,
    Mixed,
}

impl Strategy {
    pub fn parse(s: &str) -> Option<Strategy> {
        match s {
            "none" => Some(Strategy::None),
            "single" => Some(Strategy::Single),
            "mixed" => Some(Strategy::Mixed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::None => "none",
            Strategy::Single => "single",
            Strategy::Mixed => "mixed",
        }
    }
}

/// What GFD cannot read from a GPU snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K8sOptions {
    pub strategy: Strategy,
    /// `nvidia.com/gpu.mode`: `compute` for 3D-controller boards (every
    /// datacenter MIG GPU), `graphics` for VGA ones.
    pub gpu_mode: String,
}

/// Labels, resources, and notes saying what they hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct K8sExport {
    pub strategy: Strategy,
    pub labels: BTreeMap<String, String>,
    /// Extended resource name to count (empty when the plugin refuses the node).
    pub resources: BTreeMap<String, u32>,
    pub notes: Vec<String>,
}

/// GFD's `sanitise`: drop characters outside `[A-Za-z0-9-_. ]`, then join
/// the space-separated fields with `-`.
pub fn sanitise(s: &str) -> String {
    let kept: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '))
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join("-")
}

/// The device plugin's name for a MIG profile (`+` becomes `.`:
/// `nvmlMigDevice.GetName`).
pub fn resource_profile(d: &MigDev<'_>) -> String {
    d.profile().replace('+', ".")
}

/// `getArchFamily`.
fn arch_family(major: u32, minor: u32) -> &'static str {
    match major {
        1 => "tesla",
        2 => "fermi",
        3 => "kepler",
        5 => "maxwell",
        6 => "pascal",
        7 if minor < 5 => "volta",
        7 => "turing",
        8 if minor < 9 => "ampere",
        8 => "ada-lovelace",
        9 => "hopper",
        10 | 12 => "blackwell",
        13 => "rubin",
        _ => "undefined",
    }
}

struct Labels<'a> {
    map: &'a mut BTreeMap<String, String>,
    prefix: String,
}

impl Labels<'_> {
    fn set(&mut self, suffix: &str, v: impl ToString) {
        self.map
            .insert(format!("{}.{suffix}", self.prefix), v.to_string());
    }
}

/// The labels of the full-GPU labeler for one board model.
fn full_gpu_labels(
    map: &mut BTreeMap<String, String>,
    g: &GpuSnapshot,
    count: u32,
    sharing: bool,
) -> Result<(), ClusterError> {
    let model = gpu_model(g)?;
    let mut l = Labels {
        map,
        prefix: "nvidia.com/gpu".into(),
    };
    l.set("product", sanitise(&g.identity.name));
    l.set("count", count);
    l.set("replicas", u32::from(sharing));
    l.set("sharing-strategy", "none");
    let mib = g.identity.memory_total_bytes / (1024 * 1024);
    if mib != 0 {
        l.set("memory", mib);
    }
    let [major, minor] = model.compute_capability;
    if major != 0 {
        l.set("family", arch_family(major, minor));
        l.set("compute.major", major);
        l.set("compute.minor", minor);
    }
    Ok(())
}

/// The labels of a MIG resource (`NewMIGResourceLabeler`).
fn mig_labels(map: &mut BTreeMap<String, String>, resource: &str, d: &MigDev<'_>, count: u32) {
    let mut l = Labels {
        map,
        prefix: resource.into(),
    };
    l.set(
        "product",
        format!(
            "{}-MIG-{}",
            sanitise(&d.gpu.identity.name),
            sanitise(&resource_profile(d))
        ),
    );
    l.set("count", count);
    l.set("replicas", 1);
    l.set("sharing-strategy", "none");
    l.set("memory", d.info.memory_mb);
    l.set("multiprocessors", d.info.sm);
    l.set("slices.gi", d.gi_profile.slices);
    l.set("slices.ci", d.ci_profile.slices);
    l.set("engines.copy", d.info.ce);
    l.set("engines.decoder", d.info.dec);
    l.set("engines.encoder", d.info.enc);
    l.set("engines.jpeg", d.info.jpeg);
    l.set("engines.ofa", d.info.ofa);
}

/// MIG devices grouped by resource profile name, in first-seen order.
fn by_profile<'a>(devs: &[MigDev<'a>]) -> Vec<(String, MigDev<'a>, u32)> {
    let mut out: Vec<(String, MigDev<'a>, u32)> = Vec::new();
    for d in devs {
        let name = resource_profile(d);
        match out.iter_mut().find(|(n, _, _)| *n == name) {
            Some((_, _, c)) => *c += 1,
            None => out.push((name, d.clone(), 1)),
        }
    }
    out
}

/// Why the single strategy is invalid on this node, as GFD says it.
fn single_invalid(gpus: &[GpuSnapshot], devs: &[MigDev<'_>]) -> Option<&'static str> {
    let enabled: Vec<&GpuSnapshot> = gpus.iter().filter(|g| g.mode.current).collect();
    if enabled
        .iter()
        .any(|g| GpuState::of(g) == GpuState::MigEmpty)
    {
        return Some("at least one MIG device is enabled but empty");
    }
    if enabled.len() != gpus.len() {
        return Some("devices with MIG enabled and disable detected");
    }
    if by_profile(devs).len() != 1 {
        return Some("more than one MIG device type present on node");
    }
    None
}

/// Labels and resources for the node.
pub fn export(
    gpus: &[GpuSnapshot],
    facts: &NodeFacts,
    opts: &K8sOptions,
) -> Result<K8sExport, ClusterError> {
    let mut labels = BTreeMap::new();
    let mut notes = crate::node::summary(gpus);
    let mut devs = Vec::new();
    for g in gpus {
        devs.extend(mig_devs(g)?);
    }
    if gpus.is_empty() {
        notes.push("no GPU: gpu-feature-discovery writes no label".into());
        return Ok(K8sExport {
            strategy: opts.strategy,
            labels,
            resources: BTreeMap::new(),
            notes,
        });
    }
    labels.insert("nvidia.com/gpu.machine".into(), sanitise(&facts.machine));
    version_labels(&mut labels, facts, &mut notes);
    // Every board the catalog knows is MIG-capable.
    labels.insert("nvidia.com/mig.capable".into(), "true".into());
    labels.insert("nvidia.com/mps.capable".into(), "false".into());
    gpu_labels(&mut labels, gpus, &mut notes)?;
    match opts.strategy {
        Strategy::None => {}
        Strategy::Single => {
            labels.insert("nvidia.com/mig.strategy".into(), "single".into());
            if gpus.iter().any(|g| g.mode.current) {
                match single_invalid(gpus, &devs) {
                    Some(why) => {
                        let first = gpus.iter().find(|g| g.mode.current).unwrap_or(&gpus[0]);
                        let mut l = Labels {
                            map: &mut labels,
                            prefix: "nvidia.com/gpu".into(),
                        };
                        l.set(
                            "product",
                            format!("{}-MIG-INVALID", sanitise(&first.identity.name)),
                        );
                        l.set("count", 0);
                        l.set("replicas", 0);
                        l.set("sharing-strategy", "");
                        l.set("memory", 0);
                        notes.push(format!("single strategy invalid here: {why}"));
                    }
                    None => {
                        for (_, d, n) in by_profile(&devs) {
                            mig_labels(&mut labels, "nvidia.com/gpu", &d, n);
                        }
                    }
                }
            }
        }
        Strategy::Mixed => {
            labels.insert("nvidia.com/mig.strategy".into(), "mixed".into());
            for (name, d, n) in by_profile(&devs) {
                mig_labels(&mut labels, &format!("nvidia.com/mig-{name}"), &d, n);
            }
            notes.push(
                "mixed: nvidia.com/gpu.count counts physical GPUs (k8s-device-plugin#738)".into(),
            );
        }
    }
    labels.insert("nvidia.com/gpu.mode".into(), opts.gpu_mode.clone());
    labels.insert("nvidia.com/vgpu.present".into(), "false".into());
    let resources = resources(gpus, &devs, opts.strategy, &mut notes);
    Ok(K8sExport {
        strategy: opts.strategy,
        labels,
        resources,
        notes,
    })
}

fn version_labels(
    labels: &mut BTreeMap<String, String>,
    facts: &NodeFacts,
    notes: &mut Vec<String>,
) {
    let v = &facts.driver_version;
    let parts: Vec<&str> = v.split('.').collect();
    if !(2..=3).contains(&parts.len()) {
        notes.push(format!(
            "driver version {v:?} is not X.Y[.Z]: no version labels"
        ));
        return;
    }
    let rev = parts.get(2).copied().unwrap_or("");
    let mut set = |k: &str, val: &str| {
        labels.insert(format!("nvidia.com/{k}"), val.to_string());
    };
    set("cuda.driver.major", parts[0]);
    set("cuda.driver.minor", parts[1]);
    set("cuda.driver.rev", rev);
    set("cuda.driver-version.major", parts[0]);
    set("cuda.driver-version.minor", parts[1]);
    set("cuda.driver-version.revision", rev);
    set("cuda.driver-version.full", v);
    match facts.cuda_version {
        Some((ma, mi)) => {
            set("cuda.runtime.major", &ma.to_string());
            set("cuda.runtime.minor", &mi.to_string());
            set("cuda.runtime-version.major", &ma.to_string());
            set("cuda.runtime-version.minor", &mi.to_string());
            set("cuda.runtime-version.full", &format!("{ma}.{mi}"));
        }
        None => notes.push("CUDA driver version unknown: no cuda.runtime labels".into()),
    }
}

/// `newGPULabelers`: one labeler per board model; MIG-enabled boards first,
/// without sharing (replicas 0), then MIG-disabled ones, which override.
fn gpu_labels(
    labels: &mut BTreeMap<String, String>,
    gpus: &[GpuSnapshot],
    notes: &mut Vec<String>,
) -> Result<(), ClusterError> {
    let mut names: Vec<&str> = Vec::new();
    for g in gpus {
        if !names.contains(&g.identity.name.as_str()) {
            names.push(&g.identity.name);
        }
    }
    if names.len() > 1 {
        notes.push(format!(
            "several board models ({}): GFD writes nvidia.com/gpu.* for one of them, chosen by Go map order; here the lowest-index GPU's model wins within each group",
            names.join(", ")
        ));
    }
    let count = |name: &str| gpus.iter().filter(|g| g.identity.name == name).count() as u32;
    for mig_enabled in [true, false] {
        // Reverse, so the first model is written last and wins.
        for name in names.iter().rev() {
            let g = gpus
                .iter()
                .rev()
                .find(|g| g.identity.name == *name && g.mode.current == mig_enabled);
            if let Some(g) = g {
                full_gpu_labels(labels, g, count(name), !mig_enabled)?;
            }
        }
    }
    Ok(())
}

/// The device plugin's resources (`buildDeviceMapFromConfigResources`).
fn resources(
    gpus: &[GpuSnapshot],
    devs: &[MigDev<'_>],
    strategy: Strategy,
    notes: &mut Vec<String>,
) -> BTreeMap<String, u32> {
    let mut r = BTreeMap::new();
    let full = gpus.iter().filter(|g| !g.mode.current).count() as u32;
    let refuse = |notes: &mut Vec<String>, why: String| {
        notes.push(format!(
            "k8s-device-plugin --mig-strategy={} refuses this node (\"invalid MIG configuration\"): {why}; it advertises nothing",
            strategy.as_str()
        ));
        BTreeMap::new()
    };
    match strategy {
        Strategy::None => {
            r.insert("nvidia.com/gpu".into(), gpus.len() as u32);
        }
        Strategy::Single => {
            if let Some(g) = gpus.iter().find(|g| GpuState::of(g) == GpuState::MigEmpty) {
                return refuse(
                    notes,
                    format!("device {} has no MIG devices configured", g.identity.index),
                );
            }
            if by_profile(devs).len() > 1 {
                return refuse(
                    notes,
                    "more than one MIG device type present on node".into(),
                );
            }
            if full > 0 && !devs.is_empty() {
                return refuse(
                    notes,
                    "all devices on the node must be configured with the same migEnabled value"
                        .into(),
                );
            }
            r.insert("nvidia.com/gpu".into(), full + devs.len() as u32);
        }
        Strategy::Mixed => {
            if let Some(d) = devs
                .iter()
                .find(|d| d.ci_profile.slices != d.gi_profile.slices)
            {
                return refuse(
                    notes,
                    format!("MIG profile '{}' does not match any resource patterns (mixed registers only profiles whose CI spans the GI)", d.profile()),
                );
            }
            if full > 0 {
                r.insert("nvidia.com/gpu".into(), full);
            }
            for (name, _, n) in by_profile(devs) {
                r.insert(format!("nvidia.com/mig-{name}"), n);
            }
            for g in gpus
                .iter()
                .filter(|g| GpuState::of(g) == GpuState::MigEmpty)
            {
                notes.push(format!(
                    "device {} has no MIG devices configured (the plugin warns and goes on)",
                    g.identity.index
                ));
            }
        }
    }
    r
}

impl K8sExport {
    /// `key=value` lines, sorted, then `#` lines with the resources and notes.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.labels {
            s.push_str(&format!("{k}={v}\n"));
        }
        if self.resources.is_empty() {
            s.push_str(&format!(
                "# extended resources (k8s-device-plugin --mig-strategy={}): none\n",
                self.strategy.as_str()
            ));
        }
        for (k, n) in &self.resources {
            s.push_str(&format!(
                "# extended resource (k8s-device-plugin --mig-strategy={}): {k}: {n}\n",
                self.strategy.as_str()
            ));
        }
        for n in &self.notes {
            s.push_str(&format!("# {n}\n"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves GFD's sanitise: spaces to `-`, other characters dropped.
    #[test]
    fn sanitise_like_gfd() {
        assert_eq!(sanitise("NVIDIA A100-SXM4-40GB"), "NVIDIA-A100-SXM4-40GB");
        assert_eq!(sanitise("NVIDIA  H100 80GB HBM3"), "NVIDIA-H100-80GB-HBM3");
        assert_eq!(sanitise("a(b)+c"), "abc");
    }
}
