import type { FlagSpec } from './parse.js';

/**
 * Flags every command of the original wgmesh has (bootstrap, join, info, tags, rtt, ui): the
 * node commands take them through NODE_FLAGS, the local API's clients through CLIENT_FLAGS
 * (local-api/client.ts). `WGMESH_TRACE` (any value) is the original's trace switch: makeLogger
 * and debug-env.ts read it.
 */
export const COMMON_FLAGS: readonly FlagSpec[] = [
  { name: 'v', type: 'bool', default: false, help: 'verbose: log at debug level' },
  { name: 'd', type: 'bool', default: false, help: 'debug: -v plus gRPC\'s own tracing' },
  { name: 'config', type: 'string', value: 'FILE', help: 'YAML file of settings: flag names without the dash, or the original wgmesh\'s nested keys' },
];
