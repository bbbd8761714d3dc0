//! Property tests over random layouts of every catalog board: export, parse,
//! validate and assert agree, and the fit check is sound and complete on
//! demands that are known to fit.

use mig_apply::export;
use mig_apply::{assert_selection, layout_matches};
use mig_config::Spec;
use mig_config::{catalog_identity, check_fit, validate};
use mig_model::backend::MigMode;
use mig_model::{catalog, CiProfileId, GiProfileId, GpuSnapshot, Layout};
use proptest::prelude::*;

/// A layout built by random creates through the engine (failures skipped):
/// each op picks a GI profile and how many CIs of which CI profile to add.
fn layout_from(model: &catalog::GpuModel, ops: &[(u8, u8, u8)]) -> Layout {
    let mut l = Layout::new(false);
    for &(gp, cp, n) in ops {
        let p = &model.gi_profiles[gp as usize % model.gi_profiles.len()];
        let Ok(id) = l.create_gi(model, GiProfileId(p.id), None) else {
            continue;
        };
        let c = &p.ci_profiles[cp as usize % p.ci_profiles.len()];
        for _ in 0..=(n % 3) {
            let _ = l.create_ci(model, id, CiProfileId(c.id), None);
        }
        // Real layouts mig-parted or migctl leave have a CI in every GI.
        if l.gpu_instance(id)
            .is_ok_and(|g| g.compute_instances.is_empty())
        {
            let _ = l.destroy_gi(id);
        }
    }
    l
}

fn snapshot(index: u32, model: &catalog::GpuModel, layout: Layout) -> GpuSnapshot {
    GpuSnapshot {
        identity: catalog_identity(index, model),
        mode: MigMode {
            current: true,
            pending: true,
        },
        layout,
        mig_devices: Vec::new(),
        processes: Vec::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Proves, for random layouts on random boards (two GPUs), that the
    /// exported config (plain and with placements) parses back to itself,
    /// validates on that machine, and asserts there.
    #[test]
    fn export_validates_and_asserts(
        m in 0usize..19,
        ops0 in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 0..9),
        ops1 in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 0..9),
    ) {
        let model = &catalog::all()[m % catalog::all().len()];
        let snaps = vec![
            snapshot(0, model, layout_from(model, &ops0)),
            snapshot(1, model, layout_from(model, &ops1)),
        ];
        let ids: Vec<_> = snaps.iter().map(|s| s.identity.clone()).collect();
        for placements in [false, true] {
            let spec = export(&snaps, "current", placements);
            let text = spec.to_yaml();
            let back = Spec::parse(&text, "export").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert_eq!(&back, &spec);
            let sel = validate(&back.configs[0], &ids).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert_eq!(assert_selection(&sel, &snaps, false), Ok(()), "{}", text);
            let json = serde_json::to_string(&spec.to_json()).unwrap();
            prop_assert_eq!(Spec::parse(&json, "json").unwrap(), spec);
        }
    }

    /// Consistency check (the engine builds the layouts and judges the
    /// answer): the demand of a layout that exists (its GIs and CIs,
    /// unpinned) is found to fit by config validation's search, and the
    /// layout returned passes the engine's own validation and holds exactly
    /// that demand. The search is anchored apart in mig-model's
    /// `layout_brute_force.rs`.
    #[test]
    fn fit_check_finds_existing_layouts_consistency_check(
        m in 0usize..19,
        ops in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 0..9),
    ) {
        let model = &catalog::all()[m % catalog::all().len()];
        let l = layout_from(model, &ops);
        let demand = mig_config::GpuDemand {
            mig_enabled: true,
            gpu_instances: l
                .gpu_instances
                .iter()
                .map(|g| mig_config::GiDemand {
                    profile: g.profile_id,
                    placement: None,
                    compute_instances: g
                        .compute_instances
                        .iter()
                        .map(|c| mig_config::CiDemand { profile: c.profile_id, placement: None })
                        .collect(),
                })
                .collect(),
        };
        let fit = check_fit(model, false, &demand).map_err(|e| TestCaseError::fail(format!("{}: {e}", model.slug)))?;
        prop_assert!(fit.validate(model).is_ok());
        prop_assert!(layout_matches(Some(model), &fit, &demand));
        prop_assert_eq!(fit.gpu_instances.len(), l.gpu_instances.len());
    }
}
