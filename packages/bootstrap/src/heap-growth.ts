import v8 from 'node:v8';

/**
 * How far V8 lets the bootstrap's old generation grow past what survived the last full garbage
 * collection before it collects again. V8 picks up to 4x on a machine with lots of memory. Measured
 * at 10,000 nodes (bench/control-plane.ts, 2026-12-02): about 250 MB survive, but each membership
 * change written to 10,000 Watch streams leaves grpc-js's per-write objects, still pending when the
 * fan-out's scavenges run, promoted to the old generation, where they piled up to 840 MB of heap
 * before the next full collection. A bootstrap's heap is its membership and its connections; it
 * owns its process, so it sets this for the process.
 *
 * V8 reads the flag each time it sets the next limit (after every full collection), so setting it
 * after start-up takes effect from the next collection. 0 leaves V8's own choice.
 */
export function limitHeapGrowth(percent: number, setFlags: (flags: string) => void = v8.setFlagsFromString): void {
  if (!(percent > 0)) return;
  setFlags(`--heap-growing-percent=${Math.round(percent)}`);
}
