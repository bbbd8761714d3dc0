//! The node as the generators see it: GPU snapshots, the facts of the host
//! they need beside them, and each MIG device resolved to its profiles.

use mig_model::backend::MigDeviceInfo;
use mig_model::catalog::{self, CiProfile, GiProfile, GpuModel};
use mig_model::{engine, ids, ComputeInstanceId, GpuInstanceId, GpuSnapshot};
use std::collections::BTreeMap;

/// Why a generator could not describe the node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// The board is not in the catalog, so its profiles are unknown.
    #[error("GPU {index} ({name}) is not a board the catalog knows; its MIG profiles are unknown")]
    UnknownModel { index: u32, name: String },
    /// A MIG device names an instance the layout does not hold.
    #[error("GPU {gpu}: MIG device {mig} names GPU instance {gi} / compute instance {ci}, which the layout does not hold")]
    Inconsistent {
        gpu: u32,
        mig: u32,
        gi: GpuInstanceId,
        ci: ComputeInstanceId,
    },
    /// The driver's minor table lacks a capability (the device plugin fails
    /// the same way: "missing MIG GPU instance capability path").
    #[error("/proc/driver/nvidia-caps/mig-minors has no line for {0}")]
    MissingMinor(String),
    /// A line of a `mig-minors` file that is not `NAME NUMBER`.
    #[error("mig-minors line {line}: {text:?} is not `NAME MINOR`")]
    BadMinorsLine { line: usize, text: String },
    /// A `/proc/devices` text without a needed character major.
    #[error("/proc/devices lists no character device {0:?}")]
    MissingMajor(String),
}

/// Character-device majors of the NVIDIA drivers on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Majors {
    /// `/dev/nvidiaN`, `/dev/nvidiactl`, `/dev/nvidia-modeset` (`nvidia-frontend`).
    pub nvidia: u32,
    /// `/dev/nvidia-caps/nvidia-capN` (dynamic, `nvidia-caps`).
    pub nvidia_caps: u32,
    /// `/dev/nvidia-uvm`, `/dev/nvidia-uvm-tools` (dynamic, `nvidia-uvm`).
    pub nvidia_uvm: u32,
}

impl Majors {
    /// The majors of the peers' host (`../shared/reference/peers`: 195
    /// nvidia, 241 nvidia-caps as on the lent H200, 238 nvidia-uvm), the
    /// default of [`NodeFacts::simulated`]; migctl replaces them with the
    /// simulated host's own `/proc/devices` (`mig_sim::host`).
    pub const SIMULATED: Majors = Majors {
        nvidia: 195,
        nvidia_caps: 241,
        nvidia_uvm: 238,
    };

    /// Read the majors from the text of `/proc/devices` (its "Character
    /// devices:" part). `nvidia-uvm` may be absent (module not loaded): then
    /// the SIMULATED value is not guessed, the error says so.
    pub fn from_proc_devices(text: &str) -> Result<Majors, ClusterError> {
        let mut chars: BTreeMap<&str, u32> = BTreeMap::new();
        let mut in_char = false;
        for line in text.lines() {
            let t = line.trim();
            if t.ends_with(':') {
                in_char = t == "Character devices:";
                continue;
            }
            if !in_char {
                continue;
            }
            if let Some((num, name)) = t.split_once(char::is_whitespace) {
                if let Ok(n) = num.trim().parse() {
                    chars.entry(name.trim()).or_insert(n);
                }
            }
        }
        let get = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| chars.get(n).copied())
                .ok_or_else(|| ClusterError::MissingMajor(names[0].to_string()))
        };
        Ok(Majors {
            nvidia: get(&["nvidia-frontend", "nvidia"])?,
            nvidia_caps: get(&["nvidia-caps"])?,
            nvidia_uvm: get(&["nvidia-uvm"])?,
        })
    }
}

/// Where nvidia-caps minors come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Minors {
    /// `mig_model::ids` (the simulator, whose driver table is that rule).
    Model,
    /// The driver's `/proc/driver/nvidia-caps/mig-minors`, parsed.
    Table(BTreeMap<String, u32>),
}

impl Minors {
    /// Parse `/proc/driver/nvidia-caps/mig-minors` (`config 1`, `monitor 2`,
    /// `gpu0/gi0/access 3`, `gpu0/gi0/ci0/access 4`, ...).
    pub fn parse_table(text: &str) -> Result<Minors, ClusterError> {
        let mut out = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() {
                continue;
            }
            let mut parts = t.split_whitespace();
            let (Some(name), Some(num), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(ClusterError::BadMinorsLine {
                    line: i + 1,
                    text: t.to_string(),
                });
            };
            let n = num.parse().map_err(|_| ClusterError::BadMinorsLine {
                line: i + 1,
                text: t.to_string(),
            })?;
            out.insert(name.to_string(), n);
        }
        Ok(Minors::Table(out))
    }

    fn lookup(&self, key: String, model: impl FnOnce() -> u32) -> Result<u32, ClusterError> {
        match self {
            Minors::Model => Ok(model()),
            Minors::Table(t) => t.get(&key).copied().ok_or(ClusterError::MissingMinor(key)),
        }
    }

    /// Minor of `gpu<G>/gi<I>/access`.
    pub fn gi(&self, gpu_minor: u32, gi: GpuInstanceId) -> Result<u32, ClusterError> {
        self.lookup(format!("gpu{gpu_minor}/gi{}/access", gi.0), || {
            ids::gi_caps_minor(gpu_minor, gi)
        })
    }

    /// Minor of `gpu<G>/gi<I>/ci<C>/access`.
    pub fn ci(
        &self,
        gpu_minor: u32,
        gi: GpuInstanceId,
        ci: ComputeInstanceId,
    ) -> Result<u32, ClusterError> {
        self.lookup(
            format!("gpu{gpu_minor}/gi{}/ci{}/access", gi.0, ci.0),
            || ids::ci_caps_minor(gpu_minor, gi, ci),
        )
    }

    /// Minor of `config` (mig-config capability).
    pub fn config(&self) -> Result<u32, ClusterError> {
        self.lookup("config".into(), || ids::CAPS_CONFIG_MINOR)
    }

    /// Minor of `monitor` (mig-monitor capability).
    pub fn monitor(&self) -> Result<u32, ClusterError> {
        self.lookup("monitor".into(), || ids::CAPS_MONITOR_MINOR)
    }
}

/// What the generators need to know about the host beside its GPUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    pub majors: Majors,
    pub minors: Minors,
    /// `580.159.04`.
    pub driver_version: String,
    /// CUDA driver API version (`nvmlSystemGetCudaDriverVersion`), when known.
    pub cuda_version: Option<(u32, u32)>,
    /// `/sys/class/dmi/id/product_name`, or `unknown` as GFD writes it.
    pub machine: String,
    /// Control nodes that exist on the host (`/dev/nvidiactl`, ...), in the
    /// order a CDI spec lists them.
    pub control_nodes: Vec<ControlNode>,
}

/// A control device node: `/dev/nvidiactl`, `/dev/nvidia-uvm`, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlNode {
    pub path: String,
    pub major: u32,
    pub minor: u32,
}

impl ControlNode {
    /// The control nodes nvidia-ctk lists (`/dev/nvidia-modeset`,
    /// `/dev/nvidia-uvm`, `/dev/nvidia-uvm-tools`, `/dev/nvidiactl`), those
    /// of them `exists` accepts, in the order of the peers' specs.
    pub fn standard(majors: Majors, exists: impl Fn(&str) -> bool) -> Vec<ControlNode> {
        [
            ("/dev/nvidia-modeset", majors.nvidia, 254),
            ("/dev/nvidia-uvm", majors.nvidia_uvm, 0),
            ("/dev/nvidia-uvm-tools", majors.nvidia_uvm, 1),
            ("/dev/nvidiactl", majors.nvidia, 255),
        ]
        .into_iter()
        .filter(|(p, _, _)| exists(p))
        .map(|(p, major, minor)| ControlNode {
            path: p.to_string(),
            major,
            minor,
        })
        .collect()
    }
}

impl NodeFacts {
    /// The simulated host: simulated majors, the model's minors, the
    /// simulator's driver (580.159.04, CUDA 13.0), no DMI product name, and
    /// the control nodes the peers' host had (no `nvidia-modeset`).
    pub fn simulated(driver_version: &str) -> NodeFacts {
        let majors = Majors::SIMULATED;
        NodeFacts {
            majors,
            minors: Minors::Model,
            driver_version: driver_version.to_string(),
            cuda_version: Some((13, 0)),
            machine: "unknown".into(),
            control_nodes: ControlNode::standard(majors, |p| p != "/dev/nvidia-modeset"),
        }
    }
}

/// What a GPU offers its consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuState {
    /// MIG disabled: the whole GPU is one device.
    MigDisabled,
    /// MIG enabled and no MIG device (no GI, or GIs without CIs): nothing
    /// CUDA can use.
    MigEmpty,
    /// MIG enabled with this many MIG devices.
    Mig(usize),
}

impl GpuState {
    pub fn of(s: &GpuSnapshot) -> GpuState {
        match (s.mode.current, s.mig_devices.len()) {
            (false, _) => GpuState::MigDisabled,
            (true, 0) => GpuState::MigEmpty,
            (true, n) => GpuState::Mig(n),
        }
    }

    /// A phrase for notes: `MIG disabled`, `MIG enabled, no MIG devices`, ...
    pub fn describe(self) -> String {
        match self {
            GpuState::MigDisabled => "MIG disabled".into(),
            GpuState::MigEmpty => "MIG enabled, no MIG devices".into(),
            GpuState::Mig(1) => "MIG enabled, 1 MIG device".into(),
            GpuState::Mig(n) => format!("MIG enabled, {n} MIG devices"),
        }
    }
}

/// The catalog entry of a snapshot's board.
pub fn gpu_model(s: &GpuSnapshot) -> Result<&'static GpuModel, ClusterError> {
    s.identity
        .model
        .as_deref()
        .and_then(catalog::model)
        .ok_or_else(|| ClusterError::UnknownModel {
            index: s.identity.index,
            name: s.identity.name.clone(),
        })
}

/// One MIG device with everything the generators need.
#[derive(Debug, Clone)]
pub struct MigDev<'a> {
    pub gpu: &'a GpuSnapshot,
    pub info: &'a MigDeviceInfo,
    pub gi_profile: &'static GiProfile,
    pub ci_profile: &'static CiProfile,
}

impl MigDev<'_> {
    pub fn gpu_index(&self) -> u32 {
        self.gpu.identity.index
    }

    /// `/dev/nvidiaN` minor of the parent.
    pub fn gpu_minor(&self) -> u32 {
        self.gpu.identity.minor
    }

    /// `1g.5gb`, `1c.3g.20gb` (`mig_model::ids::ci_short_name`).
    pub fn profile(&self) -> String {
        ids::ci_short_name(self.gi_profile, self.ci_profile)
    }

    /// `<gpu index>:<MIG index>`, the name nvidia-ctk's index namer and the
    /// container runtime's `NVIDIA_VISIBLE_DEVICES` use.
    pub fn index_name(&self) -> String {
        format!("{}:{}", self.gpu_index(), self.info.index)
    }

    /// NVML's name of the MIG device handle: `NVIDIA A100-SXM4-40GB MIG 1g.5gb`.
    pub fn nvml_name(&self) -> String {
        ids::mig_device_name(
            &self.gpu.identity.name,
            &ids::ci_profile_name(self.gi_profile, self.ci_profile),
        )
    }

    pub fn gi_minor(&self, m: &Minors) -> Result<u32, ClusterError> {
        m.gi(self.gpu_minor(), self.info.gi)
    }

    pub fn ci_minor(&self, m: &Minors) -> Result<u32, ClusterError> {
        m.ci(self.gpu_minor(), self.info.gi, self.info.ci)
    }
}

/// The MIG devices of one GPU, in the driver's enumeration order.
pub fn mig_devs(s: &GpuSnapshot) -> Result<Vec<MigDev<'_>>, ClusterError> {
    if s.mig_devices.is_empty() {
        return Ok(Vec::new());
    }
    let model = gpu_model(s)?;
    s.mig_devices
        .iter()
        .map(|info| {
            let bad = || ClusterError::Inconsistent {
                gpu: s.identity.index,
                mig: info.index,
                gi: info.gi,
                ci: info.ci,
            };
            let gi = s.layout.gpu_instance(info.gi).map_err(|_| bad())?;
            let ci = gi
                .compute_instances
                .iter()
                .find(|c| c.id == info.ci)
                .ok_or_else(bad)?;
            let gp = engine::gi_profile(model, gi.profile_id).map_err(|_| bad())?;
            let cp = engine::ci_profile(gp, ci.profile_id).map_err(|_| bad())?;
            Ok(MigDev {
                gpu: s,
                info,
                gi_profile: gp,
                ci_profile: cp,
            })
        })
        .collect()
}

/// Every MIG device of the node, GPU by GPU.
pub fn all_mig_devs(gpus: &[GpuSnapshot]) -> Result<Vec<MigDev<'_>>, ClusterError> {
    let mut out = Vec::new();
    for g in gpus {
        out.extend(mig_devs(g)?);
    }
    Ok(out)
}

/// One line per GPU saying what it holds, for the head of a generated file.
pub fn summary(gpus: &[GpuSnapshot]) -> Vec<String> {
    if gpus.is_empty() {
        return vec!["no GPUs".into()];
    }
    gpus.iter()
        .map(|g| {
            format!(
                "GPU {} {} ({}): {}",
                g.identity.index,
                g.identity.name,
                g.identity.uuid,
                GpuState::of(g).describe()
            )
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod testing {
    //! Snapshots built with the engine, as a backend would report them.
    use mig_model::backend::{GpuIdentity, MigDeviceInfo, MigMode};
    use mig_model::catalog;
    use mig_model::{engine, ids, CiProfileId, GiProfileId, GpuSnapshot, Layout, Placement};

    /// A GPU of `slug` at `index`; `gis` are (GI profile ID, placement start,
    /// CI profile IDs) created in order with the engine; `None` is MIG off.
    pub fn gpu(slug: &str, index: u32, gis: Option<&[(u32, u32, &[u32])]>) -> GpuSnapshot {
        let m = catalog::model(slug).unwrap();
        let uuid = ids::sim_gpu_uuid(slug, index);
        let mut layout = Layout::new(false);
        for &(p, start, cis) in gis.unwrap_or(&[]) {
            let gp = engine::gi_profile(m, GiProfileId(p)).unwrap();
            let id = layout
                .create_gi(
                    m,
                    GiProfileId(p),
                    Some(Placement::new(start, gp.placement_size)),
                )
                .unwrap();
            for &c in cis {
                layout.create_ci(m, id, CiProfileId(c), None).unwrap();
            }
        }
        let pdi = ids::sim_pdi(&uuid);
        let mut mig_devices = Vec::new();
        for (i, (g, c)) in layout.mig_devices().enumerate() {
            let gp = engine::gi_profile(m, g.profile_id).unwrap();
            let cp = engine::ci_profile(gp, c.profile_id).unwrap();
            let pipe = engine::syspipe(m, false, g.placement, c.placement);
            let u = ids::mig_uuid(m.pci_device_id, pdi, g.id, pipe);
            mig_devices.push(MigDeviceInfo::new(i as u32, g.id, c.id, u, gp, cp, 0));
        }
        GpuSnapshot {
            identity: GpuIdentity {
                index,
                uuid,
                name: m.name.clone(),
                pci_bus_id: format!("00000000:{:02X}:00.0", 7 + index),
                pci_device_id: ((m.pci_device_id as u32) << 16) | 0x10de,
                pci_subsystem_id: m.pci_subsystem_id,
                minor: index,
                memory_total_bytes: m.memory_total_bytes,
                model: Some(slug.into()),
                mirrored: false,
                mode_change_needs_reset: m.mode_change_needs_reset,
            },
            mode: MigMode {
                current: gis.is_some(),
                pending: gis.is_some(),
            },
            layout: if gis.is_some() {
                layout
            } else {
                Layout::default()
            },
            mig_devices,
            processes: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the majors are read from the character part of /proc/devices
    /// (a block device of the same name is not taken), as on the lent H200.
    #[test]
    fn majors_from_proc_devices() {
        let text = "Character devices:\n  1 mem\n195 nvidia-frontend\n238 nvidia-uvm\n241 nvidia-caps\n\nBlock devices:\n  7 nvidia-caps\n";
        assert_eq!(Majors::from_proc_devices(text).unwrap(), Majors::SIMULATED);
        let e = Majors::from_proc_devices("Character devices:\n195 nvidia\n").unwrap_err();
        assert_eq!(e, ClusterError::MissingMajor("nvidia-caps".into()));
    }

    /// Proves minors read from a mig-minors table (the guide's example lines)
    /// equal the model's, and that a missing line is an error, not a guess.
    #[test]
    fn minors_table_matches_model() {
        let t = Minors::parse_table(
            "config 1\nmonitor 2\ngpu0/gi0/access 3\ngpu0/gi0/ci0/access 4\ngpu0/gi0/ci1/access 5\ngpu31/gi14/ci7/access 4322\n",
        )
        .unwrap();
        let (g0, c0, c1) = (GpuInstanceId(0), ComputeInstanceId(0), ComputeInstanceId(1));
        assert_eq!(t.gi(0, g0), Minors::Model.gi(0, g0));
        assert_eq!(t.ci(0, g0, c1), Minors::Model.ci(0, g0, c1));
        assert_eq!(t.config(), Minors::Model.config());
        assert_eq!(t.monitor(), Minors::Model.monitor());
        assert_eq!(
            t.ci(31, GpuInstanceId(14), ComputeInstanceId(7)),
            Minors::Model.ci(31, GpuInstanceId(14), ComputeInstanceId(7))
        );
        assert_eq!(
            t.ci(1, g0, c0),
            Err(ClusterError::MissingMinor("gpu1/gi0/ci0/access".into()))
        );
        assert!(matches!(
            Minors::parse_table("config one\n"),
            Err(ClusterError::BadMinorsLine { line: 1, .. })
        ));
    }
}
