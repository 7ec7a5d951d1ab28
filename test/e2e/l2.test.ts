/**
 * Layer 2 over the mesh (bootstrap -l2), in a 4-host lab with real wireguard-go: every node has a
 * bridge br<MESH> with a VXLAN device that floods to every peer. Checked from inside the hosts as a
 * user would: pings between the bridges' addresses, ARP broadcasts answered, a DHCP server (dnsmasq)
 * in h1 leasing to DHCP clients (ISC dhclient) on h2-h4 across the mesh, and a node that leaves
 * gone from every other node's flood list within a second.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { deriveVni } from '@wgmesh/agent/l2/l2';
import { commandOnPath, hostCommand, hostExec, labDown, labEnv, labKillNode, labPaths, labRestartNode, labUp, localNodeInfo, REPO_ROOT, waitForMesh, type LabState } from '@wgmesh/cli/lab';
import { e2eWgmeshCommand, labSkipReason, meshIps } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wgl2';
const MESH = 'l2m';
const BRIDGE = `br${MESH}`;
const VXLAN = `vx${MESH}`;
const HOSTS = ['h1', 'h2', 'h3', 'h4'] as const;
/** Each host's bridge address (-l2-addr): a private /24 that exists only inside the lab. */
const bridgeIp = (host: string) => `10.99.0.${host.slice(1)}`;
/** h2-h4's DHCP client port: a veth whose other end (-l2-bridge-if) is in the bridge. */
const CLIENT_IF = 'l2c';
const PORT_IF = 'l2p';

let skip = await labSkipReason({ wireguard: true });
if (!skip) {
  const missing = [];
  for (const c of ['arping', 'dnsmasq', 'dhclient', 'bridge']) if (!(await commandOnPath(c, process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'))) missing.push(c);
  if (missing.length) skip = `needs ${missing.join(', ')} (make deps installs them)`;
}

describe('layer 2 over the mesh', { skip: skip ?? false }, () => {
  let lab: LabState;
  let ips: Map<string, string>;
  let dir: string;
  /** Processes this test started (dnsmasq, dhclient): stopped by PID at the end, whatever happened. */
  const started: ChildProcess[] = [];

  async function run(host: string, cmd: readonly string[], timeoutMs = 15_000) {
    return hostExec(lab, host, cmd, { timeoutMs });
  }

  async function ok(host: string, cmd: readonly string[], timeoutMs = 15_000): Promise<string> {
    const r = await run(host, cmd, timeoutMs);
    assert.equal(r.code, 0, `${cmd.join(' ')} in ${host}: exit ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** The mesh IPs a host's VXLAN device floods to, read from the device. */
  async function flood(host: string): Promise<string[]> {
    const out = await ok(host, ['bridge', '-j', 'fdb', 'show', 'dev', VXLAN]);
    return (JSON.parse(out || '[]') as { mac: string; dst?: string }[]).filter((e) => e.mac === '00:00:00:00:00:00' && e.dst).map((e) => e.dst!).sort();
  }

  /** A long-running command in a host, ours: its output kept, stopped by its PID in after(). */
  function daemon(host: string, cmd: readonly string[]): { child: ChildProcess; output: () => string } {
    const [file, ...args] = hostCommand(lab, host, cmd, false);
    const child = spawn(file!, args, { stdio: ['ignore', 'pipe', 'pipe'], env: labEnv(), cwd: REPO_ROOT });
    started.push(child);
    let output = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (output += c));
    return { child, output: () => output };
  }

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-l2-'));
    await labDown({ name: LAB });
    lab = (await labUp({ name: LAB, hosts: HOSTS.length, mesh: MESH, wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 60_000, bootstrapArgs: ['-l2'] })).lab;
    // Each node again with its own bridge address; h2-h4 with a veth end in the bridge for a DHCP client.
    for (const host of HOSTS) {
      const extra = ['-l2-addr', `${bridgeIp(host)}/24`];
      if (host !== 'h1') {
        await ok(host, ['ip', 'link', 'add', PORT_IF, 'type', 'veth', 'peer', 'name', CLIENT_IF]);
        await ok(host, ['ip', 'link', 'set', CLIENT_IF, 'up']);
        extra.push('-l2-bridge-if', PORT_IF);
      }
      await labRestartNode(lab, host, { args: extra, wait: false });
    }
    lab = await waitForMesh(LAB, { timeoutMs: 60_000 });
    ips = meshIps(lab);
  });

  after(async () => {
    for (const child of started) if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGTERM');
    await Promise.all(started.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('close', r)) : undefined)));
    await labDown({ name: LAB });
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('every node has the bridge and VXLAN device at the wg MTU less 50, flooding to its 3 peers; info shows it', async () => {
    for (const host of HOSTS) {
      const info = await waitFor(`${host}'s info to show layer 2 up with 3 peers`, async () => {
        const i = await localNodeInfo(lab, host);
        return i?.l2?.up && i.l2.floodEntries === 3 ? i : undefined;
      }, 15_000, 100);
      assert.deepEqual(info.l2, {
        up: true, bridge: BRIDGE, vxlan: VXLAN, vni: deriveVni(MESH), port: 4789, mtu: 1370, floodEntries: 3,
        bridgeIfs: host === 'h1' ? [] : [PORT_IF], address: `${bridgeIp(host)}/24`, error: '',
      });
      const peers = HOSTS.filter((h) => h !== host).map((h) => ips.get(h)!).sort();
      assert.deepEqual(await flood(host), peers, `${host} floods to every peer's mesh IP, once each`);
      for (const dev of [BRIDGE, VXLAN]) {
        const [link] = JSON.parse(await ok(host, ['ip', '-j', 'link', 'show', 'dev', dev])) as { mtu: number }[];
        assert.equal(link!.mtu, 1370, `${host} ${dev} MTU`);
      }
    }
    const text = await ok('h2', ['wgmesh', 'info']);
    assert.match(text, new RegExp(`layer 2: bridge ${BRIDGE} \\(vxlan ${VXLAN}, VNI ${deriveVni(MESH)}, UDP 4789, with ${PORT_IF}, address 10\\.99\\.0\\.2/24\\), MTU 1370, flooding to 3 peers`));
  });

  test('every node pings every other over the bridge; full-size frames pass unfragmented, one byte more is refused', async () => {
    await Promise.all(HOSTS.map(async (from) => {
      for (const to of HOSTS) {
        if (to === from) continue;
        await ok(from, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '-I', BRIDGE, bridgeIp(to)]);
      }
    }));
    // 1370 - 20 (IP) - 8 (ICMP) = 1342 bytes of payload fill the bridge's MTU exactly, DF set.
    await ok('h1', ['ping', '-c', '2', '-i', '0.2', '-W', '2', '-M', 'do', '-s', '1342', bridgeIp('h3')]);
    const tooBig = await run('h1', ['ping', '-c', '1', '-W', '2', '-M', 'do', '-s', '1343', bridgeIp('h3')]);
    assert.notEqual(tooBig.code, 0, 'a frame past the bridge MTU is refused at the sender, not fragmented');
  });

  test('ARP broadcasts from h1 reach every node and every node answers', async () => {
    // h2-h4 have a second interface on the segment (the DHCP client's veth): answer ARP only on the
    // interface that has the address, or each would answer twice (Linux's default "ARP flux").
    for (const host of HOSTS.slice(1)) await ok(host, ['sysctl', '-qw', 'net.ipv4.conf.all.arp_ignore=1']);
    await ok('h1', ['ip', 'neigh', 'flush', 'dev', BRIDGE]);
    for (const to of HOSTS.slice(1)) {
      const { stdout: out } = await run('h1', ['arping', '-b', '-c', '2', '-w', '5', '-I', BRIDGE, bridgeIp(to)]);
      assert.match(out, /Sent 2 probes \(2 broadcast\(s\)\)/, `arping ${to}: ${out}`);
      assert.match(out, /Received 2 response\(s\)/, `arping ${to}: ${out}`);
      const macs = new Set([...out.matchAll(/reply from [0-9.]+ \[([0-9A-F:]+)\]/g)].map((m) => m[1]));
      const bridgeMac = (JSON.parse(await ok(to, ['ip', '-j', 'link', 'show', 'dev', BRIDGE])) as { address: string }[])[0]!.address.toUpperCase();
      assert.deepEqual([...macs], [bridgeMac], `${to} answers from its bridge`);
    }
    // One broadcast answered by all: an ICMP echo to the /24's broadcast address (answered once allowed).
    for (const host of HOSTS.slice(1)) await ok(host, ['sysctl', '-qw', 'net.ipv4.icmp_echo_ignore_broadcasts=0']);
    const out = await ok('h1', ['ping', '-b', '-c', '3', '-i', '0.3', '-W', '2', '-I', BRIDGE, '10.99.0.255']);
    for (const to of HOSTS.slice(1)) assert.match(out, new RegExp(`from ${bridgeIp(to).replace(/\./g, '\\.')}:`), `${to} answered the broadcast: ${out}`);
  });

  test('dnsmasq in h1 leases addresses over the mesh to DHCP clients in h2, h3 and h4', async () => {
    const leases = path.join(dir, 'dnsmasq.leases');
    const dnsmasq = daemon('h1', [
      'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--port=0', `--interface=${BRIDGE}`, '--bind-interfaces',
      '--dhcp-range=10.99.0.100,10.99.0.150,255.255.255.0,1h', `--dhcp-leasefile=${leases}`, `--pid-file=${path.join(dir, 'dnsmasq.pid')}`,
      '--log-dhcp', '--log-facility=-',
    ]);
    await waitFor('dnsmasq to listen for DHCP', () => {
      if (dnsmasq.child.exitCode !== null) throw new Error(`dnsmasq exited: ${dnsmasq.output()}`);
      return /DHCP, IP range/.test(dnsmasq.output());
    }, 10_000);
    // The client applies the address only: no resolv.conf, no routes (its hosts share the machine's /etc).
    const script = path.join(dir, 'dhclient-script');
    await writeFile(script, '#!/bin/sh\ncase "$reason" in\n  PREINIT) ip link set dev "$interface" up ;;\n  BOUND|RENEW|REBIND|REBOOT) ip addr replace "$new_ip_address/24" dev "$interface" ;;\nesac\n');
    await chmod(script, 0o755);
    const clients = HOSTS.slice(1).map((host) => daemon(host, [
      'dhclient', '-d', '-4', '-v', '-sf', script, '-pf', path.join(dir, `dhclient-${host}.pid`), '-lf', path.join(dir, `dhclient-${host}.leases`), CLIENT_IF,
    ]));
    const leased = await Promise.all(HOSTS.slice(1).map((host, i) => waitFor(`${host}'s DHCP client to get a lease on ${CLIENT_IF}`, async () => {
      if (clients[i]!.child.exitCode !== null) throw new Error(`dhclient exited: ${clients[i]!.output()}`);
      const [link] = JSON.parse(await ok(host, ['ip', '-j', '-4', 'addr', 'show', 'dev', CLIENT_IF])) as { addr_info: { local: string }[] }[];
      return link?.addr_info.map((a) => a.local).find((a) => /^10\.99\.0\.1\d\d$/.test(a));
    }, 30_000, 100)));
    assert.equal(new Set(leased).size, 3, `three different addresses: ${leased.join(', ')}`);
    const table = await readFile(leases, 'utf8');
    for (const address of leased) assert.ok(table.includes(` ${address} `), `dnsmasq's lease file lists ${address}:\n${table}`);
    // The leased addresses answer across the mesh.
    for (const address of leased) await ok('h1', ['ping', '-c', '2', '-i', '0.2', '-W', '2', address]);
  });

  test('a node that leaves is gone from every other node\'s flood list within a second, and its own devices are removed', async () => {
    const gone = ips.get('h4')!;
    for (const host of ['h1', 'h2', 'h3']) assert.ok((await flood(host)).includes(gone));
    const t0 = Date.now();
    const killed = labKillNode(lab, 'h4', { signal: 'SIGTERM' });
    const seenAt = await Promise.all(['h1', 'h2', 'h3'].map(async (host) => {
      await waitFor(`${host}'s flood list to drop h4 (${gone})`, async () => !(await flood(host)).includes(gone), 5_000, 20);
      return Date.now();
    }));
    await killed;
    // The leave: when h4 logged that the bootstrap took its Leave (its stop first removes its own parts).
    const log = await readFile(labPaths(LAB).logFile(4), 'utf8');
    // The last one: the restart with -l2-addr in before() left once already.
    const leftAt = Date.parse([...log.matchAll(/^(\S+) \S+ .*left the mesh/gm)].at(-1)?.[1] ?? '');
    assert.ok(Number.isFinite(leftAt), `h4 logged its leave:\n${log.slice(-2000)}`);
    const afterLeave = seenAt.map((t) => t - leftAt);
    const afterSignal = seenAt.map((t) => t - t0);
    process.stdout.write(`# l2: h4 gone from h1, h2, h3's flood lists ${afterLeave.join(', ')} ms after its leave (${afterSignal.join(', ')} ms after SIGTERM)\n`);
    for (const ms of afterLeave) assert.ok(ms <= 1_000, `gone from every flood list within 1 s of the leave (took ${afterLeave.join(', ')} ms)`);
    for (const host of ['h1', 'h2', 'h3']) assert.equal((await flood(host)).length, 2);
    for (const dev of [BRIDGE, VXLAN]) assert.notEqual((await run('h4', ['ip', 'link', 'show', 'dev', dev])).code, 0, `h4's ${dev} removed on exit`);
    assert.equal((await run('h4', ['ip', 'link', 'show', 'dev', PORT_IF])).code, 0, 'a local interface in the bridge is released, not deleted');
  });
});
