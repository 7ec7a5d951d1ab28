import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, type RttSource } from '../src/agent.js';
import type { ControlClient } from '../src/control/client.js';
import type { JoinResponse__Output, RttSample__Output, UpdateRequest } from '../src/proto/index.js';
import { RTT_SAMPLES_PER_REPORT } from '../src/rtt/report.js';
import { generateKeyPair } from '../src/wg/keys.js';
import { MemoryWgDriver } from '../src/wg/memory-driver.js';
import { meshNode } from './fixtures.js';
import { SimTimers } from './sim-timers.js';
import { MemoryAgentStateStore } from '../src/state/agent-state.js';

const HEARTBEAT_MS = 5000;

/** A bootstrap stand-in: answers the join with `nodes`, records Updates, and fails the ones it is told to. */
class FakeControl implements ControlClient {
  readonly updates: UpdateRequest[] = [];
  /** How many of the next Updates fail (the bootstrap unreachable). */
  failNext = 0;
  constructor(private readonly response: JoinResponse__Output) {}
  async join(): Promise<JoinResponse__Output> {
    return this.response;
  }
  watch(_req: unknown, callbacks: { onOpen(): void }) {
    queueMicrotask(() => callbacks.onOpen());
    return { cancel() {} };
  }
  async update(req: UpdateRequest) {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('Update: bootstrap unreachable');
    }
    this.updates.push(req);
    return { revision: this.response.revision, relayPairs: 0 };
  }
  async leave(): Promise<void> {}
  async rtt() {
    return { nodes: [], rows: [], partial: false };
  }
  close(): void {}
}

/** A prober stand-in: a fixed figure to every peer it is given. */
class FixedRtt implements RttSource {
  private peers: string[] = [];
  /** What each setPeers call said about who opens each handshake. */
  readonly opens: Map<string, boolean | undefined>[] = [];
  setPeers(peers: readonly { name: string; opensHandshake?: boolean }[]): void {
    this.peers = peers.map((p) => p.name);
    this.opens.push(new Map(peers.map((p) => [p.name, p.opensHandshake])));
  }
  samples(): RttSample__Output[] {
    return this.peers.map((peer, i) => ({ peer, rttMs: 1 + i / 100, loss: 0, measuredAtMs: Date.now() }));
  }
}

/** A prober that takes changes one by one (RttSource.updatePeers), as RttProber does. */
class IncrementalRtt extends FixedRtt {
  /** Each updatePeers call: the names given as peers, and those given as gone. */
  readonly updates: { peers: string[]; removed: string[] }[] = [];
  updatePeers(peers: readonly { name: string }[], removed: readonly string[]): void {
    this.updates.push({ peers: peers.map((p) => p.name), removed: [...removed] });
  }
}

/** A mesh of `size` nodes: this node (n0) and size-1 peers with distinct keys. */
function joinResponse(size: number): JoinResponse__Output {
  const nodes = Array.from({ length: size }, (_, i) => {
    const key = Buffer.alloc(32);
    key.writeUInt32BE(i + 1);
    return meshNode(`n${i}`, `10.232.${Math.floor((i + 2) / 250)}.${((i + 2) % 250) + 1}`, { publicKey: key.toString('base64') });
  });
  return { nodeName: 'n0', meshIp: nodes[0]!.meshIp, meshCidr: '10.232.0.0/16', meshCreatedMs: 1, revision: size, nodes, nodeSecret: 'test-secret', presharedKeys: false, l2: null };
}

/** Lets a heartbeat that fell due finish its Update. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('Agent RTT reports', () => {
  test('in a mesh of 2,000 every sample goes out over successive heartbeats; a failed Update leaves its samples due', async () => {
    const timers = new SimTimers();
    const control = new FakeControl(joinResponse(2000));
    const agent = new Agent(
      { control, driver: new MemoryWgDriver('wgagent', { record: false }), timers, rtt: new FixedRtt() },
      { meshName: 'm', nodeName: 'n0', privateKey: generateKeyPair().privateKey, heartbeatMs: HEARTBEAT_MS, wgOptions: {} },
    );
    await agent.start();
    try {
      // Step 1: the first heartbeat carries the first RTT_SAMPLES_PER_REPORT samples.
      timers.advance(HEARTBEAT_MS);
      await settle();
      assert.equal(control.updates.length, 1);
      assert.equal(control.updates[0]!.rtt!.length, RTT_SAMPLES_PER_REPORT);

      // Step 2: the second heartbeat's Update fails; the third carries what it would have.
      control.failNext = 1;
      timers.advance(HEARTBEAT_MS);
      await settle();
      assert.equal(control.updates.length, 1, 'the failed Update reached nobody');
      timers.advance(HEARTBEAT_MS);
      await settle();
      const retried = control.updates[1]!.rtt!.map((s) => s.peer);
      assert.equal(retried.length, RTT_SAMPLES_PER_REPORT);
      assert.ok(retried.every((peer) => !control.updates[0]!.rtt!.some((s) => s.peer === peer)), 'not the ones already held');

      // Step 3: heartbeats go on until all 1,999 are out, each Update within the cap, each peer once.
      for (let i = 0; i < 10; i++) {
        timers.advance(HEARTBEAT_MS);
        await settle();
      }
      const reports = control.updates.map((u) => u.rtt ?? []);
      assert.ok(reports.every((r) => r.length <= RTT_SAMPLES_PER_REPORT));
      const peers = reports.flat().map((s) => s.peer);
      assert.equal(new Set(peers).size, 1999, 'every peer reported');
      assert.equal(peers.length, 1999, 'each once');
      assert.equal(reports.filter((r) => r.length > 0).length, Math.ceil(1999 / RTT_SAMPLES_PER_REPORT));
    } finally {
      await agent.stop({ leave: false });
    }
  });
});

describe('Agent: who opens a new pair\'s handshake', () => {
  test('this node, with peers that joined before it; the peer, with one that joined after it; the lower mesh IP on a tie', async () => {
    const timers = new SimTimers();
    const response = joinResponse(4);
    // n0 (this node, 10.232.0.3) joined at 200; n1 before it, n2 after it, n3 at the same moment with a higher IP.
    const joined = [200, 100, 300, 200];
    const nodes = response.nodes.map((n, i) => ({ ...n, joinedAtMs: joined[i]! }));
    const rtt = new FixedRtt();
    const agent = new Agent(
      { control: new FakeControl({ ...response, nodes }), driver: new MemoryWgDriver('wgagent', { record: false }), timers, rtt },
      { meshName: 'm', nodeName: 'n0', privateKey: generateKeyPair().privateKey, heartbeatMs: HEARTBEAT_MS, wgOptions: {} },
    );
    await agent.start();
    try {
      const last = rtt.opens.at(-1)!;
      assert.deepEqual(Object.fromEntries(last), { n1: true, n2: false, n3: true });
    } finally {
      await agent.stop({ leave: false });
    }
  });
});

describe('Agent: membership changes without an RTT prober', () => {
  /** FakeControl whose Watch delivers the events pushed to it. */
  class EventControl extends FakeControl {
    private onEvent: ((e: import('../src/proto/index.js').WatchEvent__Output) => void) | undefined;
    override watch(_req: unknown, callbacks: { onOpen(): void; onEvent(e: import('../src/proto/index.js').WatchEvent__Output): void }) {
      this.onEvent = (e) => callbacks.onEvent(e);
      queueMicrotask(() => callbacks.onOpen());
      return { cancel() {} };
    }
    push(e: import('../src/proto/index.js').WatchEvent__Output): void {
      this.onEvent!(e);
    }
  }

  for (const mode of ['none', 'whole list', 'one by one'] as const) {
    const title = {
      none: 'without a prober or handshake guard, new peers cost no pass over the whole membership',
      'whole list': 'with a prober that takes only whole lists, each batch of new peers is handed to it as one',
      'one by one': 'with a prober that takes changes (updatePeers), each batch hands it only its new peers: no pass over the membership',
    }[mode];
    test(title, async () => {
      const timers = new SimTimers();
      const response = joinResponse(200);
      const control = new EventControl(response);
      const driver = new MemoryWgDriver('wgagent', { record: false });
      const rtt = mode === 'none' ? undefined : mode === 'whole list' ? new FixedRtt() : new IncrementalRtt();
      const agent = new Agent(
        { control, driver, timers, ...(rtt ? { rtt } : {}) },
        { meshName: 'm', nodeName: 'n0', privateKey: generateKeyPair().privateKey, heartbeatMs: HEARTBEAT_MS, wgOptions: {} },
      );
      await agent.start();
      try {
        const listedAtStart = agent.peerListings;
        for (let i = 0; i < 20; i++) {
          const key = Buffer.alloc(32);
          key.writeUInt32BE(10_000 + i);
          const reconciled = new Promise<void>((resolve) => agent.once('reconciled', () => resolve()));
          control.push({ revision: 201 + i, upsert: meshNode(`new${i}`, `10.232.9.${i + 1}`, { publicKey: key.toString('base64') }), event: 'upsert' } as never);
          await reconciled;
        }
        const removed = new Promise<void>((resolve) => agent.once('reconciled', () => resolve()));
        control.push({ revision: 221, remove: { name: 'n5' }, event: 'remove' } as never);
        await removed;
        assert.equal(agent.netmap.nodes.size, 219);
        assert.equal((await driver.read()).peers.length, 218, 'every new peer configured, the removed one gone');
        if (mode === 'none') assert.equal(agent.peerListings, 0);
        if (mode === 'whole list') assert.ok(agent.peerListings - listedAtStart >= 21, `${agent.peerListings - listedAtStart} listings for 21 batches`);
        if (rtt instanceof IncrementalRtt) {
          assert.equal(agent.peerListings, listedAtStart, 'no whole list after the start');
          assert.deepEqual(rtt.updates, [
            ...Array.from({ length: 20 }, (_, i) => ({ peers: [`new${i}`], removed: [] })),
            { peers: [], removed: ['n5'] },
          ]);
        }
      } finally {
        await agent.stop({ leave: false });
      }
    });
  }

});

describe('Agent: batched Watch messages', () => {
  test('the Watch asks for batches; a batch is applied as its changes, in order, in one WireGuard pass', async () => {
    const requests: unknown[] = [];
    let push: ((e: import('../src/proto/index.js').WatchEvent__Output) => void) | undefined;
    class BatchControl extends FakeControl {
      override watch(req: unknown, callbacks: { onOpen(): void; onEvent(e: import('../src/proto/index.js').WatchEvent__Output): void }) {
        requests.push(req);
        push = (e) => callbacks.onEvent(e);
        queueMicrotask(() => callbacks.onOpen());
        return { cancel() {} };
      }
    }
    const control = new BatchControl(joinResponse(10));
    const driver = new MemoryWgDriver('wgbatch', { record: false });
    const agent = new Agent({ control, driver, timers: new SimTimers() }, { meshName: 'm', nodeName: 'n0', privateKey: generateKeyPair().privateKey, heartbeatMs: HEARTBEAT_MS, wgOptions: {} });
    await agent.start();
    try {
      assert.equal((requests[0] as { batches?: boolean }).batches, true);
      const passes = { before: 0 };
      let reconciles = 0;
      agent.on('reconciled', () => reconciles++);
      passes.before = reconciles;
      const upsert = (i: number) => {
        const key = Buffer.alloc(32);
        key.writeUInt32BE(5_000 + i);
        return { revision: 10 + i, upsert: meshNode(`b${i}`, `10.232.7.${i}`, { publicKey: key.toString('base64') }), event: 'upsert' };
      };
      const reconciled = new Promise<void>((resolve) => agent.once('reconciled', () => resolve()));
      // b1 and b2 come, n3 goes, b1 comes back changed: the last word on b1 is its second upsert.
      const changes = [upsert(1), upsert(2), { revision: 13, remove: { name: 'n3' }, event: 'remove' }, { ...upsert(1), revision: 14, upsert: { ...upsert(1).upsert, meshIp: '10.232.7.99' } }];
      push!({ revision: 14, batch: { events: changes }, event: 'batch' } as never);
      await reconciled;
      assert.equal(agent.netmap.revision, 14);
      assert.equal(agent.netmap.nodes.get('b1')?.meshIp, '10.232.7.99');
      assert.ok(agent.netmap.nodes.has('b2'));
      assert.ok(!agent.netmap.nodes.has('n3'));
      assert.equal(reconciles - passes.before, 1, 'one pass for the batch');
      const peers = (await driver.read()).peers;
      assert.equal(peers.length, 10 - 1 - 1 + 2);
      assert.deepEqual(peers.find((p) => p.allowedIps.includes('10.232.7.99/32'))?.allowedIps, ['10.232.7.99/32']);
    } finally {
      await agent.stop({ leave: false });
    }
  });
});

describe('Agent: its mesh IP across restarts', () => {
  test('a join from saved state asks for the saved mesh IP (previous_mesh_ip); a first join asks for none', async () => {
    const asked: (string | undefined)[] = [];
    const control: ControlClient = {
      async join(req) {
        asked.push(req.previousMeshIp ?? undefined);
        const self = meshNode('n0', '198.18.0.7', { publicKey: String(req.publicKey) });
        return { nodeName: 'n0', meshIp: self.meshIp, meshCidr: '198.18.0.0/16', meshCreatedMs: 1, revision: 1, nodes: [self], nodeSecret: '', presharedKeys: false, l2: null };
      },
      watch: () => ({ cancel() {} }),
      update: async () => ({ revision: 1, relayPairs: 0 }),
      async leave() {},
      rtt: async () => ({ nodes: [], rows: [], partial: true }),
      close() {},
    };
    const stateStore = new MemoryAgentStateStore();
    const privateKey = generateKeyPair().privateKey;
    const node = () => new Agent({ control, driver: new MemoryWgDriver('wgip'), stateStore, timers: new SimTimers() }, { meshName: 'm', nodeName: 'n0', privateKey, wgOptions: {} });
    const first = node();
    await first.start();
    await first.stop({ leave: false });
    assert.equal(stateStore.state?.meshIp, '198.18.0.7', 'the join was saved');
    const restarted = node();
    await restarted.start();
    // Restored from saved state, it re-joins in the background.
    for (let i = 0; i < 100 && asked.length < 2; i++) await new Promise((r) => setImmediate(r));
    await restarted.stop({ leave: false });
    assert.deepEqual(asked.map((ip) => ip || ''), ['', '198.18.0.7']);
  });
});
