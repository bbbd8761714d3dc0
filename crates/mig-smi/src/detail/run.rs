//! Runs `-q`: reads the chosen GPUs' devices, readings, details, MIG
//! devices and processes from the backend, then renders.

use super::{render, Filter, QGpu, QHeader};
use crate::default_view::date_line;
use crate::run::{must, now_secs, select, Fatal, Outcome};
use mig_model::backend::{Backend, GpuRef};

/// `-q [-i IDS] [-d TYPES]`.
pub fn run(b: &dyn Backend, ids: Option<&str>, filter: &Filter) -> Result<Outcome, Fatal> {
    let devs = match select(b, ids)? {
        Ok(d) => d,
        Err(o) => return Ok(o),
    };
    let attached = must(b.devices())?.len();
    let driver = must(b.driver_version())?;
    let cuda = must(b.cuda_driver_version())?;
    let mut parts = Vec::new();
    for d in &devs {
        let at = GpuRef::Index(d.index);
        let r = must(b.readings(&at))?;
        let det = must(b.details(&at))?;
        let migs = must(b.mig_devices(&at))?;
        let procs = must(b.processes(&at))?;
        parts.push((r, det, migs, procs));
    }
    let gpus: Vec<QGpu<'_>> = devs
        .iter()
        .zip(&parts)
        .map(|(dev, (r, d, migs, procs))| QGpu {
            dev,
            r,
            d,
            migs,
            procs,
        })
        .collect();
    let date = date_line(now_secs());
    let header = QHeader {
        date: &date,
        driver: &driver,
        cuda,
        attached,
    };
    Ok(Outcome::ok(render(&header, &gpus, filter)))
}
