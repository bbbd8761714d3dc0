//! Who owns a process: the Slurm job or Kubernetes pod its cgroup names
//! (`/proc/PID/cgroup`), or, for Slurm without a cgroup plugin, the
//! `SLURM_JOB_ID` in its environment (`/proc/PID/environ`).
//!
//! Path patterns (Slurm's cgroup/v1 and v2 plugins, the kubelet's cgroupfs
//! and systemd drivers):
//! - Slurm v1: `/slurm/uid_<uid>/job_<id>/step_<step>/task_<n>`
//! - Slurm v2: `/system.slice/slurmstepd.scope/job_<id>/step_<step>/user/task_<n>`
//! - Kubernetes cgroupfs: `/kubepods/besteffort/pod<uid>/<container>`
//! - Kubernetes systemd: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_with_underscores>.slice/...`

use std::path::Path;

/// The owner of a process, as far as its cgroup or environment tells.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Owner {
    /// Nothing names one (or the process is gone, or unreadable).
    #[default]
    Unknown,
    /// A Slurm job ID.
    SlurmJob(String),
    /// A Kubernetes pod UID (with dashes).
    Pod(String),
}

/// The owner of process `pid` under `proc_root` (normally `/proc`).
pub fn owner_of(proc_root: &Path, pid: u32) -> Owner {
    let dir = proc_root.join(pid.to_string());
    if let Ok(text) = std::fs::read_to_string(dir.join("cgroup")) {
        let o = from_cgroup(&text);
        if o != Owner::Unknown {
            return o;
        }
    }
    match std::fs::read(dir.join("environ")) {
        Ok(env) => from_environ(&env),
        Err(_) => Owner::Unknown,
    }
}

/// The owner a `/proc/PID/cgroup` text names (v1: one `ID:controllers:path`
/// line per hierarchy; v2: `0::path`).
pub fn from_cgroup(text: &str) -> Owner {
    for line in text.lines() {
        let Some(path) = line.splitn(3, ':').nth(2) else {
            continue;
        };
        if let Some(o) = from_path(path) {
            return o;
        }
    }
    Owner::Unknown
}

fn from_path(path: &str) -> Option<Owner> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let slurm = parts
        .iter()
        .any(|p| *p == "slurm" || p.starts_with("slurm_") || p.ends_with("slurmstepd.scope"));
    if slurm {
        for p in &parts {
            if let Some(id) = p.strip_prefix("job_") {
                if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
                    return Some(Owner::SlurmJob(id.to_string()));
                }
            }
        }
    }
    if parts.iter().any(|p| p.starts_with("kubepods")) {
        for p in &parts {
            if let Some(uid) = pod_uid(p) {
                return Some(Owner::Pod(uid));
            }
        }
    }
    None
}

/// `pod<uid>` (cgroupfs) or `kubepods-<qos>-pod<uid_>.slice` (systemd): the
/// UID with dashes, at least 32 characters of `[0-9a-f-]`, as
/// dcgm-exporter's `pod([a-f0-9_-]+)` match requires.
fn pod_uid(part: &str) -> Option<String> {
    let at = part.rfind("pod")?;
    let rest = &part[at + 3..];
    let uid: String = rest
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == '-' || *c == '_')
        .map(|c| {
            if c == '_' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    (uid.len() >= 32).then_some(uid)
}

/// `SLURM_JOB_ID` of a NUL-separated `/proc/PID/environ`.
pub fn from_environ(env: &[u8]) -> Owner {
    for var in env.split(|b| *b == 0) {
        if let Some(v) = var.strip_prefix(b"SLURM_JOB_ID=") {
            if !v.is_empty() && v.iter().all(u8::is_ascii_digit) {
                return Owner::SlurmJob(String::from_utf8_lossy(v).into_owned());
            }
        }
    }
    Owner::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves each documented path pattern yields its job or pod, and that
    /// paths of neither yield nothing.
    #[test]
    fn cgroup_paths_name_jobs_and_pods() {
        let job = |s: &str| Owner::SlurmJob(s.into());
        let v1 = "12:memory:/slurm/uid_1000/job_42/step_0/task_0\n11:cpuset:/slurm/uid_1000/job_42/step_0\n";
        assert_eq!(from_cgroup(v1), job("42"));
        let v2 = "0::/system.slice/slurmstepd.scope/job_123/step_batch/user/task_0\n";
        assert_eq!(from_cgroup(v2), job("123"));
        let multi = "0::/system.slice/node1_slurmstepd.scope/job_7/step_0/user/task_0\n";
        assert_eq!(from_cgroup(multi), job("7"));
        let uid = "9e8f6b5a-2c4d-4e1f-8a7b-6c5d4e3f2a1b";
        let fs = format!("0::/kubepods/besteffort/pod{uid}/0123abcd\n");
        assert_eq!(from_cgroup(&fs), Owner::Pod(uid.into()));
        let sd = format!(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-ab.scope\n",
            uid.replace('-', "_")
        );
        assert_eq!(from_cgroup(&sd), Owner::Pod(uid.into()));
        let guaranteed = format!(
            "0::/kubepods.slice/kubepods-pod{}.slice/x\n",
            uid.replace('-', "_")
        );
        assert_eq!(from_cgroup(&guaranteed), Owner::Pod(uid.into()));
        assert_eq!(
            from_cgroup("0::/user.slice/user-1000.slice/session-2.scope\n"),
            Owner::Unknown
        );
        // a job_ directory outside any Slurm hierarchy is not a Slurm job
        assert_eq!(
            from_cgroup("0::/system.slice/job_5.service\n"),
            Owner::Unknown
        );
        assert_eq!(
            from_cgroup("0::/kubepods/besteffort/podshort/x\n"),
            Owner::Unknown
        );
    }

    /// Proves the environment fallback finds SLURM_JOB_ID among other
    /// variables and ignores a malformed one.
    #[test]
    fn environ_names_the_job() {
        assert_eq!(
            from_environ(b"PATH=/bin\0SLURM_JOB_ID=991\0HOME=/root\0"),
            Owner::SlurmJob("991".into())
        );
        assert_eq!(from_environ(b"SLURM_JOB_ID=\0X=1\0"), Owner::Unknown);
        assert_eq!(from_environ(b"SLURM_JOB_IDX=4\0"), Owner::Unknown);
    }
}
