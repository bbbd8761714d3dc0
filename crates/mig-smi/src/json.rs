//! `--output json` of the nvidia-smi-grammar reads under migctl's name:
//! `migctl -L`, the bare status view, and `migctl mig -lgi | -lci | -lgip |
//! -lgipp | -lcip | -lcipp`. The same GPUs, instances and profiles the text
//! listings show, selected by the same `-i`, `-gi`, `-ci`; the schemas are
//! in `docs/json.md`. (nvidia-smi has no JSON: through a link named
//! nvidia-smi, `-o` is refused as nvidia-smi refuses it.)

use crate::args::{MigAction, SmiCommand};
use crate::run::{self as run, Fatal, Outcome};
use mig_model::backend::{Backend, GpuRef, ProfileQuery};
use mig_model::Placement;
use serde_json::{json, Value};

type R<T> = Result<T, Fatal>;

fn at(i: u32) -> GpuRef {
    GpuRef::Index(i)
}

fn must<T>(r: Result<T, mig_model::BackendError>) -> R<T> {
    r.map_err(Fatal)
}

fn placement(p: &Placement) -> Value {
    json!({"start": p.start, "size": p.size})
}

/// The JSON of `cmd`, or the text outcome nvidia-smi gives when there is
/// nothing to list (no such GPU, no MIG-enabled GPU, no GPU instance), or
/// `None` for a command that has no JSON (it changes something).
pub fn run(b: &dyn Backend, cmd: &SmiCommand) -> R<Option<Result<Value, Outcome>>> {
    Ok(Some(match cmd {
        SmiCommand::List => Ok(list(b)?),
        SmiCommand::Status { ids } => match run::select(b, ids.as_deref())? {
            Ok(devs) => Ok(status(b, &devs)?),
            Err(o) => Err(o),
        },
        SmiCommand::Mig(m) => {
            let gi_ids = match run::id_list("GPU instance", m.gi.as_deref()) {
                Ok(v) => v,
                Err(o) => return Ok(Some(Err(o))),
            };
            let ids = m.ids.as_deref();
            match &m.action {
                MigAction::ListGiProfiles | MigAction::ListGiPlacements => {
                    match run::select(b, ids)? {
                        Ok(devs) => Ok(gi_profiles(b, &devs)?),
                        Err(o) => Err(o),
                    }
                }
                MigAction::ListGi => match run::gi_targets(b, ids, gi_ids.as_deref())? {
                    Ok(t) => Ok(json!({"gpu_instances": t.iter().map(|(gpu, gi)| json!({
                        "gpu": gpu,
                        "gi": gi.id.0,
                        "profile": gi.profile.name,
                        "profile_id": gi.profile.id,
                        "placement": placement(&gi.placement),
                    })).collect::<Vec<_>>()})),
                    Err(o) => Err(o),
                },
                MigAction::ListCiProfiles | MigAction::ListCiPlacements => {
                    match run::gi_targets(b, ids, gi_ids.as_deref())? {
                        Ok(t) => {
                            let mut out = Vec::new();
                            for (gpu, gi) in t {
                                let profiles = must(b.ci_profiles(&at(gpu), gi.id))?;
                                out.push(json!({
                                    "gpu": gpu,
                                    "gi": gi.id.0,
                                    "profiles": profiles.iter().map(|p| json!({
                                        "name": p.name,
                                        "id": p.profile.id,
                                        "free": p.remaining,
                                        "total": p.profile.instances,
                                        "sm": p.profile.sm,
                                        "ce": p.profile.ce,
                                        "dec": p.profile.dec,
                                        "enc": p.profile.enc,
                                        "jpeg": p.profile.jpeg,
                                        "ofa": p.profile.ofa,
                                        "placements": p.placements.iter().map(placement).collect::<Vec<_>>(),
                                    })).collect::<Vec<_>>(),
                                }));
                            }
                            Ok(json!({ "gpu_instances": out }))
                        }
                        Err(o) => Err(o),
                    }
                }
                MigAction::ListCi => {
                    let ci_ids = match run::id_list("compute instance", m.ci.as_deref()) {
                        Ok(v) => v,
                        Err(o) => return Ok(Some(Err(o))),
                    };
                    match run::gi_targets(b, ids, gi_ids.as_deref())? {
                        Ok(t) => {
                            let mut out = Vec::new();
                            for (gpu, gi) in t {
                                let mut cis = must(b.compute_instances(&at(gpu), gi.id))?;
                                cis.sort_by_key(|c| c.id);
                                for c in cis {
                                    if ci_ids.as_ref().is_none_or(|l| l.contains(&c.id.0)) {
                                        out.push(json!({
                                            "gpu": gpu,
                                            "gi": c.gi.0,
                                            "ci": c.id.0,
                                            "name": c.name,
                                            "profile_id": c.profile.id,
                                            "placement": placement(&c.placement),
                                        }));
                                    }
                                }
                            }
                            Ok(json!({ "compute_instances": out }))
                        }
                        Err(o) => Err(o),
                    }
                }
                _ => return Ok(None),
            }
        }
        _ => return Ok(None),
    }))
}

fn mig_device(gpu: u32, m: &mig_model::backend::MigDeviceInfo) -> Value {
    json!({
        "gpu": gpu,
        "index": m.index,
        "gi": m.gi.0,
        "ci": m.ci.0,
        "uuid": m.uuid,
        "name": m.name,
        "memory_mib": m.memory_mb,
        "memory_used_mib": m.memory_used_mb,
        "sm": m.sm,
    })
}

fn gpu(d: &mig_model::backend::DeviceInfo) -> Value {
    json!({
        "index": d.index,
        "name": d.name,
        "uuid": d.uuid,
        "pci_bus_id": d.pci_bus_id,
        "memory_total_mib": d.memory_total_bytes / (1024 * 1024),
        "mig": {"current": d.mig.current, "pending": d.mig.pending},
    })
}

fn list(b: &dyn Backend) -> R<Value> {
    let mut gpus = Vec::new();
    for d in must(b.devices())? {
        let migs = must(b.mig_devices(&at(d.index)))?;
        let mut g = gpu(&d);
        g["mig_devices"] = migs.iter().map(|m| mig_device(d.index, m)).collect();
        gpus.push(g);
    }
    Ok(json!({ "gpus": gpus }))
}

fn status(b: &dyn Backend, devs: &[mig_model::backend::DeviceInfo]) -> R<Value> {
    let mut migs = Vec::new();
    let mut procs = Vec::new();
    for d in devs {
        for p in must(b.processes(&at(d.index)))? {
            procs.push(json!({
                "pid": p.pid,
                "gpu": p.gpu,
                "gi": p.gi.map(|g| g.0),
                "ci": p.ci.map(|c| c.0),
                "name": p.name,
                "used_memory_mib": p.used_memory_mb,
            }));
        }
        for m in must(b.mig_devices(&at(d.index)))? {
            migs.push(mig_device(d.index, &m));
        }
    }
    Ok(json!({
        "gpus": devs.iter().map(gpu).collect::<Vec<_>>(),
        "mig_devices": migs,
        "processes": procs,
    }))
}

fn gi_profiles(b: &dyn Backend, devs: &[mig_model::backend::DeviceInfo]) -> R<Value> {
    let mut out = Vec::new();
    for d in devs {
        if !d.mig.current {
            out.push(json!({"gpu": d.index, "mig_enabled": false, "profiles": []}));
            continue;
        }
        let profiles = must(b.gi_profiles(&at(d.index), ProfileQuery::ALL))?;
        out.push(json!({
            "gpu": d.index,
            "mig_enabled": true,
            "profiles": profiles.iter().map(|p| json!({
                "name": p.profile.name,
                "id": p.profile.id,
                "free": p.remaining,
                "total": p.profile.instances,
                "memory_mib": p.profile.memory_mb,
                "sm": p.profile.sm,
                "ce": p.profile.ce,
                "dec": p.profile.dec,
                "enc": p.profile.enc,
                "jpeg": p.profile.jpeg,
                "ofa": p.profile.ofa,
                "placements": p.placements.iter().map(placement).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }));
    }
    Ok(json!({ "gpus": out }))
}
