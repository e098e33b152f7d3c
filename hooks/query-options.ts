/**
 * The options Sequelize hands the select wrappers, and the per-query `cache`
 * option: read here once (`perQuery`) and checked when the query runs (it
 * arrives with each call, after install()): a misspelt or out-of-range option
 * fails the query with an OptionError naming the option and the model,
 * rather than being ignored.
 */
import type { Model, ModelStatic } from 'sequelize';
import { OptionError, rejectUnknown } from '../source/errors';
import { describe, QUERY_KNOWN, queryTtlPair, type ResolvedOptions } from '../source/options';
import type { ModelSchema } from '../source/model-schema';
import type { QueryCacheOptions } from '../source/types';
import { digest, isPlainObject } from '../source/util';

/** The options select receives (a findAll options object after processing). */
export type SelectOptions = Record<string, unknown> & {
  where?: unknown;
  attributes?: unknown[];
  originalAttributes?: unknown[];
  raw?: boolean;
  plain?: boolean;
  nest?: boolean;
  include?: unknown[];
  limit?: number | null;
  offset?: number | null;
  cache?: boolean | QueryCacheOptions;
};

/** `queryInterface.select`. */
export type SelectFn = (model: ModelStatic<Model>, tableName: unknown, options: SelectOptions) => Promise<unknown>;

/** `queryInterface.rawSelect` (count, aggregates). */
export type RawSelectFn = (tableName: unknown, options: SelectOptions, attributeSelector: unknown, model: ModelStatic<Model>) => Promise<unknown>;

const NONE: QueryCacheOptions = {};

/** The query's `cache` option as an object (`{}` for true, false or none). */
export function perQuery(options: { cache?: unknown } | undefined): QueryCacheOptions {
  const value = options?.cache;
  return typeof value === 'object' && value !== null ? (value as QueryCacheOptions) : NONE;
}

/** Whether the query asked for `cache: { refresh: true }`. */
export function refreshRequested(options: SelectOptions): boolean {
  return perQuery(options).refresh === true;
}

/** The hard TTL `cache: { ttl }` asks for, if valid; in seconds. */
export function queryTtl(options: SelectOptions): number | undefined {
  const ttl = perQuery(options).ttl;
  return typeof ttl === 'number' && Number.isInteger(ttl) && ttl > 0 ? ttl : undefined;
}

/** Soft TTL of an entry: per query, else per model, else global; in seconds. */
export function softTtlFor(resolved: ResolvedOptions, schema: ModelSchema, options: SelectOptions): number {
  const perQuerySoft = perQuery(options).softTtl;
  if (typeof perQuerySoft === 'number' && perQuerySoft > 0) return perQuerySoft;
  const perModel = resolved.models[schema.name];
  return (perModel && perModel.softTtl) || resolved.softTtl;
}

/** The entry name `cache: { key }` gives, if any. */
export function customKey(options: SelectOptions): string | undefined {
  const custom = perQuery(options).key;
  return typeof custom === 'string' && custom.length > 0 ? digest(`key:${custom}`) : undefined;
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
  queryTtlPair(value, on);
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
