//! The fake NVML library's entry points never panic (libfuzzer-sys aborts on
//! a panic, before the shim's own guard could hide it) and always answer an
//! NVML return code, whatever sequence of calls a client makes: stale and
//! made-up handles, NULL output pointers, wrong struct versions, short
//! buffers, interleaved create/destroy, shutdown and re-init; one-number and
//! string getters on GPU and MIG-device handles. Each input
//! starts from the same fresh machine (an A100-SXM4-40GB with MIG enabled
//! and an H100-SXM5-80GB with MIG disabled), so a crash replays.
//!
//! Shared by the fuzz target and `crates/nvml-shim/tests/fuzz_regressions.rs`;
//! it points `MIGCTL_SIM_STATE` at a file of its own, so its includer must be
//! a process of its own (a fuzz target, or a test binary with this one test).

use nvml_shim as nv;
use nvml_wrapper_sys::bindings as sys;
use std::os::raw::{c_char, c_uint};
use std::path::PathBuf;
use std::sync::OnceLock;

fn state_path() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let p = std::env::temp_dir().join(format!("migctl-fuzz-shim-{}.json", std::process::id()));
        std::env::set_var("MIGCTL_SIM_STATE", &p);
        std::env::set_var("MIGCTL_BACKEND", "sim");
        p
    })
}

fn fresh() {
    let sim = mig_sim::SimMachine::open(state_path().clone()).expect("no fault set");
    sim.init(&[
        ("a100-sxm4-40gb".into(), true),
        ("h100-sxm5-80gb".into(), false),
    ])
    .expect("init");
}

/// Bytes of input, read one at a time; 0 once they run out.
struct Input<'a>(&'a [u8]);
impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
}

/// Handles seen so far, plus made-up ones.
#[derive(Default)]
struct Pool {
    devices: Vec<sys::nvmlDevice_t>,
    gis: Vec<sys::nvmlGpuInstance_t>,
    cis: Vec<sys::nvmlComputeInstance_t>,
}

fn pick<T: Copy>(v: &[T], inp: &mut Input, forge: impl FnOnce(usize) -> T) -> T {
    let b = inp.byte() as usize;
    if v.is_empty() || b >= 0xf0 {
        // a handle never handed out: NULL, small integers, random bits
        let raw = match b & 3 {
            0 => 0usize,
            1 => b,
            2 => (inp.u32() as usize) << 8 | b,
            _ => usize::MAX - b,
        };
        forge(raw)
    } else {
        v[b % v.len()]
    }
}

type UintGetter = unsafe extern "C" fn(sys::nvmlDevice_t, *mut c_uint) -> sys::nvmlReturn_t;
type StringGetter =
    unsafe extern "C" fn(sys::nvmlDevice_t, *mut c_char, c_uint) -> sys::nvmlReturn_t;

/// The library's getters of one number per device handle.
const UINT_GETTERS: &[UintGetter] = &[
    nv::nvmlDeviceGetCurrPcieLinkGeneration,
    nv::nvmlDeviceGetMaxPcieLinkGeneration,
    nv::nvmlDeviceGetGpuMaxPcieLinkGeneration,
    nv::nvmlDeviceGetCurrPcieLinkWidth,
    nv::nvmlDeviceGetMaxPcieLinkWidth,
    nv::nvmlDeviceGetPcieSpeed,
    nv::nvmlDeviceGetPcieLinkMaxSpeed,
    nv::nvmlDeviceGetPcieReplayCounter,
    nv::nvmlDeviceGetMaxMigDeviceCount,
    nv::nvmlDeviceIsMigDeviceHandle,
    nv::nvmlDeviceGetGpuInstanceId,
    nv::nvmlDeviceGetComputeInstanceId,
    nv::nvmlDeviceGetMultiGpuBoard,
    nv::nvmlDeviceGetNumGpuCores,
    nv::nvmlDeviceGetInforomConfigurationChecksum,
    nv::nvmlDeviceGetBoardId,
    nv::nvmlDeviceGetMemoryBusWidth,
    nv::nvmlDeviceGetIrqNum,
    nv::nvmlDeviceGetAccountingBufferSize,
    nv::nvmlDeviceGetPowerUsage,
    nv::nvmlDeviceGetPowerManagementLimit,
    nv::nvmlDeviceGetEnforcedPowerLimit,
    nv::nvmlDeviceGetPowerManagementDefaultLimit,
    nv::nvmlDeviceGetFanSpeed,
    nv::nvmlDeviceGetNumFans,
    nv::nvmlDeviceGetAdaptiveClockInfoStatus,
    nv::nvmlDeviceGetMinorNumber,
    nv::nvmlDeviceGetIndex,
];

/// The library's string getters (buffer, its length).
const STRING_GETTERS: &[StringGetter] = &[
    nv::nvmlDeviceGetName,
    nv::nvmlDeviceGetUUID,
    nv::nvmlDeviceGetSerial,
    nv::nvmlDeviceGetVbiosVersion,
    nv::nvmlDeviceGetBoardPartNumber,
    nv::nvmlDeviceGetInforomImageVersion,
];

fn rc_ok(rc: sys::nvmlReturn_t) {
    // every answer is an NVML code nvml.h names (or the shim's UNKNOWN)
    assert!(rc <= 28 || rc == 999, "odd return code {rc}");
}

pub fn run(data: &[u8]) {
    fresh();
    let mut inp = Input(data);
    let mut pool = Pool::default();
    unsafe {
        rc_ok(nv::nvmlInit_v2());
        let mut ops = 0;
        while !inp.0.is_empty() && ops < 64 {
            ops += 1;
            let op = inp.byte() % 21;
            let null = inp.byte() & 0x0f == 0; // 1 in 16: a NULL output pointer
            let rc = match op {
                0 => {
                    let mut n: c_uint = 0;
                    nv::nvmlDeviceGetCount_v2(if null { std::ptr::null_mut() } else { &mut n })
                }
                1 => {
                    let mut d: sys::nvmlDevice_t = std::ptr::null_mut();
                    let rc = nv::nvmlDeviceGetHandleByIndex_v2(
                        inp.byte() as c_uint % 4,
                        if null { std::ptr::null_mut() } else { &mut d },
                    );
                    if rc == 0 && !null {
                        pool.devices.push(d);
                    }
                    rc
                }
                2 => {
                    let d = pick(&pool.devices, &mut inp, |r| r as sys::nvmlDevice_t);
                    let mut act: sys::nvmlReturn_t = 0;
                    nv::nvmlDeviceSetMigMode(
                        d,
                        inp.byte() as c_uint % 3,
                        if null { std::ptr::null_mut() } else { &mut act },
                    )
                }
                3 => {
                    let d = pick(&pool.devices, &mut inp, |r| r as sys::nvmlDevice_t);
                    let (mut cur, mut pend): (c_uint, c_uint) = (0, 0);
                    nv::nvmlDeviceGetMigMode(
                        d,
                        if null { std::ptr::null_mut() } else { &mut cur },
                        &mut pend,
                    )
                }
                4 => {
                    // a v3-sized struct whose version field is fuzzed
                    let d = pick(&pool.devices, &mut inp, |r| r as sys::nvmlDevice_t);
                    let mut info: sys::nvmlGpuInstanceProfileInfo_v3_t = std::mem::zeroed();
                    info.version = inp.u32();
                    nv::nvmlDeviceGetGpuInstanceProfileInfoV(
                        d,
                        inp.byte() as c_uint % 12,
                        if null {
                            std::ptr::null_mut()
                        } else {
                            (&mut info as *mut sys::nvmlGpuInstanceProfileInfo_v3_t).cast()
                        },
                    )
                }
                5 => {
                    let d = pick(&pool.devices, &mut inp, |r| r as sys::nvmlDevice_t);
                    let mut gi: sys::nvmlGpuInstance_t = std::ptr::null_mut();
                    let rc = nv::nvmlDeviceCreateGpuInstance(
                        d,
                        inp.byte() as c_uint % 24,
                        if null { std::ptr::null_mut() } else { &mut gi },
                    );
                    if rc == 0 && !null {
                        pool.gis.push(gi);
                    }
                    rc
                }
                6 => {
                    let d = pick(&pool.devices, &mut inp, |r| r as sys::nvmlDevice_t);
                    let pid = inp.byte() as c_uint % 24;
                    let pl = sys::nvmlGpuInstancePlacement_t {
                        start: inp.byte() as c_uint % 10,
                        size: inp.byte() as c_uint % 10,
                    };
                    let mut gi: sys::nvmlGpuInstance_t = std::ptr::null_mut();
                    let rc = nv::nvmlDeviceCreateGpuInstanceWithPlacement(
                        d,
                        pid,
                        if null { std::ptr::null() } else { &pl },
                        &mut gi,
                    );
                    if rc == 0 {
                        pool.gis.push(gi);
                    }
                    rc
                }
                7 => {
                    let gi = pick(&pool.gis, &mut inp, |r| r as sys::nvmlGpuInstance_t);
                    nv::nvmlGpuInstanceDestroy(gi)
                }
                8 | 9 => {
                    // a list call with a fuzzed incoming count; nvml.h makes
                    // the caller size these arrays for every instance or
                    // placement the profile can have (never more than 8) and
                    // the count output-only, so the array always has room
                    // (a short one would overflow the real driver too)
                    let d = pick(&pool.devices, &mut inp, |r| r as sys::nvmlDevice_t);
                    let pid = inp.byte() as c_uint % 24;
                    let len = 8 + inp.byte() as usize % 2;
                    let mut count = inp.byte() as c_uint % 12;
                    if op == 8 {
                        let mut buf: Vec<sys::nvmlGpuInstance_t> = vec![std::ptr::null_mut(); len];
                        nv::nvmlDeviceGetGpuInstances(
                            d,
                            pid,
                            if null {
                                std::ptr::null_mut()
                            } else {
                                buf.as_mut_ptr()
                            },
                            &mut count,
                        )
                    } else {
                        let mut buf: Vec<sys::nvmlGpuInstancePlacement_t> =
                            vec![std::mem::zeroed(); len];
                        nv::nvmlDeviceGetGpuInstancePossiblePlacements_v2(
                            d,
                            pid,
                            if null {
                                std::ptr::null_mut()
                            } else {
                                buf.as_mut_ptr()
                            },
                            &mut count,
                        )
                    }
                }
                10 => {
                    let gi = pick(&pool.gis, &mut inp, |r| r as sys::nvmlGpuInstance_t);
                    let mut ci: sys::nvmlComputeInstance_t = std::ptr::null_mut();
                    let rc = nv::nvmlGpuInstanceCreateComputeInstance(
                        gi,
                        inp.byte() as c_uint % 10,
                        if null { std::ptr::null_mut() } else { &mut ci },
                    );
                    if rc == 0 && !null {
                        pool.cis.push(ci);
                    }
                    rc
                }
                11 => {
                    let ci = pick(&pool.cis, &mut inp, |r| r as sys::nvmlComputeInstance_t);
                    nv::nvmlComputeInstanceDestroy(ci)
                }
                12 => {
                    let gi = pick(&pool.gis, &mut inp, |r| r as sys::nvmlGpuInstance_t);
                    let len = 8 + inp.byte() as usize % 2; // room for every CI (as nvml.h asks)
                    let mut count = len as c_uint;
                    let mut buf: Vec<sys::nvmlComputeInstance_t> = vec![std::ptr::null_mut(); len];
                    let rc = nv::nvmlGpuInstanceGetComputeInstances(
                        gi,
                        inp.byte() as c_uint % 10,
                        if null {
                            std::ptr::null_mut()
                        } else {
                            buf.as_mut_ptr()
                        },
                        &mut count,
                    );
                    if rc == 0 && !null {
                        pool.cis.extend(buf.iter().take(count as usize));
                    }
                    rc
                }
                13 | 14 => {
                    // strings into short buffers: the length passed is the buffer's
                    let d = pick(&pool.devices, &mut inp, |r| r as sys::nvmlDevice_t);
                    let f = STRING_GETTERS[inp.byte() as usize % STRING_GETTERS.len()];
                    let len = inp.byte() as usize % 100;
                    let mut buf = vec![0 as c_char; len.max(1)];
                    let p = if null {
                        std::ptr::null_mut()
                    } else {
                        buf.as_mut_ptr()
                    };
                    f(d, p, len as c_uint)
                }
                20 => {
                    // a one-number getter, on any handle seen (GPUs and MIG devices) or a made-up one
                    let d = pick(&pool.devices, &mut inp, |r| r as sys::nvmlDevice_t);
                    let f = UINT_GETTERS[inp.byte() as usize % UINT_GETTERS.len()];
                    let mut v: c_uint = 0;
                    f(d, if null { std::ptr::null_mut() } else { &mut v })
                }
                15 => {
                    let d = pick(&pool.devices, &mut inp, |r| r as sys::nvmlDevice_t);
                    let mut m: sys::nvmlDevice_t = std::ptr::null_mut();
                    let rc = nv::nvmlDeviceGetMigDeviceHandleByIndex(
                        d,
                        inp.byte() as c_uint % 10,
                        if null { std::ptr::null_mut() } else { &mut m },
                    );
                    if rc == 0 && !null {
                        pool.devices.push(m);
                    }
                    rc
                }
                16 => {
                    let gi = pick(&pool.gis, &mut inp, |r| r as sys::nvmlGpuInstance_t);
                    let mut info: sys::nvmlComputeInstanceProfileInfo_v3_t = std::mem::zeroed();
                    info.version = inp.u32();
                    nv::nvmlGpuInstanceGetComputeInstanceProfileInfoV(
                        gi,
                        inp.byte() as c_uint % 10,
                        inp.byte() as c_uint % 3,
                        if null {
                            std::ptr::null_mut()
                        } else {
                            (&mut info as *mut sys::nvmlComputeInstanceProfileInfo_v3_t).cast()
                        },
                    )
                }
                17 => {
                    let gi = pick(&pool.gis, &mut inp, |r| r as sys::nvmlGpuInstance_t);
                    let mut info: sys::nvmlGpuInstanceInfo_t = std::mem::zeroed();
                    nv::nvmlGpuInstanceGetInfo(
                        gi,
                        if null {
                            std::ptr::null_mut()
                        } else {
                            &mut info
                        },
                    )
                }
                18 => {
                    let ci = pick(&pool.cis, &mut inp, |r| r as sys::nvmlComputeInstance_t);
                    let mut info: sys::nvmlComputeInstanceInfo_t = std::mem::zeroed();
                    nv::nvmlComputeInstanceGetInfo_v2(
                        ci,
                        if null {
                            std::ptr::null_mut()
                        } else {
                            &mut info
                        },
                    )
                }
                _ => {
                    // shutdown, and (usually) init again: calls in between
                    // must answer UNINITIALIZED, never crash
                    let rc = nv::nvmlShutdown();
                    if inp.byte() & 1 == 0 {
                        rc_ok(nv::nvmlInit_v2());
                    }
                    rc
                }
            };
            rc_ok(rc);
        }
        // leave the library uninitialised for the next input
        while nv::nvmlShutdown() == 0 {}
    }
}
