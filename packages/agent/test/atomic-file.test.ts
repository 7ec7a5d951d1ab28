/** writeFileAtomic: the whole new content or the old, and nothing left behind when a write fails. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/atomic-file.js';

const SOURCE = fileURLToPath(new URL('../src/atomic-file.ts', import.meta.url));

describe('writeFileAtomic', () => {
  test('replaces the content and leaves only the file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-atomic-'));
    try {
      const file = path.join(dir, 'state.json');
      await writeFile(file, 'old');
      await writeFileAtomic(file, 'new');
      assert.equal(await readFile(file, 'utf8'), 'new');
      assert.deepEqual(await readdir(dir), ['state.json']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a write that fails (a full disk) keeps the old content and removes its temp file', async (t) => {
    if (spawnSync('prlimit', ['--version']).status !== 0) return t.skip('prlimit (util-linux) is not installed');
    const dir = await mkdtemp(path.join(tmpdir(), 'wgmesh-atomic-'));
    try {
      const file = path.join(dir, 'state.json');
      await writeFile(file, 'old');
      // A file size limit makes the 64 KiB write fail (EFBIG), as a full disk would.
      const script = `import(${JSON.stringify(SOURCE)}).then((m) => m.writeFileAtomic(${JSON.stringify(file)}, 'x'.repeat(65536))).then(() => console.log('written'), (e) => console.log('failed: ' + e.code))`;
      const run = spawnSync('prlimit', ['--fsize=4096', process.execPath, '--conditions=source', '--import', 'tsx', '-e', script], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /failed: EFBIG/);
      assert.equal(await readFile(file, 'utf8'), 'old');
      assert.deepEqual(await readdir(dir), ['state.json'], 'the temp file was left behind');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
