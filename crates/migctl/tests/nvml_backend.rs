//! The NVML backend, driven through the binary.
//!
//! Without a library: `MIGCTL_BACKEND` selection and its failures. Through
//! the fake `libnvidia-ml.so.1` (crates/nvml-shim, served from the simulated
//! machine): every golden transcript of `tests/golden/` must print the same
//! bytes with `MIGCTL_BACKEND=nvml` as with the simulator, so the NVML
//! backend and the simulator answer alike for the same machine.

mod common;

use std::path::Path;

const NO_LIB: &str = "/nonexistent/migctl-test/libnvidia-ml.so.1";

fn machine(backend: &str, lib: &str) -> common::Machine {
    let mut m = common::Machine::new();
    m.env = vec![
        ("MIGCTL_BACKEND".into(), backend.into()),
        ("MIGCTL_NVML_LIB".into(), lib.into()),
    ];
    m
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Proves `MIGCTL_BACKEND=nvml` without a loadable NVML fails with exit 1
/// and one clear line naming the library, printing nothing on stdout.
#[test]
fn nvml_without_library_fails_clearly() {
    let m = machine("nvml", NO_LIB);
    let o = m.run(&["mig", "-lgip"]);
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(&o));
    assert!(o.stdout.is_empty());
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.starts_with("migctl: MIGCTL_BACKEND=nvml: cannot load the NVML library"),
        "{e}"
    );
    assert!(e.contains(NO_LIB), "{e}");
}

/// Proves `auto` falls back to the simulated machine when NVML does not
/// load, with the one-line note on stderr and the simulator's output.
#[test]
fn auto_without_library_uses_the_simulator_with_one_note() {
    let m = machine("auto", NO_LIB);
    m.ok(&["sim", "init", "h100-sxm5-80gb"]);
    let o = m.run(&["mig", "-lgip"]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let e = stderr(&o);
    assert_eq!(
        e,
        format!(
            "migctl: no NVIDIA driver found; using the simulated machine at {} \
             (MIGCTL_BACKEND=sim hides this note)\n",
            m.state().display()
        )
    );
    let sim = machine("sim", NO_LIB);
    sim.ok(&["sim", "init", "h100-sxm5-80gb"]);
    let want = sim.ok(&["mig", "-lgip"]);
    common::assert_same(&String::from_utf8_lossy(&o.stdout), &want, "auto -lgip");
}

/// Proves `sim` is silent on stderr, and a library that is not NVML is
/// refused with a clear error (no panic on its missing entry points).
#[test]
fn sim_is_silent_and_a_non_nvml_library_is_refused() {
    let m = machine("sim", NO_LIB);
    m.ok(&["sim", "init", "a100-sxm4-40gb"]);
    let o = m.run(&["-L"]);
    assert!(o.status.success());
    assert_eq!(stderr(&o), "");

    let m = machine("nvml", "libc.so.6");
    let o = m.run(&["-L"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("is not a usable NVML library"), "{e}");
    assert!(e.contains("nvmlInit_v2"), "{e}");
}

/// The fake `libnvidia-ml.so.1`, as `migctl sim nvml-lib` names it.
fn shim_library() -> String {
    let m = common::Machine::new();
    let o = m.run(&["sim", "nvml-lib"]);
    assert!(
        o.status.success(),
        "`migctl sim nvml-lib` failed (is crates/nvml-shim built? `cargo build --workspace`): {}{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    let path = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(Path::new(&path).exists(), "{path} does not exist");
    path
}

/// Proves the NVML backend answers as the simulator: every golden
/// transcript of `tests/golden/` (today the MIG User Guide's walkthroughs)
/// replays byte for byte, exit codes included, with `MIGCTL_BACKEND=nvml`
/// over the fake `libnvidia-ml.so.1`. `migctl sim ...` lines still go to the
/// simulator directly, as they are not NVML calls.
#[test]
fn golden_transcripts_over_nvml() {
    let lib = shim_library();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("golden dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no transcripts in {}", dir.display());
    for name in names {
        let script = std::fs::read_to_string(dir.join(&name)).expect("golden script");
        let m = machine("nvml", &lib);
        common::replay(&m, &script, &format!("{name} (NVML backend over the shim)"));
    }
}

/// Proves a listing through NVML survives an instance destroyed by another
/// client between enumeration and query (the race `migctl bench soak`
/// found): with `MIGCTL_SIM_FAULT=vanish:1` the fake library destroys the
/// first GI `nvmlGpuInstanceGetInfo` asks about just before answering, and
/// `migctl mig -lgi` still exits 0, listing the GIs left and not the one
/// gone, as the simulator lists them afterwards.
#[test]
fn listing_survives_an_instance_destroyed_midway() {
    let lib = shim_library();
    let sim = machine("sim", &lib);
    sim.ok(&["sim", "init", "h100-sxm5-80gb"]);
    sim.ok(&["-i", "0", "-mig", "1"]);
    sim.ok(&["mig", "-cgi", "19,19,9", "-C"]);
    let nvml = machine("nvml", &lib);
    let o = nvml
        .cmd(&["mig", "-lgi"])
        .env("MIGCTL_SIM_STATE", sim.state())
        .env("MIGCTL_SIM_FAULT", "vanish:1")
        .output()
        .expect("run migctl");
    let listed = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{listed}{}", stderr(&o));
    let after = sim.ok(&["mig", "-lgi"]);
    assert_eq!(listed, after, "the listing shows the GIs left");
    let rows = |t: &str| t.lines().filter(|l| l.contains(" MIG ")).count();
    assert_eq!(rows(&after), 2, "one of three GIs vanished:\n{after}");
}

/// Two configs for two A100s: `a` puts two 3g.20gb on each; `b` changes
/// GPU 0 only.
const TWO_A100S: &str = r#"version: v1
mig-configs:
  off:
    - devices: all
      mig-enabled: false
  a:
    - devices: all
      mig-enabled: true
      mig-devices:
        "3g.20gb": 2
  b:
    - devices: [0]
      mig-enabled: true
      mig-devices:
        "3g.20gb": 1
        "1g.5gb": 4
    - devices: [1]
      mig-enabled: true
      mig-devices:
        "3g.20gb": 2
"#;

/// `migctl apply -c NAME` of `file` through NVML over the fake library,
/// logging its calls: per GPU, how many times its GIs of profile 3g.20gb
/// (ID 9) were listed, which every read of its layout does once; and how
/// many mutations it made.
fn apply_logged(m: &common::Machine, lib: &str, file: &Path, name: &str) -> ([usize; 2], usize) {
    let log = m.dir.path().join("nvml.log");
    let _ = std::fs::remove_file(&log);
    let nvml = machine("nvml", lib);
    let f = file.display().to_string();
    let o = nvml
        .cmd(&["apply", "-f", &f, "-c", name])
        .env("MIGCTL_SIM_STATE", m.state())
        .env("MIGCTL_JOURNAL", m.dir.path().join("journal.json"))
        .env("MIGCTL_NVML_LOG", &log)
        .output()
        .expect("run migctl");
    assert!(o.status.success(), "apply {name}: {}", stderr(&o));
    let text = std::fs::read_to_string(&log).expect("call log");
    let listed = |gpu: u32| {
        text.lines()
            .filter(|l| {
                l.starts_with(&format!(
                    "nvmlDeviceGetGpuInstances device=gpu{gpu} profile_id=9 "
                ))
            })
            .count()
    };
    let mutations = text
        .lines()
        .filter(|l| {
            ["SetMigMode", "Create", "Destroy"]
                .iter()
                .any(|k| l.split_whitespace().next().is_some_and(|n| n.contains(k)))
        })
        .count();
    ([listed(0), listed(1)], mutations)
}

/// Proves `migctl apply` reads each GPU once and reads a changed GPU back
/// once after its steps, across the mode and the config phase: through
/// NVML over the fake library, the call log shows each GPU's layout listed
/// once for the plan plus once per phase that changed it (MIG off -> `a`:
/// no layout while MIG is off, then one read-back after the mode phase and
/// one after the config phase), once for a GPU the config leaves alone, and
/// no mutation beyond the plan's steps (`a` -> `b` on GPU 0: destroy one
/// 3g.20gb CI and GI, create four 1g.5gb GIs and CIs). A re-read of the
/// machine per phase, as apply did before, makes these counts larger.
#[test]
fn apply_reads_each_gpu_once_over_nvml() {
    let lib = shim_library();
    let sim = machine("sim", &lib);
    sim.ok(&["sim", "init", "a100-sxm4-40gb", "a100-sxm4-40gb"]);
    let file = sim.dir.path().join("two.yaml");
    std::fs::write(&file, TWO_A100S).expect("write config");
    let (listed, mutations) = apply_logged(&sim, &lib, &file, "a");
    assert_eq!(listed, [2, 2], "MIG off -> a: read back after each phase");
    // per GPU: SetMigMode (in effect at once on an idle GPU, so the reset
    // step is skipped), 2 GIs, 2 CIs
    assert_eq!(mutations, 10);
    let (listed, mutations) = apply_logged(&sim, &lib, &file, "b");
    assert_eq!(listed, [2, 1], "a -> b changes GPU 0 only");
    assert_eq!(mutations, 10);
    let (listed, mutations) = apply_logged(&sim, &lib, &file, "b");
    assert_eq!(listed, [1, 1], "b -> b: one read, nothing changed");
    assert_eq!(mutations, 0);
}

/// Proves the NVML backend reads what the simulator answers for the values
/// the real nvidia-smi's recording checks (`tests/real_smi.rs`): on the
/// recorded H100 machines (MIG devices with BAR1, a process on a
/// MIG-disabled GPU), the default view, MIG devices' BAR1 included, and the
/// `--query-gpu` modes, InfoROM, encoder, power and GSP fields print the same
/// bytes with `MIGCTL_BACKEND=nvml` over the fake `libnvidia-ml.so.1` as
/// with the simulator.
#[test]
fn real_smi_machines_read_alike_over_nvml() {
    let lib = shim_library();
    let fields = "display_mode,display_active,addressing_mode,accounting.mode,\
        accounting.buffer_size,inforom.img,inforom.oem,inforom.ecc,inforom.pwr,\
        encoder.stats.sessionCount,ecc.mode.current,ecc.mode.pending,power.management,\
        power.draw,power.draw.average,power.draw.instant,gsp.mode.current";
    let query = format!("--query-gpu={fields}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/real-smi");
    for name in ["busy", "h100-cis"] {
        let (sim, nvml) = (machine("sim", &lib), machine("nvml", &lib));
        for m in [&sim, &nvml] {
            std::fs::copy(dir.join(format!("{name}.json")), m.state()).expect("copy the state");
        }
        for args in [&[][..], &[query.as_str(), "--format=csv"]] {
            let want = common::mask_date(&sim.ok(args));
            let got = common::mask_date(&nvml.ok(args));
            common::assert_same(&got, &want, &format!("{name}: migctl {args:?} over NVML"));
            assert!(
                args.is_empty() || !want.contains("[N/A], [N/A], [N/A], [N/A]"),
                "{name}: the fields were read: {want}"
            );
        }
        assert!(
            sim.ok(&[]).contains("|               0MiB / "),
            "{name}: a MIG device's BAR1 is shown"
        );
    }
}
