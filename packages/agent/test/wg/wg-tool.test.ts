import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { ListenPortInUse, WgCommandFailed } from '../../src/errors.js';
import type { CommandRunner } from '../../src/wg/exec.js';
import { generateKeyPair } from '../../src/wg/keys.js';
import { configureInterface } from '../../src/wg/wg-tool.js';

/** A runner whose `wg set` fails as wg does when the listen port is taken. */
const portTaken: CommandRunner = {
  description: 'fake',
  async run(cmd, args) {
    if (cmd === 'sh' && args.join(' ').includes('wg set')) {
      throw new WgCommandFailed('wg set failed (exit 1): Unable to modify interface: Address already in use', {
        commandLine: 'wg set', exitCode: 1, stderr: 'Unable to modify interface: Address already in use\n',
      });
    }
    return { stdout: '', stderr: '' };
  },
  spawnDaemon(): ChildProcess {
    throw new Error('not used');
  },
};

test('a listen port another program holds is ListenPortInUse, saying what to do', async () => {
  await assert.rejects(
    configureInterface(portTaken, { name: 'wgt', privateKey: generateKeyPair().privateKey, listenPort: 54540, address: '198.18.0.2/16' }),
    (err: unknown) => err instanceof ListenPortInUse && err.port === 54540 && /UDP port 54540 .*another program uses it; stop that program, or pick another -listen-port/.test(err.message),
  );
});
