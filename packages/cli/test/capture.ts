/**
 * Runs fn while collecting the text it writes to process.stdout. Binary writes pass through:
 * node's test runner reports to its parent over this same stdout. (The workspace tests have the
 * same helper in test/helpers/capture.ts; a package's tests do not reach into test/.)
 */
export async function captureStdout(fn: () => Promise<unknown>): Promise<string> {
  const chunks: string[] = [];
  const original = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    if (typeof chunk !== 'string') return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
    chunks.push(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    await fn();
  } finally {
    process.stdout.write = original;
  }
  return chunks.join('');
}
