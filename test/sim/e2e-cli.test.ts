/**
 * Which wgmesh the end-to-end tests run: the built CLI unless WGMESH_E2E_CLI=source, and never a
 * build that is missing or older than its sources (checked on a made-up checkout here).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { builtWgmeshCommand, sourceWgmeshCommand } from '@wgmesh/cli/lab';
import { checkBuiltCli, e2eWgmeshCommand } from '../helpers/lab.js';
import { tempDir } from '../helpers/inprocess.js';

/** A checkout whose three packages' sources last changed at `changedAt`, bundled at `builtAt` (seconds). */
async function checkout(root: string, changedAt: number, builtAt: number): Promise<void> {
  for (const pkg of ['agent', 'bootstrap', 'cli']) {
    const dir = path.join(root, 'packages', pkg);
    await mkdir(path.join(dir, 'src', 'sub'), { recursive: true });
    for (const file of [path.join(dir, 'src', 'index.ts'), path.join(dir, 'src', 'sub', 'view.tsx')]) {
      await writeFile(file, '');
      await utimes(file, changedAt, changedAt);
    }
  }
  await mkdir(path.join(root, 'packages/cli/bundle/commands'), { recursive: true });
  for (const file of ['main.cjs', 'commands/join.cjs', 'commands/bootstrap.cjs']) {
    await writeFile(path.join(root, 'packages/cli/bundle', file), '');
    await utimes(path.join(root, 'packages/cli/bundle', file), builtAt, builtAt);
  }
}

test('the e2e tests run the built CLI by default, from source with WGMESH_E2E_CLI=source', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await checkout(dir, 1_000, 2_000);
    assert.deepEqual(e2eWgmeshCommand({}, dir), builtWgmeshCommand());
    assert.deepEqual(e2eWgmeshCommand({ WGMESH_E2E_CLI: 'built' }, dir), builtWgmeshCommand());
    assert.deepEqual(e2eWgmeshCommand({ WGMESH_E2E_CLI: 'source' }, dir), sourceWgmeshCommand());
    assert.throws(() => e2eWgmeshCommand({ WGMESH_E2E_CLI: 'dist' }, dir), /WGMESH_E2E_CLI=dist: use "built" \(the default\) or "source"/);
  } finally {
    await cleanup();
  }
});

test('a build older than a source file, or none, fails loudly and says to run make build', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await checkout(dir, 1_000, 2_000);
    assert.doesNotThrow(() => checkBuiltCli(dir));
    // One source file changed after the build, in a nested folder of a referenced package.
    await utimes(path.join(dir, 'packages/agent/src/sub/view.tsx'), 3_000, 3_000);
    assert.throws(() => checkBuiltCli(dir), /packages\/agent\/src\/sub\/view\.tsx changed since packages\/cli\/bundle was built: run `make build` first/);
    assert.throws(() => e2eWgmeshCommand({}, dir), /run `make build` first/);
    // Source runs need no build.
    assert.deepEqual(e2eWgmeshCommand({ WGMESH_E2E_CLI: 'source' }, dir), sourceWgmeshCommand());
    await utimes(path.join(dir, 'packages/agent/src/sub/view.tsx'), 1_000, 1_000);
    assert.doesNotThrow(() => checkBuiltCli(dir));
    await rm(path.join(dir, 'packages/cli/bundle'), { recursive: true });
    assert.throws(() => checkBuiltCli(dir), /packages\/cli\/bundle is missing: run `make build` first/);
    await checkout(dir, 1_000, 2_000);
    await rm(path.join(dir, 'packages/cli/bundle/commands/join.cjs'));
    assert.throws(() => checkBuiltCli(dir), /packages\/cli\/bundle\/commands\/join\.cjs is missing/);
  } finally {
    await cleanup();
  }
});
