//! nvidia-smi's command-line grammar: single-dash long options (`-lgip`,
//! `-cgi 9,19`), `--long=value` forms, and comma lists. clap cannot express
//! single-dash long flags, so this small parser handles the nvidia-smi
//! compatible surface; migctl's own verbs (`migctl sim ...`) use clap.

/// A parsed nvidia-smi-style invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmiCommand {
    /// Bare `migctl`: the status view.
    Status { ids: Option<String> },
    /// `-L`
    List,
    /// `[-i IDS] -mig 0|1`
    SetMig { ids: Option<String>, enable: bool },
    /// `[-i IDS] -r`
    Reset { ids: Option<String> },
    /// `-h`
    Help,
    /// `--version`
    Version,
    /// `mig ...`
    Mig(MigArgs),
    /// `[-i IDS] --query-gpu=FIELDS|--query-compute-apps=FIELDS --format=...`
    Query(Query),
    /// `-q [-i IDS] [-d TYPES]`: the detailed query.
    Detail { ids: Option<String>, filter: Filter },
}

/// What `--query-gpu` / `--query-compute-apps` queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `--query-gpu`: one row per GPU.
    Gpu,
    /// `--query-compute-apps`: one row per compute process.
    ComputeApps,
}

/// A parsed query: the raw field list and format, checked when run (as
/// nvidia-smi checks them after parsing the command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub target: Target,
    pub fields: String,
    pub format: Option<String>,
    pub ids: Option<String>,
}

/// The action of `migctl mig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigAction {
    Help,
    ListGiProfiles,
    ListGiPlacements,
    CreateGi { tuples: String, default_ci: bool },
    DestroyGi,
    ListGi,
    ListCiProfiles,
    ListCiPlacements,
    CreateCi { profiles: Option<String> },
    DestroyCi,
    ListCi,
}

/// `migctl mig` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigArgs {
    pub action: MigAction,
    /// Further listing flags of the same call, which nvidia-smi accepts and
    /// ignores: it runs the one listing [`listing_rank`] puts first.
    pub more: Vec<MigAction>,
    pub ids: Option<String>,
    pub gi: Option<String>,
    pub ci: Option<String>,
}

/// nvidia-smi 580's `-d` display types (`nvidia-smi -h`), in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Display {
    Memory,
    Utilization,
    Ecc,
    Temperature,
    Power,
    Clock,
    Compute,
    Pids,
    Performance,
    SupportedClocks,
    PageRetirement,
    Accounting,
    EncoderStats,
    SupportedGpuTargetTemp,
    Voltage,
    FbcStats,
    RowRemapper,
    GspFirmwareVersion,
    PowerSmoothing,
    PowerProfiles,
}

impl Display {
    /// Every type with its `-d` name.
    pub const ALL: [(Display, &'static str); 20] = [
        (Display::Memory, "MEMORY"),
        (Display::Utilization, "UTILIZATION"),
        (Display::Ecc, "ECC"),
        (Display::Temperature, "TEMPERATURE"),
        (Display::Power, "POWER"),
        (Display::Clock, "CLOCK"),
        (Display::Compute, "COMPUTE"),
        (Display::Pids, "PIDS"),
        (Display::Performance, "PERFORMANCE"),
        (Display::SupportedClocks, "SUPPORTED_CLOCKS"),
        (Display::PageRetirement, "PAGE_RETIREMENT"),
        (Display::Accounting, "ACCOUNTING"),
        (Display::EncoderStats, "ENCODER_STATS"),
        (Display::SupportedGpuTargetTemp, "SUPPORTED_GPU_TARGET_TEMP"),
        (Display::Voltage, "VOLTAGE"),
        (Display::FbcStats, "FBC_STATS"),
        (Display::RowRemapper, "ROW_REMAPPER"),
        (Display::GspFirmwareVersion, "GSP_FIRMWARE_VERSION"),
        (Display::PowerSmoothing, "POWER_SMOOTHING"),
        (Display::PowerProfiles, "POWER_PROFILES"),
    ];

    /// Parse `-d`'s comma list (names in any case); `Err` names the first
    /// word that is no display type.
    pub fn parse_list(s: &str) -> Result<Vec<Display>, String> {
        let mut out = Vec::new();
        for w in s.split(',') {
            let w = w.trim();
            let d = Display::ALL
                .iter()
                .find(|(_, n)| n.eq_ignore_ascii_case(w))
                .map(|(d, _)| *d)
                .ok_or_else(|| w.to_string())?;
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }
}

/// What `-q` shows: everything, or the chosen display types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    All,
    Only(Vec<Display>),
}

impl Filter {
    pub(crate) fn shows(&self, d: Display) -> bool {
        match self {
            Filter::All => true,
            Filter::Only(v) => v.contains(&d),
        }
    }
}

/// A usage error, printed as nvidia-smi 580 prints it (on stdout) with its
/// exit status. The top-level parser prefixes `ERROR: ` and adds an empty
/// line; the `mig` parser quotes the option (captured on a real H200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    pub text: String,
    pub code: i32,
}

/// Which of nvidia-smi's two argument parsers reports the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parser {
    Top,
    Mig,
}

fn top_error(msg: &str, code: i32) -> UsageError {
    UsageError {
        text: format!("ERROR: {msg}\n\n"),
        code,
    }
}

fn not_recognized(p: Parser, opt: &str) -> UsageError {
    match p {
        Parser::Top => top_error(
            &format!("Option {opt} is not recognized. Please run 'nvidia-smi -h'."),
            255,
        ),
        Parser::Mig => UsageError {
            text: format!("Option \"{opt}\" is not recognized.\n"),
            code: 2,
        },
    }
}

fn missing_value(p: Parser, opt: &str) -> UsageError {
    match p {
        Parser::Top => top_error(
            &format!("Option {opt} is missing its value. Please run 'nvidia-smi -h' for help."),
            255,
        ),
        Parser::Mig => UsageError {
            text: format!("Option \"{opt}\" is missing its value.\n"),
            code: 2,
        },
    }
}

/// Split `--name=value` into its parts.
fn split_eq(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('=') {
        Some((a, b)) if arg.starts_with('-') => (a, Some(b)),
        _ => (arg, None),
    }
}

struct Args<'a> {
    items: &'a [String],
    pos: usize,
    parser: Parser,
}

impl<'a> Args<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let a = self.items.get(self.pos)?;
        self.pos += 1;
        Some(a.as_str())
    }

    /// The option's value: `=value` or the next argument.
    fn value(&mut self, opt: &str, inline: Option<&'a str>) -> Result<String, UsageError> {
        if let Some(v) = inline {
            return Ok(v.to_string());
        }
        match self.items.get(self.pos) {
            Some(v) => {
                self.pos += 1;
                Ok(v.clone())
            }
            None => Err(missing_value(self.parser, opt)),
        }
    }

    /// An optional value: taken when the next argument is not an option.
    fn optional_value(&mut self, inline: Option<&'a str>) -> Option<String> {
        if let Some(v) = inline {
            return Some(v.to_string());
        }
        match self.items.get(self.pos) {
            Some(v) if !v.starts_with('-') => {
                self.pos += 1;
                Some(v.clone())
            }
            _ => None,
        }
    }
}

/// Parse the arguments after the program name.
pub fn parse(argv: &[String]) -> Result<SmiCommand, UsageError> {
    if argv.first().map(String::as_str) == Some("mig") {
        return parse_mig(&argv[1..]).map(SmiCommand::Mig);
    }
    let mut a = Args {
        items: argv,
        pos: 0,
        parser: Parser::Top,
    };
    let mut ids = None;
    let mut list = 0;
    let mut mig = None;
    let mut reset = false;
    let mut query: Option<Query> = None;
    let mut format = None;
    let mut detail = false;
    let mut display: Option<String> = None;
    while let Some(arg) = a.next() {
        let (name, inline) = split_eq(arg);
        match name {
            "-h" | "--help" => return Ok(SmiCommand::Help),
            "--version" => return Ok(SmiCommand::Version),
            "-L" | "--list-gpus" => list += 1,
            "-i" | "--id" => ids = Some(a.value(name, inline)?),
            "-r" | "--gpu-reset" => reset = true,
            "-q" | "--query" => detail = true,
            "-d" | "--display" => display = Some(a.value(name, inline)?),
            "--query-gpu" | "--query-compute-apps" => {
                query = Some(Query {
                    target: if name == "--query-gpu" {
                        Target::Gpu
                    } else {
                        Target::ComputeApps
                    },
                    fields: a.value(name, inline)?,
                    format: None,
                    ids: None,
                })
            }
            "--format" => format = Some(a.value(name, inline)?),
            "-mig" | "--multi-instance-gpu" => {
                let v = a.value(name, inline)?;
                mig = Some(match v.to_ascii_uppercase().as_str() {
                    "0" | "DISABLED" => false,
                    "1" | "ENABLED" => true,
                    _ => {
                        return Err(top_error(
                            &format!("Invalid value \"{v}\" for option -mig: use 0/DISABLED or 1/ENABLED. Please run 'nvidia-smi -h' for help."),
                            2,
                        ))
                    }
                });
            }
            _ => return Err(not_recognized(Parser::Top, name)),
        }
    }
    let one_at_a_time = || {
        top_error(
            "Only one command can be run at a time. Please run 'nvidia-smi -h' for help.",
            2,
        )
    };
    if let Some(d) = &display {
        if !detail {
            // nvidia-smi 580.159.04's words (catalog/measured/h100-580.159.04)
            return Err(UsageError {
                text: "Invalid combination of input arguments. Specify -q/--query and \
                       -d/--display to run a filtered query.  Please run 'nvidia-smi -h' \
                       for help.\n\n"
                    .into(),
                code: 2,
            });
        }
        if Display::parse_list(d).is_err() {
            // what the real nvidia-smi 580.159.04 prints for an unknown type
            // (tests/golden/real-smi/, `-q -d MIG`)
            return Err(UsageError {
                text: "Failed to parse --display/-d flags\n".into(),
                code: 2,
            });
        }
    }
    if detail {
        if list > 0 || mig.is_some() || reset || query.is_some() {
            return Err(one_at_a_time());
        }
        let filter = match display {
            Some(d) => Filter::Only(Display::parse_list(&d).unwrap_or_default()),
            None => Filter::All,
        };
        return Ok(SmiCommand::Detail { ids, filter });
    }
    if let Some(q) = query {
        if list > 0 || mig.is_some() || reset {
            return Err(one_at_a_time());
        }
        return Ok(SmiCommand::Query(Query { format, ids, ..q }));
    }
    match (list, mig, reset) {
        (1, None, false) if ids.is_some() => Err(top_error(
            "Option -i is not valid for this command. Please run 'nvidia-smi -h' for help.",
            2,
        )),
        (1, None, false) => Ok(SmiCommand::List),
        (0, Some(enable), false) => Ok(SmiCommand::SetMig { ids, enable }),
        (0, None, true) => Ok(SmiCommand::Reset { ids }),
        (0, None, false) => Ok(SmiCommand::Status { ids }),
        _ => Err(one_at_a_time()),
    }
}

/// Which listing nvidia-smi runs when a call names several: -lgip, then
/// -lgipp (both seen on the lent H200); the GI and CI listings after them in
/// the order of `nvidia-smi mig -h` (they print the same with MIG disabled,
/// so the board could not tell their order apart).
pub fn listing_rank(a: &MigAction) -> u8 {
    match a {
        MigAction::ListGiProfiles => 0,
        MigAction::ListGiPlacements => 1,
        MigAction::ListGi => 2,
        MigAction::ListCiProfiles => 3,
        MigAction::ListCiPlacements => 4,
        MigAction::ListCi => 5,
        _ => 6,
    }
}

fn parse_mig(argv: &[String]) -> Result<MigArgs, UsageError> {
    let mut a = Args {
        items: argv,
        pos: 0,
        parser: Parser::Mig,
    };
    let mut actions = Vec::new();
    let mut default_ci = false;
    let (mut ids, mut gi, mut ci) = (None, None, None);
    while let Some(arg) = a.next() {
        let (name, inline) = split_eq(arg);
        match name {
            "-h" | "--help" => {
                return Ok(MigArgs {
                    action: MigAction::Help,
                    more: Vec::new(),
                    ids,
                    gi,
                    ci,
                })
            }
            "-i" | "--id" => ids = Some(a.value(name, inline)?),
            "-gi" | "--gpu-instance-id" => gi = Some(a.value(name, inline)?),
            "-ci" | "--compute-instance-id" => ci = Some(a.value(name, inline)?),
            "-C" | "--default-compute-instance" => default_ci = true,
            "-lgip" | "--list-gpu-instance-profiles" => actions.push(MigAction::ListGiProfiles),
            "-lgipp" | "--list-gpu-instance-possible-placements" => {
                actions.push(MigAction::ListGiPlacements)
            }
            "-cgi" | "--create-gpu-instance" => {
                let tuples = a.value(name, inline)?;
                if tuples.trim().is_empty() {
                    return Err(missing_value(Parser::Mig, name));
                }
                actions.push(MigAction::CreateGi {
                    tuples,
                    default_ci: false,
                })
            }
            "-dgi" | "--destroy-gpu-instance" => actions.push(MigAction::DestroyGi),
            "-lgi" | "--list-gpu-instances" => actions.push(MigAction::ListGi),
            "-lcip" | "--list-compute-instance-profiles" => actions.push(MigAction::ListCiProfiles),
            "-lcipp" | "--list-compute-instance-possible-placements" => {
                actions.push(MigAction::ListCiPlacements)
            }
            "-cci" | "--create-compute-instance" => actions.push(MigAction::CreateCi {
                profiles: a.optional_value(inline),
            }),
            "-dci" | "--destroy-compute-instance" => actions.push(MigAction::DestroyCi),
            "-lci" | "--list-compute-instances" => actions.push(MigAction::ListCi),
            _ => return Err(not_recognized(Parser::Mig, name)),
        }
    }
    // nvidia-smi 580 accepts one action per call; its message for more was
    // not captured, so this one says what is wrong in the mig parser's style.
    let invalid = || UsageError {
        text:
            "Invalid combination of options: give one action (-cgi, -dgi, -cci, -dci) per call, or \
               only listings (-lgip, -lgipp, -lgi, -lcip, -lcipp, -lci); -C goes with -cgi only.\n"
                .into(),
        code: 2,
    };
    // Several listings in one call are accepted, as on a real H200: nvidia-smi
    // 580 prints one of them and exits 0 (lent H200, driver 580.159.04:
    // `-lgipp -lgip` and `-lci -lgip` print -lgip, `-lgi -lgipp` and
    // `-lcip -lgipp` print -lgipp); anything that changes the GPU stays alone.
    let listing = |a: &MigAction| {
        matches!(
            a,
            MigAction::ListGiProfiles
                | MigAction::ListGiPlacements
                | MigAction::ListGi
                | MigAction::ListCiProfiles
                | MigAction::ListCiPlacements
                | MigAction::ListCi
        )
    };
    if actions.len() > 1 && !actions.iter().all(listing) {
        return Err(invalid());
    }
    actions.sort_by_key(listing_rank);
    let more = if actions.len() > 1 {
        actions.split_off(1)
    } else {
        Vec::new()
    };
    let mut action = match actions.len() {
        0 => MigAction::Help,
        _ => actions.remove(0),
    };
    // -cgi creates GPU instances: a GI or CI ID has nothing to select there
    if matches!(action, MigAction::CreateGi { .. }) {
        if let Some(opt) = [(&gi, "-gi"), (&ci, "-ci")]
            .iter()
            .find_map(|(v, o)| v.is_some().then_some(*o))
        {
            return Err(UsageError {
                text: format!(
                    "Option \"{opt}\" is not valid with \"-cgi\": a new GPU instance gets its ID when it is created; use -i to choose the GPU.\n"
                ),
                code: 2,
            });
        }
    }
    if default_ci {
        match &mut action {
            MigAction::CreateGi { default_ci, .. } => *default_ci = true,
            _ => return Err(invalid()),
        }
    }
    Ok(MigArgs {
        action,
        more,
        ids,
        gi,
        ci,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<SmiCommand, UsageError> {
        let v: Vec<String> = s.split_whitespace().map(String::from).collect();
        parse(&v)
    }

    /// Proves the guide's command lines parse to the intended actions.
    #[test]
    fn guide_command_lines() {
        assert_eq!(p("-L"), Ok(SmiCommand::List));
        assert_eq!(p(""), Ok(SmiCommand::Status { ids: None }));
        assert_eq!(
            p("-i 0 -mig 1"),
            Ok(SmiCommand::SetMig {
                ids: Some("0".into()),
                enable: true
            })
        );
        assert_eq!(
            p("--id=0,1 --multi-instance-gpu=DISABLED"),
            Ok(SmiCommand::SetMig {
                ids: Some("0,1".into()),
                enable: false
            })
        );
        let m = |s: &str| match p(s) {
            Ok(SmiCommand::Mig(m)) => m,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(
            m("mig -cgi 9,3g.20gb -C").action,
            MigAction::CreateGi {
                tuples: "9,3g.20gb".into(),
                default_ci: true
            }
        );
        let c = m("mig -cci 0,0,0 -gi 1");
        assert_eq!(
            c.action,
            MigAction::CreateCi {
                profiles: Some("0,0,0".into())
            }
        );
        assert_eq!(c.gi.as_deref(), Some("1"));
        assert_eq!(
            m("mig -cci -gi 1").action,
            MigAction::CreateCi { profiles: None }
        );
        let d = m("mig -dci -ci 0,1,2 -gi 1");
        assert_eq!(
            (d.action, d.ci.as_deref()),
            (MigAction::DestroyCi, Some("0,1,2"))
        );
        assert_eq!(m("mig").action, MigAction::Help);
    }

    /// Proves several listings share one call and the one nvidia-smi 580
    /// runs is chosen as on the lent H200 (-lgip over -lgipp over the rest).
    #[test]
    fn listings_combine() {
        let Ok(SmiCommand::Mig(m)) = p("mig -lgipp -lgip -i 0") else {
            panic!("listings refused")
        };
        assert_eq!(m.action, MigAction::ListGiProfiles);
        assert_eq!(m.more, vec![MigAction::ListGiPlacements]);
        let Ok(SmiCommand::Mig(m)) = p("mig -lci -lgi -lgipp") else {
            panic!("listings refused")
        };
        assert_eq!(m.action, MigAction::ListGiPlacements);
        assert_eq!(m.ids, None);
    }

    /// Proves wrong flags are refused with nvidia-smi's message.
    #[test]
    fn bad_flags_are_refused() {
        assert_eq!(
            p("mig -bogus"),
            Err(UsageError {
                text: "Option \"-bogus\" is not recognized.\n".into(),
                code: 2
            })
        );
        assert_eq!(
            p("mig -cgi").unwrap_err().text,
            "Option \"-cgi\" is missing its value.\n"
        );
        assert_eq!(p("--bogus").unwrap_err().code, 255);
        assert_eq!(p("-L -L").unwrap_err().code, 2);
        assert!(p("-x").is_err());
        assert!(p("-mig 2").is_err());
        assert!(p("-mig").is_err());
        assert!(p("mig -lgi -cgi 9").is_err());
        assert!(p("mig -dgi -dci").is_err());
        assert!(p("mig -lgi -C").is_err());
        assert!(p("-i 0 -L").is_err());
        assert!(p("mig -cgi").is_err());
    }
}
