//! The shim under an unmodified NVML client: pynvml (PyPI `nvidia-ml-py`)
//! loads it as `libnvidia-ml.so.1` through `LD_LIBRARY_PATH`.
//!
//! - `pynvml_dump_matches_the_real_h100`: the read-only dump script that was
//!   run on a real H100 80GB HBM3 (`shared/tools/nvml_dump.py`) gives, on a
//!   simulated `h100-sxm5-80gb`, the same JSON as the real capture, except
//!   for the board's UUID, PCI address and serial.
//! - `pynvml_mig_lifecycle_matches_the_simulator`: `pynvml_mig.py` enables
//!   MIG, creates GIs/CIs with and without placements, lists MIG devices,
//!   sees a simulated process, destroys everything; every result equals what
//!   the simulator itself reports.
//!
//! - `monitoring_probe_matches_the_real_h200`: the read-only monitoring
//!   probe (`catalog/measured/probe_monitoring.py`) run on a lent H200 and
//!   on a simulated `h200-sxm5-141gb` gets the same class of answer (success
//!   or which error) from every getter, and the same value from the board
//!   constants the shim models from that capture.
//!
//! - `nvitop_and_gpustat_show_the_simulated_machine`: the monitoring tools
//!   nvitop and gpustat (PyPI) run unmodified on a machine with MIG enabled
//!   on one GPU and disabled on another, and print what the simulator holds.
//!
//! Without python3, pynvml, nvitop or gpustat the tests skip with a message, unless
//! `MIGCTL_REQUIRE_PYNVML=1` (CI sets it), where that is a failure.

use mig_model::backend::{GpuRef, LayoutControl};

/// The first GPU of a test machine.
const G0: GpuRef = GpuRef::Index(0);
use mig_sim::SimMachine;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The cdylib Cargo built with this test: integration tests run from
/// `target/<profile>/deps`, where the shim is built, and Cargo copies it up
/// to `target/<profile>`.
fn shim_library() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("test executable has a directory");
    let found = [Some(deps), deps.parent()]
        .into_iter()
        .flatten()
        .map(|d| d.join("libnvml_shim.so"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "libnvml_shim.so was not built next to {}; `cargo test -p nvml-shim` builds it",
                exe.display()
            )
        });
    found
}

/// A private machine and a directory holding only `libnvidia-ml.so.1`.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    /// `None` (after saying why) when the test must skip.
    fn new(models: &[&str]) -> Option<Setup> {
        if !pynvml_available() {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let lib = dir.path().join("lib");
        std::fs::create_dir(&lib).expect("lib dir");
        std::os::unix::fs::symlink(shim_library(), lib.join("libnvidia-ml.so.1"))
            .expect("symlink libnvidia-ml.so.1");
        let s = Setup { dir };
        let models: Vec<(String, bool)> = models.iter().map(|m| (m.to_string(), false)).collect();
        s.sim().init(&models).expect("sim init");
        Some(s)
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state.json")
    }

    fn sim(&self) -> SimMachine {
        SimMachine::open(self.state()).expect("open sim")
    }

    /// Run a Python script with the shim as the NVML library; its stdout.
    fn python(&self, args: &[&str]) -> String {
        let mut path = self.dir.path().join("lib").into_os_string();
        if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
            path.push(":");
            path.push(old);
        }
        let out = Command::new("python3")
            .args(args)
            .env("LD_LIBRARY_PATH", path)
            .env("MIGCTL_SIM_STATE", self.state())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("MIGCTL_SIM_FAULT")
            .output()
            .expect("run python3");
        assert!(
            out.status.success(),
            "python3 {args:?} failed ({:?}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("Traceback"),
            "python3 {args:?} printed a traceback:\n{stderr}"
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Run `pynvml_mig.py PHASE` and parse its JSON.
    fn phase(&self, phase: &str) -> Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pynvml_mig.py");
        let out = self.python(&[script.to_str().expect("utf-8 path"), phase]);
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{phase}: {e}: {out}"))
    }
}

/// Whether python3 can import pynvml; a missing one skips the test unless
/// `MIGCTL_REQUIRE_PYNVML=1`.
fn pynvml_available() -> bool {
    python_module_available("pynvml", "nvidia-ml-py")
}

/// Whether python3 can import `module` (PyPI `package`); a missing one skips
/// the test with a `SKIPPED:` line unless `MIGCTL_REQUIRE_PYNVML=1`, where it
/// is a failure (CI installs them all).
fn python_module_available(module: &str, package: &str) -> bool {
    let why = match Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
    {
        Ok(o) if o.status.success() => return true,
        Ok(o) => format!(
            "python3 cannot import {module} ({}); `python3 -m pip install {package}` installs it",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("python3 is not runnable ({e})"),
    };
    testkit::skip("nvml-shim pynvml tests", testkit::Needs::Pynvml, &why);
    false
}

/// `../shared` beside the repository, where the reference capture lives.
fn shared_dir() -> Option<PathBuf> {
    testkit::shared("nvml-shim pynvml dump vs the real H100 capture and nvml_dump.py")
}

/// A JSON file, parsed.
fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Drop the fields that identify one board: they differ on every GPU.
fn without_board_identity(mut dump: Value) -> Value {
    if let Some(gpus) = dump.get_mut("gpus").and_then(Value::as_array_mut) {
        for g in gpus {
            if let Some(g) = g.as_object_mut() {
                for k in ["uuid", "pci", "serial"] {
                    g.remove(k);
                }
            }
        }
    }
    dump
}

/// The first place two JSON values differ, for a readable failure.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.keys()
                .chain(y.keys())
                .find_map(|k| match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => first_difference(p, q, &format!("{at}.{k}")),
                    (p, q) => Some(format!("{at}.{k}: {p:?} vs {q:?}")),
                })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, &format!("{at}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{at}: {a} vs {b}")),
    }
}

/// Proves the shim answers the dump script exactly as the real H100 80GB
/// HBM3 (driver 580.159.04) did: name, memory, minor, MIG mode, max MIG
/// devices, "Not Supported" attributes, every GI profile index 0..19 (with
/// the version-0 struct, NOT_SUPPORTED and INVALID_ARGUMENT where the
/// driver gave them), placements and remaining capacity.
#[test]
fn pynvml_dump_matches_the_real_h100() {
    let Some(shared) = shared_dir() else { return };
    let want = shared.join("reference/h100-80gb-hbm3/h100_nvml.json");
    dump_matches("h100-sxm5-80gb", &shared, &want);
}

/// Proves the same for the H200 entry, against the dump taken read-only on a
/// lent NVIDIA H200 (driver 580.159.04) and kept in catalog/measured.
#[test]
fn pynvml_dump_matches_the_real_h200() {
    let Some(shared) = shared_dir() else { return };
    let want = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../catalog/measured/h200-580.159.04/nvml.json");
    dump_matches("h200-sxm5-141gb", &shared, &want);
}

/// Run `shared/tools/nvml_dump.py` through the shim on a simulated `model`
/// and compare it with the real board's dump `want`.
fn dump_matches(model: &str, shared: &Path, want: &Path) {
    let Some(s) = Setup::new(&[model]) else {
        return;
    };
    let out = s.dir.path().join("dump.json");
    let script = shared.join("tools/nvml_dump.py");
    s.python(&[
        script.to_str().expect("utf-8 path"),
        out.to_str().expect("utf-8 path"),
    ]);
    let got = without_board_identity(read_json(&out));
    let want = without_board_identity(read_json(want));
    if let Some(diff) = first_difference(&got, &want, "dump") {
        panic!("shim dump differs from the real {model} (shim vs real): {diff}");
    }
    assert_eq!(got, want);
}

/// The class of one probe answer: `OK`, the error string pynvml gave, or
/// the exception a pynvml wrapper raised.
fn answer_class(v: &Value) -> String {
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        e.to_string()
    } else if let Some(e) = v.get("exception").and_then(Value::as_str) {
        format!("exception {e}")
    } else {
        "OK".to_string()
    }
}

/// The one answer allowed to differ, with why: the real 580.159.04 library
/// lacks the `nvmlDeviceGetBBXTimeData_v1` symbol (pynvml: "Function Not
/// Found"), which the fake library must still export because nvml.h (API
/// 13) declares it; it answers NOT_SUPPORTED (modes.rs).
const ALLOWED: [(&str, &str, &str, &str); 1] = [(
    "handle_only",
    "nvmlDeviceGetBBXTimeData_v1",
    "Function Not Found",
    "Not Supported",
)];

/// Board constants the shim models from this very capture (each names
/// monitoring-probe.json as its source), whose values must be equal too:
/// `(section, name)`.
const CONSTANTS: &[(&str, &str)] = &[
    ("handle_only", "nvmlDeviceGetNumFans"),
    ("handle_only", "nvmlDeviceGetBusType"),
    ("handle_only", "nvmlDeviceGetPowerSource"),
    ("handle_only", "nvmlDeviceGetMemoryBusWidth"),
    ("handle_only", "nvmlDeviceGetBoardId"),
    ("handle_only", "nvmlDeviceGetBoardPartNumber"),
    ("handle_only", "nvmlDeviceGetVbiosVersion"),
    ("handle_only", "nvmlDeviceGetInforomImageVersion"),
    ("handle_only", "nvmlDeviceGetInforomConfigurationChecksum"),
    ("handle_only", "nvmlDeviceGetAdaptiveClockInfoStatus"),
    ("handle_only", "nvmlDeviceGetAddressingMode"),
    ("handle_only", "nvmlDeviceGetC2cModeInfoV"),
    ("handle_only", "nvmlDeviceGetC2cModeInfoV1"),
    ("handle_only", "nvmlDeviceGetDisplayMode"),
    ("handle_only", "nvmlDeviceGetAccountingPids"),
    ("handle_only", "nvmlDeviceGetSupportedMemoryClocks"),
    ("handle_only", "nvmlDeviceGetSupportedPerformanceStates"),
    ("handle_only", "nvmlDeviceGetSupportedClocksEventReasons"),
    ("handle_only", "nvmlDeviceGetSupportedClocksThrottleReasons"),
    ("handle_only", "nvmlDeviceGetPerformanceModes"),
    ("handle_only", "nvmlDeviceGetCurrentClockFreqs"),
    ("handle_only", "nvmlDeviceGetGpcClkVfOffset"),
    ("handle_only", "nvmlDeviceGetMemClkVfOffset"),
    ("handle_only", "nvmlDeviceGetRowRemapperHistogram"),
    ("handle_only", "nvmlDeviceGetRepairStatus"),
    ("handle_only", "nvmlDeviceGetUnrepairableMemoryFlag_v1"),
    (
        "handle_only",
        "nvmlDeviceGetConfComputeProtectedMemoryUsage",
    ),
    ("handle_only", "nvmlDeviceGetGridLicensableFeatures"),
    ("handle_only", "nvmlDeviceGetGridLicensableFeatures_v4"),
    ("handle_only", "nvmlDeviceGetPcieLinkMaxSpeed"),
    ("handle_only", "nvmlDeviceGetEncoderUtilization"),
    ("handle_only", "nvmlDeviceGetDecoderUtilization"),
    ("handle_only", "nvmlDeviceGetJpgUtilization"),
    ("handle_only", "nvmlDeviceGetOfaUtilization"),
    ("with_args", "nvmlDeviceGetTemperatureThreshold(0)"),
    ("with_args", "nvmlDeviceGetTemperatureThreshold(1)"),
    ("with_args", "nvmlDeviceGetTemperatureThreshold(2)"),
    ("with_args", "nvmlDeviceGetTemperatureThreshold(3)"),
    ("system", "nvmlSystemGetConfComputeCapabilities"),
    ("system", "nvmlSystemGetConfComputeGpusReadyState"),
    ("system", "nvmlSystemGetConfComputeKeyRotationThresholdInfo"),
    ("system", "nvmlSystemGetConfComputeState"),
    ("system", "nvmlSystemGetDriverBranch"),
    ("system", "nvmlSystemGetHicVersion"),
    ("system", "nvmlSystemGetNvlinkBwMode"),
];

/// One section of a probe result: `handle_only` and `with_args` of GPU 0, or `system`.
fn section<'a>(probe: &'a Value, name: &str) -> &'a serde_json::Map<String, Value> {
    let v = if name == "system" {
        &probe["system"]
    } else {
        &probe["gpus"][0][name]
    };
    v.as_object()
        .unwrap_or_else(|| panic!("probe has no {name} section"))
}

/// Proves the fake library answers the monitoring probe as the lent NVIDIA
/// H200 did (driver 580.159.04, MIG disabled,
/// `catalog/measured/h200-580.159.04/monitoring-probe.json`): on a simulated
/// `h200-sxm5-141gb` with MIG disabled, every getter the probe calls with
/// the handle only, with arguments, and system-wide gives the same class of
/// answer (success, or the same error), the probe calls the same getters,
/// and the board constants modelled from that capture (`CONSTANTS`) have
/// its values. Only `ALLOWED` may differ, in exactly the stated way.
#[test]
fn monitoring_probe_matches_the_real_h200() {
    let Some(s) = Setup::new(&["h200-sxm5-141gb"]) else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("catalog/measured/probe_monitoring.py");
    let out = s.dir.path().join("probe.json");
    s.python(&[
        script.to_str().expect("utf-8 path"),
        out.to_str().expect("utf-8 path"),
    ]);
    let got = read_json(&out);
    let real = read_json(&root.join("catalog/measured/h200-580.159.04/monitoring-probe.json"));

    let mut mismatches = Vec::new();
    for name in ["handle_only", "with_args", "system"] {
        let (r, g) = (section(&real, name), section(&got, name));
        for key in r.keys().chain(g.keys().filter(|k| !r.contains_key(*k))) {
            let (want, have) = match (r.get(key), g.get(key)) {
                (Some(w), Some(h)) => (answer_class(w), answer_class(h)),
                (w, h) => {
                    mismatches.push(format!(
                        "{name} {key}: called on the real board {}, by the simulated probe {}",
                        w.is_some(),
                        h.is_some()
                    ));
                    continue;
                }
            };
            let allowed = ALLOWED
                .iter()
                .any(|&(s, k, w, h)| (s, k, w, h) == (name, key.as_str(), &*want, &*have));
            if want != have && !allowed {
                mismatches.push(format!("{name} {key}: real {want:?}, simulated {have:?}"));
            }
        }
    }
    for &(sec, key, want, have) in &ALLOWED {
        let (w, h) = (&section(&real, sec)[key], &section(&got, sec)[key]);
        assert_eq!(
            (answer_class(w), answer_class(h)),
            (want.to_string(), have.to_string()),
            "the allowed difference of {key} changed: drop or update ALLOWED"
        );
    }
    for &(sec, key) in CONSTANTS {
        let (w, h) = (&section(&real, sec)[key], &section(&got, sec)[key]);
        if w != h {
            mismatches.push(format!("{sec} {key}: real value {w}, simulated {h}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} answers differ from the real H200's:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// Proves a pynvml client drives the whole MIG lifecycle through the shim
/// and sees exactly the simulator's machine: GI/CI IDs and placements (with
/// and without explicit placements), MIG device enumeration, names, UUIDs
/// (and lookups by them), attributes, errors (Insufficient Resources,
/// In use), processes on the MIG device and the parent, and teardown.
#[test]
fn pynvml_mig_lifecycle_matches_the_simulator() {
    let Some(s) = Setup::new(&["h100-sxm5-80gb"]) else {
        return;
    };

    let created = s.phase("create");
    assert_eq!(created["activation"], 0);
    assert_eq!(created["mig_mode"], serde_json::json!([1, 1]));
    assert_eq!(created["max_mig_devices"], 7);
    assert_eq!(created["second_3g_at_4"], "Insufficient Resources");
    assert_eq!(created["gi3_full"], "Insufficient Resources");
    assert_eq!(created["destroy_gi_with_cis"], "In use by another client");
    assert_eq!(
        created["ci_profile_names"],
        serde_json::json!(["MIG 1c.3g.40gb", "MIG 2c.3g.40gb"])
    );

    // The layout pynvml listed is the simulator's, GI by GI, CI by CI.
    let st = s.sim().state().expect("snapshot");
    let gpu = &st.gpus[0];
    let layout: Vec<Value> = gpu
        .layout
        .gpu_instances
        .iter()
        .map(|gi| {
            let cis: Vec<Value> = gi
                .compute_instances
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "id": c.id.0, "profile": c.profile_id.0,
                        "placement": [c.placement.start, c.placement.size],
                    })
                })
                .collect();
            serde_json::json!({
                "id": gi.id.0, "profile": gi.profile_id.0,
                "placement": [gi.placement.start, gi.placement.size],
                "compute_instances": cis,
            })
        })
        .collect();
    assert_eq!(created["gpu_instances"], Value::Array(layout));
    assert_eq!(
        s.sim()
            .gi_profiles(&G0, mig_model::backend::ProfileQuery::ALL)
            .expect("profiles")[0]
            .remaining,
        created["remaining_1g"].as_u64().expect("remaining") as u32
    );

    // MIG devices: same order, UUIDs, names, IDs and sizes as the simulator.
    let devices = mig_sim::mig_devices_of(&st, 0).expect("mig devices");
    let listed = created["mig_devices"].as_array().expect("mig_devices");
    assert_eq!(listed.len(), devices.len());
    assert_eq!(devices.len(), 5);
    for (got, want) in listed.iter().zip(&devices) {
        assert_eq!(got["index"], want.index);
        assert_eq!(got["uuid"], want.uuid.as_str());
        assert_eq!(got["name"], format!("{} {}", gpu.model().name, want.name));
        assert_eq!(
            (&got["gi"], &got["ci"]),
            (&want.gi.0.into(), &want.ci.0.into())
        );
        assert_eq!(
            (&got["sm"], &got["memory_mb"]),
            (&want.sm.into(), &want.memory_mb.into())
        );
        assert_eq!(got["memory_total"], want.memory_mb * 1024 * 1024);
        for flag in ["parent_is_gpu0", "by_uuid_same"] {
            assert_eq!(got[flag], true, "{flag} of {}", want.uuid);
        }
        assert_eq!(got["is_mig"], 1);
    }

    // A simulated process (as `migctl sim run` starts) on the 2c device.
    let target = devices
        .iter()
        .find(|d| d.name == "MIG 2c.3g.40gb")
        .expect("2c device");
    let pid = s
        .sim()
        .start_process(&G0, Some((target.gi.0, target.ci.0)), "trainer", 1024)
        .expect("start process");
    let busy = s.phase("busy");
    assert_eq!(
        busy["parent"],
        serde_json::json!([[pid, target.gi.0, target.ci.0, 1024u64 << 20]])
    );
    for d in busy["per_device"].as_array().expect("per_device") {
        let here = d["uuid"] == target.uuid.as_str();
        let pids = if here { vec![pid] } else { vec![] };
        assert_eq!(d["pids"], serde_json::json!(pids), "{}", d["uuid"]);
        let gi_of = devices
            .iter()
            .find(|x| d["uuid"] == x.uuid.as_str())
            .expect("known device")
            .gi;
        // the simulator's idle GI use, plus the process in the target's GI
        let idle = mig_sim::IDLE_MIG_DEVICE_MEMORY_USED_MB << 20;
        let used: u64 = if gi_of == target.gi {
            idle + (1024 << 20)
        } else {
            idle
        };
        assert_eq!(d["used"], used, "memory of {}", d["uuid"]);
    }
    assert_eq!(busy["destroy_busy_ci"], "In use by another client");
    s.sim().kill_process(pid).expect("kill");

    let gone = s.phase("destroy");
    assert_eq!(gone["left"], serde_json::json!([]));
    assert_eq!(gone["stale_gi"], "Not Found");
    assert_eq!(gone["activation"], 0);
    assert_eq!(gone["mig_mode"], serde_json::json!([0, 0]));
    assert_eq!(gone["max_mig_devices"], 0);
    let st = s.sim().state().expect("snapshot");
    assert!(!st.gpus[0].mig_current && st.gpus[0].layout.gpu_instances.is_empty());
}

/// Proves the read-only topology probe (`catalog/measured/probe_topology.py`,
/// a ctypes client that opens `libnvidia-ml.so.1` with dlopen, as it does on
/// a real board) runs on the fake library and reads the simulated host: on
/// two H100 SXM5 and one H100 PCIe board, 18 active NVLink ports of version
/// 6 on the SXM boards and a link past them refused, no NVLink on the PCIe
/// board, socket 0's CPUs (0-55, 112-167), the PCIe levels and P2P of the
/// socket split, no excluded device, and the nvml.h errors for null pointers.
#[test]
fn topology_probe_reads_the_simulated_host() {
    let Some(s) = Setup::new(&["h100-sxm5-80gb", "h100-sxm5-80gb", "h100-pcie-80gb"]) else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("catalog/measured/probe_topology.py");
    let out = s.dir.path().join("topology.json");
    s.python(&[
        script.to_str().expect("utf-8 path"),
        out.to_str().expect("utf-8 path"),
    ]);
    let got = read_json(&out);
    let (sxm, pcie) = (&got["gpus"][0], &got["gpus"][2]);
    let pair = |rc: u32, v: u64| serde_json::json!([rc, v]);
    for link in 0..18 {
        assert_eq!(
            sxm[format!("link{link}")]["State"],
            pair(0, 1),
            "link {link}"
        );
        assert_eq!(
            sxm[format!("link{link}")]["Version"],
            pair(0, 6),
            "link {link}"
        );
    }
    assert_eq!(
        sxm["link18"]["State"][0], 2,
        "a link past the 18th: INVALID_ARGUMENT"
    );
    assert_eq!(sxm["link0"]["ErrorCounter(4)"], pair(0, 0));
    assert_eq!(sxm["NvLinkState(0, null)"], 2);
    assert_eq!(pcie["link0"]["State"][0], 3, "no NVLink on a PCIe board");
    assert_eq!(sxm["FieldValues"]["fields"]["91"][2], 18);
    assert_eq!(sxm["CpuAffinity(4)"]["words"][0], "0xffffffffffffff");
    assert_eq!(sxm["CpuAffinity(4)"]["words"][1], "0xffff000000000000");
    assert_eq!(sxm["CpuAffinity(0)"]["rc"], 2);
    assert_eq!(pcie["MemoryAffinity(1,0)"]["words"][0], "0x2");
    assert_eq!(sxm["NumaNodeId"][0], 3, "as the lent H200");
    assert_eq!(sxm["TopologyCommonAncestor(gpu1)"], pair(0, 40));
    assert_eq!(sxm["TopologyCommonAncestor(gpu2)"], pair(0, 50));
    assert_eq!(
        sxm["P2PStatus(gpu1,2)"],
        pair(0, 0),
        "NVLink between the SXM boards"
    );
    assert_eq!(
        sxm["P2PStatus(gpu2,0)"],
        pair(0, 3),
        "PCIe reads across the sockets"
    );
    assert_eq!(sxm["TopologyNearestGpus(50)"]["count_null_array"], 2);
    assert_eq!(got["system"]["ExcludedDeviceCount"]["value"], 0);
    assert_eq!(got["system"]["ExcludedDeviceCount(null)"], 2);
}
