import { hostname, networkInterfaces } from 'node:os';
import { AGENT_DEFAULTS } from '@wgmesh/agent/constants';
import { endpointAddressProblem } from '@wgmesh/agent/endpoints/endpoints';
import { NotRoot } from '@wgmesh/agent/errors';
import { validateServiceTag } from '@wgmesh/agent/services';
import { MEMBERLIST_FORMATS, type MemberlistFormat } from '@wgmesh/agent/status/memberlist';
import { RTT_DEFAULTS } from '@wgmesh/agent/rtt/echo';
import { createLogger, type Logger } from '@wgmesh/agent/log';
import { createWgDriverFactory, type WgBackendChoice } from '@wgmesh/agent/wg/factory';
import { type AgentNode, type NodeInit } from '@wgmesh/agent/node/node';
import { type WgDriverFactory } from '@wgmesh/agent/wg/types';
import { defaultDnsDomain, DNS_DEFAULTS, normalizeDnsDomain } from '@wgmesh/agent/dns/zone';
import type { MeshNamesInit } from '@wgmesh/agent/dns/names';
import type { FlagSpec, FlagValues } from '../flags/parse.js';
import { COMMON_FLAGS } from '../flags/common.js';
import { StartInterrupted, UsageError } from '../errors.js';
import type { CommandRuntime } from '../run.js';

/**
 * How long after its start a node's compiled code is kept for the next start (CommandRuntime):
 * by then it has answered its peers' first probes and handshakes, the work of every new peer.
 */
const KEEP_CODE_AFTER_START_MS = 2_000;

/** Flags every node (bootstrap or join) takes. */
export const NODE_FLAGS: FlagSpec[] = [
  { name: 'dev', type: 'bool', default: false, help: 'development mode: no TLS, anyone who reaches the bootstrap can join' },
  { name: 'node-name', type: 'string', value: 'NAME', help: 'this node\'s name in the mesh (default: the host name)' },
  { name: 'listen-port', type: 'int', value: 'PORT', default: AGENT_DEFAULTS.listenPort, help: 'WireGuard UDP port' },
  { name: 'listen-addr', type: 'string', value: 'IP|IFACE', help: 'advertise only this address (or this interface\'s first address) as the WireGuard endpoint' },
  { name: 'tags', type: 'list', value: 'K=V,...', default: [], help: 'tags for this node; svc:NAME=PORT declares a service (one with more pairs, svc:NAME=port=80,proto=tcp, holds commas: give it in the -config file\'s tags list, or with `wgmesh tags -set`)' },
  { name: 'wg-backend', type: 'string', value: 'auto|kernel|userspace', default: 'auto', help: 'WireGuard implementation: the kernel module, or wireguard-go; auto prefers the kernel' },
  { name: 'keep-interface', type: 'bool', default: false, help: 'leave the WireGuard interface (and, with layer 2, the bridge and VXLAN device) in place on exit (kernel backend)' },
  { name: 'state-dir', type: 'string', value: 'DIR', default: AGENT_DEFAULTS.stateDir, help: 'where keys and state are kept' },
  { name: 'socket', type: 'string', value: 'PATH', default: AGENT_DEFAULTS.socketPath, help: 'Unix socket of the local API (wgmesh info/tags/rtt)' },
  { name: 'socket-owner', type: 'string', value: 'UID:GID', help: 'owner of the local API socket (mode 0660)' },
  { name: 'rtt-port', type: 'int', value: 'PORT', default: RTT_DEFAULTS.port, help: 'UDP port of the RTT echo on the mesh IP (0: no RTT probing)' },
  { name: 'heartbeat', type: 'duration', value: 'DURATION', default: AGENT_DEFAULTS.heartbeatMs, help: 'how often this node reports to the bootstrap' },
  { name: 'key-rotation', type: 'duration', value: 'DURATION', default: 0, help: 'rotate this node\'s WireGuard key this often (0: never; see `wgmesh rotate-key`)' },
  { name: 'metrics-addr', type: 'string', value: 'HOST:PORT', help: 'serve Prometheus metrics at http://HOST:PORT/metrics' },
  { name: 'dns', type: 'bool', default: true, help: 'answer DNS for the mesh\'s names on this node\'s mesh IP, UDP and TCP port 53: NODE.<zone> (A/AAAA), PTR, SRV _SERVICE._tcp.<zone> for svc: tags; other names are refused. -dns=false: off' },
  { name: 'dns-domain', type: 'string', value: 'ZONE', help: 'the zone of the mesh\'s names (default <mesh>.internal)' },
  { name: 'hosts-file', type: 'string', value: 'PATH', help: 'also keep a marked block of hosts lines (IP NODE.<zone> NODE) current in this file, e.g. /etc/hosts; removed on exit' },
  { name: 'memberlist-file', type: 'string', value: 'PATH', help: 'keep a JSON export of the mesh\'s members here, rewritten when membership changes (at most once a second)' },
  {
    name: 'memberlist-format', type: 'string', value: 'wgmesh|original', default: 'wgmesh',
    help: '-memberlist-file\'s format: ours (docs/schemas/memberlist.schema.json; mode 0644, kept on exit), or the original wgmesh\'s document (members by name with addr, st, rtt, tags; services; lastUpdate; mode 0640, removed on exit) for tools written for it',
  },
  { name: 'log-level', type: 'string', value: 'LEVEL', default: 'info', help: 'error, warn, info or debug' },
  { name: 'log-format', type: 'string', value: 'text|json', default: 'text', help: 'log lines on stderr: readable text, or JSON for collectors' },
  ...COMMON_FLAGS,
];

const LOG_LEVELS = ['error', 'warn', 'info', 'debug'];

/** The level makeLogger uses; 'silly' (winston's most detailed) for WGMESH_TRACE. */
export function logLevel(values: FlagValues, env: Readonly<Record<string, string | undefined>>): string {
  if (env.WGMESH_TRACE !== undefined) return 'silly';
  return values.v || values.d ? 'debug' : String(values['log-level']);
}

/** The node's logger: -log-level, raised to debug by -v or -d, and to trace by WGMESH_TRACE (any value, as in the original). */
export function makeLogger(values: FlagValues, env: Readonly<Record<string, string | undefined>> = process.env): Logger {
  const format = String(values['log-format']);
  if (format !== 'text' && format !== 'json') throw new UsageError(`-log-format ${format}: use text or json`);
  const level = logLevel(values, env);
  if (level !== 'silly' && !LOG_LEVELS.includes(level)) throw new UsageError(`-log-level ${level}: use one of ${LOG_LEVELS.join(', ')}`);
  return createLogger({ level, json: format === 'json', color: process.stderr.isTTY === true && !process.env.NO_COLOR && format === 'text' });
}

/** -node-name, else the certificate's CN (mTLS), else the host name. */
export function nodeName(values: FlagValues, certName?: string): string {
  const given = (values['node-name'] as string | undefined) || certName;
  const name = (given || hostname().split('.')[0] || 'node').toLowerCase();
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name)) {
    throw new UsageError(`node name "${name}" is not a DNS label (letters, digits, '-'); set -node-name`);
  }
  return name;
}

/** "KEY=VALUE" → [KEY, VALUE] (the value may be empty, the key may not); undefined if it is not that. */
export function splitTag(item: string): [key: string, value: string] | undefined {
  const eq = item.indexOf('=');
  return eq > 0 ? [item.slice(0, eq), item.slice(eq + 1)] : undefined;
}

export function parseTags(list: readonly string[]): Record<string, string> {
  const tags = new Map<string, string>();
  for (const item of list) {
    const tag = splitTag(item);
    if (!tag) throw new UsageError(`tag "${item}" is not KEY=VALUE`);
    try {
      validateServiceTag(tag[0], tag[1]);
    } catch (err) {
      throw new UsageError(`-tags ${item}: ${(err as Error).message}`);
    }
    tags.set(tag[0], tag[1]);
  }
  // Own properties even for keys like __proto__ (an assignment would set the prototype instead).
  return Object.fromEntries(tags);
}

export function checkMeshName(mesh: string): void {
  if (!/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?$/.test(mesh)) {
    throw new UsageError(`mesh name "${mesh}" must be 1-10 letters, digits or '-' (it names the interface wg<MESH>)`);
  }
}

export function checkRoot(command: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new NotRoot(`wgmesh ${command} must run as root: it creates a WireGuard interface and sets addresses. Run it with sudo.`);
  }
}

/** What every node (bootstrap or join) is told by its flags; the pure part of turning flags into a node. */
export function nodeInit(values: FlagValues, mesh: string, name: string): NodeInit {
  const listenAddr = values['listen-addr'] as string | undefined;
  return {
    meshName: mesh,
    nodeName: name,
    stateDir: String(values['state-dir']),
    listenPort: Number(values['listen-port']),
    ...(listenAddr ? { listenAddr: resolveListenAddr(listenAddr) } : {}),
    tags: parseTags(values.tags as string[]),
    heartbeatMs: Number(values.heartbeat),
    ...(Number(values['key-rotation']) > 0 ? { keyRotationMs: Number(values['key-rotation']) } : {}),
    rttPort: Number(values['rtt-port']),
    socketPath: String(values.socket),
    ...(values['socket-owner'] ? { socketOwner: String(values['socket-owner']) } : {}),
    ...(values['metrics-addr'] ? { metricsAddr: String(values['metrics-addr']) } : {}),
    ...(values['memberlist-file'] ? { memberlistFile: String(values['memberlist-file']), memberlistFormat: memberlistFormat(values) } : {}),
    keepInterface: Boolean(values['keep-interface']),
    names: namesInit(values, mesh),
  };
}

/** -dns, -dns-domain and -hosts-file as what the node serves its names with. */
export function namesInit(values: FlagValues, mesh: string): MeshNamesInit {
  const given = values['dns-domain'] as string | undefined;
  let domain: string;
  try {
    domain = given ? normalizeDnsDomain(given) : defaultDnsDomain(mesh);
  } catch (err) {
    throw new UsageError(`-dns-domain: ${(err as Error).message}`);
  }
  const hostsFile = values['hosts-file'] as string | undefined;
  return {
    domain,
    ...(values.dns !== false ? { port: DNS_DEFAULTS.port } : {}),
    ...(hostsFile ? { hostsFile } : {}),
  };
}

function memberlistFormat(values: FlagValues): MemberlistFormat {
  const format = String(values['memberlist-format']);
  if (!(MEMBERLIST_FORMATS as readonly string[]).includes(format)) throw new UsageError(`-memberlist-format ${format}: use ${MEMBERLIST_FORMATS.join(' or ')}`);
  return format as MemberlistFormat;
}

/** -wg-backend as the factory the node makes its WireGuard driver with. */
export function wgDriverFactory(values: FlagValues, logger: Logger): WgDriverFactory {
  return createWgDriverFactory(String(values['wg-backend']) as WgBackendChoice, { logger: logger.child({ component: 'wg' }) });
}

/**
 * -listen-addr as the one address to advertise; refused here, before anything starts, when the
 * bootstrap would refuse it at Join. (An address inside the mesh is left to the bootstrap to
 * refuse: a joining node does not know the mesh's CIDR yet.)
 */
export function resolveListenAddr(value: string, interfaces = networkInterfaces()): string {
  let ip = value;
  if (!/^[0-9.]+$/.test(value) && !value.includes(':')) {
    const addrs = interfaces[value];
    const v4 = addrs?.find((a) => a.family === 'IPv4') ?? addrs?.[0];
    if (!v4) throw new UsageError(`-listen-addr ${value}: no such interface with an address (give an IP or an interface name)`);
    ip = v4.address;
  }
  const problem = endpointAddressProblem(ip);
  if (problem) throw new UsageError(`-listen-addr ${value}: ${ip} ${problem}; give an address other nodes can reach this one at`);
  return ip;
}

/** Signals as a foreground command handles them: the first stops, a second exits at once. */
export interface SignalWatch {
  /** The first signal received, if any. */
  readonly received: NodeJS.Signals | undefined;
  /** Resolves with the exit status once the stop a signal began has finished (0, or 1 if it failed). */
  readonly finished: Promise<number>;
  /** Stops listening (the command failed before it ran). */
  dispose(): void;
}

/** Runs stop once on the first SIGINT/SIGTERM; a second signal exits at once. */
export function onSignals(stop: (signal: NodeJS.Signals) => Promise<void>, logger: Logger): SignalWatch {
  let received: NodeJS.Signals | undefined;
  let resolveFinished: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => (resolveFinished = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    if (received) {
      logger.warn(`second ${signal}: exiting now`);
      process.exit(130);
    }
    received = signal;
    logger.info(`${signal} received, shutting down`);
    stop(signal).then(
      () => resolveFinished(0),
      (err) => {
        logger.error('shutdown failed', { err: (err as Error).message });
        resolveFinished(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    get received() {
      return received;
    },
    finished,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** What a node command adds to running its node: how to explain a failed start, and what to show. */
export interface ForegroundHooks {
  /** The error to report for a failed start; `signal` when a signal stopped it before it was up. */
  explain(err: unknown, signal: NodeJS.Signals | undefined): Error;
  /** The node is up (show the summary). */
  started(): void;
  /** The node is about to stop, or failed to start (end the progress display). */
  stopping(): void;
}

/**
 * A foreground node: signals are handled from before the start (a signal during a join being
 * retried stops it cleanly), the node is started, and the command then runs until a signal has
 * stopped it. A start that fails has stopped what it started; its error is explained.
 */
export async function runNode(node: AgentNode, logger: Logger, hooks: ForegroundHooks, runtime: CommandRuntime = {}): Promise<number> {
  let keepCode: NodeJS.Timeout | undefined;
  const signals = onSignals(async () => {
    // A node stopping this early has not done a node's usual work: nothing worth keeping.
    clearTimeout(keepCode);
    hooks.stopping();
    await node.stop();
  }, logger);
  try {
    await node.start();
  } catch (err) {
    hooks.stopping();
    const signal = signals.received;
    if (signal) await signals.finished;
    signals.dispose();
    throw hooks.explain(err, signal);
  }
  hooks.started();
  if (runtime.warmed) keepCode = setTimeout(runtime.warmed, KEEP_CODE_AFTER_START_MS).unref();
  return signals.finished;
}

/** The message of a start a signal stopped: what it was doing, and the cause when there was one. */
export function interrupted(signal: NodeJS.Signals, what: string): StartInterrupted {
  return new StartInterrupted(`stopped by ${signal} before the node was up: ${what}`);
}
