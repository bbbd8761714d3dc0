//! Fault injection: which mutating operation of a machine fails, crashes
//! mid-write or (for the fake NVML library) races a destroy, parsed from
//! `MIGCTL_SIM_FAULT` or set per machine with `SimMachine::with_fault`.

use mig_model::NvmlError;

/// Environment variable for fault injection.
pub const ENV_FAULT: &str = "MIGCTL_SIM_FAULT";

/// A fault to inject at the Nth mutating operation of a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fail with this NVML error, changing nothing.
    Fail(u32, NvmlError),
    /// Die mid-write, as a crash would.
    Abort(u32),
    /// For the fake NVML library only: at the Nth `nvmlGpuInstanceGetInfo`
    /// of the process, the GPU instance asked about is destroyed first (its
    /// CIs, then itself), as another client racing the caller would, so
    /// the call finds it gone. Tests how a client copes with an instance
    /// vanishing between enumeration and query; mutating operations ignore it.
    Vanish(u32),
}

/// A fault specification that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ENV_FAULT}={spec:?}: expected fail:N[:ERROR], abort:N or vanish:N (N >= 1, ERROR like IN_USE)")]
pub struct BadFault {
    pub spec: String,
}

impl Fault {
    /// Parse `fail:N[:ERROR]`, `abort:N` or `vanish:N`.
    pub fn parse(s: &str) -> Result<Fault, BadFault> {
        let bad = || BadFault {
            spec: s.to_string(),
        };
        let parts: Vec<&str> = s.split(':').collect();
        let n: u32 = parts
            .get(1)
            .and_then(|n| n.parse().ok())
            .filter(|&n| n >= 1)
            .ok_or_else(bad)?;
        match (parts[0], parts.len()) {
            ("fail", 2) => Ok(Fault::Fail(n, NvmlError::Unknown)),
            ("fail", 3) => Ok(Fault::Fail(n, NvmlError::parse(parts[2]).ok_or_else(bad)?)),
            ("abort", 2) => Ok(Fault::Abort(n)),
            ("vanish", 2) => Ok(Fault::Vanish(n)),
            _ => Err(bad()),
        }
    }

    /// The fault configured in the environment, if any.
    pub fn from_env() -> Result<Option<Fault>, BadFault> {
        match std::env::var(ENV_FAULT) {
            Ok(s) if !s.trim().is_empty() => Fault::parse(s.trim()).map(Some),
            _ => Ok(None),
        }
    }
}
