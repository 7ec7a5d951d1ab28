import { writeFileAtomic } from '../atomic-file.js';
import { Coalescer } from '../coalescer.js';
import type { Agent } from '../agent.js';
import { nodesByName } from '../netmap/netmap.js';
import { formatEndpoint } from '../endpoints/endpoints.js';
import { errorMessage, silentLogger, type Logger } from '../log.js';

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
 * Rewrites the memberlist file atomically whenever membership changes, for DNS zone tools
 * and the like. Writes are coalesced and skipped when the revision did not move.
 */
export class MemberlistExporter {
  private readonly writer = new Coalescer(() => this.write());
  private lastRevision = -1;
  private readonly onChange = () => this.schedule();
  private readonly logger: Logger;

  constructor(private readonly agent: Agent, readonly file: string, logger?: Logger) {
    this.logger = logger ?? silentLogger();
  }

  start(): void {
    this.agent.on('change', this.onChange);
    this.schedule();
  }

  async stop(): Promise<void> {
    this.agent.off('change', this.onChange);
    await this.writer.idle();
  }

  /** Resolves once the file reflects the current revision. */
  flush(): Promise<void> {
    return this.writer.run();
  }

  private schedule(): void {
    void this.writer.run();
  }

  private async write(): Promise<void> {
    if (!this.agent.joined || this.agent.netmap.revision === this.lastRevision) return;
    const list = buildMemberlist(this.agent);
    try {
      await writeFileAtomic(this.file, JSON.stringify(list, null, 2) + '\n', 0o644);
      this.lastRevision = list.revision;
    } catch (err) {
      this.logger.error('could not write the memberlist file', { file: this.file, err: errorMessage(err) });
    }
  }
}
