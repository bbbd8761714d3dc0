//! nvidia-capabilities for MIG: the capability files under
//! `/proc/driver/nvidia/capabilities` and the `/dev/nvidia-caps/nvidia-capM`
//! nodes that stand for them (MIG User Guide, "Device Nodes and
//! Capabilities"). The driver creates the files; the nodes are made by
//! `nvidia-modprobe -f FILE` with the major of `nvidia-caps` in
//! `/proc/devices`, the minor in the file's `DeviceFileMinor` and the mode in
//! its `DeviceFileMode`.

use crate::node::{mig_devs, ClusterError, NodeFacts};
use mig_model::{ComputeInstanceId, GpuInstanceId, GpuSnapshot};
use serde::Serialize;

/// `DeviceFileMode` of `mig/config`: 0400 (the guide's example shows 256).
pub const CONFIG_MODE: u32 = 0o400;
/// `DeviceFileMode` of `mig/monitor` and of every GI/CI `access` file: 0444
/// (`cr--r--r--` in the guide's listing; 292 in the peers' CDI specs).
pub const ACCESS_MODE: u32 = 0o444;

/// Which capability a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Capability {
    /// Create and destroy MIG instances on any GPU.
    Config,
    /// Read MIG state of any GPU.
    Monitor,
    /// Run work on GPU instance `gi` of the GPU whose `/dev/nvidiaN` minor is `gpu`.
    GpuInstance { gpu: u32, gi: GpuInstanceId },
    /// Run work on compute instance `ci` of that GPU instance.
    ComputeInstance {
        gpu: u32,
        gi: GpuInstanceId,
        ci: ComputeInstanceId,
    },
}

/// One capability: its file and its device node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapNode {
    pub capability: Capability,
    /// `/proc/driver/nvidia/capabilities/gpu0/mig/gi1/access`.
    pub proc_file: String,
    /// `/dev/nvidia-caps/nvidia-cap12`.
    pub dev_path: String,
    pub major: u32,
    pub minor: u32,
    /// Permission bits (`DeviceFileMode`).
    pub mode: u32,
}

fn node(facts: &NodeFacts, capability: Capability, rel: String, minor: u32, mode: u32) -> CapNode {
    CapNode {
        capability,
        proc_file: format!("/proc/driver/nvidia/capabilities/{rel}"),
        dev_path: dev_path(minor),
        major: facts.majors.nvidia_caps,
        minor,
        mode,
    }
}

/// `/dev/nvidia-caps/nvidia-cap<minor>`.
pub fn dev_path(minor: u32) -> String {
    format!("/dev/nvidia-caps/nvidia-cap{minor}")
}

/// The `mig/config` and `mig/monitor` capabilities.
pub fn management_caps(facts: &NodeFacts) -> Result<Vec<CapNode>, ClusterError> {
    Ok(vec![
        node(
            facts,
            Capability::Config,
            "mig/config".into(),
            facts.minors.config()?,
            CONFIG_MODE,
        ),
        node(
            facts,
            Capability::Monitor,
            "mig/monitor".into(),
            facts.minors.monitor()?,
            ACCESS_MODE,
        ),
    ])
}

/// The GI and CI capabilities of every existing GPU instance and compute
/// instance, GPU by GPU, GI by GI ID, each GI before its CIs. A GI without
/// CIs has its own capability (and no MIG device).
pub fn instance_caps(
    gpus: &[GpuSnapshot],
    facts: &NodeFacts,
) -> Result<Vec<CapNode>, ClusterError> {
    let mut out = Vec::new();
    for g in gpus {
        let m = g.identity.minor;
        for gi in &g.layout.gpu_instances {
            let rel = format!("gpu{m}/mig/gi{}", gi.id.0);
            out.push(node(
                facts,
                Capability::GpuInstance { gpu: m, gi: gi.id },
                format!("{rel}/access"),
                facts.minors.gi(m, gi.id)?,
                ACCESS_MODE,
            ));
            for ci in &gi.compute_instances {
                out.push(node(
                    facts,
                    Capability::ComputeInstance {
                        gpu: m,
                        gi: gi.id,
                        ci: ci.id,
                    },
                    format!("{rel}/ci{}/access", ci.id.0),
                    facts.minors.ci(m, gi.id, ci.id)?,
                    ACCESS_MODE,
                ));
            }
        }
    }
    Ok(out)
}

/// Management capabilities, then every instance's.
pub fn all_caps(gpus: &[GpuSnapshot], facts: &NodeFacts) -> Result<Vec<CapNode>, ClusterError> {
    let mut v = management_caps(facts)?;
    v.extend(instance_caps(gpus, facts)?);
    Ok(v)
}

/// The two cap nodes of each MIG device (GI, then CI), as consumers pair
/// them: used by tests to tie this module to the others.
pub fn mig_device_caps(
    gpus: &[GpuSnapshot],
    facts: &NodeFacts,
) -> Result<Vec<(String, u32, u32)>, ClusterError> {
    let mut out = Vec::new();
    for g in gpus {
        for d in mig_devs(g)? {
            out.push((
                d.info.uuid.clone(),
                d.gi_minor(&facts.minors)?,
                d.ci_minor(&facts.minors)?,
            ));
        }
    }
    Ok(out)
}

/// `DeviceFileMinor` and `DeviceFileMode` of a capability file's text
/// (`DeviceFileMinor: 1`, `DeviceFileMode: 256`, `DeviceFileModify: 1`; the
/// mode is printed in decimal).
pub fn parse_cap_file(text: &str) -> Option<(u32, u32)> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|v| v.trim().parse::<u32>().ok())
    };
    Some((field("DeviceFileMinor:")?, field("DeviceFileMode:")?))
}

/// What is at a node's path on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    Missing,
    CharDevice {
        major: u32,
        minor: u32,
        mode: u32,
    },
    /// Something that is not a character device.
    Other,
}

/// How a node on the host compares with what it should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum NodeStatus {
    Ok,
    Missing,
    /// A character device with other numbers: it grants something else.
    WrongNumbers {
        major: u32,
        minor: u32,
    },
    /// The right device with other permission bits.
    WrongMode {
        mode: u32,
    },
    /// Not a character device.
    NotCharDevice,
}

impl NodeStatus {
    /// Compare a node with what is at its path.
    pub fn of(want: &CapNode, seen: Observed) -> NodeStatus {
        match seen {
            Observed::Missing => NodeStatus::Missing,
            Observed::Other => NodeStatus::NotCharDevice,
            Observed::CharDevice { major, minor, .. }
                if (major, minor) != (want.major, want.minor) =>
            {
                NodeStatus::WrongNumbers { major, minor }
            }
            Observed::CharDevice { mode, .. } if mode & 0o7777 != want.mode => {
                NodeStatus::WrongMode {
                    mode: mode & 0o7777,
                }
            }
            Observed::CharDevice { .. } => NodeStatus::Ok,
        }
    }

    /// `ok`, `missing`, `wrong numbers 241:13`, ...
    pub fn describe(self) -> String {
        match self {
            NodeStatus::Ok => "ok".into(),
            NodeStatus::Missing => "missing".into(),
            NodeStatus::WrongNumbers { major, minor } => format!("wrong numbers {major}:{minor}"),
            NodeStatus::WrongMode { mode } => format!("wrong mode {mode:04o}"),
            NodeStatus::NotCharDevice => "not a character device".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::testing::gpu;

    /// Proves each existing GI and CI (and only those) gets a capability with
    /// the model's minor, the guide's paths, and mode 0444; a GI without CIs
    /// still has its GI capability.
    #[test]
    fn caps_of_existing_instances() {
        // A100-40GB: 3g.20gb (profile 9) at 4 with CIs 1c (id 0) twice, and
        // a 1g.5gb (19) at 0 with no CI.
        let g = gpu("a100-sxm4-40gb", 1, Some(&[(9, 4, &[0, 0]), (19, 0, &[])]));
        let facts = NodeFacts::simulated("580.159.04");
        let caps = instance_caps(std::slice::from_ref(&g), &facts).unwrap();
        let got: Vec<(&str, u32)> = caps
            .iter()
            .map(|c| (c.proc_file.as_str(), c.minor))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "/proc/driver/nvidia/capabilities/gpu1/mig/gi2/access",
                    3 + 135 + 18
                ),
                (
                    "/proc/driver/nvidia/capabilities/gpu1/mig/gi2/ci0/access",
                    3 + 135 + 19
                ),
                (
                    "/proc/driver/nvidia/capabilities/gpu1/mig/gi2/ci1/access",
                    3 + 135 + 20
                ),
                (
                    "/proc/driver/nvidia/capabilities/gpu1/mig/gi7/access",
                    3 + 135 + 63
                ),
            ]
        );
        assert!(caps.iter().all(|c| c.mode == 0o444 && c.major == 241));
        assert_eq!(caps[0].dev_path, "/dev/nvidia-caps/nvidia-cap156");
        let all = all_caps(std::slice::from_ref(&g), &facts).unwrap();
        assert_eq!((all[0].minor, all[0].mode), (1, 0o400));
        assert_eq!((all[1].minor, all[1].mode), (2, 0o444));
    }

    /// Proves the caps list, the CDI spec and the Slurm records give every
    /// MIG device the same GI and CI nodes, on several layouts (two GPUs, a
    /// CI smaller than its GI, an empty MIG GPU), with the model's minors and
    /// with minors read from a driver table.
    #[test]
    fn one_minor_source_for_all_exports() {
        use crate::{cdi, slurm, Minors};
        let gpus = [
            gpu(
                "a100-sxm4-40gb",
                0,
                Some(&[(9, 0, &[0, 0, 0]), (14, 4, &[1])]),
            ),
            gpu("h100-sxm5-80gb", 1, Some(&[])),
            gpu("h100-sxm5-80gb", 2, Some(&[(19, 6, &[0]), (5, 0, &[3])])),
        ];
        let model = NodeFacts::simulated("580.159.04");
        let mut table = String::from("config 1\nmonitor 2\n");
        for c in instance_caps(&gpus, &model).unwrap() {
            let key = c
                .proc_file
                .trim_start_matches("/proc/driver/nvidia/capabilities/")
                .replace("/mig/", "/");
            table.push_str(&format!("{key} {}\n", c.minor));
        }
        let read = NodeFacts {
            minors: Minors::parse_table(&table).unwrap(),
            ..model.clone()
        };
        for facts in [&model, &read] {
            let pairs = mig_device_caps(&gpus, facts).unwrap();
            assert_eq!(pairs.len(), 6);
            let spec = cdi::spec(&gpus, facts, &cdi::CdiOptions::default())
                .unwrap()
                .spec;
            let sl = slurm::export(&gpus, facts, &slurm::SlurmOptions::default()).unwrap();
            let instance = instance_caps(&gpus, facts).unwrap();
            for (uuid, gi, ci) in &pairs {
                let d = spec.devices.iter().find(|d| &d.name == uuid).unwrap();
                let m: Vec<u32> = d
                    .container_edits
                    .device_nodes
                    .iter()
                    .skip(1)
                    .map(|n| n.minor)
                    .collect();
                assert_eq!(m, [*gi, *ci]);
                let r = sl.records.iter().find(|r| &r.unique_id == uuid).unwrap();
                assert_eq!(r.files[1..], [dev_path(*gi), dev_path(*ci)]);
                assert!(
                    instance.iter().any(|c| c.minor == *gi)
                        && instance.iter().any(|c| c.minor == *ci)
                );
            }
        }
    }

    /// Proves the guide's `mig/config` capability file parses to minor 1, mode 0400.
    #[test]
    fn cap_file() {
        let t = "DeviceFileMinor: 1\nDeviceFileMode: 256\nDeviceFileModify: 1\n";
        assert_eq!(parse_cap_file(t), Some((1, 0o400)));
        assert_eq!(parse_cap_file("DeviceFileMinor: x\n"), None);
    }

    /// Proves the node check tells missing, foreign and mis-moded nodes apart.
    #[test]
    fn node_status() {
        let facts = NodeFacts::simulated("580.159.04");
        let c = &management_caps(&facts).unwrap()[1];
        let dev = |major, minor, mode| Observed::CharDevice { major, minor, mode };
        assert_eq!(NodeStatus::of(c, Observed::Missing), NodeStatus::Missing);
        assert_eq!(NodeStatus::of(c, dev(241, 2, 0o20444)), NodeStatus::Ok);
        assert_eq!(
            NodeStatus::of(c, dev(241, 3, 0o444)),
            NodeStatus::WrongNumbers {
                major: 241,
                minor: 3
            }
        );
        assert_eq!(
            NodeStatus::of(c, dev(241, 2, 0o666)),
            NodeStatus::WrongMode { mode: 0o666 }
        );
        assert_eq!(
            NodeStatus::of(c, Observed::Other),
            NodeStatus::NotCharDevice
        );
    }
}
