import { InvalidTag } from './errors.js';
import { excerpt } from './limits.js';
import { compareNames } from './netmap/netmap.js';

/**
 * Services, as the original wgmesh declares them: a tag `svc:NAME` on the node that offers NAME,
 * its value comma-separated `key=value` pairs where `port` is the service's port and every other
 * pair is a tag of the service (`svc:web` = `port=80,proto=tcp`). A bare port (`svc:web` = `80`)
 * is the short form this project's README named before; a pair without `=` is a tag with an
 * empty value, as the original reads it.
 */

export const SERVICE_TAG_PREFIX = 'svc:';

export interface ServiceTag {
  readonly name: string;
  readonly port: number;
  readonly tags: Readonly<Record<string, string>>;
}

/** One service offered by one node. */
export interface NodeService extends ServiceTag {
  readonly node: string;
  readonly meshIp: string;
}

export function isServiceTag(key: string): boolean {
  return key.startsWith(SERVICE_TAG_PREFIX) && key.length > SERVICE_TAG_PREFIX.length;
}

/** The service a `svc:NAME` tag declares (undefined for any other tag); InvalidTag saying what is wrong with a bad one. */
export function parseServiceTag(key: string, value: string): ServiceTag | undefined {
  if (!isServiceTag(key)) return undefined;
  const name = key.slice(SERVICE_TAG_PREFIX.length);
  const field = `tags[${excerpt(key)}]`;
  const example = `e.g. ${key}=port=80,proto=tcp`;
  if (/^\s*\d+\s*$/.test(value)) return { name, port: checkPort(value.trim(), field, example), tags: {} };
  let port: number | undefined;
  const tags = new Map<string, string>();
  for (const pair of value.split(',')) {
    const eq = pair.indexOf('=');
    const k = (eq >= 0 ? pair.slice(0, eq) : pair).trim();
    const v = eq >= 0 ? pair.slice(eq + 1).trim() : '';
    if (!k) {
      if (!pair.trim() && eq < 0) continue;
      throw new InvalidTag(field, `${excerpt(pair)} has no key: a service is comma-separated key=value pairs with port=PORT (${example})`);
    }
    if (k === 'port') {
      if (port !== undefined) throw new InvalidTag(field, `port is given twice (${example})`);
      port = checkPort(v, field, example);
    } else tags.set(k, v);
  }
  if (port === undefined) throw new InvalidTag(field, `a service needs port=PORT (${example})`);
  return { name, port, tags: Object.fromEntries(tags) };
}

function checkPort(text: string, field: string, example: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new InvalidTag(field, `port ${excerpt(text)} is not a port number (1-65535; ${example})`);
  return port;
}

/** Throws InvalidTag when `key` declares a service and `value` is not a valid one. */
export function validateServiceTag(key: string, value: string): void {
  parseServiceTag(key, value);
}

/**
 * Every service the nodes declare, one entry per node offering it, by service then node name.
 * A node's invalid declaration (set by a node that did not check it) is left out.
 */
export function servicesOf(nodes: Iterable<{ readonly name: string; readonly meshIp: string; readonly tags: Readonly<Record<string, string>> }>): NodeService[] {
  const out: NodeService[] = [];
  for (const node of nodes) {
    for (const [key, value] of Object.entries(node.tags)) {
      let service: ServiceTag | undefined;
      try {
        service = parseServiceTag(key, value);
      } catch {
        continue;
      }
      if (service) out.push({ ...service, node: node.name, meshIp: node.meshIp });
    }
  }
  return out.sort((a, b) => compareNames(a.name, b.name) || compareNames(a.node, b.node));
}
