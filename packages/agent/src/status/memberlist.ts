import { unlink } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic-file.js';
import { FILE_REWRITE_MIN_INTERVAL_MS, PacedTask } from '../paced-task.js';
import type { Agent } from '../agent.js';
import { nodesByName } from '../netmap/netmap.js';
import { parseServiceTag } from '../services.js';
import { formatEndpoint } from '../endpoints/endpoints.js';
import { errorMessage, silentLogger, type Logger } from '../log.js';
import type { Timers } from '../timers.js';

/** The mesh topology as the -memberlist-file export holds it (schema: docs/schemas/memberlist.schema.json). */
export interface Memberlist {
  readonly mesh: string;
  readonly cidr: string;
  readonly revision: number;
  readonly updated: string;
  readonly nodes: readonly {
    readonly name: string;
    readonly meshIp: string;
    readonly publicKey: string;
    readonly status: string;
    readonly isBootstrap: boolean;
    readonly endpoints: readonly string[];
    readonly tags: Readonly<Record<string, string>>;
  }[];
}

export function buildMemberlist(agent: Agent, now = new Date()): Memberlist {
  const nodes = nodesByName(agent.netmap);
  return {
    mesh: agent.options.meshName,
    cidr: agent.joined?.meshCidr ?? '',
    revision: agent.netmap.revision,
    updated: now.toISOString(),
    nodes: nodes.map((n) => ({
      name: n.name,
      meshIp: n.meshIp,
      publicKey: n.publicKey,
      status: n.status.replace('NODE_STATUS_', '').toLowerCase(),
      isBootstrap: n.isBootstrap,
      endpoints: n.endpoints.map((e) => formatEndpoint(e.ip, e.port)),
      tags: n.tags,
    })),
  };
}

/**
 * The -memberlist-file formats: ours (above, docs/schemas/memberlist.schema.json), or the
 * original wgmesh's document, for the tools written for it (its DNS zone-file example).
 */
export type MemberlistFormat = 'wgmesh' | 'original';
export const MEMBERLIST_FORMATS: readonly MemberlistFormat[] = ['wgmesh', 'original'];

/** The original wgmesh's export (its meshservice/export.go), field for field. */
export interface OriginalMemberlist {
  readonly members: Readonly<Record<string, { readonly addr: string; readonly st: string; readonly rtt: number; readonly tags: Readonly<Record<string, string>> }>>;
  readonly services: Readonly<Record<string, { readonly nodes: readonly string[]; readonly port: number; readonly tags: Readonly<Record<string, string>> }>>;
  /** Unix seconds of the membership change the file shows (a DNS zone's SOA serial). */
  readonly lastUpdate: number;
}

/**
 * Serf's member states, which the original exports as "st": a suspect node is still alive to
 * serf (it has not been declared failed yet); one the bootstrap has not classified is serf's "none".
 */
const ORIGINAL_STATUS: Record<string, string> = { alive: 'alive', suspect: 'alive', failed: 'failed', left: 'left' };

/**
 * The members as the original wgmesh exports them: by name with mesh IP, state, RTT (whole ms,
 * this node's latest figure for the peer; 0 for itself and before one) and tags; the services
 * their svc:NAME tags declare, each with its nodes, port and tags (a service several nodes offer
 * with different ports or tags shows the last node's port and the union of their tags, as the
 * original's does); and lastUpdate.
 */
export function buildOriginalMemberlist(agent: Pick<Agent, 'netmap' | 'rttSamples'>, lastUpdate: number): OriginalMemberlist {
  const rtt = new Map((agent.rttSamples() ?? []).map((s) => [s.peer, s.rttMs]));
  const members: Record<string, OriginalMemberlist['members'][string]> = {};
  const services = new Map<string, { nodes: string[]; port: number; tags: Record<string, string> }>();
  for (const n of nodesByName(agent.netmap)) {
    const status = n.status.replace('NODE_STATUS_', '').toLowerCase();
    members[n.name] = { addr: n.meshIp, st: ORIGINAL_STATUS[status] ?? 'none', rtt: Math.trunc(rtt.get(n.name) ?? 0), tags: { ...n.tags } };
    for (const [key, value] of Object.entries(n.tags)) {
      let service;
      try {
        service = parseServiceTag(key, value);
      } catch {
        continue; // a node's invalid declaration is left out
      }
      if (!service) continue;
      const entry = services.get(service.name) ?? { nodes: [], port: 0, tags: {} };
      entry.nodes.push(n.name);
      entry.port = service.port;
      Object.assign(entry.tags, service.tags);
      services.set(service.name, entry);
    }
  }
  return { members, services: Object.fromEntries(services), lastUpdate };
}

/**
 * The original's document as its file holds it, byte for byte: Go's json.MarshalIndent(v, "", " ")
 * of its structs (fields in declaration order) and maps (keys sorted byte-wise, where
 * JSON.stringify would put integer-like keys first), with <, >, & and U+2028/U+2029 escaped as Go
 * does, and no newline at the end.
 */
export function formatOriginalMemberlist(list: OriginalMemberlist): string {
  const goMap = <T>(record: Readonly<Record<string, T>>, value: (v: T) => unknown) => new Map(Object.entries(record).map(([k, v]) => [k, value(v)]));
  const tags = (t: Readonly<Record<string, string>>) => goMap(t, (v) => v);
  return goJson({
    members: goMap(list.members, (m) => ({ addr: m.addr, st: m.st, rtt: m.rtt, tags: tags(m.tags) })),
    services: goMap(list.services, (s) => ({ nodes: s.nodes, port: s.port, tags: tags(s.tags) })),
    lastUpdate: list.lastUpdate,
  });
}

/** Go's indented JSON: a Map is a Go map (keys sorted), a plain object a struct (fields as written). */
function goJson(value: unknown, depth = 0): string {
  const pad = (d: number) => '\n' + ' '.repeat(d);
  const block = (open: string, close: string, items: string[]) => (items.length ? open + items.map((i) => pad(depth + 1) + i).join(',') + pad(depth) + close : open + close);
  if (value instanceof Map) {
    const entries = [...(value as Map<string, unknown>)].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    return block('{', '}', entries.map(([k, v]) => `${goString(k)}: ${goJson(v, depth + 1)}`));
  }
  if (Array.isArray(value)) return block('[', ']', value.map((v) => goJson(v, depth + 1)));
  if (value !== null && typeof value === 'object') return block('{', '}', Object.entries(value).map(([k, v]) => `${goString(k)}: ${goJson(v, depth + 1)}`));
  if (typeof value === 'string') return goString(value);
  return JSON.stringify(value) ?? 'null';
}

function goString(text: string): string {
  return JSON.stringify(text).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export interface MemberlistExporterInit {
  /** Default 'wgmesh'. */
  readonly format?: MemberlistFormat;
  /** For the original's lastUpdate; Date.now by default. */
  readonly now?: () => number;
  /** Default FILE_REWRITE_MIN_INTERVAL_MS. */
  readonly minIntervalMs?: number;
  readonly timers?: Timers;
}

/**
 * Rewrites the memberlist file atomically when membership changes, for DNS zone tools and the
 * like: a change after a quiet second is written at once, and the changes of a busy second
 * together at its end (at most one rewrite per minIntervalMs, always ending on the latest
 * revision). A rewrite is skipped when the revision did not move. In the original's format the
 * file is mode 0640 and removed on stop, as the original does; ours is 0644 and stays.
 */
export class MemberlistExporter {
  private readonly writer: PacedTask;
  private lastRevision = -1;
  private lastUpdate = 0;
  private readonly onChange = () => void this.writer.request();
  private readonly logger: Logger;
  readonly format: MemberlistFormat;
  private readonly now: () => number;

  constructor(private readonly agent: Agent, readonly file: string, logger?: Logger, init: MemberlistExporterInit = {}) {
    this.logger = logger ?? silentLogger();
    this.format = init.format ?? 'wgmesh';
    this.now = init.now ?? Date.now;
    this.writer = new PacedTask(() => this.write(), init.minIntervalMs ?? FILE_REWRITE_MIN_INTERVAL_MS, init.timers);
  }

  start(): void {
    this.agent.on('change', this.onChange);
    void this.writer.request();
  }

  /** Writes what a pause was holding back (the file ends on the latest revision), then stops. */
  async stop(): Promise<void> {
    this.agent.off('change', this.onChange);
    await this.writer.stop(true);
    if (this.format === 'original' && this.lastRevision >= 0) {
      await unlink(this.file).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') this.logger.warn('could not remove the memberlist file', { file: this.file, err: errorMessage(err) });
      });
    }
  }

  /** Writes now, whatever the pause; resolves once the file reflects the current revision. */
  flush(): Promise<void> {
    return this.writer.now();
  }

  /** Resolves when no rewrite is under way (one the pause holds back is not waited for). */
  idle(): Promise<void> {
    return this.writer.idle();
  }

  private async write(): Promise<void> {
    if (!this.agent.joined || this.agent.netmap.revision === this.lastRevision) return;
    const revision = this.agent.netmap.revision;
    try {
      if (this.format === 'original') {
        // A new serial for every rewrite, even two in one second: zone tools compare them.
        const lastUpdate = Math.max(Math.floor(this.now() / 1000), this.lastUpdate + 1);
        await writeFileAtomic(this.file, formatOriginalMemberlist(buildOriginalMemberlist(this.agent, lastUpdate)), 0o640);
        this.lastUpdate = lastUpdate;
      } else {
        await writeFileAtomic(this.file, JSON.stringify(buildMemberlist(this.agent), null, 2) + '\n', 0o644);
      }
      this.lastRevision = revision;
    } catch (err) {
      this.logger.error('could not write the memberlist file', { file: this.file, err: errorMessage(err) });
    }
  }
}
