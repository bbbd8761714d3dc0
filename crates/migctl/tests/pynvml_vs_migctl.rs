//! A pynvml script drives the simulated machine through the fake
//! libnvidia-ml.so.1 (enable MIG, create GPU and compute instances with and
//! without placements, list MIG devices, destroy some), and `migctl` on the
//! same state file sees the same instances, MIG devices and UUIDs.

mod common;

use std::process::Command;

const SCRIPT: &str = r#"
import json, ctypes, pynvml as n
n.nvmlInit()
h = n.nvmlDeviceGetHandleByIndex(0)
n.nvmlDeviceSetMigMode(h, 1)
gis = []
# 3g without a placement (the driver's choice), 2g at 0:2, 1g at 3:1
gis.append(n.nvmlDeviceCreateGpuInstance(h, n.nvmlDeviceGetGpuInstanceProfileInfo(h, n.NVML_GPU_INSTANCE_PROFILE_3_SLICE).id))
p = n.c_nvmlGpuInstancePlacement_t(); p.start, p.size = 0, 2
gis.append(n.nvmlDeviceCreateGpuInstanceWithPlacement(h, n.nvmlDeviceGetGpuInstanceProfileInfo(h, n.NVML_GPU_INSTANCE_PROFILE_2_SLICE).id, ctypes.byref(p)))
p.start, p.size = 3, 1
gis.append(n.nvmlDeviceCreateGpuInstanceWithPlacement(h, n.nvmlDeviceGetGpuInstanceProfileInfo(h, n.NVML_GPU_INSTANCE_PROFILE_1_SLICE).id, ctypes.byref(p)))
for gi in gis:
    full = n.nvmlGpuInstanceGetInfo(gi)
    prof = {9: n.NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE, 14: n.NVML_COMPUTE_INSTANCE_PROFILE_2_SLICE, 19: n.NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE}[full.profileId]
    ci = n.nvmlGpuInstanceGetComputeInstanceProfileInfo(gi, prof, n.NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED)
    n.nvmlGpuInstanceCreateComputeInstance(gi, ci.id)
# a second full CI in the 2g GI is refused; destroy the 1g GI's CI and the GI
try:
    two_c = n.nvmlGpuInstanceGetComputeInstanceProfileInfo(gis[1], n.NVML_COMPUTE_INSTANCE_PROFILE_2_SLICE, 0)
    n.nvmlGpuInstanceCreateComputeInstance(gis[1], two_c.id)
    second = "created"
except n.NVMLError as e:
    second = str(e)
one_g = gis[2]
cis = (n.c_nvmlComputeInstance_t * 8)(); cnt = ctypes.c_uint(0)
n.nvmlGpuInstanceGetComputeInstances(one_g, n.NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE, cis, ctypes.byref(cnt))
assert cnt.value == 1, cnt.value
n.nvmlComputeInstanceDestroy(cis[0])
n.nvmlGpuInstanceDestroy(one_g)
out = {"gis": sorted([n.nvmlGpuInstanceGetInfo(g).id for g in gis[:2]]), "second": second, "mig": []}
for i in range(n.nvmlDeviceGetMaxMigDeviceCount(h)):
    try:
        m = n.nvmlDeviceGetMigDeviceHandleByIndex(h, i)
    except n.NVMLError:
        continue
    out["mig"].append([n.nvmlDeviceGetGpuInstanceId(m), n.nvmlDeviceGetComputeInstanceId(m), n.nvmlDeviceGetUUID(m)])
print(json.dumps(out))
"#;

#[test]
fn pynvml_and_migctl_see_the_same_machine() {
    let m = common::Machine::new();
    m.ok(&["sim", "init", "a100-sxm4-40gb"]);
    let lib = m.ok(&["sim", "nvml-lib"]);
    let lib = std::path::Path::new(lib.trim());
    let Some(dir) = lib.parent() else {
        panic!("bad library path {}", lib.display())
    };
    let o = Command::new("python3")
        .args(["-c", SCRIPT])
        .env("LD_LIBRARY_PATH", dir)
        .env("MIGCTL_SIM_STATE", m.state())
        .output();
    let test = "pynvml_and_migctl_see_the_same_machine";
    let o = match o {
        Ok(o) if o.status.success() => o,
        Ok(o) if String::from_utf8_lossy(&o.stderr).contains("No module named") => {
            testkit::skip(
                test,
                testkit::Needs::Pynvml,
                "pynvml is not installed (python3 -m pip install nvidia-ml-py)",
            );
            return;
        }
        Ok(o) => panic!(
            "pynvml script failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            testkit::skip(
                test,
                testkit::Needs::Pynvml,
                &format!("python3 is not runnable: {e}"),
            );
            return;
        }
    };
    let out = String::from_utf8_lossy(&o.stdout);
    // GIs: the 3g went to 4:4 (GI 2), the 2g to 0:2 (GI 3); the 1g is gone
    assert!(out.contains("\"gis\": [2, 3]"), "{out}");
    assert!(
        out.contains("\"second\": \"Insufficient Resources\""),
        "{out}"
    );
    let lgi = m.ok(&["mig", "-lgi"]);
    assert!(
        lgi.contains("MIG 2g.10gb           14        3          0:2"),
        "{lgi}"
    );
    assert!(
        lgi.contains("MIG 3g.20gb            9        2          4:4"),
        "{lgi}"
    );
    assert!(!lgi.contains("1g.5gb"), "{lgi}");
    // MIG devices: the same (GI, CI, UUID) in the same order as `migctl -L`
    let listed = m.ok(&["-L"]);
    let uuids: Vec<&str> = listed
        .lines()
        .filter(|l| l.trim_start().starts_with("MIG "))
        .filter_map(|l| l.split("UUID: ").nth(1))
        .map(|u| u.trim_end_matches(')'))
        .collect();
    assert_eq!(uuids.len(), 2, "{listed}");
    let expected = format!(
        "\"mig\": [[2, 0, \"{}\"], [3, 0, \"{}\"]]",
        uuids[0], uuids[1]
    );
    assert!(
        out.contains(&expected),
        "pynvml: {out}\nmigctl -L:\n{listed}"
    );
}
