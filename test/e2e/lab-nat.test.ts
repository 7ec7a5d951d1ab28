/**
 * Every NAT style the lab builds (home, bare, random), each with miniupnpd on its routers
 * (`upnp: true`), checked with independent tools run inside the lab's namespaces: natpmpc and
 * upnpc (miniupnpc) ask the router for a UDP port mapping, the router's own iptables shows it
 * (miniupnpdMappings), a datagram from the public host h1 to router-WAN:port arrives at the LAN
 * host, and deleting the mapping removes it. The source port a router gives one socket toward two
 * destinations tells the styles apart: home and bare keep it, random picks a new one for each.
 * No wgmesh node runs (hosts-only labs): this is about the lab's routers, not the mesh.
 */
import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostCommand, hostExec, isRunning, labDown, labEnv, labHost, labUp, REPO_ROOT, type LabState, type ProcessIdentity } from '@wgmesh/cli/lab';
import {
  blockUdpBetweenRouters,
  e2eWgmeshCommand,
  labRouterNamed,
  labSkipReason,
  leftovers,
  miniupnpdMappings,
  routerExec,
  unblockUdpBetweenRouters,
} from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wglnat';
const UNDERLAY = '203.0.113.0/24';
const skip = await labSkipReason({ wireguard: false, nat: true, upnp: true });

/** Binds UDP ports (argv), prints "ready" once all are bound, then one JSON line per datagram. */
const LISTEN = `
const dgram = require('node:dgram');
const ports = process.argv.slice(1).map(Number);
let bound = 0;
for (const port of ports) {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => console.log(JSON.stringify({ port, from: r.address, fromPort: r.port, text: String(m) })));
  s.bind(port, () => { if (++bound === ports.length) console.log('ready'); });
}`;

/** From one socket (local port argv[1], 0: any) sends argv[2] to each IP:PORT that follows, in order. */
const SEND = `
const dgram = require('node:dgram');
const [local, text, ...to] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
s.bind(Number(local), async () => {
  for (const dest of to) {
    const [ip, port] = dest.split(':');
    await new Promise((resolve, reject) => s.send(text, Number(port), ip, (e) => (e ? reject(e) : resolve())));
  }
  s.close();
});`;

interface Datagram {
  readonly port: number;
  readonly from: string;
  readonly fromPort: number;
  readonly text: string;
}

interface Listener {
  readonly received: readonly Datagram[];
  /** Waits until a datagram with this text has arrived. */
  got(text: string): Promise<Datagram>;
  stop(): Promise<void>;
}

/** A UDP listener in a lab host (node, run through hostCommand); ours, stopped by its PID. */
async function listen(lab: LabState, host: string, ports: readonly number[]): Promise<Listener> {
  const [file, ...args] = hostCommand(lab, host, [process.execPath, '-e', LISTEN, ...ports.map(String)], false);
  const child = spawn(file!, args, { stdio: ['ignore', 'pipe', 'pipe'], env: labEnv(), cwd: REPO_ROOT });
  const received: Datagram[] = [];
  let ready = false;
  let partial = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line === 'ready') ready = true;
      else if (line.startsWith('{')) received.push(JSON.parse(line) as Datagram);
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    await waitFor(`the UDP listener in ${host} on ${ports.join(', ')}`, () => {
      if (child.exitCode !== null) throw new Error(`it exited: ${stderr.trim()}`);
      return ready;
    }, 10_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    received,
    got: (text) => waitFor(`${host} to receive "${text}" (got: ${JSON.stringify(received.map((d) => d.text))})`, () => received.find((d) => d.text === text), 10_000),
    stop,
  };
}

/** Sends `text` from one UDP socket in `host` (local port `localPort`, 0: any) to each destination. */
async function send(lab: LabState, host: string, text: string, to: readonly string[], localPort = 0): Promise<void> {
  const result = await hostExec(lab, host, [process.execPath, '-e', SEND, String(localPort), text, ...to], { timeoutMs: 10_000, resolveWgmesh: false });
  assert.equal(result.code, 0, `${host}: sending "${text}" to ${to.join(', ')}: ${result.stderr.trim()}`);
}

/** `natpmpc -g GATEWAY -a PORT PORT udp LIFETIME` in a host: the public port the router granted (lifetime 0 deletes). */
async function natpmpMap(lab: LabState, host: string, port: number, lifetimeS: number): Promise<number> {
  const gateway = labHost(lab, host).nat!.gateway;
  const result = await hostExec(lab, host, ['natpmpc', '-g', gateway, '-a', String(port), String(port), 'udp', String(lifetimeS)], { timeoutMs: 15_000 });
  const mapped = /Mapped public port (\d+) protocol UDP to local port (\d+)/.exec(result.stdout);
  assert.ok(result.code === 0 && mapped, `${host}: natpmpc -g ${gateway} -a ${port} ${port} udp ${lifetimeS}: exit ${result.code}\n${result.stdout}${result.stderr}`);
  return Number(mapped[1]);
}

/** The lab's daemons (miniupnpd per router, the STUN server), as recorded in lab.json. */
function daemonsOf(lab: LabState): ProcessIdentity[] {
  return [...(lab.routers ?? []).flatMap((r) => (r.miniupnpd?.process ? [r.miniupnpd.process] : [])), ...(lab.stun?.process ? [lab.stun.process] : [])];
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

for (const style of ['home', 'bare', 'random'] as const) {
  describe(`${style} NAT routers running miniupnpd`, { skip: skip ?? false }, () => {
    let lab: LabState;
    /** h1's address, and router r1's public one (h2 sits behind r1, h3 behind r2). */
    let h1Ip = '';
    let r1Wan = '';

    before(async () => {
      await labDown({ name: LAB });
      lab = (await labUp({
        name: LAB,
        hosts: 3,
        underlay: UNDERLAY,
        nat: ['h2', 'h3'],
        natStyle: style,
        upnp: true,
        hostsOnly: true,
        wgmeshCommand: e2eWgmeshCommand(),
      })).lab;
      h1Ip = labHost(lab, 'h1').underlayIp;
      r1Wan = labRouterNamed(lab, 'r1').wanIp;
    });

    after(async () => {
      await labDown({ name: LAB });
    });

    test('lab.json records the style; each router runs its miniupnpd (own pidfile) on iptables-legacy rules; the STUN server runs', async () => {
      assert.deepEqual(lab.routers?.map((r) => `${r.name} ${r.style} ${r.iptables}`), [`r1 ${style} iptables-legacy`, `r2 ${style} iptables-legacy`]);
      assert.deepEqual(lab.stun?.ips, ['203.0.113.252', '203.0.113.251']);
      for (const router of lab.routers ?? []) {
        const daemon = router.miniupnpd!;
        assert.ok(daemon.process && (await isRunning(daemon.process)), `${router.name}'s miniupnpd runs`);
        assert.ok(await exists(daemon.pidFile), `${router.name}: ${daemon.pidFile}`);
        const nat = await routerExec(lab, router.name, ['iptables-legacy', '-w', '-t', 'nat', '-S', 'POSTROUTING']);
        assert.match(nat.stdout, /-A POSTROUTING -o wan -j MINIUPNPD-POSTROUTING\n.*-j MASQUERADE/);
        if (style === 'random') assert.match(nat.stdout, /-j MASQUERADE --random-fully/);
        // Nothing of the router's NAT is left in the nf_tables backend to compete with it.
        const nft = await routerExec(lab, router.name, ['iptables-nft', '-w', '-t', 'nat', '-S', 'POSTROUTING']);
        assert.doesNotMatch(nft.stdout, /MASQUERADE/);
      }
      assert.ok(lab.stun?.process && (await isRunning(lab.stun.process)), 'the STUN server runs');
      assert.deepEqual(await miniupnpdMappings(lab, 'r1'), []);
    });

    test('natpmpc maps a UDP port; the router shows the mapping; h1\'s datagram to the router\'s port reaches h2; deleting the mapping removes it', async () => {
      const port = 40000;
      const listener = await listen(lab, 'h2', [port]);
      try {
        // Sent before the mapping exists: the router has nowhere to forward it.
        await send(lab, 'h1', 'unmapped', [`${r1Wan}:${port}`]);
        assert.equal(await natpmpMap(lab, 'h2', port, 60), port);
        assert.deepEqual(await miniupnpdMappings(lab, 'r1'), [{ externalPort: port, internalIp: labHost(lab, 'h2').underlayIp, internalPort: port }]);
        await send(lab, 'h1', 'mapped', [`${r1Wan}:${port}`]);
        const got = await listener.got('mapped');
        assert.equal(got.from, h1Ip, 'a mapping forwards with the sender\'s own address');
        // Datagrams on one path arrive in order: the earlier one would be here by now.
        assert.deepEqual(listener.received.map((d) => d.text), ['mapped']);
      } finally {
        await listener.stop();
      }
      assert.equal(await natpmpMap(lab, 'h2', port, 0), 0);
      assert.deepEqual(await miniupnpdMappings(lab, 'r1'), []);
    });

    test(style === 'random' ? 'random: one socket gets a different source port toward each destination' : `${style}: one socket keeps its source port toward every destination`, async () => {
      const listener = await listen(lab, 'h1', [41000, 41001]);
      try {
        await send(lab, 'h2', 'ports', [`${h1Ip}:41000`, `${h1Ip}:41001`], 42000);
        await waitFor('both datagrams at h1', () => listener.received.length === 2, 10_000);
        const seen = listener.received.map((d) => `${d.from}:${d.fromPort}`).sort();
        if (style === 'random') {
          assert.notEqual(seen[0], seen[1], `source ports seen: ${seen.join(', ')}`);
        } else {
          assert.deepEqual(seen, [`${r1Wan}:42000`, `${r1Wan}:42000`]);
        }
        assert.ok(listener.received.every((d) => d.from === r1Wan), 'masqueraded to r1\'s WAN address');
      } finally {
        await listener.stop();
      }
    });

    if (style === 'home') {
    test('upnpc (UPnP IGD) maps and unmaps a UDP port on r2 for h3', async () => {
      const h3Ip = labHost(lab, 'h3').underlayIp;
      // -i: miniupnpc calls an IGD whose external address is in a reserved range (TEST-NET) "not connected" and stops without it.
      const add = await hostExec(lab, 'h3', ['upnpc', '-i', '-a', h3Ip, '40002', '40002', 'UDP'], { timeoutMs: 20_000 });
      assert.match(add.stdout, /external 203\.0\.113\.253:40002 UDP is redirected to internal 198\.51\.100\.18:40002/, add.stdout + add.stderr);
      assert.deepEqual(await miniupnpdMappings(lab, 'r2'), [{ externalPort: 40002, internalIp: h3Ip, internalPort: 40002 }]);
      const del = await hostExec(lab, 'h3', ['upnpc', '-i', '-d', '40002', 'UDP'], { timeoutMs: 20_000 });
      assert.match(del.stdout, /UPNP_DeletePortMapping\(\) returned : 0/, del.stdout + del.stderr);
      assert.deepEqual(await miniupnpdMappings(lab, 'r2'), []);
    });

    test('blockUdpBetweenRouters: h3 no longer reaches h2\'s mapped port, h1 still does; unblocking restores it', async () => {
      const port = 40003;
      const listener = await listen(lab, 'h2', [port]);
      try {
        await natpmpMap(lab, 'h2', port, 60);
        await send(lab, 'h3', 'from h3, open', [`${r1Wan}:${port}`]);
        assert.equal((await listener.got('from h3, open')).from, labRouterNamed(lab, 'r2').wanIp);
        await blockUdpBetweenRouters(lab, 'r1', 'r2');
        await blockUdpBetweenRouters(lab, 'r1', 'r2');
        await send(lab, 'h3', 'from h3, blocked', [`${r1Wan}:${port}`]);
        await send(lab, 'h1', 'from h1, while blocked', [`${r1Wan}:${port}`]);
        await listener.got('from h1, while blocked');
        await unblockUdpBetweenRouters(lab, 'r1', 'r2');
        await send(lab, 'h3', 'from h3, unblocked', [`${r1Wan}:${port}`]);
        await listener.got('from h3, unblocked');
        assert.deepEqual(listener.received.map((d) => d.text), ['from h3, open', 'from h1, while blocked', 'from h3, unblocked']);
        const rules = await routerExec(lab, 'r1', ['iptables-legacy', '-w', '-S', 'FORWARD']);
        assert.doesNotMatch(rules.stdout, /203\.0\.113\.253/, 'unblock removed every rule it added');
      } finally {
        await listener.stop();
      }
      await natpmpMap(lab, 'h2', port, 0);
    });
    }

    test('lab down stops miniupnpd and the STUN server and leaves no namespace, process or pidfile behind', async () => {
      const daemons = daemonsOf(lab);
      assert.equal(daemons.length, 3);
      const pidFiles = [...(lab.routers ?? []).map((r) => r.miniupnpd!.pidFile), lab.stun!.pidFile];
      const down = await labDown({ name: LAB });
      assert.deepEqual([...down.stopped].sort(), daemons.map((d) => d.pid).sort());
      assert.ok(down.netns.includes(`${LAB}-stun`), `removed: ${down.netns.join(', ')}`);
      assert.deepEqual(await leftovers(lab, daemons), []);
      for (const file of pidFiles) assert.equal(await exists(file), false, file);
      assert.deepEqual(down.strays, []);
    });
  });
}
