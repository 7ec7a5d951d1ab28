import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { InvalidWgConfig, ListenPortInUse, WgCommandFailed } from '../../src/errors.js';
import type { CommandRunner } from '../../src/wg/exec.js';
import { generateKeyPair } from '../../src/wg/keys.js';
import { applyOps, configureInterface, presharedKeyInput } from '../../src/wg/wg-tool.js';

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

test('preshared keys go to wg through stdin, before the batch, and never into an argument list', async () => {
  const { publicKey } = generateKeyPair();
  const psk = Buffer.alloc(32, 5).toString('base64');
  const calls: { cmd: string; args: readonly string[]; input?: string }[] = [];
  const recorder: CommandRunner = {
    description: 'fake',
    async run(cmd, args, options) {
      calls.push({ cmd, args, ...(options?.input !== undefined ? { input: options.input } : {}) });
      return { stdout: '', stderr: '' };
    },
    spawnDaemon(): ChildProcess {
      throw new Error('not used');
    },
  };
  const other = generateKeyPair().publicKey;
  await applyOps(recorder, 'wg0', [
    { op: 'set-peer', peer: { publicKey, allowedIps: ['198.18.0.3/32'], presharedKey: psk } },
    { op: 'set-peer', peer: { publicKey: other, allowedIps: ['198.18.0.4/32'] } },
  ]);
  assert.equal(calls.length, 2);
  assert.equal(calls[0]!.cmd, 'sh');
  assert.equal(calls[0]!.input, `${publicKey} ${psk}\n`, 'only the keyed peer, through stdin');
  assert.equal(calls[1]!.cmd, 'wg');
  for (const call of calls) assert.ok(!call.args.some((a) => a.includes(psk)), 'the key is in no argument');
  assert.equal(presharedKeyInput([{ op: 'set-peer', peer: { publicKey: other, allowedIps: [] } }]), undefined, 'no key, no extra command');
});

test('a malformed preshared key is refused before anything runs, and not quoted', () => {
  const bad = 'secret-but-not-a-key';
  assert.throws(
    () => presharedKeyInput([{ op: 'set-peer', peer: { publicKey: generateKeyPair().publicKey, allowedIps: [], presharedKey: bad } }]),
    (err: Error) => err instanceof InvalidWgConfig && !err.message.includes(bad),
  );
});
