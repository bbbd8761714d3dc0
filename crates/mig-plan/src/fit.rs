//! Whether a set of GPU instances fits one GPU, beside what it holds already.
//!
//! The search places the wanted instances (largest span first) at explicit
//! placements with `mig_model::engine::Layout::check_gi` / `create_gi`, so the
//! answer is the engine's: what `fit` accepts can be created in that order
//! with those placements, and what it rejects cannot be created at all. When
//! nothing fits, the explanation is worked out afterwards for people: an
//! instance count, a media engine, the slices, or which placed instances
//! block every placement of the profile that could not be placed.

use crate::layouts::{self, count_of};
use crate::profiles::ProfileCount;
use mig_model::engine::{full_profile, gi_placements, gi_profile, Layout};
use mig_model::{GiProfile, GiProfileId, GpuInstanceId, GpuModel, Placement};
use std::fmt;

/// The answer of [`fit`].
#[derive(Debug, Clone, PartialEq)]
pub enum FitResult {
    /// Everything fits: the resulting layout and the instances added, in the
    /// order they can be created (each with its placement and GI ID).
    Fits {
        layout: Layout,
        added: Vec<(GiProfileId, Placement, GpuInstanceId)>,
    },
    /// It does not fit: why, and the nearest layouts that do (at most three).
    DoesNotFit {
        reason: Reason,
        nearest: Vec<Layout>,
    },
}

/// Why a request does not fit, in terms a person can check.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// More instances of a profile than a GPU holds.
    InstanceCount {
        profile: String,
        want: u32,
        existing: u32,
        max: u32,
    },
    /// More of one engine kind than the GPU has left.
    Engines {
        engine: &'static str,
        need: u32,
        free: u32,
        profiles: Vec<String>,
    },
    /// More memory slices than the GPU has left.
    Slices { need: u32, free: u32, total: u32 },
    /// Every placement of `profile` overlaps an instance already placed.
    Placement {
        profile: String,
        placements: Vec<Placement>,
        placed: Vec<(String, Placement)>,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::InstanceCount {
                profile,
                want,
                existing,
                max,
            } => {
                if *existing > 0 {
                    write!(
                        f,
                        "{want} more {profile} beside the {existing} there would make {}, but a GPU holds at most {max}.",
                        want + existing
                    )
                } else {
                    write!(f, "{want}x {profile} asked for, but a GPU holds at most {max}.")
                }
            }
            Reason::Engines {
                engine,
                need,
                free,
                profiles,
            } => write!(
                f,
                "{} need {need} {engine} engines together, but only {free} are free on this GPU.",
                profiles.join(" + ")
            ),
            Reason::Slices { need, free, total } if free == total => write!(
                f,
                "the instances need {need} memory slices, but the GPU has {total}."
            ),
            Reason::Slices { need, free, total } => write!(
                f,
                "the instances need {need} memory slices, but only {free} of the GPU's {total} are free."
            ),
            Reason::Placement {
                profile,
                placements,
                placed,
            } => {
                let pl: Vec<String> = placements.iter().map(|p| p.to_string()).collect();
                let by: Vec<String> = placed.iter().map(|(n, p)| format!("{n} at {p}")).collect();
                write!(
                    f,
                    "with {} placed, no placement is left for {profile}: each of its placements {} overlaps them.",
                    by.join(", "),
                    pl.join(", ")
                )
            }
        }
    }
}

/// The wanted instances, one entry per instance, in search order: largest
/// span first, then fewest placements, then catalog order.
fn instances<'m>(want: &[ProfileCount<'m>]) -> Vec<&'m GiProfile> {
    let mut v: Vec<&GiProfile> = want
        .iter()
        .flat_map(|pc| std::iter::repeat_n(pc.profile, pc.count as usize))
        .collect();
    v.sort_by_key(|p| {
        (
            std::cmp::Reverse(p.placement_size),
            p.placement_starts.len(),
            p.id,
        )
    });
    v
}

struct Search<'a> {
    model: &'a GpuModel,
    todo: Vec<&'a GiProfile>,
    /// The partial layout that placed the most instances, and how many.
    deepest: (usize, Layout),
}

impl Search<'_> {
    /// Place `todo[i..]`; identical consecutive profiles go at increasing
    /// starts, so each set of placements is tried once.
    fn place(&mut self, i: usize, work: &mut Layout, after: Option<u32>) -> bool {
        if i > self.deepest.0 {
            self.deepest = (i, work.clone());
        }
        if i == self.todo.len() {
            return true;
        }
        let p = self.todo[i];
        for pl in gi_placements(p) {
            if after.is_some_and(|a| pl.start <= a) || work.check_gi(self.model, p, pl).is_err() {
                continue;
            }
            let Ok(id) = work.create_gi(self.model, GiProfileId(p.id), Some(pl)) else {
                continue;
            };
            let next_after = match self.todo.get(i + 1) {
                Some(q) if q.id == p.id => Some(pl.start),
                _ => None,
            };
            if self.place(i + 1, work, next_after) {
                return true;
            }
            let _ = work.destroy_gi(id);
        }
        false
    }
}

/// Memory slices of the model (the placement grid in units of the smallest
/// GI span) and of one placement.
pub fn memory_slices(model: &GpuModel) -> u32 {
    model.placement_grid / slice_unit(model)
}

/// Grid units per memory slice: the smallest GI placement size.
pub fn slice_unit(model: &GpuModel) -> u32 {
    model
        .gi_profiles
        .iter()
        .map(|p| p.placement_size)
        .min()
        .unwrap_or(1)
        .max(1)
}

const ENGINE_NAMES: [&str; 5] = ["copy", "decoder", "encoder", "JPEG", "OFA"];

fn engines(p: &GiProfile) -> [u32; 5] {
    [p.ce, p.dec, p.enc, p.jpeg, p.ofa]
}

/// Why `want` does not fit beside `base`, once the search has failed.
fn explain(model: &GpuModel, base: &Layout, want: &[ProfileCount], deepest: &Layout) -> Reason {
    for pc in want {
        let existing = count_of(base, pc.profile);
        if existing + pc.count > pc.profile.instances {
            return Reason::InstanceCount {
                profile: pc.profile.name.clone(),
                want: pc.count,
                existing,
                max: pc.profile.instances,
            };
        }
    }
    let unit = slice_unit(model);
    let taken: u32 = base
        .gpu_instances
        .iter()
        .map(|g| g.placement.size / unit)
        .sum();
    let need: u32 = want
        .iter()
        .map(|pc| pc.count * pc.profile.placement_size / unit)
        .sum();
    let total_slices = memory_slices(model);
    if need > total_slices.saturating_sub(taken) {
        return Reason::Slices {
            need,
            free: total_slices.saturating_sub(taken),
            total: total_slices,
        };
    }
    let total = engines(full_profile(model));
    let mut used = [0u32; 5];
    for g in &base.gpu_instances {
        if let Ok(p) = gi_profile(model, g.profile_id) {
            for (u, e) in used.iter_mut().zip(engines(p)) {
                *u += e;
            }
        }
    }
    for k in 0..5 {
        let need: u32 = want
            .iter()
            .map(|pc| pc.count * engines(pc.profile)[k])
            .sum();
        let free = total[k].saturating_sub(used[k]);
        if need > free {
            let profiles = want
                .iter()
                .filter(|pc| engines(pc.profile)[k] > 0)
                .map(|pc| match pc.count {
                    1 => pc.profile.name.clone(),
                    n => format!("{n}x {}", pc.profile.name),
                })
                .collect();
            return Reason::Engines {
                engine: ENGINE_NAMES[k],
                need,
                free,
                profiles,
            };
        }
    }
    // The first profile the deepest partial could not place more of.
    let missing = want
        .iter()
        .find(|pc| count_of(deepest, pc.profile) < count_of(base, pc.profile) + pc.count)
        .map(|pc| pc.profile)
        .unwrap_or(want[0].profile);
    let placements: Vec<Placement> = gi_placements(missing).collect();
    let placed = layouts::by_placement(model, deepest)
        .into_iter()
        .filter(|(_, pl)| placements.iter().any(|q| q.overlaps(*pl)))
        .map(|(p, pl)| (p.name.clone(), pl))
        .collect();
    Reason::Placement {
        profile: missing.name.clone(),
        placements,
        placed,
    }
}

/// Whether `want` fits beside `base` (which it keeps whole).
pub fn fit(model: &GpuModel, base: &Layout, want: &[ProfileCount]) -> FitResult {
    let mut s = Search {
        model,
        todo: instances(want),
        deepest: (0, base.clone()),
    };
    let mut work = base.clone();
    if s.place(0, &mut work, None) {
        let mut added: Vec<(GiProfileId, Placement, GpuInstanceId)> = work
            .gpu_instances
            .iter()
            .filter(|g| !base.gpu_instances.iter().any(|b| b.id == g.id))
            .map(|g| (g.profile_id, g.placement, g.id))
            .collect();
        added.sort_by_key(|(_, pl, _)| pl.start);
        return FitResult::Fits {
            layout: work,
            added,
        };
    }
    let reason = explain(model, base, want, &s.deepest.1);
    FitResult::DoesNotFit {
        reason,
        nearest: nearest(model, base, want, 3),
    }
}

/// The layouts beside `base` that hold the most of the wanted instances,
/// then the fewest others; one per profile multiset, at most `n`.
pub fn nearest(model: &GpuModel, base: &Layout, want: &[ProfileCount], n: usize) -> Vec<Layout> {
    let mut scored: Vec<(u32, u32, String, Layout)> = Vec::new();
    layouts::for_each_from(model, base, &mut |l| {
        let mut matched = 0;
        let mut extra = 0;
        for p in &model.gi_profiles {
            let have = count_of(l, p) - count_of(base, p);
            let w = want
                .iter()
                .find(|pc| pc.profile.id == p.id)
                .map_or(0, |pc| pc.count);
            matched += have.min(w);
            extra += have.saturating_sub(w);
        }
        if matched > 0 {
            scored.push((matched, extra, layouts::summary(model, l), l.clone()));
        }
    });
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut out: Vec<Layout> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (_, _, summary, l) in scored {
        if seen.contains(&summary) {
            continue;
        }
        seen.push(summary);
        out.push(l);
        if out.len() == n {
            break;
        }
    }
    out
}

/// The most further instances of `profile` that fit beside `base`, and the
/// layout that holds them.
pub fn max_more(model: &GpuModel, base: &Layout, profile: &GiProfile) -> (u32, Layout) {
    let mut best = (0, base.clone());
    for k in 1..=profile.instances {
        match fit(model, base, &[ProfileCount { profile, count: k }]) {
            FitResult::Fits { layout, .. } => best = (k, layout),
            FitResult::DoesNotFit { .. } => break,
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::parse_counts;
    use mig_model::catalog;

    fn req<'m>(m: &'m GpuModel, s: &[&str]) -> Vec<ProfileCount<'m>> {
        parse_counts(m, &s.iter().map(|x| x.to_string()).collect::<Vec<_>>()).unwrap()
    }

    /// Proves the guide's order-sensitive example (`-cgi 19,19,14,9` fails
    /// with Insufficient Resources on an A100) fits when placed by size.
    #[test]
    fn guide_set_fits_with_explicit_placements() {
        let m = catalog::model("a100-sxm4-40gb").unwrap();
        let r = fit(m, &Layout::new(false), &req(m, &["19x2", "14", "9"]));
        let FitResult::Fits { layout, added } = r else {
            panic!("{r:?}")
        };
        assert_eq!(added.len(), 4);
        assert!(layout.validate(m).is_ok());
    }

    /// Proves each kind of reason: count, engine, slices and placement, with
    /// the profiles named in the sentence.
    #[test]
    fn reasons_name_the_cause() {
        let m = catalog::model("a100-sxm4-40gb").unwrap();
        let empty = Layout::new(false);
        let reason = |s: &[&str]| match fit(m, &empty, &req(m, s)) {
            FitResult::DoesNotFit { reason, nearest } => {
                assert!(!nearest.is_empty());
                reason
            }
            f => panic!("{s:?} fits: {f:?}"),
        };
        assert!(matches!(
            reason(&["3g.20gbx3"]),
            Reason::InstanceCount { max: 2, .. }
        ));
        let r = reason(&["7g.40gb", "1g.5gb"]);
        assert!(
            matches!(
                r,
                Reason::Slices {
                    need: 9,
                    free: 8,
                    ..
                }
            ),
            "{r:?}"
        );
        // Beside a 1g.5gb at 3:1, slices, engines and counts allow a
        // 4g.20gb, but its only placement 0:4 overlaps it.
        let mut base = Layout::new(false);
        base.create_gi(m, GiProfileId(19), Some(Placement::new(3, 1)))
            .unwrap();
        let r = match fit(m, &base, &req(m, &["4g.20gb"])) {
            FitResult::DoesNotFit { reason, .. } => reason,
            f => panic!("{f:?}"),
        };
        let text = r.to_string();
        assert!(matches!(r, Reason::Placement { .. }), "{text}");
        assert!(
            text.contains("4g.20gb") && text.contains("1g.5gb at 3:1"),
            "{text}"
        );
        let h = catalog::model("a30-24gb").unwrap();
        let r = match fit(
            h,
            &Layout::new(false),
            &req(h, &["1g.6gb+me", "2g.12gb+me"]),
        ) {
            FitResult::DoesNotFit { reason, .. } => reason,
            f => panic!("{f:?}"),
        };
        assert!(
            matches!(
                r,
                Reason::Engines {
                    engine: "JPEG",
                    need: 2,
                    free: 1,
                    ..
                }
            ),
            "{r:?}"
        );
    }

    /// Proves `max_more` beside a 3g.20gb at 4:4 on an A100: 4 more 1g.5gb
    /// (slices 0..3), one more 3g.20gb, one 4g.20gb, no 7g.40gb.
    #[test]
    fn max_more_beside_a_layout() {
        let m = catalog::model("a100-sxm4-40gb").unwrap();
        let mut base = Layout::new(false);
        base.create_gi(m, GiProfileId(9), Some(Placement::new(4, 4)))
            .unwrap();
        let p = |n: &str| crate::profiles::find_gi_profile(m, n).unwrap();
        assert_eq!(max_more(m, &base, p("1g.5gb")).0, 4);
        assert_eq!(max_more(m, &base, p("3g.20gb")).0, 1);
        assert_eq!(max_more(m, &base, p("4g.20gb")).0, 1);
        assert_eq!(max_more(m, &base, p("7g.40gb")).0, 0);
    }
}
