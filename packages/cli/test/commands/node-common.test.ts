import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isWgKey, loadOrCreateKey, silentLogger } from '@wgmesh/agent';
import type { AgentNode } from '@wgmesh/agent/node/node';
import { checkMeshName, logLevel, NODE_FLAGS, nodeInit, parseTags, resolveListenAddr, runNode } from '../../src/commands/node-common.js';
import { applyDebugEnvironment } from '../../src/debug-env.js';
import { resolveFlags, UsageError } from '../../src/flags/parse.js';

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

test('-listen-addr: an address or an interface\'s first IPv4 address; one no peer could use is refused before anything starts', () => {
  const eth0 = [
    { address: 'fe80::1', family: 'IPv6', internal: false, netmask: '', mac: '', cidr: null, scopeid: 2 },
    { address: '192.0.2.7', family: 'IPv4', internal: false, netmask: '', mac: '', cidr: null },
  ] as const;
  const interfaces = { eth0: [...eth0], lo6: [{ address: '::1', family: 'IPv6', internal: true, netmask: '', mac: '', cidr: null, scopeid: 0 } as const] };
  assert.equal(resolveListenAddr('203.0.113.9', interfaces), '203.0.113.9');
  assert.equal(resolveListenAddr('2001:db8::9', interfaces), '2001:db8::9');
  assert.equal(resolveListenAddr('eth0', interfaces), '192.0.2.7');
  assert.throws(() => resolveListenAddr('127.0.0.1', interfaces), (err: Error) => err instanceof UsageError && /-listen-addr 127\.0\.0\.1: 127\.0\.0\.1 is a loopback address/.test(err.message));
  assert.throws(() => resolveListenAddr('fe80::1%eth0', interfaces), /zone ID/);
  assert.throws(() => resolveListenAddr('lo6', interfaces), /-listen-addr lo6: ::1 is a loopback address.*give an address other nodes can reach/);
  assert.throws(() => resolveListenAddr('nosuch0', interfaces), /no such interface/);
});

test('node flags become the node\'s options: defaults, then what each flag sets', () => {
  const defaults = nodeInit(resolveFlags(NODE_FLAGS, [], {}).values, 'prod', 'n1');
  assert.deepEqual(defaults, {
    meshName: 'prod', nodeName: 'n1', stateDir: '/var/lib/wgmesh', listenPort: 54540, tags: {}, heartbeatMs: 5000, rttPort: 54541,
    socketPath: '/var/run/wgmesh.sock', keepInterface: false, names: { domain: 'prod.internal', port: 53 },
  });
  const given = nodeInit(resolveFlags(NODE_FLAGS, [
    '-state-dir', '/srv/wg', '-listen-port', '51820', '-listen-addr', '203.0.113.9', '-tags', 'role=web,zone=a', '-heartbeat', '2s', '-key-rotation', '24h', '-rtt-port', '0',
    '-socket', '/run/wgmesh/prod.sock', '-socket-owner', '0:101', '-metrics-addr', '127.0.0.1:9586', '-memberlist-file', '/srv/members.json', '-keep-interface',
    '-dns=false', '-dns-domain', 'Corp.Example.', '-hosts-file', '/etc/hosts',
  ], {}).values, 'prod', 'n1');
  assert.deepEqual(given, {
    meshName: 'prod', nodeName: 'n1', stateDir: '/srv/wg', listenPort: 51820, listenAddr: '203.0.113.9', tags: { role: 'web', zone: 'a' }, heartbeatMs: 2000, keyRotationMs: 86_400_000, rttPort: 0,
    socketPath: '/run/wgmesh/prod.sock', socketOwner: '0:101', metricsAddr: '127.0.0.1:9586', memberlistFile: '/srv/members.json', memberlistFormat: 'wgmesh', keepInterface: true,
    names: { domain: 'corp.example', hostsFile: '/etc/hosts' },
  });
  assert.throws(() => nodeInit(resolveFlags(NODE_FLAGS, ['-dns-domain', 'my mesh'], {}).values, 'prod', 'n1'), (err: Error) => err instanceof UsageError && /-dns-domain: "my mesh" is not a DNS domain/.test(err.message));
  assert.equal(nodeInit(resolveFlags(NODE_FLAGS, [], { WGMESH_LISTEN_PORT: '51821' }).values, 'prod', 'n1').listenPort, 51821, 'from the environment too');
});

test('-tags: a svc: tag must be a valid service (port required, 1-65535)', () => {
  assert.deepEqual(parseTags(['svc:web=port=80', 'svc:dns=53']), { 'svc:web': 'port=80', 'svc:dns': '53' });
  assert.throws(() => parseTags(['svc:web=port=http']), (err: Error) => err instanceof UsageError && /-tags svc:web=port=http: .*port "http" is not a port number/.test(err.message));
});

test('log levels: -log-level, debug with -v or -d, trace (winston\'s silly) with WGMESH_TRACE of any value', () => {
  const values = (argv: string[]) => resolveFlags(NODE_FLAGS, argv, {}).values;
  assert.equal(logLevel(values([]), {}), 'info');
  assert.equal(logLevel(values(['-log-level', 'warn']), {}), 'warn');
  assert.equal(logLevel(values(['-v']), {}), 'debug');
  assert.equal(logLevel(values(['-d']), {}), 'debug');
  assert.equal(logLevel(values([]), { WGMESH_TRACE: '' }), 'silly');
  assert.equal(logLevel(values([]), { WGMESH_TRACE: 'no' }), 'silly', 'any value, as in the original');
});

test('WGMESH_TRACE, like -d, turns on gRPC\'s own tracing before grpc-js loads', () => {
  const env: NodeJS.ProcessEnv = { WGMESH_TRACE: '1' };
  applyDebugEnvironment(['info'], env);
  assert.equal(env.GRPC_VERBOSITY, 'DEBUG');
  const quiet: NodeJS.ProcessEnv = {};
  applyDebugEnvironment(['info'], quiet);
  assert.equal(quiet.GRPC_TRACE, undefined);
});

test('-memberlist-format: ours by default, or the original\'s; anything else refused', () => {
  const init = (argv: string[]) => nodeInit(resolveFlags(NODE_FLAGS, ['-memberlist-file', '/m.json', ...argv], {}).values, 'prod', 'n1');
  assert.equal(init([]).memberlistFormat, 'wgmesh');
  assert.equal(init(['-memberlist-format', 'original']).memberlistFormat, 'original');
  assert.throws(() => init(['-memberlist-format', 'serf']), (err: Error) => err instanceof UsageError && /-memberlist-format serf: use wgmesh or original/.test(err.message));
});

describe('runNode: the compiled code of a node that is up is kept for the next start', () => {
  /** A node that starts at once and stops when asked; runNode's only use of it. */
  function fakeNode(): AgentNode {
    return { start: async () => {}, stop: async () => {} } as unknown as AgentNode;
  }
  const hooks = { explain: (err: unknown) => err as Error, started: () => {}, stopping: () => {} };

  test('2 s after the start, once; nothing when a signal stops the node before', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let kept = 0;
    const running = runNode(fakeNode(), silentLogger(), hooks, { warmed: () => kept++ });
    // The start resolves in a microtask; the timer is set then.
    await new Promise<void>((resolve) => setImmediate(resolve));
    t.mock.timers.tick(1_999);
    assert.equal(kept, 0);
    t.mock.timers.tick(1);
    assert.equal(kept, 1);
    process.emit('SIGTERM');
    assert.equal(await running, 0);

    const early = runNode(fakeNode(), silentLogger(), hooks, { warmed: () => kept++ });
    await new Promise<void>((resolve) => setImmediate(resolve));
    process.emit('SIGTERM');
    assert.equal(await early, 0);
    t.mock.timers.tick(5_000);
    assert.equal(kept, 1, 'a node stopped within 2 s of its start keeps nothing');
  });
});
