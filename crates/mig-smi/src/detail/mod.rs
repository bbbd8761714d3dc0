//! `nvidia-smi -q`: nvidia-smi 580's detailed query, from the backend's
//! values. The log header (time stamp, driver and CUDA versions, attached
//! GPUs), then one block per GPU with its sections ([`sections`]); `-d`
//! keeps the chosen sections only ([`Display`]).
//!
//! The whole view with MIG disabled is checked byte for byte against real
//! nvidia-smi 580.159.04 captures (H100 and H200); the `MIG Devices` section
//! and the `-d` layouts follow nvidia-smi's documented behaviour where no
//! capture exists (docs/nvidia-smi-formats.md says which is which).

pub mod run;
mod sections;

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
    fn shows(&self, d: Display) -> bool {
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

/// Lines of `key : value` with nvidia-smi's column (the colon at column 55).
pub(crate) struct Log {
    pub s: String,
}

impl Log {
    /// `key : value` at `depth` (four spaces each).
    pub fn kv(&mut self, depth: usize, key: &str, value: impl AsRef<str>) {
        let k = format!("{:w$}{key}", "", w = depth * 4);
        self.s.push_str(&format!("{k:<55}: {}\n", value.as_ref()));
    }

    /// A section title at `depth`.
    pub fn title(&mut self, depth: usize, name: &str) {
        self.s
            .push_str(&format!("{:w$}{name}\n", "", w = depth * 4));
    }
}

/// The whole `-q` view.
pub fn render(h: &QHeader<'_>, gpus: &[QGpu<'_>], filter: &Filter) -> String {
    let mut l = Log { s: String::new() };
    l.s.push_str("\n==============NVSMI LOG==============\n\n");
    l.kv(0, "Timestamp", h.date);
    l.kv(0, "Driver Version", h.driver);
    let cuda = h
        .cuda
        .map(|(ma, mi)| format!("{ma}.{mi}"))
        .unwrap_or_else(|| "N/A".into());
    l.kv(0, "CUDA Version", cuda);
    l.s.push('\n');
    l.kv(0, "Attached GPUs", h.attached.to_string());
    for g in gpus {
        l.title(0, &format!("GPU {}", g.dev.pci_bus_id));
        sections::gpu(&mut l, g, filter);
        l.s.push('\n');
    }
    l.s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves `-d` names parse in any case, in nvidia-smi's order, and an
    /// unknown one is named.
    #[test]
    fn display_lists_parse() {
        assert_eq!(
            Display::parse_list("ecc,MEMORY"),
            Ok(vec![Display::Memory, Display::Ecc])
        );
        assert_eq!(Display::parse_list("MEMORY,BOGUS"), Err("BOGUS".into()));
        assert_eq!(Display::parse_list(""), Err(String::new()));
    }

    /// Proves keys line up at nvidia-smi's column, nested or not.
    #[test]
    fn keys_line_up() {
        let mut l = Log { s: String::new() };
        l.kv(0, "Timestamp", "x");
        l.kv(2, "Current", "y");
        let lines: Vec<&str> = l.s.lines().collect();
        assert_eq!(lines[0].find(':'), Some(55));
        assert_eq!(lines[1].find(':'), Some(55));
    }
}
