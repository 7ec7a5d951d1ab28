import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { status as grpcStatus } from '@grpc/grpc-js';
import { Agent } from '../../src/agent.js';
import { ControlCallError, type ControlClient, type WatchCallbacks } from '../../src/control/client.js';
import { ControlReconnect } from '../../src/errors.js';
import { FailoverControlClient, isUnreachable, spreadIndex } from '../../src/control/failover.js';
import { resolveAddresses } from '../../src/control/resolve.js';
import { resolveBootstrapTargets } from '../../src/node/node.js';
import { buildStatus } from '../../src/status/status.js';
import type { JoinRequest, JoinResponse__Output, UpdateRequest, WatchEvent__Output, WatchRequest } from '../../src/proto/index.js';
import { generateKeyPair } from '../../src/wg/keys.js';
import { MemoryWgDriver } from '../../src/wg/memory-driver.js';
import type { WgInterfaceConfig } from '../../src/wg/types.js';
import { meshNode } from '../fixtures.js';
import { SimTimers } from '../sim-timers.js';

const HEARTBEAT_MS = 5000;
const unavailable = (method: string) => new ControlCallError(grpcStatus.UNAVAILABLE, 'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:5000', method);

/** The membership every fake bootstrap shares (as etcd would): this node n0 and two peers, at revision 3. */
function sharedMesh(): { response: JoinResponse__Output; revision: number } {
  const nodes = [meshNode('n0', '10.232.0.2'), meshNode('n1', '10.232.0.3'), meshNode('n2', '10.232.0.4')];
  return { response: { nodeName: 'n0', meshIp: '10.232.0.2', meshCidr: '10.232.0.0/16', meshCreatedMs: 1, revision: 3, nodes, nodeSecret: 's', presharedKeys: false, l2: null }, revision: 3 };
}

/** One bootstrap of several: reachable or not, or refusing calls with a given code; records what it was asked. */
class FakeBootstrap implements ControlClient {
  up = true;
  /** Calls are answered with this refusal (an application error) instead. */
  refuse: number | undefined;
  readonly joins: JoinRequest[] = [];
  readonly updates: UpdateRequest[] = [];
  readonly watches: WatchRequest[] = [];
  private open = new Set<WatchCallbacks>();
  closed = false;

  constructor(readonly name: string, private readonly mesh = sharedMesh()) {}

  async join(req: JoinRequest): Promise<JoinResponse__Output> {
    this.joins.push(req);
    this.check('Join');
    return this.mesh.response;
  }
  watch(req: WatchRequest, callbacks: WatchCallbacks) {
    this.watches.push(req);
    queueMicrotask(() => {
      if (!this.up) return callbacks.onEnd(unavailable('Watch'));
      if (this.refuse !== undefined) return callbacks.onEnd(new ControlCallError(this.refuse, 'refused', 'Watch'));
      this.open.add(callbacks);
      callbacks.onOpen();
    });
    return { cancel: () => void this.open.delete(callbacks) };
  }
  async update(req: UpdateRequest) {
    this.updates.push(req);
    this.check('Update');
    return { revision: this.mesh.revision, relayPairs: 0 };
  }
  async leave(): Promise<void> {
    this.check('Leave');
  }
  async rtt() {
    this.check('Rtt');
    return { nodes: [], rows: [], partial: false };
  }
  close(): void {
    this.closed = true;
  }

  /** A membership change, sent to this bootstrap's open streams. */
  send(event: WatchEvent__Output): void {
    for (const w of this.open) w.onEvent(event);
  }
  /** The process is killed: its streams end UNAVAILABLE and calls are refused at the socket. */
  kill(): void {
    this.up = false;
    this.endStreams(unavailable('Watch'));
  }
  endStreams(err: ControlCallError): void {
    for (const w of [...this.open]) w.onEnd(err);
    this.open.clear();
  }
  get watching(): number {
    return this.open.size;
  }
  private check(method: string): void {
    if (!this.up) throw unavailable(method);
    if (this.refuse !== undefined) throw new ControlCallError(this.refuse, 'refused', method);
  }
}

/** The memory driver, counting interface bring-ups as well as peer operations. */
class CountingDriver extends MemoryWgDriver {
  ups = 0;
  override async up(config: WgInterfaceConfig): Promise<void> {
    this.ups++;
    await super.up(config);
  }
}

/** Lets queued microtasks and promise chains run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Moves simulated time in small steps until `check` holds; fails naming `what` after `maxMs`. */
async function advanceUntil(timers: SimTimers, what: string, check: () => boolean, maxMs = 30_000, stepMs = 50): Promise<number> {
  const start = timers.nowMs;
  await settle();
  while (!check()) {
    if (timers.nowMs - start > maxMs) assert.fail(`${what}: not within ${maxMs} ms of simulated time`);
    timers.advance(stepMs);
    await settle();
  }
  return timers.nowMs - start;
}

/** An agent over bootstraps A and B (and more), with simulated time and the memory driver. */
function agentOver(names: string[], random = () => 0.5) {
  const timers = new SimTimers();
  const bootstraps = new Map(names.map((n) => [n, new FakeBootstrap(n)]));
  const control = new FailoverControlClient<{ name: string }>(
    { connect: (t) => bootstraps.get(t.name)!, timers, random },
    { targets: names.map((name) => ({ name })) },
  );
  const driver = new CountingDriver('wgfail', {});
  const agent = new Agent(
    { control, driver, timers, random },
    { meshName: 'm', nodeName: 'n0', privateKey: generateKeyPair().privateKey, heartbeatMs: HEARTBEAT_MS, wgOptions: {}, bootstrapAddr: names.join(', ') },
  );
  return { agent, control, driver, timers, b: (name: string) => bootstraps.get(name)! };
}

describe('FailoverControlClient', () => {
  test('what counts as unreachable: UNAVAILABLE, DEADLINE_EXCEEDED and socket errors; refusals do not', () => {
    assert.equal(isUnreachable(new ControlCallError(grpcStatus.UNAVAILABLE, 'x', 'Join')), true);
    assert.equal(isUnreachable(new ControlCallError(grpcStatus.DEADLINE_EXCEEDED, 'x', 'Join')), true);
    assert.equal(isUnreachable(new Error('connect ECONNREFUSED 127.0.0.1:5000')), true);
    for (const code of [grpcStatus.PERMISSION_DENIED, grpcStatus.NOT_FOUND, grpcStatus.INVALID_ARGUMENT, grpcStatus.RESOURCE_EXHAUSTED, grpcStatus.UNAUTHENTICATED]) {
      assert.equal(isUnreachable(new ControlCallError(code, 'x', 'Join')), false, `code ${code}`);
    }
    assert.equal(isUnreachable(new Error('something else')), false);
  });

  test('the current bootstrap is killed: the Watch resumes on the next from the last revision, within seconds, and WireGuard is not touched', async () => {
    const { agent, driver, timers, b } = agentOver(['A', 'B']);
    const [A, B] = [b('A'), b('B')];
    await agent.start();
    try {
      // Step 1: joined and watching through A; a change arrives there (revision 4).
      await advanceUntil(timers, 'the Watch on A to open', () => agent.connected);
      assert.equal(A.joins.length, 1);
      assert.equal(B.joins.length + B.watches.length, 0, 'B is not asked while A answers');
      A.send({ revision: 4, upsert: meshNode('n3', '10.232.0.5'), event: 'upsert' });
      await advanceUntil(timers, 'n3 to be configured', () => agent.netmap.revision === 4 && driver.operationCount === 3);
      assert.equal((await buildStatus(agent)).bootstrapAddr, 'A');
      const opsBefore = driver.operationCount;

      // Step 2: A dies. The session reconnects, to B, from revision 4: after its backoff and a random pause.
      A.kill();
      const tookMs = await advanceUntil(timers, 'the Watch on B to open', () => B.watching === 1 && agent.connected);
      assert.ok(tookMs < 5000, `on B after ${tookMs} ms`);
      assert.ok(tookMs >= 500, `after the jitter (random 0.5 of 1 s), not at once: ${tookMs} ms`);
      assert.deepEqual(B.watches.map((w) => w.sinceRevision), [4], 'resumed from the last revision seen');
      assert.equal(B.joins.length, 0, 'no re-join: the mesh is the same on every bootstrap');
      assert.equal(A.watches.length, 1, 'A was not tried again');

      // Step 3: heartbeats go to B; WireGuard saw nothing of the move.
      timers.advance(HEARTBEAT_MS);
      await settle();
      assert.equal(B.updates.length, 1);
      assert.equal(A.updates.length, 0);
      assert.equal(driver.operationCount, opsBefore, 'no WireGuard operation');
      assert.equal(driver.ups, 1, 'the interface was brought up once');
      const status = await buildStatus(agent);
      assert.equal(status.bootstrapAddr, 'B');
      assert.deepEqual(status.bootstrapAddrs, ['A', 'B']);
      assert.equal(status.connected, true);
    } finally {
      await agent.stop({ leave: false });
    }
  });

  test('a heartbeat that finds its bootstrap gone is sent to the next at once, and the Watch follows it there', async () => {
    const { agent, timers, b } = agentOver(['A', 'B']);
    const [A, B] = [b('A'), b('B')];
    await agent.start();
    try {
      await advanceUntil(timers, 'the Watch on A to open', () => agent.connected);
      // A stops answering calls (its stream not yet noticed to be dead).
      A.up = false;
      timers.advance(HEARTBEAT_MS);
      await settle();
      assert.equal(A.updates.length, 1);
      assert.equal(B.updates.length, 1, 'the same heartbeat, on B');
      assert.equal(agent.controlError, '', 'nothing failed as far as the node is concerned');
      await advanceUntil(timers, 'the Watch to move to B', () => B.watching === 1 && agent.connected, 5000);
      assert.equal(A.watching, 0, 'the stream on A was ended');
      assert.deepEqual(B.watches.map((w) => w.sinceRevision), [3]);
    } finally {
      await agent.stop({ leave: false });
    }
  });

  test('refusals (INVALID_ARGUMENT, PERMISSION_DENIED, NOT_FOUND) never move the node to another bootstrap', async () => {
    const { agent, control, timers, b } = agentOver(['A', 'B']);
    const [A, B] = [b('A'), b('B')];
    await agent.start();
    try {
      await advanceUntil(timers, 'the Watch on A to open', () => agent.connected);
      // A tag the bootstrap refuses: the error comes back, and the node stays on A.
      A.refuse = grpcStatus.INVALID_ARGUMENT;
      await assert.rejects(agent.setTag('role', 'db'), /INVALID_ARGUMENT/);
      assert.equal(control.current.name, 'A');

      // The node removed: its stream ends NOT_FOUND, it re-joins — on A, which said so.
      A.refuse = undefined;
      A.endStreams(new ControlCallError(grpcStatus.NOT_FOUND, 'not a member', 'Watch'));
      await advanceUntil(timers, 'a re-join on A', () => A.joins.length === 2, 5000);
      assert.equal(control.current.name, 'A');
      assert.equal(B.joins.length + B.updates.length + B.watches.length, 0, 'B was never asked');
    } finally {
      await agent.stop({ leave: false });
    }

    // A join refused with PERMISSION_DENIED is thrown at once; the other bootstrap would say the same.
    const fresh = agentOver(['A', 'B']);
    fresh.b('A').refuse = grpcStatus.PERMISSION_DENIED;
    await assert.rejects(fresh.agent.start(), (err: unknown) => err instanceof ControlCallError && err.code === grpcStatus.PERMISSION_DENIED);
    assert.equal(fresh.b('B').joins.length, 0);
    await fresh.agent.stop({ leave: false });
  });

  test('every bootstrap down: each is tried, then the backoff, round and round; the first back answers the join', async () => {
    const { agent, control, timers, b } = agentOver(['A', 'B', 'C']);
    const all = ['A', 'B', 'C'].map(b);
    for (const x of all) x.up = false;
    const starting = agent.start();
    // Step 1: one join attempt asks A, B and C in turn, then waits.
    await settle();
    assert.deepEqual(all.map((x) => x.joins.length), [1, 1, 1]);
    // Step 2: a few rounds later, C comes back: the next round finds it.
    await advanceUntil(timers, 'three rounds', () => all[0]!.joins.length === 3);
    assert.deepEqual(all.map((x) => x.joins.length), [3, 3, 3], 'round-robin, each once per round');
    all[2]!.up = true;
    await advanceUntil(timers, 'the join', () => all[2]!.joins.length === 4);
    await starting;
    try {
      assert.equal(agent.meshIp, '10.232.0.2');
      assert.equal(control.current.name, 'C');
      await advanceUntil(timers, 'the Watch on C', () => all[2]!.watching === 1);
      assert.equal(all[0]!.watches.length + all[1]!.watches.length, 0);
    } finally {
      await agent.stop({ leave: false });
    }
  });

  test('one bootstrap: exactly its own client (no pause, no other target, errors as they were)', async () => {
    const timers = new SimTimers();
    const only = new FakeBootstrap('only');
    const control = new FailoverControlClient({ connect: () => only, timers }, { targets: [{ name: 'only' }] });
    only.up = false;
    await assert.rejects(control.update({}), (err: unknown) => err instanceof ControlCallError && err.code === grpcStatus.UNAVAILABLE);
    assert.equal(only.updates.length, 1, 'tried once');
    let ended: ControlCallError | undefined;
    control.watch({}, { onOpen() {}, onEvent() {}, onEnd: (err) => (ended = err) });
    assert.equal(only.watches.length, 1, 'opened at once, no timer');
    assert.equal(timers.pending, 0);
    await settle();
    assert.equal(ended?.code, grpcStatus.UNAVAILABLE);
    assert.deepEqual(control.bootstrap(), { current: 'only', all: ['only'] });
    control.close();
    assert.equal(only.closed, true);
  });

  test('every target failed: the names are resolved again, and a new address is tried next', async () => {
    const made = new Map<string, FakeBootstrap>();
    const connect = (t: { name: string }) => {
      const c = new FakeBootstrap(t.name);
      if (t.name !== 'new') c.up = false;
      made.set(t.name, c);
      return c;
    };
    let resolves = 0;
    const control = new FailoverControlClient({
      connect,
      resolve: async () => {
        resolves++;
        return [{ name: 'old2' }, { name: 'new' }];
      },
      timers: new SimTimers(),
    }, { targets: [{ name: 'old1' }, { name: 'old2' }] });
    await assert.rejects(control.update({}), (err: unknown) => isUnreachable(err));
    await settle();
    assert.equal(resolves, 1, 'resolved again once both had failed');
    assert.deepEqual(control.bootstrap().all, ['old2', 'new']);
    assert.equal(made.get('old1')!.closed, true, 'the client of an address no longer listed is closed');
    await control.update({});
    assert.equal(control.current.name, 'new');
    control.close();
  });
});

describe('bootstrap addresses', () => {
  const lookupAll = async (host: string) => {
    if (host === 'multi.example') return ['192.0.2.1', '2001:db8::1'];
    if (host === 'one.example') return ['192.0.2.9'];
    throw new Error(`getaddrinfo ENOTFOUND ${host}`);
  };

  test('a host name with several addresses counts as several bootstraps; others stay as given', async () => {
    assert.deepEqual(await resolveAddresses('multi.example:5000', lookupAll), [
      { address: '192.0.2.1:5000', ip: '192.0.2.1' },
      { address: '[2001:db8::1]:5000', ip: '2001:db8::1' },
    ]);
    assert.deepEqual(await resolveAddresses('one.example:5000', lookupAll), [{ address: 'one.example:5000' }], 'one address: dialed by name as before');
    assert.deepEqual(await resolveAddresses('gone.example:5000', lookupAll), [{ address: 'gone.example:5000' }], 'not resolvable now: gRPC tries when it dials');
    assert.deepEqual(await resolveAddresses('[2001:db8::7]:5000', lookupAll), [{ address: '[2001:db8::7]:5000' }]);
  });

  test('each address keeps its own TLS name (the host name given), and is named for info', async () => {
    const credentials = {} as never;
    const targets = await resolveBootstrapTargets([
      { address: 'multi.example:5000', credentials, channelOptions: { 'grpc.ssl_target_name_override': 'multi.example' }, display: 'multi.example:5000' },
      { address: '198.51.100.7:5000', credentials, channelOptions: { 'grpc.ssl_target_name_override': '198.51.100.7' }, display: '198.51.100.7:5000' },
    ], lookupAll);
    assert.deepEqual(targets.map((t) => [t.name, t.address, t.channelOptions?.['grpc.ssl_target_name_override']]), [
      ['multi.example:5000 (192.0.2.1)', '192.0.2.1:5000', 'multi.example'],
      ['multi.example:5000 (2001:db8::1)', '[2001:db8::1]:5000', 'multi.example'],
      ['198.51.100.7:5000', '198.51.100.7:5000', '198.51.100.7'],
    ]);
  });
});

describe('spreadIndex: where a node starts in its bootstrap list', () => {
  test('stable for one name, inside the list, and 300 names spread over 3 bootstraps within 70-130 each', () => {
    assert.equal(spreadIndex('node-7', 3), spreadIndex('node-7', 3));
    assert.equal(spreadIndex('anything', 1), 0);
    const counts = [0, 0, 0];
    for (let i = 0; i < 300; i++) counts[spreadIndex(`h${i}`, 3)]!++;
    assert.ok(counts.every((c) => c >= 70 && c <= 130), counts.join(' '));
  });

  test('the client starts at firstIndex and moves on round-robin from there', async () => {
    const fakes = new Map(['a', 'b', 'c'].map((n) => [n, new FakeBootstrap(n)]));
    for (const fake of fakes.values()) fake.up = false;
    const control = new FailoverControlClient<{ name: string }>(
      { connect: (t) => fakes.get(t.name)! },
      { targets: [{ name: 'a' }, { name: 'b' }, { name: 'c' }], firstIndex: 4 },
    );
    assert.equal(control.current.name, 'b');
    const order: string[] = [];
    for (const fake of fakes.values()) {
      const join = fake.join.bind(fake);
      fake.join = async (req) => {
        order.push(fake.name);
        return join(req);
      };
    }
    await assert.rejects(control.join({}));
    assert.deepEqual(order, ['b', 'c', 'a']);
    control.close();
  });
});

describe('reconnect (a renewed certificate): new connections, the Watch opened again, nothing else touched', () => {
  test('every target gets a new client; the old ones are closed; an open Watch ends UNAVAILABLE once, and calls go to the new client', async () => {
    const made: FakeBootstrap[] = [];
    const client = new FailoverControlClient<{ name: string }>(
      { connect: (t) => { const b = new FakeBootstrap(t.name); made.push(b); return b; } },
      { targets: [{ name: 'b1' }, { name: 'b2' }] },
    );
    const ends: (ControlCallError | undefined)[] = [];
    client.watch({ meshName: 'm', nodeName: 'n0', publicKey: 'k', nodeSecret: '', sinceRevision: 3 }, { onOpen: () => {}, onEvent: () => {}, onEnd: (err) => ends.push(err) });
    await new Promise((r) => setImmediate(r));
    client.reconnect('the node\'s certificate was renewed');
    assert.equal(made.length, 4, 'a new client per target');
    assert.ok(made[0]!.closed && made[1]!.closed, 'the old clients closed');
    assert.equal(ends.length, 1);
    assert.equal(ends[0]!.code, grpcStatus.UNAVAILABLE);
    assert.match(ends[0]!.message, /certificate was renewed; reconnecting/);
    assert.ok(ends[0] instanceof ControlReconnect, 'marked as a reconnect of our own (the session logs it as info, not a fault)');
    await client.update({ meshName: 'm', nodeName: 'n0', publicKey: 'k', nodeSecret: '', endpoints: [], tags: {}, rtt: [], relayed: [] } as UpdateRequest);
    assert.equal(made[2]!.updates.length, 1, 'calls go over the new client of the current target');
    assert.equal(made[0]!.updates.length, 0);
    client.close();
  });
});
