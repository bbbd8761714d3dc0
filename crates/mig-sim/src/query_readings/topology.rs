//! How the simulated host is wired, as NVML reports it: which CPUs and NUMA
//! node each GPU is near, the PCIe path between two GPUs, peer-to-peer
//! support, and the NVLink ports of SXM boards. The host is data ([`HOST`])
//! and the rules below, documented in docs/simulated-telemetry.md; the fake
//! `libnvidia-ml.so.1` (`nvml-shim`'s topology and nvlink modules) writes
//! these answers into its callers' buffers.
//!
//! The modelled host is a two-socket HGX server as a DGX H100 is built: GPUs
//! split evenly over the sockets (the first half on socket 0, as the host
//! tree's `numa_node` files say), each GPU behind its own PCIe switch under
//! its socket's host bridges, and every NVLink port of an SXM board wired to
//! an NVSwitch of the baseboard, so that all GPUs of one SXM model reach
//! each other over NVLink.

use crate::host::numa_node;
use crate::state::{MachineState, SimGpu};
use mig_model::board::NvLink;
use mig_model::NvmlError;

/// The simulated host's CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    /// CPU sockets, one NUMA node each.
    pub sockets: u32,
    /// Cores per socket.
    pub cores_per_socket: u32,
    /// Hardware threads per core.
    pub threads_per_core: u32,
}

/// A DGX H100's CPUs: two 56-core Xeon Platinum 8480C with two threads per
/// core (DGX H100 datasheet: 112 cores in all), numbered as Linux numbers
/// them there: node 0 CPUs 0-55 and 112-167, node 1 CPUs 56-111 and 168-223
/// (NVIDIA's MLPerf Inference harness, `H100_SXM_80GBx8` `numa_config`).
pub const HOST: Host = Host {
    sockets: 2,
    cores_per_socket: 56,
    threads_per_core: 2,
};

impl Host {
    /// Every logical CPU of the host.
    pub fn cpus(&self) -> u32 {
        self.sockets * self.cores_per_socket * self.threads_per_core
    }

    /// The socket (= NUMA node) a logical CPU belongs to.
    pub fn socket_of_cpu(&self, cpu: u32) -> Option<u32> {
        (cpu < self.cpus()).then(|| (cpu / self.cores_per_socket) % self.sockets)
    }

    /// The logical CPUs of `socket` as a bit mask of 64-bit words, CPU `n`
    /// at bit `n % 64` of word `n / 64` (nvml.h's `cpuSet`).
    pub fn cpu_mask(&self, socket: u32) -> Vec<u64> {
        let mut words = vec![0u64; self.cpus().div_ceil(64) as usize];
        for cpu in (0..self.cpus()).filter(|&c| self.socket_of_cpu(c) == Some(socket)) {
            words[(cpu / 64) as usize] |= 1 << (cpu % 64);
        }
        words
    }
}

/// nvml.h's `nvmlGpuTopologyLevel_t`: how far apart two GPUs are on PCIe.
pub mod level {
    /// The same GPU (`NVML_TOPOLOGY_INTERNAL`).
    pub const INTERNAL: u32 = 0;
    /// Through the PCIe host bridges of one socket (`NVML_TOPOLOGY_NODE`).
    pub const NODE: u32 = 40;
    /// Across the sockets' interconnect (`NVML_TOPOLOGY_SYSTEM`).
    pub const SYSTEM: u32 = 50;
}

/// The socket (= NUMA node) of GPU `index`: the host tree's `numa_node`.
pub fn socket(st: &MachineState, index: u32) -> u32 {
    numa_node(index, st.gpus.len() as u32)
}

/// The PCIe path between GPUs `a` and `b` (`nvmlDeviceGetTopologyCommonAncestor`).
pub fn common_ancestor(st: &MachineState, a: u32, b: u32) -> u32 {
    if a == b {
        level::INTERNAL
    } else if socket(st, a) == socket(st, b) {
        level::NODE
    } else {
        level::SYSTEM
    }
}

/// The other GPUs no farther from `index` than `within`, by index
/// (`nvmlDeviceGetTopologyNearestGpus`); a level nvml.h does not define is
/// an invalid argument.
pub fn nearest(st: &MachineState, index: u32, within: u32) -> Result<Vec<u32>, NvmlError> {
    if within > level::SYSTEM || !within.is_multiple_of(10) {
        return Err(NvmlError::InvalidArgument);
    }
    Ok((0..st.gpus.len() as u32)
        .filter(|&o| o != index && common_ancestor(st, index, o) <= within)
        .collect())
}

/// The GPUs with affinity to logical CPU `cpu` (`nvmlSystemGetTopologyGpuSet`);
/// a CPU the host does not have is an invalid argument.
pub fn gpus_near_cpu(st: &MachineState, cpu: u32) -> Result<Vec<u32>, NvmlError> {
    let s = HOST.socket_of_cpu(cpu).ok_or(NvmlError::InvalidArgument)?;
    Ok((0..st.gpus.len() as u32)
        .filter(|&g| socket(st, g) == s)
        .collect())
}

/// The NVLink ports of a board; a board with none (PCIe and NVL boards, whose
/// bridges are optional and not modelled) or none a source describes is
/// `NotSupported`.
pub fn nvlink(g: &SimGpu) -> Result<&'static NvLink, NvmlError> {
    g.board()
        .catalog
        .nvlink
        .as_ref()
        .ok_or(NvmlError::NotSupported)
}

/// The ports of a board, checking that `link` is one of them (a link past
/// the last is an invalid argument, nvml.h).
pub fn link(g: &SimGpu, link: u32) -> Result<&'static NvLink, NvmlError> {
    let n = nvlink(g)?;
    if link >= n.links {
        return Err(NvmlError::InvalidArgument);
    }
    Ok(n)
}

/// Whether GPUs `a` and `b` reach each other over NVLink: both SXM boards of
/// one model with NVLink, so on one baseboard's NVSwitches.
pub fn nvlinked(st: &MachineState, a: u32, b: u32) -> bool {
    let (Some(ga), Some(gb)) = (st.gpus.get(a as usize), st.gpus.get(b as usize)) else {
        return false;
    };
    a != b && ga.model == gb.model && nvlink(ga).is_ok()
}

/// nvml.h's `nvmlGpuP2PStatus_t` values the simulated host gives.
pub mod p2p {
    /// `NVML_P2P_STATUS_OK`.
    pub const OK: u32 = 0;
    /// `NVML_P2P_STATUS_IOH_TOPOLOGY_NOT_SUPPORTED`: across sockets.
    pub const IOH_TOPOLOGY_NOT_SUPPORTED: u32 = 3;
    /// `NVML_P2P_STATUS_NOT_SUPPORTED`.
    pub const NOT_SUPPORTED: u32 = 5;
}

/// `nvmlDeviceGetP2PStatus` between GPUs `a` and `b` for capability `index`
/// (`nvmlGpuP2PCapsIndex_t`: 0 read, 1 write, 2 NVLink, 3 atomics, 4 PCI;
/// 5 and later are invalid). Over NVLink every capability is OK; without it
/// NVLink and atomics are not supported, and reads, writes and PCI P2P are
/// OK within a socket and not across the sockets' interconnect (the
/// `IOH_TOPOLOGY` status). A GPU with itself is OK.
pub fn p2p_status(st: &MachineState, a: u32, b: u32, index: u32) -> Result<u32, NvmlError> {
    if index > 4 {
        return Err(NvmlError::InvalidArgument);
    }
    if a == b || nvlinked(st, a, b) {
        return Ok(p2p::OK);
    }
    Ok(match index {
        2 | 3 => p2p::NOT_SUPPORTED,
        _ if common_ancestor(st, a, b) == level::SYSTEM => p2p::IOH_TOPOLOGY_NOT_SUPPORTED,
        _ => p2p::OK,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(models: &[&str]) -> MachineState {
        let m: Vec<(String, bool)> = models.iter().map(|s| (s.to_string(), false)).collect();
        MachineState::new(&m).expect("catalog models")
    }

    /// Proves the CPU masks cover every CPU exactly once, node 0 holding
    /// CPUs 0-55 and 112-167 as on a DGX H100.
    #[test]
    fn cpu_masks_split_the_host_by_socket() {
        let (a, b) = (HOST.cpu_mask(0), HOST.cpu_mask(1));
        assert_eq!(a.len(), 4);
        let ones: u32 = a.iter().chain(&b).map(|w| w.count_ones()).sum();
        assert_eq!(ones, 224);
        assert!(a.iter().zip(&b).all(|(x, y)| x & y == 0));
        assert_eq!(a[0], u64::MAX >> 8, "CPUs 0-55");
        assert_eq!(HOST.socket_of_cpu(112), Some(0));
        assert_eq!(HOST.socket_of_cpu(56), Some(1));
        assert_eq!(HOST.socket_of_cpu(224), None);
    }

    /// Proves the PCIe levels, nearest sets and P2P answers follow the
    /// socket split and NVLink: four H100 SXM (NVLink everywhere) and two
    /// H100 PCIe boards (none).
    #[test]
    fn topology_follows_sockets_and_nvlink() {
        let st = machine(&[
            "h100-sxm5-80gb",
            "h100-sxm5-80gb",
            "h100-pcie-80gb",
            "h100-pcie-80gb",
        ]);
        assert_eq!(common_ancestor(&st, 0, 0), level::INTERNAL);
        assert_eq!(common_ancestor(&st, 0, 1), level::NODE);
        assert_eq!(common_ancestor(&st, 1, 2), level::SYSTEM);
        assert_eq!(nearest(&st, 0, level::NODE), Ok(vec![1]));
        assert_eq!(nearest(&st, 0, level::SYSTEM), Ok(vec![1, 2, 3]));
        assert_eq!(nearest(&st, 0, 45), Err(NvmlError::InvalidArgument));
        assert_eq!(gpus_near_cpu(&st, 60), Ok(vec![2, 3]));
        assert!(nvlinked(&st, 0, 1) && !nvlinked(&st, 2, 3));
        assert_eq!(p2p_status(&st, 0, 1, 2), Ok(p2p::OK));
        assert_eq!(p2p_status(&st, 2, 3, 2), Ok(p2p::NOT_SUPPORTED));
        assert_eq!(p2p_status(&st, 2, 3, 0), Ok(p2p::OK));
        assert_eq!(
            p2p_status(&st, 1, 2, 0),
            Ok(p2p::IOH_TOPOLOGY_NOT_SUPPORTED)
        );
        assert_eq!(p2p_status(&st, 0, 1, 5), Err(NvmlError::InvalidArgument));
        let g = &st.gpus[0];
        assert_eq!(link(g, 17).map(|n| n.links), Ok(18));
        assert_eq!(link(g, 18), Err(NvmlError::InvalidArgument));
        assert_eq!(link(&st.gpus[2], 0), Err(NvmlError::NotSupported));
    }
}
