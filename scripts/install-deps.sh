#!/usr/bin/env bash
# Installs what wgmesh needs on a Debian machine, skipping whatever is already there.
# Used by `make demo`, `make test` and CI: nothing is ever installed by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=12.21.0

need_apt=()
command -v wg >/dev/null 2>&1          || need_apt+=(wireguard-tools)
command -v wireguard-go >/dev/null 2>&1 || need_apt+=(wireguard-go)
command -v ip >/dev/null 2>&1          || need_apt+=(iproute2)
command -v ping >/dev/null 2>&1        || need_apt+=(iputils-ping)
command -v openssl >/dev/null 2>&1     || need_apt+=(openssl)
command -v nsenter >/dev/null 2>&1     || need_apt+=(util-linux)
command -v turnserver >/dev/null 2>&1  || need_apt+=(coturn)
command -v iptables >/dev/null 2>&1    || need_apt+=(iptables)   # NAT routers in lab/e2e topologies
command -v tmux >/dev/null 2>&1        || need_apt+=(tmux)       # drives `wgmesh info` in a terminal test
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd) # verifies the unit files in deploy/systemd (test/sim)
command -v python3 >/dev/null 2>&1     || need_apt+=(python3-minimal) # delays lab paths in the RTT test (test/tools/nfqueue-delay.py)
# `wgmesh lab up -upnp`: miniupnpd on the NAT routers (the iptables flavour: the nftables one
# failed to add mappings here), and two independent port-mapping clients for the tests.
command -v miniupnpd >/dev/null 2>&1   || need_apt+=(miniupnpd-iptables)
command -v natpmpc >/dev/null 2>&1     || need_apt+=(natpmpc)
command -v upnpc >/dev/null 2>&1       || need_apt+=(miniupnpc)
# Several bootstraps sharing one mesh through etcd: the store's tests run a real 3-member cluster
# in network namespaces (test/helpers/etcd.ts), with etcdctl to wait for its health.
command -v etcd >/dev/null 2>&1        || need_apt+=(etcd-server)
command -v etcdctl >/dev/null 2>&1     || need_apt+=(etcd-client)
# `make bench` runs Nebula beside wgmesh in the same lab: side-by-side start-up/footprint figures
# (bench/startup.ts), with nebula-cert for its certificates.
command -v nebula >/dev/null 2>&1      || need_apt+=(nebula)
# `dig` asks the nodes' DNS servers in the names test (test/e2e/dns.test.ts), as users would.
command -v dig >/dev/null 2>&1         || need_apt+=(bind9-dnsutils)
# Layer 2 over the mesh (test/e2e/l2.test.ts, bench/l2.ts): a broadcast ARP answered by every node,
# a DHCP server (dnsmasq, no service: dnsmasq-base) and Debian's DHCP client across the bridge,
# and iperf3 for the bridge's throughput beside the mesh IPs'.
command -v arping >/dev/null 2>&1      || need_apt+=(iputils-arping)
command -v dnsmasq >/dev/null 2>&1     || need_apt+=(dnsmasq-base)
command -v dhclient >/dev/null 2>&1    || need_apt+=(isc-dhcp-client)
command -v iperf3 >/dev/null 2>&1      || need_apt+=(iperf3)
# `wgmesh ui`'s page is tested in a real browser (test/e2e/ui.test.ts): Debian's chromium, driven
# headless by playwright-core from npm (which downloads no browser of its own).
command -v chromium >/dev/null 2>&1    || need_apt+=(chromium)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing ${need_apt[*]}; run as root (apt-get install) or install them yourself" >&2
    exit 1
  fi
  echo "install-deps: apt-get install ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # miniupnpd's package asks (through debconf) whether to start a system-wide daemon: no. The
  # lab starts one per NAT router itself.
  if [[ " ${need_apt[*]} " == *" miniupnpd-iptables "* ]] && command -v debconf-set-selections >/dev/null 2>&1; then
    echo 'miniupnpd miniupnpd/start_daemon boolean false' | debconf-set-selections
  fi
  apt-get update -qq
  # --no-install-recommends: wireguard-tools would otherwise pull in a whole kernel image.
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # coturn's package starts a system-wide daemon on install; tests start their own on loopback.
  if [[ " ${need_apt[*]} " == *" coturn "* ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now coturn >/dev/null 2>&1 || true
  fi
  # Likewise miniupnpd, whatever debconf said: the lab runs its own, one per NAT router.
  if [[ " ${need_apt[*]} " == *" miniupnpd-iptables "* ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now miniupnpd >/dev/null 2>&1 || true
  fi
  # And etcd: the tests start their own cluster in namespaces; a system member would hold
  # 127.0.0.1:2379 and the data dir /var/lib/etcd for nothing.
  # Without systemd (containers) the package's init script may have started it: stop that too.
  if [[ " ${need_apt[*]} " == *" etcd-server "* ]]; then
    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now etcd >/dev/null 2>&1 || true; fi
    if [ -x /etc/init.d/etcd ]; then /etc/init.d/etcd stop >/dev/null 2>&1 || true; fi
  fi
fi

if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  echo "install-deps: npm install -g pnpm@$PNPM_VERSION" >&2
  npm install -g --silent "pnpm@$PNPM_VERSION" >/dev/null
fi

if [ ! -f node_modules/.modules.yaml ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ] || [ package.json -nt node_modules/.modules.yaml ]; then
  echo "install-deps: pnpm install" >&2
  CI=true pnpm install --frozen-lockfile --reporter=append-only >/dev/null
fi
