/**
 * A node with 200 peers at rest costs under 1 % of a core. One agent (in-memory WireGuard, real
 * timers, a real RTT prober in the node's rest mode whose probes a loopback stand-in answers at
 * once) in a mesh of 201 whose other members are entries in an in-process bootstrap's table. Once
 * its peers' warm-up is over, its process's CPU time is measured over WINDOW_MS (process.cpuUsage:
 * the bootstrap answering its heartbeats is in it too), and every timer callback of the agent and
 * its prober is counted: a timer that fires for nothing (a 1 s tick at rest) breaks the budget.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import {
  Agent, MemoryWgDriver, RTT_REST_DEFAULTS, RttProber, createGrpcControlClient, decodeProbe, encodeProbe, generateKeyPair,
  type PacketAddress, type PacketSocket, type SocketFactory, type Timers,
} from '@wgmesh/agent';
import { Bootstrap, type StateStore } from '@wgmesh/bootstrap';
import { BOOTSTRAP_IP, CIDR, MESH } from '../helpers/inprocess.js';
import { waitFor } from '../helpers/wait.js';

const PEERS = 200;
const WINDOW_MS = 15_000;
/** The bound: 1 % of a core. */
const MAX_CPU_FRACTION = 0.01;
/** A short warm-up here (the node's is 25 s): the test measures rest, not the first seconds. */
const WARMUP_MS = 3_000;

const noStore: StateStore = { load: async () => undefined, save: async () => {}, append: async () => {} };

/** Real timers (unref'd, as the agent's own) that count the callbacks they run. */
function countingTimers(): Timers & { fired: number } {
  const timers = {
    fired: 0,
    setTimeout: (fn: () => void, ms: number) => setTimeout(() => {
      timers.fired++;
      fn();
    }, ms).unref(),
    clearTimeout: (handle: unknown) => clearTimeout(handle as NodeJS.Timeout),
  };
  return timers;
}

/** A socket whose every probe is answered at once, from the echo port of the address it went to. */
const loopbackEcho: SocketFactory = () => {
  let listener: ((packet: Buffer, from: PacketAddress) => void) | undefined;
  const socket: PacketSocket = {
    bind: async () => {},
    address: () => ({ address: '0.0.0.0', port: 40000 }),
    send(packet, port, address, done) {
      const probe = decodeProbe(Buffer.from(packet));
      done?.(null);
      if (probe?.type === 'probe') setImmediate(() => listener?.(encodeProbe({ type: 'reply', seq: probe.seq, timestamp: probe.timestamp }), { address, port }));
    },
    onMessage: (l) => {
      listener = l;
    },
    onError: () => {},
    close: () => {
      listener = undefined;
    },
  };
  return socket;
};

test(`a node with ${PEERS} peers at rest: under ${MAX_CPU_FRACTION * 100} % of a core, and no timer fires for nothing`, { timeout: 120_000 }, async () => {
  const bootstrap = new Bootstrap(
    { store: noStore, driver: new MemoryWgDriver('wgsim', { record: false }) },
    {
      meshName: MESH, nodeName: 'bootstrap', privateKey: generateKeyPair().privateKey, cidr: CIDR, selfIp: BOOTSTRAP_IP,
      grpcBindAddr: '127.0.0.1', grpcPort: 0, stunPort: 0, heartbeatMs: 60_000,
      liveness: { suspectAfterMs: 3_600_000, failedAfterMs: 7_200_000, reapAfterMs: 7_200_000 },
    },
  );
  await bootstrap.start();
  const table = bootstrap.table!;
  let agent: Agent | undefined;
  let prober: RttProber | undefined;
  after(async () => {
    await prober?.stop();
    await agent?.stop({ leave: false });
    await bootstrap.stop();
  });

  // Step 1: 199 members besides the bootstrap, straight into its table.
  for (let i = 1; i < PEERS; i++) {
    await table.join({
      name: `m${i}`, identity: { publicKey: generateKeyPair().publicKey },
      endpoints: [{ ip: `203.0.${Math.floor(i / 250)}.${(i % 250) + 1}`, port: 51820, kind: 'ENDPOINT_KIND_LAN' }], tags: {}, listenPort: 51820,
    });
  }

  // Step 2: n0 joins in-process, its prober in the node's rest mode, every timer counted.
  const timers = countingTimers();
  prober = new RttProber(
    { socketFactory: loopbackEcho, timers },
    { restIntervalMs: RTT_REST_DEFAULTS.restIntervalMs, warmupMs: WARMUP_MS },
  );
  agent = new Agent(
    { control: createGrpcControlClient({ address: `127.0.0.1:${bootstrap.port}`, credentials: grpc.credentials.createInsecure() }), driver: new MemoryWgDriver('wg-n0', { record: false }), rtt: prober, timers },
    { meshName: MESH, nodeName: 'n0', privateKey: generateKeyPair().privateKey, endpoints: () => [{ ip: '192.0.2.10', port: 54540, kind: 'ENDPOINT_KIND_LAN' }] },
  );
  await agent.start();
  await prober.start();
  assert.equal(agent.netmap.nodes.size, PEERS + 1);
  await waitFor(`n0 probing its ${PEERS} peers at rest`, () => [...agent!.netmap.nodes.keys()].filter((n) => n !== 'n0').every((n) => prober!.cadenceOf(n)?.fast === false), 30_000, 100);
  // The last fast round (200 peers: spread over 2 s) over, before the window.
  await waitFor('the last fast round to end', () => prober!.roundsInProgress === 0, 10_000, 10);

  // Step 3: the window.
  const cpu0 = process.cpuUsage();
  const [fired0, wakeups0, t0] = [timers.fired, prober.wakeups, Date.now()];
  await delay(WINDOW_MS);
  const cpu = process.cpuUsage(cpu0);
  const elapsed = Date.now() - t0;
  const fraction = (cpu.user + cpu.system) / 1000 / elapsed;
  const fired = timers.fired - fired0;
  const proberWakeups = prober.wakeups - wakeups0;
  // At rest: a heartbeat every 5 s, a relay/traffic review every 5 s, endpoint reviews, the 30 s
  // full reconcile, and the prober's batched rest probes (200 peers / 30 s, one wake-up a second at most).
  const seconds = elapsed / 1000;
  console.log(`# ${PEERS} peers at rest: ${(fraction * 100).toFixed(2)} % of a core; ${fired} timer callbacks in ${seconds.toFixed(1)} s (${(fired / seconds).toFixed(2)}/s), the prober's ${proberWakeups}`);
  assert.ok(fraction <= MAX_CPU_FRACTION, `${(fraction * 100).toFixed(2)} % of a core, at most ${MAX_CPU_FRACTION * 100} %`);
  assert.ok(proberWakeups <= seconds + 2, `the prober woke ${proberWakeups} times in ${seconds.toFixed(1)} s: at most once a second for its batched rest probes`);
  assert.ok(fired / seconds <= MAX_TIMER_CALLBACKS_PER_S, `${(fired / seconds).toFixed(2)} timer callbacks a second, at most ${MAX_TIMER_CALLBACKS_PER_S}`);
});

/** Every part's timers together, at rest (see the test's note): under 2 a second. */
const MAX_TIMER_CALLBACKS_PER_S = 2;
