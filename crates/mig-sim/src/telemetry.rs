//! Modelled sensor readings and board facts of the simulated GPUs: what
//! monitoring clients (nvitop, gpustat, DCGM-style exporters) read through
//! NVML beyond MIG.
//!
//! Two kinds of value, each with its source:
//! - [`Telemetry`] ([`crate::readings`]), per GPU and kept in the state file: the live
//!   readings a real board varies (temperatures, power draw, utilization, fan,
//!   clocks) and the modes an administrator sets (persistence, compute mode,
//!   power limit). The defaults are the idle readings of the lent H100 80GB
//!   HBM3 (`shared/reference/h100-80gb-hbm3/h100_q.txt`, driver 580.159.04).
//!   `migctl sim set` changes them so alerting paths can be tested.
//! - [`BoardFacts`], fixed per catalog model: power limits, PCIe link, BAR1,
//!   clocks, fan, temperature thresholds, identity strings. They are data,
//!   `catalog/boards.toml` (through `mig_model::board`), each value with its
//!   source; a fact no source gives is `None`.
//!
//! Nothing here decides an NVML return code: the shim maps "not modelled"
//! (`None`) to the error a real driver gives for a value it lacks.

pub use crate::readings::{ComputeMode, EccErrors, Telemetry, Virtualization};
use crate::state::{MachineState, SimGpu};
use crate::SimMachine;
use mig_model::backend::Op;
use mig_model::board::{self, value};
pub use mig_model::board::{Board, Identity as Measured, Probed};
use mig_model::catalog::GpuModel;
use mig_model::{BackendError, GpuRef};

/// The facts of a board model, flattened from `catalog/boards.toml`; each
/// `None` is "not modelled": no source gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardFacts {
    /// Default = maximum power limit, milliwatts.
    pub power_max_mw: Option<u32>,
    /// Minimum settable power limit, milliwatts.
    pub power_min_mw: Option<u32>,
    /// PCIe generation (current = max at idle on the measured boards).
    pub pcie_gen: Option<u32>,
    /// PCIe link width.
    pub pcie_width: Option<u32>,
    /// BAR1 aperture, MiB.
    pub bar1_mib: Option<u64>,
    /// Idle graphics/SM clock, MHz.
    pub idle_sm_clock_mhz: Option<u32>,
    /// Maximum graphics/SM clock, MHz.
    pub max_sm_clock_mhz: Option<u32>,
    /// Memory clock (current = max), MHz.
    pub mem_clock_mhz: Option<u32>,
    /// Idle video clock, MHz.
    pub idle_video_clock_mhz: Option<u32>,
    /// Maximum video clock, MHz.
    pub max_video_clock_mhz: Option<u32>,
    /// Whether the board has its own fan (a source says so); passive boards
    /// and boards no source describes report none.
    pub has_fan: bool,
    /// Shutdown and slowdown temperature thresholds, degrees C.
    pub temp_shutdown_c: Option<u32>,
    pub temp_slowdown_c: Option<u32>,
    /// Memory and GPU maximum operating temperatures, degrees C
    /// (`NVML_TEMPERATURE_THRESHOLD_MEM_MAX`, `_GPU_MAX`).
    pub temp_mem_max_c: Option<u32>,
    pub temp_gpu_max_c: Option<u32>,
    /// What a real board of this model answered, where one was read.
    pub measured: Option<&'static Measured>,
    /// The catalog entry, with every value's source.
    pub catalog: &'static Board,
}

/// The board facts of a catalog model.
pub fn board(model: &GpuModel) -> BoardFacts {
    let b = board::board(&model.slug);
    BoardFacts {
        power_max_mw: value(&b.power_limit_max_w).map(|w| w * 1000),
        power_min_mw: value(&b.power_limit_min_w).map(|w| w * 1000),
        pcie_gen: value(&b.pcie_gen_max),
        pcie_width: value(&b.pcie_width_max),
        bar1_mib: value(&b.bar1_mib),
        idle_sm_clock_mhz: value(&b.idle_sm_clock_mhz),
        max_sm_clock_mhz: value(&b.max_sm_clock_mhz),
        mem_clock_mhz: value(&b.mem_clock_mhz),
        idle_video_clock_mhz: value(&b.idle_video_clock_mhz),
        max_video_clock_mhz: value(&b.max_video_clock_mhz),
        has_fan: value(&b.has_fan).unwrap_or(false),
        temp_shutdown_c: value(&b.temp_shutdown_c),
        temp_slowdown_c: value(&b.temp_slowdown_c),
        temp_mem_max_c: value(&b.temp_mem_max_c),
        temp_gpu_max_c: value(&b.temp_gpu_max_c),
        measured: b.identity.as_ref(),
        catalog: b,
    }
}

impl SimGpu {
    /// The board facts of this GPU's model.
    pub fn board(&self) -> BoardFacts {
        board(self.model())
    }

    /// The power limit in force, milliwatts (`None`: the board's default
    /// limit is not modelled and none was set).
    pub fn power_limit_mw(&self) -> Option<u32> {
        self.telemetry.power_limit_mw.or(self.board().power_max_mw)
    }

    /// The current SM/graphics clock, MHz (`None`: the board's idle clock
    /// is not modelled and none was set).
    pub fn sm_clock_mhz(&self) -> Option<u32> {
        self.telemetry
            .sm_clock_mhz
            .or(self.board().idle_sm_clock_mhz)
    }
}

/// One `KEY=VALUE` of `migctl sim set`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    Temperature(u32),
    MemoryTemperature(u32),
    /// Milliwatts.
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
    /// Milliwatts.
    PowerAverage(u32),
    /// Milliwatts.
    MemoryPower(u32),
    /// KB/s.
    PcieTx(u32),
    /// KB/s.
    PcieRx(u32),
    /// Which ECC counter, and its count.
    Ecc(EccCounter, u64),
    Virtualization(Virtualization),
}

/// The ECC counters `sim set` sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EccCounter {
    SramCorrected,
    SramUncorrected,
    DramCorrected,
    DramUncorrected,
}

/// The keys `sim set` takes, for help and errors.
pub const SETTING_KEYS: &str = "temperature, memory-temperature, power, power-limit, \
     utilization, memory-utilization, fan, persistence, compute-mode, sm-clock, power-average, \
     memory-power, pcie-tx, pcie-rx, ecc-sram-corrected, ecc-sram-uncorrected, \
     ecc-dram-corrected, ecc-dram-uncorrected, virtualization";

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
    #[error("{key} cannot be set on {board}: its {what} is not modelled (no source gives it; docs/simulated-telemetry.md)")]
    NotModelled {
        key: &'static str,
        board: String,
        what: &'static str,
    },
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
        // watts with up to two decimals (nvidia-smi -q prints 74.84 W), as mW
        let milliwatts = || {
            let v = value.trim();
            let (w, frac) = v.split_once('.').unwrap_or((v, ""));
            let want = "watts (a number with up to two decimals)";
            if frac.len() > 2 || !frac.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad(want));
            }
            let w: u32 = w.parse().map_err(|_| bad(want))?;
            let cents: u32 = format!("{frac:0<2}").parse().map_err(|_| bad(want))?;
            w.checked_mul(1000)
                .and_then(|m| m.checked_add(cents * 10))
                .ok_or_else(|| bad(want))
        };
        let count = || {
            value
                .trim()
                .parse::<u64>()
                .map_err(|_| bad("a whole number"))
        };
        Ok(match key.trim() {
            "temperature" => Setting::Temperature(num()?),
            "power-average" => Setting::PowerAverage(milliwatts()?),
            "memory-power" => Setting::MemoryPower(milliwatts()?),
            "pcie-tx" => Setting::PcieTx(num()?),
            "pcie-rx" => Setting::PcieRx(num()?),
            "ecc-sram-corrected" => Setting::Ecc(EccCounter::SramCorrected, count()?),
            "ecc-sram-uncorrected" => Setting::Ecc(EccCounter::SramUncorrected, count()?),
            "ecc-dram-corrected" => Setting::Ecc(EccCounter::DramCorrected, count()?),
            "ecc-dram-uncorrected" => Setting::Ecc(EccCounter::DramUncorrected, count()?),
            "virtualization" => Setting::Virtualization(match value.trim() {
                "none" => Virtualization::None,
                "pass-through" => Virtualization::PassThrough,
                _ => return Err(bad("none or pass-through")),
            }),
            "memory-temperature" => Setting::MemoryTemperature(num()?),
            "power" => Setting::Power(milliwatts()?),
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
        let unknown = |key, what| SettingError::NotModelled {
            key,
            board: board.clone(),
            what,
        };
        let t = &mut g.telemetry;
        match *self {
            Setting::Temperature(v) => t.temperature_c = range("temperature", v, 0, 120)?,
            Setting::MemoryTemperature(v) => {
                t.memory_temperature_c = range("memory-temperature", v, 0, 120)?
            }
            Setting::Power(w) => {
                let max = b
                    .power_max_mw
                    .ok_or_else(|| unknown("power", "power limit"))?;
                t.power_mw = range("power", w / 1000, 0, 2 * max / 1000).map(|_| w)?
            }
            Setting::PowerAverage(mw) | Setting::MemoryPower(mw) => {
                let max = b
                    .power_max_mw
                    .ok_or_else(|| unknown("power-average", "power limit"))?;
                // checked in whole watts, as the error reports them
                let mw = range("power-average", mw / 1000, 0, 2 * max / 1000).map(|_| mw)?;
                if matches!(self, Setting::PowerAverage(_)) {
                    t.power_average_mw = mw;
                } else {
                    t.memory_power_mw = mw;
                }
            }
            // PCIe 6 x16 moves at most 128 GB/s each way
            Setting::PcieTx(v) => t.pcie_tx_kbs = range("pcie-tx", v, 0, 128_000_000)?,
            Setting::PcieRx(v) => t.pcie_rx_kbs = range("pcie-rx", v, 0, 128_000_000)?,
            Setting::Ecc(which, n) => {
                let e = &mut t.ecc;
                *match which {
                    EccCounter::SramCorrected => &mut e.sram_corrected,
                    EccCounter::SramUncorrected => &mut e.sram_uncorrected,
                    EccCounter::DramCorrected => &mut e.dram_corrected,
                    EccCounter::DramUncorrected => &mut e.dram_uncorrected,
                } = n;
            }
            Setting::Virtualization(v) => t.virtualization = v,
            Setting::PowerLimit(w) => {
                let what = "power limit range";
                let min = b.power_min_mw.ok_or_else(|| unknown("power-limit", what))?;
                let max = b.power_max_mw.ok_or_else(|| unknown("power-limit", what))?;
                let w = range("power-limit", w, min / 1000, max / 1000)?;
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
                let max = b
                    .max_sm_clock_mhz
                    .ok_or_else(|| unknown("sm-clock", "maximum SM clock"))?;
                t.sm_clock_mhz = Some(range("sm-clock", v, 1, max)?)
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
        assert_eq!(Setting::parse("power=300"), Ok(Setting::Power(300_000)));
        assert_eq!(Setting::parse("power=74.84"), Ok(Setting::Power(74_840)));
        assert!(Setting::parse("power=74.845").is_err());
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
        assert_eq!(st.gpus[0].power_limit_mw(), Some(300_000));
        assert_ne!(st, before);
    }

    /// Proves the board facts equal what the lent H100 and H200 reported
    /// (h100_q.txt, catalog/measured/h200-580.159.04/q.txt and
    /// monitoring-probe.json), and that a board no capture describes has its
    /// unsourced facts absent rather than another board's.
    #[test]
    fn board_facts_match_the_measured_boards() {
        let b = |s| board(mig_model::catalog::model(s).unwrap());
        let h100 = b("h100-sxm5-80gb");
        assert_eq!(h100.bar1_mib, Some(131072));
        assert_eq!(
            (h100.power_min_mw, h100.power_max_mw),
            (Some(200_000), Some(700_000))
        );
        assert_eq!(
            (h100.max_sm_clock_mhz, h100.mem_clock_mhz),
            (Some(1980), Some(2619))
        );
        let h200 = b("h200-sxm5-141gb");
        assert_eq!(h200.bar1_mib, Some(262144));
        assert_eq!(
            (h200.idle_sm_clock_mhz, h200.mem_clock_mhz),
            (Some(345), Some(3201))
        );
        assert_eq!(
            (h200.pcie_gen, h200.pcie_width, h200.has_fan),
            (Some(5), Some(16), false)
        );
        // monitoring-probe.json nvmlDeviceGetTemperatureThreshold(0..3)
        assert_eq!(
            (
                h200.temp_shutdown_c,
                h200.temp_slowdown_c,
                h200.temp_mem_max_c,
                h200.temp_gpu_max_c
            ),
            (Some(95), Some(89), Some(95), Some(87))
        );
        assert_eq!(h200.measured.map(|m| m.board_id), Some(6));
        assert!(h100.measured.is_some_and(|m| m.probe.is_none()));
        let a100 = b("a100-sxm4-40gb");
        assert!(a100.measured.is_none());
        assert_eq!((a100.bar1_mib, a100.temp_shutdown_c), (None, None));
        assert_eq!((a100.pcie_gen, a100.idle_sm_clock_mhz), (None, None));
        assert_eq!(a100.power_max_mw, Some(400_000));
    }

    /// Proves a setting that needs a fact the board lacks is refused with
    /// an error that says it is not modelled, and changes nothing.
    #[test]
    fn settings_needing_an_unmodelled_fact_are_refused() {
        let mut st = MachineState::new(&[("a30-24gb".into(), false)]).unwrap();
        let before = st.clone();
        let e = apply_all(&mut st, &[0], &[Setting::PowerLimit(150)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not modelled"), "{e}");
        assert_eq!(st, before);
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
