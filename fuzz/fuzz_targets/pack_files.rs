//! pack's inventory and demand parsers never panic: any text is a fleet or
//! demand list, or an error; the first byte picks the parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mig_plan::inventory::{parse_demand, parse_inventory};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if which & 1 == 0 {
        if let Ok(fleet) = parse_inventory("inventory.yaml", text) {
            for g in &fleet.gpus {
                assert!(g.node < fleet.nodes.len(), "every GPU names a known node");
            }
        }
    } else if let Ok(items) = parse_demand("demand.yaml", text) {
        for d in &items {
            assert!(d.weight.is_finite(), "weights are numbers");
        }
    }
});
