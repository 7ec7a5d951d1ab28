/**
 * Every pair connects: nodes behind NAT routers that defeat hole punching talk through a relay,
 * and the relay is WireGuard itself (kernel forwarding on its wg interface). Real processes, real
 * WireGuard, real iptables NAT routers in namespaces; the bootstrap h1 on the public segment.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostExec, labDown, labHost, labKillNode, labStartNode, labUp, type LabState } from '@wgmesh/cli/lab';
import type { InfoResponse__Output } from '@wgmesh/agent';
import {
  agentInfo, blockUdpBetweenRouters, cliInfo, hostLog, e2eWgmeshCommand, firstReply, labRouterNamed, labSkipReason, leftovers, meshIps, miniupnpdMappings, startPing,
  unblockUdpBetweenRouters, wgDump,
} from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const UNDERLAY = '203.0.113.0/24';
const MESH = 'rly';
const CHAIN = 'WGMESH-RELAY-wgrly';
/** The bound: every pair pings within 15 s of the joins. */
const RELAYED_PING_BUDGET_MS = 15_000;
const skip = await labSkipReason({ wireguard: true, nat: true });

function via(info: InfoResponse__Output, peer: string): string | undefined {
  return info.peers.find((p) => p.node?.name === peer)?.via;
}

/** h2's info when both ends route the h2-h3 pair `expected` ('' direct, else through that relay); undefined otherwise. */
async function pairVia(lab: LabState, expected: string): Promise<InfoResponse__Output | undefined> {
  const [i2, i3] = await Promise.all([agentInfo(lab, 'h2'), agentInfo(lab, 'h3')]);
  return i2 && i3 && via(i2, 'h3') === expected && via(i3, 'h2') === expected ? i2 : undefined;
}

/** The relay chain's rules in a host, as `iptables -S` prints them ('' when there is none). */
async function relayRules(lab: LabState, host: string): Promise<string> {
  const r = await hostExec(lab, host, ['iptables', '-w', '-S']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l.includes(CHAIN)).join('\n');
}

/**
 * h2 and h3 behind routers that keep no direct path between them: within 15 s of the joins they
 * ping each other through a relay, `info` says which, and the relay counts the pair.
 */
async function relayedPair(lab: LabState, ips: Map<string, string>, relays: readonly string[], diagnostic: (m: string) => void): Promise<string> {
  const joinsStartedMs = Math.max(labHost(lab, 'h2').process!.startedMs, labHost(lab, 'h3').process!.startedMs);
  const budget = joinsStartedMs + RELAYED_PING_BUDGET_MS - Date.now();
  assert.ok(budget > 0, `the lab took ${Date.now() - joinsStartedMs} ms to come up: no time left to measure`);
  const [fwd, back] = await Promise.all([firstReply(lab, 'h2', ips.get('h3')!, budget), firstReply(lab, 'h3', ips.get('h2')!, budget)]);
  diagnostic(`h2→h3 first answer ${fwd - joinsStartedMs} ms after the joins started, h3→h2 ${back - joinsStartedMs} ms`);
  for (const h of ['h2', 'h3']) {
    const moves = (await hostLog(lab, h)).split('\n').filter((l) => l.includes('[relay] peer')).map((l) => l.replace(/^\S+T(\S+)Z info \[relay\] /, '$1 '));
    diagnostic(`${h}: ${moves.join(' | ')}`);
  }
  const [i2, i3] = await Promise.all([cliInfo(lab, 'h2'), cliInfo(lab, 'h3')]);
  const relay = via(i2, 'h3');
  assert.ok(relay && relays.includes(relay), `h2 reaches h3 through one of ${relays.join(', ')}, info says via "${relay}"`);
  assert.ok(relays.includes(via(i3, 'h2') ?? ''), `h3 reaches h2 through a relay, info says via "${via(i3, 'h2')}"`);
  // WireGuard itself: h3's /32 is on the relay's peer entry at h2; h3's own entry has no allowed IPs but stays configured.
  const dump = await wgDump(lab, 'h2');
  const relayKey = i2.peers.find((p) => p.node?.name === relay)!.node!.publicKey;
  const h3Key = i2.peers.find((p) => p.node?.name === 'h3')!.node!.publicKey;
  assert.ok(dump.peers.find((p) => p.publicKey === relayKey)!.allowedIps.includes(`${ips.get('h3')}/32`), 'h3/32 routed to the relay');
  assert.deepEqual(dump.peers.find((p) => p.publicKey === h3Key)?.allowedIps, []);
  return relay;
}

describe('relays: two nodes behind bare MASQUERADE routers talk through the bootstrap', { skip: skip ?? false }, () => {
  const LAB = 'wgrlb';
  let lab: LabState;
  let ips: Map<string, string>;

  before(async () => {
    await labDown({ name: LAB });
    lab = (await labUp({
      name: LAB, hosts: 3, underlay: UNDERLAY, mesh: MESH, nat: ['h2', 'h3'], natStyle: 'bare',
      wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 60_000,
    })).lab;
    ips = meshIps(lab);
  });

  after(async () => {
    await labDown({ name: LAB });
  });

  test(`h2 and h3 ping each other within ${RELAYED_PING_BUDGET_MS / 1000} s of the joins, through h1, and info -json says so`, async (t) => {
    const relay = await relayedPair(lab, ips, ['h1'], (m) => t.diagnostic(m));
    assert.equal(relay, 'h1');
  });

  test('the bootstrap relays: forwarding on its wg interface only, one rule set, the pair counted and its bytes measured', async () => {
    assert.equal((await hostExec(lab, 'h1', ['cat', '/proc/sys/net/ipv4/conf/wgrly/forwarding'])).stdout.trim(), '1');
    assert.equal((await hostExec(lab, 'h1', ['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim(), '0', 'global forwarding stays off');
    const rules = await relayRules(lab, 'h1');
    assert.match(rules, new RegExp(`-A FORWARD -i wgrly -j ${CHAIN}`));
    assert.match(rules, new RegExp(`-A ${CHAIN} -s 198\\.18\\.0\\.0/16 -d 198\\.18\\.0\\.0/16 -i wgrly -o wgrly .*-j ACCEPT`));
    assert.match(rules, new RegExp(`-A ${CHAIN} -j DROP`));
    // The pair reaches the bootstrap's count with the ends' next heartbeats (every 5 s).
    const info = await waitFor('h1 to count the relayed pair', async () => {
      const i = await agentInfo(lab, 'h1');
      return i && i.relay && Number(i.relayPairs) === 1 && Number(i.relayedBytes) > 0 ? i : undefined;
    }, 15_000, 250);
    assert.equal(info.relay, true);
    // h2 and h3 offered nothing: they forward nothing.
    assert.equal((await agentInfo(lab, 'h2'))?.relay, false);
    assert.equal(await relayRules(lab, 'h2'), '');
  });

  test('the relay forwards nothing but mesh-to-mesh: a packet from the mesh to an underlay address is dropped and counted by its DROP rule', async () => {
    const before = await hostExec(lab, 'h1', ['iptables', '-w', '-L', CHAIN, '-n', '-v', '-x']);
    const drops = (text: string) => Number(/^\s*\d+\s+(\d+)\s+DROP/m.exec(text)?.[1] ?? NaN);
    const dropsBefore = drops(before.stdout);
    // h2 routes an underlay address (one h1 could reach on its own segment) into the tunnel
    // towards h1 for a moment: h1 must not forward it on.
    const h1Key = (await cliInfo(lab, 'h2')).peers.find((p) => p.node?.name === 'h1')!.node!.publicKey;
    const dump = await wgDump(lab, 'h2');
    const h1Allowed = dump.peers.find((p) => p.publicKey === h1Key)!.allowedIps;
    await hostExec(lab, 'h2', ['wg', 'set', 'wgrly', 'peer', h1Key, 'allowed-ips', [...h1Allowed, '203.0.113.77/32'].join(',')]);
    await hostExec(lab, 'h2', ['ip', 'route', 'add', '203.0.113.77/32', 'dev', 'wgrly']);
    try {
      await hostExec(lab, 'h2', ['ping', '-n', '-c', '3', '-i', '0.2', '-W', '1', '203.0.113.77']);
      const after = await hostExec(lab, 'h1', ['iptables', '-w', '-L', CHAIN, '-n', '-v', '-x']);
      assert.ok(drops(after.stdout) > dropsBefore, `the relay dropped them (DROP bytes ${dropsBefore} → ${drops(after.stdout)})`);
    } finally {
      await hostExec(lab, 'h2', ['ip', 'route', 'del', '203.0.113.77/32', 'dev', 'wgrly']);
      await hostExec(lab, 'h2', ['wg', 'set', 'wgrly', 'peer', h1Key, 'allowed-ips', h1Allowed.join(',')]);
    }
  });

  test('lab down leaves nothing behind', async () => {
    const processes = lab.hosts.flatMap((h) => (h.process ? [h.process] : []));
    await labDown({ name: LAB });
    assert.deepEqual(await leftovers(lab, processes), []);
  });
});

describe('relays: two relays, the one in use killed; NATed nodes that offer to relay are never chosen', { skip: skip ?? false }, () => {
  const LAB = 'wgrl2';
  let lab: LabState;
  let ips: Map<string, string>;

  before(async () => {
    await labDown({ name: LAB });
    // h4 and h5 are public relays; the bootstrap does not relay; h2 and h3 (NATed) offer too.
    lab = (await labUp({
      name: LAB, hosts: 5, underlay: UNDERLAY, mesh: MESH, nat: ['h2', 'h3'], natStyle: 'bare',
      bootstrapArgs: ['-relay=false'], joinArgs: ['-relay'],
      wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 60_000,
    })).lab;
    ips = meshIps(lab);
  });

  after(async () => {
    await labDown({ name: LAB });
  });

  test('the bootstrap grants relaying to the public nodes only', async () => {
    const info = await waitFor('the membership to show h4 and h5 as relays', async () => {
      const i = await agentInfo(lab, 'h2');
      const relays = i?.peers.filter((p) => p.node?.relay).map((p) => p.node!.name).sort();
      return relays?.join(',') === 'h4,h5' ? i : undefined;
    }, 20_000, 250);
    assert.equal(info.self?.relay, false, 'h2 offered, but is behind NAT');
    assert.equal(info.peers.find((p) => p.node?.name === 'h1')?.node?.relay, false, '-relay=false');
  });

  test(`h2 and h3 ping through h4 or h5; SIGKILL of the relay in use: pings resume within 10 s through the other`, async (t) => {
    const relay = await relayedPair(lab, ips, ['h4', 'h5'], (m) => t.diagnostic(m));
    const other = relay === 'h4' ? 'h5' : 'h4';
    // A relay that is not the bootstrap learns its count from the answers to its heartbeats.
    await waitFor(`${relay} to count the pair it carries`, async () => {
      const i = await agentInfo(lab, relay);
      return i?.relay === true && Number(i.relayPairs) === 1 && Number(i.relayedBytes) > 0;
    }, 15_000, 250);
    assert.equal(Number((await agentInfo(lab, other))?.relayPairs), 0);
    const ping = startPing(lab, 'h2', ips.get('h3')!, 0.2);
    try {
      await waitFor('pings to flow', () => ping.answered.size >= 3, 5_000, 50);
      const killedAt = Date.now();
      const seqAtKill = ping.lastSeq;
      lab = (await labKillNode(lab, relay, { signal: 'SIGKILL' })).lab;
      await waitFor('an answer after the kill', () => [...ping.answered].some((n) => n > seqAtKill + 1), 10_000 - (Date.now() - killedAt), 50);
      const resumedSeq = Math.min(...[...ping.answered].filter((n) => n > seqAtKill + 1));
      t.diagnostic(`pings resumed ${Math.round((resumedSeq - seqAtKill) * 200)} ms (±200) after the SIGKILL of ${relay}`);
      const info = await cliInfo(lab, 'h2');
      assert.equal(via(info, 'h3'), other);
    } finally {
      await ping.stop();
    }
    // The killed relay left its rules behind (it could not remove them); started again, it replaces them with one set.
    assert.notEqual(await relayRules(lab, relay), '');
    lab = (await labStartNode(lab, relay, { readyTimeoutMs: 60_000 })).lab;
    await waitFor(`${relay} to relay again`, async () => (await agentInfo(lab, relay))?.relay === true, 20_000, 250)
      .catch(async (err: Error) => assert.fail(`${err.message}; its info: ${JSON.stringify((await agentInfo(lab, relay))?.self)}; its log ends: ${(await hostLog(lab, relay)).split('\n').slice(-12).join(' | ')}`));
    assert.equal((await relayRules(lab, relay)).split('\n').filter((l) => l.startsWith('-A FORWARD')).length, 1);
    // Stopped cleanly, a relay removes its rules.
    lab = (await labKillNode(lab, other, { signal: 'SIGTERM' })).lab;
    assert.equal(await relayRules(lab, other), '');
  });
});

describe('relays: NATs that pick a random port per destination (masquerade --random-fully) on both sides', { skip: skip ?? false }, () => {
  const LAB = 'wgrlr';
  let lab: LabState;

  before(async () => {
    await labDown({ name: LAB });
    lab = (await labUp({
      name: LAB, hosts: 3, underlay: UNDERLAY, mesh: MESH, nat: ['h2', 'h3'], natStyle: 'random',
      wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 60_000,
    })).lab;
  });

  after(async () => {
    await labDown({ name: LAB });
  });

  test(`h2 and h3 ping each other within ${RELAYED_PING_BUDGET_MS / 1000} s of the joins, through h1`, async (t) => {
    assert.equal(await relayedPair(lab, meshIps(lab), ['h1'], (m) => t.diagnostic(m)), 'h1');
  });
});

describe('relays: UDP between the routers blocked, then unblocked: relayed, then direct, no ping lost', { skip: skip ?? false }, () => {
  const LAB = 'wgrlu';
  let lab: LabState;
  let ips: Map<string, string>;

  before(async () => {
    await labDown({ name: LAB });
    // Home routers: direct works between them once UDP may pass. Blocked as soon as the nodes
    // start (a join takes over a second before any WireGuard packet goes out; checked below).
    lab = (await labUp({
      name: LAB, hosts: 3, underlay: UNDERLAY, mesh: MESH, nat: ['h2', 'h3'], natStyle: 'home', wait: false,
      wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 60_000,
    })).lab;
    await blockUdpBetweenRouters(lab, 'r1', 'r2');
  });

  after(async () => {
    await labDown({ name: LAB });
  });

  test('relayed while blocked; unblocked: direct within 30 s, and a ping every 200 ms loses nothing across the switch', async (t) => {
    // The lab did not wait for the mesh: the mesh IPs come from the nodes themselves.
    const infos = await waitFor('the nodes to join', async () => {
      const all = await Promise.all(['h1', 'h2', 'h3'].map((h) => agentInfo(lab, h)));
      return all.every((i) => i && i.peers.length === 2) ? all as InfoResponse__Output[] : undefined;
    }, 60_000, 200);
    ips = new Map(infos.map((i) => [i.nodeName, i.meshIp]));
    const relay = await relayedPair(lab, ips, ['h1'], (m) => t.diagnostic(m));
    assert.equal(relay, 'h1');
    const h3Key = (await cliInfo(lab, 'h2')).peers.find((p) => p.node?.name === 'h3')!.node!.publicKey;
    assert.equal((await wgDump(lab, 'h2')).peers.find((p) => p.publicKey === h3Key)?.latestHandshake, 0, 'no direct handshake happened before the block');
    const ping = startPing(lab, 'h2', ips.get('h3')!, 0.2);
    try {
      await waitFor('pings through the relay', () => ping.answered.size >= 3, 5_000, 50);
      const firstSeq = Math.min(...ping.answered);
      const unblockedAt = Date.now();
      await unblockUdpBetweenRouters(lab, 'r1', 'r2');
      await waitFor('both ends direct', () => pairVia(lab, ''), 30_000, 200);
      t.diagnostic(`direct ${Date.now() - unblockedAt} ms after the unblock`);
      // A few more seconds of pings over the direct path, then every one since the first must have been answered.
      const seqAtDirect = ping.lastSeq;
      await waitFor('pings over the direct path', () => [...ping.answered].filter((n) => n > seqAtDirect).length >= 10, 10_000, 50);
      const upTo = ping.lastSeq - 5; // the last few may still be in flight
      assert.deepEqual(ping.missing(upTo).filter((n) => n >= firstSeq), [], `ping seqs ${firstSeq}..${upTo} all answered`);
    } finally {
      await ping.stop();
    }
    const dump = await wgDump(lab, 'h2');
    assert.deepEqual(dump.peers.find((p) => p.publicKey === h3Key)?.allowedIps, [`${ips.get('h3')}/32`]);
  });

  test('the direct path breaks mid-session (UDP blocked again): the pair goes back through the relay within 10 s', async (t) => {
    const blockedAt = Date.now();
    await blockUdpBetweenRouters(lab, 'r1', 'r2');
    await waitFor('both ends through h1 again', () => pairVia(lab, 'h1'), 10_000, 200);
    await firstReply(lab, 'h2', ips.get('h3')!, 10_000 - (Date.now() - blockedAt));
    t.diagnostic(`relayed and answering ${Date.now() - blockedAt} ms after the block (the WireGuard session still looked alive)`);
  });
});

describe('port mapping: bare routers running miniupnpd, the nodes map their WireGuard port and talk directly', { skip: (await labSkipReason({ wireguard: true, nat: true, upnp: true })) ?? false }, () => {
  const LAB = 'wgrlp';
  let lab: LabState;
  let ips: Map<string, string>;

  before(async () => {
    await labDown({ name: LAB });
    lab = (await labUp({
      name: LAB, hosts: 3, underlay: UNDERLAY, mesh: MESH, nat: ['h2', 'h3'], natStyle: 'bare', upnp: true,
      wgmeshCommand: e2eWgmeshCommand(), readyTimeoutMs: 60_000,
    })).lab;
    ips = meshIps(lab);
  });

  after(async () => {
    await labDown({ name: LAB });
  });

  test('each node advertises its router\'s mapping; h2 and h3 ping directly at the mapped addresses, no relay', async (t) => {
    const mapped = await waitFor('both nodes to advertise a mapped endpoint', async () => {
      const [i2, i3] = await Promise.all([agentInfo(lab, 'h2'), agentInfo(lab, 'h3')]);
      const m2 = i2?.endpoints.find((e) => e.kind === 'ENDPOINT_KIND_MAPPED');
      const m3 = i3?.endpoints.find((e) => e.kind === 'ENDPOINT_KIND_MAPPED');
      return m2 && m3 ? { h2: m2, h3: m3 } : undefined;
    }, 20_000, 200);
    assert.equal(mapped.h2.ip, labRouterNamed(lab, 'r1').wanIp);
    assert.equal(mapped.h3.ip, labRouterNamed(lab, 'r2').wanIp);
    assert.deepEqual((await miniupnpdMappings(lab, 'r1')).map((m) => m.externalPort), [mapped.h2.port]);
    await firstReply(lab, 'h2', ips.get('h3')!, 30_000);
    const direct = await waitFor('h2 and h3 direct', () => pairVia(lab, ''), 30_000, 200);
    const peer = direct.peers.find((p) => p.node?.name === 'h3')!;
    assert.equal(peer.endpoint, `${mapped.h3.ip}:${mapped.h3.port}`, 'h2 reaches h3 at its mapped address');
    assert.ok(peer.latestHandshakeMs > 0);
    // Never through the relay, not even for a moment before the mappings were advertised.
    for (const h of ['h2', 'h3']) {
      const log = await hostLog(lab, h);
      assert.match(log, /port mapping made/, `${h}'s log is the node's (it made its mapping)`);
      assert.doesNotMatch(log, /through relay/, `${h} used no relay`);
    }
    t.diagnostic(`h2 at ${mapped.h2.ip}:${mapped.h2.port}, h3 at ${mapped.h3.ip}:${mapped.h3.port}`);
  });

  test('stopped, the nodes delete their mappings from miniupnpd', async () => {
    lab = (await labKillNode(lab, 'h2', { signal: 'SIGTERM' })).lab;
    lab = (await labKillNode(lab, 'h3', { signal: 'SIGTERM' })).lab;
    assert.deepEqual(await miniupnpdMappings(lab, 'r1'), []);
    assert.deepEqual(await miniupnpdMappings(lab, 'r2'), []);
  });
});
