//! The sections of one GPU in `nvidia-smi -q`, in nvidia-smi 580's order.
//! Every value is the backend's ([`Readings`], [`Details`], the device and
//! its MIG devices and processes); what nvidia-smi prints as N/A on every
//! measured board and no backend reads (Windows driver model, chassis and
//! fabric facts, module power, ...) prints N/A here, listed in
//! docs/nvidia-smi-formats.md.
//!
//! [`Readings`]: mig_model::readings::Readings
//! [`Details`]: mig_model::details::Details

use super::fmt::{enabled, mib, na, pct, yes_no, Log, NA};
use super::select::{Display, Filter, QGpu};
use mig_model::details::MigDetails;
use mig_model::readings::Read;

fn brand(b: &u32) -> String {
    match b {
        1 => "Quadro",
        2 => "Tesla",
        3 => "NVS",
        4 => "Grid",
        5 => "GeForce",
        6 => "Titan",
        7 => "NVIDIA Virtual Applications",
        8 => "NVIDIA Virtual PC",
        9 => "NVIDIA Virtual Compute Server",
        10 => "NVIDIA RTX Virtual Workstation",
        11 => "NVIDIA Cloud Gaming",
        12 => "Quadro RTX",
        13 => "NVIDIA RTX",
        14 => "NVIDIA",
        15 => "GeForce RTX",
        16 => "Titan RTX",
        _ => "Unknown",
    }
    .into()
}

fn architecture(a: &u32) -> String {
    match a {
        2 => "Kepler",
        3 => "Maxwell",
        4 => "Pascal",
        5 => "Volta",
        6 => "Turing",
        7 => "Ampere",
        8 => "Ada Lovelace",
        9 => "Hopper",
        10 => "Blackwell",
        _ => "Unknown",
    }
    .into()
}

fn compute_mode(m: &u32) -> String {
    match m {
        0 => "Default",
        1 => "Exclusive_Thread",
        2 => "Prohibited",
        3 => "Exclusive_Process",
        _ => "Unknown",
    }
    .into()
}

/// One GPU's sections that `filter` shows.
pub(super) fn gpu(l: &mut Log, g: &QGpu<'_>, f: &Filter) {
    let all = *f == Filter::All;
    if all {
        identity(l, g);
    }
    if f.shows(Display::Accounting) && !all {
        accounting(l, g);
    }
    if all {
        board(l, g);
    }
    if f.shows(Display::GspFirmwareVersion) {
        l.kv(
            1,
            "GSP Firmware Version",
            na(&g.d.gsp_firmware, String::clone),
        );
    }
    if all {
        l.title(1, "IBMNPU");
        l.kv(2, "Relaxed Ordering Mode", NA);
        pci(l, g);
        l.kv(1, "Fan Speed", na(&g.r.fan_percent, pct));
    }
    if f.shows(Display::Performance) {
        performance(l, g);
    }
    if f.shows(Display::Memory) {
        memory(l, g);
    }
    if f.shows(Display::Compute) {
        l.kv(1, "Compute Mode", na(&g.r.compute_mode, compute_mode));
    }
    if f.shows(Display::Utilization) {
        utilization(l, g);
        if !all {
            for t in ["GPU", "Memory", "ENC", "DEC", "JPG", "OFA"] {
                super::fmt::samples(l, &format!("{t} Utilization Samples"));
            }
        }
    }
    if f.shows(Display::EncoderStats) {
        stats(l, "Encoder Stats", &g.d.encoder_stats);
    }
    if f.shows(Display::FbcStats) {
        stats(l, "FBC Stats", &g.d.fbc_stats);
    }
    if f.shows(Display::Ecc) {
        super::health::ecc(l, g, all);
    }
    if f.shows(Display::PageRetirement) {
        // Hopper and later retire no pages (rows are remapped instead); no
        // backend reads nvmlDeviceGetRetiredPages
        l.title(1, "Retired Pages");
        l.kv(2, "Single Bit ECC", NA);
        l.kv(2, "Double Bit ECC", NA);
        l.kv(2, "Pending Page Blacklist", NA);
    }
    if f.shows(Display::RowRemapper) {
        super::health::remapped_rows(l, g);
    }
    if f.shows(Display::Temperature) {
        super::health::temperature(l, g);
    }
    if f.shows(Display::Power) {
        super::health::power(l, g, !all);
    }
    if f.shows(Display::PowerSmoothing) {
        l.kv(1, "Power Smoothing", NA);
    }
    if f.shows(Display::PowerProfiles) {
        l.title(1, "Workload Power Profiles");
        l.kv(2, "Requested Profiles", NA);
        l.kv(2, "Enforced Profiles", NA);
    }
    if f.shows(Display::Clock) {
        super::health::clocks(l, g, !all);
    }
    if f.shows(Display::SupportedClocks) && !all {
        supported_clocks(l, g);
    }
    if all {
        fabric(l);
    }
    if f.shows(Display::Pids) {
        processes(l, g);
    }
    if all {
        l.title(1, "Capabilities");
        l.kv(
            2,
            "EGM",
            na(&g.d.egm, |e| if *e { "enabled" } else { "disabled" }.into()),
        );
    }
}

fn identity(l: &mut Log, g: &QGpu<'_>) {
    let (dev, r, d) = (g.dev, g.r, g.d);
    l.kv(1, "Product Name", &dev.name);
    l.kv(1, "Product Brand", na(&d.brand, brand));
    l.kv(1, "Product Architecture", na(&d.architecture, architecture));
    // nvidia-smi 580's own words for the deprecated display mode
    l.kv(
        1,
        "Display Mode",
        "Requested functionality has been deprecated",
    );
    l.kv(1, "Display Attached", na(&d.display_mode, yes_no));
    l.kv(1, "Display Active", na(&r.display_active, enabled));
    l.kv(1, "Persistence Mode", na(&r.persistence, enabled));
    let addressing = |m: &u32| {
        match m {
            0 => "None",
            1 => "HMM",
            2 => "ATS",
            _ => "Unknown",
        }
        .to_string()
    };
    l.kv(1, "Addressing Mode", na(&d.addressing_mode, addressing));
    l.title(1, "MIG Mode");
    l.kv(2, "Current", enabled(&dev.mig.current));
    l.kv(2, "Pending", enabled(&dev.mig.pending));
    if dev.mig.current {
        mig_devices(l, g);
    }
    accounting(l, g);
}

fn accounting(l: &mut Log, g: &QGpu<'_>) {
    l.kv(1, "Accounting Mode", na(&g.d.accounting_mode, enabled));
    l.kv(
        1,
        "Accounting Mode Buffer Size",
        na(&g.d.accounting_buffer_size, u32::to_string),
    );
}

/// One `MIG Device` block per MIG device, right after `MIG Mode`: its
/// index, IDs, engines, volatile ECC, FB memory and `BAR1 Memory`, as the
/// real nvidia-smi 580.159.04 printed them over the simulated machine
/// (`crates/migctl/tests/golden/real-smi/`; no wrapping `MIG Devices` title).
fn mig_devices(l: &mut Log, g: &QGpu<'_>) {
    for (i, m) in g.migs.iter().enumerate() {
        let md = g.d.migs.get(i).cloned().unwrap_or(MigDetails {
            memory: Err(mig_model::NvmlError::NotSupported),
            bar1: Err(mig_model::NvmlError::NotSupported),
            ecc_volatile_uncorrected: Err(mig_model::NvmlError::NotSupported),
        });
        l.title(1, "MIG Device");
        l.kv(2, "Index", m.index.to_string());
        l.kv(2, "GPU Instance ID", m.gi.0.to_string());
        l.kv(2, "Compute Instance ID", m.ci.0.to_string());
        l.title(2, "Device Attributes");
        l.title(3, "Shared");
        l.kv(4, "Multiprocessor count", m.sm.to_string());
        l.kv(4, "Copy Engine count", m.ce.to_string());
        l.kv(4, "Encoder count", m.enc.to_string());
        l.kv(4, "Decoder count", m.dec.to_string());
        l.kv(4, "OFA count", m.ofa.to_string());
        l.kv(4, "JPG count", m.jpeg.to_string());
        l.title(2, "ECC Errors");
        l.title(3, "Volatile");
        l.kv(
            4,
            "SRAM Uncorrectable",
            na(&md.ecc_volatile_uncorrected, u64::to_string),
        );
        l.title(2, "FB Memory Usage");
        l.kv(3, "Total", na(&md.memory, |(t, _, _)| mib(*t)));
        l.kv(3, "Reserved", na(&md.memory, |(_, r, _)| mib(*r)));
        l.kv(3, "Used", na(&md.memory, |(_, _, u)| mib(*u)));
        l.kv(
            3,
            "Free",
            na(&md.memory, |(t, r, u)| mib(t.saturating_sub(r + u))),
        );
        l.title(2, "BAR1 Memory");
        l.kv(3, "Total", na(&md.bar1, |(t, _)| mib(*t)));
        l.kv(3, "Used", na(&md.bar1, |(_, u)| mib(*u)));
        l.kv(3, "Free", na(&md.bar1, |(t, u)| mib(t - u)));
    }
}

fn board(l: &mut Log, g: &QGpu<'_>) {
    let (dev, r, d) = (g.dev, g.r, g.d);
    // the Windows driver model: no Linux driver answers it
    l.title(1, "Driver Model");
    l.kv(2, "Current", NA);
    l.kv(2, "Pending", NA);
    l.kv(1, "Serial Number", na(&r.serial, String::clone));
    l.kv(1, "GPU UUID", &dev.uuid);
    l.kv(1, "GPU PDI", na(&d.pdi, |p| format!("{p:#018x}")));
    l.kv(1, "Minor Number", dev.minor.to_string());
    l.kv(1, "VBIOS Version", na(&r.vbios_version, String::clone));
    l.kv(1, "MultiGPU Board", na(&d.multi_gpu_board, yes_no));
    l.kv(1, "Board ID", na(&d.board_id, |b| format!("{b:#x}")));
    l.kv(
        1,
        "Board Part Number",
        na(&d.board_part_number, String::clone),
    );
    l.kv(1, "GPU Part Number", na(&d.gpu_part_number, String::clone));
    l.kv(1, "FRU Part Number", NA);
    l.title(1, "Platform Info");
    for k in [
        "Chassis Serial Number",
        "Slot Number",
        "Tray Index",
        "Host ID",
        "Peer Type",
    ] {
        l.kv(2, k, NA);
    }
    l.kv(2, "Module Id", na(&d.module_id, u32::to_string));
    l.kv(2, "GPU Fabric GUID", NA);
    l.title(1, "Inforom Version");
    l.kv(2, "Image Version", na(&d.inforom_image, String::clone));
    let [oem, ecc, pwr] = &d.inforom_objects;
    l.kv(2, "OEM Object", na(oem, String::clone));
    l.kv(2, "ECC Object", na(ecc, String::clone));
    l.kv(2, "Power Management Object", na(pwr, String::clone));
    l.title(1, "Inforom BBX Object Flush");
    l.kv(2, "Latest Timestamp", NA);
    l.kv(2, "Latest Duration", NA);
    l.title(1, "GPU Operation Mode");
    l.kv(2, "Current", NA);
    l.kv(2, "Pending", NA);
    l.kv(1, "GPU C2C Mode", na(&d.c2c_enabled, enabled));
    l.title(1, "GPU Virtualization Mode");
    let virt = |m: &u32| {
        match m {
            0 => "None",
            1 => "Pass-Through",
            2 => "VGPU",
            3 => "Host VGPU",
            4 => "Host VSGA",
            _ => "Unknown",
        }
        .to_string()
    };
    l.kv(2, "Virtualization Mode", na(&d.virtualization_mode, virt));
    l.kv(2, "Host VGPU Mode", NA);
    l.kv(2, "vGPU Heterogeneous Mode", NA);
    let recovery = |a: &u32| {
        match a {
            0 => "None",
            1 => "GPU Reset",
            2 => "Node Reboot",
            3 => "Drain P2P",
            4 => "Drain and Reset",
            _ => "Unknown",
        }
        .to_string()
    };
    l.kv(1, "GPU Recovery Action", na(&d.recovery_action, recovery));
}

fn pci(l: &mut Log, g: &QGpu<'_>) {
    let (r, d) = (g.r, g.d);
    // domain, bus and device from the bus ID `DDDDDDDD:BB:DD.F`
    let id = &g.dev.pci_bus_id;
    let mut parts = id.split([':', '.']);
    let num = |s: Option<&str>| s.and_then(|s| u32::from_str_radix(s, 16).ok());
    let (domain, bus, device) = (num(parts.next()), num(parts.next()), num(parts.next()));
    let hex = |v: Option<u32>, w: usize| {
        v.map(|v| format!("0x{v:0w$X}"))
            .unwrap_or_else(|| NA.into())
    };
    l.title(1, "PCI");
    l.kv(2, "Bus", hex(bus, 2));
    l.kv(2, "Device", hex(device, 2));
    l.kv(2, "Domain", hex(domain, 4));
    l.kv(
        2,
        "Base Classcode",
        na(&d.pci_class, |(b, _)| format!("{b:#x}")),
    );
    l.kv(
        2,
        "Sub Classcode",
        na(&d.pci_class, |(_, s)| format!("{s:#x}")),
    );
    l.kv(
        2,
        "Device Id",
        na(&d.pci_ids, |(i, _)| format!("0x{i:08X}")),
    );
    l.kv(2, "Bus Id", id);
    l.kv(
        2,
        "Sub System Id",
        na(&d.pci_ids, |(_, s)| format!("0x{s:08X}")),
    );
    l.title(2, "GPU Link Info");
    l.title(3, "PCIe Generation");
    let [cur, max, dev_max] = &r.pcie_gen;
    l.kv(4, "Max", na(max, u32::to_string));
    l.kv(4, "Current", na(cur, u32::to_string));
    l.kv(4, "Device Current", na(cur, u32::to_string));
    l.kv(4, "Device Max", na(dev_max, u32::to_string));
    l.kv(4, "Host Max", NA);
    l.title(3, "Link Width");
    let [wcur, wmax] = &r.pcie_width;
    l.kv(4, "Max", na(wmax, |w| format!("{w}x")));
    l.kv(4, "Current", na(wcur, |w| format!("{w}x")));
    l.title(2, "Bridge Chip");
    l.kv(3, "Type", NA);
    l.kv(3, "Firmware", NA);
    l.kv(
        2,
        "Replays Since Reset",
        na(&d.pcie_replays, |(n, _)| n.to_string()),
    );
    l.kv(
        2,
        "Replay Number Rollovers",
        na(&d.pcie_replays, |(_, n)| n.to_string()),
    );
    let kbs = |v: u32| format!("{v} KB/s");
    l.kv(
        2,
        "Tx Throughput",
        na(&d.pcie_throughput_kbs, |(t, _)| kbs(*t)),
    );
    l.kv(
        2,
        "Rx Throughput",
        na(&d.pcie_throughput_kbs, |(_, x)| kbs(*x)),
    );
    l.kv(2, "Atomic Caps Outbound", NA);
    l.kv(2, "Atomic Caps Inbound", NA);
}

fn performance(l: &mut Log, g: &QGpu<'_>) {
    let d = g.d;
    l.kv(1, "Performance State", na(&g.r.pstate, |p| format!("P{p}")));
    l.title(1, "Clocks Event Reasons");
    let reason = |bit: u64| {
        na(&d.clocks_event_reasons, |m| {
            if m & bit != 0 { "Active" } else { "Not Active" }.into()
        })
    };
    l.kv(2, "Idle", reason(0x1));
    l.kv(2, "Applications Clocks Setting", reason(0x2));
    l.kv(2, "SW Power Cap", reason(0x4));
    l.kv(2, "HW Slowdown", reason(0x8));
    l.kv(3, "HW Thermal Slowdown", reason(0x40));
    l.kv(3, "HW Power Brake Slowdown", reason(0x80));
    l.kv(2, "Sync Boost", reason(0x10));
    l.kv(2, "SW Thermal Slowdown", reason(0x20));
    l.kv(2, "Display Clock Setting", reason(0x100));
    l.title(1, "Clocks Event Reasons Counters");
    let [pwr, sync, sw_th, hw_th, brake] = &d.violation_us;
    let us = |v: &u64| format!("{v} us");
    l.kv(2, "SW Power Capping", na(pwr, us));
    l.kv(2, "Sync Boost", na(sync, us));
    l.kv(2, "SW Thermal Slowdown", na(sw_th, us));
    l.kv(2, "HW Thermal Slowdown", na(hw_th, us));
    l.kv(2, "HW Power Braking", na(brake, us));
    l.kv(1, "Sparse Operation Mode", na(&d.sparse_mode, enabled));
}

fn memory(l: &mut Log, g: &QGpu<'_>) {
    let (r, d) = (g.r, g.d);
    let total = g.dev.memory_total_bytes;
    l.title(1, "FB Memory Usage");
    l.kv(2, "Total", mib(total));
    let m = &r.memory_used_reserved;
    l.kv(2, "Reserved", na(m, |(_, res)| mib(*res)));
    l.kv(2, "Used", na(m, |(u, _)| mib(*u)));
    l.kv(
        2,
        "Free",
        na(m, |(u, res)| mib(total.saturating_sub(u + res))),
    );
    for (name, v) in [
        ("BAR1 Memory Usage", &d.bar1),
        ("Conf Compute Protected Memory Usage", &d.protected_memory),
    ] {
        l.title(1, name);
        l.kv(2, "Total", na(v, |(t, _)| mib(*t)));
        l.kv(2, "Used", na(v, |(_, u)| mib(*u)));
        l.kv(2, "Free", na(v, |(t, u)| mib(t - u)));
    }
}

fn utilization(l: &mut Log, g: &QGpu<'_>) {
    let (r, d) = (g.r, g.d);
    l.title(1, "Utilization");
    l.kv(2, "GPU", na(&r.utilization, |(u, _)| pct(u)));
    l.kv(2, "Memory", na(&r.utilization, |(_, m)| pct(m)));
    for (k, v) in ["Encoder", "Decoder", "JPEG", "OFA"]
        .iter()
        .zip(&d.engine_utilization)
    {
        l.kv(2, k, na(v, pct));
    }
}

fn stats(l: &mut Log, name: &str, s: &Read<(u32, u32, u32)>) {
    l.title(1, name);
    l.kv(2, "Active Sessions", na(s, |(n, _, _)| n.to_string()));
    l.kv(2, "Average FPS", na(s, |(_, f, _)| f.to_string()));
    l.kv(2, "Average Latency", na(s, |(_, _, t)| t.to_string()));
}

/// NVLink fabric facts: N/A on every measured board (no fabric manager in
/// the lent machines); no backend reads `nvmlDeviceGetGpuFabricInfoV`.
fn fabric(l: &mut Log) {
    l.title(1, "Fabric");
    for k in ["State", "Status", "CliqueId", "ClusterUUID"] {
        l.kv(2, k, NA);
    }
    l.title(2, "Health");
    for k in [
        "Summary",
        "Bandwidth",
        "Route Recovery in progress",
        "Route Unhealthy",
        "Access Timeout Recovery",
        "Incorrect Configuration",
        "Partition Assigned",
    ] {
        l.kv(3, k, NA);
    }
}

/// `-q -d SUPPORTED_CLOCKS`: each supported memory clock with the graphics
/// clocks it allows, as the real nvidia-smi 580.159.04 printed them over the
/// simulated machine; no backend reads the graphics clocks per memory clock
/// (`nvmlDeviceGetSupportedGraphicsClocks`, not modelled), so each is `N/A`.
fn supported_clocks(l: &mut Log, g: &QGpu<'_>) {
    match &g.d.supported_memory_clocks_mhz {
        Ok(mem) if !mem.is_empty() => {
            l.title(1, "Supported Clocks");
            for m in mem {
                l.kv(2, "Memory", format!("{m} MHz"));
                l.kv(3, "Graphics", NA);
            }
        }
        _ => l.kv(1, "Supported Clocks", NA),
    }
}

fn processes(l: &mut Log, g: &QGpu<'_>) {
    if g.procs.is_empty() {
        l.kv(1, "Processes", "None");
        return;
    }
    l.title(1, "Processes");
    let id = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_else(|| NA.into());
    // the entries' colon is at column 42, not 55 (the real nvidia-smi
    // 580.159.04's -q over the simulated machine, tests/golden/real-smi/)
    const AT: usize = 42;
    for p in g.procs {
        l.kv_at(AT, 2, "GPU instance ID", id(p.gi.map(|g| g.0)));
        l.kv_at(AT, 2, "Compute instance ID", id(p.ci.map(|c| c.0)));
        l.kv_at(AT, 2, "Process ID", p.pid.to_string());
        // the backends list compute processes only
        l.kv_at(AT, 3, "Type", "C");
        l.kv_at(AT, 3, "Name", &p.name);
        l.kv_at(
            AT,
            3,
            "Used GPU Memory",
            format!("{} MiB", p.used_memory_mb),
        );
    }
}
