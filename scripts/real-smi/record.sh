#!/usr/bin/env bash
# Record what the real nvidia-smi prints over the fake libnvidia-ml.so.1 for
# each simulated machine, and what migctl prints for the same commands on the
# same state. Listing and query commands only: nothing here changes a GPU.
# usage: record.sh DIR WORK TARBALL   (DIR holds migctl, lib/libnvidia-ml.so.1, states/*.json, fields.txt)
set -u
dir=$(cd "$1" && pwd); out=$2; mkdir -p "$out"
smi=$(command -v nvidia-smi)
fields=$(cat "$dir/fields.txt")
{
  echo "nvidia-smi: $smi"; "$smi" --version; echo "rc=$?"
  "$smi" -L; "$smi" --query-gpu=name,driver_version,vbios_version --format=csv
  uname -r; cat /proc/driver/nvidia/version 2>/dev/null
  ldd "$smi"
  MIGCTL_SIM_STATE=$(ls "$dir"/states/*.json | head -1) LD_LIBRARY_PATH="$dir/lib" LD_DEBUG=libs "$smi" -L 2>&1 | grep -i "nvidia-ml" | head
} >"$out/provenance.txt" 2>&1
"$smi" --help-query-gpu >"$out/help-query-gpu.txt" 2>&1
"$smi" --help-query-compute-apps >"$out/help-query-compute-apps.txt" 2>&1
# the real board's own views through the real library (listings only)
mkdir -p "$out/board"
"$smi" >"$out/board/default.txt" 2>&1
"$smi" -q >"$out/board/q.txt" 2>&1
"$smi" -q -x >"$out/board/qx.txt" 2>&1
for d in MEMORY UTILIZATION ECC TEMPERATURE POWER CLOCK COMPUTE PIDS PERFORMANCE SUPPORTED_CLOCKS PAGE_RETIREMENT ACCOUNTING \
    ENCODER_STATS SUPPORTED_GPU_TARGET_TEMP VOLTAGE FBC_STATS ROW_REMAPPER RESET_STATUS GSP_FIRMWARE_VERSION POWER_SMOOTHING \
    POWER_PROFILES MIG BOGUS MEMORY,ECC ECC,MEMORY MEMORY,BOGUS memory; do
  "$smi" -q -d $d >"$out/board/q-d-$d.txt" 2>&1; echo "rc=$?" >>"$out/board/q-d-$d.txt"
done
i=0; for a in "-q -i 0" "-q -i 5" "-q -d" "-d MEMORY" "-q -x -d MEMORY" "-q -d MEMORY -d ECC" "--display=MEMORY -q"; do
  i=$((i+1)); { echo "## $a"; "$smi" $a 2>&1; echo "rc=$?"; } >"$out/board/args-$i.txt"
done
"$smi" mig -lgip >"$out/board/mig-lgip.txt" 2>&1; echo "rc=$?" >>"$out/board/mig-lgip.txt"
# the real board through the real library, read-only, one field at a time
mkdir -p "$out/real"
for f in $fields; do
  ( timeout 30 "$smi" --query-gpu="$f" --format=csv >"$out/real/q-$f.txt" 2>&1; echo "rc=$?" >>"$out/real/q-$f.txt" ) &
done
# migctl through the real library on the real board, read-only: the same
# listings and queries, and the Kubernetes labels
mkdir -p "$out/real-migctl"
( export MIGCTL_BACKEND=nvml
  "$dir/migctl" -L >"$out/real-migctl/L.txt" 2>&1; echo "rc=$?" >>"$out/real-migctl/L.txt"
  "$smi" -L >"$out/real-migctl/L.smi.txt" 2>&1
  q="index,name,uuid,serial,pci.bus_id,pci.device_id,pci.sub_device_id,driver_version,vbios_version,memory.total,mig.mode.current,mig.mode.pending,persistence_mode,compute_mode,compute_cap,pstate,power.limit,power.default_limit,power.min_limit,power.max_limit,clocks.max.sm,clocks.max.mem,pcie.link.gen.max,pcie.link.width.max"
  "$dir/migctl" --query-gpu=$q --format=csv >"$out/real-migctl/query.txt" 2>&1; echo "rc=$?" >>"$out/real-migctl/query.txt"
  "$smi" --query-gpu=$q --format=csv >"$out/real-migctl/query.smi.txt" 2>&1
  "$dir/migctl" export k8s --strategy none >"$out/real-migctl/k8s.txt" 2>&1; echo "rc=$?" >>"$out/real-migctl/k8s.txt"
  all=$(echo $fields | tr ' ' ,)
  "$dir/migctl" --query-gpu=$all --format=csv >"$out/real-migctl/query-all.txt" 2>&1; echo "rc=$?" >>"$out/real-migctl/query-all.txt"
  "$smi" --query-gpu=$all --format=csv >"$out/real-migctl/query-all.smi.txt" 2>&1; echo "rc=$?" >>"$out/real-migctl/query-all.smi.txt"
  for v in "default" "-q" "mig -lgip" "mig -lgipp" "mig -lgi" "--query-compute-apps=pid,used_memory --format=csv"; do
    n=$(echo "$v" | tr -c 'a-z0-9\n' _)
    [ "$v" = default ] && v=""
    "$dir/migctl" $v >"$out/real-migctl/view-$n.txt" 2>&1; echo "rc=$?" >>"$out/real-migctl/view-$n.txt"
    "$smi" $v >"$out/real-migctl/view-$n.smi.txt" 2>&1; echo "rc=$?" >>"$out/real-migctl/view-$n.smi.txt"
  done
)
run() { # name, then the arguments
  local name=$1; shift
  printf '%s\t%s\n' "$name" "$*" >>"$o/cases.txt"
  ( export LD_LIBRARY_PATH="$dir/lib" MIGCTL_NVML_LOG=$o/log/$name.log; timeout 60 "$smi" "$@" ) >"$o/smi/$name.out" 2>"$o/smi/$name.err"
  echo $? >"$o/smi/$name.rc"
  ( export MIGCTL_BACKEND=sim; timeout 60 "$dir/migctl" "$@" ) >"$o/migctl/$name.out" 2>"$o/migctl/$name.err"
  echo $? >"$o/migctl/$name.rc"
}
machine() {
  local st=$1 s o
  s=$(basename "$st" .json); o=$out/$s; mkdir -p "$o/smi" "$o/migctl" "$o/log"
  export MIGCTL_SIM_STATE=$st
  run L -L
  run default
  for v in lgi lci lgip lgipp lcip lcipp; do run "mig-$v" mig -$v; done
  run q -q
  case $s in board-*) ;; *)
    for d in MEMORY UTILIZATION ECC TEMPERATURE POWER CLOCK COMPUTE PIDS PERFORMANCE SUPPORTED_CLOCKS; do run "q-d-$d" -q -d $d; done;;
  esac
  run q-d-mig -q -d MIG
  run qx -q -x
  run query-guide-vbios --query-gpu=vbios_version --format=csv
  run query-guide-i0 -i 0 --query-gpu=pci.bus_id,mig.mode.current --format=csv
  run query-all --query-gpu=$(echo $fields | tr ' ' ,) --format=csv
  run query-all-nn --query-gpu=$(echo $fields | tr ' ' ,) --format=csv,noheader,nounits
  case $s in board-*) ;; *) for f in $fields; do run "qf-$f" --query-gpu="$f" --format=csv; done;; esac
  run query-bad --query-gpu=index,no.such.field --format=csv
  run query-noformat --query-gpu=index
  run query-i9 -i 9 --query-gpu=index --format=csv
  run apps --query-compute-apps=pid,process_name,used_memory,gpu_uuid,gpu_bus_id,gpu_name,gpu_serial --format=csv
  run query-nounits --query-gpu=memory.total,power.draw,clocks.sm --format=csv,nounits
  run query-noheader --query-gpu=memory.total,power.draw --format=csv,noheader
  run apps-nn --query-compute-apps=pid,used_memory --format=csv,noheader,nounits
}
for st in "$dir"/states/*.json; do machine "$st" & done
wait
tar -C "$out" -czf "$3" .
