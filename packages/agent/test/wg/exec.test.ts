import { test } from 'node:test';
import assert from 'node:assert/strict';
import { directRunner, namespaceRunner, prefixedRunner, runCommand } from '../../src/wg/exec.js';
import { WgCommandFailed } from '../../src/errors.js';

/** Stops a process this test started (by PID), if it is still there. */
function stop(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

test('a command that exits while a helper it started still holds its output is answered at once, not when the helper ends', async () => {
  const started = Date.now();
  // The background sleep inherits stdout and stderr: 'close' would wait the full 20 s for it.
  const { stdout } = await runCommand('sh', ['-c', 'sleep 20 & echo $!']);
  const tookMs = Date.now() - started;
  stop(Number(stdout.trim()));
  assert.match(stdout, /^\d+\n$/, 'the output written before the exit is kept');
  assert.ok(tookMs < 5_000, `answered after ${tookMs} ms`);
});

test('the timeout is a hard bound even when a helper keeps the output pipes open', async () => {
  const started = Date.now();
  let helper = 0;
  await assert.rejects(
    runCommand('sh', ['-c', 'sleep 20 & echo $! >&2; exec sleep 20'], { timeoutMs: 300 }),
    (err: unknown) => {
      assert.ok(err instanceof WgCommandFailed);
      assert.match(err.message, /timed out after 300 ms/);
      helper = Number(/(\d+)/.exec(err.message.split(':').at(-1) ?? '')?.[1] ?? 0);
      return true;
    },
  );
  const tookMs = Date.now() - started;
  if (helper) stop(helper);
  assert.ok(tookMs < 5_000, `rejected after ${tookMs} ms`);
});

test('exit status and stderr still come through', async () => {
  await assert.rejects(runCommand('sh', ['-c', 'echo nope >&2; exit 3']), /sh -c .* failed \(exit 3\): nope/);
  assert.deepEqual(await runCommand('sh', ['-c', 'echo out; echo err >&2']), { stdout: 'out\n', stderr: 'err\n' });
});

test('only the direct runner says its commands share this process\'s network namespace', () => {
  assert.equal(directRunner.sharesNetwork, true);
  assert.notEqual(namespaceRunner({ net: 'wgx-h1' }).sharesNetwork, true, 'nsenter --net: another namespace');
  assert.notEqual(namespaceRunner({ mount: '/run/wgx/h1.mnt' }).sharesNetwork, true, 'not claimed for any prefix');
  assert.notEqual(prefixedRunner(['sudo', '--'], 'sudo').sharesNetwork, true);
});
