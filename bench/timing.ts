/** Timing helpers shared by the benchmark's workloads and its driver comparison. */

/** The p-th percentile of ascending `sorted`. */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Run `run` once per argument, one after another; each latency and the total, in ms. */
export async function timed<A>(args: readonly A[], run: (arg: A) => Promise<unknown>): Promise<{ latencies: number[]; elapsed: number }> {
  const latencies: number[] = [];
  const started = performance.now();
  for (const arg of args) {
    const t0 = performance.now();
    await run(arg);
    latencies.push(performance.now() - t0);
  }
  return { latencies, elapsed: performance.now() - started };
}

/**
 * Run `run(0)` … `run(ops - 1)` with `concurrency` of them in flight at any
 * time (each finished one starts the next); each latency and the total, in ms.
 */
export async function inFlight(ops: number, concurrency: number, run: (i: number) => Promise<unknown>): Promise<{ latencies: number[]; elapsed: number }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    for (let i = next++; i < ops; i = next++) {
      const t0 = performance.now();
      await run(i);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, ops) }, worker));
  return { latencies, elapsed: performance.now() - started };
}
