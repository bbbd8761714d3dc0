//! Free capacity of one MIG GPU, as the model decides it: how many more
//! instances of each GI profile fit beside the current layout (the answer
//! of `migctl fit -i N`), memory slices in use, and stranded slices (free
//! slices that no creatable placement of any profile covers).

use mig_model::backend::GpuSnapshot;
use mig_model::engine::Layout;
use mig_model::GpuModel;

/// Free capacity of one GPU with MIG enabled.
#[derive(Debug, Clone, PartialEq)]
pub struct Capacity {
    /// Memory slices of the board.
    pub slices_total: u32,
    /// Memory slices under a GPU instance.
    pub slices_used: u32,
    /// Free memory slices that no profile can use with this layout.
    pub slices_stranded: u32,
    /// For every GI profile of the board, in catalog order: its name, ID
    /// and how many more instances fit now.
    pub more: Vec<(String, u32, u32)>,
}

/// The capacity of a snapshot's GPU; `None` with MIG disabled or a board
/// the catalog does not know.
pub fn of(s: &GpuSnapshot) -> Option<Capacity> {
    if !s.mode.current {
        return None;
    }
    let model = mig_plan::picture::model_of(s)?;
    Some(compute(model, &s.layout))
}

/// The capacity of `layout` on `model`.
pub fn compute(model: &GpuModel, layout: &Layout) -> Capacity {
    let unit = mig_model::engine::slice_unit(model);
    let total = mig_model::engine::memory_slices(model);
    let covered = |start: u32, size: u32, mask: &mut Vec<bool>| {
        for u in start..start + size {
            if let Some(m) = mask.get_mut((u / unit) as usize) {
                *m = true;
            }
        }
    };
    let mut used = vec![false; total as usize];
    for gi in &layout.gpu_instances {
        covered(gi.placement.start, gi.placement.size, &mut used);
    }
    let mut usable = vec![false; total as usize];
    let mut more = Vec::new();
    for p in &model.gi_profiles {
        for pl in layout.creatable_gi_placements(model, p) {
            covered(pl.start, pl.size, &mut usable);
        }
        more.push((p.name.clone(), p.id, mig_plan::max_more(model, layout, p).0));
    }
    let slices_used = used.iter().filter(|u| **u).count() as u32;
    let slices_stranded = used
        .iter()
        .zip(&usable)
        .filter(|(u, ok)| !**u && !**ok)
        .count() as u32;
    Capacity {
        slices_total: total,
        slices_used,
        slices_stranded,
        more,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mig_model::catalog;
    use mig_model::engine::gi_placements;

    fn create(m: &GpuModel, l: &mut Layout, name: &str, start: u32) {
        let p = m.gi_profiles.iter().find(|p| p.name == name).unwrap();
        let pl = gi_placements(p).find(|pl| pl.start == start).unwrap();
        l.create_gi(m, mig_model::GiProfileId(p.id), Some(pl))
            .unwrap();
    }

    /// Proves an empty H100 strands nothing and fits seven 1g and one 7g.
    #[test]
    fn empty_gpu_has_everything_free() {
        let m = catalog::model("h100-sxm5-80gb").unwrap();
        let c = compute(m, &Layout::new(false));
        assert_eq!(
            (c.slices_total, c.slices_used, c.slices_stranded),
            (8, 0, 0)
        );
        let more = |n: &str| c.more.iter().find(|x| x.0 == n).unwrap().2;
        assert_eq!(more("1g.10gb"), 7);
        assert_eq!(more("7g.80gb"), 1);
    }

    /// Proves stranding: the last memory slice of an H100 is reachable only
    /// through placements that start at slice 6 with size 2 or more, so a
    /// 1g.10gb at 6 strands slice 7; a 1g.10gb at 5 strands nothing.
    #[test]
    fn stranded_slices_are_those_no_placement_covers() {
        let m = catalog::model("h100-sxm5-80gb").unwrap();
        let mut l = Layout::new(false);
        create(m, &mut l, "1g.10gb", 6);
        let c = compute(m, &l);
        assert_eq!((c.slices_used, c.slices_stranded), (1, 1), "{c:?}");
        let mut l = Layout::new(false);
        create(m, &mut l, "1g.10gb", 5);
        let c = compute(m, &l);
        assert_eq!((c.slices_used, c.slices_stranded), (1, 0), "{c:?}");
    }
}
