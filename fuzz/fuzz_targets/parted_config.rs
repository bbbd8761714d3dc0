//! The mig-parted config parser and validator never panic: any text parses
//! to a spec or an error, and every named config of a spec that parses
//! validates against several boards to a selection or an error; a selection's
//! proof layouts obey the MIG rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mig_model::catalog;
use mig_plan::config::Spec;
use mig_plan::validate::{catalog_identity, validate};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = Spec::parse(text, "fuzz.yaml") else {
        return;
    };
    let models = catalog::all();
    // a mixed machine: the first, a middle and the last catalog board
    let picks = [0, models.len() / 2, models.len() - 1];
    let gpus: Vec<_> = picks
        .iter()
        .enumerate()
        .map(|(i, &m)| catalog_identity(i as u32, &models[m]))
        .collect();
    for name in spec.names() {
        let cfg = spec
            .select(Some(&name), "fuzz.yaml")
            .expect("a listed name selects");
        if let Ok(sel) = validate(cfg, &gpus) {
            for t in &sel.targets {
                let m = catalog::all()
                    .iter()
                    .find(|m| m.slug == t.model)
                    .expect("catalog board");
                t.fits_as.validate(m).expect("proof layouts obey the rules");
            }
        }
    }
});
