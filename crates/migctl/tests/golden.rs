//! Golden tests: migctl's output must equal NVIDIA's byte for byte.
//!
//! Each `tests/golden/*.txt` script is a transcript: `$ migctl ARGS` lines
//! run the binary against a fresh simulated machine; the lines after one, up
//! to the next command or `#` comment, are its exact stdout (trailing blank
//! lines of a block are separators, not output). A block's last line may be
//! `[exit N]` to expect a non-zero exit. `% KEY=VALUE` sets an environment
//! variable for the commands after it. Comments say where each expected
//! output comes from.

mod common;

use std::path::Path;

fn golden(name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let script = std::fs::read_to_string(&path).expect("golden script");
    let machine = common::Machine::new();
    common::replay(&machine, &script, name);
}

/// The MIG User Guide's "Getting Started" walkthrough on an A100-SXM4-40GB.
#[test]
fn guide_getting_started() {
    golden("guide-getting-started.txt");
}

/// The guide's 3-2-1-1 example: wrong order fails with Insufficient
/// Resources, the right order works.
#[test]
fn guide_3_2_1_1() {
    golden("guide-3-2-1-1.txt");
}

/// The guide's 2-1-1-1-1-1 example.
#[test]
fn guide_2_1_1_1_1_1() {
    golden("guide-2-1-1-1-1-1.txt");
}

/// nvidia-smi 580's layouts (the default style) on an H100, from public R580
/// captures.
#[test]
fn r580_layouts() {
    golden("r580-h100.txt");
}

/// A public R580 walkthrough on an A100 with mirrored halves.
#[test]
fn r580_mirrored_a100() {
    golden("r580-a100-mirrored.txt");
}

/// `-lgip`/`-lgipp` on simulated H100 and H200 equal what the lent boards
/// printed (catalog/measured, driver 580.159.04), and the H100 also equals
/// the project's shared reference recording.
#[test]
fn lgip_lgipp_equal_real_boards() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for (slug, dir) in [
        ("h100-sxm5-80gb", "catalog/measured/h100-580.159.04"),
        ("h200-sxm5-141gb", "catalog/measured/h200-580.159.04"),
    ] {
        let m = common::Machine::new();
        m.ok(&["sim", "init", slug]);
        for (flag, file) in [("-lgip", "lgip.txt"), ("-lgipp", "lgipp.txt")] {
            let want = std::fs::read_to_string(root.join(dir).join(file)).unwrap();
            let got = m.ok(&["mig", flag]);
            common::assert_same(&got, &want, &format!("{slug} {flag}"));
        }
    }
    let Some(shared) = testkit::shared("lgip_lgipp_equal_real_boards (the shared H100 reference)")
    else {
        return;
    };
    let shared = shared.join("reference/h100-80gb-hbm3");
    let m = common::Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb"]);
    for (flag, file) in [("-lgip", "h100_lgip.txt"), ("-lgipp", "h100_lgipp.txt")] {
        let want = std::fs::read_to_string(shared.join(file)).unwrap();
        common::assert_same(&m.ok(&["mig", flag]), &want, &format!("shared {flag}"));
    }
}
