//! The generator of `src/generated.rs` (the exported functions the simulator
//! does not model) and of `docs/nvml-functions.md` (every exported function
//! and what it answers). Shared by `examples/gen_exports.rs`, which writes
//! both files, and `tests/exports.rs`, which checks the checked-in files equal
//! what this generates from the current inputs.
//!
//! Inputs: the `NvmlLib` struct of nvml-wrapper-sys's `bindings.rs` (every
//! function of the NVML API 12 header with its argument types), the extra
//! prototypes of `gen/nvml-api13-extra.txt` (functions of the current API 13
//! header the bindings lack), and the shim's hand-written modules (every
//! `#[no_mangle]` function there is modelled and is left out of the table).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One C function: its name and `(argument, type)` pairs in the bindings'
/// Rust spelling (`raw::c_uint`, `*mut nvmlPciInfo_t`, `nvmlDevice_t`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Func {
    pub name: String,
    pub args: Vec<(String, String)>,
}

/// A hand-written export: its module file and the first sentence of its doc.
#[derive(Debug, Clone)]
pub struct Hand {
    pub module: String,
    pub doc: Option<String>,
}

/// The crate's directory.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where Cargo unpacked nvml-wrapper-sys: the version `Cargo.lock` pins,
/// under `$CARGO_HOME/registry/src/*/` (default `~/.cargo`).
pub fn bindings_path() -> PathBuf {
    let lock =
        std::fs::read_to_string(crate_dir().join("../../Cargo.lock")).expect("read Cargo.lock");
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"nvml-wrapper-sys\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_string())
        .expect("nvml-wrapper-sys in Cargo.lock");
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .expect("CARGO_HOME or HOME");
    let registries = std::fs::read_dir(home.join("registry/src")).expect("cargo registry sources");
    registries
        .map(|r| {
            r.expect("registry entry")
                .path()
                .join(format!("nvml-wrapper-sys-{version}/src/bindings.rs"))
        })
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "nvml-wrapper-sys {version} sources not under {}",
                home.display()
            )
        })
}

/// Split `a: T, b: U` at top-level commas.
fn parse_args(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            let (n, t) = a
                .split_once(':')
                .unwrap_or_else(|| panic!("argument {a:?}"));
            (
                n.trim().to_string(),
                t.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect()
}

/// The functions of the bindings' `NvmlLib` struct that return `nvmlReturn_t`.
pub fn parse_bindings(text: &str) -> Vec<Func> {
    let start = text.find("pub struct NvmlLib {").expect("NvmlLib struct");
    let body = &text[start..];
    let body = &body[..body.find("\n}\n").expect("end of NvmlLib")];
    let mut out = Vec::new();
    for field in body.split("\n    pub ").skip(1) {
        let (name, rest) = field.split_once(':').expect("field name");
        if name.trim() == "__library" {
            continue;
        }
        let open = rest.find("fn(").expect("fn type") + 3;
        let close = rest.rfind(") ->").expect("return type");
        let ret = rest[close + 4..].split(',').next().unwrap_or("").trim();
        if ret != "nvmlReturn_t" {
            continue;
        }
        out.push(Func {
            name: name.trim().to_string(),
            args: parse_args(&rest[open..close]),
        });
    }
    out
}

/// The prototypes of `gen/nvml-api13-extra.txt`.
pub fn parse_extra(text: &str) -> Vec<Func> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, rest) = l
                .split_once('(')
                .unwrap_or_else(|| panic!("prototype {l:?}"));
            Func {
                name: name.to_string(),
                args: parse_args(rest.strip_suffix(')').expect("closing parenthesis")),
            }
        })
        .collect()
}

/// Every `#[no_mangle]` function of the hand-written modules.
pub fn hand_written(src: &Path) -> BTreeMap<String, Hand> {
    let mut out = BTreeMap::new();
    let mut files: Vec<_> = std::fs::read_dir(src)
        .expect("src dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| p.file_name().is_some_and(|n| n != "generated.rs"))
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read source");
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if l.trim() != "#[no_mangle]" {
                continue;
            }
            let sig = lines.get(i + 1).copied().unwrap_or("");
            let Some(name) = sig
                .split("extern \"C\" fn ")
                .nth(1)
                .and_then(|r| r.split('(').next())
            else {
                continue;
            };
            let mut doc: Vec<&str> = lines[..i]
                .iter()
                .rev()
                .take_while(|l| l.trim_start().starts_with("///"))
                .map(|l| l.trim_start().trim_start_matches("///").trim())
                .collect();
            doc.reverse();
            let doc = doc.join(" ");
            let first = doc
                .split_inclusive(". ")
                .next()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty());
            out.insert(
                name.to_string(),
                Hand {
                    module: f.file_name().unwrap().to_string_lossy().into_owned(),
                    doc: first,
                },
            );
        }
    }
    out
}

/// The union of the bindings and the extra list, by name (sorted).
pub fn all_functions(bindings: &[Func], extra: &[Func]) -> BTreeMap<String, Func> {
    bindings
        .iter()
        .chain(extra)
        .map(|f| (f.name.clone(), f.clone()))
        .collect()
}

/// A bindings type in the generated file's spelling (`sys::` for NVML types).
fn rust_type(t: &str) -> String {
    t.split(' ')
        .map(|tok| {
            if tok.starts_with("nvml") {
                format!("sys::{tok}")
            } else {
                tok.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `Subject` expression for a function's first argument, if it names one.
fn subject(f: &Func) -> (String, Option<&str>) {
    let Some((arg, ty)) = f.args.first() else {
        return ("Subject::None".into(), None);
    };
    let s = match ty.as_str() {
        "nvmlDevice_t" => format!("Subject::Device({arg})"),
        "nvmlGpuInstance_t" => format!("Subject::GpuInstance({arg})"),
        "nvmlComputeInstance_t" => format!("Subject::ComputeInstance({arg})"),
        "nvmlVgpuInstance_t" => format!("Subject::VgpuInstance({arg})"),
        "nvmlVgpuTypeId_t" => format!("Subject::VgpuType({arg})"),
        "nvmlUnit_t" => "Subject::Unit".into(),
        "nvmlEventSet_t" => format!("Subject::EventSet({arg})"),
        _ => "Subject::None".into(),
    };
    let used = if s.contains('(') {
        Some(arg.as_str())
    } else {
        None
    };
    (s, used)
}

/// `src/generated.rs`.
pub fn render_rust(all: &BTreeMap<String, Func>, hand: &BTreeMap<String, Hand>) -> String {
    let mut s = String::from(
        "//! GENERATED by `cargo run -p nvml-shim --features regen --example gen_exports`; do not edit.\n\
         //!\n\
         //! Every function of nvml.h (nvml-wrapper-sys's bindings and\n\
         //! `gen/nvml-api13-extra.txt`) that no hand-written module models,\n\
         //! answering as [`crate::fallback`] describes.\n\
         #![allow(non_snake_case, clippy::too_many_arguments)]\n\n\
         use crate::fallback::{answer, Subject};\n\
         use nvml_wrapper_sys::bindings as sys;\n\
         use std::os::raw;\n",
    );
    for f in all.values().filter(|f| !hand.contains_key(&f.name)) {
        let (subj, used) = subject(f);
        let first_ty = f.args.first().map(|a| a.1.as_str());
        let args: Vec<String> = f
            .args
            .iter()
            .map(|(n, t)| {
                let n = if Some(n.as_str()) == used {
                    n.clone()
                } else {
                    format!("_{n}")
                };
                format!("{n}: {}", rust_type(t))
            })
            .collect();
        let _ = write!(
            s,
            "\n/// {}.\n#[no_mangle]\npub unsafe extern \"C\" fn {}({}) -> sys::nvmlReturn_t {{\n    answer(\"{}\", {subj})\n}}\n",
            nvml_shim::fallback::describe(&f.name, first_ty),
            f.name,
            args.join(", "),
            f.name,
        );
    }
    s
}

/// `docs/nvml-functions.md`.
pub fn render_doc(
    all: &BTreeMap<String, Func>,
    hand: &BTreeMap<String, Hand>,
    (n_bindings, n_extra): (usize, usize),
) -> String {
    let modelled = all.keys().filter(|n| hand.contains_key(*n)).count()
        + hand.keys().filter(|n| !all.contains_key(*n)).count();
    let mut s = format!(
        "# NVML functions of the fake `libnvidia-ml.so.1`\n\n\
         GENERATED by `cargo run -p nvml-shim --features regen --example gen_exports` (which also writes\n\
         `crates/nvml-shim/src/generated.rs`); `cargo test -p nvml-shim --test exports`\n\
         checks this list equals the library's exported symbols, both ways.\n\n\
         The library exports every function of the current nvml.h: the {} functions of\n\
         the nvml-wrapper-sys 0.9 bindings (NVML API 12, with the old unversioned names)\n\
         and the {} added by API 13 (`crates/nvml-shim/gen/nvml-api13-extra.txt`), plus\n\
         `nvmlErrorString`. {} are modelled from the simulated machine (the module\n\
         named says how); the others answer as `crates/nvml-shim/src/fallback.rs`\n\
         documents: `UNINITIALIZED` before `nvmlInit`, their handle checked as the\n\
         driver checks it, then `NOT_SUPPORTED` for a getter, and for a setter\n\
         `NO_PERMISSION` (non-root, as the driver) or `NOT_SUPPORTED` (root): no\n\
         change is ever reported as done that the simulator did not make.\n\n\
         | function | answer |\n|---|---|\n",
        n_bindings, n_extra, modelled,
    );
    let mut names: Vec<&String> = all.keys().chain(hand.keys()).collect();
    names.sort();
    names.dedup();
    for n in names {
        let answer = match hand.get(n) {
            Some(h) => format!(
                "modelled (`{}`){}",
                h.module,
                h.doc
                    .as_deref()
                    .map(|d| format!(": {}", d.replace('|', "\\|")))
                    .unwrap_or_default()
            ),
            None => nvml_shim::fallback::describe(n, all[n].args.first().map(|a| a.1.as_str())),
        };
        let _ = writeln!(s, "| `{n}` | {answer} |");
    }
    s
}

/// Both outputs from the current inputs.
pub fn generate() -> (String, String) {
    let bindings = std::fs::read_to_string(bindings_path()).expect("read bindings.rs");
    let extra = std::fs::read_to_string(crate_dir().join("gen/nvml-api13-extra.txt"))
        .expect("read gen/nvml-api13-extra.txt");
    let b = parse_bindings(&bindings);
    let e = parse_extra(&extra);
    let all = all_functions(&b, &e);
    let hand = hand_written(&crate_dir().join("src"));
    let counts = (b.len(), e.len());
    (render_rust(&all, &hand), render_doc(&all, &hand, counts))
}
