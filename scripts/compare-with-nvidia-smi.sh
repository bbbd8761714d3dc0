#!/usr/bin/env bash
# Read-only comparison of migctl with nvidia-smi on a machine with a real GPU:
# checks that both print the same bytes for the same queries, then times each
# query REPS times, alternating the two tools, and prints medians and ratios.
# Only read-only queries are run (-L, mig -lgip, mig -lgipp): nothing on the
# GPU is changed.
#
#   scripts/compare-with-nvidia-smi.sh [PATH_TO_MIGCTL] [REPS]
set -u
MIGCTL=${1:-target/release/migctl}
REPS=${2:-200}
export MIGCTL_BACKEND=${MIGCTL_BACKEND:-nvml}

queries=("-L" "mig -lgip" "mig -lgipp")
status=0
echo "driver: $(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)"
echo "gpu:    $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
for q in "${queries[@]}"; do
  # shellcheck disable=SC2086
  if cmp -s <(nvidia-smi $q 2>&1) <("$MIGCTL" $q 2>&1); then
    echo "same output: $q"
  else
    echo "DIFFERENT output: $q"
    # shellcheck disable=SC2086
    diff <(nvidia-smi $q 2>&1) <("$MIGCTL" $q 2>&1) | head -20
    status=1
  fi
done

# median wall time in microseconds of REPS runs of a command
median_us() {
  python3 - "$@" <<'PY'
import subprocess, sys, time, statistics
reps = int(sys.argv[1]); cmd = sys.argv[2:]
ts = []
for _ in range(reps):
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ts.append((time.perf_counter() - t) * 1e6)
print(int(statistics.median(ts)))
PY
}

printf '%-14s %14s %14s %8s\n' query nvidia-smi_us migctl_us ratio
for q in "${queries[@]}"; do
  # warm both, then alternate rounds of REPS/10 to share drift between them
  # shellcheck disable=SC2086
  nvidia-smi $q >/dev/null 2>&1; "$MIGCTL" $q >/dev/null 2>&1
  a=(); b=()
  for _ in $(seq 10); do
    # shellcheck disable=SC2086
    a+=("$(median_us $((REPS / 10)) nvidia-smi $q)")
    # shellcheck disable=SC2086
    b+=("$(median_us $((REPS / 10)) "$MIGCTL" $q)")
  done
  ma=$(printf '%s\n' "${a[@]}" | sort -n | sed -n 5p)
  mb=$(printf '%s\n' "${b[@]}" | sort -n | sed -n 5p)
  printf '%-14s %14s %14s %8s\n' "$q" "$ma" "$mb" "$(python3 -c "print(f'{$mb/$ma:.3f}')")"
done
exit $status
