/** Pure parsers of what the kernel and tools print; unit-tested against captured samples. */

/** Names from `ip netns list` ("wgl-h1 (id: 3)" or just "wgl-h1"). */
export function parseNetnsList(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name !== '');
}

/** Undo the octal escapes (\040 for a space, …) of /proc/self/mountinfo paths. */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Mount points from /proc/self/mountinfo (field 5), in file order (parents before children). */
export function parseMountPoints(mountinfo: string): string[] {
  const points: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    if (fields.length >= 5 && fields[4]) points.push(unescapeMountPath(fields[4]));
  }
  return points;
}

/** Mount points at or under `dir`, deepest (latest) first: the order to unmount them in. */
export function mountsUnder(mountinfo: string, dir: string): string[] {
  const base = dir.replace(/\/+$/, '');
  return parseMountPoints(mountinfo)
    .filter((p) => p === base || p.startsWith(`${base}/`))
    .reverse();
}

export interface ProcStat {
  readonly pid: number;
  readonly comm: string;
  /** R, S, D, Z (zombie: exited, not yet reaped), … */
  readonly state: string;
  readonly ppid: number;
  /** Clock ticks after boot: with the PID, identifies a process across PID reuse. */
  readonly startTicks: number;
}

/** /proc/PID/stat; the command name may hold spaces and parentheses, so split at the last ")". */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  const rest = text.slice(close + 2).trim().split(/\s+/);
  // Fields after the name start at field 3 (state); starttime is field 22.
  const state = rest[0];
  const ppid = Number(rest[1]);
  const startTicks = Number(rest[19]);
  if (!state || !Number.isInteger(pid) || !Number.isInteger(ppid) || !Number.isFinite(startTicks)) return undefined;
  return { pid, comm: text.slice(open + 1, close), state, ppid, startTicks };
}

/** Every process below `root` (children, grandchildren, …) given the whole process table. */
export function descendantsOf(root: number, table: readonly ProcStat[]): ProcStat[] {
  const children = new Map<number, ProcStat[]>();
  for (const p of table) {
    const list = children.get(p.ppid) ?? [];
    list.push(p);
    children.set(p.ppid, list);
  }
  const found: ProcStat[] = [];
  const queue = [root];
  const seen = new Set<number>([root]);
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      if (seen.has(child.pid)) continue;
      seen.add(child.pid);
      found.push(child);
      queue.push(child.pid);
    }
  }
  return found;
}

export interface NodeInfo {
  readonly nodeName: string;
  readonly meshIp: string;
  readonly publicKey: string;
  readonly peers: readonly { readonly name: string; readonly meshIp: string; readonly latestHandshakeMs: number }[];
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function field(obj: Record<string, unknown> | undefined, camel: string, snake: string): unknown {
  return obj?.[camel] ?? obj?.[snake];
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function num(value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
  return Number.isFinite(n) ? n : 0;
}

/** The parts of `wgmesh info -json` the lab reads (camelCase, or snake_case if the proto's keys are kept). */
export function parseNodeInfo(json: string): NodeInfo | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return undefined;
  }
  return nodeInfoOf(parsed);
}

/** The same parts of the Info object already parsed (as the local API answers it). */
export function nodeInfoOf(value: unknown): NodeInfo | undefined {
  const info = record(value);
  const peers = field(info, 'peers', 'peers');
  if (!info || !Array.isArray(peers)) return undefined;
  return {
    nodeName: text(field(info, 'nodeName', 'node_name')),
    meshIp: text(field(info, 'meshIp', 'mesh_ip')),
    publicKey: text(field(info, 'publicKey', 'public_key')),
    peers: peers.map((raw) => {
      const peer = record(raw);
      const node = record(field(peer, 'node', 'node'));
      return {
        name: text(field(node, 'name', 'name')),
        meshIp: text(field(node, 'meshIp', 'mesh_ip')),
        latestHandshakeMs: num(field(peer, 'latestHandshakeMs', 'latest_handshake_ms')),
      };
    }),
  };
}

export interface EtcdEndpointStatus {
  /** The client URL asked (as given to --endpoints). */
  readonly endpoint: string;
  /** This member's ID and the leader's as it sees it, as decimal strings ("0": no leader known). */
  readonly memberId: string;
  readonly leaderId: string;
}

/**
 * `etcdctl endpoint status -w json`: one entry per member that answered. Member IDs are 64-bit
 * numbers, more than a JavaScript number holds exactly, so they are read as text.
 */
export function parseEtcdStatus(json: string): EtcdEndpointStatus[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json.replace(/("(?:member_id|leader)"\s*:\s*)(\d+)/g, '$1"$2"'));
  } catch {
    return [];
  }
  if (!Array.isArray(parsed)) return [];
  return parsed.flatMap((raw) => {
    const entry = record(raw);
    const status = record(entry?.Status);
    const header = record(status?.header);
    const endpoint = text(entry?.Endpoint);
    const memberId = text(header?.member_id);
    if (!endpoint || !memberId) return [];
    return [{ endpoint, memberId, leaderId: text(status?.leader) || '0' }];
  });
}

/** The client URL of the member the answering members agree leads ("0" counts as none); undefined when none does. */
export function etcdLeaderEndpoint(statuses: readonly EtcdEndpointStatus[]): string | undefined {
  const leaderId = statuses.map((s) => s.leaderId).find((id) => id !== '0');
  return leaderId === undefined ? undefined : statuses.find((s) => s.memberId === leaderId)?.endpoint;
}
