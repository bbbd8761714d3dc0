//! nvidia-smi's CSV queries: `--query-gpu=FIELDS` and
//! `--query-compute-apps=FIELDS`, with `--format=csv[,noheader][,nounits]`
//! and `-i` selection. Field names (with their aliases), headers, units,
//! value spellings, errors and exit codes are nvidia-smi 580's, as the real
//! nvidia-smi printed them over the simulated machines
//! (`tests/golden/real-smi/`, checked by `tests/real_smi.rs`).
//!
//! The values come from the backend: identity and MIG mode from
//! `Inventory::snapshot`, the rest from `Inventory::readings`; what the
//! backend could not read prints as nvidia-smi prints that NVML error.

use mig_model::backend::{Backend, BackendError, DeviceInfo, GpuIdentity, GpuRef, ProcessInfo};
use mig_model::readings::{Read, Readings};
use mig_model::NvmlError;

pub use crate::args::{Query, Target};

/// What the query printed (on stdout) and its exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed {
    pub stdout: String,
    pub code: i32,
}

impl Printed {
    fn fail(stdout: impl Into<String>, code: i32) -> Printed {
        Printed {
            stdout: stdout.into(),
            code,
        }
    }
}

/// `--format=` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Format {
    header: bool,
    units: bool,
}

fn parse_format(s: &str) -> Result<Format, Printed> {
    let mut f = Format {
        header: true,
        units: true,
    };
    let mut csv = false;
    for opt in s.split(',').map(str::trim) {
        match opt {
            "csv" => csv = true,
            "noheader" => f.header = false,
            "nounits" => f.units = false,
            _ => {
                return Err(Printed::fail(
                    format!("\"{opt}\" is not a valid format option.\n\n"),
                    2,
                ))
            }
        }
    }
    if !csv {
        return Err(Printed::fail(
            "CSV format must be specified when using --query-gpu\n\n",
            2,
        ));
    }
    Ok(f)
}

/// One printed value: text as is, or a number with its unit, or an error.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(String),
    Num(String, &'static str),
    Err(NvmlError),
}

impl Value {
    fn show(&self, units: bool) -> String {
        match self {
            Value::Text(s) => s.clone(),
            Value::Num(n, u) if units && !u.is_empty() => format!("{n} {u}"),
            Value::Num(n, _) => n.clone(),
            Value::Err(e) => na(*e).to_string(),
        }
    }
}

/// How nvidia-smi spells a value NVML did not give.
fn na(e: NvmlError) -> &'static str {
    match e {
        NvmlError::NotSupported => "[N/A]",
        _ => "[Unknown Error]",
    }
}

fn num<T: ToString>(r: &Read<T>, unit: &'static str) -> Value {
    match r {
        Ok(v) => Value::Num(v.to_string(), unit),
        Err(e) => Value::Err(*e),
    }
}

fn watts(r: &Read<u32>) -> Value {
    match r {
        Ok(mw) => Value::Num(format!("{:.2}", f64::from(*mw) / 1000.0), "W"),
        Err(e) => Value::Err(*e),
    }
}

fn enabled(b: bool) -> Value {
    Value::Text(if b { "Enabled" } else { "Disabled" }.into())
}

/// `Enabled`/`Disabled`, or how nvidia-smi spells the error.
fn flag(r: &Read<bool>) -> Value {
    match r {
        Ok(b) => enabled(*b),
        Err(e) => Value::Err(*e),
    }
}

fn text(r: &Read<String>) -> Value {
    match r {
        Ok(s) => Value::Text(s.clone()),
        Err(e) => Value::Err(*e),
    }
}

/// Everything one GPU's row can show.
struct GpuRow {
    dev: DeviceInfo,
    id: GpuIdentity,
    r: Readings,
    driver: String,
    count: usize,
}

const MIB: u64 = 1 << 20;

fn pci_part(bus_id: &str, i: usize) -> Value {
    // `00000000:07:00.0`: domain, bus, device
    let parts: Vec<&str> = bus_id.split([':', '.']).collect();
    match parts.get(i) {
        Some(p) => Value::Text(format!("0x{}", p.to_ascii_uppercase())),
        None => Value::Err(NvmlError::Unknown),
    }
}

/// A `--query-gpu` field: its names, the header nvidia-smi prints, its
/// unit in the header, and its value.
struct GpuField {
    names: &'static [&'static str],
    header: &'static str,
    unit: &'static str,
    get: fn(&GpuRow) -> Value,
}

macro_rules! f {
    ([$($n:literal),+], $h:literal, $u:literal, $get:expr) => {
        GpuField { names: &[$($n),+], header: $h, unit: $u, get: $get }
    };
}

const GPU_FIELDS: &[GpuField] = &[
    f!(["driver_version"], "driver_version", "", |g| Value::Text(
        g.driver.clone()
    )),
    f!(["count"], "count", "", |g| Value::Text(g.count.to_string())),
    f!(["name", "gpu_name"], "name", "", |g| Value::Text(
        g.dev.name.clone()
    )),
    f!(
        ["serial", "gpu_serial"],
        "serial",
        "",
        |g| match &g.r.serial {
            Ok(s) => Value::Text(s.clone()),
            Err(e) => Value::Err(*e),
        }
    ),
    f!(["uuid", "gpu_uuid"], "uuid", "", |g| Value::Text(
        g.dev.uuid.clone()
    )),
    f!(["pci.bus_id", "gpu_bus_id"], "pci.bus_id", "", |g| {
        Value::Text(g.dev.pci_bus_id.clone())
    }),
    f!(["pci.domain"], "pci.domain", "", |g| pci_part(
        &g.dev.pci_bus_id,
        0
    )),
    f!(["pci.bus"], "pci.bus", "", |g| pci_part(
        &g.dev.pci_bus_id,
        1
    )),
    f!(["pci.device"], "pci.device", "", |g| pci_part(
        &g.dev.pci_bus_id,
        2
    )),
    f!(["pci.device_id"], "pci.device_id", "", |g| Value::Text(
        format!("0x{:08X}", g.id.pci_device_id)
    )),
    f!(["pci.sub_device_id"], "pci.sub_device_id", "", |g| {
        Value::Text(format!("0x{:08X}", g.id.pci_subsystem_id))
    }),
    f!(
        ["pcie.link.gen.current"],
        "pcie.link.gen.current",
        "",
        |g| num(&g.r.pcie_gen[0], "")
    ),
    f!(
        ["pcie.link.gen.gpucurrent"],
        "pcie.link.gen.gpucurrent",
        "",
        |g| num(&g.r.pcie_gen[0], "")
    ),
    f!(["pcie.link.gen.max"], "pcie.link.gen.max", "", |g| num(
        &g.r.pcie_gen[1],
        ""
    )),
    f!(["pcie.link.gen.gpumax"], "pcie.link.gen.gpumax", "", |g| {
        num(&g.r.pcie_gen[2], "")
    }),
    f!(
        ["pcie.link.gen.hostmax"],
        "pcie.link.gen.hostmax",
        "",
        |_| Value::Err(NvmlError::NotSupported)
    ),
    f!(
        ["pcie.link.width.current"],
        "pcie.link.width.current",
        "",
        |g| num(&g.r.pcie_width[0], "")
    ),
    f!(["pcie.link.width.max"], "pcie.link.width.max", "", |g| num(
        &g.r.pcie_width[1],
        ""
    )),
    f!(["index"], "index", "", |g| Value::Text(
        g.dev.index.to_string()
    )),
    f!(
        ["persistence_mode"],
        "persistence_mode",
        "",
        |g| match g.r.persistence {
            Ok(b) => enabled(b),
            Err(e) => Value::Err(e),
        }
    ),
    f!(
        ["vbios_version"],
        "vbios_version",
        "",
        |g| match &g.r.vbios_version {
            Ok(s) => Value::Text(s.clone()),
            Err(e) => Value::Err(*e),
        }
    ),
    f!(["fan.speed"], "fan.speed", "%", |g| num(
        &g.r.fan_percent,
        "%"
    )),
    f!(["pstate"], "pstate", "", |g| match g.r.pstate {
        Ok(p) => Value::Text(format!("P{p}")),
        Err(e) => Value::Err(e),
    }),
    f!(["memory.total"], "memory.total", "MiB", |g| Value::Num(
        (g.dev.memory_total_bytes / MIB).to_string(),
        "MiB"
    )),
    f!(
        ["memory.reserved"],
        "memory.reserved",
        "MiB",
        |g| match g.r.memory_used_reserved {
            Ok((_, reserved)) => Value::Num((reserved / MIB).to_string(), "MiB"),
            Err(e) => Value::Err(e),
        }
    ),
    f!(
        ["memory.used"],
        "memory.used",
        "MiB",
        |g| match g.r.memory_used_reserved {
            Ok((used, _)) => Value::Num((used / MIB).to_string(), "MiB"),
            Err(e) => Value::Err(e),
        }
    ),
    f!(
        ["memory.free"],
        "memory.free",
        "MiB",
        |g| match g.r.memory_used_reserved {
            Ok((used, reserved)) => Value::Num(
                (g.dev.memory_total_bytes.saturating_sub(used + reserved) / MIB).to_string(),
                "MiB",
            ),
            Err(e) => Value::Err(e),
        }
    ),
    f!(
        ["compute_mode"],
        "compute_mode",
        "",
        |g| match g.r.compute_mode {
            Ok(0) => Value::Text("Default".into()),
            Ok(2) => Value::Text("Prohibited".into()),
            Ok(3) => Value::Text("Exclusive_Process".into()),
            Ok(_) => Value::Err(NvmlError::Unknown),
            Err(e) => Value::Err(e),
        }
    ),
    f!(
        ["compute_cap"],
        "compute_cap",
        "",
        |g| match g.r.compute_cap {
            Ok((ma, mi)) => Value::Text(format!("{ma}.{mi}")),
            Err(e) => Value::Err(e),
        }
    ),
    f!(["utilization.gpu"], "utilization.gpu", "%", |g| num(
        &g.r.utilization.map(|u| u.0),
        "%"
    )),
    f!(["utilization.memory"], "utilization.memory", "%", |g| num(
        &g.r.utilization.map(|u| u.1),
        "%"
    )),
    f!(["temperature.gpu"], "temperature.gpu", "", |g| num(
        &g.r.temperature_gpu,
        ""
    )),
    f!(["temperature.memory"], "temperature.memory", "", |g| num(
        &g.r.temperature_memory,
        ""
    )),
    f!(["power.draw"], "power.draw", "W", |g| watts(
        &g.r.power_draw_mw
    )),
    f!(
        ["power.draw.instant", "gpu.power.draw.instant"],
        "power.draw.instant",
        "W",
        |g| watts(&g.r.power_draw_instant_mw)
    ),
    f!(["power.limit"], "power.limit", "W", |g| watts(
        &g.r.power_limit_mw
    )),
    f!(["enforced.power.limit"], "enforced.power.limit", "W", |g| {
        watts(&g.r.enforced_power_limit_mw)
    }),
    f!(["power.default_limit"], "power.default_limit", "W", |g| {
        watts(&g.r.default_power_limit_mw)
    }),
    f!(["power.min_limit"], "power.min_limit", "W", |g| watts(
        &g.r.power_limit_range_mw.map(|r| r.0)
    )),
    f!(["power.max_limit"], "power.max_limit", "W", |g| watts(
        &g.r.power_limit_range_mw.map(|r| r.1)
    )),
    f!(
        ["clocks.current.graphics", "clocks.gr"],
        "clocks.current.graphics",
        "MHz",
        |g| num(&g.r.clocks[0], "MHz")
    ),
    f!(
        ["clocks.current.sm", "clocks.sm"],
        "clocks.current.sm",
        "MHz",
        |g| num(&g.r.clocks[1], "MHz")
    ),
    f!(
        ["clocks.current.memory", "clocks.mem"],
        "clocks.current.memory",
        "MHz",
        |g| num(&g.r.clocks[2], "MHz")
    ),
    f!(
        ["clocks.current.video", "clocks.video"],
        "clocks.current.video",
        "MHz",
        |g| num(&g.r.clocks[3], "MHz")
    ),
    f!(
        ["clocks.applications.graphics", "clocks.applications.gr"],
        "clocks.applications.graphics",
        "MHz",
        |g| num(&g.r.app_clocks[0], "MHz")
    ),
    f!(
        ["clocks.applications.memory", "clocks.applications.mem"],
        "clocks.applications.memory",
        "MHz",
        |g| num(&g.r.app_clocks[1], "MHz")
    ),
    f!(
        [
            "clocks.default_applications.graphics",
            "clocks.default_applications.gr"
        ],
        "clocks.default_applications.graphics",
        "MHz",
        |g| num(&g.r.default_app_clocks[0], "MHz")
    ),
    f!(
        [
            "clocks.default_applications.memory",
            "clocks.default_applications.mem"
        ],
        "clocks.default_applications.memory",
        "MHz",
        |g| num(&g.r.default_app_clocks[1], "MHz")
    ),
    f!(
        ["clocks.max.graphics", "clocks.max.gr"],
        "clocks.max.graphics",
        "MHz",
        |g| num(&g.r.max_clocks[0], "MHz")
    ),
    f!(["clocks.max.sm"], "clocks.max.sm", "MHz", |g| num(
        &g.r.max_clocks[1],
        "MHz"
    )),
    f!(
        ["clocks.max.memory", "clocks.max.mem"],
        "clocks.max.memory",
        "MHz",
        |g| num(&g.r.max_clocks[2], "MHz")
    ),
    f!(["display_mode"], "display_mode", "", |_| Value::Text(
        // nvidia-smi 580 asks NVML nothing for it (the recorded call logs)
        "[Requested functionality has been deprecated]".into()
    )),
    f!(["display_active"], "display_active", "", |g| flag(
        &g.r.display_active
    )),
    f!(
        ["addressing_mode"],
        "addressing_mode",
        "",
        |g| match g.r.addressing_mode {
            Ok(0) => Value::Text("None".into()),
            Ok(1) => Value::Text("HMM".into()),
            Ok(2) => Value::Text("ATS".into()),
            Ok(_) => Value::Err(NvmlError::Unknown),
            Err(e) => Value::Err(e),
        }
    ),
    f!(["accounting.mode"], "accounting.mode", "", |g| flag(
        &g.r.accounting_mode
    )),
    f!(
        ["accounting.buffer_size"],
        "accounting.buffer_size",
        "",
        |g| num(&g.r.accounting_buffer_size, "")
    ),
    f!(["inforom.img", "inforom.image"], "inforom.img", "", |g| {
        text(&g.r.inforom_image_version)
    }),
    f!(["inforom.oem"], "inforom.oem", "", |g| text(
        &g.r.inforom_versions[0]
    )),
    f!(["inforom.ecc"], "inforom.ecc", "", |g| text(
        &g.r.inforom_versions[1]
    )),
    f!(["inforom.pwr", "inforom.power"], "inforom.pwr", "", |g| {
        text(&g.r.inforom_versions[2])
    }),
    f!(
        ["encoder.stats.sessionCount"],
        "encoder.stats.sessionCount",
        "",
        |g| num(&g.r.encoder_stats.map(|e| e.0), "")
    ),
    f!(["ecc.mode.current"], "ecc.mode.current", "", |g| flag(
        &g.r.ecc_mode
    )),
    f!(["ecc.mode.pending"], "ecc.mode.pending", "", |g| flag(
        &g.r.ecc_mode_pending
    )),
    f!(["power.management"], "power.management", "", |g| flag(
        &g.r.power_management
    )),
    f!(
        ["power.draw.average", "gpu.power.draw.average"],
        "power.draw.average",
        "W",
        |g| watts(&g.r.power_draw_average_mw)
    ),
    f!(["gsp.mode.current"], "gsp.mode.current", "", |g| flag(
        &g.r.gsp_firmware_mode.map(|m| m.0)
    )),
    f!(["mig.mode.current"], "mig.mode.current", "", |g| enabled(
        g.dev.mig.current
    )),
    f!(["mig.mode.pending"], "mig.mode.pending", "", |g| enabled(
        g.dev.mig.pending
    )),
];

/// A `--query-compute-apps` field.
struct AppField {
    names: &'static [&'static str],
    header: &'static str,
    unit: &'static str,
    get: fn(&ProcessInfo, &GpuRow) -> Value,
}

const APP_FIELDS: &[AppField] = &[
    AppField {
        names: &["timestamp"],
        header: "timestamp",
        unit: "",
        get: |_, _| Value::Err(NvmlError::NotSupported),
    },
    AppField {
        names: &["gpu_name"],
        header: "gpu_name",
        unit: "",
        get: |_, g| Value::Text(g.dev.name.clone()),
    },
    AppField {
        names: &["gpu_bus_id"],
        header: "gpu_bus_id",
        unit: "",
        get: |_, g| Value::Text(g.dev.pci_bus_id.clone()),
    },
    AppField {
        names: &["gpu_serial"],
        header: "gpu_serial",
        unit: "",
        get: |_, g| match &g.r.serial {
            Ok(s) => Value::Text(s.clone()),
            Err(e) => Value::Err(*e),
        },
    },
    AppField {
        names: &["gpu_uuid"],
        header: "gpu_uuid",
        unit: "",
        get: |_, g| Value::Text(g.dev.uuid.clone()),
    },
    AppField {
        names: &["pid"],
        header: "pid",
        unit: "",
        get: |p, _| Value::Text(p.pid.to_string()),
    },
    AppField {
        names: &["process_name", "name"],
        header: "process_name",
        unit: "",
        get: |p, _| Value::Text(p.name.clone()),
    },
    AppField {
        names: &["used_gpu_memory", "used_memory"],
        header: "used_gpu_memory",
        unit: "MiB",
        get: |p, _| Value::Num(p.used_memory_mb.to_string(), "MiB"),
    },
];

fn header(name: &str, unit: &str) -> String {
    if unit.is_empty() {
        name.to_string()
    } else {
        format!("{name} [{unit}]")
    }
}

/// nvidia-smi's answer to a field name it does not know.
fn bad_field(name: &str) -> Printed {
    Printed::fail(
        format!("Field \"{name}\" is not a valid field to query.\n\n"),
        2,
    )
}

/// Resolve `-i` as nvidia-smi does for queries: indexes, UUIDs or PCI bus
/// IDs, comma separated; IDs that match no GPU are skipped, none matching
/// is "No devices were found".
fn select(all: Vec<DeviceInfo>, ids: Option<&str>) -> Result<Vec<DeviceInfo>, Printed> {
    let Some(ids) = ids else { return Ok(all) };
    let mut chosen: Vec<DeviceInfo> = all
        .into_iter()
        .filter(|d| {
            ids.split(',').map(str::trim).any(|t| {
                t.parse::<u32>().ok() == Some(d.index)
                    || d.uuid.eq_ignore_ascii_case(t)
                    || (t.contains(':') && bus_matches(t, &d.pci_bus_id))
            })
        })
        .collect();
    if chosen.is_empty() {
        return Err(Printed::fail("No devices were found\n", 6));
    }
    chosen.sort_by_key(|d| d.index);
    Ok(chosen)
}

/// A PCI bus ID as typed (`07:00.0`, `0000:07:00.0`) against the full form.
fn bus_matches(typed: &str, full: &str) -> bool {
    let t = typed.to_ascii_uppercase();
    let parts: Vec<&str> = t.split(':').collect();
    let norm = match parts.len() {
        2 => format!("00000000:{}:{}", parts[0], parts[1]),
        3 => format!("{:0>8}:{}:{}", parts[0], parts[1], parts[2]),
        _ => t.clone(),
    };
    norm == full.to_ascii_uppercase()
}

/// Run a query.
pub fn run(b: &dyn Backend, q: &Query) -> Result<Printed, BackendError> {
    // nvidia-smi 580 prints `--query-gpu` without `--format` as CSV with
    // its header (the real nvidia-smi's recording, case query-noformat)
    let format = match (&q.format, q.target) {
        (Some(f), _) => f.as_str(),
        (None, Target::Gpu) => "csv",
        (None, Target::ComputeApps) => {
            return Ok(Printed::fail(
                "--format must be specified when using --query-gpu or --query-compute-apps\n\n",
                2,
            ))
        }
    };
    let format = match parse_format(format) {
        Ok(f) => f,
        Err(p) => return Ok(p),
    };
    let all = b.devices()?;
    let count = all.len();
    let devices = match select(all, q.ids.as_deref()) {
        Ok(d) => d,
        Err(p) => return Ok(p),
    };
    let driver = b.driver_version()?;
    let row_of = |dev: DeviceInfo| -> Result<GpuRow, BackendError> {
        let gpu = GpuRef::Index(dev.index);
        Ok(GpuRow {
            id: b.identity(&gpu)?,
            r: b.readings(&gpu)?,
            dev,
            driver: driver.clone(),
            count,
        })
    };
    let names: Vec<&str> = q.fields.split(',').map(str::trim).collect();
    let mut out = String::new();
    match q.target {
        Target::Gpu => {
            let mut fields = Vec::new();
            for n in &names {
                match GPU_FIELDS.iter().find(|f| f.names.contains(n)) {
                    Some(f) => fields.push(f),
                    None => return Ok(bad_field(n)),
                }
            }
            if format.header {
                let h: Vec<String> = fields.iter().map(|f| header(f.header, f.unit)).collect();
                out += &h.join(", ");
                out.push('\n');
            }
            for dev in devices {
                let g = row_of(dev)?;
                let v: Vec<String> = fields
                    .iter()
                    .map(|f| (f.get)(&g).show(format.units))
                    .collect();
                out += &v.join(", ");
                out.push('\n');
            }
        }
        Target::ComputeApps => {
            let mut fields = Vec::new();
            for n in &names {
                match APP_FIELDS.iter().find(|f| f.names.contains(n)) {
                    Some(f) => fields.push(f),
                    None => return Ok(bad_field(n)),
                }
            }
            if format.header {
                let h: Vec<String> = fields.iter().map(|f| header(f.header, f.unit)).collect();
                out += &h.join(", ");
                out.push('\n');
            }
            for dev in devices {
                let procs = b.processes(&GpuRef::Index(dev.index))?;
                let g = row_of(dev)?;
                for p in &procs {
                    let v: Vec<String> = fields
                        .iter()
                        .map(|f| (f.get)(p, &g).show(format.units))
                        .collect();
                    out += &v.join(", ");
                    out.push('\n');
                }
            }
        }
    }
    Ok(Printed {
        stdout: out,
        code: 0,
    })
}
