import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, nodeSecretFromPrivate } from '@wgmesh/agent';
import { Ipam } from '../../src/ipam/ipam.js';
import { MemberTable, type MemberDelta } from '../../src/members/table.js';
import { MemoryStateStore } from '../../src/members/store.js';
import { IdentityMismatch, PublicKeyTaken } from '../../src/errors.js';
import { hashNodeSecret } from '../../src/members/identity.js';

const ENDPOINTS = [{ ip: '192.0.2.10', port: 51820, kind: 'ENDPOINT_KIND_LAN' as const }];

/** A node as agents make one: its secret derived from its private key. */
function node() {
  const { privateKey, publicKey } = generateKeyPair();
  return { publicKey, secret: nodeSecretFromPrivate(privateKey) };
}

async function meshWith(...names: string[]) {
  const table = await MemberTable.open(new MemoryStateStore(), new Ipam('10.232.0.0/16'), { meshName: 'rot' });
  const nodes: Record<string, ReturnType<typeof node>> = {};
  for (const name of names) {
    nodes[name] = node();
    await table.join({ name, identity: nodes[name], endpoints: ENDPOINTS, tags: {}, listenPort: 51820 });
  }
  const published: MemberDelta[] = [];
  table.subscribe((d) => published.push(d));
  return { table, nodes, published };
}

describe('MemberTable: key rotation', () => {
  test('a node proving its current key and secret announces a new key: one upsert carries it, and the new secret proves the node from then on', async () => {
    const { table, nodes, published } = await meshWith('alpha', 'beta');
    const before = table.get('alpha')!;
    const next = node();

    const revision = await table.update('alpha', nodes.alpha!, { endpoints: ENDPOINTS, newKey: next });

    const after = table.get('alpha')!;
    assert.equal(after.publicKey, next.publicKey);
    assert.equal(after.secretHash, hashNodeSecret(next.secret));
    assert.equal(after.meshIp, before.meshIp, 'same node, same mesh IP');
    assert.deepEqual(published.map((d) => [d.kind, d.revision, d.kind === 'upsert' ? d.node.publicKey : '']), [['upsert', revision, next.publicKey]]);
    // The old identity no longer works; the new one does.
    await assert.rejects(table.update('alpha', nodes.alpha!, { endpoints: ENDPOINTS }), IdentityMismatch);
    await table.update('alpha', next, { endpoints: ENDPOINTS });
    const rejoined = await table.join({ name: 'alpha', identity: next, endpoints: ENDPOINTS, tags: {}, listenPort: 51820 });
    assert.equal(rejoined.member.meshIp, before.meshIp);
  });

  test('the new key alone proves nothing: a rotation needs the current secret, and a new key without its secret is refused', async () => {
    const { table, nodes } = await meshWith('alpha');
    const thief = node();
    await assert.rejects(table.update('alpha', { publicKey: nodes.alpha!.publicKey, secret: thief.secret }, { newKey: thief }), IdentityMismatch);
    await assert.rejects(table.update('alpha', { publicKey: thief.publicKey, secret: thief.secret }, { newKey: thief }), IdentityMismatch);
    await assert.rejects(table.update('alpha', nodes.alpha!, { newKey: { publicKey: thief.publicKey } }), IdentityMismatch);
    assert.equal(table.get('alpha')!.publicKey, nodes.alpha!.publicKey, 'the key stays');
  });

  test("another member's key is refused (PublicKeyTaken): a key stays unique in the mesh", async () => {
    const { table, nodes, published } = await meshWith('alpha', 'beta');
    await assert.rejects(table.update('alpha', nodes.alpha!, { newKey: { publicKey: nodes.beta!.publicKey, secret: nodes.beta!.secret } }), PublicKeyTaken);
    assert.equal(table.get('alpha')!.publicKey, nodes.alpha!.publicKey);
    assert.deepEqual(published, []);
  });

  test('sent again after a lost answer (old identity, same new key): accepted as a heartbeat of the new identity, nothing published', async () => {
    const { table, nodes, published } = await meshWith('alpha');
    const next = node();
    await table.update('alpha', nodes.alpha!, { endpoints: ENDPOINTS, newKey: next });
    await table.update('alpha', nodes.alpha!, { endpoints: ENDPOINTS, newKey: next });
    assert.equal(table.get('alpha')!.publicKey, next.publicKey);
    assert.equal(published.length, 1);
    // But not with a wrong secret for the new key.
    await assert.rejects(table.update('alpha', nodes.alpha!, { endpoints: ENDPOINTS, newKey: { publicKey: next.publicKey, secret: node().secret } }), IdentityMismatch);
  });

  test('with a certificate (mTLS) the certificate proves the node; only the key changes', async () => {
    const table = await MemberTable.open(new MemoryStateStore(), new Ipam('10.232.0.0/16'), { meshName: 'rot' });
    const cert = { fingerprint: 'ab', serial: '1', notAfterMs: Date.now() + 3_600_000 };
    const first = node();
    await table.join({ name: 'alpha', identity: { publicKey: first.publicKey, cert }, endpoints: ENDPOINTS, tags: {}, listenPort: 51820 });
    const next = node();
    await table.update('alpha', { publicKey: first.publicKey, cert }, { newKey: { publicKey: next.publicKey } });
    assert.equal(table.get('alpha')!.publicKey, next.publicKey);
    assert.equal(table.get('alpha')!.certFingerprint, 'ab');
  });
});
