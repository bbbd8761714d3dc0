//! Progress of `migctl apply`: on a terminal, one line per GPU (step k of
//! n, what it does) drawn by indicatif; otherwise plain log lines on
//! stderr, one per step, so logs and pipes stay readable.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mig_apply::journal::Phase;
use mig_apply::{Outcome, Progress};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

/// Where progress goes.
pub struct Display {
    bars: Option<(MultiProgress, Mutex<HashMap<u32, ProgressBar>>)>,
    /// Plain lines are not printed (machine-readable output asked for, and
    /// no terminal to draw on).
    quiet: bool,
    /// Which part of an apply this is (`MIG mode: `, `instances: `), so the
    /// two phases of one apply read as two parts of one story.
    stage: &'static str,
}

fn phase_word(p: Phase) -> &'static str {
    match p {
        Phase::RollingBack => "rollback ",
        Phase::Finishing => "finish ",
        _ => "",
    }
}

impl Display {
    /// Bars on a terminal; plain lines otherwise (none when `quiet`).
    pub fn new(quiet: bool) -> Display {
        let bars = std::io::stderr().is_terminal().then(|| {
            (
                MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                Mutex::new(HashMap::new()),
            )
        });
        Display {
            bars,
            quiet,
            stage: "",
        }
    }

    /// [`Display::new`] for one part of an apply.
    pub fn for_stage(quiet: bool, stage: &'static str) -> Display {
        Display {
            stage,
            ..Display::new(quiet)
        }
    }

    /// Leave the bars on screen as they ended.
    pub fn finish(&self) {
        if let Some((m, _)) = &self.bars {
            let _ = m.clear();
        }
    }
}

impl Progress for Display {
    fn begin(&self, gpu: u32, uuid: &str, n: usize, phase: Phase) {
        if let Some((m, bars)) = &self.bars {
            let bar = m.add(ProgressBar::new(n as u64));
            bar.set_style(
                ProgressStyle::with_template("GPU {prefix} [{pos}/{len}] {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(gpu.to_string());
            bar.set_message(
                format!("{}{}", self.stage, phase_word(phase))
                    .trim()
                    .to_string(),
            );
            if let Ok(mut b) = bars.lock() {
                if let Some(old) = b.insert(gpu, bar) {
                    old.finish_and_clear();
                }
            }
        } else if !self.quiet {
            eprintln!(
                "GPU {gpu} ({uuid}): {}{}{n} step{}",
                self.stage,
                phase_word(phase),
                if n == 1 { "" } else { "s" }
            );
        }
    }

    fn step(&self, gpu: u32, k: usize, n: usize, what: &str, phase: Phase) {
        if let Some((_, bars)) = &self.bars {
            if let Some(b) = bars.lock().ok().and_then(|b| b.get(&gpu).cloned()) {
                b.set_position(k as u64 - 1);
                b.set_message(format!("{}step {k} of {n}: {what}", phase_word(phase)));
            }
        } else if !self.quiet {
            eprintln!("GPU {gpu}: {}step {k} of {n}: {what}", phase_word(phase));
        }
    }

    fn end(&self, gpu: u32, outcome: &Outcome) {
        if let Some((_, bars)) = &self.bars {
            if let Some(b) = bars.lock().ok().and_then(|b| b.get(&gpu).cloned()) {
                b.finish_with_message(describe_outcome(outcome));
            }
        }
    }
}

/// One apply outcome as a phrase.
pub fn describe_outcome(o: &Outcome) -> String {
    match o {
        Outcome::Unchanged => "already as wanted; nothing changed".into(),
        Outcome::Applied { steps } => format!("applied ({steps} step{})", if *steps == 1 { "" } else { "s" }),
        Outcome::RolledBack {
            failed_step,
            of,
            error,
        } => format!(
            "step {failed_step} of {of} failed ({error}); rolled back, the GPU is exactly as before"
        ),
        Outcome::Reverted { done, of } => format!(
            "rolled back after {done} of {of} steps because a step on another GPU failed; the GPU is exactly as before"
        ),
        Outcome::Finished { done, of } => {
            format!("finished an interrupted apply ({done} of {of} steps had been done)")
        }
        Outcome::Restored { done, of } => {
            format!("rolled an interrupted apply back ({done} of {of} steps had been done)")
        }
        Outcome::Stuck { error } => {
            format!("NOT RESTORED: {error}; the journal is kept and the next migctl apply retries")
        }
    }
}
