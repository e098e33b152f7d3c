/**
 * Error classes. Every error the plugin raises or emits is one of these, with a
 * stable `code` so callers can branch without parsing messages.
 */

/** Base class of every error raised by sequelize-orm-cache. */
export class OrmCacheError extends Error {
  /** Stable machine-readable code, e.g. `ERR_OPTION`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OrmCacheError';
    this.code = code;
  }
}

/** Codes a {@link StoreError} can carry. */
export type StoreErrorCode =
  | 'ETIMEOUT' // the operation's deadline passed before the server answered
  | 'ECIRCUITOPEN' // the server's circuit breaker is open: not even tried
  | 'ECONNECTION' // could not connect, or the connection broke
  | 'ESERVER' // the server answered with an error
  | 'ETOOLARGE' // the value exceeds the item size limit
  | 'ECLOSED'; // the store was closed

/**
 * A cache store operation failed. The cache never lets one of these fail a
 * query: it is counted in metrics, emitted as an `error` event on the
 * {@link OrmCache}, and the query falls through to the database.
 */
export class StoreError extends OrmCacheError {
  /** The server the operation went to, when known (`host:port`). */
  readonly server: string | undefined;
  /** The store operation, e.g. `getMulti`. */
  readonly operation: string;
  declare readonly code: StoreErrorCode;

  constructor(
    code: StoreErrorCode,
    operation: string,
    message: string,
    server?: string,
    options?: { cause?: unknown },
  ) {
    super(code, `${operation}: ${message}${server ? ` (${server})` : ''}`, options);
    this.name = 'StoreError';
    this.operation = operation;
    this.server = server;
  }
}

/** An option passed to `install()` or a store constructor is invalid. */
export class OptionError extends TypeError {
  readonly code = 'ERR_OPTION';

  /** @param option - dotted path of the option, e.g. `models.Article.ttl` */
  constructor(
    readonly option: string,
    problem: string,
  ) {
    super(`sequelize-orm-cache: option \`${option}\` ${problem}`);
    this.name = 'OptionError';
  }
}

/**
 * A cached list pointed at a row that no longer exists (deleted behind the
 * cache's back, e.g. by another application writing to the same database).
 * Emitted as the `invalidationWarning` event; the parent entry is rebuilt from
 * the database and the caller gets the correct result.
 */
export class InvalidationWarning extends OrmCacheError {
  /** Name of the model whose rows were missing. */
  readonly model: string;
  /** Primary keys that were pointed to but not found. */
  readonly missing: readonly unknown[];

  constructor(model: string, missing: readonly unknown[]) {
    super(
      'ERR_MISSING_ROWS',
      `cached entry of ${model} points to ${missing.length} row(s) that no longer exist; rebuilt from the database`,
    );
    this.name = 'InvalidationWarning';
    this.model = model;
    this.missing = missing;
  }
}

/**
 * Reject keys of an options object that are not options: a misspelt option
 * (`tll`) would otherwise be ignored without a word.
 *
 * @param prefix - dotted path of the object, e.g. `cache` or `models.Article`
 * @param owner - what takes the options, for the message
 */
export function rejectUnknown(options: object, known: readonly string[], prefix: string, owner: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new OptionError(prefix ? `${prefix}.${key}` : key, `is not an option of ${owner} (known: ${known.join(', ')})`);
    }
  }
}

/** A store option that must be a positive number: `fallback` when absent, else an OptionError naming it. */
export function positive(option: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new OptionError(option, `must be a positive number, got ${String(value)}`);
  }
  return value;
}

/** Any failure of a store operation as a {@link StoreError} (a non-StoreError becomes an `ESERVER` one, with it as the cause). */
export function asStoreError(error: unknown, operation: string): StoreError {
  if (error instanceof StoreError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new StoreError('ESERVER', operation, message, undefined, { cause: error });
}
