//! The GPU catalog: every MIG-capable product of the MIG User Guide, as data.
//!
//! The data lives in `catalog/*.toml` at the repository root (one file per GPU
//! family) and is embedded at build time. Every value carries provenance: each
//! GPU and each profile names its `source`, and lists in `derived` the fields
//! whose values were derived rather than read from a device or NVIDIA's docs.
//! This module only parses and checks the data; the MIG rules live in
//! `engine` and `ids`.

use serde::Deserialize;
use std::sync::OnceLock;

/// The embedded catalog files, in the order `migctl sim models` lists them.
const FILES: &[(&str, &str)] = &[
    ("ampere.toml", include_str!("../../../catalog/ampere.toml")),
    ("hopper.toml", include_str!("../../../catalog/hopper.toml")),
    (
        "blackwell.toml",
        include_str!("../../../catalog/blackwell.toml"),
    ),
];

/// One catalog file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(rename = "gpu")]
    gpus: Vec<GpuModel>,
}

/// Field names allowed in a `derived` list.
pub type DerivedFields = Vec<String>;

/// A GPU product: what NVML reports for the board, and its MIG profiles.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GpuModel {
    /// The model slug used by `migctl sim init` (e.g. `h100-sxm5-80gb`).
    pub slug: String,
    /// Product name exactly as `nvmlDeviceGetName` reports it.
    pub name: String,
    /// PCI device ID (the upper 16 bits of NVML's `pciDeviceId` are this value).
    pub pci_device_id: u16,
    /// PCI subsystem ID as NVML reports it in `pciSubSystemId`.
    #[serde(default)]
    pub pci_subsystem_id: u32,
    /// `nvmlDeviceGetMemoryInfo().total` in bytes.
    pub memory_total_bytes: u64,
    /// Streaming multiprocessors of the whole GPU (MIG disabled).
    pub sm_count: u32,
    /// `ampere`, `hopper` or `blackwell`.
    pub architecture: Architecture,
    /// CUDA compute capability (`nvmlDeviceGetCudaComputeCapability`), from
    /// NVIDIA's CUDA GPUs list: 8.0 Ampere, 9.0 Hopper, 10.0 B200/GB200,
    /// 12.0 RTX PRO Blackwell.
    pub compute_capability: [u32; 2],
    /// Units of the GPU-instance placement grid: 8 on A100/H100/H200/B200,
    /// 4 on A30, 12 on RTX PRO 6000.
    pub placement_grid: u32,
    /// Whether toggling MIG mode needs a GPU reset to take effect (Ampere).
    pub mode_change_needs_reset: bool,
    /// Where the values of this entry come from.
    pub source: String,
    /// Fields of this entry whose values are derived (see `notes`).
    #[serde(default)]
    pub derived: DerivedFields,
    /// Free text: how derived values were derived, what was measured when.
    #[serde(default)]
    pub notes: String,
    /// GPU-instance profiles, in the order `nvidia-smi mig -lgip` prints them.
    #[serde(rename = "gi_profile")]
    pub gi_profiles: Vec<GiProfile>,
}

/// CPU architecture families that matter for MIG behaviour.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    Ampere,
    Hopper,
    Blackwell,
}

/// A GPU-instance profile (`nvmlGpuInstanceProfileInfo_v3_t` plus placements).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GiProfile {
    /// The `NVML_GPU_INSTANCE_PROFILE_*` index passed to `...ProfileInfoV`.
    pub index: u32,
    /// The profile ID nvidia-smi prints and create/placement calls take.
    pub id: u32,
    /// Short name without the `MIG ` prefix, e.g. `1g.10gb+me`.
    pub name: String,
    /// `sliceCount`: compute slices.
    pub slices: u32,
    /// `instanceCount`: how many can exist at once.
    pub instances: u32,
    /// `multiprocessorCount`.
    pub sm: u32,
    /// `memorySizeMB`.
    pub memory_mb: u64,
    pub ce: u32,
    pub dec: u32,
    pub enc: u32,
    pub jpeg: u32,
    pub ofa: u32,
    /// `isP2pSupported` / `NVML_GPU_INSTANCE_PROFILE_CAPS_P2P`.
    #[serde(default)]
    pub p2p: bool,
    /// `NVML_GPU_INSTANCE_PROFILE_CAPS_GFX` (the `+gfx` profiles).
    #[serde(default)]
    pub gfx: bool,
    /// Placement starts, in grid units (`nvidia-smi mig -lgipp`).
    pub placement_starts: Vec<u32>,
    /// Placement size, in grid units.
    pub placement_size: u32,
    /// Overrides the GPU's `source` for this profile.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub derived: DerivedFields,
    /// Compute-instance profiles of a GI of this profile, in `-lcip` order.
    #[serde(rename = "ci")]
    pub ci_profiles: Vec<CiProfile>,
}

/// A compute-instance profile inside one GI profile
/// (`nvmlComputeInstanceProfileInfo_v3_t` plus placements).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CiProfile {
    /// CI profile ID (equal to the `NVML_COMPUTE_INSTANCE_PROFILE_*` index).
    pub id: u32,
    /// `sliceCount`: compute slices.
    pub slices: u32,
    /// `instanceCount`.
    pub instances: u32,
    /// `multiprocessorCount`.
    pub sm: u32,
    pub ce: u32,
    pub dec: u32,
    pub enc: u32,
    pub jpeg: u32,
    pub ofa: u32,
    /// Placement starts in compute slices, relative to the GI.
    pub placement_starts: Vec<u32>,
    pub placement_size: u32,
    #[serde(default)]
    pub derived: DerivedFields,
}

/// The CI profile `nvidia-smi mig -cgi ... -C` and a bare `-cci` create in a
/// GI whose profile has `gi_slices` slices: the first (in listing order)
/// that spans the whole GI. `-lcip` marks it with `*`.
pub fn default_ci_profile<'a>(
    gi_slices: u32,
    ci_profiles: impl IntoIterator<Item = &'a CiProfile>,
) -> Option<&'a CiProfile> {
    ci_profiles.into_iter().find(|c| c.slices == gi_slices)
}

/// What can be wrong with the embedded catalog (a build-time bug, found by tests).
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog/{file}: {msg}")]
    Parse { file: &'static str, msg: String },
    #[error("catalog: {0}")]
    Invalid(String),
}

static CATALOG: OnceLock<Vec<GpuModel>> = OnceLock::new();

/// Parse and check every embedded catalog file.
pub fn load() -> Result<Vec<GpuModel>, CatalogError> {
    let mut out = Vec::new();
    for (file, text) in FILES {
        let parsed: CatalogFile = toml::from_str(text).map_err(|e| CatalogError::Parse {
            file,
            msg: e.to_string(),
        })?;
        out.extend(parsed.gpus);
    }
    for gpu in &out {
        validate(gpu)?;
    }
    for (i, a) in out.iter().enumerate() {
        if out[..i].iter().any(|b| b.slug == a.slug) {
            return Err(CatalogError::Invalid(format!("duplicate slug {}", a.slug)));
        }
    }
    Ok(out)
}

/// The catalog, parsed once. Panics only if the embedded data is broken,
/// which `catalog_loads` in the test suite rules out.
pub fn all() -> &'static [GpuModel] {
    CATALOG.get_or_init(|| load().expect("embedded catalog is valid"))
}

/// Look a model up by slug.
pub fn model(slug: &str) -> Option<&'static GpuModel> {
    all().iter().find(|m| m.slug == slug)
}

/// The catalog model of a board NVML reports with this PCI device ID
/// (upper 16 bits of `pciDeviceId`) and total memory. Boards that share a
/// device ID are told apart by memory (within 2%, since drivers reserve
/// different amounts); a board that matches no entry, or more than one, is
/// `None`: reported as unknown, never guessed.
pub fn identify(pci_device_id: u16, memory_total_bytes: u64) -> Option<&'static GpuModel> {
    let same_id: Vec<&GpuModel> = all()
        .iter()
        .filter(|m| m.pci_device_id == pci_device_id)
        .collect();
    if let [only] = same_id.as_slice() {
        return Some(only);
    }
    let close = |m: &&&GpuModel| {
        let (a, b) = (m.memory_total_bytes as f64, memory_total_bytes as f64);
        (a - b).abs() <= 0.02 * a
    };
    let near: Vec<&&GpuModel> = same_id.iter().filter(close).collect();
    match near.as_slice() {
        [only] => Some(only),
        _ => None,
    }
}

const GI_FIELDS: &[&str] = &[
    "index",
    "id",
    "name",
    "slices",
    "instances",
    "sm",
    "memory_mb",
    "ce",
    "dec",
    "enc",
    "jpeg",
    "ofa",
    "p2p",
    "gfx",
    "placement_starts",
    "placement_size",
    "ci",
];
const CI_FIELDS: &[&str] = &[
    "id",
    "slices",
    "instances",
    "sm",
    "ce",
    "dec",
    "enc",
    "jpeg",
    "ofa",
    "placement_starts",
    "placement_size",
];
const GPU_FIELDS: &[&str] = &[
    "name",
    "pci_device_id",
    "pci_subsystem_id",
    "memory_total_bytes",
    "sm_count",
    "compute_capability",
    "placement_grid",
    "mode_change_needs_reset",
    "gi_profile",
];

fn validate(gpu: &GpuModel) -> Result<(), CatalogError> {
    let bad = |msg: String| Err(CatalogError::Invalid(format!("{}: {msg}", gpu.slug)));
    let check_derived = |list: &DerivedFields, allowed: &[&str], what: &str| {
        for f in list {
            if !allowed.contains(&f.as_str()) {
                return Err(CatalogError::Invalid(format!(
                    "{}: {what}: unknown field {f:?} in `derived`",
                    gpu.slug
                )));
            }
        }
        Ok(())
    };
    check_derived(&gpu.derived, GPU_FIELDS, "gpu")?;
    if gpu.source.trim().is_empty() {
        return bad("empty source".into());
    }
    if gpu.gi_profiles.is_empty() {
        return bad("no GPU-instance profiles".into());
    }
    let grid = gpu.placement_grid;
    for (i, p) in gpu.gi_profiles.iter().enumerate() {
        let what = format!("profile {}", p.name);
        check_derived(&p.derived, GI_FIELDS, &what)?;
        if gpu.gi_profiles[..i]
            .iter()
            .any(|q| q.id == p.id || q.index == p.index || q.name == p.name)
        {
            return bad(format!("{what}: duplicate id, index or name"));
        }
        if p.placement_size == 0 || !grid.is_multiple_of(p.placement_size) {
            return bad(format!("{what}: placement size must divide the grid"));
        }
        let per = grid / p.placement_size;
        if !per.is_power_of_two() && per != 1 {
            // the swizzle-ID tree needs power-of-two spans
            return bad(format!("{what}: grid/size is not a power of two"));
        }
        if p.placement_starts.is_empty() {
            return bad(format!("{what}: no placements"));
        }
        for &s in &p.placement_starts {
            if !s.is_multiple_of(p.placement_size) || s + p.placement_size > grid {
                return bad(format!(
                    "{what}: placement {s}:{} off grid",
                    p.placement_size
                ));
            }
        }
        if p.instances as usize > p.placement_starts.len() {
            return bad(format!("{what}: more instances than placements"));
        }
        if p.ci_profiles.is_empty() {
            return bad(format!("{what}: no compute-instance profiles"));
        }
        for (j, c) in p.ci_profiles.iter().enumerate() {
            check_derived(&c.derived, CI_FIELDS, &what)?;
            if p.ci_profiles[..j].iter().any(|d| d.id == c.id) {
                return bad(format!("{what}: duplicate CI profile {}", c.id));
            }
            if c.slices > p.slices {
                return bad(format!("{what}: CI profile {} larger than its GI", c.id));
            }
        }
        if !p
            .ci_profiles
            .windows(2)
            .all(|w| (w[0].slices, w[0].id) < (w[1].slices, w[1].id))
        {
            // `-lcip` order (slices, then ID), which NVML backends sort to
            return bad(format!("{what}: CI profiles not in (slices, id) order"));
        }
        if default_ci_profile(p.slices, &p.ci_profiles).is_none() {
            return bad(format!("{what}: no full-size (default) CI profile"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    /// Proves the NVML backend's board lookup: every catalog model is found
    /// from its own device ID and memory, and an unknown board is not guessed.
    #[test]
    fn identify_finds_every_model_and_no_stranger() {
        for m in all() {
            let found = identify(m.pci_device_id, m.memory_total_bytes).map(|f| &f.slug);
            assert_eq!(found, Some(&m.slug), "{}", m.slug);
        }
        assert!(identify(0x1234, 1 << 30).is_none());
        // a known device ID whose memory fits none of its entries
        let shared = all().iter().find(|m| {
            all()
                .iter()
                .filter(|o| o.pci_device_id == m.pci_device_id)
                .count()
                > 1
        });
        if let Some(m) = shared {
            assert!(identify(m.pci_device_id, 1 << 30).is_none(), "{}", m.slug);
        }
    }
    use super::*;

    /// Proves every embedded catalog file parses and passes the consistency checks.
    #[test]
    fn catalog_loads() {
        let all = load().unwrap();
        assert!(!all.is_empty());
    }

    /// Proves the catalog covers exactly the 19 products of the guide's
    /// "Supported GPU Products" table, by DESIGN.md's slugs.
    #[test]
    fn every_guide_product_is_present() {
        let slugs = "a30-24gb a100-sxm4-40gb a100-sxm4-80gb a100-pcie-40gb a100-pcie-80gb \
            h100-sxm5-80gb h100-pcie-80gb h100-sxm5-94gb h100-nvl-94gb gh200-96gb h20-96gb \
            h200-sxm5-141gb h200-nvl-141gb b200-180gb gb200-186gb rtx-pro-6000-server \
            rtx-pro-6000-workstation rtx-pro-6000-maxq rtx-pro-5000";
        let have: Vec<&str> = all().iter().map(|m| m.slug.as_str()).collect();
        for s in slugs.split_whitespace() {
            assert!(have.contains(&s), "missing {s}");
        }
        assert_eq!(have.len(), 19);
    }
}
