//! mig-parted's hooks file and apply orchestration.
//!
//! A hooks file (`version: v1`, `hooks: {<point>: [{command, args, envs,
//! workdir}]}`) names commands to run at four points of an apply:
//! `apply-start`, `pre-apply-mode` (only when a MIG mode must change),
//! `pre-apply-config` (only when instances must change) and `apply-exit`
//! (always, also after a failure). Each hook runs with exactly its own
//! `envs` plus the `MIG_PARTED_*` values of the apply command (mig-parted's
//! `GetHooksEnvsMap`; nothing else of the caller's environment), in its
//! `workdir`; its output is shown only with `--debug`. A hook that fails
//! stops the apply, as in mig-parted.
//!
//! Unlike mig-parted (which ignores them), unknown hook names and keys are
//! refused, naming the line: a misspelt `pre-apply-mod` would otherwise
//! silently never run.

use mig_config::ConfigError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The four hook points, in the order an apply reaches them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
pub enum HookPoint {
    #[serde(rename = "apply-start")]
    ApplyStart,
    #[serde(rename = "pre-apply-mode")]
    PreApplyMode,
    #[serde(rename = "pre-apply-config")]
    PreApplyConfig,
    #[serde(rename = "apply-exit")]
    ApplyExit,
}

impl HookPoint {
    pub fn as_str(self) -> &'static str {
        match self {
            HookPoint::ApplyStart => "apply-start",
            HookPoint::PreApplyMode => "pre-apply-mode",
            HookPoint::PreApplyConfig => "pre-apply-config",
            HookPoint::ApplyExit => "apply-exit",
        }
    }
}

/// One command of a hook.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookSpec {
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub envs: BTreeMap<String, String>,
    #[serde(default)]
    pub workdir: Option<String>,
}

/// A parsed hooks file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub hooks: BTreeMap<HookPoint, Vec<HookSpec>>,
}

/// Why a hook did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("error running {point} hook: {command}: {source}")]
    Spawn {
        point: &'static str,
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("error running {point} hook: {command}: {status}")]
    Failed {
        point: &'static str,
        command: String,
        status: std::process::ExitStatus,
    },
}

impl Hooks {
    /// Parse a hooks file's text (YAML or JSON).
    pub fn parse(text: &str, origin: &str) -> Result<Hooks, ConfigError> {
        let h: Hooks =
            serde_yaml_ng::from_str(text).map_err(|e| ConfigError::from_yaml(e, origin))?;
        if let Some(v) = &h.version {
            if v != "v1" {
                return Err(ConfigError::Parse {
                    origin: origin.to_string(),
                    line: None,
                    column: None,
                    message: format!("unknown hooks version {v:?}: this reads `v1`"),
                });
            }
        }
        Ok(h)
    }

    /// Read and parse a hooks file.
    pub fn load(path: &Path) -> Result<Hooks, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
            origin: origin.clone(),
            source: e,
        })?;
        Hooks::parse(&text, &origin)
    }

    /// Run the commands of `point` in order; the first failure stops them.
    /// `envs` are the `MIG_PARTED_*` values; `show_output` passes the
    /// commands' stdout and stderr through (mig-parted: `--debug`).
    pub fn run(
        &self,
        point: HookPoint,
        envs: &BTreeMap<String, String>,
        show_output: bool,
    ) -> Result<(), HookError> {
        for h in self.hooks.get(&point).into_iter().flatten() {
            let program = resolve(&h.command);
            let mut cmd = std::process::Command::new(&program);
            cmd.args(&h.args).env_clear();
            // The hook's own envs first, then the MIG_PARTED_* values, which
            // win where both name a variable (mig-parted's Combine order).
            cmd.envs(&h.envs).envs(envs);
            if let Some(w) = h.workdir.as_deref().filter(|w| !w.is_empty()) {
                cmd.current_dir(w);
            }
            if !show_output {
                cmd.stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null());
            }
            cmd.stdin(std::process::Stdio::null());
            let status = cmd.status().map_err(|e| HookError::Spawn {
                point: point.as_str(),
                command: h.command.clone(),
                source: e,
            })?;
            if !status.success() {
                return Err(HookError::Failed {
                    point: point.as_str(),
                    command: h.command.clone(),
                    status,
                });
            }
        }
        Ok(())
    }
}

/// A bare command name looked up on the caller's `PATH` (Go's
/// `exec.Command` does this before the hook's own environment applies).
fn resolve(command: &str) -> PathBuf {
    if command.contains('/') {
        return PathBuf::from(command);
    }
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(command))
                .find(|c| c.is_file())
        })
        .unwrap_or_else(|| PathBuf::from(command))
}

/// The four steps of an apply (mig-parted's `MigConfigApplier`), which the
/// orchestration calls between hooks. `E` is the applier's error.
pub trait Applier {
    type Error: std::error::Error + 'static;
    /// Whether every selected GPU already has the wanted MIG mode.
    fn mode_matches(&mut self) -> Result<bool, Self::Error>;
    fn apply_mode(&mut self) -> Result<(), Self::Error>;
    /// Whether every selected GPU already holds the wanted instances.
    fn config_matches(&mut self) -> Result<bool, Self::Error>;
    fn apply_config(&mut self) -> Result<(), Self::Error>;
}

/// Why an orchestrated apply failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error(transparent)]
    Apply(E),
}

/// mig-parted's `ApplyMigConfigWithHooks`: apply-start; if the mode differs,
/// pre-apply-mode and the mode change; unless `mode_only`, if the instances
/// differ, pre-apply-config and the instance change; apply-exit always (its
/// failure is the result only when nothing failed before it).
pub fn apply_with_hooks<A: Applier>(
    hooks: &Hooks,
    envs: &BTreeMap<String, String>,
    show_output: bool,
    mode_only: bool,
    applier: &mut A,
) -> Result<(), ApplyError<A::Error>> {
    hooks.run(HookPoint::ApplyStart, envs, show_output)?;
    let body = (|| -> Result<(), ApplyError<A::Error>> {
        if !applier.mode_matches().map_err(ApplyError::Apply)? {
            hooks.run(HookPoint::PreApplyMode, envs, show_output)?;
            applier.apply_mode().map_err(ApplyError::Apply)?;
        }
        if mode_only {
            return Ok(());
        }
        if !applier.config_matches().map_err(ApplyError::Apply)? {
            hooks.run(HookPoint::PreApplyConfig, envs, show_output)?;
            applier.apply_config().map_err(ApplyError::Apply)?;
        }
        Ok(())
    })();
    let exit = hooks.run(HookPoint::ApplyExit, envs, show_output);
    body?;
    exit?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        mode_ok: bool,
        config_ok: bool,
        calls: Vec<&'static str>,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("fake")]
    struct FakeError;

    impl Applier for Fake {
        type Error = FakeError;
        fn mode_matches(&mut self) -> Result<bool, FakeError> {
            Ok(self.mode_ok)
        }
        fn apply_mode(&mut self) -> Result<(), FakeError> {
            self.calls.push("mode");
            Ok(())
        }
        fn config_matches(&mut self) -> Result<bool, FakeError> {
            Ok(self.config_ok)
        }
        fn apply_config(&mut self) -> Result<(), FakeError> {
            self.calls.push("config");
            Err(FakeError)
        }
    }

    fn hooks_logging_to(log: &Path) -> Hooks {
        let mut text = String::from("version: v1\nhooks:\n");
        for p in [
            "apply-start",
            "pre-apply-mode",
            "pre-apply-config",
            "apply-exit",
        ] {
            text.push_str(&format!(
                "  {p}:\n  - command: /bin/sh\n    args: [\"-c\", \"echo {p} $MIG_PARTED_SELECTED_CONFIG $HOME$MINE >> {}\"]\n    envs: {{MINE: \"-x\"}}\n",
                log.display()
            ));
        }
        Hooks::parse(&text, "hooks.yaml").unwrap()
    }

    /// Proves the orchestration order, that hooks see the MIG_PARTED_*
    /// values and their own envs but not the caller's environment, and that
    /// apply-exit runs after a failed step.
    #[test]
    fn hooks_run_in_order_with_their_environment() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let hooks = hooks_logging_to(&log);
        let envs = BTreeMap::from([(
            "MIG_PARTED_SELECTED_CONFIG".to_string(),
            "all-balanced".to_string(),
        )]);
        let mut a = Fake {
            mode_ok: false,
            config_ok: false,
            calls: Vec::new(),
        };
        let r = apply_with_hooks(&hooks, &envs, false, false, &mut a);
        assert!(matches!(r, Err(ApplyError::Apply(FakeError))));
        assert_eq!(a.calls, ["mode", "config"]);
        let got = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            got,
            "apply-start all-balanced -x\npre-apply-mode all-balanced -x\npre-apply-config all-balanced -x\napply-exit all-balanced -x\n"
        );
        // Nothing to do: only apply-start and apply-exit run.
        std::fs::remove_file(&log).unwrap();
        let mut a = Fake {
            mode_ok: true,
            config_ok: true,
            calls: Vec::new(),
        };
        apply_with_hooks(&hooks, &envs, false, false, &mut a).unwrap();
        assert!(a.calls.is_empty());
        let got = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            got,
            "apply-start all-balanced -x\napply-exit all-balanced -x\n"
        );
    }

    /// Proves a failing hook stops the apply with its name, and unknown hook
    /// points are refused at the line they are on.
    #[test]
    fn failures_and_bad_files() {
        let hooks = Hooks::parse(
            "version: v1\nhooks:\n  pre-apply-mode:\n  - command: /bin/false\n",
            "h",
        )
        .unwrap();
        let mut a = Fake {
            mode_ok: false,
            config_ok: true,
            calls: Vec::new(),
        };
        let e = apply_with_hooks(&hooks, &BTreeMap::new(), false, false, &mut a).unwrap_err();
        assert!(
            e.to_string().contains("pre-apply-mode hook: /bin/false"),
            "{e}"
        );
        assert!(a.calls.is_empty());
        match Hooks::parse("version: v1\nhooks:\n  pre-apply-mod: []\n", "h") {
            Err(ConfigError::Parse { line, message, .. }) => {
                assert_eq!(line, Some(3));
                assert!(message.contains("pre-apply-mod"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
