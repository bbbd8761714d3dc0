//! The host side of the cluster verbs: reading `/proc` and `/sys`, looking
//! at and making device nodes, writing files atomically. The generators in
//! `mig-cluster` stay pure; this is their I/O.

use mig_cluster::caps::{CapNode, Observed};
use mig_cluster::node::ControlNode;
use mig_cluster::{Majors, Minors, NodeFacts};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The facts of this host. On the simulated machine they come from the
/// model (`NodeFacts::simulated`); with a driver, from `/proc/devices`,
/// `/proc/driver/nvidia-caps/mig-minors`, the DMI product name and `/dev`.
pub fn facts(simulated: bool, driver_version: &str) -> Result<NodeFacts, String> {
    if simulated {
        // The simulated host's own /proc/devices (mig_sim::host), so the
        // exports and `migctl sim root` / `sim exec` agree on every major.
        let text = format!(
            "Character devices:\n{}\n",
            mig_sim::host::proc_devices_lines().join("\n")
        );
        let mut f = NodeFacts::simulated(driver_version);
        f.majors = Majors::from_proc_devices(&text).map_err(|e| format!("simulated host: {e}"))?;
        f.control_nodes = ControlNode::standard(f.majors, |p| p != "/dev/nvidia-modeset");
        return Ok(f);
    }
    let read = |p: &str| fs::read_to_string(p).map_err(|e| format!("{p}: {e}"));
    let majors = Majors::from_proc_devices(&read("/proc/devices")?).map_err(|e| e.to_string())?;
    let minors = Minors::parse_table(&read("/proc/driver/nvidia-caps/mig-minors")?)
        .map_err(|e| format!("/proc/driver/nvidia-caps/mig-minors: {e}"))?;
    let machine = fs::read_to_string("/sys/class/dmi/id/product_name")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    Ok(NodeFacts {
        majors,
        minors,
        driver_version: driver_version.to_string(),
        // read from the backend by the caller (`Inventory::cuda_driver_version`)
        cuda_version: None,
        machine,
        control_nodes: ControlNode::standard(majors, |p| Path::new(p).exists()),
    })
}

/// `compute`, `graphics` or `unknown` from the PCI class of each GPU
/// (`/sys/bus/pci/devices/<bus id>/class`), as GFD's gpu.mode; the simulated
/// boards are all 3D controllers.
pub fn gpu_mode(simulated: bool, bus_ids: &[String]) -> String {
    if simulated {
        return "compute".into();
    }
    let mut modes = bus_ids.iter().map(|b| {
        // NVML's 00000000:07:00.0 is sysfs's 0000:07:00.0.
        let sys = b.get(4..).unwrap_or(b).to_ascii_lowercase();
        match fs::read_to_string(format!("/sys/bus/pci/devices/{sys}/class"))
            .as_deref()
            .map(str::trim)
        {
            Ok("0x030200") => "compute",
            Ok("0x030000") => "graphics",
            _ => "unknown",
        }
    });
    let first = modes.next().unwrap_or("unknown");
    if modes.all(|m| m == first) {
        first
    } else {
        "unknown"
    }
    .into()
}

/// `root` + an absolute path.
pub fn under(root: Option<&Path>, path: &str) -> PathBuf {
    match root {
        Some(r) => r.join(path.trim_start_matches('/')),
        None => PathBuf::from(path),
    }
}

/// What is at `path`.
pub fn observe(path: &Path) -> Observed {
    match fs::symlink_metadata(path) {
        Err(_) => Observed::Missing,
        Ok(md) if md.file_type().is_char_device() => {
            let rdev = md.rdev();
            // glibc's gnu_dev_major / gnu_dev_minor.
            let major = (((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff)) as u32;
            let minor = ((rdev & 0xff) | ((rdev >> 12) & !0xff)) as u32;
            Observed::CharDevice {
                major,
                minor,
                mode: md.mode() & 0o7777,
            }
        }
        Ok(_) => Observed::Other,
    }
}

/// Make a missing node as `nvidia-modprobe -f` does: `/dev/nvidia-caps`
/// (0755) if needed, then a character node with the capability's numbers
/// and mode, owned by root. `mknod(1)` makes it (std has no mknod).
pub fn make_node(path: &Path, node: &CapNode) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let out = std::process::Command::new("mknod")
        .arg("-m")
        .arg(format!("{:o}", node.mode))
        .arg(path)
        .arg("c")
        .arg(node.major.to_string())
        .arg(node.minor.to_string())
        .output()
        .map_err(|e| format!("mknod: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "mknod {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Set a node's permission bits.
pub fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Write `text` to `path` through a temporary file in the same directory
/// ([`mig_atomic::replace`]), so a reader sees the old file or the new one.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), String> {
    crate::output::write_file(path, text)
}

/// The first directory of `PATH` holding an executable `name`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// This host's name (`/proc/sys/kernel/hostname`), for `NodeName=`.
pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}
