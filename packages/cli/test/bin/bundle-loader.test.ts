import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

interface Loaded {
  exports: { start(): number; work(n: number): number };
  warmed: (() => void) | undefined;
}
// bin/ is plain CommonJS without declarations.
const loaderPath = createRequire(import.meta.url).resolve('../../bin/bundle-loader.js');
const { loadCommandBundle, flagsSuffix } = createRequire(import.meta.url)(loaderPath) as {
  loadCommandBundle(file: string): Loaded;
  flagsSuffix(execArgv: readonly string[], nodeOptions: string | undefined): string;
};

/** The kept cache of a run in this process (the test runner gives it node flags of its own). */
const warmOf = (file: string) => `${file}.warm${flagsSuffix(process.execArgv, process.env.NODE_OPTIONS)}`;

/** Loads the bundle in a node of its own started with `flags`, works, keeps its code; its answer and whether it found a kept cache. */
function runWithFlags(file: string, flags: readonly string[]): { answer: number; hadKept: boolean } {
  const script = `const { loadCommandBundle } = require(${JSON.stringify(loaderPath)}); const r = loadCommandBundle(${JSON.stringify(file)}); const answer = r.exports.work(7); if (r.warmed) r.warmed(); process.stdout.write(JSON.stringify({ answer, hadKept: r.warmed === undefined }));`;
  // A script file, not -e: the code given to -e is in process.execArgv too.
  const runner = path.join(path.dirname(file), 'run.js');
  writeFileSync(runner, script);
  const run = spawnSync(process.execPath, [...flags, runner], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  rmSync(runner);
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as { answer: number; hadKept: boolean };
}

/** A command bundle of its own: functions that run at load, and some that run only when called. */
function fakeBundle(): { dir: string; file: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'wgmesh-bundle-'));
  const file = path.join(dir, 'cmd.cjs');
  const later = Array.from({ length: 40 }, (_, i) => `function step${i}(n) { let s = n; for (let k = 0; k < ${i + 2}; k++) s = (s * 31 + k) % 1000003; return s; }`).join('\n');
  writeFileSync(file, `${later}\nexports.start = () => 0;\nexports.work = (n) => { let s = n; ${Array.from({ length: 40 }, (_, i) => `s = step${i}(s);`).join(' ')} return s; };\n`);
  return { dir, file };
}

describe('bin: the code cache a run keeps', () => {
  test('a run without a kept cache keeps one once it has worked; the next run starts from it and keeps nothing', () => {
    const { dir, file } = fakeBundle();
    try {
      const first = loadCommandBundle(file);
      assert.ok(first.warmed, 'nothing kept yet: the run offers to keep its code');
      const answer = first.exports.work(7);
      first.warmed();
      const kept = readFileSync(warmOf(file));
      assert.ok(kept.length > 0);
      const keptAt = statSync(warmOf(file)).mtimeMs;
      first.warmed();
      assert.equal(statSync(warmOf(file)).mtimeMs, keptAt, 'kept once per run');
      assert.deepEqual(readdirSync(dir).sort(), ['cmd.cjs', path.basename(warmOf(file))], 'no temporary file left');

      const second = loadCommandBundle(file);
      assert.equal(second.warmed, undefined, 'V8 took the kept cache: nothing to keep again');
      assert.equal(second.exports.work(7), answer);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a kept cache V8 refuses (damaged, another node) is replaced by the run that compiled afresh', () => {
    const { dir, file } = fakeBundle();
    try {
      writeFileSync(warmOf(file), Buffer.alloc(4096, 0x5a));
      const run = loadCommandBundle(file);
      assert.ok(run.warmed, 'the refused cache is to be replaced');
      assert.equal(run.exports.work(3), run.exports.work(3));
      run.warmed();
      assert.notDeepEqual(readFileSync(warmOf(file)), Buffer.alloc(4096, 0x5a));
      assert.equal(loadCommandBundle(file).warmed, undefined, 'the replacement is taken');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the build\'s cache is used until a run keeps its own', () => {
    const { dir, file } = fakeBundle();
    try {
      const build = loadCommandBundle(file);
      build.warmed!();
      // The kept cache stands in for a build cache here: any valid cache of this source.
      writeFileSync(`${file}.cache`, readFileSync(warmOf(file)));
      rmSync(warmOf(file));
      const run = loadCommandBundle(file);
      assert.ok(run.warmed, 'a build cache is not a kept one: the run still keeps its own');
      run.warmed();
      assert.ok(existsSync(warmOf(file)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a run with other V8 flags keeps a cache of its own: the plain runs\' kept cache stays theirs', () => {
    const { dir, file } = fakeBundle();
    try {
      const plain = runWithFlags(file, []);
      assert.equal(plain.hadKept, false);
      const plainKept = readFileSync(`${file}.warm`);
      // A cache made under --max-semi-space-size=64 is one V8 refuses in a plain run (its flag hash).
      const flagged = runWithFlags(file, ['--max-semi-space-size=64']);
      assert.equal(flagged.hadKept, false, 'the plain runs\' cache is not offered to a run with other flags');
      assert.equal(flagged.answer, plain.answer);
      const files = readdirSync(dir).sort();
      assert.equal(files.length, 3, files.join(' '));
      assert.match(files[2]!, /^cmd\.cjs\.warm-[0-9a-f]{8}$/);
      assert.deepEqual(readFileSync(`${file}.warm`), plainKept, 'the plain runs\' cache untouched');
      assert.equal(runWithFlags(file, []).hadKept, true, 'a plain run still starts from its kept cache');
      assert.equal(runWithFlags(file, ['--max-semi-space-size=64']).hadKept, true, 'and the flagged run from its own');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('flagsSuffix: none for a plain run, one per set of flags', () => {
    assert.equal(flagsSuffix([], undefined), '');
    assert.equal(flagsSuffix([], ''), '');
    const jitless = flagsSuffix(['--jitless'], undefined);
    assert.match(jitless, /^-[0-9a-f]{8}$/);
    assert.equal(flagsSuffix(['--jitless'], ''), jitless, 'the same flags, the same file');
    assert.equal(flagsSuffix([], '--jitless'), jitless, 'NODE_OPTIONS counts as the command line does');
    assert.notEqual(flagsSuffix(['--max-semi-space-size=64'], undefined), jitless);
  });

  test('a place it cannot write to costs nothing: no error, no file', () => {
    const { dir, file } = fakeBundle();
    const run = loadCommandBundle(file);
    rmSync(dir, { recursive: true, force: true });
    assert.doesNotThrow(() => run.warmed!());
    assert.equal(existsSync(dir), false);
  });
});
