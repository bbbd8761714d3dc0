//! The simulated machine persists exactly what the engine decides: random
//! operation sequences through the `Backend` interface give the same answers
//! and the same layout as the engine in memory, and a fresh process reading
//! the state file sees that layout.

use mig_model::backend::{GpuRef, LayoutControl, ModeControl};
use mig_model::catalog;
use mig_model::engine::{self, Layout};
use mig_model::{CiProfileId, GiProfileId};
use mig_sim::SimMachine;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    CreateGi(u8),
    DestroyGi(u8),
    CreateCi(u8, u8),
    DestroyCi(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u8>().prop_map(Op::CreateGi),
        1 => any::<u8>().prop_map(Op::DestroyGi),
        3 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::CreateCi(a, b)),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::DestroyCi(a, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn state_survives_reload(model in 0usize..19, ops in prop::collection::vec(op(), 1..25)) {
        let m = &catalog::all()[model % catalog::all().len()];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let sim = SimMachine::open(&path).unwrap();
        let g0 = GpuRef::Index(0);
        sim.init(&[(m.slug.clone(), false)]).unwrap();
        sim.set_mig_mode(&g0, true).unwrap();
        let mut mem = Layout::new(false);
        for o in &ops {
            let (got, want) = match *o {
                Op::CreateGi(p) => {
                    let id = GiProfileId(m.gi_profiles[p as usize % m.gi_profiles.len()].id);
                    (sim.create_gpu_instance(&g0, id, None).map(|g| g.id.0), mem.create_gi(m, id, None).map(|g| g.0))
                }
                Op::DestroyGi(k) if !mem.gpu_instances.is_empty() => {
                    let id = mem.gpu_instances[k as usize % mem.gpu_instances.len()].id;
                    (sim.destroy_gpu_instance(&g0, id).map(|_| 0), mem.destroy_gi(id).map(|_| 0))
                }
                Op::CreateCi(k, c) if !mem.gpu_instances.is_empty() => {
                    let gi = mem.gpu_instances[k as usize % mem.gpu_instances.len()].clone();
                    let gp = engine::gi_profile(m, gi.profile_id).unwrap();
                    let cid = CiProfileId(gp.ci_profiles[c as usize % gp.ci_profiles.len()].id);
                    (sim.create_compute_instance(&g0, gi.id, cid, None).map(|c| c.id.0), mem.create_ci(m, gi.id, cid, None).map(|c| c.0))
                }
                Op::DestroyCi(k, j) if !mem.gpu_instances.is_empty() => {
                    let gi = mem.gpu_instances[k as usize % mem.gpu_instances.len()].clone();
                    if gi.compute_instances.is_empty() { continue; }
                    let ci = gi.compute_instances[j as usize % gi.compute_instances.len()].id;
                    (sim.destroy_compute_instance(&g0, gi.id, ci).map(|_| 0), mem.destroy_ci(gi.id, ci).map(|_| 0))
                }
                _ => continue,
            };
            // the same outcome, and a failure carries the engine's NVML code
            prop_assert_eq!(got.map_err(|e| e.nvml_code()), want.map_err(Some));
        }
        // a new handle on the same file, as another process would open it
        let reread = SimMachine::open(&path).unwrap().state().unwrap();
        prop_assert_eq!(&reread.gpus[0].layout, &mem);
    }
}

/// Proves one backend can reconfigure two GPUs from two threads at once
/// without losing an update: each thread fills its own GPU with 1g GPU
/// instances and a compute instance in each, and afterwards the state file
/// holds every one of them (the file lock serialises the writes).
#[test]
fn two_gpus_from_two_threads_lose_nothing() {
    use mig_model::backend::Inventory;
    let dir = tempfile::tempdir().unwrap();
    let sim = SimMachine::open(dir.path().join("state.json")).unwrap();
    sim.init(&[
        ("a100-sxm4-40gb".into(), false),
        ("h100-sxm5-80gb".into(), false),
    ])
    .unwrap();
    std::thread::scope(|s| {
        for gpu in [GpuRef::Index(0), GpuRef::Index(1)] {
            let sim = &sim;
            s.spawn(move || {
                sim.set_mig_mode(&gpu, true).unwrap();
                for _ in 0..7 {
                    let gi = sim
                        .create_gpu_instance(&gpu, GiProfileId(19), None)
                        .unwrap();
                    sim.create_compute_instance(&gpu, gi.id, CiProfileId(0), None)
                        .unwrap();
                }
            });
        }
    });
    for gpu in [GpuRef::Index(0), GpuRef::Index(1)] {
        let snap = sim.snapshot(&gpu).unwrap();
        assert_eq!(snap.layout.gpu_instances.len(), 7, "{gpu}");
        assert_eq!(snap.mig_devices.len(), 7, "{gpu}");
    }
}

/// Proves a GPU can be addressed by its board UUID as well as its index, and
/// an unknown UUID is a clear error naming it.
#[test]
fn gpus_are_addressed_by_uuid() {
    use mig_model::backend::Inventory;
    let dir = tempfile::tempdir().unwrap();
    let sim = SimMachine::open(dir.path().join("state.json")).unwrap();
    sim.init(&[("a30-24gb".into(), false), ("a30-24gb".into(), false)])
        .unwrap();
    let uuid = sim.identity(&GpuRef::Index(1)).unwrap().uuid;
    let by_uuid = GpuRef::Uuid(uuid.to_lowercase());
    sim.set_mig_mode(&by_uuid, true).unwrap();
    assert!(sim.mig_mode(&GpuRef::Index(1)).unwrap().current);
    assert!(!sim.mig_mode(&GpuRef::Index(0)).unwrap().current);
    let e = sim
        .set_mig_mode(&GpuRef::Uuid("GPU-nope".into()), true)
        .unwrap_err();
    assert!(e.to_string().contains("GPU-nope"), "{e}");
}
