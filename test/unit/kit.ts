/**
 * The cache's parts wired together over a MemoryStore, without Sequelize or
 * servers, for unit tests of the protocols: a model schema built from a
 * model-like object, the guarded store, row and entry caches, the fill lock,
 * soft expiry and single-flight, and a clock the test moves.
 */
import { EntryCache } from '../../source/lists/entry-cache';
import { KeySpace } from '../../source/keys';
import { Metrics } from '../../source/metrics/metrics';
import { type ModelLike, type ModelSchema, modelSchema } from '../../source/model-schema';
import { RowCache } from '../../source/rows/row-cache';
import { GuardedStore } from '../../source/store/guarded-store';
import { MemoryStore } from '../../source/store/memory-store';
import type { StoreError } from '../../source/errors';
import type { CacheStore } from '../../source/store/contract';
import { FillLock } from '../../stampede/fill-lock';
import { SingleFlight } from '../../stampede/single-flight';
import { SoftExpiryGuard } from '../../stampede/soft-expiry';

/** A type as Sequelize's DataTypes carry it (only `key` is read). */
const type = (key: string) => ({ key });

/** An Article-like model: integer key, an author, a title, paranoid when asked. */
export function articleModel(name = 'Article', paranoid = false): ModelLike {
  return {
    name,
    rawAttributes: {
      id: { type: type('INTEGER'), primaryKey: true },
      authorId: { type: type('INTEGER') },
      title: { type: type('STRING') },
      ...(paranoid ? { deletedAt: { type: type('DATE') } } : {}),
    },
    primaryKeyAttributes: ['id'],
    options: { paranoid, timestamps: paranoid },
    ...(paranoid ? { _timestampAttributes: { deletedAt: 'deletedAt' } } : {}),
  };
}

/** A clock the test moves by hand. */
export class ManualClock {
  constructor(public ms = 1_700_000_000_000) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface Kit {
  store: MemoryStore;
  guarded: GuardedStore;
  metrics: Metrics;
  keys: KeySpace;
  rows: RowCache;
  entries: EntryCache;
  locks: FillLock;
  stampede: SoftExpiryGuard;
  flights: SingleFlight;
  clock: ManualClock;
  schema: ModelSchema;
  errors: StoreError[];
  options: { stampedeProtection: boolean; clock: ManualClock };
  /** Store work started off the answer's path (see `settled`). */
  later(work: Promise<unknown>): void;
  /** Wait for the work handed to `later`. */
  settled(): Promise<void>;
}

/** Every part over one store (a MemoryStore unless another is given). */
export function kit(options: { store?: CacheStore; lockWaitMs?: number; random?: () => number; beta?: number; sign?: string } = {}): Kit {
  const clock = new ManualClock();
  const store = (options.store ?? new MemoryStore()) as MemoryStore;
  const metrics = new Metrics();
  const keys = new KeySpace(`u${Math.random().toString(36).slice(2, 8)}`);
  const errors: StoreError[] = [];
  const guarded = new GuardedStore(store, metrics, (e) => errors.push(e), options.sign);
  const locks = new FillLock(guarded, { lockTtl: 5, lockWaitMs: options.lockWaitMs ?? 200 });
  const background = new Set<Promise<unknown>>();
  return {
    store,
    guarded,
    metrics,
    keys,
    rows: new RowCache(guarded, keys, metrics, clock, 30),
    entries: new EntryCache(guarded, keys),
    locks,
    stampede: new SoftExpiryGuard(
      locks,
      clock,
      { refreshMode: 'background', earlyRefreshBeta: options.beta ?? 0, refreshConcurrency: 2 },
      options.random,
    ),
    flights: new SingleFlight(),
    clock,
    schema: modelSchema(articleModel(), []),
    errors,
    options: { stampedeProtection: true, clock },
    later: (work) => {
      background.add(work);
      void work.finally(() => background.delete(work));
    },
    settled: async () => {
      while (background.size > 0) await Promise.allSettled([...background]);
    },
  };
}

/** A promise and its resolver, to hold one step of an interleaving until the test lets it go. */
export function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/**
 * A store that tells how many round trips deep each request is: a request
 * sent before any other has answered is at depth 1, one sent after a depth-1
 * request answered is at depth 2, and so on; requests sent together share
 * a depth. The operations `held` names (a lock's release, say) are applied
 * only once their promise settles: an answer that arrives meanwhile did not
 * wait for them.
 */
export function depthStore(held: Partial<Record<string, Promise<void>>>): { store: CacheStore; depth(): number; reset(): void } {
  const inner = new MemoryStore();
  let answered = 0;
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function' || property === 'close') return value;
      return (...args: unknown[]) => {
        const depth = answered + 1;
        const sent = held[String(property)] ?? Promise.resolve();
        return sent.then(() => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)).finally(() => {
          answered = Math.max(answered, depth);
        });
      };
    },
  });
  return { store, depth: () => answered, reset: () => (answered = 0) };
}
