//! Classes of alike GPUs, their options, and the exact assignment of
//! instances to demand lines (the pieces every packer here shares).

use crate::inventory::{DemandItem, Fleet, FleetGpu};
use crate::layouts;
use mig_model::engine::Layout;
use mig_model::{GiProfileId, GpuModel, Placement};
use std::collections::HashMap;

/// A useful (model, profile) pair and the demand lines it can serve, by
/// weight, heaviest first.
pub(super) struct Types {
    pub(super) index: HashMap<(&'static str, u32), usize>,
    pub(super) elig: Vec<Vec<usize>>,
}

pub(super) fn types(fleet: &Fleet, demand: &[DemandItem]) -> Types {
    let mut index = HashMap::new();
    let mut elig = Vec::new();
    let mut models: Vec<&'static GpuModel> = Vec::new();
    for g in &fleet.gpus {
        if !models.iter().any(|m| std::ptr::eq(*m, g.model)) {
            models.push(g.model);
        }
    }
    for m in models {
        for p in &m.gi_profiles {
            let mut ds: Vec<usize> = (0..demand.len())
                .filter(|&d| demand[d].eligible(m, p))
                .collect();
            if ds.is_empty() {
                continue;
            }
            ds.sort_by(|&a, &b| demand[b].weight.total_cmp(&demand[a].weight));
            index.insert((m.slug.as_str(), p.id), elig.len());
            elig.push(ds);
        }
    }
    Types { index, elig }
}

/// One option of a class: useful instances per type (sparse), instances
/// destroyed, whether the GPU holds anything, and a layout that gives it.
#[derive(Clone)]
pub(super) struct Opt {
    pub(super) supply: Vec<(usize, u32)>,
    pub(super) disturb: u32,
    pub(super) used: bool,
    pub(super) layout: Layout,
}

/// What makes two options equivalent: supply, destroyed, used.
type OptKey = (Vec<(usize, u32)>, u32, bool);

pub(super) struct Class {
    pub(super) gpus: Vec<usize>,
    pub(super) opts: Vec<Opt>,
    /// Demand lines this class's GPUs can serve at all.
    pub(super) reach: usize,
}

/// The busy GIs of a GPU, as a layout of their own.
fn busy_base(g: &FleetGpu) -> Layout {
    let mut base = Layout::new(g.layout.mirrored);
    for gi in &g.layout.gpu_instances {
        if g.busy.contains(&gi.id) {
            base.gpu_instances.push(gi.clone());
        }
    }
    base
}

fn class_key(g: &FleetGpu) -> String {
    let mut k = format!("{}|{}|{}|", g.model.slug, g.mig_enabled, g.layout.mirrored);
    for gi in &g.layout.gpu_instances {
        k.push_str(&format!(
            "{}@{}{};",
            gi.profile_id.0,
            gi.placement.start,
            if g.busy.contains(&gi.id) { "b" } else { "" }
        ));
    }
    k
}

pub(super) fn classes(fleet: &Fleet, demand: &[DemandItem], ty: &Types) -> Vec<Class> {
    let mut by_key: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Class> = Vec::new();
    let mut enumerated: HashMap<String, Vec<Layout>> = HashMap::new();
    for (i, g) in fleet.gpus.iter().enumerate() {
        let key = class_key(g);
        if let Some(&c) = by_key.get(&key) {
            out[c].gpus.push(i);
            continue;
        }
        let base = busy_base(g);
        let base_key = format!(
            "{}|{}|{:?}",
            g.model.slug,
            g.layout.mirrored,
            base.gpu_instances
                .iter()
                .map(|x| (x.profile_id, x.placement))
                .collect::<Vec<_>>()
        );
        let all = enumerated
            .entry(base_key)
            .or_insert_with(|| layouts::enumerate_from(g.model, &base));
        let idle: Vec<(GiProfileId, Placement)> = g
            .layout
            .gpu_instances
            .iter()
            .filter(|x| !g.busy.contains(&x.id))
            .map(|x| (x.profile_id, x.placement))
            .collect();
        let mut seen: std::collections::HashSet<OptKey> = std::collections::HashSet::new();
        let mut opts = Vec::new();
        for l in all.iter() {
            let mut supply: Vec<(usize, u32)> = Vec::new();
            for gi in &l.gpu_instances {
                if g.busy.contains(&gi.id) && base.gpu_instances.iter().any(|b| b.id == gi.id) {
                    continue;
                }
                if let Some(&t) = ty.index.get(&(g.model.slug.as_str(), gi.profile_id.0)) {
                    match supply.iter_mut().find(|(x, _)| *x == t) {
                        Some(s) => s.1 += 1,
                        None => supply.push((t, 1)),
                    }
                }
            }
            supply.sort();
            let disturb = idle
                .iter()
                .filter(|(p, pl)| {
                    !l.gpu_instances
                        .iter()
                        .any(|x| x.profile_id == *p && x.placement == *pl)
                })
                .count() as u32;
            let used = !l.gpu_instances.is_empty();
            if seen.insert((supply.clone(), disturb, used)) {
                opts.push(Opt {
                    supply,
                    disturb,
                    used,
                    layout: l.clone(),
                });
            }
        }
        let opts = pareto(opts);
        let reach = (0..demand.len())
            .filter(|&d| {
                g.model
                    .gi_profiles
                    .iter()
                    .any(|p| demand[d].eligible(g.model, p))
            })
            .count();
        by_key.insert(key, out.len());
        out.push(Class {
            gpus: vec![i],
            opts,
            reach,
        });
    }
    out
}

/// `a` is at least as good as `b` in every respect.
fn dominates(a: &Opt, b: &Opt) -> bool {
    a.disturb <= b.disturb
        && a.used <= b.used
        && b.supply
            .iter()
            .all(|&(t, n)| a.supply.iter().any(|&(u, m)| u == t && m >= n))
}

fn pareto(mut opts: Vec<Opt>) -> Vec<Opt> {
    // Larger supplies first, so dominators tend to come before the dominated.
    opts.sort_by_key(|o| {
        (
            std::cmp::Reverse(o.supply.iter().map(|s| s.1).sum::<u32>()),
            o.disturb,
            o.used,
        )
    });
    let mut keep: Vec<Opt> = Vec::new();
    for o in opts {
        if keep.iter().any(|k| dominates(k, &o)) {
            continue;
        }
        keep.retain(|k| !dominates(&o, k));
        keep.push(o);
    }
    keep
}

/// The best assignment of supplies (per type) to demand lines: served units
/// per (type, line), and the served weight.
pub(super) fn transport(
    supply: &[u64],
    demand: &[DemandItem],
    ty: &Types,
) -> (Vec<Vec<(usize, u64)>>, f64) {
    let t_n = supply.len();
    let d_n = demand.len();
    let n = t_n + d_n + 2;
    let (src, sink) = (0, n - 1);
    let mut cap = vec![vec![0i64; n]; n];
    for t in 0..t_n {
        cap[src][1 + t] = supply[t] as i64;
        for &d in &ty.elig[t] {
            cap[1 + t][1 + t_n + d] = i64::MAX / 4;
        }
    }
    let mut order: Vec<usize> = (0..d_n).collect();
    order.sort_by(|&a, &b| demand[b].weight.total_cmp(&demand[a].weight));
    let mut flow_in = vec![0i64; d_n];
    for &d in &order {
        cap[1 + t_n + d][sink] = demand[d].count as i64;
        // Augment (BFS, shortest paths first) until no path reaches the sink.
        loop {
            let mut prev = vec![usize::MAX; n];
            prev[src] = src;
            let mut queue = std::collections::VecDeque::from([src]);
            while let Some(u) = queue.pop_front() {
                if u == sink {
                    break;
                }
                for v in 0..n {
                    if prev[v] == usize::MAX && cap[u][v] > 0 {
                        prev[v] = u;
                        queue.push_back(v);
                    }
                }
            }
            if prev[sink] == usize::MAX {
                break;
            }
            let mut push = i64::MAX;
            let mut v = sink;
            while v != src {
                push = push.min(cap[prev[v]][v]);
                v = prev[v];
            }
            let mut v = sink;
            while v != src {
                let u = prev[v];
                cap[u][v] -= push;
                cap[v][u] += push;
                v = u;
            }
        }
        flow_in[d] = demand[d].count as i64 - cap[1 + t_n + d][sink];
    }
    let mut out = vec![Vec::new(); t_n];
    for t in 0..t_n {
        for &d in &ty.elig[t] {
            // flow on t->d is the reverse capacity built up on d->t
            let f = cap[1 + t_n + d][1 + t];
            if f > 0 {
                out[t].push((d, f as u64));
            }
        }
    }
    let served: f64 = (0..d_n).map(|d| flow_in[d] as f64 * demand[d].weight).sum();
    (out, served)
}

/// Lexicographic objective: served weight (higher), destroyed, GPUs used (lower).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    pub served_weight: f64,
    pub destroyed: u32,
    pub gpus_used: u32,
}

impl Score {
    /// Whether `self` is strictly better than `other`.
    pub fn better(&self, other: &Score) -> bool {
        let eps = 1e-9 * (1.0 + other.served_weight.abs());
        if self.served_weight > other.served_weight + eps {
            return true;
        }
        if self.served_weight < other.served_weight - eps {
            return false;
        }
        (self.destroyed, self.gpus_used) < (other.destroyed, other.gpus_used)
    }
}

/// Options chosen per GPU of each class (indices into its options).
pub(super) type Choice = Vec<Vec<usize>>;

pub(super) fn supply_of(classes: &[Class], choice: &Choice, t_n: usize) -> (Vec<u64>, u32, u32) {
    let mut s = vec![0u64; t_n];
    let (mut dis, mut used) = (0, 0);
    for (c, ch) in classes.iter().zip(choice) {
        for &o in ch {
            let o = &c.opts[o];
            for &(t, n) in &o.supply {
                s[t] += n as u64;
            }
            dis += o.disturb;
            used += o.used as u32;
        }
    }
    (s, dis, used)
}
