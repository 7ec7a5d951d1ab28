/**
 * NAT traversal through real NAT routers (their own namespaces, iptables MASQUERADE): the
 * bootstrap h1 on a public segment (203.0.113.0/24), h2 and h3 each behind a router of their
 * own, h4 and h5 behind one router together. h2 and h3 reach each other directly (each at the
 * other's router's public address; no relay, nothing through the bootstrap); h4 and h5 use their
 * private LAN addresses. Then the same for routers without a firewall to the router itself (-nat-style bare).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostExec, labDown, labHost, labUp, type LabState } from '@wgmesh/cli/lab';
import {
  cliInfo,
  e2eWgmeshCommand,
  firstReply,
  labRouterNamed,
  labSkipReason,
  leftovers,
  meshIps,
  routerExec,
  routerUdpMappings,
  wgDump,
  type WgDump,
  type WgPeerDump,
} from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wgnat';
const MESH = 'nat';
const UNDERLAY = '203.0.113.0/24';
/** A few candidate trials (~6 s each) fit in it; generous, but bounded. */
const FIRST_PING_BUDGET_MS = 45_000;
/** "Recent": WireGuard re-handshakes every 2 minutes while a session is in use. */
const RECENT_HANDSHAKE_S = 120;
const skip = await labSkipReason({ wireguard: true, nat: true });

/** "203.0.113.253:51820" → "203.0.113.253" (IPv4 endpoints only in this lab). */
function endpointIp(endpoint: string): string {
  return endpoint.replace(/:\d+$/, '');
}

/** A device's peer entry for a mesh IP: the peer whose allowed IPs hold its /32. */
function peerFor(dump: WgDump, meshIp: string): WgPeerDump | undefined {
  return dump.peers.find((p) => p.allowedIps.includes(`${meshIp}/32`));
}

function describePeers(dump: WgDump): string {
  return dump.peers.map((p) => `${p.allowedIps.join(',')} at ${p.endpoint} (handshake ${p.latestHandshake ? `${Math.round(Date.now() / 1000 - p.latestHandshake)} s ago` : 'never'})`).join('; ');
}

/** Waits until `host`'s peer entry for `meshIp` has had a handshake with the given endpoint IP. */
async function directPeer(lab: LabState, host: string, meshIp: string, wantIp: string, timeoutMs = 10_000): Promise<WgPeerDump> {
  let last = '';
  return waitFor(`${host} to have a handshake with ${meshIp} at ${wantIp}`, async () => {
    const dump = await wgDump(lab, host);
    last = describePeers(dump);
    const peer = peerFor(dump, meshIp);
    return peer && peer.latestHandshake > 0 && endpointIp(peer.endpoint) === wantIp ? peer : undefined;
  }, timeoutMs, 200).catch((err: Error) => assert.fail(`${err.message}; its peers: ${last}`));
}

describe('hosts behind NAT routers (MASQUERADE and a home router\'s firewall)', { skip: skip ?? false }, () => {
  let lab: LabState;
  let ips: Map<string, string>;
  /** When the later of h2's and h3's `wgmesh join` started, and when `labUp` returned. */
  let joinsStartedMs = 0;
  let upReturnedMs = 0;

  before(async () => {
    await labDown({ name: LAB });
    lab = (await labUp({
      name: LAB,
      hosts: 5,
      underlay: UNDERLAY,
      mesh: MESH,
      nat: ['h2', 'h3', ['h4', 'h5']],
      wgmeshCommand: e2eWgmeshCommand(),
      readyTimeoutMs: 60_000,
    })).lab;
    upReturnedMs = Date.now();
    joinsStartedMs = Math.max(labHost(lab, 'h2').process!.startedMs, labHost(lab, 'h3').process!.startedMs);
    ips = meshIps(lab);
  });

  after(async () => {
    await labDown({ name: LAB });
  });

  test('the topology: h1 public, h2/h3/h4+h5 behind routers r1/r2/r3 that masquerade; nothing reaches a private address from outside', async () => {
    assert.deepEqual(lab.routers?.map((r) => `${r.name} ${r.wanIp} ${r.lan} ${r.hosts.join('+')}`), [
      'r1 203.0.113.254 198.51.100.0/28 h2',
      'r2 203.0.113.253 198.51.100.16/28 h3',
      'r3 203.0.113.252 198.51.100.32/28 h4+h5',
    ]);
    assert.equal(labHost(lab, 'h1').underlayIp, '203.0.113.1');
    assert.equal(labHost(lab, 'h1').nat, undefined);
    assert.deepEqual(['h2', 'h3', 'h4', 'h5'].map((h) => `${h} ${labHost(lab, h).underlayIp} via ${labHost(lab, h).nat?.gateway}`), [
      'h2 198.51.100.2 via 198.51.100.1',
      'h3 198.51.100.18 via 198.51.100.17',
      'h4 198.51.100.34 via 198.51.100.33',
      'h5 198.51.100.35 via 198.51.100.33',
    ]);
    const route = await hostExec(lab, 'h2', ['ip', '-4', 'route', 'show', 'default']);
    assert.match(route.stdout, /^default via 198\.51\.100\.1 dev eth0/);
    const rules = await routerExec(lab, 'r1', ['iptables', '-w', '-t', 'nat', '-S', 'POSTROUTING']);
    assert.match(rules.stdout, /-A POSTROUTING -o wan -j MASQUERADE/);
    assert.equal((await routerExec(lab, 'r1', ['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim(), '1');
    // The bootstrap has no route to the private segments: only the routers' public addresses exist for it.
    assert.notEqual((await hostExec(lab, 'h1', ['ping', '-n', '-q', '-c', '1', '-W', '1', '198.51.100.2'])).code, 0);
    // The bootstrap's WireGuard sees h2 at r1's public address: the router masqueraded it.
    const atBootstrap = await waitFor('h1 to have a handshake with h2', async () => {
      const peer = peerFor(await wgDump(lab, 'h1'), ips.get('h2')!);
      return peer && peer.latestHandshake > 0 ? peer : undefined;
    }, 15_000, 200);
    assert.equal(endpointIp(atBootstrap.endpoint), labRouterNamed(lab, 'r1').wanIp);
  });

  test(`h2 and h3, behind different NATs, ping each other over the mesh within ${FIRST_PING_BUDGET_MS / 1000} s`, async (t) => {
    const pingStartedMs = Date.now();
    const [aToB, bToA] = await Promise.all([
      firstReply(lab, 'h2', ips.get('h3')!, FIRST_PING_BUDGET_MS),
      firstReply(lab, 'h3', ips.get('h2')!, FIRST_PING_BUDGET_MS),
    ]);
    const handshake = peerFor(await wgDump(lab, 'h2'), ips.get('h3')!)?.latestHandshake ?? 0;
    t.diagnostic(
      `h2→h3 first answer ${aToB - joinsStartedMs} ms after both joins started (${aToB - pingStartedMs} ms after pinging began; lab up returned ${upReturnedMs - joinsStartedMs} ms after the joins started); ` +
      `h3→h2 ${bToA - joinsStartedMs} ms (${bToA - pingStartedMs} ms); h2's latest handshake with h3 ${handshake ? `${handshake * 1000 - joinsStartedMs} ms after the joins started (1 s resolution)` : 'none'}`,
    );
  });

  test('h2 talks to h3 directly: its WireGuard peer for h3 is at r2\'s public address, recent handshake, h3\'s /32 only', async () => {
    const b = ips.get('h3')!;
    const peer = await directPeer(lab, 'h2', b, labRouterNamed(lab, 'r2').wanIp);
    assert.ok(Date.now() / 1000 - peer.latestHandshake < RECENT_HANDSHAKE_S, `handshake ${Math.round(Date.now() / 1000 - peer.latestHandshake)} s ago`);
    assert.deepEqual(peer.allowedIps, [`${b}/32`]);
    // No peer of h2 routes anything wider than its own /32, so traffic to h3 cannot go through the bootstrap.
    const dump = await wgDump(lab, 'h2');
    assert.deepEqual(dump.peers.filter((p) => p.allowedIps.length !== 1 || !p.allowedIps[0]!.endsWith('/32')).map((p) => p.allowedIps.join(',')), []);
    assert.deepEqual(dump.peers.filter((p) => p.allowedIps.includes(`${b}/32`)).length, 1);
    // And the other way round.
    await directPeer(lab, 'h3', ips.get('h2')!, labRouterNamed(lab, 'r1').wanIp);
  });

  test('wgmesh info -json: behindNat on the NATed hosts, not on h1; h2 shows h3\'s endpoint and a recent handshake', async () => {
    const infos = new Map(await Promise.all(['h1', 'h2', 'h3', 'h4', 'h5'].map(async (h) => [h, await cliInfo(lab, h)] as const)));
    assert.deepEqual([...infos].map(([h, info]) => `${h} ${info.behindNat}`), ['h1 false', 'h2 true', 'h3 true', 'h4 true', 'h5 true']);
    const peer = infos.get('h2')!.peers.find((p) => p.node?.name === 'h3');
    assert.ok(peer, 'h2 lists h3');
    assert.equal(endpointIp(peer.endpoint), labRouterNamed(lab, 'r2').wanIp);
    assert.ok(peer.latestHandshakeMs > 0 && Date.now() - peer.latestHandshakeMs < RECENT_HANDSHAKE_S * 1000, `latestHandshakeMs ${peer.latestHandshakeMs}`);
    // Home routers let hole punching through: no pair goes through a relay.
    for (const [h, info] of infos) assert.deepEqual(info.peers.filter((p) => p.via !== '').map((p) => `${h}→${p.node?.name} via ${p.via}`), []);
  });

  test('h4 and h5, behind the same NAT, use their private LAN addresses with each other and ping', async (t) => {
    const startedMs = Date.now();
    const [fwd, back] = await Promise.all([
      firstReply(lab, 'h4', ips.get('h5')!, FIRST_PING_BUDGET_MS),
      firstReply(lab, 'h5', ips.get('h4')!, FIRST_PING_BUDGET_MS),
    ]);
    const joinsMs = Math.max(labHost(lab, 'h4').process!.startedMs, labHost(lab, 'h5').process!.startedMs);
    t.diagnostic(`h4→h5 first answer ${fwd - joinsMs} ms after both joins started (${fwd - startedMs} ms after pinging began); h5→h4 ${back - joinsMs} ms (${back - startedMs} ms)`);
    const peer = await directPeer(lab, 'h4', ips.get('h5')!, labHost(lab, 'h5').underlayIp);
    assert.ok(Date.now() / 1000 - peer.latestHandshake < RECENT_HANDSHAKE_S);
    assert.match(peer.endpoint, /^198\.51\.100\.35:\d+$/);
    await directPeer(lab, 'h5', ips.get('h4')!, labHost(lab, 'h4').underlayIp);
  });

  test('lab down removes the routers with the hosts, and leaves nothing behind', async () => {
    const processes = lab.hosts.flatMap((h) => (h.process ? [h.process] : []));
    assert.equal(processes.length, 5);
    const down = await labDown({ name: LAB });
    assert.deepEqual(down.netns.filter((n) => /-r\d+$/.test(n)).sort(), [`${LAB}-r1`, `${LAB}-r2`, `${LAB}-r3`]);
    assert.deepEqual(await leftovers(lab, processes), []);
    assert.equal((await labDown({ name: LAB })).existed, false);
  });
});

// Bare MASQUERADE and random-port routers have no direct path between them: test/e2e/relay.test.ts
// shows those pairs connecting through a relay.
