//! pack's inventory and demand parsers never panic: any text is a fleet or a
//! demand list, or an error naming the file; the first byte picks the parser
//! (even: inventory, odd: demand).
//!
//! Shared by the fuzz target and `crates/migctl/tests/fuzz_regressions.rs`.

use mig_plan::{parse_demand, parse_inventory};

pub fn run(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if which & 1 == 0 {
        match parse_inventory("inventory.yaml", text) {
            Ok(fleet) => {
                for g in &fleet.gpus {
                    assert!(g.node < fleet.nodes.len(), "every GPU names a known node");
                }
            }
            Err(e) => assert!(e.to_string().contains("inventory.yaml"), "{e}"),
        }
    } else {
        match parse_demand("demand.yaml", text) {
            Ok(items) => {
                for d in &items {
                    assert!(
                        d.weight.is_finite() && d.weight > 0.0,
                        "weights are positive numbers"
                    );
                }
            }
            Err(e) => assert!(e.to_string().contains("demand.yaml"), "{e}"),
        }
    }
}
