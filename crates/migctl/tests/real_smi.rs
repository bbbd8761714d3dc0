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
//! [`NOT_COMPARED`] with the reason, and the machines whose MIG devices'
//! rows are not compared in [`MIG_BAR1_UNANSWERED`]; every other recorded
//! case is compared.

mod common;

use std::path::{Path, PathBuf};

/// Why the fake library made nvidia-smi print `[N/A]` where a real driver
/// answers: the recording's library lacked `nvmlDeviceGetPciInfoExt`.
const NO_PCI_INFO_EXT: &str = "the recording's fake library lacked nvmlDeviceGetPciInfoExt, so \
     nvidia-smi printed [N/A] for the PCI fields; migctl prints the backend's values";

/// Why the recording's fake library made nvidia-smi print `N/A` or another
/// value where the library now answers as the captured boards do.
const LATER_ANSWERS: &str = "the fake library answers these values since the recording as the \
     captured H100/H200 do (SRAM ECC counts, reserved memory, InfoROM objects, power limits \
     and clock event counters as field values, thresholds, average power); nvidia-smi's \
     output for them needs a new recording";

/// Cases recorded but not compared, with why: a case name (or a prefix
/// ending in `*`), on every machine or, as `MACHINE/CASE`, on one.
const NOT_COMPARED: &[(&str, &str)] = &[
    ("qx", "-q -x (XML) is not offered: migctl refuses it"),
    ("q-d-ECC", LATER_ANSWERS),
    ("q-d-MEMORY", LATER_ANSWERS),
    ("q-d-PERFORMANCE", LATER_ANSWERS),
    ("q-d-POWER", LATER_ANSWERS),
    ("q-d-TEMPERATURE", LATER_ANSWERS),
    ("qf-inforom.oem", LATER_ANSWERS),
    ("qf-inforom.ecc", LATER_ANSWERS),
    ("qf-memory.reserved", LATER_ANSWERS),
    ("qf-memory.free", LATER_ANSWERS),
    ("qf-power.draw.average", LATER_ANSWERS),
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
        "holds the PCI fields, enforced.power.limit and the later answers (see those cases)",
    ),
    (
        "query-all-nn",
        "holds the PCI fields, enforced.power.limit and the later answers (see those cases)",
    ),
];

/// Machines whose MIG devices' BAR1 the recording's fake library did not
/// answer (`NOT_SUPPORTED` on every board but the H100 80GB HBM3), so that
/// the real nvidia-smi printed `No MIG devices found` in place of their MIG
/// devices. Their default view is compared but for the MIG devices table's
/// rows: migctl prints what its backend reads, which follows the catalog's
/// board facts (`mig_model::board`), not the recording's library, and the
/// fake library was changed since to answer every board's MIG BAR1.
const MIG_BAR1_UNANSWERED: &[&str] = &[
    "a100-mixed",
    "h200-7x1g",
    "board-a100-pcie-40gb",
    "board-a100-pcie-80gb",
    "board-a100-sxm4-40gb",
    "board-a100-sxm4-80gb",
    "board-a30-24gb",
    "board-b200-180gb",
    "board-gb200-186gb",
    "board-gh200-96gb",
    "board-h100-nvl-94gb",
    "board-h100-pcie-80gb",
    "board-h100-sxm5-94gb",
    "board-h20-96gb",
    "board-h200-nvl-141gb",
    "board-h200-sxm5-141gb",
    "board-rtx-pro-5000",
    "board-rtx-pro-6000-maxq",
    "board-rtx-pro-6000-server",
    "board-rtx-pro-6000-workstation",
];

/// The header rule that ends the MIG devices table's head.
const MIG_HEAD_END: &str =
    "|==================+==================================+===========+=======================|\n";

/// The default view with the MIG devices table's rows (from its head to the
/// empty line after it) written `$MIG_ROWS`; other text is left as it is.
fn mask_mig_rows(view: &str) -> String {
    let Some(at) = view.find(MIG_HEAD_END) else {
        return view.to_string();
    };
    let rows = at + MIG_HEAD_END.len();
    let end = view[rows..]
        .find("\n\n")
        .map_or(view.len(), |e| rows + e + 1);
    format!("{}$MIG_ROWS\n{}", &view[..rows], &view[end..])
}

/// The layout of a `-q` log: each line's key (the text before ` : `, with
/// its indentation), the `Remapped Rows` section folded to its title (the
/// recording's library did not answer it, so nvidia-smi printed one `N/A`
/// line), and with `no_migs` the `MIG Device` blocks left out (see
/// [`MIG_BAR1_UNANSWERED`]: nvidia-smi left them out as it did the table).
fn q_shape(log: &str, no_migs: bool) -> String {
    let mut out = Vec::new();
    let mut skip_deeper_than: Option<usize> = None;
    for line in log.lines() {
        let depth = line.len() - line.trim_start().len();
        if let Some(d) = skip_deeper_than {
            if depth > d {
                continue;
            }
            skip_deeper_than = None;
        }
        let key = line.split(" : ").next().unwrap_or(line).trim_end();
        if key.trim_start() == "Remapped Rows" {
            skip_deeper_than = Some(depth);
        }
        if no_migs && key == "    MIG Device" {
            skip_deeper_than = Some(depth);
            continue;
        }
        out.push(key.to_string());
    }
    out.join("\n") + "\n"
}

/// A `-q` log with its `Timestamp` line's value written `$DATE`.
fn mask_timestamp(log: &str) -> String {
    log.lines()
        .map(|l| {
            if l.starts_with("Timestamp ") {
                format!("{}$DATE\n", &l[..l.find(": ").map_or(l.len(), |i| i + 2)])
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

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
        let mut got = common::mask_date(&String::from_utf8_lossy(&o.stdout));
        let mut want = common::mask_date(&c.stdout);
        if c.name == "default" && MIG_BAR1_UNANSWERED.contains(&name) {
            (got, want) = (mask_mig_rows(&got), mask_mig_rows(&want));
        }
        if c.name == "q" || c.name.starts_with("q-d-") {
            (got, want) = (mask_timestamp(&got), mask_timestamp(&want));
        }
        if c.name == "q" {
            // the layout, line by line; values wait for a new recording
            let no_migs = MIG_BAR1_UNANSWERED.contains(&name);
            (got, want) = (q_shape(&got, no_migs), q_shape(&want, no_migs));
        }
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
/// six `mig` listings and the queries, every entry of [`NOT_COMPARED`]
/// names a case some recording holds, and every machine of
/// [`MIG_BAR1_UNANSWERED`] still shows `No MIG devices found` (an exception
/// left over after a new recording fails here).
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
    for name in MIG_BAR1_UNANSWERED {
        let default = cases(name).into_iter().find(|c| c.name == "default");
        assert!(
            default.is_some_and(|c| c.stdout.contains("|  No MIG devices found ")),
            "{name}: the recording shows MIG devices; drop it from MIG_BAR1_UNANSWERED"
        );
    }
}

/// Proves the shape of a `-q` log keeps each line's key and indentation,
/// folds `Remapped Rows` and drops `MIG Device` blocks only when asked.
#[test]
fn q_shape_keeps_keys() {
    let log = "GPU 0\n    MIG Mode\n        Current    : Enabled\n    MIG Device\n        Index  : 0\n    Remapped Rows\n        Pending : No\n    Temperature\n";
    assert_eq!(
        q_shape(log, false),
        "GPU 0\n    MIG Mode\n        Current\n    MIG Device\n        Index\n    Remapped Rows\n    Temperature\n"
    );
    assert_eq!(
        q_shape(log, true),
        "GPU 0\n    MIG Mode\n        Current\n    Remapped Rows\n    Temperature\n"
    );
    assert_eq!(
        q_shape("    Remapped Rows      : N/A\n", false),
        "    Remapped Rows\n"
    );
}

/// Proves the masking of the MIG devices table's rows keeps the rest of
/// the view: only the rows between the table's head and the empty line
/// after it are replaced.
#[test]
fn mask_keeps_all_but_the_mig_rows() {
    let view = format!("top\n{MIG_HEAD_END}|  row |\n+--+\n\nProcesses\n");
    assert_eq!(
        mask_mig_rows(&view),
        format!("top\n{MIG_HEAD_END}$MIG_ROWS\n\nProcesses\n")
    );
    assert_eq!(mask_mig_rows("no table\n"), "no table\n");
}
