/**
 * Layer 2 across the packages, in process: a bootstrap with -l2 (real gRPC on loopback, its state
 * in a file), agents that learn it from their JoinResponse, and each agent's MeshL2 keeping its
 * in-memory flood list equal to the membership. `info -json` with layer 2 matches its schema.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { generateKeyPair, LocalApiServer, MemoryWgDriver, type Agent } from '@wgmesh/agent';
import { MeshL2 } from '@wgmesh/agent/l2/mesh-l2';
import { MemoryL2Driver } from '@wgmesh/agent/l2/memory-driver';
import { Bootstrap, FileStateStore } from '@wgmesh/bootstrap';
import { main } from '@wgmesh/cli';
import { BOOTSTRAP_IP, CIDR, makeAgent, MESH, tempDir } from '../helpers/inprocess.js';
import { captureStdout } from '../helpers/capture.js';
import { waitFor } from '../helpers/wait.js';

const L2 = { vni: 4242, port: 4789 };
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;

async function startL2Bootstrap(stateFile: string, l2?: typeof L2): Promise<Bootstrap> {
  const bootstrap = new Bootstrap(
    { store: new FileStateStore(stateFile), driver: new MemoryWgDriver('wgsim') },
    {
      meshName: MESH, nodeName: 'bootstrap', privateKey: generateKeyPair().privateKey, cidr: CIDR, selfIp: BOOTSTRAP_IP, grpcBindAddr: '127.0.0.1', grpcPort: 0, heartbeatMs: 60_000,
      liveness: { suspectAfterMs: 3_600_000, failedAfterMs: 7_200_000, reapAfterMs: 7_200_000 },
      ...(l2 ? { l2 } : {}),
    },
  );
  await bootstrap.start();
  return bootstrap;
}

describe('layer 2 in process: bootstrap -l2, agents, flood lists', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let bootstrap: Bootstrap;
  const nodes: { agent: Agent; l2: MeshL2; driver: MemoryL2Driver }[] = [];
  let api: LocalApiServer | undefined;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    bootstrap = await startL2Bootstrap(path.join(dir, 'state.json'), L2);
  });

  after(async () => {
    await api?.stop();
    for (const n of nodes) await n.l2.stop();
    await Promise.all(nodes.map((n) => n.agent.stop({ leave: false })));
    await bootstrap?.stop();
    await cleanup?.();
  });

  async function addNode(name: string, index: number) {
    const { agent } = makeAgent(name, bootstrap.port, index);
    await agent.start();
    const driver = new MemoryL2Driver();
    const l2 = new MeshL2(agent, driver, { meshName: MESH, wgInterface: agent.driver.name, fullPassMs: 0 });
    await l2.start();
    agent.l2Status = () => l2.status();
    const node = { agent, l2, driver };
    nodes.push(node);
    return node;
  }

  const floodOf = (n: { driver: MemoryL2Driver }) => [...n.driver.flood].sort();
  const peersOf = (n: { agent: Agent }) => [...n.agent.netmap.nodes.values()].filter((m) => m.name !== n.agent.netmap.selfName).map((m) => m.meshIp).sort();

  test('every joining node learns the mesh\'s layer 2 from its JoinResponse and floods to every peer', async () => {
    for (const [i, name] of ['alpha', 'bravo', 'charlie'].entries()) await addNode(name, i + 1);
    for (const n of nodes) {
      assert.deepEqual(n.agent.joined?.l2, { enabled: true, ...L2 });
      await waitFor(`${n.agent.netmap.selfName}'s flood list to hold its 3 peers`, async () => {
        await n.l2.idle();
        return floodOf(n).length === 3 && JSON.stringify(floodOf(n)) === JSON.stringify(peersOf(n));
      });
      assert.equal(n.driver.config?.vni, L2.vni);
      assert.equal(n.driver.config?.mtu, 1370);
    }
  });

  test('a node that leaves is removed from every flood list with one op each', async () => {
    const leaving = nodes.pop()!;
    const gone = leaving.agent.meshIp!;
    for (const n of nodes) n.driver.ops.length = 0;
    await leaving.l2.stop();
    await leaving.agent.stop();
    for (const n of nodes) {
      await waitFor(`${n.agent.netmap.selfName} to drop ${gone}`, async () => {
        await n.l2.idle();
        return !n.driver.flood.has(gone);
      });
      assert.deepEqual(n.driver.ops, [{ op: 'del', dst: gone }]);
    }
  });

  test('info -json with layer 2 matches docs/schemas/info.schema.json', async () => {
    api = new LocalApiServer(nodes[0]!.agent, { socketPath: path.join(dir, 'agent.sock') });
    await api.start();
    const doc = JSON.parse(await captureStdout(() => main(['info', '-json', '-socket', path.join(dir, 'agent.sock')], {}))) as { l2: unknown };
    const ajv = new Ajv2020({ allErrors: true, strict: true });
    addFormats(ajv);
    const check = ajv.compile(JSON.parse(await readFile(path.resolve(import.meta.dirname, '../../docs/schemas/info.schema.json'), 'utf8')));
    assert.ok(check(doc), ajv.errorsText(check.errors));
    assert.deepEqual(doc.l2, { up: true, bridge: `br${MESH}`, vxlan: `vx${MESH}`, vni: L2.vni, port: L2.port, mtu: 1370, floodEntries: 2, bridgeIfs: [], address: '', error: '' });
    const text = await captureStdout(() => main(['info', '-socket', path.join(dir, 'agent.sock')], {}));
    assert.match(text, /layer 2: bridge brsim \(vxlan vxsim, VNI 4242, UDP 4789\), MTU 1370, flooding to 2 peers/);
  });

  test('a bootstrap restarted without -l2 keeps the mesh\'s layer 2 from its state file', async () => {
    const stateFile = path.join(dir, 'state.json');
    assert.deepEqual(JSON.parse(await readFile(stateFile, 'utf8')).l2, L2);
    await bootstrap.stop();
    bootstrap = await startL2Bootstrap(stateFile);
    assert.deepEqual(bootstrap.table?.l2Settings, L2);
    assert.deepEqual(bootstrap.agent?.joined?.l2, { enabled: true, ...L2 });
  });
});
