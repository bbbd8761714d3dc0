//! Naming GPU-instance profiles on the command line and in files:
//! `3g.20gb`, `MIG 3g.20gb`, the profile ID `9`, each optionally `xN`.

use mig_model::{GiProfile, GpuModel};

/// A profile with a count (`2g.10gbx3`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfileCount<'m> {
    pub profile: &'m GiProfile,
    pub count: u32,
}

/// A profile argument that does not name a profile of the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("{spec:?} is not a GPU-instance profile of {model} (its profiles: {known})")]
    UnknownProfile {
        spec: String,
        model: String,
        known: String,
    },
    #[error("{spec:?}: the count after `x` must be a whole number of at least 1")]
    BadCount { spec: String },
}

/// Look a GI profile of `model` up by name (`3g.20gb`, `MIG 3g.20gb`, any
/// case) or by profile ID (`9`): `mig_model::ids::find_gi_profile`.
pub fn find_gi_profile<'m>(model: &'m GpuModel, s: &str) -> Option<&'m GiProfile> {
    mig_model::ids::find_gi_profile(&model.gi_profiles, s)
}

/// The profile names of a model, comma-separated, for error messages.
pub fn profile_names(model: &GpuModel) -> String {
    model
        .gi_profiles
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parse one `PROFILE[xN]`.
pub fn parse_count<'m>(model: &'m GpuModel, spec: &str) -> Result<ProfileCount<'m>, SpecError> {
    let unknown = || SpecError::UnknownProfile {
        spec: spec.to_string(),
        model: model.slug.clone(),
        known: profile_names(model),
    };
    if let Some(p) = find_gi_profile(model, spec) {
        return Ok(ProfileCount {
            profile: p,
            count: 1,
        });
    }
    let (name, n) = spec.rsplit_once(['x', 'X']).ok_or_else(unknown)?;
    let profile = find_gi_profile(model, name).ok_or_else(unknown)?;
    let count = n
        .parse::<u32>()
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| SpecError::BadCount {
            spec: spec.to_string(),
        })?;
    Ok(ProfileCount { profile, count })
}

/// Parse several `PROFILE[xN]` arguments, adding up repeats, in the
/// catalog's profile order.
pub fn parse_counts<'m>(
    model: &'m GpuModel,
    specs: &[String],
) -> Result<Vec<ProfileCount<'m>>, SpecError> {
    let mut out: Vec<ProfileCount<'m>> = Vec::new();
    for s in specs {
        let pc = parse_count(model, s)?;
        match out.iter_mut().find(|o| o.profile.id == pc.profile.id) {
            Some(o) => o.count += pc.count,
            None => out.push(pc),
        }
    }
    out.sort_by_key(|pc| model.gi_profiles.iter().position(|p| p.id == pc.profile.id));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mig_model::catalog;

    /// Proves names, `MIG ` prefixes, IDs and `xN` counts resolve, repeats
    /// add up, and unknown names and zero counts are refused.
    #[test]
    fn specs_parse() {
        let m = catalog::model("a100-sxm4-40gb").unwrap();
        let c = parse_counts(m, &["3g.20gb".into(), "19x2".into(), "MIG 1g.5gb".into()]).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].profile.name.as_str(), c[0].count), ("1g.5gb", 3));
        assert_eq!((c[1].profile.name.as_str(), c[1].count), ("3g.20gb", 1));
        assert!(matches!(
            parse_count(m, "3g.40gb"),
            Err(SpecError::UnknownProfile { .. })
        ));
        assert!(matches!(
            parse_count(m, "3g.20gbx0"),
            Err(SpecError::BadCount { .. })
        ));
        let r = catalog::model("rtx-pro-6000-server").unwrap();
        assert_eq!(parse_count(r, "1g.24gb+me.allx1").unwrap().profile.id, 65);
    }
}
