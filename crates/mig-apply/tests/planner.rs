//! The planner and executor on the simulated machine: plans reach their
//! targets, keep what can be kept, refuse to destroy busy instances, and
//! exact restores rebuild any layout byte for byte.

use mig_apply::journal::JournalFile;
use mig_apply::{plan_gpu, plan_restore, simulate, MigState, PlanError, PlanOptions, Step};
use mig_apply::{Machine, Outcome, Quiet};
use mig_config::{CiDemand, GiDemand, GpuDemand};
use mig_model::backend::GpuRef;
use mig_model::catalog::{self, GpuModel};
use mig_model::engine::Layout;
use mig_model::{CiProfileId, GiProfileId};
use mig_sim::SimMachine;
use proptest::prelude::*;

/// A demand from names as mig-parted writes them: each item is a GI profile
/// name with the short names of its CIs (`["3g.20gb", "1c.3g.20gb"]` is a
/// 3g GI with one full and one 1c CI); an item of one name is a GI with its
/// full-size CI.
fn demand(m: &GpuModel, gis: &[&[&str]]) -> GpuDemand {
    let gpu_instances = gis
        .iter()
        .map(|names| {
            let gp = m
                .gi_profiles
                .iter()
                .find(|p| p.name == names[0])
                .unwrap_or_else(|| panic!("{}: no {}", m.slug, names[0]));
            let ci = |short: &str| {
                let cp = gp
                    .ci_profiles
                    .iter()
                    .find(|c| mig_model::ids::ci_short_name(gp, c) == short)
                    .unwrap_or_else(|| panic!("{}: no CI {short}", gp.name));
                CiDemand {
                    profile: CiProfileId(cp.id),
                    placement: None,
                }
            };
            let cis = if names.len() == 1 {
                vec![ci(names[0])]
            } else {
                names[1..].iter().map(|s| ci(s)).collect()
            };
            GiDemand {
                profile: GiProfileId(gp.id),
                placement: None,
                compute_instances: cis,
            }
        })
        .collect();
    GpuDemand {
        mig_enabled: true,
        gpu_instances,
    }
}

struct Sim {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    journal: JournalFile,
}

fn sim(models: &[&str]) -> Sim {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let m = SimMachine::open(&path).unwrap();
    m.init(
        &models
            .iter()
            .map(|s| (s.to_string(), false))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let journal = JournalFile::new(dir.path().join("journal.json"));
    Sim {
        _dir: dir,
        path,
        journal,
    }
}

impl Sim {
    fn machine(&self) -> SimMachine {
        SimMachine::open(&self.path).unwrap()
    }

    /// Plan and apply `d` on GPU `gpu`; the outcome.
    fn apply(&self, gpu: u32, d: &GpuDemand) -> Result<Outcome, PlanError> {
        let m = self.machine();
        let snap = m.snapshot(&GpuRef::Index(gpu)).unwrap();
        let model = catalog::model(snap.identity.model.as_deref().unwrap()).unwrap();
        let plan = plan_gpu(model, &snap, d, PlanOptions::default())?;
        let out = mig_apply::apply(
            &m,
            &self.journal,
            "test",
            std::slice::from_ref(&plan),
            &Quiet,
        )
        .unwrap();
        let after = MigState::of(&m.snapshot(&GpuRef::Index(gpu)).unwrap());
        if out[0].outcome.success() {
            assert_eq!(after, plan.after, "the GPU ends as planned");
        }
        Ok(out[0].outcome.clone())
    }

    fn layout(&self, gpu: u32) -> Layout {
        self.machine().snapshot(&GpuRef::Index(gpu)).unwrap().layout
    }

    fn plan(&self, gpu: u32, d: &GpuDemand) -> Result<mig_apply::GpuPlan, PlanError> {
        let m = self.machine();
        let snap = m.snapshot(&GpuRef::Index(gpu)).unwrap();
        let model = catalog::model(snap.identity.model.as_deref().unwrap()).unwrap();
        plan_gpu(model, &snap, d, PlanOptions::default())
    }
}

/// Proves a fresh A100 reaches a balanced layout (mode change included),
/// the result passes the engine's own validation, and planning the same
/// demand again gives zero steps.
#[test]
fn fresh_gpu_then_idempotent() {
    let s = sim(&["a100-sxm4-40gb"]);
    let m = catalog::model("a100-sxm4-40gb").unwrap();
    let d = demand(m, &[&["1g.5gb"], &["1g.5gb"], &["2g.10gb"], &["3g.20gb"]]);
    assert_eq!(s.apply(0, &d).unwrap(), Outcome::Applied { steps: 10 });
    let l = s.layout(0);
    l.validate(m).unwrap();
    assert_eq!(l.gpu_instances.len(), 4);
    let again = s.plan(0, &d).unwrap();
    assert!(again.steps.is_empty(), "{:?}", again.steps);
    assert_eq!(again.kept.gpu_instances, 4);
    assert_eq!(again.kept.compute_instances, 4);
}

/// Proves growing keeps every existing instance (only creates), and a
/// shrink only destroys what goes.
#[test]
fn grow_and_shrink_touch_only_the_difference() {
    let s = sim(&["h100-sxm5-80gb"]);
    let m = catalog::model("h100-sxm5-80gb").unwrap();
    s.apply(0, &demand(m, &[&["3g.40gb"]])).unwrap();
    let before = s.layout(0);
    let grow = demand(m, &[&["3g.40gb"], &["2g.20gb"], &["1g.10gb"]]);
    let p = s.plan(0, &grow).unwrap();
    assert!(p.steps.iter().all(|st| !st.is_destroy()), "{:?}", p.steps);
    assert_eq!(p.steps.len(), 4);
    s.apply(0, &grow).unwrap();
    let after = s.layout(0);
    assert!(after.gpu_instances.contains(&before.gpu_instances[0]));
    let shrink = demand(m, &[&["2g.20gb"], &["1g.10gb"]]);
    let p = s.plan(0, &shrink).unwrap();
    assert_eq!(
        p.steps,
        vec![
            Step::DestroyCi {
                gi: before.gpu_instances[0].id,
                ci: before.gpu_instances[0].compute_instances[0].id
            },
            Step::DestroyGi {
                gi: before.gpu_instances[0].id
            }
        ]
    );
}

/// Proves a busy instance is kept when the demand allows it, and a demand
/// that needs it gone is refused naming the pid, process name and instance.
#[test]
fn busy_instances_are_kept_or_refused() {
    let s = sim(&["a100-sxm4-40gb"]);
    let m = catalog::model("a100-sxm4-40gb").unwrap();
    s.apply(0, &demand(m, &[&["3g.20gb"], &["1g.5gb"]]))
        .unwrap();
    let l = s.layout(0);
    let gi3 = l
        .gpu_instances
        .iter()
        .find(|g| g.profile_id == GiProfileId(9))
        .unwrap()
        .clone();
    let sm = SimMachine::open(&s.path).unwrap();
    let pid = sm
        .start_process(
            &GpuRef::Index(0),
            Some((gi3.id.0, gi3.compute_instances[0].id.0)),
            "train",
            100,
        )
        .unwrap();
    // adding beside it: the busy GI and CI stay untouched
    let grow = demand(m, &[&["3g.20gb"], &["1g.5gb"], &["2g.10gb"]]);
    let p = s.plan(0, &grow).unwrap();
    let touches_busy = |st: &Step| matches!(st, Step::DestroyCi { gi, .. } | Step::DestroyGi { gi } if *gi == gi3.id);
    assert!(!p.steps.iter().any(touches_busy), "{:?}", p.steps);
    assert!(s.apply(0, &grow).unwrap().success());
    assert!(s.layout(0).gpu_instances.contains(&gi3));
    assert_eq!(s.layout(0).gpu_instances.len(), 3);
    // 4g.20gb needs slices 0-3 or the 3g's: refused, naming the process
    let text = std::fs::read(&s.path).unwrap();
    let e = s.plan(0, &demand(m, &[&["7g.40gb"]])).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, PlanError::Busy { .. }), "{msg}");
    assert!(msg.contains(&format!("pid {pid} train")), "{msg}");
    assert!(
        msg.contains(&format!("compute instance {}/0", gi3.id)),
        "{msg}"
    );
    assert_eq!(std::fs::read(&s.path).unwrap(), text);
}

/// Proves disabling MIG destroys everything first and, on Hopper, needs no
/// reset; on Ampere the plan resets (the simulator applies the mode at once,
/// so the executor skips the reset it does not need).
#[test]
fn mode_changes() {
    for (slug, reset, full, one) in [
        ("h100-sxm5-80gb", false, "7g.80gb", "1c.7g.80gb"),
        ("a100-sxm4-40gb", true, "7g.40gb", "1c.7g.40gb"),
    ] {
        let s = sim(&[slug]);
        let m = catalog::model(slug).unwrap();
        let d = demand(m, &[&[full, one, one]]);
        s.apply(0, &d).unwrap();
        let off = GpuDemand {
            mig_enabled: false,
            gpu_instances: vec![],
        };
        let p = s.plan(0, &off).unwrap();
        assert_eq!(
            p.steps.contains(&Step::Reset),
            reset,
            "{slug}: {:?}",
            p.steps
        );
        assert_eq!(p.steps.len(), 4 + usize::from(reset));
        assert!(s.apply(0, &off).unwrap().success());
        assert!(s.plan(0, &off).unwrap().steps.is_empty());
    }
}

/// Every layout the engine can build by default creations of these
/// (profile, CI) choices on `m`.
fn build(m: &GpuModel, picks: &[(u8, u8)]) -> Layout {
    let mut l = Layout::new(false);
    for &(p, c) in picks {
        let gp = &m.gi_profiles[p as usize % m.gi_profiles.len()];
        if let Ok(id) = l.create_gi(m, GiProfileId(gp.id), None) {
            for k in 0..=(c % 3) {
                let cp = &gp.ci_profiles[(c as usize + k as usize) % gp.ci_profiles.len()];
                let _ = l.create_ci(m, id, CiProfileId(cp.id), None);
            }
        }
    }
    l
}

proptest! {
    /// Proves an exact restore between any two layouts of any model
    /// reaches the recorded layout byte for byte (IDs included), and that
    /// every step of it is valid in simulation.
    #[test]
    fn restore_is_exact(model in 0usize..19, a in proptest::collection::vec((any::<u8>(), any::<u8>()), 0..6),
                        b in proptest::collection::vec((any::<u8>(), any::<u8>()), 0..6), drop in any::<u8>()) {
        let m = &catalog::all()[model % catalog::all().len()];
        let mut la = build(m, &a);
        // punch holes so CI IDs are not dense
        if let Some(g) = la.gpu_instances.first().cloned() {
            if g.compute_instances.len() > 1 {
                let c = &g.compute_instances[drop as usize % g.compute_instances.len()];
                la.destroy_ci(g.id, c.id).unwrap();
            }
        }
        let lb = build(m, &b);
        let on = |l: Layout| MigState { mig_current: true, mig_pending: true, layout: l };
        let (sa, sb) = (on(la), on(lb));
        let steps = plan_restore(m, &sa, &sb).unwrap();
        let mut st = sa.clone();
        for s in &steps {
            simulate(&mut st, m, s).unwrap();
        }
        prop_assert_eq!(serde_json::to_string(&st).unwrap(), serde_json::to_string(&sb).unwrap());
        let back = plan_restore(m, &sb, &sa).unwrap();
        let mut st = sb.clone();
        for s in &back {
            simulate(&mut st, m, s).unwrap();
        }
        prop_assert_eq!(st, sa);
    }
}

/// Proves a crash mid-apply (simulated by a journal left in `applying`
/// after some steps) is finished by `recover`, and the journal goes.
#[test]
fn recover_finishes_an_interrupted_apply() {
    let s = sim(&["a100-sxm4-40gb"]);
    let m = catalog::model("a100-sxm4-40gb").unwrap();
    s.apply(0, &demand(m, &[&["7g.40gb"]])).unwrap();
    let d = demand(m, &[&["3g.20gb"], &["3g.20gb"]]);
    let plan = s.plan(0, &d).unwrap();
    // do the first two steps by hand, as a crashed apply would have
    let mach = s.machine();
    let g = GpuRef::Uuid(plan.uuid.clone());
    for st in &plan.steps[..2] {
        mach.perform(&g, st).unwrap();
    }
    let lock = s.journal.lock().unwrap();
    let mut entry = mig_apply::journal::GpuEntry {
        uuid: plan.uuid.clone(),
        index: 0,
        model: plan.model.clone(),
        before: plan.before.clone(),
        after: plan.after.clone(),
        phase: mig_apply::journal::Phase::Applying,
        steps: plan.steps.clone(),
        done: 2,
        plan_done: 0,
        plan_len: plan.steps.len(),
        error: None,
    };
    s.journal
        .write(
            &lock,
            &mig_apply::journal::Journal::new("test", vec![entry.clone()]),
        )
        .unwrap();
    drop(lock);
    assert!(mig_apply::apply(&mach, &s.journal, "x", std::slice::from_ref(&plan), &Quiet).is_err());
    let out = mig_apply::recover(&mach, &s.journal, &Quiet).unwrap();
    assert_eq!(
        out[0].outcome,
        Outcome::Finished {
            done: 2,
            of: plan.steps.len()
        }
    );
    assert_eq!(MigState::of(&mach.snapshot(&g).unwrap()), plan.after);
    assert!(s.journal.load().unwrap().is_none());
    // a failed one is rolled back instead
    let lock = s.journal.lock().unwrap();
    entry.before = plan.after.clone();
    entry.after = plan.before.clone();
    entry.error = Some("boom".into());
    entry.phase = mig_apply::journal::Phase::RollingBack;
    s.journal
        .write(
            &lock,
            &mig_apply::journal::Journal::new("test", vec![entry]),
        )
        .unwrap();
    drop(lock);
    let out = mig_apply::recover(&mach, &s.journal, &Quiet).unwrap();
    assert!(
        matches!(out[0].outcome, Outcome::Restored { .. }),
        "{:?}",
        out
    );
    assert_eq!(MigState::of(&mach.snapshot(&g).unwrap()), plan.after);
}
