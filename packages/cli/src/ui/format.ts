import type { InfoResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/InfoResponse';
import type { RttResponse__Output } from '@wgmesh/agent/proto/gen/wgmesh/v1/RttResponse';

/** Plain-text views of the node status: what `info` prints when piped, and what the dashboard shows. */

export function ago(ms: number, now = Date.now()): string {
  if (!ms) return 'never';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(1)} GiB`;
}

/** Tags whose key starts with `_` are internal: hidden unless asked for. */
export function isInternalTag(key: string): boolean {
  return key.startsWith('_');
}

/** Tags as shown: internal ones (`_…`) are hidden. */
export function visibleTags(tags: Readonly<Record<string, string>>): string {
  return Object.entries(tags).filter(([k]) => !isInternalTag(k)).map(([k, v]) => `${k}=${v}`).join(',');
}

export function statusWord(status: string): string {
  return status.replace('NODE_STATUS_', '').toLowerCase() || 'unknown';
}

/** Columns two spaces apart, each as wide as its widest cell; every line starts with `indent`. */
export function table(rows: string[][], indent = ''): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => (indent + r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).trimEnd()).join('\n');
}

export interface NodeRow {
  readonly name: string;
  readonly meshIp: string;
  readonly status: string;
  readonly endpoint: string;
  /** "direct", "via <relay>", or for this node whether it relays. */
  readonly path: string;
  readonly handshake: string;
  readonly rtt: string;
  readonly transfer: string;
  readonly tags: string;
}

/** One row per node, this node first. */
export function nodeRows(info: InfoResponse__Output, now = Date.now()): NodeRow[] {
  const self: NodeRow = {
    name: `${info.nodeName} (this node${info.isBootstrap ? ', bootstrap' : ''})`,
    meshIp: info.meshIp,
    status: info.connected || info.isBootstrap ? 'alive' : 'disconnected',
    endpoint: info.endpoints.map((e) => `${e.ip}:${e.port}`).join(' ') || '-',
    path: info.relay ? 'relay' : '-',
    handshake: '-',
    rtt: '-',
    transfer: '-',
    tags: visibleTags(info.tags),
  };
  const peers = info.peers.map((p): NodeRow => ({
    name: p.node!.name + (p.node!.isBootstrap ? ' (bootstrap)' : ''),
    meshIp: p.node!.meshIp,
    status: statusWord(p.node!.status),
    endpoint: p.endpoint || '-',
    path: p.via ? `via ${p.via}` : 'direct',
    handshake: ago(Number(p.latestHandshakeMs), now),
    rtt: p.rttMs ? `${p.rttMs.toFixed(2)} ms${rttAge(Number(p.rttMeasuredAtMs ?? 0), now)}` : '-',
    transfer: `${bytes(Number(p.rxBytes))} / ${bytes(Number(p.txBytes))}`,
    tags: visibleTags(p.node!.tags),
  }));
  return [self, ...peers];
}

/** A figure measured a while ago says so (peers at rest are probed every 30 s): ", 25 s ago". */
function rttAge(measuredAtMs: number, now: number): string {
  return measuredAtMs > 0 && now - measuredAtMs >= RTT_AGE_SHOWN_MS ? `, ${ageText(measuredAtMs, now)} ago` : '';
}

/** A figure at least this old shows its age in info. */
const RTT_AGE_SHOWN_MS = 5_000;

/** The bootstraps a node would move to, when it knows more than the current one. */
function otherBootstraps(info: InfoResponse__Output): string {
  const others = (info.bootstrapAddrs ?? []).filter((a) => a !== info.bootstrapAddr);
  return others.length ? ` (fails over to ${others.join(', ')})` : '';
}

export function formatInfo(info: InfoResponse__Output, now = Date.now()): string {
  const header = [
    ...originalInfoLines(info),
    `mesh ${info.meshName}  ${info.meshCidr}  revision ${info.revision}  ` +
      (info.isBootstrap ? `this node is the bootstrap (join service on ${info.bootstrapAddr})` : `${info.connected ? 'connected' : 'NOT connected'} to bootstrap ${info.bootstrapAddr}${otherBootstraps(info)}`),
    `interface ${info.interface} (${info.backend}), UDP port ${info.listenPort}, public key ${info.publicKey}${info.behindNat ? ', behind NAT' : ''}`,
    ...(info.relay ? [relayLine(info)] : []),
    ...(info.l2 ? [l2Line(info.l2)] : []),
    ...(info.certificateRefusal ? [certificateLine(info)] : []),
    ...(info.controlError ? [`the bootstrap refuses this node's calls: ${info.controlError}`] : []),
    ...certificateLines(info, now),
    '',
  ].join('\n');
  const rows = nodeRows(info, now).map((r) => [r.name, r.meshIp, r.status, r.endpoint, r.path, r.handshake, r.rtt, r.transfer, r.tags]);
  return header + table([['NODE', 'MESH IP', 'STATUS', 'ENDPOINT', 'PATH', 'HANDSHAKE', 'RTT', 'RX / TX', 'TAGS'], ...rows]) + '\n' + servicesSection(info);
}

/**
 * The original wgmesh's first two lines of `info` (scripts read them):
 * `Mesh 'NAME' has N nodes, started TIME` and `This node 'NODE' joined TIME`.
 */
export function originalInfoLines(info: InfoResponse__Output): string[] {
  const joined = Number(info.self?.joinedAtMs ?? 0);
  return [
    `Mesh '${info.meshName}' has ${info.peers.length + 1} nodes, started ${goTime(Number(info.meshCreatedMs))}`,
    `This node '${info.nodeName}' joined ${joined ? goTime(joined) : '(not yet)'}`,
  ];
}

/**
 * A time as Go's time.Time prints it (the original's lines): 2026-12-02 08:39:27 +0000 UTC.
 * In the local zone at offset 0 (servers run UTC) it is written from the date's own fields: the
 * first Intl.DateTimeFormat of a process loads ICU's zone and locale data, ~20 ms of every
 * `wgmesh info`. Any other zone, or an explicit one, asks Intl for its name.
 */
export function goTime(ms: number, timeZone?: string): string {
  const date = new Date(ms);
  if (timeZone === undefined && date.getTimezoneOffset() === 0) {
    const two = (n: number) => String(n).padStart(2, '0');
    return `${String(date.getUTCFullYear()).padStart(4, '0')}-${two(date.getUTCMonth() + 1)}-${two(date.getUTCDate())} ${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} +0000 UTC`;
  }
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'longOffset' })
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  const zone = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'short' }).formatToParts(new Date(ms)).find((p) => p.type === 'timeZoneName')?.value ?? '';
  // "GMT+01:00" (or "GMT" for UTC) as Go's "+0100".
  const offset = /^GMT([+-]\d\d):?(\d\d)$/.exec(parts.timeZoneName ?? '');
  const numeric = offset ? `${offset[1]}${offset[2]}` : '+0000';
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} ${numeric} ${zone === 'GMT' ? 'UTC' : zone}`;
}

/** The services the nodes declare (svc:NAME tags): one line per node offering one; nothing when there are none. */
export function servicesSection(info: InfoResponse__Output): string {
  if (!info.services?.length) return '';
  const rows = info.services.map((s) => [s.name, s.node, `${s.meshIp.includes(':') ? `[${s.meshIp}]` : s.meshIp}:${s.port}`, Object.entries(s.tags).map(([k, v]) => (v ? `${k}=${v}` : k)).join(',')]);
  return '\nservices:\n' + table([['SERVICE', 'NODE', 'ADDRESS', 'TAGS'], ...rows]) + '\n';
}

/** `certificate: revoked (serial 1a2b) since 2026-…`: the bootstrap refuses this node's own certificate. */
export function certificateLine(info: InfoResponse__Output): string {
  const r = info.certificateRefusal!;
  return `certificate: ${r.state}${r.serial ? ` (serial ${r.serial})` : ''}, refused by the bootstrap since ${new Date(Number(r.sinceMs)).toISOString()}`;
}

/** The node's certificate and CA: days left, the next renewal, and a failing renewal. */
export function certificateLines(info: InfoResponse__Output, now = Date.now()): string[] {
  if (!Number(info.certNotAfterMs)) return [];
  const span = (ms: number) => {
    const s = Math.round(ms / 1000);
    return s >= 86_400 ? `${Math.floor(s / 86_400)} days` : `${s} s`;
  };
  const left = (ms: number) => (ms < now ? 'EXPIRED' : `${span(ms - now)} left`);
  const renew = Number(info.certRenewAtMs) > now ? `renews in ${span(Number(info.certRenewAtMs) - now)}` : 'renewing now';
  return [
    `certificate serial ${info.certSerial.slice(0, 16)}…: ${left(Number(info.certNotAfterMs))}, ${renew}${Number(info.certRenewals) ? ` (${info.certRenewals} renewed since start)` : ''}; CA: ${left(Number(info.caNotAfterMs))}`,
    ...(info.certRenewError ? [`certificate renewal failing: ${info.certRenewError}`] : []),
  ];
}

/** `layer 2: bridge brM (vxlan vxM, VNI 123, UDP 4789), MTU 1370, flooding to 3 peers`. */
export function l2Line(l2: NonNullable<InfoResponse__Output['l2']>): string {
  const ports = l2.bridgeIfs.length ? `, with ${l2.bridgeIfs.join(', ')}` : '';
  const address = l2.address ? `, address ${l2.address}` : '';
  const state = l2.up ? `MTU ${l2.mtu}, flooding to ${l2.floodEntries} peer${l2.floodEntries === 1 ? '' : 's'}` : 'NOT up';
  return `layer 2: bridge ${l2.bridge} (vxlan ${l2.vxlan}, VNI ${l2.vni}, UDP ${l2.port}${ports}${address}), ${state}${l2.error ? `: ${l2.error}` : ''}`;
}

/** A relay's own line: how many pairs route through it and what it forwarded. */
export function relayLine(info: InfoResponse__Output): string {
  const pairs = Number(info.relayPairs);
  return `relaying for ${pairs} pair${pairs === 1 ? '' : 's'} of nodes, ${bytes(Number(info.relayedBytes))} forwarded`;
}

/** How old a figure measured at `atMs` is, shortly: "0.4 s", "25 s", "3 min". */
export function ageText(atMs: number, nowMs: number): string {
  const s = Math.max(0, nowMs - atMs) / 1000;
  return s < 10 ? `${s.toFixed(1)} s` : s < 120 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`;
}

/** A figure older than this gets its age in its cell. */
const RTT_CELL_AGE_MS = 60_000;

export function formatRtt(matrix: RttResponse__Output, nowMs = Date.now()): string {
  const names = matrix.nodes;
  const cell = new Map(matrix.rows.map((r) => [`${r.from}\u0000${r.to}`, r]));
  const rows = names.map((from) => [
    from,
    ...names.map((to) => {
      if (from === to) return '-';
      const r = cell.get(`${from}\u0000${to}`);
      if (!r) return '?';
      const at = Number(r.measuredAtMs ?? 0);
      const old = at > 0 && nowMs - at > RTT_CELL_AGE_MS ? ` [${ageText(at, nowMs)} old]` : '';
      return (r.loss >= 1 ? 'lost' : `${r.rttMs.toFixed(2)}${r.loss > 0 ? ` (${Math.round(r.loss * 100)}% loss)` : ''}`) + old;
    }),
  ]);
  const times = matrix.rows.map((r) => Number(r.measuredAtMs ?? 0)).filter((t) => t > 0);
  const ages = times.length ? `measured ${ageText(Math.max(...times), nowMs)} to ${ageText(Math.min(...times), nowMs)} ago\n` : '';
  const note = matrix.partial ? "only this node's row: the bootstrap could not be asked for the others (is it running and reachable?)\n" : '';
  return 'round-trip times in ms through the mesh, from row to column\n' + table([['FROM \\ TO', ...names], ...rows]) + '\n' + ages + note;
}
