import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapTargets, JOIN_FLAGS, runJoin } from '../../src/commands/join.js';
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

test('-bootstrap-addr: once as before, repeated or comma-separated for several, each with its own host (the TLS name)', () => {
  const targets = (argv: string[], env: Record<string, string> = {}, file?: string) =>
    bootstrapTargets(resolveFlags(JOIN_FLAGS, file ? [...argv, '-config', 'c.yaml'] : argv, env, () => file ?? '').values['bootstrap-addr'] as string[]);
  // One address: exactly as before (port 5000 when none is given).
  assert.deepEqual(targets(['-bootstrap-addr', '192.0.2.1']), [{ given: '192.0.2.1', host: '192.0.2.1', port: 5000, address: '192.0.2.1:5000' }]);
  // Several: in the order given, each with its own host.
  assert.deepEqual(targets(['-bootstrap-addr', 'a.example:5000', '-bootstrap-addr=[2001:db8::2]:6000']).map((t) => [t.host, t.address]), [
    ['a.example', 'a.example:5000'],
    ['2001:db8::2', '[2001:db8::2]:6000'],
  ]);
  assert.deepEqual(targets(['-bootstrap-addr', 'a.example,b.example:7000']).map((t) => t.address), ['a.example:5000', 'b.example:7000']);
  // The environment and the config file give one or several the same way; the flag wins.
  assert.deepEqual(targets([], { WGMESH_BOOTSTRAP_ADDR: 'a.example:1,b.example:2' }).map((t) => t.address), ['a.example:1', 'b.example:2']);
  assert.deepEqual(targets([], {}, 'bootstrap-addr: a.example:1\n').map((t) => t.address), ['a.example:1']);
  assert.deepEqual(targets([], {}, 'bootstrap-addr: [a.example:1, b.example:2]\n').map((t) => t.address), ['a.example:1', 'b.example:2']);
  assert.deepEqual(targets(['-bootstrap-addr', 'c.example:3'], { WGMESH_BOOTSTRAP_ADDR: 'a.example:1' }).map((t) => t.address), ['c.example:3']);
  // The same address twice counts once; none, or a bad one, is a usage error naming the flag.
  assert.deepEqual(targets(['-bootstrap-addr', 'a.example', '-bootstrap-addr', 'a.example:5000']).map((t) => t.given), ['a.example']);
  assert.throws(() => targets([]), /-bootstrap-addr HOST:PORT is required/);
  assert.throws(() => targets(['-bootstrap-addr', 'a.example:99999']), (err: unknown) => err instanceof UsageError && /-bootstrap-addr: "a.example:99999" is not HOST:PORT/.test(err.message));
});

test('--help says -bootstrap-addr can be given more than once', () => {
  const help = formatHelp('wgmesh join', '', JOIN_FLAGS);
  const line = help.split('\n').find((l) => l.includes('-bootstrap-addr'))!;
  assert.match(line, /more than once/);
  assert.match(line, /moves to the next/);
});

test('TLS files with -dev are refused before anything starts, as the original refuses them', async () => {
  await assert.rejects(runJoin(['-dev', '-n', 'prod', '-bootstrap-addr', '192.0.2.1:5000', '-ca-cert', 'ca.pem', '-client-key', 'k.pem'], {}),
    (err: Error) => err instanceof UsageError && /^-dev runs without TLS: leave out -ca-cert, -client-key, or leave out -dev to use TLS$/.test(err.message));
});
