import { networkInterfaces } from 'node:os';
import type { Endpoint } from '../proto/index.js';

export function formatEndpoint(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** "host:port" or "[v6]:port" → parts; throws with the offending text otherwise. */
export function parseHostPort(value: string, defaultPort?: number, minPort = 1): { host: string; port: number } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(value);
  let host: string;
  let portText: string | undefined;
  if (v6) {
    host = v6[1]!;
    portText = v6[2];
  } else {
    const idx = value.lastIndexOf(':');
    if (idx >= 0 && value.indexOf(':') === idx) {
      host = value.slice(0, idx);
      portText = value.slice(idx + 1);
    } else {
      host = value;
    }
  }
  const port = portText === undefined ? defaultPort : Number(portText);
  if (!host || port === undefined || !Number.isInteger(port) || port < minPort || port > 65535) {
    throw new Error(`"${value}" is not HOST:PORT (port ${minPort}-65535)`);
  }
  return { host, port };
}

/**
 * This machine's own addresses as LAN endpoint candidates: every non-loopback, non-link-local
 * address, except those inside the mesh itself (they are only reachable through the mesh).
 */
export function lanEndpoints(listenPort: number, exclude: (ip: string) => boolean = () => false): Endpoint[] {
  const out: Endpoint[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (name.startsWith('wg')) continue;
    for (const addr of addrs ?? []) {
      if (addr.internal) continue;
      if (addr.family === 'IPv6' && addr.address.toLowerCase().startsWith('fe80')) continue;
      if (addr.family === 'IPv4' && addr.address.startsWith('169.254.')) continue;
      if (exclude(addr.address)) continue;
      out.push({ ip: addr.address, port: listenPort, kind: 'ENDPOINT_KIND_LAN' });
    }
  }
  return out;
}
