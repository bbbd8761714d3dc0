//! The simulated machine persists exactly what the engine decides: random
//! operation sequences through the `Backend` interface give the same answers
//! and the same layout as the engine in memory, and a fresh process reading
//! the state file sees that layout.

use mig_model::backend::Backend;
use mig_model::catalog;
use mig_model::engine::{self, Layout};
use mig_model::{BackendError, CiProfileId, GiProfileId};
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
        let mut sim = SimMachine::open(&path).unwrap();
        sim.init(&[(m.slug.clone(), false)]).unwrap();
        sim.set_mig_mode(0, true).unwrap();
        let mut mem = Layout::new(false);
        for o in &ops {
            let (got, want) = match *o {
                Op::CreateGi(p) => {
                    let id = GiProfileId(m.gi_profiles[p as usize % m.gi_profiles.len()].id);
                    (sim.create_gpu_instance(0, id, None).map(|g| g.id.0), mem.create_gi(m, id, None).map(|g| g.0))
                }
                Op::DestroyGi(k) if !mem.gpu_instances.is_empty() => {
                    let id = mem.gpu_instances[k as usize % mem.gpu_instances.len()].id;
                    (sim.destroy_gpu_instance(0, id).map(|_| 0), mem.destroy_gi(id).map(|_| 0))
                }
                Op::CreateCi(k, c) if !mem.gpu_instances.is_empty() => {
                    let gi = mem.gpu_instances[k as usize % mem.gpu_instances.len()].clone();
                    let gp = engine::gi_profile(m, gi.profile_id).unwrap();
                    let cid = CiProfileId(gp.ci_profiles[c as usize % gp.ci_profiles.len()].id);
                    (sim.create_compute_instance(0, gi.id, cid, None).map(|c| c.id.0), mem.create_ci(m, gi.id, cid, None).map(|c| c.0))
                }
                Op::DestroyCi(k, j) if !mem.gpu_instances.is_empty() => {
                    let gi = mem.gpu_instances[k as usize % mem.gpu_instances.len()].clone();
                    if gi.compute_instances.is_empty() { continue; }
                    let ci = gi.compute_instances[j as usize % gi.compute_instances.len()].id;
                    (sim.destroy_compute_instance(0, gi.id, ci).map(|_| 0), mem.destroy_ci(gi.id, ci).map(|_| 0))
                }
                _ => continue,
            };
            prop_assert_eq!(got, want.map_err(BackendError::Nvml));
        }
        // a new handle on the same file, as another process would open it
        let reread = SimMachine::open(&path).unwrap().snapshot().unwrap();
        prop_assert_eq!(&reread.gpus[0].layout, &mem);
    }
}
