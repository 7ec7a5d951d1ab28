/**
 * The page's table as data: rows from the status document, then search, sort and paging. Pure
 * and free of the DOM and of node: the page (page/app.ts) and the unit tests use it alike.
 */
import type { InfoResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/InfoResponse';
import type { RttResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/RttResponse';
import { isInternalTag, statusWord } from '../ui/format.js';

export interface Row {
  readonly name: string;
  readonly meshIp: string;
  /** alive, suspect, failed, left, or for this node: alive / disconnected. */
  readonly status: string;
  /** "direct", "via NODE", "relay" (this node relays for others) or "self". */
  readonly path: string;
  readonly endpoint: string;
  /** ms since the epoch, 0: never (and for this node). */
  readonly handshakeMs: number;
  /** 0: not measured. */
  readonly rttMs: number;
  readonly loss: number;
  readonly rxBytes: number;
  readonly txBytes: number;
  readonly tags: Readonly<Record<string, string>>;
  readonly isSelf: boolean;
  readonly isBootstrap: boolean;
}

export function rowsFromStatus(info: InfoResponse__Output): Row[] {
  const selfStatus = info.self?.status ? statusWord(info.self.status) : info.connected || info.isBootstrap ? 'alive' : 'disconnected';
  const self: Row = {
    name: info.nodeName,
    meshIp: info.meshIp,
    status: info.connected || info.isBootstrap ? selfStatus : 'disconnected',
    path: info.relay ? 'relay' : 'self',
    endpoint: info.endpoints.map((e) => `${e.ip}:${e.port}`).join(' '),
    handshakeMs: 0,
    rttMs: 0,
    loss: 0,
    rxBytes: 0,
    txBytes: 0,
    tags: info.tags,
    isSelf: true,
    isBootstrap: info.isBootstrap,
  };
  const peers = info.peers.map((p): Row => ({
    name: p.node?.name ?? '',
    meshIp: p.node?.meshIp ?? '',
    status: statusWord(p.node?.status ?? ''),
    path: p.via ? `via ${p.via}` : 'direct',
    endpoint: p.endpoint,
    handshakeMs: Number(p.latestHandshakeMs),
    rttMs: p.rttMs,
    loss: p.loss,
    rxBytes: Number(p.rxBytes),
    txBytes: Number(p.txBytes),
    tags: p.node?.tags ?? {},
    isSelf: false,
    isBootstrap: p.node?.isBootstrap ?? false,
  }));
  return [self, ...peers];
}

/** The tags a row shows: internal ones (keys starting with "_") only when asked. */
export function shownTags(tags: Readonly<Record<string, string>>, internal: boolean): [string, string][] {
  return Object.entries(tags).filter(([k]) => internal || !isInternalTag(k)).sort(([a], [b]) => a.localeCompare(b));
}

/**
 * Rows matching every word of the query (case-insensitive) in their name, mesh IP, status, path,
 * endpoint or shown tags ("k=v"). "key:value" words match that field only (name:, ip:, status:,
 * path:, tag:).
 */
export function filterRows(rows: readonly Row[], query: string, internal: boolean): Row[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return [...rows];
  return rows.filter((r) => {
    const fields: Record<string, string> = {
      name: r.name.toLowerCase(),
      ip: r.meshIp.toLowerCase(),
      status: r.status,
      path: r.path.toLowerCase(),
      endpoint: r.endpoint.toLowerCase(),
      tag: shownTags(r.tags, internal).map(([k, v]) => `${k}=${v}`).join(' ').toLowerCase(),
    };
    const all = Object.values(fields).join(' ');
    return words.every((w) => {
      const m = /^(name|ip|status|path|endpoint|tag):(.*)$/.exec(w);
      return m ? fields[m[1]!]!.includes(m[2]!) : all.includes(w);
    });
  });
}

export type SortKey = 'name' | 'meshIp' | 'status' | 'path' | 'endpoint' | 'handshake' | 'rtt' | 'traffic' | 'tags';
export type SortDir = 'asc' | 'desc';

const STATUS_ORDER: Record<string, number> = { failed: 0, disconnected: 1, suspect: 2, left: 3, alive: 4 };

/** "198.18.0.10" -> a number that orders addresses numerically (IPv6 falls back to text). */
function ipKey(ip: string): number | string {
  const p = ip.split('.');
  return p.length === 4 && p.every((x) => /^\d+$/.test(x)) ? p.reduce((n, x) => n * 256 + Number(x), 0) : ip;
}

/** A row's value for a column; undefined sorts last whichever the direction (no RTT, never shook hands). */
function sortValue(r: Row, key: SortKey, internal: boolean): number | string | undefined {
  switch (key) {
    case 'name':
      return r.name;
    case 'meshIp':
      return ipKey(r.meshIp);
    case 'status':
      return STATUS_ORDER[r.status] ?? 5;
    case 'path':
      return r.path;
    case 'endpoint':
      return r.endpoint || undefined;
    case 'handshake':
      return r.handshakeMs || undefined;
    case 'rtt':
      return r.rttMs > 0 ? r.rttMs : undefined;
    case 'traffic':
      return r.isSelf ? undefined : r.rxBytes + r.txBytes;
    case 'tags':
      return shownTags(r.tags, internal).map(([k, v]) => `${k}=${v}`).join(',') || undefined;
  }
}

/** A stable sort by one column, ties by name; rows without a value last. */
export function sortRows(rows: readonly Row[], key: SortKey, dir: SortDir, internal = false): Row[] {
  const sign = dir === 'asc' ? 1 : -1;
  const keyed = rows.map((r) => ({ r, v: sortValue(r, key, internal) }));
  keyed.sort((a, b) => {
    if (a.v === undefined || b.v === undefined) return a.v === b.v ? a.r.name.localeCompare(b.r.name) : a.v === undefined ? 1 : -1;
    const c = typeof a.v === 'number' && typeof b.v === 'number' ? a.v - b.v : String(a.v).localeCompare(String(b.v), undefined, { numeric: true });
    return c !== 0 ? sign * c : a.r.name.localeCompare(b.r.name);
  });
  return keyed.map((k) => k.r);
}

export interface Page<T> {
  readonly items: T[];
  /** 0-based, clamped to the pages there are. */
  readonly page: number;
  readonly pages: number;
  /** 1-based index of the first item shown, 0 when none. */
  readonly first: number;
  readonly last: number;
  readonly total: number;
}

export function pageOf<T>(items: readonly T[], page: number, size: number): Page<T> {
  const pages = Math.max(1, Math.ceil(items.length / size));
  const p = Math.min(Math.max(0, page), pages - 1);
  const slice = items.slice(p * size, (p + 1) * size);
  return { items: slice, page: p, pages, first: slice.length ? p * size + 1 : 0, last: p * size + slice.length, total: items.length };
}

/** The matrix as a lookup: rtt[from][to] in ms (0: not measured), in the order of `nodes`. */
export interface Heat {
  readonly nodes: string[];
  readonly rtt: number[][];
  readonly loss: number[][];
  /** The largest RTT measured, for the colour scale. */
  readonly max: number;
}

export function heatFromMatrix(m: RttResponse__Output): Heat {
  const nodes = [...m.nodes].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const index = new Map(nodes.map((n, i) => [n, i]));
  const rtt = nodes.map(() => nodes.map(() => 0));
  const loss = nodes.map(() => nodes.map(() => 0));
  let max = 0;
  for (const row of m.rows) {
    const i = index.get(row.from);
    const j = index.get(row.to);
    if (i === undefined || j === undefined) continue;
    rtt[i]![j] = row.rttMs;
    loss[i]![j] = row.loss;
    max = Math.max(max, row.rttMs);
  }
  return { nodes, rtt, loss, max };
}

/**
 * The top of the colour scale: the slowest pair, but at least 20 ms, so a LAN mesh whose pairs all
 * answer in a millisecond reads green rather than spreading green-to-red over noise.
 */
export function heatScaleTop(max: number): number {
  return Math.max(20, max);
}

/** The hue for a figure: 120 (green, fast) down to 0 (red, the scale's top), on a log scale. */
function heatHue(ms: number, top: number): number {
  const t = top > 0 ? Math.min(1, Math.log1p(ms) / Math.log1p(top)) : 0;
  return Math.round(120 * (1 - t));
}

/** Green (fast) through yellow to red (the scale's top), on a log scale; grey when not measured. */
export function heatColour(ms: number, top: number): string {
  if (!(ms > 0)) return '#e5e7eb';
  return `hsl(${heatHue(ms, top)} 70% 48%)`;
}

/** The same colour as bytes, for drawing big matrices pixel by pixel (ImageData). */
export function heatRgb(ms: number, top: number): [number, number, number] {
  if (!(ms > 0)) return [229, 231, 235];
  const h = heatHue(ms, top);
  const s = 0.7;
  const l = 0.48;
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}
