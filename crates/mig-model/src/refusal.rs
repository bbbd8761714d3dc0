//! Why a set of GPU instances does not fit a GPU: the structured refusal
//! that the engine's check (`engine::Layout::refuse_gi`) and the
//! placement search (`search::place`) return, and the one sentence a
//! person reads for it.
//!
//! Each variant names the rule that refused: a placement the profile does
//! not have, an instance count, an engine kind that ran out, or placements
//! that overlap. [`Refusal::nvml_error`] is the code the driver returns for
//! the same refusal.

use crate::error::NvmlError;
use crate::types::Placement;
use std::fmt;

/// The engine kinds a GPU instance takes out of the GPU's totals, in the
/// order `engine::engine_counts` lists them.
pub const ENGINE_NAMES: [&str; 5] = ["copy", "decoder", "encoder", "JPEG", "OFA"];

/// Why GPU instances cannot be created (or a wanted set cannot be placed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `placement` is not one of the profile's placements (NVML: Invalid
    /// Argument).
    BadPlacement {
        profile: String,
        placement: Placement,
        /// The starts the profile allows.
        starts: Vec<u32>,
        /// The board, `NAME (slug)`.
        board: String,
    },
    /// More instances of a profile than a GPU holds.
    InstanceCount {
        profile: String,
        /// How many are asked for.
        want: u32,
        /// How many the GPU holds already.
        existing: u32,
        max: u32,
        board: String,
    },
    /// An engine kind ran out: the instances asked for need `need` of it,
    /// `free` are left beside what the GPU holds.
    Engines {
        /// One of [`ENGINE_NAMES`].
        engine: &'static str,
        need: u32,
        free: u32,
        /// The asked-for profiles that need this engine (`2x NAME` for several).
        profiles: Vec<String>,
    },
    /// Every placement `profile` may take overlaps an instance already
    /// placed (in the best arrangement of the others the search found).
    Overlap {
        profile: String,
        /// The placements it could take (the pinned one when pinned).
        wanted: Box<[Placement]>,
        /// The placed instances that overlap them: profile name and placement.
        blocking: Vec<(String, Placement)>,
        /// Every placed instance of that arrangement.
        held: Vec<(String, Placement)>,
        /// Whether other asked-for instances were arranged before it (the
        /// sentence then says no arrangement of them leaves room).
        arranged: bool,
        /// What still fits beside `held`, largest first (a greedy fill).
        room: Box<[String]>,
        /// Memory slices asked for in all, free beside what the GPU held
        /// before, and the GPU's total.
        slices: (u32, u32, u32),
    },
}

impl Refusal {
    /// The NVML return code of the create call this refusal stops.
    pub fn nvml_error(&self) -> NvmlError {
        match self {
            Refusal::BadPlacement { .. } => NvmlError::InvalidArgument,
            _ => NvmlError::InsufficientResources,
        }
    }
}

/// `slices 0-3 or 4-7`, `slice 0`, `slices 0, 1 or 2`.
fn spans(ps: &[Placement]) -> String {
    let parts: Vec<String> = ps
        .iter()
        .map(|p| {
            if p.size == 1 {
                p.start.to_string()
            } else {
                format!("{}-{}", p.start, p.end() - 1)
            }
        })
        .collect();
    let word = if ps.len() == 1 && ps[0].size == 1 {
        "slice"
    } else {
        "slices"
    };
    format!("{word} {}", join_with(&parts, "or"))
}

/// `a`, `a or b`, `a, b or c`.
pub fn join_with(items: &[String], word: &str) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} {word} {last}", rest.join(", ")),
    }
}

fn at(items: &[(String, Placement)]) -> Vec<String> {
    items
        .iter()
        .map(|(n, p)| format!("{n} at {}", p.start))
        .collect()
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::BadPlacement {
                profile,
                placement,
                starts,
                board,
            } => {
                let s: Vec<String> = starts.iter().map(|s| s.to_string()).collect();
                write!(
                    f,
                    "{profile} cannot start at {} on the {board}: its placements start at {}",
                    placement.start,
                    join_with(&s, "or")
                )
            }
            Refusal::InstanceCount {
                profile,
                want,
                existing: 0,
                max,
                board,
            } => write!(
                f,
                "{want} x {profile} asked for, but the {board} holds at most {max} {profile}"
            ),
            Refusal::InstanceCount {
                profile,
                want,
                existing,
                max,
                board,
            } => write!(
                f,
                "{want} more {profile} beside the {existing} there would make {}, but the {board} holds at most {max} {profile}",
                want + existing
            ),
            Refusal::Engines {
                engine,
                need,
                free,
                profiles,
            } => write!(
                f,
                "{} need {need} {engine} engines together, but only {free} {} free on this GPU",
                profiles.join(" + "),
                if *free == 1 { "is" } else { "are" }
            ),
            Refusal::Overlap {
                profile,
                wanted,
                blocking,
                held,
                arranged,
                room,
                slices: (need, free, total),
            } => {
                let blocking = at(blocking);
                write!(
                    f,
                    "{profile} needs {}, which {} already {}",
                    spans(wanted),
                    join_with(&blocking, "and"),
                    if blocking.len() == 1 { "uses" } else { "use" }
                )?;
                if *arranged && !held.is_empty() {
                    write!(
                        f,
                        " (no arrangement of {} leaves room for it)",
                        join_with(&at(held), "and")
                    )?;
                }
                write!(
                    f,
                    "; beside {} ",
                    if held.len() == 1 { "it" } else { "them" }
                )?;
                if room.is_empty() {
                    write!(f, "nothing more fits")?;
                } else {
                    write!(f, "at most {} fits", room.join("+"))?;
                }
                if need > free {
                    write!(f, " (the instances need {need} memory slices, ")?;
                    if free == total {
                        write!(f, "the GPU has {total})")?;
                    } else {
                        write!(f, "only {free} of the GPU's {total} are free)")?;
                    }
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Refusal {}
