//! The drop-in `nvidia-mig-parted` (v0.15): invoked through a link of that
//! name, or as `migctl parted ...`. Its commands (`apply`, `assert`,
//! `export`, `generate-config`, `checkpoint`, `restore`), flags, `MIG_PARTED_*`
//! environment twins, the lines scripts read on stdout, and its exit status
//! (0, or 1 with a logrus `level=fatal` line on stderr) follow mig-parted's
//! source (`cmd/nvidia-mig-parted/*` at bd7160f4).
//!
//! Where migctl differs, on purpose: a config is validated against the
//! machine before anything is touched (also by `assert --valid-config`);
//! overlapping entries are refused; `assert` does not fail because some GPU
//! of the node is selected by no entry (mig-parted's `CountTrue(matched) !=
//! len(deviceIDs)` check, which makes partial configs never assert).

use crate::declarative::{
    load, reconcile, ApplyRequest, GpuResult, Phase, Reconciled, Stage, VerbError,
};
use mig_apply::assert_selection;
use mig_apply::{apply_with_hooks, Applier, Hooks};
use mig_config::Selection;
use mig_model::backend::Backend;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

impl std::fmt::Display for VerbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for VerbError {}

/// The `MIG_PARTED_*` values hooks receive.
pub fn hook_envs(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// mig-parted's `MigConfigApplier` over the live machine, read once:
/// assertions judge `snaps`, changes go to the reconciler, which plans from
/// `snaps` and leaves in them the state each phase made (read back).
pub struct LiveApplier<'a> {
    pub backend: &'a mut dyn Backend,
    pub selection: &'a Selection,
    /// The selected GPUs as this apply knows them.
    pub snaps: Vec<mig_model::GpuSnapshot>,
    pub dry_run: bool,
    pub skip_reset: bool,
    /// The config's name, for reports.
    pub config: String,
    /// The plan's text of a dry run, to print after it.
    pub printed: Vec<String>,
    /// Each GPU's result so far, all phases folded (in GPU order).
    pub results: Vec<GpuResult>,
}

impl LiveApplier<'_> {
    fn matches(&mut self, mode_only: bool) -> Result<bool, VerbError> {
        Ok(assert_selection(self.selection, &self.snaps, mode_only).is_ok())
    }

    fn change(&mut self, phase: Phase) -> Result<(), VerbError> {
        let req = ApplyRequest {
            config: self.config.clone(),
            phase,
            dry_run: self.dry_run,
            skip_reset: self.skip_reset,
            json: false,
        };
        match reconcile(self.backend, self.selection, &mut self.snaps, &req)? {
            Reconciled::Plan(text) => self.printed.push(text),
            Reconciled::Applied(results) => {
                for r in results {
                    match self.results.iter_mut().find(|e| e.index == r.index) {
                        Some(e) => e.merge(r),
                        None => self.results.push(r),
                    }
                }
                self.results.sort_by_key(|r| r.index);
            }
        }
        Ok(())
    }
}

impl Applier for LiveApplier<'_> {
    type Error = VerbError;
    fn mode_matches(&mut self) -> Result<bool, VerbError> {
        self.matches(true)
    }
    fn apply_mode(&mut self) -> Result<(), VerbError> {
        self.change(Phase::Mode)
    }
    fn config_matches(&mut self) -> Result<bool, VerbError> {
        self.matches(false)
    }
    fn apply_config(&mut self) -> Result<(), VerbError> {
        self.change(Phase::Config)
    }
}

// ---- command line ------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Bool,
}

/// One flag: long name, short alias, environment twin, kind, usage.
struct Flag {
    long: &'static str,
    short: char,
    env: &'static str,
    kind: Kind,
    usage: &'static str,
}

const fn s(long: &'static str, short: char, env: &'static str, usage: &'static str) -> Flag {
    Flag {
        long,
        short,
        env,
        kind: Kind::Str,
        usage,
    }
}

const fn b(long: &'static str, short: char, env: &'static str, usage: &'static str) -> Flag {
    Flag {
        long,
        short,
        env,
        kind: Kind::Bool,
        usage,
    }
}

const CONFIG_FILE: Flag = s(
    "config-file",
    'f',
    "MIG_PARTED_CONFIG_FILE",
    "Path to the configuration file",
);
const HOOKS_FILE: Flag = s(
    "hooks-file",
    'k',
    "MIG_PARTED_HOOKS_FILE",
    "Path to the hooks file",
);
const CHECKPOINT_FILE: Flag = s(
    "checkpoint-file",
    'f',
    "MIG_PARTED_CHECKPOINT_FILE",
    "Path to the checkpoint file",
);
const OUTPUT_FORMAT: Flag = s(
    "output-format",
    'o',
    "MIG_PARTED_OUTPUT_FORMAT",
    "Format for the output [json | yaml] (default: \"yaml\")",
);

struct Command {
    name: &'static str,
    usage: &'static str,
    flags: &'static [Flag],
}

const COMMANDS: &[Command] = &[
    Command {
        name: "apply",
        usage: "Apply changes (if necessary) for a specific MIG configuration from a configuration file",
        flags: &[
            CONFIG_FILE,
            s("selected-config", 'c', "MIG_PARTED_SELECTED_CONFIG", "The label of the mig-config from the config file to apply to the node"),
            HOOKS_FILE,
            b("skip-reset", 's', "MIG_PARTED_SKIP_RESET", "Skip the GPU reset operation after applying the desired MIG mode to all GPUs"),
            b("mode-only", 'm', "MIG_PARTED_MODE_CHANGE_ONLY", "Only change the MIG enabled setting from the config, not configure any MIG devices"),
        ],
    },
    Command {
        name: "assert",
        usage: "Assert that a specific MIG configuration is currently applied to the node",
        flags: &[
            CONFIG_FILE,
            s("selected-config", 'c', "MIG_PARTED_SELECTED_CONFIG", "The label of the mig-config from the config file to assert is applied to the node"),
            b("mode-only", 'm', "MIG_PARTED_MODE_CHANGE_ONLY", "Only assert the MIG mode setting from the selected config, not the configured MIG devices"),
            b("valid-config", 'a', "MIG_PARTED_VALID_CONFIG", "Only assert that the config file is valid and the selected config is present in it"),
        ],
    },
    Command {
        name: "export",
        usage: "Export the MIG configuration from all GPUs in a compatible format",
        flags: &[
            OUTPUT_FORMAT,
            s("config-label", 'l', "MIG_PARTED_CONFIG_LABEL", "Label to apply to the exported config (default: \"current\")"),
        ],
    },
    Command {
        name: "generate-config",
        usage: "Generate MIG configuration by discovering available MIG profiles on the system",
        flags: &[
            s("output-file", 'f', "MIG_PARTED_OUTPUT_FILE", "Output file path (default: stdout)"),
            OUTPUT_FORMAT,
        ],
    },
    Command {
        name: "checkpoint",
        usage: "Checkpoint MIG state to a checkpoint file",
        flags: &[CHECKPOINT_FILE],
    },
    Command {
        name: "restore",
        usage: "Restore MIG state from a checkpoint file",
        flags: &[
            CHECKPOINT_FILE,
            HOOKS_FILE,
            b("mode-only", 'm', "MIG_PARTED_MODE_CHANGE_ONLY", "Only change the MIG enabled setting from the checkpoint file, not configure any MIG devices"),
        ],
    },
];

const PROG: &str = "nvidia-mig-parted";

fn top_help() -> String {
    let mut h = format!(
        "NAME:\n   {PROG} - Manage MIG partitions across the full set of NVIDIA GPUs on a node\n\n\
         USAGE:\n   {PROG} [global options] [command [command options]]\n\n\
         VERSION:\n   {} (migctl)\n\nCOMMANDS:\n",
        env!("CARGO_PKG_VERSION")
    );
    for c in COMMANDS {
        h.push_str(&format!("   {:<17}{}\n", c.name, c.usage));
    }
    h.push_str(
        "   help, h          Shows a list of commands or help for one command\n\nGLOBAL OPTIONS:\n",
    );
    h.push_str("   --debug, -d    Enable debug-level logging [$MIG_PARTED_DEBUG]\n");
    h.push_str("   --help, -h     show help\n   --version, -v  print the version\n");
    h
}

fn command_help(c: &Command) -> String {
    let mut h = format!(
        "NAME:\n   {PROG} {} - {}\n\nUSAGE:\n   {PROG} {} [options]\n\nOPTIONS:\n",
        c.name, c.usage, c.name
    );
    for f in c.flags {
        let names = match f.kind {
            Kind::Str => format!("--{} string, -{} string", f.long, f.short),
            Kind::Bool => format!("--{}, -{}", f.long, f.short),
        };
        h.push_str(&format!("   {names:<36} {} [${}]\n", f.usage, f.env));
    }
    h.push_str(&format!("   {:<36} show help\n", "--help, -h"));
    h
}

/// urfave/cli's boolean grammar (Go's `strconv.ParseBool`).
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Parsed flag values of one command: command line first, then the
/// environment twin, then the default (empty / false).
struct Values {
    strs: BTreeMap<&'static str, String>,
    bools: BTreeMap<&'static str, bool>,
}

impl Values {
    fn str(&self, long: &str) -> String {
        self.strs.get(long).cloned().unwrap_or_default()
    }
    fn bool(&self, long: &str) -> bool {
        self.bools.get(long).copied().unwrap_or(false)
    }
}

enum Parsed {
    Help(String),
    Run(Values),
}

fn parse_flags(c: &Command, args: &[String]) -> Result<Parsed, String> {
    let mut strs = BTreeMap::new();
    let mut bools = BTreeMap::new();
    let find_long = |n: &str| c.flags.iter().find(|f| f.long == n);
    let find_short = |ch: char| c.flags.iter().find(|f| f.short == ch);
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            break;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let flags: Vec<&Flag> = if let Some(long) = name.strip_prefix("--") {
            if long == "help" {
                return Ok(Parsed::Help(command_help(c)));
            }
            vec![find_long(long).ok_or_else(|| format!("flag provided but not defined: -{long}"))?]
        } else if let Some(short) = name.strip_prefix('-').filter(|s| !s.is_empty()) {
            if short == "h" {
                return Ok(Parsed::Help(command_help(c)));
            }
            if let Some(f) = find_long(short) {
                // Go's flag package accepts a single dash before long names.
                vec![f]
            } else {
                // Short options may be combined (-ms), as UseShortOptionHandling allows.
                short
                    .chars()
                    .map(|ch| {
                        find_short(ch)
                            .ok_or_else(|| format!("flag provided but not defined: -{short}"))
                    })
                    .collect::<Result<_, _>>()?
            }
        } else {
            return Err(format!("unexpected argument {a:?}"));
        };
        for (k, f) in flags.iter().enumerate() {
            let last = k + 1 == flags.len();
            match f.kind {
                Kind::Bool => {
                    let v = match (&inline, last) {
                        (Some(v), true) => parse_bool(v).ok_or_else(|| {
                            format!("invalid value {v:?} for flag -{}: parse error", f.long)
                        })?,
                        _ => true,
                    };
                    bools.insert(f.long, v);
                }
                Kind::Str => {
                    let v = match (&inline, last) {
                        (Some(v), true) => v.clone(),
                        (None, true) if i < args.len() => {
                            i += 1;
                            args[i - 1].clone()
                        }
                        _ => return Err(format!("flag needs an argument: -{}", f.long)),
                    };
                    strs.insert(f.long, v);
                }
            }
        }
    }
    for f in c.flags {
        let Ok(v) = std::env::var(f.env) else {
            continue;
        };
        match f.kind {
            Kind::Str => {
                strs.entry(f.long).or_insert(v);
            }
            Kind::Bool => {
                if !bools.contains_key(f.long) {
                    let b = parse_bool(v.trim()).ok_or_else(|| {
                        format!(
                            "could not parse \"{v}\" as bool value from env var \"{}\"",
                            f.env
                        )
                    })?;
                    bools.insert(f.long, b);
                }
            }
        }
    }
    Ok(Parsed::Run(Values { strs, bools }))
}

/// RFC 3339 UTC time of now, as logrus prints it.
fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// mig-parted's `log.Fatal(Capitalize(err))`: one logrus line on stderr,
/// exit status 1.
fn fatal(msg: &str) -> ExitCode {
    let mut chars = msg.chars();
    let msg = match chars.next() {
        Some(c) => c.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    };
    if std::io::stderr().is_terminal() {
        eprintln!("FATA[0000] {msg}");
    } else {
        eprintln!(
            "time=\"{}\" level=fatal msg={}",
            now_rfc3339(),
            serde_json::to_string(&msg).unwrap_or_default()
        );
    }
    ExitCode::from(1)
}

fn missing(what: &str, c: &Command) -> Result<String, String> {
    print!("{}", command_help(c));
    Err(format!("missing required flags '{what}'"))
}

fn open() -> Result<(Box<dyn Backend>, Vec<mig_model::GpuSnapshot>), String> {
    let b = crate::backend::open_backend()?;
    let snaps = crate::live::plan_snapshots(b.as_ref())
        .map_err(|e| format!("error initializing NVML: {e}"))?;
    Ok((b, snaps))
}

/// mig-parted's message prefixes for a config that does not load.
fn select_error(e: VerbError) -> String {
    match e.stage {
        Stage::Select if e.message.contains("choose one with -c") => {
            "error selecting MIG config: missing required flag 'selected-config' when more than one config available".into()
        }
        Stage::Select => format!("error selecting MIG config: {}", e.message),
        Stage::Validate => format!("error validating MIG config: {}", e.message),
        Stage::Parse | Stage::Other => format!("error parsing config file: {}", e.message),
    }
}

fn assert_cmd(c: &Command, v: &Values) -> Result<String, String> {
    let file = v.str("config-file");
    if file.is_empty() {
        return missing("config-file", c);
    }
    let (_b, snaps) = open()?;
    let sel = v.str("selected-config");
    let l = load(
        Path::new(&file),
        (!sel.is_empty()).then_some(sel.as_str()),
        &snaps,
    )
    .map_err(select_error)?;
    if v.bool("valid-config") {
        return Ok("Selected MIG configuration is valid\n".into());
    }
    let fail = "assertion failure: selected configuration not currently applied".to_string();
    assert_selection(&l.selection, &snaps, true).map_err(|_| fail.clone())?;
    if v.bool("mode-only") {
        return Ok("Selected MIG mode settings from configuration currently applied\n".into());
    }
    assert_selection(&l.selection, &snaps, false).map_err(|_| fail)?;
    Ok("Selected MIG configuration currently applied\n".into())
}

fn apply_cmd(c: &Command, v: &Values, debug: bool) -> Result<String, String> {
    let file = v.str("config-file");
    if file.is_empty() {
        return missing("config-file", c);
    }
    let (mut backend, snaps) = open()?;
    let sel = v.str("selected-config");
    let l = load(
        Path::new(&file),
        (!sel.is_empty()).then_some(sel.as_str()),
        &snaps,
    )
    .map_err(select_error)?;
    let hooks_file = v.str("hooks-file");
    let hooks = if hooks_file.is_empty() {
        Hooks::default()
    } else {
        Hooks::load(Path::new(&hooks_file)).map_err(|e| format!("error parsing hooks file: {e}"))?
    };
    let envs = hook_envs(&[
        ("MIG_PARTED_CONFIG_FILE", file.clone()),
        ("MIG_PARTED_SELECTED_CONFIG", l.name.clone()),
        ("MIG_PARTED_HOOKS_FILE", hooks_file.clone()),
        ("MIG_PARTED_SKIP_RESET", v.bool("skip-reset").to_string()),
        (
            "MIG_PARTED_MODE_CHANGE_ONLY",
            v.bool("mode-only").to_string(),
        ),
    ]);
    let mut applier = LiveApplier {
        backend: backend.as_mut(),
        selection: &l.selection,
        snaps,
        dry_run: false,
        skip_reset: v.bool("skip-reset"),
        config: l.name.clone(),
        printed: Vec::new(),
        results: Vec::new(),
    };
    apply_with_hooks(&hooks, &envs, debug, v.bool("mode-only"), &mut applier)
        .map_err(|e| format!("error applying MIG configuration with hooks: {e}"))?;
    Ok("MIG configuration applied successfully\n".into())
}

fn write_output(text: &str, file: &str) -> Result<String, String> {
    if file.is_empty() {
        return Ok(text.to_string());
    }
    std::fs::write(file, text).map_err(|e| format!("error creating output file: {e}"))?;
    Ok(String::new())
}

fn format_spec(spec: &mig_config::Spec, format: &str) -> Result<String, String> {
    match format {
        "" | "yaml" => Ok(spec.to_yaml()),
        "json" => Ok(serde_json::to_string_pretty(&spec.to_json()).unwrap_or_default()),
        other => Err(format!("unrecognized 'output-format': {other}")),
    }
}

fn checkpoint_file(c: &Command, v: &Values) -> Result<PathBuf, String> {
    let f = v.str("checkpoint-file");
    if f.is_empty() {
        missing("checkpoint-file", c)?;
    }
    Ok(PathBuf::from(f))
}

fn restore_cmd(c: &Command, v: &Values, debug: bool) -> Result<String, String> {
    let path = checkpoint_file(c, v)?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("error parsing checkpoint file: read error: {e}"))?;
    let cp = mig_apply::checkpoint::Checkpoint::parse(&text, &path.display().to_string())
        .map_err(|e| format!("error parsing checkpoint file: {e}"))?;
    let hooks_file = v.str("hooks-file");
    let hooks = if hooks_file.is_empty() {
        Hooks::default()
    } else {
        Hooks::load(Path::new(&hooks_file)).map_err(|e| format!("error parsing hooks file: {e}"))?
    };
    let (mut backend, snaps) = open()?;
    let ids: Vec<_> = snaps.iter().map(|s| s.identity.clone()).collect();
    let demands = cp.demands(&ids).map_err(|e| e.to_string())?;
    let mut selection = Selection::default();
    for (index, demand) in demands {
        let id = &ids[ids.iter().position(|g| g.index == index).unwrap_or(0)];
        let Some(model) = id.model.as_deref().and_then(mig_model::catalog::model) else {
            continue;
        };
        let fits_as = mig_config::check_fit(model, id.mirrored, &demand)
            .map_err(|e| format!("GPU {index}: {e}"))?;
        selection.targets.push(mig_config::Target {
            index,
            uuid: id.uuid.clone(),
            entry: 0,
            model: model.slug.clone(),
            demand,
            fits_as,
        });
    }
    let envs = hook_envs(&[
        ("MIG_PARTED_CHECKPOINT_FILE", path.display().to_string()),
        ("MIG_PARTED_HOOKS_FILE", hooks_file.clone()),
        (
            "MIG_PARTED_MODE_CHANGE_ONLY",
            v.bool("mode-only").to_string(),
        ),
    ]);
    let mut applier = LiveApplier {
        backend: backend.as_mut(),
        selection: &selection,
        snaps,
        dry_run: false,
        skip_reset: false,
        config: "the checkpoint".into(),
        printed: Vec::new(),
        results: Vec::new(),
    };
    apply_with_hooks(&hooks, &envs, debug, v.bool("mode-only"), &mut applier)
        .map_err(|e| format!("error applying MIG configuration with hooks: {e}"))?;
    Ok("MIG configuration restored successfully\n".into())
}

fn run(c: &Command, v: &Values, debug: bool) -> Result<String, String> {
    match c.name {
        "assert" => assert_cmd(c, v),
        "apply" => apply_cmd(c, v, debug),
        "export" => {
            let format = v.str("output-format");
            if !matches!(format.as_str(), "" | "yaml" | "json") {
                print!("{}", command_help(c));
                return Err(format!("unrecognized 'output-format': {format}"));
            }
            let (_b, snaps) = open()?;
            let label = v.str("config-label");
            let label = if label.is_empty() { "current" } else { &label };
            format_spec(&mig_apply::export(&snaps, label, false), &format)
        }
        "generate-config" => {
            let format = v.str("output-format");
            if !matches!(format.as_str(), "" | "yaml" | "json") {
                print!("{}", command_help(c));
                return Err(format!("unrecognized 'output-format': {format}"));
            }
            let (_b, snaps) = open()?;
            let models: Vec<_> = snaps
                .iter()
                .filter_map(|s| {
                    s.identity
                        .model
                        .as_deref()
                        .and_then(mig_model::catalog::model)
                })
                .collect();
            if models.is_empty() {
                return Err("error generating MIG config: failed to discover MIG profiles: no MIG-capable GPUs found".into());
            }
            let text = format_spec(&mig_config::generate(&models), &format)?;
            write_output(&text, &v.str("output-file"))
        }
        "checkpoint" => {
            let path = checkpoint_file(c, v)?;
            let (_b, snaps) = open()?;
            let cp = mig_apply::checkpoint::checkpoint(&snaps);
            let text = serde_json::to_string(&cp)
                .map_err(|e| format!("error marshalling MIG state to json: {e}"))?;
            std::fs::write(&path, text)
                .map_err(|e| format!("error creating checkpoint file: {e}"))?;
            Ok("MIG configuration checkpointed successfully\n".into())
        }
        "restore" => restore_cmd(c, v, debug),
        other => Err(format!("no such command {other}")),
    }
}

/// `nvidia-mig-parted ARGS...` (`args` without the program name).
pub fn main(args: &[String]) -> ExitCode {
    let mut debug = std::env::var("MIG_PARTED_DEBUG")
        .ok()
        .and_then(|v| parse_bool(v.trim()))
        .unwrap_or(false);
    let mut i = 0;
    while let Some(a) = args.get(i) {
        match a.as_str() {
            "-d" | "--debug" | "-debug" => debug = true,
            "-h" | "--help" | "-help" => {
                print!("{}", top_help());
                return ExitCode::SUCCESS;
            }
            "-v" | "--version" | "-version" => {
                println!("{PROG} version {} (migctl)", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            s if s.starts_with('-') => {
                return fatal(&format!("flag provided but not defined: {s}"))
            }
            _ => break,
        }
        i += 1;
    }
    let Some(name) = args.get(i) else {
        print!("{}", top_help());
        return ExitCode::SUCCESS;
    };
    if name == "help" || name == "h" {
        match args
            .get(i + 1)
            .and_then(|n| COMMANDS.iter().find(|c| c.name == n))
        {
            Some(c) => print!("{}", command_help(c)),
            None => print!("{}", top_help()),
        }
        return ExitCode::SUCCESS;
    }
    let Some(c) = COMMANDS.iter().find(|c| c.name == name) else {
        print!("{}", top_help());
        return fatal(&format!("no such command: {name}"));
    };
    let values = match parse_flags(c, &args[i + 1..]) {
        Ok(Parsed::Help(h)) => {
            print!("{h}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Run(v)) => v,
        Err(e) => {
            print!("{}", command_help(c));
            return fatal(&e);
        }
    };
    match run(c, &values, debug) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => fatal(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(name: &str) -> &'static Command {
        COMMANDS.iter().find(|c| c.name == name).unwrap()
    }

    fn values(name: &str, args: &[&str]) -> Values {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse_flags(cmd(name), &args).unwrap() {
            Parsed::Run(v) => v,
            Parsed::Help(_) => panic!("help"),
        }
    }

    /// Proves urfave/cli's flag forms: long, short, `=value`, single-dash
    /// long names, combined short booleans and `--flag=false`.
    #[test]
    fn flag_forms() {
        let v = values(
            "apply",
            &["-f", "c.yaml", "--selected-config=x", "-ms", "-k=h.yaml"],
        );
        assert_eq!(v.str("config-file"), "c.yaml");
        assert_eq!(v.str("selected-config"), "x");
        assert_eq!(v.str("hooks-file"), "h.yaml");
        assert!(v.bool("mode-only") && v.bool("skip-reset"));
        let v = values(
            "assert",
            &["-config-file", "c.yaml", "--mode-only=false", "-a"],
        );
        assert_eq!(v.str("config-file"), "c.yaml");
        assert!(!v.bool("mode-only") && v.bool("valid-config"));
        let e = parse_flags(cmd("assert"), &["-x".to_string()])
            .err()
            .unwrap();
        assert_eq!(e, "flag provided but not defined: -x");
        let e = parse_flags(cmd("assert"), &["-f".to_string()])
            .err()
            .unwrap();
        assert!(e.contains("needs an argument"), "{e}");
    }

    /// Proves every command lists each of its flags with its environment
    /// twin in its help, as mig-parted's commands do.
    #[test]
    fn help_names_env_twins() {
        for c in COMMANDS {
            let h = command_help(c);
            for f in c.flags {
                assert!(
                    h.contains(&format!("--{}", f.long)) && h.contains(f.env),
                    "{}",
                    c.name
                );
            }
        }
        assert!(top_help().contains("generate-config"));
    }

    /// Proves the logrus timestamp is a well-formed RFC 3339 UTC time.
    #[test]
    fn timestamp_format() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
    }
}
