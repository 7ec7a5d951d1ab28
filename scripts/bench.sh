#!/usr/bin/env bash
# `make bench` (after `make build`): control-plane, one-vs-three-bootstraps (etcd), data-plane,
# relay and start-up benchmarks, written to bench/results.md (and printed). The control-plane part
# runs the bootstrap in a process of its own and the simulated agents in several more (full Agents
# up to 1,000, light gRPC clients above; see bench/control-plane.ts), up to 10,000 agents: it
# takes tens of minutes, needs several GB of memory and ~10,000 open files per process. Needs root: the data
# plane and the relay part run real WireGuard (wireguard-go) in network namespaces they create and
# remove again (labs "wgb" and "wgbr", namespaces wgp-a/wgp-b); the etcd part runs a 3-member etcd
# cluster in namespaces wgbetcd-* (198.51.100.208/28); the start-up part runs wgmesh and Nebula
# side by side in lab "wgbs" (Nebula's files in /tmp/wgmesh-bench-startup); the layer 2 part runs
# two nodes with -l2 in lab "wgbl2"; the rest part runs both meshes of 8 at rest in lab "wgbs"
# (after the start-up part) and a simulated node of 200 peers; the memory part runs a mesh of 8
# in lab "wgbs" once per node setting it compares (bench/node-memory.ts).
#
#   BENCH_SIZES=100,1000,5000,10000   control-plane sizes (its default); its other knobs
#     (BENCH_AGENT_PROCS, BENCH_FULL_MAX, BENCH_FULL_SAMPLE, BENCH_RESUME_FROM, BENCH_WAVE,
#     BENCH_CHANGES, BENCH_IDLE_S, BENCH_*_TIMEOUT_S, BENCH_CHILD_PROF) are described at the top of
#     bench/control-plane.ts
#   BENCH_ETCD_SIZE=1000 BENCH_ETCD_CHANGES=25   agents and changes of the etcd part (its defaults)
#   BENCH_CP_TIMEOUT=5400 BENCH_ETCD_TIMEOUT=900 BENCH_DP_TIMEOUT=240 BENCH_RELAY_TIMEOUT=240
#   BENCH_STARTUP_TIMEOUT=420  seconds allowed for each part
#   BENCH_DP_JOIN_ROUNDS, BENCH_DP_AB_ROUNDS, BENCH_DP_IPERF_SECONDS   see bench/data-plane.ts
#   BENCH_RELAY_ROUNDS, BENCH_RELAY_IPERF_SECONDS   see bench/relay.ts
#   BENCH_L2_ROUNDS=3 BENCH_L2_IPERF_SECONDS=5 BENCH_L2_TIMEOUT=180   see bench/l2.ts
#   BENCH_STARTUP_COLD_ROUNDS=5 BENCH_STARTUP_JOIN_ROUNDS=5 BENCH_STARTUP_INFO_ROUNDS=5
#                              rounds of the start-up part's cold mesh, one join and `wgmesh info`
#   BENCH_STARTUP_MEMORY_AGE_S=60   age of the joined node when memory is read
#   BENCH_STARTUP_LOG_LEVEL=info    the wgmesh nodes' log level there (see bench/startup.ts)
#   BENCH_REST_WINDOW_S=60 BENCH_REST_SIM_WINDOW_S=20 BENCH_REST_TIMEOUT=480   see bench/rest.ts
#   BENCH_MEMORY_AGE_S=60 BENCH_MEMORY_VARIANTS=(all) BENCH_MEMORY_TIMEOUT=720   see bench/node-memory.ts
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RESULTS=bench/results.md
CP_TIMEOUT=${BENCH_CP_TIMEOUT:-5400}
ETCD_TIMEOUT=${BENCH_ETCD_TIMEOUT:-900}
DP_TIMEOUT=${BENCH_DP_TIMEOUT:-240}
RELAY_TIMEOUT=${BENCH_RELAY_TIMEOUT:-240}
STARTUP_TIMEOUT=${BENCH_STARTUP_TIMEOUT:-420}
L2_TIMEOUT=${BENCH_L2_TIMEOUT:-180}
REST_TIMEOUT=${BENCH_REST_TIMEOUT:-480}
MEMORY_TIMEOUT=${BENCH_MEMORY_TIMEOUT:-720}
NODE_TS=(node --conditions=source --import tsx)
export TSX_TSCONFIG_PATH=${TSX_TSCONFIG_PATH:-$ROOT/tsconfig.test.json}

if [ "$(id -u)" -ne 0 ]; then
  echo "bench: the data-plane benchmark creates network namespaces and needs root: sudo make bench" >&2
  exit 1
fi
if [ ! -f packages/cli/bundle/commands/join.cjs ]; then
  echo "bench: the CLI is not built; run \`make build\` (or \`make bench\`) first" >&2
  exit 1
fi
if ! command -v iperf3 >/dev/null 2>&1; then
  echo "bench: apt-get install iperf3" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends iperf3 >/dev/null
fi
if ! command -v nebula >/dev/null 2>&1 || ! command -v nebula-cert >/dev/null 2>&1; then
  echo "bench: apt-get install nebula (the start-up part runs it beside wgmesh)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nebula >/dev/null
fi

work=$(mktemp -d)
child=""
# Parts that create namespaces, labs or an etcd cluster and have not finished cleanly: each tears
# down after itself, also on errors and signals, so this pass only matters for one killed
# outright. It removes only the benchmark's own labs, namespaces, etcd cluster and Nebula files.
needs_cleanup=()
cleanup() {
  local script
  for script in "${needs_cleanup[@]}"; do
    (cd bench && "${NODE_TS[@]}" "$script" --cleanup >/dev/null 2>&1) || true
  done
  rm -rf "$work"
}
on_signal() {
  local sig=$1
  trap - INT TERM HUP
  if [ -n "$child" ]; then
    kill -"$sig" "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  cleanup
  trap - EXIT
  exit $(( 128 + $(kill -l "$sig") ))
}
trap cleanup EXIT
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap 'on_signal HUP' HUP

# Runs one part in bench/, in the background (so a signal to this script can be passed on), with
# a time limit; its stdout goes to $1, its stderr (progress) to ours. Returns its exit status.
run_part() {
  local out=$1 limit=$2
  shift 2
  (cd bench && exec timeout --foreground -k 20 "$limit" "$@" >"$out") &
  child=$!
  local rc=0
  wait "$child" || rc=$?
  child=""
  return "$rc"
}

# Runs bench/SCRIPT as part NAME and writes $work/NAME-section.md: its markdown, or under TITLE
# a "Failed" line and what it measured before it stopped (PARTIAL: none; cat, all of it; tail, all
# but its own heading). BLANK=blank adds an empty line after a part's own markdown. A part
# that fails stays in needs_cleanup.
#   part NAME TIMEOUT TITLE PARTIAL BLANK SCRIPT
part() {
  local name=$1 limit=$2 title=$3 partial=$4 blank=$5 script=$6
  local out="$work/$name.md" section="$work/$name-section.md" rc=0
  needs_cleanup+=("$script")
  run_part "$out" "$limit" "${NODE_TS[@]}" "$script" || rc=$?
  if [ "$rc" -eq 0 ]; then
    cp "$out" "$section"
    if [ "$blank" = blank ]; then echo >>"$section"; fi
    unset 'needs_cleanup[-1]'   # it tore down after itself
    return 0
  fi
  {
    echo "## $title"
    echo
    echo "**Failed** (exit $rc$([ "$rc" -eq 124 ] && echo ", over ${limit} s")); its progress went to stderr."
    if [ -s "$out" ] && [ "$partial" = cat ]; then echo; cat "$out"; fi
    if [ -s "$out" ] && [ "$partial" = tail ]; then echo; tail -n +2 "$out"; fi
    echo
  } >"$section"
  status=1
}

# Machine facts.
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
[ -n "$cpu_model" ] || cpu_model=$(awk -F': ' '/^(Hardware|cpu model|Model)/ { print $2; exit }' /proc/cpuinfo)
mem_total=$(free -h | awk '/^Mem:/ { print $2 }')
{
  echo "# wgmesh benchmark results"
  echo
  echo "- date: $(date -u)"
  echo "- machine: $(nproc) CPUs ($cpu_model), $mem_total RAM, kernel $(uname -r)"
  echo "- Node.js: $(node --version)"
  echo "- etcd: $(dpkg-query -W -f '${Version}' etcd-server 2>/dev/null || echo unknown)"
  echo "- wireguard-go: $(dpkg-query -W -f '${Version}' wireguard-go 2>/dev/null || echo unknown); iperf3: $(iperf3 --version 2>/dev/null | head -1 | awk '{ print $2 }'); nebula: $(dpkg-query -W -f '${Version}' nebula 2>/dev/null || echo unknown)"
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
  echo
} >"$work/header.md"

status=0

echo "bench: control plane (sizes ${BENCH_SIZES:-100,1000,5000,10000}; up to ${CP_TIMEOUT} s)" >&2
cp_rc=0
run_part "$work/cp.md" "$CP_TIMEOUT" "${NODE_TS[@]}" control-plane.ts || cp_rc=$?
{
  echo "## Control plane (bootstrap and agents in processes of their own, real gRPC on loopback, bytes measured at the bootstrap's sockets)"
  echo
  if [ "$cp_rc" -eq 0 ]; then
    cat "$work/cp.md"
  else
    echo "**Failed** (exit $cp_rc$([ "$cp_rc" -eq 124 ] && echo ", over ${CP_TIMEOUT} s")); its progress went to stderr."
    if [ -s "$work/cp.md" ]; then echo; cat "$work/cp.md"; fi
  fi
  echo
} >"$work/cp-section.md"
[ "$cp_rc" -eq 0 ] || status=1

echo "bench: 1 bootstrap vs 3 on etcd (${BENCH_ETCD_SIZE:-1000} agents; up to ${ETCD_TIMEOUT} s)" >&2
part etcd "$ETCD_TIMEOUT" "Control plane: 1 bootstrap vs 3 on etcd" none blank etcd-bootstraps.ts

echo "bench: data plane (lab wgb, hand-configured pair; up to ${DP_TIMEOUT} s)" >&2
part dp "$DP_TIMEOUT" "Data plane (real WireGuard: wireguard-go in network namespaces)" none noblank data-plane.ts

echo "bench: relay (lab wgbr, h2/h3 behind NAT, relayed through h1 then direct; up to ${RELAY_TIMEOUT} s)" >&2
part relay "$RELAY_TIMEOUT" "Relay (real WireGuard: one pair relayed through the bootstrap, then direct)" tail noblank relay.ts

echo "bench: layer 2 (lab wgbl2, iperf3 over the bridge beside the mesh IPs; up to ${L2_TIMEOUT} s)" >&2
part l2 "$L2_TIMEOUT" "Layer 2 over the mesh (real WireGuard: a bridge with VXLAN over wireguard-go)" tail blank l2.ts

echo "bench: start-up and footprint, wgmesh beside Nebula (lab wgbs; up to ${STARTUP_TIMEOUT} s)" >&2
part startup "$STARTUP_TIMEOUT" "Start-up and footprint: wgmesh beside Nebula" none noblank startup.ts

echo "bench: a mesh at rest, wgmesh beside Nebula (lab wgbs; up to ${REST_TIMEOUT} s)" >&2
part rest "$REST_TIMEOUT" "A mesh at rest (8 nodes, beside Nebula in the same lab)" cat noblank rest.ts

echo "bench: what a node's memory is made of, settings for a small daemon (lab wgbs; up to ${MEMORY_TIMEOUT} s)" >&2
part memory "$MEMORY_TIMEOUT" "What a node's memory is made of (8-node lab, settings for a small daemon)" cat noblank node-memory.ts

# What limits the figures that miss their targets: profiling notes kept beside the results.
analysis=/dev/null
[ -f bench/analysis.md ] && analysis=bench/analysis.md
cat "$work/header.md" "$work/cp-section.md" "$work/etcd-section.md" "$work/dp-section.md" "$work/relay-section.md" "$work/l2-section.md" "$work/startup-section.md" "$work/rest-section.md" "$work/memory-section.md" "$analysis" >"$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
cat "$RESULTS"
echo "bench: wrote $RESULTS" >&2
exit "$status"
