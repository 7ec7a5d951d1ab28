/** What the control-plane parts read about a process of theirs, and how they summarize latencies. */
import { readFile } from 'node:fs/promises';

export interface ProcStats {
  /** Resident set now (VmRSS). */
  readonly rssMb: number;
  /** The largest resident set so far (VmHWM). */
  readonly peakRssMb: number;
  /** User plus system CPU time since the process started. */
  readonly cpuSeconds: number;
  /** Of that, system (kernel) time: on loopback a socket write also runs the receiving side's TCP. */
  readonly systemSeconds: number;
}

export async function procStats(pid: number): Promise<ProcStats> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  return { rssMb: kb('VmRSS') / 1024, peakRssMb: kb('VmHWM') / 1024, cpuSeconds: ticks / 100, systemSeconds: Number(stat[12]) / 100 };
}

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
