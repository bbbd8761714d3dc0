//! Host processes registered on a simulated MIG device hold it exactly
//! while that same process lives: a recorded start time that does not
//! match the live process with that pid (pid reuse) frees the device.

use mig_model::backend::{GpuRef, Inventory, LayoutControl, ModeControl};

/// The first GPU of a test machine.
const G0: GpuRef = GpuRef::Index(0);
use mig_model::GpuInstanceId;
use mig_sim::SimMachine;

/// Proves a registered live process (this test's own) blocks destroying its
/// GPU instance and shows under its real name, and that the same pid with
/// another start time, as after pid reuse, no longer counts.
#[test]
fn live_process_holds_and_reused_pid_does_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.json");
    let sim = SimMachine::open(&path).expect("open");
    sim.init(&[("a100-sxm4-40gb".into(), false)]).expect("init");
    sim.set_mig_mode(&G0, true).expect("mig on");
    let gi = sim
        .create_gpu_instance(&G0, mig_model::GiProfileId(9), None)
        .expect("gi");
    let ci = sim
        .create_compute_instance(&G0, gi.id, mig_model::CiProfileId(2), None)
        .expect("ci");
    let me = std::process::id();
    sim.register_host_process(&G0, Some((gi.id.0, ci.id.0)), me, 100)
        .expect("register");
    let procs = sim.processes(&G0).expect("processes");
    assert_eq!(procs.len(), 1);
    assert_eq!(procs[0].pid, me);
    let comm = std::fs::read_to_string("/proc/self/comm").expect("comm");
    assert_eq!(procs[0].name, comm.trim_end());
    assert!(sim.destroy_compute_instance(&G0, gi.id, ci.id).is_err());
    // pretend the pid was reused: the recorded start time no longer matches
    let text = std::fs::read_to_string(&path).expect("state");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let t = v["processes"][0]["start_time"]
        .as_u64()
        .expect("start time");
    v["processes"][0]["start_time"] = serde_json::json!(t + 1);
    std::fs::write(&path, serde_json::to_string(&v).expect("json")).expect("write");
    assert!(sim.processes(&G0).expect("processes").is_empty());
    sim.destroy_compute_instance(&G0, gi.id, ci.id)
        .expect("freed once the process is not the one registered");
    sim.destroy_gpu_instance(&G0, GpuInstanceId(gi.id.0))
        .expect("destroy gi");
}
