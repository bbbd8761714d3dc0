//! The residual greedy: the packer for fleets too large to solve exactly.

use super::bound::upper_bound;
use super::classes::{supply_of, transport, Choice, Class, Opt, Types};
use crate::inventory::DemandItem;

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

/// The heuristic packing: the greedy with the plain weights, then with
/// weights less a share of the bound's prices (which steer GPUs away from
/// lines others serve cheaply), then a few rounds raising the value of lines
/// left unserved; the best packing by the true weights wins. Returns it with
/// the dual bound (computed on the way, see [`upper_bound`]) and the prices
/// that give the bound.
pub(super) fn heuristic(
    classes: &[Class],
    demand: &[DemandItem],
    ty: &Types,
) -> (Choice, f64, Vec<f64>) {
    let weights: Vec<f64> = demand.iter().map(|d| d.weight).collect();
    let t_n = ty.elig.len();
    let eval = |ch: &Choice| transport(&supply_of(classes, ch, t_n).0, demand, ty).1;
    let mut best = greedy(classes, demand, ty, &weights, Order::Reach);
    let mut best_v = eval(&best);
    let mut best_value = weights.clone();
    let (ub, prices) = upper_bound(classes, demand, ty, best_v);
    for (price, share) in prices
        .iter()
        .flat_map(|p| SHARES.iter().map(move |s| (p, *s)))
    {
        let value: Vec<f64> = weights
            .iter()
            .zip(price)
            .map(|(w, p)| (w - share * p).max(1e-3 * w))
            .collect();
        let (v, ch) = greedy_both(classes, demand, ty, &value, &eval);
        if v > best_v {
            best_v = v;
            best = ch;
            best_value.clone_from(&value);
        }
    }
    // Raise the greedy's value of lines left unserved (by the share
    // unserved) and run again: lines only some GPUs can serve get those GPUs.
    let mut value = best_value;
    for _ in 0..ROUNDS {
        let (s, _, _) = supply_of(classes, &best, t_n);
        let (flows, _) = transport(&s, demand, ty);
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
        let (v, ch) = greedy_both(classes, demand, ty, &value, &eval);
        if v > best_v {
            best_v = v;
            best = ch;
        }
    }
    let best_prices = prices.last().cloned().unwrap_or_default();
    (best, ub, best_prices)
}
