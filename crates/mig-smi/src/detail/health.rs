//! The health sections of one GPU in `nvidia-smi -q`: ECC, remapped rows,
//! temperature, power and clocks, in nvidia-smi 580's layout (see
//! [`super::sections`]).

use super::fmt::{enabled, mhz, na, watts, yes_no, Log, NA};
use super::select::QGpu;
use mig_model::details::EccSet;
use mig_model::readings::Read;

fn ecc_set(l: &mut Log, e: &Read<EccSet>) {
    let f = |get: fn(&EccSet) -> u64| na(e, |s| get(s).to_string());
    l.kv(3, "SRAM Correctable", f(|s| s.sram_corrected));
    l.kv(
        3,
        "SRAM Uncorrectable Parity",
        f(|s| s.sram_uncorrected_parity),
    );
    l.kv(
        3,
        "SRAM Uncorrectable SEC-DED",
        f(|s| s.sram_uncorrected_secded),
    );
    l.kv(3, "DRAM Correctable", f(|s| s.dram_corrected));
    l.kv(3, "DRAM Uncorrectable", f(|s| s.dram_uncorrected));
}

/// `all`: the whole log, where DRAM Encryption Mode leads this section (the
/// real nvidia-smi's `-q -d ECC` leaves it out).
pub(super) fn ecc(l: &mut Log, g: &QGpu<'_>, all: bool) {
    let (r, d) = (g.r, g.d);
    if all {
        l.title(1, "DRAM Encryption Mode");
        l.kv(2, "Current", NA);
        l.kv(2, "Pending", NA);
    }
    l.title(1, "ECC Mode");
    l.kv(2, "Current", na(&r.ecc_mode, enabled));
    l.kv(2, "Pending", na(&d.ecc_pending, enabled));
    l.title(1, "ECC Errors");
    l.title(2, "Volatile");
    ecc_set(l, &d.ecc.and_then(|e| e.volatile));
    l.title(2, "Aggregate");
    ecc_set(l, &d.ecc.map(|e| e.aggregate));
    l.kv(
        3,
        "SRAM Threshold Exceeded",
        na(&d.ecc, |e| yes_no(&e.sram_threshold_exceeded)),
    );
    l.title(2, "Aggregate Uncorrectable SRAM Sources");
    for (i, k) in [
        "SRAM L2",
        "SRAM SM",
        "SRAM Microcontroller",
        "SRAM PCIE",
        "SRAM Other",
    ]
    .iter()
    .enumerate()
    {
        l.kv(3, k, na(&d.ecc, |e| e.sram_sources[i].to_string()));
    }
    l.kv(
        2,
        "Channel Repair Pending",
        na(&d.repair_pending, |(c, _)| yes_no(c)),
    );
    l.kv(
        2,
        "TPC Repair Pending",
        na(&d.repair_pending, |(_, t)| yes_no(t)),
    );
    l.kv(2, "Unrepairable Memory", na(&d.unrepairable_memory, yes_no));
}

pub(super) fn remapped_rows(l: &mut Log, g: &QGpu<'_>) {
    let d = g.d;
    let rr = &d.remapped_rows;
    l.title(1, "Remapped Rows");
    l.kv(
        2,
        "Correctable Error",
        na(rr, |r| r.correctable.to_string()),
    );
    l.kv(
        2,
        "Inactive Correctable Error",
        na(rr, |r| r.inactive_correctable.to_string()),
    );
    l.kv(
        2,
        "Uncorrectable Error",
        na(rr, |r| r.uncorrectable.to_string()),
    );
    l.kv(
        2,
        "Inactive Uncorrectable Error",
        na(rr, |r| r.inactive_uncorrectable.to_string()),
    );
    l.kv(2, "Pending", na(rr, |r| yes_no(&r.pending)));
    l.kv(
        2,
        "Remapping Failure Occurred",
        na(rr, |r| yes_no(&r.failure)),
    );
    l.title(2, "Bank Remap Availability Histogram");
    for (i, k) in ["Max", "High", "Partial", "Low", "None"].iter().enumerate() {
        l.kv(
            3,
            k,
            na(&d.remap_histogram, |h| format!("{} bank(s)", h[i])),
        );
    }
}

pub(super) fn temperature(l: &mut Log, g: &QGpu<'_>) {
    let (r, d) = (g.r, g.d);
    let c = |v: &i64| format!("{v} C");
    l.title(1, "Temperature");
    l.kv(
        2,
        "GPU Current Temp",
        na(&r.temperature_gpu, |t| c(&(*t as i64))),
    );
    l.kv(
        2,
        "GPU T.Limit Temp",
        na(&d.temperature_margin, |m| c(&(*m as i64))),
    );
    // With a T.Limit reading, thresholds print relative to it: the GPU
    // maximum operating temperature less the threshold. Without one the
    // real nvidia-smi 580.159.04 prints the absolute thresholds under names
    // without "T.Limit" (its -q over boards whose margin the simulator does
    // not model: tests/golden/real-smi/).
    let [shutdown, slowdown, gpu_max] = &d.temperature_thresholds;
    let relative = d.temperature_margin.is_ok();
    let show = |t: &Read<u32>| match (relative, gpu_max, t) {
        (true, Ok(max), Ok(t)) => c(&(i64::from(*max) - i64::from(*t))),
        (false, _, Ok(t)) => c(&i64::from(*t)),
        _ => NA.into(),
    };
    let name = |what: &str| {
        if relative {
            format!("{what} T.Limit Temp")
        } else {
            format!("{what} Temp")
        }
    };
    l.kv(2, &name("GPU Shutdown"), show(shutdown));
    l.kv(2, &name("GPU Slowdown"), show(slowdown));
    l.kv(2, &name("GPU Max Operating"), show(gpu_max));
    l.kv(2, "GPU Target Temperature", NA);
    l.kv(
        2,
        "Memory Current Temp",
        na(&r.temperature_memory, |t| c(&(*t as i64))),
    );
    // the memory's T.Limit is the one reading here; no absolute memory
    // maximum is read
    let memory_max = if relative {
        na(&d.memory_tlimit, |t| c(&(*t as i64)))
    } else {
        NA.into()
    };
    l.kv(2, &name("Memory Max Operating"), memory_max);
}

/// `samples`: `-q -d POWER`, which adds the sampling block after the GPU's
/// readings.
pub(super) fn power(l: &mut Log, g: &QGpu<'_>, samples: bool) {
    let (r, d) = (g.r, g.d);
    l.title(1, "GPU Power Readings");
    l.kv(2, "Average Power Draw", na(&d.power_average_mw, watts));
    l.kv(2, "Instantaneous Power Draw", na(&r.power_draw_mw, watts));
    l.kv(
        2,
        "Current Power Limit",
        na(&r.enforced_power_limit_mw, watts),
    );
    l.kv(2, "Requested Power Limit", na(&r.power_limit_mw, watts));
    l.kv(
        2,
        "Default Power Limit",
        na(&r.default_power_limit_mw, watts),
    );
    l.kv(
        2,
        "Min Power Limit",
        na(&r.power_limit_range_mw, |(lo, _)| watts(lo)),
    );
    l.kv(
        2,
        "Max Power Limit",
        na(&r.power_limit_range_mw, |(_, hi)| watts(hi)),
    );
    // nvidia-smi 580 prints this title with a trailing space
    if samples {
        super::fmt::samples(l, "Power Samples");
    }
    l.title(1, "GPU Memory Power Readings ");
    l.kv(
        2,
        "Average Power Draw",
        na(&d.memory_power_average_mw, watts),
    );
    l.kv(2, "Instantaneous Power Draw", NA);
    l.title(1, "Module Power Readings");
    for k in [
        "Average Power Draw",
        "Instantaneous Power Draw",
        "Current Power Limit",
        "Requested Power Limit",
        "Default Power Limit",
        "Min Power Limit",
        "Max Power Limit",
    ] {
        l.kv(2, k, NA);
    }
}

/// `samples`: `-q -d CLOCK`, which adds the SM and memory sampling blocks.
pub(super) fn clocks(l: &mut Log, g: &QGpu<'_>, samples: bool) {
    let r = g.r;
    let four = ["Graphics", "SM", "Memory", "Video"];
    l.title(1, "Clocks");
    for (k, v) in four.iter().zip(&r.clocks) {
        l.kv(2, k, na(v, mhz));
    }
    for (name, v) in [
        ("Applications Clocks", &r.app_clocks),
        ("Default Applications Clocks", &r.default_app_clocks),
    ] {
        l.title(1, name);
        l.kv(2, "Graphics", na(&v[0], mhz));
        l.kv(2, "Memory", na(&v[1], mhz));
    }
    l.title(1, "Deferred Clocks");
    l.kv(2, "Memory", NA);
    l.title(1, "Max Clocks");
    for (k, v) in four.iter().zip(&r.max_clocks) {
        l.kv(2, k, na(v, mhz));
    }
    l.title(1, "Max Customer Boost Clocks");
    l.kv(2, "Graphics", na(&g.d.max_boost_clock_mhz, mhz));
    if samples {
        super::fmt::samples(l, "SM Clock Samples");
        super::fmt::samples(l, "Memory Clock Samples");
    }
    l.title(1, "Clock Policy");
    l.kv(2, "Auto Boost", NA);
    l.kv(2, "Auto Boost Default", NA);
}
