# Read-only NVML probe of the getters that take more than a handle: supported
# graphics clocks per memory clock, violation counters, NVLink, CPU and memory
# affinity, topology, P2P and excluded devices, each also with bad arguments
# (null pointers, a link past the last, a short buffer) to record the codes
# the real driver answers.
#
# Calls ONLY nvmlInit_v2, nvmlShutdown, nvmlDeviceGetCount_v2,
# nvmlDeviceGetHandleByIndex_v2, nvmlDeviceGetFieldValues and the getters in
# GETTERS below, through ctypes, so that each return code is recorded as the C
# API gives it; nothing on the GPU can change. Also records the output of the
# listing commands `nvidia-smi -q -d SUPPORTED_CLOCKS,PERFORMANCE`,
# `nvidia-smi nvlink -s`, `nvidia-smi topo -m` and the host's CPU count.
# Usage: python3 probe_topology.py OUT.json
import ctypes as C, json, os, subprocess, sys

GETTERS = {
    "nvmlDeviceGetSupportedMemoryClocks", "nvmlDeviceGetSupportedGraphicsClocks",
    "nvmlDeviceGetViolationStatus", "nvmlDeviceGetNvLinkState", "nvmlDeviceGetNvLinkVersion",
    "nvmlDeviceGetNvLinkCapability", "nvmlDeviceGetNvLinkRemotePciInfo_v2",
    "nvmlDeviceGetNvLinkRemoteDeviceType", "nvmlDeviceGetNvLinkErrorCounter",
    "nvmlDeviceGetNvLinkUtilizationCounter", "nvmlDeviceGetCpuAffinity",
    "nvmlDeviceGetCpuAffinityWithinScope", "nvmlDeviceGetMemoryAffinity", "nvmlDeviceGetNumaNodeId",
    "nvmlDeviceGetTopologyCommonAncestor", "nvmlDeviceGetTopologyNearestGpus",
    "nvmlSystemGetTopologyGpuSet", "nvmlDeviceGetP2PStatus", "nvmlGetExcludedDeviceCount",
    "nvmlGetExcludedDeviceInfoByIndex", "nvmlDeviceGetFieldValues", "nvmlDeviceGetIndex",
}
lib = C.CDLL("libnvidia-ml.so.1")
U, ULL, UL, P = C.c_uint, C.c_ulonglong, C.c_ulong, C.c_void_p
NULL = None


def f(name):
    assert name in GETTERS or name in ("nvmlInit_v2", "nvmlShutdown", "nvmlDeviceGetCount_v2",
                                      "nvmlDeviceGetHandleByIndex_v2"), name
    fn = getattr(lib, name)
    fn.restype = C.c_int
    return fn


class Pci(C.Structure):
    _fields_ = [("busIdLegacy", C.c_char * 16), ("domain", U), ("bus", U), ("device", U),
                ("pciDeviceId", U), ("pciSubSystemId", U), ("busId", C.c_char * 32)]


class Excl(C.Structure):
    _fields_ = [("pci", Pci), ("uuid", C.c_char * 80)]


class Field(C.Structure):
    _fields_ = [("fieldId", U), ("scopeId", U), ("timestamp", C.c_longlong), ("latencyUsec", C.c_longlong),
                ("valueType", U), ("nvmlReturn", U), ("value", ULL)]


def run(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        return {"rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr[-2000:]}
    except Exception as e:
        return {"exception": str(e)}


assert f("nvmlInit_v2")() == 0
cnt = U()
f("nvmlDeviceGetCount_v2")(C.byref(cnt))
hs = []
for i in range(cnt.value):
    h = P()
    f("nvmlDeviceGetHandleByIndex_v2")(U(i), C.byref(h))
    hs.append(h)
out = {"provenance": {"tool": "catalog/measured/probe_topology.py"}, "gpus": [], "system": {},
       "host": {"nproc": os.cpu_count(), "cpu_online": open("/sys/devices/system/cpu/online").read().strip()}}
s = out["system"]
for cpu in (0, 1):
    n = U(0)
    rc = f("nvmlSystemGetTopologyGpuSet")(U(cpu), C.byref(n), NULL)
    arr = (P * 16)()
    n2 = U(16)
    rc2 = f("nvmlSystemGetTopologyGpuSet")(U(cpu), C.byref(n2), arr)
    s[f"TopologyGpuSet(cpu{cpu})"] = {"rc_null_array": rc, "count_null_array": n.value, "rc": rc2, "count": n2.value}
s["TopologyGpuSet(null count)"] = f("nvmlSystemGetTopologyGpuSet")(U(0), NULL, NULL)
n = U(77)
s["ExcludedDeviceCount"] = {"rc": f("nvmlGetExcludedDeviceCount")(C.byref(n)), "value": n.value}
s["ExcludedDeviceCount(null)"] = f("nvmlGetExcludedDeviceCount")(NULL)
e = Excl()
s["ExcludedDeviceInfoByIndex(0)"] = f("nvmlGetExcludedDeviceInfoByIndex")(U(0), C.byref(e))
s["ExcludedDeviceInfoByIndex(0, null)"] = f("nvmlGetExcludedDeviceInfoByIndex")(U(0), NULL)

for i, h in enumerate(hs):
    g = {"index": i}
    # supported clocks
    n = U(0)
    g["SupportedMemoryClocks(count 0)"] = {"rc": f("nvmlDeviceGetSupportedMemoryClocks")(h, C.byref(n), NULL),
                                            "count": n.value}
    mem = (U * 64)()
    n = U(64)
    rc = f("nvmlDeviceGetSupportedMemoryClocks")(h, C.byref(n), mem)
    mems = list(mem[:n.value])
    g["SupportedMemoryClocks"] = {"rc": rc, "value": mems}
    for m in mems + [1234]:
        n = U(0)
        rc0 = f("nvmlDeviceGetSupportedGraphicsClocks")(h, U(m), C.byref(n), NULL)
        need = n.value
        arr = (U * 512)()
        n = U(512)
        rc = f("nvmlDeviceGetSupportedGraphicsClocks")(h, U(m), C.byref(n), arr)
        g[f"SupportedGraphicsClocks({m})"] = {"rc_null_array": rc0, "count_null_array": need, "rc": rc,
                                              "value": list(arr[:n.value])}
        if need > 1:
            n = U(need - 1)
            g[f"SupportedGraphicsClocks({m}, short)"] = {
                "rc": f("nvmlDeviceGetSupportedGraphicsClocks")(h, U(m), C.byref(n), arr), "count": n.value}
    if mems:
        g["SupportedGraphicsClocks(null count)"] = f("nvmlDeviceGetSupportedGraphicsClocks")(h, U(mems[0]), NULL, NULL)
    # violation counters per perf policy
    for pol in list(range(0, 12)) + [12, 99]:
        v = (ULL * 2)()
        rc = f("nvmlDeviceGetViolationStatus")(h, U(pol), v)
        g[f"ViolationStatus({pol})"] = {"rc": rc, "referenceTime": v[0], "violationTime": v[1]}
    g["ViolationStatus(0, null)"] = f("nvmlDeviceGetViolationStatus")(h, U(0), NULL)
    # NVLink, links 0..18 and a far one
    for link in list(range(0, 19)) + [64]:
        L = {}
        x = U(77)
        L["State"] = [f("nvmlDeviceGetNvLinkState")(h, U(link), C.byref(x)), x.value]
        x = U(77)
        L["Version"] = [f("nvmlDeviceGetNvLinkVersion")(h, U(link), C.byref(x)), x.value]
        for cap in range(0, 7):
            x = U(77)
            L[f"Capability({cap})"] = [f("nvmlDeviceGetNvLinkCapability")(h, U(link), U(cap), C.byref(x)), x.value]
        pci = Pci()
        rc = f("nvmlDeviceGetNvLinkRemotePciInfo_v2")(h, U(link), C.byref(pci))
        L["RemotePciInfo_v2"] = [rc, pci.busId.decode(errors="replace"), pci.pciDeviceId]
        x = U(77)
        L["RemoteDeviceType"] = [f("nvmlDeviceGetNvLinkRemoteDeviceType")(h, U(link), C.byref(x)), x.value]
        for ctr in range(0, 7):
            y = ULL(77)
            L[f"ErrorCounter({ctr})"] = [f("nvmlDeviceGetNvLinkErrorCounter")(h, U(link), U(ctr), C.byref(y)), y.value]
        for ctr in range(0, 3):
            rx, tx = ULL(77), ULL(77)
            L[f"UtilizationCounter({ctr})"] = [
                f("nvmlDeviceGetNvLinkUtilizationCounter")(h, U(link), U(ctr), C.byref(rx), C.byref(tx)), rx.value, tx.value]
        g[f"link{link}"] = L
    g["NvLinkState(0, null)"] = f("nvmlDeviceGetNvLinkState")(h, U(0), NULL)
    g["NvLinkVersion(0, null)"] = f("nvmlDeviceGetNvLinkVersion")(h, U(0), NULL)
    # NVLink field values: 91 LINK_COUNT, 147 NVSWITCH_CONNECTED_LINK_COUNT, 75..90 bandwidth etc.
    ids = [91, 147, 78, 87, 88, 89, 90, 75, 76, 77]
    fv = (Field * len(ids))()
    for k, fid in enumerate(ids):
        fv[k].fieldId = fid
    rc = f("nvmlDeviceGetFieldValues")(h, C.c_int(len(ids)), fv)
    # the value is a union: an unsigned int (type 1) fills its low 4 bytes only
    g["FieldValues"] = {"rc": rc, "fields": {
        str(x.fieldId): [x.nvmlReturn, x.valueType, x.value & 0xFFFFFFFF if x.valueType == 1 else x.value]
        for x in fv}}
    # affinity
    for words in (0, 1, 4, 64):
        arr = (UL * 64)(*([0xA5A5A5A5A5A5A5A5] * 64))
        rc = f("nvmlDeviceGetCpuAffinity")(h, U(words), arr if words else NULL)
        g[f"CpuAffinity({words})"] = {"rc": rc, "words": [hex(w) for w in arr[:max(words, 1)]]}
        for scope in (0, 1, 2):
            arr = (UL * 64)(*([0xA5A5A5A5A5A5A5A5] * 64))
            rc = f("nvmlDeviceGetCpuAffinityWithinScope")(h, U(words), arr if words else NULL, U(scope))
            g[f"CpuAffinityWithinScope({words},{scope})"] = {"rc": rc, "words": [hex(w) for w in arr[:max(words, 1)]]}
            arr = (UL * 64)(*([0xA5A5A5A5A5A5A5A5] * 64))
            rc = f("nvmlDeviceGetMemoryAffinity")(h, U(words), arr if words else NULL, U(scope))
            g[f"MemoryAffinity({words},{scope})"] = {"rc": rc, "words": [hex(w) for w in arr[:max(words, 1)]]}
    x = U(77)
    g["NumaNodeId"] = [f("nvmlDeviceGetNumaNodeId")(h, C.byref(x)), x.value]
    # topology
    for j, h2 in enumerate(hs):
        x = U(77)
        g[f"TopologyCommonAncestor(gpu{j})"] = [f("nvmlDeviceGetTopologyCommonAncestor")(h, h2, C.byref(x)), x.value]
        for idx in range(0, 8):
            x = U(77)
            g[f"P2PStatus(gpu{j},{idx})"] = [f("nvmlDeviceGetP2PStatus")(h, h2, U(idx), C.byref(x)), x.value]
    g["TopologyCommonAncestor(null)"] = f("nvmlDeviceGetTopologyCommonAncestor")(h, h, NULL)
    for level in (0, 10, 20, 30, 40, 50, 60, 7):
        n = U(0)
        rc0 = f("nvmlDeviceGetTopologyNearestGpus")(h, U(level), C.byref(n), NULL)
        c0 = n.value
        arr = (P * 16)()
        n = U(16)
        rc = f("nvmlDeviceGetTopologyNearestGpus")(h, U(level), C.byref(n), arr)
        g[f"TopologyNearestGpus({level})"] = {"rc_null_array": rc0, "count_null_array": c0, "rc": rc, "count": n.value}
    out["gpus"].append(g)
f("nvmlShutdown")()
smi = "nvidia-smi"
out["commands"] = {
    "nvidia-smi -q -d SUPPORTED_CLOCKS": run([smi, "-q", "-d", "SUPPORTED_CLOCKS"]),
    "nvidia-smi -q -d PERFORMANCE": run([smi, "-q", "-d", "PERFORMANCE"]),
    "nvidia-smi nvlink -s": run([smi, "nvlink", "-s"]),
    "nvidia-smi topo -m": run([smi, "topo", "-m"]),
    "nvidia-smi -L": run([smi, "-L"]),
}
for d in sorted(os.listdir("/sys/bus/pci/devices")):
    try:
        if open(f"/sys/bus/pci/devices/{d}/vendor").read().strip() == "0x10de":
            out["host"][d] = {k: open(f"/sys/bus/pci/devices/{d}/{k}").read().strip()
                              for k in ("numa_node", "local_cpulist", "class") if os.path.exists(f"/sys/bus/pci/devices/{d}/{k}")}
    except OSError:
        pass
json.dump(out, open(sys.argv[1], "w"), indent=1, sort_keys=True)
print("ok", len(out["gpus"]), "GPU(s)")
