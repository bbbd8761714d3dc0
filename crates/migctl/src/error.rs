//! The one error type of migctl's own verbs: what failed (on which GPU or
//! file), what to do, and the exit status it gets.

/// A failed migctl verb. Its message names what failed and, where there is
/// one, what to do; [`CliError::code`] is the process's exit status
/// (the table of `migctl -h`).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A command line clap refused, or help clap prints (exit 2, or 0 for
    /// help).
    #[error("{0}")]
    Usage(#[from] clap::Error),
    /// Anything else, with its exit status: 1 (migctl's own failure, a
    /// config not matching), 4 (permission), 6 (no such GPU or instance), or
    /// an NVML error's status.
    #[error("{message}")]
    Failed { code: u8, message: String },
}

impl CliError {
    /// A failure with its exit status.
    pub fn with_code(code: u8, message: impl std::fmt::Display) -> CliError {
        CliError::Failed {
            code,
            message: message.to_string(),
        }
    }

    /// The exit status.
    pub fn code(&self) -> u8 {
        match self {
            CliError::Usage(e) if e.use_stderr() => 2,
            CliError::Usage(_) => 0,
            CliError::Failed { code, .. } => *code,
        }
    }

    /// Print it as migctl does: clap's own rendering for usage errors and
    /// help, `migctl VERB: message` on stderr otherwise.
    pub fn report(&self, verb: &str) {
        match self {
            CliError::Usage(e) => {
                let _ = e.print();
            }
            other if verb.is_empty() => eprintln!("migctl: {other}"),
            other => eprintln!("migctl {verb}: {other}"),
        }
    }
}

impl From<(u8, String)> for CliError {
    fn from((code, message): (u8, String)) -> CliError {
        CliError::Failed { code, message }
    }
}

/// Parse a verb's command line with clap; help and usage errors are printed
/// as clap prints them and become the exit status (0 for help, 2 for errors).
/// (`migctl bench apply|soak` parse their own arguments through this.)
pub fn parse_verb<T: clap::Parser>(
    argv: impl IntoIterator<Item = String>,
) -> Result<T, std::process::ExitCode> {
    T::try_parse_from(argv).map_err(|e| {
        let e = CliError::from(e);
        e.report("");
        std::process::ExitCode::from(e.code())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves each kind of error carries the exit status of `migctl -h`'s
    /// table: 2 for bad input, the given code otherwise.
    #[test]
    fn codes_follow_the_table() {
        assert_eq!(CliError::with_code(1, "x").code(), 1);
        assert_eq!(CliError::with_code(6, "x").code(), 6);
        let e = clap::Command::new("migctl")
            .subcommand(clap::Command::new("apply"))
            .try_get_matches_from(["migctl", "aply"])
            .unwrap_err();
        assert_eq!(CliError::from(e).code(), 2);
    }
}
