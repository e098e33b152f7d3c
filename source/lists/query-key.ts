/**
 * The canonical text of a query: everything that can change its result goes
 * in (where with operators by name, order, limit, offset, columns, raw,
 * plain, replacements, …), in a form where equal queries give equal text. It
 * is hashed into the list key, so no value can form an unsafe key. Anything
 * this cannot represent faithfully (functions, unknown class instances)
 * makes the query uncacheable rather than risk two queries sharing a key.
 */

/** Sequelize's query-building classes (literal, fn, col, cast, where, json). */
const SEQUELIZE_METHODS = new Set(['Literal', 'Fn', 'Col', 'Cast', 'Where', 'Json', 'SequelizeMethod']);

class Unrepresentable extends Error {}

/**
 * SQL functions whose value changes without any write: a result computed with
 * them would go stale by itself, so such queries are never cached.
 */
const VOLATILE = /\b(now|rand|random|uuid|uuid_short|sysdate|curdate|curtime|current_(date|time|timestamp|user)|utc_(date|time|timestamp)|localtime(stamp)?|unix_timestamp|connection_id|last_insert_id|found_rows|row_count|user|benchmark|sleep|get_lock|nextval|lastval)\b/i;

interface WalkState {
  seen: Set<object>;
  /** Depth inside Sequelize method objects (literal, fn, …), where SQL text lives. */
  inSql: number;
  volatile: boolean;
  /** SQL text of the literals met, when the caller collects it. */
  sql: string[] | undefined;
}

function walk(value: unknown, state: WalkState): unknown {
  const { seen } = state;
  if (value === undefined) return { $u: 1 };
  if (typeof value === 'string') {
    if (state.inSql > 0 && VOLATILE.test(value)) state.volatile = true;
    return value;
  }
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : { $f: String(value) };
  if (typeof value === 'bigint') return { $n: value.toString() };
  if (typeof value === 'symbol') return { $s: Symbol.keyFor(value) ?? value.description ?? '' };
  if (typeof value === 'function') {
    // A model class (include.model, dependsOn) is identified by its name.
    const named = value as { name?: unknown; rawAttributes?: unknown };
    if (named.rawAttributes && typeof named.name === 'string') return { $m: named.name };
    throw new Unrepresentable();
  }
  if (value instanceof Date) return { $d: value.getTime() };
  if (Buffer.isBuffer(value)) return { $b: value.toString('base64') };
  if (typeof value !== 'object') throw new Unrepresentable();
  if (seen.has(value)) throw new Unrepresentable();
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((v) => walk(v, state));
    const proto = Object.getPrototypeOf(value);
    const className = proto && proto !== Object.prototype ? (proto.constructor?.name as string | undefined) : undefined;
    if (className !== undefined && !SEQUELIZE_METHODS.has(className)) throw new Unrepresentable();
    const out: [string, unknown][] = [];
    if (className) {
      out.push(['$class', className]);
      state.inSql += 1;
      const val = (value as { val?: unknown }).val;
      if (className === 'Literal' && typeof val === 'string') state.sql?.push(val);
    }
    for (const key of Object.keys(value).sort()) out.push([key, walk((value as Record<string, unknown>)[key], state)]);
    const symbols = Object.getOwnPropertySymbols(value)
      .map((s) => [`$op:${Symbol.keyFor(s) ?? s.description ?? ''}`, s] as const)
      .sort((a, b) => (a[0] < b[0] ? -1 : 1));
    for (const [name, symbol] of symbols) out.push([name, walk((value as Record<symbol, unknown>)[symbol], state)]);
    if (className) state.inSql -= 1;
    return out;
  } finally {
    seen.delete(value);
  }
}

/** Why a query has no canonical text: a volatile SQL function, or a value it cannot represent. */
export type Unkeyable = 'volatile-sql' | 'unrepresentable-value';

/**
 * Canonical JSON of `value`, or why there is none: it cannot be represented
 * faithfully, or it calls a volatile SQL function (NOW(), RAND(), …). The
 * SQL text of every literal met is pushed onto `sql` when it is given (the
 * tables it reads are dependencies of the entry).
 */
export function canonicalText(value: unknown, sql?: string[]): { text: string } | { why: Unkeyable } {
  const state: WalkState = { seen: new Set(), inSql: 0, volatile: false, sql };
  try {
    const text = JSON.stringify(walk(value, state));
    return state.volatile ? { why: 'volatile-sql' } : { text };
  } catch (error) {
    if (error instanceof Unrepresentable) return { why: 'unrepresentable-value' };
    throw error;
  }
}

/** {@link canonicalText}'s text, or `undefined` when there is none. */
export function canonical(value: unknown, sql?: string[]): string | undefined {
  const result = canonicalText(value, sql);
  return 'text' in result ? result.text : undefined;
}
