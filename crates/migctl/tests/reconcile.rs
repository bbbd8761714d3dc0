//! `migctl apply` on the simulated machine, end to end through the binary:
//! every ordered pair of mig-parted's default configs on an A100 and an
//! H100 (assert holds afterwards, and nothing that could have been kept was
//! destroyed, against an exhaustive search of the GPU's layouts that shares
//! no code with the planner), busy instances, and a fault sweep (every
//! mutating step of representative applies failed with each driver error,
//! or crashed mid-write, then recovered).

mod common;

use common::Machine;
use mig_apply::assert_gpu;
use mig_config::GpuDemand;
use mig_config::Spec;
use mig_config::{catalog_identity, validate};
use mig_model::backend::GpuRef;
use mig_model::catalog::{self, GpuModel};
use mig_model::engine::{self, Layout};
use mig_model::GiProfileId;
use mig_sim::SimMachine;
use std::path::{Path, PathBuf};

fn shared_default() -> Option<PathBuf> {
    let f = testkit::shared("reconcile")?.join("compat/mig-parted/config-default.yaml");
    f.is_file().then_some(f)
}

fn machine(models: &[&str]) -> Machine {
    let mut m = Machine::new();
    m.env.push((
        "MIGCTL_JOURNAL".into(),
        m.dir.path().join("journal.json").display().to_string(),
    ));
    let mut args = vec!["sim", "init"];
    args.extend_from_slice(models);
    m.ok(&args);
    m
}

fn snapshot(m: &Machine, gpu: u32) -> mig_model::GpuSnapshot {
    let l = SimMachine::open(m.state()).unwrap();
    mig_apply::Machine::snapshot(&l, &GpuRef::Index(gpu)).unwrap()
}

/// The demand config `name` of `file` puts on GPU `gpu` of `m`.
fn demand_of(m: &Machine, file: &Path, name: &str, gpu: u32) -> Option<GpuDemand> {
    let spec = Spec::load(file).unwrap();
    let named = spec.select(Some(name), "test").unwrap();
    let snap = snapshot(m, gpu);
    let sel = validate(named, &[snap.identity]).ok()?;
    sel.target(gpu).map(|t| t.demand.clone())
}

/// Names of the configs of `file` that validate on one GPU of `model`.
fn suited(file: &Path, model: &GpuModel) -> Vec<String> {
    let spec = Spec::load(file).unwrap();
    spec.names()
        .into_iter()
        .filter(|n| {
            let named = spec.select(Some(n), "test").unwrap();
            validate(named, &[catalog_identity(0, model)]).is_ok_and(|s| s.target(0).is_some())
        })
        .collect()
}

/// Every way to place `want` (CI profile IDs) in an empty GI of profile
/// `gi`, as sets of (profile, placement), by brute force over the engine.
fn ci_layouts(model: &GpuModel, gi: u32, want: &[u32]) -> Vec<Vec<(u32, mig_model::Placement)>> {
    let gp = engine::gi_profile(model, GiProfileId(gi)).unwrap();
    let mut base = Layout::new(false);
    let p = engine::gi_placements(gp).next().unwrap();
    let id = base.create_gi(model, GiProfileId(gi), Some(p)).unwrap();
    let mut out = Vec::new();
    fn go(
        model: &GpuModel,
        l: &Layout,
        id: mig_model::GpuInstanceId,
        gp: &mig_model::GiProfile,
        want: &[u32],
        acc: &mut Vec<(u32, mig_model::Placement)>,
        out: &mut Vec<Vec<(u32, mig_model::Placement)>>,
    ) {
        let Some((&first, rest)) = want.split_first() else {
            out.push(acc.clone());
            return;
        };
        let cp = engine::ci_profile(gp, mig_model::CiProfileId(first)).unwrap();
        for p in engine::ci_placements(cp) {
            let mut next = l.clone();
            if next
                .create_ci(model, id, mig_model::CiProfileId(first), Some(p))
                .is_ok()
            {
                acc.push((first, p));
                go(model, &next, id, gp, rest, acc, out);
                acc.pop();
            }
        }
    }
    go(model, &base, id, gp, want, &mut Vec::new(), &mut out);
    out
}

/// The most instances any layout meeting `demand` shares with `cur` (a GI
/// shared when profile and placement agree; a CI when, inside a shared GI,
/// profile and placement agree): exhaustive over the GPU's layouts.
fn best_kept(model: &GpuModel, cur: &Layout, demand: &GpuDemand) -> usize {
    let gis: Vec<(u32, Vec<u32>)> = demand
        .gpu_instances
        .iter()
        .map(|g| {
            (
                g.profile.0,
                g.compute_instances.iter().map(|c| c.profile.0).collect(),
            )
        })
        .collect();
    let mut best = 0;
    fn go(
        model: &GpuModel,
        cur: &Layout,
        gis: &[(u32, Vec<u32>)],
        l: &Layout,
        score: usize,
        best: &mut usize,
    ) {
        let Some(((gi, cis), rest)) = gis.split_first() else {
            *best = (*best).max(score);
            return;
        };
        let gp = engine::gi_profile(model, GiProfileId(*gi)).unwrap();
        for p in engine::gi_placements(gp) {
            let mut next = l.clone();
            if next.create_gi(model, GiProfileId(*gi), Some(p)).is_err() {
                continue;
            }
            let here = cur
                .gpu_instances
                .iter()
                .find(|g| g.profile_id.0 == *gi && g.placement == p)
                .map_or(0, |g| {
                    1 + ci_layouts(model, *gi, cis)
                        .iter()
                        .map(|set| {
                            g.compute_instances
                                .iter()
                                .filter(|c| set.contains(&(c.profile_id.0, c.placement)))
                                .count()
                        })
                        .max()
                        .unwrap_or(0)
                });
            go(model, cur, rest, &next, score + here, best);
        }
    }
    go(model, cur, &gis, &Layout::new(cur.mirrored), 0, &mut best);
    best
}

fn instances(l: &Layout) -> usize {
    l.gpu_instances
        .iter()
        .map(|g| 1 + g.compute_instances.len())
        .sum()
}

/// Proves, for every ordered pair (A, B) of mig-parted's default configs
/// that suit the board, on an A100-SXM4-40GB and an H100-SXM5-80GB: after
/// applying A then B, B's assert holds, the GPU is as the plan said, and
/// the plan destroyed exactly what no layout meeting B could keep.
#[test]
fn every_config_pair() {
    let Some(file) = shared_default() else {
        return;
    };
    let f = file.to_str().unwrap();
    let mut pairs = 0;
    for slug in ["a100-sxm4-40gb", "h100-sxm5-80gb"] {
        let model = catalog::model(slug).unwrap();
        let names = suited(&file, model);
        assert!(names.len() >= 8, "{slug}: only {names:?}");
        for a in &names {
            let m = machine(&[slug]);
            m.ok(&["apply", "-f", f, "-c", a]);
            let after_a = std::fs::read(m.state()).unwrap();
            for b in &names {
                if a == b {
                    continue;
                }
                std::fs::write(m.state(), &after_a).unwrap();
                let before = snapshot(&m, 0);
                let demand = demand_of(&m, &file, b, 0).unwrap();
                let plan: serde_json::Value =
                    serde_json::from_str(&m.ok(&["plan", "-f", f, "-c", b, "--output", "json"]))
                        .unwrap();
                let gp = &plan["gpus"][0];
                let destroys = gp["steps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|s| s["op"].as_str().unwrap().starts_with("destroy"))
                    .count();
                let best = if demand.mig_enabled && before.mode.current {
                    best_kept(model, &before.layout, &demand)
                } else {
                    0
                };
                assert_eq!(
                    destroys,
                    instances(&before.layout) - best,
                    "{slug}: {a} -> {b}: destroys {destroys}, but {best} of {} instances could stay",
                    instances(&before.layout)
                );
                m.ok(&["apply", "-f", f, "-c", b]);
                let after = snapshot(&m, 0);
                assert_gpu(&after, &demand, false)
                    .unwrap_or_else(|e| panic!("{slug}: {a} -> {b}: {e}"));
                let planned: Layout =
                    serde_json::from_value(gp["after"]["layout"].clone()).unwrap();
                assert_eq!(after.layout, planned, "{slug}: {a} -> {b}");
                pairs += 1;
            }
        }
    }
    println!("{pairs} config pairs applied");
    assert!(pairs > 100);
}

const OWN: &str = r#"version: v1
mig-configs:
  one-3g:
    - devices: all
      mig-enabled: true
      mig-devices: {"3g.20gb": 1}
  grow:
    - devices: all
      mig-enabled: true
      mig-devices: {"3g.20gb": 1, "2g.10gb": 1, "1g.5gb": 1}
  reshuffle:
    - devices: all
      mig-enabled: true
      mig-devices: {"4g.20gb": 1, "1g.5gb": 3}
  big:
    - devices: all
      mig-enabled: true
      mig-devices: {"7g.40gb": 1}
  off:
    - devices: all
      mig-enabled: false
"#;

fn own_config(m: &Machine) -> String {
    let p = m.dir.path().join("own.yaml");
    std::fs::write(&p, OWN).unwrap();
    p.display().to_string()
}

/// Proves an instance added beside a busy one leaves the busy GI and CI
/// untouched, and a change that needs the busy one gone is refused naming
/// the process, with the state file byte-identical afterwards.
#[test]
fn busy_instances() {
    let m = machine(&["a100-sxm4-40gb"]);
    let f = own_config(&m);
    m.ok(&["apply", "-f", &f, "-c", "one-3g"]);
    let gi = &snapshot(&m, 0).layout.gpu_instances[0].clone();
    let pid = m.ok(&[
        "sim",
        "run",
        "--gpu",
        "0",
        "--gi",
        &gi.id.0.to_string(),
        "--ci",
        "0",
        "--name",
        "trainer",
    ]);
    // the first number on stdout (DESIGN.md)
    let pid: String = pid
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let out = m.ok(&["apply", "-f", &f, "-c", "grow"]);
    assert!(
        out.contains("2 GPU instances created, 2 compute instances created (4 steps)"),
        "{out}"
    );
    let l = snapshot(&m, 0).layout;
    assert!(l.gpu_instances.contains(gi), "busy GI changed: {l:?}");
    assert_eq!(l.gpu_instances.len(), 3);
    for target in ["big", "reshuffle", "off"] {
        let before = m.state_text();
        let o = m.run(&["apply", "-f", &f, "-c", target]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{target}: {err}");
        assert!(
            err.contains(&format!("pid {pid} trainer")),
            "{target}: {err}"
        );
        assert!(err.contains("nothing was changed"), "{err}");
        assert_eq!(m.state_text(), before, "{target}: state changed");
    }
}

/// NVML errors the driver answers mutating MIG calls with
/// (`nvmlDeviceSetMigMode`, create and destroy of GIs and CIs; nvml.h).
const ERRORS: &[&str] = &[
    "INVALID_ARGUMENT",
    "NOT_SUPPORTED",
    "NO_PERMISSION",
    "NOT_FOUND",
    "IN_USE",
    "INSUFFICIENT_RESOURCES",
    "UNKNOWN",
];

/// Proves every mutating step of representative applies (mode change on and
/// off, grow, shrink, reshuffle, two GPUs in parallel) can fail with each
/// driver error and leave the state file byte-identical (every GPU rolled
/// back), and can crash mid-write after which a plain `migctl apply`
/// reports the recovery and ends in the new layout.
#[test]
fn fault_sweep() {
    let Some(file) = shared_default() else {
        return;
    };
    let dflt = file.to_str().unwrap().to_string();
    // (models, config file (own or default), from (None: fresh), to)
    let cases: &[(&[&str], bool, Option<&str>, &str)] = &[
        (&["a100-sxm4-40gb"], true, None, "grow"),
        (&["a100-sxm4-40gb"], true, Some("one-3g"), "grow"),
        (&["a100-sxm4-40gb"], true, Some("grow"), "one-3g"),
        (&["a100-sxm4-40gb"], true, Some("grow"), "reshuffle"),
        (&["a100-sxm4-40gb"], true, Some("grow"), "off"),
        (
            &["h100-sxm5-80gb"],
            false,
            Some("all-balanced"),
            "all-disabled",
        ),
        (
            &["a100-sxm4-40gb", "h100-sxm5-80gb"],
            false,
            Some("all-enabled"),
            "all-balanced",
        ),
        (
            &["a100-sxm4-40gb", "h100-sxm5-80gb"],
            false,
            Some("all-balanced"),
            "all-1g.10gb",
        ),
    ];
    let mut fail_cases = 0;
    let mut abort_cases = 0;
    for (models, own, from, to) in cases {
        let m = machine(models);
        let f = if *own { own_config(&m) } else { dflt.clone() };
        if let Some(from) = from {
            m.ok(&["apply", "-f", &f, "-c", from]);
        }
        let start = m.state_text();
        let mut n = 1;
        loop {
            std::fs::write(m.state(), &start).unwrap();
            let o = m
                .cmd(&["apply", "-f", &f, "-c", to])
                .env("MIGCTL_SIM_FAULT", format!("fail:{n}:UNKNOWN"))
                .output()
                .unwrap();
            if o.status.success() {
                break;
            }
            for e in ERRORS {
                std::fs::write(m.state(), &start).unwrap();
                let o = m
                    .cmd(&["apply", "-f", &f, "-c", to])
                    .env("MIGCTL_SIM_FAULT", format!("fail:{n}:{e}"))
                    .output()
                    .unwrap();
                let out = format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
                assert_eq!(o.status.code(), Some(1), "{to} fail:{n}:{e}: {out}");
                assert!(
                    out.contains("rolled back, the GPU is exactly as before"),
                    "{to} fail:{n}:{e}: {out}"
                );
                assert!(
                    !out.contains(&format!("{to}: applied")),
                    "{to} fail:{n}:{e}: {out}"
                );
                assert_eq!(
                    m.state_text(),
                    start,
                    "{models:?} {to} fail:{n}:{e}: state differs"
                );
                fail_cases += 1;
            }
            std::fs::write(m.state(), &start).unwrap();
            let o = m
                .cmd(&["apply", "-f", &f, "-c", to])
                .env("MIGCTL_SIM_FAULT", format!("abort:{n}"))
                .output()
                .unwrap();
            assert!(o.status.code().is_none(), "abort:{n} did not crash");
            let warn = m.run(&["-L"]);
            assert!(
                String::from_utf8_lossy(&warn.stderr).contains("unfinished"),
                "no warning after abort:{n}"
            );
            let o = m.run(&["apply", "-f", &f, "-c", to]);
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(o.status.success(), "{to} after abort:{n}: {err}");
            assert!(
                err.contains("finished an interrupted apply"),
                "{to} after abort:{n}: {err}"
            );
            for (gpu, _) in models.iter().enumerate() {
                let d = demand_of(&m, Path::new(&f), to, gpu as u32).unwrap();
                assert_gpu(&snapshot(&m, gpu as u32), &d, false).unwrap();
            }
            abort_cases += 1;
            n += 1;
        }
        assert!(n > 1, "{to}: no mutating step");
    }
    println!("fault sweep: {fail_cases} fail cases, {abort_cases} abort cases");
}

/// Proves a damaged journal is reported by name and stops apply before any
/// GPU is touched, and `plan` only warns.
#[test]
fn corrupt_journal() {
    let m = machine(&["a100-sxm4-40gb"]);
    let f = own_config(&m);
    std::fs::write(m.dir.path().join("journal.json"), "{ nope").unwrap();
    let before = m.state_text();
    let o = m.run(&["apply", "-f", &f, "-c", "grow"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("journal.json: corrupt apply journal"), "{err}");
    assert_eq!(m.state_text(), before);
    let o = m.run(&["plan", "-f", &f, "-c", "grow"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("corrupt apply journal"));
}

/// Proves `--dry-run` prints the plan and changes nothing, and `--mode-only`
/// only switches the mode.
#[test]
fn dry_run_and_mode_only() {
    let m = machine(&["h100-sxm5-80gb"]);
    let Some(file) = shared_default() else {
        return;
    };
    let f = file.to_str().unwrap();
    let before = m.state_text();
    let out = m.ok(&["apply", "--dry-run", "-f", f, "-c", "all-balanced"]);
    assert!(out.contains("1. set MIG mode on"), "{out}");
    assert!(out.contains("nothing changed"), "{out}");
    assert_eq!(m.state_text(), before);
    m.ok(&["apply", "--mode-only", "-f", f, "-c", "all-balanced"]);
    let s = snapshot(&m, 0);
    assert!(s.mode.current);
    assert!(s.layout.gpu_instances.is_empty());
}
