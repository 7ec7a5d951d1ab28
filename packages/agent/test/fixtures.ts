import type { Logger } from '../src/log.js';
import { status as grpcStatus } from '@grpc/grpc-js';
import { ControlCallError, type ControlClient, type MeshNode } from '../src/index.js';

/** A mesh node as the netmap holds it; `extra` overrides any field (a distinct key per name by default). */
export function meshNode(name: string, meshIp: string, extra: Partial<MeshNode> = {}): MeshNode {
  return {
    name,
    publicKey: Buffer.alloc(32, name.charCodeAt(0) + name.length).toString('base64'),
    meshIp,
    endpoints: [],
    tags: {},
    status: 'NODE_STATUS_ALIVE',
    joinedAtMs: 1,
    lastSeenMs: 1,
    statusChangedMs: 1,
    isBootstrap: false,
    listenPort: 51820,
    relay: false,
    ...extra,
  };
}

/**
 * A stand-in for the bootstrap behind one agent: it keeps that node's member record, answers
 * after a short delay (so concurrent calls overlap, as over a network), refuses bad tags the way
 * the real one does (its own copy of the rule, so a test can tell whether the agent checked
 * first), and can be told to be unreachable for the next few updates.
 */
export interface FakeBootstrap {
  readonly control: ControlClient;
  /** The node's tags as the bootstrap holds them (undefined before the join). */
  readonly memberTags: () => Readonly<Record<string, string>> | undefined;
  /** Updates that reached the bootstrap, refused or not. */
  readonly updates: () => number;
  /** The next `n` updates fail with UNAVAILABLE. */
  unreachableFor(n: number): void;
}

export function fakeBootstrap(delayMs = 20): FakeBootstrap {
  let member: { tags: Record<string, string> } | undefined;
  let updates = 0;
  let unreachable = 0;
  const badTag = (tags: Record<string, string>) =>
    Object.entries(tags).find(([k, v]) => k.length > 63 || !/^[A-Za-z0-9_]([A-Za-z0-9_.:\-/]*[A-Za-z0-9])?$/.test(k) || Buffer.byteLength(v) > 255 || /[\u0000-\u001f\u007f]/.test(v));
  const control: ControlClient = {
    async join(req) {
      const tags = { ...(req.tags ?? {}) };
      member = { tags };
      const self = meshNode(req.nodeName!, '198.18.0.2', { publicKey: String(req.publicKey), tags });
      return { nodeName: self.name, meshIp: self.meshIp, meshCidr: '198.18.0.0/16', meshCreatedMs: 1, revision: 1, nodes: [self], nodeSecret: 'fake-secret', presharedKeys: false, l2: null };
    },
    watch: () => ({ cancel() {} }),
    async update(req) {
      updates++;
      await new Promise((r) => setTimeout(r, delayMs));
      if (unreachable > 0) {
        unreachable--;
        throw new ControlCallError(grpcStatus.UNAVAILABLE, 'No connection established', 'Update');
      }
      const tags = { ...(req.tags ?? {}) };
      const bad = badTag(tags);
      if (bad) throw new ControlCallError(grpcStatus.INVALID_ARGUMENT, `invalid tags[${JSON.stringify(bad[0].slice(0, 40))}]`, 'Update');
      if (!member) throw new ControlCallError(grpcStatus.NOT_FOUND, 'not a member', 'Update');
      member.tags = tags;
      return { revision: 2, relayPairs: 0 };
    },
    async leave() {},
    async rtt() {
      return { nodes: [], rows: [], partial: true };
    },
    close() {},
  };
  return {
    control,
    memberTags: () => member?.tags,
    updates: () => updates,
    unreachableFor(n) {
      unreachable = n;
    },
  };
}

/** A logger that keeps every line, for tests that assert what was logged. */
export type LogLine = { level: string; message: string; meta?: Record<string, unknown> };

export function recordingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = {
    lines,
    error: (message: string, meta?: Record<string, unknown>) => lines.push({ level: 'error', message, meta }),
    warn: (message: string, meta?: Record<string, unknown>) => lines.push({ level: 'warn', message, meta }),
    info: (message: string, meta?: Record<string, unknown>) => lines.push({ level: 'info', message, meta }),
    debug: (message: string, meta?: Record<string, unknown>) => lines.push({ level: 'debug', message, meta }),
    child: () => logger,
  };
  return logger;
}

/** A small seeded PRNG (mulberry32): the same seed, the same sequence on every run, so a failure replays. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
