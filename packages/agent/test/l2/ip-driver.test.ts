/**
 * IpL2Driver's commands, with a runner that records them (the real ones run in
 * driver-compliance.test.ts as root): the flood entries in one batch that must succeed; a removed
 * peer's learned MACs after it, best effort.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { IpL2Driver } from '../../src/l2/ip-driver.js';
import type { CommandRunner, CommandResult, RunOptions } from '../../src/wg/exec.js';

const ZERO = '00:00:00:00:00:00';

/** Answers `bridge -j fdb show` with `fdb`; fails the commands `fails` matches; records the rest. */
class RecordingRunner implements CommandRunner {
  readonly description = 'test';
  readonly calls: { cmd: string; args: readonly string[]; input?: string }[] = [];
  constructor(private readonly fdb: object[], private readonly fails: (args: readonly string[]) => boolean = () => false) {}
  async run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    this.calls.push({ cmd, args, ...(options.input !== undefined ? { input: options.input } : {}) });
    if (this.fails(args)) throw new Error(`${cmd} ${args.join(' ')}: RTNETLINK answers: No such file or directory`);
    if (args.join(' ').startsWith('-j fdb show')) return { stdout: JSON.stringify(this.fdb), stderr: '' };
    return { stdout: '', stderr: '' };
  }
  spawnDaemon(): ChildProcess {
    throw new Error('not used');
  }
  batches(): string[][] {
    return this.calls.filter((c) => c.args.includes('-batch')).map((c) => [c.args.join(' '), ...(c.input ?? '').trim().split('\n')]);
  }
}

async function upDriver(runner: RecordingRunner): Promise<IpL2Driver> {
  const driver = new IpL2Driver({ runner });
  await driver.up({ bridge: 'brm', vxlan: 'vxm', vni: 1, port: 4789, local: '198.18.0.1', mtu: 1370, bridgeIfs: [] });
  return driver;
}

describe('IpL2Driver.apply', () => {
  test('a leave: its flood entry goes, then its learned MACs (not permanent ones, not other peers\')', async () => {
    const runner = new RecordingRunner([
      { mac: ZERO, dst: '198.18.0.2' },
      { mac: '02:00:00:00:00:02', dst: '198.18.0.2' },
      { mac: '02:00:00:00:00:09', dst: '198.18.0.2', state: 'permanent' },
      { mac: '02:00:00:00:00:03', dst: '198.18.0.3' },
    ]);
    const driver = await upDriver(runner);
    await driver.apply([{ op: 'del', dst: '198.18.0.2' }, { op: 'add', dst: '198.18.0.4' }]);
    assert.deepEqual(runner.batches(), [
      ['-batch -', `fdb del ${ZERO} dev vxm dst 198.18.0.2`, `fdb append ${ZERO} dev vxm dst 198.18.0.4`],
      ['-force -batch -', 'fdb del 02:00:00:00:00:02 dev vxm dst 198.18.0.2'],
    ]);
  });

  test('a learned MAC that aged out meanwhile does not fail the change', async () => {
    const runner = new RecordingRunner([{ mac: '02:00:00:00:00:02', dst: '198.18.0.2' }], (args) => args.includes('-force'));
    const driver = await upDriver(runner);
    await driver.apply([{ op: 'del', dst: '198.18.0.2' }]);
    assert.equal(runner.batches().length, 2);
  });

  test('a flood entry the kernel refuses fails the change (the full pass repairs it)', async () => {
    const runner = new RecordingRunner([], (args) => args[0] === '-batch');
    const driver = await upDriver(runner);
    await assert.rejects(driver.apply([{ op: 'add', dst: '198.18.0.4' }]), /bridge -batch -/);
  });
});
