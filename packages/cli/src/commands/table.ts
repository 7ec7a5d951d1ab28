import type { Command } from '../run.js';

/**
 * Every command's module, loaded only when used (help.ts has their summaries). In the bundle each
 * is its own file, packages/cli/bundle/commands/NAME.cjs (scripts/bundle.mjs reads this table).
 */
export const COMMAND_LOADERS: Record<string, () => Promise<Command>> = {
  bootstrap: async () => (await import('./bootstrap.js')).runBootstrap,
  join: async () => (await import('./join.js')).runJoin,
  info: async () => (await import('./info.js')).runInfo,
  'rotate-key': async () => (await import('./rotate-key.js')).runRotateKey,
  tags: async () => (await import('./tags.js')).runTags,
  rtt: async () => (await import('./rtt.js')).runRtt,
  ui: async () => (await import('./ui.js')).runUi,
  token: async () => (await import('./token.js')).runToken,
  ca: async () => (await import('./ca.js')).runCa,
  store: async () => (await import('./store.js')).runStore,
  lab: async () => (await import('./lab.js')).runLab,
};
