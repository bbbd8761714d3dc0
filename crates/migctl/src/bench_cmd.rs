//! `migctl bench apply`: NVML calls and wall time of `migctl apply` against
//! mig-parted's procedure (re-implemented in `mig_bench::baseline`), for
//! every ordered pair of the configs of a file that suit a board. Both run
//! as child processes through the NVML backend over the fake library, and
//! both are counted by the library's own `MIGCTL_NVML_LOG`, so they are
//! measured on equal terms. A benchmark, not a test: it prints figures.

use crate::reconcile_cmd::{Failure, Output};
use clap::{Parser, Subcommand};
use mig_apply::assert_gpu;
use mig_config::Spec;
use mig_config::{catalog_identity, validate};
use mig_model::backend::{GpuRef, Inventory};
use mig_model::catalog;
use mig_sim::SimMachine;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    name = "migctl bench",
    about = "Benchmarks (figures, not tests)",
    disable_version_flag = true
)]
struct BenchCli {
    #[command(subcommand)]
    cmd: BenchCmd,
}

#[derive(Subcommand, Debug)]
enum BenchCmd {
    /// For every ordered pair (A, B) of the file's configs that suit a board:
    /// apply A, then measure applying B with migctl and with mig-parted's
    /// procedure (NVML calls, mutating calls, wall time).
    Apply {
        /// The config corpus, e.g. mig-parted's config-default.yaml.
        #[arg(short = 'f', long = "config-file", value_name = "FILE")]
        file: PathBuf,
        /// Boards to run on (default: a100-sxm4-40gb and h100-sxm5-80gb).
        #[arg(long = "model", value_name = "SLUG")]
        models: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// Many migctl processes at once on one simulated machine (create/destroy
    /// through the simulator and through the fake NVML library, apply,
    /// listings), then checks: no corrupt state, lost update, deadlock or
    /// orphaned journal, and consistent listings. Exit 1 if a check fails.
    Soak {
        /// How long to run, in seconds.
        #[arg(long, value_name = "SECS")]
        duration: u64,
        /// Create/destroy workers, one GPU each (at least 2).
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Also run a writer that drops GPU 0's GIs behind its owner's back
        /// (what a lost update does): the soak must then fail (a check of the checks).
        #[arg(long)]
        sabotage: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// Microseconds per read of the fake NVML library on simulated machines of 1, 8 and 32 GPUs.
    NvmlRead(crate::bench_nvml::NvmlReadArgs),
    /// mig-parted's apply procedure on this machine's backend (the
    /// benchmark's baseline; see `mig_bench::baseline`).
    #[command(hide = true)]
    MigPartedBaseline {
        #[arg(short = 'f', long = "config-file")]
        file: PathBuf,
        #[arg(short = 'c', long = "selected-config")]
        config: Option<String>,
    },
}

/// NVML functions that change a GPU.
const MUTATING: &[&str] = &[
    "nvmlDeviceSetMigMode",
    "nvmlDeviceCreateGpuInstance",
    "nvmlDeviceCreateGpuInstanceWithPlacement",
    "nvmlGpuInstanceDestroy",
    "nvmlGpuInstanceCreateComputeInstance",
    "nvmlGpuInstanceCreateComputeInstanceWithPlacement",
    "nvmlComputeInstanceDestroy",
];

/// One measured run.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
struct Run {
    calls: u64,
    mutating: u64,
    ms: f64,
    /// Whether the GPU then held config B.
    ok: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
struct Row {
    model: String,
    from: String,
    to: String,
    migctl: Run,
    mig_parted: Run,
}

struct Bench {
    exe: PathBuf,
    dir: PathBuf,
    lib: String,
    file: PathBuf,
}

impl Bench {
    fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.exe);
        c.args(args)
            .env("MIGCTL_SIM_STATE", self.state())
            .env("MIGCTL_JOURNAL", self.dir.join("journal.json"))
            .env_remove("MIGCTL_SIM_FAULT")
            .env_remove("MIGCTL_NVML_LOG");
        c
    }

    fn ok(&self, mut c: Command, what: &str) -> Result<(), Failure> {
        let o = c.output().map_err(|e| Failure(1, format!("{what}: {e}")))?;
        if o.status.success() {
            Ok(())
        } else {
            Err(Failure(
                1,
                format!("{what} failed: {}", String::from_utf8_lossy(&o.stderr)),
            ))
        }
    }

    /// Run `args` through the NVML backend over the fake library, logging.
    fn measure(&self, args: &[&str], to: &str) -> Result<Run, Failure> {
        let log = self.dir.join("nvml.log");
        let _ = std::fs::remove_file(&log);
        let mut c = self.cmd(args);
        c.env("MIGCTL_BACKEND", "nvml")
            .env("MIGCTL_NVML_LIB", &self.lib)
            .env("MIGCTL_NVML_LOG", &log);
        let t0 = Instant::now();
        let o = c.output().map_err(|e| Failure(1, e.to_string()))?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let names = text.lines().filter_map(|l| l.split_whitespace().next());
        let (mut calls, mut mutating) = (0, 0);
        for n in names {
            calls += 1;
            mutating += u64::from(MUTATING.contains(&n));
        }
        Ok(Run {
            calls,
            mutating,
            ms,
            ok: o.status.success() && self.holds(to)?,
        })
    }

    /// Whether the machine now holds config `name`.
    fn holds(&self, name: &str) -> Result<bool, Failure> {
        let spec = Spec::load(&self.file).map_err(|e| Failure(2, e.to_string()))?;
        let named = spec
            .select(Some(name), "bench")
            .map_err(|e| Failure(2, e.to_string()))?;
        let sim = SimMachine::open(self.state()).map_err(|e| Failure(1, e.to_string()))?;
        let snaps = (0..sim.devices().map_err(|e| Failure(1, e.to_string()))?.len() as u32)
            .map(|i| sim.snapshot(&GpuRef::Index(i)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Failure(1, e.to_string()))?;
        let ids: Vec<_> = snaps.iter().map(|s| s.identity.clone()).collect();
        let Ok(sel) = validate(named, &ids) else {
            return Ok(false);
        };
        Ok(sel.targets.iter().all(|t| {
            snaps
                .iter()
                .find(|s| s.identity.index == t.index)
                .is_some_and(|s| assert_gpu(s, &t.demand, false).is_ok())
        }))
    }
}

fn run_apply(file: &Path, models: &[String], output: Output) -> Result<(), Failure> {
    let exe = std::env::current_exe().map_err(|e| Failure(1, e.to_string()))?;
    let dir = std::env::temp_dir().join(format!("migctl-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Failure(1, format!("{}: {e}", dir.display())))?;
    let lib = Command::new(&exe)
        .args(["sim", "nvml-lib"])
        .output()
        .map_err(|e| Failure(1, e.to_string()))?;
    if !lib.status.success() {
        return Err(Failure(
            1,
            format!(
                "the fake NVML library is needed: {}",
                String::from_utf8_lossy(&lib.stderr)
            ),
        ));
    }
    let b = Bench {
        exe,
        dir: dir.clone(),
        lib: String::from_utf8_lossy(&lib.stdout).trim().to_string(),
        file: file.to_path_buf(),
    };
    let spec = Spec::load(file).map_err(|e| Failure(2, e.to_string()))?;
    let models: Vec<String> = if models.is_empty() {
        vec!["a100-sxm4-40gb".into(), "h100-sxm5-80gb".into()]
    } else {
        models.to_vec()
    };
    let f = file.to_string_lossy().to_string();
    let mut rows = Vec::new();
    for slug in &models {
        let model = catalog::model(slug)
            .ok_or_else(|| Failure(2, format!("{slug}: not a model (`migctl sim models`)")))?;
        let names: Vec<String> = spec
            .names()
            .into_iter()
            .filter(|n| {
                spec.select(Some(n), "bench").is_ok_and(|c| {
                    validate(c, &[catalog_identity(0, model)]).is_ok_and(|s| s.target(0).is_some())
                })
            })
            .collect();
        for a in &names {
            let mut init = b.cmd(&["sim", "init", slug]);
            init.env("MIGCTL_BACKEND", "sim");
            b.ok(init, "sim init")?;
            let mut setup = b.cmd(&["apply", "-f", &f, "-c", a]);
            setup.env("MIGCTL_BACKEND", "sim");
            b.ok(setup, &format!("apply {a}"))?;
            let start = std::fs::read(b.state()).map_err(|e| Failure(1, e.to_string()))?;
            for to in names.iter().filter(|n| *n != a) {
                std::fs::write(b.state(), &start).map_err(|e| Failure(1, e.to_string()))?;
                let migctl = b.measure(&["apply", "-f", &f, "-c", to], to)?;
                std::fs::write(b.state(), &start).map_err(|e| Failure(1, e.to_string()))?;
                let parted =
                    b.measure(&["bench", "mig-parted-baseline", "-f", &f, "-c", to], to)?;
                let row = Row {
                    model: slug.clone(),
                    from: a.clone(),
                    to: to.clone(),
                    migctl,
                    mig_parted: parted,
                };
                if output == Output::Text {
                    print_row(&row);
                }
                rows.push(row);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let sum = |pick: &dyn Fn(&Row) -> Run| {
        rows.iter().fold(
            Run {
                ok: true,
                ..Run::default()
            },
            |acc, r| {
                let x = pick(r);
                Run {
                    calls: acc.calls + x.calls,
                    mutating: acc.mutating + x.mutating,
                    ms: acc.ms + x.ms,
                    ok: acc.ok && x.ok,
                }
            },
        )
    };
    let total_m = sum(&|r| r.migctl);
    let total_p = sum(&|r| r.mig_parted);
    match output {
        Output::Text => {
            println!(
                "total over {} pairs: migctl {} calls, {} mutating, {:.0} ms{}; mig-parted procedure {} calls, {} mutating, {:.0} ms{}",
                rows.len(),
                total_m.calls,
                total_m.mutating,
                total_m.ms,
                if total_m.ok { "" } else { " (NOT every pair reached)" },
                total_p.calls,
                total_p.mutating,
                total_p.ms,
                if total_p.ok { "" } else { " (NOT every pair reached)" },
            );
        }
        Output::Json => println!(
            "{:#}",
            serde_json::json!({"pairs": rows, "total": {"migctl": total_m, "mig_parted": total_p}})
        ),
    }
    Ok(())
}

fn print_row(r: &Row) {
    let cell = |x: &Run| {
        format!(
            "{:>5} {:>4} {:>7.1}{}",
            x.calls,
            x.mutating,
            x.ms,
            if x.ok { " " } else { "!" }
        )
    };
    println!(
        "{:<15} {:<22} -> {:<22} migctl {} | mig-parted {}",
        r.model,
        r.from,
        r.to,
        cell(&r.migctl),
        cell(&r.mig_parted)
    );
}

/// The baseline: mig-parted's procedure on each GPU the config selects, one
/// after another, as mig-parted walks them.
fn run_baseline(file: &Path, config: Option<&str>) -> Result<(), Failure> {
    let spec = Spec::load(file).map_err(|e| Failure(2, e.to_string()))?;
    let named = spec
        .select(config, &file.display().to_string())
        .map_err(|e| Failure(2, e.to_string()))?;
    let (backend, _) = crate::backend::open_backend_kind().map_err(|e| Failure(1, e))?;
    let devs = backend.devices().map_err(|e| Failure(1, e.to_string()))?;
    let ids = devs
        .iter()
        .map(|d| backend.identity(&GpuRef::Index(d.index)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure(1, e.to_string()))?;
    let sel = validate(named, &ids).map_err(|e| Failure(2, e.to_string()))?;
    for t in &sel.targets {
        let model = catalog::model(&t.model).ok_or_else(|| Failure(1, t.model.clone()))?;
        let r = mig_bench::baseline::apply_like_mig_parted(
            backend.as_ref(),
            &GpuRef::Index(t.index),
            model,
            &t.demand,
        )
        .map_err(|e| Failure(1, e.to_string()))?;
        if !r.ok {
            return Err(Failure(
                1,
                format!("GPU {}: all {} orderings failed", t.index, r.attempts),
            ));
        }
    }
    Ok(())
}

/// `migctl bench ...`.
pub fn main(args: &[String]) -> ExitCode {
    let argv: Vec<String> = std::iter::once("migctl bench".to_string())
        .chain(args[1..].iter().cloned())
        .collect();
    let cli = match crate::error::parse_verb::<BenchCli>(argv.iter().cloned()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let r = match cli.cmd {
        BenchCmd::Apply {
            file,
            models,
            output,
        } => run_apply(&file, &models, output),
        BenchCmd::MigPartedBaseline { file, config } => run_baseline(&file, config.as_deref()),
        BenchCmd::NvmlRead(a) => crate::bench_nvml::run(&a),
        BenchCmd::Soak {
            duration,
            workers,
            sabotage,
            output,
        } => crate::soak::soak(std::time::Duration::from_secs(duration), workers, sabotage)
            .and_then(|r| {
                crate::soak::print(&r, output);
                if r.failures.is_empty() {
                    Ok(())
                } else {
                    Err(Failure(
                        1,
                        format!("{} soak checks failed", r.failures.len()),
                    ))
                }
            }),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, msg)) => {
            eprintln!("migctl: {msg}");
            ExitCode::from(code)
        }
    }
}
