import { createConnection, isIP } from 'node:net';
import { WgCommandFailed, WgDumpMalformed } from '../errors.js';
import { publicKeyFromPrivate } from './keys.js';
import type { WgDeviceState, WgOp, WgPeerState } from './types.js';
import { presharedKeyInput, wgSetBatches } from './wg-tool.js';

/**
 * wireguard-go's UAPI (the cross-platform userspace API `wg` itself speaks to it): `get=1` and
 * `set=1` over its Unix socket, from this process, so reading and changing the device costs no
 * process start. Keys travel in hex; nothing sent is ever logged (it may hold keys).
 */

/** Unix socket addresses hold 107 bytes and a NUL: a longer path needs `wg` (which can chdir). */
export function fitsUnixSocketAddress(path: string): boolean {
  return Buffer.byteLength(path) < 108;
}

/** One request (its lines; the blank line that ends it is added) and its answer up to errno. */
function exchange(socketPath: string, request: string, timeoutMs: number): Promise<{ body: string; errno: number }> {
  return new Promise((resolve, reject) => {
    let answer = '';
    let timer: NodeJS.Timeout | undefined;
    const socket = createConnection(socketPath);
    const done = (err: Error | undefined, result?: { body: string; errno: number }) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(result!);
    };
    timer = setTimeout(() => done(new WgCommandFailed(`wireguard-go did not answer on ${socketPath} within ${timeoutMs} ms`, { commandLine: 'uapi', timedOut: true })), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${request}\n`));
    socket.on('data', (chunk: string) => {
      answer += chunk;
      const m = /(?:^|\n)errno=(-?\d+)\n\n/.exec(answer);
      if (m) done(undefined, { body: answer.slice(0, m.index), errno: Number(m[1]) });
    });
    socket.on('error', (err) => done(new WgCommandFailed(`wireguard-go's socket ${socketPath}: ${err.message}`, { commandLine: 'uapi' })));
    socket.on('end', () => done(new WgCommandFailed(`wireguard-go closed ${socketPath} without an answer`, { commandLine: 'uapi' })));
  });
}

/** `set=1` with `lines` (key=value): the errno wireguard-go answers (0: done); rejects when it does not answer. */
export async function uapiSet(socketPath: string, lines: readonly string[], timeoutMs = 5_000): Promise<number> {
  const { errno } = await exchange(socketPath, `set=1\n${lines.map((l) => `${l}\n`).join('')}`, timeoutMs);
  return errno;
}

/** `get=1`: the device as `wg show IF dump` would give it (parseUapiGet). */
export async function uapiGet(socketPath: string, name: string, timeoutMs = 5_000): Promise<WgDeviceState> {
  const { body, errno } = await exchange(socketPath, 'get=1\n', timeoutMs);
  if (errno !== 0) throw new WgCommandFailed(`wireguard-go refused get for ${name} (errno ${errno})`, { commandLine: `uapi get ${name}`, exitCode: errno });
  return parseUapiGet(name, body);
}

/** Whether a wireguard-go answers `get=1` on the socket, within `timeoutMs`. */
export async function uapiAnswers(socketPath: string, timeoutMs = 1_000): Promise<boolean> {
  try {
    return (await exchange(socketPath, 'get=1\n', timeoutMs)).errno === 0;
  } catch {
    return false;
  }
}

const hexToBase64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64');
const base64ToHex = (b64: string): string => Buffer.from(b64, 'base64').toString('hex');
const ZERO_KEY = '0'.repeat(64);

/**
 * Pure: a `get=1` answer (its key=value lines, before errno) as WgDeviceState, with what
 * parseWgDump gives for the same device: absent values left out, handshake in whole seconds.
 */
export function parseUapiGet(name: string, text: string): WgDeviceState {
  let publicKey = '';
  let listenPort = 0;
  const peers: WgPeerState[] = [];
  type Building = { publicKey: string; presharedKey?: string; endpoint?: string; allowedIps: string[]; keepalive: number; handshakeS: number; rx: number; tx: number };
  let peer: Building | undefined;
  const finish = () => {
    if (!peer) return;
    peers.push({
      publicKey: peer.publicKey,
      ...(peer.presharedKey !== undefined ? { presharedKey: peer.presharedKey } : {}),
      ...(peer.endpoint !== undefined ? { endpoint: peer.endpoint } : {}),
      allowedIps: peer.allowedIps,
      ...(peer.keepalive > 0 ? { persistentKeepalive: peer.keepalive } : {}),
      latestHandshakeMs: peer.handshakeS * 1000,
      rxBytes: peer.rx,
      txBytes: peer.tx,
    });
    peer = undefined;
  };
  const integer = (value: string, key: string): number => {
    if (!/^\d+$/.test(value)) throw new WgDumpMalformed(`wireguard-go's get for ${name}: ${key} is "${value}", expected a number`);
    return Number(value);
  };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new WgDumpMalformed(`wireguard-go's get for ${name}: "${line.slice(0, 40)}" is not key=value`);
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'public_key') {
      finish();
      peer = { publicKey: hexToBase64(value), allowedIps: [], keepalive: 0, handshakeS: 0, rx: 0, tx: 0 };
      continue;
    }
    if (!peer) {
      if (key === 'private_key' && value !== ZERO_KEY) publicKey = publicKeyFromPrivate(hexToBase64(value));
      else if (key === 'listen_port') listenPort = integer(value, key);
      continue;
    }
    switch (key) {
      case 'preshared_key':
        if (value !== ZERO_KEY) peer.presharedKey = hexToBase64(value);
        break;
      case 'endpoint':
        peer.endpoint = value;
        break;
      case 'allowed_ip':
        peer.allowedIps.push(value);
        break;
      case 'persistent_keepalive_interval':
        peer.keepalive = integer(value, key);
        break;
      case 'last_handshake_time_sec':
        peer.handshakeS = integer(value, key);
        break;
      case 'rx_bytes':
        peer.rx = integer(value, key);
        break;
      case 'tx_bytes':
        peer.tx = integer(value, key);
        break;
      default:
        // protocol_version, last_handshake_time_nsec, …: not part of the device state.
        break;
    }
  }
  finish();
  return { name, publicKey, listenPort, peers };
}

/** An endpoint UAPI takes as it is: an IP literal and a port (a host name or an IPv6 zone needs `wg`, which resolves them). */
function literalEndpoint(endpoint: string): boolean {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(endpoint);
  if (!m) return false;
  const ip = m[1] ?? m[2]!;
  return isIP(ip) === (m[1] !== undefined ? 6 : 4) && Number(m[3]) <= 65535;
}

/**
 * Pure: the `set=1` lines that apply `ops` in order as `wg set` applies them (allowed IPs replaced,
 * keepalive always given, an absent endpoint or preshared key kept); undefined when one needs
 * `wg` (an endpoint that is not an IP literal). Checked as wgSetBatches checks them: a bad op
 * throws InvalidWgConfig before anything is sent.
 */
export function uapiSetLines(name: string, ops: readonly WgOp[]): string[] | undefined {
  wgSetBatches(name, ops);
  presharedKeyInput(ops);
  const lines: string[] = [];
  for (const op of ops) {
    if (op.op === 'remove-peer') {
      lines.push(`public_key=${base64ToHex(op.publicKey)}`, 'remove=true');
      continue;
    }
    const { peer } = op;
    if (peer.endpoint !== undefined && !literalEndpoint(peer.endpoint)) return undefined;
    lines.push(`public_key=${base64ToHex(peer.publicKey)}`);
    if (peer.presharedKey !== undefined) lines.push(`preshared_key=${base64ToHex(peer.presharedKey)}`);
    if (peer.endpoint !== undefined) lines.push(`endpoint=${peer.endpoint}`);
    lines.push(`persistent_keepalive_interval=${peer.persistentKeepalive ?? 0}`, 'replace_allowed_ips=true');
    for (const ip of peer.allowedIps) lines.push(`allowed_ip=${ip.includes('/') ? ip : `${ip}/${isIP(ip) === 6 ? 128 : 32}`}`);
  }
  return lines;
}
