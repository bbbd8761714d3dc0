//! GPM (GPU Performance Monitoring) of simulated GPU instances, as NVML's
//! `nvmlGpmMigSampleGet` / `nvmlGpmMetricsGet` expose it on Hopper and later.
//!
//! A real sample holds cumulative counters; the metrics of two samples are
//! the counters' growth over the time between them. The simulator keeps,
//! per GPU instance, the activity `migctl sim set --gi` last set (SM
//! activity and DRAM bandwidth use, percent; 0, an idle instance, until
//! set) and the counters accumulated under earlier settings, so a sample at
//! any moment reads `accumulated + activity x time since the setting`, and
//! two samples give the time-weighted mean over their interval, across
//! settings changed in between. Ampere boards have no GPM: every call
//! answers Not Supported, as NVML does.

use crate::state::SimGpu;
use crate::SimMachine;
use mig_model::backend::Op;
use mig_model::catalog::Architecture;
use mig_model::gpm::{Gpm, GpmMetrics, GpmSample};
use mig_model::{BackendError, GpuInstanceId, GpuRef, NvmlError};

pub use crate::readings::{GiActivity, GpmState};

/// One simulated GPM sample: the counters of one GPU instance at a moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimGpmSample {
    pub t_ns: u64,
    pub sm_acc: f64,
    pub dram_acc: f64,
}

/// One `KEY=VALUE` of `migctl sim set --gi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpmSetting {
    /// `sm-activity=PERCENT`.
    SmActivity(u32),
    /// `dram-bandwidth=PERCENT`.
    DramBandwidth(u32),
}

/// The keys `sim set --gi` takes.
pub const GPM_KEYS: &str = "sm-activity, dram-bandwidth";

impl GpmSetting {
    /// Parse `KEY=PERCENT`; `None` when the key is not a GPM key.
    pub fn parse(s: &str) -> Option<Result<GpmSetting, String>> {
        let (k, v) = s.split_once('=')?;
        let make: fn(u32) -> GpmSetting = match k.trim() {
            "sm-activity" => GpmSetting::SmActivity,
            "dram-bandwidth" => GpmSetting::DramBandwidth,
            _ => return None,
        };
        Some(match v.trim().parse::<u32>() {
            Ok(p) if p <= 100 => Ok(make(p)),
            _ => Err(format!("{k}: {v:?} is not a percentage 0..=100")),
        })
    }
}

/// Whether the board has GPM: Hopper and later.
pub fn supported(g: &SimGpu) -> bool {
    g.model().architecture != Architecture::Ampere
}

/// Nanoseconds since the Unix epoch: one clock for every process that
/// shares the state file.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The GPU instance `gi` of `g` as GPM keys it, or the NVML error a driver
/// gives: Not Supported without GPM, Not Found for no such instance.
fn instance(g: &SimGpu, gi: u32) -> Result<(u32, u32), NvmlError> {
    if !supported(g) {
        return Err(NvmlError::NotSupported);
    }
    if !g.mig_current {
        return Err(NvmlError::InvalidArgument);
    }
    let i = g
        .layout
        .gpu_instances
        .iter()
        .find(|x| x.id.0 == gi)
        .ok_or(NvmlError::NotFound)?;
    Ok((i.profile_id.0, i.placement.start))
}

/// A sample of GPU instance `gi` at `t_ns` (`nvmlGpmMigSampleGet`).
pub fn sample(g: &SimGpu, gi: u32, t_ns: u64) -> Result<SimGpmSample, NvmlError> {
    let (pid, start) = instance(g, gi)?;
    let a = g
        .gpm
        .instances
        .iter()
        .find(|a| a.gi == gi && a.profile_id == pid && a.placement_start == start);
    Ok(match a {
        None => SimGpmSample {
            t_ns,
            sm_acc: 0.0,
            dram_acc: 0.0,
        },
        Some(a) => {
            let dt = t_ns.saturating_sub(a.since_ns) as f64;
            SimGpmSample {
                t_ns,
                sm_acc: a.sm_acc + f64::from(a.sm_activity) * dt,
                dram_acc: a.dram_acc + f64::from(a.dram_bandwidth) * dt,
            }
        }
    })
}

/// The rates between two samples, older first (`nvmlGpmMetricsGet`).
pub fn metrics(older: &SimGpmSample, newer: &SimGpmSample) -> Result<GpmMetrics, NvmlError> {
    if newer.t_ns <= older.t_ns {
        return Err(NvmlError::InvalidArgument);
    }
    let dt = (newer.t_ns - older.t_ns) as f64;
    let rate = |a: f64, b: f64| ((b - a) / dt).clamp(0.0, 100.0);
    Ok(GpmMetrics {
        sm_util: rate(older.sm_acc, newer.sm_acc),
        dram_bw_util: rate(older.dram_acc, newer.dram_acc),
    })
}

/// Apply settings to GPU instance `gi` of `g` at `t_ns`, folding what the
/// previous setting accumulated into the counters.
pub fn set(g: &mut SimGpu, gi: u32, settings: &[GpmSetting], t_ns: u64) -> Result<(), NvmlError> {
    let (pid, start) = instance(g, gi)?;
    let now = sample(g, gi, t_ns)?;
    let old = g
        .gpm
        .instances
        .iter()
        .find(|a| a.gi == gi && a.profile_id == pid && a.placement_start == start)
        .cloned();
    g.gpm.instances.retain(|a| a.gi != gi);
    let mut a = GiActivity {
        gi,
        profile_id: pid,
        placement_start: start,
        sm_activity: 0,
        dram_bandwidth: 0,
        since_ns: t_ns,
        sm_acc: now.sm_acc,
        dram_acc: now.dram_acc,
    };
    if let Some(old) = old {
        a.sm_activity = old.sm_activity;
        a.dram_bandwidth = old.dram_bandwidth;
    }
    for s in settings {
        match *s {
            GpmSetting::SmActivity(p) => a.sm_activity = p,
            GpmSetting::DramBandwidth(p) => a.dram_bandwidth = p,
        }
    }
    g.gpm.instances.push(a);
    Ok(())
}

impl SimMachine {
    /// `migctl sim set --gpu G --gi GI KEY=PERCENT...`: set a GPU instance's
    /// GPM activity from now on. Not a MIG operation, so never counted.
    pub fn set_gpm(&self, gpu: u32, gi: u32, settings: &[GpmSetting]) -> Result<(), BackendError> {
        let r = GpuRef::Index(gpu);
        self.update(Op::Gpm, Some(&r), false, |st| {
            let g = st
                .gpus
                .get_mut(gpu as usize)
                .ok_or(BackendError::NoSuchGpu {
                    op: Op::Gpm,
                    gpu: r.clone(),
                })?;
            set(g, gi, settings, now_ns()).map_err(|c| BackendError::nvml(Op::Gpm, r.clone(), c))
        })
    }
}

impl Gpm for SimMachine {
    fn gpm_supported(&self, gpu: &GpuRef) -> Result<bool, BackendError> {
        self.read(Op::Gpm, gpu, |_, _, g| Ok(supported(g)))
    }

    fn gpm_mig_sample(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
        _reuse: Option<GpmSample>,
    ) -> Result<GpmSample, BackendError> {
        let s = self.read(Op::Gpm, gpu, |_, _, g| sample(g, gi.0, now_ns()))?;
        Ok(Box::new(s))
    }

    fn gpm_metrics(
        &self,
        gpu: &GpuRef,
        older: &GpmSample,
        newer: &GpmSample,
    ) -> Result<GpmMetrics, BackendError> {
        let err = |c| BackendError::nvml(Op::Gpm, gpu.clone(), c);
        match (
            older.downcast_ref::<SimGpmSample>(),
            newer.downcast_ref::<SimGpmSample>(),
        ) {
            (Some(a), Some(b)) => metrics(a, b).map_err(err),
            _ => Err(err(NvmlError::InvalidArgument)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mig_model::engine::Layout;

    fn h100_with_gi() -> SimGpu {
        let mut st = crate::state::MachineState::new(&[("h100-sxm5-80gb".into(), false)]).unwrap();
        let mut g = st.gpus.remove(0);
        g.mig_current = true;
        g.mig_pending = true;
        let m = g.model();
        let p = m.gi_profiles.iter().find(|p| p.name == "3g.40gb").unwrap();
        let mut l = Layout::new(false);
        l.create_gi(m, mig_model::GiProfileId(p.id), None).unwrap();
        g.layout = l;
        g
    }

    /// Proves two samples give the time-weighted mean of the activity set
    /// over their interval, across a change of setting in between: 1 s at
    /// 80 % then 3 s at 20 % is 35 %.
    #[test]
    fn metrics_are_the_mean_over_the_interval() {
        let mut g = h100_with_gi();
        let gi = g.layout.gpu_instances[0].id.0;
        let s = 1_000_000_000u64;
        set(
            &mut g,
            gi,
            &[GpmSetting::SmActivity(80), GpmSetting::DramBandwidth(10)],
            10 * s,
        )
        .unwrap();
        let a = sample(&g, gi, 10 * s).unwrap();
        set(&mut g, gi, &[GpmSetting::SmActivity(20)], 11 * s).unwrap();
        let b = sample(&g, gi, 14 * s).unwrap();
        let m = metrics(&a, &b).unwrap();
        assert!((m.sm_util - 35.0).abs() < 1e-9, "{m:?}");
        assert!((m.dram_bw_util - 10.0).abs() < 1e-9, "{m:?}");
        assert_eq!(metrics(&b, &a), Err(NvmlError::InvalidArgument));
    }

    /// Proves an Ampere board answers Not Supported and a missing GPU
    /// instance Not Found, as a driver does.
    #[test]
    fn ampere_and_missing_instances_are_refused() {
        let mut st = crate::state::MachineState::new(&[("a100-sxm4-40gb".into(), false)]).unwrap();
        let g = st.gpus.remove(0);
        assert_eq!(sample(&g, 1, 0), Err(NvmlError::NotSupported));
        let g = h100_with_gi();
        assert_eq!(sample(&g, 99, 0), Err(NvmlError::NotFound));
    }
}
