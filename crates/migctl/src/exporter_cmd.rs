//! `migctl exporter`: serve Prometheus metrics of this machine's MIG GPUs
//! at `/metrics` (the metrics are `mig_exporter`'s; this file parses the
//! command line, opens the backend and binds the address).

use clap::Parser;
use mig_exporter::{collect, encode, ConfigSource, Exporter, GpmReader, Options};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    name = "migctl exporter",
    about = "Serve Prometheus metrics of the MIG GPUs at http://ADDR/metrics, read anew on every scrape",
    disable_version_flag = true
)]
struct ExporterCli {
    /// Address to listen on, HOST:PORT (dcgm-exporter's port is 9400).
    #[arg(long, default_value = "127.0.0.1:9400", value_name = "ADDR")]
    listen: String,
    /// A mig-parted config file: report whether the GPUs hold its config.
    #[arg(short = 'f', long = "config-file", value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// The config of --config-file to check (default: the file's only one).
    #[arg(
        short = 'c',
        long = "selected-config",
        value_name = "NAME",
        requires = "config_file"
    )]
    config: Option<String>,
    /// Print one scrape's metrics to stdout and exit, serving nothing.
    #[arg(long, conflicts_with = "bench")]
    once: bool,
    /// Read the machine N times and print the time per scrape (a benchmark).
    #[arg(long, value_name = "N")]
    bench: Option<u32>,
}

pub fn main(args: &[String]) -> ExitCode {
    let cli: ExporterCli = match crate::error::parse_verb(args.iter().cloned()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut opts = Options::new();
    if let Some(path) = cli.config_file {
        let src = ConfigSource {
            path,
            name: cli.config,
        };
        if let Err(e) = src.load() {
            eprintln!("migctl exporter: {e}");
            return ExitCode::from(2);
        }
        opts.config = Some(src);
    }
    let (backend, sim) = match crate::backend::open_backend_kind() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("migctl exporter: {e}");
            return ExitCode::from(1);
        }
    };
    opts.journal = Some(crate::reconcile_cmd::journal_file(sim));
    if cli.once || cli.bench.is_some() {
        let gpm = GpmReader::new();
        let n = cli.bench.unwrap_or(1).max(1);
        let t0 = Instant::now();
        let mut text = String::new();
        for _ in 0..n {
            let s = collect(backend.as_ref(), &gpm, &opts);
            text = match encode(&s) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("migctl exporter: cannot encode the metrics: {e}");
                    return ExitCode::from(1);
                }
            };
        }
        if cli.bench.is_some() {
            let per = t0.elapsed() / n;
            println!(
                "{n} scrapes on {}: {:.3} ms per scrape (read and encode), {} bytes each",
                backend.describe(),
                per.as_secs_f64() * 1e3,
                text.len()
            );
        } else {
            print!("{text}");
        }
        return ExitCode::SUCCESS;
    }
    let exporter = match Exporter::bind(&cli.listen, backend, opts) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("migctl exporter: {e}");
            return ExitCode::from(1);
        }
    };
    eprintln!(
        "migctl exporter: serving http://{}/metrics",
        exporter.local_addr()
    );
    exporter.serve();
    ExitCode::SUCCESS
}
