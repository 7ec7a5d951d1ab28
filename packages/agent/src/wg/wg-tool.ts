import { isIP } from 'node:net';
import { parseWgDump } from './dump.js';
import { InterfaceNotUp, InvalidWgConfig, ListenPortInUse, WgCommandFailed } from '../errors.js';
import type { CommandRunner, RunOptions } from './exec.js';
import { isWgKey } from './keys.js';
import type { WgDeviceState, WgInterfaceConfig, WgOp } from './types.js';

/** Shared by the kernel and userspace drivers: both are driven with `wg` and `ip`. */

export const DEFAULT_MTU = 1420;
/** Peers per `wg set` call: one process per membership change, and a bounded argv. */
export const MAX_PEERS_PER_WG_SET = 100;

export interface LinkInfo {
  readonly name: string;
  /** `ip -d link`'s info_kind: "wireguard", "tun", "veth", … ("" when the kernel reports none). */
  readonly kind: string;
  /** For tun devices: a persistent tun outlives its process, so it cannot be a wireguard-go device. */
  readonly persistent?: boolean;
  readonly up: boolean;
}

export function validateInterfaceName(name: string): void {
  // The kernel's IFNAMSIZ is 16 including the NUL; "/" and whitespace break ip and the socket path.
  if (!/^[A-Za-z0-9_.=+-]{1,15}$/.test(name) || name === '.' || name === '..') {
    throw new InvalidWgConfig(`invalid interface name "${name}": use 1-15 letters, digits or _.=+-`);
  }
}

/** `ip -d link show dev IF`, or undefined if there is no such interface. */
export async function linkInfo(runner: CommandRunner, name: string): Promise<LinkInfo | undefined> {
  let stdout: string;
  try {
    ({ stdout } = await runner.run('ip', ['-j', '-d', 'link', 'show', 'dev', name]));
  } catch (err) {
    if (err instanceof WgCommandFailed && /does not exist/i.test(err.details.stderr ?? '')) return undefined;
    throw err;
  }
  const parsed: unknown = JSON.parse(stdout);
  const entry = Array.isArray(parsed) ? (parsed[0] as IpLinkJson | undefined) : undefined;
  if (!entry) return undefined;
  const persist = entry.linkinfo?.info_data?.persist;
  return {
    name: entry.ifname ?? name,
    kind: entry.linkinfo?.info_kind ?? '',
    ...(typeof persist === 'boolean' ? { persistent: persist } : {}),
    up: (entry.flags ?? []).includes('UP'),
  };
}

interface IpLinkJson {
  ifname?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string; info_data?: { persist?: boolean } };
}

interface IpAddrJson {
  addr_info?: { family?: string; local?: string; prefixlen?: number; scope?: string }[];
}

/** Delete the interface; false if it was already gone. */
export async function deleteLink(runner: CommandRunner, name: string): Promise<boolean> {
  try {
    await runner.run('ip', ['link', 'del', 'dev', name]);
    return true;
  } catch (err) {
    if (err instanceof WgCommandFailed && /does not exist|Cannot find device/i.test(err.details.stderr ?? '')) return false;
    throw err;
  }
}

/**
 * Throws InvalidWgConfig for an interface config `wg` or `ip` would refuse: a private key that is
 * not canonical base64 of 32 bytes, a listen port outside 0-65535, an address that is not an IP
 * with a prefix length that fits it. Every driver checks this before it creates anything, so a
 * bad config leaves no interface behind.
 */
export function checkInterfaceConfig(config: WgInterfaceConfig): void {
  const { name } = config;
  if (!isWgKey(config.privateKey)) throw new InvalidWgConfig(`interface ${name}: the private key is not base64 of 32 bytes`);
  if (!Number.isInteger(config.listenPort) || config.listenPort < 0 || config.listenPort > 65535) {
    throw new InvalidWgConfig(`interface ${name}: listen port ${config.listenPort} is not 0-65535`);
  }
  if (config.address !== undefined) checkAddress(name, config.address);
}

function checkAddress(name: string, address: string): void {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(address);
  const family = match ? isIP(match[1]!) : 0;
  if (!match || family === 0 || Number(match[2]) > (family === 4 ? 32 : 128)) {
    throw new InvalidWgConfig(`interface ${name}: address "${address}" is not ip/prefix (e.g. 198.18.0.2/16)`);
  }
}

/**
 * Key, port, address (when given), MTU, link up. Idempotent, so it serves a fresh interface, one taken over
 * from an earlier run, and a userspace device restarted after a crash. The private key goes
 * through stdin so it never appears in a process list or an error message.
 */
export async function configureInterface(runner: CommandRunner, config: WgInterfaceConfig): Promise<void> {
  checkInterfaceConfig(config);
  await setKeyAndPort(runner, config);
  await configureLink(runner, config);
}

/** configureInterface's first half: key and port, with `wg set` (the key through stdin). */
export async function setKeyAndPort(runner: CommandRunner, config: WgInterfaceConfig): Promise<void> {
  const { name } = config;
  // Node gives a child a socketpair, not a pipe, as stdin, and wg cannot open that as
  // /dev/stdin (ENXIO); cat turns it into a real pipe.
  try {
    await runner.run('sh', ['-c', 'cat | exec wg set "$0" private-key /dev/stdin listen-port "$1"', name, String(config.listenPort)], {
      input: `${config.privateKey}\n`,
    });
  } catch (err) {
    if (err instanceof WgCommandFailed && /Address already in use/i.test(err.details.stderr ?? '')) throw new ListenPortInUse(name, config.listenPort, { cause: err });
    throw err;
  }
}

/** configureInterface's second half: address (when given), MTU, link up. */
export async function configureLink(runner: CommandRunner, config: WgInterfaceConfig): Promise<void> {
  const { name } = config;
  if (config.address !== undefined) await setAddress(runner, name, config.address);
  await runner.run('ip', ['link', 'set', 'dev', name, 'mtu', String(config.mtu ?? DEFAULT_MTU), 'up']);
}

/** A new private key on a running interface (key rotation), through stdin as in configureInterface. */
export async function setPrivateKey(runner: CommandRunner, name: string, privateKey: string): Promise<void> {
  if (!isWgKey(privateKey)) throw new InvalidWgConfig(`interface ${name}: the private key is not base64 of 32 bytes`);
  await runner.run('sh', ['-c', 'cat | exec wg set "$0" private-key /dev/stdin', name], { input: `${privateKey}\n` });
}

/**
 * Make `address` the interface's only global address (a taken-over interface may carry an old
 * one). `fresh`: the caller made the interface and gave it no address, so there is none to list.
 */
export async function setAddress(runner: CommandRunner, name: string, address: string, options: { fresh?: boolean } = {}): Promise<void> {
  checkAddress(name, address);
  if (options.fresh) {
    await runner.run('ip', ['address', 'replace', address, 'dev', name]);
    return;
  }
  const { stdout } = await runner.run('ip', ['-j', 'address', 'show', 'dev', name]);
  const parsed: unknown = JSON.parse(stdout || '[]');
  const infos = Array.isArray(parsed) ? (parsed as IpAddrJson[]).flatMap((e) => e.addr_info ?? []) : [];
  for (const info of infos) {
    if (info.scope !== 'global' || !info.local || info.prefixlen === undefined) continue;
    const existing = `${info.local}/${info.prefixlen}`;
    if (existing !== address) await runner.run('ip', ['address', 'del', existing, 'dev', name]);
  }
  await runner.run('ip', ['address', 'replace', address, 'dev', name]);
}

/** `wg show IF dump`; InterfaceNotUp when there is no such WireGuard interface. */
export async function readDevice(runner: CommandRunner, name: string): Promise<WgDeviceState> {
  const { stdout } = await runWg(runner, name, ['wg', 'show', name, 'dump']);
  return parseWgDump(name, stdout);
}

/**
 * Apply ops in order with one `wg set` per batch of peers. An empty list runs nothing. The
 * preshared keys of a batch's peers go first (so a new peer never tries a handshake without its
 * key), each through a pipe: never in an argument list or a file.
 */
export async function applyOps(runner: CommandRunner, name: string, ops: readonly WgOp[]): Promise<void> {
  for (let i = 0; i < ops.length; i += MAX_PEERS_PER_WG_SET) {
    const chunk = ops.slice(i, i + MAX_PEERS_PER_WG_SET);
    // Built (and so checked) before anything runs: a bad peer must not leave a half-set one behind.
    const batches = wgSetBatches(name, chunk);
    const keyed = presharedKeyInput(chunk);
    if (keyed) await runWg(runner, name, ['sh', '-c', SET_PRESHARED_KEYS, name], { input: keyed });
    for (const args of batches) await runWg(runner, name, ['wg', ...args]);
  }
}

/**
 * Reads "PUBLIC-KEY PRESHARED-KEY" lines on stdin and sets each with `wg set IF peer K
 * preshared-key /dev/stdin`, the key piped by the shell's builtin printf (no process sees it in
 * its arguments). wg cannot read a socketpair as /dev/stdin, which is what Node gives a child.
 */
const SET_PRESHARED_KEYS = 'while read -r peer psk; do printf \'%s\\n\' "$psk" | wg set "$0" peer "$peer" preshared-key /dev/stdin || exit 1; done';

/** Pure: the stdin of SET_PRESHARED_KEYS for the set-peers among `ops` that carry a key; undefined when none does. */
export function presharedKeyInput(ops: readonly WgOp[]): string | undefined {
  const lines: string[] = [];
  for (const op of ops) {
    if (op.op !== 'set-peer' || op.peer.presharedKey === undefined) continue;
    checkKey(op.peer.publicKey);
    // The key itself is never quoted in a message.
    if (!isWgKey(op.peer.presharedKey)) throw new InvalidWgConfig(`peer ${op.peer.publicKey}: the preshared key is not base64 of 32 bytes`);
    lines.push(`${op.peer.publicKey} ${op.peer.presharedKey}\n`);
  }
  return lines.length > 0 ? lines.join('') : undefined;
}

/**
 * Runs `wg`, naming a missing interface InterfaceNotUp. With no userspace socket for the name,
 * `wg` asks the kernel: "No such device" where the module is loaded, "Protocol not supported"
 * where there is none (then no WireGuard interface of any name can exist in the kernel).
 */
async function runWg(runner: CommandRunner, name: string, command: string[], options?: RunOptions): Promise<{ stdout: string }> {
  const [cmd = 'wg', ...args] = command;
  try {
    return await runner.run(cmd, args, options);
  } catch (err) {
    if (err instanceof WgCommandFailed && /No such device|Protocol not supported/i.test(err.details.stderr ?? '')) throw new InterfaceNotUp(name, { cause: err });
    throw err;
  }
}

/**
 * Pure: the argument lists of the `wg set` calls that apply `ops` in order. On `wg set`,
 * `allowed-ips` replaces the peer's list, and keepalive is always given (possibly "off") so an
 * update can turn it off. A set-peer without an endpoint leaves an existing endpoint alone: wg
 * cannot clear one short of removing the peer.
 */
export function wgSetBatches(name: string, ops: readonly WgOp[], maxPeers = MAX_PEERS_PER_WG_SET): string[][] {
  const batches: string[][] = [];
  let current: string[] = [];
  let peers = 0;
  for (const op of ops) {
    if (peers === maxPeers) {
      batches.push(current);
      current = [];
      peers = 0;
    }
    if (current.length === 0) current.push('set', name);
    peers += 1;
    if (op.op === 'remove-peer') {
      checkKey(op.publicKey);
      current.push('peer', op.publicKey, 'remove');
      continue;
    }
    const { peer } = op;
    checkKey(peer.publicKey);
    current.push('peer', peer.publicKey);
    if (peer.endpoint !== undefined) {
      if (!/^(\[[0-9a-fA-F:.%\w]+\]|[^\s:[\]]+):\d{1,5}$/.test(peer.endpoint)) {
        throw new InvalidWgConfig(`peer ${peer.publicKey}: endpoint "${peer.endpoint}" is not host:port or [v6]:port`);
      }
      current.push('endpoint', peer.endpoint);
    }
    for (const ip of peer.allowedIps) {
      if (!/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(ip)) throw new InvalidWgConfig(`peer ${peer.publicKey}: allowed IP "${ip}" is not ip[/prefix]`);
    }
    current.push('allowed-ips', peer.allowedIps.join(','));
    const keepalive = peer.persistentKeepalive ?? 0;
    if (!Number.isInteger(keepalive) || keepalive < 0 || keepalive > 65535) {
      throw new InvalidWgConfig(`peer ${peer.publicKey}: persistent keepalive ${keepalive} is not 0-65535 seconds`);
    }
    current.push('persistent-keepalive', keepalive > 0 ? String(keepalive) : 'off');
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

function checkKey(key: string): void {
  if (!isWgKey(key)) throw new InvalidWgConfig(`"${key}" is not a WireGuard public key (base64 of 32 bytes)`);
}
