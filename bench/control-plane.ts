// Control-plane benchmark: one bootstrap (own process) and N agents (this process; in-memory
// WireGuard, real gRPC over loopback). Prints figures; not a test.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Agent, createGrpcControlClient, generateKeyPair, loadProtos, MemoryWgDriver, type MeshClient } from '@wgmesh/agent';
import { percentile, procStats } from './proc-stats.js';

const here = path.dirname(new URL(import.meta.url).pathname);
const sizes = (process.env.BENCH_SIZES ?? '100,500,1000').split(',').map(Number);
const CHANGES = Number(process.env.BENCH_CHANGES ?? 25);
/** How long every agent may take to know every member once all have joined, and to apply one change. */
const CONVERGE_TIMEOUT_MS = 120_000;
const CHANGE_TIMEOUT_MS = 30_000;
/** Computed from one serialized event, not measured on the wire: the label says so wherever it appears. */
const BYTES_KEY = 'bytes per change per agent (computed, not measured)';
const BYTES_NOTE =
  'Bytes per change per agent are computed, not measured: the size of the last change as one Watch event ' +
  '(revision and node), serialized in this process with the service\'s own serializer. What the bootstrap ' +
  'actually writes on each agent\'s connection (gRPC and HTTP/2 framing, and TLS in production) is not counted, ' +
  'so "independent of N" holds for the event\'s encoding, not yet for the traffic.';

async function run(n: number): Promise<Record<string, string>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-bench-'));
  const child = spawn(process.execPath, [...(process.env.BENCH_CHILD_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CHILD_PROF}`] : []), '--conditions=source', '--import', 'tsx', path.join(here, 'bootstrap-child.ts'), path.join(dir, 'state.json')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (code) => reject(new Error(`bootstrap exited ${code}`)));
  });
  const cpuStart = (await procStats(child.pid!)).cpuSeconds;
  const agents: { agent: Agent; driver: MemoryWgDriver }[] = [];
  // One shared channel for all agents' calls would hide per-connection cost; give each its own, as real nodes have.
  for (let i = 0; i < n; i++) {
    const driver = new MemoryWgDriver(`wg${i}`, { record: false });
    const control = createGrpcControlClient({ address: `127.0.0.1:${port}`, credentials: grpc.credentials.createInsecure(), callTimeoutMs: 60_000 });
    const agent = new Agent({ control, driver }, {
      meshName: 'bench', nodeName: `n${i}`, privateKey: generateKeyPair().privateKey, heartbeatMs: 3_600_000,
      endpoints: () => [{ ip: `192.0.2.${(i % 250) + 1}`, port: 54540, kind: 'ENDPOINT_KIND_LAN' }],
    });
    agents.push({ agent, driver });
  }
  const joinStart = performance.now();
  await Promise.all(agents.map((a) => a.agent.start()));
  const joinedMs = performance.now() - joinStart;
  // Converged: every agent knows every member.
  const convergeBy = Date.now() + CONVERGE_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    const knowsAll = (a: (typeof agents)[number]) => a.agent.netmap.nodes.size === n + 1;
    const check = () => {
      if (agents.every(knowsAll)) resolve();
      else if (Date.now() >= convergeBy) {
        child.kill('SIGTERM'); // no stray bootstrap after a failed run
        reject(new Error(`the mesh of ${n} agents did not converge within ${CONVERGE_TIMEOUT_MS / 1000} s: ${agents.filter(knowsAll).length} of ${n} agents know all ${n + 1} members`));
      } else setTimeout(check, 20);
    };
    check();
  });
  const convergedMs = performance.now() - joinStart;

  // Changes: a raw node joins (an upsert each agent must apply as one new WireGuard peer).
  const Mesh = loadProtos().mesh.wgmesh.v1.Mesh;
  const raw: MeshClient = new Mesh(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const serialize = Mesh.service.Watch.responseSerialize;
  let lastEventBytes = 0;
  const latencies: number[] = [];
  for (let c = 0; c < CHANGES; c++) {
    const opsBefore = agents.map((a) => a.driver.operationCount);
    const t0 = performance.now();
    const res = await new Promise<{ revision: number; nodes: unknown[] }>((resolve, reject) =>
      raw.join({ meshName: 'bench', nodeName: `extra${c}`, publicKey: generateKeyPair().publicKey, listenPort: 54540, endpoints: [{ ip: '192.0.2.254', port: 54540, kind: 'ENDPOINT_KIND_LAN' }] },
        (err, r) => (err ? reject(err) : resolve(r as never))));
    const appliedBy = Date.now() + CHANGE_TIMEOUT_MS;
    await new Promise<void>((resolve, reject) => {
      const applied = (a: (typeof agents)[number], i: number) => a.driver.operationCount > opsBefore[i]!;
      const check = () => {
        if (agents.every(applied)) resolve();
        else if (Date.now() >= appliedBy) {
          child.kill('SIGTERM');
          reject(new Error(`change ${c + 1} of ${CHANGES} (node extra${c} joins) was not applied within ${CHANGE_TIMEOUT_MS / 1000} s: ${agents.filter(applied).length} of ${n} agents applied it`));
        } else setImmediate(check);
      };
      check();
    });
    latencies.push(performance.now() - t0);
    // Computed, not measured: the change as one Watch event, serialized here with the service's
    // own serializer. What the bootstrap writes on each agent's connection is not counted.
    const node = agents[0]!.agent.netmap.nodes.get(`extra${c}`)!;
    lastEventBytes = serialize({ revision: res.revision, upsert: node }).length;
  }
  const opsPerChange = agents.reduce((sum, a) => sum + a.driver.operationCount, 0) / n;
  const stats = await procStats(child.pid!);
  raw.close();
  await Promise.all(agents.map((a) => a.agent.stop({ leave: false })));
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await rm(dir, { recursive: true, force: true });
  return {
    agents: String(n),
    'all joined (s)': (joinedMs / 1000).toFixed(2),
    'full mesh converged (s)': (convergedMs / 1000).toFixed(2),
    [`change applied by all, p50 (ms, ${CHANGES} changes)`]: percentile(latencies, 50).toFixed(1),
    'change applied by all, p99 (ms)': percentile(latencies, 99).toFixed(1),
    'bootstrap RSS (MB)': stats.rssMb.toFixed(0),
    'bootstrap CPU (s)': (stats.cpuSeconds - cpuStart).toFixed(2),
    [BYTES_KEY]: String(lastEventBytes),
    'driver ops per agent, total': opsPerChange.toFixed(1),
  };
}

const rows: Record<string, string>[] = [];
for (const n of sizes) {
  const row = await run(n);
  rows.push(row);
  process.stderr.write(`${JSON.stringify(row)}\n`);
}
const keys = Object.keys(rows[0]!);
const lines = ['| ' + keys.join(' | ') + ' |', '|' + keys.map(() => '---').join('|') + '|', ...rows.map((r) => '| ' + keys.map((k) => r[k]).join(' | ') + ' |')];
process.stdout.write(lines.join('\n') + '\n');

// The targets, judged on the largest run of 1000 agents (or the largest run made).
const big = rows.find((r) => r.agents === '1000') ?? rows.at(-1)!;
const bytes = rows.map((r) => Number(r[BYTES_KEY]));
const verdict = (ok: boolean) => (ok ? '**met**' : '**not met**');
const p99Key = 'change applied by all, p99 (ms)';
const targets = [
  ['all agents joined', `${big['all joined (s)']} s (${big.agents} agents)`, '≤ 10 s', verdict(Number(big['all joined (s)']) <= 10)],
  ['change applied by all, p99', `${big[p99Key]} ms`, '≤ 100 ms', verdict(Number(big[p99Key]) <= 100)],
  ['bootstrap RSS', `${big['bootstrap RSS (MB)']} MB`, '≤ 300 MB', verdict(Number(big['bootstrap RSS (MB)']) <= 300)],
  ['bytes per change per agent (computed, not measured)', bytes.join(' / ') + ` (N = ${rows.map((r) => r.agents).join(' / ')})`, 'independent of N', `${verdict(Math.max(...bytes) - Math.min(...bytes) <= 8)} (computed)`],
];
process.stdout.write(['', '| target | result | goal | status |', '|---|---|---|---|', ...targets.map((t) => `| ${t.join(' | ')} |`)].join('\n') + '\n');
process.stdout.write(`\n${BYTES_NOTE}\n`);
