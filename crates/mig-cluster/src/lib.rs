//! `mig-cluster`: what the consumers of a node's MIG devices need, computed
//! from the node's GPU snapshots.
//!
//! What it is for: pure generators over `&[GpuSnapshot]` plus a few facts
//! about the host ([`NodeFacts`]: device majors, the nvidia-caps minor table,
//! driver and CUDA versions): the nvidia-caps capability files and device
//! nodes ([`caps`]), a CDI spec ([`cdi`]), Slurm `gres.conf` lines and
//! `slurm.conf` strings ([`slurm`]), the labels and extended resources of
//! NVIDIA's Kubernetes device plugin and gpu-feature-discovery ([`k8s`]), the
//! GPU Operator MIG manager's state label ([`mig_manager`]), per-device
//! environment strings ([`mod@env`]) and the MPS-per-MIG-device workflow ([`mps`]).
//!
//! What it is not for: I/O, printing, or MIG rules. Names, UUIDs and minors
//! come from `mig_model::ids`; profiles from the catalog; the CLI reads the
//! host and writes files.
//!
//! # Example
//!
//! The Slurm `Type=` of a whole H100 and of one of its MIG devices, as
//! Slurm's NVML plugin derives them, and the nvidia-caps device node of a
//! capability minor:
//!
//! ```
//! use mig_cluster::{caps, slurm};
//!
//! let board = "NVIDIA H100 80GB HBM3";
//! assert_eq!(slurm::gpu_type(board), "nvidia_h100_80gb_hbm3");
//! assert_eq!(
//!     slurm::mig_type(board, "NVIDIA H100 80GB HBM3 MIG 3g.40gb"),
//!     "nvidia_h100_80gb_hbm3_3g.40gb"
//! );
//! assert_eq!(caps::dev_path(21), "/dev/nvidia-caps/nvidia-cap21");
//! ```

pub mod caps;
pub mod cdi;
pub mod env;
pub mod k8s;
pub mod mig_manager;
pub mod mps;
pub mod node;
pub mod slurm;

pub use node::{ClusterError, GpuState, Majors, MigDev, Minors, NodeFacts};
