//! Help texts.

/// A help text with the usage lines naming the program as invoked: through
/// a link named `nvidia-smi`, `Usage: nvidia-smi mig [options]` and
/// `nvidia-smi -L`, as nvidia-smi's own help says (mig-parted and scripts
/// run migctl under that name). Other lines keep migctl's name.
pub fn name_program(text: &str, prog: &str) -> String {
    if prog == "migctl" || !prog.starts_with("nvidia-smi") {
        return text.to_string();
    }
    text.lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("migctl ") || t == "migctl" || t.starts_with("Usage: migctl") {
                l.replacen("migctl", prog, 1)
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect()
}

/// `migctl -h`.
pub const TOP: &str = r#"migctl: manage NVIDIA Multi-Instance GPU (MIG), on real GPUs or a simulated machine.

Usage:
    migctl                         Status view: GPUs, MIG devices and processes.
    migctl -L                      List GPUs and MIG devices.
    migctl [-i IDS] -mig 0|1       Disable or enable MIG mode.
    migctl [-i IDS] -r             Reset GPUs (applies a pending MIG mode).
    migctl mig [options]           MIG management, as `nvidia-smi mig` ("migctl mig -h").
    migctl assert -f FILE [-c NAME]  Exit 0 when the GPUs hold config NAME of a mig-parted
                                   file (-f - reads stdin).
    migctl plan|apply -f FILE [-c NAME]  Show the steps, or apply a config.
    migctl export [--placements]   The current layout as a mig-parted config; --inventory:
                                   this node's part of a fleet inventory.
    migctl export cdi|slurm|k8s    A CDI spec, Slurm gres.conf, Kubernetes labels.
    migctl env                     CUDA_VISIBLE_DEVICES, docker --gpus and CDI names per device.
    migctl caps [--create]         nvidia-caps capability files and /dev/nvidia-caps nodes.
    migctl mps [--start|--stop]    One MPS control daemon per MIG device.
    migctl layouts|fit|show|pack   Planning: every layout of a model, what fits, slice pictures,
                                   packing a fleet's demand.
    migctl sim <command>           The simulated machine.
    migctl bench apply|pack|soak   Benchmarks: figures, not tests.
    migctl parted <command>        nvidia-mig-parted's command line (also through a link
                                   named nvidia-mig-parted).
    migctl help [VERB]             This help, or a verb's ("migctl help apply").

Options (nvidia-smi compatible):
    -h,   --help                   Print this help.
          --version                Print migctl's version.
    -L,   --list-gpus              Display a list of GPUs and MIG devices.
    -i,   --id=                    Target GPUs: index, PCI bus ID or UUID, comma separated.
    -mig, --multi-instance-gpu=    Enable or disable MIG: 0/DISABLED, 1/ENABLED.
    -r,   --gpu-reset              Reset the GPU.
    -q,   --query                  Display GPU or Unit info (nvidia-smi 580's -q).
    -d,   --display=               With -q, only these sections: MEMORY, UTILIZATION, ECC,
                                   TEMPERATURE, POWER, CLOCK, COMPUTE, PIDS, PERFORMANCE,
                                   SUPPORTED_CLOCKS, PAGE_RETIREMENT, ACCOUNTING,
                                   ENCODER_STATS, SUPPORTED_GPU_TARGET_TEMP, VOLTAGE,
                                   FBC_STATS, ROW_REMAPPER, GSP_FIRMWARE_VERSION,
                                   POWER_SMOOTHING, POWER_PROFILES (comma separated).

Output (migctl's own; not through a link named nvidia-smi):
    -o,   --output FORMAT          text (default) or json on every read: -L, the status
                                   view, mig -lgi|-lci|-lgip|-lgipp|-lcip|-lcipp, and every
                                   verb that prints (yaml or json where a config is
                                   printed). docs/json.md has the schemas.
          --output-file FILE       Verbs that write a file write it atomically.

Environment:
    MIGCTL_BACKEND=auto|sim|nvml   Which machine to drive (default auto: NVML when a driver
                                   answers, else the simulated machine, said once on stderr).
    MIGCTL_NVML_LIB=PATH           The NVML library to load (default libnvidia-ml.so.1);
                                   $(migctl sim nvml-lib) is the simulated machine's.
    MIGCTL_SMI_STYLE=r580|guide    nvidia-smi layouts: R580's (default) or the MIG User
                                   Guide's examples'.
    MIGCTL_SIM_STATE=PATH          The simulated machine's state file
                                   (default $XDG_STATE_HOME/migctl/sim-state.json).
    MIGCTL_SIM_FAULT=fail:N[:ERR]  Fail the Nth mutating operation with an NVML error,
                     abort:N       or crash in the middle of it (testing).

Exit status:
    0    success
    1    migctl's own failure (unreadable or foreign state file, backend unavailable), a
         config that does not match (assert) or selects no GPU (assert, apply), instances
         that do not fit (fit)
    2    invalid argument: a migctl verb's usage error or mistyped verb, a bad config,
         inventory or demand, a bad value of an nvidia-smi option, a bad `mig` option
    3    not supported (e.g. -r through NVML with no MIG mode pending)
    4    no permission (a --root-only simulated machine changed by another user)
    6    not found: no such GPU, GPU instance or compute instance
    9    driver not loaded
    255  other NVML errors (in use, insufficient resources, unknown), and an unknown
         top-level option (migctl --bogus), as nvidia-smi answers them
"#;

/// `migctl mig -h`: nvidia-smi's own text, with our program name.
pub const MIG: &str = mig_smi::MIG_HELP;

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves that under the nvidia-smi name every usage line names
    /// nvidia-smi (no usage line still says migctl), and that under
    /// migctl's own name the texts are unchanged.
    #[test]
    fn usage_lines_name_the_program() {
        for text in [TOP, MIG] {
            let t = name_program(text, "nvidia-smi");
            for l in t.lines() {
                let l = l.trim_start();
                assert!(
                    !l.starts_with("migctl ") && !l.starts_with("Usage: migctl"),
                    "{l}"
                );
            }
            assert_eq!(name_program(text, "migctl"), text);
        }
        assert!(name_program(MIG, "nvidia-smi").contains("Usage: nvidia-smi mig [options]"));
        assert!(name_program(TOP, "nvidia-smi").contains("    nvidia-smi -L "));
    }
}
