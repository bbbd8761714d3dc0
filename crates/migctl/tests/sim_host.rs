//! The simulated machine as a whole host: `migctl sim root` keeps a host
//! tree current through changes made by any process, `migctl sim exec`
//! shows it at the host's own paths to a program of ours that checks every
//! view (sysfs, /proc, /dev, NVML, nvidia-smi) against `migctl -L`, and
//! `migctl sim run -- CMD` / `--pid` hold devices with real processes.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

fn listing(root: &Path, sub: &str) -> BTreeSet<String> {
    fs::read_dir(root.join(sub))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Proves the tree follows every change of the machine, whoever makes it:
/// `migctl mig` creating and destroying instances, a reset of the mode,
/// and `sim init` replacing the machine (one GPU more); and that a deleted
/// tree is forgotten, not recreated.
#[test]
fn tree_stays_current_after_create_and_destroy() {
    let m = common::Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb"]);
    let root = m.dir.path().join("host");
    let out = m.ok(&["sim", "root", root.to_str().expect("utf-8")]);
    assert!(out.contains("/dev nodes are"), "{out}");
    let mig = "proc/driver/nvidia/capabilities/gpu0/mig";
    assert!(listing(&root, mig).is_empty());
    m.ok(&["-i", "0", "-mig", "1"]);
    m.ok(&["mig", "-cgi", "9,19", "-C"]);
    assert_eq!(
        listing(&root, mig),
        BTreeSet::from(["gi2".to_string(), "gi7".to_string()])
    );
    assert_eq!(
        listing(&root, "dev/nvidia-caps"),
        [
            "nvidia-cap1",
            "nvidia-cap2",
            "nvidia-cap21",
            "nvidia-cap22",
            "nvidia-cap66",
            "nvidia-cap67"
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    );
    assert_eq!(
        fs::read_to_string(root.join(mig).join("gi7/ci0/access"))
            .ok()
            .as_deref(),
        Some("DeviceFileMinor: 67\nDeviceFileMode: 292\nDeviceFileModify: 1\n")
    );
    m.ok(&["mig", "-dci", "-gi", "7"]);
    assert!(!root.join(mig).join("gi7/ci0").exists());
    assert!(root.join(mig).join("gi7/access").exists());
    m.ok(&["mig", "-dci"]);
    m.ok(&["mig", "-dgi"]);
    assert!(listing(&root, mig).is_empty());
    assert_eq!(
        listing(&root, "dev/nvidia-caps"),
        BTreeSet::from(["nvidia-cap1".to_string(), "nvidia-cap2".to_string()])
    );
    m.ok(&["sim", "init", "h100-sxm5-80gbx2"]);
    assert_eq!(listing(&root, "sys/bus/pci/devices").len(), 2);
    assert!(root.join("dev/nvidia1").exists());
    assert!(root
        .join("proc/driver/nvidia/capabilities/gpu1/mig")
        .is_dir());
    let listed = m.ok(&["sim", "root", "--list", "--output", "json"]);
    assert!(listed.contains(&root.canonicalize().expect("root").display().to_string()));
    fs::remove_dir_all(&root).expect("rm tree");
    m.ok(&["-i", "1", "-mig", "1"]);
    assert!(!root.exists(), "a deleted tree was recreated");
    assert_eq!(m.ok(&["sim", "root", "--list"]), "");
}

/// Proves readers never see half an instance: while one process creates
/// and destroys GIs with CIs in a loop, another keeps reading the tree and
/// never finds a GI directory without its `access` file, a CI directory
/// without its own, or an access file without its `/dev/nvidia-caps` node.
#[test]
fn readers_never_see_half_an_instance() {
    let m = common::Machine::new();
    m.ok(&["sim", "init", "a100-sxm4-40gb"]);
    let root = m.dir.path().join("host");
    m.ok(&["sim", "root", root.to_str().expect("utf-8")]);
    m.ok(&["-i", "0", "-mig", "1"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (root, stop) = (root.clone(), stop.clone());
        std::thread::spawn(move || {
            let mig = root.join("proc/driver/nvidia/capabilities/gpu0/mig");
            let mut seen = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for gi in fs::read_dir(&mig).into_iter().flatten().flatten() {
                    let name = gi.file_name().to_string_lossy().into_owned();
                    if name.starts_with('.') {
                        continue;
                    }
                    let Ok(text) = fs::read_to_string(gi.path().join("access")) else {
                        // the whole directory may have gone since the listing
                        assert!(!gi.path().exists(), "{name} without access");
                        continue;
                    };
                    seen += 1;
                    let minor = text
                        .lines()
                        .next()
                        .and_then(|l| l.strip_prefix("DeviceFileMinor: "))
                        .unwrap_or_else(|| panic!("{name}/access reads {text:?}"));
                    let node = root.join(format!("dev/nvidia-caps/nvidia-cap{minor}"));
                    assert!(
                        node.exists() || !gi.path().exists(),
                        "{name}: access names minor {minor}, no node"
                    );
                }
            }
            seen
        })
    };
    for _ in 0..8 {
        m.ok(&["mig", "-cgi", "14,14,19", "-C"]);
        m.ok(&["mig", "-dci"]);
        m.ok(&["mig", "-dgi"]);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = reader.join().expect("reader panicked");
    assert!(seen > 0, "the reader never saw an instance");
}

/// What our program prints from inside `sim exec`, one JSON object.
const VIEW_CHECK: &str = r#"
import json, os, stat, subprocess, sys
out = {}
def caps():
    found = []
    base = "/proc/driver/nvidia/capabilities"
    for g in sorted(os.listdir(base)):
        if not g.startswith("gpu"):
            continue
        mig = os.path.join(base, g, "mig")
        for gi in sorted(os.listdir(mig)):
            ga = open(os.path.join(mig, gi, "access")).read()
            for ci in sorted(x for x in os.listdir(os.path.join(mig, gi)) if x.startswith("ci")):
                ca = open(os.path.join(mig, gi, ci, "access")).read()
                found.append([int(g[3:]), int(gi[2:]), int(ci[2:]),
                              int(ga.split()[1]), int(ca.split()[1])])
    return found
devs = []
for d in sorted(os.listdir("/sys/bus/pci/devices")):
    p = "/sys/bus/pci/devices/" + d
    r = lambda f: open(p + "/" + f).read().strip()
    devs.append([d, r("vendor"), r("device"), r("class"),
                 os.path.basename(os.path.realpath(p + "/driver"))])
out["sysfs"] = devs
info = {}
for d in sorted(os.listdir("/proc/driver/nvidia/gpus")):
    kv = dict(l.split(":", 1) for l in open("/proc/driver/nvidia/gpus/%s/information" % d).read().splitlines())
    info[d] = {k.strip(): v.strip() for k, v in kv.items()}
out["information"] = info
minors = dict(l.rsplit(" ", 1) for l in open("/proc/driver/nvidia-caps/mig-minors").read().splitlines())
majors = {l.split()[1]: int(l.split()[0]) for l in open("/proc/devices").read().split("Block")[0].splitlines()[1:] if l.strip()}
out["majors"] = [majors.get("nvidia"), majors.get("nvidia-caps")]
out["modules"] = any(l.startswith("nvidia ") for l in open("/proc/modules")) if os.path.exists("/proc/modules") else None
nodes = []
for g, gi, ci, gm, cm in caps():
    assert int(minors["gpu%d/gi%d/access" % (g, gi)]) == gm
    assert int(minors["gpu%d/gi%d/ci%d/access" % (g, gi, ci)]) == cm
    for m in (gm, cm):
        path = "/dev/nvidia-caps/nvidia-cap%d" % m
        st = os.stat(path)
        if stat.S_ISCHR(st.st_mode):
            assert os.major(st.st_rdev) == majors["nvidia-caps"] and os.minor(st.st_rdev) == m, path
            try:
                os.close(os.open(path, os.O_RDONLY))
                opened = "opened"
            except OSError as e:
                opened = "chardev:" + e.strerror
        else:
            os.close(os.open(path, os.O_RDONLY))
            assert open(path).read().startswith("migctl placeholder: character device %d:%d " % (majors["nvidia-caps"], m)), path
            opened = "placeholder"
        nodes.append([path, opened])
out["caps"] = caps()
out["nodes"] = nodes
out["dev"] = sorted(x for x in os.listdir("/dev") if x.startswith("nvidia"))
try:
    import pynvml as n
except ImportError:
    out["nvml"] = None
else:
    n.nvmlInit()
    gpus = []
    for i in range(n.nvmlDeviceGetCount()):
        h = n.nvmlDeviceGetHandleByIndex(i)
        mig = []
        cur, _ = n.nvmlDeviceGetMigMode(h)
        for j in range(n.nvmlDeviceGetMaxMigDeviceCount(h) if cur else 0):
            try:
                d = n.nvmlDeviceGetMigDeviceHandleByIndex(h, j)
            except n.NVMLError:
                continue
            mig.append([n.nvmlDeviceGetGpuInstanceId(d), n.nvmlDeviceGetComputeInstanceId(d), n.nvmlDeviceGetUUID(d)])
        bus = n.nvmlDeviceGetPciInfo(h).busId
        gpus.append({"uuid": n.nvmlDeviceGetUUID(h), "minor": n.nvmlDeviceGetMinorNumber(h),
                     "bus": bus.decode() if isinstance(bus, bytes) else bus, "mig": mig})
    out["nvml"] = gpus
# a change made inside, through nvidia-smi on PATH, shows in the tree at once
smi = subprocess.run(["nvidia-smi", "mig", "-cgi", "19", "-C", "-i", "1"], capture_output=True, text=True)
out["smi"] = [os.path.basename(os.path.realpath(subprocess.run(["sh", "-c", "command -v nvidia-smi"], capture_output=True, text=True).stdout.strip())), smi.returncode]
out["caps_after"] = caps()
out["lib"] = os.environ.get("LD_LIBRARY_PATH", "").split(":")[0]
print(json.dumps(out))
"#;

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("bad JSON ({e}): {text}"))
}

/// Proves `sim exec` shows the simulated host to an unmodified program:
/// our checker lists /sys/bus/pci/devices, reads the information files,
/// capabilities, mig-minors, /proc/devices and /proc/modules, stats and
/// opens /dev/nvidia-caps nodes, calls NVML through pynvml and runs
/// `nvidia-smi` from PATH; every view agrees with `migctl -L` and with
/// each other, and the change it made through nvidia-smi lands in the tree.
#[test]
fn sim_exec_shows_the_simulated_host() {
    let m = common::Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb", "a100-sxm4-40gb"]);
    m.ok(&["-i", "0", "-mig", "1"]);
    m.ok(&["-i", "1", "-mig", "1"]);
    m.ok(&["mig", "-cgi", "9,14", "-C", "-i", "0"]);
    let listed = m.ok(&["-L"]);
    let root = m.dir.path().join("host");
    let o = m
        .cmd(&[
            "sim",
            "exec",
            "--root",
            root.to_str().expect("utf-8"),
            "--",
            "python3",
            "-c",
            VIEW_CHECK,
        ])
        .output()
        .expect("run migctl sim exec");
    let stderr = String::from_utf8_lossy(&o.stderr);
    if !o.status.success() && stderr.contains("cannot create a private") {
        testkit::skip(
            "sim_exec_shows_the_simulated_host",
            testkit::Needs::Environment,
            &format!("namespaces are not permitted here: {stderr}"),
        );
        return;
    }
    if !o.status.success() && stderr.contains("cannot run \"python3\"") {
        testkit::skip(
            "sim_exec_shows_the_simulated_host",
            testkit::Needs::Pynvml,
            "python3 is not installed",
        );
        return;
    }
    assert!(o.status.success(), "sim exec failed: {stderr}");
    let v = json(&String::from_utf8_lossy(&o.stdout));

    // migctl -L: GPU UUIDs in order, MIG UUIDs per GPU
    let mut gpu_uuids = Vec::new();
    let mut mig_uuids: Vec<Vec<String>> = Vec::new();
    for l in listed.lines() {
        let uuid = l
            .split("UUID: ")
            .nth(1)
            .map(|u| u.trim_end_matches(')').to_string());
        match (l.starts_with("GPU "), uuid) {
            (true, Some(u)) => {
                gpu_uuids.push(u);
                mig_uuids.push(Vec::new());
            }
            (false, Some(u)) => mig_uuids.last_mut().expect("GPU line first").push(u),
            _ => {}
        }
    }
    assert_eq!(gpu_uuids.len(), 2, "{listed}");

    // sysfs: both GPUs, NVIDIA, bound to nvidia, class as the board has it
    let sysfs = v["sysfs"].as_array().expect("sysfs");
    assert_eq!(sysfs.len(), 2, "{v}");
    let got: Vec<(String, String, String, String)> = sysfs
        .iter()
        .map(|d| {
            let s = |i: usize| d[i].as_str().unwrap_or_default().to_string();
            (s(1), s(2), s(3), s(4))
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "0x10de".into(),
                "0x2330".into(),
                "0x030200".into(),
                "nvidia".into()
            ),
            (
                "0x10de".into(),
                "0x20b0".into(),
                "0x030200".into(),
                "nvidia".into()
            )
        ]
    );
    // information files: the UUIDs of -L by device minor, at the sysfs addresses
    let info = v["information"].as_object().expect("information");
    for (i, d) in sysfs.iter().enumerate() {
        let bus = d[0].as_str().expect("bus");
        let f = &info[bus];
        assert_eq!(f["GPU UUID"].as_str(), Some(gpu_uuids[i].as_str()), "{bus}");
        assert_eq!(f["Device Minor"].as_str(), Some(i.to_string().as_str()));
        assert_eq!(f["Bus Location"].as_str(), Some(bus));
    }
    assert_eq!(v["majors"], serde_json::json!([195, 241]));
    if v["modules"].is_null() {
        println!("note: this kernel has no /proc/modules, so the view cannot show one");
    } else {
        assert_eq!(v["modules"], serde_json::json!(true));
    }
    // capabilities: one (GI, CI) per MIG device of -L, on GPU 0 only
    let caps = v["caps"].as_array().expect("caps");
    assert_eq!(
        caps.len(),
        mig_uuids[0].len() + mig_uuids[1].len(),
        "{v}\n{listed}"
    );
    assert!(caps.iter().all(|c| c[0] == 0));
    let nodes = v["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 2 * caps.len());
    for n in nodes {
        let how = n[1].as_str().unwrap_or_default();
        assert!(
            how == "placeholder" || how.starts_with("chardev:") || how == "opened",
            "{n}"
        );
    }
    let dev: Vec<&str> = v["dev"]
        .as_array()
        .expect("dev")
        .iter()
        .filter_map(|x| x.as_str())
        .collect();
    assert_eq!(
        dev,
        [
            "nvidia-caps",
            "nvidia-modeset",
            "nvidia-uvm",
            "nvidia-uvm-tools",
            "nvidia0",
            "nvidia1",
            "nvidiactl"
        ]
    );
    // NVML through the fake library: the same GPUs and MIG devices
    assert!(
        v["lib"].as_str().unwrap_or_default().ends_with("nvml-shim"),
        "{v}"
    );
    match v["nvml"].as_array() {
        None if std::env::var_os("MIGCTL_REQUIRE_PYNVML").is_some() => {
            panic!("pynvml is required (MIGCTL_REQUIRE_PYNVML=1) but not installed")
        }
        None => testkit::skip(
            "the NVML part of sim_exec_shows_the_simulated_host",
            testkit::Needs::Pynvml,
            "pynvml is not installed",
        ),
        Some(gpus) => {
            for (i, g) in gpus.iter().enumerate() {
                assert_eq!(g["uuid"].as_str(), Some(gpu_uuids[i].as_str()));
                assert_eq!(g["minor"].as_u64(), Some(i as u64));
                let bus = g["bus"].as_str().unwrap_or_default().to_lowercase();
                assert!(bus.ends_with(sysfs[i][0].as_str().expect("bus")), "{bus}");
                let uuids: Vec<&str> = g["mig"]
                    .as_array()
                    .expect("mig")
                    .iter()
                    .filter_map(|d| d[2].as_str())
                    .collect();
                assert_eq!(uuids, mig_uuids[i]);
                let pairs: BTreeSet<(u64, u64)> = g["mig"]
                    .as_array()
                    .expect("mig")
                    .iter()
                    .map(|d| (d[0].as_u64().unwrap_or(99), d[1].as_u64().unwrap_or(99)))
                    .collect();
                let from_caps: BTreeSet<(u64, u64)> = caps
                    .iter()
                    .filter(|c| c[0].as_u64() == Some(i as u64))
                    .map(|c| (c[1].as_u64().unwrap_or(98), c[2].as_u64().unwrap_or(98)))
                    .collect();
                assert_eq!(pairs, from_caps, "GPU {i}");
            }
        }
    }
    // nvidia-smi on PATH is migctl; its change shows inside and outside
    assert_eq!(v["smi"], serde_json::json!(["migctl", 0]), "{v}");
    let after = v["caps_after"].as_array().expect("caps_after");
    assert!(
        after.iter().any(|c| c[0] == 1 && c[1] == 13 && c[2] == 0),
        "{v}"
    );
    assert!(root
        .join("proc/driver/nvidia/capabilities/gpu1/mig/gi13/ci0/access")
        .exists());
    assert!(m.ok(&["mig", "-lgi", "-i", "1"]).contains("MIG 1g.5gb"));
}

/// Proves a real process started by `sim run -- CMD` holds its MIG device
/// (listed with its pid and name; destroying the CI is refused) until it
/// exits, and that `--pid` registers a running process the same way, freed
/// when it is killed even though no migctl waits for it.
#[test]
fn real_processes_hold_devices_while_they_live() {
    let m = common::Machine::new();
    m.ok(&["sim", "init", "a100-sxm4-40gb"]);
    m.ok(&["-i", "0", "-mig", "1"]);
    m.ok(&["mig", "-cgi", "9", "-C"]);
    let gi = "2";
    // sim run -- sleep: the child holds GI 2 / CI 0
    let mut run = m
        .cmd(&[
            "sim", "run", "--gpu", "0", "--gi", gi, "--ci", "0", "--", "sleep", "30",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("sim run");
    let pid = {
        use std::io::BufRead;
        let mut err = std::io::BufReader::new(run.stderr.take().expect("stderr"));
        let mut text = String::new();
        err.read_line(&mut text).expect("read");
        text.split_whitespace()
            .nth(4)
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or_else(|| panic!("no pid in {text:?}"))
    };
    let status = m.ok(&[]);
    assert!(
        status.contains(&pid.to_string()) && status.contains("sleep"),
        "{status}"
    );
    let busy = m.run(&["mig", "-dci", "-gi", gi]);
    assert_ne!(busy.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&busy.stdout).contains("In use by another client"));
    let killed = Command::new("kill")
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(killed.success());
    let code = run.wait().expect("wait sim run");
    assert_eq!(code.code(), Some(128 + 15));
    assert!(!m.ok(&[]).contains(&pid.to_string()));

    // --pid: register a process nobody from migctl waits for
    let mut child = Command::new("sleep").arg("30").spawn().expect("sleep");
    let register = |pid: &str| {
        m.run(&[
            "sim", "run", "--gpu", "0", "--gi", gi, "--ci", "0", "--pid", pid,
        ])
    };
    let out = register(&child.id().to_string());
    assert!(out.status.success());
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.trim(), child.id().to_string());
    assert!(m.ok(&[]).contains("sleep"));
    assert_ne!(m.run(&["mig", "-dci", "-gi", gi]).status.code(), Some(0));
    child.kill().expect("kill");
    child.wait().expect("reap");
    m.ok(&["mig", "-dci", "-gi", gi]);
    let gone = register("999999999");
    assert_ne!(gone.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no running process"));
}

/// Proves the Python example of docs/testing-without-a-gpu.md runs as the
/// guide shows: through `sim exec` it lists every GPU and MIG device of
/// `migctl -L` with the same UUIDs, and the capability nodes of each.
#[test]
fn guide_python_example_runs() {
    let m = common::Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb", "a100-sxm4-40gb"]);
    m.ok(&["-i", "0", "-mig", "1"]);
    m.ok(&["mig", "-cgi", "9,19,19", "-C", "-i", "0"]);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/pynvml_mig.py");
    let o = m
        .cmd(&[
            "sim",
            "exec",
            "--",
            "python3",
            example.to_str().expect("utf-8"),
        ])
        .output()
        .expect("sim exec");
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    if !o.status.success() && err.contains("cannot create a private") {
        testkit::skip(
            "guide_python_example_runs",
            testkit::Needs::Environment,
            &format!("namespaces are not permitted here: {err}"),
        );
        return;
    }
    if !o.status.success()
        && err.contains("No module named")
        && std::env::var_os("MIGCTL_REQUIRE_PYNVML").is_none()
    {
        testkit::skip(
            "guide_python_example_runs",
            testkit::Needs::Pynvml,
            "pynvml is not installed",
        );
        return;
    }
    assert!(o.status.success(), "{err}");
    let uuids = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.split("UUID: ").nth(1))
            .map(|u| u.split(')').next().unwrap_or_default().to_string())
            .collect()
    };
    let listed = m.ok(&["-L"]);
    assert_eq!(uuids(&out), uuids(&listed), "{out}\n{listed}");
    assert_eq!(uuids(&out).len(), 5);
    for (gi, minor) in [(2, 21), (7, 66), (8, 75)] {
        let want = format!(
            "MIG GI {gi} CI 0 (UUID: {}) /dev/nvidia-caps/nvidia-cap{minor} [",
            uuids(&listed)[[2, 7, 8].iter().position(|g| *g == gi).unwrap_or(0) + 1]
        );
        assert!(out.contains(&want), "{want}\n{out}");
        assert!(out.contains(&format!("nvidia-cap{} [", minor + 1)), "{out}");
    }
    assert!(!out.contains("missing"), "{out}");
}

/// Proves `sim exec` works for a user who is not root, through a user
/// namespace that keeps the user's own UID: the view shows the simulated
/// PCI devices, /dev nodes as placeholder files (no mknod there), the
/// capability files and nvidia-smi, and a change made inside lands in the
/// machine. Run as root, the test drops to `nobody` with setpriv.
#[test]
fn sim_exec_for_an_unprivileged_user() {
    use std::os::unix::fs::PermissionsExt;
    let m = common::Machine::new();
    let dir = m.dir.path();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o777)).expect("chmod");
    let as_root = mig_sim::is_root();
    // run a copy beside its library: `nobody` may not traverse the checkout
    let lib = m.ok(&["sim", "nvml-lib"]);
    let shim = fs::canonicalize(lib.trim()).expect("shim");
    let bin = dir.join("bin");
    fs::create_dir(&bin).expect("mkdir");
    fs::copy(env!("CARGO_BIN_EXE_migctl"), bin.join("migctl")).expect("copy migctl");
    fs::copy(&shim, bin.join("libnvml_shim.so")).expect("copy shim");
    // bin/ writable: migctl makes its nvml-shim/libnvidia-ml.so.1 link there
    for (p, mode) in [
        (bin.clone(), 0o777),
        (bin.join("migctl"), 0o755),
        (bin.join("libnvml_shim.so"), 0o755),
    ] {
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let run = |args: &[&str]| -> std::process::Output {
        let mut c = if as_root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
            c.arg(bin.join("migctl"));
            c
        } else {
            Command::new(bin.join("migctl"))
        };
        c.args(args)
            .env("MIGCTL_SIM_STATE", m.state())
            .env("MIGCTL_BACKEND", "sim")
            .env("HOME", dir)
            .current_dir(dir);
        common::output_retrying_busy(&mut c)
    };
    let probe = run(&["sim", "init", "a100-sxm4-40gb"]);
    if !probe.status.success() {
        testkit::skip(
            "sim_exec_for_an_unprivileged_user",
            testkit::Needs::Environment,
            &format!(
                "cannot run migctl unprivileged from {}: {}",
                bin.display(),
                String::from_utf8_lossy(&probe.stderr)
            ),
        );
        return;
    }
    let script = "id -u; ls /sys/bus/pci/devices; head -c 40 /dev/nvidia-caps/nvidia-cap1; echo; \
                  nvidia-smi -i 0 -mig 1 >/dev/null && nvidia-smi mig -cgi 19 -C >/dev/null; \
                  cat /proc/driver/nvidia/capabilities/gpu0/mig/gi13/access; \
                  head -c 29 /dev/nvidia-caps/nvidia-cap121; echo";
    let o = run(&["sim", "exec", "--", "sh", "-c", script]);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    if !o.status.success() && err.contains("cannot create a private") {
        testkit::skip(
            "sim_exec_for_an_unprivileged_user",
            testkit::Needs::Environment,
            &format!("user namespaces are not permitted here: {err}"),
        );
        return;
    }
    assert!(o.status.success(), "{out}\n{err}");
    let uid = if as_root {
        "65534".to_string()
    } else {
        String::from_utf8_lossy(&Command::new("id").arg("-u").output().expect("id").stdout)
            .trim()
            .to_string()
    };
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], uid, "{out}");
    assert_eq!(lines[1], "0000:07:00.0", "{out}");
    assert_eq!(
        lines[2], "migctl placeholder: character device 241",
        "{out}"
    );
    assert_eq!(
        lines[3..6],
        [
            "DeviceFileMinor: 120",
            "DeviceFileMode: 292",
            "DeviceFileModify: 1"
        ],
        "{out}"
    );
    assert_eq!(lines[6], "migctl placeholder: character", "{out}");
    // the change made inside is the machine's
    assert!(m.ok(&["mig", "-lgi"]).contains("MIG 1g.5gb"));
}

/// Proves `sim run -- CMD` with a program that does not exist fails with
/// the reason, exit 1, and leaves the device free; and that a device that
/// does not exist is refused before anything runs.
#[test]
fn sim_run_of_a_missing_program_frees_the_device() {
    let m = common::Machine::new();
    m.ok(&["sim", "init", "a100-sxm4-40gb"]);
    m.ok(&["-i", "0", "-mig", "1"]);
    m.ok(&["mig", "-cgi", "9", "-C"]);
    let dir = m.dir.path().join("ran");
    let o = m.run(&[
        "sim",
        "run",
        "--gpu",
        "0",
        "--gi",
        "2",
        "--ci",
        "0",
        "--",
        "/nonexistent/prog",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot run \"/nonexistent/prog\": No such file"),
        "{err}"
    );
    assert!(!err.contains("holds GPU"), "{err}");
    assert!(m.ok(&[]).contains("No running processes found"));
    let touch = format!("touch {}", dir.display());
    let o = m.run(&[
        "sim", "run", "--gpu", "0", "--gi", "5", "--ci", "0", "--", "sh", "-c", &touch,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no MIG device with GPU instance 5"));
    assert!(
        !dir.exists(),
        "the program ran although it could not be registered"
    );
    m.ok(&["mig", "-dci"]);
}

/// Whether python3 can import `module`; if not, a visible skip (a failure
/// under `MIGCTL_REQUIRE_PYNVML=1`, where CI installs it with pip).
fn python_has(test: &str, module: &str) -> bool {
    let o = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output();
    let why = match o {
        Ok(o) if o.status.success() => return true,
        Ok(o) => format!(
            "python3 cannot import {module} ({}); `python3 -m pip install {module}` installs it",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("python3 is not runnable ({e})"),
    };
    testkit::skip(test, testkit::Needs::Pynvml, &why);
    false
}

/// Proves nvitop (PyPI, one-shot view) and gpustat (PyPI), unmodified, run
/// through `migctl sim exec` on a machine with MIG enabled on an H100 (three
/// MIG devices, one held by a real process from `sim run`) and disabled on
/// an A100: exit 0, no traceback, both GPUs with the readings `sim set`
/// gave them; nvitop lists every MIG device of the simulator with its index
/// and GI/CI IDs and puts the process on its MIG device; gpustat, which has
/// no MIG view of its own (upstream wookayin/gpustat#102: it shows GPUs
/// only, and `??` for the MIG GPU's utilization, which NVML does not report
/// with MIG enabled), lists that process, with its pid and name, on GPU 0.
#[test]
fn nvitop_and_gpustat_run_through_sim_exec() {
    const TEST: &str = "nvitop_and_gpustat_run_through_sim_exec";
    if !python_has(TEST, "nvitop") || !python_has(TEST, "gpustat") {
        return;
    }
    let m = common::Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb", "a100-sxm4-40gb"]);
    m.ok(&["-i", "0", "-mig", "1"]);
    m.ok(&["mig", "-cgi", "9,19,19", "-C", "-i", "0"]);
    m.ok(&["sim", "set", "--gpu", "0", "power=300"]);
    m.ok(&[
        "sim",
        "set",
        "--gpu",
        "1",
        "temperature=85",
        "utilization=42",
    ]);
    // a real process on GI 7 / CI 0 (the first 1g.10gb)
    let mut holder = m
        .cmd(&[
            "sim", "run", "--gpu", "0", "--gi", "7", "--ci", "0", "--", "sleep", "60",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("sim run");
    let pid = {
        use std::io::BufRead;
        let mut err = std::io::BufReader::new(holder.stderr.take().expect("stderr"));
        let mut text = String::new();
        err.read_line(&mut text).expect("read");
        text.split_whitespace()
            .nth(4)
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or_else(|| panic!("no pid in {text:?}"))
    };
    let exec = |tool: &[&str]| -> Option<String> {
        let mut args = vec!["sim", "exec", "--", "python3", "-m"];
        args.extend(tool);
        let o = m
            .cmd(&args)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .expect("sim exec");
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        );
        if !o.status.success() && err.contains("cannot create a private") {
            testkit::skip(
                TEST,
                testkit::Needs::Environment,
                &format!("namespaces are not permitted here: {err}"),
            );
            return None;
        }
        assert!(o.status.success(), "{tool:?} failed:\n{out}{err}");
        assert!(!err.contains("Traceback"), "{tool:?} traceback:\n{err}");
        Some(out)
    };
    let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(nvitop) = exec(&["nvitop", "-1"]) else {
        let _ = holder.kill();
        let _ = holder.wait();
        return;
    };
    let gpustat = exec(&["gpustat", "--no-color", "-cp"]).expect("namespaces worked once");
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let _ = holder.wait();

    for want in [
        "H100 80GB HBM3",
        "A100-SXM4-40GB",
        "300W / 700W",
        " 85C ",
        " 42% ",
        "Driver Version: 580.159.04",
    ] {
        assert!(nvitop.contains(want), "nvitop lacks {want:?}:\n{nvitop}");
    }
    let st = mig_sim::MachineState::parse(&m.state(), &m.state_text()).expect("state");
    let devices = mig_sim::mig_devices_of(&st, 0).expect("MIG devices");
    assert_eq!(devices.len(), 3);
    let flat = squeeze(&nvitop);
    for d in &devices {
        let want = format!(
            "0:{} {} @ GI/CI: {}/{}",
            d.index,
            d.name.trim_start_matches("MIG "),
            d.gi.0,
            d.ci.0
        );
        assert!(
            flat.contains(&want),
            "nvitop lacks MIG device {want:?}:\n{nvitop}"
        );
    }
    let held = devices.iter().find(|d| d.gi.0 == 7).expect("GI 7");
    let row = format!("0:{} {pid} C", held.index);
    assert!(
        nvitop
            .lines()
            .any(|l| squeeze(l).contains(&row) && l.contains("sleep")),
        "nvitop lacks the process row {row:?}:\n{nvitop}"
    );

    for want in [
        "[0] NVIDIA H100 80GB HBM3 |".to_string(),
        "[1] NVIDIA A100-SXM4-40GB | 85°C,  42 %".to_string(),
        "580.159.04".to_string(),
    ] {
        assert!(
            gpustat.contains(&want),
            "gpustat lacks {want:?}:\n{gpustat}"
        );
    }
    let gpu0 = gpustat
        .lines()
        .find(|l| l.starts_with("[0]"))
        .expect("GPU 0 line");
    assert!(
        gpu0.contains(&format!("sleep/{pid}(")),
        "gpustat lacks the MIG device's process:\n{gpustat}"
    );
}
