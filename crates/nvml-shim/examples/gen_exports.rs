//! Writes `src/generated.rs` and `docs/nvml-functions.md` from the
//! nvml-wrapper-sys bindings, `gen/nvml-api13-extra.txt` and the hand-written
//! modules. Run after modelling a function by hand (its generated fallback
//! must go) or updating the bindings:
//!
//!     cargo run -p nvml-shim --features regen --example gen_exports
//!
//! (`regen` builds the library without the old `generated.rs`.)
//!
//! `tests/exports.rs` fails while the checked-in files differ from this output.

#[path = "../tests/support/exports_gen.rs"]
mod exports_gen;

fn main() {
    let (rust, doc) = exports_gen::generate();
    let dir = exports_gen::crate_dir();
    std::fs::write(dir.join("src/generated.rs"), rust).expect("write src/generated.rs");
    std::fs::write(dir.join("../../docs/nvml-functions.md"), doc)
        .expect("write docs/nvml-functions.md");
    eprintln!("wrote src/generated.rs and docs/nvml-functions.md");
}
