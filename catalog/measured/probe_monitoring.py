# Read-only NVML probe of the monitoring getters on a real board (pynvml).
#
# Calls ONLY nvmlInit*, nvmlShutdown, nvmlSystemGet*, nvmlDeviceGetCount*,
# nvmlDeviceGetHandleByIndex and nvmlDeviceGet* getters; every name is
# checked against ALLOWED/FORBIDDEN below before it is called, so nothing on
# the GPU can change (no MIG mode, instances, clocks, power or settings).
# Usage: python3 probe_monitoring.py OUT.json
import ctypes, inspect, json, os, subprocess, sys
import pynvml as n

FORBIDDEN = ("Set", "Create", "Destroy", "Reset", "Clear", "Register", "Modify",
             "Enable", "Disable", "Remove", "Discover", "Freeze", "Inject", "Write",
             "Update", "Activate", "Force", "Alloc", "Free")
ALLOWED_PREFIXES = ("nvmlSystemGet", "nvmlDeviceGet")
# pynvml wrappers that also call a vGPU-type getter (outside the allowed prefixes).
EXCLUDED = {"nvmlDeviceGetVgpuTypeCreatablePlacements", "nvmlDeviceGetVgpuTypeSupportedPlacements"}


def allowed(name):
    return name.startswith(ALLOWED_PREFIXES) and not any(v in name for v in FORBIDDEN) \
        and "HandleBy" not in name and name not in EXCLUDED


def call(name, *args):
    assert allowed(name), name
    try:
        v = getattr(n, name)(*args)
    except n.NVMLError as e:
        return {"error": str(e)}
    except Exception as e:  # a pynvml wrapper bug, not a driver answer
        return {"exception": type(e).__name__ + ": " + str(e)[:200]}
    return {"value": plain(v)}


def plain(v):
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if hasattr(v, "_fields_"):
        return {k: plain(getattr(v, k)) for k, _ in v._fields_}
    if isinstance(v, ctypes.Array):
        return [plain(x) for x in v]
    if isinstance(v, (int, float, str, type(None), bool)):
        return v
    return repr(v)[:200]


def raw(name, *args):
    """Call a C getter directly; its return code."""
    assert allowed(name), name
    return n._nvmlGetFunctionPointer(name)(*args)


n.nvmlInit()
out = {"provenance": {"tool": "catalog/measured/probe_monitoring.py", "pynvml": getattr(n, "__version__", "?")},
       "system": {}, "gpus": []}
for name in sorted(dir(n)):
    f = getattr(n, name)
    if allowed(name) and name.startswith("nvmlSystemGet") and callable(f):
        try:
            params = len(inspect.signature(f).parameters)
        except (TypeError, ValueError):
            continue
        if params == 0:
            out["system"][name] = call(name)

# nvmlSystemGetProcessName: argv[0] (cmdline) or comm? A child whose argv[0]
# differs from its comm tells.
child = subprocess.Popen(["argv0-differs-from-comm", "30"], executable="/bin/sleep")
out["process_name"] = {"argv0": "argv0-differs-from-comm", "comm": open(f"/proc/{child.pid}/comm").read().strip(),
                       "nvml": call("nvmlSystemGetProcessName", child.pid)}
child.kill()

one_arg, skipped = [], []
for name in sorted(dir(n)):
    f = getattr(n, name)
    if not (allowed(name) and name.startswith("nvmlDeviceGet") and callable(f)):
        continue
    try:
        params = len(inspect.signature(f).parameters)
    except (TypeError, ValueError):
        continue
    (one_arg if params == 1 else skipped).append(name)

for i in range(n.nvmlDeviceGetCount()):
    h = n.nvmlDeviceGetHandleByIndex(i)
    g = {"index": i, "handle_only": {}, "with_args": {}, "abi": {}}
    for name in one_arg:
        g["handle_only"][name] = call(name, h)
    w = g["with_args"]
    for s in range(0, 3):
        w[f"nvmlDeviceGetTemperature({s})"] = call("nvmlDeviceGetTemperature", h, s)
    for t in range(0, 9):
        w[f"nvmlDeviceGetTemperatureThreshold({t})"] = call("nvmlDeviceGetTemperatureThreshold", h, t)
    for c in range(0, 5):
        for fn in ("nvmlDeviceGetClockInfo", "nvmlDeviceGetMaxClockInfo", "nvmlDeviceGetApplicationsClock",
                   "nvmlDeviceGetDefaultApplicationsClock", "nvmlDeviceGetMaxCustomerBoostClock"):
            w[f"{fn}({c})"] = call(fn, h, c)
        for cid in range(0, 4):
            w[f"nvmlDeviceGetClock({c},{cid})"] = call("nvmlDeviceGetClock", h, c, cid)
    for fan in range(0, 2):
        w[f"nvmlDeviceGetFanSpeed_v2({fan})"] = call("nvmlDeviceGetFanSpeed_v2", h, fan)
    for et in range(0, 2):
        for ct in range(0, 2):
            w[f"nvmlDeviceGetTotalEccErrors({et},{ct})"] = call("nvmlDeviceGetTotalEccErrors", h, et, ct)
    for c in range(0, 3):
        w[f"nvmlDeviceGetPcieThroughput({c})"] = call("nvmlDeviceGetPcieThroughput", h, c)
    w["nvmlDeviceGetGpuInstanceRemainingCapacity(19)"] = call("nvmlDeviceGetGpuInstanceRemainingCapacity", h, 19)

    # ABI: how many bytes each nvmlDeviceGetPciInfo symbol writes (guard bytes).
    for sym in ("nvmlDeviceGetPciInfo", "nvmlDeviceGetPciInfo_v2", "nvmlDeviceGetPciInfo_v3"):
        buf = (ctypes.c_ubyte * 256)(*([0xA5] * 256))
        rc = raw(sym, h, ctypes.byref(buf))
        last = max([k for k in range(256) if buf[k] != 0xA5], default=-1)
        g["abi"][sym] = {"rc": rc, "last_byte_written": last}
    # Placement lists: is *count read on input? (profile 19 = 1g, 7 placements)
    for sym in ("nvmlDeviceGetGpuInstancePossiblePlacements_v2", "nvmlDeviceGetGpuInstancePossiblePlacements"):
        res = {}
        for count_in in (0, 3, 16):
            arr = (ctypes.c_uint * 64)(*([0xA5A5A5A5] * 64))
            cnt = ctypes.c_uint(count_in)
            rc = raw(sym, h, ctypes.c_uint(19), ctypes.byref(arr), ctypes.byref(cnt))
            res[str(count_in)] = {"rc": rc, "count_out": cnt.value,
                                  "pairs_written": sum(1 for k in range(0, 64, 2) if arr[k] != 0xA5A5A5A5)}
        cnt = ctypes.c_uint(0)
        res["null_array"] = {"rc": raw(sym, h, ctypes.c_uint(19), None, ctypes.byref(cnt)), "count_out": cnt.value}
        g["abi"][sym] = res
    out["gpus"].append(g)
out["multi_arg_getters_not_called"] = skipped
n.nvmlShutdown()
json.dump(out, open(sys.argv[1], "w"), indent=1, sort_keys=True)
print("ok", len(one_arg), "handle-only getters on", len(out["gpus"]), "GPU(s)")
