//! The cluster verbs through the binary: Kubernetes labels and resources
//! (goldens, and NVIDIA's own GFD output in ../shared/reference/peers), CDI
//! specs (the CDI schema, nvidia-ctk's output, the driver's minor table),
//! nvidia-caps nodes, environment strings and MPS.

mod common;

use common::{assert_same, Machine};
use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::{shared, skip, Needs};

/// Build a simulated machine by running `migctl ARGS` per line (a leading
/// `migctl ` is dropped, as in the peers' commands.txt).
fn machine(script: &str) -> Machine {
    let m = Machine::new();
    for line in script
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let line = line.strip_prefix("migctl ").unwrap_or(line);
        m.ok(&line.split_whitespace().collect::<Vec<_>>());
    }
    m
}

/// The layouts of the goldens: uniform, mixed profiles, MIG disabled on one
/// GPU, an empty MIG GPU, CIs smaller than their GI, two board models.
const CASES: &[(&str, &str)] = &[
    ("uniform", "sim init h100-sxm5-80gb\n-i 0 -mig 1\nmig -cgi 19,19,19,19,19,19,19 -i 0 -C"),
    ("mixed-profiles", "sim init a100-sxm4-40gb\n-i 0 -mig 1\nmig -cgi 9,14,19,19 -i 0 -C"),
    ("mig-disabled-one", "sim init a100-sxm4-40gbx2\n-i 0 -mig 1\nmig -cgi 9,9 -i 0 -C"),
    ("empty-mig-gpu", "sim init h100-sxm5-80gbx2\n-i 0 -mig 1\n-i 1 -mig 1\nmig -cgi 9,9 -i 0 -C"),
    ("small-cis", "sim init a100-sxm4-40gb\n-i 0 -mig 1\nmig -cgi 9:0 -i 0\nmig -cci 0,0,0 -gi 1 -i 0"),
    (
        "two-models",
        "sim init a100-sxm4-40gb h100-sxm5-80gb\n-i 0 -mig 1\n-i 1 -mig 1\nmig -cgi 19,19,19,19,19,19,19 -i 0 -C\nmig -cgi 19,19,19,19,19,19,19 -i 1 -C",
    ),
];

const STRATEGIES: &[&str] = &["none", "single", "mixed"];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/k8s")
}

/// Lines of a golden file that are provenance (`## `), not output.
fn strip_provenance(s: &str) -> String {
    s.lines()
        .filter(|l| !l.starts_with("## "))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Proves `export k8s` for the three strategies on six layouts equals the
/// reviewed goldens (labels, extended resources and notes; each file says
/// how it was checked). UPDATE_GOLDEN=1 rewrites them.
#[test]
fn k8s_goldens() {
    for (case, script) in CASES {
        let m = machine(script);
        for s in STRATEGIES {
            let got = m.ok(&["export", "k8s", "--strategy", s]);
            let path = golden_dir().join(format!("{case}-{s}.txt"));
            if std::env::var_os("UPDATE_GOLDEN").is_some() {
                let old = std::fs::read_to_string(&path).unwrap_or_default();
                let prov: String = old
                    .lines()
                    .filter(|l| l.starts_with("## "))
                    .map(|l| format!("{l}\n"))
                    .collect();
                let prov = if prov.is_empty() {
                    format!("## golden: migctl export k8s --strategy {s} on a simulated machine made by\n## {}\n## (tests/cluster.rs CASES); labels checked by hand against GFD v0.20.0 internal/lm\n", script.replace('\n', "; "))
                } else {
                    prov
                };
                std::fs::create_dir_all(golden_dir()).unwrap();
                std::fs::write(&path, format!("{prov}{got}")).unwrap();
                continue;
            }
            let want = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
            assert_same(
                &got,
                &strip_provenance(&want),
                &format!("{case} --strategy {s}"),
            );
        }
    }
}

/// Proves that on the peers' two simulated machines, built exactly as their
/// commands.txt says, migctl's labels equal what NVIDIA's gpu-feature-discovery
/// wrote, line for line, for all three strategies.
#[test]
fn k8s_labels_equal_gfd() {
    let Some(sh) = shared("k8s_labels_equal_gfd") else {
        return;
    };
    for dir in ["a", "c"] {
        let peers = sh.join("reference/peers").join(dir);
        let m = machine(&std::fs::read_to_string(peers.join("commands.txt")).unwrap());
        for s in STRATEGIES {
            let got: String = m
                .ok(&["export", "k8s", "--strategy", s])
                .lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| format!("{l}\n"))
                .collect();
            let want = std::fs::read_to_string(peers.join(format!("gfd-{s}.labels"))).unwrap();
            assert_same(&got, &want, &format!("peers/{dir} gfd-{s}.labels"));
        }
    }
}

fn python_has(modules: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The nv-caps.c table written out by enumeration (config, monitor, then per
/// GPU minor 0..31, per GI 0..14: the GI, then its CIs 0..7), independently
/// of `mig_model::ids`' closed form; or the simulated host's own
/// `/proc/driver/nvidia-caps/mig-minors` where `migctl sim root` exists.
fn mig_minors_table(m: &Machine) -> std::collections::HashMap<String, u32> {
    let root = m.dir.path().join("host");
    let text = match m.run(&["sim", "root", root.to_str().unwrap()]) {
        o if o.status.success() => {
            std::fs::read_to_string(root.join("proc/driver/nvidia-caps/mig-minors")).ok()
        }
        _ => None,
    };
    let text = text.unwrap_or_else(|| {
        let mut t = String::from("config 1\nmonitor 2\n");
        let mut n = 3;
        for g in 0..32 {
            for gi in 0..15 {
                t.push_str(&format!("gpu{g}/gi{gi}/access {n}\n"));
                n += 1;
                for ci in 0..8 {
                    t.push_str(&format!("gpu{g}/gi{gi}/ci{ci}/access {n}\n"));
                    n += 1;
                }
            }
        }
        t
    });
    text.lines()
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        })
        .collect()
}

/// Proves CDI specs for every golden layout and the peers' two validate
/// against the CDI schema (python jsonschema), use only the fields the Go
/// loader knows, read the same as YAML and JSON, name each MIG device twice
/// (index and UUID, same nodes), give each its parent and both cap nodes with
/// the minors of the driver's mig-minors table, and have no device with
/// empty edits (nvidia-ctk's "invalid device, empty device edits").
#[test]
fn cdi_specs_validate() {
    let Some(sh) = shared("cdi_specs_validate") else {
        return;
    };
    if !python_has("jsonschema, yaml") {
        return skip(
            "cdi_specs_validate",
            Needs::Jsonschema,
            "python3 lacks jsonschema or yaml (pip install jsonschema pyyaml)",
        );
    }
    let schema = sh.join("compat/cdi-schema");
    let mut scripts: Vec<(String, String)> = CASES
        .iter()
        .map(|(c, s)| (c.to_string(), s.to_string()))
        .collect();
    for dir in ["a", "c"] {
        scripts.push((
            format!("peers-{dir}"),
            std::fs::read_to_string(sh.join("reference/peers").join(dir).join("commands.txt"))
                .unwrap(),
        ));
    }
    for (case, script) in scripts {
        let m = machine(&script);
        let json_path = m.dir.path().join("spec.json");
        let yaml_path = m.dir.path().join("spec.yaml");
        m.ok(&[
            "export",
            "cdi",
            "-o",
            "json",
            "--output-file",
            json_path.to_str().unwrap(),
        ]);
        m.ok(&[
            "export",
            "cdi",
            "--output-file",
            yaml_path.to_str().unwrap(),
        ]);
        let check = Command::new("python3")
            .arg("-c")
            .arg(PY_CHECK)
            .arg(&schema)
            .arg(&json_path)
            .arg(&yaml_path)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{case}: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        // Each MIG device twice, with the table's minors.
        let table = mig_minors_table(&m);
        let spec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
        let devices = spec["devices"].as_array().unwrap();
        let env: serde_json::Value =
            serde_json::from_str(&m.ok(&["env", "--output", "json"])).unwrap();
        for d in env
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| !d["mig"].is_null())
        {
            let nodes = |name: &str| {
                devices
                    .iter()
                    .find(|x| x["name"] == name)
                    .unwrap_or_else(|| panic!("{case}: no device {name}"))["containerEdits"]
                    ["deviceNodes"]
                    .clone()
            };
            let index_name = d["nvidia_visible_devices"].as_str().unwrap();
            let by_index = nodes(index_name);
            assert_eq!(
                by_index,
                nodes(d["uuid"].as_str().unwrap()),
                "{case}: {index_name}"
            );
            let gpu = d["gpu"].as_u64().unwrap();
            let (gi, ci) = (d["gi"].as_u64().unwrap(), d["ci"].as_u64().unwrap());
            let minors: Vec<u64> = by_index
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["minor"].as_u64().unwrap())
                .collect();
            // Single-GPU-minor machines here: minor = index.
            assert_eq!(
                minors,
                [
                    gpu,
                    u64::from(table[&format!("gpu{gpu}/gi{gi}/access")]),
                    u64::from(table[&format!("gpu{gpu}/gi{gi}/ci{ci}/access")])
                ],
                "{case}: {index_name}"
            );
        }
    }
}

/// Schema, Go-loader field names, YAML = JSON, no empty edits.
const PY_CHECK: &str = r#"
import json, sys, yaml, jsonschema, pathlib
from jsonschema import validators
schema_dir = pathlib.Path(sys.argv[1]).resolve()
schema = json.load(open(schema_dir / "schema.json"))
defs = json.load(open(schema_dir / "defs.json"))
try:
    from referencing import Registry, Resource
    reg = Registry().with_resource("defs.json", Resource.from_contents(defs, default_specification=__import__("referencing").jsonschema.DRAFT7))
    v = validators.Draft7Validator(schema, registry=reg)
except ImportError:
    v = validators.Draft7Validator(schema, resolver=jsonschema.RefResolver(schema_dir.as_uri() + "/", schema, store={"defs.json": defs}))
spec = json.load(open(sys.argv[2]))
errors = list(v.iter_errors(spec))
assert not errors, [e.message for e in errors]
assert yaml.safe_load(open(sys.argv[3])) == spec, "YAML and JSON differ"
NODE = {"path", "hostPath", "type", "major", "minor", "fileMode", "permissions", "uid", "gid"}
def edits(e):
    assert set(e) <= {"env", "deviceNodes", "hooks", "mounts", "intelRdt", "additionalGids", "netDevices"}, set(e)
    for n in e.get("deviceNodes", []):
        assert set(n) <= NODE, set(n)
        assert n["type"] == "c" and n["path"].startswith("/dev/nvidia"), n
assert set(spec) == {"cdiVersion", "kind", "devices", "containerEdits"}
edits(spec["containerEdits"])
names = [d["name"] for d in spec["devices"]]
assert len(names) == len(set(names)), names
for d in spec["devices"]:
    assert set(d) == {"name", "containerEdits"}
    assert d["containerEdits"].get("deviceNodes"), "empty device edits: " + d["name"]
    edits(d["containerEdits"])
assert names[-1] == "management"
"#;

/// Proves that on the peers' machines the spec's devices (names and nodes:
/// path, major, minor, fileMode, permissions) and top-level control nodes
/// equal what nvidia-ctk wrote (the dynamic nvidia-uvm major aside); migctl
/// adds only `type: c`, explicit zero minors and the `management` device
/// (docs/cluster.md says why).
#[test]
fn cdi_devices_equal_nvidia_ctk() {
    let Some(sh) = shared("cdi_devices_equal_nvidia_ctk") else {
        return;
    };
    if !python_has("yaml") {
        return skip(
            "cdi_devices_equal_nvidia_ctk",
            Needs::Jsonschema,
            "python3 lacks yaml (pip install pyyaml)",
        );
    }
    for dir in ["a", "c"] {
        let peers = sh.join("reference/peers").join(dir);
        let m = machine(&std::fs::read_to_string(peers.join("commands.txt")).unwrap());
        let ours = m.dir.path().join("ours.json");
        m.ok(&[
            "export",
            "cdi",
            "--output",
            "json",
            "--output-file",
            ours.to_str().unwrap(),
        ]);
        let o = Command::new("python3")
            .arg("-c")
            .arg(PY_COMPARE)
            .arg(peers.join("cdi.yaml"))
            .arg(&ours)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "peers/{dir}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

const PY_COMPARE: &str = r#"
import json, sys, yaml
peer = yaml.safe_load(open(sys.argv[1]))
ours = json.load(open(sys.argv[2]))
def norm(nodes):
    return [(n["path"], n.get("major", 0), n.get("minor", 0), n.get("fileMode"), n.get("permissions")) for n in nodes]
def devs(spec):
    return [(d["name"], norm(d["containerEdits"]["deviceNodes"])) for d in spec["devices"]]
assert (peer["cdiVersion"], peer["kind"]) == (ours["cdiVersion"], ours["kind"])
o = devs(ours)
assert o[-1][0] == "management"
assert devs(peer) == o[:-1], "devices differ"
# nvidia-uvm's major is dynamic: the peers' tree had 238, the simulated host
# (mig_sim::host::UVM_MAJOR) has its own; compare it apart.
def ctl(nodes):
    return [(p, 0 if p.startswith("/dev/nvidia-uvm") else ma, mi, m, pe) for (p, ma, mi, m, pe) in norm(nodes)]
assert ctl(peer["containerEdits"]["deviceNodes"]) == ctl(ours["containerEdits"]["deviceNodes"]), "control nodes differ"
assert "NVIDIA_VISIBLE_DEVICES=void" in ours["containerEdits"]["env"]
"#;

/// Proves `caps` lists config, monitor and each GI/CI capability with the
/// model's minors, that `--create --root` makes them as character nodes with
/// those numbers and modes, that a second look finds them all ok, and that a
/// node with a wrong minor is reported (exit 1) and left alone.
#[test]
fn caps_create_and_check() {
    let m =
        machine("sim init h100-sxm5-80gb\n-i 0 -mig 1\nmig -cgi 9:0 -i 0\nmig -cci 0,0 -gi 1 -i 0");
    let v: serde_json::Value = serde_json::from_str(&m.ok(&["caps", "--output", "json"])).unwrap();
    let files: Vec<(&str, u64)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["proc_file"].as_str().unwrap(),
                c["minor"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            ("/proc/driver/nvidia/capabilities/mig/config", 1),
            ("/proc/driver/nvidia/capabilities/mig/monitor", 2),
            ("/proc/driver/nvidia/capabilities/gpu0/mig/gi1/access", 12),
            (
                "/proc/driver/nvidia/capabilities/gpu0/mig/gi1/ci0/access",
                13
            ),
            (
                "/proc/driver/nvidia/capabilities/gpu0/mig/gi1/ci1/access",
                14
            ),
        ]
    );
    let o = m.run(&["caps", "--create"]);
    if !mig_sim::is_root() {
        assert_eq!(o.status.code(), Some(4), "non-root --create");
        return skip(
            "caps_create_and_check",
            Needs::Environment,
            "node creation needs root",
        );
    }
    assert_eq!(
        o.status.code(),
        Some(2),
        "--create on the simulator without --root"
    );
    let root = m.dir.path().join("root");
    let r = root.to_str().unwrap();
    let out = m.ok(&["caps", "--create", "--root", r]);
    assert_eq!(out.matches("(created)").count(), 5, "{out}");
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let md = std::fs::metadata(root.join("dev/nvidia-caps/nvidia-cap13")).unwrap();
    assert!(md.file_type().is_char_device());
    assert_eq!(
        (md.rdev() >> 8 & 0xfff, md.rdev() & 0xff, md.mode() & 0o777),
        (241, 13, 0o444)
    );
    let md1 = std::fs::metadata(root.join("dev/nvidia-caps/nvidia-cap1")).unwrap();
    assert_eq!(md1.mode() & 0o777, 0o400);
    let again: serde_json::Value =
        serde_json::from_str(&m.ok(&["caps", "--root", r, "--output", "json"])).unwrap();
    assert!(
        again
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["state"]["status"] == "ok"),
        "{again}"
    );
    // A node with another minor grants another capability: reported, kept.
    let bad = root.join("dev/nvidia-caps/nvidia-cap14");
    std::fs::remove_file(&bad).unwrap();
    assert!(Command::new("mknod")
        .arg(&bad)
        .args(["c", "241", "99"])
        .status()
        .unwrap()
        .success());
    let o = m.run(&["caps", "--create", "--root", r]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("wrong numbers 241:99"), "{text}");
    assert_eq!(std::fs::metadata(&bad).unwrap().rdev() & 0xff, 99);
}

/// Proves the nodes `migctl sim root` writes for the simulated host are the
/// ones `caps` expects: every one `ok` (as root, where they are character
/// devices), with the host tree's own majors and minors.
#[test]
fn caps_agree_with_sim_root() {
    if !mig_sim::is_root() {
        return skip(
            "caps_agree_with_sim_root",
            Needs::Environment,
            "sim root makes character nodes only as root",
        );
    }
    let m = machine("sim init a100-sxm4-40gbx2\n-i 0 -mig 1\n-i 1 -mig 1\nmig -cgi 9,14,19,19 -i 0 -C\nmig -cgi 9:4 -i 1\nmig -cci 0,1 -gi 2 -i 1");
    let root = m.dir.path().join("host");
    m.ok(&["sim", "root", root.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(&m.ok(&[
        "caps",
        "--root",
        root.to_str().unwrap(),
        "--output",
        "json",
    ]))
    .unwrap();
    let v = v.as_array().unwrap();
    assert_eq!(v.len(), 2 + 8 + 3, "{v:?}");
    assert!(v.iter().all(|c| c["state"]["status"] == "ok"), "{v:?}");
}

/// Proves `env` gives each MIG device its UUID for CUDA_VISIBLE_DEVICES and
/// the index form for the container runtime, Docker and CDI, in `-L` order.
#[test]
fn env_strings() {
    let m = machine("sim init a100-sxm4-40gb\n-i 0 -mig 1\nmig -cgi 9,14 -i 0 -C");
    let list = m.ok(&["-L"]);
    let uuids: Vec<&str> = list
        .lines()
        .filter_map(|l| l.split("UUID: ").nth(1))
        .map(|u| u.trim_end_matches(')'))
        .skip(1)
        .collect();
    let v: serde_json::Value = serde_json::from_str(&m.ok(&["env", "--output", "json"])).unwrap();
    let got: Vec<(String, String, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["cuda_visible_devices"].as_str().unwrap().to_string(),
                d["docker_gpus"].as_str().unwrap().to_string(),
                d["cdi"][0].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                uuids[0].to_string(),
                "'\"device=0:0\"'".to_string(),
                "nvidia.com/gpu=0:0".to_string()
            ),
            (
                uuids[1].to_string(),
                "'\"device=0:1\"'".to_string(),
                "nvidia.com/gpu=0:1".to_string()
            ),
        ]
    );
    assert!(m
        .ok(&["env"])
        .contains(&format!("  CUDA_VISIBLE_DEVICES={}\n", uuids[1])));
}

/// Proves `mps --start` runs one `nvidia-cuda-mps-control -d` per MIG device
/// with its own pipe and log directories and CUDA_VISIBLE_DEVICES = its MIG
/// UUID, `--stop` sends each `quit`, and without the program on PATH both
/// say so and exit non-zero.
#[test]
fn mps_start_stop() {
    let m = machine("sim init h100-sxm5-80gb\n-i 0 -mig 1\nmig -cgi 9,9 -i 0 -C");
    let bin = m.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = m.dir.path().join("calls.log");
    let fake = bin.join("nvidia-cuda-mps-control");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\n# stands in for the driver's MPS control program: records each call\nin=$(if [ \"$1\" = -d ]; then echo -; else cat; fi)\necho \"$1|$CUDA_VISIBLE_DEVICES|$CUDA_MPS_PIPE_DIRECTORY|$CUDA_MPS_LOG_DIRECTORY|$in\" >> {}\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = m.dir.path().join("mps");
    let r = root.to_str().unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let run = |args: &[&str], path: &str| {
        let mut c = m.cmd(args);
        c.env("PATH", path);
        c.output().unwrap()
    };
    let env: serde_json::Value = serde_json::from_str(&m.ok(&["env", "--output", "json"])).unwrap();
    let uuids: Vec<&str> = env
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["uuid"].as_str().unwrap())
        .collect();
    assert!(run(&["mps", "--root", r, "--start"], &path)
        .status
        .success());
    assert!(run(&["mps", "--root", r, "--stop"], &path).status.success());
    let calls = std::fs::read_to_string(&log).unwrap();
    let want: String = ["-d", ""]
        .iter()
        .flat_map(|arg| {
            uuids.iter().map(move |u| {
                let input = if *arg == "-d" { "-" } else { "quit" };
                format!("{arg}|{u}|{r}/{u}/pipe|{r}/{u}/log|{input}\n")
            })
        })
        .collect();
    assert_eq!(calls, want);
    assert!(root.join(uuids[0]).join("log").is_dir());
    let script = run(&["mps", "--root", r], &path);
    assert!(String::from_utf8_lossy(&script.stdout)
        .contains(&format!("CUDA_VISIBLE_DEVICES={} ", uuids[1])));
    let absent = run(&["mps", "--start"], "/nonexistent");
    assert_eq!(absent.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&absent.stderr).contains("nvidia-cuda-mps-control is not on PATH")
    );
}

/// Proves mig-cluster agrees with the simulated host `migctl sim root`
/// writes (mig_sim::host): cap modes, capability-file text, every line of
/// its mig-minors table, and the nvidia-uvm major of the CDI spec.
#[test]
fn one_simulated_host() {
    assert_eq!(mig_cluster::caps::CONFIG_MODE, mig_sim::host::MODE_CONFIG);
    assert_eq!(mig_cluster::caps::ACCESS_MODE, mig_sim::host::MODE_RUGO);
    // The capability files and the minor table the simulated host writes
    // read back as the model says.
    assert_eq!(
        mig_cluster::caps::parse_cap_file(&mig_sim::host::capability_text(12, 0o444)),
        Some((12, 0o444))
    );
    let table = mig_cluster::Minors::parse_table(&mig_sim::host::mig_minors_text()).unwrap();
    let model = mig_cluster::Minors::Model;
    assert_eq!(table.config(), model.config());
    assert_eq!(table.monitor(), model.monitor());
    for g in 0..32 {
        for gi in 0..15 {
            let gi = mig_model::GpuInstanceId(gi);
            assert_eq!(table.gi(g, gi), model.gi(g, gi));
            for ci in 0..8 {
                let ci = mig_model::ComputeInstanceId(ci);
                assert_eq!(table.ci(g, gi, ci), model.ci(g, gi, ci));
            }
        }
    }
    let m = machine("sim init h100-sxm5-80gb");
    let spec: serde_json::Value =
        serde_json::from_str(&m.ok(&["export", "cdi", "--format", "json"])).unwrap();
    let uvm = spec["containerEdits"]["deviceNodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["path"] == "/dev/nvidia-uvm")
        .unwrap()["major"]
        .as_u64()
        .unwrap();
    assert_eq!(uvm, u64::from(mig_sim::host::UVM_MAJOR));
}

/// Proves `apply --cdi-spec --slurm-gres --mig-config-state`: on GPUs that
/// hold the config it reports `success` and rewrites both files from the
/// node (seven 1g.10gb named twice, seven gres records); an unknown config is
/// `failed`, exit 2, and writes nothing.
#[test]
fn apply_refreshes_exports() {
    let m = machine("sim init h100-sxm5-80gb\n-i 0 -mig 1\nmig -cgi 19,19,19,19,19,19,19 -i 0 -C");
    let cfg = m.dir.path().join("cfg.yaml");
    std::fs::write(
        &cfg,
        "version: v1\nmig-configs:\n  all-1g.10gb:\n    - devices: all\n      mig-enabled: true\n      mig-devices:\n        \"1g.10gb\": 7\n",
    )
    .unwrap();
    let (cdi, gres) = (
        m.dir.path().join("cdi.yaml"),
        m.dir.path().join("gres.conf"),
    );
    let args = |name: &'static str| {
        vec![
            "apply".to_string(),
            "-f".into(),
            cfg.display().to_string(),
            "-c".into(),
            name.into(),
            "--cdi-spec".into(),
            cdi.display().to_string(),
            "--slurm-gres".into(),
            gres.display().to_string(),
            "--mig-config-state".into(),
        ]
    };
    let bad = m
        .cmd(&args("nope").iter().map(String::as_str).collect::<Vec<_>>())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nvidia.com/mig.config.state=failed"));
    assert!(!cdi.exists() && !gres.exists());
    let ok = m
        .cmd(
            &args("all-1g.10gb")
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stderr).contains("nvidia.com/mig.config.state=success"));
    let spec = std::fs::read_to_string(&cdi).unwrap();
    assert_eq!(spec.matches("\n- name: MIG-").count(), 7);
    assert_eq!(spec.matches("\n- name: \"0:").count(), 7);
    let conf = std::fs::read_to_string(&gres).unwrap();
    assert_eq!(
        conf.lines()
            .filter(|l| l.starts_with("Name=gpu Type=nvidia_h100_80gb_hbm3_1g.10gb "))
            .count(),
        7
    );
}

/// Proves the export verbs take bad input with exit 2 and write nothing.
#[test]
fn bad_input() {
    let m = machine("sim init a100-sxm4-40gb");
    let out = m.dir.path().join("x.yaml");
    let o = m.run(&[
        "export",
        "cdi",
        "--output",
        "toml",
        "--output-file",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists());
    assert_eq!(
        m.run(&["export", "k8s", "--strategy", "uniform"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(m.run(&["export", "k8s"]).status.code(), Some(2));
    let o = m.run(&["export", "slurm", "-h"]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("gres.conf"));
}

/// Proves `export k8s --strategy none` on a simulated H100 80GB HBM3 prints
/// the labels the real gpu-feature-discovery v0.20.0 wrote on a real H100 80GB
/// HBM3 with driver 580.159.04 (catalog/measured/h100-580.159.04/
/// gfd-v0.20.0-labels.txt, recorded 2026-12-08; its time stamp aside): the
/// simulator's driver and CUDA versions, product, memory, family and compute
/// capability are the real board's, cuda.runtime* included.
#[test]
fn k8s_labels_equal_real_gfd_on_a_real_h100() {
    let m = Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb"]);
    let sorted = |s: &str| {
        let mut v: Vec<&str> = s
            .lines()
            .filter(|l| !l.starts_with('#') && !l.contains("gfd.timestamp") && !l.is_empty())
            .collect();
        v.sort_unstable();
        v.join("\n")
    };
    let gfd = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../catalog/measured/h100-580.159.04/gfd-v0.20.0-labels.txt"),
    )
    .expect("recorded GFD labels");
    assert_eq!(gfd.lines().count(), 26, "25 labels and GFD's time stamp");
    let got = m.ok(&["export", "k8s", "--strategy", "none"]);
    assert_same(&sorted(&got), &sorted(&gfd), "export k8s vs the real GFD");
}
