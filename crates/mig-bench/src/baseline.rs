//! A re-implementation of mig-parted's apply procedure, for benchmarking
//! migctl against it on equal terms (same backend, same NVML library, calls
//! counted by the fake library's `MIGCTL_NVML_LOG`). It is written from the
//! description in `../shared/research/mig-parted.md` §3 (mig-parted v0.15.0,
//! `cmd/nvidia-mig-parted/apply`, `pkg/mig/config/config.go`), not from its
//! code, and is not a way to configure GPUs: use `mig_apply::apply`.
//!
//! The procedure, per selected GPU:
//! 1. mode (`ApplyMigMode`): if the mode is wrong, destroy every instance,
//!    set the mode, and reset when it stays pending;
//! 2. `AssertMigConfig`: read the whole layout; if the per-GPU profile
//!    counts already match, stop;
//! 3. `SetMigConfig`: flatten the demand into one (GI profile, CI profile)
//!    item per CI, sorted largest first (GI slices, then CI slices, then
//!    name); for each distinct permutation of it, in turn: read the layout,
//!    destroy everything (CIs, then GIs), re-read, then create in order
//!    without placements, first trying to add a CI to the previous GI when
//!    its profile is the same (`reuseGI`), else a new GI; the first
//!    permutation that creates everything wins;
//! 4. if none does, destroy everything and fail ("all orderings failed").

use mig_config::GpuDemand;
use mig_model::backend::{Backend, BackendError, GpuRef};
use mig_model::engine;
use mig_model::{CiProfileId, GiProfileId, GpuInstanceId, GpuModel};
use std::collections::BTreeMap;

/// How the baseline ended on one GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineRun {
    /// Permutations tried (0 when the counts already matched).
    pub attempts: usize,
    /// Whether the layout was reached.
    pub ok: bool,
}

/// One flattened item: a CI of `ci` inside a GI of `gi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Item {
    gi: GiProfileId,
    ci: CiProfileId,
}

/// Profile counts of the current layout as mig-parted compares them:
/// (GI profile, CI profile) -> number of CIs; a GI without CIs counts as
/// its GI profile with no CI.
fn counts_now(
    b: &dyn Backend,
    gpu: &GpuRef,
) -> Result<BTreeMap<(u32, Option<u32>), usize>, BackendError> {
    let mut out = BTreeMap::new();
    for gi in b.gpu_instances(gpu)? {
        let cis = b.compute_instances(gpu, gi.id)?;
        if cis.is_empty() {
            *out.entry((gi.profile.id, None)).or_default() += 1;
        }
        for c in cis {
            *out.entry((gi.profile.id, Some(c.profile.id))).or_default() += 1;
        }
    }
    Ok(out)
}

fn counts_wanted(items: &[Item]) -> BTreeMap<(u32, Option<u32>), usize> {
    let mut out = BTreeMap::new();
    for i in items {
        *out.entry((i.gi.0, Some(i.ci.0))).or_default() += 1;
    }
    out
}

/// `ClearMigConfig`: every CI of every GI, then the GI.
fn clear(b: &dyn Backend, gpu: &GpuRef) -> Result<(), BackendError> {
    for gi in b.gpu_instances(gpu)? {
        for c in b.compute_instances(gpu, gi.id)? {
            b.destroy_compute_instance(gpu, gi.id, c.id)?;
        }
        b.destroy_gpu_instance(gpu, gi.id)?;
    }
    Ok(())
}

/// The next distinct permutation in lexicographic order (false at the end).
fn next_permutation<T: Ord>(v: &mut [T]) -> bool {
    let Some(i) = (1..v.len()).rev().find(|&i| v[i - 1] < v[i]) else {
        return false;
    };
    let j = (i..v.len()).rev().find(|&j| v[j] > v[i - 1]).unwrap_or(i);
    v.swap(i - 1, j);
    v[i..].reverse();
    true
}

/// One creation attempt in `order`; `Err` on the first failure.
fn create_all(b: &dyn Backend, gpu: &GpuRef, order: &[Item]) -> Result<(), BackendError> {
    let mut last: Option<(GiProfileId, GpuInstanceId)> = None;
    for it in order {
        if let Some((_, gi)) = last.filter(|(p, _)| *p == it.gi) {
            if b.create_compute_instance(gpu, gi, it.ci, None).is_ok() {
                continue;
            }
        }
        let gi = b.create_gpu_instance(gpu, it.gi, None)?;
        b.create_compute_instance(gpu, gi.id, it.ci, None)?;
        last = Some((it.gi, gi.id));
    }
    Ok(())
}

/// Run the baseline procedure on GPU `gpu` (of catalog model `model`) for
/// `demand`. Backend errors other than creation failures end it.
pub fn apply_like_mig_parted(
    b: &dyn Backend,
    gpu: &GpuRef,
    model: &GpuModel,
    demand: &GpuDemand,
) -> Result<BaselineRun, BackendError> {
    let mode = b.mig_mode(gpu)?;
    if mode.current != demand.mig_enabled || mode.pending != demand.mig_enabled {
        if mode.current {
            clear(b, gpu)?;
        }
        if b.set_mig_mode(gpu, demand.mig_enabled)?.is_some() {
            b.reset(gpu)?;
        }
    }
    if !demand.mig_enabled {
        return Ok(BaselineRun {
            attempts: 0,
            ok: true,
        });
    }
    let key = |i: &Item| {
        let gp = engine::gi_profile(model, i.gi).ok();
        let g = gp.map_or(0, |p| p.slices);
        let c = gp
            .and_then(|p| engine::ci_profile(p, i.ci).ok())
            .map_or(0, |c| c.slices);
        let name = gp.map(|p| p.name.clone()).unwrap_or_default();
        (std::cmp::Reverse(g), std::cmp::Reverse(c), name, i.gi, i.ci)
    };
    let mut items: Vec<Item> = demand
        .gpu_instances
        .iter()
        .flat_map(|g| {
            g.compute_instances.iter().map(move |c| Item {
                gi: g.profile,
                ci: c.profile,
            })
        })
        .collect();
    if counts_now(b, gpu)? == counts_wanted(&items) {
        return Ok(BaselineRun {
            attempts: 0,
            ok: true,
        });
    }
    // Permutations are walked over ranks in the sorted order (equal items
    // share a rank, so no order is tried twice), starting largest-first.
    items.sort_by_key(key);
    let mut ranks: Vec<usize> = (0..items.len())
        .map(|i| items.iter().position(|x| *x == items[i]).unwrap_or(i))
        .collect();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let order: Vec<Item> = ranks.iter().map(|&r| items[r]).collect();
        if !counts_now(b, gpu)?.is_empty() {
            clear(b, gpu)?;
            counts_now(b, gpu)?;
        }
        if create_all(b, gpu, &order).is_ok() {
            return Ok(BaselineRun { attempts, ok: true });
        }
        if !next_permutation(&mut ranks) {
            break;
        }
    }
    clear(b, gpu)?;
    Ok(BaselineRun {
        attempts,
        ok: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves distinct permutations of a multiset are each visited once:
    /// 4!/(2!) = 12 for a balanced A100 demand (mig-parted.md §3.4).
    #[test]
    fn distinct_permutations() {
        let mut v = vec![0, 0, 2, 3];
        let mut n = 1;
        while next_permutation(&mut v) {
            n += 1;
        }
        assert_eq!(n, 12);
    }
}
