//! Reads what `-q` shows of the selected GPUs from the backend (devices,
//! readings, details, MIG devices, processes), then renders.

use super::{render, Filter, QGpu, QHeader};
use mig_model::backend::{Backend, BackendError, DeviceInfo, GpuRef};

/// `-q` of `devs` (already selected by `-i`), with the log's time stamp
/// `date`.
pub fn run(
    b: &dyn Backend,
    devs: &[DeviceInfo],
    filter: &Filter,
    date: &str,
) -> Result<String, BackendError> {
    let attached = b.devices()?.len();
    let driver = b.driver_version()?;
    let cuda = b.cuda_driver_version()?;
    let mut parts = Vec::new();
    for d in devs {
        let at = GpuRef::Index(d.index);
        let r = b.readings(&at)?;
        let det = b.details(&at)?;
        let migs = b.mig_devices(&at)?;
        let procs = b.processes(&at)?;
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
    let header = QHeader {
        date,
        driver: &driver,
        cuda,
        attached,
    };
    Ok(render(&header, &gpus, filter))
}
