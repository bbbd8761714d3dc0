//! migctl's planning verbs: `layouts`, `fit`, `show`, `pack`, `export
//! --inventory` and `bench pack`. Parsing and printing only; the decisions are
//! `mig_plan`'s.

use crate::error::CliError;
use crate::output::Format as Output;
use crate::plan_pack::{machine_snapshots, Failure};
use clap::{Parser, Subcommand};
use mig_model::backend::{GpuSnapshot, MigMode};
use mig_model::engine::{GpuInstance, Layout};
use mig_model::{catalog, GpuModel};
use mig_plan::layouts;
use mig_plan::picture::{self, Busy, View};
use mig_plan::FitResult;

use serde_json::json;
use std::io::IsTerminal;
use std::path::PathBuf;

/// `println!` through [`emit`].
macro_rules! say {
    () => { emit("\n") };
    ($($t:tt)*) => { emit(&format!("{}\n", format_args!($($t)*))) };
}

/// `migctl bench pack` (the other benchmarks are `bench_cmd`'s).
#[derive(Parser, Debug)]
#[command(name = "migctl bench", disable_version_flag = true)]
struct BenchPackCli {
    #[command(subcommand)]
    what: BenchCmd,
}

#[derive(Subcommand, Debug)]
pub enum PlanCmd {
    /// Every valid GPU-instance layout of a GPU model (`migctl sim models`
    /// lists the slugs), with placements and GI IDs, and how many there are.
    Layouts {
        /// Model slug, e.g. a100-sxm4-40gb.
        model: String,
        /// Only layouts holding at least N of PROFILE (`3g.20gb`, `9`,
        /// `1g.5gbx2`); repeat for several.
        #[arg(long, value_name = "PROFILE[xN]")]
        contains: Vec<String>,
        /// Only layouts beside which no further GPU instance fits.
        #[arg(long)]
        maximal: bool,
        /// GI IDs of a board with mirrored halves.
        #[arg(long)]
        mirrored: bool,
        /// Print only the count.
        #[arg(long)]
        count: bool,
        #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Whether GPU instances fit one GPU: `fit MODEL PROFILE[xN]...` on an
    /// empty GPU of that model, or `fit -i N [PROFILE[xN]...]` beside GPU N's
    /// current layout (without profiles: how many more of each fit, and
    /// where). Exit 0 when they fit, 1 when they do not, 2 on bad arguments.
    Fit {
        /// A GPU of this machine (index); its current layout stays.
        #[arg(short = 'i', long = "id", value_name = "N")]
        gpu: Option<u32>,
        /// Without -i: MODEL then PROFILE[xN]...; with -i: PROFILE[xN]...
        #[arg(value_name = "ARGS")]
        args: Vec<String>,
        #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// A picture of each GPU's memory and compute slices and the instances on
    /// them (colour on a terminal; plain with NO_COLOR or when piped).
    Show {
        /// Only this GPU (index).
        #[arg(short = 'i', long = "id", value_name = "N")]
        gpu: Option<u32>,
        /// Also write the picture as an SVG file.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
        /// `json`: what the picture shows, as data (GIs, CIs, busy, mode).
        #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Choose a layout for every GPU of a fleet inventory that serves the
    /// most weighted demand, then disturbs the fewest instances, then uses
    /// the fewest GPUs; write one mig-parted config per node.
    Pack {
        /// The fleet (`migctl export --inventory` on each node writes its part).
        #[arg(long, value_name = "FILE")]
        inventory: PathBuf,
        /// Profiles with counts, or requirements with weights.
        #[arg(long, value_name = "FILE")]
        demand: PathBuf,
        /// Directory for the per-node configs (`NODE.yaml`); none written without it.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
        #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

#[derive(Subcommand, Debug)]
enum BenchCmd {
    /// Pack a generated mixed-model fleet.
    Pack {
        /// GPUs in the fleet.
        #[arg(long, default_value_t = 10_000)]
        gpus: usize,
        /// Requested instances in the demand.
        #[arg(long, default_value_t = 70_000)]
        instances: u32,
        /// Seed of the generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

type R<T> = Result<T, Failure>;

fn bad(msg: impl Into<String>) -> Failure {
    Failure(2, msg.into())
}

/// Run `layouts`, `fit`, `show` or `pack`; the exit status.
pub fn run_cmd(cmd: PlanCmd) -> Result<u8, CliError> {
    run(cmd).map_err(CliError::from)
}

/// `migctl bench pack ...` (`args` after `bench`).
pub fn bench_pack(args: &[String]) -> Result<u8, CliError> {
    let argv = std::iter::once("migctl bench").chain(args.iter().map(String::as_str));
    let BenchCmd::Pack {
        gpus,
        instances,
        seed,
        output,
    } = BenchPackCli::try_parse_from(argv)?.what;
    crate::plan_pack::bench_pack(gpus, instances, seed, output == Output::Json)
        .map_err(CliError::from)
}

fn run(cmd: PlanCmd) -> R<u8> {
    match cmd {
        PlanCmd::Layouts {
            model,
            contains,
            maximal,
            mirrored,
            count,
            output,
        } => layouts_cmd(&model, &contains, maximal, mirrored, count, output),
        PlanCmd::Fit { gpu, args, output } => fit_cmd(gpu, &args, output),
        PlanCmd::Show { gpu, svg, output } => show_cmd(gpu, svg, output),
        PlanCmd::Pack {
            inventory,
            demand,
            out_dir,
            output,
        } => crate::plan_pack::pack_cmd(
            &inventory,
            &demand,
            out_dir.as_deref(),
            output == Output::Json,
        ),
    }
}

pub fn model_arg(slug: &str) -> R<&'static GpuModel> {
    catalog::model(slug).ok_or_else(|| {
        bad(format!(
            "unknown GPU model {slug:?}; `migctl sim models` lists them"
        ))
    })
}

/// JSON of a layout's GPU instances, placement order.
fn layout_json(model: &GpuModel, l: &Layout) -> serde_json::Value {
    let mut gis: Vec<&GpuInstance> = l.gpu_instances.iter().collect();
    gis.sort_by_key(|g| g.placement.start);
    json!(gis
        .iter()
        .map(|g| {
            let name = mig_model::engine::gi_profile(model, g.profile_id)
                .map(|p| p.name.clone())
                .unwrap_or_default();
            json!({
                "profile": name,
                "profile_id": g.profile_id.0,
                "placement": {"start": g.placement.start, "size": g.placement.size},
                "gi_id": g.id.0,
            })
        })
        .collect::<Vec<_>>())
}

/// Memory-slice map of a layout: one character per memory slice, the
/// compute slices of the GI on it (`4444333.`), `.` where free.
fn slice_map(model: &GpuModel, l: &Layout) -> String {
    let unit = mig_plan::slice_unit(model);
    let n = mig_plan::memory_slices(model);
    (0..n)
        .map(|s| {
            l.gpu_instances
                .iter()
                .find(|g| g.placement.start / unit <= s && s < g.placement.end() / unit)
                .and_then(|g| mig_model::engine::gi_profile(model, g.profile_id).ok())
                .map_or('.', |p| char::from_digit(p.slices % 36, 36).unwrap_or('#'))
        })
        .collect()
}

fn layouts_cmd(
    slug: &str,
    contains: &[String],
    maximal: bool,
    mirrored: bool,
    count_only: bool,
    output: Output,
) -> R<u8> {
    let model = model_arg(slug)?;
    let want = mig_plan::parse_counts(model, contains).map_err(|e| bad(e.to_string()))?;
    let t0 = std::time::Instant::now();
    let mut keep = Vec::new();
    layouts::for_each_from(model, &Layout::new(mirrored), &mut |l| {
        if want
            .iter()
            .all(|pc| layouts::count_of(l, pc.profile) >= pc.count)
            && (!maximal || layouts::is_maximal(model, l))
        {
            keep.push(l.clone());
        }
    });
    let took = t0.elapsed();
    if std::env::var_os("MIGCTL_TRACE").is_some() {
        eprintln!("migctl trace: layouts enumerated in {took:?}");
    }
    match output {
        Output::Json => {
            let v = if count_only {
                json!({"model": model.slug, "count": keep.len()})
            } else {
                json!({
                    "model": model.slug,
                    "count": keep.len(),
                    "layouts": keep.iter().map(|l| json!({
                        "gpu_instances": layout_json(model, l),
                        "maximal": layouts::is_maximal(model, l),
                    })).collect::<Vec<_>>(),
                })
            };
            emit_json(&v);
        }
        Output::Text => {
            let mut out = String::new();
            if !count_only {
                for (i, l) in keep.iter().enumerate() {
                    out.push_str(&format!(
                        "{:>5}  [{}]  {}\n",
                        i + 1,
                        slice_map(model, l),
                        layouts::describe(model, l)
                    ));
                }
            }
            let filters = match (contains.is_empty(), maximal) {
                (true, false) => String::new(),
                _ => {
                    let mut f: Vec<String> =
                        contains.iter().map(|c| format!("containing {c}")).collect();
                    if maximal {
                        f.push("maximal".into());
                    }
                    format!(" ({})", f.join(", "))
                }
            };
            out.push_str(&format!(
                "{} layout{} of {} ({}){filters}\n",
                keep.len(),
                if keep.len() == 1 { "" } else { "s" },
                model.slug,
                model.name
            ));
            if !count_only && !keep.is_empty() {
                out.push_str("[..]: each memory slice's GI size in compute slices ('.' free); PROFILE@start:size\n");
            }
            emit(&out);
        }
    }
    Ok(0)
}

/// Print to stdout; a closed pipe (`| head`) ends the output quietly.
fn emit(s: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

/// Print a JSON value, pretty.
fn emit_json(v: &serde_json::Value) {
    emit(&format!(
        "{}\n",
        serde_json::to_string_pretty(v).unwrap_or_default()
    ));
}

fn use_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn fit_cmd(gpu: Option<u32>, args: &[String], output: Output) -> R<u8> {
    let (model, base, title, busy, specs) = match gpu {
        None => {
            let (slug, specs) = args.split_first().ok_or_else(|| {
                bad("usage: migctl fit MODEL PROFILE[xN]... or migctl fit -i N [PROFILE[xN]...]")
            })?;
            let model = model_arg(slug)?;
            if specs.is_empty() {
                return Err(bad("name at least one PROFILE[xN] to fit"));
            }
            (
                model,
                Layout::new(false),
                format!("an empty {}", model.slug),
                Busy::new(),
                specs,
            )
        }
        Some(i) => {
            let snaps = machine_snapshots(Some(i))?;
            let s = snaps
                .into_iter()
                .next()
                .ok_or_else(|| Failure(6, format!("no GPU {i}")))?;
            let model = picture::model_of(&s).ok_or_else(|| {
                Failure(
                    1,
                    format!("GPU {i} ({}) is not in the catalog", s.identity.name),
                )
            })?;
            if !s.mode.current {
                return Err(Failure(
                    3,
                    format!("GPU {i} has MIG disabled; enable it with `migctl -i {i} -mig 1`"),
                ));
            }
            let busy = picture::busy_of(&s);
            (model, s.layout, format!("GPU {i}"), busy, args)
        }
    };
    let want = mig_plan::parse_counts(model, specs).map_err(|e| bad(e.to_string()))?;
    let colour = use_colour();
    let mode = MigMode {
        current: true,
        pending: true,
    };
    if want.is_empty() {
        // How many more of each profile fit beside the current layout.
        let rows: Vec<(String, u32, String)> = model
            .gi_profiles
            .iter()
            .map(|p| {
                let (k, l) = mig_plan::max_more(model, &base, p);
                let at: Vec<String> = l
                    .gpu_instances
                    .iter()
                    .filter(|g| !base.gpu_instances.iter().any(|b| b.id == g.id))
                    .map(|g| g.placement.to_string())
                    .collect();
                (p.name.clone(), k, at.join(" "))
            })
            .collect();
        if output == Output::Json {
            let v = json!({"gpu": gpu, "model": model.slug, "more": rows.iter().map(|(n, k, at)| json!({"profile": n, "count": k, "placements": at.split_whitespace().collect::<Vec<_>>()})).collect::<Vec<_>>()});
            emit_json(&v);
        } else {
            say!(
                "Beside {title}'s current layout ({}):",
                layouts::summary(model, &base)
            );
            for (n, k, at) in rows {
                say!(
                    "  {n:<16} {k} more{}",
                    if k > 0 {
                        format!("  at {at}")
                    } else {
                        String::new()
                    }
                );
            }
        }
        return Ok(0);
    }
    match mig_plan::fit(model, &base, &want) {
        FitResult::Fits { layout, added } => {
            if output == Output::Json {
                let v = json!({
                    "fits": true,
                    "model": model.slug,
                    "added": added.iter().map(|(p, pl, id)| json!({"profile_id": p.0, "profile": mig_model::engine::gi_profile(model, *p).map(|x| x.name.clone()).unwrap_or_default(), "placement": {"start": pl.start, "size": pl.size}, "gi_id": id.0})).collect::<Vec<_>>(),
                    "layout": layout_json(model, &layout),
                });
                emit_json(&v);
            } else {
                say!("Fits on {title}. Create them with these placements, in this order:");
                let mut cgi = Vec::new();
                for (p, pl, id) in &added {
                    let name = mig_model::engine::gi_profile(model, *p)
                        .map(|x| x.name.clone())
                        .unwrap_or_default();
                    say!("  {name:<16} placement {pl:<5} -> GI {id}");
                    cgi.push(format!("{name}:{}", pl.start));
                }
                say!(
                    "  migctl mig -i {} -cgi {} -C",
                    gpu.map_or("N".to_string(), |i| i.to_string()),
                    cgi.join(",")
                );
                let v = View {
                    title: title.clone(),
                    model,
                    mode,
                    layout: &layout,
                    busy: &busy,
                };
                emit(&picture::text(&v, colour));
            }
            Ok(0)
        }
        FitResult::DoesNotFit { reason, nearest } => {
            if output == Output::Json {
                let v = json!({
                    "fits": false,
                    "model": model.slug,
                    "reason": reason.to_string(),
                    "nearest": nearest.iter().map(|l| json!({"summary": layouts::summary(model, l), "gpu_instances": layout_json(model, l)})).collect::<Vec<_>>(),
                });
                emit_json(&v);
            } else {
                let mut r = reason.to_string();
                if let Some(c) = r.get(..1) {
                    r = c.to_uppercase() + &r[1..];
                }
                say!("Does not fit on {title}: {r}");
                if !nearest.is_empty() {
                    say!("Nearest layouts that fit:");
                    for l in &nearest {
                        say!(
                            "  {:<40} {}",
                            layouts::summary(model, l),
                            layouts::describe(model, l)
                        );
                    }
                }
            }
            Ok(1)
        }
    }
}

/// What `show` draws, as JSON.
fn show_json(s: &GpuSnapshot, model: Option<&GpuModel>, busy: &Busy) -> serde_json::Value {
    let gis: Vec<serde_json::Value> = s
        .layout
        .gpu_instances
        .iter()
        .map(|g| {
            let gp = model.and_then(|m| mig_model::engine::gi_profile(m, g.profile_id).ok());
            let cis: Vec<serde_json::Value> = g
                .compute_instances
                .iter()
                .map(|c| {
                    let name = gp.and_then(|gp| {
                        mig_model::engine::ci_profile(gp, c.profile_id)
                            .ok()
                            .map(|cp| mig_model::ids::ci_short_name(gp, cp))
                    });
                    json!({
                        "ci_id": c.id.0,
                        "profile_id": c.profile_id.0,
                        "name": name,
                        "placement": {"start": c.placement.start, "size": c.placement.size},
                        "busy": busy.contains(&(g.id, c.id)),
                    })
                })
                .collect();
            json!({
                "gi_id": g.id.0,
                "profile_id": g.profile_id.0,
                "profile": gp.map(|p| p.name.clone()),
                "placement": {"start": g.placement.start, "size": g.placement.size},
                "compute_instances": cis,
            })
        })
        .collect();
    json!({
        "index": s.identity.index,
        "name": s.identity.name,
        "model": s.identity.model,
        "mig": {"current": s.mode.current, "pending": s.mode.pending},
        "mirrored": s.layout.mirrored,
        "gpu_instances": gis,
    })
}

fn show_cmd(gpu: Option<u32>, svg: Option<PathBuf>, output: Output) -> R<u8> {
    let snaps = machine_snapshots(gpu)?;
    if output == Output::Json {
        let v: Vec<serde_json::Value> = snaps
            .iter()
            .map(|s| show_json(s, picture::model_of(s), &picture::busy_of(s)))
            .collect();
        emit_json(&json!(v));
        if svg.is_none() {
            return Ok(0);
        }
    }
    let colour = use_colour();
    let mut views = Vec::new();
    let busy: Vec<Busy> = snaps.iter().map(picture::busy_of).collect();
    for (s, b) in snaps.iter().zip(&busy) {
        let Some(model) = picture::model_of(s) else {
            say!(
                "GPU {}: {} is not in the catalog; no picture\n",
                s.identity.index,
                s.identity.name
            );
            continue;
        };
        views.push(View {
            title: format!("GPU {}: {}", s.identity.index, s.identity.name),
            model,
            mode: s.mode,
            layout: &s.layout,
            busy: b,
        });
    }
    for (k, v) in views.iter().enumerate().filter(|_| output == Output::Text) {
        if k > 0 {
            say!();
        }
        emit(&picture::text(v, colour));
    }
    if let Some(path) = svg {
        std::fs::write(&path, picture::svg(&views))
            .map_err(|e| Failure(1, format!("cannot write {}: {e}", path.display())))?;
        eprintln!("migctl show: wrote {}", path.display());
    }
    Ok(0)
}
