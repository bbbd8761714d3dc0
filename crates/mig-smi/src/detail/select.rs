//! What `-q` shows: the display types of `-d`, and the GPUs and header
//! read from the backend.

use mig_model::backend::{DeviceInfo, MigDeviceInfo, ProcessInfo};
use mig_model::details::Details;
use mig_model::readings::Readings;

/// nvidia-smi 580's `-d` display types (`nvidia-smi -h`), in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Display {
    Memory,
    Utilization,
    Ecc,
    Temperature,
    Power,
    Clock,
    Compute,
    Pids,
    Performance,
    SupportedClocks,
    PageRetirement,
    Accounting,
    EncoderStats,
    SupportedGpuTargetTemp,
    Voltage,
    FbcStats,
    RowRemapper,
    GspFirmwareVersion,
    PowerSmoothing,
    PowerProfiles,
}

impl Display {
    /// Every type with its `-d` name.
    pub const ALL: [(Display, &'static str); 20] = [
        (Display::Memory, "MEMORY"),
        (Display::Utilization, "UTILIZATION"),
        (Display::Ecc, "ECC"),
        (Display::Temperature, "TEMPERATURE"),
        (Display::Power, "POWER"),
        (Display::Clock, "CLOCK"),
        (Display::Compute, "COMPUTE"),
        (Display::Pids, "PIDS"),
        (Display::Performance, "PERFORMANCE"),
        (Display::SupportedClocks, "SUPPORTED_CLOCKS"),
        (Display::PageRetirement, "PAGE_RETIREMENT"),
        (Display::Accounting, "ACCOUNTING"),
        (Display::EncoderStats, "ENCODER_STATS"),
        (Display::SupportedGpuTargetTemp, "SUPPORTED_GPU_TARGET_TEMP"),
        (Display::Voltage, "VOLTAGE"),
        (Display::FbcStats, "FBC_STATS"),
        (Display::RowRemapper, "ROW_REMAPPER"),
        (Display::GspFirmwareVersion, "GSP_FIRMWARE_VERSION"),
        (Display::PowerSmoothing, "POWER_SMOOTHING"),
        (Display::PowerProfiles, "POWER_PROFILES"),
    ];

    /// Parse `-d`'s comma list (names in any case); `Err` names the first
    /// word that is no display type.
    pub fn parse_list(s: &str) -> Result<Vec<Display>, String> {
        let mut out = Vec::new();
        for w in s.split(',') {
            let w = w.trim();
            let d = Display::ALL
                .iter()
                .find(|(_, n)| n.eq_ignore_ascii_case(w))
                .map(|(d, _)| *d)
                .ok_or_else(|| w.to_string())?;
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }
}

/// What `-q` shows: everything, or the chosen display types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    All,
    Only(Vec<Display>),
}

impl Filter {
    pub(crate) fn shows(&self, d: Display) -> bool {
        match self {
            Filter::All => true,
            Filter::Only(v) => v.contains(&d),
        }
    }
}

/// One GPU as `-q` shows it.
pub struct QGpu<'a> {
    pub dev: &'a DeviceInfo,
    pub r: &'a Readings,
    pub d: &'a Details,
    /// Its MIG devices, in the driver's order (empty with MIG off); `d.migs`
    /// holds their memory in the same order.
    pub migs: &'a [MigDeviceInfo],
    /// Processes on the GPU or its MIG devices.
    pub procs: &'a [ProcessInfo],
}

/// What the log header shows.
pub struct QHeader<'a> {
    /// `Tue Nov 24 10:52:32 2026`.
    pub date: &'a str,
    pub driver: &'a str,
    pub cuda: Option<(u32, u32)>,
    /// Every GPU of the machine (`nvmlDeviceGetCount`), not only those shown.
    pub attached: usize,
}
