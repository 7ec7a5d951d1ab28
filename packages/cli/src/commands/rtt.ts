import type { RttResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/RttResponse';
import { formatHelp, resolveCommandFlags, type FlagSpec } from '../flags/parse.js';
import { formatRtt } from '../ui/format.js';
import { deadline, CLIENT_FLAGS, unary, withLocalClient } from '../local-api/client.js';

export const RTT_FLAGS: FlagSpec[] = [{ name: 'json', type: 'bool', default: false, help: 'print the matrix as JSON' }, ...CLIENT_FLAGS];

const USAGE = 'wgmesh rtt [-json]';
const DESCRIPTION = 'Prints the mesh-wide matrix of round-trip times through the tunnels: this node\'s row as measured now, the others as their nodes last reported them to the bootstrap (only this node\'s row when the bootstrap cannot be asked).';

export async function runRtt(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, help } = resolveCommandFlags('rtt', RTT_FLAGS, argv, env, 'client');
  if (help) {
    process.stdout.write(formatHelp(USAGE, DESCRIPTION, RTT_FLAGS, 'client'));
    return 0;
  }
  const matrix = await withLocalClient(String(values.socket), async (client) => {
    const rtt = await unary<RttResponse__Output>((cb) => client.rtt({}, deadline(), cb));
    client.close();
    return rtt;
  });
  process.stdout.write(values.json ? JSON.stringify(matrix, null, 2) + '\n' : formatRtt(matrix));
  return 0;
}
