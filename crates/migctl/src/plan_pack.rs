//! `migctl pack`, `migctl export --inventory` and `migctl bench pack`:
//! reading files, printing figures; the packing is `mig_plan::pack`'s.

use crate::plan_verbs::{machine_snapshots, Failure};
use mig_plan::inventory::{self, DemandItem, Fleet};
use mig_plan::pack::{self, PackResult};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

type R<T> = Result<T, Failure>;

fn read(path: &Path) -> R<String> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| Failure(1, format!("cannot read stdin: {e}")))?;
        return Ok(s);
    }
    std::fs::read_to_string(path)
        .map_err(|e| Failure(1, format!("cannot read {}: {e}", path.display())))
}

fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}

/// Per node: instances destroyed and created.
fn per_node(fleet: &Fleet, r: &PackResult) -> Vec<(String, usize, usize)> {
    fleet
        .nodes
        .iter()
        .enumerate()
        .map(|(n, name)| {
            let plans = r.plans.iter().filter(|p| fleet.gpus[p.gpu].node == n);
            let (d, c) = plans.fold((0, 0), |(d, c), p| {
                (d + p.destroy.len(), c + p.create.len())
            });
            (name.clone(), d, c)
        })
        .collect()
}

/// Whether the packing is proven optimal, and if not, why not.
fn optimality(fleet: &Fleet, r: &PackResult) -> String {
    if r.exact {
        format!("proven optimal (exact search, {} nodes)", r.search_nodes)
    } else if fleet.gpus.len() > pack::EXACT_GPUS {
        format!(
            "not proven optimal (heuristic: more than {} GPUs)",
            pack::EXACT_GPUS
        )
    } else {
        format!(
            "not proven optimal (the exact search stopped at {} nodes)",
            pack::NODE_LIMIT
        )
    }
}

fn summary_text(fleet: &Fleet, demand: &[DemandItem], r: &PackResult, ub: f64) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "Packed {} GPUs on {} nodes: {}.\n",
        fleet.gpus.len(),
        fleet.nodes.len(),
        optimality(fleet, r)
    ));
    s.push_str(&format!(
        "Served weight {} of {} demanded; dual upper bound {:.1} (served is {:.2} % of it).\n",
        r.served_weight,
        r.demand_weight,
        ub,
        if ub > 0.0 {
            100.0 * r.served_weight / ub
        } else {
            100.0
        }
    ));
    s.push_str(&format!(
        "  {:<24} {:>8} {:>8} {:>8} {:>7}\n",
        "demand", "wanted", "served", "unserved", "weight"
    ));
    for (d, &n) in demand.iter().zip(&r.served) {
        s.push_str(&format!(
            "  {:<24} {:>8} {:>8} {:>8} {:>7}\n",
            d.name,
            d.count,
            n,
            d.count - n,
            d.weight
        ));
    }
    s.push_str(&format!(
        "GPUs used: {}; stranded memory slices: {} of {} on used GPUs; instances destroyed {}, created {}.\n",
        r.gpus_used, r.stranded_slices, r.used_slices, r.destroyed, r.created
    ));
    for (node, d, c) in per_node(fleet, r) {
        if d + c > 0 {
            s.push_str(&format!("  {node}: destroy {d}, create {c}\n"));
        }
    }
    s
}

pub fn pack_cmd(inventory: &Path, demand: &Path, out_dir: Option<&Path>, as_json: bool) -> R<u8> {
    let bad = |e: inventory::FileError| Failure(2, e.to_string());
    let fleet = inventory::parse_inventory(&inventory.display().to_string(), &read(inventory)?)
        .map_err(bad)?;
    let demand_items =
        inventory::parse_demand(&demand.display().to_string(), &read(demand)?).map_err(bad)?;
    let (r, ub) = pack::pack(&fleet, &demand_items);
    let mut written = Vec::new();
    if let Some(dir) = out_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure(1, format!("cannot create {}: {e}", dir.display())))?;
        for (n, node) in fleet.nodes.iter().enumerate() {
            let path = dir.join(format!("{node}.yaml"));
            std::fs::write(&path, pack::node_config(&fleet, &r, n, "migctl-pack"))
                .map_err(|e| Failure(1, format!("cannot write {}: {e}", path.display())))?;
            written.push(path);
        }
    }
    if as_json {
        let plans: Vec<_> = r
            .plans
            .iter()
            .map(|p| {
                let g = &fleet.gpus[p.gpu];
                json!({
                    "node": fleet.nodes[g.node],
                    "index": g.index,
                    "model": g.model.slug,
                    "destroy": p.destroy.iter().map(|(id, n, pl)| json!({"gi_id": id.0, "profile": n, "placement": {"start": pl.start, "size": pl.size}})).collect::<Vec<_>>(),
                    "create": p.create.iter().map(|(n, pl, id)| json!({"gi_id": id.0, "profile": n, "placement": {"start": pl.start, "size": pl.size}})).collect::<Vec<_>>(),
                    "serves": p.serves.iter().map(|(id, d)| json!({"gi_id": id.0, "demand": demand_items[*d].name})).collect::<Vec<_>>(),
                })
            })
            .collect();
        let v = json!({
            "exact": r.exact,
            "proven_optimal": r.exact,
            "search_nodes": r.search_nodes,
            "served_weight": r.served_weight,
            "demand_weight": r.demand_weight,
            "upper_bound": ub,
            "demand": demand_items.iter().zip(&r.served).map(|(d, s)| json!({"name": d.name, "wanted": d.count, "served": s, "weight": d.weight})).collect::<Vec<_>>(),
            "gpus_used": r.gpus_used,
            "stranded_slices": r.stranded_slices,
            "destroyed": r.destroyed,
            "created": r.created,
            "nodes": per_node(&fleet, &r).iter().map(|(n, d, c)| json!({"node": n, "destroy": d, "create": c})).collect::<Vec<_>>(),
            "configs": written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "plans": plans,
        });
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        ));
    } else {
        let mut s = summary_text(&fleet, &demand_items, &r, ub);
        for p in &written {
            s.push_str(&format!(
                "Wrote {} (apply with `migctl apply -f {} -c migctl-pack` on that node)\n",
                p.display(),
                p.display()
            ));
        }
        out(&s);
    }
    Ok(0)
}

/// The host name, for `export --inventory` without `--node`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

pub fn export_inventory(node: &Option<String>, output: Option<&Path>) -> R<u8> {
    let snaps = machine_snapshots(None)?;
    let node = node.clone().unwrap_or_else(host_name);
    let (inv, unknown) = inventory::inventory_of(&node, &snaps);
    for i in unknown {
        eprintln!("migctl export: GPU {i} is not in the catalog; left out of the inventory");
    }
    let text = inventory::inventory_text(&inv);
    match output {
        Some(p) => std::fs::write(p, text)
            .map_err(|e| Failure(1, format!("cannot write {}: {e}", p.display())))?,
        None => out(&text),
    }
    Ok(0)
}

pub fn bench_pack(gpus: usize, instances: u32, seed: u64, as_json: bool) -> R<u8> {
    let (fleet, demand) = mig_plan::fleetgen::generate(gpus, instances, seed);
    let wanted: u32 = demand.iter().map(|d| d.count).sum();
    let t0 = Instant::now();
    let (r, ub) = pack::pack(&fleet, &demand);
    let t_pack = t0.elapsed();
    let t1 = Instant::now();
    let ff = pack::first_fit(&fleet, &demand);
    let t_ff = t1.elapsed();
    if as_json {
        let fig = |res: &PackResult, t: std::time::Duration| {
            json!({
                "seconds": t.as_secs_f64(),
                "served_weight": res.served_weight,
                "of_bound": res.served_weight / ub.max(1e-9),
                "served": res.served.iter().sum::<u32>(),
                "stranded_slices": res.stranded_slices,
                "used_slices": res.used_slices,
                "destroyed": res.destroyed,
                "gpus_used": res.gpus_used,
                "proven_optimal": res.exact,
            })
        };
        let v = json!({
            "gpus": fleet.gpus.len(),
            "nodes": fleet.nodes.len(),
            "seed": seed,
            "requested_instances": wanted,
            "demand_weight": r.demand_weight,
            "upper_bound": ub,
            "pack": fig(&r, t_pack),
            "first_fit": fig(&ff, t_ff),
        });
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        ));
        return Ok(0);
    }
    let mut s = format!(
        "Fleet: {} GPUs on {} nodes (seed {seed}; mix {}); demand: {} lines, {wanted} instances, weight {}.\n",
        fleet.gpus.len(),
        fleet.nodes.len(),
        mig_plan::fleetgen::MIX.iter().map(|(m, p)| format!("{m} {p}%")).collect::<Vec<_>>().join(", "),
        demand.len(),
        r.demand_weight
    );
    s.push_str(&format!(
        "Upper bound on served weight (Lagrangian dual of the demand counts = LP relaxation): {ub:.1}\n"
    ));
    s.push_str(&format!(
        "{:<26} {:>9} {:>14} {:>10} {:>10} {:>13} {:>10} {:>9}\n",
        "", "time", "served weight", "of bound", "served", "stranded", "destroyed", "GPUs used"
    ));
    for (name, res, t) in [
        ("migctl pack", &r, t_pack),
        ("first fit (HAMi / DRA)", &ff, t_ff),
    ] {
        let served: u32 = res.served.iter().sum();
        s.push_str(&format!(
            "{:<26} {:>7.3} s {:>14.1} {:>9.2}% {:>10} {:>6} ({:.1}%) {:>10} {:>9}\n",
            name,
            t.as_secs_f64(),
            res.served_weight,
            100.0 * res.served_weight / ub.max(1e-9),
            served,
            res.stranded_slices,
            100.0 * res.stranded_slices as f64 / res.used_slices.max(1) as f64,
            res.destroyed,
            res.gpus_used
        ));
    }
    s.push_str(&format!("migctl pack: {}.\n", optimality(&fleet, &r)));
    s.push_str("(one thread; stranded: memory slices of used GPUs that neither serve demand nor are busy)\n");
    out(&s);
    Ok(0)
}
