//! What `-q` shows: the display types of `-d`, and the GPUs and header
//! read from the backend.

use mig_model::backend::{DeviceInfo, MigDeviceInfo, ProcessInfo};
use mig_model::details::Details;
use mig_model::readings::Readings;

pub use crate::args::{Display, Filter};

/// One GPU as `-q` shows it.
pub struct QGpu<'a> {
    pub dev: &'a DeviceInfo,
    pub r: &'a Readings,
    pub d: &'a Details,
    /// Its MIG devices, in the driver's order (empty with MIG off); `d.migs`
    /// holds their memory in the same order.
    pub migs: &'a [MigDeviceInfo],
    /// Processes on the GPU or its MIG devices.
    pub procs: &'a [ProcessInfo],
}

/// What the log header shows.
pub struct QHeader<'a> {
    /// `Tue Nov 24 10:52:32 2026`.
    pub date: &'a str,
    pub driver: &'a str,
    pub cuda: Option<(u32, u32)>,
    /// Every GPU of the machine (`nvmlDeviceGetCount`), not only those shown.
    pub attached: usize,
}
