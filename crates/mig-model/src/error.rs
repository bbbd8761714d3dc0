//! NVML's error kinds, shared by every backend so callers match on one type.

use serde::{Deserialize, Serialize};

/// An NVML return code other than success. Backends map their failures here;
/// the CLI prints [`NvmlError::message`] exactly as nvidia-smi does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum NvmlError {
    #[error("Uninitialized")]
    Uninitialized,
    #[error("Invalid Argument")]
    InvalidArgument,
    #[error("Not Supported")]
    NotSupported,
    #[error("Insufficient Permissions")]
    NoPermission,
    #[error("Not Found")]
    NotFound,
    #[error("Insufficient Size")]
    InsufficientSize,
    #[error("Driver Not Loaded")]
    DriverNotLoaded,
    #[error("GPU requires restart")]
    ResetRequired,
    #[error("In use by another client")]
    InUse,
    #[error("Insufficient Resources")]
    InsufficientResources,
    #[error("Unknown Error")]
    Unknown,
}

impl NvmlError {
    /// All kinds, for parsing and tests.
    pub const ALL: [NvmlError; 11] = [
        NvmlError::Uninitialized,
        NvmlError::InvalidArgument,
        NvmlError::NotSupported,
        NvmlError::NoPermission,
        NvmlError::NotFound,
        NvmlError::InsufficientSize,
        NvmlError::DriverNotLoaded,
        NvmlError::ResetRequired,
        NvmlError::InUse,
        NvmlError::InsufficientResources,
        NvmlError::Unknown,
    ];

    /// The `nvmlReturn_t` value.
    pub const fn code(self) -> u32 {
        match self {
            NvmlError::Uninitialized => 1,
            NvmlError::InvalidArgument => 2,
            NvmlError::NotSupported => 3,
            NvmlError::NoPermission => 4,
            NvmlError::NotFound => 6,
            NvmlError::InsufficientSize => 7,
            NvmlError::DriverNotLoaded => 9,
            NvmlError::ResetRequired => 16,
            NvmlError::InUse => 19,
            NvmlError::InsufficientResources => 23,
            NvmlError::Unknown => 999,
        }
    }

    /// Map an `nvmlReturn_t` back; unknown codes become [`NvmlError::Unknown`].
    pub fn from_code(code: u32) -> Option<NvmlError> {
        if code == 0 {
            return None;
        }
        Some(
            NvmlError::ALL
                .into_iter()
                .find(|e| e.code() == code)
                .unwrap_or(NvmlError::Unknown),
        )
    }

    /// The NVML constant's suffix (`NVML_ERROR_<NAME>`), as `MIGCTL_SIM_FAULT` takes it.
    pub const fn name(self) -> &'static str {
        match self {
            NvmlError::Uninitialized => "UNINITIALIZED",
            NvmlError::InvalidArgument => "INVALID_ARGUMENT",
            NvmlError::NotSupported => "NOT_SUPPORTED",
            NvmlError::NoPermission => "NO_PERMISSION",
            NvmlError::NotFound => "NOT_FOUND",
            NvmlError::InsufficientSize => "INSUFFICIENT_SIZE",
            NvmlError::DriverNotLoaded => "DRIVER_NOT_LOADED",
            NvmlError::ResetRequired => "RESET_REQUIRED",
            NvmlError::InUse => "IN_USE",
            NvmlError::InsufficientResources => "INSUFFICIENT_RESOURCES",
            NvmlError::Unknown => "UNKNOWN",
        }
    }

    /// Parse `IN_USE`, `NVML_ERROR_IN_USE` or the numeric code.
    pub fn parse(s: &str) -> Option<NvmlError> {
        let s = s.trim();
        let s = s.strip_prefix("NVML_ERROR_").unwrap_or(s);
        if let Ok(n) = s.parse::<u32>() {
            return NvmlError::from_code(n);
        }
        NvmlError::ALL
            .into_iter()
            .find(|e| e.name().eq_ignore_ascii_case(s))
    }

    /// The text `nvmlErrorString` returns, which nvidia-smi prints.
    pub fn message(self) -> String {
        self.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves code/name round trips, so fault injection and the shim agree with NVML.
    #[test]
    fn codes_and_names_round_trip() {
        for e in NvmlError::ALL {
            assert_eq!(NvmlError::from_code(e.code()), Some(e));
            assert_eq!(NvmlError::parse(e.name()), Some(e));
            assert_eq!(
                NvmlError::parse(&format!("NVML_ERROR_{}", e.name())),
                Some(e)
            );
        }
        assert_eq!(NvmlError::from_code(0), None);
        assert_eq!(NvmlError::parse("bogus"), None);
    }
}
