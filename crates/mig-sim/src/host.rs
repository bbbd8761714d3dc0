//! The simulated machine as a host tree: the sysfs PCI entries, the
//! `/proc/driver/nvidia*` files, `/proc/devices` and `/proc/modules` lines and
//! the `/dev` nodes that the NVIDIA driver (and `nvidia-modprobe`) make on a
//! real host, written under a directory at the host's own paths.
//!
//! [`entries`] is pure: machine state in, the list of entries out.
//! `host_write::apply` makes a directory match such a list. Roots
//! registered with `SimMachine::add_host_root` are rewritten by
//! `host_write::refresh_roots` after every successful change of
//! the machine, under the state file's exclusive lock (see
//! `docs/host-tree.md` for every value's source and for what a reader can
//! see during an update).

use crate::state::{MachineState, SimGpu, StateError};
use mig_model::catalog::GpuModel;
use mig_model::ids::{
    self, CAPS_CI_SLOTS, CAPS_CONFIG_MINOR, CAPS_GI_SLOTS, CAPS_GPU_SLOTS, CAPS_MONITOR_MINOR,
};
use mig_model::{ComputeInstanceId, GpuInstanceId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt::Write as _;
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
pub(crate) const MANIFEST_FORMAT: &str = "migctl-sim-host-tree";
pub(crate) const ROOTS_FORMAT: &str = "migctl-sim-host-roots";

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

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HostError + '_ {
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

/// BAR1 size of the sysfs `resource` table: the board's BAR1 from the
/// catalog (`catalog/boards.toml`) where a source gives it; else, since a
/// PCI device's resource table needs a size, the smallest power of two that
/// holds the board's memory (derived, the rule the known sizes follow;
/// `docs/host-tree.md`). NVML's BAR1 answer never uses this fallback.
pub fn bar1_bytes(model: &GpuModel) -> u64 {
    mig_model::board::value(&mig_model::board::board(&model.slug).bar1_mib)
        .map(|mib| mib << 20)
        .unwrap_or_else(|| model.memory_total_bytes.next_power_of_two())
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

/// A registered host-tree root, as `migctl sim root --list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoot {
    pub dir: PathBuf,
    pub nodes: NodeKind,
    /// Why placeholders stand for the device nodes (empty for chardev).
    pub why: String,
}

/// Paths of `entries` (for tests and listings).
pub fn paths(entries: &[Entry]) -> BTreeSet<&str> {
    entries.iter().map(|e| e.path.as_str()).collect()
}
