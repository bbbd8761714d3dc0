//! Packing a fleet's demand onto its GPUs.
//!
//! Each GPU gets a layout (any valid layout that keeps its busy instances);
//! the instances of the chosen layouts serve demand lines whose profile or
//! requirements they meet. The objective, in order: the most weighted demand
//! served, then the fewest existing instances destroyed, then the fewest GPUs
//! holding instances.
//!
//! How:
//! - GPUs with the same model, mode, layout and busy set form a class; a
//!   class's *options* are its valid layouts (from [`crate::layouts`], so the
//!   engine decides validity) reduced to what matters: instances per useful
//!   (model, profile) type, instances destroyed, and whether the GPU is used.
//!   Options another option beats in every respect are dropped.
//! - Given every GPU's option, the best assignment of instances to demand
//!   lines is a transportation problem; because a unit's value is its demand
//!   line's weight, serving lines in weight order with augmenting paths
//!   (max-flow) is optimal (the served sets form a transversal matroid).
//! - Small fleets are solved exactly: every multiset of options per class.
//! - Large fleets use a residual greedy: class by class (GPUs that can serve
//!   the fewest demand lines first), the option serving the most remaining
//!   weight, repeated for as many GPUs as the remaining demand allows; then
//!   the exact assignment for the chosen layouts.
//! - The upper bound is the Lagrangian dual of the demand-count constraints:
//!   for prices `p_d >= 0`, `sum_d p_d * count_d + sum_gpu max_option
//!   sum_instance max(0, max_d (w_d - p_d))` bounds every packing's served
//!   weight (weak duality); minimising it over prices by subgradient steps
//!   approaches the LP relaxation of the packing (each GPU a convex mix of its
//!   layouts), which is what the bound reports.

use crate::inventory::{DemandItem, Fleet, FleetGpu};
use crate::layouts;
use mig_model::engine::{gi_profile, Layout};
use mig_model::{GiProfileId, GpuInstanceId, GpuModel, Placement};
use std::collections::HashMap;

/// Largest number of option combinations the exact search walks.
pub const EXACT_LIMIT: f64 = 200_000.0;

/// The plan for one GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuPlan {
    /// Index into `Fleet::gpus`.
    pub gpu: usize,
    /// The layout after the change (kept instances keep their compute
    /// instances; new ones have none yet).
    pub layout: Layout,
    /// Existing instances destroyed: GI ID, profile name, placement.
    pub destroy: Vec<(GpuInstanceId, String, Placement)>,
    /// Instances created: profile name, placement, GI ID.
    pub create: Vec<(String, Placement, GpuInstanceId)>,
    /// Which demand line (index) each serving GI serves.
    pub serves: Vec<(GpuInstanceId, usize)>,
}

/// A packing and its figures.
#[derive(Debug, Clone, PartialEq)]
pub struct PackResult {
    pub plans: Vec<GpuPlan>,
    /// Instances served per demand line.
    pub served: Vec<u32>,
    pub served_weight: f64,
    /// Weight of all demand.
    pub demand_weight: f64,
    /// Existing (idle) instances destroyed.
    pub destroyed: u32,
    pub created: u32,
    /// GPUs holding at least one instance afterwards.
    pub gpus_used: u32,
    /// Memory slices on used GPUs that neither serve demand nor are busy.
    pub stranded_slices: u32,
    /// Memory slices of used GPUs.
    pub used_slices: u32,
    /// Whether the packing is proven optimal (exact search).
    pub exact: bool,
}

/// A useful (model, profile) pair and the demand lines it can serve, by
/// weight, heaviest first.
struct Types {
    index: HashMap<(&'static str, u32), usize>,
    elig: Vec<Vec<usize>>,
}

fn types(fleet: &Fleet, demand: &[DemandItem]) -> Types {
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
struct Opt {
    supply: Vec<(usize, u32)>,
    disturb: u32,
    used: bool,
    layout: Layout,
}

/// What makes two options equivalent: supply, destroyed, used.
type OptKey = (Vec<(usize, u32)>, u32, bool);

struct Class {
    gpus: Vec<usize>,
    opts: Vec<Opt>,
    /// Demand lines this class's GPUs can serve at all.
    reach: usize,
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

fn classes(fleet: &Fleet, demand: &[DemandItem], ty: &Types) -> Vec<Class> {
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
fn transport(supply: &[u64], demand: &[DemandItem], ty: &Types) -> (Vec<Vec<(usize, u64)>>, f64) {
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

/// The number of option multisets the exact search would walk.
fn combinations(classes: &[Class]) -> f64 {
    classes
        .iter()
        .map(|c| {
            // multisets of n GPUs over k options: C(n + k - 1, n)
            let k = c.opts.len() as f64;
            let mut v = 1.0;
            for i in 0..c.gpus.len() {
                v *= (k + i as f64) / (i as f64 + 1.0);
                if v > EXACT_LIMIT {
                    break;
                }
            }
            v
        })
        .product()
}

/// Options chosen per GPU of each class (indices into its options).
type Choice = Vec<Vec<usize>>;

fn supply_of(classes: &[Class], choice: &Choice, t_n: usize) -> (Vec<u64>, u32, u32) {
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

fn exact(classes: &[Class], demand: &[DemandItem], ty: &Types) -> Choice {
    struct Walk<'a> {
        classes: &'a [Class],
        demand: &'a [DemandItem],
        ty: &'a Types,
        cur: Choice,
        best: Option<(Score, Choice)>,
    }
    impl Walk<'_> {
        /// Choose options for class `c`'s remaining GPUs, as a multiset
        /// (non-decreasing option indices from `min_opt`).
        fn rec(&mut self, c: usize, min_opt: usize) {
            if c == self.classes.len() {
                let (s, destroyed, gpus_used) =
                    supply_of(self.classes, &self.cur, self.ty.elig.len());
                let (_, served_weight) = transport(&s, self.demand, self.ty);
                let sc = Score {
                    served_weight,
                    destroyed,
                    gpus_used,
                };
                if self.best.as_ref().is_none_or(|(b, _)| sc.better(b)) {
                    self.best = Some((sc, self.cur.clone()));
                }
                return;
            }
            if self.cur[c].len() == self.classes[c].gpus.len() {
                self.rec(c + 1, 0);
                return;
            }
            for o in min_opt..self.classes[c].opts.len() {
                self.cur[c].push(o);
                self.rec(c, o);
                self.cur[c].pop();
            }
        }
    }
    let mut w = Walk {
        classes,
        demand,
        ty,
        cur: classes.iter().map(|_| Vec::new()).collect(),
        best: None,
    };
    w.rec(0, 0);
    w.best.map(|(_, ch)| ch).unwrap_or_default()
}

/// Value of one option given remaining demand: units go to their heaviest
/// line with room. Returns the value and the units taken per line.
fn option_value(o: &Opt, rem: &[u64], value: &[f64], ty: &Types) -> (f64, Vec<(usize, u64)>) {
    let mut taken: Vec<(usize, u64)> = Vec::new();
    let mut v = 0.0;
    for &(t, n) in &o.supply {
        let mut left = n as u64;
        for &d in &ty.elig[t] {
            if left == 0 {
                break;
            }
            let already = taken.iter().find(|x| x.0 == d).map_or(0, |x| x.1);
            let room = rem[d].saturating_sub(already);
            let k = room.min(left);
            if k > 0 {
                v += k as f64 * value[d];
                left -= k;
                match taken.iter_mut().find(|x| x.0 == d) {
                    Some(x) => x.1 += k,
                    None => taken.push((d, k)),
                }
            }
        }
    }
    (v, taken)
}

/// The best option of a class for the remaining demand: value, instances
/// destroyed, used, option index, units taken per line.
type Pick = (f64, u32, bool, usize, Vec<(usize, u64)>);

/// The residual greedy: class by class in `order_by`, the option that serves
/// the most remaining `value` (ties: fewer destroyed, then unused), for as
/// many GPUs as the remaining demand allows, until the class is placed.
fn greedy(
    classes: &[Class],
    demand: &[DemandItem],
    ty: &Types,
    value: &[f64],
    order_by: Order,
) -> Choice {
    let mut rem: Vec<u64> = demand.iter().map(|d| d.count as u64).collect();
    let mut choice: Choice = classes.iter().map(|_| Vec::new()).collect();
    let mut order: Vec<usize> = (0..classes.len()).collect();
    match order_by {
        Order::Reach => {
            order.sort_by_key(|&c| (classes[c].reach, std::cmp::Reverse(classes[c].gpus.len())))
        }
        Order::Constrained => order.sort_by_key(|&c| (classes[c].opts.len(), classes[c].reach)),
    }
    for c in order {
        let class = &classes[c];
        let mut left = class.gpus.len();
        while left > 0 {
            let mut best: Option<Pick> = None;
            for (i, o) in class.opts.iter().enumerate() {
                let (v, taken) = option_value(o, &rem, value, ty);
                let better = match &best {
                    None => true,
                    Some((bv, bd, bu, _, _)) => {
                        let eps = 1e-9 * (1.0 + bv.abs());
                        v > bv + eps || ((v - bv).abs() <= eps && (o.disturb, o.used) < (*bd, *bu))
                    }
                };
                if better {
                    best = Some((v, o.disturb, o.used, i, taken));
                }
            }
            let Some((_, _, _, i, taken)) = best else {
                break;
            };
            let k = taken
                .iter()
                .filter(|x| x.1 > 0)
                .map(|&(d, n)| (rem[d] / n) as usize)
                .min()
                .unwrap_or(left)
                .clamp(1, left);
            for &(d, n) in &taken {
                rem[d] = rem[d].saturating_sub(n * k as u64);
            }
            choice[c].extend(std::iter::repeat_n(i, k));
            left -= k;
        }
    }
    choice
}

/// The Lagrangian upper bound on served weight (see the module doc), given a
/// feasible value `lower` to size the steps.
/// Returns the bound and the prices that give it.
fn upper_bound(
    classes: &[Class],
    demand: &[DemandItem],
    ty: &Types,
    lower: f64,
) -> (f64, Vec<Vec<f64>>) {
    let d_n = demand.len();
    let w: Vec<f64> = demand.iter().map(|d| d.weight).collect();
    let mut price = vec![0.0f64; d_n];
    let mut best = f64::INFINITY;
    let mut best_price = price.clone();
    let mut snapshots = Vec::new();
    let mut theta = 1.0;
    let mut since = 0;
    for k in 0..ITERATIONS {
        if SNAPSHOTS.contains(&k) {
            snapshots.push(price.clone());
        }
        // value of one instance of each type, and the line it goes to
        let vt: Vec<(f64, usize)> = ty
            .elig
            .iter()
            .map(|ds| {
                ds.iter()
                    .map(|&d| (w[d] - price[d], d))
                    .fold((0.0, usize::MAX), |a, b| if b.0 > a.0 { b } else { a })
            })
            .collect();
        let mut ub: f64 = (0..d_n).map(|d| price[d] * demand[d].count as f64).sum();
        let mut usage = vec![0.0f64; d_n];
        for c in classes {
            let mut arg = None;
            let mut val = 0.0;
            for (oi, o) in c.opts.iter().enumerate() {
                let v: f64 = o.supply.iter().map(|&(t, n)| n as f64 * vt[t].0).sum();
                if v > val {
                    val = v;
                    arg = Some(oi);
                }
            }
            ub += c.gpus.len() as f64 * val;
            if let Some(oi) = arg {
                let o = &c.opts[oi];
                for &(t, n) in &o.supply {
                    if vt[t].1 != usize::MAX && vt[t].0 > 0.0 {
                        usage[vt[t].1] += (n as usize * c.gpus.len()) as f64;
                    }
                }
            }
        }
        if ub < best - 1e-9 {
            best = ub;
            best_price.clone_from(&price);
            since = 0;
        } else {
            since += 1;
            if since >= 40 {
                theta /= 2.0;
                since = 0;
            }
        }
        let g: Vec<f64> = (0..d_n)
            .map(|d| demand[d].count as f64 - usage[d])
            .collect();
        let norm: f64 = g.iter().map(|x| x * x).sum();
        if norm < 1e-12 || best - lower <= 1e-9 * (1.0 + best.abs()) {
            break;
        }
        let step = theta * (ub - lower).max(1e-6) / norm;
        for d in 0..d_n {
            price[d] = (price[d] - step * g[d]).clamp(0.0, w[d]);
        }
    }
    snapshots.push(best_price);
    // Serving everything is a bound too.
    let all: f64 = demand.iter().map(|d| d.weight * d.count as f64).sum();
    (best.min(all).max(lower), snapshots)
}

/// The order in which the greedy visits classes.
#[derive(Debug, Clone, Copy)]
enum Order {
    /// GPUs that can serve the fewest demand lines first.
    Reach,
    /// Fewest options (busy instances, existing layouts) first.
    Constrained,
}

/// Shares of the bound's prices taken off the weights in greedy runs: with
/// prices, a GPU prefers lines that other GPUs cannot serve as cheaply.
const SHARES: [f64; 2] = [0.5, 1.0];

/// The greedy in both class orders; the better packing and its served weight.
fn greedy_both(
    classes: &[Class],
    demand: &[DemandItem],
    ty: &Types,
    value: &[f64],
    eval: &dyn Fn(&Choice) -> f64,
) -> (f64, Choice) {
    [Order::Reach, Order::Constrained]
        .into_iter()
        .map(|order| {
            let ch = greedy(classes, demand, ty, value, order);
            (eval(&ch), ch)
        })
        .fold((f64::NEG_INFINITY, Vec::new()), |a, b| {
            if b.0 > a.0 {
                b
            } else {
                a
            }
        })
}

/// Rounds of raising the value of unserved lines in the greedy.
const ROUNDS: usize = 6;

/// Iterations whose prices also steer greedy runs (besides the best ones):
/// the greedy's quality depends on the prices, so several are tried.
const SNAPSHOTS: [usize; 5] = [25, 50, 100, 200, 400];

/// Subgradient iterations of the bound.
const ITERATIONS: usize = 1000;

/// Pack the fleet's demand. Exact when the fleet's option combinations are
/// few (see [`EXACT_LIMIT`]), the residual greedy otherwise. Returns the
/// packing and the upper bound on served weight.
pub fn pack(fleet: &Fleet, demand: &[DemandItem]) -> (PackResult, f64) {
    let ty = types(fleet, demand);
    let classes = classes(fleet, demand, &ty);
    let is_exact = combinations(&classes) <= EXACT_LIMIT;
    if is_exact {
        let choice = exact(&classes, demand, &ty);
        let r = realise(fleet, demand, &ty, &classes, &choice, true);
        let ub = r.served_weight;
        return (r, ub);
    }
    // Greedy with the plain weights, then with weights less a share of the
    // bound's prices (which steer GPUs away from lines others serve cheaply);
    // the best packing wins.
    let weights: Vec<f64> = demand.iter().map(|d| d.weight).collect();
    let t_n = ty.elig.len();
    let eval = |ch: &Choice| transport(&supply_of(&classes, ch, t_n).0, demand, &ty).1;
    let mut best = greedy(&classes, demand, &ty, &weights, Order::Reach);
    let mut best_v = eval(&best);
    let mut best_value = weights.clone();
    let (mut ub, prices) = upper_bound(&classes, demand, &ty, best_v);
    for (price, share) in prices
        .iter()
        .flat_map(|p| SHARES.iter().map(move |s| (p, *s)))
    {
        let value: Vec<f64> = weights
            .iter()
            .zip(price)
            .map(|(w, p)| (w - share * p).max(1e-3 * w))
            .collect();
        let (v, ch) = greedy_both(&classes, demand, &ty, &value, &eval);
        if v > best_v {
            best_v = v;
            best = ch;
            best_value.clone_from(&value);
        }
    }
    // Then raise the greedy's value of lines left unserved (by the share
    // unserved) and run again, a few rounds, keeping the best packing by the
    // true weights: lines only some GPUs can serve get those GPUs.
    let mut value = best_value;
    for _ in 0..ROUNDS {
        let (s, _, _) = supply_of(&classes, &best, t_n);
        let (flows, _) = transport(&s, demand, &ty);
        let mut served = vec![0u64; demand.len()];
        for &(d, n) in flows.iter().flatten() {
            served[d] += n;
        }
        let mut changed = false;
        for (d, item) in demand.iter().enumerate() {
            let short = item.count as u64 - served[d].min(item.count as u64);
            if short > 0 {
                value[d] *= 1.0 + short as f64 / item.count as f64;
                changed = true;
            }
        }
        if !changed {
            break;
        }
        let (v, ch) = greedy_both(&classes, demand, &ty, &value, &eval);
        if v > best_v {
            best_v = v;
            best = ch;
        }
    }
    let best = realise(fleet, demand, &ty, &classes, &best, false);
    ub = ub.max(best.served_weight);
    (best, ub)
}

/// The Lagrangian upper bound alone (for baselines and reports).
pub fn bound(fleet: &Fleet, demand: &[DemandItem], lower: f64) -> f64 {
    let ty = types(fleet, demand);
    let classes = classes(fleet, demand, &ty);
    upper_bound(&classes, demand, &ty, lower).0
}

/// Turn chosen options into per-GPU plans with the exact assignment.
fn realise(
    fleet: &Fleet,
    demand: &[DemandItem],
    ty: &Types,
    classes: &[Class],
    choice: &Choice,
    exact: bool,
) -> PackResult {
    let (supply, _, _) = supply_of(classes, choice, ty.elig.len());
    let (flows, _) = transport(&supply, demand, ty);
    let mut left: Vec<Vec<(usize, u64)>> = flows;
    let mut chosen: Vec<Option<&Layout>> = vec![None; fleet.gpus.len()];
    for (c, ch) in classes.iter().zip(choice) {
        for (&g, &o) in c.gpus.iter().zip(ch) {
            chosen[g] = Some(&c.opts[o].layout);
        }
    }
    let finals: Vec<(Layout, Vec<(GpuInstanceId, usize)>)> = fleet
        .gpus
        .iter()
        .zip(&chosen)
        .map(|(g, l)| {
            let target = l.cloned().unwrap_or_else(|| g.layout.clone());
            let mut serves = Vec::new();
            let mut keep = Layout::new(g.layout.mirrored);
            for gi in &target.gpu_instances {
                let existing = g
                    .layout
                    .gpu_instances
                    .iter()
                    .find(|x| x.profile_id == gi.profile_id && x.placement == gi.placement);
                if existing.is_some_and(|x| g.busy.contains(&x.id)) {
                    keep.gpu_instances
                        .push(existing.cloned().unwrap_or_else(|| gi.clone()));
                    continue;
                }
                let served = ty
                    .index
                    .get(&(g.model.slug.as_str(), gi.profile_id.0))
                    .and_then(|&t| {
                        let slot = left[t].iter_mut().find(|x| x.1 > 0)?;
                        slot.1 -= 1;
                        Some(slot.0)
                    });
                match (served, existing) {
                    (Some(d), e) => {
                        let kept = e.cloned().unwrap_or_else(|| gi.clone());
                        serves.push((kept.id, d));
                        keep.gpu_instances.push(kept);
                    }
                    (None, Some(e)) => keep.gpu_instances.push(e.clone()),
                    (None, None) => {}
                }
            }
            keep.gpu_instances.sort_by_key(|x| x.id);
            (keep, serves)
        })
        .collect();
    summarise(fleet, demand, finals, exact)
}

/// Plans and figures from each GPU's final layout and what it serves.
pub fn summarise(
    fleet: &Fleet,
    demand: &[DemandItem],
    finals: Vec<(Layout, Vec<(GpuInstanceId, usize)>)>,
    exact: bool,
) -> PackResult {
    let mut r = PackResult {
        plans: Vec::new(),
        served: vec![0; demand.len()],
        served_weight: 0.0,
        demand_weight: demand.iter().map(|d| d.count as f64 * d.weight).sum(),
        destroyed: 0,
        created: 0,
        gpus_used: 0,
        stranded_slices: 0,
        used_slices: 0,
        exact,
    };
    for (i, (g, (target, serves))) in fleet.gpus.iter().zip(finals).enumerate() {
        let m = g.model;
        let same = |a: &mig_model::engine::GpuInstance, b: &mig_model::engine::GpuInstance| {
            a.profile_id == b.profile_id && a.placement == b.placement
        };
        let name = |p: GiProfileId| gi_profile(m, p).map(|x| x.name.clone()).unwrap_or_default();
        let destroy: Vec<(GpuInstanceId, String, Placement)> = g
            .layout
            .gpu_instances
            .iter()
            .filter(|x| !target.gpu_instances.iter().any(|y| same(x, y)))
            .map(|x| (x.id, name(x.profile_id), x.placement))
            .collect();
        // Build the final layout through the engine: destroy, then create at
        // the chosen placements (which checks them once more).
        let mut layout = g.layout.clone();
        for (id, _, _) in &destroy {
            if let Some(gi) = layout.gpu_instances.iter_mut().find(|x| x.id == *id) {
                gi.compute_instances.clear();
            }
            let _ = layout.destroy_gi(*id);
        }
        let mut create = Vec::new();
        let mut serves_final = Vec::new();
        for gi in &target.gpu_instances {
            if g.layout.gpu_instances.iter().any(|x| same(x, gi)) {
                if let Some(&(_, d)) = serves.iter().find(|(id, _)| *id == gi.id) {
                    serves_final.push((gi.id, d));
                }
                continue;
            }
            if let Ok(id) = layout.create_gi(m, gi.profile_id, Some(gi.placement)) {
                create.push((name(gi.profile_id), gi.placement, id));
                if let Some(&(_, d)) = serves.iter().find(|(x, _)| *x == gi.id) {
                    serves_final.push((id, d));
                }
            }
        }
        for &(_, d) in &serves_final {
            r.served[d] += 1;
        }
        r.destroyed += destroy.len() as u32;
        r.created += create.len() as u32;
        if !layout.gpu_instances.is_empty() {
            r.gpus_used += 1;
            let unit = crate::fit::slice_unit(m);
            let total = crate::fit::memory_slices(m);
            let useful: u32 = layout
                .gpu_instances
                .iter()
                .filter(|x| g.busy.contains(&x.id) || serves_final.iter().any(|s| s.0 == x.id))
                .map(|x| x.placement.size / unit)
                .sum();
            r.used_slices += total;
            r.stranded_slices += total - useful.min(total);
        }
        r.plans.push(GpuPlan {
            gpu: i,
            layout,
            destroy,
            create,
            serves: serves_final,
        });
    }
    r.served_weight = r
        .served
        .iter()
        .zip(demand)
        .map(|(&s, d)| s as f64 * d.weight)
        .sum();
    r
}

/// The baseline schedulers in the field use (HAMi's reservation-first
/// scheduler, the DRA driver through kube-scheduler): demand units one by one
/// in file order; each goes to the first GPU, in fleet order, with an idle
/// eligible instance or room for the smallest-memory eligible profile at its
/// first free placement (HAMi scans `1g`/`3g` from the highest start); nothing
/// is ever destroyed or moved.
pub fn first_fit(fleet: &Fleet, demand: &[DemandItem]) -> PackResult {
    let mut layouts: Vec<Layout> = fleet.gpus.iter().map(|g| g.layout.clone()).collect();
    let mut taken: Vec<Vec<GpuInstanceId>> = fleet
        .gpus
        .iter()
        .map(|g| g.busy.iter().copied().collect())
        .collect();
    let mut serves: Vec<Vec<(GpuInstanceId, usize)>> = vec![Vec::new(); fleet.gpus.len()];
    for (d, item) in demand.iter().enumerate() {
        let mut from = 0;
        for _ in 0..item.count {
            let mut placed = false;
            while from < fleet.gpus.len() {
                let g = &fleet.gpus[from];
                let m = g.model;
                // an idle instance that serves it
                if let Some(gi) = layouts[from].gpu_instances.iter().find(|x| {
                    !taken[from].contains(&x.id)
                        && gi_profile(m, x.profile_id).is_ok_and(|p| item.eligible(m, p))
                }) {
                    let id = gi.id;
                    taken[from].push(id);
                    serves[from].push((id, d));
                    placed = true;
                    break;
                }
                let mut profiles: Vec<_> = m
                    .gi_profiles
                    .iter()
                    .filter(|p| item.eligible(m, p))
                    .collect();
                profiles.sort_by_key(|p| (p.memory_mb, p.slices));
                let mut created = None;
                for p in profiles {
                    let mut pls = layouts[from].creatable_gi_placements(m, p);
                    if p.name.starts_with("1g.") || p.name.starts_with("3g.") {
                        pls.reverse();
                    }
                    if let Some(&pl) = pls.first() {
                        created = layouts[from].create_gi(m, GiProfileId(p.id), Some(pl)).ok();
                        if created.is_some() {
                            break;
                        }
                    }
                }
                if let Some(id) = created {
                    taken[from].push(id);
                    serves[from].push((id, d));
                    placed = true;
                    break;
                }
                from += 1;
            }
            if !placed {
                break;
            }
        }
    }
    let finals = layouts.into_iter().zip(serves).collect();
    summarise(fleet, demand, finals, false)
}

/// One node's config in mig-parted's v1 format: a config named `name`
/// with one entry per GPU (by index), its MIG mode and GPU-instance profile
/// counts after the packing.
pub fn node_config(fleet: &Fleet, result: &PackResult, node: usize, name: &str) -> String {
    let mut s = format!("version: v1\nmig-configs:\n  {name}:\n");
    for p in result
        .plans
        .iter()
        .filter(|p| fleet.gpus[p.gpu].node == node)
    {
        let g = &fleet.gpus[p.gpu];
        let mut counts: Vec<(String, u32)> = Vec::new();
        for gi in &p.layout.gpu_instances {
            let n = gi_profile(g.model, gi.profile_id)
                .map(|x| x.name.clone())
                .unwrap_or_default();
            match counts.iter_mut().find(|c| c.0 == n) {
                Some(c) => c.1 += 1,
                None => counts.push((n, 1)),
            }
        }
        let enabled = g.mig_enabled || !counts.is_empty();
        s.push_str(&format!(
            "  - devices: [{}]\n    mig-enabled: {enabled}\n",
            g.index
        ));
        if enabled {
            if counts.is_empty() {
                s.push_str("    mig-devices: {}\n");
            } else {
                s.push_str("    mig-devices:\n");
                for (n, c) in counts {
                    s.push_str(&format!("      \"{n}\": {c}\n"));
                }
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleetgen::{generate, Rng};
    use crate::inventory::Want;
    use mig_model::catalog;
    use std::collections::{BTreeSet, HashMap};

    type Key = Vec<(u32, u32, u32)>;

    /// Best served weight of a set of instances (each a list of the demand
    /// lines it may serve), by exhaustive assignment with memory.
    fn best_served(
        units: &[Vec<usize>],
        rem: &mut Vec<u32>,
        i: usize,
        w: &[f64],
        memo: &mut HashMap<(usize, Vec<u32>), f64>,
    ) -> f64 {
        if i == units.len() {
            return 0.0;
        }
        if let Some(&v) = memo.get(&(i, rem.clone())) {
            return v;
        }
        let mut best = best_served(units, rem, i + 1, w, memo);
        for &d in &units[i] {
            if rem[d] > 0 {
                rem[d] -= 1;
                best = best.max(w[d] + best_served(units, rem, i + 1, w, memo));
                rem[d] += 1;
            }
        }
        memo.insert((i, rem.clone()), best);
        best
    }

    /// A GPU's busy GIs as (start, size, profile ID).
    fn busy_keys(g: &FleetGpu) -> Vec<(u32, u32, u32)> {
        g.layout
            .gpu_instances
            .iter()
            .filter(|x| g.busy.contains(&x.id))
            .map(|x| (x.placement.start, x.placement.size, x.profile_id.0))
            .collect()
    }

    /// The lexicographic optimum by brute force: every combination of every
    /// GPU's layouts (from the brute-force layout list, keeping busy GIs).
    fn brute_optimum(fleet: &Fleet, demand: &[DemandItem]) -> Option<Score> {
        let per_gpu: Vec<Vec<Key>> = fleet
            .gpus
            .iter()
            .map(|g| {
                let busy = busy_keys(g);
                layouts::brute_force(g.model)
                    .into_iter()
                    .filter(|k| busy.iter().all(|b| k.contains(b)))
                    .collect()
            })
            .collect();
        let combos: f64 = per_gpu.iter().map(|v| v.len() as f64).product();
        if combos > 60_000.0 {
            return None;
        }
        let w: Vec<f64> = demand.iter().map(|d| d.weight).collect();
        let mut best: Option<Score> = None;
        let mut idx = vec![0usize; per_gpu.len()];
        loop {
            let mut units = Vec::new();
            let (mut destroyed, mut used) = (0, 0);
            for (g, (gpu, &k)) in fleet.gpus.iter().zip(&idx).enumerate() {
                let l = &per_gpu[g][k];
                used += !l.is_empty() as u32;
                for x in &gpu.layout.gpu_instances {
                    let key = (x.placement.start, x.placement.size, x.profile_id.0);
                    if !gpu.busy.contains(&x.id) && !l.contains(&key) {
                        destroyed += 1;
                    }
                }
                let busy = busy_keys(gpu);
                for &(s, z, p) in l {
                    if busy.contains(&(s, z, p)) {
                        continue;
                    }
                    let prof = gpu.model.gi_profiles.iter().find(|q| q.id == p).unwrap();
                    units.push(
                        (0..demand.len())
                            .filter(|&d| demand[d].eligible(gpu.model, prof))
                            .collect::<Vec<_>>(),
                    );
                }
            }
            let mut rem: Vec<u32> = demand.iter().map(|d| d.count).collect();
            let served_weight = best_served(&units, &mut rem, 0, &w, &mut HashMap::new());
            let sc = Score {
                served_weight,
                destroyed,
                gpus_used: used,
            };
            if best.is_none_or(|b| sc.better(&b)) {
                best = Some(sc);
            }
            // next combination
            let mut g = 0;
            loop {
                if g == idx.len() {
                    return best;
                }
                idx[g] += 1;
                if idx[g] < per_gpu[g].len() {
                    break;
                }
                idx[g] = 0;
                g += 1;
            }
        }
    }

    /// A random small fleet of A30 and RTX PRO 5000 GPUs with random current
    /// layouts and busy instances, and a random demand.
    fn small_case(seed: u64) -> (Fleet, Vec<DemandItem>) {
        let mut rng = Rng::new(seed);
        let mut fleet = Fleet {
            nodes: vec!["n0".into(), "n1".into()],
            gpus: Vec::new(),
        };
        let n = 2 + rng.below(2) as usize;
        for i in 0..n {
            let slug = if rng.chance(0.5) {
                "a30-24gb"
            } else {
                "rtx-pro-5000"
            };
            let m = catalog::model(slug).unwrap();
            let all = layouts::enumerate(m, false);
            let layout = if rng.chance(0.6) {
                all[rng.below(all.len() as u64) as usize].clone()
            } else {
                Layout::new(false)
            };
            let busy: BTreeSet<GpuInstanceId> = layout
                .gpu_instances
                .iter()
                .filter(|_| rng.chance(0.3))
                .map(|g| g.id)
                .collect();
            fleet.gpus.push(FleetGpu {
                node: i % 2,
                index: i as u32,
                uuid: None,
                model: m,
                mig_enabled: true,
                layout,
                busy,
            });
        }
        let wants = [
            Want::Profile("1g.6gb".into()),
            Want::Profile("2g.12gb".into()),
            Want::Profile("1g.24gb".into()),
            Want::Needs {
                memory_gb: 12.0,
                sms: 0,
                media_engines: false,
            },
            Want::Needs {
                memory_gb: 0.0,
                sms: 0,
                media_engines: true,
            },
        ];
        let lines = 2 + rng.below(2) as usize;
        let mut demand = Vec::new();
        for k in 0..lines {
            let want = wants[rng.below(wants.len() as u64) as usize].clone();
            demand.push(DemandItem {
                name: format!("d{k}"),
                want,
                models: None,
                count: rng.below(5) as u32,
                weight: [1.0, 2.0, 3.0][rng.below(3) as usize],
            });
        }
        (fleet, demand)
    }

    fn check_plans(fleet: &Fleet, demand: &[DemandItem], r: &PackResult) {
        for p in &r.plans {
            let g = &fleet.gpus[p.gpu];
            assert!(p.layout.validate(g.model).is_ok());
            for b in &g.busy {
                let before = g.layout.gpu_instance(*b).unwrap();
                assert_eq!(
                    p.layout.gpu_instance(*b).unwrap(),
                    before,
                    "busy GI {b} touched"
                );
            }
            let created: usize = p
                .layout
                .gpu_instances
                .iter()
                .filter(|x| {
                    !g.layout
                        .gpu_instances
                        .iter()
                        .any(|y| y.id == x.id && y.profile_id == x.profile_id)
                })
                .count();
            assert_eq!(created, p.create.len());
            for (id, d) in &p.serves {
                let gi = p.layout.gpu_instance(*id).unwrap();
                assert!(!g.busy.contains(id));
                assert!(demand[*d].eligible(g.model, gi_profile(g.model, gi.profile_id).unwrap()));
            }
        }
        for (s, d) in r.served.iter().zip(demand) {
            assert!(*s <= d.count);
        }
    }

    /// Proves `pack` is optimal on small fleets: on random fleets of 2-3
    /// GPUs (current layouts, busy instances) and random demands, its
    /// (served weight, instances destroyed, GPUs used) equals the
    /// lexicographic optimum of an exhaustive search over every combination
    /// of every GPU's layouts with an exhaustive assignment; and its plans are
    /// valid, keep busy instances and serve only eligible lines.
    #[test]
    fn pack_is_optimal_on_small_fleets() {
        let mut checked = 0;
        for seed in 0..40 {
            let (fleet, demand) = small_case(seed);
            let Some(opt) = brute_optimum(&fleet, &demand) else {
                continue;
            };
            let (r, ub) = pack(&fleet, &demand);
            assert!(r.exact, "seed {seed}: small fleet not solved exactly");
            check_plans(&fleet, &demand, &r);
            let got = Score {
                served_weight: r.served_weight,
                destroyed: r.destroyed,
                gpus_used: r.gpus_used,
            };
            assert!(
                !got.better(&opt) && !opt.better(&got),
                "seed {seed}: pack {got:?}, optimum {opt:?}"
            );
            assert!((ub - r.served_weight).abs() < 1e-9);
            checked += 1;
        }
        assert!(checked >= 25, "only {checked} cases small enough");
    }

    /// Proves on a generated 400-GPU fleet (the heuristic path) that plans
    /// are valid and keep busy instances, that served weight lies between the
    /// first-fit baseline's and the upper bound, and that the bound is at
    /// least what any packing serves (first fit included).
    #[test]
    fn heuristic_between_baseline_and_bound() {
        let (fleet, demand) = generate(400, 2_800, 7);
        let (r, ub) = pack(&fleet, &demand);
        assert!(!r.exact);
        check_plans(&fleet, &demand, &r);
        let ff = first_fit(&fleet, &demand);
        check_plans(&fleet, &demand, &ff);
        assert!(r.served_weight <= ub + 1e-6);
        assert!(ff.served_weight <= ub + 1e-6);
        assert!(r.served_weight >= ff.served_weight);
        assert!(r.served_weight >= 0.95 * ub, "{} of {ub}", r.served_weight);
    }
}
