#!/usr/bin/env bash
# A real Slurm cluster on one machine, fed by migctl: slurmctld on the host and
# two slurmd "hosts", each in its own network namespace with its own address
# (or, where namespaces cannot be made, on 127.0.0.1 with a port each),
# each a different simulated machine (an A100 node with a balanced layout, an
# H100 node with 7x 1g.10gb), each with its own config directory holding the
# gres.conf `migctl export slurm` wrote and device nodes `migctl caps --create`
# made under its test root (parent /dev/nvidia0 by mknod). It shows:
#   1. `scontrol show node` reporting each MIG type with migctl's counts, and
#      `slurmd -G` on each host reading the same records;
#   2. jobs with --gres=gpu:<type>:1 landing on the node that has the type,
#      with CUDA_VISIBLE_DEVICES the index of that record;
#   3. a layout change (migctl apply of a mig-parted config on the H100 sim), the
#      documented reload (new gres.conf and Gres=, scontrol reconfigure,
#      restart of that slurmd), and Slurm seeing the new counts, no drain;
#   4. a job whose process runs on a MIG device (`migctl sim run` inside the
#      job), which `migctl exporter` labels with the job's ID (read from the
#      process's cgroup, or its SLURM_JOB_ID where no cgroup plugin names it).
# Usage: cluster.sh MIGCTL_BINARY. Needs root, slurmctld, slurmd, munged, ip.
set -euo pipefail
MIGCTL=$(readlink -f "$1")
W=$(mktemp -d /tmp/migctl-slurm.XXXXXX)
chmod 755 "$W"
ID=$(( $$ % 200 + 20 ))
PORT_CTL=$(( 17000 + $$ % 1000 ))
PORT_D=$(( 18000 + $$ % 1000 ))
NODES=(a100 h100)
PIDS=()
step() { echo "== $*"; }
fail() { echo "FAIL: $*"; for f in "$W"/*.log; do echo "--- $f"; tail -20 "$f"; done; exit 1; }

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for i in 1 2; do
    ip netns del "mc$$-$i" 2>/dev/null || true
    ip link del "mc$$h$i" 2>/dev/null || true
  done
  [ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT

# Isolation: each host in its own network namespace with its own address;
# where namespaces cannot be made (an unprivileged container), both slurmd
# share 127.0.0.1 with a port each (Port= on each NodeName, slurmd -N).
NETNS=1
if [ -n "${MIGCTL_SLURM_NO_NETNS:-}" ] || ! ip netns add "mc$$-probe" 2>/dev/null; then
  NETNS=
else
  ip netns del "mc$$-probe"
fi
addr() { if [ -n "$NETNS" ]; then echo "10.$ID.$1.$2"; else echo 127.0.0.1; fi; }
in_host() { local i=$1; shift; if [ -n "$NETNS" ]; then nsenter --net="/run/netns/mc$$-$i" "$@"; else "$@"; fi; }
H100_PORT=$PORT_D
[ -n "$NETNS" ] || H100_PORT=$(( PORT_D + 1 ))

export MIGCTL_BACKEND=sim
sim() { local node=$1; shift; MIGCTL_SIM_STATE="$W/$node.json" "$MIGCTL" "$@"; }

step "simulated machines"
sim a100 sim init a100-sxm4-40gb >/dev/null
sim a100 -i 0 -mig 1 >/dev/null
sim a100 mig -cgi 9,14,19,19 -i 0 -C >/dev/null   # balanced: 3g.20gb, 2g.10gb, 2x 1g.5gb
sim h100 sim init h100-sxm5-80gb >/dev/null
sim h100 -i 0 -mig 1 >/dev/null
sim h100 mig -cgi 19,19,19,19,19,19,19 -i 0 -C >/dev/null
sim a100 -L; sim h100 -L

# Per host: device nodes under its root, gres.conf and the Gres= string.
make_host() {
  local node=$1
  mkdir -p "$W/$node/etc" "$W/$node/dev"
  sim "$node" caps --create --root "$W/$node" >/dev/null
  [ -e "$W/$node/dev/nvidia0" ] || mknod -m 666 "$W/$node/dev/nvidia0" c 195 0
  sim "$node" export slurm --dev-prefix "$W/$node" --node-name "$node" --gres-conf "$W/$node/etc/gres.conf" 2>/dev/null
  sim "$node" export slurm --print node-gres | sed 's/^Gres=//' > "$W/$node/gres"
  # AccountingStorageTRES needs slurmdbd (slurmctld: "slurmdbd is required
  # to run with TRES gres/gpu"), which this test does not run; its types
  # must be exactly gres/gpu and one gres/gpu:<type> per Gres= type.
  local tres want
  tres=$(sim "$node" export slurm --print tres)
  want="AccountingStorageTRES=gres/gpu$(tr ',' '\n' < "$W/$node/gres" | sed 's/^gpu:\(.*\):[0-9]*$/,gres\/gpu:\1/' | tr -d '\n')"
  [ "$tres" = "$want" ] || fail "$node: $tres, want $want"
}

write_conf() {
  cat > "$W/slurm.conf" <<CONF
ClusterName=migctl
SlurmctldHost=$(cut -d. -f1 /proc/sys/kernel/hostname)($(addr 1 1))
SlurmctldPort=$PORT_CTL
SlurmdPort=$PORT_D
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$W/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$W/ctld-state
SlurmdSpoolDir=$W/spool-%n
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd-%n.pid
SlurmctldLogFile=$W/slurmctld.log
SlurmdLogFile=$W/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
GresTypes=gpu
ReturnToService=2
MpiDefault=none
NodeName=a100 NodeAddr=$(addr 1 2) Port=$PORT_D CPUs=1 RealMemory=100 Gres=$(cat "$W/a100/gres") State=UNKNOWN
NodeName=h100 NodeAddr=$(addr 2 2) Port=$H100_PORT CPUs=1 RealMemory=100 Gres=$(cat "$W/h100/gres") State=UNKNOWN
PartitionName=gpu Nodes=a100,h100 Default=YES MaxTime=5 State=UP
CONF
  # slurmd 22.05 always loads a cgroup plugin; on cgroup v2 hosts without
  # systemd (CI containers) it must not ask systemd for a scope.
  printf 'CgroupPlugin=autodetect\nIgnoreSystemd=yes\n' > "$W/cgroup.conf"
  mkdir -p "$W/ctl"
  for d in "$W/ctl" "$W/a100/etc" "$W/h100/etc"; do cp "$W/slurm.conf" "$W/cgroup.conf" "$d/"; done
}

step "device nodes, gres.conf and slurm.conf from migctl"
for n in "${NODES[@]}"; do make_host "$n"; echo "--- $n gres.conf"; cat "$W/$n/etc/gres.conf"; done
write_conf
ls -l "$W/h100/dev/nvidia-caps" | head -5

step "munge"
dd if=/dev/urandom of="$W/munge.key" bs=1024 count=1 2>/dev/null
chmod 400 "$W/munge.key"
munged --socket="$W/munge.socket" --key-file="$W/munge.key" --pid-file="$W/munged.pid" \
  --log-file="$W/munged.log" --seed-file="$W/munge.seed" --force
PIDS+=("$(cat "$W/munged.pid")")

if [ -n "$NETNS" ]; then step "network namespaces: one address per host"; else step "no network namespaces here: one address, a port per slurmd"; fi
for i in $([ -n "$NETNS" ] && echo 1 2); do
  ns="mc$$-$i"
  ip netns add "$ns"
  ip link add "mc$$h$i" type veth peer name "mc$$n$i"
  ip link set "mc$$n$i" netns "$ns"
  ip addr add "10.$ID.$i.1/24" dev "mc$$h$i"
  ip link set "mc$$h$i" up
  ip netns exec "$ns" ip link set lo up
  ip netns exec "$ns" ip addr add "10.$ID.$i.2/24" dev "mc$$n$i"
  ip netns exec "$ns" ip link set "mc$$n$i" up
  ip netns exec "$ns" ip route add default via "10.$ID.$i.1"
done

export SLURM_CONF="$W/ctl/slurm.conf"
mkdir -p "$W/ctld-state"
start_slurmctld() {
  slurmctld "$@" -D -f "$W/ctl/slurm.conf" >>"$W/slurmctld.out" 2>&1 &
  PIDS+=($!)
  SLURMCTLD=$!
}
start_slurmctld -c
start_slurmd() {
  local node=$1 i=$2
  mkdir -p "$W/spool-$node"
  in_host "$i" slurmd -D -N "$node" -f "$W/$node/etc/slurm.conf" >"$W/slurmd-$node.out" 2>&1 &
  PIDS+=($!)
  eval "SLURMD_$node=$!"
}
start_slurmd a100 1
start_slurmd h100 2

wait_idle() {
  for _ in $(seq 1 40); do
    local st
    st=$(timeout 3 sinfo -h -N -o '%N %T' 2>/dev/null | sort | paste -sd' ' || true)
    [ "$st" = "a100 idle h100 idle" ] && { echo "nodes: $st"; return 0; }
    sleep 0.5
  done
  sinfo -N -o '%N %T %E' || true
  fail "nodes did not become idle"
}
step "waiting for both nodes"
wait_idle

# Slurm's view of a node's GPU types equals migctl's Gres= string.
check_node() {
  local node=$1
  local want got
  want=$(cat "$W/$node/gres")
  got=$(scontrol show node "$node" | grep -o ' Gres=[^ ]*' | sed 's/^ Gres=//')
  echo "scontrol show node $node: Gres=$got"
  [ "$got" = "$want" ] || fail "$node: scontrol Gres=$got, migctl Gres=$want"
  scontrol show node "$node" | grep -q 'State=IDLE ' || fail "$node not idle: $(scontrol show node "$node" | grep State=)"
  # What the host's slurmd itself read from gres.conf: per type, the count.
  local i=1; [ "$node" = h100 ] && i=2
  local detected
  detected=$(in_host "$i" slurmd -G -N "$node" -f "$W/$node/etc/slurm.conf" 2>&1 \
    | grep -o 'Type=[^ ]*' | sed 's/Type=//' | awk '{c[$0]++; if(!o[$0]++) l[n++]=$0} END{for(k=0;k<n;k++) printf "%sgpu:%s:%d", (k?",":""), l[k], c[l[k]]}')
  echo "slurmd -G on $node: $detected"
  [ "$detected" = "$want" ] || fail "$node: slurmd -G read $detected, migctl Gres=$want"
}

# A job asking for one device of a type lands where it exists and sees the
# index of the first such record in that host's gres.conf.
run_job() {
  local type=$1 want_node=$2 out="$W/job-$1.out"
  sbatch -W -Q --gres="gpu:$type:1" -o "$out" \
    --wrap 'echo "node=$SLURMD_NODENAME CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"' >/dev/null \
    || fail "job for $type failed: $(cat "$out" 2>/dev/null)"
  local want_idx
  want_idx=$(grep '^Name=gpu' "$W/$want_node/etc/gres.conf" | grep -n " Type=$type " | head -1 | cut -d: -f1)
  want_idx=$(( want_idx - 1 ))
  echo "job --gres=gpu:$type:1: $(cat "$out")"
  grep -qx "node=$want_node CUDA_VISIBLE_DEVICES=$want_idx" "$out" \
    || fail "job for $type: want node=$want_node CUDA_VISIBLE_DEVICES=$want_idx"
  local uuid
  uuid=$(MIGCTL_SIM_STATE="$W/$want_node.json" "$MIGCTL" export slurm --output json \
    | python3 -c "import json,sys; print(json.load(sys.stdin)['records'][$want_idx]['unique_id'])")
  echo "  gres index $want_idx on $want_node is $uuid"
}

step "1. each MIG type with migctl's count"
check_node a100
check_node h100
step "2. jobs land where their type is"
run_job nvidia_a100_2g.10gb a100
run_job nvidia_a100_1g.5gb a100
run_job nvidia_h100_80gb_hbm3_1g.10gb h100

step "3. layout change on the H100 node: two 1g.10gb become one 2g.20gb"
cat > "$W/h100-change.yaml" <<'YAML'
version: v1
mig-configs:
  five-1g-one-2g:
    - devices: all
      mig-enabled: true
      mig-devices:
        "1g.10gb": 5
        "2g.20gb": 1
YAML
sim h100 apply -f "$W/h100-change.yaml" -c five-1g-one-2g >/dev/null 2>&1 \
  || fail "migctl apply of the new H100 layout failed"
sim h100 assert -f "$W/h100-change.yaml" -c five-1g-one-2g >/dev/null \
  || fail "migctl assert after apply failed"
sim h100 -L
make_host h100
write_conf
echo "--- h100 gres.conf"; cat "$W/h100/etc/gres.conf"
# The reload: new gres.conf on the host and Gres= in slurm.conf everywhere;
# stop slurmd on the changed host, restart slurmctld, start that slurmd.
# (`scontrol reconfigure` is not enough: slurmctld 22.05 refuses "Attempt to
# change gres/gpu Count on node h100 from 7 to 6 invalid with File
# configuration", and the node then drains with "gres/gpu count reported
# lower than configured (6 < 7)".)
kill "$SLURMD_h100"; wait "$SLURMD_h100" 2>/dev/null || true
kill "$SLURMCTLD"; wait "$SLURMCTLD" 2>/dev/null || true
start_slurmctld
start_slurmd h100 2
wait_idle
check_node h100
check_node a100
run_job nvidia_h100_80gb_hbm3_2g.20gb h100
reasons=$(sinfo -h -R)
[ -z "$reasons" ] || fail "a node is down or drained: $reasons"
echo "no node drained"

step "4. a job's process on a MIG device, labelled with its job ID by migctl exporter"
gi=$(sim h100 mig -lgi | awk '$3 == "MIG" && $4 == "1g.10gb" {print $6; exit}')
[ -n "$gi" ] || fail "no 1g.10gb GPU instance on the H100 node"
job=$(sbatch --parsable -w h100 --gres="gpu:nvidia_h100_80gb_hbm3_1g.10gb:1" -o "$W/job-exporter.out" \
  --wrap "MIGCTL_SIM_STATE=$W/h100.json exec $MIGCTL sim run --gpu 0 --gi $gi --ci 0 --memory 1234 -- sleep 60") \
  || fail "sbatch of the MIG job failed"
line=
for _ in $(seq 1 60); do
  line=$(sim h100 exporter --once | grep '^migctl_process_memory_used_bytes{' || true)
  [ -n "$line" ] && break
  sleep 0.5
done
echo "exporter: $line"
scancel "$job" || true
case "$line" in
  *"GPU_I_ID=\"$gi\""*"name=\"sleep\""*"slurm_job=\"$job\""*" 1293942784") ;;
  *) fail "exporter did not label the job's process with job $job on GI $gi: ${line:-no process series}; job output: $(cat "$W/job-exporter.out" 2>/dev/null)" ;;
esac
echo "PASS: no node drained; the exporter names job $job"
