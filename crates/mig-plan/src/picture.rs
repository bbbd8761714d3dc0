//! Pictures of one GPU's slices and the instances on them, in the manner of
//! the MIG User Guide's placement figures: memory slices left to right, each
//! GPU instance a box over its memory slices with its profile and GI ID, its
//! compute instances side by side inside it over the GI's compute slices,
//! busy compute instances marked, and the MIG mode (current and pending).
//!
//! Pure functions from a [`View`] to text (plain or ANSI colour) or SVG, so
//! `show`, `fit` and `plan`/`apply` (before and after) draw the same picture.

use crate::fit::slice_unit;
use mig_model::backend::{GpuSnapshot, MigMode};
use mig_model::engine::{ci_profile, gi_profile, Layout};
use mig_model::{catalog, ids, ComputeInstanceId, GpuInstanceId, GpuModel};
use std::collections::BTreeSet;
use std::fmt::Write;

/// Compute instances that have processes on them.
pub type Busy = BTreeSet<(GpuInstanceId, ComputeInstanceId)>;

/// What one picture shows.
#[derive(Debug, Clone)]
pub struct View<'a> {
    /// First line, e.g. `GPU 0: NVIDIA A100-SXM4-40GB`.
    pub title: String,
    pub model: &'a GpuModel,
    pub mode: MigMode,
    pub layout: &'a Layout,
    pub busy: &'a Busy,
}

/// The busy compute instances of a snapshot.
pub fn busy_of(s: &GpuSnapshot) -> Busy {
    s.processes.iter().filter_map(|p| p.gi.zip(p.ci)).collect()
}

/// The catalog model of a snapshot, if the catalog knows the board.
pub fn model_of(s: &GpuSnapshot) -> Option<&'static GpuModel> {
    s.identity.model.as_deref().and_then(catalog::model)
}

/// One drawn GPU instance, in memory-slice and compute-slice terms.
struct Gi {
    id: GpuInstanceId,
    name: String,
    /// Memory slices `[a, b)`.
    a: usize,
    b: usize,
    compute_slices: u32,
    cis: Vec<Ci>,
}

struct Ci {
    id: ComputeInstanceId,
    /// `2c` or the GI's name for a full-size CI.
    short: String,
    start: u32,
    size: u32,
    busy: bool,
}

fn gis(v: &View) -> Vec<Gi> {
    let unit = slice_unit(v.model);
    let mut out: Vec<Gi> = v
        .layout
        .gpu_instances
        .iter()
        .filter_map(|g| {
            let gp = gi_profile(v.model, g.profile_id).ok()?;
            let cis = g
                .compute_instances
                .iter()
                .filter_map(|c| {
                    let cp = ci_profile(gp, c.profile_id).ok()?;
                    Some(Ci {
                        id: c.id,
                        short: format!("{}c", cp.slices),
                        start: c.placement.start,
                        size: c.placement.size,
                        busy: v.busy.contains(&(g.id, c.id)),
                    })
                })
                .collect();
            Some(Gi {
                id: g.id,
                name: gp.name.clone(),
                a: (g.placement.start / unit) as usize,
                b: (g.placement.end() / unit) as usize,
                compute_slices: gp.slices,
                cis,
            })
        })
        .collect();
    out.sort_by_key(|g| g.a);
    out
}

fn mode_line(v: &View) -> String {
    let word = |on: bool| if on { "enabled" } else { "disabled" };
    let mut s = format!("MIG {}", word(v.mode.current));
    if v.mode.pending != v.mode.current {
        let _ = write!(
            s,
            ", {} after the next GPU reset (pending)",
            word(v.mode.pending)
        );
    }
    if v.layout.mirrored && v.mode.current {
        s.push_str("; mirrored board (GI IDs follow physical slices)");
    }
    s
}

const PALETTE_ANSI: [&str; 6] = ["34", "32", "35", "36", "33", "94"];

/// The terminal picture. With `colour`, GI boxes take ANSI colours and busy
/// compute instances a red background; without, plain ASCII (busy ones end
/// in `*`).
pub fn text(v: &View, colour: bool) -> String {
    let slices = crate::fit::memory_slices(v.model) as usize;
    let cw = (80 / slices).max(10);
    let width = slices * cw + 1;
    let mut out = String::new();
    let _ = writeln!(out, "{} ({})  {}", v.title, v.model.slug, mode_line(v));
    // Header: memory slice numbers at the left of their columns.
    let mut head = vec![b' '; width];
    for s in 0..slices {
        let label = s.to_string();
        for (k, ch) in label.bytes().enumerate() {
            head[s * cw + 1 + k] = ch;
        }
    }
    let _ = writeln!(out, "mem {}", String::from_utf8_lossy(&head).trim_end());
    if !v.mode.current {
        let bar = format!("+{}+", "-".repeat(width - 2));
        let mid = format!(
            "|{:<w$}|",
            " MIG disabled: the whole GPU is one device",
            w = width - 2
        );
        for l in [&bar, &mid, &bar] {
            let _ = writeln!(out, "    {l}");
        }
        return out;
    }
    // Text rows (top border, GI ID, profile, CI row, bottom border) as
    // cells, each cell a char with an optional colour code.
    let mut rows: Vec<Vec<(char, Option<&str>)>> = vec![vec![(' ', None); width]; 5];
    let gis = gis(v);
    let covered = |s: usize| gis.iter().any(|g| g.a <= s && s < g.b);
    for s in (0..slices).filter(|&s| !covered(s)) {
        for x in s * cw..=(s + 1) * cw {
            for row in &mut rows[1..4] {
                row[x] = ('.', None);
            }
        }
    }
    for (i, g) in gis.iter().enumerate() {
        let col = Some(PALETTE_ANSI[i % PALETTE_ANSI.len()]);
        let (x0, x1) = (g.a * cw, g.b * cw);
        for r in [0, 4] {
            for (x, cell) in rows[r].iter_mut().enumerate().take(x1 + 1).skip(x0) {
                *cell = (if x == x0 || x == x1 { '+' } else { '-' }, col);
            }
        }
        for row in &mut rows[1..4] {
            row[x0] = ('|', col);
            row[x1] = ('|', col);
        }
        put(&mut rows[1], x0, x1, &format!("GI {}", g.id), col);
        put(&mut rows[2], x0, x1, &g.name, col);
        // Compute slices of this GI over the inner width.
        let inner = x1 - x0 - 1;
        let n = g.compute_slices.max(1) as usize;
        let at = |k: u32| x0 + 1 + (k as usize * inner) / n;
        rows[3][x0 + 1..x1].fill(('.', None));
        for c in &g.cis {
            let (c0, c1) = (at(c.start), at((c.start + c.size).min(g.compute_slices)));
            let ccol = if c.busy { Some("41;97") } else { col };
            rows[3][c0..c1].fill((' ', ccol));
            let label = format!("CI{} {}{}", c.id, c.short, if c.busy { "*" } else { "" });
            put(
                &mut rows[3],
                c0.saturating_sub(1),
                c1.saturating_sub(1),
                &label,
                ccol,
            );
            if c1 < x1 && c.start + c.size < g.compute_slices {
                rows[3][c1 - 1] = (':', col);
            }
        }
    }
    for r in &rows {
        let line = format!("    {}", render(r, colour));
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if gis.is_empty() {
        let _ = writeln!(out, "    no GPU instances");
    }
    for g in &gis {
        let cis: Vec<String> = g
            .cis
            .iter()
            .map(|c| {
                format!(
                    "CI {} {} at {}:{}{}",
                    c.id,
                    ci_name(v, g, c),
                    c.start,
                    c.size,
                    if c.busy { " (busy)" } else { "" }
                )
            })
            .collect();
        let slices = if g.b - g.a == 1 {
            format!("memory slice {}", g.a)
        } else {
            format!("memory slices {}-{}", g.a, g.b - 1)
        };
        let _ = writeln!(
            out,
            "    GI {:<2} {:<14} {slices:<18} {}",
            g.id,
            g.name,
            if cis.is_empty() {
                "no compute instances".to_string()
            } else {
                cis.join(", ")
            }
        );
    }
    if gis.iter().any(|g| g.cis.iter().any(|c| c.busy)) {
        let _ = writeln!(out, "    * busy: processes run on that compute instance");
    }
    out
}

/// The MIG device name of a drawn CI (`1c.3g.20gb`).
fn ci_name(v: &View, g: &Gi, c: &Ci) -> String {
    v.layout
        .gpu_instance(g.id)
        .ok()
        .and_then(|gi| {
            let gp = gi_profile(v.model, gi.profile_id).ok()?;
            let ci = gi.compute_instances.iter().find(|x| x.id == c.id)?;
            let cp = ci_profile(gp, ci.profile_id).ok()?;
            Some(ids::ci_short_name(gp, cp))
        })
        .unwrap_or_default()
}

/// Write `label` into cells `[x0, x1)`, cut to fit.
fn put(
    row: &mut [(char, Option<&'static str>)],
    x0: usize,
    x1: usize,
    label: &str,
    col: Option<&'static str>,
) {
    let room = x1.saturating_sub(x0 + 1);
    for (k, ch) in label.chars().take(room).enumerate() {
        row[x0 + 1 + k] = (ch, col);
    }
}

fn render(row: &[(char, Option<&str>)], colour: bool) -> String {
    let mut s = String::new();
    let mut cur: Option<&str> = None;
    for &(ch, col) in row {
        if colour && col != cur {
            s.push_str("\x1b[0m");
            if let Some(c) = col {
                let _ = write!(s, "\x1b[{c}m");
            }
            cur = col;
        }
        s.push(ch);
    }
    if colour && cur.is_some() {
        s.push_str("\x1b[0m");
    }
    s.trim_end().to_string()
}

const PALETTE_SVG: [&str; 6] = [
    "#4e79a7", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Pixel sizes of the SVG picture.
const SLICE_W: usize = 96;
const LEFT: usize = 16;
const GPU_H: usize = 190;

/// An SVG document with one picture per view, stacked.
pub fn svg(views: &[View]) -> String {
    let cols = views
        .iter()
        .map(|v| crate::fit::memory_slices(v.model) as usize)
        .max()
        .unwrap_or(8);
    let w = LEFT * 2 + cols * SLICE_W;
    let h = GPU_H * views.len().max(1) + 30;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r##"<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>"##
    );
    for (k, v) in views.iter().enumerate() {
        svg_gpu(&mut s, v, k * GPU_H);
    }
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="{}" fill="#555555">red outline: busy compute instance (processes running); grey: free memory slice</text>"##,
        h - 10
    );
    s.push_str("</svg>\n");
    s
}

fn svg_gpu(s: &mut String, v: &View, y0: usize) {
    let slices = crate::fit::memory_slices(v.model) as usize;
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="{}" font-size="14" font-weight="bold" fill="#222222">{} ({})</text>"##,
        y0 + 22,
        esc(&v.title),
        esc(&v.model.slug)
    );
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="{}" fill="#444444">{}</text>"##,
        y0 + 40,
        esc(&mode_line(v))
    );
    let top = y0 + 52;
    for i in 0..slices {
        let x = LEFT + i * SLICE_W;
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" fill="#777777">mem {i}</text>"##,
            x + 4,
            top + 10
        );
        let _ = writeln!(
            s,
            r##"<rect x="{}" y="{}" width="{}" height="100" fill="#eeeeee" stroke="#bbbbbb" stroke-dasharray="4 3"/>"##,
            x + 1,
            top + 16,
            SLICE_W - 2
        );
    }
    if !v.mode.current {
        let _ = writeln!(
            s,
            r##"<rect x="{LEFT}" y="{}" width="{}" height="100" fill="#cccccc" stroke="#666666"/><text x="{}" y="{}" fill="#222222">MIG disabled: the whole GPU is one device</text>"##,
            top + 16,
            slices * SLICE_W,
            LEFT + 8,
            top + 70
        );
        return;
    }
    for (i, g) in gis(v).iter().enumerate() {
        let fill = PALETTE_SVG[i % PALETTE_SVG.len()];
        let x = LEFT + g.a * SLICE_W;
        let gw = (g.b - g.a) * SLICE_W;
        let _ = writeln!(
            s,
            r##"<g class="gi" data-gi="{}"><rect x="{}" y="{}" width="{}" height="100" rx="4" fill="{fill}" fill-opacity="0.35" stroke="{fill}" stroke-width="2"/><text x="{}" y="{}" font-weight="bold" fill="#111111">GI {}</text><text x="{}" y="{}" font-size="11" fill="#111111">{}</text>"##,
            g.id,
            x + 1,
            top + 16,
            gw - 2,
            x + 6,
            top + 31,
            g.id,
            x + 6,
            top + 45,
            esc(&g.name)
        );
        let n = g.compute_slices.max(1) as usize;
        let inner = gw - 12;
        for c in &g.cis {
            let cx = x + 6 + c.start as usize * inner / n;
            let cend = x + 6 + ((c.start + c.size).min(g.compute_slices) as usize) * inner / n;
            let (stroke, sw) = if c.busy {
                ("#d62728", 3)
            } else {
                ("#333333", 1)
            };
            let _ = writeln!(
                s,
                r##"<rect x="{cx}" y="{}" width="{}" height="52" rx="3" fill="#ffffff" fill-opacity="0.85" stroke="{stroke}" stroke-width="{sw}"/><text x="{}" y="{}" fill="#111111">CI {} {}</text>{}"##,
                top + 56,
                (cend - cx).saturating_sub(4),
                cx + 5,
                top + 73,
                c.id,
                esc(&c.short),
                if c.busy {
                    format!(
                        r##"<text x="{}" y="{}" fill="#d62728" font-weight="bold">busy</text>"##,
                        cx + 5,
                        top + 90
                    )
                } else {
                    String::new()
                }
            );
        }
        s.push_str("</g>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mig_model::{CiProfileId, GiProfileId, Placement};

    /// Proves the plain picture has no escape codes, draws each GI over its
    /// memory slices and marks the busy CI; the coloured one has codes.
    #[test]
    fn plain_and_colour() {
        let m = catalog::model("a100-sxm4-40gb").unwrap();
        let mut l = Layout::new(false);
        let gi = l
            .create_gi(m, GiProfileId(9), Some(Placement::new(4, 4)))
            .unwrap();
        let ci = l.create_ci(m, gi, CiProfileId(0), None).unwrap();
        let busy: Busy = [(gi, ci)].into_iter().collect();
        let v = View {
            title: "GPU 0".into(),
            model: m,
            mode: MigMode {
                current: true,
                pending: true,
            },
            layout: &l,
            busy: &busy,
        };
        let plain = text(&v, false);
        assert!(!plain.contains('\x1b'));
        assert!(
            plain.contains("|GI 2") && plain.contains("|3g.20gb"),
            "{plain}"
        );
        assert!(plain.contains("CI0 1c*"), "{plain}");
        assert!(text(&v, true).contains("\x1b[41;97m"));
        assert!(svg(&[v]).contains("busy"));
    }
}
