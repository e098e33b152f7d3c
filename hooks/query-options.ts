/**
 * The per-query `cache` option, checked when the query runs (it arrives with
 * each call, after install()): a misspelt or out-of-range option fails the
 * query with an OptionError naming the option and the model, rather than
 * being ignored.
 */
import { OptionError, rejectUnknown } from '../source/errors';
import { describe, QUERY_KNOWN, seconds } from '../source/options';

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Throw an OptionError unless `value` is a valid `cache` option of a query
 * on `model`; `models` resolves the names `dependsOn` may hold.
 */
export function checkCacheOption(model: string, value: unknown, models: Readonly<Record<string, unknown>>): void {
  if (value === undefined || typeof value === 'boolean') return;
  const on = `a ${model} query`;
  if (!isPlainObject(value)) throw new OptionError('cache', `of ${on} must be true, false or an object, got ${describe(value)}`);
  rejectUnknown(value, QUERY_KNOWN, 'cache', on);
  const ttl = value.ttl === undefined ? undefined : seconds('cache.ttl', value.ttl, 0);
  if (value.softTtl !== undefined) {
    const softTtl = seconds('cache.softTtl', value.softTtl, 0);
    if (ttl !== undefined && softTtl > ttl) throw new OptionError('cache.softTtl', `(${softTtl}) of ${on} must not exceed \`cache.ttl\` (${ttl})`);
  }
  if (value.refresh !== undefined && typeof value.refresh !== 'boolean') {
    throw new OptionError('cache.refresh', `of ${on} must be true or false, got ${describe(value.refresh)}`);
  }
  if (value.key !== undefined && (typeof value.key !== 'string' || value.key.length === 0)) {
    throw new OptionError('cache.key', `of ${on} must be a non-empty string, got ${describe(value.key)}`);
  }
  if (value.dependsOn !== undefined) {
    if (!Array.isArray(value.dependsOn)) throw new OptionError('cache.dependsOn', `of ${on} must be an array of models or model names, got ${describe(value.dependsOn)}`);
    for (const entry of value.dependsOn as unknown[]) {
      const isModel = typeof entry === 'function' && 'rawAttributes' in entry;
      if (!isModel && !(typeof entry === 'string' && Object.prototype.hasOwnProperty.call(models, entry))) {
        throw new OptionError('cache.dependsOn', `of ${on} names no model of this Sequelize instance: ${describe(entry)}`);
      }
    }
  }
}
