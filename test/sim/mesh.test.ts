import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Agent, MemoryWgDriver } from '@wgmesh/agent';
import { makeAgent, startBootstrap, tempDir, BOOTSTRAP_IP } from '../helpers/inprocess.js';
import { waitFor } from '../helpers/wait.js';

const AGENTS = 20;

test('a bootstrap and 20 agents form a full mesh, survive a leave and a bootstrap restart', async (t) => {
  const { dir, cleanup } = await tempDir();
  const stateFile = path.join(dir, 'state.json');
  let { bootstrap, driver: bootstrapDriver, privateKey: bootstrapKey } = await startBootstrap(stateFile);
  const port = bootstrap.port;
  const nodes: { name: string; agent: Agent; driver: MemoryWgDriver }[] = [];
  after(async () => {
    await Promise.all(nodes.map((n) => n.agent.stop({ leave: false })));
    await bootstrap.stop();
    await cleanup();
  });

  await t.test('20 agents join concurrently', async () => {
    for (let i = 0; i < AGENTS; i++) nodes.push({ name: `node${i + 1}`, ...makeAgent(`node${i + 1}`, port, i) });
    await Promise.all(nodes.map((n) => n.agent.start()));
    const ips = nodes.map((n) => n.agent.meshIp!);
    assert.equal(new Set([...ips, BOOTSTRAP_IP]).size, AGENTS + 1, 'every node has its own IP');
  });

  /** Every live node's device has exactly the other live nodes as peers, each with its mesh IP /32. */
  const expectFullMesh = async (live: { name: string; agent: Agent; driver: MemoryWgDriver }[], boot: MemoryWgDriver, what: string) => {
    const everyone = [
      { key: bootstrap.agent!.publicKey, ip: BOOTSTRAP_IP, driver: boot },
      ...live.map((n) => ({ key: n.agent.publicKey, ip: n.agent.meshIp!, driver: n.driver })),
    ];
    await waitFor(what, async () => {
      for (const me of everyone) {
        const peers = (await me.driver.read()).peers;
        const want = everyone.filter((o) => o.key !== me.key);
        if (peers.length !== want.length) return false;
        for (const other of want) {
          const peer = peers.find((p) => p.publicKey === other.key);
          if (!peer || peer.allowedIps.length !== 1 || peer.allowedIps[0] !== `${other.ip}/32`) return false;
        }
      }
      return true;
    });
  };

  await t.test('every driver holds exactly the other 20 nodes with correct allowed IPs', async () => {
    await expectFullMesh(nodes, bootstrapDriver, 'a full mesh of 21 nodes');
    const peers = (await nodes[0]!.driver.read()).peers;
    assert.equal(peers.length, AGENTS, 'exactly the other 20 nodes');
  });

  await t.test('one agent leaves and every other driver drops it', async () => {
    const leaver = nodes.pop()!;
    await leaver.agent.stop();
    await expectFullMesh(nodes, bootstrapDriver, 'every node dropping the one that left');
    assert.equal(bootstrap.table!.get(leaver.name), undefined, 'the bootstrap forgot it');
    for (const n of nodes) assert.ok(!(await n.driver.read()).peers.some((p) => p.publicKey === leaver.agent.publicKey));
  });

  await t.test('the bootstrap restarts from its state file and agents resume without any IP changing', async () => {
    const ipsBefore = new Map(nodes.map((n) => [n.name, n.agent.meshIp]));
    const connectsBefore = new Map(nodes.map((n) => [n.name, n.agent.stats.watchConnects]));
    const joinsBefore = new Map(nodes.map((n) => [n.name, n.agent.stats.joins]));
    const revisionBefore = bootstrap.table!.revision;
    await bootstrap.stop();
    await waitFor('agents to notice the bootstrap is gone', () => nodes.every((n) => !n.agent.connected));

    ({ bootstrap, driver: bootstrapDriver } = await startBootstrap(stateFile, port, bootstrapKey));
    assert.equal(bootstrap.table!.revision, revisionBefore, 'revision restored from the state file');
    for (const n of nodes) assert.equal(bootstrap.table!.get(n.name)?.meshIp, ipsBefore.get(n.name), `${n.name} kept its IP in the table`);

    await waitFor('every agent to resume its Watch stream', () =>
      nodes.every((n) => n.agent.connected && n.agent.stats.watchConnects > connectsBefore.get(n.name)!), 15_000);
    for (const n of nodes) {
      assert.equal(n.agent.meshIp, ipsBefore.get(n.name), `${n.name} kept its IP`);
      assert.equal(n.agent.stats.joins, joinsBefore.get(n.name), `${n.name} resumed rather than re-joining`);
    }
    await expectFullMesh(nodes, bootstrapDriver, 'the mesh intact after the restart');

    // The resumed streams are live: a node joining now reaches everybody.
    const late = { name: 'late', ...makeAgent('late', port, 99) };
    nodes.push(late);
    await late.agent.start();
    await expectFullMesh(nodes, bootstrapDriver, 'every node learning of a join after the restart');
  });
});
