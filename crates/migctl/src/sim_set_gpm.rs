//! `migctl sim set --gpu G --gi GI sm-activity=% dram-bandwidth=%`: the GPM
//! activity of one simulated GPU instance (`mig_sim::gpm` models it).

use mig_sim::gpm::{GpmSetting, GPM_KEYS};
use mig_sim::SimMachine;

/// Parse the settings and set them on GPU instance `gi` of the one GPU named.
pub fn run(
    sim: &SimMachine,
    gpus: &[u32],
    gi: u32,
    settings: &[String],
) -> Result<(), (u8, String)> {
    let [gpu] = gpus else {
        return Err((2, "--gi: name exactly one GPU with --gpu".into()));
    };
    if settings.is_empty() {
        return Err((
            2,
            format!("--gi: name at least one KEY=PERCENT ({GPM_KEYS})"),
        ));
    }
    let parsed = settings
        .iter()
        .map(|s| {
            GpmSetting::parse(s).unwrap_or_else(|| {
                Err(format!(
                    "{s:?}: per GPU instance only {GPM_KEYS} can be set (the other readings are per GPU: drop --gi)"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| (2, e))?;
    sim.set_gpm(*gpu, gi, &parsed)
        .map_err(|e| (2, e.to_string()))
}
