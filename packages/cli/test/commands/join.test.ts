import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JOIN_FLAGS } from '../../src/commands/join.js';
import { BOOTSTRAP_FLAGS } from '../../src/commands/bootstrap.js';
import { formatHelp, resolveFlags, UsageError } from '../../src/flags/parse.js';

test('-port-mapping: on by default; -port-mapping=false (or the environment, or the config file) turns it off', () => {
  const value = (argv: string[], env: Record<string, string> = {}, file?: string) =>
    resolveFlags(JOIN_FLAGS, file ? [...argv, '-config', 'c.yaml'] : argv, env, () => file ?? '').values['port-mapping'];
  assert.equal(value([]), true);
  assert.equal(value(['-port-mapping=false']), false);
  assert.equal(value(['--port-mapping=0']), false);
  assert.equal(value(['-port-mapping']), true);
  assert.equal(value([], { WGMESH_PORT_MAPPING: 'false' }), false);
  assert.equal(value([], {}, 'port-mapping: false\n'), false);
  assert.equal(value(['-port-mapping=true'], { WGMESH_PORT_MAPPING: 'false' }), true, 'the flag beats the environment');
  assert.throws(() => value(['-port-mapping=maybe']), UsageError);
});

test('--help tells what -port-mapping does; the bootstrap has no such flag and says why', () => {
  const help = formatHelp('wgmesh join', '', JOIN_FLAGS);
  const line = help.split('\n').find((l) => l.includes('-port-mapping'))!;
  assert.match(line, /PCP, NAT-PMP or UPnP IGD/);
  assert.match(line, /deleted on exit/);
  assert.match(line, /Off with -port-mapping=false, and with -listen-addr/);
  assert.match(line, /\(default true\) \[WGMESH_PORT_MAPPING\]/);
  assert.equal(BOOTSTRAP_FLAGS.some((f) => f.name === 'port-mapping'), false);
  assert.throws(() => resolveFlags(BOOTSTRAP_FLAGS, ['-port-mapping=false'], {}), /unknown flag -port-mapping/);
});
