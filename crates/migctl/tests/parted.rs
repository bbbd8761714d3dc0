//! The drop-in `nvidia-mig-parted` and migctl's own config verbs, run
//! through the binary on a simulated machine.

mod common;

use common::Machine;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CONFIG: &str = r#"version: v1
mig-configs:
  all-disabled:
    - devices: all
      mig-enabled: false
  all-balanced:
    - devices: all
      mig-enabled: true
      mig-devices:
        "1g.5gb": 2
        "2g.10gb": 1
        "3g.20gb": 1
  second-only:
    - devices: [1]
      mig-enabled: true
      mig-devices:
        "3g.20gb": 2
"#;

struct Node {
    m: Machine,
    parted: PathBuf,
    smi: PathBuf,
    config: PathBuf,
}

impl Node {
    /// Two A100-40GBs, MIG on, GPU 0 balanced (`3g@4 2g@0 1g@2 1g@3`),
    /// GPU 1 with two 3g.20gb.
    fn new() -> Node {
        let m = Machine::new();
        m.ok(&["sim", "init", "a100-sxm4-40gbx2"]);
        m.ok(&["-mig", "1"]);
        m.ok(&["-r"]);
        m.ok(&["mig", "-i", "0", "-cgi", "9,14,19,19", "-C"]);
        m.ok(&["mig", "-i", "1", "-cgi", "9,9", "-C"]);
        let parted = m.dir.path().join("nvidia-mig-parted");
        let smi = m.dir.path().join("nvidia-smi");
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_migctl"), &parted).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_migctl"), &smi).unwrap();
        let config = m.dir.path().join("config.yaml");
        std::fs::write(&config, CONFIG).unwrap();
        Node {
            m,
            parted,
            smi,
            config,
        }
    }

    fn via(&self, prog: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut c = Command::new(prog);
        c.args(args)
            .env("MIGCTL_SIM_STATE", self.m.state())
            .env("MIGCTL_BACKEND", "sim")
            .env_remove("MIGCTL_SIM_FAULT");
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn parted(&self, args: &[&str]) -> (i32, String, String) {
        self.parted_env(args, &[])
    }

    fn parted_env(&self, args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
        let o = self.via(&self.parted, args, envs);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn cfg(&self) -> &str {
        self.config.to_str().unwrap()
    }
}

/// Proves the GPU Operator MIG manager's command sequence (`assert
/// --valid-config`, `assert`, `assert --mode-only`, `apply --mode-only`,
/// `apply`) through the `nvidia-mig-parted` name: exit statuses and the
/// lines scripts read, for an applied and a not-applied config, and that
/// nothing on the machine changes when the config is already applied.
#[test]
fn mig_manager_sequence() {
    let n = Node::new();
    let before = n.m.state_text();
    let c = n.cfg();
    let (rc, out, err) = n.parted(&["assert", "--valid-config", "-f", c, "-c", "all-balanced"]);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(out, "Selected MIG configuration is valid\n");
    let (rc, out, err) = n.parted(&["assert", "-f", c, "-c", "all-balanced"]);
    assert_eq!(rc, 1);
    assert_eq!(out, "");
    assert!(
        err.contains(
            "level=fatal msg=\"Assertion failure: selected configuration not currently applied\""
        ),
        "{err}"
    );
    let (rc, out, _) = n.parted(&["assert", "--mode-only", "-f", c, "-c", "all-balanced"]);
    assert_eq!(rc, 0);
    assert_eq!(
        out,
        "Selected MIG mode settings from configuration currently applied\n"
    );
    let (rc, out, err) = n.parted(&["apply", "--mode-only", "-f", c, "-c", "all-balanced"]);
    assert_eq!(
        (rc, out.as_str()),
        (0, "MIG configuration applied successfully\n"),
        "{err}"
    );
    // A config that holds: assert and a full apply succeed.
    let (rc, out, _) = n.parted(&["assert", "-f", c, "-c", "second-only"]);
    assert_eq!(
        (rc, out.as_str()),
        (0, "Selected MIG configuration currently applied\n")
    );
    let (rc, out, _) = n.parted(&["apply", "-f", c, "-c", "second-only"]);
    assert_eq!(
        (rc, out.as_str()),
        (0, "MIG configuration applied successfully\n")
    );
    // The mode is wrong for all-disabled: assert --mode-only fails.
    let (rc, _, err) = n.parted(&["assert", "-m", "-f", c, "-c", "all-disabled"]);
    assert_eq!(rc, 1, "{err}");
    assert_eq!(
        n.m.state_text(),
        before,
        "an assert or a no-op apply changed the machine"
    );
}

/// Proves the environment twins stand in for the flags (MIG_PARTED_CONFIG_FILE,
/// MIG_PARTED_SELECTED_CONFIG, MIG_PARTED_MODE_CHANGE_ONLY), flags win over
/// them, and a file with several configs needs a selection.
#[test]
fn environment_twins() {
    let n = Node::new();
    let c = n.cfg();
    let envs = [
        ("MIG_PARTED_CONFIG_FILE", c),
        ("MIG_PARTED_SELECTED_CONFIG", "second-only"),
    ];
    let (rc, out, _) = n.parted_env(&["assert"], &envs);
    assert_eq!(
        (rc, out.as_str()),
        (0, "Selected MIG configuration currently applied\n")
    );
    let (rc, _, _) = n.parted_env(&["assert", "-c", "all-balanced"], &envs);
    assert_eq!(rc, 1);
    let (rc, out, _) = n.parted_env(
        &["assert", "-c", "all-balanced"],
        &[
            ("MIG_PARTED_CONFIG_FILE", c),
            ("MIG_PARTED_MODE_CHANGE_ONLY", "true"),
        ],
    );
    assert_eq!(
        (rc, out.as_str()),
        (
            0,
            "Selected MIG mode settings from configuration currently applied\n"
        )
    );
    let (rc, _, err) = n.parted(&["assert", "-f", c]);
    assert_eq!(rc, 1);
    assert!(
        err.contains("missing required flag 'selected-config' when more than one config available"),
        "{err}"
    );
    let (rc, out, err) = n.parted(&["assert"]);
    assert_eq!(rc, 1);
    assert!(out.contains("--config-file"), "{out}");
    assert!(
        err.contains("Missing required flags 'config-file'"),
        "{err}"
    );
}

/// Proves bad configs are refused with exit 1 and a message naming the
/// line (syntax, unknown key) or the entry and profile (unknown profile),
/// changing nothing.
#[test]
fn bad_configs_are_refused() {
    let n = Node::new();
    let before = n.m.state_text();
    let cases = [
        ("version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: true\n      mig-devices: {\"1g.5gb\": 1}\n      extra: 1\n", ":7:"),
        ("version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: true\n      mig-devices: {\"1g.99gb\": 1}\n", "1g.99gb is not a profile"),
        ("version: v1\nmig-configs:\n  x:\n    - devices: [5]\n      mig-enabled: false\n", "lists GPU 5, but this machine has GPUs 0-1"),
        ("version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: true\n      mig-devices: {\"4g.20gb\": 1, \"3g.20gb\": 2}\n", "3g.20gb needs slices 0-3 or 4-7"),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let f = n.m.dir.path().join(format!("bad{i}.yaml"));
        std::fs::write(&f, text).unwrap();
        let (rc, _, err) = n.parted(&["apply", "-f", f.to_str().unwrap()]);
        assert_eq!(rc, 1, "{err}");
        assert!(err.contains(needle), "{needle}: {err}");
        let o = n.m.run(&["assert", "-f", f.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains(needle));
    }
    assert_eq!(n.m.state_text(), before);
}

/// Proves the mig-parted assert fix: a config that selects only GPU 1
/// asserts although GPU 0 matches no entry, and `migctl assert --output
/// json` says which GPUs were checked and which were not selected.
#[test]
fn partial_configs_assert() {
    let n = Node::new();
    let o = n.m.run(&[
        "assert",
        "-f",
        n.cfg(),
        "-c",
        "second-only",
        "--output",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["matches"], true);
    assert_eq!(v["checked"], serde_json::json!([1]));
    assert_eq!(v["unselected"], serde_json::json!([0]));
    let o = n.m.run(&["assert", "-f", n.cfg(), "-c", "all-balanced"]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("GPU 1 holds 3g.20gb@0 [3g.20gb], 3g.20gb@4 [3g.20gb]"),
        "{out}"
    );
}

/// Proves export round-trips: its output (plain and with placements) read
/// back from stdin asserts on the machine it came from; a moved instance
/// fails the pinned form but not the plain one; mig-parted's export prints
/// the same plain config.
#[test]
fn export_round_trip() {
    let n = Node::new();
    let plain = n.m.ok(&["export"]);
    let pinned = n.m.ok(&["export", "--placements"]);
    assert!(
        pinned.starts_with("version: migctl/v1\n") && pinned.contains("start: 4"),
        "{pinned}"
    );
    let (rc, out, _) = n.parted(&["export"]);
    assert_eq!((rc, out.as_str()), (0, plain.as_str()));
    let assert_stdin = |text: &str| {
        use std::io::Write;
        let mut c = n.m.cmd(&["assert", "-f", "-"]);
        c.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null());
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        child.wait().unwrap().code()
    };
    assert_eq!(assert_stdin(&plain), Some(0), "{plain}");
    assert_eq!(assert_stdin(&pinned), Some(0), "{pinned}");
    // The same profiles at other slots: the plain form still holds, the pinned one not.
    n.m.ok(&["mig", "-i", "0", "-dci"]);
    n.m.ok(&["mig", "-i", "0", "-dgi"]);
    n.m.ok(&["mig", "-i", "0", "-cgi", "9:4,14:2,19:0,19:1", "-C"]);
    assert_eq!(n.m.ok(&["export"]), plain);
    assert_eq!(assert_stdin(&plain), Some(0));
    assert_eq!(assert_stdin(&pinned), Some(1));
    let json = n.m.ok(&["export", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["version"], "v1");
}

/// Proves hooks run around an apply with the MIG_PARTED_* values: with the
/// config already applied only apply-start and apply-exit run.
#[test]
fn hooks_run_around_apply() {
    let n = Node::new();
    let log = n.m.dir.path().join("hooks.log");
    let hooks = n.m.dir.path().join("hooks.yaml");
    let mut text = String::from("version: v1\nhooks:\n");
    for p in [
        "apply-start",
        "pre-apply-mode",
        "pre-apply-config",
        "apply-exit",
    ] {
        text.push_str(&format!(
            "  {p}:\n  - command: /bin/sh\n    args: [\"-c\", \"echo {p} $MIG_PARTED_SELECTED_CONFIG $MIG_PARTED_MODE_CHANGE_ONLY >> {}\"]\n",
            log.display()
        ));
    }
    std::fs::write(&hooks, text).unwrap();
    let (rc, out, err) = n.parted(&[
        "apply",
        "-f",
        n.cfg(),
        "-c",
        "second-only",
        "-k",
        hooks.to_str().unwrap(),
    ]);
    assert_eq!(
        (rc, out.as_str()),
        (0, "MIG configuration applied successfully\n"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "apply-start second-only false\napply-exit second-only false\n"
    );
}

/// Proves checkpoint writes mig-parted's JSON and restore of an unchanged
/// machine succeeds without changing it; generate-config's output loads and
/// its all-balanced is valid here.
#[test]
fn checkpoint_restore_generate() {
    let n = Node::new();
    let before = n.m.state_text();
    let cp = n.m.dir.path().join("cp.json");
    let (rc, out, _) = n.parted(&["checkpoint", "-f", cp.to_str().unwrap()]);
    assert_eq!(
        (rc, out.as_str()),
        (0, "MIG configuration checkpointed successfully\n")
    );
    let text = std::fs::read_to_string(&cp).unwrap();
    assert!(
        text.starts_with("{\"Version\":\"v1\",\"MigState\":{\"Devices\":[{\"UUID\":\"GPU-"),
        "{text}"
    );
    let (rc, out, err) = n.parted(&["restore", "-f", cp.to_str().unwrap()]);
    assert_eq!(
        (rc, out.as_str()),
        (0, "MIG configuration restored successfully\n"),
        "{err}"
    );
    assert_eq!(n.m.state_text(), before);
    let gen = n.m.dir.path().join("gen.yaml");
    let (rc, _, err) = n.parted(&["generate-config", "-f", gen.to_str().unwrap()]);
    assert_eq!(rc, 0, "{err}");
    let (rc, out, err) = n.parted(&[
        "assert",
        "-a",
        "-f",
        gen.to_str().unwrap(),
        "-c",
        "all-balanced",
    ]);
    assert_eq!(
        (rc, out.as_str()),
        (0, "Selected MIG configuration is valid\n"),
        "{err}"
    );
}

/// Proves the drop-in's apply runs the reconciler: it succeeds, says so as
/// mig-parted does, and the drop-in's assert then holds.
#[test]
fn apply_through_the_drop_in_applies() {
    let n = Node::new();
    let (rc, out, err) = n.parted(&["apply", "-f", n.cfg(), "-c", "all-balanced"]);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("MIG configuration applied successfully"),
        "{out}{err}"
    );
    let (rc, out, err) = n.parted(&["assert", "-f", n.cfg(), "-c", "all-balanced"]);
    assert_eq!(rc, 0, "{out}{err}");
}

/// Proves that invoked as `nvidia-smi` the usage lines name nvidia-smi.
#[test]
fn nvidia_smi_name_in_usage() {
    let n = Node::new();
    let o = n.via(&n.smi, &["-h"], &[]);
    let top = String::from_utf8_lossy(&o.stdout);
    assert!(top.contains("    nvidia-smi -L "), "{top}");
    let o = n.via(&n.smi, &["mig", "-h"], &[]);
    let mig = String::from_utf8_lossy(&o.stdout);
    assert!(mig.contains("Usage: nvidia-smi mig [options]"), "{mig}");
}

/// Proves the snapshot adapter reads the same machine through either
/// backend: `export --placements`, `assert` and mig-parted's `checkpoint`
/// give the same answers with `MIGCTL_BACKEND=nvml` over the fake
/// `libnvidia-ml.so.1` as on the simulator directly.
#[test]
fn nvml_backend_reads_the_same_layout() {
    let n = Node::new();
    let o = n.m.run(&["sim", "nvml-lib"]);
    assert!(
        o.status.success(),
        "`migctl sim nvml-lib` failed (is crates/nvml-shim built? `cargo build --workspace`): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lib = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let nvml = [
        ("MIGCTL_BACKEND", "nvml"),
        ("MIGCTL_NVML_LIB", lib.as_str()),
    ];
    let sim_export = n.m.ok(&["export", "--placements"]);
    let o = n.via(
        Path::new(env!("CARGO_BIN_EXE_migctl")),
        &["export", "--placements"],
        &nvml,
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        sim_export,
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for (cfg, want) in [("second-only", 0), ("all-balanced", 1)] {
        let o = n.via(
            Path::new(env!("CARGO_BIN_EXE_migctl")),
            &["assert", "-f", n.cfg(), "-c", cfg],
            &nvml,
        );
        assert_eq!(
            o.status.code(),
            Some(want),
            "{cfg}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let a = n.m.dir.path().join("a.json");
    let b = n.m.dir.path().join("b.json");
    assert_eq!(n.parted(&["checkpoint", "-f", a.to_str().unwrap()]).0, 0);
    assert_eq!(
        n.parted_env(&["checkpoint", "-f", b.to_str().unwrap()], &nvml)
            .0,
        0
    );
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}
