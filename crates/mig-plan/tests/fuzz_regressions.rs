//! Replays the inputs kept in `fuzz/regressions/<target>/` (seeds, inputs
//! the fuzzers found interesting, and any that ever crashed) through the
//! same library calls the fuzz targets make, in the normal test suite.

use mig_model::catalog;
use mig_plan::config::Spec;
use mig_plan::inventory::{parse_demand, parse_inventory};
use mig_plan::journal::JournalFile;
use mig_plan::validate::{catalog_identity, validate};
use std::path::PathBuf;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .map(|p| {
            let b = std::fs::read(&p).expect("readable");
            (p, b)
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "{} holds no inputs", dir.display());
    v
}

/// Every kept config input parses to a spec or an error without panicking;
/// validation of each named config on three boards gives a selection whose
/// proof layouts obey the MIG rules, or an error with a message.
#[test]
fn parted_config_inputs_do_not_panic() {
    let models = catalog::all();
    let gpus: Vec<_> = [0, models.len() / 2, models.len() - 1]
        .iter()
        .enumerate()
        .map(|(i, &m)| catalog_identity(i as u32, &models[m]))
        .collect();
    for (p, b) in inputs("parted_config") {
        let Ok(text) = std::str::from_utf8(&b) else {
            continue;
        };
        match Spec::parse(text, "fuzz.yaml") {
            Err(e) => assert!(!e.to_string().is_empty(), "{}", p.display()),
            Ok(spec) => {
                for name in spec.names() {
                    let cfg = spec.select(Some(&name), "fuzz.yaml").expect("listed name");
                    match validate(cfg, &gpus) {
                        Ok(sel) => {
                            for t in &sel.targets {
                                let m = catalog::model(&t.model).expect("catalog board");
                                t.fits_as.validate(m).expect("proof layout obeys the rules");
                            }
                        }
                        Err(e) => assert!(!e.to_string().is_empty(), "{}", p.display()),
                    }
                }
            }
        }
    }
}

/// Every kept journal input is a journal that round-trips, or an error
/// naming the journal file.
#[test]
fn journal_inputs_give_a_journal_or_an_error_naming_the_file() {
    let f = JournalFile::new("fuzz-journal.json");
    for (p, b) in inputs("journal") {
        let Ok(text) = std::str::from_utf8(&b) else {
            continue;
        };
        match f.parse(text) {
            Ok(j) => {
                let again = serde_json::to_string(&j).expect("serialises");
                assert_eq!(f.parse(&again).expect("round trip"), j, "{}", p.display());
            }
            Err(e) => assert!(
                e.to_string().contains("fuzz-journal.json"),
                "{}: {e}",
                p.display()
            ),
        }
    }
}

/// Every kept inventory/demand input (first byte even: inventory, odd:
/// demand) parses or is refused with an error naming the file, never a panic.
#[test]
fn pack_inputs_parse_or_name_the_file() {
    for (p, b) in inputs("pack_files") {
        let Some((&which, rest)) = b.split_first() else {
            continue;
        };
        let Ok(text) = std::str::from_utf8(rest) else {
            continue;
        };
        if which & 1 == 0 {
            match parse_inventory("inventory.yaml", text) {
                Ok(fleet) => assert!(fleet.gpus.iter().all(|g| g.node < fleet.nodes.len())),
                Err(e) => assert!(
                    e.to_string().contains("inventory.yaml"),
                    "{}: {e}",
                    p.display()
                ),
            }
        } else {
            match parse_demand("demand.yaml", text) {
                Ok(items) => assert!(items.iter().all(|d| d.weight.is_finite() && d.weight > 0.0)),
                Err(e) => assert!(
                    e.to_string().contains("demand.yaml"),
                    "{}: {e}",
                    p.display()
                ),
            }
        }
    }
}
