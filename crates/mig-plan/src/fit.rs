//! Whether a set of GPU instances fits one GPU, beside what it holds already.
//!
//! The placement search and the explanation of a refusal are
//! `mig_model::search`'s (the same ones config validation uses): what `fit`
//! accepts can be created in that order with those placements, and what it
//! rejects cannot be created at all. This module adds what a person planning
//! wants around it: the instances in creation order, and the nearest layouts
//! that do fit.

use crate::layouts::{self, count_of};
use crate::profiles::ProfileCount;
use mig_model::engine::Layout;
use mig_model::search::{self, Want};
use mig_model::{GiProfile, GiProfileId, GpuInstanceId, GpuModel, Placement};

pub use mig_model::engine::{memory_slices, slice_unit};
pub use mig_model::Refusal as Reason;

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

/// The wanted instances, one entry per instance.
fn instances<'m>(want: &[ProfileCount<'m>]) -> Vec<Want<'m>> {
    want.iter()
        .flat_map(|pc| std::iter::repeat_n(Want::any(pc.profile), pc.count as usize))
        .collect()
}

/// Whether `want` fits beside `base` (which it keeps whole).
pub fn fit(model: &GpuModel, base: &Layout, want: &[ProfileCount]) -> FitResult {
    match search::place(model, base, &instances(want)) {
        Ok(placed) => {
            let work = placed.layout;
            let mut added: Vec<(GiProfileId, Placement, GpuInstanceId)> = work
                .gpu_instances
                .iter()
                .filter(|g| !base.gpu_instances.iter().any(|b| b.id == g.id))
                .map(|g| (g.profile_id, g.placement, g.id))
                .collect();
            added.sort_by_key(|(_, pl, _)| pl.start);
            FitResult::Fits {
                layout: work,
                added,
            }
        }
        Err(reason) => FitResult::DoesNotFit {
            reason,
            nearest: nearest(model, base, want, 3),
        },
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

    /// Proves each kind of refusal: count, engine and overlap (with the
    /// slice total when it is exceeded), with the profiles named in the
    /// sentence.
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
                Reason::Overlap {
                    slices: (9, 8, 8),
                    ..
                }
            ),
            "{r:?}"
        );
        let text = r.to_string();
        assert!(
            text.starts_with(
                "1g.5gb needs slices 0, 1, 2, 3, 4, 5 or 6, which 7g.40gb at 0 already uses"
            ) && text.ends_with("(the instances need 9 memory slices, the GPU has 8)"),
            "{text}"
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
        assert!(matches!(r, Reason::Overlap { .. }), "{text}");
        assert!(
            text.starts_with("4g.20gb needs slices 0-3, which 1g.5gb at 3 already uses"),
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
