//! `mig-exporter`: Prometheus metrics of a machine's MIG GPUs, read through
//! a migctl backend (real NVML or the simulated machine) on every scrape.
//!
//! What it is for: `migctl exporter`. Each scrape lists the GPUs and takes
//! one consistent snapshot per GPU through [`mig_model::Backend`], so a
//! scrape after an apply shows the new layout and nothing of the old. From
//! the snapshots it reports per GPU (mode, memory, memory slices used and
//! stranded, how many more instances of each profile fit, from the model's
//! rule), per GPU and compute instance (placement, MIG UUID, framebuffer,
//! processes, busy), per process (memory, and the Slurm job or Kubernetes
//! pod its cgroup names), GPM utilization per GPU instance where the board
//! has GPM, and optionally whether the GPUs hold a config. Labels follow
//! dcgm-exporter's names where they mean the same thing (`gpu`, `UUID`,
//! `GPU_I_ID`, `GPU_I_PROFILE`, `device`, `modelName`, `Hostname`).
//! `docs/exporter.md` lists every metric with its type and unit.
//!
//! What it is not for: deciding MIG rules (capacity is `mig-plan`'s fit
//! over `mig-model`'s engine), keeping history (Prometheus does), or
//! clocks, temperatures and power (dcgm-exporter reports those).
//!
//! ```
//! use mig_exporter::{collect, encode, GpmReader, Options};
//! use mig_model::backend::{LayoutControl, ModeControl};
//! use mig_model::{GiProfileId, GpuRef};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let sim = mig_sim::SimMachine::open(dir.path().join("state.json")).unwrap();
//! sim.init(&[("h100-sxm5-80gb".to_string(), false)]).unwrap();
//! sim.set_mig_mode(&GpuRef::Index(0), true).unwrap();
//! sim.create_gpu_instance(&GpuRef::Index(0), GiProfileId(19), None).unwrap();
//!
//! let mut opts = Options::new();
//! opts.hostname = "node1".into();
//! let text = encode(&collect(&sim, &GpmReader::new(), &opts)).unwrap();
//! assert!(text.contains("migctl_gpu_memory_slices_used{gpu=\"0\""));
//! assert!(text.contains("GPU_I_PROFILE=\"1g.10gb\",profile_id=\"19\"} 6"));
//! ```

#![deny(missing_docs)]

mod attribution;
mod capacity;
mod collect;
mod config_state;
mod encode;
mod gpm;
mod serve;

pub use attribution::{from_cgroup, from_environ, Owner};
pub use capacity::Capacity;
pub use collect::{collect, hostname, GpuFailure, GpuReading, Options, ProcessReading, Scrape};
pub use config_state::{ConfigSource, ConfigState};
pub use encode::{encode, families, Family, Labels, Value, CONTENT_TYPE};
pub use gpm::{GpmReader, GpmReading};
pub use serve::{Exporter, ServeError};
