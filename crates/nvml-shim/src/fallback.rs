//! The answer of every nvml.h function the simulator does not model, so that
//! no client ever meets a missing symbol (`undefined symbol` in a C program,
//! `FunctionNotFound` in pynvml).
//!
//! The exported functions themselves are generated (`generated.rs`, from the
//! bindings of `nvml-wrapper-sys` and `gen/nvml-api13-extra.txt`; see
//! `examples/gen_exports.rs`). Each checks what a real driver checks first,
//! in the same order, and then gives the answer of its [`Class`]:
//! 1. before `nvmlInit`: `UNINITIALIZED`;
//! 2. its object: a device, GPU-instance or compute-instance handle is
//!    resolved (`INVALID_ARGUMENT` for garbage, `NOT_FOUND` once the instance
//!    is gone); a unit handle is `INVALID_ARGUMENT` (the machine has no S-class
//!    units: `nvmlUnitGetCount` is 0); a vGPU instance is `INVALID_ARGUMENT`
//!    for 0 and `NOT_FOUND` otherwise, a vGPU type `INVALID_ARGUMENT` (the
//!    simulated GPUs run bare-metal, no vGPU host driver); an event set must
//!    be one `nvmlEventSetCreate` made (`events.rs`);
//! 3. a setter (any function that changes the GPU) answers `NO_PERMISSION`
//!    to a non-root caller, as the driver does, and `NOT_SUPPORTED` to root:
//!    the simulator never reports success for a change it did not make;
//! 4. a getter answers `NOT_SUPPORTED`: the value is not modelled.

use crate::call_log::entry;
use crate::errors::{Fail, Result, Return};
use crate::handles::{Handle, Kind};
use crate::machine;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::c_uint;

/// How an unmodelled function answers once its arguments check out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Reads something: `NOT_SUPPORTED`.
    Getter,
    /// Changes something: `NO_PERMISSION` as non-root, else `NOT_SUPPORTED`.
    Setter,
}

/// Verbs that make a function a setter, matched after the area prefix.
/// (Registering for events and making or freeing an event set change
/// nothing on a GPU: those are not setters.)
const MUTATING: [&str; 16] = [
    "Set",
    "Reset",
    "Clear",
    "Modify",
    "Remove",
    "Discover",
    "Force",
    "Update",
    "Activate",
    "Freeze",
    "ReadWrite",
    "Inject",
    "Create",
    "Destroy",
    "Enable",
    "Disable",
];

/// Area prefixes, longest first.
const PREFIXES: [&str; 12] = [
    "nvmlSystemEventSet",
    "nvmlComputeInstance",
    "nvmlVgpuInstance",
    "nvmlGpuInstance",
    "nvmlEventSet",
    "nvmlVgpuType",
    "nvmlDevice",
    "nvmlSystem",
    "nvmlUnit",
    "nvmlGpm",
    "nvmlVgpu",
    "nvml",
];

/// The class of a function by its name: a setter when a mutating verb
/// follows the area prefix anywhere in the name (`nvmlDeviceSetFanSpeed_v2`,
/// `nvmlDeviceWorkloadPowerProfileClearRequestedProfiles`), else a getter.
pub fn classify(name: &str) -> Class {
    if name.starts_with("nvmlSystemEventSet") {
        return Class::Getter;
    }
    let rest = PREFIXES
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name);
    let mutating = MUTATING.iter().any(|verb| {
        rest.match_indices(verb).any(|(at, _)| {
            // A verb starts a word: the name's start or after a lower-case letter
            // or digit ("ReadWrite" yes, "Offset" no).
            let word_start = at == 0
                || rest[..at]
                    .chars()
                    .last()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            let word_end = rest[at + verb.len()..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_ascii_lowercase());
            word_start && word_end
        })
    });
    if mutating {
        Class::Setter
    } else {
        Class::Getter
    }
}

/// The object a function acts on (its first argument), checked before the
/// class's answer.
#[derive(Debug, Clone, Copy)]
pub enum Subject {
    None,
    Device(sys::nvmlDevice_t),
    GpuInstance(sys::nvmlGpuInstance_t),
    ComputeInstance(sys::nvmlComputeInstance_t),
    Unit,
    VgpuInstance(c_uint),
    VgpuType(c_uint),
    EventSet(sys::nvmlEventSet_t),
}

fn check(subject: Subject) -> Result<()> {
    let st = machine::snapshot()?;
    match subject {
        Subject::None => Ok(()),
        Subject::Device(d) => machine::device(&st, d).map(|_| ()),
        Subject::GpuInstance(g) => machine::gpu_instance(&st, g).map(|_| ()),
        Subject::ComputeInstance(c) => {
            Handle::from_ptr(c, &[Kind::ComputeInstance])?;
            machine::compute_instance(&st, c).map(|_| ())
        }
        Subject::EventSet(set) => crate::events::set_id(set).map(|_| ()),
        Subject::Unit | Subject::VgpuType(_) => Err(Fail::INVALID_ARGUMENT),
        Subject::VgpuInstance(0) => Err(Fail::INVALID_ARGUMENT),
        Subject::VgpuInstance(_) => Err(Fail::NOT_FOUND),
    }
}

/// What `name` answers for `subject`, as the module documentation orders it.
pub fn answer(name: &str, subject: Subject) -> Return {
    entry(name, || {
        check(subject)?;
        match classify(name) {
            Class::Setter if !mig_sim::is_root() => Err(Fail::NO_PERMISSION),
            Class::Setter | Class::Getter => Err(Fail::NOT_SUPPORTED),
        }
    })
}

/// One line for `docs/nvml-functions.md`: what an unmodelled function with
/// this first argument answers.
pub fn describe(name: &str, first_arg_type: Option<&str>) -> String {
    let object = match first_arg_type {
        Some("nvmlUnit_t") => {
            return "no S-class units exist (`nvmlUnitGetCount` is 0): INVALID_ARGUMENT".into()
        }
        Some("nvmlVgpuTypeId_t") => {
            return "no vGPU types on a bare-metal GPU: INVALID_ARGUMENT".into()
        }
        Some("nvmlVgpuInstance_t") => {
            return "no vGPU instances: INVALID_ARGUMENT for 0, else NOT_FOUND".into()
        }
        Some("nvmlEventSet_t") => "event set checked, then ",
        Some("nvmlDevice_t") => "device handle checked, then ",
        Some("nvmlGpuInstance_t") => "GPU-instance handle checked, then ",
        Some("nvmlComputeInstance_t") => "compute-instance handle checked, then ",
        _ => "",
    };
    match classify(name) {
        Class::Getter => format!("not modelled: {object}NOT_SUPPORTED"),
        Class::Setter => {
            format!("setter, not modelled: {object}NO_PERMISSION (non-root), NOT_SUPPORTED (root)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the name rule: mutating verbs as words make setters, reads and
    /// words that merely contain a verb's letters stay getters.
    #[test]
    fn classify_by_verb() {
        for setter in [
            "nvmlDeviceSetFanSpeed_v2",
            "nvmlDeviceResetGpuLockedClocks",
            "nvmlDeviceClearEccErrorCounts",
            "nvmlDeviceWorkloadPowerProfileClearRequestedProfiles",
            "nvmlDeviceReadWritePRM_v1",
            "nvmlDevicePowerSmoothingActivatePresetProfile",
            "nvmlDeviceFreezeNvLinkUtilizationCounter",
            "nvmlSetVgpuVersion",
            "nvmlGpmSetStreamingEnabled",
        ] {
            assert_eq!(classify(setter), Class::Setter, "{setter}");
        }
        for getter in [
            "nvmlDeviceGetClockOffsets",
            "nvmlDeviceGetSupportedEventTypes",
            "nvmlEventSetWait_v2",
            "nvmlDeviceGetPowerManagementLimitConstraints",
            "nvmlDeviceReadPRMCounters_v1",
            "nvmlGpmQueryIfStreamingEnabled",
            "nvmlDeviceGetGpcClkVfOffset",
            "nvmlSystemEventSetWait",
            "nvmlSystemEventSetCreate",
            "nvmlSystemRegisterEvents",
        ] {
            assert_eq!(classify(getter), Class::Getter, "{getter}");
        }
    }
}
