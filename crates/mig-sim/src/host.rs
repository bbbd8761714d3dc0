//! The simulated machine as a host tree: the sysfs PCI entries, the
//! `/proc/driver/nvidia*` files, `/proc/devices` and `/proc/modules` lines and
//! the `/dev` nodes that the NVIDIA driver (and `nvidia-modprobe`) make on a
//! real host, written under a directory at the host's own paths.
//!
//! [`entries`] is pure: machine state in, the list of entries out. [`apply`]
//! makes a directory match such a list. Roots registered with
//! [`SimMachine::add_host_root`] are rewritten by [`refresh_roots`] after
//! every successful change of the machine, under the state file's exclusive
//! lock (see `docs/host-tree.md` for every value's source and for what a
//! reader can see during an update).

use crate::state::{MachineState, SimGpu, StateError};
use crate::SimMachine;
use mig_model::catalog::GpuModel;
use mig_model::ids::{
    self, CAPS_CI_SLOTS, CAPS_CONFIG_MINOR, CAPS_GI_SLOTS, CAPS_GPU_SLOTS, CAPS_MONITOR_MINOR,
};
use mig_model::{ComputeInstanceId, GpuInstanceId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// `NV_MAJOR_DEVICE_NUMBER` (`kernel-open/common/inc/nv.h`): the fixed major
/// of `/dev/nvidia<N>`, `/dev/nvidiactl` and `/dev/nvidia-modeset`.
pub const NVIDIA_MAJOR: u32 = 195;
/// `NV_MINOR_DEVICE_NUMBER_CONTROL_DEVICE`: `/dev/nvidiactl`.
pub const NVIDIACTL_MINOR: u32 = 255;
/// `NV_MINOR_DEVICE_NUMBER_MODESET_DEVICE`: `/dev/nvidia-modeset`.
pub const MODESET_MINOR: u32 = 254;
/// The `nvidia-caps` major is dynamic; 241 is what the lent H200 showed
/// (`../shared/reference/peers/README.md`); the guide's examples show 238
/// and 508.
pub const CAPS_MAJOR: u32 = 241;
/// The `nvidia-uvm` major is dynamic too; the simulator takes the next free
/// dynamic major below `nvidia-caps`, as the kernel hands them out
/// downwards and `nvidia-uvm` loads after `nvidia`.
pub const UVM_MAJOR: u32 = 240;
/// `NVIDIA_UVM_PRIMARY_MINOR_NUMBER` / `NVIDIA_UVM_TOOLS_MINOR_NUMBER`
/// (`kernel-open/nvidia-uvm/uvm_common.h`).
pub const UVM_MINOR: u32 = 0;
pub const UVM_TOOLS_MINOR: u32 = 1;

/// `DeviceFileMode` of `mig/config`: `OS_RUSR` (0400) in `os.c`.
pub const MODE_CONFIG: u32 = 0o400;
/// `DeviceFileMode` of `mig/monitor` and every `gi*/access`, `ci*/access`:
/// `OS_RUGO` (0444).
pub const MODE_RUGO: u32 = 0o444;
/// Mode `nvidia-modprobe` gives `/dev/nvidia*` (`NVreg_DeviceFileMode`
/// default 0666; the CDI specs of `../shared/reference/peers` show 438).
pub const MODE_NVIDIA_DEV: u32 = 0o666;

/// Name of the manifest a root keeps of what migctl wrote there.
pub const MANIFEST: &str = ".migctl-host.json";
/// Written beside the manifest when a refresh after a change failed.
pub const ERROR_FILE: &str = ".migctl-host-error";
const MANIFEST_FORMAT: &str = "migctl-sim-host-tree";
const ROOTS_FORMAT: &str = "migctl-sim-host-roots";

/// One node of the host tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir,
    File {
        data: Vec<u8>,
        mode: u32,
    },
    /// A symbolic link with this (relative) target.
    Link(String),
    /// A character device; written as a placeholder file where mknod is not
    /// permitted (see [`NodeKind`]).
    CharDev {
        major: u32,
        minor: u32,
        mode: u32,
    },
}

/// A node at a path relative to the root, `/`-separated, parents listed
/// before their children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub node: Node,
}

/// How a root holds character devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// Real character devices (mknod), with the driver's majors and minors.
    Chardev,
    /// Regular files saying which device they stand for (no mknod here).
    Placeholder,
}

/// Problems writing a host tree. Each names the path.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}: already holds {what} that migctl did not write; choose an empty or new directory"
    )]
    NotOurs { path: PathBuf, what: String },
    #[error("{path}: corrupt host-tree manifest ({why}); remove the directory and run `migctl sim root` again")]
    Manifest { path: PathBuf, why: String },
    #[error(transparent)]
    State(#[from] StateError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HostError + '_ {
    move |source| HostError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A PCI address split as sysfs prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciAddress {
    pub domain: u32,
    pub bus: u32,
    pub device: u32,
    pub function: u32,
}

impl PciAddress {
    /// Parse NVML's `00000000:07:00.0` (or sysfs's `0000:07:00.0`).
    pub fn parse(s: &str) -> Option<PciAddress> {
        let (rest, function) = s.rsplit_once('.')?;
        let mut parts = rest.rsplitn(3, ':');
        let device = parts.next()?;
        let bus = parts.next()?;
        let domain = parts.next()?;
        let hex = |x: &str| u32::from_str_radix(x, 16).ok();
        Some(PciAddress {
            domain: hex(domain)?,
            bus: hex(bus)?,
            device: hex(device)?,
            function: hex(function)?,
        })
    }

    /// `%04x:%02x:%02x.%x`, the name of the sysfs and procfs directories.
    pub fn sysfs(&self) -> String {
        format!(
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}

/// PCI class code of a board: 0x030200 (3D controller) for boards without
/// display outputs, 0x030000 (VGA compatible controller) for the RTX PRO
/// workstation boards, whose display mode defaults to graphics (guide,
/// "RTX PRO 6000 Blackwell": DisplayModeSelector). Sources in
/// `docs/host-tree.md`.
pub fn pci_class(model: &GpuModel) -> u32 {
    match model.slug.as_str() {
        "rtx-pro-6000-workstation" | "rtx-pro-6000-maxq" | "rtx-pro-5000" => 0x030000,
        _ => 0x030200,
    }
}

/// BAR1 size: the smallest power of two that holds the board's memory
/// (derived; checked against the lent H100's 131072 MiB and public A100
/// 40GB/80GB captures, `docs/host-tree.md`).
pub fn bar1_bytes(model: &GpuModel) -> u64 {
    model.memory_total_bytes.next_power_of_two()
}

/// BAR0: 16 MiB of registers, 32-bit, non-prefetchable.
pub const BAR0_BYTES: u64 = 16 << 20;
/// BAR3: 32 MiB, 64-bit, prefetchable.
pub const BAR3_BYTES: u64 = 32 << 20;

// Resource flags, `include/linux/ioport.h` plus the BAR's low bits
// (`PCI_BASE_ADDRESS_MEM_TYPE_64` 0x4, `PCI_BASE_ADDRESS_MEM_PREFETCH` 0x8).
const IORESOURCE_MEM: u64 = 0x200;
const IORESOURCE_PREFETCH: u64 = 0x2000;
const IORESOURCE_SIZEALIGN: u64 = 0x40000;
const IORESOURCE_MEM_64: u64 = 0x10_0000;
const FLAGS_BAR_32: u64 = IORESOURCE_MEM | IORESOURCE_SIZEALIGN;
const FLAGS_BAR_64_PREF: u64 =
    IORESOURCE_MEM | IORESOURCE_PREFETCH | IORESOURCE_SIZEALIGN | IORESOURCE_MEM_64 | 0xc;
/// Lines of a non-bridge device's `resource` file (`PCI_BRIDGE_RESOURCES`:
/// 6 BARs, the ROM, 6 SR-IOV BARs).
const RESOURCE_LINES: usize = 13;

/// The BARs of GPU `index`: (BAR number, start, size, flags). Addresses are
/// the simulator's own, one 512 GiB window per GPU.
pub fn bars(model: &GpuModel, index: u32) -> [(usize, u64, u64, u64); 3] {
    let bar0 = 0x9000_0000 + u64::from(index) * 2 * BAR0_BYTES;
    let window = 0x2000_0000_0000 + u64::from(index) * (512 << 30);
    [
        (0, bar0, BAR0_BYTES, FLAGS_BAR_32),
        (1, window, bar1_bytes(model), FLAGS_BAR_64_PREF),
        (3, window + (256 << 30), BAR3_BYTES, FLAGS_BAR_64_PREF),
    ]
}

fn resource_file(model: &GpuModel, index: u32) -> String {
    let mut lines = vec![(0u64, 0u64, 0u64); RESOURCE_LINES];
    for (bar, start, size, flags) in bars(model, index) {
        lines[bar] = (start, start + size - 1, flags);
    }
    lines
        .iter()
        .map(|(s, e, f)| format!("0x{s:016x} 0x{e:016x} 0x{f:016x}\n"))
        .collect()
}

/// The first 256 bytes of PCI configuration space: IDs, class, revision and
/// BARs at their standard offsets, no capability list.
fn config_space(model: &GpuModel, index: u32) -> Vec<u8> {
    let mut c = vec![0u8; 256];
    let put16 =
        |c: &mut Vec<u8>, at: usize, v: u16| c[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put32 =
        |c: &mut Vec<u8>, at: usize, v: u32| c[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put16(&mut c, 0x00, 0x10de);
    put16(&mut c, 0x02, model.pci_device_id);
    put16(&mut c, 0x04, 0x0006); // memory space + bus master enabled
    c[0x08] = REVISION;
    let class = pci_class(model);
    c[0x09] = class as u8;
    c[0x0a] = (class >> 8) as u8;
    c[0x0b] = (class >> 16) as u8;
    for (bar, start, _, flags) in bars(model, index) {
        let at = 0x10 + 4 * bar;
        put32(&mut c, at, (start as u32) | (flags as u32 & 0xf));
        if flags & IORESOURCE_MEM_64 != 0 {
            put32(&mut c, at + 4, (start >> 32) as u32);
        }
    }
    put16(&mut c, 0x2c, subsystem_vendor(model));
    put16(&mut c, 0x2e, subsystem_device(model));
    c[0x3d] = 1; // INTA
    c
}

/// PCI revision of the simulated boards: `rev a1`, as `lspci` shows for
/// GA100, GH100 and GB202 boards in public captures.
pub const REVISION: u8 = 0xa1;

/// NVML's `pciSubSystemId` is `(subsystem device << 16) | subsystem vendor`.
fn subsystem_vendor(model: &GpuModel) -> u16 {
    (model.pci_subsystem_id & 0xffff) as u16
}
fn subsystem_device(model: &GpuModel) -> u16 {
    (model.pci_subsystem_id >> 16) as u16
}

/// NUMA node of GPU `index` of `count`: the first half on node 0, the rest
/// on node 1, as on a two-socket DGX H100 (GPUs 0-3 on socket 0).
pub fn numa_node(index: u32, count: u32) -> u32 {
    u32::from(index >= count.div_ceil(2) && count > 1)
}

fn file(path: impl Into<String>, text: impl Into<Vec<u8>>, mode: u32) -> Entry {
    Entry {
        path: path.into(),
        node: Node::File {
            data: text.into(),
            mode,
        },
    }
}

fn dir(path: impl Into<String>) -> Entry {
    Entry {
        path: path.into(),
        node: Node::Dir,
    }
}

fn link(path: impl Into<String>, target: impl Into<String>) -> Entry {
    Entry {
        path: path.into(),
        node: Node::Link(target.into()),
    }
}

fn chardev(path: impl Into<String>, major: u32, minor: u32, mode: u32) -> Entry {
    Entry {
        path: path.into(),
        node: Node::CharDev { major, minor, mode },
    }
}

/// The text of a capability file, as `nv_cap_procfs_read` in
/// `kernel-open/nvidia/nv-caps.c` prints it (modes in decimal).
pub fn capability_text(minor: u32, mode: u32) -> String {
    format!("DeviceFileMinor: {minor}\nDeviceFileMode: {mode}\nDeviceFileModify: 1\n")
}

/// `/proc/driver/nvidia-caps/mig-minors`: every slot of the table, in
/// table order, with the minors of `mig_model::ids`.
pub fn mig_minors_text() -> String {
    let mut s = String::with_capacity(110_000);
    let _ = writeln!(s, "config {CAPS_CONFIG_MINOR}");
    let _ = writeln!(s, "monitor {CAPS_MONITOR_MINOR}");
    for g in 0..CAPS_GPU_SLOTS {
        for i in 0..CAPS_GI_SLOTS {
            let gi = GpuInstanceId(i);
            let _ = writeln!(s, "gpu{g}/gi{i}/access {}", ids::gi_caps_minor(g, gi));
            for c in 0..CAPS_CI_SLOTS {
                let m = ids::ci_caps_minor(g, gi, ComputeInstanceId(c));
                let _ = writeln!(s, "gpu{g}/gi{i}/ci{c}/access {m}");
            }
        }
    }
    s
}

/// The nvidia lines of `/proc/devices` (`register_chrdev_region` names in
/// `nv.c`, `nv-caps.c`, `nvidia-uvm` and `nvidia-modeset`), by major.
pub fn proc_devices_lines() -> Vec<String> {
    let mut v = vec![
        format!("{NVIDIA_MAJOR:3} nvidia"),
        format!("{NVIDIA_MAJOR:3} nvidia-modeset"),
        format!("{NVIDIA_MAJOR:3} nvidiactl"),
        format!("{UVM_MAJOR:3} nvidia-uvm"),
        format!("{CAPS_MAJOR:3} nvidia-caps"),
    ];
    v.sort_by_key(|l| {
        l.trim_start()
            .split(' ')
            .next()
            .and_then(|m| m.parse::<u32>().ok())
    });
    v
}

/// The nvidia lines of `/proc/modules` (`name size refcount deps state
/// address (taints)`; sizes are the simulator's, the open modules taint
/// `OE`).
pub fn proc_modules_lines(gpus: usize) -> Vec<String> {
    vec![
        "nvidia_uvm 2076672 0 - Live 0x0000000000000000 (OE)".to_string(),
        "nvidia_modeset 1552384 0 - Live 0x0000000000000000 (OE)".to_string(),
        format!(
            "nvidia 104071168 {} nvidia_uvm,nvidia_modeset, Live 0x0000000000000000 (OE)",
            2 + gpus
        ),
    ]
}

/// `/proc/driver/nvidia/gpus/<busid>/information`, with the fields and
/// layout of `nv_procfs_read_gpu_info` (`kernel-open/nvidia/nv-procfs.c`).
pub fn information_text(g: &SimGpu, addr: PciAddress) -> String {
    let m = g.model();
    format!(
        "Model: \t\t {}\nIRQ:   \t\t {}\nGPU UUID: \t {}\nVideo BIOS: \t ??.??.??.??.??\n\
         Bus Type: \t PCIe\nDMA Size: \t 47 bits\nDMA Mask: \t 0x7fffffffffff\n\
         Bus Location: \t {}\nDevice Minor: \t {}\nGPU Firmware: \t {}\nGPU Excluded:\t No\n",
        m.name,
        irq(g.minor),
        g.uuid,
        addr.sysfs(),
        g.minor,
        crate::state::DRIVER_VERSION
    )
}

/// The interrupt line of the GPU with this minor, as sysfs `irq`, the proc
/// `information` file and `nvmlDeviceGetIrqNum` give it: the simulator's own
/// numbering (MSI vectors are per host; the lent H200 had 41).
pub fn irq(minor: u32) -> u32 {
    160 + minor
}

/// Every entry of the host tree of `st`, parents before children.
pub fn entries(st: &MachineState) -> Vec<Entry> {
    let mut e = Vec::new();
    let count = st.gpus.len() as u32;
    let pci = "sys/bus/pci";
    for d in [
        "sys",
        "sys/bus",
        pci,
        "sys/bus/pci/devices",
        "sys/bus/pci/drivers",
    ] {
        e.push(dir(d));
    }
    e.push(dir("sys/bus/pci/drivers/nvidia"));
    let mut gpus: Vec<(u32, &SimGpu, PciAddress)> = Vec::new();
    for (i, g) in st.gpus.iter().enumerate() {
        // the state file was checked on load, so its bus IDs parse
        if let Some(a) = PciAddress::parse(&g.pci_bus_id) {
            gpus.push((i as u32, g, a));
        }
    }
    for &(i, g, a) in &gpus {
        let m = g.model();
        let base = format!("{pci}/devices/{}", a.sysfs());
        e.push(dir(base.clone()));
        let f = |name: &str, text: String| file(format!("{base}/{name}"), text, 0o444);
        e.push(f("vendor", "0x10de\n".into()));
        e.push(f("device", format!("0x{:04x}\n", m.pci_device_id)));
        e.push(f(
            "subsystem_vendor",
            format!("0x{:04x}\n", subsystem_vendor(m)),
        ));
        e.push(f(
            "subsystem_device",
            format!("0x{:04x}\n", subsystem_device(m)),
        ));
        e.push(f("class", format!("0x{:06x}\n", pci_class(m))));
        e.push(f("revision", format!("0x{REVISION:02x}\n")));
        e.push(f("numa_node", format!("{}\n", numa_node(i, count))));
        e.push(f("irq", format!("{}\n", irq(g.minor))));
        e.push(f("enable", "1\n".into()));
        e.push(f("resource", resource_file(m, i)));
        e.push(file(format!("{base}/config"), config_space(m, i), 0o644));
        e.push(file(format!("{base}/reset"), Vec::new(), 0o200));
        e.push(link(format!("{base}/driver"), "../../drivers/nvidia"));
        e.push(link(
            format!("{pci}/drivers/nvidia/{}", a.sysfs()),
            format!("../../devices/{}", a.sysfs()),
        ));
    }
    for d in ["proc", "proc/driver", "proc/driver/nvidia"] {
        e.push(dir(d));
    }
    e.push(file(
        "proc/driver/nvidia/version",
        format!(
            "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  {}  Release Build  (migctl simulated machine)\n",
            crate::state::DRIVER_VERSION
        ),
        0o444,
    ));
    e.push(dir("proc/driver/nvidia/gpus"));
    for &(_, g, a) in &gpus {
        let base = format!("proc/driver/nvidia/gpus/{}", a.sysfs());
        e.push(dir(base.clone()));
        e.push(file(
            format!("{base}/information"),
            information_text(g, a),
            0o444,
        ));
    }
    let caps = "proc/driver/nvidia/capabilities";
    e.push(dir(caps));
    e.push(dir(format!("{caps}/mig")));
    e.push(file(
        format!("{caps}/mig/config"),
        capability_text(CAPS_CONFIG_MINOR, MODE_CONFIG),
        MODE_CONFIG,
    ));
    e.push(file(
        format!("{caps}/mig/monitor"),
        capability_text(CAPS_MONITOR_MINOR, MODE_RUGO),
        MODE_RUGO,
    ));
    let mut cap_nodes = vec![
        (CAPS_CONFIG_MINOR, MODE_CONFIG),
        (CAPS_MONITOR_MINOR, MODE_RUGO),
    ];
    for &(_, g, _) in &gpus {
        let base = format!("{caps}/gpu{}", g.minor);
        e.push(dir(base.clone()));
        e.push(dir(format!("{base}/mig")));
        if !g.mig_current {
            continue;
        }
        for gi in &g.layout.gpu_instances {
            let gdir = format!("{base}/mig/gi{}", gi.id.0);
            let minor = ids::gi_caps_minor(g.minor, gi.id);
            e.push(dir(gdir.clone()));
            e.push(file(
                format!("{gdir}/access"),
                capability_text(minor, MODE_RUGO),
                MODE_RUGO,
            ));
            cap_nodes.push((minor, MODE_RUGO));
            let mut cis: Vec<_> = gi.compute_instances.iter().map(|c| c.id).collect();
            cis.sort();
            for ci in cis {
                let cdir = format!("{gdir}/ci{}", ci.0);
                let minor = ids::ci_caps_minor(g.minor, gi.id, ci);
                e.push(dir(cdir.clone()));
                e.push(file(
                    format!("{cdir}/access"),
                    capability_text(minor, MODE_RUGO),
                    MODE_RUGO,
                ));
                cap_nodes.push((minor, MODE_RUGO));
            }
        }
    }
    e.push(dir("proc/driver/nvidia-caps"));
    e.push(file(
        "proc/driver/nvidia-caps/mig-minors",
        mig_minors_text(),
        0o444,
    ));
    let mut devices = String::from("Character devices:\n");
    for l in proc_devices_lines() {
        devices.push_str(&l);
        devices.push('\n');
    }
    devices.push_str("\nBlock devices:\n");
    e.push(file("proc/devices", devices, 0o444));
    let modules: String = proc_modules_lines(gpus.len())
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    e.push(file("proc/modules", modules, 0o444));
    e.push(dir("dev"));
    for &(_, g, _) in &gpus {
        e.push(chardev(
            format!("dev/nvidia{}", g.minor),
            NVIDIA_MAJOR,
            g.minor,
            MODE_NVIDIA_DEV,
        ));
    }
    e.push(chardev(
        "dev/nvidiactl",
        NVIDIA_MAJOR,
        NVIDIACTL_MINOR,
        MODE_NVIDIA_DEV,
    ));
    e.push(chardev(
        "dev/nvidia-modeset",
        NVIDIA_MAJOR,
        MODESET_MINOR,
        MODE_NVIDIA_DEV,
    ));
    e.push(chardev(
        "dev/nvidia-uvm",
        UVM_MAJOR,
        UVM_MINOR,
        MODE_NVIDIA_DEV,
    ));
    e.push(chardev(
        "dev/nvidia-uvm-tools",
        UVM_MAJOR,
        UVM_TOOLS_MINOR,
        MODE_NVIDIA_DEV,
    ));
    e.push(dir("dev/nvidia-caps"));
    cap_nodes.sort();
    for (minor, mode) in cap_nodes {
        e.push(chardev(
            format!("dev/nvidia-caps/nvidia-cap{minor}"),
            CAPS_MAJOR,
            minor,
            mode,
        ));
    }
    e
}

/// The text of a placeholder standing for a character device.
pub fn placeholder_text(major: u32, minor: u32, mode: u32) -> String {
    format!(
        "migctl placeholder: character device {major}:{minor} mode {mode:04o} \
         (mknod was not permitted where this tree was written)\n"
    )
}

/// What a root's manifest records.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    format: String,
    nodes: NodeKind,
    #[serde(default)]
    why: String,
    paths: Vec<String>,
}

fn read_manifest(root: &Path) -> Result<Option<Manifest>, HostError> {
    let p = root.join(MANIFEST);
    let text = match fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&p)(e)),
    };
    let m: Manifest = serde_json::from_str(&text).map_err(|e| HostError::Manifest {
        path: p.clone(),
        why: e.to_string(),
    })?;
    if m.format != MANIFEST_FORMAT {
        return Err(HostError::Manifest {
            path: p,
            why: format!("format {:?}", m.format),
        });
    }
    Ok(Some(m))
}

/// Write `data` to `path` through a temporary file in the same directory,
/// renamed into place, so a reader sees the old file or the new one.
fn replace_file(path: &Path, data: &[u8], mode: u32) -> Result<(), HostError> {
    let tmp = tmp_beside(path);
    let _ = fs::remove_file(&tmp);
    let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(data).map_err(io(&tmp))?;
    drop(f);
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)).map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

fn tmp_beside(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(
        ".migctl-tmp-{}-{}",
        name.unwrap_or_default(),
        std::process::id()
    ))
}

fn mknod(path: &Path, major: u32, minor: u32, mode: u32) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let dev = libc::makedev(major, minor);
    // SAFETY: `c` is a valid NUL-terminated path for the call's duration.
    let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | mode as libc::mode_t, dev) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // mknod applies the umask; set the mode exactly
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Whether the node at `path` already is what `node` asks for.
fn is_current(path: &Path, node: &Node, kind: NodeKind) -> bool {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return false;
    };
    let mode_ok = |m: u32| meta.permissions().mode() & 0o7777 == m;
    match node {
        Node::Dir => meta.is_dir(),
        Node::Link(t) => {
            meta.file_type().is_symlink()
                && fs::read_link(path).ok().as_deref() == Some(Path::new(t))
        }
        Node::File { data, mode } => {
            meta.is_file()
                && mode_ok(*mode)
                && meta.len() == data.len() as u64
                && fs::read(path).ok().as_deref() == Some(data.as_slice())
        }
        Node::CharDev { major, minor, mode } => match kind {
            NodeKind::Chardev => {
                meta.file_type().is_char_device()
                    && mode_ok(*mode)
                    && meta.rdev() == libc::makedev(*major, *minor)
            }
            NodeKind::Placeholder => {
                let text = placeholder_text(*major, *minor, *mode);
                meta.is_file() && fs::read(path).ok().as_deref() == Some(text.as_bytes())
            }
        },
    }
}

/// Create `node` at `path` (which does not exist or is replaced).
fn create(path: &Path, node: &Node, kind: NodeKind) -> Result<(), HostError> {
    match node {
        Node::Dir => fs::create_dir(path).map_err(io(path)),
        Node::File { data, mode } => replace_file(path, data, *mode),
        Node::Link(t) => {
            let tmp = tmp_beside(path);
            let _ = fs::remove_file(&tmp);
            std::os::unix::fs::symlink(t, &tmp).map_err(io(&tmp))?;
            fs::rename(&tmp, path).map_err(io(path))
        }
        Node::CharDev { major, minor, mode } => match kind {
            NodeKind::Chardev => {
                let tmp = tmp_beside(path);
                let _ = fs::remove_file(&tmp);
                mknod(&tmp, *major, *minor, *mode).map_err(io(&tmp))?;
                fs::rename(&tmp, path).map_err(io(path))
            }
            NodeKind::Placeholder => replace_file(
                path,
                placeholder_text(*major, *minor, *mode).as_bytes(),
                0o644,
            ),
        },
    }
}

fn remove_any(path: &Path) -> Result<(), HostError> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path)(e)),
        Ok(m) if m.is_dir() => {
            // vanish at once for readers: rename aside, then delete
            let aside = path.with_file_name(format!(
                ".migctl-old-{}-{}",
                path.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default(),
                std::process::id()
            ));
            fs::rename(path, &aside).map_err(io(path))?;
            fs::remove_dir_all(&aside).map_err(io(&aside))
        }
        Ok(_) => fs::remove_file(path).map_err(io(path)),
    }
}

/// Make `root` hold exactly `entries` (and nothing else that a previous
/// write of migctl put there). Each file, link and node appears whole
/// (written beside, renamed into place); a new directory appears with its
/// whole subtree (built under a temporary name, then renamed); a removed
/// directory vanishes at once (renamed aside, then deleted). Nothing that
/// migctl did not write is touched.
pub fn apply(root: &Path, entries: &[Entry], kind: NodeKind, why: &str) -> Result<(), HostError> {
    fs::create_dir_all(root).map_err(io(root))?;
    let old = read_manifest(root)?;
    if old.is_none() {
        for top in ["sys", "proc", "dev"] {
            if fs::symlink_metadata(root.join(top)).is_ok() {
                return Err(HostError::NotOurs {
                    path: root.to_path_buf(),
                    what: format!("{top}/"),
                });
            }
        }
    }
    let want: BTreeMap<&str, &Node> = entries.iter().map(|e| (e.path.as_str(), &e.node)).collect();
    // 1. removals: /proc before /dev, so no capability file ever names a
    // node that is gone; shallowest first (a directory takes its subtree)
    if let Some(old) = &old {
        let mut gone: Vec<&String> = old
            .paths
            .iter()
            .filter(|p| !want.contains_key(p.as_str()))
            .collect();
        gone.sort_by_key(|p| (!p.starts_with("proc"), p.matches('/').count()));
        let mut removed: Vec<&str> = Vec::new();
        for p in gone {
            if removed.iter().any(|r| p.starts_with(&format!("{r}/"))) {
                continue;
            }
            remove_any(&root.join(p))?;
            removed.push(p);
        }
    }
    // 2. additions and updates, parents first; `dev/` sorts before `proc/`,
    // so a node exists before a capability file names it
    let mut built: Vec<&str> = Vec::new();
    for (p, node) in &want {
        if built.iter().any(|b| p.starts_with(&format!("{b}/"))) {
            continue;
        }
        let path = root.join(p);
        if is_current(&path, node, kind) {
            continue;
        }
        if **node == Node::Dir {
            if fs::symlink_metadata(&path).is_ok() {
                remove_any(&path)?;
            }
            // build the subtree under a temporary name, then rename it in
            let tmp = tmp_beside(&path);
            remove_any(&tmp)?;
            fs::create_dir(&tmp).map_err(io(&tmp))?;
            let prefix = format!("{p}/");
            for (q, n) in
                want.range::<str, _>((std::ops::Bound::Excluded(*p), std::ops::Bound::Unbounded))
            {
                let Some(rest) = q.strip_prefix(&prefix) else {
                    if !q.starts_with(*p) {
                        break;
                    }
                    continue;
                };
                create(&tmp.join(rest), n, kind)?;
            }
            fs::rename(&tmp, &path).map_err(io(&path))?;
            built.push(p);
        } else {
            if fs::symlink_metadata(&path)
                .map(|m| m.is_dir())
                .unwrap_or(false)
            {
                remove_any(&path)?;
            }
            create(&path, node, kind)?;
        }
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        nodes: kind,
        why: why.into(),
        paths: want.keys().map(|p| p.to_string()).collect(),
    };
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| HostError::Manifest {
        path: root.join(MANIFEST),
        why: e.to_string(),
    })?;
    replace_file(&root.join(MANIFEST), &text, 0o644)
}

/// Whether character devices can be made under `root` here: mknod must be
/// permitted, and the majors the tree uses must not belong to another
/// driver of this host (a node would open that driver). The reason when
/// not.
pub fn node_kind_for(root: &Path) -> (NodeKind, String) {
    let ours = [
        "nvidia",
        "nvidiactl",
        "nvidia-modeset",
        "nvidia-uvm",
        "nvidia-caps",
    ];
    if let Ok(devices) = fs::read_to_string("/proc/devices") {
        let chars = devices.split("Block devices:").next().unwrap_or("");
        for l in chars.lines() {
            let mut it = l.split_whitespace();
            let (Some(major), Some(name)) = (it.next(), it.next()) else {
                continue;
            };
            let Ok(major) = major.parse::<u32>() else {
                continue;
            };
            if [NVIDIA_MAJOR, UVM_MAJOR, CAPS_MAJOR].contains(&major) && !ours.contains(&name) {
                return (
                    NodeKind::Placeholder,
                    format!("major {major} belongs to this host's {name:?} driver"),
                );
            }
        }
    }
    let probe = root.join(".migctl-mknod-probe");
    let _ = fs::remove_file(&probe);
    match mknod(&probe, NVIDIA_MAJOR, NVIDIACTL_MINOR, 0o600) {
        Ok(()) => {
            let _ = fs::remove_file(&probe);
            (NodeKind::Chardev, String::new())
        }
        Err(e) => {
            let _ = fs::remove_file(&probe);
            (NodeKind::Placeholder, format!("mknod not permitted: {e}"))
        }
    }
}

/// The roots a machine keeps current, in `<state>.hosts`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Roots {
    format: String,
    roots: Vec<RootEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct RootEntry {
    dir: PathBuf,
    nodes: NodeKind,
    #[serde(default)]
    why: String,
}

/// A registered host-tree root, as `migctl sim root --list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoot {
    pub dir: PathBuf,
    pub nodes: NodeKind,
    /// Why placeholders stand for the device nodes (empty for chardev).
    pub why: String,
}

/// The side file beside the state that names the roots to keep current.
pub fn roots_path(state: &Path) -> PathBuf {
    let mut p = state.as_os_str().to_owned();
    p.push(".hosts");
    p.into()
}

fn read_roots(state: &Path) -> Result<Roots, HostError> {
    let p = roots_path(state);
    match fs::read_to_string(&p) {
        Ok(t) => {
            let r: Roots = serde_json::from_str(&t).map_err(|e| HostError::Manifest {
                path: p.clone(),
                why: e.to_string(),
            })?;
            if r.format != ROOTS_FORMAT {
                return Err(HostError::Manifest {
                    path: p,
                    why: format!("format {:?}", r.format),
                });
            }
            Ok(r)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Roots {
            format: ROOTS_FORMAT.into(),
            roots: Vec::new(),
        }),
        Err(e) => Err(io(&p)(e)),
    }
}

fn write_roots(state: &Path, r: &Roots) -> Result<(), HostError> {
    let p = roots_path(state);
    let text = serde_json::to_vec_pretty(r).map_err(|e| HostError::Manifest {
        path: p.clone(),
        why: e.to_string(),
    })?;
    replace_file(&p, &text, 0o644)
}

/// Rewrite every registered root for the state `st` just saved at `state`
/// (the caller holds the exclusive lock). A root whose manifest is gone
/// (its directory was deleted) is forgotten rather than recreated. Errors
/// do not undo the change the caller made: each is written to the root's
/// [`ERROR_FILE`] (removed again by the next good write) and returned.
pub fn refresh_roots(state: &Path, st: &MachineState) -> Vec<HostError> {
    let mut errors = Vec::new();
    let mut roots = match read_roots(state) {
        Ok(r) if r.roots.is_empty() => return errors,
        Ok(r) => r,
        Err(e) => return vec![e],
    };
    let list = entries(st);
    let before = roots.roots.len();
    roots.roots.retain(|r| r.dir.join(MANIFEST).exists());
    for r in &roots.roots {
        match apply(&r.dir, &list, r.nodes, &r.why) {
            Ok(()) => {
                let _ = fs::remove_file(r.dir.join(ERROR_FILE));
            }
            Err(e) => {
                let _ = fs::write(r.dir.join(ERROR_FILE), format!("{e}\n"));
                errors.push(e);
            }
        }
    }
    if roots.roots.len() != before {
        if let Err(e) = write_roots(state, &roots) {
            errors.push(e);
        }
    }
    errors
}

impl SimMachine {
    /// Write the host tree under `dir` and keep it current after every
    /// change of this machine. Returns how device nodes are held there.
    pub fn add_host_root(&self, dir: &Path) -> Result<HostRoot, HostError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let dir = dir.canonicalize().map_err(io(dir))?;
        let lock = self.file.lock(true)?;
        let st = self.file.load(&lock)?;
        let mut roots = read_roots(self.path())?;
        let (nodes, why) = match read_manifest(&dir)? {
            Some(m) => (m.nodes, m.why),
            None => node_kind_for(&dir),
        };
        apply(&dir, &entries(&st), nodes, &why)?;
        let entry = RootEntry {
            dir: dir.clone(),
            nodes,
            why: why.clone(),
        };
        roots.roots.retain(|r| r.dir != dir);
        roots.roots.push(entry);
        roots.format = ROOTS_FORMAT.into();
        write_roots(self.path(), &roots)?;
        Ok(HostRoot { dir, nodes, why })
    }

    /// Stop keeping `dir` current (its files stay).
    pub fn forget_host_root(&self, dir: &Path) -> Result<bool, HostError> {
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let _lock = self.file.lock(true)?;
        let mut roots = read_roots(self.path())?;
        let n = roots.roots.len();
        roots.roots.retain(|r| r.dir != dir);
        let forgot = roots.roots.len() != n;
        if forgot {
            write_roots(self.path(), &roots)?;
        }
        Ok(forgot)
    }

    /// The roots this machine keeps current.
    pub fn host_roots(&self) -> Result<Vec<HostRoot>, HostError> {
        let _lock = self.file.lock(false)?;
        Ok(read_roots(self.path())?
            .roots
            .into_iter()
            .map(|r| HostRoot {
                dir: r.dir,
                nodes: r.nodes,
                why: r.why,
            })
            .collect())
    }
}

/// Paths of `entries` (for tests and listings).
pub fn paths(entries: &[Entry]) -> BTreeSet<&str> {
    entries.iter().map(|e| e.path.as_str()).collect()
}
