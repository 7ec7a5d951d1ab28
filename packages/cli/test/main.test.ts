import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../src/main.js';

test('a command name that is an Object property is an unknown command, not a crash', async (t) => {
  // main() reports on stderr: capture it for the assertion (and to keep the test output clean).
  let stderr = '';
  t.mock.method(process.stderr, 'write', (chunk: string) => {
    stderr += chunk;
    return true;
  });
  for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
    stderr = '';
    assert.equal(await main([name], {}), 2, name);
    assert.match(stderr, new RegExp(`^wgmesh: unknown command "${name}"`));
  }
});
