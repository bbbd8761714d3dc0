//! Config state: whether the GPUs hold a named config of a mig-parted
//! config file, judged as `migctl assert` judges it. The file is read on
//! every scrape, so an edited file counts from the next scrape on; a file
//! that stops parsing is reported (`migctl_config_valid 0`), not fatal.

use mig_apply::assert_selection;
use mig_config::validate;
use mig_config::Spec;
use mig_model::backend::GpuSnapshot;
use std::path::PathBuf;

/// `--config-file FILE -c NAME`.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    /// The config file.
    pub path: PathBuf,
    /// `None`: the file's only config.
    pub name: Option<String>,
}

/// What one scrape found of the config.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigState {
    /// The selected config's name (as asked when it could not be selected).
    pub name: String,
    /// `Err` with the reason when the file cannot be read, parsed, or
    /// validated on this machine.
    pub valid: Result<(), String>,
    /// Whether every selected GPU holds the config (`None` when invalid or
    /// when the machine could not be read whole).
    pub applied: Option<bool>,
    /// Selected GPUs that do not hold it.
    pub mismatched_gpus: u32,
}

impl ConfigSource {
    /// Read, parse and select the config: the check made before serving,
    /// so a file that does not parse is a clear error at start.
    pub fn load(&self) -> Result<String, String> {
        let origin = self.path.display().to_string();
        let spec = Spec::load(&self.path).map_err(|e| e.to_string())?;
        spec.select(self.name.as_deref(), &origin)
            .map(|c| c.name.clone())
            .map_err(|e| e.to_string())
    }

    /// Judge the GPUs of `snaps` against the config. `complete` says whether
    /// `snaps` holds every GPU of the machine; if not, no verdict is given.
    pub fn check(&self, snaps: &[GpuSnapshot], complete: bool) -> ConfigState {
        let mut st = ConfigState {
            name: self.name.clone().unwrap_or_default(),
            valid: Ok(()),
            applied: None,
            mismatched_gpus: 0,
        };
        let origin = self.path.display().to_string();
        let spec = match Spec::load(&self.path) {
            Ok(s) => s,
            Err(e) => {
                st.valid = Err(e.to_string());
                return st;
            }
        };
        let chosen = match spec.select(self.name.as_deref(), &origin) {
            Ok(c) => c,
            Err(e) => {
                st.valid = Err(e.to_string());
                return st;
            }
        };
        st.name = chosen.name.clone();
        let ids: Vec<_> = snaps.iter().map(|s| s.identity.clone()).collect();
        let sel = match validate(chosen, &ids) {
            Ok(s) => s,
            Err(e) => {
                st.valid = Err(format!("{origin}: {e}"));
                return st;
            }
        };
        if complete {
            match assert_selection(&sel, snaps, false) {
                Ok(()) => st.applied = Some(true),
                Err(m) => {
                    st.applied = Some(false);
                    st.mismatched_gpus = m.len() as u32;
                }
            }
        }
        st
    }
}
