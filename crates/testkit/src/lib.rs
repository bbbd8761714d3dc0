//! `testkit`: what every test suite of the workspace shares.
//!
//! What it is for: skipping a test *visibly* and finding `../shared`.
//! libtest captures `eprintln!` of passing tests, so a test that returned
//! early looked like a pass; [`skip`] writes its `SKIPPED:` line straight to
//! the process's stderr, where `cargo test` shows it beside the summary,
//! and counts it in `target/skipped-tests.txt` for CI to read. Where CI asks
//! for a dependency (`MIGCTL_REQUIRE_SHARED=1`, `MIGCTL_REQUIRE_PYNVML=1`,
//! ...), a skip for it fails the test instead.
//!
//! What it is not for: anything a test asserts. Only dev-dependencies use it.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a test cannot run here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// `../shared` beside the repository (`MIGCTL_REQUIRE_SHARED=1` in CI).
    Shared,
    /// python3 with pynvml (`MIGCTL_REQUIRE_PYNVML=1` in CI).
    Pynvml,
    /// Slurm and munge, and root to run them (`MIGCTL_REQUIRE_SLURM=1` in CI).
    Slurm,
    /// python3 with jsonschema and yaml (`MIGCTL_REQUIRE_JSONSCHEMA=1` in CI).
    Jsonschema,
    /// Debian's `prometheus` server (`MIGCTL_REQUIRE_PROMETHEUS=1` in CI).
    Prometheus,
    /// Something this machine may lack that no CI variable demands
    /// (namespaces, a tool); the reason says what.
    Environment,
}

impl Needs {
    /// The environment variable that turns this skip into a failure.
    pub fn required_by(self) -> Option<&'static str> {
        match self {
            Needs::Shared => Some("MIGCTL_REQUIRE_SHARED"),
            Needs::Pynvml => Some("MIGCTL_REQUIRE_PYNVML"),
            Needs::Slurm => Some("MIGCTL_REQUIRE_SLURM"),
            Needs::Jsonschema => Some("MIGCTL_REQUIRE_JSONSCHEMA"),
            Needs::Prometheus => Some("MIGCTL_REQUIRE_PROMETHEUS"),
            Needs::Environment => None,
        }
    }
}

/// The repository's root (the workspace directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `../shared` beside the repository, if present; `None` after a visible
/// skip (or a panic, where `MIGCTL_REQUIRE_SHARED=1`) naming `test`.
pub fn shared(test: &str) -> Option<PathBuf> {
    let dir = repo_root().join("../shared");
    if dir.is_dir() {
        return Some(dir);
    }
    skip(test, Needs::Shared, &format!("{} is absent", dir.display()));
    None
}

/// Report that `test` does not run here, and why. Panics instead when the
/// environment variable of `needs` is `1`: CI promised the dependency.
pub fn skip(test: &str, needs: Needs, why: &str) {
    if let Some(var) = needs.required_by() {
        if std::env::var(var).as_deref() == Ok("1") {
            panic!("{test}: {why}, and {var}=1 says it must run");
        }
    }
    let line = format!("SKIPPED: {test}: {why}\n");
    // straight to fd 2: libtest's capture only takes the print macros
    let _ = std::io::stderr().write_all(line.as_bytes());
    record(&repo_root().join("target").join("skipped-tests.txt"), &line);
}

/// Which `cargo test` run a test process belongs to: its parent's pid
/// (cargo runs every test binary of one run as its child).
fn run_id() -> String {
    format!("# cargo test run {}\n", std::os::unix::process::parent_id())
}

/// Add `line` to the skip log at `log`, first emptying a log that an
/// earlier run wrote: the file lists this run's skips only, so it never
/// grows across runs.
fn record(log: &Path, line: &str) {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock();
    let head = run_id();
    let this_run = std::fs::read_to_string(log).is_ok_and(|t| t.starts_with(&head));
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true);
    if this_run {
        opts.append(true);
    } else {
        opts.write(true).truncate(true);
    }
    if let Ok(mut f) = opts.open(log) {
        if !this_run {
            let _ = f.write_all(head.as_bytes());
        }
        let _ = f.write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the skip log is rewritten by a new run and appended to within
    /// one: a log left by another run is replaced, not grown.
    #[test]
    fn skip_log_is_rewritten_each_run() {
        let dir = std::env::temp_dir().join(format!("testkit-skip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("skipped-tests.txt");
        std::fs::write(&log, "# cargo test run 1\nSKIPPED: old: from another run\n").unwrap();
        record(&log, "SKIPPED: a: x\n");
        record(&log, "SKIPPED: b: y\n");
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text, format!("{}SKIPPED: a: x\nSKIPPED: b: y\n", run_id()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
