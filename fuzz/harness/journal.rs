//! The apply journal's loader never panics: any text is a journal or an
//! error naming the file, and an accepted journal survives a write/parse
//! round trip.
//!
//! Shared by the fuzz target and `crates/migctl/tests/fuzz_regressions.rs`.

use mig_apply::journal::JournalFile;

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let f = JournalFile::new("fuzz-journal.json");
    match f.parse(text) {
        Ok(j) => {
            let again = serde_json::to_string(&j).expect("serialises");
            let back = f.parse(&again).expect("round trip");
            assert_eq!(back, j);
        }
        Err(e) => assert!(e.to_string().contains("fuzz-journal.json"), "{e}"),
    }
}
