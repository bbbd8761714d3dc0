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

pub mod caps;
pub mod cdi;
pub mod env;
pub mod k8s;
pub mod mig_manager;
pub mod mps;
pub mod node;
pub mod slurm;

pub use node::{ClusterError, GpuState, Majors, MigDev, Minors, NodeFacts};
