import type { RotateKeyResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/RotateKeyResponse';
import { formatHelp, resolveCommandFlags, type FlagSpec } from '../flags/parse.js';
import { deadline, CLIENT_FLAGS, unary, withLocalClient } from '../local-api/client.js';

export const ROTATE_KEY_FLAGS: FlagSpec[] = [
  { name: 'json', type: 'bool', default: false, help: 'print the previous and new public key as JSON' },
  ...CLIENT_FLAGS,
];

const USAGE = 'wgmesh rotate-key [-socket PATH] [-json]';
const DESCRIPTION = 'Gives the running node a new WireGuard key: it switches its interface to it and announces it\nthrough membership; every peer swaps the key without losing traffic. The key is kept in\n<state-dir>/<mesh>/private.key. `-key-rotation DURATION` on join or bootstrap rotates on a schedule.';

/** How long the node may take: saving the key, switching the interface and the bootstrap's answer. */
const ROTATE_TIMEOUT_MS = 20_000;

export async function runRotateKey(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, help } = resolveCommandFlags('rotate-key', ROTATE_KEY_FLAGS, argv, env, 'client');
  if (help) {
    process.stdout.write(formatHelp(USAGE, DESCRIPTION, ROTATE_KEY_FLAGS, 'client'));
    return 0;
  }
  const rotated = await withLocalClient(String(values.socket), async (client) => {
    const response = await unary<RotateKeyResponse__Output>((cb) => client.rotateKey({}, deadline(ROTATE_TIMEOUT_MS), cb));
    client.close();
    return response;
  });
  if (values.json) process.stdout.write(JSON.stringify(rotated) + '\n');
  else process.stdout.write(`public key ${rotated.previousPublicKey} -> ${rotated.publicKey} (revision ${rotated.revision})\n`);
  return 0;
}
