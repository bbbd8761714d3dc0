//! mig-parted's config format (`version: v1`) and migctl's versioned
//! extension of it (`version: migctl/v1`).
//!
//! A file holds named configs (`mig-configs`); each is a list of entries
//! `{device-filter?, devices: all | [index...], mig-enabled, mig-devices}`.
//! Parsing checks everything that does not depend on the machine (syntax,
//! version, keys, device filters, profile-name grammar, counts) and reports
//! the line and column; [`crate::validate()`] checks the rest against the GPUs.
//!
//! `version: migctl/v1` accepts everything v1 does, with the same meaning,
//! and adds two things a v1 file cannot say:
//! - `devices` may name GPUs by board UUID (`"GPU-..."`) beside indices;
//! - an entry may give `gpu-instances` instead of `mig-devices`: a list of
//!   `{profile, start?, compute-instances?: [{profile, start?}]}` that pins
//!   GI placements (start slots) and CI placements. A GI without
//!   `compute-instances` holds its full-size CI.
//!
//! A `version: v1` file using either is refused (naming the line), so plain
//! v1 files always keep mig-parted's meaning.

pub mod profile;
mod write;

pub use profile::{ProfileError, ProfileName};

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::cell::Cell;
use std::fmt;
use std::path::Path;

/// Which version line a file carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecVersion {
    /// `version: v1`: mig-parted's format, exactly.
    V1,
    /// `version: migctl/v1`: v1 plus UUID selectors and pinned placements.
    MigctlV1,
}

impl SpecVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            SpecVersion::V1 => "v1",
            SpecVersion::MigctlV1 => "migctl/v1",
        }
    }
}

/// A parsed config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub version: SpecVersion,
    /// Named configs, in file order.
    pub configs: Vec<NamedConfig>,
}

/// One named config of `mig-configs`.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedConfig {
    pub name: String,
    pub entries: Vec<Entry>,
}

/// One entry of a named config.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// `device-filter` (empty: every board).
    pub device_filter: Vec<DeviceFilter>,
    pub devices: Devices,
    pub mig_enabled: bool,
    pub mig_devices: MigDevices,
}

/// `devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Devices {
    All,
    /// Indices (and, in migctl/v1, board UUIDs), as written.
    List(Vec<mig_model::GpuRef>),
}

/// One `device-filter` value: `0xDDDDVVVV` with an optional
/// `:0xSSSSVVVV` subsystem, compared with NVML's `pciDeviceId` and
/// `pciSubSystemId` (`GpuIdentity::pci_device_id`, `pci_subsystem_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceFilter {
    pub device: u32,
    pub subsystem: Option<u32>,
}

impl DeviceFilter {
    /// mig-parted's `DeviceID.Matches`: a filter without a subsystem matches
    /// every board variant of the device.
    pub fn matches(&self, pci_device_id: u32, pci_subsystem_id: u32) -> bool {
        self.device == pci_device_id && self.subsystem.is_none_or(|s| s == pci_subsystem_id)
    }

    /// Parse with mig-parted's rules (`strconv.ParseUint(s, 0, 32)` per part):
    /// hexadecimal with `0x`, octal with `0`, else decimal.
    pub fn parse(s: &str) -> Result<DeviceFilter, String> {
        let num = |p: &str| -> Result<u32, String> {
            let r = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
                u32::from_str_radix(h, 16)
            } else if p.len() > 1 && p.starts_with('0') {
                u32::from_str_radix(&p[1..], 8)
            } else {
                p.parse::<u32>()
            };
            r.map_err(|_| {
                format!(
                    "device-filter {s:?}: {p:?} is not a 32-bit number; write 0xDDDDVVVV \
                     (PCI device and vendor ID, e.g. 0x20B010DE), optionally \
                     :0xSSSSVVVV for the subsystem"
                )
            })
        };
        let mut parts = s.split(':');
        let device = num(parts.next().unwrap_or(""))?;
        let subsystem = parts.next().map(num).transpose()?;
        if parts.next().is_some() {
            return Err(format!(
                "device-filter {s:?}: expected 0xDDDDVVVV or 0xDDDDVVVV:0xSSSSVVVV"
            ));
        }
        Ok(DeviceFilter { device, subsystem })
    }
}

impl fmt::Display for DeviceFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08X}", self.device)?;
        if let Some(s) = self.subsystem {
            write!(f, ":0x{s:08X}")?;
        }
        Ok(())
    }
}

/// What an entry wants on each GPU it selects.
#[derive(Debug, Clone, PartialEq)]
pub enum MigDevices {
    /// v1's `mig-devices`: profile name -> count, in file order (counts of
    /// compute instances; CIs are packed into GIs of the same profile).
    Counts(Vec<(ProfileName, u32)>),
    /// migctl/v1's `gpu-instances`: explicit GIs, optionally pinned.
    Instances(Vec<GiSpec>),
}

impl MigDevices {
    /// Whether nothing at all is asked for (`{}` or all counts 0).
    pub fn is_empty(&self) -> bool {
        match self {
            MigDevices::Counts(c) => c.iter().all(|(_, n)| *n == 0),
            MigDevices::Instances(g) => g.is_empty(),
        }
    }
}

/// One GI of `gpu-instances`.
#[derive(Debug, Clone, PartialEq)]
pub struct GiSpec {
    /// A GI profile name (`3g.20gb`, `1g.24gb+gfx`).
    pub profile: ProfileName,
    /// Pinned start slot, or `None`: the planner chooses.
    pub start: Option<u32>,
    /// `None`: one full-size CI.
    pub compute_instances: Option<Vec<CiSpec>>,
}

/// One CI of a [`GiSpec`].
#[derive(Debug, Clone, PartialEq)]
pub struct CiSpec {
    /// `1c.3g.20gb`, or the GI's own name for the full-size CI.
    pub profile: ProfileName,
    /// Pinned start (compute slice inside the GI), or `None`.
    pub start: Option<u32>,
}

/// Why a config could not be read or selected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{origin}: {source}")]
    Io {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    /// Syntax, structure, unknown keys, and every check made while parsing;
    /// `line`/`column` are 1-based where the YAML parser knows them.
    #[error("{origin}{}: {message}", at(*line, *column))]
    Parse {
        origin: String,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    #[error("{origin}: no config named {name:?}; the file has {}", some(known))]
    UnknownConfig {
        origin: String,
        name: String,
        known: Vec<String>,
    },
    #[error("{origin}: the file has {} configs ({}); choose one with -c NAME", known.len(), some(known))]
    NoSelection { origin: String, known: Vec<String> },
}

/// Up to a dozen names, then how many more.
fn some(names: &[String]) -> String {
    const SHOWN: usize = 12;
    if names.len() <= SHOWN {
        return names.join(", ");
    }
    format!(
        "{}, ... and {} more",
        names[..SHOWN].join(", "),
        names.len() - SHOWN
    )
}

fn at(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

impl ConfigError {
    /// A YAML error, with its line and column, about the file `origin`.
    pub fn from_yaml(e: serde_yaml_ng::Error, origin: &str) -> ConfigError {
        let loc = e.location();
        ConfigError::Parse {
            origin: origin.to_string(),
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            // The location is in the fields; drop serde_yaml's own suffix.
            message: e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or("")
                .to_string(),
        }
    }
}

impl Spec {
    /// Parse a config file's text; `origin` names it in errors (a path, or
    /// `<stdin>`).
    pub fn parse(text: &str, origin: &str) -> Result<Spec, ConfigError> {
        let to_err = |e| ConfigError::from_yaml(e, origin);
        // First pass: the version alone, so the second knows whether the
        // extension's keys are allowed (and says so at the line they are on).
        #[derive(Deserialize)]
        struct VersionOnly {
            version: Option<VersionField>,
        }
        let probe: VersionOnly = serde_yaml_ng::from_str(text).map_err(to_err)?;
        let version = match probe.version {
            Some(v) => v.0,
            None => {
                return Err(ConfigError::Parse {
                    origin: origin.to_string(),
                    line: None,
                    column: None,
                    message: "missing 'version' (write `version: v1` first)".into(),
                })
            }
        };
        let _guard = ExtensionGuard::set(version == SpecVersion::MigctlV1);
        let raw: RawSpec = serde_yaml_ng::from_str(text).map_err(to_err)?;
        Ok(Spec {
            version,
            configs: raw.mig_configs.0,
        })
    }

    /// Read and parse a file, or standard input when `path` is `-`.
    pub fn load(path: &Path) -> Result<Spec, ConfigError> {
        let (text, origin) = if path.as_os_str() == "-" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| {
                ConfigError::Io {
                    origin: "<stdin>".into(),
                    source: e,
                }
            })?;
            (s, "<stdin>".to_string())
        } else {
            let origin = path.display().to_string();
            let s = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
                origin: origin.clone(),
                source: e,
            })?;
            (s, origin)
        };
        Spec::parse(&text, &origin)
    }

    /// The names of the configs, in file order.
    pub fn names(&self) -> Vec<String> {
        self.configs.iter().map(|c| c.name.clone()).collect()
    }

    /// The config named `name`, or the only one when `name` is `None`
    /// (mig-parted's `GetSelectedMigConfig`).
    pub fn select(&self, name: Option<&str>, origin: &str) -> Result<&NamedConfig, ConfigError> {
        match name {
            Some(n) => self.configs.iter().find(|c| c.name == n).ok_or_else(|| {
                ConfigError::UnknownConfig {
                    origin: origin.to_string(),
                    name: n.to_string(),
                    known: self.names(),
                }
            }),
            None if self.configs.len() == 1 => Ok(&self.configs[0]),
            None => Err(ConfigError::NoSelection {
                origin: origin.to_string(),
                known: self.names(),
            }),
        }
    }
}

// ---- deserialization -------------------------------------------------------

thread_local! {
    /// Whether the file being parsed is `migctl/v1` (set for one parse).
    static EXTENSIONS: Cell<bool> = const { Cell::new(false) };
}

struct ExtensionGuard(bool);

impl ExtensionGuard {
    fn set(on: bool) -> ExtensionGuard {
        ExtensionGuard(EXTENSIONS.with(|c| c.replace(on)))
    }
}

impl Drop for ExtensionGuard {
    fn drop(&mut self) {
        EXTENSIONS.with(|c| c.set(self.0));
    }
}

fn extensions() -> bool {
    EXTENSIONS.with(|c| c.get())
}

fn needs_extension<E: de::Error>(what: &str) -> E {
    E::custom(format!(
        "{what} is a migctl extension: write `version: migctl/v1` to use it \
         (a `version: v1` file keeps mig-parted's meaning)"
    ))
}

struct VersionField(SpecVersion);

impl<'de> Deserialize<'de> for VersionField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "v1" => Ok(VersionField(SpecVersion::V1)),
            "migctl/v1" => Ok(VersionField(SpecVersion::MigctlV1)),
            other => Err(de::Error::custom(format!(
                "unknown version {other:?}: this reads mig-parted's `v1` and migctl's `migctl/v1`"
            ))),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    #[allow(dead_code)]
    version: VersionField,
    #[serde(rename = "mig-configs")]
    mig_configs: ConfigMap,
}

struct ConfigMap(Vec<NamedConfig>);

impl<'de> Deserialize<'de> for ConfigMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ConfigMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of config names to lists of entries")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<ConfigMap, A::Error> {
                let mut out: Vec<NamedConfig> = Vec::new();
                while let Some(name) = m.next_key::<String>()? {
                    if out.iter().any(|c| c.name == name) {
                        return Err(de::Error::custom(format!("config {name:?} appears twice")));
                    }
                    let entries: Vec<Entry> = m.next_value()?;
                    if entries.is_empty() {
                        return Err(de::Error::custom(format!(
                            "config {name:?} needs at least one entry"
                        )));
                    }
                    out.push(NamedConfig { name, entries });
                }
                if out.is_empty() {
                    return Err(de::Error::custom("'mig-configs' needs at least one config"));
                }
                Ok(ConfigMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    #[serde(rename = "device-filter", default)]
    device_filter: Option<FilterList>,
    devices: Devices,
    #[serde(rename = "mig-enabled")]
    mig_enabled: bool,
    #[serde(rename = "mig-devices", default)]
    mig_devices: Option<Counts>,
    #[serde(rename = "gpu-instances", default)]
    gpu_instances: Option<GiList>,
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = RawEntry::deserialize(d)?;
        let mig_devices = match (r.mig_devices, r.gpu_instances) {
            (Some(_), Some(_)) => {
                return Err(de::Error::custom(
                    "give either 'mig-devices' or 'gpu-instances', not both",
                ))
            }
            (Some(Counts(c)), None) => MigDevices::Counts(c),
            (None, Some(GiList(g))) => MigDevices::Instances(g),
            (None, None) if r.mig_enabled => {
                return Err(de::Error::custom(
                    "'mig-devices' is required when 'mig-enabled' is true ({} for MIG on with no instances)",
                ))
            }
            (None, None) => MigDevices::Counts(Vec::new()),
        };
        if !r.mig_enabled && !mig_devices.is_empty() {
            return Err(de::Error::custom(
                "MIG devices are listed but 'mig-enabled' is false",
            ));
        }
        if let MigDevices::Counts(c) = &mig_devices {
            // mig-parted's AssertValidFormat: a non-empty map needs a count > 0.
            if r.mig_enabled && !c.is_empty() && c.iter().all(|(_, n)| *n == 0) {
                return Err(de::Error::custom(
                    "every count in 'mig-devices' is 0 (write {} for MIG on with no instances)",
                ));
            }
        }
        Ok(Entry {
            device_filter: r.device_filter.map(|f| f.0).unwrap_or_default(),
            devices: r.devices,
            mig_enabled: r.mig_enabled,
            mig_devices,
        })
    }
}

struct FilterList(Vec<DeviceFilter>);

impl<'de> Deserialize<'de> for FilterList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        let v = OneOrMany::deserialize(d).map_err(|_: D::Error| {
            de::Error::custom("'device-filter' must be a string or a list of strings")
        })?;
        let list = match v {
            // mig-parted treats "" as no filter.
            OneOrMany::One(s) if s.is_empty() => Vec::new(),
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(l) => l,
        };
        list.iter()
            .map(|s| DeviceFilter::parse(s).map_err(de::Error::custom))
            .collect::<Result<_, _>>()
            .map(FilterList)
    }
}

impl<'de> Deserialize<'de> for Devices {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Devices;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("'all' or a list of GPU indices")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Devices, E> {
                if s == "all" {
                    Ok(Devices::All)
                } else {
                    Err(E::custom(format!(
                        "'devices' must be 'all' or a list of GPU indices, not {s:?}"
                    )))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Devices, A::Error> {
                let mut out: Vec<mig_model::GpuRef> = Vec::new();
                while let Some(item) = s.next_element::<DeviceItem>()? {
                    if out.contains(&item.0) {
                        return Err(de::Error::custom(format!(
                            "'devices' lists {} twice",
                            item.0
                        )));
                    }
                    out.push(item.0);
                }
                Ok(Devices::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

struct DeviceItem(mig_model::GpuRef);

impl<'de> Deserialize<'de> for DeviceItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DeviceItem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a GPU index")
            }
            fn visit_i64<E: de::Error>(self, i: i64) -> Result<DeviceItem, E> {
                u32::try_from(i)
                    .map(|i| DeviceItem(mig_model::GpuRef::Index(i)))
                    .map_err(|_| E::custom(format!("GPU index {i} is negative or too large")))
            }
            fn visit_u64<E: de::Error>(self, i: u64) -> Result<DeviceItem, E> {
                u32::try_from(i)
                    .map(|i| DeviceItem(mig_model::GpuRef::Index(i)))
                    .map_err(|_| E::custom(format!("GPU index {i} is too large")))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<DeviceItem, E> {
                if s.starts_with("GPU-") {
                    if !extensions() {
                        return Err(needs_extension("naming a GPU by UUID in 'devices'"));
                    }
                    return Ok(DeviceItem(mig_model::GpuRef::Uuid(s.to_string())));
                }
                Err(E::custom(format!(
                    "{s:?} is not a GPU index{}",
                    if extensions() {
                        " or a GPU-... UUID"
                    } else {
                        ""
                    }
                )))
            }
        }
        d.deserialize_any(V)
    }
}

struct Counts(Vec<(ProfileName, u32)>);

/// A count as written: a whole number, one too large for 64 bits, a
/// fraction, or anything else (each gets its own message).
enum Count {
    Int(i64),
    Large(u128),
    Real(f64),
    Other,
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a count")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Count, E> {
                Ok(Count::Int(n))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Count, E> {
                Ok(i64::try_from(n).map_or(Count::Large(n.into()), Count::Int))
            }
            fn visit_i128<E: de::Error>(self, n: i128) -> Result<Count, E> {
                Ok(i64::try_from(n).map_or(Count::Large(n.unsigned_abs()), Count::Int))
            }
            fn visit_u128<E: de::Error>(self, n: u128) -> Result<Count, E> {
                Ok(Count::Large(n))
            }
            fn visit_f64<E: de::Error>(self, x: f64) -> Result<Count, E> {
                Ok(Count::Real(x))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Count, E> {
                Ok(Count::Other)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Count, E> {
                Ok(Count::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Count, E> {
                Ok(Count::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Count, A::Error> {
                while a.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Count::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Count, A::Error> {
                while m.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(Count::Other)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Counts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Counts;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of MIG profile names to counts")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Counts, A::Error> {
                let mut out: Vec<(ProfileName, u32)> = Vec::new();
                while let Some(key) = m.next_key::<String>()? {
                    let name = ProfileName::parse(&key).map_err(de::Error::custom)?;
                    let n = match m.next_value::<Count>()? {
                        Count::Int(n) => n,
                        Count::Large(big) => {
                            return Err(de::Error::custom(format!(
                                "the count of {key:?} is {big}, far more than any GPU holds; \
                                 give how many instances of it each GPU gets (at most 7)"
                            )))
                        }
                        Count::Real(x) if x.fract() == 0.0 && x.abs() > i64::MAX as f64 => {
                            return Err(de::Error::custom(format!(
                                "the count of {key:?} is {x}, far more than any GPU holds; \
                                 give how many instances of it each GPU gets (at most 7)"
                            )))
                        }
                        Count::Real(_) | Count::Other => {
                            return Err(de::Error::custom(format!(
                                "the count of {key:?} must be a whole number"
                            )))
                        }
                    };
                    let n = u32::try_from(n).map_err(|_| {
                        de::Error::custom(if n < 0 {
                            format!("the count of {key:?} is {n}; counts must be 0 or more")
                        } else {
                            format!(
                                "the count of {key:?} is {n}, far more than any GPU holds; \
                                 give how many instances of it each GPU gets (at most 7)"
                            )
                        })
                    })?;
                    if out.iter().any(|(p, _)| p.as_str() == key) {
                        return Err(de::Error::custom(format!("{key:?} appears twice")));
                    }
                    out.push((name, n));
                }
                Ok(Counts(out))
            }
        }
        d.deserialize_map(V)
    }
}

struct GiList(Vec<GiSpec>);

impl<'de> Deserialize<'de> for GiList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = GiList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of GPU instances")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<GiList, A::Error> {
                if !extensions() {
                    return Err(needs_extension("'gpu-instances'"));
                }
                let mut out = Vec::new();
                while let Some(g) = s.next_element::<GiSpec>()? {
                    out.push(g);
                }
                Ok(GiList(out))
            }
        }
        d.deserialize_seq(V)
    }
}

struct NameField(ProfileName);

impl<'de> Deserialize<'de> for NameField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ProfileName::parse(&s)
            .map(NameField)
            .map_err(de::Error::custom)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCi {
    profile: NameField,
    #[serde(default)]
    start: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGi {
    profile: NameField,
    #[serde(default)]
    start: Option<u32>,
    #[serde(rename = "compute-instances", default)]
    compute_instances: Option<Vec<RawCi>>,
}

impl<'de> Deserialize<'de> for GiSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let g = RawGi::deserialize(d)?;
        let gi = g.profile.0;
        if gi.is_partial_ci() {
            return Err(de::Error::custom(format!(
                "{gi} names a compute instance; a GPU instance's profile is {}g.{}gb...",
                gi.g, gi.gb
            )));
        }
        let compute_instances = match g.compute_instances {
            None => None,
            Some(list) => Some(
                list.into_iter()
                    .map(|c| {
                        if c.profile.0.same_gi(&gi) {
                            Ok(CiSpec {
                                profile: c.profile.0,
                                start: c.start,
                            })
                        } else {
                            Err(de::Error::custom(format!(
                                "compute instance {} cannot be inside a {gi} GPU instance",
                                c.profile.0
                            )))
                        }
                    })
                    .collect::<Result<Vec<_>, D::Error>>()?,
            ),
        };
        Ok(GiSpec {
            profile: gi,
            start: g.start,
            compute_instances,
        })
    }
}

#[cfg(test)]
mod tests;
