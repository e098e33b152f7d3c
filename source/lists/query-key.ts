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

/**
 * The JSON text of `value`'s canonical form, written directly (a list key
 * is computed on every read, and building the form as arrays of pairs to
 * stringify it cost as much as the rest of the key): `undefined` is
 * `{"$u":1}`, non-finite numbers `{"$f":…}`, bigints `{"$n":…}`, symbols
 * `{"$s":…}`, model classes `{"$m":name}`, Dates `{"$d":ms}`, Buffers
 * `{"$b":base64}`, arrays themselves, and objects (plain ones and Sequelize's
 * query-building classes) lists of `[key, value]` pairs, sorted, their
 * operator symbols after them as `$op:name`, a class's name first as
 * `$class`. test/unit/query-key.test.ts pins the text.
 */
function write(value: unknown, state: WalkState): string {
  const { seen } = state;
  if (value === undefined) return '{"$u":1}';
  if (typeof value === 'string') {
    if (state.inSql > 0 && VOLATILE.test(value)) state.volatile = true;
    return JSON.stringify(value);
  }
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : `{"$f":${JSON.stringify(String(value))}}`;
  if (typeof value === 'bigint') return `{"$n":"${value.toString()}"}`;
  if (typeof value === 'symbol') return `{"$s":${JSON.stringify(Symbol.keyFor(value) ?? value.description ?? '')}}`;
  if (typeof value === 'function') {
    // A model class (include.model, dependsOn) is identified by its name.
    const named = value as { name?: unknown; rawAttributes?: unknown };
    if (named.rawAttributes && typeof named.name === 'string') return `{"$m":${JSON.stringify(named.name)}}`;
    throw new Unrepresentable();
  }
  if (value instanceof Date) return `{"$d":${JSON.stringify(value.getTime())}}`;
  if (Buffer.isBuffer(value)) return `{"$b":"${value.toString('base64')}"}`;
  if (typeof value !== 'object') throw new Unrepresentable();
  if (seen.has(value)) throw new Unrepresentable();
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      let text = '[';
      for (let i = 0; i < value.length; i++) text += (i > 0 ? ',' : '') + write(value[i], state);
      return `${text}]`;
    }
    const proto = Object.getPrototypeOf(value);
    const className = proto && proto !== Object.prototype ? (proto.constructor?.name as string | undefined) : undefined;
    if (className !== undefined && !SEQUELIZE_METHODS.has(className)) throw new Unrepresentable();
    const parts: string[] = [];
    if (className) {
      parts.push(`["$class",${JSON.stringify(className)}]`);
      state.inSql += 1;
      const val = (value as { val?: unknown }).val;
      if (className === 'Literal' && typeof val === 'string') state.sql?.push(val);
    }
    for (const key of Object.keys(value).sort()) parts.push(`[${JSON.stringify(key)},${write((value as Record<string, unknown>)[key], state)}]`);
    const symbols = Object.getOwnPropertySymbols(value);
    if (symbols.length > 0) {
      const named = symbols.map((s) => [`$op:${Symbol.keyFor(s) ?? s.description ?? ''}`, s] as const).sort((a, b) => (a[0] < b[0] ? -1 : 1));
      for (const [name, symbol] of named) parts.push(`[${JSON.stringify(name)},${write((value as Record<symbol, unknown>)[symbol], state)}]`);
    }
    if (className) state.inSql -= 1;
    return `[${parts.join(',')}]`;
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
    const text = write(value, state);
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
