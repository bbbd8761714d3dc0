//! The simulated machine's state-file loader never panics, and whatever it
//! accepts obeys the MIG rules (every layout revalidates) and survives a
//! save/load round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mig_sim::MachineState;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(st) = MachineState::parse(Path::new("fuzz.json"), text) {
        for g in &st.gpus {
            g.layout
                .validate(g.model())
                .expect("accepted layouts obey the rules");
        }
        let again = serde_json::to_string(&st).expect("serialises");
        let back = MachineState::parse(Path::new("fuzz.json"), &again).expect("round trip");
        assert_eq!(back, st);
    }
});
