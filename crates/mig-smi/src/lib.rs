//! mig-smi: nvidia-smi's MIG command line, as migctl speaks it under the
//! name `nvidia-smi` and for its nvidia-smi verbs: `-L`, the default view,
//! `-i IDS -mig 0|1`, `-r`, and `mig -lgip | -lgipp | -cgi [-C] | -lgi | -dgi
//! | -lcip | -lcipp | -cci | -lci | -dci` with `-i`, `-gi`, `-ci`.
//!
//! - [`args`] parses argv exactly as nvidia-smi 580's two parsers do,
//!   usage errors included (their text and exit status);
//! - [`run`] runs a parsed command against any [`mig_model::backend::Backend`]
//!   (the simulated machine or NVML), resolving the user's words (GPU IDs,
//!   profile names) against what the backend reports;
//! - [`default_view`] prints bare `nvidia-smi`'s view (header, GPU, MIG
//!   devices and processes tables) from the backend's readings;
//! - [`detail`] prints `nvidia-smi -q` (with `-d` display types) from the
//!   backend's readings and details;
//! - [`out`] prints with nvidia-smi 580's bytes (or the MIG User Guide's
//!   layouts, `MIGCTL_SMI_STYLE=guide`);
//! - [`json`] is migctl's own `-o json` of the same reads (never reachable
//!   through a link named nvidia-smi).
//!
//! It decides no MIG rule: those are `mig_model`'s.

pub mod args;
pub mod default_view;
pub mod detail;
pub mod json;
pub mod out;
pub mod query;
pub mod run;

/// `mig -h`: nvidia-smi's own text, naming the program `migctl` (the
/// caller renames it to the name it was invoked by).
pub const MIG_HELP: &str = r#"
    mig -- Multi Instance GPU management.

    Usage: migctl mig [options]

    Options include:
    [-h | --help]: Display help information.
    [-i | --id]: Enumeration index, PCI bus ID or UUID.
                 Provide comma separated values for more than one device.
    [-gi | --gpu-instance-id]: GPU instance ID.
                               Provide comma separated values for more than one GPU instance.
    [-ci | --compute-instance-id]: Compute instance ID.
                                   Provide comma separated values for more than one compute 
                                   instance.
    [-lgip | --list-gpu-instance-profiles]: List supported GPU instance profiles.
                                            Option -i can be used to restrict the command to
                                            run on a specific GPU.
    [-lgipp | --list-gpu-instance-possible-placements]: List possible GPU instance placements
                                                        in the following format, {Start}:Size.
                                                        Option -i can be used to restrict the
                                                        command to run on a specific GPU.
    [-C | --default-compute-instance]: Create compute instance with the default profile when used
                                       with the option to create a GPU instance (-cgi).
    [-cgi | --create-gpu-instance]: Create GPU instances for the given profile tuples. A profile
                                    tuple consists of a profile name or ID and an optional placement
                                    specifier, which consists of a colon and a placement start index.
                                    Provide comma separated values for more than one profile tuple.
                                    Option -i can be used to restrict the command to run on
                                    a specific GPU.
    [-dgi | --destroy-gpu-instance]: Destroy GPU instances.
                                     Options -i and -gi can be used individually or combined
                                     to restrict the command to run on a specific GPU or GPU
                                     instance.
    [-lgi | --list-gpu-instances]: List GPU instances.
                                   Option -i can be used to restrict the command to run on a
                                   specific GPU.
    [-lcip | --list-compute-instance-profiles]: List supported compute instance profiles.
                                                Options -i and -gi can be used individually or
                                                combined to restrict the command to run on a
                                                specific GPU or GPU instance.
    [-lcipp | --list-compute-instance-possible-placements]: List possible compute instance placements
                                                            in the following format, {Start}:Size.
                                                            Options -i and -gi can be used individually or
                                                            combined to restrict the command to run on a
                                                            specific GPU or GPU instance.
    [-cci | --create-compute-instance]: Create compute instance for the given profile name or IDs.
                                        Provide comma separated values for more than one profile.
                                        If no profile name or ID is given, then the default*
                                        compute instance profile ID will be used. Options -i and
                                        -gi can be used individually or combined to restrict the
                                        command to run on a specific GPU or GPU instance.
    [-dci | --destroy-compute-instance]: Destroy compute instances.
                                         Options -i, -gi and -ci can be used individually or
                                         combined to restrict the command to run on a specific
                                         GPU or GPU instance or compute instance.
    [-lci | --list-compute-instances]: List compute instances.
                                       Options -i and -gi can be used individually or combined
                                       to restrict the command to run on a specific GPU or GPU
                                       instance.


"#;
