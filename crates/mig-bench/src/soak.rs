//! The soak of `migctl bench soak`: many migctl processes at once on one simulated
//! machine for a bounded time, then checks. Workers (threads, each running
//! one child process after another): a `migctl mig` create/destroy worker
//! per owned GPU, half of them through the NVML backend over the fake
//! library; an apply worker cycling one GPU between two configs; listing
//! workers through both backends.
//!
//! Checks, each counted:
//! - no corrupt state: after every worker round the state file loads and
//!   every layout revalidates;
//! - no lost update: after every round each owner finds its GPU's whole
//!   layout (GI IDs, placements, profiles, CIs) equal to the layout it
//!   expects from the operations it saw succeed, modelled with
//!   `mig_model::engine`; the apply worker finds its GPU holding exactly the
//!   config it last applied; the final state agrees with both;
//! - no deadlock: every child finishes within [`CHILD_TIMEOUT`];
//! - no orphaned journal once the apply worker stops, and the last applied
//!   config asserts;
//! - consistent listings: every listing during the run exits 0 (or 6,
//!   listing nothing) and shows only 1g.10gb GIs (profile 19), at most 7, on
//!   owned GPUs; the final `-lgi`/`-lci` listings, through the simulator and
//!   through NVML, show exactly the final state's instances.
//!
//! `--sabotage` adds a writer that drops GIs from GPU 0 behind its owner's
//! back: the run must then fail, which shows the checks catch a lost update.

use mig_model::catalog::{self, GpuModel};
use mig_model::engine::{self, Layout};
use mig_model::{CiProfileId, GiProfileId};
use mig_sim::MachineState;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A child taking longer than this is taken for a deadlock.
pub const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

struct Soak {
    exe: PathBuf,
    dir: PathBuf,
    lib: String,
    ops: AtomicU64,
    checks: AtomicU64,
    failures: Mutex<Vec<String>>,
}

impl Soak {
    fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    fn journal(&self) -> PathBuf {
        self.dir.join("journal.json")
    }
    fn fail(&self, what: String) {
        self.failures.lock().expect("not poisoned").push(what);
    }
    fn check(&self, ok: bool, what: impl FnOnce() -> String) {
        self.checks.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.fail(what());
        }
    }

    /// Run migctl with `args` (NVML backend over the fake library when
    /// `nvml`), counting one op and one deadlock check: its exit status and
    /// stdout (with stderr after it when it failed); None if it hung.
    fn run(&self, args: &[&str], nvml: bool) -> Option<(i32, String)> {
        let mut c = Command::new(&self.exe);
        c.args(args)
            .env("MIGCTL_SIM_STATE", self.state())
            .env("MIGCTL_JOURNAL", self.journal())
            .env("MIGCTL_BACKEND", if nvml { "nvml" } else { "sim" })
            .env_remove("MIGCTL_SIM_FAULT")
            .env_remove("MIGCTL_NVML_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if nvml {
            c.env("MIGCTL_NVML_LIB", &self.lib);
        }
        let mut child = match c.spawn() {
            Ok(ch) => ch,
            Err(e) => {
                self.fail(format!("spawn {args:?}: {e}"));
                return None;
            }
        };
        let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut s = String::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_string(&mut s);
                }
                s
            })
        };
        let reader = drain(child.stdout.take().map(|p| Box::new(p) as _));
        let err_reader = drain(child.stderr.take().map(|p| Box::new(p) as _));
        let t0 = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break Some(st),
                Ok(None) if t0.elapsed() > CHILD_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(_) => break None,
            }
        };
        self.ops.fetch_add(1, Ordering::Relaxed);
        let mut text = reader.join().unwrap_or_default();
        let err = err_reader.join().unwrap_or_default();
        self.check(status.is_some(), || {
            format!("deadlock: {args:?} ran past {CHILD_TIMEOUT:?}")
        });
        let code = status.map(|s| s.code().unwrap_or(-1))?;
        if code != 0 {
            // what the command said, for the failure message
            text.push_str(&err);
        }
        Some((code, text))
    }

    /// The state file loads and every layout obeys the MIG rules; the state
    /// if so.
    fn check_state(&self) -> Option<MachineState> {
        let p = self.state();
        let r = std::fs::read_to_string(&p)
            .map_err(|e| e.to_string())
            .and_then(|t| MachineState::parse(&p, &t).map_err(|e| e.to_string()))
            .and_then(|st| {
                st.gpus
                    .iter()
                    .try_for_each(|g| g.layout.validate(g.model()).map_err(|e| e.to_string()))
                    .map(|()| st)
            });
        self.check(r.is_ok(), || {
            format!("corrupt state: {:?}", r.as_ref().err())
        });
        r.ok()
    }

    /// GPU `gpu`'s whole layout in `st` equals `want`.
    fn check_layout(&self, st: Option<&MachineState>, gpu: u32, want: &Layout, who: &str) {
        let Some(st) = st else { return };
        let got = st.gpus.get(gpu as usize).map(|g| &g.layout);
        self.check(got == Some(want), || {
            format!("lost update on GPU {gpu} ({who}): state holds {got:?}, expected {want:?}")
        });
    }

    /// GI rows of `migctl mig -lgi` output: (gpu, profile id).
    fn gi_rows(text: &str) -> Vec<(u32, u32)> {
        text.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.trim_matches('|').split_whitespace().collect();
                // |   0  MIG 1g.10gb          19        1          0:1     |
                (f.len() >= 5 && f[1] == "MIG")
                    .then(|| Some((f[0].parse().ok()?, f[3].parse().ok()?)))
                    .flatten()
            })
            .collect()
    }
}

/// The last non-empty line of a command's output, for a failure message.
fn last_line(out: &str) -> &str {
    out.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// The GI and CI rows of `migctl mig -lgi` and `-lci` listings, one string
/// each, comparable with [`state_rows`].
fn listing_rows(lgi: &str, lci: &str) -> BTreeSet<String> {
    let fields = |l: &str| -> Vec<String> {
        l.trim_matches('|')
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let gis = lgi
        .lines()
        .map(fields)
        .filter(|f| f.len() >= 6 && f[1] == "MIG");
    // |   0     13       MIG 1g.10gb          0         0          0:1     |
    let cis = lci
        .lines()
        .map(fields)
        .filter(|f| f.len() >= 7 && f[2] == "MIG");
    gis.map(|f| format!("GPU {} GI {} profile {} at {}", f[0], f[4], f[3], f[5]))
        .chain(cis.map(|f| {
            format!(
                "GPU {} GI {} CI {} profile {} at {}",
                f[0], f[1], f[5], f[4], f[6]
            )
        }))
        .collect()
}

/// The rows a listing of `st` must show (see [`listing_rows`]).
fn state_rows(st: &MachineState) -> BTreeSet<String> {
    let mut rows = BTreeSet::new();
    for (g, gpu) in st.gpus.iter().enumerate() {
        for gi in &gpu.layout.gpu_instances {
            rows.insert(format!(
                "GPU {g} GI {} profile {} at {}",
                gi.id, gi.profile_id.0, gi.placement
            ));
            for ci in &gi.compute_instances {
                rows.insert(format!(
                    "GPU {g} GI {} CI {} profile {} at {}",
                    gi.id, ci.id, ci.profile_id.0, ci.placement
                ));
            }
        }
    }
    rows
}

/// What `migctl mig -cgi 19 -C` does to `layout`, per the model: a 1g.10gb
/// GI at its default placement, holding one CI of the default CI profile.
fn model_create(model: &GpuModel, layout: &mut Layout) -> Result<(), String> {
    let gi = layout
        .create_gi(model, GiProfileId(19), None)
        .map_err(|e| e.to_string())?;
    let gp = engine::gi_profile(model, GiProfileId(19)).map_err(|e| e.to_string())?;
    let ci = engine::default_ci_profile(gp.slices, &gp.ci_profiles)
        .ok_or("profile 19 has no full CI profile")?;
    layout
        .create_ci(model, gi, CiProfileId(ci.id), None)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A create/destroy worker owning `gpu`, starting from layout `start`:
/// creates 1g.10gb GIs (with their CI) three at a time, then destroys them
/// all, checking after every round that the GPU holds exactly the layout its
/// own successful operations give; returns the layout it expects at the end.
fn owner(s: &Soak, gpu: u32, nvml: bool, until: Instant, start: Layout) -> Layout {
    let g = gpu.to_string();
    let model = catalog::model(SOAK_MODEL).expect("catalog board");
    let mut want = start;
    while Instant::now() < until {
        let destroy = want.gpu_instances.len() >= 3;
        if destroy {
            match s.run(&["mig", "-dci", "-i", &g], nvml) {
                Some((0, _)) => {
                    want.gpu_instances
                        .iter_mut()
                        .for_each(|gi| gi.compute_instances.clear());
                    match s.run(&["mig", "-dgi", "-i", &g], nvml) {
                        Some((0, _)) => want.gpu_instances.clear(),
                        Some((code, out)) => s.fail(format!(
                            "GPU {gpu} owner: -dgi exit {code}: {}",
                            last_line(&out)
                        )),
                        None => {}
                    }
                }
                Some((code, out)) => s.fail(format!(
                    "GPU {gpu} owner: -dci exit {code}: {}",
                    last_line(&out)
                )),
                None => {}
            }
        } else {
            match s.run(&["mig", "-cgi", "19", "-C", "-i", &g], nvml) {
                Some((0, _)) => {
                    if let Err(e) = model_create(model, &mut want) {
                        s.fail(format!(
                            "GPU {gpu} owner: the model refuses the create: {e}"
                        ));
                    }
                }
                Some((code, out)) => s.fail(format!(
                    "GPU {gpu} owner: -cgi exit {code}: {}",
                    last_line(&out)
                )),
                None => {}
            }
        }
        let st = s.check_state();
        s.check_layout(st.as_ref(), gpu, &want, "its owner");
        // after a failure, follow the state so one fault is reported once
        if let Some(st) = st {
            want = st.gpus[gpu as usize].layout.clone();
        }
    }
    want
}

/// The board every soak GPU is.
const SOAK_MODEL: &str = "h100-sxm5-80gb";

const CONFIGS: &str = "version: v1\nmig-configs:\n  soak-a:\n    - devices: [OWNED]\n      mig-enabled: true\n      mig-devices:\n        \"3g.40gb\": 2\n  soak-b:\n    - devices: [OWNED]\n      mig-enabled: true\n      mig-devices:\n        \"2g.20gb\": 3\n";

/// Figures of one soak.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub duration_s: f64,
    pub workers: usize,
    pub ops: u64,
    pub ops_per_s: f64,
    pub checks: u64,
    /// Whether the saboteur ran (`--sabotage`).
    pub sabotage: bool,
    pub failures: Vec<String>,
}

fn setup(s: &Soak, gpus: u32) -> Result<(), String> {
    let mut init = vec!["sim", "init"];
    init.extend(std::iter::repeat_n(SOAK_MODEL, gpus as usize));
    let list: Vec<String> = (0..gpus).map(|i| i.to_string()).collect();
    let list = list.join(",");
    for a in [init, vec!["-i", &list, "-mig", "1"]] {
        match s.run(&a, false) {
            Some((0, _)) => {}
            other => return Err(format!("soak setup {a:?}: {other:?}")),
        }
    }
    Ok(())
}

/// Run the soak for `duration` with `owners` create/destroy workers (at
/// least 2), each running the migctl binary at `exe`; `sabotage` adds a
/// writer that changes GPU 0 behind its owner. An error is a soak that
/// could not start (or a worker that panicked), not a failed check: those
/// are the report's `failures`.
pub fn soak(
    exe: &Path,
    duration: Duration,
    owners: usize,
    sabotage: bool,
) -> Result<Report, String> {
    let owners = owners.max(2);
    let exe = exe.to_path_buf();
    let dir = std::env::temp_dir().join(format!("migctl-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let lib = Command::new(&exe)
        .args(["sim", "nvml-lib"])
        .output()
        .map_err(|e| e.to_string())?;
    let lib = String::from_utf8_lossy(&lib.stdout).trim().to_string();
    let s = Arc::new(Soak {
        exe,
        dir: dir.clone(),
        lib,
        ops: AtomicU64::new(0),
        checks: AtomicU64::new(0),
        failures: Mutex::new(Vec::new()),
    });
    let apply_gpu = owners as u32;
    setup(&s, apply_gpu + 1)?;
    let cfg = dir.join("soak.yaml");
    std::fs::write(&cfg, CONFIGS.replace("OWNED", &apply_gpu.to_string()))
        .map_err(|e| e.to_string())?;
    let start = s
        .check_state()
        .ok_or_else(|| "soak setup left an unreadable state".to_string())?;
    let t0 = Instant::now();
    let until = t0 + duration;
    let owner_threads: Vec<_> = (0..owners as u32)
        .map(|g| {
            let s = Arc::clone(&s);
            let layout = start.gpus[g as usize].layout.clone();
            std::thread::spawn(move || owner(&s, g, g % 2 == 1, until, layout))
        })
        .collect();
    let saboteur = sabotage.then(|| {
        let s = Arc::clone(&s);
        std::thread::spawn(move || sabotage_worker(&s, until))
    });
    let applier = {
        let (s, cfg) = (Arc::clone(&s), cfg.clone());
        std::thread::spawn(move || apply_worker(&s, &cfg, until, apply_gpu))
    };
    let listers: Vec<_> = (0..2)
        .map(|i| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || list_worker(&s, i == 1, owners as u32, until))
        })
        .collect();
    let mut expected = Vec::new();
    for t in owner_threads {
        expected.push(
            t.join()
                .map_err(|_| "an owner worker panicked".to_string())?,
        );
    }
    let last = applier
        .join()
        .map_err(|_| "the apply worker panicked".to_string())?;
    for l in listers.into_iter().chain(saboteur) {
        l.join()
            .map_err(|_| "a listing worker panicked".to_string())?;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    final_checks(&s, &expected, &cfg, last, apply_gpu);
    let _ = std::fs::remove_dir_all(&dir);
    let ops = s.ops.load(Ordering::Relaxed);
    let failures = std::mem::take(&mut *s.failures.lock().expect("not poisoned"));
    Ok(Report {
        duration_s: elapsed,
        workers: owners + 3,
        ops,
        ops_per_s: ops as f64 / elapsed,
        checks: s.checks.load(Ordering::Relaxed),
        sabotage,
        failures,
    })
}

/// The (profile name, count) pairs config `name` of [`CONFIGS`] asks for.
fn config_counts(name: &str) -> &'static [(&'static str, usize)] {
    match name {
        "soak-a" => &[("3g.40gb", 2)],
        _ => &[("2g.20gb", 3)],
    }
}

/// GPU `gpu` in `st` holds exactly what config `name` asks for: its GI
/// counts by profile, each GI with one CI spanning it.
fn check_applied(s: &Soak, st: Option<&MachineState>, gpu: u32, name: &str) {
    let Some(st) = st else { return };
    let g = &st.gpus[gpu as usize];
    let model = g.model();
    let mut got: Vec<(String, usize)> = Vec::new();
    let mut whole = true;
    for gi in &g.layout.gpu_instances {
        // one CI, of the profile spanning the GI (what mig-parted creates)
        let (pname, full_ci) = match engine::gi_profile(model, gi.profile_id) {
            Ok(p) => (
                p.name.clone(),
                engine::default_ci_profile(p.slices, &p.ci_profiles).map(|c| c.id),
            ),
            Err(_) => (format!("profile {}", gi.profile_id.0), None),
        };
        whole &= gi.compute_instances.len() == 1
            && Some(gi.compute_instances[0].profile_id.0) == full_ci;
        match got.iter_mut().find(|(n, _)| *n == pname) {
            Some((_, c)) => *c += 1,
            None => got.push((pname, 1)),
        }
    }
    let want: Vec<(String, usize)> = config_counts(name)
        .iter()
        .map(|(n, c)| (n.to_string(), *c))
        .collect();
    got.sort();
    s.check(got == want && whole, || {
        format!("GPU {gpu} after apply {name}: holds {got:?} (one whole CI each: {whole}), config asks {want:?}")
    });
}

/// Cycle the apply GPU between the two configs, checking after each apply
/// that the GPU holds it; the last one applied.
fn apply_worker(s: &Soak, cfg: &Path, until: Instant, gpu: u32) -> Option<&'static str> {
    let f = cfg.display().to_string();
    let mut last = None;
    let mut i = 0;
    while Instant::now() < until {
        let name = if i % 2 == 0 { "soak-a" } else { "soak-b" };
        i += 1;
        let r = s.run(&["apply", "-f", &f, "-c", name], false);
        let st = s.check_state();
        match r {
            Some((0, _)) => {
                last = Some(name);
                check_applied(s, st.as_ref(), gpu, name);
            }
            Some((code, out)) => s.fail(format!("apply {name}: exit {code}: {}", last_line(&out))),
            None => {}
        }
    }
    last
}

/// `--sabotage`: every 100 ms, drop the newest GI of GPU 0 behind its
/// owner's back (what a lost update does to a GPU). It takes the state's
/// lock, so its change lands however busy the machine is (an unlocked write
/// would mostly be overwritten by the writer holding the lock, and the check
/// of the checks would depend on timing); the owner must see its layout
/// change under it.
fn sabotage_worker(s: &Soak, until: Instant) {
    let file = mig_sim::state::StateFile::new(s.state());
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
        let Ok(lock) = file.lock(true) else { continue };
        let Ok(mut st) = file.load(&lock) else {
            continue;
        };
        if st.gpus[0].layout.gpu_instances.pop().is_some() {
            let _ = file.save(&lock, &st);
        }
    }
}

fn list_worker(s: &Soak, nvml: bool, owners: u32, until: Instant) {
    while Instant::now() < until {
        if let Some((code, text)) = s.run(&["mig", "-lgi"], nvml) {
            let rows = Soak::gi_rows(&text);
            // 6: "No GPU instances found", as nvidia-smi answers with none
            s.check(code == 0 || (code == 6 && rows.is_empty()), || {
                let via = if nvml { "NVML" } else { "the simulator" };
                format!("listing through {via}: exit {code}: {}", last_line(&text))
            });
            for g in 0..owners {
                let mine: Vec<_> = rows.iter().filter(|r| r.0 == g).collect();
                s.check(mine.len() <= 7 && mine.iter().all(|r| r.1 == 19), || {
                    format!("GPU {g} listed {mine:?}")
                });
            }
        }
    }
}

fn final_checks(s: &Soak, expected: &[Layout], cfg: &Path, last: Option<&str>, apply_gpu: u32) {
    let Some(st) = s.check_state() else { return };
    for (g, want) in expected.iter().enumerate() {
        s.check_layout(Some(&st), g as u32, want, "final state");
    }
    if let Some(name) = last {
        check_applied(s, Some(&st), apply_gpu, name);
    }
    // every listing, through either backend, shows exactly the final state
    let want = state_rows(&st);
    for nvml in [false, true] {
        let lgi = s.run(&["mig", "-lgi"], nvml);
        let lci = s.run(&["mig", "-lci"], nvml);
        let (Some((c1, lgi)), Some((c2, lci))) = (lgi, lci) else {
            continue;
        };
        let got = listing_rows(&lgi, &lci);
        let via = if nvml { "NVML" } else { "the simulator" };
        s.check((c1 == 0 || c1 == 6) && (c2 == 0 || c2 == 6), || {
            format!("final listings through {via}: exit {c1}/{c2}")
        });
        s.check(got == want, || {
            let missing: Vec<_> = want.difference(&got).collect();
            let extra: Vec<_> = got.difference(&want).collect();
            format!("final listing through {via} disagrees with the state: missing {missing:?}, extra {extra:?}")
        });
    }
    let j = mig_apply::journal::JournalFile::new(s.journal());
    let orphan = matches!(j.load(), Ok(Some(ref x)) if x.unfinished());
    s.check(!orphan, || {
        "orphaned journal after the apply worker stopped".into()
    });
    if let Some(name) = last {
        let f = cfg.display().to_string();
        let r = s.run(&["assert", "-f", &f, "-c", name], false);
        s.check(matches!(r, Some((0, _))), || {
            format!("assert {name} after the soak: {r:?}")
        });
    }
}
