import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { parseHostPort } from '../endpoints/endpoints.js';

/** Every address (A and AAAA) a host name resolves to. */
export type LookupAll = (host: string) => Promise<string[]>;

/** The system resolver (hosts file, then DNS), both families, in the order it gives them. */
export const systemLookupAll: LookupAll = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/**
 * HOST:PORT as dialed, as one address per bootstrap: a host name that resolves to several
 * addresses gives one HOST:PORT each (an IPv6 address in brackets), so each counts as its own
 * bootstrap. An IP address, a name with one address, or a name that does not resolve now stays
 * as it is (gRPC resolves it when it dials, as it always did).
 */
export async function resolveAddresses(address: string, lookupAll: LookupAll = systemLookupAll): Promise<{ address: string; ip?: string }[]> {
  let host: string;
  let port: number;
  try {
    ({ host, port } = parseHostPort(address));
  } catch {
    return [{ address }];
  }
  if (isIP(host)) return [{ address }];
  let ips: string[];
  try {
    ips = [...new Set(await lookupAll(host))];
  } catch {
    return [{ address }];
  }
  if (ips.length <= 1) return [{ address }];
  return ips.map((ip) => ({ address: `${ip.includes(':') ? `[${ip}]` : ip}:${port}`, ip }));
}
