/**
 * Transactions (DESIGN.md invariant 2): reads inside one bypass the cache,
 * and invalidations of writes inside one run when it commits.
 */
import type { Sequelize, Transaction } from 'sequelize';

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

/**
 * Run `fn` when the outermost transaction commits, never on rollback. A
 * savepoint's own afterCommit fires when the savepoint is released, while the
 * outer transaction can still roll back (or not yet be visible to other
 * connections), so the hook goes on the root.
 */
export function onCommit(transaction: Transaction, fn: () => Promise<void>): void {
  let root = transaction as Transaction & { parent?: Transaction };
  while (root.parent) root = root.parent as Transaction & { parent?: Transaction };
  root.afterCommit(async () => {
    await fn();
  });
}
