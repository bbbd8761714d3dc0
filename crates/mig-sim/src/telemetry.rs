//! Modelled sensor readings and board facts of the simulated GPUs: what
//! monitoring clients (nvitop, gpustat, DCGM-style exporters) read through
//! NVML beyond MIG.
//!
//! Two kinds of value, each with its source:
//! - [`Telemetry`], per GPU and kept in the state file (every field has a serde
//!   default, so state files written before it existed still load): the live
//!   readings a real board varies (temperatures, power draw, utilization, fan,
//!   clocks) and the modes an administrator sets (persistence, compute mode,
//!   power limit). The defaults are the idle readings of the lent H100 80GB
//!   HBM3 (`shared/reference/h100-80gb-hbm3/h100_q.txt`, driver 580.159.04).
//!   `migctl sim set` changes them so alerting paths can be tested.
//! - [`BoardFacts`], fixed per catalog model: power limits, PCIe link, BAR1,
//!   maximum clocks, whether the board has a fan. Measured where a real board
//!   was read (`catalog/measured/`), otherwise from NVIDIA's product
//!   datasheets, each entry naming which.
//!
//! Nothing here decides an NVML return code: the shim maps "not modelled"
//! (`None`) to the error a real driver gives for that board.

use crate::state::{MachineState, SimGpu};
use crate::SimMachine;
use mig_model::backend::Op;
use mig_model::catalog::{Architecture, GpuModel};
use mig_model::{BackendError, GpuRef};
use serde::{Deserialize, Serialize};

/// `NVML_COMPUTEMODE_*` as nvml.h numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ComputeMode {
    /// `NVML_COMPUTEMODE_DEFAULT` (0), the measured boards' mode.
    #[default]
    Default,
    /// `NVML_COMPUTEMODE_PROHIBITED` (2).
    Prohibited,
    /// `NVML_COMPUTEMODE_EXCLUSIVE_PROCESS` (3).
    ExclusiveProcess,
}

impl ComputeMode {
    /// The `nvmlComputeMode_t` value.
    pub fn nvml(self) -> u32 {
        match self {
            ComputeMode::Default => 0,
            ComputeMode::Prohibited => 2,
            ComputeMode::ExclusiveProcess => 3,
        }
    }
}

/// The live readings and settable modes of one simulated GPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Telemetry {
    /// GPU core temperature, degrees C (H100 idle: 39).
    pub temperature_c: u32,
    /// HBM temperature, degrees C (H100 idle: 40).
    pub memory_temperature_c: u32,
    /// Power draw in milliwatts (H100 idle instantaneous: 74.84 W).
    pub power_mw: u32,
    /// Power limit in milliwatts; `None` is the board's default limit.
    pub power_limit_mw: Option<u32>,
    /// GPU utilization, percent (H100 idle: 0).
    pub utilization_gpu: u32,
    /// Memory-controller utilization, percent (H100 idle: 0).
    pub utilization_memory: u32,
    /// Fan speed, percent; only boards with a fan report one.
    pub fan_percent: u32,
    /// Persistence mode (the lent boards: Enabled).
    pub persistence: bool,
    /// Compute mode (the lent boards: Default).
    pub compute_mode: ComputeMode,
    /// Current graphics and SM clock, MHz; `None` is the board's idle clock.
    pub sm_clock_mhz: Option<u32>,
}

impl Default for Telemetry {
    fn default() -> Telemetry {
        Telemetry {
            temperature_c: 39,
            memory_temperature_c: 40,
            power_mw: 74_840,
            power_limit_mw: None,
            utilization_gpu: 0,
            utilization_memory: 0,
            fan_percent: 30,
            persistence: true,
            compute_mode: ComputeMode::Default,
            sm_clock_mhz: None,
        }
    }
}

/// Fixed facts of a board model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardFacts {
    /// Default = maximum power limit (TDP), milliwatts.
    pub power_max_mw: u32,
    /// Minimum settable power limit, milliwatts.
    pub power_min_mw: u32,
    /// PCIe generation (current = max at idle on the lent boards).
    pub pcie_gen: u32,
    /// PCIe link width.
    pub pcie_width: u32,
    /// BAR1 aperture, MiB.
    pub bar1_mib: u64,
    /// Idle graphics/SM clock, MHz.
    pub idle_sm_clock_mhz: u32,
    /// Maximum graphics/SM clock, MHz.
    pub max_sm_clock_mhz: u32,
    /// Memory clock (current = max), MHz.
    pub mem_clock_mhz: u32,
    /// Idle and maximum video clock, MHz.
    pub video_clock_mhz: (u32, u32),
    /// Whether the board has its own fan (passive server boards report N/A).
    pub has_fan: bool,
    /// Shutdown and slowdown temperature thresholds, degrees C.
    pub temp_shutdown_c: u32,
    pub temp_slowdown_c: u32,
    /// Memory and GPU maximum operating temperatures, degrees C
    /// (`NVML_TEMPERATURE_THRESHOLD_MEM_MAX`, `_GPU_MAX`).
    pub temp_mem_max_c: u32,
    pub temp_gpu_max_c: u32,
    /// Where these values come from.
    pub source: &'static str,
    /// What a real board of this model answered, where one was read.
    pub measured: Option<&'static Measured>,
}

/// Constants a real board of the model reported, each with its capture: the
/// identity strings and counts nvidia-smi -q and NVML print. Only the models
/// a real board was read of have one; the shim answers the rest as a real
/// driver answers a value it lacks (see nvml-shim's `board_info.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    /// The capture these come from.
    pub source: &'static str,
    /// `nvmlDeviceGetVbiosVersion` ("VBIOS Version").
    pub vbios_version: &'static str,
    /// `nvmlDeviceGetBoardPartNumber` ("Board Part Number").
    pub board_part_number: &'static str,
    /// `nvmlDeviceGetInforomImageVersion` ("Inforom Version / Image Version").
    pub inforom_image_version: &'static str,
    /// `nvmlDeviceGetBoardId` ("Board ID").
    pub board_id: u32,
    /// `nvmlDeviceGetRowRemapperHistogram` `max` ("Bank Remap Availability
    /// Histogram / Max"), banks; none are used on a healthy board.
    pub remap_banks: u32,
    /// Facts only the pynvml monitoring probe read
    /// (`catalog/measured/probe_monitoring.py`), where it ran on this model.
    pub probe: Option<Probed>,
}

/// Board constants the monitoring probe read on a real board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probed {
    /// `nvmlDeviceGetMemoryBusWidth`, bits.
    pub memory_bus_width: u32,
    /// `nvmlDeviceGetSupportedMemoryClocks`, MHz, in the driver's order.
    pub memory_clocks_mhz: &'static [u32],
    /// `nvmlDeviceGetSupportedPerformanceStates`, in the driver's order.
    pub pstates: &'static [u32],
    /// `nvmlDeviceGetAdaptiveClockInfoStatus`
    /// (1: `NVML_ADAPTIVE_CLOCKING_INFO_STATUS_ENABLED`).
    pub adaptive_clocking: u32,
    /// `nvmlDeviceGetInforomConfigurationChecksum`.
    pub inforom_checksum: u32,
}

/// The lent H100 80GB HBM3 (`shared/reference/h100-80gb-hbm3/h100_q.txt`,
/// driver 580.159.04). The monitoring probe was not run on it.
pub const H100_SXM5_80GB: Measured = Measured {
    source: "measured: shared/reference/h100-80gb-hbm3/h100_q.txt",
    vbios_version: "96.00.DA.00.0C",
    board_part_number: "695-2G520-0200-000",
    inforom_image_version: "G520.0200.00.05",
    board_id: 6,
    remap_banks: 2560,
    probe: None,
};

/// The lent H200 (`catalog/measured/h200-580.159.04/monitoring-probe.json`,
/// `gpus[0].handle_only`, driver 580.159.04; the same strings in that
/// directory's q.txt, read from another H200 of the same part number).
pub const H200_SXM5_141GB: Measured = Measured {
    source: "measured: catalog/measured/h200-580.159.04/monitoring-probe.json",
    vbios_version: "96.00.A5.00.1A",
    board_part_number: "692-2G520-0282-000",
    inforom_image_version: "G520.0282.02.02",
    board_id: 6,
    remap_banks: 3072,
    probe: Some(Probed {
        memory_bus_width: 6016,
        memory_clocks_mhz: &[3201, 2201],
        pstates: &[2, 0],
        adaptive_clocking: 1,
        inforom_checksum: 0,
    }),
};

/// Clocks and thresholds of a family's reference board, for models with no
/// capture of their own.
struct Clocks {
    idle_sm: u32,
    max_sm: u32,
    mem: u32,
    video: (u32, u32),
}

/// Hopper: the lent H100 80GB HBM3 (h100_q.txt: 405 MHz idle, 1980 max SM,
/// 2619 memory, 765/1545 video).
const HOPPER_CLOCKS: Clocks = Clocks {
    idle_sm: 405,
    max_sm: 1980,
    mem: 2619,
    video: (765, 1545),
};
/// The lent H200 (catalog/measured/h200-580.159.04/q.txt, 2026-12-01: 345
/// MHz idle, 1980 max SM, 3201 memory, 765/1545 video).
const H200_CLOCKS: Clocks = Clocks {
    idle_sm: 345,
    max_sm: 1980,
    mem: 3201,
    video: (765, 1545),
};
/// Ampere: A100 datasheet boost clock 1410 MHz, HBM2 1215 MHz; idle and video
/// as the measured Hopper board's ratio (derived).
const AMPERE_CLOCKS: Clocks = Clocks {
    idle_sm: 210,
    max_sm: 1410,
    mem: 1215,
    video: (585, 1290),
};
/// Blackwell: B200 datasheet boost 1965 MHz; memory and video as Hopper (derived).
const BLACKWELL_CLOCKS: Clocks = Clocks {
    idle_sm: 405,
    max_sm: 1965,
    mem: 3996,
    video: (765, 1545),
};

/// BAR1 in MiB, by the one rule of [`crate::host::bar1_bytes`] (which the
/// sysfs `resource` table uses too): the BAR1 size of every board whose BAR1
/// is known (A30 32 GiB, A100 40GB 64 GiB, A100/H100 80GB 128 GiB measured on
/// the lent H100, H200 256 GiB measured on the lent H200).
fn bar1_mib(model: &GpuModel) -> u64 {
    crate::host::bar1_bytes(model) / (1024 * 1024)
}

/// The board facts of a catalog model.
pub fn board(model: &GpuModel) -> BoardFacts {
    // (TDP W, min W, PCIe gen, fan, source)
    let (tdp, min, gen, fan, source) = match model.slug.as_str() {
        "h100-sxm5-80gb" => (700, 200, 5, false, "measured: h100_q.txt (580.159.04)"),
        "h200-sxm5-141gb" => (
            700,
            200,
            5,
            false,
            "measured: h200 status.txt 700 W cap; min as H100",
        ),
        "a30-24gb" => (
            165,
            100,
            4,
            false,
            "nvidia-docs: A30 datasheet (165 W, passive)",
        ),
        "a100-sxm4-40gb" | "a100-sxm4-80gb" => (
            400,
            100,
            4,
            false,
            "nvidia-docs: A100 datasheet (SXM 400 W)",
        ),
        "a100-pcie-40gb" => (
            250,
            150,
            4,
            false,
            "nvidia-docs: A100 PCIe 40GB datasheet (250 W, passive)",
        ),
        "a100-pcie-80gb" => (
            300,
            150,
            4,
            false,
            "nvidia-docs: A100 80GB PCIe datasheet (300 W, passive)",
        ),
        "h100-pcie-80gb" => (
            350,
            200,
            5,
            false,
            "nvidia-docs: H100 PCIe datasheet (350 W, passive)",
        ),
        "h100-sxm5-94gb" => (
            700,
            200,
            5,
            false,
            "nvidia-docs: H100 SXM datasheet (700 W)",
        ),
        "h100-nvl-94gb" => (
            400,
            200,
            5,
            false,
            "nvidia-docs: H100 NVL datasheet (400 W, passive)",
        ),
        "gh200-96gb" => (
            900,
            200,
            5,
            false,
            "nvidia-docs: GH200 datasheet (module up to 900 W)",
        ),
        "h20-96gb" => (400, 200, 5, false, "nvidia-docs: H20 product brief (400 W)"),
        "h200-nvl-141gb" => (
            600,
            200,
            5,
            false,
            "nvidia-docs: H200 NVL datasheet (600 W, passive)",
        ),
        "b200-180gb" => (
            1000,
            200,
            6,
            false,
            "nvidia-docs: DGX B200 datasheet (1000 W per GPU)",
        ),
        "gb200-186gb" => (
            1200,
            200,
            6,
            false,
            "nvidia-docs: GB200 NVL72 datasheet (1200 W per GPU)",
        ),
        "rtx-pro-6000-server" => (
            600,
            150,
            5,
            false,
            "nvidia-docs: RTX PRO 6000 Server datasheet (600 W, passive)",
        ),
        "rtx-pro-6000-workstation" => (
            600,
            150,
            5,
            true,
            "nvidia-docs: RTX PRO 6000 Workstation datasheet (600 W, fan)",
        ),
        "rtx-pro-6000-maxq" => (
            300,
            150,
            5,
            true,
            "nvidia-docs: RTX PRO 6000 Max-Q datasheet (300 W, blower)",
        ),
        "rtx-pro-5000" => (
            300,
            150,
            5,
            true,
            "nvidia-docs: RTX PRO 5000 datasheet (300 W, fan)",
        ),
        _ => (
            300,
            150,
            4,
            false,
            "derived: no datasheet entry; a 300 W PCIe board",
        ),
    };
    let measured = match model.slug.as_str() {
        "h100-sxm5-80gb" => Some(&H100_SXM5_80GB),
        "h200-sxm5-141gb" => Some(&H200_SXM5_141GB),
        _ => None,
    };
    // (shutdown, slowdown, memory max, GPU max), degrees C. The lent H200
    // answered 95, 89, 95, 87 (monitoring-probe.json
    // `nvmlDeviceGetTemperatureThreshold(0..3)`); the lent H100 printed the
    // same offsets from its 87 C limit (h100_q.txt: T.Limit 48 C at 39 C,
    // shutdown -8 C, slowdown -2 C). Other boards: datasheet operating limits
    // of the data-centre parts, slowdown at 87 C and shutdown at 92 C
    // (derived), the maxima at the slowdown limit.
    let thresholds = match measured {
        Some(_) => (95, 89, 95, 87),
        None => (92, 87, 87, 87),
    };
    let clocks = match model.architecture {
        _ if model.slug.starts_with("h200") => H200_CLOCKS,
        Architecture::Ampere => AMPERE_CLOCKS,
        Architecture::Hopper => HOPPER_CLOCKS,
        Architecture::Blackwell => BLACKWELL_CLOCKS,
    };
    BoardFacts {
        power_max_mw: tdp * 1000,
        power_min_mw: min * 1000,
        pcie_gen: gen,
        pcie_width: 16,
        bar1_mib: bar1_mib(model),
        idle_sm_clock_mhz: clocks.idle_sm,
        max_sm_clock_mhz: clocks.max_sm,
        mem_clock_mhz: clocks.mem,
        video_clock_mhz: clocks.video,
        has_fan: fan,
        temp_shutdown_c: thresholds.0,
        temp_slowdown_c: thresholds.1,
        temp_mem_max_c: thresholds.2,
        temp_gpu_max_c: thresholds.3,
        source,
        measured,
    }
}

impl SimGpu {
    /// The board facts of this GPU's model.
    pub fn board(&self) -> BoardFacts {
        board(self.model())
    }

    /// The power limit in force, milliwatts.
    pub fn power_limit_mw(&self) -> u32 {
        self.telemetry
            .power_limit_mw
            .unwrap_or(self.board().power_max_mw)
    }

    /// The current SM/graphics clock, MHz.
    pub fn sm_clock_mhz(&self) -> u32 {
        self.telemetry
            .sm_clock_mhz
            .unwrap_or(self.board().idle_sm_clock_mhz)
    }
}

/// One `KEY=VALUE` of `migctl sim set`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    Temperature(u32),
    MemoryTemperature(u32),
    /// Watts.
    Power(u32),
    /// Watts.
    PowerLimit(u32),
    Utilization(u32),
    MemoryUtilization(u32),
    Fan(u32),
    Persistence(bool),
    ComputeMode(ComputeMode),
    /// MHz.
    SmClock(u32),
}

/// The keys `sim set` takes, for help and errors.
pub const SETTING_KEYS: &str = "temperature, memory-temperature, power, power-limit, \
     utilization, memory-utilization, fan, persistence, compute-mode, sm-clock";

/// Why a setting cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("{0:?}: expected KEY=VALUE (keys: {SETTING_KEYS})")]
    Syntax(String),
    #[error("unknown key {0:?} (keys: {SETTING_KEYS})")]
    UnknownKey(String),
    #[error("{key}: {value:?} is not {want}")]
    BadValue {
        key: String,
        value: String,
        want: &'static str,
    },
    #[error("{key}={value} is outside {min}..={max} for {board}")]
    OutOfRange {
        key: &'static str,
        value: u32,
        min: u32,
        max: u32,
        board: String,
    },
    #[error(
        "{board} has no fan (passive cooling: NVML answers Not Supported), so fan cannot be set"
    )]
    NoFan { board: String },
}

impl Setting {
    /// Parse `KEY=VALUE`.
    pub fn parse(s: &str) -> Result<Setting, SettingError> {
        let (key, value) = s
            .split_once('=')
            .ok_or_else(|| SettingError::Syntax(s.to_string()))?;
        let bad = |want| SettingError::BadValue {
            key: key.to_string(),
            value: value.to_string(),
            want,
        };
        let num = || {
            value
                .trim()
                .parse::<u32>()
                .map_err(|_| bad("a whole number"))
        };
        Ok(match key.trim() {
            "temperature" => Setting::Temperature(num()?),
            "memory-temperature" => Setting::MemoryTemperature(num()?),
            "power" => Setting::Power(num()?),
            "power-limit" => Setting::PowerLimit(num()?),
            "utilization" => Setting::Utilization(num()?),
            "memory-utilization" => Setting::MemoryUtilization(num()?),
            "fan" => Setting::Fan(num()?),
            "sm-clock" => Setting::SmClock(num()?),
            "persistence" => Setting::Persistence(match value.trim() {
                "1" | "on" | "enabled" => true,
                "0" | "off" | "disabled" => false,
                _ => return Err(bad("0 or 1")),
            }),
            "compute-mode" => Setting::ComputeMode(match value.trim() {
                "default" => ComputeMode::Default,
                "prohibited" => ComputeMode::Prohibited,
                "exclusive-process" => ComputeMode::ExclusiveProcess,
                _ => return Err(bad("default, prohibited or exclusive-process")),
            }),
            other => return Err(SettingError::UnknownKey(other.to_string())),
        })
    }

    /// Apply to one GPU, checking the value against the board.
    pub fn apply(&self, g: &mut SimGpu) -> Result<(), SettingError> {
        let b = g.board();
        let board = g.model().name.clone();
        let range = |key, value: u32, min: u32, max: u32| {
            if (min..=max).contains(&value) {
                Ok(value)
            } else {
                Err(SettingError::OutOfRange {
                    key,
                    value,
                    min,
                    max,
                    board: board.clone(),
                })
            }
        };
        let t = &mut g.telemetry;
        match *self {
            Setting::Temperature(v) => t.temperature_c = range("temperature", v, 0, 120)?,
            Setting::MemoryTemperature(v) => {
                t.memory_temperature_c = range("memory-temperature", v, 0, 120)?
            }
            Setting::Power(w) => {
                t.power_mw = range("power", w, 0, 2 * b.power_max_mw / 1000)? * 1000
            }
            Setting::PowerLimit(w) => {
                let w = range(
                    "power-limit",
                    w,
                    b.power_min_mw / 1000,
                    b.power_max_mw / 1000,
                )?;
                t.power_limit_mw = Some(w * 1000);
            }
            Setting::Utilization(v) => t.utilization_gpu = range("utilization", v, 0, 100)?,
            Setting::MemoryUtilization(v) => {
                t.utilization_memory = range("memory-utilization", v, 0, 100)?
            }
            Setting::Fan(v) => {
                if !b.has_fan {
                    return Err(SettingError::NoFan { board });
                }
                t.fan_percent = range("fan", v, 0, 100)?;
            }
            Setting::Persistence(on) => t.persistence = on,
            Setting::ComputeMode(m) => t.compute_mode = m,
            Setting::SmClock(v) => {
                t.sm_clock_mhz = Some(range("sm-clock", v, 1, b.max_sm_clock_mhz)?)
            }
        }
        Ok(())
    }
}

/// Apply every setting to every GPU of `st` named by `gpus`; all or nothing.
pub fn apply_all(
    st: &mut MachineState,
    gpus: &[u32],
    settings: &[Setting],
) -> Result<(), BackendError> {
    let op = Op::SetTelemetry;
    for &i in gpus {
        let g = st.gpus.get_mut(i as usize).ok_or(BackendError::NoSuchGpu {
            op,
            gpu: GpuRef::Index(i),
        })?;
        for s in settings {
            s.apply(g)
                .map_err(|e| BackendError::machine(op, Some(GpuRef::Index(i)), e))?;
        }
    }
    Ok(())
}

impl SimMachine {
    /// `migctl sim set`: change modelled readings of `gpus` under the lock,
    /// all or nothing. Not a MIG operation, so never a counted mutation.
    pub fn set_telemetry(&self, gpus: &[u32], settings: &[Setting]) -> Result<(), BackendError> {
        self.update(Op::SetTelemetry, None, false, |st| {
            apply_all(st, gpus, settings)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves parsing accepts every documented key and refuses bad input
    /// with an error naming the key.
    #[test]
    fn settings_parse_and_refuse() {
        assert_eq!(
            Setting::parse("temperature=85"),
            Ok(Setting::Temperature(85))
        );
        assert_eq!(Setting::parse("power=300"), Ok(Setting::Power(300)));
        assert_eq!(
            Setting::parse("compute-mode=prohibited"),
            Ok(Setting::ComputeMode(ComputeMode::Prohibited))
        );
        assert_eq!(
            Setting::parse("persistence=0"),
            Ok(Setting::Persistence(false))
        );
        assert!(
            matches!(Setting::parse("temp=1"), Err(SettingError::UnknownKey(k)) if k == "temp")
        );
        assert!(matches!(
            Setting::parse("power"),
            Err(SettingError::Syntax(_))
        ));
        let e = Setting::parse("utilization=lots").unwrap_err().to_string();
        assert!(e.contains("utilization") && e.contains("lots"), "{e}");
    }

    /// Proves values are checked against the board: power limits within the
    /// board's range, no fan on passive boards, and nothing changes on error.
    #[test]
    fn settings_respect_the_board() {
        let mut st = MachineState::new(&[("h100-sxm5-80gb".into(), false)]).unwrap();
        let before = st.clone();
        let r = apply_all(
            &mut st,
            &[0],
            &[Setting::Temperature(85), Setting::PowerLimit(900)],
        );
        assert!(r.is_err());
        let r = apply_all(&mut st, &[0], &[Setting::Fan(50)]).map_err(|e| e.to_string());
        assert!(r.as_ref().unwrap_err().contains("no fan"), "{r:?}");
        apply_all(&mut st, &[0], &[Setting::PowerLimit(300)]).unwrap();
        assert_eq!(st.gpus[0].power_limit_mw(), 300_000);
        assert_ne!(st, before);
    }

    /// Proves the board facts (BAR1 by the power-of-two rule, power limits,
    /// clocks, temperature thresholds, which models have measured constants)
    /// equal what the lent H100 and H200 reported (h100_q.txt,
    /// catalog/measured/h200-580.159.04/q.txt and monitoring-probe.json).
    #[test]
    fn board_facts_match_the_measured_boards() {
        let b = |s| board(mig_model::catalog::model(s).unwrap());
        let h100 = b("h100-sxm5-80gb");
        assert_eq!(h100.bar1_mib, 131072);
        assert_eq!((h100.power_min_mw, h100.power_max_mw), (200_000, 700_000));
        assert_eq!((h100.max_sm_clock_mhz, h100.mem_clock_mhz), (1980, 2619));
        let h200 = b("h200-sxm5-141gb");
        assert_eq!(h200.bar1_mib, 262144);
        assert_eq!((h200.power_min_mw, h200.power_max_mw), (200_000, 700_000));
        assert_eq!((h200.idle_sm_clock_mhz, h200.mem_clock_mhz), (345, 3201));
        assert_eq!(
            (h200.pcie_gen, h200.pcie_width, h200.has_fan),
            (5, 16, false)
        );
        // monitoring-probe.json nvmlDeviceGetTemperatureThreshold(0..3)
        let t = |b: BoardFacts| {
            (
                b.temp_shutdown_c,
                b.temp_slowdown_c,
                b.temp_mem_max_c,
                b.temp_gpu_max_c,
            )
        };
        assert_eq!(t(h200), (95, 89, 95, 87));
        assert_eq!(t(h100), (95, 89, 95, 87));
        assert_eq!(h200.measured.map(|m| m.board_id), Some(6));
        assert!(h100.measured.is_some_and(|m| m.probe.is_none()));
        assert!(b("a100-sxm4-40gb").measured.is_none());
    }

    /// Proves a state file written before telemetry existed still loads,
    /// with the documented defaults.
    #[test]
    fn old_state_files_load_with_defaults() {
        let st = MachineState::new(&[("a100-sxm4-40gb".into(), false)]).unwrap();
        let mut v = serde_json::to_value(&st).unwrap();
        v["gpus"][0].as_object_mut().unwrap().remove("telemetry");
        let text = serde_json::to_string(&v).unwrap();
        let back = MachineState::parse(std::path::Path::new("old.json"), &text).unwrap();
        assert_eq!(back.gpus[0].telemetry, Telemetry::default());
    }
}
