/**
 * A CacheStore wrapper for tests: counts operations, and can hold one
 * operation at a gate while the test runs something else, which is how a
 * race's bad interleaving is forced instead of hoped for.
 */
import type { CacheStore, CasValue, ServerHealth } from '../../source/store/contract';

type Op = 'get' | 'getMulti' | 'gets' | 'set' | 'add' | 'cas' | 'delete' | 'incr';

/** A pending pause: resolves `reached` when an operation arrives, waits for `release()`. */
export interface Gate {
  reached: Promise<{ op: Op; key: string }>;
  release(): void;
}

export class ProbeStore implements CacheStore {
  readonly counts: Record<Op, number> = { get: 0, getMulti: 0, gets: 0, set: 0, add: 0, cas: 0, delete: 0, incr: 0 };
  readonly results: { op: Op; key: string; result: unknown }[] = [];
  #gates: { op: Op; match: (key: string) => boolean; arrive: (v: { op: Op; key: string }) => void; wait: Promise<void> }[] = [];

  readonly #holds = new Set<{ op: Op; match: (key: string) => boolean; arrive: (v: { op: Op; key: string }) => void; wait: Promise<void> }>();

  constructor(readonly inner: CacheStore) {}

  get maxValueBytes(): number {
    return this.inner.maxValueBytes;
  }

  /** Total operations so far. */
  get total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }

  reset(): void {
    for (const op of Object.keys(this.counts) as Op[]) this.counts[op] = 0;
    this.results.length = 0;
  }

  /** Hold the next `op` whose key matches until `release()` (before it reaches the store). */
  pauseNext(op: Op, match: (key: string) => boolean = () => true): Gate {
    let arrive!: (v: { op: Op; key: string }) => void;
    let release!: () => void;
    const reached = new Promise<{ op: Op; key: string }>((r) => (arrive = r));
    const wait = new Promise<void>((r) => (release = r));
    this.#gates.push({ op, match, arrive, wait });
    return { reached, release };
  }

  /**
   * Hold every `op` whose key matches, from now until `release()` (a writer's
   * whole invalidation, whose operations run in parallel).
   */
  holdAll(op: Op, match: (key: string) => boolean): Gate {
    let arrive!: (v: { op: Op; key: string }) => void;
    let release!: () => void;
    const reached = new Promise<{ op: Op; key: string }>((r) => (arrive = r));
    const wait = new Promise<void>((r) => (release = r));
    const hold = { op, match, arrive, wait };
    this.#holds.add(hold);
    return {
      reached,
      release: () => {
        this.#holds.delete(hold);
        release();
      },
    };
  }

  async #through<T>(op: Op, key: string, run: () => Promise<T>): Promise<T> {
    this.counts[op] += 1;
    // A snapshot: a hold added while this operation waits is for later ones.
    for (const hold of [...this.#holds]) {
      if (hold.op !== op || !hold.match(key)) continue;
      hold.arrive({ op, key });
      await hold.wait;
    }
    const index = this.#gates.findIndex((g) => g.op === op && g.match(key));
    if (index >= 0) {
      const [gate] = this.#gates.splice(index, 1);
      gate?.arrive({ op, key });
      await gate?.wait;
    }
    const result = await run();
    this.results.push({ op, key, result });
    return result;
  }

  get(key: string): Promise<string | undefined> {
    return this.#through('get', key, () => this.inner.get(key));
  }
  getMulti(keys: readonly string[]): Promise<Map<string, string>> {
    return this.#through('getMulti', keys.join(' '), () => this.inner.getMulti(keys));
  }
  gets(key: string): Promise<CasValue | undefined | null> {
    return this.#through('gets', key, () => this.inner.gets(key));
  }
  set(key: string, value: string, ttl: number): Promise<boolean> {
    return this.#through('set', key, () => this.inner.set(key, value, ttl));
  }
  add(key: string, value: string, ttl: number): Promise<boolean> {
    return this.#through('add', key, () => this.inner.add(key, value, ttl));
  }
  cas(key: string, value: string, cas: string, ttl: number): Promise<boolean> {
    return this.#through('cas', key, () => this.inner.cas(key, value, cas, ttl));
  }
  delete(key: string): Promise<boolean> {
    return this.#through('delete', key, () => this.inner.delete(key));
  }
  incr(key: string, delta: number, ttl: number): Promise<number> {
    return this.#through('incr', key, () => {
      if (!this.inner.incr) throw new Error('the inner store keeps no counters');
      return this.inner.incr(key, delta, ttl);
    });
  }
  health(): ServerHealth[] {
    return this.inner.health?.() ?? [];
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
