//! Bad input changes nothing and says what is wrong; concurrent processes
//! lose no update; a crash mid-write leaves the previous state readable;
//! injected faults fail exactly the operation they name.

mod common;

use common::Machine;
use std::process::Stdio;

/// A machine with MIG enabled on one A100-SXM4-40GB and one 3g GI with a CI.
fn a100() -> Machine {
    let m = Machine::new();
    m.ok(&["sim", "init", "a100-sxm4-40gb"]);
    m.ok(&["-i", "0", "-mig", "1"]);
    m.ok(&["mig", "-cgi", "9", "-C"]);
    m
}

/// The first number on a line (`sim run` prints the pid first).
fn first_number(s: &str) -> &str {
    let s = s.trim_start();
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    &s[..end]
}

/// Run, expect failure with `code`, stdout or stderr containing `needle`,
/// and the state file byte-for-byte unchanged.
fn refused(m: &Machine, args: &[&str], code: i32, needle: &str) {
    let before = m.state_text();
    let o = m.run(args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(code), "migctl {args:?}: {text}");
    assert!(
        text.contains(needle),
        "migctl {args:?}: {text:?} lacks {needle:?}"
    );
    assert_eq!(m.state_text(), before, "migctl {args:?} changed the state");
}

/// Unknown profiles, bad placements, bad IDs and wrong flags are refused
/// before anything is created, with nvidia-smi's messages.
#[test]
fn bad_input_changes_nothing() {
    let m = a100();
    refused(
        &m,
        &["mig", "-cgi", "19,bogus"],
        2,
        "using profile bogus: Invalid Argument",
    );
    refused(
        &m,
        &["mig", "-cgi", "19,99"],
        2,
        "using profile 99: Invalid Argument",
    );
    refused(&m, &["mig", "-cgi", "19,9:2"], 2, "Invalid Argument");
    refused(&m, &["mig", "-cgi", "19:x"], 2, "Invalid placement start");
    refused(
        &m,
        &["mig", "-cgi", "19", "-i", "7"],
        6,
        "No devices were found",
    );
    refused(
        &m,
        &["mig", "-lgi", "-i", "GPU-nope"],
        6,
        "No devices were found",
    );
    refused(
        &m,
        &["mig", "-dgi", "-gi", "x"],
        2,
        "Invalid GPU instance ID",
    );
    refused(&m, &["mig", "-dgi", "-gi", "5"], 6, "Not Found");
    refused(&m, &["mig", "-dci", "-gi", "1", "-ci", "3"], 6, "Not Found");
    refused(
        &m,
        &["mig", "-cci", "nope", "-gi", "2"],
        2,
        "Invalid Argument",
    );
    refused(
        &m,
        &["mig", "-bogus"],
        2,
        "Option \"-bogus\" is not recognized.",
    );
    refused(
        &m,
        &["mig", "-cgi"],
        2,
        "Option \"-cgi\" is missing its value.",
    );
    refused(
        &m,
        &["--bogus"],
        255,
        "ERROR: Option --bogus is not recognized.",
    );
    refused(&m, &["-i", "0", "-mig", "2"], 2, "Invalid value");
    refused(&m, &["sim", "init", "h100-bogus"], 2, "unknown GPU model");
    refused(
        &m,
        &["sim", "run", "--gpu", "0", "--gi", "9", "--ci", "0"],
        1,
        "no MIG device",
    );
    refused(&m, &["sim", "kill", "12345"], 1, "no simulated process");
    // a GI with a compute instance is in use
    refused(&m, &["mig", "-dgi"], 255, "In use by another client");
}

/// Corrupt, foreign and future-version state files are reported, never
/// overwritten by an operation.
#[test]
fn bad_state_files_are_reported() {
    let m = Machine::new();
    for (text, needle) in [
        ("{ not json", "not a migctl simulated-machine state file (it is not JSON"),
        ("{\"hello\": 1}", "not a migctl simulated-machine state file"),
        (
            "{\"format\":\"migctl-sim-state\",\"version\":99}",
            "it is state version 99, this migctl reads version 1",
        ),
        (
            "{\"format\":\"migctl-sim-state\",\"version\":1,\"gpus\":[{\"model\":\"nope\"}],\"next_pid\":1}",
            "corrupt",
        ),
    ] {
        std::fs::write(m.state(), text).unwrap();
        refused(&m, &["mig", "-lgip"], 1, needle);
        refused(&m, &["-i", "0", "-mig", "1"], 1, needle);
    }
    // a rule-breaking layout (a 7g GI over the existing 3g at 4:4) is refused too
    let good = a100();
    let st = good.state_text();
    let dup = st.replacen(
        "\"gpu_instances\": [",
        "\"gpu_instances\": [ {\"id\": 0, \"profile_id\": 0, \"placement\": {\"start\": 0, \"size\": 8}},",
        1,
    );
    std::fs::write(good.state(), dup).unwrap();
    refused(&good, &["mig", "-lgi"], 1, "corrupt");
    // `sim init` never replaces a file that is not ours
    std::fs::write(m.state(), "{\"hello\": 1}").unwrap();
    refused(
        &m,
        &["sim", "init", "a30-24gb"],
        1,
        "refusing to use or overwrite it",
    );
}

/// Seven processes each create a 1g GI on one H100 at the same time: all
/// seven land, with seven distinct GI IDs (no lost update).
#[test]
fn concurrent_processes_lose_nothing() {
    let m = Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb"]);
    m.ok(&["-mig", "1"]);
    let children: Vec<_> = (0..7)
        .map(|_| {
            m.cmd(&["mig", "-cgi", "19"])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    }
    let lgi = m.ok(&["mig", "-lgi"]);
    assert_eq!(lgi.matches("MIG 1g.10gb").count(), 7, "{lgi}");
    for id in 7..=13 {
        assert!(lgi.contains(&format!("{id:>9}")), "GI {id} missing:\n{lgi}");
    }
}

/// `abort:N` kills the process in the middle of writing its Nth mutation's
/// state; the state file keeps the previous, complete state.
#[test]
fn abort_mid_write_keeps_previous_state() {
    let m = a100();
    let before = m.state_text();
    let o = m
        .cmd(&["mig", "-cgi", "19"])
        .env("MIGCTL_SIM_FAULT", "abort:1")
        .output()
        .unwrap();
    assert!(!o.status.success(), "the process should have died");
    assert_eq!(m.state_text(), before);
    // the half-written new state is the only leftover, and the next write
    // replaces it
    let tmp = m.dir.path().join("state.json.tmp");
    assert!(tmp.exists());
    // and the machine still works
    m.ok(&["mig", "-cgi", "19"]);
    assert!(!tmp.exists());
    assert!(m.ok(&["mig", "-lgi"]).contains("MIG 1g.5gb"));
}

/// `fail:N:ERROR` fails the Nth mutating operation with that NVML error and
/// leaves the earlier ones done, as a driver failure would.
#[test]
fn injected_failure_hits_the_named_operation() {
    let m = a100();
    let o = m
        .cmd(&["mig", "-cgi", "19,19,19"])
        .env("MIGCTL_SIM_FAULT", "fail:2:IN_USE")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(255));
    assert_eq!(
        out.matches("Successfully created GPU instance").count(),
        1,
        "{out}"
    );
    assert!(
        out.contains("using profile 19: In use by another client"),
        "{out}"
    );
    assert_eq!(m.ok(&["mig", "-lgi"]).matches("MIG 1g.5gb").count(), 1);
    // a malformed fault spec is an error, not ignored
    let o = m
        .cmd(&["mig", "-lgi"])
        .env("MIGCTL_SIM_FAULT", "sometimes")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("MIGCTL_SIM_FAULT"));
}

/// MIG mode: enabling with a process on the GPU stays pending until a reset;
/// a reset with the process still there fails; disabling with GPU instances
/// present is refused.
#[test]
fn mig_mode_pending_and_reset() {
    let m = Machine::new();
    m.ok(&["sim", "init", "a100-sxm4-40gb"]);
    let pid = m.ok(&["sim", "run", "--gpu", "0", "--name", "train"]);
    let out = m.run(&["-i", "0", "-mig", "1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with(
        "Warning: MIG mode is in pending enable state for GPU 00000000:07:00.0:In use by another client\n"
    ), "{text}");
    assert_eq!(m.ok(&["mig", "-lgi"]), "No MIG-enabled devices found.\n");
    let r = m.run(&["-r"]);
    assert_eq!(r.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&r.stdout).contains("In use by another client"));
    m.ok(&["sim", "kill", first_number(&pid)]);
    assert_eq!(
        m.ok(&["-r", "-i", "0"]),
        "GPU 00000000:07:00.0 was successfully reset.\nAll done.\n"
    );
    m.ok(&["mig", "-cgi", "0"]);
    let d = m.run(&["-mig", "0"]);
    assert_eq!(d.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&d.stdout).contains(
        "Unable to disable MIG Mode for GPU 00000000:07:00.0: In use by another client\nTerminating early due to previous errors.\n"
    ));
}

/// With MIG disabled, every `mig` command that needs MIG prints nvidia-smi
/// 580's "No MIG-enabled devices found." and exits 0 (measured on a lent
/// H200), while profile listings still work.
#[test]
fn mig_disabled_answers_like_nvidia_smi() {
    let m = Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb"]);
    let before = m.state_text();
    for args in [
        &["mig", "-lgi"][..],
        &["mig", "-lci"],
        &["mig", "-lcip"],
        &["mig", "-lcipp"],
        &["mig", "-cgi", "19"],
        &["mig", "-dgi"],
        &["mig", "-cci"],
        &["mig", "-dci"],
    ] {
        assert_eq!(m.ok(args), "No MIG-enabled devices found.\n", "{args:?}");
    }
    assert_eq!(m.state_text(), before);
    assert!(m.ok(&["mig", "-lgip"]).contains("MIG 7g.80gb"));
}

/// On a `--root-only` machine (the driver's default mig/config mode 0400),
/// a user who is not root gets NVML's "Insufficient Permissions" for every
/// management operation, may still list, and changes nothing. Run as root,
/// the test drops to `nobody` with setpriv for the unprivileged calls.
#[test]
fn root_only_machine_refuses_other_users() {
    use std::os::unix::fs::PermissionsExt;
    let m = Machine::new();
    std::fs::set_permissions(m.dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    m.ok(&["sim", "init", "--root-only", "a30-24gb"]);
    let as_root = mig_sim::is_root();
    if as_root {
        m.ok(&["-mig", "1"]);
        // let `nobody` read and lock the state, as a world-readable state would
        for f in ["state.json", "state.json.lock"] {
            let p = m.dir.path().join(f);
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        }
    }
    // `nobody` may not traverse the checkout (CI may clone under /root), so
    // it runs a copy of the binary from the world-readable machine directory.
    let copy = m.dir.path().join("migctl");
    if as_root {
        std::fs::copy(env!("CARGO_BIN_EXE_migctl"), &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let unprivileged = |args: &[&str]| -> std::process::Output {
        if !as_root {
            return m.run(args);
        }
        let plain = m.cmd(args);
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&copy)
            .args(args);
        for (k, v) in plain.get_envs() {
            if let Some(v) = v {
                c.env(k, v);
            }
        }
        common::output_retrying_busy(&mut c)
    };
    let before = m.state_text();
    if as_root {
        let probe = unprivileged(&["--version"]);
        if !probe.status.success() {
            // e.g. a temporary directory mounted noexec
            testkit::skip(
                "root_only_machine_refuses_other_users",
                testkit::Needs::Environment,
                &format!(
                    "cannot run migctl as nobody from {}: {}",
                    copy.display(),
                    String::from_utf8_lossy(&probe.stderr)
                ),
            );
            return;
        }
    }
    let o = unprivileged(&["mig", "-cgi", "14"]);
    let out = String::from_utf8_lossy(&o.stdout);
    if as_root {
        assert_eq!(
            out,
            "Unable to create a GPU instance on GPU  0 using profile 14: Insufficient Permissions\n\
             Failed to create GPU instances: Insufficient Permissions\n"
        );
    } else {
        assert!(out.contains("Insufficient Permissions"), "{out}");
    }
    assert_eq!(o.status.code(), Some(4));
    let o = unprivileged(&["-mig", "0"]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(unprivileged(&["mig", "-lgip"]).status.success());
    assert_eq!(m.state_text(), before);
    if as_root {
        m.ok(&["mig", "-cgi", "14"]);
    }
}

/// Proves what a new user hit on a fresh clone is fixed (issue 6, item 6):
/// exit statuses as the README says, `sim` verbs that name what is wrong,
/// state paths reported with the reason, no leftovers beside refused files,
/// the default view with MIG disabled and enabled, and several listings in one call.
#[test]
fn new_user_paper_cuts() {
    let m = Machine::new();
    m.ok(&["sim", "init", "a100-sxm4-40gb"]);

    // top-level unknown options exit 255, as nvidia-smi 580 does
    let o = m.run(&["--bogus"]);
    assert_eq!(o.status.code(), Some(255));
    // nvidia-smi's quirk: -cgi with MIG disabled is not an error
    let o = m.run(&["mig", "-cgi", "9"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "No MIG-enabled devices found.\n"
    );

    // the default view shows each GPU and its MIG mode even with MIG off,
    // and no MIG devices table then (nvidia-smi's)
    let status = m.ok(&[]);
    let mig_row = |s: &str| {
        s.lines()
            .rfind(|l| l.starts_with("|                                         |"))
            .map(|l| l.trim_end_matches(" |").trim_end().to_string())
    };
    assert!(
        status.contains("|   0  NVIDIA A100-SXM4-40GB          "),
        "{status}"
    );
    assert!(status.contains("00000000:07:00.0"), "{status}");
    assert!(mig_row(&status).unwrap().ends_with("Disabled"), "{status}");
    assert!(!status.contains("MIG devices:"), "{status}");
    m.ok(&["-i", "0", "-mig", "1"]);
    let status = m.ok(&[]);
    assert!(mig_row(&status).unwrap().ends_with("Enabled"), "{status}");
    assert!(status.contains("No MIG devices found"), "{status}");

    // several listings in one call: exit 0 and print the one nvidia-smi 580
    // prints (the lent H200: -lgip over -lgipp over the GI/CI listings)
    let (lgip, lgipp) = (m.ok(&["mig", "-lgip"]), m.ok(&["mig", "-lgipp"]));
    assert_eq!(m.ok(&["mig", "-lgipp", "-lgip"]), lgip);
    assert_eq!(m.ok(&["mig", "-lgi", "-lgipp"]), lgipp);
    refused(&m, &["mig", "-lgip", "-cgi", "9"], 2, "only listings");

    // sim run: a missing GPU is named, exit 6; the pid comes first, explained
    refused(&m, &["sim", "run", "--gpu", "5"], 6, "GPU 5");
    m.ok(&["mig", "-cgi", "9", "-C"]);
    let line = m.ok(&["sim", "run", "--gpu", "0", "--gi", "2", "--ci", "0"]);
    assert!(line.starts_with(first_number(&line)), "{line}");
    assert!(line.contains("pid of simulated process"), "{line}");
    // usage lines name the command as typed
    let o = m.run(&["sim", "run"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Usage: migctl sim run"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // sim init refuses a file that is not a state file, unless --force
    let other = Machine::new();
    std::fs::write(other.state(), "my notes, not JSON\n").unwrap();
    refused(&other, &["sim", "init", "a30-24gb"], 1, "--force");
    assert!(
        !other.dir.path().join("state.json.lock").exists(),
        "a lock file was left beside the refused file"
    );
    other.ok(&["sim", "init", "--force", "a30-24gb"]);
    assert!(other.state_text().contains("migctl-sim-state"));

    // a state path that cannot be created: which path, and why
    let blocker = other.dir.path().join("a-file");
    std::fs::write(&blocker, "").unwrap();
    let o = other
        .cmd(&["sim", "init", "a30-24gb"])
        .env("MIGCTL_SIM_STATE", blocker.join("state.json"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&blocker.join("state.json").display().to_string())
            && err.contains("cannot create its directory")
            && err.contains("MIGCTL_SIM_STATE"),
        "{err}"
    );
}

/// Proves reading needs no write access: on a `--root-only` machine that
/// root made (state and lock file root's, mode 0644), a user who is not
/// root lists it (`-L`, the status view, `mig -lgip`, `-lgi`, `-lci`,
/// `-lcip`), through the simulator and through the NVML backend over
/// the fake library, and every change gets nvidia-smi's "Insufficient
/// Permissions" (exit 4) and changes nothing. Needs root, to act as two
/// users (the test drops to `nobody` with setpriv).
#[test]
fn root_made_machine_reads_for_anyone_and_refuses_their_changes() {
    use std::os::unix::fs::PermissionsExt;
    let name = "root_made_machine_reads_for_anyone_and_refuses_their_changes";
    if !mig_sim::is_root() {
        testkit::skip(
            name,
            testkit::Needs::Environment,
            "needs root to act as two users",
        );
        return;
    }
    let m = Machine::new();
    let dir = m.dir.path();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    m.ok(&["sim", "init", "--root-only", "a100-sxm4-40gb"]);
    m.ok(&["-i", "0", "-mig", "1"]);
    m.ok(&["mig", "-cgi", "9", "-C"]);
    for f in ["state.json", "state.json.lock"] {
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    // `nobody` may not traverse the checkout: copies of the binary and the
    // fake library in the machine's directory
    let copy = dir.join("migctl");
    std::fs::copy(env!("CARGO_BIN_EXE_migctl"), &copy).unwrap();
    let lib = dir.join("libnvidia-ml.so.1");
    std::fs::copy(m.ok(&["sim", "nvml-lib"]).trim(), &lib).unwrap();
    for p in [&copy, &lib] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let nobody = |nvml: bool, args: &[&str]| -> std::process::Output {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&copy)
            .args(args)
            .env("MIGCTL_SIM_STATE", m.state())
            .env("HOME", dir)
            .env_remove("MIGCTL_SIM_FAULT")
            .current_dir(dir);
        if nvml {
            c.env("MIGCTL_BACKEND", "nvml").env("MIGCTL_NVML_LIB", &lib);
        } else {
            c.env("MIGCTL_BACKEND", "sim");
        }
        common::output_retrying_busy(&mut c)
    };
    let probe = nobody(false, &["--version"]);
    if !probe.status.success() {
        // e.g. a temporary directory mounted noexec
        testkit::skip(
            name,
            testkit::Needs::Environment,
            &format!(
                "cannot run migctl as nobody from {}: {}",
                copy.display(),
                String::from_utf8_lossy(&probe.stderr)
            ),
        );
        return;
    }
    let before = m.state_text();
    for nvml in [false, true] {
        for args in [
            &["-L"][..],
            &[],
            &["mig", "-lgip"],
            &["mig", "-lgi"],
            &["mig", "-lci"],
            &["mig", "-lcip"],
        ] {
            let o = nobody(nvml, args);
            assert!(
                o.status.success(),
                "nvml={nvml} {args:?} as nobody: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            let mine = m.cmd(args).output().expect("run").stdout;
            // the default view opens with the time of day, which may tick
            // between the two runs: compare what follows it
            let view = |b: &[u8]| {
                let t = String::from_utf8_lossy(b).into_owned();
                match t.split_once('\n') {
                    Some((_, rest)) if args.is_empty() => rest.to_string(),
                    _ => t,
                }
            };
            assert_eq!(
                view(&o.stdout),
                view(&mine),
                "nvml={nvml} {args:?}: nobody sees another machine than root"
            );
        }
        for args in [
            &["mig", "-cgi", "19"][..],
            &["mig", "-dci"],
            &["mig", "-dgi"],
            &["-i", "0", "-mig", "0"],
        ] {
            let o = nobody(nvml, args);
            let out = String::from_utf8_lossy(&o.stdout);
            assert_eq!(o.status.code(), Some(4), "nvml={nvml} {args:?}: {out}");
            assert!(out.contains("Insufficient Permissions"), "{args:?}: {out}");
        }
    }
    assert_eq!(m.state_text(), before);
    assert!(!dir.join("state.json.tmp").exists());
}
