/**
 * Transactions (docs/architecture.md, invariant 2): reads inside one bypass the cache,
 * and invalidations of writes inside one run when it commits.
 */
import type { Sequelize, Transaction } from 'sequelize';
import type { ModelSchema } from '../source/model-schema';
import type { Invalidation } from './cache-context';

interface ClsNamespace {
  get(key: string): unknown;
}

/**
 * The transaction a query runs in: the explicit option, or the ambient CLS
 * one. With `Sequelize.useCLS()`, findAll injects the CLS transaction inside
 * itself, after a wrapper has seen `options.transaction === undefined`, so
 * the CLS namespace must be asked directly (on the app's own Sequelize class,
 * which may be another copy of the module than ours).
 */
export function currentTransaction(sequelize: Sequelize, options: object | undefined): Transaction | undefined {
  const explicit = (options as { transaction?: unknown } | undefined)?.transaction;
  if (explicit) return explicit as Transaction;
  if (explicit === null) return undefined;
  const cls = (sequelize.constructor as unknown as { _cls?: ClsNamespace })._cls;
  const ambient = cls?.get('transaction');
  return ambient ? (ambient as Transaction) : undefined;
}

/** What a root transaction's commit must do: the invalidations of the writes made in it. */
interface PendingCommit {
  runs: { schema: ModelSchema; run: Invalidation }[];
}

const pending = new WeakMap<Transaction, PendingCommit>();

/** The part of the cache a commit needs. */
interface Marker {
  withMarks<T>(schemas: readonly ModelSchema[], work: (generations: ReadonlyMap<ModelSchema, number>) => Promise<T>): Promise<T>;
}

/**
 * Run `run` around the commit of the outermost transaction: under the write
 * marks of every model the transaction wrote, once before COMMIT (uncounted)
 * and once after it (counted), never on rollback. A savepoint's own commit
 * happens while the outer transaction can still roll back (and before other
 * connections can see anything), so the work goes on the root. Invalidating
 * only after COMMIT (afterCommit) would leave a moment in which another
 * connection sees the committed rows while the cache still serves the
 * entries from before them; invalidating before it as well, under the marks,
 * closes that moment (hooks/write/writing.ts).
 */
export function aroundCommit(cache: Marker, transaction: Transaction, schema: ModelSchema, run: Invalidation): void {
  let root = transaction as Transaction & { parent?: Transaction };
  while (root.parent) root = root.parent as Transaction & { parent?: Transaction };
  let entry = pending.get(root);
  if (!entry) {
    const work: PendingCommit = { runs: [] };
    entry = work;
    pending.set(root, work);
    const host = root as unknown as { commit(...args: unknown[]): Promise<unknown> };
    const commit = host.commit;
    host.commit = async function (this: unknown, ...args: unknown[]) {
      pending.delete(root);
      return cache.withMarks(work.runs.map((r) => r.schema), async (generations) => {
        await Promise.all(work.runs.map((r) => r.run(false, generations.get(r.schema))));
        try {
          return await commit.apply(this, args);
        } finally {
          // A failed COMMIT's outcome is not known: invalidate all the same.
          await Promise.all(work.runs.map((r) => r.run(true, generations.get(r.schema))));
        }
      });
    };
  }
  entry.runs.push({ schema, run });
}
