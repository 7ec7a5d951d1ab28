// The node of the resting-node simulation (rest-sim.ts), in a process of its own that runs the
// built agent (packages/agent/dist) under plain node: what is measured is the node's work alone,
// not the test runner's, nor tsx's loader thread (its heap's own memory-reducing collections
// landed in the window), nor the simulation's bootstrap. Plain JavaScript for that reason.
//
//   node rest-sim-node.mjs '{"port":N,"peers":N,"windowMs":N,"windows":N,"settleMs":N,"warmupMs":N}'
//
// Joins the bootstrap on 127.0.0.1:port (in-memory WireGuard, real timers, a real RTT prober in
// rest mode whose probes a loopback stand-in answers at once), waits until every peer is probed at
// the rest cadence and `settleMs` more, then measures its own CPU time over `windows` equal parts
// of `windowMs` and counts every timer callback by the part of the agent that set it. Prints one
// JSON line with the figures, leaves without telling the bootstrap, exits 0. On a failure: the
// message on stderr, exit 1.
import { setTimeout as delay } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import {
  Agent, MemoryWgDriver, RTT_REST_DEFAULTS, RttProber, createGrpcControlClient, decodeProbe, encodeProbe, generateKeyPair,
} from '@wgmesh/agent';

const MESH = 'sim';

/** Polls `check` until it is true or the deadline passes; never a fixed sleep. */
async function waitFor(what, check, timeoutMs, intervalMs) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(intervalMs);
  }
}

/**
 * The part of the agent a timer belongs to: the first agent file on the stack that set it. Read
 * from V8's call sites, not a formatted stack, and only the few nearest frames: the timer is set by
 * the agent's code right below the counting wrapper, and a longer stack costs more than the timer
 * (it would be measured with the node).
 */
function partOf() {
  const [original, limit] = [Error.prepareStackTrace, Error.stackTraceLimit];
  Error.prepareStackTrace = (_err, frames) => frames;
  Error.stackTraceLimit = 4;
  const holder = {};
  Error.captureStackTrace(holder, partOf);
  const frames = holder.stack ?? [];
  [Error.prepareStackTrace, Error.stackTraceLimit] = [original, limit];
  for (const frame of frames) {
    const m = /packages\/agent\/(?:src|dist)\/([\w/-]+)\.[jt]s$/.exec(frame.getFileName() ?? '');
    if (m) return m[1];
  }
  return 'other';
}

/**
 * Real timers (unref'd, as the agent's own) that count the callbacks they run into `count.byPart`,
 * by part (`whose()` tells it when the timer is set), while `count.on`.
 */
function countingTimers(whose, count) {
  return {
    setTimeout: (fn, ms) => {
      const part = whose();
      return setTimeout(() => {
        if (count.on) count.byPart.set(part, (count.byPart.get(part) ?? 0) + 1);
        fn();
      }, ms).unref();
    },
    clearTimeout: (handle) => clearTimeout(handle),
  };
}

/** A socket whose every probe is answered at once, from the echo port of the address it went to. */
function loopbackEcho() {
  let listener;
  return {
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
}

async function measure(o) {
  const count = { byPart: new Map(), on: false };
  // The prober sets a timer per probe (its timeout): its own timers, no stack read for them.
  const prober = new RttProber({ socketFactory: loopbackEcho, timers: countingTimers(() => 'rtt/prober', count) }, { restIntervalMs: RTT_REST_DEFAULTS.restIntervalMs, warmupMs: o.warmupMs });
  const agent = new Agent(
    { control: createGrpcControlClient({ address: `127.0.0.1:${o.port}`, credentials: grpc.credentials.createInsecure() }), driver: new MemoryWgDriver('wg-n0', { record: false }), rtt: prober, timers: countingTimers(partOf, count) },
    { meshName: MESH, nodeName: 'n0', privateKey: generateKeyPair().privateKey, endpoints: () => [{ ip: '192.0.2.10', port: 54540, kind: 'ENDPOINT_KIND_LAN' }] },
  );
  try {
    await agent.start();
    await prober.start();
    if (agent.netmap.nodes.size !== o.peers + 1) throw new Error(`n0 sees ${agent.netmap.nodes.size - 1} peers, not ${o.peers}`);
    await waitFor(`n0 probing its ${o.peers} peers at rest`, () => [...agent.netmap.nodes.keys()].filter((n) => n !== 'n0').every((n) => prober.cadenceOf(n)?.fast === false), 60_000, 100);
    // The last fast round (200 peers: spread over 2 s) over, before the window.
    await waitFor('the last fast round to end', () => prober.roundsInProgress === 0, 10_000, 10);
    // At rest a while before the window: V8 optimizes the rest-mode paths once (on its own threads,
    // which process.cpuUsage counts), a one-time cost that is not the steady state measured.
    await delay(o.settleMs);

    const [wakeups0, t0] = [prober.wakeups, Date.now()];
    const cpuFractions = [];
    count.on = true;
    for (let i = 0; i < o.windows; i++) {
      const cpu0 = process.cpuUsage();
      const start = Date.now();
      await delay(o.windowMs / o.windows);
      const cpu = process.cpuUsage(cpu0);
      cpuFractions.push((cpu.user + cpu.system) / 1000 / (Date.now() - start));
    }
    count.on = false;
    return {
      seconds: (Date.now() - t0) / 1000,
      cpuFractions,
      timerCallbacks: [...count.byPart],
      proberWakeups: prober.wakeups - wakeups0,
    };
  } finally {
    await prober.stop();
    await agent.stop({ leave: false });
  }
}

try {
  const figures = await measure(JSON.parse(process.argv[2] ?? '{}'));
  process.stdout.write(`${JSON.stringify(figures)}\n`);
  process.exit(0);
} catch (err) {
  process.stderr.write(`rest-sim-node: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
}
