//! Names and numbers derived from instances: device names, MIG UUIDs and
//! nvidia-caps minor numbers. Each rule lives in exactly one function here.

use crate::catalog::{CiProfile, GiProfile};
use crate::types::{ComputeInstanceId, GpuInstanceId};
use sha1::{Digest, Sha1};

/// The GI profile name as NVML reports it (`MIG 3g.20gb`).
pub fn gi_profile_name(gi: &GiProfile) -> String {
    format!("MIG {}", gi.name)
}

/// Look a GI profile up by what a person types: its profile ID (`9`) or its
/// name (`3g.20gb`, or NVML's `MIG 3g.20gb`), in any case. The one lookup
/// the command line, config files and planning verbs share.
pub fn find_gi_profile<'a>(
    profiles: impl IntoIterator<Item = &'a GiProfile>,
    s: &str,
) -> Option<&'a GiProfile> {
    let s = s.trim();
    let name = s.strip_prefix("MIG ").unwrap_or(s);
    let id = s.parse::<u32>().ok();
    profiles.into_iter().find(|p| match id {
        Some(id) => p.id == id,
        None => p.name.eq_ignore_ascii_case(name),
    })
}

/// NVML's name of a MIG device handle (`nvmlDeviceGetName`): the board's
/// name and the CI profile's NVML name ([`ci_profile_name`]), as in
/// `NVIDIA A100-SXM4-40GB MIG 1c.3g.20gb`.
pub fn mig_device_name(board: &str, ci_profile_name: &str) -> String {
    format!("{board} {ci_profile_name}")
}

/// A compute-instance profile's short name inside a GI of profile `gi`:
/// the full-size CI carries the GI's name (`3g.20gb`), smaller ones are
/// prefixed with their compute slices (`1c.3g.20gb`), as in the guide's
/// "MIG Device Names" section.
pub fn ci_short_name(gi: &GiProfile, ci: &CiProfile) -> String {
    if ci.slices == gi.slices {
        gi.name.clone()
    } else {
        format!("{}c.{}", ci.slices, gi.name)
    }
}

/// The CI profile name as NVML reports it (`MIG 1c.3g.20gb`).
pub fn ci_profile_name(gi: &GiProfile, ci: &CiProfile) -> String {
    format!("MIG {}", ci_short_name(gi, ci))
}

/// RFC-4122 text form of 16 bytes.
fn uuid_text(b: &[u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The salt that `_nvGenerateUuid` in open-gpu-kernel-modules (`gpu_uuid.c`)
/// hashes first.
const UUID_SALT: [u8; 16] = [
    0xc8, 0x16, 0xc9, 0xa3, 0x52, 0x24, 0x56, 0xbf, 0x9d, 0x9a, 0xac, 0x7e, 0xa7, 0x03, 0xfb, 0x5b,
];

/// A MIG UUID computed as the driver does (mig-facts 5): SHA-1 over the salt,
/// `"NVIDIA GPU"`, chip ID and PDI, then `"SMC"`, swizzle ID (= GI ID) and
/// syspipe; version-5 and RFC variant bits set; `MIG-` prefix.
/// GI UUIDs use `syspipe = u32::MAX` (`GR_INDEX_INVALID`).
pub fn mig_uuid(chip_id: u16, pdi: u64, gi: GpuInstanceId, syspipe: u32) -> String {
    let mut h = Sha1::new();
    h.update(UUID_SALT);
    h.update(b"NVIDIA GPU");
    h.update([0x02]);
    h.update(chip_id.to_le_bytes());
    h.update([0x08]);
    h.update(pdi.to_le_bytes());
    h.update([0x0b]);
    h.update(b"SMC");
    h.update(gi.0.to_le_bytes());
    h.update(syspipe.to_le_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    format!("MIG-{}", uuid_text(&b))
}

/// A board UUID for a simulated GPU: stable for a (seed, index) pair. Real
/// discrete-GPU UUIDs carry no version bits (they come from the board GID),
/// so none are set here either.
pub fn sim_gpu_uuid(seed: &str, index: u32) -> String {
    let mut h = Sha1::new();
    h.update(b"migctl simulated GPU");
    h.update(seed.as_bytes());
    h.update(index.to_le_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    format!("GPU-{}", uuid_text(&b))
}

/// A 64-bit per-device identifier (`nvmlDeviceGetPdi`) for a simulated GPU.
pub fn sim_pdi(gpu_uuid: &str) -> u64 {
    let d = Sha1::digest(gpu_uuid.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b)
}

/// nvidia-caps minor of `/dev/nvidia-caps/nvidia-cap<N>` for `mig/config`.
pub const CAPS_CONFIG_MINOR: u32 = 1;
/// nvidia-caps minor for `mig/monitor`.
pub const CAPS_MONITOR_MINOR: u32 = 2;

/// GPU slots of the driver's nvidia-caps table (`kernel-open/nvidia/nv-caps.c`):
/// `gpu0` .. `gpu31`, each with GI IDs 0..=14 and CI IDs 0..=7, whether or
/// not such a GPU or instance exists. `/proc/driver/nvidia-caps/mig-minors`
/// lists all of them.
pub const CAPS_GPU_SLOTS: u32 = 32;
/// GPU-instance slots per GPU in the nvidia-caps table (swizzle IDs 0..=14).
pub const CAPS_GI_SLOTS: u32 = 15;
/// Compute-instance slots per GPU instance in the nvidia-caps table.
pub const CAPS_CI_SLOTS: u32 = 8;

/// nvidia-caps minor of `gpu<G>/gi<I>/access`, where `gpu_minor` is the
/// `/dev/nvidiaN` minor. Table order of `kernel-open/nvidia/nv-caps.c`:
/// 15 GIs x (1 + 8 CIs) = 135 entries per GPU, after config (1) and monitor (2).
pub fn gi_caps_minor(gpu_minor: u32, gi: GpuInstanceId) -> u32 {
    let per_gi = 1 + CAPS_CI_SLOTS;
    CAPS_MONITOR_MINOR + 1 + CAPS_GI_SLOTS * per_gi * gpu_minor + per_gi * gi.0
}

/// nvidia-caps minor of `gpu<G>/gi<I>/ci<C>/access`.
pub fn ci_caps_minor(gpu_minor: u32, gi: GpuInstanceId, ci: ComputeInstanceId) -> u32 {
    gi_caps_minor(gpu_minor, gi) + 1 + ci.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the names against the guide's `-cci` transcript (`using
    /// profile MIG 1c.3g.20gb (ID  0)` in a 3g.20gb GI on an A100-SXM4-40GB)
    /// and the lookup's spellings: profile ID, name, NVML name, any case.
    #[test]
    fn names_and_lookup_follow_the_guide() {
        let m = crate::catalog::model("a100-sxm4-40gb").unwrap();
        let gi = find_gi_profile(&m.gi_profiles, "3g.20gb").unwrap();
        assert_eq!(gi.id, 9);
        for s in ["9", " MIG 3g.20gb", "3G.20GB"] {
            assert_eq!(find_gi_profile(&m.gi_profiles, s).map(|p| p.id), Some(9));
        }
        assert!(find_gi_profile(&m.gi_profiles, "3g.40gb").is_none());
        assert!(find_gi_profile(&m.gi_profiles, "99").is_none());
        let ci = gi.ci_profiles.iter().find(|c| c.id == 0).unwrap();
        assert_eq!(ci_profile_name(gi, ci), "MIG 1c.3g.20gb");
        assert_eq!(
            mig_device_name(&m.name, &ci_profile_name(gi, ci)),
            "NVIDIA A100-SXM4-40GB MIG 1c.3g.20gb"
        );
    }

    /// Proves the minor formula against the real table: the first lines of
    /// `/proc/driver/nvidia-caps/mig-minors` read on the lent H100 and the
    /// minors of a public Slurm H100 capture (mig-facts 6).
    #[test]
    fn caps_minors_match_driver_table() {
        assert_eq!(gi_caps_minor(0, GpuInstanceId(0)), 3);
        assert_eq!(ci_caps_minor(0, GpuInstanceId(0), ComputeInstanceId(0)), 4);
        assert_eq!(ci_caps_minor(0, GpuInstanceId(0), ComputeInstanceId(1)), 5);
        assert_eq!(
            ci_caps_minor(31, GpuInstanceId(14), ComputeInstanceId(7)),
            4322
        );
        assert_eq!(gi_caps_minor(2, GpuInstanceId(2)), 291);
        assert_eq!(gi_caps_minor(3, GpuInstanceId(13)), 525);
    }

    /// Proves MIG UUIDs have the real format: version-5 nibble, RFC variant.
    #[test]
    fn mig_uuid_format() {
        let u = mig_uuid(0x20b0, 0x1234_5678_9abc_def0, GpuInstanceId(1), 0);
        assert!(u.starts_with("MIG-"));
        let parts: Vec<&str> = u[4..].split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('5'));
        assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
        // deterministic, and distinct per GI and per syspipe
        assert_eq!(
            u,
            mig_uuid(0x20b0, 0x1234_5678_9abc_def0, GpuInstanceId(1), 0)
        );
        assert_ne!(
            u,
            mig_uuid(0x20b0, 0x1234_5678_9abc_def0, GpuInstanceId(2), 0)
        );
        assert_ne!(
            u,
            mig_uuid(0x20b0, 0x1234_5678_9abc_def0, GpuInstanceId(1), 1)
        );
    }
}
