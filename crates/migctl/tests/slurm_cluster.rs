//! A real two-node Slurm cluster on this machine fed by migctl's gres.conf,
//! Gres= strings and nvidia-caps nodes: `tests/slurm/cluster.sh` says what it
//! shows and how. Needs root and Debian's slurmctld, slurmd, slurm-client and
//! munge; without them it prints a SKIPPED: line, or fails when
//! MIGCTL_REQUIRE_SLURM=1 (CI sets it).

use std::path::Path;
use std::process::Command;

fn on_path(prog: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&format!("{path}:/usr/sbin:/sbin")).any(|d| d.join(prog).is_file())
}

fn skip_or_fail(why: &str) {
    testkit::skip("slurm_two_node_cluster", testkit::Needs::Slurm, why);
}

/// Proves slurmctld and two slurmd hosts (own network namespaces and
/// addresses, an A100 and an H100 simulated machine) accept migctl's
/// gres.conf and Gres= lines, report each MIG type with migctl's count, run
/// --gres=gpu:<type>:1 jobs on the node that has the type with the expected
/// CUDA_VISIBLE_DEVICES, and see the new counts after a layout change and
/// the documented reload, with no node drained; and that a job whose
/// process runs on a MIG device (`migctl sim run` inside the job) has that
/// process labelled with the job's ID by `migctl exporter`.
#[test]
fn slurm_two_node_cluster() {
    let needed = [
        "slurmctld",
        "slurmd",
        "munged",
        "sbatch",
        "scontrol",
        "sinfo",
        "ip",
        "nsenter",
        "mknod",
        "python3",
        "timeout",
    ];
    let missing: Vec<&str> = needed.iter().copied().filter(|p| !on_path(p)).collect();
    if !missing.is_empty() {
        return skip_or_fail(&format!(
            "not installed: {} (apt-get install slurmctld slurmd slurm-client munge iproute2)",
            missing.join(", ")
        ));
    }
    if !mig_sim::is_root() {
        return skip_or_fail("needs root (network namespaces, mknod, slurmd)");
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slurm/cluster.sh");
    let path = format!(
        "{}:/usr/sbin:/sbin",
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("timeout")
        .env("PATH", path)
        .arg("170")
        .arg("bash")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_migctl"))
        .output()
        .expect("run cluster.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "cluster.sh failed ({:?}):\n{text}",
        out.status.code()
    );
    assert!(
        text.contains("PASS: no node drained; the exporter names job "),
        "{text}"
    );
    println!("{text}");
}
