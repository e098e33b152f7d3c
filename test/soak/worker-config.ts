/** What the soak's orchestrator hands each worker process, and the clock they share. */

/** What the orchestrator hands a worker. */
export interface WorkerConfig {
  role: 'worker' | 'lock-holder';
  index: number;
  processes: number;
  loops: number;
  rows: number;
  authors: number;
  mysqlUrl: string;
  memcached: string[];
  /** A Redis URL, or a Redis Cluster's seed URLs: the worker's store is a RedisStore on it instead of memcached. */
  redis?: string | string[];
  namespace: string;
  durationMs: number;
  seed: number;
  log: string;
  timeoutMs: number;
  softTtl: number;
  /** Write through a second, uncached Sequelize: the checker must then find stale reads. */
  sabotage?: boolean;
  /** `sign` option of install(). */
  sign?: string;
  /** Lock holder: every SELECT first sleeps this long (while holding the fill lock). */
  slowSelectMs?: number;
}

/** Microseconds on the monotonic clock every process on the machine shares. */
export function now(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

