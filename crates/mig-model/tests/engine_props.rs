//! Property tests of the MIG engine over random operation sequences on every
//! catalog model: no two GPU instances overlap, IDs follow the rules, and the
//! remaining capacity NVML would report equals what can really be created.

use mig_model::catalog::{self, GpuModel};
use mig_model::engine::{self, Layout, MAX_COMPUTE_INSTANCES};
use mig_model::{CiProfileId, ComputeInstanceId, GiProfileId, GpuInstanceId, NvmlError};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Create a GI of profile `p % n`, at placement `pl % len` when `explicit`.
    CreateGi {
        p: u8,
        explicit: bool,
        pl: u8,
    },
    DestroyGi {
        k: u8,
    },
    /// Create a CI in GI `k % len` of CI profile `c % n`.
    CreateCi {
        k: u8,
        c: u8,
        explicit: bool,
        pl: u8,
    },
    DestroyCi {
        k: u8,
        j: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u8>(), any::<bool>(), any::<u8>()).prop_map(|(p, explicit, pl)| Op::CreateGi { p, explicit, pl }),
        1 => any::<u8>().prop_map(|k| Op::DestroyGi { k }),
        4 => (any::<u8>(), any::<u8>(), any::<bool>(), any::<u8>()).prop_map(|(k, c, explicit, pl)| Op::CreateCi { k, c, explicit, pl }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(k, j)| Op::DestroyCi { k, j }),
    ]
}

/// Apply one operation; returns what the engine answered.
fn apply(m: &GpuModel, l: &mut Layout, op: &Op) -> Result<(), NvmlError> {
    match *op {
        Op::CreateGi { p, explicit, pl } => {
            let prof = &m.gi_profiles[p as usize % m.gi_profiles.len()];
            let placement = explicit.then(|| {
                let ps: Vec<_> = engine::gi_placements(prof).collect();
                ps[pl as usize % ps.len()]
            });
            let free_before = l.gi_remaining(m, prof);
            let r = l.create_gi(m, GiProfileId(prof.id), placement);
            if placement.is_none() {
                // without a placement, creation succeeds exactly when capacity remains
                assert_eq!(
                    r.is_ok(),
                    free_before > 0,
                    "{}: {} default create",
                    m.slug,
                    prof.name
                );
            }
            if let Ok(id) = r {
                let g = l.gpu_instance(id).unwrap();
                assert_eq!(
                    id,
                    engine::gi_id(m, l.mirrored, g.placement),
                    "GI ID = swizzle ID"
                );
                assert_eq!(
                    l.gi_remaining(m, prof),
                    free_before - 1,
                    "capacity drops by one"
                );
            }
            r.map(|_| ())
        }
        Op::DestroyGi { k } => {
            if l.gpu_instances.is_empty() {
                return Ok(());
            }
            let id = l.gpu_instances[k as usize % l.gpu_instances.len()].id;
            let had_cis = !l.gpu_instance(id).unwrap().compute_instances.is_empty();
            let r = l.destroy_gi(id).map(|_| ());
            assert_eq!(r.is_err(), had_cis, "destroying a GI fails iff it has CIs");
            r
        }
        Op::CreateCi { k, c, explicit, pl } => {
            if l.gpu_instances.is_empty() {
                return Ok(());
            }
            let gi = l.gpu_instances[k as usize % l.gpu_instances.len()].clone();
            let gp = engine::gi_profile(m, gi.profile_id).unwrap();
            let cp = &gp.ci_profiles[c as usize % gp.ci_profiles.len()];
            let placement = explicit.then(|| {
                let ps: Vec<_> = engine::ci_placements(cp).collect();
                ps[pl as usize % ps.len()]
            });
            let lowest_free = (0..MAX_COMPUTE_INSTANCES)
                .map(ComputeInstanceId)
                .find(|id| !gi.compute_instances.iter().any(|x| x.id == *id));
            let free_before = l.ci_remaining(m, gi.id, cp);
            let r = l.create_ci(m, gi.id, CiProfileId(cp.id), placement);
            if placement.is_none() {
                assert_eq!(r.is_ok(), free_before > 0, "{}: CI default create", m.slug);
            }
            if let Ok(id) = r {
                assert_eq!(Some(id), lowest_free, "CI ID = lowest free");
                assert_eq!(l.ci_remaining(m, gi.id, cp), free_before - 1);
            }
            r.map(|_| ())
        }
        Op::DestroyCi { k, j } => {
            if l.gpu_instances.is_empty() {
                return Ok(());
            }
            let gi = &l.gpu_instances[k as usize % l.gpu_instances.len()];
            if gi.compute_instances.is_empty() {
                return Ok(());
            }
            let (gid, cid) = (
                gi.id,
                gi.compute_instances[j as usize % gi.compute_instances.len()].id,
            );
            l.destroy_ci(gid, cid).map(|_| ())
        }
    }
}

/// The invariants every reachable layout satisfies (checks of the engine
/// against itself, apart from the overlap check).
fn check(m: &GpuModel, l: &Layout) {
    let gis = &l.gpu_instances;
    for (i, a) in gis.iter().enumerate() {
        for b in &gis[i + 1..] {
            assert!(
                !a.placement.overlaps(b.placement),
                "{}: GIs {} and {} overlap",
                m.slug,
                a.id,
                b.id
            );
            assert_ne!(a.id, b.id);
        }
        assert!(gis[..i].iter().all(|b| b.id < a.id), "GIs sorted by ID");
        for (j, c) in a.compute_instances.iter().enumerate() {
            for d in &a.compute_instances[j + 1..] {
                assert!(!c.placement.overlaps(d.placement), "CIs overlap");
                assert_ne!(c.id, d.id);
            }
        }
    }
    // the layout a state file would hold re-validates from scratch
    l.validate(m).unwrap();
    // remaining capacity = what can still be created, one after another
    for p in &m.gi_profiles {
        let mut trial = l.clone();
        let mut made = 0;
        while trial.create_gi(m, GiProfileId(p.id), None).is_ok() {
            made += 1;
        }
        assert_eq!(
            made,
            l.gi_remaining(m, p),
            "{}: remaining capacity of {}",
            m.slug,
            p.name
        );
    }
    for g in gis {
        let gp = engine::gi_profile(m, g.profile_id).unwrap();
        for c in &gp.ci_profiles {
            let mut trial = l.clone();
            let mut made = 0;
            while trial.create_ci(m, g.id, CiProfileId(c.id), None).is_ok() {
                made += 1;
            }
            assert_eq!(made, l.ci_remaining(m, g.id, c), "{}: CI capacity", m.slug);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Consistency check: every model, mirrored or not, under random
    /// create/destroy sequences, the engine agrees with itself: GI IDs equal
    /// `engine::gi_id` of the placement, remaining capacity equals what
    /// repeated creation reaches, a layout re-validates from scratch, and no
    /// two instances overlap. The engine's answers themselves are anchored
    /// apart: `layout_brute_force.rs` (a brute force over slice masks) and
    /// `anchors.rs` (the guide's GI IDs, the real H100's capacities).
    #[test]
    fn random_sequences_keep_invariants_consistency_check(ops in prop::collection::vec(op(), 1..40), mirrored in any::<bool>()) {
        for m in catalog::all() {
            let mut l = Layout::new(mirrored);
            for o in &ops {
                let _ = apply(m, &mut l, o);
                check(m, &l);
            }
        }
    }
}

/// Consistency check: `engine::gi_id` gives distinct placements of a model
/// distinct IDs in 0..=14 (the swizzle tree's range). Whether the IDs are
/// the driver's is anchored in `anchors.rs` by the guide's `-lgi` captures.
#[test]
fn gi_ids_are_unique_per_placement_consistency_check() {
    for m in catalog::all() {
        for mirrored in [false, true] {
            let mut seen: Vec<(u32, u32, GpuInstanceId)> = Vec::new();
            for p in &m.gi_profiles {
                for pl in engine::gi_placements(p) {
                    let id = engine::gi_id(m, mirrored, pl);
                    assert!(id.0 <= 14, "{}: GI ID {} out of range", m.slug, id);
                    for &(s, z, other) in &seen {
                        assert_eq!((s, z) == (pl.start, pl.size), other == id, "{}", m.slug);
                    }
                    if !seen.iter().any(|&(s, z, _)| (s, z) == (pl.start, pl.size)) {
                        seen.push((pl.start, pl.size, id));
                    }
                }
            }
        }
    }
}

/// Proves a mirrored A100 PCIe board puts a 3g at logical 4:4 in GI 1, as a
/// public capture shows (mig-facts 4.2).
#[test]
fn mirrored_board_swaps_halves() {
    let m = catalog::model("a100-pcie-40gb").unwrap();
    let mut l = Layout::new(true);
    let id = l
        .create_gi(m, GiProfileId(9), Some(mig_model::Placement::new(4, 4)))
        .unwrap();
    assert_eq!(id, GpuInstanceId(1));
}

/// Proves `+me` profiles can exist once (the real H100's `-lgip`: 1g.10gb+me
/// 1/1); on RTX PRO 6000, `+me.all` takes every media engine, so only `-me`
/// profiles fit beside it.
#[test]
fn media_engine_limits() {
    let h100 = catalog::model("h100-sxm5-80gb").unwrap();
    let mut l = Layout::new(false);
    l.create_gi(h100, GiProfileId(20), None).unwrap();
    assert_eq!(
        l.create_gi(h100, GiProfileId(20), None),
        Err(NvmlError::InsufficientResources)
    );

    let rtx = catalog::model("rtx-pro-6000-server").unwrap();
    let by_name = |n: &str| GiProfileId(rtx.gi_profiles.iter().find(|p| p.name == n).unwrap().id);
    let mut l = Layout::new(false);
    l.create_gi(rtx, by_name("1g.24gb+me.all"), None).unwrap();
    assert_eq!(
        l.create_gi(rtx, by_name("1g.24gb"), None),
        Err(NvmlError::InsufficientResources)
    );
    l.create_gi(rtx, by_name("1g.24gb-me"), None).unwrap();
}

/// Proves the maximum MIG device count is what NVML reports on real
/// boards: 7 on A100/H100, 4 on A30.
#[test]
fn max_mig_devices_matches_real_boards() {
    let m = |s: &str| catalog::model(s).map(engine::max_mig_devices);
    assert_eq!(m("a100-sxm4-40gb"), Some(7));
    assert_eq!(m("h100-sxm5-80gb"), Some(7));
    assert_eq!(m("a30-24gb"), Some(4));
}
