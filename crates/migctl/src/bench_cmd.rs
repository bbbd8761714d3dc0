//! `migctl bench apply`: NVML calls and wall time of `migctl apply` against
//! mig-parted's procedure (re-implemented in `mig_bench::baseline`) and,
//! given its path, NVIDIA's real `nvidia-mig-parted`, for every ordered pair
//! of the configs of a file that suit a board. All run as child processes
//! over the fake library on the same simulated machine (the real binary
//! inside `migctl sim exec`, which shows it the simulated host), and all are
//! counted by the library's own `MIGCTL_NVML_LOG`, so they are measured on
//! equal terms. A benchmark, not a test: it prints figures.

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
        /// GPUs of the board on the simulated machine.
        #[arg(long, value_name = "N", default_value_t = 1)]
        gpus: u32,
        /// Also run NVIDIA's real mig-parted binary at PATH (`PATH apply -f
        /// FILE -c B`, inside `migctl sim exec`) on the same machine.
        #[arg(long = "mig-parted", value_name = "PATH")]
        mig_parted: Option<PathBuf>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value = "text")]
        output: Output,
    },
    /// Run CMD, then write its wall time in milliseconds to FILE and exit
    /// with its status (the benchmark times a program inside `sim exec`
    /// with it, leaving out the setting up of the view).
    #[command(hide = true)]
    Timed {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        cmd: Vec<String>,
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
    /// The built-in model of mig-parted's procedure.
    mig_parted: Run,
    /// NVIDIA's real mig-parted, when its path was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    mig_parted_real: Option<Run>,
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
        self.counted(&log, ms, o.status.success(), to)
    }

    /// Run the real mig-parted at `bin` inside `migctl sim exec` (the
    /// simulated host's files, the fake library first on the library path),
    /// timed from its start to its exit by `bench timed`.
    fn measure_real(&self, bin: &Path, to: &str) -> Result<Run, Failure> {
        let log = self.dir.join("nvml.log");
        let ms_file = self.dir.join("wall-ms");
        let _ = std::fs::remove_file(&log);
        let _ = std::fs::remove_file(&ms_file);
        let f = self.file.to_string_lossy().to_string();
        let mut c = self.cmd(&["sim", "exec", "--"]);
        c.arg(&self.exe)
            .args(["bench", "timed", "--out"])
            .arg(&ms_file)
            .arg("--")
            .arg(bin)
            .args(["apply", "-f", &f, "-c", to])
            .env("MIGCTL_NVML_LOG", &log);
        let o = c.output().map_err(|e| Failure(1, e.to_string()))?;
        let ms = std::fs::read_to_string(&ms_file)
            .ok()
            .and_then(|t| t.trim().parse::<f64>().ok())
            .ok_or_else(|| {
                Failure(
                    1,
                    format!(
                        "{} did not run: {}",
                        bin.display(),
                        String::from_utf8_lossy(&o.stderr).trim()
                    ),
                )
            })?;
        self.counted(&log, ms, o.status.success(), to)
    }

    /// The calls and mutations of the log at `log`, and whether the
    /// machine then holds config `to`.
    fn counted(&self, log: &Path, ms: f64, success: bool, to: &str) -> Result<Run, Failure> {
        let text = std::fs::read_to_string(log).unwrap_or_default();
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
            ok: success && self.holds(to)?,
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

/// What `bench apply` measures.
struct ApplyBench<'a> {
    file: &'a Path,
    models: &'a [String],
    gpus: u32,
    mig_parted: Option<&'a Path>,
    output: Output,
}

fn run_apply(a: &ApplyBench<'_>) -> Result<(), Failure> {
    let (file, models, output) = (a.file, a.models, a.output);
    if let Some(bin) = a.mig_parted.filter(|b| !b.is_file()) {
        return Err(Failure(
            2,
            format!(
                "--mig-parted {}: no such file; give the path of an nvidia-mig-parted binary",
                bin.display()
            ),
        ));
    }
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
        let board = if a.gpus > 1 {
            format!("{slug} x{}", a.gpus)
        } else {
            slug.clone()
        };
        let mig_parted = a.mig_parted;
        for from in &names {
            let mut init = b.cmd(&["sim", "init"]);
            init.args(std::iter::repeat_n(slug, a.gpus.max(1) as usize));
            init.env("MIGCTL_BACKEND", "sim");
            b.ok(init, "sim init")?;
            let mut setup = b.cmd(&["apply", "-f", &f, "-c", from]);
            setup.env("MIGCTL_BACKEND", "sim");
            b.ok(setup, &format!("apply {from}"))?;
            let start = std::fs::read(b.state()).map_err(|e| Failure(1, e.to_string()))?;
            for to in names.iter().filter(|n| *n != from) {
                std::fs::write(b.state(), &start).map_err(|e| Failure(1, e.to_string()))?;
                let migctl = b.measure(&["apply", "-f", &f, "-c", to], to)?;
                std::fs::write(b.state(), &start).map_err(|e| Failure(1, e.to_string()))?;
                let parted =
                    b.measure(&["bench", "mig-parted-baseline", "-f", &f, "-c", to], to)?;
                let real = match mig_parted {
                    Some(bin) => {
                        std::fs::write(b.state(), &start).map_err(|e| Failure(1, e.to_string()))?;
                        Some(b.measure_real(bin, to)?)
                    }
                    None => None,
                };
                let row = Row {
                    model: board.clone(),
                    from: from.clone(),
                    to: to.clone(),
                    migctl,
                    mig_parted: parted,
                    mig_parted_real: real,
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
    let total_r = a
        .mig_parted
        .map(|_| sum(&|r| r.mig_parted_real.unwrap_or_default()));
    match output {
        Output::Text => {
            let cell = |x: &Run| {
                format!(
                    "{} calls, {} mutating, {:.0} ms{}",
                    x.calls,
                    x.mutating,
                    x.ms,
                    if x.ok {
                        ""
                    } else {
                        " (NOT every pair reached)"
                    }
                )
            };
            println!("total over {} pairs:", rows.len());
            println!("  migctl                {}", cell(&total_m));
            println!("  mig-parted procedure  {}", cell(&total_p));
            if let Some(r) = &total_r {
                println!("  mig-parted (real)     {}", cell(r));
                if total_m.calls > 0 {
                    println!(
                        "  NVML calls: mig-parted made {:.2}x as many as migctl",
                        r.calls as f64 / total_m.calls as f64
                    );
                }
            }
        }
        Output::Json => {
            let mut total = serde_json::json!({"migctl": total_m, "mig_parted": total_p});
            if let (Some(r), Some(o)) = (total_r, total.as_object_mut()) {
                o.insert("mig_parted_real".into(), serde_json::json!(r));
            }
            println!("{:#}", serde_json::json!({"pairs": rows, "total": total}))
        }
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
    let real = r
        .mig_parted_real
        .as_ref()
        .map(|x| format!(" | mig-parted {}", cell(x)))
        .unwrap_or_default();
    println!(
        "{:<18} {:<20} -> {:<20} migctl {} | procedure {}{real}",
        r.model,
        r.from,
        r.to,
        cell(&r.migctl),
        cell(&r.mig_parted)
    );
}

/// `bench timed`: run `cmd`, write its wall milliseconds to `out`, and
/// exit with its status.
fn run_timed(out: &Path, cmd: &[String]) -> ExitCode {
    let Some((prog, args)) = cmd.split_first() else {
        return ExitCode::from(2);
    };
    let t0 = Instant::now();
    let status = match Command::new(prog).args(args).status() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("migctl: {prog}: {e}");
            return ExitCode::from(127);
        }
    };
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    if let Err(e) = std::fs::write(out, format!("{ms:.3}\n")) {
        eprintln!("migctl: {}: {e}", out.display());
        return ExitCode::from(1);
    }
    match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::from(1),
    }
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
            gpus,
            mig_parted,
            output,
        } => run_apply(&ApplyBench {
            file: &file,
            models: &models,
            gpus,
            mig_parted: mig_parted.as_deref(),
            output,
        }),
        BenchCmd::Timed { out, cmd } => return run_timed(&out, &cmd),
        BenchCmd::MigPartedBaseline { file, config } => run_baseline(&file, config.as_deref()),
        BenchCmd::NvmlRead(a) => crate::bench_nvml::run(&a),
        BenchCmd::Soak {
            duration,
            workers,
            sabotage,
            output,
        } => std::env::current_exe()
            .map_err(|e| e.to_string())
            .and_then(|exe| {
                mig_bench::soak::soak(
                    &exe,
                    std::time::Duration::from_secs(duration),
                    workers,
                    sabotage,
                )
            })
            .map_err(|e| Failure(1, e))
            .and_then(|r| {
                print_soak(&r, output);
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

/// `migctl bench soak` output.
fn print_soak(r: &mig_bench::soak::Report, output: Output) {
    match output {
        Output::Text => {
            println!(
                "soak: {:.1} s, {} workers{}, {} ops, {:.1} ops/s, {} checks, {} failures",
                r.duration_s,
                r.workers,
                if r.sabotage { " and a saboteur" } else { "" },
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
