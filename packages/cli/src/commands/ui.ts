import { formatHelp, resolveCommandFlags, UsageError, type FlagSpec, type FlagValues } from '../flags/parse.js';
import { CLIENT_FLAGS, connectLocal } from '../local-api/client.js';
import { loadPage } from '../web/assets.js';
import { isLoopback, UI_DEFAULTS, UiServer } from '../web/server.js';
import { agentFeed, StatusSource } from '../web/source.js';

export const UI_FLAGS: FlagSpec[] = [
  { name: 'http-bind-addr', type: 'string', value: 'ADDR', default: UI_DEFAULTS.host, help: 'address the page listens on (anything but loopback needs -http-token)' },
  { name: 'http-bind-port', type: 'int', value: 'PORT', default: UI_DEFAULTS.port, help: 'port the page listens on' },
  { name: 'http-token', type: 'string', value: 'TOKEN', default: '', help: 'require this token: "Authorization: Bearer TOKEN", or basic auth with it as the password' },
  ...CLIENT_FLAGS,
];

const USAGE = 'wgmesh ui [-http-bind-addr 127.0.0.1] [-http-bind-port 9095] [-http-token TOKEN] [-socket PATH]';
const DESCRIPTION = `Serves the mesh as a web page: this node, every peer (status, path, endpoint, handshake, RTT,
traffic, tags), search and sorting, and the RTT matrix as a heat map, updated live. Read-only.
JSON: /api/nodes, /api/mesh and the websocket /api/updates (the original wgmesh's), /api/v1/status
(as info -json) and /api/v1/rtt (as rtt -json). Runs in the foreground until SIGINT/SIGTERM.`;

export interface UiOptions {
  readonly host: string;
  readonly port: number;
  readonly token: string | undefined;
  readonly socket: string;
}

/** Flags and environment -> options; a bind beyond loopback without a token is refused, saying how. */
export function uiOptions(values: FlagValues): UiOptions {
  const host = String(values['http-bind-addr']).trim();
  const port = Number(values['http-bind-port']);
  const token = String(values['http-token'] ?? '') || undefined;
  if (host === '') throw new UsageError('-http-bind-addr is empty: give an address such as 127.0.0.1');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`-http-bind-port ${port} is not a port (0-65535)`);
  if (!isLoopback(host) && !token) {
    throw new UsageError(
      `-http-bind-addr ${host} is not a loopback address: anyone who can reach it would see the mesh. ` +
        'Give -http-token TOKEN (or WGMESH_HTTP_TOKEN) so every request must carry it (Authorization: Bearer TOKEN, or basic auth with the token as password), ' +
        'or keep the default 127.0.0.1 and reach it through an SSH tunnel (ssh -L 9095:127.0.0.1:9095 HOST)',
    );
  }
  return { host, port, token, socket: String(values.socket) };
}

export async function runUi(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, help } = resolveCommandFlags('ui', UI_FLAGS, argv, env, 'client');
  if (help) {
    process.stdout.write(formatHelp(USAGE, DESCRIPTION, UI_FLAGS, 'client'));
    return 0;
  }
  const options = uiOptions(values);
  const assets = loadPage();
  const client = connectLocal(options.socket);
  const source = new StatusSource(agentFeed(client, options.socket));
  const server = new UiServer({ data: source, assets }, options);
  try {
    await source.start();
    await server.start();
  } catch (err) {
    source.stop();
    client.close();
    throw err;
  }
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  process.stderr.write(`wgmesh ui: mesh ${source.latest()?.meshName} on http://${host}:${server.port()}/ (Ctrl-C stops it)\n`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stderr.write(`wgmesh ui: ${signal}, stopping\n`);
  await server.stop();
  source.stop();
  client.close();
  return 0;
}
