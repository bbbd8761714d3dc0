//! BAR1 memory: the CPU-visible aperture of the frame buffer.
//!
//! A GPU handle answers the board's aperture from the catalog
//! (`catalog/boards.toml`: 131072 MiB measured on the lent H100, 262144 MiB
//! on the lent H200), 1 MiB used as the lent boards at idle. A MIG device
//! answers its GPU instance's share, as nvidia-smi prints BAR1 per MIG
//! device, where captures of that board give it
//! (`mig_model::board::Board::mig_bar1_mib`: the H100 80GB HBM3's 6105 MiB
//! for a 9984 MiB GI and 24740 MiB for a 40448 MiB GI; the guide's A100
//! transcripts), 0 MiB used. A board no capture covers takes the ratio of the
//! board its `mig_bar1_from` names (modelled, said so in
//! `catalog/boards.toml`): every real board answers a MIG device's BAR1, and
//! nvidia-smi 580 prints `No MIG devices found` when one does not. A GPU
//! with no source for its own BAR1 answers `NOT_SUPPORTED`.

use crate::call_log::call;
use crate::errors::{out, Fail, Return};
use crate::machine::{self, Device};
use nvml_wrapper_sys::bindings as sys;

const MIB: u64 = 1024 * 1024;

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
                Device::Gpu { sim, .. } => {
                    (sim.board().bar1_mib.ok_or(Fail::NOT_SUPPORTED)? * MIB, MIB)
                }
                Device::Mig { ci, info } => {
                    let b = ci.gi.sim.board().catalog;
                    let mib = b.mig_bar1_mib(info.memory_mb).ok_or(Fail::NOT_SUPPORTED)?;
                    (mib * MIB, 0)
                }
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
