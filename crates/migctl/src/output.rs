//! How migctl's own verbs print: the `-o, --output FORMAT` values, stdout
//! writes that end quietly on a closed pipe, and `--output-file FILE`
//! written atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

/// `-o, --output FORMAT` of a verb that prints a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Lines for people (the default).
    #[default]
    Text,
    /// One JSON document (`docs/json.md` has every schema).
    Json,
}

/// `-o, --output FORMAT` of a verb that prints a config or spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ConfigFormat {
    /// YAML (the default; `text` is accepted for it).
    #[default]
    #[value(alias = "text")]
    Yaml,
    /// JSON.
    Json,
}

/// Write `s` to stdout. A closed pipe (`migctl ... | head -1`) ends the
/// output quietly: `main` restores the default SIGPIPE action, so the
/// process ends as `ls | head` does; any other write error is ignored
/// likewise, as there is nobody left to tell.
pub fn emit(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

/// A JSON value, pretty, with a final newline.
pub fn json_text(v: &impl serde::Serialize) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// Write `text` to `path` atomically: a temporary file beside it, renamed
/// over it, so a reader sees the old file or the new one, never a part.
pub fn write_file(path: &Path, text: &str) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| format!("{}: not a file name; give a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.migctl-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    mig_atomic::replace(path, &tmp, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
