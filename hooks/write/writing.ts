/**
 * One write between two invalidations, under write marks (docs/architecture.md,
 * invariant 1). The statements the wrappers send are known to the statement
 * wrapper ({@link sendingWrite}), so the raw-statement path leaves them alone.
 */
import type { InvalidationCause } from '../../source/metrics/snapshot';
import type { ModelSchema } from '../../source/model-schema';
import type { WriteContext, WriteMoment } from '../cache-context';
import { cascadeTargets, modelsOfTable, tableName } from './cascade';
import { keysChanged, type Options } from './invalidate';

/** What the write's statement did: its result, or that it failed. */
export type Outcome<T> = { value?: T; failed: boolean };

/**
 * Run `write` (the original query interface method) between two
 * invalidations, under the write marks of every model it can change.
 * `own` invalidates the model the write was made for, if it is stored in the
 * table written; every other cached model of that table is invalidated
 * whole, and with `cascades`, the models the database changes along.
 *
 * Why twice (Hibernate's read-write strategy marks entries before the write
 * and invalidates after, the same idea): the first invalidation, before the
 * statement, removes every entry read before the write, so nothing from
 * before it can be served once its statement has committed, not even in the
 * moment between the commit and the last invalidation (a caller that saw a
 * duplicate-key error from the committed row must not then read the old
 * list). The marks make readers that fill in between store nothing: their
 * database read may predate the commit. The last invalidation, after the
 * statement, uses what only the statement tells (generated keys) and is the
 * one counted in metrics. A failure counts as a write: a lost connection
 * does not prove that nothing was written. Inside a transaction both move to
 * its commit (hooks/transactions.ts).
 */
export async function writing<T>(
  cache: WriteContext,
  table: unknown,
  options: Options,
  model: unknown,
  /** The statement, sent with {@link sendingWrite}. */
  write: () => Promise<T>,
  own: (schema: ModelSchema, at: WriteMoment, outcome: Outcome<T>) => Promise<void>,
  cause: InvalidationCause,
  cascades: boolean,
): Promise<T> {
  const name = tableName(table);
  const models = modelsOfTable(cache, name);
  const targets = cascades ? cascadeTargets(cache, name) : [];
  const invalidate = (at: WriteMoment, outcome: Outcome<T>) =>
    Promise.all([
      ...models.map((m) => {
        const schema = cache.schemaOf(m);
        if (!schema) return undefined;
        if (m === model) return own(schema, at, outcome);
        return keysChanged(cache, schema, options, undefined, cause, at);
      }),
      ...targets.map((schema) => keysChanged(cache, schema, options, undefined, 'cascade', at)),
    ]);
  const schemas = [...models.map((m) => cache.schemaOf(m)).filter((s): s is ModelSchema => s !== undefined), ...targets];
  const first = (generations: ReadonlyMap<ModelSchema, number>) => invalidate({ phase: 'before', generations }, { failed: false });
  return cache.whileWriting(options, schemas, first, async (generations) => {
    let outcome: Outcome<T> = { failed: true };
    try {
      outcome = { value: await write(), failed: false };
      return outcome.value as T;
    } finally {
      await invalidate({ phase: 'after', generations }, outcome);
    }
  });
}

/** Whether a wrapped query interface method is being called now (see {@link sendingWrite}). */
let sending = false;

/**
 * Call `send` (a query interface method) as the statement of a write the
 * wrappers invalidate. The methods call `sequelize.query` before their first
 * `await`, so the statement wrapper (hooks/install.ts) asks
 * {@link takeWrite} then, and leaves the statement to the write's own
 * invalidation instead of reading it as raw SQL. Nothing is added to the
 * options: an extra key, a symbol even, gives them another shape and slows
 * Sequelize's handling of them (docs/how-it-works.md, Store round trips). A
 * method that reaches `sequelize.query` only after an `await` (a delete
 * running cascade hooks) sends a statement the wrapper reads as raw SQL:
 * invalidated twice, never less.
 */
export function sendingWrite<T>(send: () => Promise<T>): Promise<T> {
  sending = true;
  try {
    return send();
  } finally {
    sending = false;
  }
}

/** Whether the statement being sent now is a wrapped write's (once: the method's first statement). */
export function takeWrite(): boolean {
  const write = sending;
  sending = false;
  return write;
}
