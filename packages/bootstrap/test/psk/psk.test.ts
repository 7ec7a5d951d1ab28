import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateKeyPair, isWgKey } from '@wgmesh/agent';
import { derivePresharedKey, loadOrCreatePskSecretFile, presharedKeySource, pskSecretFile } from '../../src/psk/psk.js';
import { ConfigError } from '../../src/errors.js';
import { tempDir } from '../fixtures.js';

const SECRET = Buffer.alloc(32, 7);

test("a pair's key is the same whichever end asks, and a WireGuard key (base64 of 32 bytes)", () => {
  const [a, b] = [generateKeyPair().publicKey, generateKeyPair().publicKey];
  const key = derivePresharedKey(SECRET, a, b);
  assert.equal(derivePresharedKey(SECRET, b, a), key);
  assert.ok(isWgKey(key));
});

test('every pair has its own key, and another secret gives other keys', () => {
  const keys = Array.from({ length: 5 }, () => generateKeyPair().publicKey);
  const derived = new Set<string>();
  for (let i = 0; i < keys.length; i++) for (let j = i + 1; j < keys.length; j++) derived.add(derivePresharedKey(SECRET, keys[i]!, keys[j]!));
  assert.equal(derived.size, 10, 'ten pairs, ten keys');
  assert.notEqual(derivePresharedKey(Buffer.alloc(32, 8), keys[0]!, keys[1]!), derivePresharedKey(SECRET, keys[0]!, keys[1]!));
});

test("a pair's key changes when either end's public key rotates", () => {
  const [a, b, rotatedA, rotatedB] = Array.from({ length: 4 }, () => generateKeyPair().publicKey);
  const before = derivePresharedKey(SECRET, a!, b!);
  assert.notEqual(derivePresharedKey(SECRET, rotatedA!, b!), before);
  assert.notEqual(derivePresharedKey(SECRET, a!, rotatedB!), before);
});

test('a secret of the wrong size is refused when the source is made', () => {
  assert.throws(() => presharedKeySource(Buffer.alloc(16)), ConfigError);
});

test('the secret file is made once (0600) next to bootstrap.json and read back the same; a bad one is refused, not replaced', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const file = pskSecretFile(path.join(dir, 'mesh', 'bootstrap.json'));
    assert.equal(file, path.join(dir, 'mesh', 'psk-secret'));
    const first = await loadOrCreatePskSecretFile(file);
    assert.equal(first.length, 32);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(await loadOrCreatePskSecretFile(file), first, 'a restart derives the same keys');

    await writeFile(file, 'not a secret\n');
    await assert.rejects(loadOrCreatePskSecretFile(file), ConfigError);
    assert.equal(await readFile(file, 'utf8'), 'not a secret\n', 'left as it was');
  } finally {
    await cleanup();
  }
});
