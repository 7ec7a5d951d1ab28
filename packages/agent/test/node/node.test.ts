/**
 * The node factory: a start that fails at any step stops exactly what had started, last first,
 * and a stop during a start (a signal while the join is being retried) leaves nothing running.
 * With the memory driver and a fake bootstrap; the sockets and ports are real.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { credentials, status as grpcStatus } from '@grpc/grpc-js';
import { createAgentNode, type AgentNodeInit } from '../../src/node/node.js';
import { ControlCallError, type ControlClient } from '../../src/control/client.js';
import { JoinCancelled, LocalApiError, MetricsError, SocketInUse, WireGuardUnavailable } from '../../src/errors.js';
import { MemoryWgDriver } from '../../src/wg/memory-driver.js';
import type { Logger } from '../../src/log.js';
import type { JoinRequest, JoinResponse__Output } from '../../src/proto/index.js';
import { meshNode } from '../fixtures.js';
import { createPortMapper } from '../../src/endpoints/portmap/mapper.js';
import type { Endpoint, UpdateRequest } from '../../src/proto/index.js';
import { FakePmpRouter, recordingLogger, until } from '../endpoints/portmap/fake-router.js';

/** The mesh the fake bootstrap answers with: this node on a loopback address, so the RTT echo can bind it. */
const MESH_IP = '127.0.0.2';

/** A bootstrap stand-in: answers the join (or refuses it, or is unreachable), and records Leave and close. */
class FakeControl implements ControlClient {
  joins = 0;
  left = false;
  closed = false;
  constructor(private readonly answer: 'join' | 'unreachable' = 'join') {}
  async join(req: JoinRequest): Promise<JoinResponse__Output> {
    this.joins++;
    if (this.answer === 'unreachable') throw new ControlCallError(grpcStatus.UNAVAILABLE, 'No connection established', 'Join');
    const self = meshNode(String(req.nodeName), MESH_IP, { publicKey: String(req.publicKey) });
    return { nodeName: self.name, meshIp: MESH_IP, meshCidr: '127.0.0.0/8', meshCreatedMs: 1, revision: 1, nodes: [self], nodeSecret: 'secret', presharedKeys: false, l2: null };
  }
  watch(_req: unknown, callbacks: { onOpen(): void }) {
    queueMicrotask(() => callbacks.onOpen());
    return { cancel() {} };
  }
  async update() {
    return { revision: 1, relayPairs: 0 };
  }
  async leave(): Promise<void> {
    this.left = true;
  }
  async rtt() {
    return { nodes: [], rows: [], partial: false };
  }
  close(): void {
    this.closed = true;
  }
}

/** The memory driver, whose up() can be made to fail as the kernel backend does without its module. */
class TestDriver extends MemoryWgDriver {
  upCalls = 0;
  constructor(private readonly failUp = false) {
    super('wgnode');
  }
  override async up(config: Parameters<MemoryWgDriver['up']>[0]): Promise<void> {
    this.upCalls++;
    if (this.failUp) throw new WireGuardUnavailable('this kernel has no WireGuard module; use the userspace backend');
    await super.up(config);
  }
}

/** Records the node's own lifecycle lines: which part started and stopped, in order. */
function lifecycleLog(): { logger: Logger; events: string[] } {
  const events: string[] = [];
  const logger: Logger = {
    error() {},
    warn() {},
    info() {},
    debug(message: string, meta?: Record<string, unknown>) {
      if ((message === 'started' || message === 'stopped') && typeof meta?.part === 'string') events.push(`${message} ${meta.part}`);
    },
    child: () => logger,
  };
  return { logger, events };
}

/** A free TCP port on loopback, held by a listener until released. */
async function holdPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(() => true, () => false);
}

describe('a node start that fails stops what had started, last first', () => {
  let dir: string;
  let rttPort: number;
  const closeAfter: Server[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-node-'));
    // A UDP port for the RTT echo: any high one; the prober and echo use the same number.
    rttPort = 20_000 + Math.floor(Math.random() * 20_000);
  });
  afterEach(async () => {
    for (const s of closeAfter.splice(0)) await new Promise((r) => s.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  function init(extra: Partial<AgentNodeInit> = {}): AgentNodeInit {
    return {
      meshName: 'node',
      nodeName: 'n1',
      stateDir: path.join(dir, 'state'),
      listenPort: 54540,
      listenAddr: '192.0.2.10',
      rttPort,
      socketPath: path.join(dir, 'wgmesh.sock'),
      memberlistFile: path.join(dir, 'members.json'),
      heartbeatMs: 60_000,
      // The fake control is used instead of dialing this.
      bootstrap: { address: '192.0.2.1:5000', credentials: credentials.createInsecure() },
      ...extra,
    };
  }

  test('a whole start, then stop: every part stops, in the reverse of the start order', async () => {
    const { port, server } = await holdPort();
    await new Promise((r) => server.close(r)); // a port free right now, for the metrics
    const { logger, events } = lifecycleLog();
    const driver = new TestDriver();
    const control = new FakeControl();
    const node = createAgentNode({ wg: () => driver, control, logger }, init({ metricsAddr: `127.0.0.1:${port}` }));

    // Step 1: the start brings up every part, in order.
    await node.start();
    assert.deepEqual(node.running, ['agent', 'rtt', 'layer 2', 'local API', 'metrics', 'memberlist']);
    assert.equal(driver.isUp, true);
    assert.equal(await answers(path.join(dir, 'wgmesh.sock')), true, 'the local API answers');

    // Step 2: stop undoes it, last part first.
    await node.stop();
    assert.deepEqual(events.filter((e) => e.startsWith('stopped')), ['stopped memberlist', 'stopped metrics', 'stopped local API', 'stopped layer 2', 'stopped rtt', 'stopped agent']);
    assert.deepEqual(node.running, []);
    assert.equal(driver.isUp, false, 'the interface is gone');
    assert.equal(control.left, true, 'it left the mesh');
    assert.equal(control.closed, true);
    assert.equal(await exists(path.join(dir, 'wgmesh.sock')), false, 'the socket is removed');
    await node.stop(); // a second stop has nothing left to do
  });

  test('(a) the driver: up() fails after the join; the node leaves again, and nothing after the agent starts', async () => {
    const { logger, events } = lifecycleLog();
    const driver = new TestDriver(true);
    const control = new FakeControl();
    const node = createAgentNode({ wg: () => driver, control, logger }, init());

    await assert.rejects(node.start(), WireGuardUnavailable);
    assert.equal(driver.upCalls, 1);
    assert.deepEqual(events, ['stopped agent'], 'the agent was the only part begun');
    assert.deepEqual(node.running, []);
    assert.equal(driver.isUp, false);
    assert.equal(control.left, true, 'an answered join is undone');
    assert.equal(control.closed, true);
    assert.equal(await exists(path.join(dir, 'wgmesh.sock')), false, 'no socket was made');
  });

  test('(b) the local API socket is served by another process: refused before the driver is even made', async () => {
    const socketPath = path.join(dir, 'wgmesh.sock');
    const other = createServer();
    await new Promise<void>((resolve) => other.listen(socketPath, resolve));
    closeAfter.push(other);
    let driversMade = 0;
    const control = new FakeControl();
    const node = createAgentNode({ wg: () => (driversMade++, new TestDriver()), control }, init());

    await assert.rejects(node.start(), (err: unknown) => err instanceof SocketInUse && err instanceof LocalApiError && /another wgmesh agent is already serving/.test(err.message));
    assert.equal(driversMade, 0, 'WireGuard was not touched');
    assert.equal(control.joins, 0, 'no join was sent');
    assert.equal(await answers(socketPath), true, 'the other server still answers on its socket');
    assert.equal(await exists(path.join(dir, 'state', 'node', 'private.key')), false, 'not even a key was made');
  });

  test('(c) the metrics port is in use: the local API, layer 2, RTT and the agent stop in that order', async () => {
    const { port, server } = await holdPort();
    closeAfter.push(server);
    const { logger, events } = lifecycleLog();
    const driver = new TestDriver();
    const control = new FakeControl();
    const node = createAgentNode({ wg: () => driver, control, logger }, init({ metricsAddr: `127.0.0.1:${port}` }));

    await assert.rejects(node.start(), (err: unknown) => err instanceof MetricsError && /port is in use; pick another/.test(err.message));
    // RTT starts once the agent has set its peers, while the agent's start finishes (saving the
    // join): which of the two is done first is a race; the stop order is not.
    assert.deepEqual([...events.slice(0, 2)].sort(), ['started agent', 'started rtt']);
    assert.deepEqual(events.slice(2), ['started layer 2', 'started local API', 'stopped metrics', 'stopped local API', 'stopped layer 2', 'stopped rtt', 'stopped agent']);
    assert.deepEqual(node.running, []);
    assert.equal(driver.isUp, false);
    assert.equal(control.closed, true);
    assert.equal(await exists(path.join(dir, 'wgmesh.sock')), false, 'the socket it had made is removed');
    assert.equal(server.listening, true, 'the other listener keeps its port');
  });

  test('(d) the bootstrap is unreachable: a stop during the retries ends the start, with nothing left', async () => {
    const { logger, events } = lifecycleLog();
    const driver = new TestDriver();
    const control = new FakeControl('unreachable');
    const node = createAgentNode({ wg: () => driver, control, logger }, init());

    // Step 1: the start keeps retrying the join.
    const started = node.start();
    const failed = assert.rejects(started, (err: unknown) => err instanceof JoinCancelled && err.lastError instanceof ControlCallError && err.lastError.code === grpcStatus.UNAVAILABLE);
    while (control.joins < 2) await new Promise((r) => setTimeout(r, 10));

    // Step 2: a stop (the CLI's on a signal) ends it.
    await node.stop();
    await failed;
    assert.deepEqual(events, ['stopped agent']);
    assert.deepEqual(node.running, []);
    // The interface comes up while the join is out (only its address waits for the answer).
    assert.equal(driver.upCalls, 1, 'the interface was brought up beside the join');
    assert.equal(driver.isUp, false, 'and is gone with the stop');
    assert.equal(control.left, false, 'nothing to leave');
    assert.equal(control.closed, true);
    const joins = control.joins;
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(control.joins, joins, 'no join is tried after the stop');
  });
  test('(e) the device fails while the bootstrap is unreachable: its error ends the start, with no more join attempts', async () => {
    const { logger, events } = lifecycleLog();
    const driver = new TestDriver(true);
    const control = new FakeControl('unreachable');
    const node = createAgentNode({ wg: () => driver, control, logger }, init());

    // The join's first attempt fails and would be retried; the device's failure ends it instead.
    await assert.rejects(node.start(), WireGuardUnavailable);
    assert.equal(control.joins, 1, 'no second attempt');
    assert.deepEqual(events, ['stopped agent']);
    assert.deepEqual(node.running, []);
    assert.equal(driver.isUp, false);
    assert.equal(control.left, false, 'nothing to leave');
    assert.equal(control.closed, true);
  });
});

describe('port mapping in a node', () => {
  let dir: string;
  let router: FakePmpRouter;

  /** The fake bootstrap, keeping the endpoints of every Update. */
  class RecordingControl extends FakeControl {
    readonly updates: Endpoint[][] = [];
    override async update(req?: UpdateRequest) {
      this.updates.push([...(req?.endpoints ?? [])]);
      return super.update();
    }
  }

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-node-'));
    router = await FakePmpRouter.start();
  });
  afterEach(async () => {
    router.close();
    await rm(dir, { recursive: true, force: true });
  });

  function init(extra: Partial<AgentNodeInit> = {}): AgentNodeInit {
    return {
      meshName: 'node', nodeName: 'n1', stateDir: path.join(dir, 'state'), listenPort: 54540, rttPort: 0,
      // A minute: an Update soon after the mapping can only be the one the mapping asked for.
      heartbeatMs: 60_000,
      bootstrap: { address: '192.0.2.1:5000', credentials: credentials.createInsecure() },
      portMapping: true,
      ...extra,
    };
  }

  /** The real mapper, pointed at the fake router instead of the default gateway. */
  const toFakeRouter = (retransmitMs: number[]) => (c: Parameters<typeof createPortMapper>[0], i: Parameters<typeof createPortMapper>[1]) =>
    createPortMapper(c, { ...i, gateway: '127.0.0.1', serverPort: router.port, protocols: ['PCP', 'NAT-PMP'], retransmitMs });

  test('the mapping made after the join is advertised at once as a MAPPED candidate, and deleted on stop', async () => {
    const control = new RecordingControl();
    const node = createAgentNode({ wg: () => new TestDriver(), control, portMapper: toFakeRouter([100, 100, 100]) }, init());

    // Step 1: the node starts; the mapper is a part of it, started after the agent (the interface is up).
    await node.start();
    assert.deepEqual(node.running, ['agent', 'layer 2', 'port mapping']);

    // Step 2: the router maps; an Update carrying the mapped endpoint goes out without waiting a heartbeat period.
    const mapped = { ip: '203.0.113.7', port: 55540, kind: 'ENDPOINT_KIND_MAPPED' };
    await until('an Update with the mapping', () => control.updates.some((eps) => eps.some((e) => e.kind === 'ENDPOINT_KIND_MAPPED')));
    assert.deepEqual(control.updates.at(-1)!.find((e) => e.kind === 'ENDPOINT_KIND_MAPPED'), mapped);
    assert.deepEqual(node.agent!.endpoints.find((e) => e.kind === 'ENDPOINT_KIND_MAPPED'), mapped, 'what info shows');
    assert.equal(node.agent!.behindNat, true, 'a mapping router is a NAT');

    // Step 3: the stop deletes the mapping at the router.
    await node.stop();
    assert.equal(router.mapRequests().at(-1)?.lifetimeSec, 0);
  });

  test('a router that never answers does not hold up the join, nor the stop', async () => {
    router.override = () => undefined;
    const log = recordingLogger();
    const node = createAgentNode({ wg: () => new TestDriver(), control: new RecordingControl(), logger: log, portMapper: toFakeRouter([300, 300, 300]) }, init());
    await node.start();
    assert.deepEqual(node.running, ['agent', 'layer 2', 'port mapping']);
    await until('the mapper asking', () => router.requests.length >= 1);
    assert.equal(log.lines.some((l) => l.message.startsWith('no port mapping')), false, 'the node is up while the mapper still waits for the router');
    const began = Date.now();
    await node.stop();
    assert.ok(Date.now() - began < 1000, `stopped in ${Date.now() - began} ms`);
  });

  test('portMapping off (or -listen-addr given): no mapper, the router is never asked', async () => {
    for (const extra of [{ portMapping: false }, { listenAddr: '192.0.2.10' }]) {
      const node = createAgentNode({ wg: () => new TestDriver(), control: new RecordingControl(), portMapper: toFakeRouter([100]) }, init(extra));
      await node.start();
      assert.deepEqual(node.running, ['agent', 'layer 2']);
      await node.stop();
    }
    assert.equal(router.requests.length, 0);
  });
});
