//! `migctl bench nvml-read`: what one read of the fake `libnvidia-ml.so.1`
//! costs on simulated machines of several sizes (measured by
//! `mig_bench::nvml_read`); this module parses the arguments and prints the
//! figures. A benchmark, not a test.

use crate::reconcile_cmd::{Failure, Output};
use mig_bench::nvml_read;
use std::time::Duration;

/// Arguments of `migctl bench nvml-read`.
#[derive(clap::Args, Debug)]
pub struct NvmlReadArgs {
    /// Machine sizes to measure, in GPUs.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    gpus: Vec<u32>,
    /// Time spent on each function at each size, in milliseconds.
    #[arg(long, default_value_t = 200)]
    ms: u64,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: Output,
}

/// `migctl bench nvml-read`.
pub fn run(args: &NvmlReadArgs) -> Result<(), Failure> {
    if args.gpus.contains(&0) {
        return Err(Failure(2, "--gpus: each size must be at least 1".into()));
    }
    let lib = crate::shim_path::nvml_lib().map_err(|e| Failure(1, e))?;
    let budget = Duration::from_millis(args.ms.max(1));
    let r = nvml_read::measure(&lib, &args.gpus, budget).map_err(|e| Failure(1, e))?;
    match args.output {
        Output::Text => {
            println!(
                "{:>5}  {:<7} {:<32} {:>9} {:>10}",
                "GPUs", "client", "function", "calls", "us/call"
            );
            for f in &r.figures {
                println!(
                    "{:>5}  {:<7} {:<32} {:>9} {:>10.2}",
                    f.gpus, f.client, f.function, f.calls, f.us_per_call
                );
            }
            if !r.pynvml {
                println!("(pynvml: not measured; python3 with pynvml was not found)");
            }
        }
        Output::Json => println!(
            "{:#}",
            serde_json::json!({"model": nvml_read::MODEL, "figures": r.figures, "pynvml": r.pynvml})
        ),
    }
    Ok(())
}
