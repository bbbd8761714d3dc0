//! The clocks of a simulated board as NVML answers them: current, maximum,
//! application and boost clocks, clock-event reasons, the monitoring
//! probe's facts and the performance-level strings, from the GPU's readings
//! and its board facts (`catalog/boards.toml`; a clock no source gives is
//! `NotSupported`). The fake `libnvidia-ml.so.1` (`nvml-shim`'s clocks
//! module) writes these into its callers' buffers.

use crate::state::SimGpu;
use crate::telemetry::Probed;
use mig_model::NvmlError;

/// Which clock of a type is asked for: nvml.h's `nvmlClockId_t` and the
/// calls that each read one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// `NVML_CLOCK_ID_CURRENT`, `nvmlDeviceGetClockInfo`.
    Current,
    /// `nvmlDeviceGetMaxClockInfo`.
    Max,
    /// `NVML_CLOCK_ID_APP_CLOCK_TARGET` / `_DEFAULT`,
    /// `nvmlDeviceGet[Default]ApplicationsClock`.
    Application,
    /// `NVML_CLOCK_ID_CUSTOMER_BOOST_MAX`, `nvmlDeviceGetMaxCustomerBoostClock`.
    CustomerBoost,
}

/// `NVML_CLOCK_COUNT`: one past the last clock type (`nvmlClockType_t`:
/// 0 graphics, 1 SM, 2 memory, 3 video).
pub const CLOCK_COUNT: u32 = 4;

/// `nvmlClocksEventReasonGpuIdle`.
pub const EVENT_REASON_GPU_IDLE: u64 = 0x1;

/// Every clocks event reason nvml.h defines (`nvmlClocksEventReason*`,
/// bits 0..8): what the lent H200 answered (511, monitoring-probe.json).
pub const SUPPORTED_EVENT_REASONS: u64 = 0x1FF;

fn modelled<T>(v: Option<T>) -> Result<T, NvmlError> {
    v.ok_or(NvmlError::NotSupported)
}

/// A clock of the board, MHz: current (modelled SM clock), maximum,
/// application clocks (= maximum, as on the lent H100 and H200) or customer
/// boost. Which (type, clock) pairs exist is what the lent H200 answered
/// (monitoring-probe.json `with_args`): no application or boost video clock,
/// no boost memory clock (`NotSupported`); the type `NVML_CLOCK_COUNT` is
/// `NotSupported` for the current clock and `InvalidArgument` for the
/// others; any later type `InvalidArgument`.
pub fn clock(g: &SimGpu, ty: u32, which: Which) -> Result<u32, NvmlError> {
    let b = g.board();
    Ok(match (ty, which) {
        (0 | 1, Which::Current) => modelled(g.sm_clock_mhz())?,
        (0 | 1, _) => modelled(b.max_sm_clock_mhz)?,
        (2, Which::CustomerBoost) => return Err(NvmlError::NotSupported),
        (2, _) => modelled(b.mem_clock_mhz)?,
        (3, Which::Current) => modelled(b.idle_video_clock_mhz)?,
        (3, Which::Max) => modelled(b.max_video_clock_mhz)?,
        (3, _) => return Err(NvmlError::NotSupported),
        (CLOCK_COUNT, Which::Current) => return Err(NvmlError::NotSupported),
        _ => return Err(NvmlError::InvalidArgument),
    })
}

/// Why the clocks are below maximum: `GpuIdle` while utilization is 0 (the
/// lent boards at idle: "Idle: Active"), else none.
pub fn event_reasons(g: &SimGpu) -> u64 {
    if g.telemetry.utilization_gpu == 0 {
        EVENT_REASON_GPU_IDLE
    } else {
        0
    }
}

/// The probe's facts of a board ([`Probed`]); a model the monitoring probe
/// was not run on is `NotSupported`.
pub fn probed(g: &SimGpu) -> Result<&'static Probed, NvmlError> {
    g.board()
        .measured
        .and_then(|m| m.probe.as_ref())
        .ok_or(NvmlError::NotSupported)
}

/// One performance level as the driver's perf-mode strings print it: the
/// graphics clock (current, min, max) and a memory clock, whose transfer
/// rate is twice it (the lent H200: memclock 3201, memTransferRate 6402).
fn perf_level(nv: u32, nv_min: u32, nv_max: u32, mem: u32) -> String {
    let rate = 2 * mem;
    format!(
        "nvclock={nv}, nvclockmin={nv_min}, nvclockmax={nv_max}, nvclockeditable=0, \
         memclock={mem}, memclockmin={mem}, memclockmax={mem}, memclockeditable=0, \
         memTransferRate={rate}, memTransferRatemin={rate}, memTransferRatemax={rate}, \
         memTransferRateeditable=0"
    )
}

/// `nvmlDeviceGetPerformanceModes`' text: one level per supported memory
/// clock, lowest first, in the lent H200's format (`perf=N, nvclock=...`
/// joined by `" ; "`, monitoring-probe.json), where the probe ran on the
/// model.
pub fn performance_modes(g: &SimGpu) -> Result<String, NvmlError> {
    let mut mem = probed(g)?.memory_clocks_mhz.to_vec();
    mem.sort_unstable();
    let b = g.board();
    let text: Vec<String> = mem
        .iter()
        .enumerate()
        .map(|(i, &m)| {
            let idle = modelled(b.idle_sm_clock_mhz)?;
            let level = perf_level(idle, idle, modelled(b.max_sm_clock_mhz)?, m);
            Ok(format!("perf={i}, {level}"))
        })
        .collect::<Result<_, NvmlError>>()?;
    Ok(text.join(" ; "))
}

/// `nvmlDeviceGetCurrentClockFreqs`' text: the current level in the same
/// format: the modelled graphics clock between the idle and maximum clocks,
/// the memory clock in force (the lent H200: `nvclock=345, nvclockmin=345,
/// nvclockmax=1980, ... memclock=3201, ...`), where the probe ran on the
/// model.
pub fn current_clock_freqs(g: &SimGpu) -> Result<String, NvmlError> {
    probed(g)?;
    let b = g.board();
    Ok(perf_level(
        modelled(g.sm_clock_mhz())?,
        modelled(b.idle_sm_clock_mhz)?,
        modelled(b.max_sm_clock_mhz)?,
        modelled(b.mem_clock_mhz)?,
    ))
}
