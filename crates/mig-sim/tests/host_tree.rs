//! The host tree of a simulated machine is what the NVIDIA driver would
//! write: capability files and nodes for exactly the instances that exist,
//! with the minors of the driver's table, the guide's examples, the sysfs
//! IDs of the real boards, and a tree that follows every change.

use mig_model::catalog;
use mig_model::{CiProfileId, GiProfileId};
use mig_sim::host::{self, Entry, Node, NodeKind};
use mig_sim::host_write;
use mig_sim::MachineState;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn machine(models: &[&str]) -> MachineState {
    let list: Vec<(String, bool)> = models.iter().map(|m| (m.to_string(), false)).collect();
    MachineState::new(&list).expect("known models")
}

/// Create GIs of `profile` (each with CIs of `ci_profiles`) on GPU `gpu`.
fn create(st: &mut MachineState, gpu: usize, profile: u32, ci_profiles: &[u32]) -> u32 {
    let g = &mut st.gpus[gpu];
    g.mig_current = true;
    g.mig_pending = true;
    let m = g.model();
    let gi = g
        .layout
        .create_gi(m, GiProfileId(profile), None)
        .expect("GI fits");
    for &c in ci_profiles {
        g.layout
            .create_ci(m, gi, CiProfileId(c), None)
            .expect("CI fits");
    }
    gi.0
}

fn text_of<'a>(entries: &'a [Entry], path: &str) -> &'a str {
    match entries.iter().find(|e| e.path == path).map(|e| &e.node) {
        Some(Node::File { data, .. }) => std::str::from_utf8(data).expect("utf-8"),
        other => panic!("{path}: not a file: {other:?}"),
    }
}

fn under<'a>(entries: &'a [Entry], prefix: &str) -> BTreeSet<&'a str> {
    entries
        .iter()
        .filter_map(|e| e.path.strip_prefix(prefix))
        .collect()
}

fn shared() -> Option<PathBuf> {
    testkit::shared("mig-sim host_tree: the real board's captures")
}

/// Proves `mig-minors` has the driver's whole table: 4322 lines, the
/// guide's first and last lines, and the minors of real captures (a public
/// Slurm H100 capture's GI minors, the DRA driver's examples).
#[test]
fn mig_minors_is_the_drivers_table() {
    let text = host::mig_minors_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4322);
    assert_eq!(
        lines[..6],
        [
            "config 1",
            "monitor 2",
            "gpu0/gi0/access 3",
            "gpu0/gi0/ci0/access 4",
            "gpu0/gi0/ci1/access 5",
            "gpu0/gi0/ci2/access 6"
        ]
    );
    assert_eq!(
        lines[lines.len() - 2..],
        ["gpu31/gi14/ci6/access 4321", "gpu31/gi14/ci7/access 4322"]
    );
    for want in [
        "gpu2/gi2/access 291",
        "gpu2/gi7/access 336",
        "gpu3/gi1/access 417",
        "gpu3/gi13/access 525",
        "gpu3/gi3/ci3/access 439",
        "gpu6/gi11/ci7/access 920",
    ] {
        assert!(lines.contains(&want), "{want}");
    }
    // every line is the driver's formula, written out here independently
    for l in &lines[2..] {
        let (name, minor) = l.rsplit_once(' ').expect("name minor");
        let n: Vec<u32> = name
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().expect("digits"))
            .collect();
        let want = 3 + 135 * n[0] + 9 * n[1] + n.get(2).map_or(0, |c| 1 + c);
        assert_eq!(minor.parse::<u32>().ok(), Some(want), "{l}");
    }
}

/// Proves the guide's "Device Nodes" examples: `mig/config` reads
/// `DeviceFileMinor: 1 / DeviceFileMode: 256 / DeviceFileModify: 1`; an A100
/// whose GI 1 holds three CIs gets `/dev/nvidia-caps/nvidia-cap12..15`; and
/// two GIs with one CI each give the guide's `gpu0/mig/gi1`, `gi2` layout.
#[test]
fn guide_examples_of_capabilities() {
    let mut st = machine(&["a100-sxm4-40gb"]);
    // 4g.20gb (profile 5) lands at 0:4 = GI 1; three 1c CIs get IDs 0, 1, 2
    assert_eq!(create(&mut st, 0, 5, &[0, 0, 0]), 1);
    let e = host::entries(&st);
    assert_eq!(
        text_of(&e, "proc/driver/nvidia/capabilities/mig/config"),
        "DeviceFileMinor: 1\nDeviceFileMode: 256\nDeviceFileModify: 1\n"
    );
    assert_eq!(
        text_of(&e, "proc/driver/nvidia/capabilities/gpu0/mig/gi1/access"),
        "DeviceFileMinor: 12\nDeviceFileMode: 292\nDeviceFileModify: 1\n"
    );
    let caps: BTreeSet<&str> = under(&e, "dev/nvidia-caps/");
    assert_eq!(
        caps,
        BTreeSet::from([
            "nvidia-cap1",
            "nvidia-cap2",
            "nvidia-cap12",
            "nvidia-cap13",
            "nvidia-cap14",
            "nvidia-cap15"
        ])
    );
    for (name, minor, mode) in [("nvidia-cap1", 1, 0o400), ("nvidia-cap13", 13, 0o444)] {
        let n = e
            .iter()
            .find(|x| x.path == format!("dev/nvidia-caps/{name}"))
            .map(|x| x.node.clone());
        assert_eq!(
            n,
            Some(Node::CharDev {
                major: host::CAPS_MAJOR,
                minor,
                mode
            })
        );
    }

    let mut st = machine(&["a100-sxm4-40gb"]);
    assert_eq!(create(&mut st, 0, 9, &[2]), 2);
    assert_eq!(create(&mut st, 0, 9, &[2]), 1);
    let e = host::entries(&st);
    assert_eq!(
        under(&e, "proc/driver/nvidia/capabilities/gpu0/mig/"),
        BTreeSet::from([
            "gi1",
            "gi1/access",
            "gi1/ci0",
            "gi1/ci0/access",
            "gi2",
            "gi2/access",
            "gi2/ci0",
            "gi2/ci0/access"
        ])
    );
}

/// Proves that on every model, and on GPUs past the first, capability
/// files and nodes exist for exactly the GIs and CIs of the layout, named
/// by the GPU's device minor, with the table's minors; MIG-disabled GPUs
/// have an empty `gpuN/mig`.
#[test]
fn capabilities_follow_the_layout_on_every_model() {
    let slugs: Vec<&str> = catalog::all().iter().map(|m| m.slug.as_str()).collect();
    for pair in slugs.chunks(2) {
        let mut models = vec!["a30-24gb"];
        models.extend_from_slice(pair);
        let mut st = machine(&models);
        // GPU 1: its full-GPU profile with its first CI profile; GPU 2 (if
        // any): the smallest profile, twice
        for (gpu, slug) in pair.iter().enumerate() {
            let m = catalog::model(slug).expect("model");
            let gpu = gpu + 1;
            if gpu == 1 {
                let full = mig_model::engine::full_profile(m);
                create(&mut st, gpu, full.id, &[full.ci_profiles[0].id]);
            } else {
                let small = &m.gi_profiles[0];
                create(&mut st, gpu, small.id, &[small.ci_profiles[0].id]);
                create(&mut st, gpu, small.id, &[]);
            }
        }
        let e = host::entries(&st);
        let mut want = BTreeSet::from(["nvidia-cap1".to_string(), "nvidia-cap2".to_string()]);
        for (i, g) in st.gpus.iter().enumerate() {
            let minor = g.minor;
            assert_eq!(minor, i as u32);
            let dir = format!("proc/driver/nvidia/capabilities/gpu{minor}/mig/");
            let mut files = BTreeSet::new();
            for gi in &g.layout.gpu_instances {
                let m = 3 + 135 * minor + 9 * gi.id.0;
                files.insert(format!("gi{}/access", gi.id.0));
                want.insert(format!("nvidia-cap{m}"));
                assert_eq!(
                    text_of(&e, &format!("{dir}gi{}/access", gi.id.0)),
                    format!("DeviceFileMinor: {m}\nDeviceFileMode: 292\nDeviceFileModify: 1\n")
                );
                for ci in &gi.compute_instances {
                    let c = m + 1 + ci.id.0;
                    files.insert(format!("gi{}/ci{}/access", gi.id.0, ci.id.0));
                    want.insert(format!("nvidia-cap{c}"));
                }
            }
            let got: BTreeSet<String> = under(&e, &dir)
                .into_iter()
                .filter(|p| p.ends_with("access"))
                .map(String::from)
                .collect();
            assert_eq!(got, files, "{models:?} GPU {i}");
            assert!(e.iter().any(|x| x.path == dir.trim_end_matches('/')));
        }
        let caps: BTreeSet<String> = under(&e, "dev/nvidia-caps/")
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(caps, want, "{models:?}");
    }
}

/// Proves the sysfs entries carry the catalog's IDs as sysfs prints them,
/// and that for the lent H100 they equal what that board reported
/// (`catalog/measured/h100-580.159.04/query-gpu.csv`: device 0x233010DE,
/// subsystem 0x16C110DE; `h100_q.txt`: class 0x3/0x2, BAR1 131072 MiB).
#[test]
fn sysfs_ids_match_the_real_board() {
    let st = machine(&[
        "h100-sxm5-80gb",
        "rtx-pro-6000-workstation",
        "a100-sxm4-80gb",
    ]);
    let e = host::entries(&st);
    let dev = |i: usize, f: &str| {
        let a = host::PciAddress::parse(&st.gpus[i].pci_bus_id).expect("bus id");
        text_of(&e, &format!("sys/bus/pci/devices/{}/{f}", a.sysfs())).to_string()
    };
    let csv = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../catalog/measured/h100-580.159.04/query-gpu.csv"),
    )
    .expect("measured capture");
    let row: Vec<&str> = csv.lines().nth(1).expect("row").split(", ").collect();
    let (id, sub) = (
        u32::from_str_radix(&row[1][2..], 16).expect("hex"),
        u32::from_str_radix(&row[2][2..], 16).expect("hex"),
    );
    assert_eq!(dev(0, "vendor"), format!("0x{:04x}\n", id & 0xffff));
    assert_eq!(dev(0, "device"), format!("0x{:04x}\n", id >> 16));
    assert_eq!(
        dev(0, "subsystem_vendor"),
        format!("0x{:04x}\n", sub & 0xffff)
    );
    assert_eq!(dev(0, "subsystem_device"), format!("0x{:04x}\n", sub >> 16));
    assert_eq!(dev(0, "class"), "0x030200\n");
    assert_eq!(dev(1, "class"), "0x030000\n");
    assert_eq!(dev(2, "device"), "0x20b2\n");
    // BAR1 line of the resource table: 128 GiB on both 80 GB boards
    for i in [0, 2] {
        let res = dev(i, "resource");
        let lines: Vec<&str> = res.lines().collect();
        assert_eq!(lines.len(), 13);
        let f: Vec<u64> = lines[1]
            .split(' ')
            .map(|x| u64::from_str_radix(&x[2..], 16).expect("hex"))
            .collect();
        assert_eq!(f[1] - f[0] + 1, 128 << 30, "GPU {i} BAR1");
        assert_eq!(f[2], 0x14220c);
    }
    if let Some(shared) = shared() {
        let q = fs::read_to_string(shared.join("reference/h100-80gb-hbm3/h100_q.txt"))
            .expect("h100_q.txt");
        let field = |name: &str| {
            q.lines()
                .find(|l| l.trim_start().starts_with(name))
                .and_then(|l| l.rsplit(':').next())
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        assert_eq!(field("Base Classcode"), "0x3");
        assert_eq!(field("Sub Classcode"), "0x2");
        let bar1_total = q
            .split("BAR1 Memory Usage")
            .nth(1)
            .and_then(|s| s.lines().find(|l| l.contains("Total")))
            .and_then(|l| l.rsplit(':').next())
            .map(|v| v.trim().to_string());
        assert_eq!(bar1_total.as_deref(), Some("131072 MiB"));
        let m = catalog::model("h100-sxm5-80gb").expect("model");
        assert_eq!(host::bar1_bytes(m), 131072 << 20);
    }
}

/// Proves the `information` file has the driver's fields in its order and
/// names the GPU's minor, UUID and bus location.
#[test]
fn information_file_fields() {
    let st = machine(&["h100-sxm5-80gb", "h100-sxm5-80gb"]);
    let e = host::entries(&st);
    let g = &st.gpus[1];
    let a = host::PciAddress::parse(&g.pci_bus_id).expect("bus id");
    let t = text_of(
        &e,
        &format!("proc/driver/nvidia/gpus/{}/information", a.sysfs()),
    );
    let keys: Vec<&str> = t
        .lines()
        .map(|l| l.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        keys,
        [
            "Model",
            "IRQ",
            "GPU UUID",
            "Video BIOS",
            "Bus Type",
            "DMA Size",
            "DMA Mask",
            "Bus Location",
            "Device Minor",
            "GPU Firmware",
            "GPU Excluded"
        ]
    );
    assert!(t.contains("Model: \t\t NVIDIA H100 80GB HBM3\n"));
    assert!(t.contains(&format!("GPU UUID: \t {}\n", g.uuid)));
    assert!(t.contains(&format!("Bus Location: \t {}\n", a.sysfs())));
    assert!(t.contains("Device Minor: \t 1\n"));
}

fn listing(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for x in fs::read_dir(&d).expect("read_dir") {
            let x = x.expect("entry");
            let p = x.path();
            let rel = p
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            if rel.starts_with(".migctl") {
                continue;
            }
            if x.file_type().expect("type").is_dir() {
                stack.push(p);
            }
            out.insert(rel);
        }
    }
    out
}

/// Proves `apply` makes a directory hold exactly the entries (placeholders
/// standing for device nodes), follows a change in both directions, leaves
/// files it did not write alone, and refuses a directory that already has a
/// `sys/` it did not write.
#[test]
fn apply_follows_changes_and_touches_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("host");
    let mut st = machine(&["a100-sxm4-40gb"]);
    host_write::apply(&root, &host::entries(&st), NodeKind::Placeholder, "test").expect("apply");
    fs::write(root.join("dev/mine.txt"), "keep").expect("user file");
    let want = |st: &MachineState| {
        let mut s: BTreeSet<String> = host::paths(&host::entries(st))
            .into_iter()
            .map(String::from)
            .collect();
        s.insert("dev/mine.txt".into());
        s
    };
    assert_eq!(listing(&root), want(&st));
    create(&mut st, 0, 9, &[2]);
    create(&mut st, 0, 19, &[0]);
    host_write::apply(&root, &host::entries(&st), NodeKind::Placeholder, "test").expect("apply");
    assert_eq!(listing(&root), want(&st));
    let cap = fs::read_to_string(root.join("dev/nvidia-caps/nvidia-cap22")).expect("GI 2 node");
    assert_eq!(
        cap,
        host_write::placeholder_text(host::CAPS_MAJOR, 22, 0o444)
    );
    st.gpus[0].layout.gpu_instances.clear();
    host_write::apply(&root, &host::entries(&st), NodeKind::Placeholder, "test").expect("apply");
    assert_eq!(listing(&root), want(&st));
    assert!(!root.join("dev/nvidia-caps/nvidia-cap22").exists());
    assert_eq!(
        fs::read_to_string(root.join("dev/mine.txt"))
            .ok()
            .as_deref(),
        Some("keep")
    );

    let foreign = dir.path().join("foreign");
    fs::create_dir_all(foreign.join("sys")).expect("mkdir");
    let err = host_write::apply(&foreign, &host::entries(&st), NodeKind::Placeholder, "")
        .expect_err("refused");
    assert!(err.to_string().contains("did not write"), "{err}");
}
