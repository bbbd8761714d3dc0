//! A generated fleet and demand for benchmarks and tests: mixed models,
//! some GPUs already partitioned with busy instances, a demand of profile
//! lines and requirement lines with weights. Deterministic per seed.

use crate::inventory::{DemandItem, Fleet, FleetGpu, Want};
use mig_model::engine::Layout;
use mig_model::{catalog, GiProfileId, GpuModel};
use std::collections::BTreeSet;

/// A small deterministic generator (SplitMix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// The fleet's model mix: slug and share (percent).
pub const MIX: &[(&str, u64)] = &[
    ("a100-sxm4-40gb", 15),
    ("a100-sxm4-80gb", 20),
    ("h100-sxm5-80gb", 25),
    ("h200-sxm5-141gb", 15),
    ("b200-180gb", 10),
    ("a30-24gb", 10),
    ("rtx-pro-6000-server", 5),
];

/// GPUs per node.
pub const NODE_GPUS: usize = 8;

/// Fill a GPU the way a person would with `nvidia-smi mig -cgi` (default
/// placements): one of a few common geometries, in units of the model's
/// profile sizes.
fn existing_layout(m: &GpuModel, rng: &mut Rng) -> Layout {
    let mut l = Layout::new(false);
    // compute-slice sizes of the GIs to create, largest first
    let shapes: &[&[u32]] = &[
        &[1, 1, 1, 1, 1, 1, 1],
        &[3, 3],
        &[4, 3],
        &[3, 2, 1, 1],
        &[2, 2, 2, 1],
        &[7],
    ];
    let shape = shapes[rng.below(shapes.len() as u64) as usize];
    for &size in shape {
        // the first plain (not +me/-me/+gfx) profile of that size
        let p = m
            .gi_profiles
            .iter()
            .find(|p| p.slices == size && !p.name.contains(['+', '-']));
        if let Some(p) = p {
            let _ = l.create_gi(m, GiProfileId(p.id), None);
        }
    }
    l
}

/// A fleet of `gpus` GPUs (nodes of [`NODE_GPUS`], one model per node) and a
/// demand of about `instances` instances.
pub fn generate(gpus: usize, instances: u32, seed: u64) -> (Fleet, Vec<DemandItem>) {
    let mut rng = Rng::new(seed);
    let mut fleet = Fleet::default();
    let total: u64 = MIX.iter().map(|m| m.1).sum();
    let mut n = 0;
    while n < gpus {
        let mut pick = rng.below(total);
        let slug = MIX
            .iter()
            .find(|(_, share)| {
                if pick < *share {
                    true
                } else {
                    pick -= share;
                    false
                }
            })
            .map_or(MIX[0].0, |m| m.0);
        let model = catalog::model(slug).expect("generator models are in the catalog");
        let node = fleet.nodes.len();
        fleet.nodes.push(format!("node-{node:04}"));
        for index in 0..NODE_GPUS.min(gpus - n) {
            let (layout, busy) = if rng.chance(0.3) {
                let l = existing_layout(model, &mut rng);
                let busy: BTreeSet<_> = l
                    .gpu_instances
                    .iter()
                    .filter(|_| rng.chance(0.3))
                    .map(|g| g.id)
                    .collect();
                (l, busy)
            } else {
                (Layout::new(false), BTreeSet::new())
            };
            fleet.gpus.push(FleetGpu {
                node,
                index: index as u32,
                uuid: None,
                model,
                mig_enabled: true,
                layout,
                busy,
            });
            n += 1;
        }
    }
    // Demand lines and their shares of the instances.
    let lines: Vec<(Want, Option<Vec<String>>, u64, f64)> = vec![
        (Want::Profile("1g.10gb".into()), None, 22, 1.0),
        (Want::Profile("1g.5gb".into()), None, 8, 1.0),
        (Want::Profile("2g.20gb".into()), None, 8, 2.0),
        (Want::Profile("3g.40gb".into()), None, 6, 3.0),
        (Want::Profile("1g.18gb".into()), None, 6, 1.5),
        (Want::Profile("3g.71gb".into()), None, 4, 4.0),
        (Want::Profile("1g.6gb".into()), None, 5, 1.0),
        (needs(20.0, 0, false), None, 14, 2.0),
        (needs(40.0, 50, false), None, 8, 3.5),
        (needs(10.0, 0, true), None, 4, 1.5),
        (needs(80.0, 0, false), None, 5, 6.0),
        (
            needs(24.0, 40, false),
            Some(vec!["rtx-pro-6000-server".to_string()]),
            3,
            2.0,
        ),
        (Want::Profile("7g.180gb".into()), None, 2, 8.0),
    ];
    let shares: u64 = lines.iter().map(|l| l.2).sum();
    let demand = lines
        .into_iter()
        .map(|(want, models, share, weight)| {
            let name = match &want {
                Want::Profile(p) => p.clone(),
                Want::Needs {
                    memory_gb,
                    sms,
                    media_engines,
                } => format!(
                    ">={memory_gb}GB{}{}",
                    if *sms > 0 {
                        format!(",>={sms}SM")
                    } else {
                        String::new()
                    },
                    if *media_engines { ",media" } else { "" }
                ),
            };
            DemandItem {
                name,
                want,
                models,
                count: (instances as u64 * share / shares) as u32,
                weight,
            }
        })
        .collect();
    (fleet, demand)
}

fn needs(memory_gb: f64, sms: u32, media_engines: bool) -> Want {
    Want::Needs {
        memory_gb,
        sms,
        media_engines,
    }
}
