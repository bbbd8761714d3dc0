//! `migctl bench soak`: many migctl processes at once on one simulated
//! machine for a bounded time, then checks. Workers (threads, each running
//! one child process after another): a `migctl mig` create/destroy worker
//! per owned GPU, half of them through the NVML backend over the fake
//! library; an apply worker cycling one GPU between two configs; listing
//! workers. Checks: the state file loads and every layout revalidates after
//! every round (no corrupt state); each owned GPU ends with the GI count its
//! owner last saw succeed (no lost update); every child finishes within
//! [`CHILD_TIMEOUT`] (no deadlock); no unfinished journal once the apply
//! worker stops, and the last applied config asserts; every listing exits 0
//! (or 6, listing nothing) and lists only 1g.10gb GIs (profile 19) on owned GPUs, at most 7 each.

use crate::reconcile_cmd::{Failure, Output};
use mig_sim::MachineState;
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
    /// `nvml`), counting one op and one deadlock check; None if it hung.
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
            .stderr(Stdio::null());
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
        let out = child.stdout.take();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut o) = out {
                let _ = std::io::Read::read_to_string(&mut o, &mut s);
            }
            s
        });
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
        let text = reader.join().unwrap_or_default();
        self.check(status.is_some(), || {
            format!("deadlock: {args:?} ran past {CHILD_TIMEOUT:?}")
        });
        status.map(|s| (s.code().unwrap_or(-1), text))
    }

    /// The state file loads and every layout obeys the MIG rules.
    fn check_state(&self) {
        let p = self.state();
        let r = std::fs::read_to_string(&p)
            .map_err(|e| e.to_string())
            .and_then(|t| MachineState::parse(&p, &t).map_err(|e| e.to_string()))
            .and_then(|st| {
                st.gpus
                    .iter()
                    .try_for_each(|g| g.layout.validate(g.model()).map_err(|e| e.to_string()))
            });
        self.check(r.is_ok(), || format!("corrupt state: {r:?}"));
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

/// A create/destroy worker owning `gpu`; returns the GI count it last saw succeed.
fn owner(s: &Soak, gpu: u32, nvml: bool, until: Instant) -> usize {
    let g = gpu.to_string();
    let mut count = 0usize;
    while Instant::now() < until {
        let destroy = count >= 3;
        let r = if destroy {
            s.run(&["mig", "-dci", "-i", &g], nvml)
                .filter(|(c, _)| *c == 0)
                .and_then(|_| s.run(&["mig", "-dgi", "-i", &g], nvml))
        } else {
            s.run(&["mig", "-cgi", "19", "-C", "-i", &g], nvml)
        };
        match r {
            Some((0, _)) => count = if destroy { 0 } else { count + 1 },
            Some((code, _)) => s.fail(format!("GPU {gpu} owner: exit {code} (destroy: {destroy})")),
            None => {}
        }
        s.check_state();
    }
    count
}

const CONFIGS: &str = "version: v1\nmig-configs:\n  soak-a:\n    - devices: [OWNED]\n      mig-enabled: true\n      mig-devices:\n        \"3g.40gb\": 2\n  soak-b:\n    - devices: [OWNED]\n      mig-enabled: true\n      mig-devices:\n        \"2g.20gb\": 3\n";

/// Figures of one soak.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub duration_s: f64,
    pub workers: usize,
    pub ops: u64,
    pub ops_per_s: f64,
    pub checks: u64,
    pub failures: Vec<String>,
}

fn setup(s: &Soak, gpus: u32) -> Result<(), Failure> {
    let mut init = vec!["sim", "init"];
    init.extend(std::iter::repeat_n("h100-sxm5-80gb", gpus as usize));
    let list: Vec<String> = (0..gpus).map(|i| i.to_string()).collect();
    let list = list.join(",");
    for a in [init, vec!["-i", &list, "-mig", "1"]] {
        match s.run(&a, false) {
            Some((0, _)) => {}
            other => return Err(Failure(1, format!("soak setup {a:?}: {other:?}"))),
        }
    }
    Ok(())
}

/// Run the soak for `duration` with `owners` create/destroy workers (at least 2).
pub fn soak(duration: Duration, owners: usize) -> Result<Report, Failure> {
    let owners = owners.max(2);
    let exe = std::env::current_exe().map_err(|e| Failure(1, e.to_string()))?;
    let dir = std::env::temp_dir().join(format!("migctl-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Failure(1, e.to_string()))?;
    let lib = Command::new(&exe)
        .args(["sim", "nvml-lib"])
        .output()
        .map_err(|e| Failure(1, e.to_string()))?;
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
        .map_err(|e| Failure(1, e.to_string()))?;
    let t0 = Instant::now();
    let until = t0 + duration;
    let owner_threads: Vec<_> = (0..owners as u32)
        .map(|g| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || owner(&s, g, g % 2 == 1, until))
        })
        .collect();
    let applier = {
        let (s, cfg) = (Arc::clone(&s), cfg.clone());
        std::thread::spawn(move || apply_worker(&s, &cfg, until))
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
                .map_err(|_| Failure(1, "an owner worker panicked".into()))?,
        );
    }
    let last = applier
        .join()
        .map_err(|_| Failure(1, "the apply worker panicked".into()))?;
    for l in listers {
        l.join()
            .map_err(|_| Failure(1, "a listing worker panicked".into()))?;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    final_checks(&s, &expected, &cfg, last);
    let _ = std::fs::remove_dir_all(&dir);
    let ops = s.ops.load(Ordering::Relaxed);
    let failures = std::mem::take(&mut *s.failures.lock().expect("not poisoned"));
    Ok(Report {
        duration_s: elapsed,
        workers: owners + 3,
        ops,
        ops_per_s: ops as f64 / elapsed,
        checks: s.checks.load(Ordering::Relaxed),
        failures,
    })
}

/// Cycle the apply GPU between the two configs; the last one applied.
fn apply_worker(s: &Soak, cfg: &Path, until: Instant) -> Option<&'static str> {
    let f = cfg.display().to_string();
    let mut last = None;
    let mut i = 0;
    while Instant::now() < until {
        let name = if i % 2 == 0 { "soak-a" } else { "soak-b" };
        i += 1;
        match s.run(&["apply", "-f", &f, "-c", name], false) {
            Some((0, _)) => last = Some(name),
            Some((code, _)) => s.fail(format!("apply {name}: exit {code}")),
            None => {}
        }
        s.check_state();
    }
    last
}

fn list_worker(s: &Soak, nvml: bool, owners: u32, until: Instant) {
    while Instant::now() < until {
        if let Some((code, text)) = s.run(&["mig", "-lgi"], nvml) {
            let rows = Soak::gi_rows(&text);
            // 6: "No GPU instances found", as nvidia-smi answers with none
            s.check(code == 0 || (code == 6 && rows.is_empty()), || {
                format!("listing exit {code}")
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

fn final_checks(s: &Soak, expected: &[usize], cfg: &Path, last: Option<&str>) {
    s.check_state();
    if let Some((code, text)) = s.run(&["mig", "-lgi"], false) {
        let rows = Soak::gi_rows(&text);
        s.check(code == 0 || (code == 6 && rows.is_empty()), || {
            format!("final listing exit {code}")
        });
        for (g, want) in expected.iter().enumerate() {
            let got = rows.iter().filter(|r| r.0 == g as u32).count();
            s.check(got == *want, || {
                format!("lost update: GPU {g} has {got} GIs, its owner last saw {want}")
            });
        }
    }
    let j = mig_plan::journal::JournalFile::new(s.journal());
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

/// `migctl bench soak` output.
pub fn print(r: &Report, output: Output) {
    match output {
        Output::Text => {
            println!(
                "soak: {:.1} s, {} workers, {} ops, {:.1} ops/s, {} checks, {} failures",
                r.duration_s,
                r.workers,
                r.ops,
                r.ops_per_s,
                r.checks,
                r.failures.len()
            );
            for f in &r.failures {
                println!("FAILED: {f}");
            }
        }
        Output::Json => println!("{:#}", serde_json::json!(r)),
    }
}
