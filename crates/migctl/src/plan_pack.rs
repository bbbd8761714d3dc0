//! `migctl pack`, `migctl export --inventory` and `migctl bench pack`:
//! reading files, printing figures; the packing is `mig_plan::pack`'s.

use mig_plan::PackResult;
use mig_plan::{DemandItem, FileError, Fleet};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// A failure of a planning verb: exit code and message.
pub struct Failure(pub u8, pub String);

impl From<Failure> for crate::error::CliError {
    fn from(Failure(code, message): Failure) -> crate::error::CliError {
        crate::error::CliError::with_code(code, message)
    }
}

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
    } else if fleet.gpus.len() > mig_plan::EXACT_GPUS {
        format!(
            "not proven optimal (heuristic: more than {} GPUs)",
            mig_plan::EXACT_GPUS
        )
    } else {
        format!(
            "not proven optimal (the exact search stopped at {} nodes)",
            mig_plan::NODE_LIMIT
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
    let bad = |e: FileError| Failure(2, e.to_string());
    let fleet = mig_plan::parse_inventory(&inventory.display().to_string(), &read(inventory)?)
        .map_err(bad)?;
    let demand_items =
        mig_plan::parse_demand(&demand.display().to_string(), &read(demand)?).map_err(bad)?;
    if demand_items.iter().all(|d| d.count == 0) {
        return Err(Failure(
            2,
            format!(
                "{}: the demand asks for nothing; list what to serve, e.g. `- {{profile: 1g.10gb, count: 4}}` under `demand:`",
                demand.display()
            ),
        ));
    }
    let (r, ub) = mig_plan::pack(&fleet, &demand_items);
    let mut written = Vec::new();
    if let Some(dir) = out_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure(1, format!("cannot create {}: {e}", dir.display())))?;
        for (n, node) in fleet.nodes.iter().enumerate() {
            let path = dir.join(format!("{node}.yaml"));
            std::fs::write(&path, mig_plan::node_config(&fleet, &r, n, "migctl-pack"))
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

/// `migctl export --inventory`: this node's part of a fleet inventory, as
/// YAML or JSON, on stdout or into `file` atomically.
pub fn export_inventory(
    node: &Option<String>,
    format: crate::output::ConfigFormat,
    file: Option<&Path>,
) -> R<u8> {
    let snaps = machine_snapshots(None)?;
    let node = node.clone().unwrap_or_else(host_name);
    let (inv, unknown) = mig_plan::inventory_of(&node, &snaps);
    for i in unknown {
        eprintln!("migctl export: GPU {i} is not in the catalog; left out of the inventory");
    }
    let text = match format {
        crate::output::ConfigFormat::Yaml => mig_plan::inventory_text(&inv),
        crate::output::ConfigFormat::Json => crate::output::json_text(&inv),
    };
    match file {
        Some(p) => crate::output::write_file(p, &text).map_err(|e| Failure(1, e))?,
        None => out(&text),
    }
    Ok(0)
}

pub fn bench_pack(gpus: usize, instances: u32, seed: u64, as_json: bool) -> R<u8> {
    let (fleet, demand) = mig_bench::fleetgen::generate(gpus, instances, seed);
    let wanted: u32 = demand.iter().map(|d| d.count).sum();
    let t0 = Instant::now();
    let (r, ub) = mig_plan::pack(&fleet, &demand);
    let t_pack = t0.elapsed();
    let t1 = Instant::now();
    let ff = mig_plan::first_fit(&fleet, &demand);
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
        mig_bench::fleetgen::MIX.iter().map(|(m, p)| format!("{m} {p}%")).collect::<Vec<_>>().join(", "),
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

/// Snapshots of this machine's GPUs (all, or just `only`).
pub fn machine_snapshots(only: Option<u32>) -> R<Vec<mig_model::GpuSnapshot>> {
    let b = crate::backend::open_backend().map_err(|e| Failure(1, e))?;
    let out = crate::live::snapshots(b.as_ref(), only).map_err(|e| match e {
        mig_model::BackendError::NoSuchGpu { .. } => Failure(6, e.to_string()),
        e => Failure(1, e.to_string()),
    })?;
    // the process ends soon: skip nvmlShutdown, as main does
    std::mem::forget(b);
    Ok(out)
}
