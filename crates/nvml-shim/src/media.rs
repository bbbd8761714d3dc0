//! Encoder and frame-buffer-capture (FBC) sessions: none run on a simulated
//! GPU (no simulated process uses NVENC or NvFBC), so the statistics are
//! zero and the session lists empty, as the lent H100 idle ("Encoder Stats:
//! Active Sessions 0, Average FPS 0, Average Latency 0"; "FBC Stats" the same).
//! The handle is still checked; a null output is `INVALID_ARGUMENT`.

use crate::call_log::{call, entry};
use crate::errors::{out, Return};
use crate::machine;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::c_uint;

/// Check the handle, then zero each output.
///
/// # Safety
/// Each pointer is null or valid for a write.
unsafe fn zeros(name: &str, device: sys::nvmlDevice_t, outs: &[*mut c_uint]) -> Return {
    entry(name, || {
        let st = machine::snapshot()?;
        machine::device(&st, device)?;
        for &p in outs {
            *unsafe { out(p) }? = 0;
        }
        Ok(())
    })
}

/// `nvmlDeviceGetEncoderStats`: 0 sessions, 0 FPS, 0 latency.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetEncoderStats(
    device: sys::nvmlDevice_t,
    session_count: *mut c_uint,
    average_fps: *mut c_uint,
    average_latency: *mut c_uint,
) -> Return {
    let outs = [session_count, average_fps, average_latency];
    unsafe { zeros("nvmlDeviceGetEncoderStats", device, &outs) }
}

/// `nvmlDeviceGetEncoderSessions`: no sessions (`*sessionCount` = 0; the
/// array is not touched).
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetEncoderSessions(
    device: sys::nvmlDevice_t,
    session_count: *mut c_uint,
    _session_infos: *mut sys::nvmlEncoderSessionInfo_t,
) -> Return {
    unsafe { zeros("nvmlDeviceGetEncoderSessions", device, &[session_count]) }
}

/// `nvmlDeviceGetFBCStats`: 0 sessions, 0 FPS, 0 latency.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetFBCStats(
    device: sys::nvmlDevice_t,
    fbc_stats: *mut sys::nvmlFBCStats_t,
) -> Return {
    call(
        "nvmlDeviceGetFBCStats",
        || log_args!(device),
        || {
            let st = machine::snapshot()?;
            machine::device(&st, device)?;
            *unsafe { out(fbc_stats) }? = sys::nvmlFBCStats_t {
                sessionsCount: 0,
                averageFPS: 0,
                averageLatency: 0,
            };
            Ok(())
        },
    )
}

/// `nvmlDeviceGetFBCSessions`: no sessions.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetFBCSessions(
    device: sys::nvmlDevice_t,
    session_count: *mut c_uint,
    _session_info: *mut sys::nvmlFBCSessionInfo_t,
) -> Return {
    unsafe { zeros("nvmlDeviceGetFBCSessions", device, &[session_count]) }
}
