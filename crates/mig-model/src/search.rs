//! The one placement search and the one "why it does not fit" explainer.
//!
//! [`place`] puts a set of wanted GPU instances (each a profile, optionally
//! pinned to a placement) beside what a GPU holds, creating them through
//! [`Layout::create_gi`] so the engine stays the only judge: what the search
//! accepts can be created in the order it gives, and what it refuses cannot
//! be created in any order. When nothing fits, [`explain`] says why as a
//! [`Refusal`]: a placement the profile does not have, an instance count, an
//! engine kind that runs out, or the placements that overlap.
//!
//! Instance counts and engines are totals (a GI takes its profile's count and
//! engines whatever its placement), so they are decided by adding up; what is
//! left is overlap, found by the search itself.

use crate::catalog::{GiProfile, GpuModel};
use crate::engine::{
    board_name, engine_counts, full_profile, gi_placements, gi_profile, memory_slices, slice_unit,
    Layout,
};
use crate::refusal::{Refusal, ENGINE_NAMES};

use crate::types::{GiProfileId, Placement};

/// One GPU instance asked for: its profile, and its placement when pinned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Want<'m> {
    pub profile: &'m GiProfile,
    pub placement: Option<Placement>,
}

impl<'m> Want<'m> {
    /// An instance of `profile` wherever it fits.
    pub fn any(profile: &'m GiProfile) -> Self {
        Want {
            profile,
            placement: None,
        }
    }
}

/// A successful search: the layout (`base` plus the wanted instances) and
/// where each wanted instance went, in the order of `want`.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub layout: Layout,
    pub placements: Vec<Placement>,
}

/// Search order: pinned first, then the largest span, then the fewest
/// placements, then the profile ID.
fn order(want: &[Want]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..want.len()).collect();
    order.sort_by_key(|&i| {
        let p = want[i].profile;
        (
            want[i].placement.is_none(),
            std::cmp::Reverse(p.placement_size),
            p.placement_starts.len(),
            p.id,
        )
    });
    order
}

/// Backtracking over placements of `want[order[k..]]`; identical unpinned
/// profiles take increasing starts (their order does not matter).
fn go(
    model: &GpuModel,
    want: &[Want],
    order: &[usize],
    k: usize,
    layout: &mut Layout,
    placed: &mut [Option<Placement>],
) -> bool {
    let Some(&i) = order.get(k) else {
        return true;
    };
    let p = want[i].profile;
    let floor = match want[i].placement {
        Some(_) => None,
        None => order[..k]
            .iter()
            .rev()
            .find(|&&j| want[j].profile.id == p.id && want[j].placement.is_none())
            .and_then(|&j| placed[j])
            .map(|q| q.start),
    };
    let candidates: Vec<Placement> = match want[i].placement {
        Some(pl) => vec![pl],
        None => gi_placements(p)
            .filter(|q| floor.is_none_or(|f| q.start > f))
            .collect(),
    };
    for cand in candidates {
        if layout.check_gi(model, p, cand).is_err() {
            continue;
        }
        let Ok(id) = layout.create_gi(model, GiProfileId(p.id), Some(cand)) else {
            continue;
        };
        placed[i] = Some(cand);
        if go(model, want, order, k + 1, layout, placed) {
            return true;
        }
        placed[i] = None;
        let _ = layout.destroy_gi(id);
    }
    false
}

/// Place `want[order]` beside `base`.
fn place_in_order(
    model: &GpuModel,
    base: &Layout,
    want: &[Want],
    order: &[usize],
) -> Option<(Layout, Vec<Option<Placement>>)> {
    let mut layout = base.clone();
    let mut placed = vec![None; want.len()];
    go(model, want, order, 0, &mut layout, &mut placed).then_some((layout, placed))
}

/// Place every wanted instance beside `base` (kept whole), or say why that
/// is impossible.
pub fn place(model: &GpuModel, base: &Layout, want: &[Want]) -> Result<Placed, Refusal> {
    if let Some(r) = totals(model, base, want) {
        return Err(r);
    }
    match place_in_order(model, base, want, &order(want)) {
        Some((layout, placed)) => Ok(Placed {
            layout,
            placements: placed.into_iter().flatten().collect(),
        }),
        None => Err(explain(model, base, want)),
    }
}

/// The rules decided by adding up, in the order a person checks them:
/// pinned placements the profile does not have, instance counts, engines.
fn totals(model: &GpuModel, base: &Layout, want: &[Want]) -> Option<Refusal> {
    for w in want {
        if let Some(pl) = w.placement {
            if !gi_placements(w.profile).any(|q| q == pl) {
                return Some(Refusal::BadPlacement {
                    profile: w.profile.name.clone(),
                    placement: pl,
                    starts: w.profile.placement_starts.clone(),
                    board: board_name(model),
                });
            }
        }
    }
    let count = |p: &GiProfile| want.iter().filter(|w| w.profile.id == p.id).count() as u32;
    for w in want {
        let existing = base.count_of(w.profile);
        let n = count(w.profile);
        if existing + n > w.profile.instances {
            return Some(Refusal::InstanceCount {
                profile: w.profile.name.clone(),
                want: n,
                existing,
                max: w.profile.instances,
                board: board_name(model),
            });
        }
    }
    // More memory slices than are free: the overlap explanation says so
    // (copy engines, one per compute slice, would only restate it).
    let (need, free, _) = slices(model, base, want);
    if need > free {
        return None;
    }
    let total = engine_counts(full_profile(model));
    let used = base.engines_used(model);
    // Media engines first: they are what a person can trade (`+me`, `-me`).
    for k in [1, 2, 3, 4, 0] {
        let need: u32 = want.iter().map(|w| engine_counts(w.profile)[k]).sum();
        let free = total[k].saturating_sub(used[k]);
        if need > free {
            let mut profiles: Vec<(&str, u32)> = Vec::new();
            for w in want.iter().filter(|w| engine_counts(w.profile)[k] > 0) {
                match profiles.iter_mut().find(|(n, _)| *n == w.profile.name) {
                    Some((_, c)) => *c += 1,
                    None => profiles.push((&w.profile.name, 1)),
                }
            }
            return Some(Refusal::Engines {
                engine: ENGINE_NAMES[k],
                need,
                free,
                profiles: profiles
                    .into_iter()
                    .map(|(n, c)| match c {
                        1 => n.to_string(),
                        c => format!("{c}x {n}"),
                    })
                    .collect(),
            });
        }
    }
    None
}

/// Why `want` cannot be placed beside `base`. Call it once [`place`] has
/// failed (on a set that fits it still names the first instance the
/// search would place last).
///
/// Past the totals, the refusal is an overlap: the longest prefix of the
/// search order that fits, the first instance that then finds no room,
/// which placed instances hold each of its placements in that arrangement,
/// and what still fits beside them.
pub fn explain(model: &GpuModel, base: &Layout, want: &[Want]) -> Refusal {
    if let Some(r) = totals(model, base, want) {
        return r;
    }
    let order = order(want);
    let Some(&last) = order.last() else {
        // Nothing asked for: nothing can be refused; report the base as full.
        return overlap(model, base, want, base, None);
    };
    let (k, layout) = (0..order.len())
        .rev()
        .find_map(|k| place_in_order(model, base, want, &order[..k]).map(|(l, _)| (k, l)))
        .unwrap_or((0, base.clone()));
    let culprit = order.get(k).copied().unwrap_or(last);
    overlap(model, base, want, &layout, Some(culprit))
}

fn overlap(
    model: &GpuModel,
    base: &Layout,
    want: &[Want],
    layout: &Layout,
    culprit: Option<usize>,
) -> Refusal {
    let name = |id: GiProfileId| {
        gi_profile(model, id)
            .map(|p| p.name.clone())
            .unwrap_or_else(|_| format!("GI profile {}", id.0))
    };
    let held: Vec<(String, Placement)> = layout
        .gpu_instances
        .iter()
        .map(|g| (name(g.profile_id), g.placement))
        .collect();
    let (profile, wanted) = match culprit {
        Some(i) => (
            want[i].profile.name.clone(),
            match want[i].placement {
                Some(p) => vec![p],
                None => gi_placements(want[i].profile).collect(),
            },
        ),
        None => (String::new(), Vec::new()),
    };
    let blocking = held
        .iter()
        .filter(|(_, q)| wanted.iter().any(|w| w.overlaps(*q)))
        .cloned()
        .collect();
    Refusal::Overlap {
        profile,
        wanted: wanted.into(),
        blocking,
        held,
        arranged: want.len() > 1,
        room: room_left(model, layout.clone()).into(),
        slices: slices(model, base, want),
    }
}

/// Memory slices `want` needs, free beside `base`, and the GPU's total.
fn slices(model: &GpuModel, base: &Layout, want: &[Want]) -> (u32, u32, u32) {
    let unit = slice_unit(model);
    let total = memory_slices(model);
    let taken: u32 = base
        .gpu_instances
        .iter()
        .map(|g| g.placement.size / unit)
        .sum();
    let need: u32 = want.iter().map(|w| w.profile.placement_size / unit).sum();
    (need, total.saturating_sub(taken), total)
}

/// A greedy fill of what is left: the largest creatable profile without
/// attributes first, at the driver's default placement.
fn room_left(model: &GpuModel, mut layout: Layout) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let next = model
            .gi_profiles
            .iter()
            .filter(|p| !p.name.contains(['+', '-']))
            .filter(|p| layout.default_gi_placement(model, p).is_some())
            .max_by_key(|p| (p.slices, p.memory_mb));
        let Some(p) = next else { break };
        if layout.create_gi(model, GiProfileId(p.id), None).is_err() {
            break;
        }
        out.push(p.name.clone());
    }
    out
}
