import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLab } from '../../src/commands/lab.js';
import { InvalidLabOptions, LabError } from '../../src/lab/errors.js';
import { labEtcdEndpoints, labEtcdMembers, requireEtcd } from '../../src/lab/etcd.js';
import { labUp } from '../../src/lab/orchestrate.js';
import { labPaths, parseCidr, planEtcd } from '../../src/lab/plan.js';
import type { LabState } from '../../src/lab/state.js';
import { isRoot, pathExists } from '../../src/lab/sys.js';
import { listNetns } from '../../src/lab/topology.js';
import { captureStdout } from '../capture.js';

describe('the etcd cluster of a lab with several bootstraps', () => {
  test('each member is recorded with its URLs, its data in its host\'s state directory and its log beside the host\'s', () => {
    const members = labEtcdMembers(planEtcd(parseCidr('192.0.2.0/24'), 3), labPaths('wgl'));
    assert.deepEqual(members[2], {
      name: 'h3', clientUrl: 'http://192.0.2.3:2379', peerUrl: 'http://192.0.2.3:2380',
      dataDir: '/var/lib/wgmesh-lab/wgl/h3/etcd', logFile: '/var/lib/wgmesh-lab/wgl/h3-etcd.log',
    });
    const lab = { etcd: members } as unknown as LabState;
    assert.deepEqual(labEtcdEndpoints(lab), ['http://192.0.2.1:2379', 'http://192.0.2.2:2379', 'http://192.0.2.3:2379']);
    assert.deepEqual(labEtcdEndpoints({} as LabState), []);
  });

  test('without etcd on PATH it says to install etcd-server (scripts/install-deps.sh); with both commands it goes on', async () => {
    await assert.rejects(requireEtcd(3, '/nonexistent'), (err: unknown) =>
      err instanceof LabError && /-bootstraps 3 runs an etcd cluster/.test(err.message) && /etcd and etcdctl are not on PATH/.test(err.message) &&
      /install etcd-server and etcd-client \(scripts\/install-deps\.sh/.test(err.message));
    const dir = await mkdtemp(join(tmpdir(), 'wgmesh-lab-etcd-'));
    try {
      for (const command of ['etcd', 'etcdctl']) {
        await writeFile(join(dir, command), '#!/bin/sh\n');
        await chmod(join(dir, command), 0o755);
      }
      await requireEtcd(3, dir);
      await rm(join(dir, 'etcdctl'));
      await assert.rejects(requireEtcd(3, dir), /but etcdctl is not on PATH/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// labUp checks for root first; the refusals below create nothing, so they are safe wherever root is.
describe('lab up refuses a bad -bootstraps before creating anything', { skip: isRoot() ? false : 'labUp needs root before it looks at its options' }, () => {
  const name = 'wglb3u';
  const nothingCreated = async () => {
    assert.equal(await pathExists(labPaths(name).stateDir), false);
    assert.equal(await pathExists(labPaths(name).runDir), false);
    assert.deepEqual((await listNetns()).filter((n) => n.startsWith(`${name}-`)), []);
  };

  test('K outside 1…min(N, 5), or with -hosts-only', async () => {
    await assert.rejects(labUp({ name, hosts: 2, bootstraps: 3 }), (err: unknown) => err instanceof InvalidLabOptions && /between 1 and 2, not 3/.test(err.message));
    await assert.rejects(labUp({ name, hosts: 8, bootstraps: 6 }), /between 1 and 5, not 6/);
    await assert.rejects(labUp({ name, hosts: 5, bootstraps: 0 }), InvalidLabOptions);
    await assert.rejects(labUp({ name, hosts: 5, bootstraps: 3, hostsOnly: true }), /-hosts-only starts nothing/);
    await assert.rejects(labUp({ name, hosts: 5, bootstraps: 3, nat: ['h2'] }), /h2 runs a bootstrap/);
    await nothingCreated();
  });

  test('etcd missing from PATH: the message says to install etcd-server', async () => {
    await assert.rejects(labUp({ name, hosts: 5, bootstraps: 3, env: { PATH: '/nonexistent' } }), /install etcd-server and etcd-client \(scripts\/install-deps\.sh/);
    await nothingCreated();
  });
});

describe('wgmesh lab up --help', () => {
  test('documents -bootstraps and the etcd cluster', async () => {
    const text = await captureStdout(() => runLab(['up', '--help'], {}));
    assert.match(text, /-bootstraps K\s+how many hosts bootstrap \(1…5, at most N\)/);
    assert.match(text, /lab up 5 -bootstraps 3/);
    assert.match(text, /etcd-server and etcd-client/);
    assert.match(text, /hK-etcd\.log/);
    assert.match(text, /-bootstrap-args "FLAGS"\s+extra flags for every wgmesh bootstrap/);
  });
});
