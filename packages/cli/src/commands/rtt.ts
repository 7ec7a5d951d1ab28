import type { RttResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/RttResponse';
import { formatHelp, resolveCommandFlags, type FlagSpec } from '../flags/parse.js';
import { formatRtt } from '../ui/format.js';
import { deadline, CLIENT_FLAGS, unary, withLocalClient } from '../local-api/client.js';

export const RTT_FLAGS: FlagSpec[] = [
  { name: 'json', type: 'bool', default: false, help: 'print the matrix as JSON' },
  { name: 'cached', type: 'bool', default: false, help: 'print the figures as last reported, without asking the nodes to measure now' },
  ...CLIENT_FLAGS,
];

const USAGE = 'wgmesh rtt [-json] [-cached]';
const DESCRIPTION = 'Prints the mesh-wide matrix of round-trip times through the tunnels. Every node is asked to measure now and report (about a second; at rest nodes probe each peer only every 30 s), unless -cached; each figure says when it was measured. Only this node\'s row when the bootstrap cannot be asked.';

export async function runRtt(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, help } = resolveCommandFlags('rtt', RTT_FLAGS, argv, env, 'client');
  if (help) {
    process.stdout.write(formatHelp(USAGE, DESCRIPTION, RTT_FLAGS, 'client'));
    return 0;
  }
  const matrix = await withLocalClient(String(values.socket), async (client) => {
    const rtt = await unary<RttResponse__Output>((cb) => client.rtt({ fresh: !values.cached }, deadline(), cb));
    client.close();
    return rtt;
  });
  process.stdout.write(values.json ? JSON.stringify(matrix, null, 2) + '\n' : formatRtt(matrix));
  return 0;
}
