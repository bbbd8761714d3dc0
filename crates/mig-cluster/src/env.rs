//! How a process or container names each device: `CUDA_VISIBLE_DEVICES`,
//! `NVIDIA_VISIBLE_DEVICES`, `docker run --gpus`, and the CDI names.
//!
//! CUDA takes a MIG device by its `MIG-<uuid>` (drivers R470 and later) or,
//! before R470 only, as `MIG-<GPU-UUID>/<GI>/<CI>` (MIG User Guide, "CUDA
//! Device Enumeration"; Slurm's `_nvml_use_mig_uuid` switches at 470.42.01).
//! CUDA has no `<gpu>:<mig>` index form; the NVIDIA container runtime does
//! (`NVIDIA_VISIBLE_DEVICES=0:1`, the guide's `docker run --gpus
//! '"device=0:1"'`), and so does nvidia-ctk's CDI index namer.

use crate::node::{mig_devs, ClusterError, GpuState};
use mig_model::GpuSnapshot;
use serde::Serialize;

/// Driver version from which CUDA takes `MIG-<uuid>` (470.42.01).
pub const MIG_UUID_SINCE: (u32, u32, u32) = (470, 42, 1);

/// One device's names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceEnv {
    pub gpu: u32,
    /// `None` for a whole GPU.
    pub mig: Option<u32>,
    pub gi: Option<u32>,
    pub ci: Option<u32>,
    /// `1g.5gb`, or the board name for a whole GPU.
    pub profile: String,
    pub uuid: String,
    /// The value CUDA takes with this driver.
    pub cuda_visible_devices: String,
    /// `NVIDIA_VISIBLE_DEVICES` (container runtime, index form).
    pub nvidia_visible_devices: String,
    /// `docker run --gpus` argument, quoted for a shell.
    pub docker_gpus: String,
    /// CDI names under the given kind (index, then UUID).
    pub cdi: Vec<String>,
}

/// Whether the driver's CUDA takes `MIG-<uuid>` (else the legacy form).
pub fn driver_takes_mig_uuid(driver_version: &str) -> bool {
    let mut it = driver_version
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let v = (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    );
    v >= MIG_UUID_SINCE
}

/// Names of every usable device: whole GPUs with MIG disabled, and MIG
/// devices. A MIG-enabled GPU with no MIG device has none.
pub fn devices(
    gpus: &[GpuSnapshot],
    driver_version: &str,
    cdi_kind: &str,
) -> Result<Vec<DeviceEnv>, ClusterError> {
    let uuid_form = driver_takes_mig_uuid(driver_version);
    let mut out = Vec::new();
    for g in gpus {
        let id = &g.identity;
        match GpuState::of(g) {
            GpuState::MigDisabled => out.push(DeviceEnv {
                gpu: id.index,
                mig: None,
                gi: None,
                ci: None,
                profile: id.name.clone(),
                uuid: id.uuid.clone(),
                cuda_visible_devices: id.uuid.clone(),
                nvidia_visible_devices: id.index.to_string(),
                docker_gpus: format!("'\"device={}\"'", id.index),
                cdi: vec![
                    format!("{cdi_kind}={}", id.index),
                    format!("{cdi_kind}={}", id.uuid),
                ],
            }),
            GpuState::MigEmpty => {}
            GpuState::Mig(_) => {
                for d in mig_devs(g)? {
                    let index = d.index_name();
                    let cuda = if uuid_form {
                        d.info.uuid.clone()
                    } else {
                        format!("MIG-{}/{}/{}", id.uuid, d.info.gi.0, d.info.ci.0)
                    };
                    out.push(DeviceEnv {
                        gpu: id.index,
                        mig: Some(d.info.index),
                        gi: Some(d.info.gi.0),
                        ci: Some(d.info.ci.0),
                        profile: d.profile(),
                        uuid: d.info.uuid.clone(),
                        cuda_visible_devices: cuda,
                        nvidia_visible_devices: index.clone(),
                        docker_gpus: format!("'\"device={index}\"'"),
                        cdi: vec![
                            format!("{cdi_kind}={index}"),
                            format!("{cdi_kind}={}", d.info.uuid),
                        ],
                    });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::testing::gpu;

    /// Proves a MIG device's strings: its UUID for CUDA on R580, the legacy
    /// form before R470, the index form for the container runtime and Docker
    /// (the guide's `--gpus '"device=0:1"'`), both CDI names; an empty MIG GPU
    /// has no entry and a MIG-disabled one is a whole GPU.
    #[test]
    fn strings_per_device() {
        let gpus = [
            gpu("a100-sxm4-40gb", 0, Some(&[(9, 0, &[2]), (9, 4, &[2])])),
            gpu("a100-sxm4-40gb", 1, Some(&[])),
            gpu("a100-sxm4-40gb", 2, None),
        ];
        let v = devices(&gpus, "580.159.04", "nvidia.com/gpu").unwrap();
        assert_eq!(v.len(), 3);
        let d = &v[1];
        assert_eq!(d.cuda_visible_devices, gpus[0].mig_devices[1].uuid);
        assert_eq!(d.nvidia_visible_devices, "0:1");
        assert_eq!(d.docker_gpus, "'\"device=0:1\"'");
        assert_eq!(
            d.cdi,
            [
                "nvidia.com/gpu=0:1".to_string(),
                format!("nvidia.com/gpu={}", d.uuid)
            ]
        );
        assert_eq!(v[2].cuda_visible_devices, gpus[2].identity.uuid);
        let old = devices(&gpus, "460.32.03", "nvidia.com/gpu").unwrap();
        assert_eq!(
            old[0].cuda_visible_devices,
            format!("MIG-{}/1/0", gpus[0].identity.uuid)
        );
        assert!(driver_takes_mig_uuid("470.42.01") && !driver_takes_mig_uuid("470.42.0"));
    }
}
