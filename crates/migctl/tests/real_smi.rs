//! migctl against what the real nvidia-smi printed over the same simulated
//! machines. `tests/golden/real-smi/<machine>/` holds a machine's state file
//! (`state.json`), and for each recorded command the real nvidia-smi's
//! stdout (`<case>.out`) and exit status (`<case>.rc`); `cases.txt` lists
//! the cases (`name<TAB>arguments`). `README.md` there says where, on which
//! board and driver, with which nvidia-smi, and how they were recorded.
//!
//! Each test runs migctl with the same arguments on a copy of the state and
//! requires the same bytes and exit status. The views migctl does not yet
//! print as nvidia-smi does are listed in [`NOT_COMPARED`] with the reason
//! (also in docs/nvidia-smi-formats.md); every other case is compared.

mod common;

use std::path::{Path, PathBuf};

/// Cases recorded but not compared, with why (a case name, or a prefix
/// ending in `*`).
const NOT_COMPARED: &[(&str, &str)] = &[
    ("default", "migctl's status view is its own table, not nvidia-smi's default view"),
    ("q", "migctl has no -q"),
    ("q-d-mig", "migctl has no -q"),
    ("qx", "migctl has no -q -x"),
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/real-smi")
}

fn not_compared(case: &str) -> Option<&'static str> {
    NOT_COMPARED.iter().find_map(|(pat, why)| {
        let hit = match pat.strip_suffix('*') {
            Some(prefix) => case.starts_with(prefix),
            None => case == *pat,
        };
        hit.then_some(*why)
    })
}

/// Run every compared case of one recorded machine; returns how many ran.
fn check_machine(name: &str) -> usize {
    let d = dir().join(name);
    let cases = std::fs::read_to_string(d.join("cases.txt")).expect("cases.txt");
    let m = common::Machine::new();
    std::fs::copy(d.join("state.json"), m.state()).expect("copy the state");
    let mut ran = 0;
    let mut failures = Vec::new();
    for line in cases.lines().filter(|l| !l.trim().is_empty()) {
        let (case, args) = line.split_once('\t').unwrap_or((line, ""));
        if not_compared(case).is_some() {
            continue;
        }
        let args: Vec<&str> = args.split(' ').filter(|a| !a.is_empty()).collect();
        let want = std::fs::read_to_string(d.join(format!("{case}.out"))).expect("golden stdout");
        let want_rc: i32 = std::fs::read_to_string(d.join(format!("{case}.rc")))
            .expect("golden exit status")
            .trim()
            .parse()
            .expect("a number");
        let o = m.run(&args);
        let got = String::from_utf8_lossy(&o.stdout);
        let rc = o.status.code().unwrap_or(-1);
        if got != want || rc != want_rc {
            failures.push(format!(
                "{name}/{case} (migctl {}): exit {rc}, nvidia-smi {want_rc}\n--- nvidia-smi\n{want}--- migctl\n{got}{}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        ran += 1;
    }
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
    ran
}

/// An A100-SXM4-40GB pair: GPU 0 MIG-enabled with 3g+2g+1g+1g, GPU 1 MIG-disabled.
#[test]
fn a100_pair_mixed_layout_one_gpu_mig_disabled() {
    assert!(check_machine("a100-mixed") > 0);
}

/// An H100 80GB HBM3 with three compute instances in one GPU instance.
#[test]
fn h100_several_cis_in_one_gi() {
    assert!(check_machine("h100-cis") > 0);
}

/// An H200 with seven 1g instances.
#[test]
fn h200_seven_1g_instances() {
    assert!(check_machine("h200-7x1g") > 0);
}

/// An H100 pair with a `migctl sim run` process on a MIG device of GPU 0 and
/// one on GPU 1 (MIG off).
#[test]
fn busy_instances_with_processes() {
    assert!(check_machine("busy") > 0);
}

/// Proves the golden set is whole: every machine has each case's stdout and
/// exit status, and nothing but the documented views is left out.
#[test]
fn every_recorded_case_has_its_files() {
    for name in ["a100-mixed", "h100-cis", "h200-7x1g", "busy"] {
        let d = dir().join(name);
        let cases = std::fs::read_to_string(d.join("cases.txt")).expect("cases.txt");
        assert!(cases.lines().count() > 10, "{name}: too few cases");
        for line in cases.lines().filter(|l| !l.trim().is_empty()) {
            let case = line.split('\t').next().unwrap_or(line);
            for ext in ["out", "rc"] {
                assert!(d.join(format!("{case}.{ext}")).is_file(), "{name}/{case}.{ext} missing");
            }
        }
    }
}
