import { readFile, realpath, stat, writeFile } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic-file.js';
import { compareNames, type MeshNode, type Netmap } from '../netmap/netmap.js';
import { errorMessage, silentLogger, type Logger } from '../log.js';
import { FILE_REWRITE_MIN_INTERVAL_MS, PacedTask } from '../paced-task.js';
import type { Timers } from '../timers.js';

/**
 * -hosts-file: keeps one marked block of `/etc/hosts` lines current (IP, NODE.ZONE, NODE), for
 * hosts whose resolver cannot send one zone to the node's DNS server. Lines outside the block are
 * the owner's and stay as they are; the block is removed when the node stops.
 */

export function blockMarkers(meshName: string): { begin: string; end: string } {
  return { begin: `# BEGIN wgmesh ${meshName} (kept current by wgmesh; edits here are lost)`, end: `# END wgmesh ${meshName}` };
}

/** The file's text with the mesh's block replaced by `lines` (none: the block removed). */
export function withBlock(text: string, meshName: string, lines: readonly string[]): string {
  const { begin, end } = blockMarkers(meshName);
  const kept: string[] = [];
  let inside = false;
  for (const line of text.split('\n')) {
    if (line === begin) inside = true;
    else if (inside && line === end) inside = false;
    else if (!inside) kept.push(line);
  }
  while (kept.length > 0 && kept[kept.length - 1] === '') kept.pop();
  if (lines.length === 0) return kept.length === 0 ? '' : `${kept.join('\n')}\n`;
  return `${[...kept, begin, ...lines, end].join('\n')}\n`;
}

function hostsLine(node: MeshNode, domain: string): string {
  return `${node.meshIp}\t${node.name}.${domain} ${node.name}`;
}

export interface HostsFileKeeperInit {
  /** Default FILE_REWRITE_MIN_INTERVAL_MS. */
  readonly minIntervalMs?: number;
  readonly timers?: Timers;
}

/**
 * Keeps the mesh's block in a hosts file: every node's line, sorted by name. Lines follow changes
 * by name (O(changed)); the block is built and the file rewritten at most once per
 * minIntervalMs (a change after a quiet second at once, a busy second's together at its end),
 * since each rewrite costs O(mesh) and a join wave brings hundreds of changes a second.
 */
export class HostsFileKeeper {
  private lastWritten: string | undefined;
  private readonly logger: Logger;
  private readonly writer: PacedTask;
  /** The block's line of each node, by name. */
  private readonly lines = new Map<string, string>();
  /** Times the block was built from every node's line (for tests of what a change costs). */
  builds = 0;

  constructor(readonly file: string, private readonly meshName: string, logger?: Logger, init: HostsFileKeeperInit = {}) {
    this.logger = logger ?? silentLogger();
    this.writer = new PacedTask(() => this.writeLatest(), init.minIntervalMs ?? FILE_REWRITE_MIN_INTERVAL_MS, init.timers);
  }

  /** The block is every node of this netmap; resolves once the file has it. */
  update(netmap: Netmap, domain: string): Promise<void> {
    this.lines.clear();
    for (const node of netmap.nodes.values()) this.lines.set(node.name, hostsLine(node, domain));
    return this.writer.request();
  }

  /**
   * The named nodes changed (joined, left, moved, or anything else about them): their lines only.
   * A change that moves no name or address (an endpoint, a tag, a status) asks for no rewrite.
   */
  follow(netmap: Netmap, domain: string, names: Iterable<string>): Promise<void> {
    let changed = false;
    for (const name of names) {
      const node = netmap.nodes.get(name);
      const line = node ? hostsLine(node, domain) : undefined;
      if (line === this.lines.get(name)) continue;
      changed = true;
      if (line === undefined) this.lines.delete(name);
      else this.lines.set(name, line);
    }
    return changed ? this.writer.request() : this.writer.settled();
  }

  /** Resolves once the file has every change followed so far. */
  idle(): Promise<void> {
    return this.writer.settled();
  }

  /** Removes the block (no rewrite after this). */
  async remove(): Promise<void> {
    await this.writer.stop(false);
    await this.write([]);
  }

  /** The block as the lines are now, written unless the file already has it. */
  private async writeLatest(): Promise<void> {
    this.builds++;
    const lines = [...this.lines].sort((a, b) => compareNames(a[0], b[0])).map(([, line]) => line);
    const key = lines.join('\n');
    if (key === this.lastWritten) return;
    this.lastWritten = key;
    await this.write(lines);
  }

  private async write(lines: readonly string[]): Promise<void> {
    try {
      let text = '';
      let mode = 0o644;
      // A symbolic link (NixOS's /etc/hosts, a shared file) is written through: renamed over, it would become a file.
      const file = await realpath(this.file).catch(() => this.file);
      try {
        text = await readFile(file, 'utf8');
        mode = (await stat(file)).mode & 0o7777;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        if (lines.length === 0) return;
      }
      const next = withBlock(text, this.meshName, lines);
      if (next === text) return;
      try {
        await writeFileAtomic(file, next, mode);
      } catch (err) {
        // A bind-mounted /etc/hosts (containers) cannot be renamed over: write it in place.
        if ((err as NodeJS.ErrnoException).code !== 'EBUSY' && (err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
        await writeFile(file, next);
      }
    } catch (err) {
      this.logger.warn(`-hosts-file ${this.file}: cannot be written (${errorMessage(err)}); names stay served by DNS`, {});
    }
  }
}
