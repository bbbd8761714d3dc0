//! The simulated machine's state-file loader never panics, and whatever it
//! accepts obeys the MIG rules (every layout revalidates) and survives a
//! save/load round trip; whatever it refuses is refused naming the file.
//!
//! Shared by the fuzz target and `crates/migctl/tests/fuzz_regressions.rs`.

use mig_sim::MachineState;
use std::path::Path;

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match MachineState::parse(Path::new("fuzz.json"), text) {
        Ok(st) => {
            for g in &st.gpus {
                g.layout
                    .validate(g.model())
                    .expect("accepted layouts obey the rules");
            }
            let again = serde_json::to_string(&st).expect("serialises");
            let back = MachineState::parse(Path::new("fuzz.json"), &again).expect("round trip");
            assert_eq!(back, st);
        }
        Err(e) => assert!(e.to_string().contains("fuzz.json"), "{e}"),
    }
}
