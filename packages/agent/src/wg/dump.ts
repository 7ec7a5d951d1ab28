import { WgDumpMalformed } from '../errors.js';
import type { WgDeviceState, WgPeerState } from './types.js';

const NONE = '(none)';

/**
 * Parse `wg show <if> dump`: one tab-separated interface line (private-key, public-key,
 * listen-port, fwmark), then one line per peer (public-key, preshared-key, endpoint,
 * allowed-ips, latest-handshake in unix seconds, transfer-rx, transfer-tx, persistent-keepalive).
 * Absent values ("(none)", "off") are left out of the result rather than set to undefined, so a
 * peer read back compares equal to the config it was set from.
 */
export function parseWgDump(interfaceName: string, text: string): WgDeviceState {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const [head, ...peerLines] = lines;
  if (head === undefined) throw new WgDumpMalformed(`wg show ${interfaceName} dump printed nothing`);
  const iface = head.split('\t');
  if (iface.length !== 4) {
    throw new WgDumpMalformed(`wg show ${interfaceName} dump: interface line has ${iface.length} fields, expected 4`);
  }
  const [, publicKey, listenPort] = iface as [string, string, string, string];
  return {
    name: interfaceName,
    publicKey: publicKey === NONE ? '' : publicKey,
    listenPort: integer(listenPort, 'listen-port', interfaceName),
    peers: peerLines.map((line) => parsePeer(line, interfaceName)),
  };
}

function parsePeer(line: string, interfaceName: string): WgPeerState {
  const fields = line.split('\t');
  if (fields.length !== 8) {
    throw new WgDumpMalformed(`wg show ${interfaceName} dump: peer line has ${fields.length} fields, expected 8`);
  }
  const [publicKey, presharedKey, endpoint, allowedIps, handshake, rx, tx, keepalive] = fields as [
    string, string, string, string, string, string, string, string,
  ];
  const keepaliveSeconds = keepalive === 'off' ? 0 : integer(keepalive, 'persistent-keepalive', interfaceName);
  return {
    publicKey,
    ...(presharedKey === NONE || presharedKey === '' ? {} : { presharedKey }),
    ...(endpoint === NONE ? {} : { endpoint }),
    allowedIps: allowedIps === NONE || allowedIps === '' ? [] : allowedIps.split(','),
    ...(keepaliveSeconds > 0 ? { persistentKeepalive: keepaliveSeconds } : {}),
    latestHandshakeMs: integer(handshake, 'latest-handshake', interfaceName) * 1000,
    rxBytes: integer(rx, 'transfer-rx', interfaceName),
    txBytes: integer(tx, 'transfer-tx', interfaceName),
  };
}

function integer(value: string, field: string, interfaceName: string): number {
  if (!/^\d+$/.test(value)) throw new WgDumpMalformed(`wg show ${interfaceName} dump: ${field} is "${value}", expected a number`);
  return Number(value);
}
