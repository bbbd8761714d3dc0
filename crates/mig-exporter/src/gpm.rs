//! Utilization per GPU instance through GPM (Hopper and later): each scrape
//! takes one sample per GPU instance and reports the rates between it and
//! the previous scrape's sample, as DCGM does with its watch interval. The
//! first scrape after a GPU instance appears has no interval, so no value;
//! a board without GPM has none ever ("not available").

use mig_model::backend::{Backend, GpuRef, GpuSnapshot};
use mig_model::gpm::GpmSample;
use std::collections::HashMap;
use std::sync::Mutex;

/// SM activity and DRAM bandwidth of one GPU instance, as ratios 0 to 1
/// (DCGM's `DCGM_FI_PROF_SM_ACTIVE` and `DCGM_FI_PROF_DRAM_ACTIVE` scale).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GpmReading {
    /// SM activity.
    pub sm_active: f64,
    /// DRAM bandwidth use.
    pub dram_active: f64,
}

/// A GPU instance as GPM samples are kept for it: board UUID, GI ID,
/// profile ID and placement start, so a GPU instance destroyed and made
/// again under the same ID starts afresh.
type GiKey = (String, u32, u32, u32);

/// Per GPU instance: the previous scrape's sample, and a spare buffer (the
/// sample before it) that the next sample is taken into, so a scrape costs
/// one sample and one metrics call per GPU instance and allocates nothing.
struct Kept {
    previous: GpmSample,
    spare: Option<GpmSample>,
}

/// The previous scrape's samples, and whether each board has GPM (asked
/// once per board: it does not change while the driver runs).
#[derive(Default)]
pub struct GpmReader {
    kept: Mutex<HashMap<GiKey, Kept>>,
    supported: Mutex<HashMap<String, bool>>,
}

impl std::fmt::Debug for GpmReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpmReader").finish_non_exhaustive()
    }
}

impl GpmReader {
    /// A reader with no samples yet.
    pub fn new() -> GpmReader {
        GpmReader::default()
    }

    /// Whether the GPU has GPM, and the rates of its GPU instances that
    /// have a compute instance (GPM samples a GPU instance through its
    /// compute instances; DCGM skips one without) and an earlier sample.
    pub fn read(&self, backend: &dyn Backend, s: &GpuSnapshot) -> (bool, Vec<(u32, GpmReading)>) {
        let gpu = GpuRef::Index(s.identity.index);
        let supported = {
            let mut known = self.supported.lock().unwrap_or_else(|e| e.into_inner());
            match known.get(&s.identity.uuid) {
                Some(v) => *v,
                None => match backend.gpm_supported(&gpu) {
                    Ok(v) => *known.entry(s.identity.uuid.clone()).or_insert(v),
                    Err(_) => false,
                },
            }
        };
        let mut out = Vec::new();
        if !supported || !s.mode.current {
            return (supported, out);
        }
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        for gi in &s.layout.gpu_instances {
            if gi.compute_instances.is_empty() {
                continue;
            }
            let key = key(s, gi);
            let old = kept.remove(&key);
            let (previous, spare) = match old {
                Some(k) => (Some(k.previous), k.spare),
                None => (None, None),
            };
            let Ok(now) = backend.gpm_mig_sample(&gpu, gi.id, spare) else {
                continue;
            };
            if let Some(old) = &previous {
                if let Ok(m) = backend.gpm_metrics(&gpu, old, &now) {
                    out.push((
                        gi.id.0,
                        GpmReading {
                            sm_active: m.sm_util / 100.0,
                            dram_active: m.dram_bw_util / 100.0,
                        },
                    ));
                }
            }
            kept.insert(
                key,
                Kept {
                    previous: now,
                    spare: previous,
                },
            );
        }
        (supported, out)
    }

    /// Drop the samples of GPU instances this scrape did not see.
    pub fn forget_except<'a>(&self, seen: impl IntoIterator<Item = &'a GpuSnapshot>) {
        let seen: std::collections::HashSet<GiKey> = seen
            .into_iter()
            .flat_map(|s| s.layout.gpu_instances.iter().map(move |gi| key(s, gi)))
            .collect();
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|k, _| seen.contains(k));
    }
}

fn key(s: &GpuSnapshot, gi: &mig_model::engine::GpuInstance) -> GiKey {
    (
        s.identity.uuid.clone(),
        gi.id.0,
        gi.profile_id.0,
        gi.placement.start,
    )
}
