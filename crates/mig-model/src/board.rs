//! Board facts of the catalog models: what NVML reports about a board beyond
//! MIG (power limits, PCIe link, BAR1, clocks, fan, temperature thresholds,
//! identity strings), as data in `catalog/boards.toml`, each value with its
//! source. A fact no source gives is absent (`None`): no value of one board
//! is carried over to another, and a consumer answers as a driver answers a
//! value it lacks.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const FILE: &str = include_str!("../../../catalog/boards.toml");

/// One value and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fact<T> {
    pub value: T,
    /// `measured: ...`, `nvidia-docs: ...`, `public: ...`, `derived: ...`
    /// or `modelled: ...` (a stated modelling choice where no source gives
    /// the value but a real board always answers).
    pub source: String,
}

/// The board facts of one model; `None` where no source gives the value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// Default = maximum power limit, W.
    pub power_limit_max_w: Option<Fact<u32>>,
    /// Minimum settable power limit, W.
    pub power_limit_min_w: Option<Fact<u32>>,
    /// PCIe generation (current = max at idle on the measured boards).
    pub pcie_gen_max: Option<Fact<u32>>,
    /// PCIe link width (current = max on the measured boards).
    pub pcie_width_max: Option<Fact<u32>>,
    /// BAR1 aperture of the whole GPU, MiB.
    pub bar1_mib: Option<Fact<u64>>,
    /// BAR1 of MIG devices: `[GI memory MiB, BAR1 MiB]` pairs read on this board.
    pub mig_bar1_mib: Option<Fact<Vec<[u64; 2]>>>,
    /// The model whose MIG-device BAR1 per MiB of GI memory this board's MIG
    /// devices are modelled with, where no capture of this board gives it.
    /// Every real board answers a MIG device's BAR1, and the real nvidia-smi
    /// hides the whole MIG devices table when one does not.
    pub mig_bar1_from: Option<Fact<String>>,
    /// Idle graphics/SM clock, MHz.
    pub idle_sm_clock_mhz: Option<Fact<u32>>,
    /// Maximum graphics/SM clock, MHz.
    pub max_sm_clock_mhz: Option<Fact<u32>>,
    /// Memory clock (current = max), MHz.
    pub mem_clock_mhz: Option<Fact<u32>>,
    /// Idle video clock, MHz.
    pub idle_video_clock_mhz: Option<Fact<u32>>,
    /// Maximum video clock, MHz.
    pub max_video_clock_mhz: Option<Fact<u32>>,
    /// Whether the board has its own fan (absent: none is known, NVML
    /// answers Not Supported as for a passive board).
    pub has_fan: Option<Fact<bool>>,
    /// Whether the GPU reaches its CPU over NVLink-C2C (Grace superchips);
    /// absent: a PCIe-attached board, C2C disabled as the lent H100 and
    /// H200 report it.
    pub c2c_link: Option<Fact<bool>>,
    /// `NVML_TEMPERATURE_THRESHOLD_SHUTDOWN`, degrees C.
    pub temp_shutdown_c: Option<Fact<u32>>,
    /// `NVML_TEMPERATURE_THRESHOLD_SLOWDOWN`, degrees C.
    pub temp_slowdown_c: Option<Fact<u32>>,
    /// `NVML_TEMPERATURE_THRESHOLD_MEM_MAX`, degrees C.
    pub temp_mem_max_c: Option<Fact<u32>>,
    /// `NVML_TEMPERATURE_THRESHOLD_GPU_MAX`, degrees C.
    pub temp_gpu_max_c: Option<Fact<u32>>,
    /// Identity strings and counts a real board of the model reported.
    pub identity: Option<Identity>,
    /// NVLink of an SXM board (`[MODEL.nvlink]`); absent: no NVLink, or
    /// none a source describes.
    pub nvlink: Option<NvLink>,
}

/// The NVLink ports of an SXM board, every one wired to the NVSwitches of
/// its HGX baseboard (the simulated host's modelling choice,
/// docs/simulated-telemetry.md).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NvLink {
    /// Where the link count and version come from.
    pub source: String,
    /// Links per GPU (`NVML_FI_DEV_NVLINK_LINK_COUNT`).
    pub links: u32,
    /// `nvmlDeviceGetNvLinkVersion`: nvml.h's `nvmlNvlinkVersion_t`
    /// (4 = NVLink 3.0, 5 = 3.1, 6 = 4.0, 7 = 5.0), not the generation.
    pub version: u32,
    /// NVSwitch chips on the model's HGX baseboard.
    pub nvswitches: u32,
}

/// Constants a real board of the model reported, from one capture.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// The capture these come from.
    pub source: String,
    /// `nvmlDeviceGetVbiosVersion` ("VBIOS Version").
    pub vbios_version: String,
    /// `nvmlDeviceGetBoardPartNumber` ("Board Part Number").
    pub board_part_number: String,
    /// `nvmlDeviceGetInforomImageVersion` ("Inforom Version / Image Version").
    pub inforom_image_version: String,
    /// `nvmlDeviceGetBoardId` ("Board ID").
    pub board_id: u32,
    /// `nvmlDeviceGetRowRemapperHistogram` `max`, banks.
    pub remap_banks: u32,
    /// "GPU Part Number" of `nvidia-smi -q`.
    #[serde(default)]
    pub gpu_part_number: Option<String>,
    /// `nvmlDeviceGetModuleId` ("Platform Info / Module Id"); per board slot.
    #[serde(default)]
    pub module_id: Option<u32>,
    /// `nvmlDeviceGetInforomVersion` of the OEM and ECC objects.
    #[serde(default)]
    pub inforom_oem: Option<String>,
    #[serde(default)]
    pub inforom_ecc: Option<String>,
    /// Frame buffer the driver reserves, KiB (`nvmlMemory_v2_t.reserved`;
    /// nvidia-smi prints it rounded to the MiB).
    #[serde(default)]
    pub fb_reserved_kib: Option<u64>,
    /// PCI base class and sub class (`nvmlDeviceGetPciInfoExt`).
    #[serde(default)]
    pub pci_class: Option<[u32; 2]>,
    /// The memory's maximum operating temperature relative to T.Limit, C
    /// ("Memory Max Operating T.Limit Temp").
    #[serde(default)]
    pub memory_tlimit_c: Option<i32>,

    /// Facts only the pynvml monitoring probe read
    /// (`catalog/measured/probe_monitoring.py`), where it ran on this model.
    pub probe: Option<Probed>,
}

/// Board constants the monitoring probe read on a real board.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probed {
    /// `nvmlDeviceGetMemoryBusWidth`, bits.
    pub memory_bus_width: u32,
    /// `nvmlDeviceGetSupportedMemoryClocks`, MHz, in the driver's order.
    pub memory_clocks_mhz: Vec<u32>,
    /// `nvmlDeviceGetSupportedPerformanceStates`, in the driver's order.
    pub pstates: Vec<u32>,
    /// `nvmlDeviceGetAdaptiveClockInfoStatus`.
    pub adaptive_clocking: u32,
    /// `nvmlDeviceGetInforomConfigurationChecksum`.
    pub inforom_checksum: u32,
}

/// The value of a fact that may be absent.
pub fn value<T: Clone>(f: &Option<Fact<T>>) -> Option<T> {
    f.as_ref().map(|f| f.value.clone())
}

impl Board {
    /// BAR1 of a MIG device whose GPU instance has `gi_memory_mib`: the
    /// value read on this board for a GI of that size, else that GI memory
    /// times the ratio of the largest GI read on this board (derived); on a
    /// board with no such reading, the same from the board its
    /// `mig_bar1_from` names (modelled); `None` where neither is given.
    pub fn mig_bar1_mib(&self, gi_memory_mib: u64) -> Option<u64> {
        match (&self.mig_bar1_mib, &self.mig_bar1_from) {
            (Some(own), _) => bar1_from_pairs(&own.value, gi_memory_mib),
            (None, Some(from)) => bar1_from_pairs(
                &board(&from.value).mig_bar1_mib.as_ref()?.value,
                gi_memory_mib,
            ),
            (None, None) => None,
        }
    }
}

/// The MIG BAR1 of a GI of `gi_memory_mib` from `[GI MiB, BAR1 MiB]` readings.
fn bar1_from_pairs(pairs: &[[u64; 2]], gi_memory_mib: u64) -> Option<u64> {
    if let Some([_, bar1]) = pairs.iter().find(|[gi, _]| *gi == gi_memory_mib) {
        return Some(*bar1);
    }
    let [gi, bar1] = pairs.iter().max_by_key(|[gi, _]| *gi)?;
    Some((gi_memory_mib * bar1 + gi / 2) / gi)
}

/// Why `catalog/boards.toml` is wrong.
#[derive(Debug, thiserror::Error)]
#[error("catalog/boards.toml: {0}")]
pub struct BoardError(String);

/// Parse and check the embedded board facts.
pub fn load() -> Result<BTreeMap<String, Board>, BoardError> {
    let boards: BTreeMap<String, Board> =
        toml::from_str(FILE).map_err(|e| BoardError(e.to_string()))?;
    for (slug, b) in &boards {
        if crate::catalog::model(slug).is_none() {
            return Err(BoardError(format!("{slug}: not a catalog model")));
        }
        let sources = [
            b.power_limit_max_w.as_ref().map(|f| &f.source),
            b.bar1_mib.as_ref().map(|f| &f.source),
            b.mig_bar1_mib.as_ref().map(|f| &f.source),
            b.mig_bar1_from.as_ref().map(|f| &f.source),
            b.c2c_link.as_ref().map(|f| &f.source),
            b.identity.as_ref().map(|i| &i.source),
            b.nvlink.as_ref().map(|n| &n.source),
        ];
        if sources.into_iter().flatten().any(|s| s.trim().is_empty()) {
            return Err(BoardError(format!("{slug}: a value without a source")));
        }
        if let (Some(min), Some(max)) = (value(&b.power_limit_min_w), value(&b.power_limit_max_w)) {
            if min > max {
                return Err(BoardError(format!("{slug}: power limit min above max")));
            }
        }
        if b.mig_bar1_mib
            .as_ref()
            .is_some_and(|f| f.value.iter().any(|[gi, _]| *gi == 0))
        {
            return Err(BoardError(format!("{slug}: a MIG BAR1 pair of a 0 MiB GI")));
        }
        if let Some(from) = &b.mig_bar1_from {
            let measured = boards
                .get(&from.value)
                .and_then(|o| o.mig_bar1_mib.as_ref());
            if b.mig_bar1_mib.is_some() || measured.is_none() {
                return Err(BoardError(format!(
                    "{slug}: mig_bar1_from must name a board with its own mig_bar1_mib, \
                     on a board without one"
                )));
            }
        }
        if b.nvlink
            .as_ref()
            .is_some_and(|n| n.links == 0 || n.nvswitches == 0)
        {
            return Err(BoardError(format!(
                "{slug}: NVLink with no link or no NVSwitch"
            )));
        }
    }
    Ok(boards)
}

static BOARDS: OnceLock<BTreeMap<String, Board>> = OnceLock::new();
static NONE: Board = Board {
    power_limit_max_w: None,
    power_limit_min_w: None,
    pcie_gen_max: None,
    pcie_width_max: None,
    bar1_mib: None,
    mig_bar1_mib: None,
    mig_bar1_from: None,
    idle_sm_clock_mhz: None,
    max_sm_clock_mhz: None,
    mem_clock_mhz: None,
    idle_video_clock_mhz: None,
    max_video_clock_mhz: None,
    has_fan: None,
    c2c_link: None,
    temp_shutdown_c: None,
    temp_slowdown_c: None,
    temp_mem_max_c: None,
    temp_gpu_max_c: None,
    identity: None,
    nvlink: None,
};

/// The board facts of model `slug` (every fact absent for a model the file
/// does not list).
pub fn board(slug: &str) -> &'static Board {
    BOARDS
        .get_or_init(|| load().expect("embedded board facts are valid"))
        .get(slug)
        .unwrap_or(&NONE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the embedded file loads, names only catalog models, gives
    /// every fact a source, and lists every catalog model.
    #[test]
    fn boards_load_and_cover_the_catalog() {
        let boards = load().expect("valid");
        for m in crate::catalog::all() {
            assert!(boards.contains_key(&m.slug), "{} has no entry", m.slug);
        }
    }

    /// Proves the MIG BAR1 of a GI size read on the board is that reading
    /// (the H100's capture, the guide's A100 transcripts), other sizes scale
    /// with GI memory, and a board without a reading takes the ratio of the
    /// board it names, modelled and said so in its source, never silently.
    #[test]
    fn mig_bar1_from_captures_then_a_named_model() {
        let h100 = board("h100-sxm5-80gb");
        assert_eq!(h100.mig_bar1_mib(40448), Some(24740));
        assert_eq!(h100.mig_bar1_mib(9984), Some(6105));
        assert_eq!(h100.mig_bar1_mib(20096), Some(12292));
        assert_eq!(board("a100-sxm4-40gb").mig_bar1_mib(20096), Some(32767));
        assert_eq!(board("a100-sxm4-80gb").mig_bar1_mib(40192), Some(65535));
        let h200 = board("h200-sxm5-141gb");
        assert!(h200
            .mig_bar1_from
            .as_ref()
            .unwrap()
            .source
            .starts_with("modelled:"));
        assert_eq!(
            h200.mig_bar1_mib(18176),
            Some((18176 * 24740 + 20224) / 40448)
        );
        for m in crate::catalog::all() {
            assert!(board(&m.slug).mig_bar1_mib(1024).is_some(), "{}", m.slug);
        }
    }
}
