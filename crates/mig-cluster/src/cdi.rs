//! A CDI spec (Container Device Interface, cncf-tags/container-device-interface)
//! for the node's GPUs and MIG devices, in the shape `nvidia-ctk cdi generate`
//! writes (`../shared/reference/peers/*/cdi.yaml`): each MIG device named
//! twice, `<gpu>:<mig>` and `MIG-<uuid>`, with its parent `/dev/nvidiaN` and
//! its GI and CI cap nodes; an `all` device; the control nodes at the top.
//!
//! Where it differs from nvidia-ctk (and why) is in `docs/cluster.md`: every
//! node carries `type: c` and its minor (so a runtime can create a node that
//! is missing on the host, the gap of dra-driver-nvidia-gpu#787); a
//! `management` device holds `nvidia-cap1`/`nvidia-cap2` and every node, as
//! `nvidia-ctk cdi generate --mode=management` does in a spec of its own; no
//! driver-library mounts or hooks (migctl does not index driver files).

use crate::caps::{self, ACCESS_MODE};
use crate::node::{mig_devs, summary, ClusterError, GpuState, NodeFacts};
use mig_model::GpuSnapshot;
use serde::{Deserialize, Serialize};

/// The CDI version written: 0.5.0, as nvidia-ctk.
pub const CDI_VERSION: &str = "0.5.0";
/// Mode of `/dev/nvidiaN` and the control nodes (0666).
pub const GPU_NODE_MODE: u32 = 0o666;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spec {
    pub cdi_version: String,
    pub kind: String,
    pub devices: Vec<Device>,
    pub container_edits: ContainerEdits,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Device {
    pub name: String,
    pub container_edits: ContainerEdits,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerEdits {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_nodes: Vec<DeviceNode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceNode {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub major: u32,
    pub minor: u32,
    pub file_mode: u32,
    pub permissions: String,
}

fn char_node(path: String, major: u32, minor: u32, mode: u32) -> DeviceNode {
    DeviceNode {
        path,
        kind: "c".into(),
        major,
        minor,
        file_mode: mode,
        permissions: "rwm".into(),
    }
}

fn gpu_node(g: &GpuSnapshot, facts: &NodeFacts) -> DeviceNode {
    let m = g.identity.minor;
    char_node(
        format!("/dev/nvidia{m}"),
        facts.majors.nvidia,
        m,
        GPU_NODE_MODE,
    )
}

/// Options of the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdiOptions {
    /// `vendor/class`; `nvidia.com/gpu` as nvidia-ctk.
    pub kind: String,
}

impl Default for CdiOptions {
    fn default() -> Self {
        CdiOptions {
            kind: "nvidia.com/gpu".into(),
        }
    }
}

/// The spec, and lines saying what it holds (for a YAML header and stderr).
#[derive(Debug, Clone, PartialEq)]
pub struct CdiExport {
    pub spec: Spec,
    pub notes: Vec<String>,
}

/// Build the spec. Devices come in nvidia-ctk's order: index names (full
/// GPUs `N`, MIG devices `N:M`) in enumeration order, then UUID names sorted,
/// then `all`, then `management`. A GPU with MIG enabled and no MIG device
/// contributes no named device (nvidia-ctk fails there with "invalid device,
/// empty device edits"); its node is still in `management`, and a note says
/// so. `all` is left out when there is no device for it to hold.
pub fn spec(
    gpus: &[GpuSnapshot],
    facts: &NodeFacts,
    opts: &CdiOptions,
) -> Result<CdiExport, ClusterError> {
    let mut by_index = Vec::new();
    let mut by_uuid = Vec::new();
    let mut notes = summary(gpus);
    for g in gpus {
        match GpuState::of(g) {
            GpuState::MigDisabled => {
                let edits = ContainerEdits {
                    env: Vec::new(),
                    device_nodes: vec![gpu_node(g, facts)],
                };
                by_index.push(Device {
                    name: g.identity.index.to_string(),
                    container_edits: edits.clone(),
                });
                by_uuid.push(Device {
                    name: g.identity.uuid.clone(),
                    container_edits: edits,
                });
            }
            GpuState::MigEmpty => notes.push(format!(
                "GPU {}: MIG enabled and no MIG device, so no device names it (only `management` holds its node)",
                g.identity.index
            )),
            GpuState::Mig(_) => {
                for d in mig_devs(g)? {
                    let edits = ContainerEdits {
                        env: Vec::new(),
                        device_nodes: vec![
                            gpu_node(g, facts),
                            cap_node(d.gi_minor(&facts.minors)?, facts),
                            cap_node(d.ci_minor(&facts.minors)?, facts),
                        ],
                    };
                    by_index.push(Device {
                        name: d.index_name(),
                        container_edits: edits.clone(),
                    });
                    by_uuid.push(Device {
                        name: d.info.uuid.clone(),
                        container_edits: edits,
                    });
                }
            }
        }
    }
    by_uuid.sort_by(|a, b| a.name.cmp(&b.name));
    // `all` as nvidia-ctk writes it (peers/a): the GPU nodes in order, then
    // the cap nodes sorted by path as strings (`nvidia-cap102` before
    // `nvidia-cap66`).
    let mut gpu_nodes: Vec<DeviceNode> = Vec::new();
    let mut cap_nodes: Vec<DeviceNode> = Vec::new();
    for d in &by_index {
        for n in &d.container_edits.device_nodes {
            let list = if n.path.starts_with("/dev/nvidia-caps/") {
                &mut cap_nodes
            } else {
                &mut gpu_nodes
            };
            if !list.contains(n) {
                list.push(n.clone());
            }
        }
    }
    cap_nodes.sort_by(|a, b| a.path.cmp(&b.path));
    let mut all_nodes = gpu_nodes;
    all_nodes.extend(cap_nodes);
    let mut devices = by_index;
    devices.extend(by_uuid);
    if !all_nodes.is_empty() {
        devices.push(Device {
            name: "all".into(),
            container_edits: ContainerEdits {
                env: Vec::new(),
                device_nodes: all_nodes,
            },
        });
    }
    devices.push(management_device(gpus, facts)?);
    let container_edits = ContainerEdits {
        env: vec!["NVIDIA_VISIBLE_DEVICES=void".into()],
        device_nodes: facts
            .control_nodes
            .iter()
            .map(|c| char_node(c.path.clone(), c.major, c.minor, GPU_NODE_MODE))
            .collect(),
    };
    Ok(CdiExport {
        spec: Spec {
            cdi_version: CDI_VERSION.into(),
            kind: opts.kind.clone(),
            devices,
            container_edits,
        },
        notes,
    })
}

fn cap_node(minor: u32, facts: &NodeFacts) -> DeviceNode {
    char_node(
        caps::dev_path(minor),
        facts.majors.nvidia_caps,
        minor,
        ACCESS_MODE,
    )
}

/// `management`: every GPU node, `nvidia-cap1` (config) and `nvidia-cap2`
/// (monitor), and every existing GI/CI cap node, for a container that
/// manages MIG (mig-manager, the device plugin in CDI mode: toolkit #1740).
fn management_device(gpus: &[GpuSnapshot], facts: &NodeFacts) -> Result<Device, ClusterError> {
    let mut nodes: Vec<DeviceNode> = gpus.iter().map(|g| gpu_node(g, facts)).collect();
    for c in caps::all_caps(gpus, facts)? {
        nodes.push(char_node(c.dev_path, c.major, c.minor, c.mode));
    }
    Ok(Device {
        name: "management".into(),
        container_edits: ContainerEdits {
            env: Vec::new(),
            device_nodes: nodes,
        },
    })
}

/// The spec as YAML, headed by comment lines saying what it holds.
pub fn to_yaml(e: &CdiExport) -> Result<String, serde_yaml_ng::Error> {
    let mut s = String::from("# CDI spec written by migctl export cdi\n");
    for n in &e.notes {
        s.push_str(&format!("# {n}\n"));
    }
    s.push_str("---\n");
    for line in serde_yaml_ng::to_string(&e.spec)?.lines() {
        s.push_str(&quote_index_name(line));
        s.push('\n');
    }
    Ok(s)
}

/// `- name: 0:1` read by a YAML 1.1 parser is the sexagesimal integer 61;
/// quote such names as nvidia-ctk does (`- name: "0:1"`).
fn quote_index_name(line: &str) -> String {
    if let Some((indent, v)) = line.split_once("- name: ") {
        if !v.starts_with('"') && v.chars().all(|c| c.is_ascii_digit() || c == ':') {
            return format!("{indent}- name: \"{v}\"");
        }
    }
    line.to_string()
}

/// The spec as JSON (no room for comments: the notes go to stderr).
pub fn to_json(e: &CdiExport) -> String {
    let mut s = serde_json::to_string_pretty(&e.spec).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::testing::gpu;

    fn names(s: &Spec) -> Vec<&str> {
        s.devices.iter().map(|d| d.name.as_str()).collect()
    }

    /// Proves each MIG device is named by index and by UUID with the parent
    /// node and both cap nodes, and that a CI smaller than its GI gets its
    /// own CI cap under the shared GI cap.
    #[test]
    fn mig_devices_named_twice_with_three_nodes() {
        // H100: 3g.40gb (profile 9) at 0 holding two 1c CIs (profile 0).
        let g = gpu("h100-sxm5-80gb", 0, Some(&[(9, 0, &[0, 0])]));
        let facts = NodeFacts::simulated("580.159.04");
        let e = spec(std::slice::from_ref(&g), &facts, &CdiOptions::default()).unwrap();
        let u0 = &g.mig_devices[0].uuid;
        let mut uu = [g.mig_devices[0].uuid.clone(), g.mig_devices[1].uuid.clone()];
        uu.sort();
        assert_eq!(
            names(&e.spec),
            ["0:0", "0:1", &uu[0], &uu[1], "all", "management"]
        );
        let d0 = &e.spec.devices[0].container_edits.device_nodes;
        let paths: Vec<&str> = d0.iter().map(|n| n.path.as_str()).collect();
        // GI 1 (3g at 0 on an 8-slot grid); CIs 0 and 1.
        assert_eq!(
            paths,
            [
                "/dev/nvidia0",
                "/dev/nvidia-caps/nvidia-cap12",
                "/dev/nvidia-caps/nvidia-cap13"
            ]
        );
        let d1 = &e.spec.devices[1].container_edits.device_nodes;
        assert_eq!(d1[2].minor, 14);
        let by_uuid = e.spec.devices.iter().find(|d| &d.name == u0).unwrap();
        assert_eq!(&by_uuid.container_edits.device_nodes, d0);
        assert!(d0.iter().all(|n| n.kind == "c" && n.permissions == "rwm"));
        assert_eq!((d0[1].major, d0[1].file_mode), (241, 0o444));
        assert!(to_yaml(&e).unwrap().contains("\n- name: \"0:1\"\n"));
    }

    /// Proves the edge layouts give a spec that says what it holds: MIG
    /// disabled GPUs are whole devices, an empty MIG GPU is only in
    /// `management` (never a device with empty edits), and a node with no
    /// usable device still has a valid `management` device.
    #[test]
    fn edge_layouts() {
        let facts = NodeFacts::simulated("580.159.04");
        let off = gpu("a100-sxm4-40gb", 0, None);
        let empty = gpu("h100-sxm5-80gb", 1, Some(&[]));
        let e = spec(
            &[off.clone(), empty.clone()],
            &facts,
            &CdiOptions::default(),
        )
        .unwrap();
        assert_eq!(
            names(&e.spec),
            ["0", off.identity.uuid.as_str(), "all", "management"]
        );
        assert!(e
            .notes
            .iter()
            .any(|n| n.contains("GPU 1: MIG enabled and no MIG device")));
        let mgmt = e.spec.devices.last().unwrap();
        let paths: Vec<&str> = mgmt
            .container_edits
            .device_nodes
            .iter()
            .map(|n| n.path.as_str())
            .collect();
        assert_eq!(
            paths,
            [
                "/dev/nvidia0",
                "/dev/nvidia1",
                "/dev/nvidia-caps/nvidia-cap1",
                "/dev/nvidia-caps/nvidia-cap2"
            ]
        );
        let only_empty =
            spec(std::slice::from_ref(&empty), &facts, &CdiOptions::default()).unwrap();
        assert_eq!(names(&only_empty.spec), ["management"]);
        assert!(e
            .spec
            .devices
            .iter()
            .all(|d| !d.container_edits.device_nodes.is_empty()));
        let y = to_yaml(&e).unwrap();
        assert!(y.contains("- name: '0'\n"), "{y}");
        assert!(to_yaml(&only_empty)
            .unwrap()
            .starts_with("# CDI spec written by migctl export cdi\n# GPU 1 NVIDIA H100 80GB HBM3"));
    }
}
