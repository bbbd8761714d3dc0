//! Every function of nvml.h is exported, and the documented list is the
//! library's: a client never meets a missing symbol.
//!
//! - the checked-in `src/generated.rs` and `docs/nvml-functions.md` equal what
//!   `examples/gen_exports.rs` generates from the nvml-wrapper-sys bindings,
//!   `gen/nvml-api13-extra.txt` and the hand-written modules;
//! - the built `libnvml_shim.so`, opened with dlopen, resolves every function
//!   name of the bindings and of the extra list;
//! - the functions listed in `docs/nvml-functions.md` are exactly the `nvml*`
//!   symbols the library exports, both ways.

#[path = "support/exports_gen.rs"]
mod exports_gen;

use std::collections::BTreeSet;
use std::path::PathBuf;

/// The cdylib Cargo built with this test (see `tests/pynvml.rs`).
fn shim_library() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("test executable has a directory");
    let found = [Some(deps), deps.parent()]
        .into_iter()
        .flatten()
        .map(|d| d.join("libnvml_shim.so"))
        .find(|p| p.is_file());
    found.expect("libnvml_shim.so is built by `cargo test -p nvml-shim`")
}

fn docs_path() -> PathBuf {
    exports_gen::crate_dir().join("../../docs/nvml-functions.md")
}

/// Proves the generated exports and the docs list are current: a function
/// modelled by hand since, or a changed bindings list, fails here until
/// `cargo run -p nvml-shim --features regen --example gen_exports` is run.
#[test]
fn generated_files_match_the_generator() {
    let (rust, doc) = exports_gen::generate();
    let dir = exports_gen::crate_dir();
    let have_rust = std::fs::read_to_string(dir.join("src/generated.rs")).expect("generated.rs");
    let have_doc = std::fs::read_to_string(docs_path()).expect("docs/nvml-functions.md");
    assert!(
        have_rust == rust,
        "src/generated.rs is stale: run `cargo run -p nvml-shim --features regen --example gen_exports`"
    );
    assert!(
        have_doc == doc,
        "docs/nvml-functions.md is stale: run `cargo run -p nvml-shim --features regen --example gen_exports`"
    );
}

/// Proves every function name of the bindings and of the API 13 extras
/// resolves with dlsym in the built library.
#[test]
fn every_nvml_h_function_resolves() {
    let bindings = std::fs::read_to_string(exports_gen::bindings_path()).expect("bindings.rs");
    let extra = std::fs::read_to_string(exports_gen::crate_dir().join("gen/nvml-api13-extra.txt"))
        .expect("extra list");
    let mut names: Vec<String> = exports_gen::parse_bindings(&bindings)
        .into_iter()
        .chain(exports_gen::parse_extra(&extra))
        .map(|f| f.name)
        .collect();
    names.push("nvmlErrorString".into());
    assert!(names.len() > 400, "only {} names parsed", names.len());
    // SAFETY: loading the shim runs no initialiser with preconditions.
    let lib = unsafe { libloading::Library::new(shim_library()) }.expect("dlopen the shim");
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| {
            // SAFETY: only the symbol's address is looked up, never called.
            unsafe { lib.get::<*const ()>(n.as_bytes()) }.is_err()
        })
        .collect();
    assert!(missing.is_empty(), "not exported: {missing:?}");
}

/// The `nvml*` symbols the library defines, from `nm -D --defined-only`.
fn exported_symbols() -> BTreeSet<String> {
    let out = std::process::Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(shim_library())
        .output()
        .expect("run nm (binutils) on the shim");
    assert!(out.status.success(), "nm failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter(|s| s.starts_with("nvml"))
        .map(str::to_string)
        .collect()
}

/// Proves the docs list every exported NVML function and nothing else.
#[test]
fn docs_list_equals_the_exports() {
    let doc = std::fs::read_to_string(docs_path()).expect("docs/nvml-functions.md");
    let listed: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect();
    let exported = exported_symbols();
    let undocumented: Vec<_> = exported.difference(&listed).collect();
    let not_exported: Vec<_> = listed.difference(&exported).collect();
    assert!(
        undocumented.is_empty(),
        "exported but not in the docs: {undocumented:?}"
    );
    assert!(
        not_exported.is_empty(),
        "in the docs but not exported: {not_exported:?}"
    );
}
