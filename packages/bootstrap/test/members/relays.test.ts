import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, type Endpoint__Output } from '@wgmesh/agent';
import { Ipam } from '../../src/ipam/ipam.js';
import { MemberTable } from '../../src/members/table.js';
import { MemoryStateStore } from '../../src/members/store.js';
import { RelayedPairs, relayGranted } from '../../src/members/relays.js';

const lan = (ip: string): Endpoint__Output => ({ ip, port: 51820, kind: 'ENDPOINT_KIND_LAN' });
const observed = (ip: string): Endpoint__Output => ({ ip, port: 40001, kind: 'ENDPOINT_KIND_OBSERVED' });
const stun = (ip: string): Endpoint__Output => ({ ip, port: 40001, kind: 'ENDPOINT_KIND_STUN' });

describe('relayGranted', () => {
  test('only an offer from a directly reachable member counts', () => {
    const offer = (endpoints: Endpoint__Output[], extra: { isBootstrap?: boolean; relayOffered?: boolean } = {}) =>
      relayGranted({ relayOffered: extra.relayOffered ?? true, isBootstrap: extra.isBootstrap ?? false, endpoints });
    assert.equal(offer([lan('203.0.113.5'), observed('203.0.113.5')]), true, 'seen at its own address');
    assert.equal(offer([lan('203.0.113.5'), stun('203.0.113.5')]), true, 'STUN says the same');
    assert.equal(offer([lan('198.51.100.2'), observed('203.0.113.254')]), false, 'behind NAT: seen at its router');
    assert.equal(offer([lan('203.0.113.5'), observed('203.0.113.5'), stun('203.0.113.254')]), false, 'one view behind NAT is enough to refuse');
    assert.equal(offer([lan('203.0.113.5')]), false, 'not seen from outside yet');
    assert.equal(offer([{ ip: '192.0.2.7', port: 51820, kind: 'ENDPOINT_KIND_CONFIGURED' }]), true, 'operator-configured endpoint');
    assert.equal(offer([lan('198.51.100.2'), { ip: '203.0.113.254', port: 40000, kind: 'ENDPOINT_KIND_MAPPED' }]), true, 'port-mapped on its router');
    assert.equal(offer([], { isBootstrap: true }), true);
    assert.equal(offer([lan('203.0.113.5'), observed('203.0.113.5')], { relayOffered: false }), false, 'never without an offer');
  });
});

describe('RelayedPairs', () => {
  test('a pair counts once per relay whether one end or both report it; reports replace, leaving members withdraw', () => {
    const pairs = new RelayedPairs();
    pairs.report('a', [{ peer: 'b', via: 'r' }, { peer: 'c', via: 'r' }]);
    pairs.report('b', [{ peer: 'a', via: 'r' }]);
    assert.equal(pairs.pairsVia('r'), 2);
    pairs.report('a', [{ peer: 'c', via: 'r' }]);
    assert.equal(pairs.pairsVia('r'), 2, 'b still reports a-b');
    pairs.report('b', []);
    assert.equal(pairs.pairsVia('r'), 1);
    pairs.report('c', [{ peer: 'a', via: 's' }]);
    assert.equal(pairs.pairsVia('s'), 1);
    assert.equal(pairs.total(), 2);
    pairs.forget('a');
    assert.equal(pairs.pairsVia('r'), 0);
    assert.equal(pairs.pairsVia('s'), 1);
  });

  test('nonsense in a report does not count: itself as peer or relay, a peer as its own relay, duplicates', () => {
    const pairs = new RelayedPairs();
    pairs.report('a', [{ peer: 'a', via: 'r' }, { peer: 'b', via: 'a' }, { peer: 'r', via: 'r' }, { peer: 'b', via: 'r' }, { peer: 'b', via: 'r' }]);
    assert.equal(pairs.pairsVia('r'), 1);
    assert.equal(pairs.pairsVia('a'), 0);
  });
});

describe('MemberTable and relays', () => {
  async function open() {
    return MemberTable.open(new MemoryStateStore(), new Ipam('198.18.0.0/16'), { meshName: 'rl' });
  }
  const identity = () => ({ publicKey: generateKeyPair().publicKey });

  test('Node.relay follows what the bootstrap observes: a NATed offer is refused until the node is seen at its own address', async () => {
    const table = await open();
    await table.join({ name: 'pub', identity: identity(), endpoints: [lan('203.0.113.9')], tags: {}, listenPort: 51820, relay: true });
    await table.join({ name: 'nat', identity: identity(), endpoints: [lan('198.51.100.2')], tags: {}, listenPort: 51820, relay: true });
    await table.join({ name: 'plain', identity: identity(), endpoints: [lan('203.0.113.10')], tags: {}, listenPort: 51820 });
    assert.deepEqual(table.list().map((n) => [n.name, n.relay]), [['nat', false], ['plain', false], ['pub', false]]);
    await table.setObservedEndpoint('pub', observed('203.0.113.9'));
    await table.setObservedEndpoint('nat', observed('203.0.113.254'));
    await table.setObservedEndpoint('plain', observed('203.0.113.10'));
    assert.deepEqual(table.list().map((n) => [n.name, n.relay]), [['nat', false], ['plain', false], ['pub', true]]);
    // The offer is not something a member can see: toNode leaves it out.
    assert.equal('relayOffered' in table.list()[0]!, false);
  });

  test('heartbeats report relayed peers: counted for relays only, between members only', async () => {
    const table = await open();
    const withSecret = (secret: string) => ({ publicKey: generateKeyPair().publicKey, secret });
    const ids = { a: withSecret('secret-a'), b: withSecret('secret-b'), x: withSecret('secret-x') };
    await table.join({ name: 'r', identity: { publicKey: generateKeyPair().publicKey, local: true }, endpoints: [lan('192.0.2.1')], tags: {}, listenPort: 51820, relay: true, isBootstrap: true });
    await table.join({ name: 'a', identity: ids.a, endpoints: [lan('198.51.100.2')], tags: {}, listenPort: 51820 });
    await table.join({ name: 'b', identity: ids.b, endpoints: [lan('198.51.100.18')], tags: {}, listenPort: 51820 });
    await table.join({ name: 'x', identity: ids.x, endpoints: [lan('198.51.100.34')], tags: {}, listenPort: 51820 });
    assert.equal(table.get('r')!.relay, true);
    await table.update('a', ids.a, { relayed: [{ peer: 'b', via: 'r' }, { peer: 'ghost', via: 'r' }, { peer: 'b', via: 'x' }] });
    await table.update('b', ids.b, { relayed: [{ peer: 'a', via: 'r' }] });
    assert.equal(table.relayedPairs.pairsVia('r'), 1, 'a-b once; a non-member peer is not counted');
    assert.equal(table.relayedPairs.pairsVia('x'), 0, 'x is not a relay');
    await table.remove('a', ids.a);
    assert.equal(table.relayedPairs.pairsVia('r'), 1, 'b still reports it until its next heartbeat');
    await table.update('b', ids.b, { relayed: [] });
    assert.equal(table.relayedPairs.pairsVia('r'), 0);
  });
});
