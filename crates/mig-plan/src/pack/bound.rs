//! The Lagrangian (dual) upper bound on served weight.
//!
//! For prices `p_d >= 0` on the demand lines, every packing serves at most
//! `sum_d p_d * count_d + sum_gpu max_option sum_instance max(0, max_d (w_d -
//! p_d))` (weak duality of relaxing the demand counts). The bound reported is
//! the least of these over the prices the subgradient run visits, and of the
//! weight of all demand (the same sum at prices equal to the weights). It is
//! never raised to what a packing served: a packing above it would be a bug,
//! and the tests compare it with a brute-force optimum.

use super::classes::{Class, Types};
use crate::inventory::DemandItem;

/// Iterations whose prices also steer greedy runs (besides the best ones):
/// the greedy's quality depends on the prices, so several are tried.
const SNAPSHOTS: [usize; 5] = [25, 50, 100, 200, 400];

/// Subgradient iterations of the bound.
const ITERATIONS: usize = 1000;

/// The Lagrangian upper bound on served weight (see the module doc), given a
/// feasible value `lower` to size the steps and stop early once the bound
/// meets it. Returns the bound and price snapshots (the last the best).
pub(super) fn upper_bound(
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
    // Serving everything is a bound too (the dual at prices = weights).
    let all: f64 = demand.iter().map(|d| d.weight * d.count as f64).sum();
    (best.min(all), snapshots)
}
