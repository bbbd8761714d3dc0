"""Drive MIG through pynvml (PyPI nvidia-ml-py), as an unmodified NVML client.

Run by crates/nvml-shim/tests/pynvml.rs with libnvidia-ml.so.1 (the shim) on
LD_LIBRARY_PATH and MIGCTL_SIM_STATE naming a simulated machine whose GPU 0 is
an H100 80GB with MIG disabled. Each phase prints one JSON object that the
Rust test compares with what the simulator itself reports.

    create   enable MIG; create GIs and CIs with and without placements;
             list GIs, CIs and MIG devices (UUIDs, names, IDs, attributes)
    busy     (a simulated process runs on one MIG device) list processes,
             and try to destroy its compute and GPU instance
    destroy  destroy every CI and GI, disable MIG
"""
import ctypes
import json
import sys

import pynvml as n


def err(fn, *args):
    """The NVML error text of a call expected to fail, or None if it succeeded."""
    try:
        fn(*args)
    except n.NVMLError as e:
        return str(e)
    return None


def text(value):
    return value.decode() if isinstance(value, bytes) else value


def addr(handle):
    return ctypes.cast(handle, ctypes.c_void_p).value


def gi_profile(dev, index):
    return n.nvmlDeviceGetGpuInstanceProfileInfo(dev, index)


def gpu_instances(dev):
    """Every GI of the GPU as (handle, info), over all profile indexes."""
    out = []
    for index in range(n.NVML_GPU_INSTANCE_PROFILE_COUNT):
        try:
            info = gi_profile(dev, index)
        except n.NVMLError:
            continue
        arr = (n.c_nvmlGpuInstance_t * info.instanceCount)()
        count = ctypes.c_uint(0)
        n.nvmlDeviceGetGpuInstances(dev, info.id, arr, ctypes.byref(count))
        for k in range(count.value):
            out.append((arr[k], n.nvmlGpuInstanceGetInfo(arr[k])))
    return sorted(out, key=lambda x: x[1].id)


def compute_instances(gi):
    """Every CI of a GI as (handle, info), over all CI profile indexes."""
    out = []
    for index in range(n.NVML_COMPUTE_INSTANCE_PROFILE_COUNT):
        try:
            info = n.nvmlGpuInstanceGetComputeInstanceProfileInfo(
                gi, index, n.NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED)
        except n.NVMLError:
            continue
        arr = (n.c_nvmlComputeInstance_t * info.instanceCount)()
        count = ctypes.c_uint(0)
        n.nvmlGpuInstanceGetComputeInstances(gi, info.id, arr, ctypes.byref(count))
        for k in range(count.value):
            out.append((arr[k], n.nvmlComputeInstanceGetInfo(arr[k])))
    return sorted(out, key=lambda x: x[1].id)


def layout(dev):
    gis = []
    for gi, info in gpu_instances(dev):
        cis = [{"id": c.id, "profile": c.profileId,
                "placement": [c.placement.start, c.placement.size]}
               for _, c in compute_instances(gi)]
        gis.append({"id": info.id, "profile": info.profileId,
                    "placement": [info.placement.start, info.placement.size],
                    "compute_instances": cis})
    return gis


def mig_devices(dev):
    out = []
    for i in range(n.nvmlDeviceGetMaxMigDeviceCount(dev)):
        try:
            mig = n.nvmlDeviceGetMigDeviceHandleByIndex(dev, i)
        except n.NVMLError_NotFound:
            continue
        uuid = n.nvmlDeviceGetUUID(mig)
        attrs = n.nvmlDeviceGetAttributes(mig)
        parent = n.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(mig)
        out.append({
            "index": i,
            "uuid": uuid,
            "name": n.nvmlDeviceGetName(mig),
            "gi": n.nvmlDeviceGetGpuInstanceId(mig),
            "ci": n.nvmlDeviceGetComputeInstanceId(mig),
            "is_mig": n.nvmlDeviceIsMigDeviceHandle(mig).value,
            "sm": attrs.multiprocessorCount,
            "memory_mb": attrs.memorySizeMB,
            "memory_total": n.nvmlDeviceGetMemoryInfo(mig).total,
            "parent_is_gpu0": addr(parent) == addr(dev),
            "by_uuid_same": addr(n.nvmlDeviceGetHandleByUUID(uuid)) == addr(mig),
        })
    return out


def create(dev):
    out = {"activation": n.nvmlDeviceSetMigMode(dev, n.NVML_DEVICE_MIG_ENABLE),
           "mig_mode": n.nvmlDeviceGetMigMode(dev),
           "max_mig_devices": n.nvmlDeviceGetMaxMigDeviceCount(dev)}
    p1 = gi_profile(dev, n.NVML_GPU_INSTANCE_PROFILE_1_SLICE)
    p2 = gi_profile(dev, n.NVML_GPU_INSTANCE_PROFILE_2_SLICE)
    p3 = gi_profile(dev, n.NVML_GPU_INSTANCE_PROFILE_3_SLICE)
    # pynvml passes the placement argument through as is: C wants a pointer.
    at44 = ctypes.byref(n.c_nvmlGpuInstancePlacement_t(4, 4))
    gi3 = n.nvmlDeviceCreateGpuInstanceWithPlacement(dev, p3.id, at44)
    gi1 = n.nvmlDeviceCreateGpuInstance(dev, p1.id)
    gi2 = n.nvmlDeviceCreateGpuInstance(dev, p2.id)
    out["second_3g_at_4"] = err(n.nvmlDeviceCreateGpuInstanceWithPlacement, dev, p3.id, at44)
    out["remaining_1g"] = n.nvmlDeviceGetGpuInstanceRemainingCapacity(dev, p1.id)

    shared = n.NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED
    c1 = n.nvmlGpuInstanceGetComputeInstanceProfileInfo(gi3, n.NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE, shared)
    c2 = n.nvmlGpuInstanceGetComputeInstanceProfileInfo(gi3, n.NVML_COMPUTE_INSTANCE_PROFILE_2_SLICE, shared)
    out["ci_profile_names"] = [text(c1.name), text(c2.name)]
    n.nvmlGpuInstanceCreateComputeInstance(gi3, c1.id)
    n.nvmlGpuInstanceCreateComputeInstanceWithPlacement(
        gi3, c2.id, ctypes.byref(n.c_nvmlComputeInstancePlacement_t(0, 2)))
    out["gi3_full"] = err(n.nvmlGpuInstanceCreateComputeInstance, gi3, c1.id)

    full1 = n.nvmlGpuInstanceGetComputeInstanceProfileInfo(gi1, n.NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE, shared)
    n.nvmlGpuInstanceCreateComputeInstance(gi1, full1.id)
    one = n.nvmlGpuInstanceGetComputeInstanceProfileInfo(gi2, n.NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE, shared)
    n.nvmlGpuInstanceCreateComputeInstance(gi2, one.id)
    n.nvmlGpuInstanceCreateComputeInstanceWithPlacement(
        gi2, one.id, ctypes.byref(n.c_nvmlComputeInstancePlacement_t(1, 1)))

    out["destroy_gi_with_cis"] = err(n.nvmlGpuInstanceDestroy, gi3)
    out["gpu_instances"] = layout(dev)
    out["mig_devices"] = mig_devices(dev)
    return out


def busy(dev):
    out = {"parent": [], "per_device": []}
    for p in n.nvmlDeviceGetComputeRunningProcesses(dev):
        out["parent"].append([p.pid, p.gpuInstanceId, p.computeInstanceId, p.usedGpuMemory])
    for d in mig_devices(dev):
        mig = n.nvmlDeviceGetHandleByUUID(d["uuid"])
        pids = [p.pid for p in n.nvmlDeviceGetComputeRunningProcesses(mig)]
        out["per_device"].append({"uuid": d["uuid"], "pids": pids,
                                  "used": n.nvmlDeviceGetMemoryInfo(mig).used})
    gi_id, ci_id = out["parent"][0][1], out["parent"][0][2]
    gi = n.nvmlDeviceGetGpuInstanceById(dev, gi_id)
    ci = n.nvmlGpuInstanceGetComputeInstanceById(gi, ci_id)
    out["destroy_busy_ci"] = err(n.nvmlComputeInstanceDestroy, ci)
    return out


def destroy(dev):
    last = None
    for gi, _ in gpu_instances(dev):
        for ci, _ in compute_instances(gi):
            n.nvmlComputeInstanceDestroy(ci)
        n.nvmlGpuInstanceDestroy(gi)
        last = gi
    out = {"left": layout(dev), "stale_gi": err(n.nvmlGpuInstanceGetInfo, last)}
    out["activation"] = n.nvmlDeviceSetMigMode(dev, n.NVML_DEVICE_MIG_DISABLE)
    out["mig_mode"] = n.nvmlDeviceGetMigMode(dev)
    out["max_mig_devices"] = n.nvmlDeviceGetMaxMigDeviceCount(dev)
    return out


def main():
    n.nvmlInit()
    try:
        dev = n.nvmlDeviceGetHandleByIndex(0)
        phase = {"create": create, "busy": busy, "destroy": destroy}[sys.argv[1]]
        print(json.dumps(phase(dev)))
    finally:
        n.nvmlShutdown()


if __name__ == "__main__":
    main()
