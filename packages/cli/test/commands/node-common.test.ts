import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isWgKey } from '@wgmesh/agent';
import { checkMeshName, loadOrCreateKey, parseTags } from '../../src/commands/node-common.js';
import { UsageError } from '../../src/flags/parse.js';

test('the private key is made once, kept with mode 0600, and reused', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-key-'));
  try {
    const key = await loadOrCreateKey(dir, 'lab');
    assert.ok(isWgKey(key));
    const file = path.join(dir, 'lab', 'private.key');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal(await loadOrCreateKey(dir, 'lab'), key, 'the same key on the next start');
    await writeFile(file, 'garbage\n');
    await assert.rejects(loadOrCreateKey(dir, 'lab'), /does not hold a WireGuard private key; move it away/);
    assert.equal(await readFile(file, 'utf8'), 'garbage\n', 'a bad key file is never overwritten');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('mesh names fit the interface name; tags are KEY=VALUE', () => {
  checkMeshName('lab');
  checkMeshName('abcdefghij');
  assert.throws(() => checkMeshName('abcdefghijk'), UsageError);
  assert.throws(() => checkMeshName('bad_name'), /1-10 letters/);
  assert.deepEqual(parseTags(['a=1', 'svc:http=80', 'empty=']), { a: '1', 'svc:http': '80', empty: '' });
  assert.throws(() => parseTags(['novalue']), /not KEY=VALUE/);
  assert.ok(Object.hasOwn(parseTags(['__proto__=x']), '__proto__'), 'a key named like an Object property is a plain own key (the bootstrap then refuses it)');
});
