import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { generateKeyPair, isWgKey, nodeSecretFromPrivate, publicKeyFromPrivate } from '../../src/wg/keys.js';

/** `wg pubkey` from wireguard-tools: the reference we must agree with. */
function wgPubkey(privateKey: string): string {
  return execFileSync('wg', ['pubkey'], { input: `${privateKey}\n`, encoding: 'utf8' }).trim();
}

/** Whether wireguard-tools accepts `value` as a key at all. */
function wgAccepts(value: string): boolean {
  return spawnSync('wg', ['pubkey'], { input: `${value}\n`, encoding: 'utf8' }).status === 0;
}

describe('WireGuard keys', () => {
  test('a generated pair is two keys, and the public one derives from the private one', () => {
    for (let i = 0; i < 20; i++) {
      const { privateKey, publicKey } = generateKeyPair();
      assert.ok(isWgKey(privateKey), privateKey);
      assert.ok(isWgKey(publicKey), publicKey);
      assert.notEqual(privateKey, publicKey);
      assert.equal(publicKeyFromPrivate(privateKey), publicKey);
    }
  });

  test('a generated private key is clamped as `wg genkey` clamps it', () => {
    for (let i = 0; i < 200; i++) {
      const raw = Buffer.from(generateKeyPair().privateKey, 'base64');
      assert.equal(raw[0]! & 7, 0, 'low three bits clear');
      assert.equal(raw[31]! & 128, 0, 'top bit clear');
      assert.equal(raw[31]! & 64, 64, 'second-top bit set');
    }
  });

  test('10,000 pairs with a 1 MB young generation (a collection during nearly every key) all come out: no deadlock', { timeout: 120_000 }, async () => {
    // Node 20's own generateKeyPairSync + JWK export hung here every time (a GC during the export).
    const keys = fileURLToPath(new URL('../../src/wg/keys.ts', import.meta.url));
    const script = `import { generateKeyPair } from ${JSON.stringify(keys)}; const seen = new Set(); ` +
      'for (let i = 0; i < 10000; i++) seen.add(generateKeyPair().publicKey); console.log(seen.size);';
    const child = spawn(process.execPath, ['--max-semi-space-size=1', '--conditions=source', '--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    clearTimeout(timer);
    assert.equal(signal, null, `the key generator did not finish within 60 s (deadlocked?): ${err}`);
    assert.equal(code, 0, err);
    assert.equal(out.trim(), '10000', 'every pair distinct');
  });

  test('pairs are not repeated', () => {
    const keys = new Set(Array.from({ length: 50 }, () => generateKeyPair().privateKey));
    assert.equal(keys.size, 50);
  });

  test('our public keys are the ones `wg pubkey` prints, for our keys and for `wg genkey` keys', () => {
    for (let i = 0; i < 5; i++) {
      const ours = generateKeyPair();
      assert.equal(wgPubkey(ours.privateKey), ours.publicKey);

      const theirs = execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim();
      assert.equal(publicKeyFromPrivate(theirs), wgPubkey(theirs));
    }
  });

  test('an unclamped private key (32 random bytes) derives the same public key as `wg pubkey`', () => {
    for (let i = 0; i < 5; i++) {
      const raw = randomBytes(32);
      raw[0]! |= 7; // bits that clamping clears
      raw[31]! |= 0x80;
      const privateKey = raw.toString('base64');
      assert.equal(publicKeyFromPrivate(privateKey), wgPubkey(privateKey));
    }
  });

  test('publicKeyFromPrivate refuses what is not 32 bytes', () => {
    assert.throws(() => publicKeyFromPrivate(''), /32 bytes/);
    assert.throws(() => publicKeyFromPrivate(Buffer.alloc(31).toString('base64')), /32 bytes/);
    assert.throws(() => publicKeyFromPrivate(Buffer.alloc(33).toString('base64')), /32 bytes/);
  });

  test('publicKeyFromPrivate keeps the last key it derived, never another key\'s (a rotation switches back and forth)', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    // The same key asked again (a device read every few seconds), then alternating keys.
    for (const pair of [a, a, b, b, a, b, a]) assert.equal(publicKeyFromPrivate(pair.privateKey), pair.publicKey);
    // A refused key after a good one is still refused: the memo holds only derived keys.
    assert.throws(() => publicKeyFromPrivate(''), /32 bytes/);
    assert.equal(publicKeyFromPrivate(b.privateKey), b.publicKey);
  });

  const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const { privateKey: sample } = generateKeyPair();
  const cases: [string, string, boolean][] = [
    ['a generated key', sample, true],
    ['all zero bytes', Buffer.alloc(32).toString('base64'), true],
    ['all 0xff bytes', Buffer.alloc(32, 0xff).toString('base64'), true],
    ['empty', '', false],
    ['without its padding', sample.slice(0, 43), false],
    ['31 bytes', Buffer.alloc(31, 9).toString('base64'), false],
    ['33 bytes', Buffer.alloc(33, 9).toString('base64'), false],
    ['64 bytes', Buffer.alloc(64, 9).toString('base64'), false],
    ['URL-safe alphabet', Buffer.alloc(32, 0xfb).toString('base64url') + '=', false],
    ['not base64', 'this is not base64 at all, not even close!!', false],
    ['hex', Buffer.alloc(32, 0xab).toString('hex'), false],
    // 43 characters carry 258 bits; the last 2 must be zero or the text is not the canonical spelling of the key.
    ['non-canonical: stray bits after the 32nd byte', `${'A'.repeat(42)}B=`, false],
    ['non-canonical: stray bits in a real key', `${sample.slice(0, 42)}${BASE64[BASE64.indexOf(sample[42]!) + 1]}=`, false],
  ];
  for (const [label, value, expected] of cases) {
    test(`isWgKey: ${label} → ${expected}, as wireguard-tools decides`, () => {
      assert.equal(isWgKey(value), expected);
      if (value !== '') assert.equal(wgAccepts(value), expected, 'wg agrees');
    });
  }

  for (const [label, value] of [
    ['leading space', ` ${sample}`],
    ['trailing newline', `${sample}\n`],
    ['space inside', `${sample.slice(0, 20)} ${sample.slice(21)}`],
    ['two keys', `${sample}${sample}`],
  ] as const) {
    test(`isWgKey: ${label} → false`, () => {
      assert.equal(isWgKey(value), false);
    });
  }
});

test('the node secret is derived from the private key: stable for a key, different for another, not the public key', () => {
  const a = generateKeyPair();
  const b = generateKeyPair();
  assert.equal(nodeSecretFromPrivate(a.privateKey), nodeSecretFromPrivate(a.privateKey));
  assert.notEqual(nodeSecretFromPrivate(a.privateKey), nodeSecretFromPrivate(b.privateKey));
  assert.match(nodeSecretFromPrivate(a.privateKey), /^[A-Za-z0-9_-]{43}$/);
  assert.ok(!nodeSecretFromPrivate(a.privateKey).includes(a.publicKey.slice(0, 20)));
});
