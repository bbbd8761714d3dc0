//! The planning verbs through the binary on simulated machines: `show`
//! pictures (golden text and SVG, the SVG rendered), `layouts` JSON, `fit`
//! exit codes, `export --inventory` feeding `pack`, bad inventory and demand
//! files, and `bench pack`.

mod common;

use common::{assert_same, Machine};
use std::path::{Path, PathBuf};

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/pictures")
        .join(name)
}

/// Compare with a golden file; `MIGCTL_UPDATE_GOLDEN=1` rewrites it (then
/// review the diff by eye: the files are migctl's own pictures).
fn check_golden(got: &str, name: &str) {
    let path = golden(name);
    if std::env::var_os("MIGCTL_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_same(got, &want, name);
}

/// Mirrored boards (A100 PCIe, H100 SXM5) with `+me` profiles, compute
/// instances smaller than their GI and busy compute instances.
fn mirrored_machine() -> Machine {
    let m = Machine::new();
    for args in [
        "sim init --mirrored a100-pcie-40gb h100-sxm5-80gb",
        "-i 0,1 -mig 1",
        "-i 0 -r",
        "mig -i 0 -cgi 9:4",
        "mig -i 0 -gi 1 -cci 1,0",
        "mig -i 0 -cgi 14:0,20:2,19:3 -C",
        "mig -i 1 -cgi 5:0",
        "mig -i 1 -gi 2 -cci 0,0,0,0",
        "mig -i 1 -cgi 20:6 -C",
        "sim run --gpu 0 --gi 1 --ci 1",
        "sim run --gpu 1 --gi 2 --ci 1",
        "sim run --gpu 1 --gi 2 --ci 3",
    ] {
        m.ok(&args.split_whitespace().collect::<Vec<_>>());
    }
    m
}

/// Identity boards: an A30 with a `+me` profile, an RTX PRO 6000 with
/// `-me` and `+me.all` profiles and a 2-way CI split, an A30 whose
/// MIG enable is pending (a process holds the GPU), and a B200 with MIG disabled.
fn mixed_machine() -> Machine {
    let m = Machine::new();
    for args in [
        "sim init a30-24gb rtx-pro-6000-server a30-24gb b200-180gb",
        "-i 0,1 -mig 1",
        "-i 0 -r",
        "sim run --gpu 2 --name busy-gpu",
        "-i 2 -mig 1",
        "mig -i 0 -cgi 6:0,14:2,14:3 -C",
        "mig -i 1 -cgi 66:0",
        "mig -i 1 -gi 1 -cci 0,0",
        "mig -i 1 -cgi 65:6,67:9 -C",
        "sim run --gpu 1 --gi 1 --ci 0",
    ] {
        m.ok(&args.split_whitespace().collect::<Vec<_>>());
    }
    m
}

fn render_check(svg: &str) {
    let tree =
        resvg::usvg::Tree::from_str(svg, &resvg::usvg::Options::default()).expect("SVG parses");
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).expect("pixmap");
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    let px = |x: u32, y: u32| pixmap.pixel(x, y).expect("inside").demultiply();
    // The first GI of the first GPU (blue, #4e79a7 at 35 % over the grey slice)
    // near its top-left corner, above its compute instances: bluish.
    let gi = px(16 + 40, 52 + 16 + 6);
    assert!(gi.blue() > gi.red() + 20, "GI box not drawn: {gi:?}");
    // Somewhere a busy compute instance's red outline.
    let red = (0..pixmap.height())
        .flat_map(|y| (0..pixmap.width()).map(move |x| (x, y)))
        .any(|(x, y)| {
            let c = px(x, y);
            c.red() > 180 && c.green() < 80 && c.blue() < 80
        });
    assert!(red, "no busy outline rendered");
}

/// Proves the terminal picture and the SVG of mirrored boards (GI IDs from
/// physical slices), `+me` profiles, CIs smaller than their GI and busy CIs
/// equal their golden files, with no escape codes when not a terminal, and
/// that the SVG renders (resvg) with the GI boxes and busy outlines drawn.
#[test]
fn show_mirrored_golden() {
    let m = mirrored_machine();
    let svg = m.dir.path().join("show.svg");
    let text = m.ok(&["show", "--svg", svg.to_str().unwrap()]);
    assert!(!text.contains('\x1b'));
    check_golden(&text, "show-mirrored.txt");
    let svg = std::fs::read_to_string(svg).unwrap();
    check_golden(&svg, "show-mirrored.svg");
    render_check(&svg);
}

/// Proves the same for identity boards with `+me`, `-me`, `+me.all`
/// profiles, a pending MIG mode and a GPU with MIG disabled; `-i` limits
/// the picture to one GPU; `--output json` gives the same as data.
#[test]
fn show_mixed_golden() {
    let m = mixed_machine();
    let svg = m.dir.path().join("show.svg");
    let text = m.ok(&["show", "--svg", svg.to_str().unwrap()]);
    check_golden(&text, "show-mixed.txt");
    let svg = std::fs::read_to_string(svg).unwrap();
    check_golden(&svg, "show-mixed.svg");
    render_check(&svg);
    let j: serde_json::Value = serde_json::from_str(&m.ok(&["show", "--output", "json"])).unwrap();
    let rtx = &j[1]["gpu_instances"][0];
    assert_eq!(rtx["profile"], "2g.48gb-me");
    assert_eq!(rtx["compute_instances"][0]["busy"], true);
    assert_eq!(rtx["compute_instances"][1]["busy"], false);
    assert_eq!(j[2]["mig"]["pending"], true);
    let one = m.ok(&["show", "-i", "2"]);
    assert!(one.contains("GPU 2:") && !one.contains("GPU 1:"), "{one}");
    assert!(one.contains("pending"), "{one}");
}

/// Proves `layouts MODEL --output json` is an object whose `count` equals
/// the number of layouts listed and the text listing's count, and that
/// `--contains` and `--maximal` only narrow it.
#[test]
fn layouts_json_counts() {
    let m = Machine::new();
    let j: serde_json::Value =
        serde_json::from_str(&m.ok(&["layouts", "a100-sxm4-40gb", "--output", "json"])).unwrap();
    let n = j["count"].as_u64().unwrap();
    assert_eq!(n as usize, j["layouts"].as_array().unwrap().len());
    let text = m.ok(&["layouts", "a100-sxm4-40gb", "--count"]);
    assert!(
        text.starts_with(&format!("{n} layouts of a100-sxm4-40gb")),
        "{text}"
    );
    let narrowed: serde_json::Value = serde_json::from_str(&m.ok(&[
        "layouts",
        "a100-sxm4-40gb",
        "--contains",
        "3g.20gb",
        "--maximal",
        "--output",
        "json",
        "--count",
    ]))
    .unwrap();
    let k = narrowed["count"].as_u64().unwrap();
    assert!(k > 0 && k < n);
    let o = m.run(&["layouts", "a100-sxm4-99gb"]);
    assert_eq!(o.status.code(), Some(2));
}

/// Proves `fit` exits 0 with placements when the instances fit, 1 with a
/// reason and nearest layouts when they do not, 2 for an unknown profile;
/// and `fit -i N` reads the machine's current layout.
#[test]
fn fit_exit_codes_and_live_gpu() {
    let m = mirrored_machine();
    let yes = m.ok(&["fit", "a100-sxm4-40gb", "19x2", "14", "9"]);
    assert!(
        yes.contains("Fits") && yes.contains("3g.20gb") && yes.contains("-cgi"),
        "{yes}"
    );
    let no = m.run(&["fit", "a100-sxm4-40gb", "3g.20gbx2", "1g.5gb"]);
    assert_eq!(no.status.code(), Some(1));
    let text = String::from_utf8_lossy(&no.stdout);
    assert!(
        text.contains("Does not fit") && text.contains("Nearest layouts"),
        "{text}"
    );
    assert_eq!(
        m.run(&["fit", "a100-sxm4-40gb", "9g.1tb"]).status.code(),
        Some(2)
    );
    // GPU 1 (H100) holds 4g.40gb at 0:4 and 1g.10gb+me at 6:1: a 3g.40gb no longer fits.
    let live = m.run(&["fit", "-i", "1", "3g.40gb"]);
    assert_eq!(live.status.code(), Some(1));
    let more = m.ok(&["fit", "-i", "1", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&more).unwrap();
    let one_g = v["more"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["profile"] == "1g.10gb")
        .unwrap();
    assert_eq!(one_g["count"], 2, "{more}");
}

/// Proves `export --inventory` writes an inventory that `pack` reads, and
/// that pack writes a mig-parted v1 config per node and never plans to
/// destroy a busy instance.
#[test]
fn export_inventory_then_pack() {
    let m = mirrored_machine();
    let inv = m.dir.path().join("inv.yaml");
    m.ok(&[
        "export",
        "--inventory",
        "--node",
        "n1",
        "--output-file",
        inv.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&inv).unwrap();
    assert!(
        text.contains("busy:") && text.contains("mirrored: true"),
        "{text}"
    );
    let dem = m.dir.path().join("dem.yaml");
    std::fs::write(&dem, "version: v1\ndemand:\n- {profile: 1g.5gb, count: 4}\n- {memory-gb: 20, count: 2, weight: 2}\n").unwrap();
    let out = m.dir.path().join("out");
    let json = m.ok(&[
        "pack",
        "--inventory",
        inv.to_str().unwrap(),
        "--demand",
        dem.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
        "--output",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["exact"], true);
    for p in v["plans"].as_array().unwrap() {
        for d in p["destroy"].as_array().unwrap() {
            // busy: GI 1 on GPU 0, GI 2 on GPU 1
            let busy = if p["index"] == 0 { 1 } else { 2 };
            assert_ne!(d["gi_id"], busy, "{json}");
        }
    }
    let cfg = std::fs::read_to_string(out.join("n1.yaml")).unwrap();
    assert!(
        cfg.starts_with("version: v1\nmig-configs:\n  migctl-pack:\n"),
        "{cfg}"
    );
    assert!(
        cfg.contains("devices: [0]") && cfg.contains("devices: [1]"),
        "{cfg}"
    );
}

/// Proves two inventories exported by `export --inventory --node NAME` and
/// joined as `cat a b` joins them load as one fleet in `pack --inventory`,
/// and that on this mixed fleet (a partitioned A100 and a partitioned H100
/// on node `a`, three H100s with MIG enabled and no instances on node `b`;
/// demand by profile and by memory size; main at 62d37ba destroyed 4
/// instances and used 5 GPUs) pack serves everything, keeps every existing
/// instance, uses 4 GPUs and says it is proven optimal, in JSON and in text,
/// with the bound at least what it served.
#[test]
fn concatenated_exports_pack_as_one_fleet() {
    let a = Machine::new();
    for args in [
        "sim init a100-sxm4-40gb h100-sxm5-80gb",
        "-i 0,1 -mig 1",
        "-i 0 -r",
        "mig -i 0 -cgi 9:4,14:0,19:2,19:3",
        "mig -i 1 -cgi 9:4,14:0,19:2,19:3",
    ] {
        a.ok(&args.split_whitespace().collect::<Vec<_>>());
    }
    let b = Machine::new();
    for args in [
        "sim init h100-sxm5-80gb h100-sxm5-80gb h100-sxm5-80gb",
        "-mig 1",
    ] {
        b.ok(&args.split_whitespace().collect::<Vec<_>>());
    }
    let inv_a = a.ok(&["export", "--inventory", "--node", "a"]);
    let inv_b = b.ok(&["export", "--inventory", "--node", "b"]);
    let fleet = a.dir.path().join("fleet.yaml");
    std::fs::write(&fleet, format!("{inv_a}{inv_b}")).unwrap();
    let dem = a.dir.path().join("dem.yaml");
    std::fs::write(
        &dem,
        "version: v1\ndemand:\n- {profile: 1g.10gb, count: 2}\n- {memory-gb: 20, count: 8}\n- {memory-gb: 40, count: 2}\n",
    )
    .unwrap();
    let args = [
        "pack",
        "--inventory",
        fleet.to_str().unwrap(),
        "--demand",
        dem.to_str().unwrap(),
    ];
    let json = a.ok(&[&args[..], &["--output", "json"]].concat());
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let nodes: Vec<_> = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node"].clone())
        .collect();
    assert_eq!(nodes, ["a", "b"], "{json}");
    assert_eq!(v["plans"].as_array().unwrap().len(), 5, "{json}");
    assert_eq!(v["served_weight"], v["demand_weight"], "{json}");
    assert_eq!(v["destroyed"], 0, "{json}");
    assert_eq!(v["gpus_used"], 4, "{json}");
    assert_eq!(v["proven_optimal"], true, "{json}");
    assert!(v["upper_bound"].as_f64().unwrap() >= v["served_weight"].as_f64().unwrap() - 1e-9);
    let text = a.ok(&args);
    assert!(
        text.contains("Packed 5 GPUs on 2 nodes: proven optimal"),
        "{text}"
    );
    assert!(text.contains("dual upper bound"), "{text}");
}

/// Proves bad inventory and demand files exit 2 with an error naming the
/// line or key, for syntax, unknown model, unknown profile, a busy instance
/// not in the layout and a negative count.
#[test]
fn bad_files_are_refused() {
    let m = Machine::new();
    let good_inv = "version: v1\nnodes:\n- node: a\n  gpus:\n  - index: 0\n    model: a100-sxm4-40gb\n    mig-enabled: true\n    gpu-instances:\n    - {profile: 3g.20gb, placement: 4}\n    busy: [2]\n";
    let good_dem = "version: v1\ndemand:\n- {profile: 1g.5gb, count: 2}\n";
    let cases = [
        (
            good_inv.replace("busy: [2]", "busy: [2"),
            good_dem.to_string(),
            "line",
        ),
        (
            good_inv.replace("a100-sxm4-40gb", "a100-xyz"),
            good_dem.to_string(),
            "nodes[0].gpus[0].model",
        ),
        (
            good_inv.replace("3g.20gb", "3g.99gb"),
            good_dem.to_string(),
            "gpu-instances[0].profile",
        ),
        (
            good_inv.replace("busy: [2]", "busy: [7]"),
            good_dem.to_string(),
            "busy[0]",
        ),
        (
            good_inv.to_string(),
            good_dem.replace("count: 2", "count: -2"),
            "line 3",
        ),
        (
            good_inv.to_string(),
            good_dem.replace("1g.5gb", "1g.7gb"),
            "demand[0].profile",
        ),
    ];
    let inv = m.dir.path().join("inv.yaml");
    let dem = m.dir.path().join("dem.yaml");
    std::fs::write(&inv, good_inv).unwrap();
    std::fs::write(&dem, good_dem).unwrap();
    m.ok(&[
        "pack",
        "--inventory",
        inv.to_str().unwrap(),
        "--demand",
        dem.to_str().unwrap(),
    ]);
    for (i, d, want) in cases {
        std::fs::write(&inv, &i).unwrap();
        std::fs::write(&dem, &d).unwrap();
        let o = m.run(&[
            "pack",
            "--inventory",
            inv.to_str().unwrap(),
            "--demand",
            dem.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "want {want:?} in: {err}");
        assert!(o.stdout.is_empty());
    }
}

/// Proves `bench pack` runs on a small generated fleet and prints both
/// packers' figures against the bound, as text and as JSON (pack between
/// first fit and the bound).
#[test]
fn bench_pack_prints_both() {
    let m = Machine::new();
    let out = m.ok(&["bench", "pack", "--gpus", "160", "--instances", "1100"]);
    assert!(
        out.contains("migctl pack") && out.contains("first fit") && out.contains("Upper bound"),
        "{out}"
    );
    let j: serde_json::Value = serde_json::from_str(&m.ok(&[
        "bench",
        "pack",
        "--gpus",
        "160",
        "--instances",
        "1100",
        "--output",
        "json",
    ]))
    .unwrap();
    let ub = j["upper_bound"].as_f64().unwrap();
    let served = |k: &str| j[k]["served_weight"].as_f64().unwrap();
    assert!(
        served("pack") <= ub + 1e-6 && served("pack") >= served("first_fit"),
        "{j}"
    );
}

/// Proves `show` colours its picture on a terminal (run under `script`, which
/// gives it a pseudo-terminal) and draws plain characters there when
/// `NO_COLOR` is set.
#[test]
fn show_colour_only_on_a_terminal() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        testkit::skip(
            "show_colour_only_on_a_terminal",
            testkit::Needs::Environment,
            "`script` (util-linux) is not installed",
        );
        return;
    }
    let m = mirrored_machine();
    let bin = env!("CARGO_BIN_EXE_migctl");
    let run = |no_color: bool| {
        let mut c = std::process::Command::new("script");
        c.args(["-qec", &format!("{bin} show -i 1"), "/dev/null"])
            .env("MIGCTL_SIM_STATE", m.state())
            .env("MIGCTL_BACKEND", "sim");
        if no_color {
            c.env("NO_COLOR", "1");
        } else {
            c.env_remove("NO_COLOR");
        }
        String::from_utf8_lossy(&c.output().expect("script runs").stdout).into_owned()
    };
    let coloured = run(false);
    assert!(
        coloured.contains("\x1b[34m") && coloured.contains("\x1b[41;97m"),
        "{coloured:?}"
    );
    let plain = run(true);
    assert!(
        plain.contains("GI 2") && !plain.contains('\x1b'),
        "{plain:?}"
    );
}

/// Proves `plan` on a terminal draws `show`'s slice map of each GPU before
/// and after the change (run under `script` for a pseudo-terminal), and that
/// piped output carries only the before/after lines.
#[test]
fn plan_pictures_on_a_terminal() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        testkit::skip(
            "plan_pictures_on_a_terminal",
            testkit::Needs::Environment,
            "`script` (util-linux) is not installed",
        );
        return;
    }
    let m = common::Machine::new();
    m.ok(&["sim", "init", "a100-sxm4-40gb"]);
    m.ok(&["-mig", "1"]);
    let cfg = m.dir.path().join("cfg.yaml");
    std::fs::write(
        &cfg,
        "version: v1\nmig-configs:\n  two:\n    - devices: all\n      mig-enabled: true\n      mig-devices:\n        \"3g.20gb\": 2\n",
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_migctl");
    let cmd = format!("{bin} plan -f {} -c two", cfg.display());
    let o = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("MIGCTL_SIM_STATE", m.state())
        .env("MIGCTL_BACKEND", "sim")
        .env("NO_COLOR", "1")
        .output()
        .expect("script runs");
    let tty = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        tty.contains("GPU 0 before") && tty.contains("GPU 0 after") && tty.contains("3g.20gb"),
        "{tty}"
    );
    let piped = m.ok(&["plan", "-f", cfg.to_str().unwrap(), "-c", "two"]);
    assert!(
        piped.contains("  after:") && !piped.contains("GPU 0 after"),
        "{piped}"
    );
}
