//! migctl against what the real nvidia-smi printed over the same simulated
//! machines. `tests/golden/real-smi/<machine>.json` is a machine's state
//! file and `<machine>.txt` the recording: for each command a line
//! `## NAME | exit N | ARGS`, then exactly what nvidia-smi printed on stdout.
//! `README.md` there says on which board and driver, with which nvidia-smi,
//! and how they were recorded (`scripts/real-smi/`).
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
    (
        "default",
        "migctl's status view is its own table, not nvidia-smi's default view",
    ),
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

/// One recorded command.
struct Case {
    name: String,
    args: Vec<String>,
    code: i32,
    stdout: String,
    /// nvidia-smi printed no final newline; the recording added one.
    no_newline: bool,
}

/// The recording of machine `name`.
fn cases(name: &str) -> Vec<Case> {
    let text = std::fs::read_to_string(dir().join(format!("{name}.txt"))).expect("recording");
    let mut out: Vec<Case> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(head) = line.strip_prefix("## ") {
            let parts: Vec<&str> = head.trim_end_matches('\n').split(" | ").collect();
            let code = parts[1]
                .strip_prefix("exit ")
                .expect("exit N")
                .parse()
                .expect("a number");
            out.push(Case {
                name: parts[0].to_string(),
                args: parts[2]
                    .split(' ')
                    .filter(|a| !a.is_empty())
                    .map(String::from)
                    .collect(),
                code,
                stdout: String::new(),
                no_newline: parts.get(3) == Some(&"no newline"),
            });
        } else {
            out.last_mut()
                .expect("a case header first")
                .stdout
                .push_str(line);
        }
    }
    for c in out.iter_mut().filter(|c| c.no_newline) {
        c.stdout.pop();
    }
    out
}

/// Run every compared case of one recorded machine; returns how many ran.
fn check_machine(name: &str) -> usize {
    let m = common::Machine::new();
    std::fs::copy(dir().join(format!("{name}.json")), m.state()).expect("copy the state");
    let mut ran = 0;
    let mut failures = Vec::new();
    for c in cases(name) {
        if not_compared(&c.name).is_some() {
            continue;
        }
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let o = m.run(&args);
        let got = String::from_utf8_lossy(&o.stdout);
        let rc = o.status.code().unwrap_or(-1);
        if got != c.stdout || rc != c.code {
            failures.push(format!(
                "{name}/{} (migctl {}): exit {rc}, nvidia-smi {}\n--- nvidia-smi\n{}--- migctl\n{got}{}",
                c.name,
                args.join(" "),
                c.code,
                c.stdout,
                String::from_utf8_lossy(&o.stderr)
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

/// Proves the recordings are whole: each machine has its state and its
/// recording holds every view of the recording script, `-L`, the six `mig`
/// listings and the queries among them.
#[test]
fn every_machine_has_every_view() {
    for name in ["a100-mixed", "h100-cis", "h200-7x1g", "busy"] {
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
            "q",
            "query-guide-vbios",
            "query-guide-i0",
            "apps",
        ] {
            assert!(names.iter().any(|n| n == want), "{name}: no case {want}");
        }
    }
}
