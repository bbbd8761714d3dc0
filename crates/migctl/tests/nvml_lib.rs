//! `migctl sim nvml-lib`: finds the NVML shim beside the executable (or one
//! directory up) and prints an absolute `libnvidia-ml.so.1` path linked to it,
//! repairing a stale link; without the shim it fails with how to build it.
//! Each case runs a copy of migctl in its own directory, so the shared
//! `target/<profile>/nvml-shim` link other tests load is never touched.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A private directory on the target directory's filesystem, so that the
/// binary can be hard-linked into it.
fn scratch() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir")
}

/// migctl at `dir/sub/migctl`, as a hard link: a fresh copy is a file open
/// for writing while other test threads fork, which makes exec fail with
/// "Text file busy". A copy (other filesystem) is the fallback.
fn migctl_copy(dir: &Path, sub: &str) -> PathBuf {
    let bin_dir = dir.join(sub);
    std::fs::create_dir_all(&bin_dir).expect("bin dir");
    let bin = bin_dir.join("migctl");
    let src = env!("CARGO_BIN_EXE_migctl");
    if std::fs::hard_link(src, &bin).is_err() {
        std::fs::copy(src, &bin).expect("copy migctl");
    }
    bin
}

fn nvml_lib(bin: &Path) -> Output {
    let mut tries = 0;
    loop {
        let run = Command::new(bin)
            .args(["sim", "nvml-lib"])
            .env("MIGCTL_SIM_STATE", bin.with_file_name("state.json"))
            .output();
        match run {
            // ETXTBSY: a copied binary still open in a forked sibling; retry.
            Err(e) if e.raw_os_error() == Some(26) && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            r => return r.expect("run migctl"),
        }
    }
}

fn stdout_path(o: &Output) -> PathBuf {
    assert!(
        o.status.success(),
        "migctl sim nvml-lib failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())
}

/// Proves a missing shim is a clear error (exit 1) naming the build command.
#[test]
fn nvml_lib_without_the_shim_says_how_to_build_it() {
    let dir = scratch();
    let bin = migctl_copy(dir.path(), "bin");
    let o = nvml_lib(&bin);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("libnvml_shim.so"), "{err}");
    assert!(err.contains("cargo build --release"), "{err}");
}

/// Proves the link is made next to the shim, wherever Cargo left it beside
/// the executable (its directory, `deps/` below it after `cargo test`, or
/// the directory above for a test binary in `deps/`), is absolute, and is
/// repaired when stale.
#[test]
fn nvml_lib_links_the_shim_and_repairs_stale_links() {
    for (bin_sub, shim_sub) in [
        ("release", "release"),
        ("release", "release/deps"),
        ("release/deps", "release"),
    ] {
        let dir = scratch();
        let bin = migctl_copy(dir.path(), bin_sub);
        let shim = dir.path().join(shim_sub).join("libnvml_shim.so");
        std::fs::create_dir_all(dir.path().join(shim_sub)).expect("shim dir");
        std::fs::write(&shim, b"stand-in for the cdylib").expect("shim");
        let shim = shim.canonicalize().expect("canonical shim");

        let link = stdout_path(&nvml_lib(&bin));
        assert!(link.is_absolute(), "{}", link.display());
        assert_eq!(link, shim.with_file_name("nvml-shim/libnvidia-ml.so.1"));
        assert_eq!(std::fs::read_link(&link).expect("a symlink"), shim);

        std::fs::remove_file(&link).expect("remove link");
        std::os::unix::fs::symlink("/nonexistent/libnvml_shim.so", &link).expect("stale link");
        assert_eq!(stdout_path(&nvml_lib(&bin)), link);
        assert_eq!(std::fs::read_link(&link).expect("a symlink"), shim);
    }
}

/// Proves the newest build wins when both `target/<profile>/` and its
/// `deps/` hold a shim (a `cargo test` after an older `cargo build`).
#[test]
fn nvml_lib_prefers_the_newest_shim() {
    let dir = scratch();
    let bin = migctl_copy(dir.path(), "debug");
    let old = dir.path().join("debug/libnvml_shim.so");
    let new = dir.path().join("debug/deps/libnvml_shim.so");
    std::fs::create_dir_all(dir.path().join("debug/deps")).expect("deps");
    for (p, age) in [(&old, 3600), (&new, 0)] {
        let f = std::fs::File::create(p).expect("shim");
        let t = std::time::SystemTime::now() - std::time::Duration::from_secs(age);
        f.set_modified(t).expect("set mtime");
    }
    let link = stdout_path(&nvml_lib(&bin));
    let target = std::fs::read_link(&link).expect("a symlink");
    assert_eq!(target, new.canonicalize().expect("canonical"));
}

/// Proves that in a built workspace (`cargo test --workspace` builds the
/// nvml-shim crate too) the real binary finds the newest real shim: cargo
/// leaves the one a test build makes in `deps/` without copying it up.
#[test]
fn nvml_lib_finds_the_workspace_shim() {
    let bin = Path::new(env!("CARGO_BIN_EXE_migctl"));
    let candidates: Vec<PathBuf> = [
        bin.with_file_name("libnvml_shim.so"),
        bin.with_file_name("deps").join("libnvml_shim.so"),
    ]
    .into_iter()
    .filter(|p| p.is_file())
    .collect();
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    // nvml-shim is a dev-dependency, so even `cargo test -p migctl` builds
    // it afresh: a test never runs against a stale library
    let newest = candidates
        .iter()
        .filter_map(|p| mtime(p))
        .max()
        .expect("the nvml-shim dev-dependency was built beside the binary");
    let link = stdout_path(&nvml_lib(bin))
        .canonicalize()
        .expect("link resolves");
    // cargo often hard-links the two, so several may be equally new
    assert!(
        candidates
            .iter()
            .any(|c| mtime(c) == Some(newest) && c.canonicalize().ok().as_ref() == Some(&link)),
        "{} is not the newest of {candidates:?}",
        link.display()
    );
}

/// The shim the workspace build made (a dev-dependency, so always built).
fn built_shim() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_migctl"));
    [
        bin.with_file_name("libnvml_shim.so"),
        bin.with_file_name("deps").join("libnvml_shim.so"),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .expect("the nvml-shim dev-dependency was built")
}

/// Proves the installed layout the README gives works: migctl in `bin/`,
/// the shim in `lib/migctl/` (as after `cargo install` plus the copy), and
/// that `MIGCTL_NVML_SHIM` names a shim anywhere.
#[test]
fn nvml_lib_finds_an_installed_shim() {
    let dir = scratch();
    let bin = migctl_copy(dir.path(), "bin");
    let lib = dir.path().join("lib/migctl");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::copy(built_shim(), lib.join("libnvml_shim.so")).unwrap();
    let link = stdout_path(&nvml_lib(&bin));
    assert_eq!(link, lib.join("nvml-shim/libnvidia-ml.so.1"));

    let other = scratch();
    let bin = migctl_copy(other.path(), "bin");
    let named = other.path().join("elsewhere.so");
    std::fs::copy(built_shim(), &named).unwrap();
    let o = Command::new(&bin)
        .args(["sim", "nvml-lib"])
        .env("MIGCTL_NVML_SHIM", &named)
        .output()
        .unwrap();
    assert_eq!(
        stdout_path(&o).canonicalize().unwrap(),
        named.canonicalize().unwrap()
    );
    let o = Command::new(&bin)
        .args(["sim", "nvml-lib"])
        .env("MIGCTL_NVML_SHIM", other.path().join("missing.so"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.so"));
}
