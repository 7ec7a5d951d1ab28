import type { InfoResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/InfoResponse';
import { formatHelp, resolveCommandFlags, type FlagSpec } from '../flags/parse.js';
import { formatInfo } from '../ui/format.js';
import { deadline, CLIENT_FLAGS, unary, withLocalClient } from '../local-api/client.js';
import type { CommandRuntime } from '../run.js';

export const INFO_FLAGS: FlagSpec[] = [
  { name: 'json', type: 'bool', default: false, help: 'print the status as JSON' },
  { name: 'watch', type: 'bool', default: false, help: 'keep showing the status as it changes (a live dashboard on a terminal)' },
  ...CLIENT_FLAGS,
];

const USAGE = 'wgmesh info [-watch] [-json] [-socket PATH]';
const DESCRIPTION = 'Shows this node and every peer: mesh IPs, status, endpoints, handshakes, RTT, traffic and tags.\nOn a terminal with -watch it is a live dashboard; piped, a plain table.';

export async function runInfo(argv: string[], env: NodeJS.ProcessEnv, runtime: CommandRuntime = {}): Promise<number> {
  const { values, help } = resolveCommandFlags('info', INFO_FLAGS, argv, env, 'client');
  if (help) {
    process.stdout.write(formatHelp(USAGE, DESCRIPTION, INFO_FLAGS, 'client'));
    return 0;
  }
  const print = (info: InfoResponse__Output) =>
    process.stdout.write(values.json ? JSON.stringify(info, null, 2) + '\n' : formatInfo(info));
  return withLocalClient(String(values.socket), async (client) => {
    if (!values.watch) {
      const info = await unary<InfoResponse__Output>((cb) => client.info({}, deadline(), cb));
      print(info);
      client.close();
      runtime.warmed?.();
      return 0;
    }
    if (process.stdout.isTTY && !values.json) {
      // ink draws nothing live when it thinks it runs in CI (a CI variable is set), but this is a
      // terminal someone is looking at: ink reads the variable when it loads, below.
      if (process.env.CI !== undefined) process.env.CI = 'false';
      const { runDashboard } = await import('../ui/live-dashboard.js');
      return runDashboard(client);
    }
    return new Promise<number>((resolve, reject) => {
      const stream = client.watch({});
      stream.on('data', (info: InfoResponse__Output) => print(info));
      stream.on('error', reject);
      stream.on('end', () => resolve(0));
    });
  });
}
