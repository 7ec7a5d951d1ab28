/**
 * The join marks of data-plane.ts on their own, in a lab of their own (issue 18): an 8-host lab
 * (bootstrap + 6 joins up first), then N rounds that each add a fresh host, measured from the
 * spawn of its `wgmesh join` until every other live host answered a ping (the previous round's
 * host is stopped first, so the mesh has 8 live nodes). Not a test: prints figures.
 *
 *   BENCH_DP_LAB=wgj node --conditions=source --import tsx join-marks.ts [ROUNDS] [--timeline]
 *
 * --timeline also prints the median round's log (debug level), each line as ms after the spawn.
 * Needs root and a built CLI (`make build`). The lab (default name wgj) is removed at the end.
 */
import { labDown, labUp, type LabHost } from '@wgmesh/cli/lab';
import { DATA_PLANE_SETTINGS, joinRound, type JoinMarks, type JoinRound } from './data-plane.js';
import { median, readText } from './dp-sys.js';

const MARKS: [keyof JoinMarks, string][] = [
  ['backend', 'backend'],
  ['keyWritten', 'key'],
  ['dial', 'dial'],
  ['joined', 'joined'],
  ['wgSpawned', 'wg-spawn'],
  ['wgReady', 'wg-ready'],
  ['route', 'route'],
  ['peersSet', 'peers'],
  ['firstReply', 'first'],
  ['lastReply', 'all'],
];

function row(label: string, values: (number | undefined)[]): string {
  return [label.padEnd(8), ...values.map((v) => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(0)).padStart(9))].join('');
}

/** The node's log lines with their time as ms after the spawn. */
function timeline(log: string, t0: number): string[] {
  const start = log.lastIndexOf('\n--- ');
  const section = start >= 0 ? log.slice(start + 1) : log;
  const out: string[] = [];
  for (const line of section.split('\n')) {
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (.*)$/.exec(line);
    if (m) out.push(`${String(Date.parse(m[1]!) - t0).padStart(6)}  ${m[2]!.slice(0, 160)}`);
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  const rounds = Number(argv.find((a) => /^\d+$/.test(a)) ?? 5);
  const s = DATA_PLANE_SETTINGS;
  if (s.lab === 'wgb' || s.lab === 'wgbs') throw new Error(`lab ${s.lab} is the data-plane benchmark's: set BENCH_DP_LAB`);
  await labDown({ name: s.lab });
  let lab = (await labUp({ name: s.lab, hosts: s.hosts - 1, mesh: s.mesh, logLevel: 'debug', readyTimeoutMs: 60_000 })).lab;
  const meshIps = new Map(lab.hosts.filter((h) => h.meshIp).map((h) => [h.name, h.meshIp!]));
  const results: { result: JoinRound; host: LabHost; log: string }[] = [];
  try {
    let previous: LabHost | undefined;
    for (let round = 1; round <= rounds; round++) {
      const r = await joinRound(round, previous, meshIps);
      lab = r.lab;
      previous = r.host;
      results.push({ result: r.result, host: r.host, log: (await readText(r.host.logFile)) ?? '' });
      if (r.result.error) process.stderr.write(`round ${round}: ${r.result.error}\n`);
    }
  } finally {
    await labDown({ name: s.lab });
  }
  process.stdout.write(row('round', []) + MARKS.map(([, l]) => l.padStart(9)).join('') + '\n');
  for (const { result } of results) process.stdout.write(row(String(result.round), MARKS.map(([k]) => result.marks[k])) + '\n');
  process.stdout.write(row('median', MARKS.map(([k]) => median(results.map((r) => r.result.marks[k] ?? Number.NaN)))) + '\n');
  if (argv.includes('--timeline') && results.length > 0) {
    const sorted = [...results].sort((a, b) => (a.result.marks.lastReply ?? Infinity) - (b.result.marks.lastReply ?? Infinity));
    const mid = sorted[Math.floor((sorted.length - 1) / 2)]!;
    process.stdout.write(`\nround ${mid.result.round} (${mid.host.name}), log as ms after the spawn:\n`);
    process.stdout.write(timeline(mid.log, mid.host.process!.startedMs).join('\n') + '\n');
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`join-marks: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
