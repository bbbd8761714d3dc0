//! Slurm: `gres.conf` records for the node's GPUs and MIG devices, the
//! node's `Gres=` string for `slurm.conf`, and the `AccountingStorageTRES`
//! types, with the records and type names Slurm's own `AutoDetect=nvml`
//! derives, so a site can switch between this file and autodetection.
//!
//! The rules are read from SchedMD/slurm `src/plugins/gpu/nvml/gpu_nvml.c`
//! (commit 284c3b95, 2026-08-20), `_handle_mig` and `gpu_p_get_system_gpu_list`:
//! - the board name from `nvmlDeviceGetName` is lower-cased with spaces made
//!   underscores (`gpu_common_underscorify_tolower`);
//! - a GPU with MIG disabled is one record, `Type=` that whole name,
//!   `File=/dev/nvidia<minor>`;
//! - a MIG device's type is the board's name cut at its first `-`, followed
//!   by the MIG device's own NVML name from its `mig_` on, without `mig`
//!   (`NVIDIA A100-SXM4-40GB MIG 1g.5gb` gives `nvidia_a100_1g.5gb`;
//!   `NVIDIA H100 80GB HBM3 MIG 1g.10gb` gives `nvidia_h100_80gb_hbm3_1g.10gb`);
//!   its files are the parent node, the GI cap node and the CI cap node,
//!   in that order;
//! - a GPU with MIG enabled and no MIG device is listed as the whole GPU
//!   (`added_mig` stays false), after Slurm logs "MIG mode is enabled, but
//!   no MIG devices were found".

use crate::caps;
use crate::node::{mig_devs, summary, ClusterError, GpuState, NodeFacts};
use mig_model::GpuSnapshot;
use serde::Serialize;

/// `gpu_common_underscorify_tolower`.
fn underscorify_tolower(s: &str) -> String {
    s.chars()
        .map(|c| match c.to_ascii_lowercase() {
            ' ' => '_',
            c => c,
        })
        .collect()
}

/// The `Type=` of a GPU with MIG disabled (or enabled and empty).
pub fn gpu_type(board_name: &str) -> String {
    underscorify_tolower(board_name)
}

/// The `Type=` Slurm derives for a MIG device whose NVML name is
/// `mig_device_name`, on a board named `board_name`.
pub fn mig_type(board_name: &str, mig_device_name: &str) -> String {
    let board = underscorify_tolower(board_name);
    let prefix = board.split('-').next().unwrap_or(&board);
    let dev = underscorify_tolower(mig_device_name);
    // "Adding 3 to skip "mig" but keep "_"": NVML names always hold "MIG ".
    let suffix = dev.find("mig_").map(|i| &dev[i + 3..]).unwrap_or("");
    format!("{prefix}{suffix}")
}

/// One `gres.conf` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GresRecord {
    pub gpu: u32,
    /// MIG index under the GPU, `None` for a whole GPU.
    pub mig: Option<u32>,
    #[serde(rename = "type")]
    pub kind: String,
    /// Device files, in Slurm's order.
    pub files: Vec<String>,
    /// The MIG UUID or GPU UUID Slurm's autodetect records as `UniqueId`.
    pub unique_id: String,
}

impl GresRecord {
    /// `Name=gpu Type=... File=...` or `... MultipleFiles=a,b,c`.
    pub fn line(&self) -> String {
        let key = if self.files.len() == 1 {
            "File"
        } else {
            "MultipleFiles"
        };
        format!("Name=gpu Type={} {key}={}", self.kind, self.files.join(","))
    }
}

/// Options: a prefix for device paths (a test root with placeholder nodes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlurmOptions {
    pub dev_prefix: String,
}

/// Everything `migctl export slurm` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlurmExport {
    pub records: Vec<GresRecord>,
    /// `(type, count)` in first-seen order.
    pub counts: Vec<(String, u32)>,
    /// `gpu:nvidia_a100_3g.20gb:2,gpu:nvidia_a100_1g.5gb:1`, empty with no GPU.
    pub node_gres: String,
    /// `gres/gpu,gres/gpu:nvidia_a100_3g.20gb,...`.
    pub accounting_tres: String,
    pub notes: Vec<String>,
}

/// Build the records and strings.
pub fn export(
    gpus: &[GpuSnapshot],
    facts: &NodeFacts,
    opts: &SlurmOptions,
) -> Result<SlurmExport, ClusterError> {
    let p = &opts.dev_prefix;
    let mut records = Vec::new();
    let mut notes = summary(gpus);
    for g in gpus {
        let parent = format!("{p}/dev/nvidia{}", g.identity.minor);
        let whole = GresRecord {
            gpu: g.identity.index,
            mig: None,
            kind: gpu_type(&g.identity.name),
            files: vec![parent.clone()],
            unique_id: g.identity.uuid.clone(),
        };
        match GpuState::of(g) {
            GpuState::MigDisabled => records.push(whole),
            GpuState::MigEmpty => {
                notes.push(format!(
                    "GPU {}: MIG enabled and no MIG device; listed as the whole GPU, as AutoDetect=nvml does, though CUDA cannot use it until MIG devices exist",
                    g.identity.index
                ));
                records.push(whole);
            }
            GpuState::Mig(_) => {
                for d in mig_devs(g)? {
                    records.push(GresRecord {
                        gpu: g.identity.index,
                        mig: Some(d.info.index),
                        kind: mig_type(&g.identity.name, &d.nvml_name()),
                        files: vec![
                            parent.clone(),
                            format!("{p}{}", caps::dev_path(d.gi_minor(&facts.minors)?)),
                            format!("{p}{}", caps::dev_path(d.ci_minor(&facts.minors)?)),
                        ],
                        unique_id: d.info.uuid.clone(),
                    });
                }
            }
        }
    }
    let mut counts: Vec<(String, u32)> = Vec::new();
    for r in &records {
        match counts.iter_mut().find(|(t, _)| *t == r.kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((r.kind.clone(), 1)),
        }
    }
    let node_gres = counts
        .iter()
        .map(|(t, n)| format!("gpu:{t}:{n}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut tres = vec!["gres/gpu".to_string()];
    tres.extend(counts.iter().map(|(t, _)| format!("gres/gpu:{t}")));
    if records.is_empty() {
        notes.push("no GPU: no gres.conf record and no Gres= for this node".into());
    }
    Ok(SlurmExport {
        records,
        counts,
        node_gres,
        accounting_tres: tres.join(","),
        notes,
    })
}

impl SlurmExport {
    /// `gres.conf` text: a header saying what it holds, the records, and the
    /// matching `slurm.conf` lines as comments.
    pub fn gres_conf(&self, node_name: &str) -> String {
        let mut s = String::from("# gres.conf written by migctl export slurm\n");
        for n in &self.notes {
            s.push_str(&format!("# {n}\n"));
        }
        for r in &self.records {
            s.push_str(&r.line());
            s.push('\n');
        }
        s.push_str("# slurm.conf for this node:\n#   GresTypes=gpu\n");
        if !self.node_gres.is_empty() {
            s.push_str(&format!(
                "#   NodeName={node_name} Gres={}\n",
                self.node_gres
            ));
        }
        s.push_str(&format!(
            "#   AccountingStorageTRES={}\n",
            self.accounting_tres
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::testing::gpu;

    /// Proves the type names follow gpu_nvml.c on boards with and without a
    /// `-` in their name, with a CI smaller than its GI and a `+me` profile;
    /// the admin note quoted in ecosystem.md 5 names an A100 80GB PCIe MIG
    /// type the same way up to its first `-` (none there: the whole name).
    #[test]
    fn type_names() {
        assert_eq!(
            mig_type("NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB MIG 1g.5gb"),
            "nvidia_a100_1g.5gb"
        );
        assert_eq!(
            mig_type(
                "NVIDIA A100-SXM4-40GB",
                "NVIDIA A100-SXM4-40GB MIG 1c.3g.20gb"
            ),
            "nvidia_a100_1c.3g.20gb"
        );
        assert_eq!(
            mig_type(
                "NVIDIA H100 80GB HBM3",
                "NVIDIA H100 80GB HBM3 MIG 1g.10gb+me"
            ),
            "nvidia_h100_80gb_hbm3_1g.10gb+me"
        );
        assert_eq!(
            mig_type("NVIDIA A100 80GB PCIe", "NVIDIA A100 80GB PCIe MIG 1g.10gb"),
            "nvidia_a100_80gb_pcie_1g.10gb"
        );
        assert_eq!(gpu_type("NVIDIA A100-SXM4-40GB"), "nvidia_a100-sxm4-40gb");
    }

    /// Proves the records carry parent, GI cap and CI cap in that order with
    /// the model's minors (the public A100 80GB PCIe note: gpu0/gi7 = 66/67),
    /// and that counts, Gres= and TRES agree.
    #[test]
    fn records_and_counts() {
        let facts = NodeFacts::simulated("580.159.04");
        // A100 80GB PCIe: 1g.10gb (profile 19) at 0 and 1 are GIs 7 and 8;
        // 2g.20gb (14) at 2 is GI 4, first in enumeration (GI ID order).
        let g = gpu(
            "a100-pcie-80gb",
            0,
            Some(&[(19, 0, &[0]), (19, 1, &[0]), (14, 2, &[1])]),
        );
        let e = export(std::slice::from_ref(&g), &facts, &SlurmOptions::default()).unwrap();
        assert_eq!(
            e.records[1].line(),
            "Name=gpu Type=nvidia_a100_80gb_pcie_1g.10gb MultipleFiles=/dev/nvidia0,/dev/nvidia-caps/nvidia-cap66,/dev/nvidia-caps/nvidia-cap67"
        );
        assert_eq!(
            e.node_gres,
            "gpu:nvidia_a100_80gb_pcie_2g.20gb:1,gpu:nvidia_a100_80gb_pcie_1g.10gb:2"
        );
        assert_eq!(e.accounting_tres, "gres/gpu,gres/gpu:nvidia_a100_80gb_pcie_2g.20gb,gres/gpu:nvidia_a100_80gb_pcie_1g.10gb");
    }

    /// Proves MIG-disabled and empty-MIG GPUs are whole-GPU records (as
    /// autodetect lists them), with a note for the empty one, and two board
    /// models in one node give one type per model.
    #[test]
    fn edge_layouts() {
        let facts = NodeFacts::simulated("580.159.04");
        let gpus = [
            gpu("a100-sxm4-40gb", 0, None),
            gpu("h100-sxm5-80gb", 1, Some(&[])),
            gpu("h100-sxm5-80gb", 2, Some(&[(19, 0, &[0])])),
        ];
        let e = export(
            &gpus,
            &facts,
            &SlurmOptions {
                dev_prefix: "/t".into(),
            },
        )
        .unwrap();
        let lines: Vec<String> = e.records.iter().map(|r| r.line()).collect();
        assert_eq!(
            lines[0],
            "Name=gpu Type=nvidia_a100-sxm4-40gb File=/t/dev/nvidia0"
        );
        assert_eq!(
            lines[1],
            "Name=gpu Type=nvidia_h100_80gb_hbm3 File=/t/dev/nvidia1"
        );
        assert!(lines[2].starts_with("Name=gpu Type=nvidia_h100_80gb_hbm3_1g.10gb MultipleFiles=/t/dev/nvidia2,/t/dev/nvidia-caps/nvidia-cap"));
        assert!(e
            .notes
            .iter()
            .any(|n| n.starts_with("GPU 1: MIG enabled and no MIG device")));
        let none = export(&[], &facts, &SlurmOptions::default()).unwrap();
        assert_eq!(none.node_gres, "");
        assert!(none
            .gres_conf("n1")
            .contains("# no GPU: no gres.conf record"));
    }
}
