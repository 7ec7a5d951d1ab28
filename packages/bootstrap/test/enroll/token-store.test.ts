import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { FileTokenStore, MemoryTokenStore, type TokenRecord, type TokenStore } from '../../src/enroll/token-store.js';
import { newTokenSecret, tokenHash, tokenId } from '../../src/enroll/token.js';
import { TokenExpired, TokenNotFound, TokenRevoked, TokenUnknown, TokenUsed } from '../../src/errors.js';
import { tempDir } from '../fixtures.js';

const NOW = 1_800_000_000_000;

function record(over: Partial<TokenRecord> = {}): TokenRecord & { secret: string } {
  const secret = newTokenSecret();
  const hash = tokenHash(secret);
  return { secret, hash, id: tokenId(hash), tags: {}, createdMs: NOW, expiresMs: NOW + 3_600_000, uses: 1, used: 0, usedBy: [], ...over };
}

/** The same behaviour from every store (as the driver suite runs against every driver). */
function storeSuite(kind: string, make: () => Promise<TokenStore>): void {
  describe(`${kind} token store`, () => {
    test('a one-use token is used once, then refused as already used, naming who used it', async () => {
      const store = await make();
      const r = record();
      await store.add(r);
      const used = await store.consume(r.hash, NOW, 'web1');
      assert.equal(used.used, 1);
      assert.deepEqual(used.usedBy, ['web1']);
      await assert.rejects(store.consume(r.hash, NOW, 'web2'), (err: unknown) => err instanceof TokenUsed && /already used .*by web1/.test(err.message));
    });

    test('a token for three nodes enrolls three', async () => {
      const store = await make();
      const r = record({ uses: 3 });
      await store.add(r);
      for (const n of ['a', 'b', 'c']) await store.consume(r.hash, NOW, n);
      await assert.rejects(store.consume(r.hash, NOW, 'd'), TokenUsed);
    });

    test('an expired token is refused with when it expired; an unknown one as unknown', async () => {
      const store = await make();
      const r = record();
      await store.add(r);
      await assert.rejects(store.consume(r.hash, r.expiresMs, 'web1'), (err: unknown) => err instanceof TokenExpired && err.message.includes(`expired at ${new Date(r.expiresMs).toISOString()}`));
      await assert.rejects(store.consume(tokenHash('nope'), NOW, 'web1'), TokenUnknown);
    });

    test('a revoked token is refused; revoking by id, and an unknown id is TokenNotFound', async () => {
      const store = await make();
      const r = record();
      await store.add(r);
      const revoked = await store.revoke(r.id, NOW + 5);
      assert.equal(revoked.revokedMs, NOW + 5);
      await assert.rejects(store.consume(r.hash, NOW, 'web1'), TokenRevoked);
      await assert.rejects(store.revoke('ffffffffffff', NOW), TokenNotFound);
      await assert.rejects(store.revoke('ab', NOW), TokenNotFound, 'a prefix shorter than 6 digits matches nothing');
    });

    test('two nodes racing with a one-use token: exactly one wins', async () => {
      const store = await make();
      const r = record();
      await store.add(r);
      const results = await Promise.allSettled([store.consume(r.hash, NOW, 'a'), store.consume(r.hash, NOW, 'b'), store.consume(r.hash, NOW, 'c')]);
      assert.equal(results.filter((x) => x.status === 'fulfilled').length, 1);
      assert.equal((await store.get(r.hash))?.used, 1);
    });
  });
}

storeSuite('memory', async () => new MemoryTokenStore());

describe('file token store', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(async () => cleanup?.());
  let n = 0;

  storeSuite('file', async () => new FileTokenStore(path.join(dir, `tokens-${n++}.json`)));

  test('the file is 0600, holds hashes and never the secret, and survives a restart', async () => {
    const file = path.join(dir, 'persist.json');
    const { secret, ...r } = record({ name: 'web1', tags: { role: 'web' } });
    await new FileTokenStore(file).add(r);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const text = await readFile(file, 'utf8');
    assert.ok(text.includes(r.hash));
    assert.ok(!text.includes(secret), 'the secret is not stored');
    const again = new FileTokenStore(file);
    assert.equal((await again.get(r.hash))?.name, 'web1');
    await again.consume(r.hash, NOW, 'web1');
    await assert.rejects(new FileTokenStore(file).consume(r.hash, NOW, 'web1'), TokenUsed);
  });

  test('tokens expired a week ago are forgotten when a new one is added', async () => {
    const file = path.join(dir, 'prune.json');
    const store = new FileTokenStore(file);
    const old = record({ createdMs: NOW - 9 * 86_400_000, expiresMs: NOW - 8 * 86_400_000 });
    await store.add(old);
    await store.add(record());
    assert.equal(await store.get(old.hash), undefined);
  });
});
