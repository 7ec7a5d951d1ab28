/**
 * What a wgmesh node's memory is made of, and what settings suited to a small daemon save and
 * cost (issue 18: "V8 flags suited to a small daemon if they help; say what each costs").
 * Not a test: prints figures.
 *
 *   node --conditions=source --import tsx node-memory.ts [--out FILE] [--json FILE]
 *   node --conditions=source --import tsx node-memory.ts --cleanup     # remove what a killed run left
 *
 * stdout: the markdown section for bench/results.md; stderr: progress as JSON lines.
 *
 * The lab and the nodes are bench/startup.ts's (its hosts-only lab, the lab's own command lines).
 * For each variant, a fresh lab of 8: the bootstrap on h1, then 7 joins spawned together (the
 * cold-mesh round of startup.ts, timed the same way: the variant's start-up cost), then, when the
 * joins are BENCH_MEMORY_AGE_S seconds old (60), every node's VmRSS, RssAnon, RssFile and PSS
 * (/proc) and its CPU time so far (utime + stime: start-up, join, 60 s of a mesh at rest). A
 * variant is node flags on the node's command line and/or environment variables read by the
 * runtime before any wgmesh code runs (glibc's malloc, libuv). For scale, Node.js itself: `node`
 * running an empty timer in a lab host, as shipped and with the flags that change code memory.
 * What a setting costs where CPU matters: bench/hot-path.ts (a 10,000-member netmap turned into
 * the WireGuard configuration) run under it, outside the lab.
 *
 * Environment: BENCH_MEMORY_AGE_S (60), BENCH_MEMORY_VARIANTS (all; a comma list of the names
 * below), BENCH_STARTUP_LAB (wgbs: the lab is startup.ts's; the parts run one after the other).
 */
import { execFile } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { hostCommand, type LabState } from '@wgmesh/cli/lab';
import { checkAborted, envInt, median, memoryDetail, reportPart, runBenchPart, sleep, startDaemon, stopDaemon, type MemoryDetail } from './dp-sys.js';
import { bringUp, cleanupStale, cpuTicks, freshLab, loadavg, stopNodes, teardown, wgmesh, type MeshNode, type MeshSystem } from './startup.js';

export interface Variant {
  readonly name: string;
  /** Node.js / V8 flags, before the script on the node's command line. */
  readonly nodeFlags: readonly string[];
  /** Read by the runtime at process start (glibc, libuv). */
  readonly env: Readonly<Record<string, string>>;
  /** What it changes, and what that costs besides the figures measured here. */
  readonly what: string;
}

export const VARIANTS: readonly Variant[] = [
  { name: 'as shipped', nodeFlags: [], env: {}, what: 'Node.js defaults: 4 V8 helper threads, 4 libuv workers (started at the first file or DNS call), glibc malloc with an arena per thread, V8 with its optimizing compilers' },
  { name: 'v8-pool-1', nodeFlags: ['--v8-pool-size=1'], env: {}, what: '`--v8-pool-size=1`: one V8 helper thread: concurrent marking, sweeping and background compiles share it (a large bootstrap pauses longer for GC on a many-core machine)' },
  { name: 'uv-pool-1', nodeFlags: [], env: { UV_THREADPOOL_SIZE: '1' }, what: '`UV_THREADPOOL_SIZE=1`: one libuv worker: file writes, DNS lookups and async crypto wait for each other (a slow disk write delays a DNS lookup)' },
  { name: 'arena-1', nodeFlags: [], env: { MALLOC_ARENA_MAX: '1' }, what: '`MALLOC_ARENA_MAX=1`: one glibc malloc arena for every thread: threads allocating at the same moment take turns' },
  { name: 'v8-pool-1+arena-1', nodeFlags: ['--v8-pool-size=1'], env: { MALLOC_ARENA_MAX: '1' }, what: 'both of the above' },
  { name: 'jitless', nodeFlags: ['--jitless'], env: {}, what: '`--jitless`: no machine code is generated: all JavaScript interpreted, no WebAssembly' },
  { name: 'lite-mode', nodeFlags: ['--lite-mode'], env: {}, what: '`--lite-mode` (command line only; NODE_OPTIONS refuses it): V8\'s memory-saving mode: no optimizing compiler, feedback allocated lazily' },
];

export const MEMORY_SETTINGS = {
  ageS: envInt('BENCH_MEMORY_AGE_S', 60),
  hosts: 8,
  variants: (process.env.BENCH_MEMORY_VARIANTS ?? '').split(',').map((v) => v.trim()).filter(Boolean),
};

export interface NodeFigures {
  readonly host: string;
  readonly role: 'bootstrap' | 'join';
  readonly ageS: number;
  readonly detail: MemoryDetail;
  /** utime + stime of the node process (not its wireguard-go) until the sample. */
  readonly cpuS: number;
}

export interface VariantResult {
  readonly variant: Variant;
  /** bench/hot-path.ts under the variant: median of its rounds (ms). */
  readonly hotPathMs: number;
  /** The 7 joins' spawn → every ordered pair of the 8 answered a ping (one round). */
  readonly coldMs: number;
  readonly nodes: NodeFigures[];
  readonly error?: string;
}

export interface FloorResult {
  readonly flags: readonly string[];
  readonly detail: MemoryDetail;
}

export interface MemoryResults {
  readonly startedIso: string;
  readonly durationS: number;
  readonly settings: typeof MEMORY_SETTINGS;
  readonly cpus: number;
  readonly variants: VariantResult[];
  readonly floor: FloorResult[];
  readonly loadavg: readonly [string, string];
}

function progress(event: Record<string, unknown>): void {
  process.stderr.write(JSON.stringify({ bench: 'node-memory', t: new Date().toISOString(), ...event }) + '\n');
}

/** startup.ts's wgmesh, each node started with the variant's flags and environment. */
export function variantSystem(variant: Variant): MeshSystem {
  return {
    ...wgmesh,
    async prepare(lab, host, first) {
      const p = await wgmesh.prepare(lab, host, first);
      return { ...p, argv: withNodeFlags(p.argv, lab, variant.nodeFlags), env: { ...p.env, ...variant.env } };
    },
  };
}

/** The command line with `flags` between the node binary and the CLI script. */
export function withNodeFlags(argv: readonly string[], lab: Pick<LabState, 'wgmeshCommand'>, flags: readonly string[]): string[] {
  const script = lab.wgmeshCommand[lab.wgmeshCommand.length - 1]!;
  const at = argv.indexOf(script);
  if (at < 1) throw new Error(`the node's command line has no ${script}: ${argv.join(' ')}`);
  return [...argv.slice(0, at), ...flags, ...argv.slice(at)];
}

async function sampleNode(node: MeshNode): Promise<NodeFigures | undefined> {
  const [detail, ticks] = await Promise.all([memoryDetail(node.daemon.pid), cpuTicks(node.daemon.pid)]);
  if (!detail || ticks === undefined) return undefined;
  // /proc/PID/stat counts clock ticks of 1/100 s.
  return { host: node.host.name, role: node.first ? 'bootstrap' : 'join', ageS: (Date.now() - node.spawnMs) / 1000, detail, cpuS: ticks / 100 };
}

/** bench/hot-path.ts in a node with the variant's flags and environment; its median (ms). */
function hotPath(variant: Variant): Promise<number> {
  const script = fileURLToPath(new URL('./hot-path.ts', import.meta.url));
  const argv = [...variant.nodeFlags, '--conditions=source', '--import', 'tsx', script];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, argv, { env: { ...process.env, ...variant.env }, cwd: fileURLToPath(new URL('.', import.meta.url)), timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`hot-path.ts under ${variant.name}: ${stderr.trim() || err.message}`));
      resolve((JSON.parse(stdout.trim().split('\n').pop()!) as { medianMs: number }).medianMs);
    });
  });
}

async function runVariant(variant: Variant): Promise<VariantResult> {
  const hotPathMs = await hotPath(variant);
  const lab = await freshLab(MEMORY_SETTINGS.hosts);
  let nodes: MeshNode[] = [];
  try {
    const up = await bringUp(variantSystem(variant), lab, MEMORY_SETTINGS.hosts);
    nodes = up.nodes;
    if (up.result.error) return { variant, hotPathMs, coldMs: Number.NaN, nodes: [], error: up.result.error };
    const youngest = Math.max(...nodes.map((n) => n.spawnMs));
    const wait = youngest + MEMORY_SETTINGS.ageS * 1000 - Date.now();
    progress({ step: 'up', variant: variant.name, coldMs: up.result.totalMs, waitS: wait / 1000 });
    if (wait > 0) await sleep(wait);
    checkAborted();
    const sampled = await Promise.all(nodes.map(sampleNode));
    const missing = nodes.filter((_, i) => !sampled[i]).map((n) => n.host.name);
    const figures = sampled.filter((s): s is NodeFigures => s !== undefined);
    return { variant, hotPathMs, coldMs: up.result.totalMs, nodes: figures, ...(missing.length ? { error: `node gone before the sample in ${missing.join(', ')}` } : {}) };
  } finally {
    await stopNodes(nodes);
  }
}

/** Node.js alone in a lab host: an empty timer, `flags` on its command line. */
async function measureFloor(lab: LabState, flags: readonly string[]): Promise<FloorResult> {
  const argv = hostCommand(lab, lab.hosts[1]!.name, [process.execPath, ...flags, '-e', 'setInterval(() => {}, 1e6)'], false);
  const daemon = await startDaemon(argv, `node ${flags.join(' ')} (floor)`, { logFile: '/dev/null' });
  try {
    // A bare node is done starting within a second on this machine; 3 s leaves room for a slow one.
    await sleep(3_000);
    const detail = await memoryDetail(daemon.pid);
    if (!detail) throw new Error(`node ${flags.join(' ')} exited before its memory was read`);
    return { flags, detail };
  } finally {
    await stopDaemon(daemon, 3_000);
  }
}

export async function runNodeMemory(): Promise<MemoryResults> {
  const startedMs = Date.now();
  const loadStart = await loadavg();
  const chosen = MEMORY_SETTINGS.variants.length ? VARIANTS.filter((v) => MEMORY_SETTINGS.variants.includes(v.name)) : VARIANTS;
  if (chosen.length === 0) throw new Error(`BENCH_MEMORY_VARIANTS names none of: ${VARIANTS.map((v) => v.name).join(', ')}`);
  await cleanupStale();
  const floor: FloorResult[] = [];
  const floorLab = await freshLab(2);
  for (const flags of [[], ['--jitless']]) {
    const f = await measureFloor(floorLab, flags);
    floor.push(f);
    progress({ step: 'floor', ...f });
  }
  const variants: VariantResult[] = [];
  for (const variant of chosen) {
    const r = await runVariant(variant);
    variants.push(r);
    progress({ step: 'variant', variant: variant.name, coldMs: r.coldMs, error: r.error, nodes: r.nodes.length });
  }
  await teardown();
  return { startedIso: new Date(startedMs).toISOString(), durationS: (Date.now() - startedMs) / 1000, settings: MEMORY_SETTINGS, cpus: cpus().length, variants, floor, loadavg: [loadStart, await loadavg()] };
}

// ---------------------------------------------------------------------------------------------
// Report

export interface VariantSummary {
  readonly name: string;
  readonly coldS: number;
  readonly hotPathMs: number;
  readonly join: { readonly rssMb: number; readonly anonMb: number; readonly fileMb: number; readonly pssMb: number; readonly cpuS: number };
  readonly bootstrap: { readonly rssMb: number; readonly anonMb: number; readonly fileMb: number; readonly cpuS: number };
}

function medians(nodes: readonly NodeFigures[]): VariantSummary['join'] {
  return {
    rssMb: median(nodes.map((n) => n.detail.rssMb)),
    anonMb: median(nodes.map((n) => n.detail.rssAnonMb)),
    fileMb: median(nodes.map((n) => n.detail.rssFileMb)),
    pssMb: median(nodes.map((n) => n.detail.pssMb ?? Number.NaN)),
    cpuS: median(nodes.map((n) => n.cpuS)),
  };
}

export function summarize(r: MemoryResults): VariantSummary[] {
  return r.variants.map((v) => ({
    name: v.variant.name,
    coldS: v.coldMs / 1000,
    hotPathMs: v.hotPathMs,
    join: medians(v.nodes.filter((n) => n.role === 'join')),
    bootstrap: medians(v.nodes.filter((n) => n.role === 'bootstrap')),
  }));
}

const fmt = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '—');

export function formatMemorySection(r: MemoryResults): string {
  const sum = summarize(r);
  const joins = (v: VariantResult) => v.nodes.filter((n) => n.role === 'join').length;
  const L: string[] = [
    '## What a node\'s memory is made of (8-node lab, settings for a small daemon)',
    '',
    `_${r.startedIso.slice(0, 16).replace('T', ' ')} UTC, ${r.cpus} CPUs, load average ${r.loadavg[0]} at the start, ${r.loadavg[1]} at the end; run took ${fmt(r.durationS, 0)} s._`,
    '',
    `Per variant a fresh lab of ${r.settings.hosts} (bench/startup.ts's, the lab's command lines): the bootstrap on h1, the 7 joins spawned together; memory and CPU read when the joins are ${r.settings.ageS} s old. Medians of the 7 joins; the bootstrap is one process. "cold": the 7 joins' spawn until all 56 pairs answer a ping, one round (startup.ts takes the median of 5). CPU: the node process's utime + stime from its spawn to the sample (start-up, join, the rest of the ${r.settings.ageS} s at rest). "10k config": bench/hot-path.ts under the variant, a 10,000-member netmap built and turned into the WireGuard configuration (median of 25 rounds, ms): what the setting costs where a node works hard. VmRSS = RssAnon (the process's own pages) + RssFile (mapped file pages, the node binary's shared with every node process) + RssShmem.`,
    '',
    '| variant | cold (s) | join VmRSS | RssAnon | RssFile | PSS | join CPU (s) | bootstrap VmRSS | RssAnon | bootstrap CPU (s) | 10k config (ms) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of sum) {
    const v = r.variants.find((x) => x.variant.name === s.name)!;
    const note = v.error ? ` (${v.error}; ${joins(v)} joins sampled)` : '';
    L.push(`| ${s.name}${note} | ${fmt(s.coldS, 2)} | ${fmt(s.join.rssMb)} | ${fmt(s.join.anonMb)} | ${fmt(s.join.fileMb)} | ${fmt(s.join.pssMb)} | ${fmt(s.join.cpuS, 2)} | ${fmt(s.bootstrap.rssMb)} | ${fmt(s.bootstrap.anonMb)} | ${fmt(s.bootstrap.cpuS, 2)} | ${fmt(s.hotPathMs, 0)} |`);
  }
  L.push('', 'MB throughout. What each variant changes:', '');
  for (const v of r.variants) L.push(`- ${v.variant.name}: ${v.variant.what}.`);
  L.push('', 'Node.js alone in a lab host (an empty timer, read after 3 s):', '', '| node flags | VmRSS | RssAnon | RssFile |', '|---|---:|---:|---:|');
  for (const f of r.floor) L.push(`| ${f.flags.length ? f.flags.join(' ') : '(none)'} | ${fmt(f.detail.rssMb)} | ${fmt(f.detail.rssAnonMb)} | ${fmt(f.detail.rssFileMb)} |`);
  const lowest = sum.filter((s) => Number.isFinite(s.join.rssMb)).sort((a, b) => a.join.rssMb - b.join.rssMb)[0];
  const bare = r.floor.find((f) => f.flags.length === 0);
  if (lowest && bare) {
    L.push(
      '',
      `Lowest join VmRSS of the variants: ${fmt(lowest.join.rssMb)} MB (${lowest.name}; its RssFile alone ${fmt(lowest.join.fileMb)} MB). Node.js with nothing to do holds ${fmt(bare.detail.rssMb)} MB, ${fmt(bare.detail.rssFileMb)} MB of it file pages.`,
    );
  }
  return L.join('\n') + '\n';
}

async function run(argv: readonly string[]): Promise<number> {
  const results = await runNodeMemory();
  return reportPart(argv, results, formatMemorySection(results), summarize(results));
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/node-memory.ts')) {
  runBenchPart({ name: 'node-memory', progress, cleanupStale, teardown, run }, process.argv.slice(2));
}
