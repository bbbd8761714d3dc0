//! Bare `nvidia-smi`: nvidia-smi 580's default view, from the backend's
//! values. The date line, the header (NVIDIA-SMI, driver and CUDA
//! versions), the GPU table, the MIG devices table (when a GPU shown has
//! MIG enabled) and the processes table, each table after one empty line.
//!
//! The GPU table, the header and the empty processes table are checked byte
//! for byte against real nvidia-smi 580.159.04 captures (H100 and H200, MIG
//! disabled, no processes); the whole view, MIG devices table and process
//! rows included, against what the real nvidia-smi 580.159.04 printed over
//! the simulated machines (`crates/migctl/tests/real_smi.rs`).

use std::fmt::Write as _;

use mig_model::backend::{DeviceInfo, MigDeviceInfo, ProcessInfo};
use mig_model::readings::{Read, Readings};

/// One GPU as the default view shows it.
pub struct ViewGpu<'a> {
    pub dev: &'a DeviceInfo,
    pub r: &'a Readings,
    /// Its MIG devices, in the driver's order (empty with MIG off).
    pub migs: &'a [MigDeviceInfo],
}

/// What the header shows.
pub struct Header<'a> {
    /// The date line's text, e.g. `Tue Nov 24 10:52:32 2026`.
    pub date: &'a str,
    pub driver: &'a str,
    /// `nvmlSystemGetCudaDriverVersion_v2`, when the backend reads it.
    pub cuda: Option<(u32, u32)>,
}

const WIDE_RULE: &str =
    "+-----------------------------------------------------------------------------------------+\n";
const GPU_RULE: &str =
    "+-----------------------------------------+------------------------+----------------------+\n";
const MIG_RULE: &str =
    "+------------------+----------------------------------+-----------+-----------------------+\n";

/// A reading as text, or `N/A` as nvidia-smi prints what it could not read.
fn or_na<T>(r: &Read<T>, f: impl Fn(&T) -> String) -> String {
    match r {
        Ok(v) => f(v),
        Err(_) => "N/A".into(),
    }
}

/// Watts as the default view prints milliwatts: truncated to the watt
/// (74840 mW prints `74W` in the real nvidia-smi 580's recording,
/// `tests/golden/real-smi/`).
fn watts(mw: &u32) -> String {
    format!("{}W", mw / 1000)
}

/// nvidia-smi's short names of `nvmlComputeMode_t`.
fn compute_mode(m: &u32) -> String {
    match m {
        0 => "Default",
        1 => "E. Thread",
        2 => "Prohibited",
        3 => "E. Process",
        _ => "Unknown",
    }
    .into()
}

fn on_off(b: &bool) -> String {
    if *b { "On" } else { "Off" }.into()
}

/// Widest product name the GPU table prints whole: nvidia-smi 580 cuts
/// `NVIDIA RTX PRO 5000 Blackwell` (29 characters) to its first 24 and
/// `...` (the recording of `tests/golden/real-smi/`), 27 columns in all.
const NAME_WIDTH: usize = 27;

/// Text cut to `width` columns (nvidia-smi ends a cut name with `...`).
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let head: String = text.chars().take(width - 3).collect();
        format!("{head}...")
    }
}

/// Text cut to `width` columns from the left (`...` then the tail), as
/// nvidia-smi cuts long process names.
fn fit_tail(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n <= width {
        text.to_string()
    } else {
        let tail: String = text.chars().skip(n - (width - 3)).collect();
        format!("...{tail}")
    }
}

fn header(s: &mut String, h: &Header<'_>) {
    let _ = writeln!(s, "{}       ", h.date);
    s.push_str(WIDE_RULE);
    let cuda = h
        .cuda
        .map(|(ma, mi)| format!("{ma}.{mi}"))
        .unwrap_or_else(|| "N/A".into());
    // nvidia-smi's own version is the driver's
    let _ = writeln!(
        s,
        "| NVIDIA-SMI {:<23}Driver Version: {:<15}CUDA Version: {:<9}|",
        h.driver, h.driver, cuda
    );
}

fn gpu_table(s: &mut String, gpus: &[ViewGpu<'_>]) {
    s.push_str(GPU_RULE);
    s.push_str("| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |\n");
    s.push_str("| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |\n");
    s.push_str("|                                         |                        |               MIG M. |\n");
    s.push_str("|=========================================+========================+======================|\n");
    for g in gpus {
        let (d, r) = (g.dev, g.r);
        let persistence = match r.persistence {
            Ok(true) => "On",
            Ok(false) => "Off",
            Err(_) => "N/A",
        };
        // with MIG on, the GPU handle has no volatile counts: nvidia-smi
        // shows the ECC mode instead (the guide's H100 transcript)
        let ecc = match (&r.ecc_volatile_uncorrected, &r.ecc_mode) {
            (Ok(n), _) => n.to_string(),
            (Err(_), Ok(mode)) if d.mig.current => on_off(mode),
            _ => "N/A".into(),
        };
        let _ = writeln!(
            s,
            "|{:>4}  {:<31}{:<4}|{:>19} {:>3} |{:>21} |",
            d.index,
            fit(&d.name, NAME_WIDTH),
            persistence,
            d.pci_bus_id,
            or_na(&r.display_active, on_off),
            ecc
        );
        let used = or_na(&r.memory_used_reserved, |(u, _)| format!("{}MiB", u >> 20));
        let _ = writeln!(
            s,
            "|{:>4}{:>6}{:>6}{:>16} / {:>5} |{:>11} / {:>9} |{:>8}{:>13} |",
            or_na(&r.fan_percent, |f| format!("{f}%")),
            or_na(&r.temperature_gpu, |t| format!("{t}C")),
            or_na(&r.pstate, |p| format!("P{p}")),
            or_na(&r.power_draw_mw, watts),
            or_na(&r.power_limit_mw, watts),
            used,
            format!("{}MiB", d.memory_total_bytes >> 20),
            or_na(&r.utilization, |(u, _)| format!("{u}%")),
            or_na(&r.compute_mode, compute_mode),
        );
        let mig = if d.mig.current { "Enabled" } else { "Disabled" };
        let _ = writeln!(
            s,
            "|                                         |                        |{mig:>21} |"
        );
        s.push_str(GPU_RULE);
    }
}

fn mig_table(s: &mut String, gpus: &[ViewGpu<'_>]) {
    s.push_str(WIDE_RULE);
    s.push_str("| MIG devices:                                                                            |\n");
    s.push_str(MIG_RULE);
    s.push_str("| GPU  GI  CI  MIG |              Shared Memory-Usage |        Vol|        Shared         |\n");
    s.push_str("|      ID  ID  Dev |                Shared BAR1-Usage | SM     Unc| CE ENC  DEC  OFA  JPG |\n");
    s.push_str("|                  |                                  |        ECC|                       |\n");
    s.push_str("|==================+==================================+===========+=======================|\n");
    let mut any = false;
    for g in gpus {
        let ecc = or_na(&g.r.mig_ecc_volatile_uncorrected, u64::to_string);
        // nvidia-smi leaves out a MIG device whose BAR1 it cannot read (the
        // real nvidia-smi's recording: with every MIG device's BAR1
        // NOT_SUPPORTED it prints `No MIG devices found`)
        for (m, (bar1_used, bar1_total)) in g
            .migs
            .iter()
            .filter_map(|m| m.bar1_mb.as_ref().ok().map(|b| (m, *b)))
        {
            any = true;
            let _ = writeln!(
                s,
                "|{:>3}{:>5}{:>4}{:>4}  |{:>19} / {:>8}    | {:<2}{:>7} |{:>3}{:>4}{:>5}{:>5}{:>5} |",
                g.dev.index,
                m.gi.0,
                m.ci.0,
                m.index,
                format!("{}MiB", m.memory_used_mb),
                format!("{}MiB", m.memory_mb),
                m.sm,
                ecc,
                m.ce,
                m.enc,
                m.dec,
                m.ofa,
                m.jpeg
            );
            let _ = writeln!(
                s,
                "|                  |{:>19} / {:>8}    |           |                       |",
                format!("{bar1_used}MiB"),
                format!("{bar1_total}MiB")
            );
            s.push_str(MIG_RULE);
        }
    }
    if !any {
        let _ = writeln!(s, "|  {:<87}|", "No MIG devices found");
        s.push_str(WIDE_RULE);
    }
}

fn process_table(s: &mut String, procs: &[ProcessInfo]) {
    s.push_str(WIDE_RULE);
    s.push_str("| Processes:                                                                              |\n");
    s.push_str("|  GPU   GI   CI              PID   Type   Process name                        GPU Memory |\n");
    s.push_str("|        ID   ID                                                               Usage      |\n");
    s.push_str("|=========================================================================================|\n");
    if procs.is_empty() {
        let _ = writeln!(s, "|  {:<87}|", "No running processes found");
    }
    for p in procs {
        // a process on a MIG-disabled GPU has no GI or CI: nvidia-smi
        // prints `N/A` one column to the right of where the IDs stand
        // (`|    1   N/A  N/A            4101`, the real nvidia-smi's
        // recording) and the PID column one narrower
        let ids = match (p.gi, p.ci) {
            (Some(gi), Some(ci)) => format!("{:>5}{:>5}{:>17}", gi.0, ci.0, p.pid),
            (gi, ci) => {
                let id = |v: Option<u32>| v.map_or_else(|| "N/A".into(), |v| v.to_string());
                format!(
                    "{:>6}{:>5}{:>16}",
                    id(gi.map(|g| g.0)),
                    id(ci.map(|c| c.0)),
                    p.pid
                )
            }
        };
        let _ = writeln!(
            s,
            "|{:>5}{ids}{:>7}   {:<36}{:>10} |",
            p.gpu,
            // the backends list compute processes only
            "C",
            fit_tail(&p.name, 36),
            format!("{}MiB", p.used_memory_mb)
        );
    }
    s.push_str(WIDE_RULE);
}

/// The whole default view.
pub fn render(h: &Header<'_>, gpus: &[ViewGpu<'_>], procs: &[ProcessInfo]) -> String {
    let mut s = String::new();
    header(&mut s, h);
    gpu_table(&mut s, gpus);
    if gpus.iter().any(|g| g.dev.mig.current) {
        s.push('\n');
        mig_table(&mut s, gpus);
    }
    s.push('\n');
    process_table(&mut s, procs);
    s
}

/// `Tue Nov 24 10:52:32 2026` for seconds since the epoch, UTC (the date
/// line of nvidia-smi, which prints local time: a host on UTC).
pub fn date_line(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // civil date from days since 1970-01-01 (H. Hinnant's algorithm)
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        year
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The date line of the H100 capture (2026-11-24 10:52:32 UTC) comes
    /// out of its epoch seconds.
    #[test]
    fn date_line_matches_the_capture() {
        assert_eq!(date_line(1_795_517_552), "Tue Nov 24 10:52:32 2026");
        assert_eq!(date_line(0), "Thu Jan  1 00:00:00 1970");
    }

    /// Watts are truncated, not rounded: 74840 mW is `74W`, as the real
    /// nvidia-smi 580 printed the simulated boards' idle draw.
    #[test]
    fn watts_truncate() {
        assert_eq!(watts(&74_840), "74W");
        assert_eq!(watts(&700_000), "700W");
        assert_eq!(watts(&999), "0W");
    }

    /// Product names up to 27 columns print whole; a longer one keeps its
    /// first 24 and `...` (`NVIDIA RTX PRO 5000 Blac...` in the recording).
    #[test]
    fn long_product_names_are_cut_at_27_columns() {
        assert_eq!(
            fit("NVIDIA RTX PRO 5000 Blackwell", NAME_WIDTH),
            "NVIDIA RTX PRO 5000 Blac..."
        );
        assert_eq!(
            fit("NVIDIA H100 80GB HBM3", NAME_WIDTH),
            "NVIDIA H100 80GB HBM3"
        );
        let exact = "N".repeat(NAME_WIDTH);
        assert_eq!(fit(&exact, NAME_WIDTH), exact);
    }

    /// A process on a MIG device prints its GI and CI IDs; one on a
    /// MIG-disabled GPU prints `N/A` for both, one column further right,
    /// with the PID where the recorded view has it.
    #[test]
    fn process_rows_with_and_without_instances() {
        use mig_model::{ComputeInstanceId, GpuInstanceId};
        let p = |gpu, gi: Option<u32>, ci: Option<u32>, pid, name: &str, mb| ProcessInfo {
            pid,
            gpu,
            gi: gi.map(GpuInstanceId),
            ci: ci.map(ComputeInstanceId),
            name: name.into(),
            used_memory_mb: mb,
        };
        let mut s = String::new();
        process_table(
            &mut s,
            &[
                p(0, Some(2), Some(0), 4100, "python", 6000),
                p(1, None, None, 4101, "trainer", 12000),
            ],
        );
        assert!(s.contains(
            "\n|    0    2    0             4100      C   python                                 6000MiB |\n"
        ));
        assert!(s.contains(
            "\n|    1   N/A  N/A            4101      C   trainer                               12000MiB |\n"
        ));
    }

    /// Long process names keep their tail, as nvidia-smi cuts them.
    #[test]
    fn long_names_keep_their_tail() {
        let name = "/usr/local/cuda/samples/bin/x86_64/linux/release/BlackScholes";
        let cut = fit_tail(name, 36);
        assert_eq!(cut.chars().count(), 36);
        assert!(cut.starts_with("...") && cut.ends_with("release/BlackScholes"));
    }
}
