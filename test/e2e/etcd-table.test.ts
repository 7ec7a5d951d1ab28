/**
 * Several bootstraps sharing one mesh through a real etcd cluster (Debian's etcd-server in
 * namespaces, test/helpers/etcd.ts): the member tables, election and fail-closed behaviour, with
 * the bootstraps and agents in this process on in-memory WireGuard devices (the end-to-end test
 * with real processes and real WireGuard is etcd-mesh.test.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { Agent, ControlCallError, createBootstrapControl, createGrpcControlClient, generateKeyPair, MemoryWgDriver, nodeSecretFromPrivate } from '@wgmesh/agent';
import { Bootstrap, EtcdMeshStore, migrateFileStore, type Member } from '@wgmesh/bootstrap';
import { etcdSkipReason, startEtcdCluster, type EtcdCluster } from '../helpers/etcd.js';
import { waitFor } from '../helpers/wait.js';

const MESH = 'etab';
const CIDR = '198.18.0.0/16';
const skip = await etcdSkipReason();

interface RunningBootstrap {
  readonly name: string;
  readonly bootstrap: Bootstrap;
  readonly store: EtcdMeshStore;
  readonly address: string;
}

describe('bootstraps sharing a mesh through a real 3-member etcd cluster', { skip }, () => {
  let cluster: EtcdCluster;
  const bootstraps: RunningBootstrap[] = [];
  const agents: Agent[] = [];

  async function startBootstrap(index: number, prefix: string): Promise<RunningBootstrap> {
    const store = new EtcdMeshStore({ endpoints: cluster.endpoints, meshName: MESH, cidr: CIDR, prefix });
    const bootstrap = new Bootstrap(
      { store, driver: new MemoryWgDriver(`wgb${index}`) },
      {
        meshName: MESH, nodeName: `boot${index}`, privateKey: generateKeyPair().privateKey, cidr: CIDR, selfIp: `198.18.0.${index}`,
        grpcBindAddr: '127.0.0.1', grpcPort: 0, stunPort: 0, heartbeatMs: 1_000,
        liveness: { suspectAfterMs: 3_600_000, failedAfterMs: 7_200_000, reapAfterMs: 7_200_000 },
      },
    );
    await bootstrap.start();
    const running = { name: `boot${index}`, bootstrap, store, address: `127.0.0.1:${bootstrap.port}` };
    bootstraps.push(running);
    return running;
  }

  async function stopBootstrap(b: RunningBootstrap): Promise<void> {
    await b.bootstrap.stop();
    await b.store.close();
  }

  /** An agent whose bootstrap list starts at `first` (so joins spread over all of them). */
  async function makeAgent(name: string, index: number, targets: readonly RunningBootstrap[]): Promise<{ agent: Agent; driver: MemoryWgDriver; privateKey: string }> {
    const privateKey = generateKeyPair().privateKey;
    const driver = new MemoryWgDriver(`wg-${name}`);
    const ordered = [...targets.slice(index % targets.length), ...targets.slice(0, index % targets.length)];
    const control = await createBootstrapControl(ordered.map((b) => ({ address: b.address, credentials: grpc.credentials.createInsecure() })), {});
    const agent = new Agent(
      { control, driver },
      {
        meshName: MESH, nodeName: name, privateKey, listenPort: 54540, heartbeatMs: 1_000, backoffInitialMs: 50, backoffMaxMs: 500,
        endpoints: () => [{ ip: `192.0.2.${10 + index}`, port: 54540, kind: 'ENDPOINT_KIND_LAN' }],
      },
    );
    agents.push(agent);
    return { agent, driver, privateKey };
  }

  before(async () => {
    cluster = await startEtcdCluster({ prefix: 'wgetb', size: 3, segment: '198.51.100' });
  });

  after(async () => {
    await Promise.allSettled(agents.map((a) => a.stop({ leave: false })));
    await Promise.allSettled(bootstraps.map(stopBootstrap));
    await cluster?.cleanup();
  });

  test('12 agents join at once through three bootstraps: unique IPs, one revision everywhere, one leader; a stopped leader is replaced within 10 s', async (t) => {
    const prefix = '/wgmesh-test/spread/';
    const three = [await startBootstrap(1, prefix), await startBootstrap(2, prefix), await startBootstrap(3, prefix)];
    await waitFor('every bootstrap to see the three bootstraps', () => three.every((b) => b.bootstrap.table!.size === 3), 10_000);

    const made = await Promise.all(Array.from({ length: 12 }, (_, i) => makeAgent(`n${i + 1}`, i, three)));
    await Promise.all(made.map((m) => m.agent.start()));
    const ips = made.map((m) => m.agent.netmap.nodes.get(m.agent.netmap.selfName)!.meshIp);
    assert.equal(new Set(ips).size, 12, `12 different addresses: ${ips.join(' ')}`);
    for (const ip of ips) assert.ok(!['198.18.0.1', '198.18.0.2', '198.18.0.3'].includes(ip), `${ip} is not a bootstrap's`);

    await waitFor('every bootstrap at 15 members and one revision', () => three.every((b) => b.bootstrap.table!.size === 15) && new Set(three.map((b) => b.bootstrap.table!.revision)).size === 1, 10_000);
    await waitFor('every agent to configure its 14 peers', async () => (await Promise.all(made.map(async (m) => (await m.driver.read()).peers.length))).every((n) => n === 14), 15_000);
    const audit = await three[0]!.store.audit();
    assert.deepEqual({ members: audit.members, ips: audit.ips, orphanIps: audit.orphanIps, membersWithoutIp: audit.membersWithoutIp }, { members: 15, ips: 15, orphanIps: [], membersWithoutIp: [] });

    // A node joining again (same name, same key) through another bootstrap gets its address back.
    const again = made[0]!;
    const otherBootstrap = three.find((b) => b.bootstrap.table!.get('n1') && b !== three[0])!;
    const rejoin = createGrpcControlClient({ address: otherBootstrap.address, credentials: grpc.credentials.createInsecure() });
    try {
      const answer = await rejoin.join({ meshName: MESH, nodeName: 'n1', publicKey: again.agent.publicKey, listenPort: 54540, nodeSecret: nodeSecretFromPrivate(again.privateKey) });
      assert.equal(answer.meshIp, ips[0], `n1 joined again through ${otherBootstrap.name}: the same address`);
    } finally {
      rejoin.close();
    }

    await waitFor('exactly one leader', () => three.filter((b) => b.bootstrap.coordinator?.status.leading).length === 1, 5_000);
    const leader = three.find((b) => b.bootstrap.coordinator!.status.leading)!;
    const stoppedAt = Date.now();
    await stopBootstrap(leader);
    const rest = three.filter((b) => b !== leader);
    await waitFor('another bootstrap to lead', () => rest.filter((b) => b.bootstrap.coordinator?.status.leading).length === 1, 10_000);
    t.diagnostic(`new leader ${Date.now() - stoppedAt} ms after the leader stopped`);
  });

  test('a mesh moved in from a state file: an agent resuming from any revision of the file gets the whole membership', async () => {
    const prefix = '/wgmesh-test/moved/';
    const member = (name: string, meshIp: string): Member => ({
      name, publicKey: generateKeyPair().publicKey, meshIp, endpoints: [], tags: {}, status: 'NODE_STATUS_ALIVE', joinedAtMs: 1, lastSeenMs: 1, statusChangedMs: 1,
      isBootstrap: false, listenPort: 51820, relay: false, certFingerprint: '',
    });
    // A long-lived file mesh: its revision is far above etcd's own.
    const fileRevision = 100_000;
    const migrationStore = new EtcdMeshStore({ endpoints: cluster.endpoints, meshName: MESH, cidr: CIDR, prefix });
    await migrateFileStore({ store: migrationStore }, { version: 1, meshName: MESH, cidr: CIDR, createdMs: 1, revision: fileRevision, members: [member('old1', '198.18.0.10'), member('old2', '198.18.0.11')] });
    await migrationStore.close();
    const b = await startBootstrap(1, prefix);
    const table = b.bootstrap.table!;
    assert.ok(table.revision < fileRevision, `etcd's revision ${table.revision} is below the file's`);
    for (const since of [1, table.revision - 1, table.revision, table.revision + 1, fileRevision]) {
      assert.equal(table.deltasSince(since), undefined, `resuming from ${since} (a file revision): the whole membership`);
    }
    assert.deepEqual(table.list().map((n) => [n.name, n.meshIp]), [['boot1', '198.18.0.1'], ['old1', '198.18.0.10'], ['old2', '198.18.0.11']]);
  });

  test('a bootstrap that cannot reach etcd refuses joins with UNAVAILABLE saying etcd is unreachable; with etcd back it serves them', async () => {
    const prefix = '/wgmesh-test/closed/';
    const b = await startBootstrap(1, prefix);
    const probe = (name: string) => {
      const control = createGrpcControlClient({ address: b.address, credentials: grpc.credentials.createInsecure() });
      return control.join({ meshName: MESH, nodeName: name, publicKey: generateKeyPair().publicKey, listenPort: 1 }).finally(() => control.close());
    };
    await probe('before');
    await cluster.stop();
    const started = Date.now();
    await waitFor('joins refused with UNAVAILABLE', async () => {
      try {
        await probe('during');
        return false;
      } catch (err) {
        return err instanceof ControlCallError && err.code === grpc.status.UNAVAILABLE && /etcd is unreachable/.test(err.message);
      }
    }, 15_000);
    const refusedAfter = Date.now() - started;
    assert.ok(refusedAfter < 15_000);
    // Together: one member alone has no quorum, so never answers healthy.
    await Promise.all(cluster.members.map((m) => cluster.restart(m)));
    await waitFor('joins served again', async () => {
      try {
        const r = await probe('after');
        return r.meshIp !== '';
      } catch {
        return false;
      }
    }, 20_000);
    const names = b.bootstrap.table!.list().map((n) => n.name);
    assert.ok(names.includes('before') && names.includes('after'), names.join(' '));
    assert.ok(!names.includes('during'), 'no join was accepted while etcd was down');
  });
});
