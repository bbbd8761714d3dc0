//! mig-parted's checkpoint file (`api/checkpoint/v1`): every MIG-capable
//! GPU's mode and instances, keyed by board UUID, with GI placements. JSON
//! field names are Go's (`Version`, `MigState`, `Devices`, `UUID`, `MigMode`
//! 0/1, `GpuInstances`, `ProfileID`, `Placement {Start, Size}`,
//! `ComputeInstances`, `EngProfileID`). As in mig-parted, `ProfileID` is
//! NVML's profile *index* (`NVML_GPU_INSTANCE_PROFILE_*`), not the profile
//! ID nvidia-smi prints.

use mig_config::ConfigError;
use mig_config::{CiDemand, GiDemand, GpuDemand};
use mig_model::{catalog, engine, CiProfileId, GiProfileId, GpuIdentity, GpuSnapshot, Placement};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "MigState")]
    pub mig_state: MigState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigState {
    #[serde(rename = "Devices")]
    pub devices: Option<Vec<DeviceState>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceState {
    #[serde(rename = "UUID")]
    pub uuid: String,
    /// 0 disabled, 1 enabled.
    #[serde(rename = "MigMode")]
    pub mig_mode: u32,
    #[serde(rename = "GpuInstances")]
    pub gpu_instances: Option<Vec<GiState>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GiState {
    #[serde(rename = "ProfileID")]
    pub profile_index: u32,
    #[serde(rename = "Placement")]
    pub placement: PlacementState,
    #[serde(rename = "ComputeInstances")]
    pub compute_instances: Option<Vec<CiState>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementState {
    #[serde(rename = "Start")]
    pub start: u32,
    #[serde(rename = "Size")]
    pub size: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CiState {
    #[serde(rename = "ProfileID")]
    pub profile_index: u32,
    #[serde(rename = "EngProfileID")]
    pub eng_profile_id: u32,
}

/// What a checkpoint asks of the machine that cannot be met.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    #[error("the checkpoint names {uuid}, which is not a GPU of this machine")]
    UnknownGpu { uuid: String },
    #[error("{uuid} ({name}) is not a board the catalog knows")]
    UnknownBoard { uuid: String, name: String },
    #[error("{uuid}: GPU-instance profile index {index} is not a profile of the {board}")]
    UnknownProfile {
        uuid: String,
        index: u32,
        board: String,
    },
    #[error("{uuid}: compute-instance profile {index} is not a profile of a {gi} GPU instance")]
    UnknownCiProfile {
        uuid: String,
        index: u32,
        gi: String,
    },
}

/// The checkpoint of a machine's MIG-capable GPUs (GIs in profile-index
/// order, then GI ID, as mig-parted's walk visits them).
pub fn checkpoint(snaps: &[GpuSnapshot]) -> Checkpoint {
    let mut devices = Vec::new();
    for s in snaps {
        let Some(model) = s.identity.model.as_deref().and_then(catalog::model) else {
            continue;
        };
        let enabled = s.mode.current;
        let mut gis: Vec<(u32, &engine::GpuInstance)> = s
            .layout
            .gpu_instances
            .iter()
            .filter_map(|g| {
                engine::gi_profile(model, g.profile_id)
                    .ok()
                    .map(|p| (p.index, g))
            })
            .collect();
        gis.sort_by_key(|(i, g)| (*i, g.id));
        devices.push(DeviceState {
            uuid: s.identity.uuid.clone(),
            mig_mode: u32::from(enabled),
            gpu_instances: enabled.then(|| {
                gis.into_iter()
                    .map(|(index, g)| GiState {
                        profile_index: index,
                        placement: PlacementState {
                            start: g.placement.start,
                            size: g.placement.size,
                        },
                        compute_instances: Some(
                            g.compute_instances
                                .iter()
                                .map(|c| CiState {
                                    profile_index: c.profile_id.0,
                                    eng_profile_id: 0,
                                })
                                .collect(),
                        ),
                    })
                    .collect()
            }),
        });
    }
    Checkpoint {
        version: "v1".into(),
        mig_state: MigState {
            devices: Some(devices),
        },
    }
}

impl Checkpoint {
    pub fn parse(text: &str, origin: &str) -> Result<Checkpoint, ConfigError> {
        serde_json::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            line: Some(e.line()),
            column: Some(e.column()),
            message: e.to_string(),
        })
    }

    /// What each checkpointed GPU should hold (GI placements pinned), by
    /// GPU index on this machine.
    pub fn demands(&self, gpus: &[GpuIdentity]) -> Result<Vec<(u32, GpuDemand)>, RestoreError> {
        let mut out = Vec::new();
        for d in self.mig_state.devices.iter().flatten() {
            let gpu =
                gpus.iter()
                    .find(|g| g.uuid == d.uuid)
                    .ok_or_else(|| RestoreError::UnknownGpu {
                        uuid: d.uuid.clone(),
                    })?;
            let model = gpu
                .model
                .as_deref()
                .and_then(catalog::model)
                .ok_or_else(|| RestoreError::UnknownBoard {
                    uuid: d.uuid.clone(),
                    name: gpu.name.clone(),
                })?;
            let mut gis = Vec::new();
            for g in d.gpu_instances.iter().flatten() {
                let p = model
                    .gi_profiles
                    .iter()
                    .find(|p| p.index == g.profile_index)
                    .ok_or_else(|| RestoreError::UnknownProfile {
                        uuid: d.uuid.clone(),
                        index: g.profile_index,
                        board: format!("{} ({})", model.name, model.slug),
                    })?;
                let mut cis = Vec::new();
                for c in g.compute_instances.iter().flatten() {
                    engine::ci_profile(p, CiProfileId(c.profile_index)).map_err(|_| {
                        RestoreError::UnknownCiProfile {
                            uuid: d.uuid.clone(),
                            index: c.profile_index,
                            gi: p.name.clone(),
                        }
                    })?;
                    cis.push(CiDemand {
                        profile: CiProfileId(c.profile_index),
                        placement: None,
                    });
                }
                gis.push(GiDemand {
                    profile: GiProfileId(p.id),
                    placement: Some(Placement::new(g.placement.start, g.placement.size)),
                    compute_instances: cis,
                });
            }
            out.push((
                gpu.index,
                GpuDemand {
                    mig_enabled: d.mig_mode == 1,
                    gpu_instances: gis,
                },
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assertion::assert_gpu;
    use mig_config::testutil::snapshot;

    /// Proves a checkpoint round-trips through JSON with Go's field names and
    /// NVML profile indices, and its demands assert on the machine it came
    /// from (placements pinned) but not on a rearranged one.
    #[test]
    fn checkpoint_round_trip() {
        let snaps = vec![
            snapshot(0, "a100-sxm4-40gb", true, &[(9, 4), (14, 0)]),
            snapshot(1, "a100-sxm4-40gb", false, &[]),
        ];
        let cp = checkpoint(&snaps);
        let text = serde_json::to_string(&cp).unwrap();
        assert!(
            text.contains("\"ProfileID\":2,\"Placement\":{\"Start\":4,\"Size\":4}"),
            "{text}"
        );
        let back = Checkpoint::parse(&text, "cp.json").unwrap();
        assert_eq!(back, cp);
        let ids: Vec<_> = snaps.iter().map(|s| s.identity.clone()).collect();
        let d = back.demands(&ids).unwrap();
        assert_eq!(d.len(), 2);
        for (i, demand) in &d {
            assert_eq!(assert_gpu(&snaps[*i as usize], demand, false), Ok(()));
        }
        let moved = snapshot(0, "a100-sxm4-40gb", true, &[(9, 0), (14, 4)]);
        assert!(assert_gpu(&moved, &d[0].1, false).is_err());
    }
}
