/**
 * Transactions (docs/architecture.md, invariant 2 and Transactions): reads
 * inside one are answered from the cache only where that is
 * indistinguishable from reading the database (never filling it), and
 * invalidations of writes inside one run around its commit.
 */
import type { Sequelize, Transaction } from 'sequelize';
import type { BypassReason } from '../source/metrics/snapshot';
import type { ModelSchema } from '../source/model-schema';
import type { IsolationLevel } from '../source/types';
import type { Invalidation, Marked } from './cache-context';

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

/** The outermost transaction of a savepoint (itself for a root): its isolation level and its writes are the root's. */
function rootOf(transaction: Transaction): Transaction {
  let root = transaction as Transaction & { parent?: Transaction };
  while (root.parent) root = root.parent as Transaction & { parent?: Transaction };
  return root;
}

/** The models each root transaction has written (or begun to write), savepoints included. */
const written = new WeakMap<Transaction, Set<ModelSchema>>();

/**
 * Record that `transaction` writes `schemas`, before the statement is sent:
 * a read of the same transaction that starts after this must not be
 * answered from the cache, which holds the rows as they were before.
 * Nothing is forgotten when a savepoint rolls back (depending more is safe).
 */
export function noteWrites(transaction: Transaction, schemas: readonly ModelSchema[]): void {
  const root = rootOf(transaction);
  let models = written.get(root);
  if (!models) written.set(root, (models = new Set()));
  for (const schema of schemas) models.add(schema);
}

/**
 * Whether a read inside `transaction` that depends on `models` may be
 * answered from the cache (undefined), or why not. Only at READ COMMITTED
 * (and READ UNCOMMITTED, which allows every READ COMMITTED outcome), where
 * each statement reads the rows committed when it starts: a valid entry
 * holds exactly those, unless the transaction itself changed them. At
 * REPEATABLE READ every read after the first must see the first one's
 * snapshot, which a cached value (committed later) need not match; at
 * SERIALIZABLE plain reads take shared locks. The level is the root
 * transaction's own, else the Sequelize instance's (which Sequelize copies
 * into it), else the server's default, `defaultLevel`.
 */
export function transactionalRead(transaction: Transaction, defaultLevel: IsolationLevel, models: readonly ModelSchema[]): BypassReason | undefined {
  const root = rootOf(transaction) as Transaction & { finished?: unknown; options?: { isolationLevel?: unknown } };
  // A finished transaction: Sequelize's own query path raises the error.
  if (root.finished) return 'transaction-isolation';
  const level = root.options?.isolationLevel ?? defaultLevel;
  if (level !== 'READ COMMITTED' && level !== 'READ UNCOMMITTED') return 'transaction-isolation';
  const wrote = written.get(root);
  if (wrote && models.some((m) => wrote.has(m))) return 'transaction-wrote';
  return undefined;
}

/**
 * Whether a cached read only looks up: it runs inside a transaction (one
 * that {@link transactionalRead} allowed, or the select wrapper would not
 * have let it through), so a miss reads the database and stores nothing:
 * what the transaction reads is not what others should be served.
 */
export function lookupOnly(cache: { readonly sequelize: Sequelize }, options: object | undefined): boolean {
  return currentTransaction(cache.sequelize, options) !== undefined;
}

/** What a root transaction's commit must do: the invalidations of the writes made in it. */
interface PendingCommit {
  runs: { schema: ModelSchema; run: Invalidation }[];
}

const pending = new WeakMap<Transaction, PendingCommit>();

/** The part of the cache a commit needs. */
interface Marker {
  withMarks<T>(schemas: readonly ModelSchema[], first: Marked<unknown>, work: Marked<T>): Promise<T>;
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
  const root = rootOf(transaction);
  let entry = pending.get(root);
  if (!entry) {
    const work: PendingCommit = { runs: [] };
    entry = work;
    pending.set(root, work);
    const host = root as unknown as { commit(...args: unknown[]): Promise<unknown> };
    const commit = host.commit;
    host.commit = async function (this: unknown, ...args: unknown[]) {
      pending.delete(root);
      const before = (generations: ReadonlyMap<ModelSchema, number>) => Promise.all(work.runs.map((r) => r.run(false, generations.get(r.schema))));
      return cache.withMarks(work.runs.map((r) => r.schema), before, async (generations) => {
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
