#!/usr/bin/env bash
# Build the four simulated machines the real-nvidia-smi goldens were recorded on.
# usage: make-states.sh MIGCTL OUTDIR
set -euo pipefail
export MIGCTL_BACKEND=sim
m=$1; out=$2; mkdir -p "$out"
st() { export MIGCTL_SIM_STATE=$out/$1.json; }

# an A100 pair: GPU 0 MIG-enabled with a mixed layout, GPU 1 MIG-disabled
st a100-mixed
"$m" sim init a100-sxm4-40gb a100-sxm4-40gb >/dev/null
"$m" -i 0 -mig 1 >/dev/null
"$m" mig -i 0 -cgi 9,14,19,19 -C >/dev/null

# an H100 with several compute instances in one GPU instance
st h100-cis
"$m" sim init h100-sxm5-80gb >/dev/null
"$m" -i 0 -mig 1 >/dev/null
"$m" mig -i 0 -cgi 9 >/dev/null
"$m" mig -i 0 -gi 2 -cci 0,0,0 >/dev/null
"$m" mig -i 0 -cgi 14 -C >/dev/null

# an H200 with seven 1g instances
st h200-7x1g
"$m" sim init h200-sxm5-141gb >/dev/null
"$m" -i 0 -mig 1 >/dev/null
"$m" mig -i 0 -cgi 19,19,19,19,19,19,19 -C >/dev/null

# busy: an H100 pair, a process on a MIG device of GPU 0 and one on GPU 1 (MIG off)
st busy
"$m" sim init h100-sxm5-80gb h100-sxm5-80gb >/dev/null
"$m" -i 0 -mig 1 >/dev/null
"$m" mig -i 0 -cgi 9,19 -C >/dev/null
"$m" sim run --gpu 0 --gi 2 --ci 0 --name python --memory 6000 >/dev/null
"$m" sim run --gpu 1 --name trainer --memory 12000 >/dev/null

# one machine per catalog model: GPU 0 MIG-enabled with two instances of its
# smallest GPU-instance profile (each with its default CI), GPU 1 MIG-disabled
for model in $("$m" sim models | awk '{print $1}'); do
  st "board-$model"
  "$m" sim init "$model" "$model" >/dev/null
  "$m" -i 0 -mig 1 >/dev/null
  id=$("$m" mig -i 0 -lgip -o json | python3 -c '
import json, sys
p = json.load(sys.stdin)["gpus"][0]["profiles"]
print(min(p, key=lambda x: (x["placements"][0]["size"], x["memory_mib"]))["id"])')
  "$m" mig -i 0 -cgi "$id,$id" -C >/dev/null
done
