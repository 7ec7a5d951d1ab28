import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decideMeshStart, type MeshStartFacts } from '@wgmesh/bootstrap';
import { nodeFiles } from '@wgmesh/agent';
import { BOOTSTRAP_FLAGS, runBootstrap } from '../../src/commands/bootstrap.js';
import { resolveFlags, UsageError } from '../../src/flags/parse.js';

/**
 * A bootstrap whose state dir was used before but has no bootstrap.json must not silently start
 * a new mesh: it refuses, says why and what to do, and -new-mesh makes it start one on purpose.
 */

const files = nodeFiles('/var/lib/wgmesh', 'prod');

const CASES: [string, MeshStartFacts, 'resume' | 'first' | 'new-on-purpose' | RegExp][] = [
  ['a fresh state dir: the first start', { keyExisted: false, stateFileExists: false, agentStateExists: false, newMesh: false }, 'first'],
  ['a fresh state dir with -new-mesh: the first start too', { keyExisted: false, stateFileExists: false, agentStateExists: false, newMesh: true }, 'first'],
  ['key and state file: a restart resumes the mesh', { keyExisted: true, stateFileExists: true, agentStateExists: false, newMesh: false }, 'resume'],
  ['state file without the key: resumes (the file holds the mesh)', { keyExisted: false, stateFileExists: true, agentStateExists: false, newMesh: false }, 'resume'],
  ['state file beside a joined node\'s agent.json: resumes', { keyExisted: true, stateFileExists: true, agentStateExists: true, newMesh: false }, 'resume'],
  ['-new-mesh while the state file exists: refused, never reset silently', { keyExisted: true, stateFileExists: true, agentStateExists: false, newMesh: true },
    /^-new-mesh: \/var\/lib\/wgmesh\/prod\/bootstrap\.json exists .*move it away first.*start without -new-mesh/],
  ['the key without its state file: refused, naming both files, the consequence and -new-mesh', { keyExisted: true, stateFileExists: false, agentStateExists: false, newMesh: false },
    /state file \/var\/lib\/wgmesh\/prod\/bootstrap\.json is missing, but \/var\/lib\/wgmesh\/prod\/private\.key exists.*new mesh.*new mesh IP.*restore bootstrap\.json.*-new-mesh/],
  ['the key without its state file, with -new-mesh: a new mesh on purpose', { keyExisted: true, stateFileExists: false, agentStateExists: false, newMesh: true }, 'new-on-purpose'],
  ['a former join node (key and agent.json): refused, saying it was a node, not the bootstrap', { keyExisted: true, stateFileExists: false, agentStateExists: true, newMesh: false },
    /agent\.json shows this machine joined a mesh as a node.*new mesh IP.*-new-mesh/],
  ['a former join node with -new-mesh: a new mesh on purpose', { keyExisted: true, stateFileExists: false, agentStateExists: true, newMesh: true }, 'new-on-purpose'],
  ['agent.json without a key: still a former node, refused', { keyExisted: false, stateFileExists: false, agentStateExists: true, newMesh: false }, /joined a mesh as a node/],
];

describe('decideMeshStart', () => {
  for (const [name, facts, expected] of CASES) {
    test(name, () => {
      const decision = decideMeshStart(facts, files);
      if (expected instanceof RegExp) {
        assert.ok('refuse' in decision, `refused: ${JSON.stringify(decision)}`);
        assert.match(decision.refuse, expected);
      } else {
        assert.deepEqual(decision, { start: expected });
      }
    });
  }

  test('-new-mesh is a bool flag, off by default, settable from the environment like every flag', () => {
    assert.equal(resolveFlags(BOOTSTRAP_FLAGS, [], {}).values['new-mesh'], false);
    assert.equal(resolveFlags(BOOTSTRAP_FLAGS, ['-new-mesh'], {}).values['new-mesh'], true);
    assert.equal(resolveFlags(BOOTSTRAP_FLAGS, [], { WGMESH_NEW_MESH: 'true' }).values['new-mesh'], true);
    const help = BOOTSTRAP_FLAGS.find((f) => f.name === 'new-mesh')!.help;
    assert.match(help, /every node must join again and gets a new mesh IP/);
    assert.match(help, /refused while bootstrap\.json exists/);
  });
});


describe('-store: where a bootstrap keeps the mesh', () => {
  const refused: [string, string[], RegExp][] = [
    ['an unknown store', ['-store', 'consul'], /^-store consul: choose file or etcd$/],
    ['etcd without endpoints', ['-store', 'etcd'], /-etcd-endpoints is required/],
    ['an endpoint that is not a URL', ['-store', 'etcd', '-etcd-endpoints', '198.51.100.1:2379'], /not an etcd client URL/],
    ['endpoints with the file store', ['-etcd-endpoints', 'http://198.51.100.1:2379'], /-etcd-endpoints is given but -store is file: add -store etcd/],
    ['a prefix without its trailing slash', ['-store', 'etcd', '-etcd-endpoints', 'http://198.51.100.1:2379', '-etcd-prefix', '/wgmesh/x'], /must end with "\/"/],
  ];
  for (const [name, args, message] of refused) {
    test(`refused before anything starts: ${name}`, async () => {
      await assert.rejects(runBootstrap(['-dev', '-n', 'prod', ...args], {}), (err: Error) => err instanceof UsageError && message.test(err.message));
    });
  }

  test('refused before anything starts: -ca-key with -dev (enrollment signs certificates for TLS)', async () => {
    await assert.rejects(runBootstrap(['-dev', '-ca-key', 'ca-key.pem'], {}), (err: Error) => err instanceof UsageError && /-ca-key .* cannot be used with -dev/.test(err.message));
  });

  test('refused before anything starts: -cert-lifetime with -dev, and without -ca-key', async () => {
    await assert.rejects(runBootstrap(['-dev', '-cert-lifetime', '90d'], {}), (err: Error) => err instanceof UsageError && /-cert-lifetime .* cannot be used with -dev/.test(err.message));
    await assert.rejects(runBootstrap(['-n', 'prod', '-grpc-ca-cert', '/dev/null', '-grpc-server-cert', '/dev/null', '-grpc-server-key', '/dev/null', '-cert-lifetime', '90d'], {}),
      (err: Error) => err instanceof UsageError && /-cert-lifetime .* needs -ca-key/.test(err.message));
    await assert.rejects(runBootstrap(['-dev', '-cert-lifetime', '90'], {}), (err: Error) => err instanceof UsageError);
  });

  test('refused before anything starts, as the original refuses them: TLS flags with -dev, and both -grpc-ca-cert and -grpc-ca-path', async () => {
    await assert.rejects(runBootstrap(['-dev', '-grpc-ca-cert', 'ca.pem', '-grpc-server-cert', 's.pem'], {}),
      (err: Error) => err instanceof UsageError && /^-dev runs without TLS: leave out -grpc-ca-cert, -grpc-server-cert, or leave out -dev/.test(err.message));
    await assert.rejects(runBootstrap(['-dev'], { WGMESH_SERVER_KEY: 'k.pem' }), (err: Error) => err instanceof UsageError && /leave out -grpc-server-key/.test(err.message), 'from the original\'s environment too');
    await assert.rejects(runBootstrap(['-n', 'prod', '-grpc-ca-cert', '/dev/null', '-grpc-ca-path', '/etc/ssl/certs', '-grpc-server-cert', '/dev/null', '-grpc-server-key', '/dev/null'], {}),
      (err: Error) => err instanceof UsageError && /-grpc-ca-cert \/dev\/null and -grpc-ca-path \/etc\/ssl\/certs both name the CA: give one of them/.test(err.message));
  });

  test('file by default; the etcd flags are listed in --help', () => {
    assert.equal(resolveFlags(BOOTSTRAP_FLAGS, [], {}).values.store, 'file');
    const names = BOOTSTRAP_FLAGS.map((f) => f.name);
    for (const flag of ['store', 'etcd-endpoints', 'etcd-prefix', 'etcd-ca-cert', 'etcd-cert', 'etcd-key']) assert.ok(names.includes(flag), flag);
  });
});
