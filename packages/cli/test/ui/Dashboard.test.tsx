import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import React from 'react';
import { render } from 'ink-testing-library';
import type { InfoResponse__Output, Node__Output, PeerStatus__Output } from '@wgmesh/agent';
import { Dashboard } from '../../src/ui/Dashboard.js';

const NOW = Date.parse('2026-11-21T12:00:00Z');

function node(name: string, ip: string, extra: Partial<Node__Output> = {}): Node__Output {
  return {
    name, publicKey: `${name}-key`, meshIp: ip, endpoints: [], tags: {}, status: 'NODE_STATUS_ALIVE', joinedAtMs: NOW - 60_000,
    lastSeenMs: NOW, statusChangedMs: NOW, isBootstrap: false, listenPort: 54540, relay: false, ...extra,
  };
}

function peer(n: Node__Output, extra: Partial<PeerStatus__Output> = {}): PeerStatus__Output {
  return { node: n, endpoint: '192.0.2.9:54540', latestHandshakeMs: NOW - 5000, rxBytes: 2048, txBytes: 1024, rttMs: 0.42, loss: 0, via: '', rttMeasuredAtMs: NOW - 1000, rttProbeEveryMs: 30_000, ...extra };
}

function info(peers: PeerStatus__Output[]): InfoResponse__Output {
  return {
    meshName: 'lab', meshCidr: '198.18.0.0/16', meshCreatedMs: NOW - 86_400_000, nodeName: 'h2', meshIp: '198.18.0.2', publicKey: 'h2-key',
    interface: 'wglab', backend: 'userspace', listenPort: 54540, connected: true, controlError: '', revision: 7, tags: { role: 'web', _internal: 'x' },
    endpoints: [{ ip: '192.0.2.2', port: 54540, kind: 'ENDPOINT_KIND_LAN' }], behindNat: false, peers, bootstrapAddr: '192.0.2.1:5000', bootstrapAddrs: ['192.0.2.1:5000'], services: [],
    isBootstrap: false, relay: false, relayPairs: 0, relayedBytes: 0, certificateRefusal: null, self: node('h2', '198.18.0.2', { tags: { role: 'web', _internal: 'x' } }),
    certNotAfterMs: 0, caNotAfterMs: 0, certSerial: '', certRenewAtMs: 0, certRenewError: '', certRenewals: 0, certDaysLeft: 0, caDaysLeft: 0, l2: null,
  };
}

const h1 = node('h1', '198.18.0.1', { isBootstrap: true });
const h3 = node('h3', '198.18.0.3', { tags: { 'svc:http': '80' } });
const h4 = node('h4', '198.18.0.4');

describe('the info dashboard', () => {
  test('every node has a row, with its IP, status and handshake; internal tags are hidden', () => {
    const { lastFrame, unmount } = render(<Dashboard info={info([peer(h1), peer(h3), peer(h4)])} error={undefined} now={NOW} columns={170} />);
    const frame = lastFrame()!;
    for (const [name, ip] of [['h1', '198.18.0.1'], ['h2', '198.18.0.2'], ['h3', '198.18.0.3'], ['h4', '198.18.0.4']]) {
      const row = frame.split('\n').find((l) => l.includes(`${name} `) && l.includes(ip));
      assert.ok(row, `a row for ${name} with ${ip}:\n${frame}`);
    }
    assert.match(frame, /mesh lab/);
    assert.match(frame, /4 nodes/);
    assert.match(frame, /5s ago/);
    assert.match(frame, /svc:http=80/);
    assert.match(frame, /role=web/);
    assert.doesNotMatch(frame, /_internal/);
    unmount();
  });

  test('the PATH column says direct or which relay; a relay says how many pairs it carries', () => {
    const relayInfo = { ...info([peer(h1), peer(h3), peer(h4, { via: 'h1' })]), relay: true, relayPairs: 3, relayedBytes: 2 * 1024 * 1024 };
    const { lastFrame, unmount } = render(<Dashboard info={relayInfo} error={undefined} now={NOW} columns={170} />);
    const frame = lastFrame()!;
    const row = (name: string) => frame.split('\n').find((l) => l.includes(`${name} `) && l.includes('198.18.0.'))!;
    assert.match(row('h4'), /via h1/);
    assert.match(row('h3'), /direct/);
    assert.doesNotMatch(row('h3'), /via/);
    assert.match(frame, /relaying for 3 pairs of nodes, 2\.0 MiB forwarded/);
    unmount();
  });

  test('a membership change re-renders the changed row', () => {
    const { lastFrame, rerender, unmount } = render(<Dashboard info={info([peer(h1), peer(h3), peer(h4)])} error={undefined} now={NOW} columns={170} />);
    const before = lastFrame()!;
    const h3row = (f: string) => f.split('\n').find((l) => l.includes('h3 '))!;
    assert.match(h3row(before), /alive/);
    rerender(<Dashboard info={info([peer(h1), peer({ ...h3, status: 'NODE_STATUS_FAILED' }), peer(h4)])} error={undefined} now={NOW} columns={170} />);
    assert.match(h3row(lastFrame()!), /failed/);
    rerender(<Dashboard info={info([peer(h1), peer(h3)])} error={undefined} now={NOW} columns={170} />);
    const after = lastFrame()!;
    assert.doesNotMatch(after, /198\.18\.0\.4/, 'h4 left: its row is gone');
    assert.match(after, /3 nodes/);
    unmount();
  });

  test('a narrow terminal keeps the essential columns and every node', () => {
    const { lastFrame, unmount } = render(<Dashboard info={info([peer(h1), peer(h3), peer(h4)])} error={undefined} now={NOW} columns={70} />);
    const frame = lastFrame()!;
    assert.match(frame, /NODE/);
    assert.match(frame, /STATUS/);
    assert.doesNotMatch(frame, /RX \/ TX/);
    for (const ip of ['198.18.0.1', '198.18.0.3', '198.18.0.4']) assert.match(frame, new RegExp(ip.replace(/\./g, '\\.')));
    unmount();
  });

  test('before the first status arrives, and on errors, it says so', () => {
    const { lastFrame, unmount } = render(<Dashboard info={undefined} error={undefined} now={NOW} />);
    assert.match(lastFrame()!, /connecting/);
    unmount();
    const failed = render(<Dashboard info={undefined} error="lost the local node: gone" now={NOW} />);
    assert.match(failed.lastFrame()!, /lost the local node/);
    failed.unmount();
  });
});
