import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { generateKeyPair, loadProtos, type JoinRequest, type JoinResponse__Output, type LeaveRequest, type MeshClient, type RttMatrixRequest, type RttResponse__Output, type UpdateRequest } from '@wgmesh/agent';
import { startBootstrap, tempDir, MESH } from '../fixtures.js';
import type { Bootstrap } from '../../src/bootstrap.js';
import { LIMITS } from '../../src/constants.js';
import { journalFileFor } from '../../src/members/store.js';

/**
 * Every field of every request is validated at the edge: a bad request gets the right gRPC status,
 * a message naming the offending field, and changes no state (member table, revision, state file).
 */

const ALPHA = generateKeyPair();
const OTHER = generateKeyPair();
/** alpha's node secret from its join; every request but Join carries it unless the case sets its own node_secret. */
let alphaSecret = '';

const validJoin = (): JoinRequest => ({
  meshName: MESH,
  nodeName: 'newcomer',
  publicKey: generateKeyPair().publicKey,
  endpoints: [{ ip: '192.0.2.20', port: 51820, kind: 'ENDPOINT_KIND_LAN' }],
  tags: { role: 'web' },
  listenPort: 51820,
});

const validUpdate = (): UpdateRequest => ({
  meshName: MESH,
  nodeName: 'alpha',
  publicKey: ALPHA.publicKey,
  endpoints: [{ ip: '192.0.2.10', port: 51820, kind: 'ENDPOINT_KIND_LAN' }],
  tags: { role: 'db' },
  rtt: [{ peer: 'bootstrap', rttMs: 1.25, loss: 0 }],
});

type Method = 'join' | 'update' | 'leave' | 'rtt';

interface BadCase {
  readonly name: string;
  readonly method: Method;
  readonly request: JoinRequest | UpdateRequest | LeaveRequest | RttMatrixRequest;
  readonly code: grpc.status;
  /** Text the error details must contain: the field, as the client sent it. */
  readonly mentions: string | RegExp;
}

const join = (name: string, change: Partial<JoinRequest>, code: grpc.status, mentions: string | RegExp): BadCase =>
  ({ name: `Join: ${name}`, method: 'join', request: { ...validJoin(), ...change }, code, mentions });
const update = (name: string, change: Partial<UpdateRequest>, code: grpc.status, mentions: string | RegExp): BadCase =>
  ({ name: `Update: ${name}`, method: 'update', request: { ...validUpdate(), ...change }, code, mentions });

const { INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED, RESOURCE_EXHAUSTED } = grpc.status;
/** X25519 points of small order: as keys they make a tunnel without a secret. */
const lowOrder = (hex: string) => Buffer.from(hex, 'hex').toString('base64');
const LOW_ORDER_KEYS: [string, string][] = [
  ['all zeros', lowOrder('00'.repeat(32))],
  ['the point 1', lowOrder('01' + '00'.repeat(31))],
  ['a point of order 8', lowOrder('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800')],
  ['p-1 with the ignored top bit set', lowOrder('ec' + 'ff'.repeat(30) + 'ff')],
];
const asAlpha = { meshName: MESH, nodeName: 'alpha', publicKey: ALPHA.publicKey };
const lan = (ip: string, port = 51820) => ({ ip, port, kind: 'ENDPOINT_KIND_LAN' as const });
const manyTags = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
const OVERSIZE = /larger than max.*65536|65536.*larger/i;

const CASES: BadCase[] = [
  // Public keys: base64 of exactly 32 bytes, nothing else.
  join('empty public key', { publicKey: '' }, INVALID_ARGUMENT, 'public_key'),
  join('public key that is not base64', { publicKey: 'this is not base64 at all, not even close!!' }, INVALID_ARGUMENT, 'public_key'),
  join('public key of 31 bytes', { publicKey: Buffer.alloc(31, 7).toString('base64') }, INVALID_ARGUMENT, 'public_key'),
  join('public key of 33 bytes', { publicKey: Buffer.alloc(33, 7).toString('base64') }, INVALID_ARGUMENT, 'public_key'),
  join('a private key pasted with whitespace around it', { publicKey: `  ${generateKeyPair().privateKey}\n` }, INVALID_ARGUMENT, 'public_key'),
  join('public key in the URL-safe base64 alphabet', { publicKey: Buffer.alloc(32, 0xfb).toString('base64url') + '=' }, INVALID_ARGUMENT, 'public_key'),
  join('public key in non-canonical base64 (wg refuses it)', { publicKey: `${'A'.repeat(42)}B=` }, INVALID_ARGUMENT, 'public_key'),
  // Node names: one DNS label.
  join('empty node name', { nodeName: '' }, INVALID_ARGUMENT, 'node_name'),
  join('node name of 64 characters', { nodeName: 'n'.repeat(64) }, INVALID_ARGUMENT, 'node_name'),
  join('node name with an underscore', { nodeName: 'web_1' }, INVALID_ARGUMENT, 'node_name'),
  join("node name starting with '-'", { nodeName: '-web1' }, INVALID_ARGUMENT, 'node_name'),
  join("node name ending with '-'", { nodeName: 'web1-' }, INVALID_ARGUMENT, 'node_name'),
  join('node name with a space', { nodeName: 'web 1' }, INVALID_ARGUMENT, 'node_name'),
  join('node name with unicode', { nodeName: 'nöde' }, INVALID_ARGUMENT, 'node_name'),
  join('node name with a dot', { nodeName: 'web.example' }, INVALID_ARGUMENT, 'node_name'),
  // Mesh names.
  join('empty mesh name', { meshName: '' }, INVALID_ARGUMENT, 'mesh_name'),
  join('another mesh', { meshName: 'othermesh' }, NOT_FOUND, 'mesh_name'),
  join(`mesh name of ${LIMITS.meshNameMax + 1} characters`, { meshName: 'm'.repeat(LIMITS.meshNameMax + 1) }, INVALID_ARGUMENT, 'mesh_name'),
  // Endpoints: IP and port, and only kinds a node may claim.
  join('endpoint with a bad IP', { endpoints: [lan('192.0.2.300')] }, INVALID_ARGUMENT, 'endpoints[0].ip'),
  join('endpoint with a host name for an IP', { endpoints: [lan('192.0.2.1'), lan('example.com')] }, INVALID_ARGUMENT, 'endpoints[1].ip'),
  join('endpoint with port 0', { endpoints: [lan('192.0.2.1', 0)] }, INVALID_ARGUMENT, 'endpoints[0].port'),
  join('endpoint with port 70000', { endpoints: [lan('192.0.2.1', 70_000)] }, INVALID_ARGUMENT, 'endpoints[0].port'),
  join(`${LIMITS.endpointsMax + 1} endpoints`, { endpoints: Array.from({ length: LIMITS.endpointsMax + 1 }, (_, i) => lan(`192.0.2.${i + 1}`)) }, INVALID_ARGUMENT, 'endpoints'),
  join('an OBSERVED endpoint claimed by the node', { endpoints: [{ ip: '203.0.113.5', port: 51820, kind: 'ENDPOINT_KIND_OBSERVED' }] }, INVALID_ARGUMENT, 'endpoints[0].kind'),
  // Endpoints no peer can use: every node's `wg set` would fail on them, or send to itself.
  join('endpoint with an IPv6 zone ID', { endpoints: [lan('fe80::1%zzz')] }, INVALID_ARGUMENT, /endpoints\[0\]\.ip.*zone ID/),
  join('endpoint with a zone ID on a global address', { endpoints: [lan('192.0.2.1'), lan('2001:db8::1%eth0')] }, INVALID_ARGUMENT, /endpoints\[1\]\.ip.*zone ID/),
  join('endpoint 0.0.0.0', { endpoints: [lan('0.0.0.0')] }, INVALID_ARGUMENT, /endpoints\[0\]\.ip.*unspecified/),
  join('endpoint ::', { endpoints: [lan('::')] }, INVALID_ARGUMENT, /endpoints\[0\]\.ip.*unspecified/),
  join('endpoint 255.255.255.255', { endpoints: [lan('255.255.255.255')] }, INVALID_ARGUMENT, /endpoints\[0\]\.ip.*broadcast/),
  join('endpoint in IPv4 multicast', { endpoints: [lan('239.1.2.3')] }, INVALID_ARGUMENT, /endpoints\[0\]\.ip.*multicast/),
  join('endpoint in IPv6 multicast', { endpoints: [lan('ff02::1')] }, INVALID_ARGUMENT, /endpoints\[0\]\.ip.*multicast/),
  join('endpoint on IPv4 loopback', { endpoints: [lan('127.0.0.1')] }, INVALID_ARGUMENT, /endpoints\[0\]\.ip.*loopback/),
  join('endpoint on IPv6 loopback', { endpoints: [lan('::1')] }, INVALID_ARGUMENT, /endpoints\[0\]\.ip.*loopback/),
  join('endpoint on IPv4-mapped loopback', { endpoints: [lan('::ffff:127.0.0.1')] }, INVALID_ARGUMENT, /endpoints\[0\]\.ip.*loopback/),
  join('endpoint IPv4-mapped unspecified', { endpoints: [lan('::ffff:0.0.0.0')] }, INVALID_ARGUMENT, /endpoints\[0\]\.ip.*unspecified/),
  join('endpoint IPv4-mapped multicast', { endpoints: [lan('::ffff:224.0.0.1')] }, INVALID_ARGUMENT, /endpoints\[0\]\.ip.*multicast/),
  join('endpoint IPv6 link-local without a zone', { endpoints: [lan('fe80::1')] }, INVALID_ARGUMENT, /endpoints\[0\]\.ip.*link-local/),
  join('endpoint inside the mesh CIDR', { endpoints: [lan('192.0.2.1'), lan('198.18.7.7')] }, INVALID_ARGUMENT, /endpoints\[1\]\.ip.*inside the mesh network 198\.18\.0\.0\/16/),
  join("endpoint on the bootstrap's own mesh IP", { endpoints: [lan('198.18.0.1')] }, INVALID_ARGUMENT, /endpoints\[0\]\.ip.*inside the mesh network/),
  join('endpoint inside the mesh CIDR, IPv4-mapped', { endpoints: [lan('::ffff:198.18.0.9')] }, INVALID_ARGUMENT, /endpoints\[0\]\.ip.*inside the mesh network/),
  // Tags: count, key shape, value size and content.
  join(`${LIMITS.tagsMax + 1} tags`, { tags: manyTags(LIMITS.tagsMax + 1) }, INVALID_ARGUMENT, 'tags'),
  join('tag key with a space', { tags: { 'my key': 'v' } }, INVALID_ARGUMENT, 'tags'),
  join('empty tag key', { tags: { '': 'v' } }, INVALID_ARGUMENT, 'tags'),
  join(`tag key of ${LIMITS.tagKeyMax + 1} characters`, { tags: { ['k'.repeat(LIMITS.tagKeyMax + 1)]: 'v' } }, INVALID_ARGUMENT, 'tags'),
  join(`tag value of ${LIMITS.tagValueMax + 1} bytes`, { tags: { note: 'x'.repeat(LIMITS.tagValueMax + 1) } }, INVALID_ARGUMENT, 'tags["note"]'),
  join('tag value of 128 characters but 256 bytes', { tags: { note: 'é'.repeat(128) } }, INVALID_ARGUMENT, 'tags["note"]'),
  join('tag value with a control character', { tags: { note: 'ring\u0007bell' } }, INVALID_ARGUMENT, 'tags["note"]'),
  join('tag value with a newline', { tags: { note: 'two\nlines' } }, INVALID_ARGUMENT, 'tags["note"]'),
  // Listen port.
  join('listen port 0 (or missing)', { listenPort: 0 }, INVALID_ARGUMENT, 'listen_port'),
  join('listen port 70000', { listenPort: 70_000 }, INVALID_ARGUMENT, 'listen_port'),
  // Size cap: grpc refuses before any handler runs.
  join(`a message over ${LIMITS.messageMax} bytes`, { tags: { note: 'x'.repeat(LIMITS.messageMax + 1000) } }, RESOURCE_EXHAUSTED, OVERSIZE),
  // Identity.
  join('the name of a member with another key', { nodeName: 'alpha', publicKey: OTHER.publicKey }, ALREADY_EXISTS, 'node_name'),
  join('the name of a member in other letter case with another key', { nodeName: 'ALPHA', publicKey: OTHER.publicKey }, ALREADY_EXISTS, 'node_name'),
  // Names and keys are public: a re-join as alpha needs alpha's secret, and keys are one per member.
  join("alpha's name and key without its node secret (a takeover)", { nodeName: 'alpha', publicKey: ALPHA.publicKey, nodeSecret: '' }, ALREADY_EXISTS, 'node_name'),
  join("alpha's name and key with a wrong node secret", { nodeName: 'alpha', publicKey: ALPHA.publicKey, nodeSecret: 'A'.repeat(43) }, ALREADY_EXISTS, 'node_name'),
  join("another name with alpha's public key", { nodeName: 'mallory', publicKey: ALPHA.publicKey }, ALREADY_EXISTS, 'public_key'),
  join('a node secret of 1,000 characters', { nodeSecret: 's'.repeat(1000) }, INVALID_ARGUMENT, 'node_secret'),
  ...LOW_ORDER_KEYS.map(([what, key]) => join(`a low-order public key: ${what}`, { publicKey: key }, INVALID_ARGUMENT, 'public_key')),

  update('as alpha with another key', { publicKey: OTHER.publicKey }, PERMISSION_DENIED, 'public_key'),
  update('for a node that never joined', { nodeName: 'ghost', publicKey: OTHER.publicKey }, NOT_FOUND, 'node_name'),
  update('rtt sample with loss 2', { rtt: [{ peer: 'bootstrap', rttMs: 1, loss: 2 }] }, INVALID_ARGUMENT, 'rtt[0].loss'),
  update('rtt sample with a negative loss', { rtt: [{ peer: 'bootstrap', rttMs: 1, loss: 0 }, { peer: 'bootstrap', rttMs: 1, loss: -0.5 }] }, INVALID_ARGUMENT, 'rtt[1].loss'),
  update('rtt sample with a negative rtt', { rtt: [{ peer: 'bootstrap', rttMs: -3, loss: 0 }] }, INVALID_ARGUMENT, 'rtt[0].rtt_ms'),
  update('rtt sample with NaN rtt', { rtt: [{ peer: 'bootstrap', rttMs: Number.NaN, loss: 0 }] }, INVALID_ARGUMENT, 'rtt[0].rtt_ms'),
  update('rtt sample for a peer name that is not a DNS label', { rtt: [{ peer: 'bad_peer', rttMs: 1, loss: 0 }] }, INVALID_ARGUMENT, 'rtt[0].peer'),
  update('endpoint with port 0', { endpoints: [lan('192.0.2.10', 0)] }, INVALID_ARGUMENT, 'endpoints[0].port'),
  update('an OBSERVED endpoint', { endpoints: [{ ip: '203.0.113.5', port: 51820, kind: 'ENDPOINT_KIND_OBSERVED' }] }, INVALID_ARGUMENT, 'endpoints[0].kind'),
  update('endpoint with an IPv6 zone ID', { endpoints: [lan('fe80::1%zzz')] }, INVALID_ARGUMENT, /endpoints\[0\]\.ip.*zone ID/),
  update('endpoint on loopback', { endpoints: [lan('192.0.2.10'), lan('127.0.0.1')] }, INVALID_ARGUMENT, /endpoints\[1\]\.ip.*loopback/),
  update('endpoint inside the mesh CIDR', { endpoints: [lan('198.18.0.50')] }, INVALID_ARGUMENT, /endpoints\[0\]\.ip.*inside the mesh network/),
  update(`${LIMITS.tagsMax + 1} tags`, { tags: manyTags(LIMITS.tagsMax + 1) }, INVALID_ARGUMENT, 'tags'),
  update('tag value with a control character', { tags: { note: 'a\u0000b' } }, INVALID_ARGUMENT, 'tags["note"]'),
  update('another mesh', { meshName: 'othermesh' }, NOT_FOUND, 'mesh_name'),
  update('a 33-byte public key', { publicKey: Buffer.alloc(33, 1).toString('base64') }, INVALID_ARGUMENT, 'public_key'),
  update(`a message over ${LIMITS.messageMax} bytes`, { tags: { note: 'x'.repeat(LIMITS.messageMax + 1000) } }, RESOURCE_EXHAUSTED, OVERSIZE),

  update('as alpha without its node secret (forged: name and key are public)', { nodeSecret: '' }, PERMISSION_DENIED, 'node_secret'),
  update('as alpha with a wrong node secret', { nodeSecret: 'A'.repeat(43) }, PERMISSION_DENIED, 'node_secret'),
  update('a low-order public key', { publicKey: LOW_ORDER_KEYS[0]![1] }, INVALID_ARGUMENT, 'public_key'),
  { name: 'Leave: as alpha without its node secret (forged)', method: 'leave', request: { ...asAlpha, nodeSecret: '' }, code: PERMISSION_DENIED, mentions: 'node_secret' },
  { name: 'Leave: as alpha with a wrong node secret', method: 'leave', request: { ...asAlpha, nodeSecret: 'B'.repeat(43) }, code: PERMISSION_DENIED, mentions: 'node_secret' },
  { name: 'Rtt: as alpha without its node secret', method: 'rtt', request: { ...asAlpha, nodeSecret: '' }, code: PERMISSION_DENIED, mentions: 'node_secret' },
  { name: 'Leave: as alpha with another key', method: 'leave', request: { meshName: MESH, nodeName: 'alpha', publicKey: OTHER.publicKey }, code: PERMISSION_DENIED, mentions: 'public_key' },
  { name: 'Leave: for a node that never joined', method: 'leave', request: { meshName: MESH, nodeName: 'ghost', publicKey: OTHER.publicKey }, code: NOT_FOUND, mentions: 'node_name' },

  // The RTT matrix names every member: only members get it, as themselves.
  { name: 'Rtt: as alpha with another key', method: 'rtt', request: { meshName: MESH, nodeName: 'alpha', publicKey: OTHER.publicKey }, code: PERMISSION_DENIED, mentions: 'public_key' },
  { name: 'Rtt: for a node that never joined', method: 'rtt', request: { meshName: MESH, nodeName: 'ghost', publicKey: OTHER.publicKey }, code: NOT_FOUND, mentions: 'node_name' },
  { name: 'Rtt: another mesh', method: 'rtt', request: { meshName: 'othermesh', nodeName: 'alpha', publicKey: ALPHA.publicKey }, code: NOT_FOUND, mentions: 'mesh_name' },
];

/** One unary call; resolves with the error (or undefined on success), never rejects. */
function call(client: MeshClient, method: Method, given: BadCase['request']): Promise<grpc.ServiceError | undefined> {
  // A Join with alpha's secret would be alpha itself re-joining (maybe with a new key): Join cases are strangers.
  const request = method === 'join' ? given : { nodeSecret: alphaSecret, ...given };
  return new Promise((resolve) => {
    const done = (err: grpc.ServiceError | null) => resolve(err ?? undefined);
    const options = { deadline: Date.now() + 10_000 };
    if (method === 'join') client.join(request as JoinRequest, options, done);
    else if (method === 'update') client.update(request as UpdateRequest, options, done);
    else if (method === 'rtt') client.rtt(request as RttMatrixRequest, options, done);
    else client.leave(request as LeaveRequest, options, done);
  });
}

describe('bad requests over gRPC change nothing', () => {
  let cleanup: (() => Promise<void>) | undefined;
  let bootstrap: Bootstrap | undefined;
  let client: MeshClient | undefined;
  let stateFile = '';

  /** Everything a request could change: the table, its revision, the liveness it tracks, the state files (snapshot and journal). */
  const observe = async () => {
    const table = bootstrap!.table!;
    return {
      revision: table.revision,
      members: JSON.stringify(table.list()),
      alphaLastSeen: table.lastSeenMs('alpha'),
      file: Buffer.concat([await readFile(stateFile), await readFile(journalFileFor(stateFile)).catch(() => Buffer.alloc(0))]),
    };
  };

  before(async () => {
    const tmp = await tempDir();
    cleanup = tmp.cleanup;
    stateFile = path.join(tmp.dir, 'state.json');
    ({ bootstrap } = await startBootstrap(stateFile));
    client = new (loadProtos().mesh.wgmesh.v1.Mesh)(`127.0.0.1:${bootstrap.port}`, grpc.credentials.createInsecure());

    // One legitimate member, so that "name taken" and Update have a target.
    const joined = await new Promise<JoinResponse__Output>((resolve, reject) =>
      client!.join({ ...validJoin(), nodeName: 'alpha', publicKey: ALPHA.publicKey }, { deadline: Date.now() + 10_000 }, (e, r) => (e ? reject(e) : resolve(r!))));
    alphaSecret = joined.nodeSecret;
    assert.match(alphaSecret, /^[A-Za-z0-9_-]{43}$/, 'a dev-mode join answers with a node secret');
    assert.ok(bootstrap.table!.get('alpha'));
  });

  after(async () => {
    client?.close();
    await bootstrap?.stop();
    await cleanup?.();
  });

  test(`the table holds at least 25 cases (${CASES.length})`, () => {
    assert.ok(CASES.length >= 25);
    assert.equal(new Set(CASES.map((c) => c.name)).size, CASES.length, 'case names are unique');
  });

  for (const c of CASES) {
    test(c.name, async () => {
      const before = await observe();

      const err = await call(client!, c.method, c.request);

      assert.ok(err, 'the request was refused');
      assert.equal(grpc.status[err.code], grpc.status[c.code], `status code (details: ${err.details})`);
      if (typeof c.mentions === 'string') assert.ok(err.details.includes(c.mentions), `details name ${c.mentions}: "${err.details}"`);
      else assert.match(err.details, c.mentions);

      const afterwards = await observe();
      assert.equal(afterwards.revision, before.revision, 'revision unchanged');
      assert.equal(afterwards.members, before.members, 'members unchanged');
      assert.equal(afterwards.alphaLastSeen, before.alphaLastSeen, "alpha's liveness unchanged");
      assert.ok(afterwards.file.equals(before.file), 'state file unchanged');
    });
  }

  test('Watch as alpha without its node secret, or with a wrong one, is refused (PERMISSION_DENIED) and changes nothing', async () => {
    for (const nodeSecret of ['', 'C'.repeat(43)]) {
      const before = await observe();
      const err = await new Promise<grpc.ServiceError | undefined>((resolve) => {
        const stream = client!.watch({ ...asAlpha, nodeSecret, sinceRevision: 0 });
        stream.on('data', () => resolve(undefined));
        stream.on('error', (e: grpc.ServiceError) => resolve(e));
      });
      assert.ok(err, 'the stream was refused');
      assert.equal(grpc.status[err.code], 'PERMISSION_DENIED', err.details);
      assert.match(err.details, /node_secret/);
      const afterwards = await observe();
      assert.equal(afterwards.members, before.members);
      assert.equal(afterwards.alphaLastSeen, before.alphaLastSeen);
    }
  });

  test('control: a valid Update for alpha does change the table and the file (the checks above can see a change)', async () => {
    const before = await observe();
    const err = await call(client!, 'update', { ...validUpdate(), tags: { role: 'db', changed: 'yes' } });
    assert.equal(err, undefined, err?.details);
    const afterwards = await observe();
    assert.equal(afterwards.revision, before.revision + 1);
    assert.notEqual(afterwards.members, before.members);
    assert.ok(!afterwards.file.equals(before.file));
    assert.equal(bootstrap!.table!.get('alpha')?.tags.changed, 'yes');
  });

  test('RTT samples reach the matrix without a new revision, a published change or a state-file write', async () => {
    const before = await observe();
    const published: unknown[] = [];
    const unsubscribe = bootstrap!.table!.subscribe((d) => published.push(d));
    const err = await call(client!, 'update', { ...validUpdate(), tags: { role: 'db', changed: 'yes' }, rtt: [{ peer: 'bootstrap', rttMs: 2.5, loss: 0.1 }] });
    unsubscribe();
    assert.equal(err, undefined, err?.details);
    const afterwards = await observe();
    assert.equal(afterwards.revision, before.revision, 'only the samples were new: no revision');
    assert.deepEqual(published, [], 'nothing sent to the watchers');
    assert.ok(afterwards.file.equals(before.file), 'nothing written');
    const matrix = await new Promise<RttResponse__Output>((resolve, reject) => client!.rtt({ ...asAlpha, nodeSecret: alphaSecret }, { deadline: Date.now() + 10_000 }, (e, r) => (e ? reject(e) : resolve(r!))));
    assert.deepEqual(matrix.nodes, ['alpha', 'bootstrap']);
    assert.deepEqual(matrix.rows.filter((r) => r.from === 'alpha'), [{ from: 'alpha', to: 'bootstrap', rttMs: 2.5, loss: 0.1, measuredAtMs: 0 }]);
    assert.equal(matrix.partial, false);
  });
});
