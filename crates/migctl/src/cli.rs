//! One parse: the name migctl was invoked by and its arguments become one
//! [`Mode`], here and nowhere else (as ripgrep's `HiArgs`). Three grammars
//! meet here:
//!
//! - nvidia-smi's (a link named `nvidia-smi`, or migctl's nvidia-smi flags:
//!   no argument, a first argument starting with `-`, or `mig`), parsed by
//!   [`mig_smi::args`] with nvidia-smi's texts and exit codes;
//! - mig-parted v0.15's (a link named `nvidia-mig-parted`, or `migctl
//!   parted`), parsed by `parted.rs` as mig-parted does;
//! - migctl's own verbs, parsed by clap into [`Verb`] (usage errors exit 2,
//!   a mistyped verb gets "a similar subcommand exists").

use crate::output::ConfigFormat;
use crate::{cluster_cmd, config_verbs, plan_verbs, sim_cmd};
use clap::{Parser, Subcommand};
use mig_smi::args as smi_args;
use std::path::PathBuf;

/// What this invocation is to do.
#[derive(Debug)]
pub enum Mode {
    /// nvidia-smi's grammar. `json` is migctl's `-o json` (never accepted
    /// through a link named nvidia-smi).
    Smi {
        cmd: smi_args::SmiCommand,
        json: bool,
    },
    /// An nvidia-smi usage error: its text goes to stdout with its code, as
    /// nvidia-smi prints it.
    SmiUsage(smi_args::UsageError),
    /// mig-parted v0.15's grammar (the arguments after the program name).
    Parted(Vec<String>),
    /// One of migctl's own verbs.
    Verb(Verb),
    /// `migctl help mig`: nvidia-smi's `mig -h` text.
    MigHelp,
}

/// migctl's own verbs (`migctl help` prints `migctl -h`).
#[derive(Parser, Debug)]
#[command(
    name = "migctl",
    disable_version_flag = true,
    override_help = crate::help::TOP
)]
pub struct Cli {
    #[command(subcommand)]
    pub verb: Verb,
}

/// A verb of migctl's own.
#[derive(Subcommand, Debug)]
pub enum Verb {
    /// assert, apply, plan.
    #[command(flatten)]
    Config(config_verbs::Verb),
    /// Export the node: the current layout as a mig-parted config (default),
    /// this node's fleet inventory (--inventory), or a spec for a consumer
    /// (cdi, slurm, k8s).
    Export(ExportArgs),
    /// caps, env, mps.
    #[command(flatten)]
    Cluster(cluster_cmd::Cmd),
    /// layouts, fit, show, pack.
    #[command(flatten)]
    Plan(plan_verbs::PlanCmd),
    /// The simulated machine (state file: $MIGCTL_SIM_STATE).
    Sim {
        #[command(subcommand)]
        cmd: sim_cmd::SimCmd,
    },
    /// Benchmarks (figures, not tests): `bench apply`, `bench soak`,
    /// `bench pack` ("migctl bench -h").
    #[command(disable_help_flag = true)]
    Bench {
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ARGS"
        )]
        args: Vec<String>,
    },
    /// Serve Prometheus metrics of the MIG GPUs at /metrics
    /// ("migctl exporter -h").
    #[command(disable_help_flag = true)]
    Exporter {
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ARGS"
        )]
        args: Vec<String>,
    },
    /// nvidia-mig-parted's command line (also through a link named
    /// nvidia-mig-parted).
    #[command(disable_help_flag = true)]
    Parted {
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ARGS"
        )]
        args: Vec<String>,
    },
}

/// `migctl export`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub what: Option<cluster_cmd::ExportCmd>,
    /// Name of the exported config.
    #[arg(short = 'l', long = "config-label", default_value = "current")]
    pub label: String,
    /// Pin GI and CI placements (version: migctl/v1).
    #[arg(long, conflicts_with = "inventory")]
    pub placements: bool,
    /// This node's part of a fleet inventory (what `migctl pack --inventory`
    /// reads) instead of a config.
    #[arg(long)]
    pub inventory: bool,
    /// The node's name in the inventory (default: the host name).
    #[arg(long, requires = "inventory")]
    pub node: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = ConfigFormat::Yaml)]
    pub output: ConfigFormat,
    /// Write to FILE atomically instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
}

/// The verbs that keep nvidia-smi's grammar under migctl's name.
fn is_smi(args: &[String]) -> bool {
    match args.first() {
        None => true,
        Some(a) => a == "mig" || a.starts_with('-'),
    }
}

/// Take migctl's `-o json` / `--output json` / `--output=json` out of an
/// nvidia-smi-grammar command line (`text` is accepted too). `Err` holds
/// the refused value.
fn take_output(args: &[String]) -> Result<(Vec<String>, bool), String> {
    let mut rest = Vec::new();
    let mut json = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = if a == "-o" || a == "--output" {
            it.next().cloned().unwrap_or_default()
        } else if let Some(v) = a.strip_prefix("--output=") {
            v.to_string()
        } else {
            rest.push(a.clone());
            continue;
        };
        match value.as_str() {
            "json" => json = true,
            "text" => json = false,
            other => return Err(other.to_string()),
        }
    }
    Ok((rest, json))
}

/// argv (without the program name) and the name migctl was invoked by,
/// as one [`Mode`]. Clap's usage errors and help are `Err`.
pub fn parse(prog: &str, args: &[String]) -> Result<Mode, clap::Error> {
    if prog.starts_with("nvidia-mig-parted") {
        return Ok(Mode::Parted(args.to_vec()));
    }
    if prog.starts_with("nvidia-smi") {
        return Ok(match smi_args::parse(args) {
            Ok(cmd) => Mode::Smi { cmd, json: false },
            Err(e) => Mode::SmiUsage(e),
        });
    }
    if is_smi(args) {
        let (rest, json) = match take_output(args) {
            Ok(r) => r,
            Err(v) => {
                return Err(clap::Error::raw(
                    clap::error::ErrorKind::InvalidValue,
                    format!(
                        "invalid value {v:?} for '-o, --output': text or json (docs/json.md has the schemas)\n"
                    ),
                ))
            }
        };
        return Ok(match smi_args::parse(&rest) {
            Ok(cmd) => Mode::Smi { cmd, json },
            Err(e) => Mode::SmiUsage(e),
        });
    }
    if args[0] == "help" && args.get(1).map(String::as_str) == Some("mig") {
        return Ok(Mode::MigHelp);
    }
    let cli =
        Cli::try_parse_from(std::iter::once("migctl").chain(args.iter().map(String::as_str)))?;
    Ok(match cli.verb {
        Verb::Parted { args } => Mode::Parted(args),
        verb => Mode::Verb(verb),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    /// Proves the one parse sends each grammar where it belongs: links by
    /// their name, nvidia-smi's flags and `mig` to nvidia-smi's parser (with
    /// migctl's `-o json` taken out), and words to migctl's verbs.
    #[test]
    fn each_grammar_goes_to_its_parser() {
        assert!(matches!(
            parse("nvidia-mig-parted", &argv("apply -f x")),
            Ok(Mode::Parted(_))
        ));
        assert!(
            matches!(parse("migctl", &argv("parted assert -f x")), Ok(Mode::Parted(a)) if a == argv("assert -f x"))
        );
        assert!(matches!(
            parse("migctl", &argv("-L -o json")),
            Ok(Mode::Smi { json: true, .. })
        ));
        assert!(matches!(
            parse("migctl", &argv("mig -lgi --output=json")),
            Ok(Mode::Smi { json: true, .. })
        ));
        // nvidia-smi's own grammar has no -o: through its link it is refused as nvidia-smi does
        assert!(
            matches!(parse("nvidia-smi", &argv("-L -o json")), Ok(Mode::SmiUsage(e)) if e.code == 255)
        );
        assert!(
            matches!(parse("migctl", &argv("--bogus")), Ok(Mode::SmiUsage(e)) if e.code == 255)
        );
        assert!(matches!(
            parse("migctl", &argv("plan -f x -c y -o json")),
            Ok(Mode::Verb(_))
        ));
        assert!(
            matches!(parse("migctl", &argv("export --inventory -o json")), Ok(Mode::Verb(Verb::Export(e))) if e.inventory && e.output == ConfigFormat::Json)
        );
        assert!(matches!(
            parse("migctl", &argv("help mig")),
            Ok(Mode::MigHelp)
        ));
    }

    /// Proves a mistyped verb is a usage error (exit 2) that suggests the
    /// verb meant, and `help` / `help VERB` print help (exit 0).
    #[test]
    fn mistyped_verbs_get_a_suggestion() {
        let e = parse("migctl", &argv("aply -f x")).unwrap_err();
        assert!(e.use_stderr());
        assert!(e.to_string().contains("'apply'"), "{e}");
        for h in ["help", "help apply", "help export", "apply -h"] {
            let e = parse("migctl", &argv(h)).unwrap_err();
            assert!(!e.use_stderr(), "{h}");
        }
        let help = parse("migctl", &argv("help apply"))
            .unwrap_err()
            .to_string();
        assert!(
            help.contains("--config-file") && help.contains("--selected-config"),
            "{help}"
        );
    }

    /// Proves `-o` is a format on every verb that prints, and a file is
    /// `--output-file`: `export --inventory -o FILE` is refused instead of
    /// writing a file named after the format.
    #[test]
    fn output_is_always_a_format() {
        assert!(parse("migctl", &argv("export --inventory -o inv.yaml")).is_err());
        assert!(parse("migctl", &argv("export cdi --output spec.yaml")).is_err());
        assert!(matches!(
            parse("migctl", &argv("export cdi -o json --output-file s.json")),
            Ok(Mode::Verb(Verb::Export(_)))
        ));
        for v in [
            "assert -f x -o json",
            "apply -f x -o json",
            "plan -f x -o json",
            "env -o json",
            "caps -o json",
            "show -o json",
            "layouts a100-sxm4-40gb -o json",
            "fit a100-sxm4-40gb 1g.5gb -o json",
            "pack --inventory i --demand d -o json",
            "export -o json",
            "export k8s --strategy single -o json",
            "export slurm -o json",
            "mps -o json",
        ] {
            assert!(
                matches!(parse("migctl", &argv(v)), Ok(Mode::Verb(_))),
                "{v}"
            );
        }
    }
}
