import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';

/**
 * The IPv4 default gateway from /proc/net/route text: the first up (RTF_UP) gateway (RTF_GATEWAY)
 * route to 0.0.0.0/0 with the lowest metric. Addresses there are hex in host (little-endian) order.
 */
export function parseDefaultGateway(routeTable: string): string | undefined {
  let best: { ip: string; metric: number } | undefined;
  for (const line of routeTable.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [, destination, gateway, flagsHex, , , metricText, mask] = f as [string, string, string, string, string, string, string, string];
    const flags = Number.parseInt(flagsHex, 16);
    if (destination !== '00000000' || mask !== '00000000' || (flags & 0x3) !== 0x3 || !/^[0-9A-Fa-f]{8}$/.test(gateway)) continue;
    const n = Number.parseInt(gateway, 16);
    const ip = [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join('.');
    const metric = Number(metricText);
    if (ip === '0.0.0.0') continue;
    if (!best || metric < best.metric) best = { ip, metric };
  }
  return best?.ip;
}

/** This host's IPv4 default gateway, or undefined when it has none (or no /proc). */
export async function defaultGateway(path = '/proc/net/route'): Promise<string | undefined> {
  try {
    return parseDefaultGateway(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The source address the kernel picks toward `gateway` (a connected UDP socket; nothing is sent). */
export async function localAddressToward(gateway: string, port = 5351): Promise<string> {
  const socket = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(port, gateway, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return socket.address().address;
  } finally {
    socket.close();
  }
}
