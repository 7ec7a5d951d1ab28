import { COMMAND_LOADERS } from './commands/table.js';
import { answerWithoutCommand } from './help.js';
import { runCommand } from './run.js';

/** The whole CLI from source or dist/ (the lab's -from-source, tests). The bundle splits it: help.ts, then one bundle per command. */
export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const answered = answerWithoutCommand(argv);
  if (answered !== undefined) return answered;
  const [name, ...rest] = argv as [string, ...string[]];
  const load = COMMAND_LOADERS[name];
  if (!load) throw new Error(`internal: command "${name}" has a summary in help.ts but no loader in commands/table.ts`);
  return runCommand(name, await load(), rest, env);
}
