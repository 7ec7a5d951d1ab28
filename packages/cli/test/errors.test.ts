/** The one place where errors become exit statuses: 2 when the operator must change something first, 1 otherwise. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { ControlCallError, KeyFileInvalid, ListenPortInUse, MetricsError, NotRoot, SocketInUse, WireGuardUnavailable } from '@wgmesh/agent';
import { ConfigError, MeshStartRefused, MigrationConflict, StoreMeshMismatch } from '@wgmesh/bootstrap';
import { CaError, exitCodeFor, LocalApiUnavailable, StartInterrupted, UsageError } from '../src/errors.js';

const CASES: [string, unknown, number][] = [
  ['a usage error', new UsageError('-n MESH is required'), 2],
  ['no node to talk to', new LocalApiUnavailable('no wgmesh node is running here'), 2],
  ['not root', new NotRoot('wgmesh join must run as root'), 2],
  ['the join refused', new ControlCallError(status.PERMISSION_DENIED, 'revoked', 'Join'), 2],
  ['the metrics port in use', new MetricsError('-metrics-addr 127.0.0.1:9586: the port is in use; pick another'), 2],
  ['the local API socket in use', new SocketInUse('/var/run/wgmesh.sock'), 2],
  ['the WireGuard port in use', new ListenPortInUse('wgprod', 54540), 2],
  ['a bad key file', new KeyFileInvalid('/var/lib/wgmesh/m/private.key'), 2],
  ['a used state dir without its state file', new MeshStartRefused('bootstrap.json is missing'), 2],
  ['a bad setting', new ConfigError('-ip is the network address'), 2],
  ['an etcd prefix holding another mesh', new StoreMeshMismatch('/wgmesh/m/', { meshName: 'm', cidr: '10.1.0.0/16' }, { meshName: 'm', cidr: '10.2.0.0/16' }), 2],
  ['members in a migration\'s way', new MigrationConflict('/wgmesh/m/', [{ member: 'a', reason: 'its IP belongs to b' }]), 2],
  ['no WireGuard', new WireGuardUnavailable('no kernel module'), 1],
  ['stopped by a signal before it was up', new StartInterrupted('stopped by SIGTERM'), 1],
  ['a CA refusal', new CaError('no CA in ./ca'), 1],
  ['anything else', new Error('boom'), 1],
];

for (const [what, err, code] of CASES) {
  test(`${what}: exit status ${code}`, () => assert.equal(exitCodeFor(err), code));
}
