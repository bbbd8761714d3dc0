//! Runs parsed nvidia-smi-style commands against a backend. Decides nothing
//! about MIG itself: it resolves the user's words (GPU IDs, profile names)
//! against what the backend reports, calls it, and prints with [`crate::out`].

use crate::args::{MigAction, MigArgs, SmiCommand};
use crate::default_view::{self, Header, ViewGpu};
use crate::out::{self, Style};
use mig_model::backend::{
    Backend, BackendError, CiProfileStatus, DeviceInfo, GiInfo, GpuRef, ProfileQuery,
};
use mig_model::engine;
use mig_model::{CiProfileId, ComputeInstanceId, GiProfileId, GpuInstanceId, NvmlError, Placement};

/// What a command printed and its exit status.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub code: i32,
}

impl Outcome {
    fn ok(stdout: String) -> Outcome {
        Outcome { stdout, code: 0 }
    }

    fn fail(stdout: impl Into<String>, code: i32) -> Outcome {
        Outcome {
            stdout: stdout.into(),
            code,
        }
    }
}

/// A failure of the backend itself (state file, library): not an NVML error.
#[derive(Debug)]
pub struct Fatal(pub BackendError);

type R<T> = Result<T, Fatal>;

/// Exit status for an NVML error, following nvidia-smi's documented return
/// codes (2 invalid argument, 3 not supported, 4 no permission, 6 not found,
/// 9 driver not loaded, 255 other).
pub fn exit_code(e: NvmlError) -> i32 {
    match e {
        NvmlError::InvalidArgument => 2,
        NvmlError::NotSupported => 3,
        NvmlError::NoPermission => 4,
        NvmlError::NotFound => 6,
        NvmlError::DriverNotLoaded => 9,
        _ => 255,
    }
}

/// Split a backend result into NVML outcome (`Ok(Err(e))`) and fatal errors.
fn nv<T>(r: Result<T, BackendError>) -> R<Result<T, NvmlError>> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(e) => match e.nvml_code() {
            Some(code) => Ok(Err(code)),
            None => Err(Fatal(e)),
        },
    }
}

/// Like [`nv`], but an NVML error is fatal too (for reads that cannot fail
/// on a selected, MIG-enabled GPU).
fn must<T>(r: Result<T, BackendError>) -> R<T> {
    r.map_err(Fatal)
}

/// A GPU by its index, as the backend takes it.
fn at(index: u32) -> GpuRef {
    GpuRef::Index(index)
}

const NO_DEVICES: &str = "No devices were found\n";
const NO_MIG: &str = "No MIG-enabled devices found.\n";
const NO_GI: &str = "No GPU instances found: Not Found\n";
const NO_CI: &str = "No compute instances found: Not Found\n";

/// Normalise a PCI bus ID to `00000000:BB:DD.F`, upper case.
fn norm_bus(s: &str) -> String {
    let s = s.to_ascii_uppercase();
    let parts: Vec<&str> = s.split(':').collect();
    match parts.len() {
        2 => format!("00000000:{}:{}", parts[0], parts[1]),
        3 => format!("{:0>8}:{}:{}", parts[0], parts[1], parts[2]),
        _ => s,
    }
}

/// Resolve `-i` (indexes, PCI bus IDs, UUIDs; comma list) to devices, in the
/// order the machine enumerates them. `Err` carries nvidia-smi's message.
pub fn select(b: &dyn Backend, ids: Option<&str>) -> R<Result<Vec<DeviceInfo>, Outcome>> {
    let all = must(b.devices())?;
    let Some(ids) = ids else {
        return Ok(Ok(all));
    };
    // nvidia-smi 580 ignores IDs of a list that match no GPU (`-i 0,9` runs
    // on GPU 0) and fails only when none matches.
    let mut chosen: Vec<DeviceInfo> = Vec::new();
    for tok in ids.split(',').map(str::trim) {
        let found = all.iter().find(|d| {
            tok.parse::<u32>().ok() == Some(d.index)
                || d.uuid.eq_ignore_ascii_case(tok)
                || (tok.contains(':') && norm_bus(tok) == d.pci_bus_id.to_ascii_uppercase())
        });
        if let Some(d) = found {
            if !chosen.iter().any(|c| c.index == d.index) {
                chosen.push(d.clone());
            }
        }
    }
    if chosen.is_empty() {
        return Ok(Err(Outcome::fail(NO_DEVICES, 6)));
    }
    chosen.sort_by_key(|d| d.index);
    Ok(Ok(chosen))
}

/// Parse a comma list of instance IDs (`-gi`, `-ci`).
pub fn id_list(what: &str, s: Option<&str>) -> Result<Option<Vec<u32>>, Outcome> {
    let Some(s) = s else { return Ok(None) };
    s.split(',')
        .map(|t| t.trim().parse::<u32>())
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
        .map_err(|_| {
            Outcome::fail(
                format!("Invalid {what} ID \"{s}\": expected a comma separated list of numbers.\n"),
                2,
            )
        })
}

/// The commands that need no machine (`--version`; `-h` prints the
/// program's own help, which the caller has): their outcome.
pub fn without_backend(cmd: &SmiCommand) -> Option<Outcome> {
    match cmd {
        SmiCommand::Version => Some(Outcome::ok(format!(
            "migctl {}\n",
            env!("CARGO_PKG_VERSION")
        ))),
        _ => None,
    }
}

/// Run one command.
pub fn run(b: &dyn Backend, cmd: &SmiCommand, style: Style) -> R<Outcome> {
    match cmd {
        // the caller prints its own help (`without_backend` has no text for it)
        SmiCommand::Help | SmiCommand::Version => Ok(without_backend(cmd).unwrap_or_default()),
        SmiCommand::List => list(b, style),
        SmiCommand::Status { ids } => status(b, ids.as_deref()),
        SmiCommand::SetMig { ids, enable } => set_mig(b, ids.as_deref(), *enable),
        SmiCommand::Reset { ids } => reset(b, ids.as_deref()),
        SmiCommand::Mig(m) => mig(b, m, style),
        SmiCommand::Detail { ids, filter } => match select(b, ids.as_deref())? {
            Ok(devs) => {
                crate::detail::run::run(b, &devs, filter, &default_view::date_line(now_secs()))
                    .map(Outcome::ok)
                    .map_err(Fatal)
            }
            Err(o) => Ok(o),
        },
        SmiCommand::Query(q) => crate::query::run(b, q)
            .map(|p| Outcome::fail(p.stdout, p.code))
            .map_err(Fatal),
    }
}

fn list(b: &dyn Backend, style: Style) -> R<Outcome> {
    let mut rows = Vec::new();
    for d in must(b.devices())? {
        let migs = must(b.mig_devices(&at(d.index)))?;
        rows.push((d, migs));
    }
    Ok(Outcome::ok(out::list_gpus(style, &rows)))
}

fn status(b: &dyn Backend, ids: Option<&str>) -> R<Outcome> {
    let devs = match select(b, ids)? {
        Ok(d) => d,
        Err(o) => return Ok(o),
    };
    let driver = must(b.driver_version())?;
    let cuda = must(b.cuda_driver_version())?;
    let mut procs = Vec::new();
    let mut parts = Vec::new();
    for d in &devs {
        procs.extend(must(b.processes(&at(d.index)))?);
        let migs = must(b.mig_devices(&at(d.index)))?;
        let r = must(b.readings(&at(d.index)))?;
        parts.push((r, migs));
    }
    let gpus: Vec<ViewGpu<'_>> = devs
        .iter()
        .zip(&parts)
        .map(|(dev, (r, migs))| ViewGpu { dev, r, migs })
        .collect();
    let date = default_view::date_line(now_secs());
    let header = Header {
        date: &date,
        driver: &driver,
        cuda,
    };
    Ok(Outcome::ok(default_view::render(&header, &gpus, &procs)))
}

/// Seconds since the epoch now.
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn set_mig(b: &dyn Backend, ids: Option<&str>, enable: bool) -> R<Outcome> {
    let devs = match select(b, ids)? {
        Ok(d) => d,
        Err(o) => return Ok(o),
    };
    let mut out = String::new();
    let (word, done) = if enable {
        ("enable", "Enabled")
    } else {
        ("disable", "Disabled")
    };
    for d in devs {
        let bus = &d.pci_bus_id;
        match nv(b.set_mig_mode(&at(d.index), enable))? {
            Ok(None) => out.push_str(&format!("{done} MIG Mode for GPU {bus}\n")),
            Ok(Some(why)) => {
                out.push_str(&format!(
                    "Warning: MIG mode is in pending {word} state for GPU {bus}:{why}\n"
                ));
                if why == NvmlError::InUse {
                    out.push_str(&format!(
                        "{bus} is currently being used by one or more other processes (e.g. CUDA application or a monitoring application such as another instance of nvidia-smi). Please first kill all processes using the device and retry the command or reboot the system to make MIG mode effective.\n"
                    ));
                } else {
                    out.push_str(&format!(
                        "Reboot the system or try nvidia-smi --gpu-reset to make MIG mode effective on GPU {bus}\n"
                    ));
                }
            }
            // nvidia-smi treats Not Supported as a warning and goes on;
            // any other error stops the run.
            Err(NvmlError::NotSupported) => out.push_str(&format!(
                "Unable to {word} MIG Mode for GPU {bus}: {}\nTreating as warning and moving on.\n",
                NvmlError::NotSupported
            )),
            Err(e) => {
                out.push_str(&format!(
                    "Unable to {word} MIG Mode for GPU {bus}: {e}\nTerminating early due to previous errors.\n"
                ));
                return Ok(Outcome::fail(out, exit_code(e)));
            }
        }
    }
    out.push_str("All done.\n");
    Ok(Outcome::ok(out))
}

fn reset(b: &dyn Backend, ids: Option<&str>) -> R<Outcome> {
    let devs = match select(b, ids)? {
        Ok(d) => d,
        Err(o) => return Ok(o),
    };
    let mut out = String::new();
    let mut failed = Vec::new();
    for d in devs {
        match nv(b.reset(&at(d.index)))? {
            Ok(()) => out.push_str(&format!("GPU {} was successfully reset.\n", d.pci_bus_id)),
            Err(NvmlError::NotSupported) => {
                out.push_str(&format!(
                    "Resetting GPU {} is not supported.\n",
                    d.pci_bus_id
                ));
                return Ok(Outcome::fail(out, exit_code(NvmlError::NotSupported)));
            }
            Err(e) => failed.push((d.pci_bus_id, e)),
        }
    }
    if failed.is_empty() {
        out.push_str("All done.\n");
        return Ok(Outcome::ok(out));
    }
    out.push_str("The following GPUs could not be reset:\n");
    for (bus, e) in &failed {
        out.push_str(&format!("  GPU {bus}: {e}\n"));
    }
    let busy = failed
        .iter()
        .filter(|(_, e)| *e == NvmlError::InUse)
        .count();
    if busy > 0 {
        let devices = if busy == 1 {
            "1 device is".to_string()
        } else {
            format!("{busy} devices are")
        };
        out.push_str(&format!(
            "\n{devices} currently being used by one or more other processes (e.g., Fabric Manager, CUDA application, graphics application such as an X server, or a monitoring application such as another instance of nvidia-smi). Please first kill all processes using this device and all compute applications running in the system.\n"
        ));
    }
    Ok(Outcome::fail(out, 255))
}

/// GPUs selected by `-i` that have MIG enabled.
fn mig_gpus(b: &dyn Backend, ids: Option<&str>) -> R<Result<Vec<DeviceInfo>, Outcome>> {
    Ok(select(b, ids)?.map(|ds| ds.into_iter().filter(|d| d.mig.current).collect()))
}

/// A `mig` call: its one action (further listing flags in `m.more` are
/// accepted and ignored, as nvidia-smi 580 does).
fn mig(b: &dyn Backend, m: &MigArgs, style: Style) -> R<Outcome> {
    mig_action(b, m, &m.action, style)
}

fn mig_action(b: &dyn Backend, m: &MigArgs, action: &MigAction, style: Style) -> R<Outcome> {
    let gi_ids = match id_list("GPU instance", m.gi.as_deref()) {
        Ok(v) => v,
        Err(o) => return Ok(o),
    };
    let ci_ids = match id_list("compute instance", m.ci.as_deref()) {
        Ok(v) => v,
        Err(o) => return Ok(o),
    };
    let ids = m.ids.as_deref();
    match action {
        MigAction::Help => Ok(Outcome::ok(crate::MIG_HELP.to_string())),
        MigAction::ListGiProfiles | MigAction::ListGiPlacements => {
            let devs = match select(b, ids)? {
                Ok(d) => d,
                Err(o) => return Ok(o),
            };
            let mut rows = Vec::new();
            let want = ProfileQuery {
                placements: *action == MigAction::ListGiPlacements,
                remaining: *action == MigAction::ListGiProfiles,
            };
            for d in devs {
                let profiles = must(b.gi_profiles(&at(d.index), want))?;
                rows.push((d.index, out::lgip_order(profiles)));
            }
            Ok(Outcome::ok(if *action == MigAction::ListGiProfiles {
                out::lgip(&rows)
            } else {
                out::lgipp(&rows)
            }))
        }
        MigAction::CreateGi { tuples, default_ci } => create_gi(b, ids, tuples, *default_ci, style),
        MigAction::DestroyGi => destroy_gi(b, ids, gi_ids.as_deref()),
        MigAction::ListGi => {
            let targets = match gi_targets(b, ids, gi_ids.as_deref())? {
                Ok(t) => t,
                Err(o) => return Ok(o),
            };
            Ok(Outcome::ok(out::lgi(style, &by_gpu(targets))))
        }
        MigAction::ListCiProfiles | MigAction::ListCiPlacements => {
            let targets = match gi_targets(b, ids, gi_ids.as_deref())? {
                Ok(t) => t,
                Err(o) => return Ok(o),
            };
            let mut rows = Vec::new();
            for (gpu, gi) in targets {
                rows.push((
                    gpu,
                    gi.id,
                    gi.profile.slices,
                    out::lcip_order(must(b.ci_profiles(&at(gpu), gi.id))?),
                ));
            }
            if *action == MigAction::ListCiProfiles {
                Ok(Outcome::ok(out::lcip(&rows)))
            } else {
                let rows: Vec<_> = rows.into_iter().map(|(g, gi, _, p)| (g, gi, p)).collect();
                Ok(Outcome::ok(out::lcipp(&rows)))
            }
        }
        MigAction::CreateCi { profiles } => {
            create_ci(b, ids, gi_ids.as_deref(), profiles.as_deref(), style)
        }
        MigAction::DestroyCi => destroy_ci(b, ids, gi_ids.as_deref(), ci_ids.as_deref()),
        MigAction::ListCi => {
            let targets = match gi_targets(b, ids, gi_ids.as_deref())? {
                Ok(t) => t,
                Err(o) => return Ok(o),
            };
            let mut cis = Vec::new();
            for (gpu, gi) in targets {
                let mut listed = must(b.compute_instances(&at(gpu), gi.id))?;
                // nvidia-smi lists a GI's compute instances by CI ID
                listed.sort_by_key(|c| c.id);
                for c in listed {
                    if ci_ids.as_ref().is_none_or(|l| l.contains(&c.id.0)) {
                        cis.push((gpu, c));
                    }
                }
            }
            if cis.is_empty() {
                return Ok(Outcome::fail(NO_CI, 6));
            }
            Ok(Outcome::ok(out::lci(style, &by_gpu(cis))))
        }
    }
}

/// Group (GPU, item) pairs, already in GPU order, into one row per GPU.
fn by_gpu<T>(items: Vec<(u32, T)>) -> Vec<(u32, Vec<T>)> {
    let mut rows: Vec<(u32, Vec<T>)> = Vec::new();
    for (gpu, item) in items {
        match rows.last_mut() {
            Some((g, v)) if *g == gpu => v.push(item),
            _ => rows.push((gpu, vec![item])),
        }
    }
    rows
}

/// nvidia-smi lists GPU instances profile by profile (in `-lgip` order) and,
/// within a profile, by GI ID: the guide's `-lgi` after `-cgi 9,19,14,19`
/// shows 1g (7, 8), then 2g (4), then 3g (2).
fn order_for_listing(
    profiles: &[mig_model::backend::GiProfileStatus],
    mut gis: Vec<GiInfo>,
) -> Vec<GiInfo> {
    let profiles = out::lgip_order(profiles.to_vec());
    let rank = |g: &GiInfo| {
        profiles
            .iter()
            .position(|p| p.profile.id == g.profile.id)
            .unwrap_or(usize::MAX)
    };
    gis.sort_by_key(|g| (rank(g), g.id));
    gis
}

/// (GPU, GI) pairs selected by `-i` and `-gi` on MIG-enabled GPUs.
pub fn gi_targets(
    b: &dyn Backend,
    ids: Option<&str>,
    gi_ids: Option<&[u32]>,
) -> R<Result<Vec<(u32, GiInfo)>, Outcome>> {
    let devs = match mig_gpus(b, ids)? {
        Ok(d) if !d.is_empty() => d,
        Ok(_) => return Ok(Err(Outcome::ok(NO_MIG.into()))),
        Err(o) => return Ok(Err(o)),
    };
    let mut out = Vec::new();
    for d in devs {
        let gis = must(b.gpu_instances(&at(d.index)))?
            .into_iter()
            .filter(|gi| gi_ids.is_none_or(|l| l.contains(&gi.id.0)))
            .collect();
        let profiles = must(b.gi_profiles(&at(d.index), ProfileQuery::BARE))?;
        for gi in order_for_listing(&profiles, gis) {
            out.push((d.index, gi));
        }
    }
    if out.is_empty() {
        return Ok(Err(Outcome::fail(NO_GI, 6)));
    }
    Ok(Ok(out))
}

/// One `-cgi` tuple: a profile (ID or name) and an optional placement start.
#[derive(Debug, Clone)]
struct GiTuple {
    text: String,
    profile: GiProfileId,
    start: Option<u32>,
}

/// Resolve a GI profile given by ID (`9`) or name (`3g.20gb`, `MIG 3g.20gb`).
fn find_gi_profile(
    profiles: &[mig_model::backend::GiProfileStatus],
    s: &str,
) -> Option<GiProfileId> {
    mig_model::ids::find_gi_profile(profiles.iter().map(|p| &p.profile), s)
        .map(|p| GiProfileId(p.id))
}

fn create_gi(
    b: &dyn Backend,
    ids: Option<&str>,
    tuples: &str,
    default_ci: bool,
    style: Style,
) -> R<Outcome> {
    let devs = match mig_gpus(b, ids)? {
        Ok(d) if !d.is_empty() => d,
        Ok(_) => return Ok(Outcome::ok(NO_MIG.into())),
        Err(o) => return Ok(o),
    };
    // Check every tuple on every GPU before creating anything: bad input
    // changes nothing.
    let mut plans = Vec::new();
    for d in &devs {
        let profiles = must(b.gi_profiles(&at(d.index), ProfileQuery::ALL))?;
        let mut plan = Vec::new();
        for tok in tuples.split(',') {
            let (prof, start) = match tok.split_once(':') {
                Some((p, s)) => match s.trim().parse::<u32>() {
                    Ok(s) => (p, Some(s)),
                    Err(_) => {
                        return Ok(Outcome::fail(
                            format!(
                                "Invalid placement start \"{s}\" in profile tuple \"{tok}\".\n"
                            ),
                            2,
                        ))
                    }
                },
                None => (tok, None),
            };
            let Some(id) = find_gi_profile(&profiles, prof) else {
                return Ok(Outcome::fail(
                    out::create_gi_failed(d.index, prof.trim(), NvmlError::InvalidArgument),
                    2,
                ));
            };
            if let Some(s) = start {
                let p = profiles.iter().find(|p| p.profile.id == id.0);
                if !p.is_some_and(|p| p.placements.iter().any(|pl| pl.start == s)) {
                    return Ok(Outcome::fail(
                        out::create_gi_failed(d.index, tok.trim(), NvmlError::InvalidArgument),
                        2,
                    ));
                }
            }
            plan.push(GiTuple {
                text: prof.trim().to_string(),
                profile: id,
                start,
            });
        }
        plans.push((d.index, profiles, plan));
    }
    let mut out = String::new();
    for (gpu, profiles, plan) in plans {
        for t in plan {
            let placement = t.start.map(|s| {
                let size = profiles
                    .iter()
                    .find(|p| p.profile.id == t.profile.0)
                    .map(|p| p.profile.placement_size)
                    .unwrap_or(1);
                Placement::new(s, size)
            });
            match nv(b.create_gpu_instance(&at(gpu), t.profile, placement))? {
                Ok(gi) => {
                    out.push_str(&out::created_gi(gpu, &gi));
                    if default_ci {
                        let avail = must(b.ci_profiles(&at(gpu), gi.id))?;
                        let full = default_ci_of(gpu, &gi, &avail)?;
                        match nv(b.create_compute_instance(&at(gpu), gi.id, full, None))? {
                            Ok(ci) => out.push_str(&out::created_ci(style, true, gpu, &ci)),
                            Err(e) => {
                                out.push_str(&out::create_ci_failed(
                                    gpu,
                                    gi.id,
                                    &full.0.to_string(),
                                    e,
                                ));
                                return Ok(Outcome::fail(out, exit_code(e)));
                            }
                        }
                    }
                }
                Err(e) => {
                    out.push_str(&out::create_gi_failed(gpu, &t.text, e));
                    return Ok(Outcome::fail(out, exit_code(e)));
                }
            }
        }
    }
    Ok(Outcome::ok(out))
}

/// The CI profile a GI gets by default (`-cgi -C`, a bare `-cci`): the
/// model's rule over what the backend lists for that GI.
fn default_ci_of(gpu: u32, gi: &GiInfo, avail: &[CiProfileStatus]) -> R<CiProfileId> {
    engine::default_ci_profile(gi.profile.slices, avail.iter().map(|c| &c.profile))
        .map(|c| CiProfileId(c.id))
        .ok_or_else(|| {
            Fatal(BackendError::Inconsistent {
                op: mig_model::backend::Op::CiProfiles,
                gpu: at(gpu),
                what: format!(
                    "GPU instance {} (profile {}) lists no compute instance profile that spans it",
                    gi.id, gi.profile.name
                ),
            })
        })
}

fn destroy_gi(b: &dyn Backend, ids: Option<&str>, gi_ids: Option<&[u32]>) -> R<Outcome> {
    let devs = match mig_gpus(b, ids)? {
        Ok(d) if !d.is_empty() => d,
        Ok(_) => return Ok(Outcome::ok(NO_MIG.into())),
        Err(o) => return Ok(o),
    };
    let mut batch = Batch::default();
    for d in devs {
        let mut existing = must(b.gpu_instances(&at(d.index)))?;
        // nvidia-smi destroys them in GI ID order (the guide's -dgi: 1, then 2)
        existing.sort_by_key(|g| g.id);
        let targets: Vec<GpuInstanceId> = match gi_ids {
            Some(l) => l.iter().map(|&g| GpuInstanceId(g)).collect(),
            None => existing.iter().map(|g| g.id).collect(),
        };
        for gi in targets {
            let r = nv(b.destroy_gpu_instance(&at(d.index), gi))?;
            batch.record(r, out::destroyed_gi(d.index, gi), |e| {
                out::destroy_gi_failed(d.index, gi, e)
            });
        }
    }
    Ok(batch.finish(NO_GI, "GPU instances"))
}

/// The outcome of destroying several instances: nvidia-smi goes on after a
/// failure and ends with one `Failed to destroy ...` line for the first error.
#[derive(Default)]
struct Batch {
    out: String,
    failure: Option<NvmlError>,
    any: bool,
}

impl Batch {
    fn record(
        &mut self,
        r: Result<(), NvmlError>,
        ok: String,
        failed: impl FnOnce(NvmlError) -> String,
    ) {
        self.any = true;
        match r {
            Ok(()) => self.out.push_str(&ok),
            Err(e) => {
                self.out.push_str(&failed(e));
                self.failure.get_or_insert(e);
            }
        }
    }

    fn finish(mut self, nothing: &str, what: &str) -> Outcome {
        if !self.any {
            return Outcome::fail(nothing, 6);
        }
        match self.failure {
            Some(e) => {
                self.out
                    .push_str(&format!("Failed to destroy {what}: {e}\n"));
                Outcome::fail(self.out, exit_code(e))
            }
            None => Outcome::ok(self.out),
        }
    }
}

/// Resolve a CI profile by ID (`0`) or name (`1c.3g.20gb`, `MIG 1c.3g.20gb`).
fn find_ci_profile(profiles: &[CiProfileStatus], s: &str) -> Option<CiProfileId> {
    let s = s.trim();
    let name = s.strip_prefix("MIG ").unwrap_or(s);
    profiles
        .iter()
        .find(|p| match s.parse::<u32>() {
            Ok(n) => p.profile.id == n,
            Err(_) => {
                p.name.eq_ignore_ascii_case(&format!("MIG {name}"))
                    || (name.ends_with('c')
                        && name[..name.len() - 1].parse::<u32>().ok() == Some(p.profile.slices))
            }
        })
        .map(|p| CiProfileId(p.profile.id))
}

fn create_ci(
    b: &dyn Backend,
    ids: Option<&str>,
    gi_ids: Option<&[u32]>,
    profiles: Option<&str>,
    style: Style,
) -> R<Outcome> {
    let targets = match gi_targets(b, ids, gi_ids)? {
        Ok(t) => t,
        Err(o) => return Ok(o),
    };
    // resolve every requested profile in every target GI before creating
    let mut plan = Vec::new();
    for (gpu, gi) in &targets {
        let avail = must(b.ci_profiles(&at(*gpu), gi.id))?;
        let wanted: Vec<(String, CiProfileId)> = match profiles {
            None => {
                let full = default_ci_of(*gpu, gi, &avail)?;
                vec![(full.0.to_string(), full)]
            }
            Some(list) => {
                let mut v = Vec::new();
                for tok in list.split(',') {
                    match find_ci_profile(&avail, tok) {
                        Some(id) => v.push((tok.trim().to_string(), id)),
                        None => {
                            return Ok(Outcome::fail(
                                out::create_ci_failed(
                                    *gpu,
                                    gi.id,
                                    tok.trim(),
                                    NvmlError::InvalidArgument,
                                ),
                                2,
                            ))
                        }
                    }
                }
                v
            }
        };
        plan.push((*gpu, gi.id, wanted));
    }
    let mut out = String::new();
    for (gpu, gi, wanted) in plan {
        for (text, id) in wanted {
            match nv(b.create_compute_instance(&at(gpu), gi, id, None))? {
                Ok(ci) => out.push_str(&out::created_ci(style, false, gpu, &ci)),
                Err(e) => {
                    out.push_str(&out::create_ci_failed(gpu, gi, &text, e));
                    return Ok(Outcome::fail(out, exit_code(e)));
                }
            }
        }
    }
    Ok(Outcome::ok(out))
}

fn destroy_ci(
    b: &dyn Backend,
    ids: Option<&str>,
    gi_ids: Option<&[u32]>,
    ci_ids: Option<&[u32]>,
) -> R<Outcome> {
    let targets = match gi_targets(b, ids, gi_ids)? {
        Ok(t) => t,
        Err(o) => return Ok(o),
    };
    // destroyed GPU by GPU in ascending GI ID, as -dgi does (the guide's
    // -dgi: GI 1, then GI 2), not in the listing's profile order
    let mut targets = targets;
    targets.sort_by_key(|(gpu, gi)| (*gpu, gi.id));
    let mut batch = Batch::default();
    for (gpu, gi) in targets {
        let mut existing = must(b.compute_instances(&at(gpu), gi.id))?;
        existing.sort_by_key(|c| c.id);
        let cis: Vec<ComputeInstanceId> = match ci_ids {
            Some(l) => l.iter().map(|&c| ComputeInstanceId(c)).collect(),
            None => existing.iter().map(|c| c.id).collect(),
        };
        for ci in cis {
            let r = nv(b.destroy_compute_instance(&at(gpu), gi.id, ci))?;
            batch.record(r, out::destroyed_ci(gpu, gi.id, ci), |e| {
                out::destroy_ci_failed(gpu, gi.id, ci, e)
            });
        }
    }
    Ok(batch.finish(NO_CI, "compute instances"))
}
