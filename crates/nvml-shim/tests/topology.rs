//! NVLink, CPU and memory affinity, topology, P2P and excluded devices
//! through the library's C entry points, on a simulated host of two H100
//! SXM5, one H200 SXM5 and one H100 PCIe board (sockets: GPUs 0-1 on socket
//! 0, GPUs 2-3 on socket 1): each getter answers the board's catalog value
//! where a source gives one, `NOT_SUPPORTED` where none does or the board
//! has no NVLink, and the nvml.h error for null pointers, bad links, bad
//! scopes and bad indexes.

use mig_sim::SimMachine;
use nvml_shim::*;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_uint, c_ulong, c_ulonglong};
use std::ptr::null_mut;

const SUCCESS: u32 = 0;
const UNINITIALIZED: u32 = 1;
const INVALID_ARGUMENT: u32 = 2;
const NOT_SUPPORTED: u32 = 3;

/// The library is process-wide; this file has one test, so no lock.
fn machine(dir: &tempfile::TempDir) {
    let state = dir.path().join("state.json");
    let models: Vec<(String, bool)> = [
        "h100-sxm5-80gb",
        "h100-sxm5-80gb",
        "h200-sxm5-141gb",
        "h100-pcie-80gb",
    ]
    .iter()
    .map(|s| (s.to_string(), false))
    .collect();
    SimMachine::open(&state)
        .expect("open")
        .init(&models)
        .expect("init");
    std::env::set_var("MIGCTL_SIM_STATE", &state);
}

fn device(index: u32) -> sys::nvmlDevice_t {
    let mut d = null_mut();
    assert_eq!(
        unsafe { nvmlDeviceGetHandleByIndex_v2(index, &mut d) },
        SUCCESS
    );
    d
}

fn index_of(d: sys::nvmlDevice_t) -> u32 {
    let mut i = 99;
    assert_eq!(unsafe { nvmlDeviceGetIndex(d, &mut i) }, SUCCESS);
    i
}

/// `(rc, value)` of a one-output getter.
fn get<T: Copy>(init: T, f: impl FnOnce(*mut T) -> u32) -> (u32, T) {
    let mut v = init;
    let rc = f(&mut v);
    (rc, v)
}

/// Proves every getter of this area answers as documented in
/// docs/simulated-telemetry.md, against the catalog's NVLink facts
/// (H100/H200 SXM5: 18 links, `NVML_NVLINK_VERSION_4_0` = 6) and the DGX
/// H100 host (CPUs 0-55 and 112-167 on socket 0).
#[test]
fn topology_and_nvlink_getters_answer_the_simulated_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    machine(&dir);
    assert_eq!(unsafe { nvmlGetExcludedDeviceCount(&mut 0) }, UNINITIALIZED);
    assert_eq!(nvmlInit_v2(), SUCCESS);
    let (h100, h100b, h200, pcie) = (device(0), device(1), device(2), device(3));

    // NVLink: every port of the SXM boards, none on the PCIe board
    for d in [h100, h200] {
        for link in 0..18 {
            let state = get(0, |p| unsafe { nvmlDeviceGetNvLinkState(d, link, p) });
            assert_eq!(
                state,
                (SUCCESS, sys::nvmlEnableState_enum_NVML_FEATURE_ENABLED)
            );
            assert_eq!(
                get(0, |p| unsafe { nvmlDeviceGetNvLinkVersion(d, link, p) }),
                (SUCCESS, 6)
            );
            let ty = get(9, |p| unsafe {
                nvmlDeviceGetNvLinkRemoteDeviceType(d, link, p)
            });
            assert_eq!(
                ty,
                (
                    SUCCESS,
                    sys::nvmlIntNvLinkDeviceType_enum_NVML_NVLINK_DEVICE_TYPE_SWITCH
                )
            );
        }
        let bad = get(0, |p| unsafe { nvmlDeviceGetNvLinkState(d, 18, p) });
        assert_eq!(bad.0, INVALID_ARGUMENT, "a link past the 18th");
        assert_eq!(
            unsafe { nvmlDeviceGetNvLinkVersion(d, 0, null_mut()) },
            INVALID_ARGUMENT
        );
    }
    for counter in 0..5 {
        let e = get(7 as c_ulonglong, |p| unsafe {
            nvmlDeviceGetNvLinkErrorCounter(h100, 3, counter, p)
        });
        assert_eq!(e, (SUCCESS, 0));
    }
    let e = get(0 as c_ulonglong, |p| unsafe {
        nvmlDeviceGetNvLinkErrorCounter(h100, 3, 5, p)
    });
    assert_eq!(
        e.0, INVALID_ARGUMENT,
        "NVML_NVLINK_ERROR_COUNT is no counter"
    );
    assert_eq!(
        get(0, |p| unsafe { nvmlDeviceGetNvLinkState(pcie, 0, p) }).0,
        NOT_SUPPORTED
    );
    assert_eq!(
        get(0, |p| unsafe { nvmlDeviceGetNvLinkVersion(pcie, 0, p) }).0,
        NOT_SUPPORTED
    );
    let mut fields: [sys::nvmlFieldValue_t; 2] = unsafe { std::mem::zeroed() };
    fields[0].fieldId = sys::field_id::NVML_FI_DEV_NVLINK_LINK_COUNT;
    fields[1].fieldId = sys::field_id::NVML_FI_DEV_NVLINK_LINK_COUNT;
    assert_eq!(
        unsafe { nvmlDeviceGetFieldValues(h200, 1, fields.as_mut_ptr()) },
        SUCCESS
    );
    assert_eq!(
        (fields[0].nvmlReturn, unsafe { fields[0].value.uiVal }),
        (SUCCESS, 18)
    );
    assert_eq!(
        unsafe { nvmlDeviceGetFieldValues(pcie, 1, fields[1..].as_mut_ptr()) },
        SUCCESS
    );
    assert_eq!(fields[1].nvmlReturn, NOT_SUPPORTED);

    // CPU and memory affinity: the socket's CPUs and NUMA node
    let mut set = [0xA5 as c_ulong; 5];
    assert_eq!(
        unsafe { nvmlDeviceGetCpuAffinity(h100, 5, set.as_mut_ptr()) },
        SUCCESS
    );
    assert_eq!(
        set,
        [u64::MAX >> 8, 0xFFFFu64 << 48, (1u64 << 40) - 1, 0, 0].map(|w| w as c_ulong)
    );
    assert_eq!(
        set[0].count_ones() + set[1].count_ones() + set[2].count_ones(),
        112
    );
    let mut far = [0 as c_ulong; 4];
    assert_eq!(
        unsafe { nvmlDeviceGetCpuAffinityWithinScope(h200, 4, far.as_mut_ptr(), 1) },
        SUCCESS
    );
    assert!(
        far.iter().zip(&set).all(|(a, b)| a & b == 0) && far[0] >> 56 == 0xFF,
        "socket 1: CPUs 56-111"
    );
    assert_eq!(
        unsafe { nvmlDeviceGetCpuAffinity(h100, 0, set.as_mut_ptr()) },
        INVALID_ARGUMENT
    );
    assert_eq!(
        unsafe { nvmlDeviceGetCpuAffinity(h100, 4, null_mut()) },
        INVALID_ARGUMENT
    );
    assert_eq!(
        unsafe { nvmlDeviceGetCpuAffinityWithinScope(h100, 4, set.as_mut_ptr(), 2) },
        INVALID_ARGUMENT
    );
    let mut nodes = [9 as c_ulong; 1];
    assert_eq!(
        unsafe { nvmlDeviceGetMemoryAffinity(h200, 1, nodes.as_mut_ptr(), 0) },
        SUCCESS
    );
    assert_eq!(nodes, [0b10]);
    assert_eq!(
        unsafe { nvmlDeviceGetMemoryAffinity(h100, 1, nodes.as_mut_ptr(), 0) },
        SUCCESS
    );
    assert_eq!(nodes, [0b01]);
    assert_eq!(
        get(0, |p| unsafe { nvmlDeviceGetNumaNodeId(h200, p) }).0,
        NOT_SUPPORTED,
        "as the lent H200"
    );

    // PCIe paths and nearest GPUs
    let anc = |a, b| {
        get(99, |p| unsafe {
            nvmlDeviceGetTopologyCommonAncestor(a, b, p)
        })
    };
    assert_eq!(
        anc(h100, h100),
        (SUCCESS, sys::nvmlGpuLevel_enum_NVML_TOPOLOGY_INTERNAL)
    );
    assert_eq!(
        anc(h100, h100b),
        (SUCCESS, sys::nvmlGpuLevel_enum_NVML_TOPOLOGY_NODE)
    );
    assert_eq!(
        anc(h100, h200),
        (SUCCESS, sys::nvmlGpuLevel_enum_NVML_TOPOLOGY_SYSTEM)
    );
    assert_eq!(
        unsafe { nvmlDeviceGetTopologyCommonAncestor(h100, h200, null_mut()) },
        INVALID_ARGUMENT
    );
    let mut count: c_uint = 0;
    let node = sys::nvmlGpuLevel_enum_NVML_TOPOLOGY_NODE;
    assert_eq!(
        unsafe { nvmlDeviceGetTopologyNearestGpus(h200, node, &mut count, null_mut()) },
        SUCCESS
    );
    assert_eq!(count, 1, "count 0 asks how many");
    let mut near = [null_mut(); 4];
    count = 4;
    let system = sys::nvmlGpuLevel_enum_NVML_TOPOLOGY_SYSTEM;
    assert_eq!(
        unsafe { nvmlDeviceGetTopologyNearestGpus(h200, system, &mut count, near.as_mut_ptr()) },
        SUCCESS
    );
    assert_eq!(
        near[..count as usize]
            .iter()
            .map(|&d| index_of(d))
            .collect::<Vec<_>>(),
        [0, 1, 3]
    );
    assert_eq!(
        unsafe { nvmlDeviceGetTopologyNearestGpus(h200, node, null_mut(), null_mut()) },
        INVALID_ARGUMENT
    );
    count = 4;
    assert_eq!(
        unsafe { nvmlSystemGetTopologyGpuSet(170, &mut count, near.as_mut_ptr()) },
        SUCCESS
    );
    assert_eq!(
        near[..count as usize]
            .iter()
            .map(|&d| index_of(d))
            .collect::<Vec<_>>(),
        [2, 3],
        "CPU 170 is on socket 1"
    );
    assert_eq!(
        unsafe { nvmlSystemGetTopologyGpuSet(224, &mut count, near.as_mut_ptr()) },
        INVALID_ARGUMENT
    );

    // P2P: NVLink between the two H100 SXM5, PCIe reads within a socket only
    let p2p = |a, b, i| get(99, |p| unsafe { nvmlDeviceGetP2PStatus(a, b, i, p) });
    let nvlink = sys::nvmlGpuP2PCapsIndex_enum_NVML_P2P_CAPS_INDEX_NVLINK;
    let read = sys::nvmlGpuP2PCapsIndex_enum_NVML_P2P_CAPS_INDEX_READ;
    assert_eq!(
        p2p(h100, h100b, nvlink),
        (SUCCESS, sys::nvmlGpuP2PStatus_enum_NVML_P2P_STATUS_OK)
    );
    assert_eq!(
        p2p(h200, pcie, nvlink),
        (
            SUCCESS,
            sys::nvmlGpuP2PStatus_enum_NVML_P2P_STATUS_NOT_SUPPORTED
        )
    );
    assert_eq!(
        p2p(h200, pcie, read),
        (SUCCESS, sys::nvmlGpuP2PStatus_enum_NVML_P2P_STATUS_OK)
    );
    let across = sys::nvmlGpuP2PStatus_enum_NVML_P2P_STATUS_IOH_TOPOLOGY_NOT_SUPPORTED;
    assert_eq!(p2p(h100, pcie, read), (SUCCESS, across));
    assert_eq!(p2p(h100, h100b, 5).0, INVALID_ARGUMENT);

    // no GPU is excluded
    assert_eq!(
        get(9, |p| unsafe { nvmlGetExcludedDeviceCount(p) }),
        (SUCCESS, 0)
    );
    assert_eq!(
        unsafe { nvmlGetExcludedDeviceCount(null_mut()) },
        INVALID_ARGUMENT
    );
    let mut info: sys::nvmlExcludedDeviceInfo_t = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { nvmlGetExcludedDeviceInfoByIndex(0, &mut info) },
        INVALID_ARGUMENT
    );
    assert_eq!(nvmlShutdown(), SUCCESS);
}
