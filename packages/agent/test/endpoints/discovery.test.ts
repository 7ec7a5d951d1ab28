import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import type { NetworkInterfaceInfo } from 'node:os';
import { EndpointDiscovery } from '../../src/endpoints/discovery.js';
import { decodeMessage, encodeBindingSuccess } from '../../src/stun/codec.js';

/** A STUN server on loopback that answers every Binding request with a fixed public address, and counts them. */
async function fakeStunServer(publicIp: string): Promise<{ address: string; requests: () => number; close: () => void }> {
  const socket = dgram.createSocket('udp4');
  let requests = 0;
  socket.on('message', (packet, from) => {
    requests++;
    const request = decodeMessage(packet);
    socket.send(encodeBindingSuccess(request.transactionId, { ip: publicIp, port: from.port }), from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { address: `127.0.0.1:${socket.address().port}`, requests: () => requests, close: () => socket.close() };
}

describe('EndpointDiscovery', () => {
  let stun: Awaited<ReturnType<typeof fakeStunServer>>;
  before(async () => {
    stun = await fakeStunServer('203.0.113.7');
  });
  after(() => stun.close());

  test('a prefetch at the start answers the join\'s candidates: one STUN query, its answer among them', async () => {
    const discovery = new EndpointDiscovery({ listenPort: 51820, stunServers: [stun.address] });

    // Step 1: the node asks early (before its driver and key) ...
    discovery.prefetch();
    // Step 2: ... and the join's request, made while that query is still out, waits for its answer
    // instead of going without the public address.
    const candidates = await discovery.candidates();

    assert.ok(candidates.some((e) => e.ip === '203.0.113.7' && e.port === 51820 && e.kind === 'ENDPOINT_KIND_STUN'), JSON.stringify(candidates));
    assert.equal(stun.requests(), 1, 'the two asked once');
  });

  test('a heartbeat reads the interfaces once: behind NAT is judged from the addresses candidates() just read', async () => {
    const own = (address: string): NetworkInterfaceInfo => ({ address, family: 'IPv4', internal: false, netmask: '255.255.255.0', mac: '00:00:00:00:00:00', cidr: `${address}/24` });
    let reads = 0;
    let addresses = ['192.0.2.10'];
    const discovery = new EndpointDiscovery({
      listenPort: 51820,
      stunServers: [stun.address],
      interfaces: () => {
        reads++;
        return { eth0: addresses.map(own) };
      },
    });

    // Step 1: STUN sees 203.0.113.7, none of this host's addresses: behind NAT, after one read.
    await discovery.candidates();
    assert.equal(discovery.behindNat, true);
    assert.equal(reads, 1, 'candidates() and behindNat together read the interfaces once');

    // Step 2: the host gets that address itself (a public interface now): the next heartbeat's
    // candidates() sees it, and behindNat follows without a read of its own.
    addresses = ['192.0.2.10', '203.0.113.7'];
    await discovery.candidates();
    assert.equal(discovery.behindNat, false);
    assert.equal(reads, 2);
  });

  test('with a configured address, a prefetch asks no STUN server', async () => {
    const before = stun.requests();
    const discovery = new EndpointDiscovery({ listenPort: 51820, stunServers: [stun.address], configuredIp: '192.0.2.10' });
    discovery.prefetch();
    assert.deepEqual(await discovery.candidates(), [{ ip: '192.0.2.10', port: 51820, kind: 'ENDPOINT_KIND_CONFIGURED' }]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(stun.requests(), before);
  });
});
