/**
 * `-d` (and the original's WGMESH_TRACE, any value) turns on grpc-js's own tracing, which grpc-js
 * reads from the environment when it loads: so this runs before anything imports it.
 */
export function applyDebugEnvironment(argv: readonly string[], env: NodeJS.ProcessEnv): void {
  if (env.WGMESH_TRACE === undefined && !argv.some((a) => /^--?d(=(true|1))?$/.test(a))) return;
  env.GRPC_VERBOSITY ??= 'DEBUG';
  env.GRPC_TRACE ??= 'channel,subchannel,server,call_stream';
}
