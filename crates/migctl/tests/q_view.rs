//! `migctl -q` (nvidia-smi's detailed query) against what nvidia-smi 580
//! printed, and against the fake library.
//!
//! - `shared/reference/h100-80gb-hbm3/h100_q.txt` and
//!   `catalog/measured/h200-580.159.04/q.txt`: the real nvidia-smi
//!   580.159.04 `-q` on a lent H100 80GB HBM3 and H200, MIG disabled. A
//!   simulated board of the same model, its live readings set to what the
//!   lent board read (`migctl sim set`), must print the same bytes, aside the
//!   time stamp and the four values that identify the one real board (serial
//!   number, UUID, PDI, PCI location), which a simulated board has of its own.
//! - Through the NVML backend over the fake `libnvidia-ml.so.1`, `-q` prints
//!   what the simulator prints, but for the lines whose getter NVML's
//!   bindings lack (listed in `NVML_UNREAD`).

mod common;

/// A capture: `shared/...` beside the repository (a visible skip where it
/// is absent), else a path in the repository.
fn capture(path: &str) -> Option<String> {
    let p = match path.strip_prefix("shared/") {
        Some(rest) => testkit::shared("measured_boards_q_equals_real_nvidia_smi")?.join(rest),
        None => testkit::repo_root().join(path),
    };
    Some(std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
}

/// The value of `key` (first line with it) in a `-q` log.
fn value<'a>(log: &'a str, key: &str) -> &'a str {
    log.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(": ")?;
            (k.trim() == key).then_some(v)
        })
        .unwrap_or_else(|| panic!("no {key:?} in the log"))
}

/// `log` with the time stamp masked and every line of the board's own
/// identity (serial, UUID, PDI, PCI location) given `from`'s values.
fn with_identity_of(log: &str, from: &str) -> String {
    let keys = [
        "Timestamp",
        "Serial Number",
        "GPU UUID",
        "GPU PDI",
        "Bus",
        "Device",
        "Bus Id",
    ];
    let mut out = String::new();
    for l in log.lines() {
        let line = match l.split_once(": ") {
            Some((k, _)) if keys.contains(&k.trim()) => format!("{k}: {}", value(from, k.trim())),
            _ if l.starts_with("GPU 0000") => from
                .lines()
                .find(|x| x.starts_with("GPU 0000"))
                .unwrap_or(l)
                .to_string(),
            _ => l.to_string(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The `sim set` settings that give a simulated board the live readings of
/// a captured `-q` log.
fn readings_of(real: &str) -> Vec<String> {
    let num = |key: &str, unit: &str| value(real, key).trim_end_matches(unit).trim().to_string();
    // the first "Average Power Draw" is the GPU's, the second the memory's
    let averages: Vec<&str> = real
        .lines()
        .filter(|l| l.trim_start().starts_with("Average Power Draw"))
        .map(|l| l.split_once(": ").unwrap().1.trim_end_matches(" W"))
        .collect();
    vec![
        format!("temperature={}", num("GPU Current Temp", " C")),
        format!("memory-temperature={}", num("Memory Current Temp", " C")),
        format!("power={}", num("Instantaneous Power Draw", " W")),
        format!("power-average={}", averages[0]),
        format!("memory-power={}", averages[1]),
        format!("pcie-tx={}", num("Tx Throughput", " KB/s")),
        format!("pcie-rx={}", num("Rx Throughput", " KB/s")),
        // the lent boards were passed through to a VM
        "virtualization=pass-through".into(),
    ]
}

/// Proves every line of nvidia-smi 580's `-q` on the real H100 and H200
/// (MIG disabled) prints byte for byte from the simulator's readings and
/// details: board facts from catalog/boards.toml, live readings set as the
/// lent board read them, the time stamp and the board's own identity aside
/// (the identity lines are the simulated board's, checked against
/// `--query-gpu`). Before the readings are set, the output differs: the
/// values come from the backend.
#[test]
fn measured_boards_q_equals_real_nvidia_smi() {
    for (path, model) in [
        (
            "shared/reference/h100-80gb-hbm3/h100_q.txt",
            "h100-sxm5-80gb",
        ),
        ("catalog/measured/h200-580.159.04/q.txt", "h200-sxm5-141gb"),
    ] {
        let Some(real) = capture(path) else { continue };
        let m = common::Machine::new();
        m.ok(&["sim", "init", model]);
        let before = m.ok(&["-q"]);
        let mut set = vec!["sim", "set"];
        let settings = readings_of(&real);
        set.extend(settings.iter().map(String::as_str));
        m.ok(&set);
        let got = m.ok(&["-q"]);
        assert_ne!(
            with_identity_of(&before, &got),
            got,
            "{model}: the readings come from the backend"
        );
        // the identity lines are the simulated board's own
        let ids = m.ok(&[
            "--query-gpu=serial,uuid,pci.bus_id",
            "--format=csv,noheader",
        ]);
        let ids: Vec<&str> = ids.trim().split(", ").collect();
        assert_eq!(value(&got, "Serial Number"), ids[0]);
        assert_eq!(value(&got, "GPU UUID"), ids[1]);
        assert_eq!(value(&got, "Bus Id"), ids[2]);
        let pdi = value(&got, "GPU PDI");
        assert!(pdi.len() == 18 && pdi.starts_with("0x"), "{pdi}");
        common::assert_same(&got, &with_identity_of(&real, &got), path);
    }
}

/// Proves `-d` keeps the header, the GPU line and the chosen sections only,
/// in nvidia-smi's order whatever the order given, and that the sections
/// print as in the full view (the lines of the H100 capture).
#[test]
fn display_types_select_sections() {
    let m = common::Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb"]);
    let full = m.ok(&["-q"]);
    let got = m.ok(&["-q", "-d", "ecc,MEMORY"]);
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(
        &lines[..3],
        &["", "==============NVSMI LOG==============", ""]
    );
    assert!(lines[8].starts_with("GPU 0000"), "{got}");
    assert_eq!(lines[9], "    FB Memory Usage");
    let memory = "    FB Memory Usage\n        Total";
    let ecc = "    ECC Mode\n        Current";
    assert!(got.find(memory).unwrap() < got.find(ecc).unwrap());
    // every line after the GPU line is a line of the full view, in order
    let mut at = full.find(lines[8]).unwrap();
    for l in &lines[9..] {
        let found = full[at..]
            .find(&format!("\n{l}\n"))
            .unwrap_or_else(|| panic!("{l:?}"));
        at += found + 1;
    }
    assert!(!got.contains("Product Name") && !got.contains("Temperature"));
    // one section only
    let power = m.ok(&["-q", "-d", "POWER"]);
    assert!(
        power.contains("GPU Power Readings\n") && power.contains("GPU Memory Power Readings \n")
    );
    assert!(!power.contains("FB Memory Usage"));
}

/// Proves an unknown display type, `-d` without `-q`, and `-q` with another
/// command are refused with a message, a non-zero exit, and no output
/// beyond the message: the first two in the real nvidia-smi 580.159.04's
/// words (tests/golden/real-smi/ and catalog/measured/h100-580.159.04).
#[test]
fn bad_display_types_are_refused() {
    let m = common::Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb"]);
    for (args, want) in [
        (
            &["-q", "-d", "BOGUS"][..],
            "Failed to parse --display/-d flags\n",
        ),
        (
            &["-q", "-d", "MEMORY,BOGUS"],
            "Failed to parse --display/-d flags\n",
        ),
        (
            &["-d", "MEMORY"],
            "Invalid combination of input arguments. Specify -q/--query and -d/--display \
             to run a filtered query.  Please run 'nvidia-smi -h' for help.\n\n",
        ),
    ] {
        let o = m.run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&o.stdout), want, "{args:?}");
    }
    let o = m.run(&["-q", "-L"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("ERROR: "));
}

/// Proves `-i` picks GPUs (and "Attached GPUs" still counts all of them),
/// and a set reading changes exactly its `-q` lines.
#[test]
fn ids_and_readings() {
    let m = common::Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb", "a100-sxm4-40gb"]);
    let one = m.ok(&["-q", "-i", "1"]);
    assert_eq!(value(&one, "Attached GPUs"), "2");
    assert_eq!(one.matches("\nGPU 0000").count(), 1);
    assert_eq!(value(&one, "Product Name"), "NVIDIA A100-SXM4-40GB");
    assert_eq!(value(&one, "Product Architecture"), "Ampere");
    let before = m.ok(&["-q", "-i", "0", "-d", "ECC,TEMPERATURE"]);
    m.ok(&[
        "sim",
        "set",
        "--gpu",
        "0",
        "ecc-dram-uncorrected=2",
        "ecc-sram-corrected=5",
        "temperature=61",
    ]);
    let after = m.ok(&["-q", "-i", "0", "-d", "ECC,TEMPERATURE"]);
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b && !a.starts_with("Timestamp"))
        .collect();
    let keys: Vec<&str> = changed
        .iter()
        .map(|(a, _)| a.split(':').next().unwrap().trim())
        .collect();
    assert_eq!(
        keys,
        [
            "SRAM Correctable",
            "DRAM Uncorrectable",
            "SRAM Correctable",
            "DRAM Uncorrectable",
            "GPU Current Temp",
            "GPU T.Limit Temp"
        ]
    );
    assert_eq!(value(&after, "GPU Current Temp"), "61 C");
    // the margin to the 87 C limit of catalog/boards.toml
    assert_eq!(value(&after, "GPU T.Limit Temp"), "26 C");
    // and the default view's volatile uncorrected ECC count follows
    assert!(m.ok(&["-i", "0"]).contains(" Off |                    2 |"));
}

/// Proves the MIG devices of a MIG-enabled GPU print as the real nvidia-smi
/// 580.159.04 printed them over the simulated machine (tests/golden/
/// real-smi/): after "MIG Mode", one "MIG Device" block per MIG device in
/// `-L` order with its index, GI and CI IDs, its engines (the
/// profile's), volatile ECC, FB memory (the GI's, in use as the default
/// view shows it) and BAR1 (catalog/boards.toml's 24740 MiB for a 3g.40gb
/// GI on the H100); and a process on a MIG device lists its GI and CI.
#[test]
fn mig_devices_section() {
    let m = common::Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb"]);
    m.ok(&["-i", "0", "-mig", "1"]);
    m.ok(&["mig", "-cgi", "9,19", "-C"]);
    let pid = m.ok(&[
        "sim", "run", "--gpu", "0", "--gi", "2", "--ci", "0", "--name", "./a.out", "--memory",
        "300",
    ]);
    let pid = pid.split(':').next().unwrap().trim().to_string();
    let q = m.ok(&["-q"]);
    let want = "    MIG Mode
        Current                                        : Enabled
        Pending                                        : Enabled
    MIG Device
        Index                                          : 0
        GPU Instance ID                                : 2
        Compute Instance ID                            : 0
        Device Attributes
            Shared
                Multiprocessor count                   : 60
                Copy Engine count                      : 3
                Encoder count                          : 0
                Decoder count                          : 3
                OFA count                              : 0
                JPG count                              : 3
        ECC Errors
            Volatile
                SRAM Uncorrectable                     : 0
        FB Memory Usage
            Total                                      : 40448 MiB
            Reserved                                   : 0 MiB
";
    assert!(q.contains(want), "{q}");
    let dev0 = &q[q.find(want).unwrap() + want.len()..];
    let used: u64 = value(dev0, "Used")
        .trim_end_matches(" MiB")
        .parse()
        .unwrap();
    assert_eq!(value(dev0, "Free"), format!("{} MiB", 40448 - used));
    // the default view's MIG table shows the same memory in use
    assert!(m.ok(&[]).contains(&format!("{used}MiB / 40448MiB")));
    assert!(dev0.contains(
        "        BAR1 Memory
            Total                                      : 24740 MiB
            Used                                       : 0 MiB
            Free                                       : 24740 MiB
    MIG Device
        Index                                          : 1
        GPU Instance ID                                : 7
"
    ));
    assert!(q.contains(&format!(
        "    Processes
        GPU instance ID                   : 2
        Compute instance ID               : 0
        Process ID                        : {pid}
            Type                          : C
            Name                          : ./a.out
            Used GPU Memory               : 300 MiB
"
    )));
    // nvml.h: no utilization is reported with MIG enabled
    assert_eq!(value(&q, "GPU"), "N/A");
}

/// Lines whose NVML getter the bindings of the NVML backend lack (API 13
/// additions: addressing mode, PDI, repair status, unrepairable memory),
/// that no public getter answers (GPU part number, sparse operation mode,
/// memory T.Limit).
const NVML_UNREAD: [&str; 9] = [
    "Timestamp",
    "Addressing Mode",
    "GPU PDI",
    "GPU Part Number",
    "Sparse Operation Mode",
    "Channel Repair Pending",
    "TPC Repair Pending",
    "Unrepairable Memory",
    "Memory Max Operating T.Limit Temp",
];

/// Proves the fake library answers the getters behind `-q` with the
/// simulator's values on three boards (H100 and H200 from their captures,
/// A100 with what the catalog gives and N/A for the rest), with set ECC
/// counts and PCIe throughput, MIG disabled and enabled: `migctl -q` through
/// the NVML backend over the fake library prints what the simulator backend
/// prints, line for line, but for the lines of [`NVML_UNREAD`] (there the
/// NVML backend prints N/A).
#[test]
fn fake_library_answers_the_q_getters() {
    let m = common::Machine::new();
    m.ok(&[
        "sim",
        "init",
        "h100-sxm5-80gb",
        "h200-sxm5-141gb",
        "a100-sxm4-40gb",
    ]);
    m.ok(&[
        "sim",
        "set",
        "--gpu",
        "1",
        "ecc-dram-corrected=3",
        "pcie-tx=77",
        "power-average=93.5",
    ]);
    m.ok(&["-i", "2", "-mig", "1"]);
    m.ok(&["mig", "-i", "2", "-cgi", "14,19", "-C"]);
    let sim = m.ok(&["-q"]);
    let lib = {
        let o = m.run(&["sim", "nvml-lib"]);
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let mut n = common::Machine::new();
    n.dir = m.dir;
    n.env = vec![
        ("MIGCTL_BACKEND".into(), "nvml".into()),
        ("MIGCTL_NVML_LIB".into(), lib),
    ];
    let nvml = n.ok(&["-q"]);
    assert_eq!(sim.lines().count(), nvml.lines().count());
    let mut compared = 0;
    for (a, b) in sim.lines().zip(nvml.lines()) {
        let key = a.split(':').next().unwrap().trim();
        if a == b {
            compared += 1;
        } else {
            assert!(NVML_UNREAD.contains(&key), "{a}\n{b}");
            assert!(key == "Timestamp" || b.ends_with(": N/A"), "{b}");
        }
    }
    assert!(compared > 500, "{compared}");
    assert!(nvml.contains("DRAM Correctable                           : 3"));
    assert!(nvml.contains("Tx Throughput                                  : 77 KB/s"));
    assert!(nvml.contains("Average Power Draw                             : 93.50 W"));
}
