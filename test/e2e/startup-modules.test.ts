/**
 * What a `wgmesh join` loads: the built CLI (one bundle per command) joining a real bootstrap in
 * a lab host, with every JavaScript file the process loads recorded (test/tools/record-modules.mjs,
 * preloaded with --import). In dev mode without -config or -metrics-addr it must not load
 * node-forge, prom-client, yaml, ink or React: they cost start-up time and memory that most
 * nodes never use. The same join with -config and -metrics-addr, and `wgmesh ca`, must load them
 * (so the recorder sees these packages when they do load, and the bundle keeps them outside).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hostCommand, labDown, labEnv, labUp, REPO_ROOT, type LabState } from '@wgmesh/cli/lab';
import { e2eWgmeshCommand, labSkipReason, ping } from '../helpers/lab.js';
import { waitFor } from '../helpers/wait.js';

const LAB = 'wgsm';
const MESH = 'sm';
const BIN = path.join(REPO_ROOT, 'packages/cli/bin/wgmesh.js');
const RECORDER = path.join(REPO_ROOT, 'test/tools/record-modules.mjs');
/** The packages a plain dev-mode join has no use for. */
const OPTIONAL = ['node-forge', 'prom-client', 'yaml', 'ink', 'react'] as const;
const skip = await labSkipReason({ wireguard: true });

/** The npm packages among the recorded files (pnpm's layout: node_modules/.pnpm/X@v/node_modules/X/…). */
function packagesIn(files: readonly string[]): Set<string> {
  const found = new Set<string>();
  for (const file of files) {
    const m = /.*node_modules\/((?:@[^/]+\/)?[^/.][^/]*)\//.exec(file);
    if (m) found.add(m[1]!);
  }
  return found;
}

describe('a dev-mode join loads none of the optional packages', { skip: skip ?? false }, () => {
  let lab: LabState;
  /** Under /tmp, which lab hosts share with this process. */
  let dir: string;
  const children: ChildProcess[] = [];
  /** Each child's log, for the message when it does not stop. */
  const logs = new Map<ChildProcess, string>();

  /** Starts `node --import recorder bin/wgmesh.js ARGS` in a lab host (or here); its loads go to the returned file. */
  function startRecorded(host: string | undefined, name: string, args: string[]): { child: ChildProcess; modules: string; log: string } {
    const modules = path.join(dir, `${name}.modules`);
    const log = path.join(dir, `${name}.log`);
    const argv = [process.execPath, '--import', RECORDER, BIN, ...args];
    const [file, ...rest] = host ? hostCommand(lab, host, argv, false) : argv;
    const fd = openSync(log, 'a');
    const child = spawn(file!, rest, { stdio: ['ignore', fd, fd], env: labEnv(process.env, { RECORD_MODULES_TO: modules, WGMESH_LOG_LEVEL: 'info' }) });
    closeSync(fd);
    children.push(child);
    logs.set(child, log);
    return { child, modules, log };
  }

  /** SIGTERM, then the exit within 15 s; a process that hangs is killed and fails the test with its log. */
  async function stop(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const hung = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), 15_000)))]);
    clearTimeout(timer);
    if (!hung) return;
    child.kill('SIGKILL');
    await exited;
    const log = logs.get(child);
    throw new Error(`pid ${child.pid} did not exit within 15 s of SIGTERM${log ? `:\n${await readFile(log, 'utf8').catch(() => '')}` : ''}`);
  }

  /**
   * A join in h2 under the recorder, until it reaches h1 over the mesh and (with `logged`) has
   * logged that line; then stopped. Returns the packages it loaded.
   */
  async function recordedJoin(name: string, extra: string[], logged?: RegExp): Promise<{ packages: Set<string>; files: string[] }> {
    const run = startRecorded('h2', name, ['join', '-dev', '-n', MESH, '-bootstrap-addr', '192.0.2.1:5000', '-node-name', name,
      '-state-dir', path.join(dir, `${name}-state`), '-socket', path.join(dir, `${name}.sock`), ...extra]);
    const exited = new Promise<never>((_, reject) => run.child.once('exit', async (code) => reject(new Error(`join ${name} exited (${code}):\n${await readFile(run.log, 'utf8')}`))));
    await Promise.race([exited, waitFor(`${name} to reach h1 over the mesh`, () => ping(lab, 'h2', '198.18.0.1'), 30_000, 100)]);
    // Parts after the interface (the metrics server) may still be starting when the mesh answers.
    if (logged) await Promise.race([exited, waitFor(`${name} to log ${logged}`, async () => logged.test(await readFile(run.log, 'utf8')), 30_000, 50)]);
    exited.catch(() => undefined);
    await stop(run.child);
    const files = (await readFile(run.modules, 'utf8')).split('\n').filter(Boolean);
    return { packages: packagesIn(files), files };
  }

  before(async () => {
    dir = await mkdtemp('/tmp/wgmesh-startup-modules-');
    await labDown({ name: LAB });
    ({ lab } = await labUp({ name: LAB, hosts: 2, mesh: MESH, hostsOnly: true, wgmeshCommand: e2eWgmeshCommand() }));
    const bootstrap = hostCommand(lab, 'h1', ['wgmesh', 'bootstrap', '-dev', '-n', MESH, '-cidr', '198.18.0.0/16', '-ip', '198.18.0.1', '-node-name', 'h1', '-socket', path.join(dir, 'h1.sock')], true);
    const fd = openSync(path.join(dir, 'h1.log'), 'a');
    const child = spawn(bootstrap[0]!, bootstrap.slice(1), { stdio: ['ignore', fd, fd], env: labEnv(process.env) });
    closeSync(fd);
    children.push(child);
    logs.set(child, path.join(dir, 'h1.log'));
  });

  after(async () => {
    const failures: unknown[] = [];
    for (const child of children.reverse()) await stop(child).catch((err: unknown) => failures.push(err));
    if (lab) await labDown({ name: LAB });
    await rm(dir, { recursive: true, force: true });
    if (failures.length > 0) throw failures[0];
  });

  test('join -dev: the bundle and nothing optional', async () => {
    const { packages, files } = await recordedJoin('plain', []);
    // The recorder saw the process load (the bin and its bundle loader at least).
    assert.ok(files.some((f) => f.endsWith('packages/cli/bin/bundle-loader.js')), `recorded: ${files.join(', ')}`);
    for (const name of OPTIONAL) assert.ok(!packages.has(name), `a dev-mode join loaded ${name}: ${files.filter((f) => f.includes(`/${name}/`)).slice(0, 3).join(', ')}`);
  });

  test('join -dev with -config and -metrics-addr loads yaml and prom-client, still not node-forge or ink', async () => {
    const config = path.join(dir, 'join.yaml');
    await writeFile(config, 'log-level: info\n');
    const { packages } = await recordedJoin('extras', ['-config', config, '-metrics-addr', '127.0.0.1:9598'], /metrics served/);
    assert.ok(packages.has('yaml'), 'yaml was not loaded for -config');
    assert.ok(packages.has('prom-client'), 'prom-client was not loaded for -metrics-addr');
    for (const name of ['node-forge', 'ink', 'react']) assert.ok(!packages.has(name), `loaded ${name}`);
  });

  test('wgmesh ca loads node-forge', async () => {
    const run = startRecorded(undefined, 'ca', ['ca', '--help']);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      new Promise((r) => run.child.once('exit', r)),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('`wgmesh ca --help` did not exit within 30 s')), 30_000))),
    ]).finally(() => clearTimeout(timer));
    assert.equal(code, 0, await readFile(run.log, 'utf8'));
    assert.ok(packagesIn((await readFile(run.modules, 'utf8')).split('\n')).has('node-forge'));
  });
});
