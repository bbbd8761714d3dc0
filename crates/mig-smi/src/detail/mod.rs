//! `nvidia-smi -q`: nvidia-smi 580's detailed query, from the backend's
//! values. The log header (time stamp, driver and CUDA versions, attached
//! GPUs), then one block per GPU with its sections; `-d` keeps the chosen
//! sections only ([`Display`]).
//!
//! The whole view with MIG disabled is checked byte for byte against real
//! nvidia-smi 580.159.04 captures (H100 and H200); the `MIG Devices` section
//! and the `-d` layouts follow nvidia-smi's documented behaviour where no
//! capture exists (docs/nvidia-smi-formats.md says which is which).

mod fmt;
mod health;
pub mod run;
mod sections;
mod select;

pub use select::{Display, Filter, QGpu, QHeader};

use fmt::Log;

/// The whole `-q` view.
pub fn render(h: &QHeader<'_>, gpus: &[QGpu<'_>], filter: &Filter) -> String {
    let mut l = Log { s: String::new() };
    l.s.push_str("\n==============NVSMI LOG==============\n\n");
    l.kv(0, "Timestamp", h.date);
    l.kv(0, "Driver Version", h.driver);
    let cuda = h
        .cuda
        .map(|(ma, mi)| format!("{ma}.{mi}"))
        .unwrap_or_else(|| "N/A".into());
    l.kv(0, "CUDA Version", cuda);
    l.s.push('\n');
    l.kv(0, "Attached GPUs", h.attached.to_string());
    for g in gpus {
        l.title(0, &format!("GPU {}", g.dev.pci_bus_id));
        sections::gpu(&mut l, g, filter);
        l.s.push('\n');
    }
    l.s
}

#[cfg(test)]
mod tests {
    use super::*;
    use fmt::Log;

    /// Proves `-d` names parse in any case, in nvidia-smi's order, and an
    /// unknown one is named.
    #[test]
    fn display_lists_parse() {
        assert_eq!(
            Display::parse_list("ecc,MEMORY"),
            Ok(vec![Display::Memory, Display::Ecc])
        );
        assert_eq!(Display::parse_list("MEMORY,BOGUS"), Err("BOGUS".into()));
        assert_eq!(Display::parse_list(""), Err(String::new()));
    }

    /// Proves keys line up at nvidia-smi's column, nested or not.
    #[test]
    fn keys_line_up() {
        let mut l = Log { s: String::new() };
        l.kv(0, "Timestamp", "x");
        l.kv(2, "Current", "y");
        let lines: Vec<&str> = l.s.lines().collect();
        assert_eq!(lines[0].find(':'), Some(55));
        assert_eq!(lines[1].find(':'), Some(55));
    }
}
