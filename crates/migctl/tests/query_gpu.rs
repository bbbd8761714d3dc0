//! `--query-gpu` and `--query-compute-apps` against what real boards printed.
//!
//! - `catalog/measured/{h100,h200}-580.159.04/query-gpu.csv`: the real
//!   nvidia-smi 580.159.04 on a lent H100 80GB HBM3 and H200 (MIG disabled).
//!   migctl on a simulated board of the same model must print the same
//!   bytes, the board's own UUID and PCI bus ID aside (those name the lent
//!   machine's board; the simulated board has its own, taken from `-L`).
//! - `shared/reference/h100-80gb-hbm3/h100_q.txt`: the VBIOS version the same
//!   H100 showed in `-q`, for the MIG User Guide's
//!   `nvidia-smi --query-gpu=vbios_version --format=csv`.
//!
//! The remaining cases (aliases, noheader/nounits, errors, `-i`, processes)
//! are consistency checks of migctl's reading of nvidia-smi's CSV format.

mod common;

use std::path::Path;

fn measured(dir: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../catalog/measured")
        .join(dir)
        .join("query-gpu.csv");
    std::fs::read_to_string(p).expect("measured query-gpu.csv")
}

/// `(uuid, pci bus id)` of each simulated GPU, from `-L` and the state file.
fn board_ids(m: &common::Machine) -> Vec<(String, String)> {
    let csv = m.ok(&["--query-gpu=uuid,pci.bus_id", "--format=csv,noheader"]);
    csv.lines()
        .map(|l| {
            let (u, b) = l.split_once(", ").expect("two columns");
            (u.to_string(), b.to_string())
        })
        .collect()
}

/// Proves the real boards' query (nine fields: name, PCI IDs, memory, bus
/// ID, UUID, MIG modes, driver) prints byte for byte, the board IDs aside.
#[test]
fn measured_boards_query_gpu_equals_real_nvidia_smi() {
    for (dir, model) in [
        ("h100-580.159.04", "h100-sxm5-80gb"),
        ("h200-580.159.04", "h200-sxm5-141gb"),
    ] {
        let real = measured(dir);
        let m = common::Machine::new();
        m.ok(&["sim", "init", model]);
        let (uuid, bus) = board_ids(&m).remove(0);
        // the lent boards' own IDs, swapped for the simulated board's
        let mut want = String::new();
        for (i, line) in real.lines().enumerate() {
            let mut cols: Vec<String> = line.split(", ").map(String::from).collect();
            if i > 0 {
                cols[4] = bus.clone();
                cols[5] = uuid.clone();
            }
            want += &cols.join(", ");
            want.push('\n');
        }
        let fields = real.lines().next().expect("header");
        let fields: Vec<&str> = fields
            .split(", ")
            .map(|h| h.split(' ').next().unwrap_or(h))
            .collect();
        let got = m.ok(&[&format!("--query-gpu={}", fields.join(",")), "--format=csv"]);
        common::assert_same(&got, &want, dir);
    }
}

/// Proves the MIG User Guide's two commands: the VBIOS version the real
/// H100 reported in `-q`, and `-i 0` selecting one GPU's bus ID and MIG mode.
#[test]
fn the_guides_commands() {
    let Some(shared) = testkit::shared("query_gpu::the_guides_commands") else {
        return;
    };
    let q = std::fs::read_to_string(shared.join("reference/h100-80gb-hbm3/h100_q.txt"))
        .expect("h100_q.txt");
    let vbios = q
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("VBIOS Version")
                .map(|v| v.trim_start_matches([' ', ':']).to_string())
        })
        .expect("VBIOS Version line");
    let m = common::Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb", "a100-sxm4-40gb"]);
    m.ok(&["-i", "0", "-mig", "1"]);
    let got = m.ok(&["--query-gpu=vbios_version", "--format=csv"]);
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines[0], "vbios_version");
    assert_eq!(
        lines[1], vbios,
        "the H100's VBIOS as the real board reports it"
    );
    assert_eq!(lines.len(), 3, "one row per GPU: {got}");
    let (_, bus0) = board_ids(&m).remove(0);
    let got = m.ok(&[
        "-i",
        "0",
        "--query-gpu=pci.bus_id,mig.mode.current",
        "--format=csv",
    ]);
    assert_eq!(
        got,
        format!("pci.bus_id, mig.mode.current\n{bus0}, Enabled\n")
    );
}

/// Consistency check: `noheader` drops the header, `nounits` the units of
/// the values (not of the header), aliases print the canonical header, a
/// MIG-enabled GPU has no utilization, and `-i` takes a UUID.
#[test]
fn format_options_aliases_and_selection() {
    let m = common::Machine::new();
    m.ok(&["sim", "init", "a100-sxm4-40gb", "a100-sxm4-40gb"]);
    m.ok(&["-i", "1", "-mig", "1"]);
    let with = m.ok(&[
        "--query-gpu=memory.total,clocks.sm,utilization.gpu",
        "--format=csv",
    ]);
    let lines: Vec<&str> = with.lines().collect();
    assert_eq!(
        lines[0],
        "memory.total [MiB], clocks.current.sm [MHz], utilization.gpu [%]"
    );
    assert!(
        lines[1].starts_with("40960 MiB, ") && lines[1].ends_with(" %"),
        "{with}"
    );
    assert!(
        lines[2].ends_with(", [N/A]"),
        "MIG on: utilization not reported: {with}"
    );
    let bare = m.ok(&[
        "--query-gpu=memory.total,clocks.sm",
        "--format=csv,noheader,nounits",
    ]);
    assert!(
        bare.lines()
            .all(|l| !l.contains("MiB") && !l.contains("MHz")),
        "{bare}"
    );
    assert_eq!(bare.lines().count(), 2);
    let head = m.ok(&["--query-gpu=memory.total", "--format=csv,nounits"]);
    assert_eq!(head, "memory.total [MiB]\n40960\n40960\n");
    let (uuid1, _) = board_ids(&m).remove(1);
    let one = m.ok(&[
        "-i",
        &uuid1,
        "--query-gpu=index,gpu_uuid",
        "--format=csv,noheader",
    ]);
    assert_eq!(one, format!("1, {uuid1}\n"));
}

/// Consistency check: an unknown field, a bad `--format` (or none for
/// `--query-compute-apps`) and an `-i` matching no GPU fail with
/// nvidia-smi's exit codes, printing on stdout.
#[test]
fn errors_and_exit_codes() {
    let m = common::Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb"]);
    let o = m.run(&["--query-gpu=index,no.such.field", "--format=csv"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "Field \"no.such.field\" is not a valid field to query.\n\n"
    );
    for args in [
        &["--query-compute-apps=pid"][..],
        &["--query-gpu=index", "--format=xml"],
    ] {
        let o = m.run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(!o.stdout.is_empty(), "{args:?}: the reason on stdout");
    }
    // `--query-gpu` without `--format` is CSV with its header, as the real
    // nvidia-smi 580 answered over the simulated machine (tests/real_smi.rs)
    assert_eq!(m.ok(&["--query-gpu=index"]), "index\n0\n");
    let o = m.run(&["-i", "9", "--query-gpu=index", "--format=csv"]);
    assert_eq!(
        (o.status.code(), String::from_utf8_lossy(&o.stdout).as_ref()),
        (Some(6), "No devices were found\n")
    );
    let o = m.run(&["-L", "--query-gpu=index", "--format=csv"]);
    assert_eq!(o.status.code(), Some(2), "one command at a time");
}

/// Consistency check: `--query-compute-apps` lists each simulated process
/// once, with the GPU it runs on, on MIG devices and on a whole GPU alike.
#[test]
fn compute_apps_list_every_process() {
    let m = common::Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb", "h100-sxm5-80gb"]);
    m.ok(&["-i", "0", "-mig", "1"]);
    m.ok(&["mig", "-i", "0", "-cgi", "9", "-C"]);
    // `sim run` prints "PID: pid of simulated process ..."
    let pid = |out: String| out.split(':').next().unwrap_or_default().trim().to_string();
    let p0 = pid(m.ok(&[
        "sim", "run", "--gpu", "0", "--gi", "2", "--ci", "0", "--name", "python", "--memory",
        "6000",
    ]));
    let p1 = pid(m.ok(&[
        "sim", "run", "--gpu", "1", "--name", "trainer", "--memory", "12000",
    ]));
    let ids = board_ids(&m);
    let got = m.ok(&[
        "--query-compute-apps=pid,process_name,used_memory,gpu_uuid",
        "--format=csv",
    ]);
    assert_eq!(
        got,
        format!(
            "pid, process_name, used_gpu_memory [MiB], gpu_uuid\n{}, python, 6000 MiB, {}\n{}, trainer, 12000 MiB, {}\n",
            p0,
            ids[0].0,
            p1,
            ids[1].0
        )
    );
    let one = m.ok(&[
        "-i",
        "1",
        "--query-compute-apps=pid,used_memory",
        "--format=csv,noheader,nounits",
    ]);
    assert_eq!(one, format!("{}, 12000\n", p1));
}
