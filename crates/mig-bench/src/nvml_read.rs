//! The measurements of `migctl bench nvml-read`: what one read of the fake `libnvidia-ml.so.1`
//! costs on simulated machines of several sizes. For each size it builds a
//! machine of that many H100s, MIG enabled and seven 1g.10gb instances on
//! every GPU, loads the fake library into this process and times NVML
//! reads in a loop (microseconds per call), then, where `python3` has
//! pynvml, the same reads through pynvml. A benchmark, not a test: it
//! prints figures.

use mig_model::backend::{LayoutControl, ModeControl};
use mig_model::{CiProfileId, GiProfileId, GpuRef};
use mig_sim::SimMachine;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::c_uint;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// One timed function at one size.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Figure {
    /// The machine's size, in GPUs.
    pub gpus: u32,
    /// `rust` (the library called directly) or `pynvml`.
    pub client: String,
    /// The NVML function timed.
    pub function: String,
    /// How many calls were timed.
    pub calls: u64,
    /// Microseconds per call.
    pub us_per_call: f64,
}

/// The model the machines are made of and its 1g.10gb profile.
pub const MODEL: &str = "h100-sxm5-80gb";
const GI_1G: GiProfileId = GiProfileId(19);

fn fail(what: &str) -> impl Fn(String) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// A machine of `n` H100s, MIG on, seven 1g.10gb GIs with one CI each.
fn build(state: &Path, n: u32) -> Result<(), String> {
    let sim = SimMachine::with_fault(state, None);
    let models: Vec<(String, bool)> = (0..n).map(|_| (MODEL.to_string(), false)).collect();
    sim.init(&models)
        .map_err(|e| fail("sim init")(e.to_string()))?;
    for i in 0..n {
        let g = GpuRef::Index(i);
        sim.set_mig_mode(&g, true)
            .map_err(|e| fail("enable MIG")(e.to_string()))?;
        for _ in 0..7 {
            let gi = sim
                .create_gpu_instance(&g, GI_1G, None)
                .map_err(|e| fail("create GI")(e.to_string()))?;
            sim.create_compute_instance(&g, gi.id, CiProfileId(0), None)
                .map_err(|e| fail("create CI")(e.to_string()))?;
        }
    }
    Ok(())
}

/// Call `f` repeatedly for about `budget`; microseconds per call.
fn time(budget: Duration, mut f: impl FnMut() -> u32) -> Result<(u64, f64), String> {
    for _ in 0..20 {
        let rc = f();
        if rc != 0 {
            return Err(format!("NVML error {rc}"));
        }
    }
    let t0 = Instant::now();
    let mut calls = 0u64;
    while t0.elapsed() < budget {
        for _ in 0..16 {
            f();
        }
        calls += 16;
    }
    Ok((calls, t0.elapsed().as_secs_f64() * 1e6 / calls as f64))
}

/// Time the library's reads on the machine at `state` (`n` GPUs).
fn measure_rust(
    lib_path: &Path,
    state: &Path,
    n: u32,
    budget: Duration,
) -> Result<Vec<Figure>, String> {
    // The library reads MIGCTL_SIM_STATE at nvmlInit; this process has no
    // other threads that read the environment while the bench runs.
    std::env::set_var(mig_sim::ENV_STATE, state);
    std::env::remove_var(mig_sim::ENV_FAULT);
    // SAFETY: loading runs the fake library's initialisers, which have no
    // preconditions; every entry point used below is checked to exist.
    let lib = unsafe { sys::NvmlLib::new(lib_path) }.map_err(|e| fail("load")(e.to_string()))?;
    macro_rules! f {
        ($name:ident) => {
            lib.$name
                .as_ref()
                .map(|f| *f)
                .map_err(|e| fail(stringify!($name))(e.to_string()))?
        };
    }
    let (init, shutdown, count, handle) = (
        f!(nvmlInit_v2),
        f!(nvmlShutdown),
        f!(nvmlDeviceGetCount_v2),
        f!(nvmlDeviceGetHandleByIndex_v2),
    );
    let (mig_mode, memory, temp, uuid, mig_count) = (
        f!(nvmlDeviceGetMigMode),
        f!(nvmlDeviceGetMemoryInfo),
        f!(nvmlDeviceGetTemperature),
        f!(nvmlDeviceGetUUID),
        f!(nvmlDeviceGetMaxMigDeviceCount),
    );
    // SAFETY (every call below): the out pointers are valid locals, the
    // buffers' lengths are passed, handles come from the library itself.
    let rc = unsafe { init() };
    if rc != 0 {
        return Err(format!("nvmlInit_v2: NVML error {rc}"));
    }
    let last = n - 1;
    let mut h: sys::nvmlDevice_t = std::ptr::null_mut();
    let rc = unsafe { handle(last, &mut h) };
    if rc != 0 {
        return Err(format!("handle of GPU {last}: NVML error {rc}"));
    }
    let mut out = Vec::new();
    let mut push = |name: &str, r: Result<(u64, f64), String>| -> Result<(), String> {
        let (calls, us) = r.map_err(fail(name))?;
        out.push(Figure {
            gpus: n,
            client: "rust".into(),
            function: name.into(),
            calls,
            us_per_call: us,
        });
        Ok(())
    };
    let (mut cur, mut pend): (c_uint, c_uint) = (0, 0);
    push(
        "nvmlDeviceGetMigMode",
        time(budget, || unsafe { mig_mode(h, &mut cur, &mut pend) }),
    )?;
    let mut c: c_uint = 0;
    push(
        "nvmlDeviceGetCount_v2",
        time(budget, || unsafe { count(&mut c) }),
    )?;
    let mut h2: sys::nvmlDevice_t = std::ptr::null_mut();
    push(
        "nvmlDeviceGetHandleByIndex_v2",
        time(budget, || unsafe { handle(last, &mut h2) }),
    )?;
    let mut mem = sys::nvmlMemory_t {
        total: 0,
        free: 0,
        used: 0,
    };
    push(
        "nvmlDeviceGetMemoryInfo",
        time(budget, || unsafe { memory(h, &mut mem) }),
    )?;
    let mut t: c_uint = 0;
    push(
        "nvmlDeviceGetTemperature",
        time(budget, || unsafe { temp(h, 0, &mut t) }),
    )?;
    let mut buf = [0 as std::ffi::c_char; 96];
    push(
        "nvmlDeviceGetUUID",
        time(budget, || unsafe {
            uuid(h, buf.as_mut_ptr(), buf.len() as c_uint)
        }),
    )?;
    let mut m: c_uint = 0;
    push(
        "nvmlDeviceGetMaxMigDeviceCount",
        time(budget, || unsafe { mig_count(h, &mut m) }),
    )?;
    unsafe { shutdown() };
    Ok(out)
}

/// The same reads through pynvml, where `python3` has it (`None` if not).
const PYNVML: &str = r#"
import sys, time, pynvml
budget = float(sys.argv[1])
pynvml.nvmlInit()
h = pynvml.nvmlDeviceGetHandleByIndex(pynvml.nvmlDeviceGetCount() - 1)
for name, f in [("nvmlDeviceGetMigMode", lambda: pynvml.nvmlDeviceGetMigMode(h)),
                ("nvmlDeviceGetMemoryInfo", lambda: pynvml.nvmlDeviceGetMemoryInfo(h)),
                ("nvmlDeviceGetTemperature", lambda: pynvml.nvmlDeviceGetTemperature(h, 0))]:
    for _ in range(20): f()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < budget:
        for _ in range(16): f()
        n += 16
    print(name, n, (time.perf_counter() - t0) * 1e6 / n)
pynvml.nvmlShutdown()
"#;

fn measure_pynvml(lib_path: &Path, state: &Path, n: u32, budget: Duration) -> Option<Vec<Figure>> {
    let dir = lib_path.parent()?;
    let o = Command::new("python3")
        .args(["-c", PYNVML, &budget.as_secs_f64().to_string()])
        .env("LD_LIBRARY_PATH", dir)
        .env(mig_sim::ENV_STATE, state)
        .env_remove(mig_sim::ENV_FAULT)
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&o.stdout);
    text.lines()
        .map(|l| {
            let mut w = l.split_whitespace();
            Some(Figure {
                gpus: n,
                client: "pynvml".into(),
                function: w.next()?.to_string(),
                calls: w.next()?.parse().ok()?,
                us_per_call: w.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// Figures of one `migctl bench nvml-read` run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NvmlRead {
    /// Every function timed at every size, through each client.
    pub figures: Vec<Figure>,
    /// Whether pynvml was measured (`python3` with pynvml was found).
    pub pynvml: bool,
}

/// Time the reads of the fake library at `lib` on machines of each size in
/// `gpus` (each at least 1), for about `budget` per function and size.
pub fn measure(lib: &Path, gpus: &[u32], budget: Duration) -> Result<NvmlRead, String> {
    if gpus.contains(&0) {
        return Err("--gpus: each size must be at least 1".into());
    }
    let dir = std::env::temp_dir().join(format!("migctl-bench-nvml-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut figures = Vec::new();
    let mut pynvml = true;
    let r = (|| {
        for &n in gpus {
            let state = dir.join(format!("state-{n}.json"));
            build(&state, n)?;
            figures.extend(measure_rust(lib, &state, n, budget)?);
            match measure_pynvml(lib, &state, n, budget) {
                Some(f) => figures.extend(f),
                None => pynvml = false,
            }
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    r.map(|()| NvmlRead { figures, pynvml })
}
