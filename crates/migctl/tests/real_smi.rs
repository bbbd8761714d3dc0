//! migctl against what the real nvidia-smi printed over the same simulated
//! machines. `tests/golden/real-smi/<machine>.json` is a machine's state
//! file and `<machine>.txt` the recording: for each command a line
//! `## NAME | exit N | ARGS`, then exactly what nvidia-smi printed on stdout
//! (and, after a line `#> stderr`, on stderr, where it printed anything).
//! `README.md` there says on which board and driver, with which nvidia-smi,
//! and how they were recorded and imported (`scripts/real-smi/`).
//!
//! Each machine's test runs migctl with the same arguments on a copy of the
//! state and requires the same stdout, stderr and exit status, the default
//! view's date line aside. The cases migctl is not held to yet are listed in
//! [`NOT_COMPARED`] with the reason; every other recorded case is compared.

mod common;

use std::path::{Path, PathBuf};

/// Why the fake library made nvidia-smi print `[N/A]` where a real driver
/// answers: the recording's library lacked `nvmlDeviceGetPciInfoExt`.
const NO_PCI_INFO_EXT: &str = "the recording's fake library lacked nvmlDeviceGetPciInfoExt, so \
     nvidia-smi printed [N/A] for the PCI fields; migctl prints the backend's values";

/// Cases recorded but not compared, with why: a case name (or a prefix
/// ending in `*`), on every machine or, as `MACHINE/CASE`, on one.
const NOT_COMPARED: &[(&str, &str)] = &[
    (
        "q",
        "-q is built on its own (the qview work), not yet compared",
    ),
    (
        "q-d-*",
        "-q -d is built on its own (the qview work), not yet compared",
    ),
    (
        "qx",
        "-q -x is built on its own (the qview work), not yet compared",
    ),
    ("qf-pci.bus_id", NO_PCI_INFO_EXT),
    ("qf-pci.domain", NO_PCI_INFO_EXT),
    ("qf-pci.bus", NO_PCI_INFO_EXT),
    ("qf-pci.device", NO_PCI_INFO_EXT),
    ("qf-pci.device_id", NO_PCI_INFO_EXT),
    ("qf-pci.sub_device_id", NO_PCI_INFO_EXT),
    ("query-guide-i0", NO_PCI_INFO_EXT),
    ("busy/apps", NO_PCI_INFO_EXT),
    (
        "qf-enforced.power.limit",
        "the recording's fake library answered nvidia-smi's enforced power limit from an \
         internal table slot left at 0 (0.00 W); migctl prints the backend's limit",
    ),
    (
        "query-all",
        "holds the PCI fields and enforced.power.limit (see those cases)",
    ),
    (
        "query-all-nn",
        "holds the PCI fields and enforced.power.limit (see those cases)",
    ),
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/real-smi")
}

fn not_compared(machine: &str, case: &str) -> Option<&'static str> {
    NOT_COMPARED.iter().find_map(|(pat, why)| {
        let (on, pat) = match pat.split_once('/') {
            Some((m, p)) => (m == machine, p),
            None => (true, *pat),
        };
        let hit = match pat.strip_suffix('*') {
            Some(prefix) => case.starts_with(prefix),
            None => case == pat,
        };
        (on && hit).then_some(*why)
    })
}

/// One recorded command.
struct Case {
    name: String,
    args: Vec<String>,
    code: i32,
    stdout: String,
    stderr: String,
}

/// `## NAME | exit N | ARGS[ | no newline]`.
fn header(head: &str) -> (Case, bool) {
    let parts: Vec<&str> = head.split(" | ").collect();
    assert!(parts.len() >= 3, "bad case header {head:?}");
    let code = parts[1]
        .strip_prefix("exit ")
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad exit status in {head:?}"));
    let case = Case {
        name: parts[0].to_string(),
        args: parts[2]
            .split(' ')
            .filter(|a| !a.is_empty())
            .map(String::from)
            .collect(),
        code,
        stdout: String::new(),
        stderr: String::new(),
    };
    (case, parts.get(3) == Some(&"no newline"))
}

/// The recording of machine `name`.
fn cases(name: &str) -> Vec<Case> {
    let text = std::fs::read_to_string(dir().join(format!("{name}.txt"))).expect("recording");
    // (case, stdout lacked its newline, in its stderr part, stderr lacked its newline)
    let mut out: Vec<(Case, bool, bool, bool)> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(head) = line.strip_prefix("## ") {
            let (c, cut) = header(head.trim_end_matches('\n'));
            out.push((c, cut, false, false));
            continue;
        }
        let last = out.last_mut().expect("a case header first");
        if let Some(mark) = line.strip_prefix("#> stderr") {
            last.2 = true;
            last.3 = mark.trim_end() == " | no newline";
        } else if last.2 {
            last.0.stderr.push_str(line);
        } else {
            last.0.stdout.push_str(line);
        }
    }
    out.into_iter()
        .map(|(mut c, cut, _, cut_err)| {
            if cut {
                c.stdout.pop();
            }
            if cut_err {
                c.stderr.pop();
            }
            c
        })
        .collect()
}

/// The recorded machines: every `*.txt` beside its `*.json`.
fn machines() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("golden/real-smi")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_suffix(".txt").map(String::from)
        })
        .collect();
    names.sort();
    names
}

/// Run every compared case of one recorded machine; returns how many ran.
fn check_machine(name: &str) -> usize {
    let m = common::Machine::new();
    std::fs::copy(dir().join(format!("{name}.json")), m.state()).expect("copy the state");
    let mut ran = 0;
    let mut failures = Vec::new();
    for c in cases(name) {
        if not_compared(name, &c.name).is_some() {
            continue;
        }
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let o = m.run(&args);
        let got = common::mask_date(&String::from_utf8_lossy(&o.stdout));
        let want = common::mask_date(&c.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        let rc = o.status.code().unwrap_or(-1);
        if got != want || err != c.stderr || rc != c.code {
            failures.push(format!(
                "{name}/{} (migctl {}): exit {rc}, nvidia-smi {}\n--- nvidia-smi\n{want}{}--- migctl\n{got}{err}",
                c.name,
                args.join(" "),
                c.code,
                c.stderr,
            ));
        }
        ran += 1;
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
    ran
}

/// Proves migctl prints what the real nvidia-smi printed on an
/// A100-SXM4-40GB pair, GPU 0 MIG-enabled with 3g+2g+1g+1g, GPU 1
/// MIG-disabled.
#[test]
fn a100_pair_mixed_layout_one_gpu_mig_disabled() {
    assert!(check_machine("a100-mixed") > 0);
}

/// Proves the same on an H100 80GB HBM3 with three compute instances in one
/// GPU instance.
#[test]
fn h100_several_cis_in_one_gi() {
    assert!(check_machine("h100-cis") > 0);
}

/// Proves the same on an H200 with seven 1g instances.
#[test]
fn h200_seven_1g_instances() {
    assert!(check_machine("h200-7x1g") > 0);
}

/// Proves the same on an H100 pair with a `migctl sim run` process on a MIG
/// device of GPU 0 and one on GPU 1 (MIG off).
#[test]
fn busy_instances_with_processes() {
    assert!(check_machine("busy") > 0);
}

/// Proves the same on every catalog model: two instances of its smallest
/// profile on GPU 0, GPU 1 MIG-disabled (`board-<model>`).
#[test]
fn every_catalog_board() {
    let boards: Vec<String> = machines()
        .into_iter()
        .filter(|m| m.starts_with("board-"))
        .collect();
    assert!(!boards.is_empty(), "no board-* recordings");
    for b in boards {
        assert!(check_machine(&b) > 0, "{b}: nothing compared");
    }
}

/// Proves the recordings are whole and the exceptions current: each
/// machine has its state, its recording holds `-L`, the default view, the
/// six `mig` listings and the queries, and every entry of [`NOT_COMPARED`]
/// names a case some recording holds (an exception left over after a new
/// recording fails here).
#[test]
fn recordings_are_whole_and_exceptions_current() {
    let all = machines();
    for name in ["a100-mixed", "h100-cis", "h200-7x1g", "busy"] {
        assert!(all.iter().any(|m| m == name), "no recording of {name}");
    }
    let mut used = vec![false; NOT_COMPARED.len()];
    for name in &all {
        assert!(
            dir().join(format!("{name}.json")).is_file(),
            "{name}.json missing"
        );
        let names: Vec<String> = cases(name).into_iter().map(|c| c.name).collect();
        for want in [
            "L",
            "default",
            "mig-lgi",
            "mig-lci",
            "mig-lgip",
            "mig-lgipp",
            "mig-lcip",
            "mig-lcipp",
            "query-guide-vbios",
            "query-guide-i0",
            "apps",
        ] {
            assert!(names.iter().any(|n| n == want), "{name}: no case {want}");
        }
        for (i, (pat, _)) in NOT_COMPARED.iter().enumerate() {
            let (on, pat) = match pat.split_once('/') {
                Some((m, p)) => (m == name, p),
                None => (true, *pat),
            };
            let hit = names.iter().any(|n| match pat.strip_suffix('*') {
                Some(prefix) => n.starts_with(prefix),
                None => n == pat,
            });
            used[i] |= on && hit;
        }
    }
    for (i, (pat, _)) in NOT_COMPARED.iter().enumerate() {
        assert!(used[i], "NOT_COMPARED entry {pat:?} names no recorded case");
    }
}
