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

test('every command in help has a loader, and every loader a line in help', async () => {
  const { COMMAND_SUMMARIES } = await import('../src/help.js');
  const { COMMAND_LOADERS } = await import('../src/commands/table.js');
  assert.deepEqual(Object.keys(COMMAND_LOADERS), Object.keys(COMMAND_SUMMARIES));
});

test('wgmesh version: version, commit and build date; from source (no build stamp) both "unknown"', async (t) => {
  const { buildInfo, versionLine, VERSION } = await import('../src/help.js');
  assert.deepEqual(buildInfo(), { version: VERSION, commit: 'unknown', date: 'unknown' });
  assert.equal(versionLine({ version: '0.1.0', commit: '4c53267abcde', date: '2026-12-02T08:55:46Z' }), 'wgmesh 0.1.0 (commit 4c53267abcde, built 2026-12-02T08:55:46Z)\n');
  let stdout = '';
  t.mock.method(process.stdout, 'write', (chunk: string) => {
    stdout += chunk;
    return true;
  });
  assert.equal(await main(['version'], {}), 0);
  assert.equal(stdout, `wgmesh ${VERSION} (commit unknown, built unknown)\n`);
});
