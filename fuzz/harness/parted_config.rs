//! The mig-parted config parser and validator never panic: any text parses
//! to a spec or an error with a message, and every named config of a spec
//! that parses validates against several boards (the first, a middle and the
//! last catalog board) to a selection or an error; a selection's proof
//! layouts obey the MIG rules.
//!
//! Shared by the fuzz target and `crates/migctl/tests/fuzz_regressions.rs`.

use mig_config::Spec;
use mig_config::{catalog_identity, validate};
use mig_model::catalog;

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let spec = match Spec::parse(text, "fuzz.yaml") {
        Ok(spec) => spec,
        Err(e) => {
            assert!(!e.to_string().is_empty(), "a parse error says something");
            return;
        }
    };
    let models = catalog::all();
    let gpus: Vec<_> = [0, models.len() / 2, models.len() - 1]
        .iter()
        .enumerate()
        .map(|(i, &m)| catalog_identity(i as u32, &models[m]))
        .collect();
    for name in spec.names() {
        let cfg = spec
            .select(Some(&name), "fuzz.yaml")
            .expect("a listed name selects");
        match validate(cfg, &gpus) {
            Ok(sel) => {
                for t in &sel.targets {
                    let m = catalog::model(&t.model).expect("catalog board");
                    t.fits_as.validate(m).expect("proof layouts obey the rules");
                }
            }
            Err(e) => assert!(!e.to_string().is_empty(), "a refusal says why"),
        }
    }
}
