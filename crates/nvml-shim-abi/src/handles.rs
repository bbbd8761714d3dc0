//! Opaque NVML handles (`nvmlDevice_t`, `nvmlGpuInstance_t`,
//! `nvmlComputeInstance_t`) as tagged integers.
//!
//! Clients never dereference a handle, so instead of pointing at memory each
//! handle *is* its own description: a magic tag, the kind, the GPU index, and
//! for instances the GI/CI IDs and profile IDs. That makes handles valid in
//! any process that opens the same machine, needs no table that could leak
//! or dangle, and lets every call detect:
//! - garbage or a null pointer (no magic, or a bad check field): `INVALID_ARGUMENT`;
//! - a handle of the wrong kind (a GPU instance passed as a device): `INVALID_ARGUMENT`;
//! - a handle whose instance was destroyed, or destroyed and replaced by one
//!   of another profile at the same ID: resolving it against the machine
//!   fails, and the caller answers `NOT_FOUND` (see `machine.rs`).
//!
//! Layout of the 64 bits (high to low):
//! `magic:16 | kind:4 | gpu:6 | gi:4 | ci:4 | gi_profile:8 | ci_profile:8 | check:14`.
//! The magic makes the value a non-canonical address on x86-64 and AArch64,
//! so it can never collide with a real pointer a client might pass by mistake.

use crate::errors::{Fail, Result};

#[cfg(not(target_pointer_width = "64"))]
compile_error!("nvml-shim encodes handles in 64-bit pointers");

const MAGIC: u64 = 0x6e76; // "nv"
const CHECK_BITS: u32 = 14;

/// What a handle stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A physical GPU (`nvmlDeviceGetHandleByIndex`).
    Gpu = 1,
    /// A MIG device, i.e. one compute instance seen as a device.
    MigDevice = 2,
    /// `nvmlGpuInstance_t`.
    GpuInstance = 3,
    /// `nvmlComputeInstance_t`.
    ComputeInstance = 4,
}

impl Kind {
    fn from_bits(v: u64) -> Option<Kind> {
        match v {
            1 => Some(Kind::Gpu),
            2 => Some(Kind::MigDevice),
            3 => Some(Kind::GpuInstance),
            4 => Some(Kind::ComputeInstance),
            _ => None,
        }
    }
}

/// The decoded content of a handle. Fields that a kind does not use are 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle {
    pub kind: Kind,
    /// NVML index of the (parent) GPU.
    pub gpu: u32,
    /// GPU-instance ID.
    pub gi: u32,
    /// Compute-instance ID.
    pub ci: u32,
    /// GI profile ID of the instance when the handle was made (detects reuse).
    pub gi_profile: u32,
    /// CI profile ID of the instance when the handle was made.
    pub ci_profile: u32,
}

/// (shift, width) of each field.
const KIND: (u32, u32) = (44, 4);
const GPU: (u32, u32) = (38, 6);
const GI: (u32, u32) = (34, 4);
const CI: (u32, u32) = (30, 4);
const GI_PROFILE: (u32, u32) = (22, 8);
const CI_PROFILE: (u32, u32) = (14, 8);

fn field(v: u64, (shift, width): (u32, u32)) -> u32 {
    ((v >> shift) & ((1 << width) - 1)) as u32
}

fn put(value: u32, (shift, width): (u32, u32)) -> Option<u64> {
    (u64::from(value) < (1 << width)).then(|| u64::from(value) << shift)
}

/// A 14-bit mix of the upper 50 bits, so a handle with flipped bits is refused.
fn check(upper: u64) -> u64 {
    let x = (upper >> CHECK_BITS).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> (64 - CHECK_BITS)) & ((1 << CHECK_BITS) - 1)
}

impl Handle {
    pub fn gpu(gpu: u32) -> Handle {
        Handle {
            kind: Kind::Gpu,
            gpu,
            gi: 0,
            ci: 0,
            gi_profile: 0,
            ci_profile: 0,
        }
    }

    pub fn gpu_instance(gpu: u32, gi: u32, gi_profile: u32) -> Handle {
        Handle {
            kind: Kind::GpuInstance,
            gi,
            gi_profile,
            ..Handle::gpu(gpu)
        }
    }

    /// A compute instance (`kind` = [`Kind::ComputeInstance`]) or the MIG
    /// device of it ([`Kind::MigDevice`]).
    pub fn compute(kind: Kind, gpu: u32, gi: (u32, u32), ci: (u32, u32)) -> Handle {
        Handle {
            kind,
            gpu,
            gi: gi.0,
            gi_profile: gi.1,
            ci: ci.0,
            ci_profile: ci.1,
        }
    }

    /// The integer a client holds. Fails only if an ID does not fit its field,
    /// which the catalog rules out (GPU < 64, GI < 16, CI < 16, profiles < 256).
    pub fn encode(self) -> Result<u64> {
        let fields = [
            put(self.kind as u32, KIND),
            put(self.gpu, GPU),
            put(self.gi, GI),
            put(self.ci, CI),
            put(self.gi_profile, GI_PROFILE),
            put(self.ci_profile, CI_PROFILE),
        ];
        let mut v = MAGIC << 48;
        for f in fields {
            v |= f.ok_or(Fail::UNKNOWN)?;
        }
        Ok(v | check(v))
    }

    /// Read a client's handle; anything we did not make is `INVALID_ARGUMENT`.
    pub fn decode(v: u64) -> Result<Handle> {
        if v >> 48 != MAGIC || v & ((1 << CHECK_BITS) - 1) != check(v) {
            return Err(Fail::INVALID_ARGUMENT);
        }
        let kind = Kind::from_bits(u64::from(field(v, KIND))).ok_or(Fail::INVALID_ARGUMENT)?;
        Ok(Handle {
            kind,
            gpu: field(v, GPU),
            gi: field(v, GI),
            ci: field(v, CI),
            gi_profile: field(v, GI_PROFILE),
            ci_profile: field(v, CI_PROFILE),
        })
    }

    /// Decode and require one of `kinds`.
    pub fn decode_kind(v: u64, kinds: &[Kind]) -> Result<Handle> {
        let h = Handle::decode(v)?;
        if kinds.contains(&h.kind) {
            Ok(h)
        } else {
            Err(Fail::INVALID_ARGUMENT)
        }
    }

    /// As a C handle type (`nvmlDevice_t` and friends are `*mut Opaque`).
    pub fn to_ptr<T>(self) -> Result<*mut T> {
        let v = usize::try_from(self.encode()?).map_err(|_| Fail::UNKNOWN)?;
        Ok(std::ptr::without_provenance_mut(v))
    }

    /// From a C handle; null and foreign pointers are `INVALID_ARGUMENT`.
    pub fn from_ptr<T>(p: *mut T, kinds: &[Kind]) -> Result<Handle> {
        Handle::decode_kind(p.addr() as u64, kinds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves every kind round-trips through the integer form with its fields.
    #[test]
    fn handles_round_trip() {
        let all = [
            Handle::gpu(31),
            Handle::gpu_instance(3, 14, 19),
            Handle::compute(Kind::ComputeInstance, 7, (2, 9), (7, 2)),
            Handle::compute(Kind::MigDevice, 0, (13, 67), (0, 8)),
        ];
        for h in all {
            let v = h.encode().unwrap();
            assert_eq!(Handle::decode(v), Ok(h));
            let p: *mut u8 = h.to_ptr().unwrap();
            assert_eq!(Handle::from_ptr(p, &[h.kind]), Ok(h));
        }
    }

    /// Proves null, real pointers, bit flips and wrong kinds are refused.
    #[test]
    fn bad_handles_are_refused() {
        let v = Handle::gpu_instance(1, 7, 19).encode().unwrap();
        assert_eq!(Handle::decode(0), Err(Fail::INVALID_ARGUMENT));
        let on_stack = 5u32;
        let real = &on_stack as *const u32 as u64;
        assert_eq!(Handle::decode(real), Err(Fail::INVALID_ARGUMENT));
        for bit in 0..64 {
            assert!(Handle::decode(v ^ (1 << bit)).is_err(), "bit {bit}");
        }
        assert_eq!(
            Handle::decode_kind(v, &[Kind::Gpu, Kind::MigDevice]),
            Err(Fail::INVALID_ARGUMENT)
        );
        assert!(Handle::decode_kind(v, &[Kind::GpuInstance]).is_ok());
    }

    /// Proves out-of-range IDs are an error, never a silently truncated handle.
    #[test]
    fn oversized_fields_do_not_encode() {
        assert_eq!(Handle::gpu(64).encode(), Err(Fail::UNKNOWN));
        assert_eq!(Handle::gpu_instance(0, 16, 0).encode(), Err(Fail::UNKNOWN));
        assert_eq!(Handle::gpu_instance(0, 1, 256).encode(), Err(Fail::UNKNOWN));
    }
}
