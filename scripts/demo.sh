#!/usr/bin/env bash
# `make demo`: four hosts (network + mount namespaces) on this machine form a WireGuard mesh.
# Waits (with a deadline, polling) until every host has a handshake with each of the 3 others,
# shows `wgmesh info` from h1 and says how to look around and tear down.
set -euo pipefail
cd "$(dirname "$0")/.."

HOSTS=4
DEADLINE_S=60
WGMESH=(node packages/cli/bin/wgmesh.js)
SHOWN="node packages/cli/bin/wgmesh.js"

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: the lab creates network namespaces and needs root: sudo make demo" >&2
  exit 1
fi

"${WGMESH[@]}" lab up "$HOSTS"
echo

# Host names, mesh IPs and the interface, from the lab's own record.
status_json=$("${WGMESH[@]}" lab status -json)
read_status() {
  node -e '
    const s = JSON.parse(require("fs").readFileSync(0, "utf8"));
    if (process.argv[1] === "iface") console.log("wg" + s.mesh);
    else for (const h of s.hosts) console.log(h.name + " " + h.meshIp);
  ' "$1" <<<"$status_json"
}
iface=$(read_status iface)
mapfile -t host_lines < <(read_status hosts)
want=$(( ${#host_lines[@]} - 1 ))

# WireGuard handshakes on first traffic: each round pings the peers of every host still
# missing a handshake, then looks at `wg show IFACE latest-handshakes` again.
echo "waiting for every host to have a handshake with its $want peers (up to ${DEADLINE_S} s)..."
deadline=$(( SECONDS + DEADLINE_S ))
while :; do
  pending=()
  for line in "${host_lines[@]}"; do
    host=${line%% *}
    count=$("${WGMESH[@]}" lab exec "$host" wg show "$iface" latest-handshakes 2>/dev/null | awk '$2 > 0' | wc -l)
    if [ "$count" -lt "$want" ]; then pending+=("$host"); fi
  done
  if [ ${#pending[@]} -eq 0 ]; then break; fi
  if [ $SECONDS -ge $deadline ]; then
    echo "demo: no full mesh after ${DEADLINE_S} s; still waiting on: ${pending[*]}" >&2
    echo "      logs: /var/lib/wgmesh-lab/wgl/hK.log; remove the lab with: $SHOWN lab down" >&2
    exit 1
  fi
  for host in "${pending[@]}"; do
    targets=()
    for line in "${host_lines[@]}"; do
      [ "${line%% *}" = "$host" ] || targets+=("${line#* }")
    done
    "${WGMESH[@]}" lab exec "$host" sh -c 'for ip in "$@"; do ping -n -q -c 1 -W 1 "$ip" >/dev/null 2>&1 & done; wait' sh "${targets[@]}" || true
  done
done
echo "every host has a handshake with all $want peers"
echo

echo "\$ $SHOWN lab exec h1 wgmesh info"
"${WGMESH[@]}" lab exec h1 wgmesh info
echo
cat <<EOF
The lab is running. Try:
  $SHOWN lab exec h2 ping -c 3 ${host_lines[0]#* }     # any command, inside host h2
  $SHOWN lab exec h3 wg show $iface
  $SHOWN lab info                    # wgmesh info in h1 (add -json)
  $SHOWN lab add                     # a 5th host joins
Tear it down (stops every node, removes every namespace, mount and file):
  $SHOWN lab down
EOF
