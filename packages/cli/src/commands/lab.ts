export async function runLab(_argv: string[], _env: NodeJS.ProcessEnv): Promise<number> {
  process.stderr.write('wgmesh lab: not implemented yet\n');
  return 1;
}
