//! Where the fake `libnvidia-ml.so.1` is: `migctl sim nvml-lib` and
//! `migctl sim exec` find the nvml-shim library and link it under NVML's name.

use std::fs;
use std::path::{Path, PathBuf};

/// The file Cargo builds from the nvml-shim crate.
const SHIM_FILE: &str = "libnvml_shim.so";
/// The name NVML clients load.
const NVML_SONAME: &str = "libnvidia-ml.so.1";
/// Environment variable naming the shim library when it is not beside the
/// executable (an installed migctl).
const ENV_SHIM: &str = "MIGCTL_NVML_SHIM";

/// Find the shim (`$MIGCTL_NVML_SHIM`, else `<exe dir>/../lib/migctl/`, else
/// where Cargo built it beside this executable) and make
/// `<its dir>/nvml-shim/libnvidia-ml.so.1` point at it, replacing a stale
/// link. The link gets its own directory so that putting it on
/// `LD_LIBRARY_PATH` exposes nothing else.
///
/// Where Cargo leaves the shim: `target/<profile>/` after `cargo build`, but
/// only `target/<profile>/deps/` when `cargo test` built it as a test
/// dependency; a test binary itself runs from `deps/`, one level below. The
/// newest candidate wins, so a stale copy never shadows a fresh build.
pub fn nvml_lib() -> Result<PathBuf, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot locate the migctl executable: {e}"))?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let dir = exe.parent().unwrap_or(Path::new("."));
    // Listed so that on equal times (Cargo's uplift is a hard link) the
    // executable's own directory, which comes last, wins.
    if let Some(p) = std::env::var_os(ENV_SHIM).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if !p.is_file() {
            return Err(format!("{ENV_SHIM}={}: no such file", p.display()));
        }
        return link_soname(&p);
    }
    let shim = [
        dir.parent().map(|d| d.join("lib").join("migctl")),
        dir.parent().map(Path::to_path_buf),
        Some(dir.join("deps")),
        Some(dir.to_path_buf()),
    ]
    .into_iter()
    .flatten()
    .map(|d| d.join(SHIM_FILE))
    .filter_map(|p| {
        let modified = fs::metadata(&p)
            .ok()
            .filter(|m| m.is_file())?
            .modified()
            .ok()?;
        Some((modified, p))
    })
    .max_by_key(|(modified, _)| *modified)
    .map(|(_, p)| p)
    .ok_or_else(|| {
        format!(
            "the NVML shim {SHIM_FILE} is not next to {} nor in its ../lib/migctl/; build it \
             with `cargo build --release -p nvml-shim` and copy it there, or name it with {ENV_SHIM}",
            exe.display()
        )
    })?;
    link_soname(&shim)
}

/// Make `<shim's dir>/nvml-shim/libnvidia-ml.so.1` point at `shim`.
fn link_soname(shim: &Path) -> Result<PathBuf, String> {
    let shim = shim.canonicalize().unwrap_or_else(|_| shim.to_path_buf());
    let link_dir = shim.with_file_name("nvml-shim");
    let link = link_dir.join(NVML_SONAME);
    let fail = |p: &Path, e: std::io::Error| format!("cannot create {}: {e}", p.display());
    if fs::read_link(&link).ok().as_deref() == Some(shim.as_path()) {
        return Ok(link);
    }
    fs::create_dir_all(&link_dir).map_err(|e| fail(&link_dir, e))?;
    // Build the link beside the final name and rename it over any stale one,
    // so concurrent callers never see a missing or half-made library.
    let tmp = link_dir.join(format!(".{NVML_SONAME}.{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    #[cfg(unix)]
    std::os::unix::fs::symlink(&shim, &tmp).map_err(|e| fail(&tmp, e))?;
    #[cfg(not(unix))]
    fs::copy(&shim, &tmp).map_err(|e| fail(&tmp, e))?;
    fs::rename(&tmp, &link).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        fail(&link, e)
    })?;
    Ok(link)
}
