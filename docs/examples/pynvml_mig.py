"""List MIG devices through NVML (pynvml) and resolve the device nodes a
container needs, as the Kubernetes device plugin does: /dev/nvidia<minor>
plus the GI and CI capability nodes that
/proc/driver/nvidia/capabilities/gpu<minor>/mig/gi<G>[/ci<C>]/access name.

Run it on the simulated machine:  migctl sim exec -- python3 pynvml_mig.py
"""
import os
import stat

import pynvml as nvml


def cap_minor(path):
    for line in open(path):
        if line.startswith("DeviceFileMinor:"):
            return int(line.split(":")[1])
    raise ValueError(path + ": no DeviceFileMinor")


def node(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "missing"
    if stat.S_ISCHR(st.st_mode):
        return "char %d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
    return "placeholder file"


nvml.nvmlInit()
for i in range(nvml.nvmlDeviceGetCount()):
    dev = nvml.nvmlDeviceGetHandleByIndex(i)
    minor = nvml.nvmlDeviceGetMinorNumber(dev)
    print("GPU %d: %s (UUID: %s) /dev/nvidia%d [%s]" % (
        i, nvml.nvmlDeviceGetName(dev), nvml.nvmlDeviceGetUUID(dev), minor,
        node("/dev/nvidia%d" % minor)))
    current, _pending = nvml.nvmlDeviceGetMigMode(dev)
    if current != nvml.NVML_DEVICE_MIG_ENABLE:
        continue
    for j in range(nvml.nvmlDeviceGetMaxMigDeviceCount(dev)):
        try:
            mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(dev, j)
        except nvml.NVMLError_NotFound:
            continue
        gi = nvml.nvmlDeviceGetGpuInstanceId(mig)
        ci = nvml.nvmlDeviceGetComputeInstanceId(mig)
        caps = "/proc/driver/nvidia/capabilities/gpu%d/mig/gi%d" % (minor, gi)
        gi_node = "/dev/nvidia-caps/nvidia-cap%d" % cap_minor(caps + "/access")
        ci_node = "/dev/nvidia-caps/nvidia-cap%d" % cap_minor("%s/ci%d/access" % (caps, ci))
        print("  MIG GI %d CI %d (UUID: %s) %s [%s] %s [%s]" % (
            gi, ci, nvml.nvmlDeviceGetUUID(mig), gi_node, node(gi_node), ci_node, node(ci_node)))
nvml.nvmlShutdown()
