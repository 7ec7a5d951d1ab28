import type { InfoResponse__Output, RttResponse__Output } from '@wgmesh/agent';

/** A status document as `info -json` prints it: h1 (this node, the bootstrap), h2 direct, h3 via h2. */
export function sampleStatus(over: Partial<InfoResponse__Output> = {}): InfoResponse__Output {
  const node = (name: string, ip: string, status: string, tags: Record<string, string> = {}) => ({
    name, publicKey: `${name}-key`, meshIp: ip, endpoints: [], tags, status, joinedAtMs: 1, lastSeenMs: 2, statusChangedMs: 3, isBootstrap: false, listenPort: 51820, relay: false,
  });
  return {
    meshName: 'lab', meshCidr: '198.18.0.0/16', meshCreatedMs: 1_700_000_000_000, nodeName: 'h1', meshIp: '198.18.0.1', publicKey: 'h1-key', interface: 'wglab',
    backend: 'userspace', listenPort: 51820, connected: true, revision: 7, tags: { role: 'bootstrap', _internal: 'x' },
    endpoints: [{ ip: '192.0.2.1', port: 51820, kind: 'ENDPOINT_KIND_LAN' }], behindNat: false,
    peers: [
      { node: node('h2', '198.18.0.2', 'NODE_STATUS_ALIVE', { role: 'db' }), endpoint: '192.0.2.2:51820', latestHandshakeMs: 1_700_000_100_000, rxBytes: 2048, txBytes: 1024, rttMs: 1.5, loss: 0, via: '' },
      { node: node('h3', '198.18.0.3', 'NODE_STATUS_FAILED', { _zone: 'a' }), endpoint: '', latestHandshakeMs: 0, rxBytes: 0, txBytes: 0, rttMs: 0, loss: 0, via: 'h2' },
    ],
    bootstrapAddr: '', isBootstrap: true, self: node('h1', '198.18.0.1', 'NODE_STATUS_ALIVE'), controlError: '', relay: false, relayPairs: 0, relayedBytes: 0, bootstrapAddrs: [],
    certNotAfterMs: 0, caNotAfterMs: 0, certSerial: '', certRenewAtMs: 0, certRenewError: '', certRenewals: 0, certDaysLeft: 0, caDaysLeft: 0, certificateRefusal: null,
    ...over,
  } as unknown as InfoResponse__Output;
}

export function sampleRtt(): RttResponse__Output {
  return {
    nodes: ['h1', 'h2', 'h3'],
    rows: [
      { from: 'h1', to: 'h2', rttMs: 1.5, loss: 0, measuredAtMs: 0 },
      { from: 'h2', to: 'h1', rttMs: 1.4, loss: 0, measuredAtMs: 0 },
      { from: 'h1', to: 'h3', rttMs: 6, loss: 0.1, measuredAtMs: 0 },
    ],
    partial: false,
  };
}
