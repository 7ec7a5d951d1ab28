/**
 * Bytes the bootstrap wrote to its TCP connections, as the kernel counts them: `ss -tinH` gives
 * tcp_info's bytes_sent for every established connection whose local port is the bootstrap's
 * (payload bytes handed to TCP: gRPC and HTTP/2 framing included, IP and TCP headers not;
 * retransmissions would count, on loopback there are none).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** bytes_sent per connection, keyed by the peer's address:port. */
export type WireSample = Map<string, number>;

export async function sampleWire(port: number): Promise<WireSample> {
  const { stdout } = await run('ss', ['-tinH', 'state', 'established', `( sport = :${port} )`], { maxBuffer: 256 * 1024 * 1024 });
  const sample: WireSample = new Map();
  // Each connection is a line with its addresses, then (indented) a line of tcp_info.
  let peer = '';
  for (const line of stdout.split('\n')) {
    if (!line.trim()) continue;
    if (!/^\s/.test(line)) {
      // state omitted (filtered): Recv-Q Send-Q Local:Port Peer:Port
      const fields = line.trim().split(/\s+/);
      peer = fields[3] ?? '';
      continue;
    }
    const m = /bytes_sent:(\d+)/.exec(line);
    // A connection with nothing sent yet has no bytes_sent field.
    if (peer) sample.set(peer, m ? Number(m[1]) : 0);
  }
  return sample;
}

/**
 * Follows the bootstrap's connections over a phase: each connection's highest count seen, so a
 * connection that closes between samples still counts what it had sent at the last sample before.
 */
export class WireMeter {
  private readonly start = new Map<string, number>();
  private readonly latest = new Map<string, number>();
  private readonly excluded = new Set<string>();
  /** Connections seen during the phase that were gone at a later sample. */
  private readonly gone = new Set<string>();

  constructor(private readonly port: number) {}

  get closed(): number {
    return this.gone.size;
  }

  /** Leaves a connection out (the benchmark's own client, whose answers are not traffic to agents). */
  exclude(peer: string): void {
    this.excluded.add(peer);
  }

  /** The phase starts now: what every open connection had sent so far is not counted. */
  async begin(): Promise<void> {
    this.start.clear();
    this.latest.clear();
    this.gone.clear();
    for (const [peer, bytes] of await sampleWire(this.port)) {
      this.start.set(peer, bytes);
      this.latest.set(peer, bytes);
    }
  }

  async sample(): Promise<void> {
    const now = await sampleWire(this.port);
    for (const peer of this.latest.keys()) if (!now.has(peer)) this.gone.add(peer);
    for (const [peer, bytes] of now) {
      // A new connection on a peer port seen before (reused): count it on top of the old one's bytes.
      const before = this.latest.get(peer);
      if (before !== undefined && bytes < before) this.start.set(peer, (this.start.get(peer) ?? 0) - before);
      this.latest.set(peer, bytes);
    }
  }

  /** Bytes sent since begin(), over every connection but the excluded ones (samples once more first). */
  async total(): Promise<{ bytes: number; connections: number }> {
    await this.sample();
    let bytes = 0;
    let connections = 0;
    for (const [peer, b] of this.latest) {
      if (this.excluded.has(peer)) continue;
      bytes += b - (this.start.get(peer) ?? 0);
      connections++;
    }
    return { bytes, connections };
  }
}
