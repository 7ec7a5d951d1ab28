import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { tempDir } from '../helpers/inprocess.js';

const UNITS = path.resolve(import.meta.dirname, '../../deploy/systemd');
const WGMESH = path.resolve(import.meta.dirname, '../../packages/cli/bin/wgmesh.js');

function verify(file: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('systemd-analyze', ['verify', '--man=no', file], (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, output: stdout + stderr }));
  });
}

for (const unit of ['wgmesh-bootstrap.service', 'wgmesh@.service']) {
  test(`${unit} is a valid unit with hardening and a clean stop`, async (t) => {
    const text = await readFile(path.join(UNITS, unit), 'utf8');
    for (const line of ['NoNewPrivileges=yes', 'ProtectSystem=strict', 'KillSignal=SIGTERM', 'AmbientCapabilities=CAP_NET_ADMIN']) {
      assert.ok(text.split('\n').some((l) => l.startsWith(line)), `${unit} has ${line}`);
    }
    const which = await new Promise<boolean>((resolve) => execFile('systemd-analyze', ['--version'], (err) => resolve(!err)));
    if (!which) return t.skip('systemd-analyze is not installed');
    const { dir, cleanup } = await tempDir();
    try {
      // Point ExecStart at this checkout's CLI so verify can check it exists and is executable.
      const name = unit === 'wgmesh@.service' ? 'wgmesh@prod.service' : unit;
      const copy = path.join(dir, name);
      await writeFile(copy, text.replaceAll('/usr/local/bin/wgmesh', WGMESH));
      const { code, output } = await verify(copy);
      assert.equal(code, 0, output);
      assert.doesNotMatch(output, /Unknown (key|section)|Failed to parse|Invalid/i, output);
    } finally {
      await cleanup();
    }
  });
}
