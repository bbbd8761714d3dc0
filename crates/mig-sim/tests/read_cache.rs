//! The read cache of `mig_sim::cache`: a machine keeps the state it parsed
//! while the state file is unchanged, and must still see every change made
//! through another handle or by another process, a file replaced or
//! rewritten in place, and a file gone or corrupt.

use mig_model::backend::{Inventory, LayoutControl, ModeControl};
use mig_model::{GiProfileId, GpuRef};
use mig_sim::{SimMachine, StateError};
use std::path::Path;
use std::process::Command;

const G0: GpuRef = GpuRef::Index(0);

fn machine(path: &Path, models: &[&str]) -> SimMachine {
    let sim = SimMachine::with_fault(path, None);
    let models: Vec<(String, bool)> = models.iter().map(|m| (m.to_string(), false)).collect();
    sim.init(&models).expect("sim init");
    sim
}

/// Proves a change made through another handle (with its own cache, as
/// another process has) is seen by the very next read of a handle that has
/// the old state cached, for 40 changes in quick succession: faster than
/// the file system's timestamp granularity, so the check cannot rest on
/// modification times alone.
#[test]
fn a_change_through_another_handle_is_seen_by_the_next_read() {
    let d = tempfile::tempdir().expect("tempdir");
    let path = d.path().join("state.json");
    let reader = machine(&path, &["a100-sxm4-40gb"]);
    let writer = SimMachine::with_fault(&path, None);
    assert!(!reader.mig_mode(&G0).expect("mode").current);
    writer.set_mig_mode(&G0, true).expect("enable");
    assert!(reader.mig_mode(&G0).expect("mode").current);
    let mut ids = Vec::new();
    for i in 0..40 {
        if i % 2 == 0 {
            // 1g.5gb: the same size of state file as the one destroyed
            let gi = writer
                .create_gpu_instance(&G0, GiProfileId(19), None)
                .expect("create");
            ids.push(gi.id);
        } else {
            let id = ids.remove(0);
            writer.destroy_gpu_instance(&G0, id).expect("destroy");
        }
        let seen: Vec<_> = reader
            .gpu_instances(&G0)
            .expect("list")
            .iter()
            .map(|g| g.id)
            .collect();
        let mut want = ids.clone();
        want.sort();
        let mut seen_sorted = seen.clone();
        seen_sorted.sort();
        assert_eq!(seen_sorted, want, "after change {i}");
    }
}

/// Proves a state file replaced by another process (here `sh` renaming a
/// copy of another machine's file into place, as every writer does) is
/// read again: the next read shows the other machine.
#[test]
fn a_file_replaced_by_another_process_is_read_again() {
    let d = tempfile::tempdir().expect("tempdir");
    let path = d.path().join("state.json");
    let other = d.path().join("other.json");
    let sim = machine(&path, &["a100-sxm4-40gb"]);
    machine(&other, &["h100-sxm5-80gb", "h100-sxm5-80gb"]);
    assert_eq!(sim.devices().expect("devices").len(), 1);
    let status = Command::new("sh")
        .arg("-c")
        .arg(r#"cp "$1" "$2.new" && mv "$2.new" "$2""#)
        .args([
            "sh",
            &other.display().to_string(),
            &path.display().to_string(),
        ])
        .status()
        .expect("sh");
    assert!(status.success());
    let devs = sim.devices().expect("devices");
    assert_eq!(devs.len(), 2);
    assert!(devs[0].name.contains("H100"), "{}", devs[0].name);
}

/// Proves a state file rewritten in place (same inode) is read again: a
/// corrupt rewrite makes the next read fail with the corrupt-file error, a
/// valid rewrite is read, and a removed file is "no simulated machine".
#[test]
fn a_file_rewritten_in_place_or_removed_is_read_again() {
    let d = tempfile::tempdir().expect("tempdir");
    let path = d.path().join("state.json");
    let sim = machine(&path, &["a100-sxm4-40gb"]);
    assert!(!sim.mig_mode(&G0).expect("mode").pending);
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, "{ not json").expect("write");
    assert!(matches!(sim.state(), Err(StateError::Foreign { .. })));
    let edited = text.replace("\"mig_pending\": false", "\"mig_pending\": true");
    assert_ne!(edited, text);
    std::fs::write(&path, &edited).expect("write");
    assert!(sim.mig_mode(&G0).expect("mode").pending);
    // a valid file of another version than ours is refused, not served from the cache
    std::fs::write(&path, edited.replace("\"version\": 1", "\"version\": 7")).expect("write");
    assert!(matches!(sim.state(), Err(StateError::Foreign { .. })));
    std::fs::remove_file(&path).expect("rm");
    assert!(matches!(sim.state(), Err(StateError::Missing { .. })));
    // and a machine made again is read
    machine(&path, &["a30-24gb"]);
    assert!(sim.devices().expect("devices")[0].name.contains("A30"));
}

/// Proves reading takes no lock and writes nothing: a read of a machine
/// whose lock file is missing neither creates it nor needs its directory
/// to be writable.
#[test]
fn reading_creates_no_lock_file() {
    let d = tempfile::tempdir().expect("tempdir");
    let path = d.path().join("state.json");
    machine(&path, &["a100-sxm4-40gb"]);
    let lock = d.path().join("state.json.lock");
    std::fs::remove_file(&lock).expect("rm lock");
    let sim = SimMachine::with_fault(&path, None);
    assert_eq!(sim.devices().expect("devices").len(), 1);
    assert!(!lock.exists());
}
