/**
 * How a bundled command starts. scripts/bundle.mjs makes one bundle per command
 * (bundle/commands/NAME.cjs) whose `start()` calls this with that command's loader; bin/wgmesh.js
 * runs it. The debug environment is set before grpc-js loads: grpc-js reads its tracing settings
 * from the environment when it loads.
 */
import { applyDebugEnvironment } from './debug-env.js';
import type { Command, CommandRuntime } from './run.js';

export async function startBundledCommand(name: string, load: () => Promise<Command>, argv: string[], env: NodeJS.ProcessEnv, runtime: CommandRuntime = {}): Promise<number> {
  applyDebugEnvironment(argv, env);
  const [{ runCommand }, command] = await Promise.all([import('./run.js'), load()]);
  return runCommand(name, command, argv, env, runtime);
}
