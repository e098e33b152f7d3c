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

/** One request shape on one driver: latency one at a time, and throughput with 32 in flight. */
export interface DriverRow {
  shape: string;
  driver: string;
  median: number;
  p99: number;
  /** CPU of this process per operation, one at a time, µs. */
  cpuPerOp: number;
  /** With 32 operations in flight: operations per second and CPU per operation (µs). */
  concurrentOpsPerSecond: number;
  concurrentCpuPerOp: number;
  /** The server's CPU per operation over both passes, µs, when a server counter was given. */
  serverCpuPerOp?: number;
}

/** Operations in flight in the concurrent pass. */
const IN_FLIGHT = 32;

interface Figures {
  latencies: number[];
  cpu: number;
  ops: number;
  concurrentOps: number;
  concurrentCpu: number;
  concurrentMs: number;
  serverCpu: number;
}

/**
 * Every shape on every driver, interleaved round by round (the first round
 * warms up and is not counted): `ops` one at a time, then `ops` with 32 in
 * flight. `serverCpu`, when given, reads the server's cumulative CPU in µs.
 */
export async function measureShapes(
  shapes: [string, Record<string, (i: number) => Promise<unknown>>][],
  rounds: number,
  ops: number,
  serverCpu?: () => Promise<number>,
): Promise<DriverRow[]> {
  const samples = new Map<string, Figures>();
  const cpuOf = (usage: NodeJS.CpuUsage) => usage.user + usage.system;
  for (let round = 0; round < rounds; round++) {
    for (const [shape, drivers] of shapes) {
      for (const [driver, run] of Object.entries(drivers)) {
        const server0 = serverCpu ? await serverCpu() : 0;
        let cpu0 = process.cpuUsage();
        const { latencies } = await timed(Array.from({ length: ops }, (_, i) => i), run);
        const cpu = cpuOf(process.cpuUsage(cpu0));
        cpu0 = process.cpuUsage();
        const concurrent = await inFlight(ops, IN_FLIGHT, run);
        const concurrentCpu = cpuOf(process.cpuUsage(cpu0));
        const server = serverCpu ? (await serverCpu()) - server0 : 0;
        if (round === 0) continue;
        const key = `${shape}\u0000${driver}`;
        const f = samples.get(key) ?? { latencies: [], cpu: 0, ops: 0, concurrentOps: 0, concurrentCpu: 0, concurrentMs: 0, serverCpu: 0 };
        f.latencies.push(...latencies);
        f.cpu += cpu;
        f.ops += latencies.length;
        f.concurrentOps += ops;
        f.concurrentCpu += concurrentCpu;
        f.concurrentMs += concurrent.elapsed;
        f.serverCpu += server;
        samples.set(key, f);
      }
    }
  }
  return [...samples].map(([key, f]) => {
    const [shape, driver] = key.split('\u0000') as [string, string];
    const sorted = f.latencies.sort((a, b) => a - b);
    const row: DriverRow = {
      shape,
      driver,
      median: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      cpuPerOp: f.cpu / f.ops,
      concurrentOpsPerSecond: f.concurrentOps / (f.concurrentMs / 1000),
      concurrentCpuPerOp: f.concurrentCpu / f.concurrentOps,
    };
    if (serverCpu) row.serverCpuPerOp = f.serverCpu / (f.ops + f.concurrentOps);
    return row;
  });
}
