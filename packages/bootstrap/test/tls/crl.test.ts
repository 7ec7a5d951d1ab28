import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CrlError, WgmeshError, readCrl } from '../../src/index.js';

test('an unusable CRL is a CrlError, named and coded as such', () => {
  assert.throws(() => readCrl('not a CRL', 'not a CA'), (err: unknown) =>
    err instanceof CrlError && err instanceof WgmeshError && err.name === 'CrlError' && err.code === 'CRL_INVALID' && /not a PEM CRL/.test(err.message));
});
