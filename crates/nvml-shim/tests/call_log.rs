//! `MIGCTL_NVML_LOG`: every exported NVML function logs one line (name
//! first, input arguments, return code), here checked by calling through the
//! rlib in a process of its own (the log file is chosen at the first call),
//! and by reading the sources: every exported function goes through the
//! logging wrapper, so functions added later cannot skip the log.

use mig_sim::SimMachine;
use nvml_shim::*;
use nvml_wrapper_sys::bindings as sys;
use std::ptr::null_mut;

/// Proves calls are logged in order with decoded handles, placements,
/// return codes and texts, including failures and `nvmlErrorString`.
#[test]
fn calls_are_logged() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let log = dir.path().join("nvml.log");
    SimMachine::open(&state)
        .unwrap()
        .init(&[("a100-sxm4-40gb".to_string(), false)])
        .unwrap();
    std::env::set_var("MIGCTL_SIM_STATE", &state);
    std::env::set_var("MIGCTL_NVML_LOG", &log);
    assert_eq!(nvmlInit_v2(), 0);
    let mut dev: sys::nvmlDevice_t = null_mut();
    // SAFETY: valid out-pointers.
    unsafe {
        assert_eq!(nvmlDeviceGetHandleByIndex_v2(0, &mut dev), 0);
        let mut status = 0;
        assert_eq!(nvmlDeviceSetMigMode(dev, 1, &mut status), 0);
        let mut gi: sys::nvmlGpuInstance_t = null_mut();
        let p = sys::nvmlGpuInstancePlacement_t { start: 4, size: 4 };
        assert_eq!(
            nvmlDeviceCreateGpuInstanceWithPlacement(dev, 9, &p, &mut gi),
            0
        );
        let bad = sys::nvmlGpuInstancePlacement_t { start: 1, size: 4 };
        assert_eq!(
            nvmlDeviceCreateGpuInstanceWithPlacement(dev, 9, &bad, &mut gi),
            2
        );
        assert_eq!(nvmlDeviceGetHandleByIndex_v2(3, null_mut()), 2);
    }
    nvmlErrorString(19);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let pid = std::process::id();
    let want = [
        "nvmlInit_v2 -> 0 (Success)".to_string(),
        "nvmlDeviceGetHandleByIndex_v2 index=0 -> 0 (Success)".into(),
        "nvmlDeviceSetMigMode device=gpu0 mode=1 -> 0 (Success)".into(),
        "nvmlDeviceCreateGpuInstanceWithPlacement device=gpu0 profile_id=9 placement=4:4 -> 0 (Success)".into(),
        "nvmlDeviceCreateGpuInstanceWithPlacement device=gpu0 profile_id=9 placement=1:4 -> 2 (Invalid Argument)".into(),
        "nvmlDeviceGetHandleByIndex_v2 index=3 -> 2 (Invalid Argument)".into(),
        "nvmlErrorString result=19 -> \"In use by another client\"".into(),
    ];
    assert_eq!(lines.len(), want.len(), "{text}");
    for (l, w) in lines.iter().zip(&want) {
        assert_eq!(*l, format!("{w} [pid {pid}]"));
    }
}

/// Proves every `extern "C"` function of the library logs its own name:
/// it calls `call("NAME", ...)`, or a helper given `"NAME"`, or (for the
/// one non-code function) `record_value("NAME", ...)`.
#[test]
fn every_export_goes_through_the_log() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut checked = 0;
    for f in std::fs::read_dir(&src).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        let parts: Vec<&str> = text.split("extern \"C\" fn ").collect();
        for part in &parts[1..] {
            let name: String = part
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let body = part.split("\n}\n").next().unwrap_or(part);
            let quoted = format!("\"{name}\"");
            let logs = body.contains(&format!("call({quoted}"))
                // generated fallbacks: `answer` logs through `entry`, by name
                || body.contains(&format!("answer({quoted}"))
                || body.contains(&format!("call(\n        {quoted}"))
                || body.contains(&format!("record_value({quoted}"))
                || (body.contains(&quoted) && !body.contains("entry("));
            assert!(logs, "{name} does not log through call(\"{name}\", ...)");
            checked += 1;
        }
    }
    assert!(checked >= 400, "only {checked} exports found");
}
