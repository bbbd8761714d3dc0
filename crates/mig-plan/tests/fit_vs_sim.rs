//! `fit` against the simulated machine: what it accepts can be created with
//! its explicit placements on a `mig_sim::SimMachine`, what it rejects cannot
//! be created in any placement.

use mig_model::backend::{GpuRef, Inventory, LayoutControl, ModeControl};

/// The simulated GPU of each case.
const G0: GpuRef = GpuRef::Index(0);
use mig_model::engine::{gi_placements, Layout};
use mig_model::{catalog, GiProfile, GiProfileId, GpuModel, Placement};
use mig_plan::ProfileCount;
use mig_plan::{fit, FitResult};
use mig_sim::SimMachine;
use proptest::prelude::*;

fn machine(model: &GpuModel, dir: &tempfile::TempDir) -> SimMachine {
    let sim = SimMachine::open(dir.path().join("state.json")).unwrap();
    sim.init(&[(model.slug.clone(), false)]).unwrap();
    sim.set_mig_mode(&G0, true).unwrap();
    if !sim.devices().unwrap()[0].mig.current {
        sim.reset(&G0).unwrap();
    }
    sim
}

/// Whether the simulator can hold all of `todo[i..]` beside what it holds,
/// trying every placement (creating and destroying GPU instances).
fn sim_can_place(sim: &SimMachine, todo: &[&GiProfile], i: usize, after: Option<u32>) -> bool {
    if i == todo.len() {
        return true;
    }
    let p = todo[i];
    for pl in gi_placements(p) {
        if after.is_some_and(|a| pl.start <= a) {
            continue;
        }
        if let Ok(gi) = sim.create_gpu_instance(&G0, GiProfileId(p.id), Some(pl)) {
            let next = match todo.get(i + 1) {
                Some(q) if q.id == p.id => Some(pl.start),
                _ => None,
            };
            let ok = sim_can_place(sim, todo, i + 1, next);
            sim.destroy_gpu_instance(&G0, gi.id).unwrap();
            if ok {
                return true;
            }
        }
    }
    false
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Consistency check (fit and the simulator share the engine): on
    /// random models, random current layouts and random requests, an
    /// accepted request is created on the simulator with fit's placements
    /// (same GI IDs), and for a rejected one no choice of placements lets
    /// the simulator create it: the search misses nothing the engine
    /// allows. The engine's rules are anchored apart in mig-model's
    /// `layout_brute_force.rs`.
    #[test]
    fn fit_agrees_with_the_simulator_consistency_check(
        m in 0..catalog::all().len(),
        base_ops in proptest::collection::vec((0usize..16, 0usize..8), 0..3),
        want in proptest::collection::vec((0usize..16, 1u32..4), 1..4),
    ) {
        let model = &catalog::all()[m];
        let dir = tempfile::tempdir().unwrap();
        let sim = machine(model, &dir);
        let mut base = Layout::new(false);
        for (p, s) in base_ops {
            let p = &model.gi_profiles[p % model.gi_profiles.len()];
            let starts = &p.placement_starts;
            let pl = Placement::new(starts[s % starts.len()], p.placement_size);
            if base.create_gi(model, GiProfileId(p.id), Some(pl)).is_ok() {
                sim.create_gpu_instance(&G0, GiProfileId(p.id), Some(pl)).unwrap();
            }
        }
        let mut req: Vec<ProfileCount> = Vec::new();
        for (p, n) in want {
            let p = &model.gi_profiles[p % model.gi_profiles.len()];
            match req.iter_mut().find(|r| r.profile.id == p.id) {
                Some(r) => r.count += n,
                None => req.push(ProfileCount { profile: p, count: n }),
            }
        }
        match fit(model, &base, &req) {
            FitResult::Fits { added, .. } => {
                for (p, pl, id) in added {
                    let gi = sim.create_gpu_instance(&G0, p, Some(pl));
                    prop_assert!(gi.is_ok(), "{}: sim refused {:?} at {pl}: {gi:?}", model.slug, p);
                    prop_assert_eq!(gi.unwrap().id, id);
                }
            }
            FitResult::DoesNotFit { reason, .. } => {
                let mut todo: Vec<&GiProfile> = req
                    .iter()
                    .flat_map(|r| std::iter::repeat_n(r.profile, r.count as usize))
                    .collect();
                todo.sort_by_key(|p| (std::cmp::Reverse(p.placement_size), p.id));
                prop_assert!(!sim_can_place(&sim, &todo, 0, None), "{}: rejected ({reason}) but the simulator holds it", model.slug);
            }
        }
    }
}
