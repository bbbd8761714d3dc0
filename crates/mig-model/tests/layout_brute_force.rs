//! The Layout check and the placement search against a brute force written
//! apart from the engine: GPU instances as bit masks of the placement grid,
//! instance counts and engine totals added up straight from the catalog's
//! numbers. Every model; every pair of (profile, placement) for
//! `Layout::check_gi`, every multiset of up to three profiles for
//! `search::place` and its refusal.

use mig_model::engine::Layout;
use mig_model::search::{self, Want};
use mig_model::{catalog, GiProfile, GiProfileId, GpuModel, NvmlError, Placement, Refusal};

/// Engine counts in the catalog's field order.
fn eng(p: &GiProfile) -> [u32; 5] {
    [p.ce, p.dec, p.enc, p.jpeg, p.ofa]
}

/// The GPU's engine totals: the most any whole-grid profile has, per kind.
fn totals(m: &GpuModel) -> [u32; 5] {
    let mut t = [0; 5];
    for p in m
        .gi_profiles
        .iter()
        .filter(|p| p.placement_size == m.placement_grid)
    {
        for (a, b) in t.iter_mut().zip(eng(p)) {
            *a = (*a).max(b);
        }
    }
    t
}

fn mask(start: u32, size: u32) -> u32 {
    ((1u32 << size) - 1) << start
}

/// Whether `p` at `start` may join `placed` (profile, mask) by the rules
/// read off the catalog: one of its placements, fewer than its instance
/// count, no shared grid unit, engines within the totals. The error is the
/// NVML code the driver returns.
fn brute_check(
    m: &GpuModel,
    placed: &[(&GiProfile, u32)],
    p: &GiProfile,
    start: u32,
    size: u32,
) -> Result<(), NvmlError> {
    if size != p.placement_size || !p.placement_starts.contains(&start) {
        return Err(NvmlError::InvalidArgument);
    }
    let count = placed.iter().filter(|(q, _)| q.id == p.id).count() as u32;
    let used = placed.iter().fold(0, |a, (_, k)| a | k);
    let mut e = eng(p);
    for (q, _) in placed {
        for (a, b) in e.iter_mut().zip(eng(q)) {
            *a += b;
        }
    }
    let over = e.iter().zip(totals(m)).any(|(a, t)| *a > t);
    if count >= p.instances || used & mask(start, size) != 0 || over {
        return Err(NvmlError::InsufficientResources);
    }
    Ok(())
}

/// Proves `Layout::check_gi` answers as the brute force does for every
/// candidate (profile, placement) on an empty GPU and beside every valid
/// single GI, on every model: the engine's one check counts instances,
/// engines and overlaps as the catalog's numbers say.
#[test]
fn check_gi_equals_brute_force() {
    for m in catalog::all() {
        let pairs: Vec<(&GiProfile, u32)> = m
            .gi_profiles
            .iter()
            .flat_map(|p| p.placement_starts.iter().map(move |&s| (p, s)))
            .collect();
        let mut bases: Vec<Vec<(&GiProfile, u32)>> = vec![Vec::new()];
        bases.extend(pairs.iter().map(|&(p, s)| vec![(p, s)]));
        for base in bases {
            let mut l = Layout::new(false);
            let mut placed = Vec::new();
            let mut ok = true;
            for &(p, s) in &base {
                let b = brute_check(m, &placed, p, s, p.placement_size);
                let e = l.check_gi(m, p, Placement::new(s, p.placement_size));
                assert_eq!(e, b, "{}: {} at {s} on empty", m.slug, p.name);
                ok &= e.is_ok();
                if ok {
                    l.create_gi(
                        m,
                        GiProfileId(p.id),
                        Some(Placement::new(s, p.placement_size)),
                    )
                    .unwrap();
                    placed.push((p, mask(s, p.placement_size)));
                }
            }
            if !ok {
                continue;
            }
            for &(p, s) in &pairs {
                // a start the profile lacks, too, must be Invalid Argument
                for start in [s, s + 1] {
                    if start + p.placement_size > m.placement_grid {
                        continue;
                    }
                    let pl = Placement::new(start, p.placement_size);
                    assert_eq!(
                        l.check_gi(m, p, pl),
                        brute_check(m, &placed, p, start, p.placement_size),
                        "{}: {} at {pl} beside {:?}",
                        m.slug,
                        p.name,
                        base.iter()
                            .map(|(q, s)| format!("{}@{s}", q.name))
                            .collect::<Vec<_>>()
                    );
                }
            }
        }
    }
}

/// Every way to place `want[i..]` beside `placed`, tried one by one.
fn brute_fits<'a>(
    m: &GpuModel,
    placed: &mut Vec<(&'a GiProfile, u32)>,
    want: &[&'a GiProfile],
) -> bool {
    let Some((p, rest)) = want.split_first() else {
        return true;
    };
    for &s in &p.placement_starts {
        if brute_check(m, placed, p, s, p.placement_size).is_ok() {
            placed.push((p, mask(s, p.placement_size)));
            let fits = brute_fits(m, placed, rest);
            placed.pop();
            if fits {
                return true;
            }
        }
    }
    false
}

/// Every multiset of up to `k` profiles of `m`, as indices in catalog order.
fn multisets(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new()];
    let mut frontier = vec![Vec::new()];
    for _ in 0..k {
        let mut next = Vec::new();
        for v in &frontier {
            let from = v.last().copied().unwrap_or(0);
            for i in from..n {
                let mut w: Vec<usize> = v.clone();
                w.push(i);
                next.push(w);
            }
        }
        out.extend(next.iter().cloned());
        frontier = next;
    }
    out
}

/// Proves `search::place` finds a placement exactly when the brute force
/// does, for every multiset of up to three profiles on every model; that
/// what it places is valid by the brute force's rules (each placement one
/// of the profile's, no shared grid unit); and that its refusal names a
/// rule the brute force sees broken (an instance count only when one is
/// exceeded, an engine only when one runs out; overlap otherwise).
#[test]
fn search_equals_brute_force() {
    for m in catalog::all() {
        for set in multisets(m.gi_profiles.len(), 4) {
            let profiles: Vec<&GiProfile> = set.iter().map(|&i| &m.gi_profiles[i]).collect();
            let want: Vec<Want> = profiles.iter().map(|p| Want::any(p)).collect();
            let names: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
            let expect = brute_fits(m, &mut Vec::new(), &profiles);
            let count_over = profiles
                .iter()
                .any(|p| profiles.iter().filter(|q| q.id == p.id).count() as u32 > p.instances);
            let mut e = [0; 5];
            for p in &profiles {
                for (a, b) in e.iter_mut().zip(eng(p)) {
                    *a += b;
                }
            }
            let engine_over = e.iter().zip(totals(m)).any(|(a, t)| *a > t);
            match search::place(m, &Layout::new(false), &want) {
                Ok(placed) => {
                    assert!(expect, "{}: {names:?} placed, brute force says no", m.slug);
                    let mut used = 0;
                    for (p, pl) in profiles.iter().zip(&placed.placements) {
                        assert_eq!(pl.size, p.placement_size);
                        assert!(p.placement_starts.contains(&pl.start), "{}: {pl}", p.name);
                        let k = mask(pl.start, pl.size);
                        assert_eq!(used & k, 0, "{}: {names:?} overlap", m.slug);
                        used |= k;
                    }
                }
                Err(r) => {
                    assert!(
                        !expect,
                        "{}: {names:?} refused ({r}), brute force fits",
                        m.slug
                    );
                    match r {
                        Refusal::InstanceCount { .. } => assert!(count_over, "{r}"),
                        Refusal::Engines { .. } => assert!(engine_over && !count_over, "{r}"),
                        Refusal::Overlap { .. } => assert!(!count_over, "{r}"),
                        Refusal::BadPlacement { .. } => panic!("nothing was pinned: {r}"),
                    }
                }
            }
        }
    }
}
