/**
 * One defaults object, validated once at install() with errors that name the
 * option, then frozen (ioredis' DEFAULT_REDIS_OPTIONS, Kysely's freeze).
 */
import { type Clock, systemClock } from './clock';
import { OptionError, rejectUnknown } from './errors';
import type { CacheStore } from './store/contract';
import { MemoryStore } from './store/memory-store';
import { ISOLATION_LEVELS, type IsolationLevel, type ModelCacheOptions, type OrmCacheOptions } from './types';

/** Options after defaults and validation. */
export interface ResolvedOptions {
  readonly store: CacheStore;
  /** Whether the store was created by install() (and is closed by uninstall()). */
  readonly ownsStore: boolean;
  readonly namespace: string;
  readonly ttl: number;
  readonly softTtl: number;
  readonly models: Readonly<Record<string, Readonly<ModelCacheOptions> | false>>;
  readonly tombstoneTtl: number;
  readonly warmLimit: number;
  readonly rememberedLists: number;
  readonly stampedeProtection: boolean;
  readonly lockTtl: number;
  readonly lockWaitMs: number;
  readonly refreshMode: 'background' | 'wait';
  readonly mode: 'default' | 'opt-in';
  readonly serverIsolationLevel: IsolationLevel;
  readonly earlyRefreshBeta: number;
  readonly refreshConcurrency: number;
  readonly replayMs: number;
  readonly sign: string | undefined;
  readonly clock: Clock;
}

/** Defaults of every option of `install()`. */
export const DEFAULT_OPTIONS = Object.freeze({
  namespace: 'oc',
  ttl: 3600,
  softTtl: 300,
  tombstoneTtl: 30,
  warmLimit: 1000,
  rememberedLists: 1000,
  lockTtl: 5,
  lockWaitMs: 1000,
  refreshMode: 'background' as const,
  mode: 'default' as const,
  serverIsolationLevel: 'REPEATABLE READ' as IsolationLevel,
  earlyRefreshBeta: 0,
  refreshConcurrency: 4,
  replayMs: 100,
  stampedeProtection: true,
});

/** A per-model list of model or attribute names (default none), or an OptionError naming `option`. */
function nameList(value: unknown, option: string, what: 'model' | 'attribute'): string[] {
  const names = value ?? [];
  if (!Array.isArray(names) || !names.every((n) => typeof n === 'string' && n.length > 0)) {
    throw new OptionError(option, `must be an array of ${what} names, got ${describe(names)}`);
  }
  return names as string[];
}

/** Every option of `install()`: those with a default, and those without one. */
const KNOWN = [...Object.keys(DEFAULT_OPTIONS), 'store', 'models', 'clock', 'sign'];
const MODEL_KNOWN = ['ttl', 'softTtl', 'dependsOn', 'exclude', 'computed'];
/** Keys of the per-query `cache` option object. */
export const QUERY_KNOWN: readonly string[] = ['ttl', 'softTtl', 'refresh', 'dependsOn', 'key'];
const MAX_TTL = 60 * 60 * 24 * 30;

/**
 * A whole number of seconds from `min` to memcached's 30-day relative limit,
 * or `fallback` when absent; `of` names what the option belongs to in the
 * error (a query's `cache` option says which model's query).
 */
export function seconds(option: string, value: unknown, fallback: number, min = 1, of = ''): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > MAX_TTL) {
    const whose = of ? `of ${of} ` : '';
    throw new OptionError(option, `${whose}must be a whole number of seconds from ${min} to ${MAX_TTL} (30 days), got ${describe(value)}`);
  }
  return value;
}

/**
 * A hard and soft TTL pair (options `${prefix}ttl` and `${prefix}softTtl`), in
 * seconds, the soft one never above the hard one; `fallback` applies to
 * those absent. The one check install(), `models.X` and a query's `cache`
 * option share.
 */
export function ttlPair(
  prefix: string,
  given: { ttl?: unknown; softTtl?: unknown },
  fallback: { ttl: number; softTtl: (ttl: number) => number },
  of = '',
): { ttl: number; softTtl: number } {
  const ttl = seconds(`${prefix}ttl`, given.ttl, fallback.ttl, 1, of);
  const softTtl = seconds(`${prefix}softTtl`, given.softTtl, fallback.softTtl(ttl), 1, of);
  if (softTtl > ttl) {
    throw new OptionError(`${prefix}softTtl`, `(${softTtl}) ${of ? `of ${of} ` : ''}must not exceed \`${prefix}ttl\` (${ttl})`);
  }
  return { ttl, softTtl };
}

/** A query's `cache: { ttl, softTtl }`: each optional, the pair checked only against what the query sets. */
export function queryTtlPair(given: { ttl?: unknown; softTtl?: unknown }, of: string): void {
  ttlPair('cache.', given, { ttl: MAX_TTL, softTtl: () => 1 }, of);
}

/** A value as an error message shows it. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

function isStore(value: unknown): value is CacheStore {
  if (typeof value !== 'object' || value === null) return false;
  const store = value as Record<string, unknown>;
  return ['get', 'getMulti', 'gets', 'set', 'add', 'cas', 'delete', 'close'].every((m) => typeof store[m] === 'function');
}

/** Validate `install()` options and fill in defaults. */
export function resolveOptions(input: OrmCacheOptions | undefined): ResolvedOptions {
  if (input !== undefined && (typeof input !== 'object' || input === null || Array.isArray(input))) {
    throw new OptionError('options', `must be an object, got ${describe(input)}`);
  }
  const options = input ?? {};
  rejectUnknown(options, KNOWN, '', 'install()');
  if (options.store !== undefined && !isStore(options.store)) {
    throw new OptionError('store', 'must implement CacheStore (get, getMulti, gets, set, add, cas, delete, close)');
  }
  const namespace = options.namespace ?? DEFAULT_OPTIONS.namespace;
  if (typeof namespace !== 'string' || !/^[A-Za-z0-9_.-]{1,32}$/.test(namespace)) {
    throw new OptionError('namespace', `must be 1-32 characters of A-Z a-z 0-9 _ . -, got ${describe(namespace)}`);
  }
  const { ttl, softTtl } = ttlPair('', options, { ttl: DEFAULT_OPTIONS.ttl, softTtl: (hard) => Math.min(DEFAULT_OPTIONS.softTtl, hard) });
  const tombstoneTtl = seconds('tombstoneTtl', options.tombstoneTtl, DEFAULT_OPTIONS.tombstoneTtl, 2);
  const warmLimit = options.warmLimit ?? DEFAULT_OPTIONS.warmLimit;
  if (typeof warmLimit !== 'number' || !Number.isInteger(warmLimit) || warmLimit < 0) {
    throw new OptionError('warmLimit', `must be a whole number >= 0, got ${describe(warmLimit)}`);
  }
  const rememberedLists = options.rememberedLists ?? DEFAULT_OPTIONS.rememberedLists;
  if (typeof rememberedLists !== 'number' || !Number.isInteger(rememberedLists) || rememberedLists < 0) {
    throw new OptionError('rememberedLists', `must be a whole number >= 0, got ${describe(rememberedLists)}`);
  }
  const lockTtl = seconds('lockTtl', options.lockTtl, DEFAULT_OPTIONS.lockTtl);
  const lockWaitMs = options.lockWaitMs ?? Math.min(DEFAULT_OPTIONS.lockWaitMs, lockTtl * 1000);
  if (typeof lockWaitMs !== 'number' || !Number.isInteger(lockWaitMs) || lockWaitMs < 0 || lockWaitMs > lockTtl * 1000) {
    throw new OptionError('lockWaitMs', `must be a whole number of milliseconds from 0 to \`lockTtl\` × 1000 (${lockTtl * 1000}), got ${describe(lockWaitMs)}`);
  }
  const mode = options.mode ?? DEFAULT_OPTIONS.mode;
  if (mode !== 'default' && mode !== 'opt-in') {
    throw new OptionError('mode', `must be 'default' or 'opt-in', got ${describe(mode)}`);
  }
  const serverIsolationLevel = options.serverIsolationLevel ?? DEFAULT_OPTIONS.serverIsolationLevel;
  if (!ISOLATION_LEVELS.includes(serverIsolationLevel)) {
    throw new OptionError('serverIsolationLevel', `must be one of ${ISOLATION_LEVELS.map((l) => `'${l}'`).join(', ')}, got ${describe(serverIsolationLevel)}`);
  }
  const refreshMode = options.refreshMode ?? DEFAULT_OPTIONS.refreshMode;
  if (refreshMode !== 'background' && refreshMode !== 'wait') {
    throw new OptionError('refreshMode', `must be 'background' or 'wait', got ${describe(refreshMode)}`);
  }
  const earlyRefreshBeta = options.earlyRefreshBeta ?? DEFAULT_OPTIONS.earlyRefreshBeta;
  if (typeof earlyRefreshBeta !== 'number' || !Number.isFinite(earlyRefreshBeta) || earlyRefreshBeta < 0) {
    throw new OptionError('earlyRefreshBeta', `must be a number >= 0, got ${describe(earlyRefreshBeta)}`);
  }
  const refreshConcurrency = options.refreshConcurrency ?? DEFAULT_OPTIONS.refreshConcurrency;
  if (typeof refreshConcurrency !== 'number' || !Number.isInteger(refreshConcurrency) || refreshConcurrency < 1) {
    throw new OptionError('refreshConcurrency', `must be a whole number >= 1, got ${describe(refreshConcurrency)}`);
  }
  const replayMs = options.replayMs ?? DEFAULT_OPTIONS.replayMs;
  if (typeof replayMs !== 'number' || !Number.isInteger(replayMs) || replayMs < 10 || replayMs > 60_000) {
    throw new OptionError('replayMs', `must be a whole number of milliseconds from 10 to 60000, got ${describe(replayMs)}`);
  }
  const sign = options.sign;
  if (sign !== undefined && (typeof sign !== 'string' || sign.length < 16)) {
    throw new OptionError('sign', `must be a secret string of at least 16 characters, got ${typeof sign === 'string' ? `${sign.length} characters` : describe(sign)}`);
  }
  const stampedeProtection = options.stampedeProtection ?? DEFAULT_OPTIONS.stampedeProtection;
  if (typeof stampedeProtection !== 'boolean') {
    throw new OptionError('stampedeProtection', `must be true or false, got ${describe(stampedeProtection)}`);
  }
  const clock = options.clock ?? systemClock;
  if (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function') {
    throw new OptionError('clock', 'must be an object with a now() method');
  }

  const models: Record<string, Readonly<ModelCacheOptions> | false> = {};
  if (options.models !== undefined) {
    if (typeof options.models !== 'object' || options.models === null || Array.isArray(options.models)) {
      throw new OptionError('models', `must be an object keyed by model name, got ${describe(options.models)}`);
    }
    for (const [name, value] of Object.entries(options.models)) {
      if (value === false) {
        models[name] = false;
        continue;
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new OptionError(`models.${name}`, `must be false or an object, got ${describe(value)}`);
      }
      rejectUnknown(value, MODEL_KNOWN, `models.${name}`, 'a model');
      const dependsOn = nameList(value.dependsOn, `models.${name}.dependsOn`, 'model');
      const exclude = nameList(value.exclude, `models.${name}.exclude`, 'attribute');
      const computed = nameList(value.computed, `models.${name}.computed`, 'attribute');
      const { ttl: modelTtl, softTtl: modelSoftTtl } = ttlPair(`models.${name}.`, value, { ttl, softTtl: (hard) => Math.min(softTtl, hard) });
      models[name] = Object.freeze({
        ttl: modelTtl,
        softTtl: modelSoftTtl,
        dependsOn: Object.freeze([...dependsOn]) as string[],
        exclude: Object.freeze([...new Set(exclude)].sort()) as string[],
        computed: Object.freeze([...new Set(computed)].sort()) as string[],
      });
    }
  }

  return Object.freeze({
    store: options.store ?? new MemoryStore({ clock }),
    ownsStore: options.store === undefined,
    namespace,
    ttl,
    softTtl,
    models: Object.freeze(models),
    tombstoneTtl,
    warmLimit,
    rememberedLists,
    stampedeProtection,
    lockTtl,
    lockWaitMs,
    refreshMode,
    mode,
    serverIsolationLevel: serverIsolationLevel as IsolationLevel,
    earlyRefreshBeta,
    refreshConcurrency,
    replayMs,
    sign,
    clock,
  });
}
