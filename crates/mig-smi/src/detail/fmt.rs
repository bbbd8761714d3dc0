//! Text helpers of the `-q` log: `key : value` lines at nvidia-smi's
//! column, section titles, and nvidia-smi's spellings of values.

use mig_model::readings::Read;

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

    /// `key : value` at `depth` with the colon at column `column`: the
    /// `Processes` entries of nvidia-smi 580 have theirs at 42.
    pub fn kv_at(&mut self, column: usize, depth: usize, key: &str, value: impl AsRef<str>) {
        let k = format!("{:w$}{key}", "", w = depth * 4);
        self.s.push_str(&format!(
            "{k:<column$}: {}
",
            value.as_ref()
        ));
    }

    /// A section title at `depth`.
    pub fn title(&mut self, depth: usize, name: &str) {
        self.s
            .push_str(&format!("{:w$}{name}\n", "", w = depth * 4));
    }
}

pub(crate) const NA: &str = "N/A";

/// A sampling block of `-q -d UTILIZATION|POWER|CLOCK` (duration, count,
/// max, min, average over the driver's sample buffer,
/// `nvmlDeviceGetSamples`). No backend reads samples (the simulator keeps
/// none), so each line is `N/A`, as the real nvidia-smi 580.159.04 printed
/// them over the simulated machine; on a real board it prints figures.
pub(crate) fn samples(l: &mut Log, title: &str) {
    l.title(1, title);
    for k in ["Duration", "Number of Samples", "Max", "Min", "Avg"] {
        l.kv(2, k, NA);
    }
}
pub(crate) const MIB: u64 = 1 << 20;

/// A read value as text, or `N/A` for one that could not be read.
pub(crate) fn na<T>(r: &Read<T>, f: impl Fn(&T) -> String) -> String {
    match r {
        Ok(v) => f(v),
        Err(_) => NA.into(),
    }
}

pub(crate) fn enabled(b: &bool) -> String {
    if *b { "Enabled" } else { "Disabled" }.into()
}

pub(crate) fn yes_no(b: &bool) -> String {
    if *b { "Yes" } else { "No" }.into()
}

pub(crate) fn mhz(v: &u32) -> String {
    format!("{v} MHz")
}

/// Bytes as nvidia-smi prints them: to the nearest MiB.
pub(crate) fn mib(bytes: u64) -> String {
    format!("{} MiB", (bytes + MIB / 2) / MIB)
}

pub(crate) fn watts(mw: &u32) -> String {
    format!("{}.{:02} W", mw / 1000, mw % 1000 / 10)
}

pub(crate) fn pct(v: &u32) -> String {
    format!("{v} %")
}
