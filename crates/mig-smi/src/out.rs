//! nvidia-smi's output formats, byte for byte. Pure functions from backend
//! data to text; golden tests pin them to NVIDIA's own output (the MIG User
//! Guide's examples and captures from real H100/H200 boards, driver 580).

use mig_model::backend::{
    CiInfo, CiProfileStatus, DeviceInfo, GiInfo, GiProfileStatus, MigDeviceInfo,
};
use mig_model::{ids, ComputeInstanceId, GpuInstanceId, NvmlError, Placement};
use std::fmt::Write;

/// Which generation of nvidia-smi's layouts to print where they differ
/// (`-lgi`, `-lci`, `-cci`'s line, `-L`): the current driver's (R580, the
/// default: the simulator reports driver 580.159.04) or the MIG User Guide's
/// examples (R450-R470), chosen with `MIGCTL_SMI_STYLE=guide`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    R580,
    Guide,
}

impl Style {
    /// `MIGCTL_SMI_STYLE`: `r580` (default) or `guide`.
    pub fn from_env() -> Result<Style, String> {
        match std::env::var("MIGCTL_SMI_STYLE").as_deref().map(str::trim) {
            Err(_) | Ok("") | Ok("r580") => Ok(Style::R580),
            Ok("guide") => Ok(Style::Guide),
            Ok(other) => Err(format!(
                "MIGCTL_SMI_STYLE={other:?} is not one of r580, guide"
            )),
        }
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "Yes"
    } else {
        "No"
    }
}

/// Memory in GiB as nvidia-smi prints it: `printf("%.2f", MB / 1024.0)`;
/// Rust's formatting and glibc's both round exact ties to even.
pub fn gib(mb: u64) -> String {
    format!("{:.2}", mb as f64 / 1024.0)
}

/// nvidia-smi's `-lgip` order for GI profiles the backend lists in NVML
/// index order: by slice count, then [`gi_index_rank`].
pub fn lgip_order(mut profiles: Vec<GiProfileStatus>) -> Vec<GiProfileStatus> {
    profiles.sort_by_key(|p| (p.profile.slices, gi_index_rank(p.profile.index)));
    profiles
}

/// Where nvidia-smi lists a GI profile index among those of the same slice
/// count. On A100/H100/H200 that is index order (19, 20, 15 for indexes 0,
/// 7, 9); on the RTX PRO 6000 capture the `+me.all` profiles (indexes 15,
/// 16) come before the `-me` ones (13, 14), so a plain index sort is not
/// enough. Indexes unknown here go last, by index.
pub fn gi_index_rank(index: u32) -> u32 {
    const ORDER: [u32; 18] = [0, 7, 9, 10, 15, 13, 1, 8, 11, 16, 14, 2, 17, 3, 12, 6, 4, 5];
    ORDER
        .iter()
        .position(|&i| i == index)
        .map_or(ORDER.len() as u32 + index, |p| p as u32)
}

/// nvidia-smi's `-lcip` order: by slices, then CI profile ID (go-nvml#146
/// shows 1c profiles 0 and 7 together on an H100 2g GI).
pub fn lcip_order(mut profiles: Vec<CiProfileStatus>) -> Vec<CiProfileStatus> {
    profiles.sort_by_key(|c| (c.profile.slices, c.profile.id));
    profiles
}

const LGIP_RULE: &str =
    "+-------------------------------------------------------------------------------+\n";

/// `nvidia-smi mig -lgip`: one table, a two-line row per (GPU, profile).
pub fn lgip(rows: &[(u32, Vec<GiProfileStatus>)]) -> String {
    let mut s = String::new();
    s.push_str(LGIP_RULE);
    s.push_str(
        "| GPU instance profiles:                                                        |\n",
    );
    s.push_str(
        "| GPU   Name               ID    Instances   Memory     P2P    SM    DEC   ENC  |\n",
    );
    s.push_str(
        "|                                Free/Total   GiB              CE    JPEG  OFA  |\n",
    );
    s.push_str(
        "|===============================================================================|\n",
    );
    for (gpu, profiles) in rows {
        for st in profiles {
            let p = &st.profile;
            let _ = writeln!(
                s,
                "|{:>4}  {:<18}{:>4}     {:<11}{:<11}{:<7}{:<7}{:<6}{:<4}|",
                gpu,
                ids::gi_profile_name(p),
                p.id,
                format!("{}/{}", st.remaining, p.instances),
                gib(p.memory_mb),
                yes_no(p.p2p),
                // SM and CE counts stand right-aligned in two columns
                // (`  8`, ` 18`, `148` and ` 2`, `16` on the H20 and B200
                // recordings of the real nvidia-smi)
                format!("{:>2}", p.sm),
                p.dec,
                p.enc
            );
            let _ = writeln!(
                s,
                "|{:62}{:<7}{:<6}{:<4}|",
                "",
                format!("{:>2}", p.ce),
                p.jpeg,
                p.ofa
            );
            s.push_str(LGIP_RULE);
        }
    }
    s
}

/// `{0,2,4}:2` placement-set notation.
fn placement_set(ps: &[Placement]) -> (String, &'static str) {
    let size = ps.first().map(|p| p.size).unwrap_or(0);
    let starts: Vec<String> = ps.iter().map(|p| p.start.to_string()).collect();
    let label = if ps.len() == 1 {
        "Placement :"
    } else {
        "Placements:"
    };
    (format!("{{{}}}:{}", starts.join(","), size), label)
}

/// `nvidia-smi mig -lgipp`.
pub fn lgipp(rows: &[(u32, Vec<GiProfileStatus>)]) -> String {
    let mut s = String::new();
    for (gpu, profiles) in rows {
        for st in profiles {
            let (set, label) = placement_set(&st.placements);
            let _ = writeln!(
                s,
                "GPU {:>2} Profile ID {:>2} {} {}",
                gpu, st.profile.id, label, set
            );
        }
    }
    s
}

/// `nvidia-smi mig -lgi`. R580 widens the name column to fit
/// `MIG 1g.24gb+me.all` (59 columns; the guide's table is 54).
pub fn lgi(style: Style, rows: &[(u32, Vec<GiInfo>)]) -> String {
    let (rule, head) = match style {
        Style::R580 => (
            "+---------------------------------------------------------+\n",
            "| GPU instances:                                          |\n\
             | GPU   Name               Profile  Instance   Placement  |\n\
             |                            ID       ID       Start:Size |\n\
             |=========================================================|\n",
        ),
        Style::Guide => (
            "+----------------------------------------------------+\n",
            "| GPU instances:                                     |\n\
             | GPU   Name          Profile  Instance   Placement  |\n\
             |                       ID       ID       Start:Size |\n\
             |====================================================|\n",
        ),
    };
    let mut s = String::from(rule);
    s.push_str(head);
    for (gpu, gis) in rows {
        for gi in gis {
            let name = ids::gi_profile_name(&gi.profile);
            let (id, p) = (gi.profile.id, gi.placement);
            let _ = match style {
                Style::R580 => writeln!(
                    s,
                    "|{gpu:>4}  {name:<18}{id:>6}{:>9}{:>11}:{:<6}|",
                    gi.id.0, p.start, p.size
                ),
                Style::Guide => writeln!(
                    s,
                    "|{gpu:>4}  {name:<16}{id:>3}{:>9}{:>11}:{:<6}|",
                    gi.id.0, p.start, p.size
                ),
            };
            s.push_str(rule);
        }
    }
    s
}

/// `nvidia-smi mig -lci`. R580 adds the placement column (70 columns; the
/// guide's table is 57).
pub fn lci(style: Style, rows: &[(u32, Vec<CiInfo>)]) -> String {
    let (rule, head) = match style {
        Style::R580 => (
            "+--------------------------------------------------------------------+\n",
            "| Compute instances:                                                 |\n\
             | GPU     GPU       Name             Profile   Instance   Placement  |\n\
             |       Instance                       ID        ID       Start:Size |\n\
             |         ID                                                         |\n\
             |====================================================================|\n",
        ),
        Style::Guide => (
            "+-------------------------------------------------------+\n",
            "| Compute instances:                                    |\n\
             | GPU     GPU       Name             Profile   Instance |\n\
             |       Instance                       ID        ID     |\n\
             |         ID                                            |\n\
             |=======================================================|\n",
        ),
    };
    let mut s = String::from(rule);
    s.push_str(head);
    for (gpu, cis) in rows {
        for ci in cis {
            let (gi, name, id, p) = (ci.gi.0, &ci.name, ci.profile.id, ci.placement);
            let _ = match style {
                Style::R580 => writeln!(
                    s,
                    "|{gpu:>4}{gi:>7}       {name:<16}{id:>6}{:>10}{:>11}:{:<6}|",
                    ci.id.0, p.start, p.size
                ),
                Style::Guide => writeln!(
                    s,
                    "|{gpu:>4}{gi:>7}       {name:<18}{id:>4}{:>10}     |",
                    ci.id.0
                ),
            };
            s.push_str(rule);
        }
    }
    s
}

const LCIP_RULE: &str =
    "+--------------------------------------------------------------------------------------+\n";

/// `nvidia-smi mig -lcip`: per (GPU, GI), the CI profiles; the default
/// (full-size) profile's ID carries a `*`.
pub fn lcip(rows: &[(u32, GpuInstanceId, u32, Vec<CiProfileStatus>)]) -> String {
    let mut s = String::new();
    s.push_str(LCIP_RULE);
    s.push_str("| Compute instance profiles:                                                           |\n");
    s.push_str("| GPU     GPU       Name             Profile  Instances   Exclusive       Shared       |\n");
    s.push_str("|       Instance                       ID     Free/Total     SM       DEC   ENC   OFA  |\n");
    s.push_str("|         ID                                                          CE    JPEG       |\n");
    s.push_str("|======================================================================================|\n");
    for (gpu, gi, gi_slices, profiles) in rows {
        for st in profiles {
            let p = &st.profile;
            // The default profile (the one `-cci` without a profile creates)
            // is marked with a `*` after its ID.
            let default = mig_model::engine::default_ci_profile(
                *gi_slices,
                profiles.iter().map(|c| &c.profile),
            );
            let star = if default.is_some_and(|d| d.id == p.id) {
                '*'
            } else {
                ' '
            };
            let _ = writeln!(
                s,
                "|{:>4}{:>7}       {:<16}{:>6}{}     {}/{}           {:>2}{:>9}{:>6}{:>6}   |",
                gpu,
                gi.0,
                st.name,
                p.id,
                star,
                st.remaining,
                p.instances,
                p.sm,
                p.dec,
                p.enc,
                p.ofa
            );
            let _ = writeln!(s, "|{:>71}{:>6}         |", p.ce, p.jpeg);
            s.push_str(LCIP_RULE);
        }
    }
    s
}

/// `nvidia-smi mig -lcipp`: per (GPU, GI), the CI profiles in profile-ID
/// order (0, 1, 7 on an H100 2g GI in the real nvidia-smi's recording),
/// not `-lcip`'s order (0, 7, 1).
pub fn lcipp(rows: &[(u32, GpuInstanceId, Vec<CiProfileStatus>)]) -> String {
    let mut s = String::new();
    for (gpu, gi, profiles) in rows {
        let mut profiles: Vec<&CiProfileStatus> = profiles.iter().collect();
        profiles.sort_by_key(|c| c.profile.id);
        for st in profiles {
            let (set, label) = placement_set(&st.placements);
            let _ = writeln!(
                s,
                "GPU {:>2} GI {:>2} Profile ID {:>2} {} {}",
                gpu, gi.0, st.profile.id, label, set
            );
        }
    }
    s
}

/// `-cgi` success line.
pub fn created_gi(gpu: u32, gi: &GiInfo) -> String {
    format!(
        "Successfully created GPU instance ID {:>2} on GPU {:>2} using profile {} (ID {:>2})\n",
        gi.id.0,
        gpu,
        ids::gi_profile_name(&gi.profile),
        gi.profile.id
    )
}

/// A compute instance's creation line (`-cci`, and `-cgi -C`).
/// The guide's R450 `-cci` line had no compute-instance ID; every driver
/// since 510 prints it, as `-C` always did.
pub fn created_ci(style: Style, default_ci: bool, gpu: u32, ci: &CiInfo) -> String {
    let id = if default_ci || style == Style::R580 {
        format!(" ID {:>2}", ci.id.0)
    } else {
        String::new()
    };
    format!(
        "Successfully created compute instance{id} on GPU {:>2} GPU instance ID {:>2} using profile {} (ID {:>2})\n",
        gpu, ci.gi.0, ci.name, ci.profile.id
    )
}

/// `-dgi` success line.
pub fn destroyed_gi(gpu: u32, gi: GpuInstanceId) -> String {
    format!(
        "Successfully destroyed GPU instance ID {:>2} from GPU {:>2}\n",
        gi.0, gpu
    )
}

/// `-dci` success line.
pub fn destroyed_ci(gpu: u32, gi: GpuInstanceId, ci: ComputeInstanceId) -> String {
    format!(
        "Successfully destroyed compute instance ID {:>2} from GPU {:>2} GPU instance ID {:>2}\n",
        ci.0, gpu, gi.0
    )
}

/// `-cgi` failure: the profile as the user typed it, then the summary line.
pub fn create_gi_failed(gpu: u32, token: &str, e: NvmlError) -> String {
    format!(
        "Unable to create a GPU instance on GPU {gpu:>2} using profile {token}: {e}\n\
         Failed to create GPU instances: {e}\n"
    )
}

/// `-cci` (and `-cgi -C`) failure.
pub fn create_ci_failed(gpu: u32, gi: GpuInstanceId, token: &str, e: NvmlError) -> String {
    format!(
        "Unable to create a compute instance on GPU {gpu:>2} GPU instance ID {:>2} using profile {token}: {e}\n\
         Failed to create compute instances: {e}\n",
        gi.0
    )
}

/// `-dgi` failure for one GPU instance.
pub fn destroy_gi_failed(gpu: u32, gi: GpuInstanceId, e: NvmlError) -> String {
    format!(
        "Unable to destroy GPU instance ID {:>2} from GPU {gpu:>2}: {e}\n",
        gi.0
    )
}

/// `-dci` failure for one compute instance.
pub fn destroy_ci_failed(
    gpu: u32,
    gi: GpuInstanceId,
    ci: ComputeInstanceId,
    e: NvmlError,
) -> String {
    format!(
        "Unable to destroy compute instance ID {:>2} from GPU {gpu:>2} GPU instance ID {:>2}: {e}\n",
        ci.0, gi.0
    )
}

/// `nvidia-smi -L`. Since R470 the MIG lines pad the name and index
/// (`  MIG 1c.2g.10gb  Device  1:`); the guide's capture did not.
pub fn list_gpus(style: Style, rows: &[(DeviceInfo, Vec<MigDeviceInfo>)]) -> String {
    let mut s = String::new();
    for (d, migs) in rows {
        let _ = writeln!(s, "GPU {}: {} (UUID: {})", d.index, d.name, d.uuid);
        // nvidia-smi lists a GPU's MIG devices by GI ID, then CI ID
        let mut migs: Vec<&MigDeviceInfo> = migs.iter().collect();
        migs.sort_by_key(|m| (m.gi, m.ci));
        for m in migs {
            let short = m.name.strip_prefix("MIG ").unwrap_or(&m.name);
            let _ = match style {
                Style::R580 => writeln!(
                    s,
                    "  MIG {short:<11} Device {:>2}: (UUID: {})",
                    m.index, m.uuid
                ),
                Style::Guide => {
                    writeln!(s, "  MIG {short} Device {}: (UUID: {})", m.index, m.uuid)
                }
            };
        }
    }
    s
}
