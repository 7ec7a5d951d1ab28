import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Agent } from '../../src/agent.js';
import { LocalApiServer } from '../../src/localapi/server.js';
import { MemoryWgDriver } from '../../src/wg/memory-driver.js';
import { generateKeyPair } from '../../src/wg/keys.js';
import { loadProtos, type AgentClient, type TagsResponse__Output } from '../../src/proto/index.js';
import { fakeBootstrap, type FakeBootstrap } from '../fixtures.js';

/**
 * Every bad request to the local API gets the right gRPC status and a short message naming the
 * field, and changes nothing: not the node's tags, not the bootstrap's record of them, and no
 * update is sent for it. Tag changes made at the same time are applied one after another.
 */

type Method = 'setTag' | 'deleteTag';

interface BadCase {
  readonly name: string;
  readonly method: Method;
  readonly key: string;
  readonly value?: string;
  readonly code: grpc.status;
  /** Text the details must contain. */
  readonly mentions: string | RegExp;
}

const { INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED } = grpc.status;
const MiB = 1024 * 1024;
const KEY_RULE = /^invalid tags\[".*\]: key must be 1-63 letters, digits, '\.', '_', '-', ':' or '\/'/;
const set = (name: string, key: string, value: string, code: grpc.status, mentions: string | RegExp): BadCase => ({ name: `SetTag: ${name}`, method: 'setTag', key, value, code, mentions });
const del = (name: string, key: string, code: grpc.status, mentions: string | RegExp): BadCase => ({ name: `DeleteTag: ${name}`, method: 'deleteTag', key, code, mentions });

const CASES: BadCase[] = [
  set('empty key', '', 'x', INVALID_ARGUMENT, KEY_RULE),
  set('key with a space', 'bad key', 'x', INVALID_ARGUMENT, KEY_RULE),
  set('key of 64 characters', 'k'.repeat(64), 'x', INVALID_ARGUMENT, KEY_RULE),
  set('key of 64,000 characters', 'k'.repeat(64_000), 'x', INVALID_ARGUMENT, KEY_RULE),
  set('key of 1 MiB (over the message limit)', 'k'.repeat(MiB), 'x', RESOURCE_EXHAUSTED, /larger than max/i),
  set('key "__proto__"', '__proto__', 'x', INVALID_ARGUMENT, KEY_RULE),
  set('key with a newline and a forged log line', 'a\n2026-01-01T00:00:00.000Z info node joined node=evil', 'x', INVALID_ARGUMENT, KEY_RULE),
  set('value of 256 bytes', 'note', 'x'.repeat(256), INVALID_ARGUMENT, 'invalid tags["note"]: value is longer than 255 bytes'),
  set('value of 128 characters but 256 bytes', 'note', 'é'.repeat(128), INVALID_ARGUMENT, 'invalid tags["note"]: value is longer than 255 bytes'),
  set('value of 64,000 characters', 'note', 'x'.repeat(64_000), INVALID_ARGUMENT, 'invalid tags["note"]: value is longer than 255 bytes'),
  set('value with a newline', 'note', 'two\nlines', INVALID_ARGUMENT, 'invalid tags["note"]: value contains control characters'),
  set('value with ESC', 'note', 'red \u001b[31m', INVALID_ARGUMENT, 'invalid tags["note"]: value contains control characters'),
  set('a service without a port', 'svc:web', 'proto=tcp', INVALID_ARGUMENT, 'invalid tags["svc:web"]: a service needs port=PORT'),
  set('a service with a port out of range', 'svc:web', 'port=65536,proto=tcp', INVALID_ARGUMENT, 'invalid tags["svc:web"]: port "65536" is not a port number (1-65535'),
  set('value with NUL', 'note', 'a\u0000b', INVALID_ARGUMENT, 'invalid tags["note"]: value contains control characters'),
  set('value with DEL', 'note', 'a\u007fb', INVALID_ARGUMENT, 'invalid tags["note"]: value contains control characters'),
  del('a key the node does not have', 'missing', NOT_FOUND, 'no tag "missing" on this node'),
  del('empty key', '', NOT_FOUND, 'no tag "" on this node'),
  del('key "toString" (an Object method, not a tag)', 'toString', NOT_FOUND, 'no tag "toString"'),
  del('key "constructor"', 'constructor', NOT_FOUND, 'no tag "constructor"'),
  del('key "__proto__"', '__proto__', NOT_FOUND, 'no tag "__proto__"'),
  del('key "hasOwnProperty"', 'hasOwnProperty', NOT_FOUND, 'no tag "hasOwnProperty"'),
  del('key of 64,000 characters', 'k'.repeat(64_000), NOT_FOUND, `no tag "${'k'.repeat(40)}…"`),
  del('key of 1 MiB (over the message limit)', 'k'.repeat(MiB), RESOURCE_EXHAUSTED, /larger than max/i),
];

const START_TAGS = { role: 'web', 'svc:http': '80' };

/** One unary call with a deadline; resolves with the error or the answer, never rejects. */
function call(client: AgentClient, method: Method, key: string, value = ''): Promise<{ err?: grpc.ServiceError; tags?: Record<string, string> }> {
  return new Promise((resolve) => {
    const done = (err: grpc.ServiceError | null, res?: TagsResponse__Output) => resolve(err ? { err } : { tags: res!.tags });
    const options = { deadline: Date.now() + 5_000 };
    if (method === 'setTag') client.setTag({ key, value }, options, done);
    else client.deleteTag({ key }, options, done);
  });
}

describe('bad local API requests change nothing', () => {
  let dir = '';
  let bootstrap: FakeBootstrap;
  let agent: Agent;
  let server: LocalApiServer;
  let client: AgentClient;

  /** Everything a tag request could change. */
  const observe = () => ({ tags: { ...agent.currentTags }, member: { ...bootstrap.memberTags() }, updates: bootstrap.updates() });

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-localapi-'));
    bootstrap = fakeBootstrap();
    agent = new Agent(
      { control: bootstrap.control, driver: new MemoryWgDriver('wg-alpha') },
      { meshName: 'sim', nodeName: 'alpha', privateKey: generateKeyPair().privateKey, tags: START_TAGS, heartbeatMs: 3_600_000 },
    );
    await agent.start();
    const socketPath = path.join(dir, 'agent.sock');
    server = new LocalApiServer(agent, { socketPath });
    await server.start();
    client = new (loadProtos().agent.wgmesh.v1.Agent)(`unix://${socketPath}`, grpc.credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await server?.stop();
    await agent?.stop({ leave: false });
    await rm(dir, { recursive: true, force: true });
  });

  test(`the table holds at least 20 cases (${CASES.length})`, () => {
    assert.ok(CASES.length >= 20);
    assert.equal(new Set(CASES.map((c) => c.name)).size, CASES.length, 'case names are unique');
  });

  for (const c of CASES) {
    test(c.name, async () => {
      const before = observe();

      const { err } = await call(client, c.method, c.key, c.value);

      assert.ok(err, 'the request was refused');
      assert.equal(grpc.status[err.code], grpc.status[c.code], `status code (details: ${err.details.slice(0, 300)})`);
      assert.ok(err.details.length < 300, `a short message (${err.details.length} characters): ${err.details.slice(0, 300)}`);
      assert.doesNotMatch(err.details, /[\u0000-\u001f\u007f]/, 'no raw control characters echoed back');
      if (typeof c.mentions === 'string') assert.ok(err.details.includes(c.mentions), `details say ${c.mentions}: "${err.details}"`);
      else assert.match(err.details, c.mentions);

      assert.deepEqual(observe(), before, 'tags, the bootstrap\'s record and the update count unchanged');
    });
  }

  test('the channel still answers after the refusals (an oversized request does not stall it)', async () => {
    const { err } = await call(client, 'deleteTag', 'missing');
    assert.equal(err?.code, NOT_FOUND);
  });

  test('two invalid SetTags at once: both refused, neither tag kept', async () => {
    const before = observe();

    const [first, second] = await Promise.all([call(client, 'setTag', 'bad key', 'x'), call(client, 'setTag', 'also bad', 'y')]);

    assert.equal(first.err?.code, INVALID_ARGUMENT, first.err?.details);
    assert.equal(second.err?.code, INVALID_ARGUMENT, second.err?.details);
    assert.deepEqual(agent.currentTags, before.tags);
    assert.deepEqual(bootstrap.memberTags(), before.member);
  });

  test('valid and invalid SetTags at once: the valid ones are applied, the invalid ones are not', async () => {
    const before = observe();

    const results = await Promise.all([
      call(client, 'setTag', 'a', '1'),
      call(client, 'setTag', 'bad key', 'x'),
      call(client, 'setTag', 'b', '2'),
      call(client, 'setTag', 'note', 'two\nlines'),
      call(client, 'deleteTag', 'svc:http'),
    ]);

    assert.deepEqual(results.map((r) => (r.err ? grpc.status[r.err.code] : 'OK')), ['OK', 'INVALID_ARGUMENT', 'OK', 'INVALID_ARGUMENT', 'OK']);
    const expected = { role: 'web', a: '1', b: '2' };
    assert.deepEqual(agent.currentTags, expected, 'the node has exactly the valid changes');
    assert.deepEqual(bootstrap.memberTags(), expected, 'and so has the bootstrap');
    assert.deepEqual(results[4]!.tags, expected, 'the last change answers with the tags after it');
    assert.equal(bootstrap.updates(), before.updates + 3, 'one update per valid change, none for the refused ones');
  });

  test('a change the bootstrap cannot be asked about fails, and only it: a change made meanwhile is kept', async () => {
    const before = observe();
    bootstrap.unreachableFor(1);

    const [lost, kept] = await Promise.all([call(client, 'setTag', 'c', '3'), call(client, 'setTag', 'd', '4')]);

    assert.equal(lost.err?.code, grpc.status.FAILED_PRECONDITION, 'unreachable: FAILED_PRECONDITION, as before');
    assert.match(lost.err!.details, /UNAVAILABLE/);
    assert.equal(kept.err, undefined, kept.err?.details);
    const expected = { ...before.tags, d: '4' };
    assert.deepEqual(agent.currentTags, expected, 'the node keeps d, not c');
    assert.deepEqual(bootstrap.memberTags(), expected, 'the bootstrap agrees');
  });

  test('control: a valid SetTag, even of a key named like an Object method, does change the tags (the checks above can see a change)', async () => {
    const before = observe();

    const { err, tags } = await call(client, 'setTag', 'toString', 'yes');

    assert.equal(err, undefined, err?.details);
    assert.deepEqual(tags, { ...before.tags, toString: 'yes' });
    assert.deepEqual(agent.currentTags, { ...before.tags, toString: 'yes' });
    assert.deepEqual(bootstrap.memberTags(), { ...before.tags, toString: 'yes' });
    assert.equal(bootstrap.updates(), before.updates + 1);

    const deleted = await call(client, 'deleteTag', 'toString');
    assert.equal(deleted.err, undefined, deleted.err?.details);
    assert.deepEqual(agent.currentTags, before.tags, 'and a tag it has can be deleted');
  });
});
