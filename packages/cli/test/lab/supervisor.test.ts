import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LabHost, LabState } from '../../src/lab/state.js';
import { labEnv, plannedNodeArgv, restartNodeArgv } from '../../src/lab/supervisor.js';

const h1: LabHost = {
  name: 'h1', index: 1, netns: 'wgl-h1', underlayIp: '192.0.2.1', mountFile: '/run/wgmesh-lab/wgl/ns/h1.mnt',
  stateDir: '/var/lib/wgmesh-lab/wgl/h1', logFile: '/var/lib/wgmesh-lab/wgl/h1.log', role: 'bootstrap',
};

const lab: LabState = {
  version: 1, name: 'wgl', mesh: 'lab', underlay: '192.0.2.0/24', cidr: '198.18.0.0/16', bootstrapPort: 5000,
  wgmeshCommand: ['/usr/bin/node', '/repo/packages/cli/bin/wgmesh.js'], logLevel: 'info', hostsOnly: false, createdMs: 1_700_000_000_000, hosts: [h1],
};

describe('the command line a node is started again with', () => {
  const ran = { pid: 100, startTicks: 5, startedMs: 1_700_000_000_100, argv: ['/usr/bin/node', 'wgmesh.js', 'bootstrap', '-dev', '-n', 'lab', '-reap-after', '5s'] };

  test('without extra flags: the one it last ran with, or the planned one if it never ran (lab start and restart as before)', () => {
    assert.deepEqual(restartNodeArgv(lab, { ...h1, process: ran }), ran.argv);
    assert.deepEqual(restartNodeArgv(lab, h1), plannedNodeArgv(lab, h1));
    assert.deepEqual(restartNodeArgv(lab, { ...h1, process: ran }, []), ran.argv);
  });

  test('extra flags go last (the last flag wins), after the recorded or the planned command line', () => {
    const etcd = ['-store', 'etcd', '-etcd-endpoints', 'http://192.0.2.1:2379'];
    assert.deepEqual(restartNodeArgv(lab, { ...h1, process: ran }, etcd), [...ran.argv, ...etcd]);
    assert.deepEqual(restartNodeArgv(lab, h1, etcd), [...plannedNodeArgv(lab, h1), ...etcd]);
  });
});

describe('the environment lab commands run with', () => {
  test('the caller\'s, without WGMESH_ settings, the test runner\'s context or NODE_EXTRA_CA_CERTS; extra settings on top', () => {
    const env = labEnv(
      { PATH: '/usr/bin', HOME: '/root', WGMESH_LOG_LEVEL: 'debug', NODE_TEST_CONTEXT: 'child-v8', NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt', NODE_OPTIONS: '--max-old-space-size=100' },
      { WGMESH_LOG_LEVEL: 'info' },
    );
    assert.deepEqual(env, { PATH: '/usr/bin', HOME: '/root', NODE_OPTIONS: '--max-old-space-size=100', WGMESH_LOG_LEVEL: 'info' });
  });
});
