//! Bare `migctl` (nvidia-smi's default view) against what nvidia-smi 580
//! printed.
//!
//! - `catalog/measured/{h100,h200}-580.159.04/status.txt`: the real
//!   nvidia-smi 580.159.04 on a lent H100 80GB HBM3 and H200, MIG disabled,
//!   no processes. A simulated board of the same model, its modelled
//!   readings set to what the lent board read (`migctl sim set`), must print
//!   the same bytes, the date line and the board's own PCI bus ID aside.
//! - The MIG User Guide's (580.65.06) H100 transcript with two 3g.40gb
//!   instances and its MPS process table: their table headers and rows, in
//!   the guide's layout, the simulator's own pids and memory in use aside.

mod common;

use std::path::Path;

fn capture(dir: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../catalog/measured")
        .join(dir)
        .join("status.txt");
    std::fs::read_to_string(p).expect("measured status.txt")
}

/// The number before `suffix` in the word of `line` that ends with it
/// (`32C`, `89W`).
fn reading(line: &str, suffix: char) -> String {
    line.split([' ', '|', '/'])
        .find_map(|w| w.strip_suffix(suffix).filter(|n| n.parse::<u32>().is_ok()))
        .unwrap_or_else(|| panic!("no {suffix} reading in {line:?}"))
        .to_string()
}

/// Proves the header, the GPU table (name, persistence, bus ID, Disp.A,
/// ECC, fan, temperature, perf state, power usage and cap, memory usage,
/// utilization, compute and MIG modes) and the empty processes table of the
/// real boards print byte for byte from the simulator's readings.
#[test]
fn measured_boards_default_view_equals_real_nvidia_smi() {
    for (dir, model) in [
        ("h100-580.159.04", "h100-sxm5-80gb"),
        ("h200-580.159.04", "h200-sxm5-141gb"),
    ] {
        let real = capture(dir);
        let m = common::Machine::new();
        m.ok(&["sim", "init", model]);
        let row = real.lines().nth(9).expect("the GPU's second row");
        let temperature = format!("temperature={}", reading(row, 'C'));
        let power = format!("power={}", reading(row, 'W'));
        // before: the simulator's defaults differ from the lent board's
        let before = common::mask_date(&m.ok(&[]));
        m.ok(&["sim", "set", &temperature, &power]);
        let got = common::mask_date(&m.ok(&[]));
        assert_ne!(before, got, "{dir}: the readings come from the backend");
        let bus = m.ok(&["--query-gpu=pci.bus_id", "--format=csv,noheader"]);
        let want = common::mask_date(&real).replace("00000000:00:06.0", bus.trim());
        common::assert_same(&got, &want, dir);
    }
}

/// Proves the MIG devices table (headers, rows, separators) and process rows
/// follow the guide's R580 H100 transcript: two 3g.40gb GIs with their
/// default CIs, and a process on each.
#[test]
fn guide_h100_mig_and_process_tables() {
    let m = common::Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb"]);
    m.ok(&["-i", "0", "-mig", "1"]);
    m.ok(&["mig", "-cgi", "9,9", "-C"]);
    for gi in ["1", "2"] {
        m.ok(&[
            "sim",
            "run",
            "--gpu",
            "0",
            "--gi",
            gi,
            "--ci",
            "0",
            "--name",
            "./bin/BlackScholes",
            "--memory",
            "326",
        ]);
    }
    let got = m.ok(&[]);
    let lines: Vec<&str> = got.lines().collect();
    assert!(lines
        .iter()
        .all(|l| l.is_empty() || l.len() == 91 || l.ends_with("       ")));
    let mig = lines
        .iter()
        .position(|l| *l == "| MIG devices:                                                                            |")
        .expect("MIG devices table");
    let want_head = [
        "+------------------+----------------------------------+-----------+-----------------------+",
        "| GPU  GI  CI  MIG |              Shared Memory-Usage |        Vol|        Shared         |",
        "|      ID  ID  Dev |                Shared BAR1-Usage | SM     Unc| CE ENC  DEC  OFA  JPG |",
        "|                  |                                  |        ECC|                       |",
        "|==================+==================================+===========+=======================|",
    ];
    assert_eq!(&lines[mig + 1..mig + 6], &want_head[..]);
    // the guide: `|  0    1   0   0  |              44MiB / 40448MiB    | 60      0 |  3   0    3    0    3 |`
    for (k, (gi, dev)) in [(1, 0), (2, 1)].into_iter().enumerate() {
        let row = lines[mig + 6 + 3 * k];
        // the memory in use is the simulator's
        let used = row
            .split('|')
            .nth(2)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap();
        let want = format!(
            "|  0    {gi}   0   {dev}  |{used:>19} / 40448MiB    | 60      0 |  3   0    3    0    3 |"
        );
        assert_eq!(row, want);
        assert_eq!(lines[mig + 8 + 3 * k], want_head[0]);
    }
    // the guide's rows, `|    0    1    0             3805    M+C   ./bin/BlackScholes                      326MiB |`:
    // its MPS client type aside (the simulator runs plain compute processes)
    let procs: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("BlackScholes"))
        .collect();
    assert_eq!(procs.len(), 2);
    for (gi, row) in [1, 2].iter().zip(procs) {
        let pid = row.split_whitespace().nth(4).unwrap();
        let want = format!(
            "|    0    {gi}    0{pid:>17}      C   ./bin/BlackScholes                      326MiB |"
        );
        assert_eq!(**row, want);
    }
}
