/**
 * What the Sequelize glue needs of the cache, as interfaces: the select and
 * write wrappers depend on these, not on the `OrmCache` class (which
 * implements them), so the glue can be read, and tested, without the object
 * `install()` returns and without an import cycle through it.
 */
import type { Sequelize } from 'sequelize';
import type { InvalidationWarning } from '../source/errors';
import type { KeySpace } from '../source/keys';
import type { EntryCache } from '../source/lists/entry-cache';
import type { RememberedLists } from '../source/lists/remembered-lists';
import type { Metrics } from '../source/metrics/metrics';
import type { BypassReason, ReadKind } from '../source/metrics/snapshot';
import type { InvalidationDelivery } from '../source/invalidation/delivery';
import type { ModelSchema } from '../source/model-schema';
import type { ResolvedOptions } from '../source/options';
import type { RowCache } from '../source/rows/row-cache';
import type { FillLock } from '../stampede/fill-lock';
import type { SingleFlight } from '../stampede/single-flight';
import type { SoftExpiryGuard } from '../stampede/soft-expiry';

/** Which models are cached, and how their keys are named. */
export interface SchemaLookup {
  readonly keys: KeySpace;
  /** The schema of a cached model; undefined for anything else. */
  schemaOf(model: unknown): ModelSchema | undefined;
}

/** What the read path uses: the caches, the stampede protocols, metrics and options. */
export interface ReadContext extends SchemaLookup {
  readonly sequelize: Sequelize;
  readonly options: ResolvedOptions;
  readonly rows: RowCache;
  readonly entries: EntryCache;
  /** The pointer lists of recent list hits (source/lists/remembered-lists.ts). */
  readonly remembered: RememberedLists;
  readonly locks: FillLock;
  readonly flights: SingleFlight;
  readonly stampede: SoftExpiryGuard;
  readonly metrics: Metrics;
  /** False once `uninstall()` ran. */
  readonly installed: boolean;
  /** Reads go to the database while an invalidation of this process is being replayed. */
  readonly suspended: boolean;
  /** Whether any model keeps attributes out of the cache. */
  readonly excluding: boolean;
  /** Hard TTL of a model's row entries, in seconds. */
  ttlFor(schema: ModelSchema): number;
  /** Store work the answer need not wait for. */
  later(work: Promise<unknown>): void;
  /** Count a read that skipped the cache, with its reason (the first of each is reported with `options`' shape). */
  bypass(model: string, kind: ReadKind, reason: BypassReason, options: object | undefined): void;
  /** Report rows an entry pointed to that no longer exist. */
  warnMissing(warning: InvalidationWarning): void;
}

/** One invalidation of a write: counted in metrics or not, with the write's generation in its model's mark. */
export type Invalidation = (counted: boolean, generation: number | undefined) => Promise<void>;

/** Work under write marks: it gets the write's generation in each model's mark, where the store gave one. */
export type Marked<T> = (generations: ReadonlyMap<ModelSchema, number>) => Promise<T>;

/** Where a write is: before its statement, or after it with what it returned. */
export interface WriteMoment {
  phase: 'before' | 'after';
  /** The write's generation in each model's write mark, where the store gave one. */
  generations: ReadonlyMap<ModelSchema, number>;
}

/** What the write path uses: invalidation, write marks and transactions. */
export interface WriteContext extends SchemaLookup {
  readonly sequelize: Sequelize;
  /** The row cache: what it holds of a row a write is about to change (hooks/write/invalidate.ts). */
  readonly rows: RowCache;
  /** See source/invalidation/delivery.ts. */
  rowsChanged(...args: Parameters<InvalidationDelivery['rowsChanged']>): Promise<void>;
  /** See source/invalidation/delivery.ts. */
  modelChanged(...args: Parameters<InvalidationDelivery['modelChanged']>): Promise<void>;
  invalidateAfterWrite(options: { transaction?: unknown } | undefined, schema: ModelSchema, run: Invalidation, at: WriteMoment): Promise<void>;
  /** Run the write's first invalidation, then the write, under the marks of `schemas` (source/tokens/write-marks.ts). */
  whileWriting<T>(options: { transaction?: unknown } | undefined, schemas: readonly ModelSchema[], first: Marked<unknown>, write: Marked<T>): Promise<T>;
}
