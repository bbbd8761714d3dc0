//! The GPU Operator MIG manager's node-label protocol
//! (NVIDIA/mig-parted `deployments/container/reconfigure-mig.sh`, commit
//! bd7160f4): the node asks for a config with `nvidia.com/mig.config=NAME`,
//! and the manager reports on `nvidia.com/mig.config.state`:
//! - `failed` when the config is not valid in the file;
//! - `success` at once when the GPUs already match it (`assert`);
//! - `failed` when a MIG mode change did not take effect although the state
//!   was already `rebooting` (the reboot did not help);
//! - otherwise `pending` while it applies, then `rebooting` when a mode
//!   change needs a reboot and rebooting is allowed, else `success` or
//!   `failed` by the outcome of the apply.

use serde::Serialize;

/// The label's key.
pub const STATE_LABEL: &str = "nvidia.com/mig.config.state";
/// The label that selects the config.
pub const CONFIG_LABEL: &str = "nvidia.com/mig.config";

/// A value of `nvidia.com/mig.config.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigState {
    Pending,
    Success,
    Failed,
    Rebooting,
}

impl ConfigState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigState::Pending => "pending",
            ConfigState::Success => "success",
            ConfigState::Failed => "failed",
            ConfigState::Rebooting => "rebooting",
        }
    }

    pub fn parse(s: &str) -> Option<ConfigState> {
        [
            ConfigState::Pending,
            ConfigState::Success,
            ConfigState::Failed,
            ConfigState::Rebooting,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// What is known when the manager decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// The selected config exists and is valid in the config file.
    pub config_valid: bool,
    /// The label's current value.
    pub previous: Option<ConfigState>,
    /// The GPUs already match the config (`assert`).
    pub applied: bool,
    /// Their MIG modes already match it (`assert --mode-only`).
    pub mode_applied: bool,
    /// After applying the mode, it still does not match (it needs a reboot,
    /// as an A100 whose reset is refused).
    pub mode_needs_reboot: bool,
    /// `-r`: the manager may reboot the node.
    pub with_reboot: bool,
    /// The apply's outcome, when it ran.
    pub apply_succeeded: Option<bool>,
}

/// The values the manager writes, in order; the last is what stays.
pub fn transitions(f: Facts) -> Vec<ConfigState> {
    use ConfigState::*;
    if !f.config_valid {
        return vec![Failed];
    }
    if f.applied {
        return vec![Success];
    }
    if !f.mode_applied && f.previous == Some(Rebooting) {
        return vec![Failed];
    }
    if f.mode_needs_reboot && f.with_reboot {
        return vec![Pending, Rebooting];
    }
    match f.apply_succeeded {
        None => vec![Pending],
        Some(true) => vec![Pending, Success],
        Some(false) => vec![Pending, Failed],
    }
}

/// The value that stays (the last transition).
pub fn final_state(f: Facts) -> ConfigState {
    transitions(f)
        .last()
        .copied()
        .unwrap_or(ConfigState::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConfigState::*;

    fn base() -> Facts {
        Facts {
            config_valid: true,
            previous: None,
            applied: false,
            mode_applied: true,
            mode_needs_reboot: false,
            with_reboot: false,
            apply_succeeded: Some(true),
        }
    }

    /// Proves each branch of reconfigure-mig.sh's state protocol.
    #[test]
    fn protocol() {
        assert_eq!(
            transitions(Facts {
                config_valid: false,
                ..base()
            }),
            [Failed]
        );
        assert_eq!(
            transitions(Facts {
                applied: true,
                ..base()
            }),
            [Success]
        );
        assert_eq!(transitions(base()), [Pending, Success]);
        assert_eq!(
            transitions(Facts {
                apply_succeeded: Some(false),
                ..base()
            }),
            [Pending, Failed]
        );
        assert_eq!(
            transitions(Facts {
                apply_succeeded: None,
                ..base()
            }),
            [Pending]
        );
        let reboot = Facts {
            mode_applied: false,
            mode_needs_reboot: true,
            with_reboot: true,
            ..base()
        };
        assert_eq!(transitions(reboot), [Pending, Rebooting]);
        assert_eq!(
            final_state(Facts {
                previous: Some(Rebooting),
                ..reboot
            }),
            Failed
        );
        assert_eq!(ConfigState::parse("rebooting"), Some(Rebooting));
    }
}
