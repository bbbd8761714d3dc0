//! The CUDA driver version behind gpu-feature-discovery's five
//! `nvidia.com/cuda.runtime*` labels: the NVML backend reads it with
//! `nvmlSystemGetCudaDriverVersion_v2` (here from the fake
//! `libnvidia-ml.so.1`) and the simulator reports it directly; both must
//! agree, so `migctl export k8s` on a real node writes the labels it writes
//! on a simulated one.

mod common;

use mig_model::backend::Inventory;

/// Proves the NVML backend decodes `nvmlSystemGetCudaDriverVersion_v2`
/// (13000 from the fake library) as CUDA 13.0, the simulator's own answer.
#[test]
fn nvml_backend_reads_the_cuda_driver_version() {
    let m = common::Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb"]);
    let lib = m.ok(&["sim", "nvml-lib"]).trim().to_string();
    std::env::set_var("MIGCTL_SIM_STATE", m.state());
    let nvml = mig_nvml::NvmlBackend::open_path(&lib).expect("open the fake NVML library");
    let sim = mig_sim::SimMachine::open(m.state()).expect("open the simulated machine");
    assert_eq!(nvml.cuda_driver_version().expect("read"), Some((13, 0)));
    assert_eq!(sim.cuda_driver_version().expect("read"), Some((13, 0)));
}

/// Proves the decoding of NVML's encoding (1000 * major + 10 * minor) and
/// that a value that is no version gives none.
#[test]
fn cuda_version_encoding() {
    use mig_model::backend::cuda_version_parts as parts;
    assert_eq!(parts(13000), Some((13, 0)));
    assert_eq!(parts(12080), Some((12, 8)));
    assert_eq!(parts(0), None);
    assert_eq!(parts(-1), None);
}
