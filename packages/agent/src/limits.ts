/**
 * Sizes the join service and the local API both enforce. They live here, not in the bootstrap,
 * because the agent must not import the bootstrap; the bootstrap's LIMITS re-use them.
 */
export const SHARED_LIMITS = {
  nodeNameMax: 63,
  tagsMax: 32,
  tagKeyMax: 63,
  /** Bytes (UTF-8), not characters. */
  tagValueMax: 255,
  /** Largest request a gRPC service accepts, bytes; larger ones get RESOURCE_EXHAUSTED before any handler runs. */
  messageMax: 64 * 1024,
  /** How much of a refused input an error message quotes. */
  excerptMax: 40,
  /** Peers per Mesh.PresharedKeys call (each key ~100 bytes in the answer, far below messageMax). */
  presharedKeysPeersMax: 256,
} as const;

/**
 * A refused input as an error message may quote it: JSON-quoted (so control characters show as
 * escapes) and cut to a short prefix, so a huge or hostile value is never echoed back whole.
 */
export function excerpt(value: string, max: number = SHARED_LIMITS.excerptMax): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
}
