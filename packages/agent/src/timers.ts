/** Timers as parts of wgmesh use them, injected so tests can step time instead of sleeping. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * Real timers for background chores (heartbeats, probes, liveness passes). Unref'd: a chore alone
 * never keeps a process alive; what must (a join being retried) holds its own ref'd timer.
 */
export const defaultTimers: Timers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Real timers that keep the process alive while set: for a write that must not be lost (a held-back rewrite of a file other tools read). */
export const keepAliveTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};
