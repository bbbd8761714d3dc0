//! mig-parted's published configs (`../shared/compat/mig-parted/`, copied
//! unchanged from NVIDIA/mig-parted at bd7160f4) against the catalog.
//!
//! `MIGCTL_BLESS=1 cargo test -p mig-config --test compat_configs` rewrites
//! `docs/mig-parted-configs.md` from what this test computes; without it the
//! test fails when the document no longer says what the code decides.

use mig_config::{catalog_identity, validate};
use mig_config::{MigDevices, NamedConfig, Spec};
use mig_model::catalog;
use std::path::{Path, PathBuf};

const FILES: &[&str] = &[
    "config-default.yaml",
    "config.yaml",
    "dgx-station-80gb-config.yaml",
];

/// Boards checked for configs whose entries carry no `device-filter` and
/// name profiles no board has (mig-parted's own defaults: the DGX A100 and
/// DGX H100 boards).
const DEFAULT_BOARDS: &[&str] = &["a100-sxm4-40gb", "h100-sxm5-80gb"];

fn shared_compat() -> Option<PathBuf> {
    let dir = testkit::shared("compat_configs")?.join("compat/mig-parted");
    dir.is_dir().then_some(dir)
}

/// The boards a named config targets: those its device filters match; for
/// an entry without a filter, every board that knows all its profile names;
/// if that leaves none, mig-parted's default boards.
fn targets(config: &NamedConfig) -> Vec<&'static catalog::GpuModel> {
    let mut out: Vec<&'static catalog::GpuModel> = Vec::new();
    // Entries without a filter that name no profile (MIG off, or on and
    // empty) suit every board and say nothing about the target.
    let informative =
        |e: &&mig_config::Entry| !e.device_filter.is_empty() || !e.mig_devices.is_empty();
    let any_informative = config.entries.iter().any(|e| informative(&e));
    for e in &config.entries {
        if any_informative && !informative(&e) {
            continue;
        }
        for m in catalog::all() {
            let id = catalog_identity(0, m);
            let hit = if e.device_filter.is_empty() {
                match &e.mig_devices {
                    MigDevices::Counts(c) => c.iter().all(|(p, _)| p.resolve(m).is_ok()),
                    MigDevices::Instances(g) => g.iter().all(|g| g.profile.resolve(m).is_ok()),
                }
            } else {
                e.device_filter
                    .iter()
                    .any(|f| f.matches(id.pci_device_id, id.pci_subsystem_id))
            };
            if hit && !out.iter().any(|o| o.slug == m.slug) {
                out.push(m);
            }
        }
    }
    if out.is_empty() {
        out = DEFAULT_BOARDS
            .iter()
            .map(|s| catalog::model(s).expect("default board"))
            .collect();
    }
    out.sort_by_key(|m| catalog::all().iter().position(|x| x.slug == m.slug));
    out
}

/// The outcome of `config` on a machine of eight GPUs of board `m` (a DGX:
/// the index lists in the published configs go up to 7).
fn outcome(config: &NamedConfig, m: &catalog::GpuModel) -> (bool, String) {
    let gpus: Vec<_> = (0..8).map(|i| catalog_identity(i, m)).collect();
    match validate(config, &gpus) {
        Ok(sel) => {
            if sel.targets.is_empty() {
                return (true, "fits: selects no GPU of this board".into());
            }
            let mut shapes: Vec<String> = Vec::new();
            for t in &sel.targets {
                let s = if !t.demand.mig_enabled {
                    "MIG off".to_string()
                } else if t.fits_as.gpu_instances.is_empty() {
                    "MIG on, empty".to_string()
                } else {
                    t.fits_as
                        .gpu_instances
                        .iter()
                        .map(|g| {
                            let p =
                                mig_model::engine::gi_profile(m, g.profile_id).expect("profile");
                            let cis = g.compute_instances.len();
                            if cis == 1 {
                                format!("{}@{}", p.name, g.placement.start)
                            } else {
                                format!("{}@{}({cis} CIs)", p.name, g.placement.start)
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                if !shapes.contains(&s) {
                    shapes.push(s);
                }
            }
            (true, format!("fits: {}", shapes.join("; ")))
        }
        Err(e) => {
            // One line per distinct reason, without the GPU number.
            let mut reasons: Vec<String> = Vec::new();
            for p in &e.problems {
                let r = p.kind.to_string();
                let r = r.split_once(": ").map(|(_, b)| b.to_string()).unwrap_or(r);
                if !reasons.contains(&r) {
                    reasons.push(r);
                }
            }
            let more = match reasons.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            (false, format!("rejected: {}{more}", reasons[0]))
        }
    }
}

fn table(dir: &Path) -> (String, usize, usize) {
    let mut md = String::from(
        "# mig-parted's published configs on the catalog's boards\n\n\
         Generated by `MIGCTL_BLESS=1 cargo test -p mig-config --test compat_configs`\n\
         (`crates/mig-config/tests/compat_configs.rs`), which fails when this file no longer\n\
         matches what `mig_config::validate` decides. Source files: `../shared/compat/mig-parted/`,\n\
         copied unchanged from NVIDIA/mig-parted at commit bd7160f4 (v0.15.0).\n\n\
         Each named config is checked on a machine of eight GPUs of each board it targets:\n\
         the boards its `device-filter`s match; for an entry without a filter, every board\n\
         that has all its profile names; where no board has them, the A100-SXM4-40GB and\n\
         H100-SXM5-80GB. `fits` shows the layout found (profile@start slot; CIs when more\n\
         than one); `rejected` gives the validator's reason. Boards of the configs that the\n\
         catalog lacks (A800, H800, GH200 144G, B300, GB300, PG506) are not checked.\n\n\
         | file | config | board | outcome |\n|---|---|---|---|\n",
    );
    let (mut fits, mut rejected) = (0, 0);
    for f in FILES {
        let path = dir.join(f);
        let spec = Spec::load(&path).unwrap_or_else(|e| panic!("{e}"));
        for c in &spec.configs {
            for m in targets(c) {
                let (ok, text) = outcome(c, m);
                if ok {
                    fits += 1;
                } else {
                    rejected += 1;
                }
                md.push_str(&format!(
                    "| {f} | {} | {} | {} |\n",
                    c.name,
                    m.slug,
                    text.replace('|', "\\|")
                ));
            }
        }
    }
    md.push_str(&format!(
        "\n{fits} (config, board) pairs fit, {rejected} are rejected.\n"
    ));
    (md, fits, rejected)
}

/// Proves every published mig-parted file loads (81 named configs in the
/// default file, as the research note counts), and that the per-config
/// outcome table in docs/mig-parted-configs.md is what the validator decides.
#[test]
fn published_configs_load_and_the_table_is_current() {
    let Some(dir) = shared_compat() else { return };
    let default = Spec::load(&dir.join("config-default.yaml")).unwrap();
    assert_eq!(default.configs.len(), 81);
    let (md, fits, _) = table(&dir);
    assert!(fits > 0);
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/mig-parted-configs.md");
    if std::env::var("MIGCTL_BLESS").as_deref() == Ok("1") {
        std::fs::write(&doc, &md).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&doc).unwrap_or_default();
    assert!(
        have == md,
        "{} is stale: rerun with MIGCTL_BLESS=1 and review the diff",
        doc.display()
    );
}

/// Proves known outcomes: the guide's balanced layouts fit on the A100-40GB
/// and H100-80GB, and an A100-40GB name on the H100 is refused by name.
#[test]
fn known_outcomes() {
    let Some(dir) = shared_compat() else { return };
    let spec = Spec::load(&dir.join("config-default.yaml")).unwrap();
    let get = |n: &str| spec.select(Some(n), "config-default.yaml").unwrap();
    for slug in ["a100-sxm4-40gb", "h100-sxm5-80gb", "a30-24gb", "b200-180gb"] {
        let m = catalog::model(slug).unwrap();
        let (ok, text) = outcome(get("all-balanced"), m);
        assert!(ok, "{slug}: {text}");
    }
    let (ok, text) = outcome(get("all-1g.5gb"), catalog::model("h100-sxm5-80gb").unwrap());
    assert!(!ok && text.contains("1g.5gb is not a profile"), "{text}");
    let (ok, text) = outcome(
        get("all-1g.10gb"),
        catalog::model("a100-sxm4-40gb").unwrap(),
    );
    assert!(ok && text.matches("1g.10gb@").count() == 4, "{text}");
}
