//! mig-parted's MIG profile names (`[<C>c.]<G>g.<GB>gb[+attr[,attr]|-attr]`,
//! go-nvlib's grammar) and their resolution to a board's catalog profiles.
//!
//! `1c.2g.10gb` names a compute instance of 1 compute slice inside a
//! `2g.10gb` GPU instance; `2g.10gb` names the full-size compute instance of
//! such a GI. Attributes (`+me`, `+me.all`, `+gfx`, `-me`) are compared as
//! sets, as go-nvlib's `MigProfileInfo.Matches` does.

use mig_model::{CiProfile, GiProfile, GpuModel};
use std::fmt;

/// A parsed profile name, keeping the text as written for messages and output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileName {
    /// Compute slices of the compute instance (equal to `g` when the name has
    /// no `Nc.` part: the full-size CI).
    pub c: u32,
    /// Compute slices of the GPU instance.
    pub g: u32,
    /// Memory in GB, as the name rounds it.
    pub gb: u32,
    /// `+` attributes, sorted.
    pub attrs: Vec<String>,
    /// `-` attributes, sorted.
    pub neg_attrs: Vec<String>,
    text: String,
}

/// Why a profile name is malformed or unknown on a board.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("{name:?} is not a MIG profile name ({why}); names look like 1g.5gb, 1c.2g.10gb, 1g.5gb+me, 1g.24gb-me")]
    Malformed { name: String, why: String },
    #[error("{name} is not a profile of the {board}; its GPU-instance profiles are {known}")]
    UnknownGi {
        name: String,
        board: String,
        known: String,
    },
    #[error("{name}: a {gi} GPU instance on the {board} has no {c}-slice compute instance; its compute-instance sizes are {known}")]
    UnknownCi {
        name: String,
        gi: String,
        board: String,
        c: u32,
        known: String,
    },
}

fn field(s: &str, suffix: &str) -> Result<u32, String> {
    let digits = s
        .strip_suffix(suffix)
        .ok_or_else(|| format!("missing '{suffix}' in {s:?}"))?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("malformed number in {s:?}"));
    }
    digits
        .parse()
        .map_err(|_| format!("number too large in {s:?}"))
}

fn attributes(s: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for a in s.split(',') {
        if a.is_empty() {
            return Err("empty attribute".into());
        }
        if a.as_bytes()[0].is_ascii_digit() {
            return Err(format!("attribute {a:?} begins with a digit"));
        }
        if a.starts_with('.') || a.ends_with('.') {
            return Err(format!("attribute {a:?} begins or ends with a dot"));
        }
        if !a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.') {
            return Err(format!(
                "attribute {a:?} has a character other than a-z, 0-9, '.'"
            ));
        }
        if out.iter().any(|x| x == a) {
            return Err(format!("attribute {a:?} given twice"));
        }
        out.push(a.to_string());
    }
    out.sort();
    Ok(out)
}

impl ProfileName {
    /// Parse a name with go-nvlib's grammar.
    pub fn parse(text: &str) -> Result<ProfileName, ProfileError> {
        let bad = |why: String| ProfileError::Malformed {
            name: text.to_string(),
            why,
        };
        if text.is_empty() {
            return Err(bad("empty".into()));
        }
        if text.trim() != text {
            return Err(bad("leading or trailing spaces".into()));
        }
        let plus = text.split_once('+');
        let minus = text.split_once('-');
        if plus.is_some() && minus.is_some() {
            return Err(bad("both '+' and '-' attributes".into()));
        }
        let (base, attrs, neg_attrs) = match (plus, minus) {
            (Some((b, a)), None) => (b, attributes(a).map_err(bad)?, Vec::new()),
            (None, Some((b, a))) => (b, Vec::new(), attributes(a).map_err(bad)?),
            _ => (text, Vec::new(), Vec::new()),
        };
        let parts: Vec<&str> = base.split('.').collect();
        let (c, g, gb) = match parts.as_slice() {
            [c, g, gb] => (
                field(c, "c").map_err(bad)?,
                field(g, "g").map_err(bad)?,
                field(gb, "gb").map_err(bad)?,
            ),
            [g, gb] => {
                let g = field(g, "g").map_err(bad)?;
                (g, g, field(gb, "gb").map_err(bad)?)
            }
            _ => return Err(bad("expected 2 or 3 dot-separated fields".into())),
        };
        Ok(ProfileName {
            c,
            g,
            gb,
            attrs,
            neg_attrs,
            text: text.to_string(),
        })
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the name carries an `Nc.` part smaller than its GI (a
    /// compute-instance name rather than a GPU-instance name).
    pub fn is_partial_ci(&self) -> bool {
        self.c != self.g
    }

    /// Same GI part (slices, memory, attributes) as `other`.
    pub fn same_gi(&self, other: &ProfileName) -> bool {
        self.g == other.g
            && self.gb == other.gb
            && self.attrs == other.attrs
            && self.neg_attrs == other.neg_attrs
    }

    /// The board's GI profile and CI profile this name denotes.
    pub fn resolve<'m>(
        &self,
        model: &'m GpuModel,
    ) -> Result<(&'m GiProfile, &'m CiProfile), ProfileError> {
        let board = format!("{} ({})", model.name, model.slug);
        let gi = model
            .gi_profiles
            .iter()
            .find(|p| {
                ProfileName::parse(&p.name)
                    .map(|n| n.same_gi(self))
                    .unwrap_or(false)
            })
            .ok_or_else(|| ProfileError::UnknownGi {
                name: self.text.clone(),
                board: board.clone(),
                known: model
                    .gi_profiles
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        // The first CI profile of that size in `-lcip` order, as go-nvlib
        // visits them (H100's 2g.20gb has two 1-slice CI profiles, 0 and 7).
        let ci = gi
            .ci_profiles
            .iter()
            .find(|c| c.slices == self.c)
            .ok_or_else(|| ProfileError::UnknownCi {
                name: self.text.clone(),
                gi: gi.name.clone(),
                board,
                c: self.c,
                known: gi
                    .ci_profiles
                    .iter()
                    .map(|c| format!("{}c", c.slices))
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        Ok((gi, ci))
    }
}

impl fmt::Display for ProfileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the grammar accepts mig-parted's name forms and splits them
    /// into C, G, GB and attribute sets.
    #[test]
    fn parses_name_forms() {
        let p = ProfileName::parse("1c.2g.10gb").unwrap();
        assert_eq!((p.c, p.g, p.gb), (1, 2, 10));
        let p = ProfileName::parse("3g.20gb").unwrap();
        assert_eq!((p.c, p.g, p.gb), (3, 3, 20));
        let p = ProfileName::parse("1g.24gb+me.all").unwrap();
        assert_eq!(p.attrs, ["me.all"]);
        let p = ProfileName::parse("1g.24gb-me").unwrap();
        assert_eq!(p.neg_attrs, ["me"]);
        let p = ProfileName::parse("1g.24gb+me,gfx").unwrap();
        assert_eq!(p.attrs, ["gfx", "me"]);
    }

    /// Proves malformed names are refused with a reason.
    #[test]
    fn refuses_malformed_names() {
        for bad in [
            "",
            "1g",
            "1g.5",
            "g.5gb",
            "1x.5gb",
            "1g.5gb+",
            "1g.5gb+me+gfx-x",
            "1g.5gb+me,me",
            " 1g.5gb",
            "1c.1g.5gb.x",
            "1g.5gb+1me",
            "-1g.5gb",
        ] {
            assert!(ProfileName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    /// Proves every GI profile name in the catalog parses and resolves to
    /// itself with its full-size CI, on every board.
    #[test]
    fn catalog_names_resolve_to_themselves() {
        for m in mig_model::catalog::all() {
            for p in &m.gi_profiles {
                let n = ProfileName::parse(&p.name).unwrap();
                let (gi, ci) = n.resolve(m).unwrap();
                assert_eq!(gi.id, p.id, "{} {}", m.slug, p.name);
                assert_eq!(ci.slices, p.slices);
            }
        }
    }

    /// Proves CI-level names resolve to the GI profile and the CI profile of
    /// that size, and unknown ones are refused naming the board.
    #[test]
    fn ci_names_resolve() {
        let m = mig_model::catalog::model("a100-sxm4-40gb").unwrap();
        let (gi, ci) = ProfileName::parse("1c.3g.20gb")
            .unwrap()
            .resolve(m)
            .unwrap();
        assert_eq!((gi.id, ci.id), (9, 0));
        let e = ProfileName::parse("4c.3g.20gb")
            .unwrap()
            .resolve(m)
            .unwrap_err();
        assert!(e.to_string().contains("no 4-slice"), "{e}");
        let e = ProfileName::parse("1g.10gb+me")
            .unwrap()
            .resolve(m)
            .unwrap_err();
        assert!(e.to_string().contains("a100-sxm4-40gb"), "{e}");
    }
}
