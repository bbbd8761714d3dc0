//! Fleet inventories and demands: the files `migctl pack` reads.
//!
//! An inventory lists GPUs across nodes: model, MIG mode, current GPU
//! instances (profile and placement start) and which of them are busy (GI
//! IDs with processes). `migctl export --inventory` writes one node's part
//! ([`inventory_of`], [`inventory_text`]) as a YAML document; inventories
//! concatenate (`cat a.yaml b.yaml`) into one fleet: each `---` line, and each
//! top-level `version:` after the first of a document, starts the next one
//! ([`documents`]). A demand lists what
//! is wanted: a profile name with a count, or requirements (memory, SMs,
//! media engines) with a count, each with a weight. Both are YAML (JSON is
//! YAML too). Errors name the line (syntax, types, negative numbers) or the
//! key path (`nodes[0].gpus[1].gpu-instances[2].profile`).

use crate::profiles::{find_gi_profile, profile_names};
use mig_model::backend::GpuSnapshot;
use mig_model::engine::{gi_profile, Layout};
use mig_model::{catalog, GiProfile, GiProfileId, GpuInstanceId, GpuModel, Placement};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The inventory file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryFile {
    /// `v1`.
    pub version: String,
    pub nodes: Vec<NodeEntry>,
}

/// One node's GPUs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    pub node: String,
    pub gpus: Vec<GpuEntry>,
}

/// One GPU as the inventory lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GpuEntry {
    /// NVML index on its node.
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Catalog slug (`migctl sim models`).
    pub model: String,
    /// Whether the board's halves are mirrored (GI IDs follow physical slices).
    #[serde(default)]
    pub mirrored: bool,
    pub mig_enabled: bool,
    /// Current GPU instances.
    #[serde(default)]
    pub gpu_instances: Vec<GiEntry>,
    /// GI IDs that have processes on them: never touched.
    #[serde(default)]
    pub busy: Vec<u32>,
}

/// One current GPU instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GiEntry {
    /// Profile name (`3g.20gb`) or ID.
    pub profile: String,
    /// Placement start, in the units `nvidia-smi mig -lgipp` prints.
    pub placement: u32,
}

/// The demand file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandFile {
    /// `v1`.
    pub version: String,
    pub demand: Vec<DemandEntry>,
}

/// One line of demand: a profile, or requirements, with a count and weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DemandEntry {
    /// A label for reports (default: the profile or the requirements).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A GI profile name (`1g.10gb`): served by any model with a profile of
    /// that name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// At least this much memory, in the GB of profile names (`3g.40gb` = 40).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_gb: Option<f64>,
    /// At least this many SMs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<u32>,
    /// Needs JPEG and OFA engines (the `+me` profiles, or the larger ones).
    #[serde(default)]
    pub media_engines: bool,
    /// Only these models (slugs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// How many instances.
    pub count: u32,
    /// Value of serving one (default 1).
    #[serde(default = "one")]
    pub weight: f64,
}

fn one() -> f64 {
    1.0
}

/// What is wrong with an inventory or demand file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{file}: {source}")]
    Syntax {
        file: String,
        source: serde_yaml_ng::Error,
    },
    #[error("{file}: {key}: {msg}")]
    Invalid {
        file: String,
        key: String,
        msg: String,
    },
}

/// A validated GPU of the fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetGpu {
    /// Index into [`Fleet::nodes`].
    pub node: usize,
    pub index: u32,
    pub uuid: Option<String>,
    pub model: &'static GpuModel,
    pub mig_enabled: bool,
    pub layout: Layout,
    pub busy: BTreeSet<GpuInstanceId>,
}

/// A validated inventory.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fleet {
    pub nodes: Vec<String>,
    pub gpus: Vec<FleetGpu>,
}

/// What a demand line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Want {
    Profile(String),
    Needs {
        memory_gb: f64,
        sms: u32,
        media_engines: bool,
    },
}

/// A validated demand line.
#[derive(Debug, Clone, PartialEq)]
pub struct DemandItem {
    pub name: String,
    pub want: Want,
    pub models: Option<Vec<String>>,
    pub count: u32,
    pub weight: f64,
}

/// The memory in a profile's name (`3g.40gb` -> 40).
pub fn name_gb(p: &GiProfile) -> f64 {
    p.name
        .split('.')
        .nth(1)
        .and_then(|s| s.split("gb").next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(p.memory_mb as f64 / 1024.0)
}

impl DemandItem {
    /// Whether a GI of `p` on a `m` serves one unit of this demand.
    pub fn eligible(&self, m: &GpuModel, p: &GiProfile) -> bool {
        if let Some(ms) = &self.models {
            if !ms.contains(&m.slug) {
                return false;
            }
        }
        match &self.want {
            Want::Profile(n) => p.name.eq_ignore_ascii_case(n),
            Want::Needs {
                memory_gb,
                sms,
                media_engines,
            } => {
                name_gb(p) + 1e-9 >= *memory_gb
                    && p.sm >= *sms
                    && (!media_engines || (p.jpeg >= 1 && p.ofa >= 1))
            }
        }
    }
}

fn parse<T: for<'de> Deserialize<'de>>(file: &str, text: &str) -> Result<T, FileError> {
    serde_yaml_ng::from_str(text).map_err(|source| FileError::Syntax {
        file: file.to_string(),
        source,
    })
}

/// An error maker for `file`: key path and message.
fn invalid_in(file: &str) -> impl Fn(String, String) -> FileError + '_ {
    move |key, msg| FileError::Invalid {
        file: file.to_string(),
        key,
        msg,
    }
}

fn check_version(file: &str, version: &str) -> Result<(), FileError> {
    if version == "v1" {
        Ok(())
    } else {
        Err(invalid_in(file)(
            "version".into(),
            format!("{version:?} is not v1"),
        ))
    }
}

/// The documents of a stream of concatenated inventories, each with the
/// line (1-based) it starts on: a new document starts at each `---` line and
/// at each top-level `version:` key of a document that already has one (two
/// exports joined by `cat`, with or without `---`). Line numbers stay those
/// of the whole text.
pub fn documents(text: &str) -> Vec<(usize, String)> {
    let mut docs: Vec<(usize, String)> = Vec::new();
    let mut cur = String::new();
    let mut start = 1;
    let mut has_version = false;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let marker =
            line.starts_with("---") && line[3..].chars().next().is_none_or(char::is_whitespace);
        let version = line.starts_with("version") && line[7..].trim_start().starts_with(':');
        if marker || (version && has_version) {
            docs.push((start, std::mem::take(&mut cur)));
            start = i + 1;
            has_version = false;
        }
        has_version |= version;
        if marker {
            // the marker line itself carries nothing an inventory needs
            cur.push('\n');
        } else {
            cur.push_str(line);
        }
    }
    docs.push((start, cur));
    docs.retain(|(_, d)| {
        d.lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    });
    docs
}

/// Parse and check an inventory, or several concatenated (see
/// [`documents`]), as one fleet; `file` names it in errors, which give the
/// line (syntax, types) or the key path (with the document's line when there
/// are several).
pub fn parse_inventory(file: &str, text: &str) -> Result<Fleet, FileError> {
    let docs = documents(text);
    let mut parsed: Vec<(String, InventoryFile)> = Vec::new();
    for (start, doc) in &docs {
        // pad with the lines before the document so errors give the line
        // in the whole text
        let padded = format!("{}{doc}", "\n".repeat(start - 1));
        let inv: InventoryFile = parse(file, &padded)?;
        let prefix = if docs.len() > 1 {
            format!("document {} (line {start}): ", parsed.len() + 1)
        } else {
            String::new()
        };
        parsed.push((prefix, inv));
    }
    if parsed.is_empty() {
        return Err(invalid_in(file)(
            "nodes".into(),
            "the inventory is empty; `migctl export --inventory` writes one".into(),
        ));
    }
    let mut fleet = Fleet::default();
    for (prefix, inv) in &parsed {
        add_inventory(file, prefix, inv, &mut fleet)?;
    }
    Ok(fleet)
}

/// Check one inventory document and add its nodes to `fleet`; `prefix` goes
/// before key paths in errors.
fn add_inventory(
    file: &str,
    prefix: &str,
    inv: &InventoryFile,
    fleet: &mut Fleet,
) -> Result<(), FileError> {
    let invalid = |key: String, msg: String| invalid_in(file)(format!("{prefix}{key}"), msg);
    if inv.version != "v1" {
        return Err(invalid(
            "version".into(),
            format!("{:?} is not v1", inv.version),
        ));
    }
    for (n, node) in inv.nodes.iter().enumerate() {
        if fleet.nodes.contains(&node.node) {
            return Err(invalid(
                format!("nodes[{n}].node"),
                format!(
                    "node {:?} listed twice; give each node its own name (`migctl export --inventory --node NAME`)",
                    node.node
                ),
            ));
        }
        fleet.nodes.push(node.node.clone());
        let mut seen = Vec::new();
        for (g, gpu) in node.gpus.iter().enumerate() {
            let key = format!("nodes[{n}].gpus[{g}]");
            if seen.contains(&gpu.index) {
                return Err(invalid(
                    format!("{key}.index"),
                    format!("GPU {} listed twice on {}", gpu.index, node.node),
                ));
            }
            seen.push(gpu.index);
            let model = catalog::model(&gpu.model).ok_or_else(|| {
                invalid(
                    format!("{key}.model"),
                    format!(
                        "unknown GPU model {:?}; `migctl sim models` lists them",
                        gpu.model
                    ),
                )
            })?;
            let mut layout = Layout::new(gpu.mirrored);
            if !gpu.mig_enabled && !gpu.gpu_instances.is_empty() {
                return Err(invalid(
                    format!("{key}.gpu-instances"),
                    "GPU instances listed on a GPU with MIG disabled".into(),
                ));
            }
            for (i, gi) in gpu.gpu_instances.iter().enumerate() {
                let gkey = format!("{key}.gpu-instances[{i}]");
                let p = find_gi_profile(model, &gi.profile).ok_or_else(|| {
                    invalid(
                        format!("{gkey}.profile"),
                        format!(
                            "{:?} is not a profile of {} (its profiles: {})",
                            gi.profile,
                            model.slug,
                            profile_names(model)
                        ),
                    )
                })?;
                layout
                    .create_gi(
                        model,
                        GiProfileId(p.id),
                        Some(Placement::new(gi.placement, p.placement_size)),
                    )
                    .map_err(|e| {
                        invalid(
                            format!("{gkey}.placement"),
                            format!(
                                "{} at {}:{} cannot be there beside the instances before it: {e}",
                                p.name, gi.placement, p.placement_size
                            ),
                        )
                    })?;
            }
            let mut busy = BTreeSet::new();
            for (b, id) in gpu.busy.iter().enumerate() {
                if layout.gpu_instance(GpuInstanceId(*id)).is_err() {
                    let ids: Vec<String> = layout
                        .gpu_instances
                        .iter()
                        .map(|g| g.id.to_string())
                        .collect();
                    return Err(invalid(
                        format!("{key}.busy[{b}]"),
                        format!(
                            "busy GPU instance {id} is not in this GPU's layout (its GI IDs: {})",
                            if ids.is_empty() {
                                "none".into()
                            } else {
                                ids.join(", ")
                            }
                        ),
                    ));
                }
                busy.insert(GpuInstanceId(*id));
            }
            fleet.gpus.push(FleetGpu {
                node: fleet.nodes.len() - 1,
                index: gpu.index,
                uuid: gpu.uuid.clone(),
                model,
                mig_enabled: gpu.mig_enabled,
                layout,
                busy,
            });
        }
    }
    Ok(())
}

/// Parse and check a demand file.
pub fn parse_demand(file: &str, text: &str) -> Result<Vec<DemandItem>, FileError> {
    let d: DemandFile = parse(file, text)?;
    let invalid = invalid_in(file);
    check_version(file, &d.version)?;
    let mut out = Vec::new();
    for (i, e) in d.demand.iter().enumerate() {
        let key = format!("demand[{i}]");
        if !(e.weight.is_finite() && e.weight > 0.0) {
            return Err(invalid(
                format!("{key}.weight"),
                format!("{} is not a positive number", e.weight),
            ));
        }
        if let Some(ms) = &e.models {
            for (k, m) in ms.iter().enumerate() {
                if catalog::model(m).is_none() {
                    return Err(invalid(
                        format!("{key}.models[{k}]"),
                        format!("unknown GPU model {m:?}; `migctl sim models` lists them"),
                    ));
                }
            }
        }
        let needs = e.memory_gb.is_some() || e.sms.is_some() || e.media_engines;
        let want = match (&e.profile, needs) {
            (Some(_), true) => return Err(invalid(
                key,
                "give either `profile` or requirements (memory-gb, sms, media-engines), not both"
                    .into(),
            )),
            (None, false) => {
                return Err(invalid(
                    key,
                    "needs `profile` or requirements (memory-gb, sms, media-engines)".into(),
                ))
            }
            (Some(p), false) => Want::Profile(
                p.trim()
                    .strip_prefix("MIG ")
                    .unwrap_or(p.trim())
                    .to_string(),
            ),
            (None, true) => {
                let memory_gb = e.memory_gb.unwrap_or(0.0);
                if !(memory_gb.is_finite() && memory_gb >= 0.0) {
                    return Err(invalid(
                        format!("{key}.memory-gb"),
                        format!("{memory_gb} is not a non-negative number"),
                    ));
                }
                Want::Needs {
                    memory_gb,
                    sms: e.sms.unwrap_or(0),
                    media_engines: e.media_engines,
                }
            }
        };
        let name = e.name.clone().unwrap_or_else(|| match &want {
            Want::Profile(p) => p.clone(),
            Want::Needs {
                memory_gb,
                sms,
                media_engines,
            } => {
                let mut s = format!(">={memory_gb}GB");
                if *sms > 0 {
                    s.push_str(&format!(",>={sms}SM"));
                }
                if *media_engines {
                    s.push_str(",media");
                }
                s
            }
        });
        let item = DemandItem {
            name,
            want,
            models: e.models.clone(),
            count: e.count,
            weight: e.weight,
        };
        let servable = catalog::all()
            .iter()
            .any(|m| m.gi_profiles.iter().any(|p| item.eligible(m, p)));
        if !servable {
            let what = match &e.profile {
                Some(p) => (
                    format!("{key}.profile"),
                    format!("no GPU model in the catalog has a profile {p:?}"),
                ),
                None => (
                    key.clone(),
                    "no GPU-instance profile of any catalog model meets these requirements".into(),
                ),
            };
            return Err(invalid(what.0, what.1));
        }
        out.push(item);
    }
    Ok(out)
}

/// One node's part of an inventory, from snapshots of its GPUs: GPUs whose
/// board the catalog does not know are left out (and returned by index).
pub fn inventory_of(node: &str, snaps: &[GpuSnapshot]) -> (InventoryFile, Vec<u32>) {
    let mut gpus = Vec::new();
    let mut unknown = Vec::new();
    for s in snaps {
        let Some(model) = s.identity.model.as_deref().and_then(catalog::model) else {
            unknown.push(s.identity.index);
            continue;
        };
        let mut gis: Vec<_> = s.layout.gpu_instances.iter().collect();
        gis.sort_by_key(|g| g.placement.start);
        let gpu_instances = gis
            .iter()
            .map(|g| GiEntry {
                profile: gi_profile(model, g.profile_id)
                    .map(|p| p.name.clone())
                    .unwrap_or_else(|_| g.profile_id.0.to_string()),
                placement: g.placement.start,
            })
            .collect();
        let busy: BTreeSet<u32> = s
            .processes
            .iter()
            .filter_map(|p| p.gi.map(|g| g.0))
            .collect();
        gpus.push(GpuEntry {
            index: s.identity.index,
            uuid: Some(s.identity.uuid.clone()),
            model: model.slug.clone(),
            mirrored: s.layout.mirrored || s.identity.mirrored,
            mig_enabled: s.mode.current,
            gpu_instances,
            busy: busy.into_iter().collect(),
        });
    }
    (
        InventoryFile {
            version: "v1".into(),
            nodes: vec![NodeEntry {
                node: node.to_string(),
                gpus,
            }],
        },
        unknown,
    )
}

/// An inventory as `migctl export --inventory` writes it: one YAML
/// document, opened by `---`, so that exports joined by `cat` are a valid
/// multi-document stream that [`parse_inventory`] reads as one fleet.
pub fn inventory_text(inv: &InventoryFile) -> String {
    format!("---\n{}", to_yaml(inv))
}

/// YAML text of an inventory.
pub fn to_yaml<T: Serialize>(v: &T) -> String {
    serde_yaml_ng::to_string(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INV: &str = "version: v1
nodes:
- node: a
  gpus:
  - index: 0
    model: a100-sxm4-40gb
    mig-enabled: true
    gpu-instances:
    - {profile: 3g.20gb, placement: 4}
    - {profile: 1g.5gb, placement: 0}
    busy: [2]
";

    fn err_inv(text: &str) -> String {
        parse_inventory("inv.yaml", text).unwrap_err().to_string()
    }

    fn err_dem(text: &str) -> String {
        parse_demand("dem.yaml", text).unwrap_err().to_string()
    }

    /// Proves a good inventory parses into layouts with GI IDs by the rules,
    /// and that each kind of bad inventory gets an error naming its line or key.
    #[test]
    fn inventory_errors_name_line_or_key() {
        let f = parse_inventory("inv.yaml", INV).unwrap();
        assert_eq!(f.gpus[0].layout.gpu_instances.len(), 2);
        assert!(f.gpus[0].busy.contains(&GpuInstanceId(2)));
        let e = err_inv("version: v1\nnodes:\n- node: a\n  gpus: [ {index: 0\n");
        assert!(e.contains("line"), "{e}");
        let e = err_inv(&INV.replace("a100-sxm4-40gb", "a100-sxm9"));
        assert!(
            e.contains("nodes[0].gpus[0].model") && e.contains("a100-sxm9"),
            "{e}"
        );
        let e = err_inv(&INV.replace("3g.20gb", "3g.40gb"));
        assert!(e.contains("gpu-instances[0].profile"), "{e}");
        let e = err_inv(&INV.replace("busy: [2]", "busy: [5]"));
        assert!(
            e.contains("busy[0]") && e.contains("not in this GPU's layout"),
            "{e}"
        );
        let e = err_inv(&INV.replace("placement: 0}", "placement: 4}"));
        assert!(e.contains("gpu-instances[1].placement"), "{e}");
        let e = err_inv(&INV.replace("index: 0", "index: -1"));
        assert!(e.contains("line 5"), "{e}");
        let e = err_inv(&INV.replace("mig-enabled", "mig-enable"));
        assert!(e.contains("unknown field"), "{e}");
    }

    /// Proves concatenated inventories load as one fleet, with or without
    /// `---` between them (and an export's own leading `---`), that an
    /// exported inventory reads back the same, and that errors in a later
    /// document give the line in the whole text, or the document and its line
    /// with the key path; a node in two documents is refused.
    #[test]
    fn concatenated_inventories_are_one_fleet() {
        let b = INV.replace("node: a", "node: b");
        for joined in [
            format!("{INV}{b}"),
            format!("---\n{INV}---\n{b}"),
            format!("# fleet\n{INV}---\n\n{b}---\n"),
        ] {
            let f = parse_inventory("inv.yaml", &joined).unwrap();
            assert_eq!(f.nodes, ["a", "b"], "{joined}");
            assert_eq!(f.gpus.len(), 2);
            assert_eq!((f.gpus[0].node, f.gpus[1].node), (0, 1));
        }
        let one: InventoryFile = serde_yaml_ng::from_str(INV).unwrap();
        let back = parse_inventory("inv.yaml", &inventory_text(&one)).unwrap();
        assert_eq!(back, parse_inventory("inv.yaml", INV).unwrap());
        // INV has 11 lines; the second's `index: -1` is on line 16
        let e = err_inv(&format!("{INV}{}", b.replace("index: 0", "index: -1")));
        assert!(e.contains("line 16"), "{e}");
        let e = err_inv(&format!("{INV}---\n{}", b.replace("a100-sxm4-40gb", "x")));
        assert!(
            e.contains("document 2 (line 12): nodes[0].gpus[0].model"),
            "{e}"
        );
        let e = err_inv(&format!("{INV}{INV}"));
        assert!(
            e.contains("document 2 (line 12): nodes[0].node") && e.contains("listed twice"),
            "{e}"
        );
        let e = err_inv("# nothing\n---\n");
        assert!(e.contains("empty"), "{e}");
    }

    /// Proves demand lines parse (profiles and requirements), eligibility
    /// follows names and requirements, and bad lines are refused by key or line.
    #[test]
    fn demand_parses_and_refuses() {
        let d = parse_demand(
            "dem.yaml",
            "version: v1\ndemand:\n- {profile: 1g.10gb, count: 3}\n- {memory-gb: 40, sms: 50, count: 2, weight: 2.5}\n",
        )
        .unwrap();
        let h = catalog::model("h100-sxm5-80gb").unwrap();
        let p = |n: &str| find_gi_profile(h, n).unwrap();
        assert!(d[0].eligible(h, p("1g.10gb")) && !d[0].eligible(h, p("1g.10gb+me")));
        assert!(d[1].eligible(h, p("3g.40gb")) && !d[1].eligible(h, p("2g.20gb")));
        let e = err_dem("version: v1\ndemand:\n- {profile: 1g.10gb, count: -3}\n");
        assert!(e.contains("line 3"), "{e}");
        let e = err_dem("version: v1\ndemand:\n- {profile: 9g.1tb, count: 3}\n");
        assert!(e.contains("demand[0].profile"), "{e}");
        let e = err_dem("version: v1\ndemand:\n- {profile: 1g.10gb, count: 3, weight: -1}\n");
        assert!(e.contains("demand[0].weight"), "{e}");
        let e = err_dem("version: v1\ndemand:\n- {memory-gb: 5000, count: 3}\n");
        assert!(e.contains("demand[0]"), "{e}");
    }
}
