import { readFileSync } from 'node:fs';

/** The p-quantile (0..1) of ascending values, nearest rank; NaN when there are none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Ascending merge of ascending arrays. */
export function mergeSorted(parts: readonly (readonly number[])[]): number[] {
  return parts.flat().sort((x, y) => x - y);
}

/**
 * CPU time every core of the machine has spent busy so far (Linux /proc/stat), microseconds;
 * undefined elsewhere. Compared with what the bench's own processes used, it tells whether
 * something else was running during a measurement.
 */
export function machineBusyMicros(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const [label, ...fields] = line.trim().split(/\s+/);
    if (label !== 'cpu') return undefined;
    // user nice system idle iowait irq softirq steal (guest time is already inside user);
    // (steal counts as busy: a hypervisor taking the CPU away is contention too)
    const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
    const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
    return (busy * 1e6) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}
