//! `migctl sim set`: change the modelled readings of simulated GPUs
//! (temperature, power, utilization, ...) so that monitoring and alerting
//! paths can be tested; with no KEY=VALUE, show them. The values and their
//! checks live in `mig_sim::telemetry`; this file parses and prints only.

use clap::Args;
use mig_sim::telemetry::Setting;
use mig_sim::SimMachine;

#[derive(Args, Debug)]
pub struct SetArgs {
    /// GPU index (repeat or comma-separate for several; default all GPUs).
    #[arg(long, value_delimiter = ',')]
    gpu: Vec<u32>,
    /// GPU instance whose GPM activity to set (Hopper and later):
    /// sm-activity (%), dram-bandwidth (%); the other readings are per GPU.
    #[arg(long)]
    gi: Option<u32>,
    /// Refused, as --gi.
    #[arg(long, requires = "gi")]
    ci: Option<u32>,
    /// `json` prints the resulting readings as JSON.
    #[arg(long, value_parser = ["json"])]
    output: Option<String>,
    /// KEY=VALUE: temperature (C), memory-temperature (C), power (W),
    /// power-limit (W, within the board's limits), utilization (%),
    /// memory-utilization (%), fan (%, boards with a fan), persistence (0|1),
    /// compute-mode (default|prohibited|exclusive-process), sm-clock (MHz).
    #[arg(value_name = "KEY=VALUE")]
    settings: Vec<String>,
}

/// Run `migctl sim set`; errors are (exit code, message).
pub fn run(sim: SimMachine, a: SetArgs) -> Result<(), (u8, String)> {
    if let (Some(gi), None) = (a.gi, a.ci) {
        return crate::sim_set_gpm::run(&sim, &a.gpu, gi, &a.settings);
    }
    if a.gi.is_some() {
        return Err((
            2,
            "--gi/--ci: the readings are per GPU, as a real driver reports them \
             (temperature, power, clocks and fan belong to the board, and NVML \
             answers Not Supported for utilization on MIG devices and on \
             MIG-enabled GPUs); set them with --gpu only"
                .into(),
        ));
    }
    let settings = a
        .settings
        .iter()
        .map(|s| Setting::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| (2, e.to_string()))?;
    let st = sim.state().map_err(|e| (1, e.to_string()))?;
    let gpus: Vec<u32> = if a.gpu.is_empty() {
        (0..st.gpus.len() as u32).collect()
    } else {
        a.gpu.clone()
    };
    if let Some(bad) = gpus.iter().find(|&&g| g as usize >= st.gpus.len()) {
        return Err((
            6,
            format!("no GPU {bad}: the machine has {} GPU(s)", st.gpus.len()),
        ));
    }
    if !settings.is_empty() {
        sim.set_telemetry(&gpus, &settings)
            .map_err(|e| (2, e.to_string()))?;
    }
    let st = sim.state().map_err(|e| (1, e.to_string()))?;
    if a.output.is_some() {
        let rows: Vec<_> = gpus
            .iter()
            .map(|&i| {
                let g = &st.gpus[i as usize];
                serde_json::json!({ "gpu": i, "telemetry": g.telemetry,
                    "power_limit_mw": g.power_limit_mw() })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    for &i in &gpus {
        let g = &st.gpus[i as usize];
        let t = &g.telemetry;
        println!(
            "GPU {i}: temperature={} memory-temperature={} power={} power-limit={} \
             utilization={} memory-utilization={} fan={} persistence={} compute-mode={:?} sm-clock={}",
            t.temperature_c,
            t.memory_temperature_c,
            t.power_mw / 1000,
            g.power_limit_mw().map_or("n/a".into(), |mw| (mw / 1000).to_string()),
            t.utilization_gpu,
            t.utilization_memory,
            if g.board().has_fan { t.fan_percent.to_string() } else { "n/a".into() },
            u8::from(t.persistence),
            t.compute_mode,
            g.sm_clock_mhz().map_or("n/a".into(), |c| c.to_string()),
        );
    }
    Ok(())
}
