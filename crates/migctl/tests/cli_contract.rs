//! The command-line contract (issue 16): one test per defect a new user hit,
//! each named after it. Every test drives the binary on a private simulated
//! machine.

mod common;

use common::Machine;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Output, Stdio};

fn machine(models: &[&str]) -> Machine {
    let m = Machine::new();
    let mut args = vec!["sim", "init"];
    args.extend(models);
    m.ok(&args);
    m
}

fn example(name: &str) -> String {
    testkit::repo_root()
        .join("examples/configs")
        .join(name)
        .display()
        .to_string()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}):\n{s}"))
}

/// Defect 1: a config whose device filter selects none of the machine's
/// GPUs makes `assert` and `apply` fail (exit 1) naming the filter and the
/// GPUs seen, and changes nothing; on a mixed node the text output names
/// the GPUs a config leaves alone.
#[test]
fn defect_1_selection_is_explicit() {
    let m = machine(&["a100-sxm4-40gb"]);
    let before = m.state_text();
    for verb in ["assert", "apply"] {
        let o = m.run(&[verb, "-f", &example("h100.yaml"), "-c", "balanced"]);
        assert_eq!(o.status.code(), Some(1), "{verb}: {}", text(&o.stderr));
        let err = text(&o.stderr);
        assert!(err.contains("0x233010DE"), "{verb}: {err}");
        assert!(
            err.contains("GPU 0 (NVIDIA A100-SXM4-40GB, 0x20B010DE)"),
            "{verb}: {err}"
        );
        assert!(!text(&o.stdout).contains("applied"), "{verb}");
    }
    assert_eq!(
        m.state_text(),
        before,
        "a refused apply changed the machine"
    );

    let m = machine(&["h100-sxm5-80gb", "a100-sxm4-40gbx2"]);
    let out = m.ok(&["apply", "-f", &example("mixed.yaml"), "-c", "h100-only"]);
    for gpu in [1, 2] {
        assert!(
            out.contains(&format!("GPU {gpu} (NVIDIA A100-SXM4-40GB): left alone")),
            "{out}"
        );
    }
    let out = m.ok(&["assert", "-f", &example("mixed.yaml"), "-c", "h100-only"]);
    assert!(
        out.contains("GPU 2 (NVIDIA A100-SXM4-40GB): left alone"),
        "{out}"
    );
}

/// Run `args` with stdout a pipe whose reading end is closed before
/// migctl writes, as `migctl ... | head -1` does once head has exited.
fn into_closed_pipe(m: &Machine, args: &[&str]) -> Output {
    let mut c = m.cmd(args);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    drop(child.stdout.take());
    child.wait_with_output().expect("wait")
}

/// Defect 2: no verb panics on a closed pipe. Several verbs that print,
/// each into a closed pipe, repeatedly: each ends quietly (SIGPIPE, as
/// `ls | head` does, or exit 0), with nothing about a panic on stderr.
/// Before the fix, Rust's ignored SIGPIPE made `println!` panic (exit 101).
#[test]
fn defect_2_closed_pipe_is_quiet() {
    let m = machine(&["a100-sxm4-40gbx2"]);
    m.ok(&["-mig", "1"]);
    m.ok(&["mig", "-cgi", "9,9", "-C"]);
    let verbs: &[&[&str]] = &[
        &["sim", "models"],
        &["env"],
        &["mps"],
        &["caps"],
        &["export"],
        &["export", "k8s", "--strategy", "mixed"],
        &["export", "cdi"],
        &["export", "slurm"],
        &["layouts", "a100-sxm4-40gb"],
        &["-L"],
        &["mig", "-lgip"],
        &["help"],
    ];
    for round in 0..3 {
        for v in verbs {
            let o = into_closed_pipe(&m, v);
            let err = text(&o.stderr);
            assert!(
                o.status.success() || o.status.signal() == Some(libc::SIGPIPE),
                "round {round}: migctl {v:?} ended {:?}: {err}",
                o.status
            );
            assert!(
                !err.contains("panicked") && !err.contains("Broken pipe"),
                "{v:?}: {err}"
            );
        }
    }
}

/// Defect 3: `-o` is always a format and a file is `--output-file`:
/// `export --inventory -o json` prints JSON (and writes no file named
/// `json`), `--output-file` writes the file, and `export cdi --output FILE`
/// is refused as a bad format instead of writing.
#[test]
fn defect_3_output_means_one_thing() {
    let m = machine(&["a100-sxm4-40gb"]);
    let mut c = m.cmd(&["export", "--inventory", "--node", "n1", "-o", "json"]);
    let o = c.current_dir(m.dir.path()).output().unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(json(&text(&o.stdout))["nodes"][0]["node"], "n1");
    assert!(
        !m.dir.path().join("json").exists(),
        "wrote a file named json"
    );

    let inv = m.dir.path().join("inv.yaml");
    m.ok(&[
        "export",
        "--inventory",
        "--node",
        "n1",
        "--output-file",
        inv.to_str().unwrap(),
    ]);
    assert!(std::fs::read_to_string(&inv).unwrap().contains("node: n1"));

    let spec = m.dir.path().join("spec.yaml");
    let o = m.run(&["export", "cdi", "--output", spec.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!spec.exists());
    m.ok(&[
        "export",
        "cdi",
        "-o",
        "json",
        "--output-file",
        spec.to_str().unwrap(),
    ]);
    json(&std::fs::read_to_string(&spec).unwrap());
    let cfg = m.dir.path().join("current.yaml");
    m.ok(&["export", "--output-file", cfg.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&cfg)
        .unwrap()
        .starts_with("version: v1"));
}

/// Defect 4: `migctl help [VERB]` prints help (exit 0), `migctl -h` lists
/// every verb (bench included), a mistyped verb exits 2 suggesting the
/// verb meant, `apply -h` and `plan -h` describe -f and -c, `mig -h` prints
/// no note about a missing driver, and each exit code the help's table
/// lists that a simulated machine can produce is the one it says.
#[test]
fn defect_4_help_and_suggestions() {
    let m = machine(&["a100-sxm4-40gb"]);
    let top = m.ok(&["help"]);
    assert_eq!(top, m.ok(&["-h"]));
    for verb in [
        "assert", "plan", "apply", "export", "layouts", "fit", "show", "pack", "sim", "bench",
        "parted", "help",
    ] {
        assert!(
            top.contains(&format!("migctl {verb}"))
                || top.contains(&format!("|{verb}"))
                || top.contains(&format!("{verb}|")),
            "{verb} missing from -h"
        );
    }
    for verb in ["apply", "plan"] {
        for h in [m.ok(&["help", verb]), m.ok(&[verb, "-h"])] {
            assert!(
                h.contains("-f, --config-file <FILE>")
                    && h.contains("-c, --selected-config <NAME>"),
                "{h}"
            );
        }
    }
    let o = m.run(&["aply", "-f", "x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("'apply'"), "{}", text(&o.stderr));
    let o = m.run(&["layuots"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("'layouts'"));

    // `mig -h` with the automatic backend on a machine without a driver
    let mut c = m.cmd(&["mig", "-h"]);
    c.env("MIGCTL_BACKEND", "auto")
        .env("MIGCTL_NVML_LIB", "/nonexistent/libnvidia-ml.so.1");
    let o = c.output().unwrap();
    assert!(o.status.success());
    assert!(text(&o.stdout).contains("Usage: migctl mig [options]"));
    assert_eq!(text(&o.stderr), "");

    // the table: 0, 1, 2, 6 and 255 as it says
    let code = |args: &[&str]| m.run(args).status.code();
    assert_eq!(code(&["help"]), Some(0));
    assert!(top.contains("255  other NVML errors") && top.contains("(migctl --bogus)"));
    assert_eq!(code(&["--bogus"]), Some(255));
    assert_eq!(code(&["plan", "--bogus"]), Some(2));
    assert_eq!(code(&["mig", "-bogus"]), Some(2));
    assert_eq!(code(&["-i", "7", "-mig", "1"]), Some(6));
    assert_eq!(code(&["fit", "a100-sxm4-40gb", "7g.40gbx2"]), Some(1));
    let bad = m.dir.path().join("bad.json");
    std::fs::write(&bad, "garbage").unwrap();
    let o = m
        .cmd(&["-L"])
        .env("MIGCTL_SIM_STATE", &bad)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
}

/// Defect 5: JSON for `-L`, the status view, and `mig -lgi | -lci | -lgip
/// | -lgipp | -lcip`, holding what the text listings hold; through a link
/// named nvidia-smi, `-o` stays outside nvidia-smi's grammar (exit 255).
#[test]
fn defect_5_json_on_every_read() {
    let m = machine(&["a100-sxm4-40gb", "h100-sxm5-80gb"]);
    m.ok(&["-mig", "1"]);
    m.ok(&["mig", "-i", "0", "-cgi", "9,14", "-C"]);
    let l = json(&m.ok(&["-L", "-o", "json"]));
    let text_l = m.ok(&["-L"]);
    let gpus = l["gpus"].as_array().unwrap();
    assert_eq!(gpus.len(), 2);
    for g in gpus {
        assert!(text_l.contains(g["uuid"].as_str().unwrap()));
        for d in g["mig_devices"].as_array().unwrap() {
            assert!(text_l.contains(d["uuid"].as_str().unwrap()), "{d}");
        }
    }
    assert_eq!(gpus[0]["mig_devices"].as_array().unwrap().len(), 2);

    let gi = json(&m.ok(&["mig", "-lgi", "--output", "json"]));
    let ids: Vec<u64> = gi["gpu_instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["gi"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    let lgi = m.ok(&["mig", "-lgi"]);
    for g in gi["gpu_instances"].as_array().unwrap() {
        assert!(lgi.contains(g["profile"].as_str().unwrap()));
    }
    let ci = json(&m.ok(&["mig", "-lci", "-o", "json"]));
    assert_eq!(ci["compute_instances"].as_array().unwrap().len(), 2);
    let lgip = json(&m.ok(&["mig", "-lgip", "-i", "0", "-o", "json"]));
    let p = &lgip["gpus"][0]["profiles"];
    let p19 = p
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == 19)
        .unwrap();
    assert_eq!(p19["total"], 7);
    let lgipp = json(&m.ok(&["mig", "-lgipp", "-i", "1", "-o", "json"]));
    assert!(!lgipp["gpus"][0]["profiles"][0]["placements"]
        .as_array()
        .unwrap()
        .is_empty());
    let lcip = json(&m.ok(&["mig", "-lcip", "-o", "json"]));
    assert_eq!(lcip["gpu_instances"].as_array().unwrap().len(), 2);
    let status = json(&m.ok(&["-o", "json"]));
    assert_eq!(status["mig_devices"].as_array().unwrap().len(), 2);
    assert!(status["processes"].as_array().unwrap().is_empty());

    // nvidia-smi's grammar has no -o
    let smi: PathBuf = m.dir.path().join("nvidia-smi");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_migctl"), &smi).unwrap();
    let mut c = std::process::Command::new(&smi);
    c.args(["-L", "-o", "json"])
        .env("MIGCTL_SIM_STATE", m.state())
        .env("MIGCTL_BACKEND", "sim");
    let o = common::output_retrying_busy(&mut c);
    assert_eq!(o.status.code(), Some(255));
    assert!(text(&o.stdout).starts_with("ERROR: Option -o is not recognized."));
}

/// Defect 6: `plan --output json` names the config it planned.
#[test]
fn defect_6_plan_json_names_the_config() {
    let m = machine(&["a100-sxm4-40gb"]);
    let v = json(&m.ok(&[
        "plan",
        "-f",
        &example("a100.yaml"),
        "-c",
        "half-half",
        "-o",
        "json",
    ]));
    assert_eq!(v["config"], "half-half");
    let v = json(&m.ok(&[
        "apply",
        "-f",
        &example("a100.yaml"),
        "-c",
        "half-half",
        "-o",
        "json",
    ]));
    assert_eq!(v["config"], "half-half");
    assert_eq!(v["gpus"][0]["gpu_instances_created"], 2);
    assert_eq!(v["gpus"][0]["mig_mode"], "enabled");
}

/// Defect 9: `apply` on a two-GPU machine tells one line per GPU at the
/// end (mode change, reset, instances changed, or nothing to do), never the
/// mode phase and the instance phase as two contradictory lines, and counts
/// one step in the singular.
#[test]
fn defect_9_apply_tells_one_story() {
    let m = machine(&["a100-sxm4-40gbx2"]);
    m.ok(&["-i", "0", "-mig", "1"]);
    let out = m.ok(&["apply", "-f", &example("a100.yaml"), "-c", "balanced"]);
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("GPU ")).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("GPU 0 (") && !lines[0].contains("MIG mode"),
        "{out}"
    );
    assert!(lines[0].contains("4 GPU instances created"), "{out}");
    assert!(
        lines[1].starts_with("GPU 1 (") && lines[1].contains("MIG mode enabled, reset"),
        "{out}"
    );
    assert!(out.ends_with("balanced: applied\n"), "{out}");
    let again = m.ok(&["apply", "-f", &example("a100.yaml"), "-c", "balanced"]);
    assert_eq!(again.matches("nothing to do").count(), 2, "{again}");

    // one step: disabling MIG on an H100 with no instances
    let h = machine(&["h100-sxm5-80gb"]);
    h.ok(&["-mig", "1"]);
    let out = h.ok(&["apply", "-f", &example("h100.yaml"), "-c", "disabled"]);
    assert!(out.contains("MIG mode disabled (1 step)"), "{out}");
    assert!(!out.contains("1 steps"));
}

/// Defect 10: the repository's example configs run on the machines their
/// comments name, and no test prints a SKIPPED line where libtest hides it
/// (every skip goes through testkit).
#[test]
fn defect_10_fresh_clone_is_enough() {
    let cases: &[(&str, &[&str])] = &[
        ("a100.yaml", &["a100-sxm4-40gb"]),
        ("h100.yaml", &["h100-sxm5-80gb"]),
        ("mixed.yaml", &["h100-sxm5-80gb", "a100-sxm4-40gbx2"]),
    ];
    for (file, models) in cases {
        let m = machine(models);
        let path = example(file);
        let spec: serde_json::Value = {
            let text = std::fs::read_to_string(&path).unwrap();
            let names: Vec<String> = text
                .lines()
                .filter(|l| {
                    l.starts_with("  ") && !l.starts_with("   ") && l.trim_end().ends_with(':')
                })
                .map(|l| l.trim().trim_end_matches(':').to_string())
                .collect();
            serde_json::json!(names)
        };
        let names = spec.as_array().unwrap();
        assert!(names.len() >= 3, "{file}: {names:?}");
        for n in names {
            let n = n.as_str().unwrap();
            m.ok(&["apply", "-f", &path, "-c", n]);
            m.ok(&["assert", "-f", &path, "-c", n]);
        }
    }
    let root = testkit::repo_root().join("crates");
    let mut hidden = Vec::new();
    for krate in std::fs::read_dir(&root).unwrap().flatten() {
        let Ok(tests) = std::fs::read_dir(krate.path().join("tests")) else {
            continue;
        };
        for f in tests.flatten() {
            if f.file_name() == "cli_contract.rs" {
                continue; // this test names the patterns
            }
            let t = std::fs::read_to_string(f.path()).unwrap_or_default();
            if t.contains("eprintln!(\"SKIPPED") || t.contains("\"SKIPPED: {}") {
                hidden.push(f.path().display().to_string());
            }
        }
    }
    assert!(hidden.is_empty(), "skips libtest hides: {hidden:?}");
}

/// Defect 11: the smaller items: `-cgi ''` is a missing value, `-gi`
/// beside `-cgi` is refused (not ignored), a huge config count is named as
/// too large, an empty demand is refused (no `-0 of -0`), `sim kill` says
/// what it did, and a foreign state file gets a recovery hint.
#[test]
fn defect_11_smaller_items() {
    let m = machine(&["a100-sxm4-40gb"]);
    m.ok(&["-mig", "1"]);
    let o = m.run(&["mig", "-cgi", ""]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(text(&o.stdout), "Option \"-cgi\" is missing its value.\n");
    let o = m.run(&["mig", "-cgi", "9", "-gi", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stdout).contains("\"-gi\" is not valid with \"-cgi\""));
    assert_eq!(m.run(&["mig", "-lgi"]).status.code(), Some(6), "-cgi ran");

    let huge = m.dir.path().join("huge.yaml");
    std::fs::write(&huge, "version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: true\n      mig-devices: {\"1g.5gb\": 99999999999999999999}\n").unwrap();
    let o = m.run(&["plan", "-f", huge.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("far more than any GPU holds"),
        "{}",
        text(&o.stderr)
    );

    let inv = m.dir.path().join("inv.yaml");
    m.ok(&[
        "export",
        "--inventory",
        "--output-file",
        inv.to_str().unwrap(),
    ]);
    let demand = m.dir.path().join("demand.yaml");
    std::fs::write(&demand, "version: v1\ndemand: []\n").unwrap();
    let o = m.run(&[
        "pack",
        "--inventory",
        inv.to_str().unwrap(),
        "--demand",
        demand.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("asks for nothing"));
    assert!(!text(&o.stdout).contains("-0"));

    m.ok(&["mig", "-cgi", "19", "-C"]);
    let gi = json(&m.ok(&["mig", "-lgi", "-o", "json"]))["gpu_instances"][0]["gi"].to_string();
    let pid = m.ok(&["sim", "run", "--gpu", "0", "--gi", &gi, "--ci", "0"]);
    let pid: String = pid.chars().take_while(char::is_ascii_digit).collect();
    let pid = pid.as_str();
    assert_eq!(
        m.ok(&["sim", "kill", pid]),
        format!("killed simulated process {pid}\n")
    );

    let foreign = m.dir.path().join("foreign.json");
    std::fs::write(&foreign, "{}").unwrap();
    let o = m
        .cmd(&["-L"])
        .env("MIGCTL_SIM_STATE", &foreign)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("`migctl sim init --force MODEL...` replaces it"));
}
