import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

interface Loaded {
  exports: { start(): number; work(n: number): number };
  warmed: (() => void) | undefined;
}
// bin/ is plain CommonJS without declarations.
const { loadCommandBundle } = createRequire(import.meta.url)('../../bin/bundle-loader.js') as { loadCommandBundle(file: string): Loaded };

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
      const kept = readFileSync(`${file}.warm`);
      assert.ok(kept.length > 0);
      const keptAt = statSync(`${file}.warm`).mtimeMs;
      first.warmed();
      assert.equal(statSync(`${file}.warm`).mtimeMs, keptAt, 'kept once per run');
      assert.deepEqual(readdirSync(dir).sort(), ['cmd.cjs', 'cmd.cjs.warm'], 'no temporary file left');

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
      writeFileSync(`${file}.warm`, Buffer.alloc(4096, 0x5a));
      const run = loadCommandBundle(file);
      assert.ok(run.warmed, 'the refused cache is to be replaced');
      assert.equal(run.exports.work(3), run.exports.work(3));
      run.warmed();
      assert.notDeepEqual(readFileSync(`${file}.warm`), Buffer.alloc(4096, 0x5a));
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
      writeFileSync(`${file}.cache`, readFileSync(`${file}.warm`));
      rmSync(`${file}.warm`);
      const run = loadCommandBundle(file);
      assert.ok(run.warmed, 'a build cache is not a kept one: the run still keeps its own');
      run.warmed();
      assert.ok(existsSync(`${file}.warm`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a place it cannot write to costs nothing: no error, no file', () => {
    const { dir, file } = fakeBundle();
    const run = loadCommandBundle(file);
    rmSync(dir, { recursive: true, force: true });
    assert.doesNotThrow(() => run.warmed!());
    assert.equal(existsSync(dir), false);
  });
});
