//! Branch and bound over every GPU's options: proven optimal packings of
//! small fleets.
//!
//! The search picks an option for each GPU, class by class (the GPUs of a
//! class take a multiset of options, so permutations of alike GPUs are walked
//! once). At each node an optimistic score bounds every completion: for
//! served weight, the lesser of two bounds: the Lagrangian bound at the
//! prices of the root's dual bound (its constant, the chosen options' values
//! at those prices, and each remaining GPU's best value), and the assignment
//! with each remaining GPU given the element-wise largest supply of the
//! options it may still take (serving is monotone in supply); for instances
//! destroyed and GPUs used, the chosen ones plus the least any remaining GPU
//! can add. A node whose optimistic score is not
//! strictly better than the best packing known is cut. The walk starts from
//! the heuristic's packing, so a search that finishes proves the best packing
//! it knows optimal for the lexicographic objective (served weight, then
//! instances destroyed, then GPUs used); one that runs out of nodes
//! ([`NODE_LIMIT`]) proves nothing.

use super::classes::{transport, Choice, Class, Score, Types};
use crate::inventory::DemandItem;

/// Fleets of at most this many GPUs are searched exactly.
pub const EXACT_GPUS: usize = 16;

/// Nodes the search may visit before it gives up (about a second).
pub const NODE_LIMIT: u64 = 100_000;

/// What the search found: a packing strictly better than the one it started
/// from (if any), whether it finished (so the best known is optimal), and the
/// nodes it visited.
pub(super) struct Outcome {
    pub(super) better: Option<Choice>,
    pub(super) complete: bool,
    pub(super) nodes: u64,
}

/// Per class, options in search order (most valuable first) and, for
/// each position, what the options from there on can give at most (supply)
/// and at least (destroyed, used).
struct Suffix {
    order: Vec<usize>,
    /// Each option's value at the prices (by option index), and the most of
    /// the options from each position on.
    value: Vec<f64>,
    max_value: Vec<f64>,
    max_supply: Vec<Vec<u64>>,
    min_destroy: Vec<u32>,
    min_used: Vec<u32>,
}

fn suffixes(classes: &[Class], demand: &[DemandItem], ty: &Types, gain: &[f64]) -> Vec<Suffix> {
    let t_n = ty.elig.len();
    // the most one instance of a type can be worth
    let top: Vec<f64> = ty
        .elig
        .iter()
        .map(|ds| ds.first().map_or(0.0, |&d| demand[d].weight))
        .collect();
    classes
        .iter()
        .map(|c| {
            // each option's value at the prices; the search tries the most
            // valuable first, so good packings come early and the suffix
            // bounds fall fast
            let lag: Vec<f64> = c
                .opts
                .iter()
                .map(|o| o.supply.iter().map(|&(t, n)| n as f64 * gain[t]).sum())
                .collect();
            let value = |o: usize| -> f64 {
                c.opts[o]
                    .supply
                    .iter()
                    .map(|&(t, n)| n as f64 * top[t])
                    .sum()
            };
            let mut order: Vec<usize> = (0..c.opts.len()).collect();
            order.sort_by(|&a, &b| {
                lag[b]
                    .total_cmp(&lag[a])
                    .then(value(b).total_cmp(&value(a)))
                    .then(c.opts[a].disturb.cmp(&c.opts[b].disturb))
                    .then(c.opts[a].used.cmp(&c.opts[b].used))
            });
            let k = order.len();
            let mut max_value = vec![0.0f64; k + 1];
            let mut max_supply = vec![vec![0u64; t_n]; k + 1];
            let mut min_destroy = vec![u32::MAX; k + 1];
            let mut min_used = vec![u32::MAX; k + 1];
            for i in (0..k).rev() {
                let o = &c.opts[order[i]];
                max_supply[i] = max_supply[i + 1].clone();
                for &(t, n) in &o.supply {
                    max_supply[i][t] = max_supply[i][t].max(n as u64);
                }
                max_value[i] = max_value[i + 1].max(lag[order[i]]);
                min_destroy[i] = min_destroy[i + 1].min(o.disturb);
                min_used[i] = min_used[i + 1].min(o.used as u32);
            }
            Suffix {
                order,
                value: lag,
                max_value,
                max_supply,
                min_destroy,
                min_used,
            }
        })
        .collect()
}

struct Search<'a> {
    classes: &'a [Class],
    demand: &'a [DemandItem],
    ty: &'a Types,
    suf: Vec<Suffix>,
    /// Per class: what the classes after it give at most / at least.
    rest_supply: Vec<Vec<u64>>,
    rest_destroy: Vec<u32>,
    rest_used: Vec<u32>,
    /// The Lagrangian constant, and per class what the classes from it on
    /// give at most at the prices.
    lag_const: f64,
    rest_value: Vec<f64>,
    /// The chosen options' value at the prices.
    value: f64,
    supply: Vec<u64>,
    destroyed: u32,
    used: u32,
    cur: Choice,
    best: Score,
    better: Option<Choice>,
    nodes: u64,
    aborted: bool,
}

impl Search<'_> {
    /// Where no completion serves more than the best packing, one can only
    /// win by serving as much with fewer instances destroyed or, destroying
    /// as few, fewer GPUs used. In that last case at most `best - 1 - used`
    /// more GPUs may hold instances, and an unused GPU supplies nothing: if
    /// that many GPUs (each with its largest supply) cannot serve as much,
    /// nothing below this node wins.
    fn tie_cannot_win(&self, c: usize, from: usize, optimistic: &Score) -> bool {
        let eps = 1e-9 * (1.0 + self.best.served_weight.abs());
        if optimistic.served_weight > self.best.served_weight + eps
            || optimistic.destroyed < self.best.destroyed
        {
            return false;
        }
        let k = self.best.gpus_used.saturating_sub(1 + self.used) as usize;
        let mut supply = self.supply.clone();
        let left = self.classes[c].gpus.len() - self.cur[c].len();
        for (t, x) in supply.iter_mut().enumerate() {
            *x += left.min(k) as u64 * self.suf[c].max_supply[from][t];
        }
        for (cc, class) in self.classes.iter().enumerate().skip(c + 1) {
            let n = class.gpus.len().min(k) as u64;
            for (t, x) in supply.iter_mut().enumerate() {
                *x += n * self.suf[cc].max_supply[0][t];
            }
        }
        transport(&supply, self.demand, self.ty).1 < self.best.served_weight - eps
    }

    /// Choose options for class `c`'s remaining GPUs from position `from`
    /// of its search order on (a multiset: positions never decrease).
    fn walk(&mut self, c: usize, from: usize) {
        if self.aborted {
            return;
        }
        self.nodes += 1;
        if self.nodes > NODE_LIMIT {
            self.aborted = true;
            return;
        }
        if c == self.classes.len() {
            let (_, served_weight) = transport(&self.supply, self.demand, self.ty);
            let sc = Score {
                served_weight,
                destroyed: self.destroyed,
                gpus_used: self.used,
            };
            if sc.better(&self.best) {
                self.best = sc;
                self.better = Some(self.cur.clone());
            }
            return;
        }
        let left = self.classes[c].gpus.len() - self.cur[c].len();
        if left == 0 {
            self.walk(c + 1, 0);
            return;
        }
        let s = &self.suf[c];
        let mut optimistic = Score {
            served_weight: self.lag_const
                + self.value
                + left as f64 * s.max_value[from]
                + self.rest_value[c + 1],
            destroyed: self.destroyed
                + left as u32 * s.min_destroy[from]
                + self.rest_destroy[c + 1],
            gpus_used: self.used + left as u32 * s.min_used[from] + self.rest_used[c + 1],
        };
        if !optimistic.better(&self.best) {
            return;
        }
        let optimistic_supply: Vec<u64> = (0..self.supply.len())
            .map(|t| {
                self.supply[t] + left as u64 * s.max_supply[from][t] + self.rest_supply[c + 1][t]
            })
            .collect();
        optimistic.served_weight = optimistic
            .served_weight
            .min(transport(&optimistic_supply, self.demand, self.ty).1);
        if !optimistic.better(&self.best) || self.tie_cannot_win(c, from, &optimistic) {
            return;
        }
        for k in from..self.suf[c].order.len() {
            let o = self.suf[c].order[k];
            let opt = &self.classes[c].opts[o];
            for &(t, n) in &opt.supply {
                self.supply[t] += n as u64;
            }
            self.destroyed += opt.disturb;
            self.used += opt.used as u32;
            self.value += self.suf[c].value[o];
            self.cur[c].push(o);
            self.walk(c, k);
            self.cur[c].pop();
            let opt = &self.classes[c].opts[o];
            for &(t, n) in &opt.supply {
                self.supply[t] -= n as u64;
            }
            self.destroyed -= opt.disturb;
            self.used -= opt.used as u32;
            self.value -= self.suf[c].value[o];
        }
    }
}

/// Search for a packing strictly better than `incumbent` (the score of a
/// packing already known), bounding with the Lagrangian at `prices` (one
/// per demand line, at least 0; any such prices give a valid bound).
pub(super) fn branch_and_bound(
    classes: &[Class],
    demand: &[DemandItem],
    ty: &Types,
    incumbent: Score,
    prices: &[f64],
) -> Outcome {
    let t_n = ty.elig.len();
    let price = |d: usize| prices.get(d).copied().unwrap_or(0.0).max(0.0);
    // what one instance of a type adds at the prices
    let gain: Vec<f64> = ty
        .elig
        .iter()
        .map(|ds| {
            ds.iter()
                .map(|&d| demand[d].weight - price(d))
                .fold(0.0, f64::max)
        })
        .collect();
    let lag_const: f64 = (0..demand.len())
        .map(|d| price(d) * demand[d].count as f64)
        .sum();
    let suf = suffixes(classes, demand, ty, &gain);
    let n = classes.len();
    let mut rest_supply = vec![vec![0u64; t_n]; n + 1];
    let mut rest_destroy = vec![0u32; n + 1];
    let mut rest_used = vec![0u32; n + 1];
    let mut rest_value = vec![0.0f64; n + 1];
    for c in (0..n).rev() {
        let g = classes[c].gpus.len() as u64;
        let after = rest_supply[c + 1].clone();
        for ((x, a), m) in rest_supply[c]
            .iter_mut()
            .zip(after)
            .zip(&suf[c].max_supply[0])
        {
            *x = a + g * m;
        }
        rest_destroy[c] = rest_destroy[c + 1] + g as u32 * suf[c].min_destroy[0];
        rest_used[c] = rest_used[c + 1] + g as u32 * suf[c].min_used[0];
        rest_value[c] = rest_value[c + 1] + g as f64 * suf[c].max_value[0];
    }
    let mut s = Search {
        classes,
        demand,
        ty,
        suf,
        rest_supply,
        rest_destroy,
        rest_used,
        lag_const,
        rest_value,
        value: 0.0,
        supply: vec![0; t_n],
        destroyed: 0,
        used: 0,
        cur: classes.iter().map(|_| Vec::new()).collect(),
        best: incumbent,
        better: None,
        nodes: 0,
        aborted: false,
    };
    s.walk(0, 0);
    Outcome {
        better: s.better,
        complete: !s.aborted,
        nodes: s.nodes,
    }
}
