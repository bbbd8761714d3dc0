//! MPS on MIG, the guide's workflow ("MIG with CUDA MPS"): one MPS control
//! daemon per MIG device, each started with `CUDA_VISIBLE_DEVICES` set to the
//! MIG device's UUID and its own `CUDA_MPS_PIPE_DIRECTORY` (named pipes and
//! sockets clients find it by) and `CUDA_MPS_LOG_DIRECTORY`; clients run with
//! the same two variables. Stopping sends `quit` to each daemon's pipe.

use crate::env;
use mig_model::GpuSnapshot;
use serde::Serialize;

/// The control program.
pub const MPS_CONTROL: &str = "nvidia-cuda-mps-control";

/// One daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MpsDaemon {
    pub gpu: u32,
    pub mig: u32,
    pub profile: String,
    pub uuid: String,
    pub pipe_dir: String,
    pub log_dir: String,
}

impl MpsDaemon {
    /// The environment of the daemon and of its clients.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CUDA_VISIBLE_DEVICES", self.uuid.clone()),
            ("CUDA_MPS_PIPE_DIRECTORY", self.pipe_dir.clone()),
            ("CUDA_MPS_LOG_DIRECTORY", self.log_dir.clone()),
        ]
    }
}

/// One daemon per MIG device, directories `<root>/<MIG-uuid>/{pipe,log}`.
pub fn plan(
    gpus: &[GpuSnapshot],
    driver_version: &str,
    root: &str,
) -> Result<Vec<MpsDaemon>, crate::ClusterError> {
    let root = root.trim_end_matches('/');
    Ok(env::devices(gpus, driver_version, "nvidia.com/gpu")?
        .into_iter()
        .filter_map(|d| {
            let mig = d.mig?;
            let dir = format!("{root}/{}", d.uuid);
            Some(MpsDaemon {
                gpu: d.gpu,
                mig,
                profile: d.profile,
                uuid: d.cuda_visible_devices,
                pipe_dir: format!("{dir}/pipe"),
                log_dir: format!("{dir}/log"),
            })
        })
        .collect())
}

fn env_prefix(d: &MpsDaemon) -> String {
    d.env()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A shell script that starts the daemons (and says how clients reach them).
pub fn start_script(p: &[MpsDaemon]) -> String {
    let mut s = String::from(
        "#!/bin/sh\n# MPS on MIG: one control daemon per MIG device (migctl mps)\nset -e\n",
    );
    if p.is_empty() {
        s.push_str("# no MIG device on this node: nothing to start\n");
    }
    for d in p {
        s.push_str(&format!("# GPU {} MIG {} ({})\n", d.gpu, d.mig, d.profile));
        s.push_str(&format!("mkdir -p {} {}\n", d.pipe_dir, d.log_dir));
        s.push_str(&format!("{} {MPS_CONTROL} -d\n", env_prefix(d)));
    }
    for d in p {
        s.push_str(&format!(
            "# client on {}: {} ./app\n",
            d.uuid,
            env_prefix(d)
        ));
    }
    s
}

/// A shell script that stops them.
pub fn stop_script(p: &[MpsDaemon]) -> String {
    let mut s = String::from(
        "#!/bin/sh\n# stop the MPS control daemons of each MIG device (migctl mps --stop)\n",
    );
    if p.is_empty() {
        s.push_str("# no MIG device on this node: nothing to stop\n");
    }
    for d in p {
        s.push_str(&format!("echo quit | {} {MPS_CONTROL}\n", env_prefix(d)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::testing::gpu;

    /// Proves one daemon per MIG device with its own directories under the
    /// root and CUDA_VISIBLE_DEVICES = its MIG UUID, in start and stop scripts.
    #[test]
    fn one_daemon_per_mig_device() {
        let g = gpu("h100-sxm5-80gb", 0, Some(&[(9, 0, &[2]), (9, 4, &[2])]));
        let p = plan(std::slice::from_ref(&g), "580.159.04", "/run/mps/").unwrap();
        assert_eq!(p.len(), 2);
        let u = &g.mig_devices[1].uuid;
        assert_eq!(p[1].uuid, *u);
        assert_eq!(p[1].pipe_dir, format!("/run/mps/{u}/pipe"));
        let start = start_script(&p);
        assert!(start.contains(&format!(
            "CUDA_VISIBLE_DEVICES={u} CUDA_MPS_PIPE_DIRECTORY=/run/mps/{u}/pipe CUDA_MPS_LOG_DIRECTORY=/run/mps/{u}/log nvidia-cuda-mps-control -d\n"
        )));
        assert_eq!(stop_script(&p).matches("echo quit | ").count(), 2);
        assert!(start_script(&[]).contains("nothing to start"));
    }
}
