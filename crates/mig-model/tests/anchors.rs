//! The engine against evidence written apart from it: the MIG User Guide's
//! own `nvidia-smi` transcripts (../shared/seeds/002_*.txt, "Getting
//! Started with MIG") and the real H100 80GB HBM3 captures
//! (../shared/reference/h100-80gb-hbm3/). Unlike the consistency checks in
//! `engine_props.rs`, each expected value here is the hardware's or the
//! guide's, not one the engine computed.

use mig_model::engine::{gi_placements, Layout};
use mig_model::{catalog, GiProfileId, GpuInstanceId, NvmlError, Placement};
use std::path::PathBuf;

fn a100() -> &'static mig_model::GpuModel {
    catalog::model("a100-sxm4-40gb").unwrap()
}

/// Create GIs of `profiles` one after another at the driver's default
/// placement; each answer is the GI ID and placement, or the error.
fn cgi(profiles: &[u32]) -> Vec<Result<(GpuInstanceId, Placement), NvmlError>> {
    let m = a100();
    let mut l = Layout::new(false);
    profiles
        .iter()
        .map(|&p| {
            let id = l.create_gi(m, GiProfileId(p), None)?;
            Ok((id, l.gpu_instance(id)?.placement))
        })
        .collect()
}

fn ok(id: u32, start: u32, size: u32) -> Result<(GpuInstanceId, Placement), NvmlError> {
    Ok((GpuInstanceId(id), Placement::new(start, size)))
}

/// Proves the guide's 3-2-1-1 example on an A100-SXM4-40GB: `-cgi
/// 19,19,14,9` fails at the 3g.20gb with Insufficient Resources, and `-cgi
/// 9,19,14,19` gets GI IDs 2, 7, 4, 8 at 4:4, 0:1, 2:2, 1:1 (the guide's
/// `-lgi`).
#[test]
fn guide_3_2_1_1_order_matters() {
    let r = cgi(&[19, 19, 14, 9]);
    assert!(r[..3].iter().all(|x| x.is_ok()), "{r:?}");
    assert_eq!(r[3], Err(NvmlError::InsufficientResources));
    assert_eq!(
        cgi(&[9, 19, 14, 19]),
        [ok(2, 4, 4), ok(7, 0, 1), ok(4, 2, 2), ok(8, 1, 1)]
    );
}

/// Proves the guide's 2-1-1-1-1-1 example: `-cgi 14,19,19,19,19,19` gets
/// GI IDs 5, 13, 7, 8, 9, 10 at 4:2, 6:1, 0:1, 1:1, 2:1, 3:1.
#[test]
fn guide_2_1_1_1_1_1() {
    assert_eq!(
        cgi(&[14, 19, 19, 19, 19, 19]),
        [
            ok(5, 4, 2),
            ok(13, 6, 1),
            ok(7, 0, 1),
            ok(8, 1, 1),
            ok(9, 2, 1),
            ok(10, 3, 1)
        ]
    );
}

/// Proves the guide's first example: `-cgi 9,3g.20gb` creates GI 2 at 4:4,
/// then GI 1 at 0:4.
#[test]
fn guide_two_halves() {
    assert_eq!(cgi(&[9, 9]), [ok(2, 4, 4), ok(1, 0, 4)]);
}

fn h100_capture(file: &str) -> Option<String> {
    let dir: PathBuf = testkit::shared(&format!("anchors ({file})"))?;
    Some(std::fs::read_to_string(dir.join("reference/h100-80gb-hbm3").join(file)).unwrap())
}

/// Proves every placement line of a real H100's `nvidia-smi mig -lgipp`
/// (`Profile ID 9 Placements: {0,4}:4`) is the catalog's placement list of
/// that profile, and no catalog profile is missing from the capture.
#[test]
fn h100_placements_equal_the_capture() {
    let Some(text) = h100_capture("h100_lgipp.txt") else {
        return;
    };
    let m = catalog::model("h100-sxm5-80gb").unwrap();
    let mut seen = Vec::new();
    for line in text.lines().filter(|l| l.contains("Profile ID")) {
        let rest = line.split("Profile ID").nth(1).unwrap();
        let (id, rest) = rest.trim().split_once(' ').unwrap();
        let id: u32 = id.parse().unwrap();
        let set = rest.split('{').nth(1).unwrap();
        let (starts, size) = set.split_once("}:").unwrap();
        let size: u32 = size.trim().parse().unwrap();
        let want: Vec<Placement> = starts
            .split(',')
            .map(|s| Placement::new(s.trim().parse().unwrap(), size))
            .collect();
        let p = m.gi_profiles.iter().find(|p| p.id == id).unwrap();
        assert_eq!(gi_placements(p).collect::<Vec<_>>(), want, "profile {id}");
        seen.push(id);
    }
    for p in &m.gi_profiles {
        assert!(seen.contains(&p.id), "profile {} not in the capture", p.id);
    }
}

/// Proves the real H100's `nvidia-smi mig -lgip` rows on an empty GPU
/// (name, ID, free/total instances, SMs, DEC, ENC, CE, JPEG, OFA) equal the
/// catalog profile and the engine's remaining capacity.
#[test]
fn h100_profile_table_equals_the_capture() {
    let Some(text) = h100_capture("h100_lgip.txt") else {
        return;
    };
    let m = catalog::model("h100-sxm5-80gb").unwrap();
    let empty = Layout::new(false);
    let lines: Vec<&str> = text.lines().collect();
    let mut rows = 0;
    for (i, line) in lines.iter().enumerate() {
        let f: Vec<&str> = line.trim_matches('|').split_whitespace().collect();
        if f.len() < 10 || f[1] != "MIG" {
            continue;
        }
        let (name, id) = (f[2], f[3].parse::<u32>().unwrap());
        let (free, total) = f[4].split_once('/').unwrap();
        let n = |s: &str| s.parse::<u32>().unwrap();
        let second: Vec<u32> = lines[i + 1]
            .trim_matches('|')
            .split_whitespace()
            .map(n)
            .collect();
        let p = m.gi_profiles.iter().find(|p| p.id == id).unwrap();
        assert_eq!(p.name, name);
        assert_eq!(p.instances, n(total), "{name}");
        assert_eq!(empty.gi_remaining(m, p), n(free), "{name}");
        assert_eq!((p.sm, p.dec, p.enc), (n(f[7]), n(f[8]), n(f[9])), "{name}");
        assert_eq!(
            (p.ce, p.jpeg, p.ofa),
            (second[0], second[1], second[2]),
            "{name}"
        );
        rows += 1;
    }
    assert_eq!(rows, m.gi_profiles.len());
}
