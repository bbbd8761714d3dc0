//! A config as text: the YAML both mig-parted (for `version: v1`) and
//! [`Spec::parse`] read back to an equal spec, and the JSON of mig-parted's
//! `export -o json`.

use super::{Devices, MigDevices, Spec};
use mig_model::GpuRef;
use std::fmt::Write as _;

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn device_ref(r: &GpuRef) -> String {
    match r {
        GpuRef::Index(i) => i.to_string(),
        GpuRef::Uuid(u) => quote(u),
    }
}

impl Spec {
    /// The spec as YAML that both mig-parted (for `version: v1`) and
    /// [`Spec::parse`] read back to an equal spec.
    pub fn to_yaml(&self) -> String {
        let mut y = format!("version: {}\nmig-configs:\n", self.version.as_str());
        for c in &self.configs {
            let _ = writeln!(y, "  {}:", quote(&c.name));
            for e in &c.entries {
                let mut first = true;
                let mut line = |y: &mut String, s: String| {
                    let _ = writeln!(y, "    {} {s}", if first { "-" } else { " " });
                    first = false;
                };
                match e.device_filter.as_slice() {
                    [] => {}
                    [f] => line(&mut y, format!("device-filter: {}", quote(&f.to_string()))),
                    fs => line(
                        &mut y,
                        format!(
                            "device-filter: [{}]",
                            fs.iter()
                                .map(|f| quote(&f.to_string()))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                }
                line(
                    &mut y,
                    match &e.devices {
                        Devices::All => "devices: all".into(),
                        Devices::List(l) => format!(
                            "devices: [{}]",
                            l.iter().map(device_ref).collect::<Vec<_>>().join(", ")
                        ),
                    },
                );
                line(&mut y, format!("mig-enabled: {}", e.mig_enabled));
                match &e.mig_devices {
                    MigDevices::Counts(c) if c.is_empty() => line(&mut y, "mig-devices: {}".into()),
                    MigDevices::Counts(c) => {
                        line(&mut y, "mig-devices:".into());
                        for (p, n) in c {
                            let _ = writeln!(y, "        {}: {n}", quote(p.as_str()));
                        }
                    }
                    MigDevices::Instances(g) if g.is_empty() => {
                        line(&mut y, "gpu-instances: []".into())
                    }
                    MigDevices::Instances(g) => {
                        line(&mut y, "gpu-instances:".into());
                        for gi in g {
                            let _ =
                                writeln!(y, "        - profile: {}", quote(gi.profile.as_str()));
                            if let Some(s) = gi.start {
                                let _ = writeln!(y, "          start: {s}");
                            }
                            if let Some(cis) = &gi.compute_instances {
                                let _ = writeln!(y, "          compute-instances:");
                                for ci in cis {
                                    let start = ci
                                        .start
                                        .map(|s| format!(", start: {s}"))
                                        .unwrap_or_default();
                                    let _ = writeln!(
                                        y,
                                        "            - {{profile: {}{start}}}",
                                        quote(ci.profile.as_str())
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        y
    }

    /// The spec as JSON (mig-parted's `export -o json` shape).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::{json, Map, Value};
        let mut configs = Map::new();
        for c in &self.configs {
            let entries: Vec<Value> = c
                .entries
                .iter()
                .map(|e| {
                    let mut o = Map::new();
                    match e.device_filter.as_slice() {
                        [] => {}
                        [f] => {
                            o.insert("device-filter".into(), json!(f.to_string()));
                        }
                        fs => {
                            o.insert(
                                "device-filter".into(),
                                json!(fs.iter().map(|f| f.to_string()).collect::<Vec<_>>()),
                            );
                        }
                    }
                    o.insert(
                        "devices".into(),
                        match &e.devices {
                            Devices::All => json!("all"),
                            Devices::List(l) => Value::Array(
                                l.iter()
                                    .map(|r| match r {
                                        GpuRef::Index(i) => json!(i),
                                        GpuRef::Uuid(u) => json!(u),
                                    })
                                    .collect(),
                            ),
                        },
                    );
                    o.insert("mig-enabled".into(), json!(e.mig_enabled));
                    match &e.mig_devices {
                        MigDevices::Counts(c) => {
                            let m: Map<String, Value> = c
                                .iter()
                                .map(|(p, n)| (p.as_str().to_string(), json!(n)))
                                .collect();
                            o.insert("mig-devices".into(), Value::Object(m));
                        }
                        MigDevices::Instances(g) => {
                            let list: Vec<Value> = g
                                .iter()
                                .map(|gi| {
                                    let mut m = Map::new();
                                    m.insert("profile".into(), json!(gi.profile.as_str()));
                                    if let Some(s) = gi.start {
                                        m.insert("start".into(), json!(s));
                                    }
                                    if let Some(cis) = &gi.compute_instances {
                                        m.insert(
                                            "compute-instances".into(),
                                            Value::Array(
                                                cis.iter()
                                                    .map(|c| match c.start {
                                                        Some(s) => json!({"profile": c.profile.as_str(), "start": s}),
                                                        None => json!({"profile": c.profile.as_str()}),
                                                    })
                                                    .collect(),
                                            ),
                                        );
                                    }
                                    Value::Object(m)
                                })
                                .collect();
                            o.insert("gpu-instances".into(), Value::Array(list));
                        }
                    }
                    Value::Object(o)
                })
                .collect();
            configs.insert(c.name.clone(), Value::Array(entries));
        }
        json!({"version": self.version.as_str(), "mig-configs": configs})
    }
}
