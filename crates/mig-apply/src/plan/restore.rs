//! Exact restores: the steps from a GPU's state to a recorded one, IDs
//! included, for rolling back and for finishing an interrupted apply.

use super::step::{destroy_all, next_ci_id, simulate, MigState, Step};
use mig_model::engine::{self, ci_placements, Layout};
use mig_model::{CiProfileId, ComputeInstanceId, GpuInstanceId, GpuModel, NvmlError};

/// Why an exact state cannot be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    #[error("step {step:?} fails in simulation with {err}")]
    Step { step: Step, err: NvmlError },
    #[error(
        "the recorded layout cannot be rebuilt exactly (IDs or placements differ after the steps)"
    )]
    Mismatch,
}

/// Steps from `cur` to exactly `want` (mode and layout, IDs included):
/// instances identical in both stay; the rest are destroyed (CIs first) and
/// the missing ones created, GIs by placement and each GI's CIs in ascending
/// ID order, so the lowest-free rule hands out exactly the recorded IDs.
pub fn plan_restore(
    model: &GpuModel,
    cur: &MigState,
    want: &MigState,
) -> Result<Vec<Step>, RestoreError> {
    let mut st = cur.clone();
    let mut steps = Vec::new();
    let mut push = |st: &mut MigState, step: Step| {
        simulate(st, model, &step).map_err(|err| RestoreError::Step {
            step: step.clone(),
            err,
        })?;
        steps.push(step);
        Ok::<(), RestoreError>(())
    };
    if st.mig_current != want.mig_current || st.mig_pending != want.mig_pending {
        // Disabling needs an empty layout and a reset clears it: start from
        // nothing whenever either can happen.
        if st.mig_current != want.mig_current || !want.mig_pending {
            for s in destroy_all(&st.layout) {
                push(&mut st, s)?;
            }
        }
        if st.mig_pending != want.mig_current {
            push(
                &mut st,
                Step::SetMigMode {
                    enable: want.mig_current,
                },
            )?;
        }
        if st.mig_current != want.mig_current {
            push(&mut st, Step::Reset)?;
        }
        if st.mig_pending != want.mig_pending {
            push(
                &mut st,
                Step::SetMigMode {
                    enable: want.mig_pending,
                },
            )?;
        }
    }
    if st.mig_current {
        let same_gi = |a: &engine::GpuInstance, b: &engine::GpuInstance| {
            a.id == b.id && a.profile_id == b.profile_id && a.placement == b.placement
        };
        let cur_l = st.layout.clone();
        let mut gi_destroys = Vec::new();
        for g in &cur_l.gpu_instances {
            let w = want.layout.gpu_instances.iter().find(|w| same_gi(g, w));
            for c in &g.compute_instances {
                if !w.is_some_and(|w| w.compute_instances.contains(c)) {
                    push(&mut st, Step::DestroyCi { gi: g.id, ci: c.id })?;
                }
            }
            if w.is_none() {
                gi_destroys.push(Step::DestroyGi { gi: g.id });
            }
        }
        for s in gi_destroys {
            push(&mut st, s)?;
        }
        for w in &want.layout.gpu_instances {
            if !cur_l.gpu_instances.iter().any(|g| same_gi(g, w)) {
                push(
                    &mut st,
                    Step::CreateGi {
                        profile: w.profile_id,
                        placement: w.placement,
                        id: w.id,
                    },
                )?;
            }
            let have: Vec<ComputeInstanceId> = st
                .layout
                .gpu_instance(w.id)
                .map(|g| g.compute_instances.iter().map(|c| c.id).collect())
                .unwrap_or_default();
            let missing: Vec<&engine::ComputeInstance> = w
                .compute_instances
                .iter()
                .filter(|c| !have.contains(&c.id))
                .collect();
            let mut fillers = Vec::new();
            for (k, c) in missing.iter().enumerate() {
                // The lowest free ID is the one a create gets; where the
                // recorded layout has a hole below this CI's ID, a filler
                // takes the hole until every CI is back (placed clear of the
                // CIs still to come), then goes.
                while next_ci_id(&st.layout, w.id) < c.id {
                    let filler = filler_ci(model, &st.layout, w.id, &missing[k..])
                        .ok_or(RestoreError::Mismatch)?;
                    fillers.push(filler.id());
                    push(&mut st, filler)?;
                }
                push(
                    &mut st,
                    Step::CreateCi {
                        gi: w.id,
                        profile: c.profile_id,
                        placement: c.placement,
                        id: c.id,
                    },
                )?;
            }
            for ci in fillers.into_iter().flatten() {
                push(&mut st, Step::DestroyCi { gi: w.id, ci })?;
            }
        }
    }
    if st != *want {
        return Err(RestoreError::Mismatch);
    }
    Ok(steps)
}

/// A CI that fits in GI `gi` now, clear of the placements of `later`.
fn filler_ci(
    model: &GpuModel,
    layout: &Layout,
    gi: GpuInstanceId,
    later: &[&engine::ComputeInstance],
) -> Option<Step> {
    let g = layout.gpu_instance(gi).ok()?;
    let gp = engine::gi_profile(model, g.profile_id).ok()?;
    gp.ci_profiles.iter().find_map(|cp| {
        ci_placements(cp)
            .filter(|p| !later.iter().any(|c| c.placement.overlaps(*p)))
            .find(|p| layout.check_ci(model, gi, cp, *p).is_ok())
            .map(|placement| Step::CreateCi {
                gi,
                profile: CiProfileId(cp.id),
                placement,
                id: next_ci_id(layout, gi),
            })
    })
}
