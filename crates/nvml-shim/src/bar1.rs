//! BAR1 memory: the CPU-visible aperture of the frame buffer.
//!
//! A GPU handle answers the board's aperture (`mig_sim::telemetry`: the
//! smallest power of two of MiB that holds the board's memory, 131072 MiB on
//! the lent H100), 1 MiB used as the lent H100 at idle. A MIG device answers
//! its GPU instance's share, as nvidia-smi prints BAR1 per MIG device: R580
//! captures show 24740 MiB for a 40448 MiB GI (H100 3g.40gb) and 6105 MiB for
//! a 9984 MiB GI, so the share is the GI memory times 24740/40448 (derived;
//! within 2 MiB of both captures), 0 MiB used.

use crate::errors::{call, out, Return};
use crate::machine::{self, Device};
use nvml_wrapper_sys::bindings as sys;

const MIB: u64 = 1024 * 1024;

/// BAR1 MiB of a MIG device whose GPU instance has `gi_memory_mib`.
pub fn mig_bar1_mib(gi_memory_mib: u64) -> u64 {
    (gi_memory_mib * 24740 + 40448 / 2) / 40448
}

/// `nvmlDeviceGetBAR1MemoryInfo`: see the module documentation.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetBAR1MemoryInfo(
    device: sys::nvmlDevice_t,
    bar1_memory: *mut sys::nvmlBAR1Memory_t,
) -> Return {
    call(
        "nvmlDeviceGetBAR1MemoryInfo",
        || log_args!(device),
        || {
            let m = unsafe { out(bar1_memory) }?;
            let st = machine::snapshot()?;
            let (total, used) = match machine::device(&st, device)? {
                Device::Gpu { sim, .. } => (sim.board().bar1_mib * MIB, MIB),
                Device::Mig { info, .. } => (mig_bar1_mib(info.memory_mb) * MIB, 0),
            };
            *m = sys::nvmlBAR1Memory_t {
                bar1Total: total,
                bar1Free: total - used,
                bar1Used: used,
            };
            Ok(())
        },
    )
}

#[cfg(test)]
mod tests {
    /// Proves the MIG BAR1 share reproduces the R580 captures within 2 MiB.
    #[test]
    fn mig_bar1_matches_captures() {
        assert_eq!(super::mig_bar1_mib(40448), 24740);
        assert!(super::mig_bar1_mib(9984).abs_diff(6105) <= 2);
    }
}
