/**
 * The row cache: one key per row holding the full row (docs/architecture.md, Keys and entries), its
 * validity tied to the namespace and model epoch tokens, and fills made safe
 * against concurrent writes with tombstones plus cas (identity_cache's
 * pattern, with a lease where the key was absent, see fill-baseline.ts):
 *
 *   reader: gets(row) or add(row, lease) ──► database read ──► cas(row, seen)
 *   writer: database write ──► set(row, tombstone)
 *
 * A reader whose database read may have missed a write took its CAS baseline
 * (or placed its lease) before the write's tombstone was set, so its cas
 * fails; one that saw the tombstone read the database after the write.
 *
 * Rows a list query read are copied in without a baseline from before the
 * query (warming); those entries also record the model's warm token, which
 * a write's last tombstones rotate, so a row warmed from a read that a write
 * raced is never served after that write, evicted tombstone or not.
 */
import { type Clock, randomToken } from '../clock';
import { decodeEntry, encodeAbsence, encodeRow, encodeTombstone } from '../codec';
import { type FillBaseline, fillBaseline, type Lease, publishFill } from './fill-baseline';
import { conjunctionId } from '../tokens/conjunctions';
import type { GuardedStore } from '../store/guarded-store';
import type { KeySpace } from '../keys';
import type { Metrics } from '../metrics/metrics';
import type { ModelSchema } from '../model-schema';
import { readMark } from '../tokens/write-marks';

/** What a fill recorded before its database read. */
export interface FillTicket {
  readonly schema: ModelSchema;
  readonly key: string;
  readonly tokens: readonly string[];
  /** CAS of the value seen before the read, when the fill did not place a lease. */
  readonly cas: string | undefined;
  /** The lease this fill placed where the key was absent: only it, unreplaced, lets the fill publish. */
  readonly lease: Lease | undefined;
  readonly startedAt: number;
}

/** Tokens read before a warming query. */
export interface WarmTicket {
  readonly schema: ModelSchema;
  /** The row tokens and then the model's warm token (`KeySpace.warm`), all read before the query. */
  readonly tokens: readonly string[];
  readonly startedAt: number;
  /**
   * The model's write generation read (with no write in flight) after the
   * tokens and before the query: tombstones of writes numbered up to it may
   * be replaced (source/tokens/write-marks.ts).
   */
  readonly generation?: number;
}

/** The result of one multi-get of rows and their tokens. */
export interface RowLookup {
  /** Valid rows by primary key text. */
  rows: Map<string, Record<string, unknown>>;
  /** Keys with a valid "no such row" entry (only when asked for). */
  absent: Set<string>;
  /** Every value the multi-get returned (tokens included), reused by fills. */
  storeValues: Map<string, string>;
  /** Whether the store answered. */
  ok: boolean;
}

export class RowCache {
  constructor(
    readonly store: GuardedStore,
    readonly keys: KeySpace,
    readonly metrics: Metrics,
    readonly clock: Clock,
    readonly tombstoneTtl: number,
  ) {}

  /** Rows being warmed by this process, by row key (see {@link RowCache.warming}). */
  readonly #warming = new Map<string, Promise<void>>();

  /** Key lists per schema: the same strings on every read, computed once (a digest among them). */
  readonly #tokenKeys = new WeakMap<ModelSchema, readonly string[]>();
  readonly #absenceKeys = new WeakMap<ModelSchema, readonly string[]>();

  /** Token keys every row entry of `schema` depends on, in entry order. */
  tokenKeys(schema: ModelSchema): readonly string[] {
    let keys = this.#tokenKeys.get(schema);
    if (!keys) this.#tokenKeys.set(schema, (keys = [this.keys.namespaceToken(), this.keys.epoch(schema)]));
    return keys;
  }

  /**
   * Token keys a "no such row" entry depends on besides the row tokens: the
   * list epoch and the token every insert or update of the model rotates, so
   * any write that could create the row invalidates every absence at once.
   */
  absenceKeys(schema: ModelSchema): readonly string[] {
    let keys = this.#absenceKeys.get(schema);
    if (!keys) this.#absenceKeys.set(schema, (keys = [this.keys.listEpoch(schema), this.keys.conjunction(schema, conjunctionId([], []))]));
    return keys;
  }

  /**
   * Fetch rows and their tokens in one multi-get; an entry is valid only if
   * every token it recorded is present and unchanged (an evicted token makes
   * a new token, hence a miss, never a stale hit).
   */
  async lookup(schema: ModelSchema, pkTexts: readonly string[], withAbsence = false): Promise<RowLookup> {
    const tokenKeys = this.tokenKeys(schema);
    const warmKey = this.keys.warm(schema);
    const absenceKeys = withAbsence ? this.absenceKeys(schema) : [];
    const rowKeys = pkTexts.map((pk) => this.keys.row(schema, pk));
    const { values, ok } = await this.store.getMulti([...rowKeys, ...tokenKeys, warmKey, ...absenceKeys]);
    const rows = new Map<string, Record<string, unknown>>();
    const absent = new Set<string>();
    const current = tokenKeys.map((k) => values.get(k));
    const warm = values.get(warmKey);
    const all = [...current, ...absenceKeys.map((k) => values.get(k))];
    if (current.every((t) => t !== undefined)) {
      pkTexts.forEach((pk, i) => {
        const entry = decodeEntry(schema, values.get(rowKeys[i] as string));
        if (entry?.type === 'row' && validRow(entry.tokens, current as string[], warm)) rows.set(pk, entry.values);
        if (withAbsence && entry?.type === 'absent' && all.every((t) => t !== undefined) && sameTokens(entry.tokens, all as string[])) {
          absent.add(pk);
        }
      });
    }
    return { rows, absent, storeValues: values, ok };
  }

  /**
   * The current token values, creating missing ones. `undefined` when the
   * store cannot tell (then nothing may be filled: an entry recorded under a
   * guessed token could outlive a rotation it never saw).
   */
  async tokens(schema: ModelSchema, known?: Map<string, string>, withAbsence = false): Promise<string[] | undefined> {
    const result: string[] = [];
    for (const key of [...this.tokenKeys(schema), ...(withAbsence ? this.absenceKeys(schema) : [])]) {
      // `||`: an empty value is a forged one (GuardedStore), never a token.
      const value = known?.get(key) || (await this.store.ensureToken(key));
      if (value === undefined) return undefined;
      result.push(value);
    }
    return result;
  }

  /**
   * Record tokens and the CAS baseline of a row before reading it from the
   * database. Must be called before the read starts; `undefined` when the
   * store is failing (the read still happens, nothing is stored). `known` must
   * be the result of a successful lookup that asked for this row's key.
   */
  async beginFill(
    schema: ModelSchema,
    pkText: string,
    known?: Map<string, string>,
    withAbsence = false,
    /** The model's write mark read after `known` (one read shared by the fills of one lookup). */
    unmarked?: Promise<boolean>,
    /** The fill's baseline, read or placed after `known` (sent with the fill lock's `add`, see {@link fillBaseline}). */
    baseline?: Promise<FillBaseline>,
  ): Promise<FillTicket | undefined> {
    const tokenKeys = [...this.tokenKeys(schema), ...(withAbsence ? this.absenceKeys(schema) : [])];
    // A token created now was not in `known`: the mark must be read after it.
    const mark = known && unmarked && tokenKeys.every((key) => known.get(key)) ? unmarked : undefined;
    const tokens = await this.tokens(schema, known, withAbsence);
    if (!tokens) return undefined;
    const key = this.keys.row(schema, pkText);
    // The write mark is read after the tokens: a write between its first and
    // last invalidation (its statement, or its commit, may not be visible to
    // this read yet) makes the fill store nothing.
    const [seen, free] = await Promise.all([
      baseline ?? this.fillBaseline(schema, pkText, known !== undefined && !known.has(key)),
      mark ?? this.unmarked(schema),
    ]);
    if (seen === null || !free) return undefined;
    return { schema, key, tokens, cas: 'cas' in seen ? seen.cas : undefined, lease: 'lease' in seen ? seen.lease : undefined, startedAt: this.clock.now() };
  }

  /** Read or place what a fill of this row publishes against (see {@link fillBaseline}). */
  fillBaseline(schema: ModelSchema, pkText: string, absent: boolean): Promise<FillBaseline> {
    return fillBaseline(this.store, this.keys.row(schema, pkText), absent, this.tombstoneTtl);
  }

  /**
   * The row as a valid entry holds it now, read with commands sent when
   * called (GuardedStore.readNow), so that on a store that applies this
   * process's commands in the order called (`ordered`) a tombstone sent
   * after this call is applied after the read. `undefined` when there is no
   * valid entry, the store cannot tell, or it is not ordered. A valid entry
   * is the database's row: a write tombstones the row before its statement
   * and fills wait for its marks (hooks/write/invalidate.ts reads it for
   * what an instance believes).
   */
  async current(schema: ModelSchema, pkText: string): Promise<Record<string, unknown> | undefined> {
    if (!this.store.ordered) return undefined;
    const key = this.keys.row(schema, pkText);
    const tokenKeys = this.tokenKeys(schema);
    const values = await this.store.readNow([key, ...tokenKeys]);
    const entry = decodeEntry(schema, values?.get(key));
    const current = tokenKeys.map((k) => values?.get(k));
    if (entry?.type !== 'row' || !current.every((t) => t)) return undefined;
    // A warmed copy's warm token is not read: the caller only invalidates
    // more for what it gets here, so a copy a write has retired costs no
    // more than a few extra rotations, and the `gets` is saved on every write.
    return validRow(entry.tokens, current as string[], entry.tokens[current.length]) ? entry.values : undefined;
  }

  /** Whether no write of the model is between its first and last invalidation (see {@link beginFill}). */
  async unmarked(schema: ModelSchema): Promise<boolean> {
    const key = this.keys.writes(schema);
    const counters = await this.store.counters([key]);
    return counters !== undefined && readMark(counters.get(key) ?? 0).inFlight === 0;
  }

  /** Store the row read after {@link beginFill} unless a write got there first. */
  async completeFill(ticket: FillTicket, row: Record<string, unknown>, ttl: number): Promise<boolean> {
    const value = this.#encodeFresh(ticket, row);
    if (value === undefined) return false;
    const stored = await publishFill(this.store, ticket, value, ttl);
    this.#filled(ticket.schema, stored);
    return stored;
  }

  /** A fill slower than half the tombstone TTL could outlive the tombstone of a write it raced with. */
  #tooOld(ticket: FillTicket | WarmTicket): boolean {
    return this.clock.now() - ticket.startedAt > (this.tombstoneTtl * 1000) / 2;
  }

  /**
   * Record that the row read after {@link beginFill} (with absence tokens)
   * does not exist, unless a write got there first. Kept briefly: inserts by
   * other applications are invisible to the cache.
   */
  async completeAbsence(ticket: FillTicket, ttl: number): Promise<boolean> {
    const withAbsence = this.tokenKeys(ticket.schema).length + this.absenceKeys(ticket.schema).length;
    if (ticket.tokens.length !== withAbsence || this.#tooOld(ticket)) return false;
    return publishFill(this.store, ticket, encodeAbsence(ticket.tokens), Math.min(ttl, ABSENCE_TTL));
  }

  /** A ticket for warming rows read after a lookup that gave `known`, undefined when it lacks a token. */
  warmTicket(schema: ModelSchema, known: ReadonlyMap<string, string>): WarmTicket | undefined {
    const tokens = [...this.tokenKeys(schema), this.keys.warm(schema)].map((key) => known.get(key));
    return tokens.every((t) => t) ? { schema, tokens: tokens as string[], startedAt: this.clock.now() } : undefined;
  }

  /**
   * Copy full rows a query returned into the row cache, under the ticket's
   * warm token: `add` where the key is absent, `cas` over an entry that is
   * not valid under the ticket's tokens (a warmed row a later write retired,
   * say). A warm read has no CAS baseline from before its query, so it
   * replaces a tombstone only when the write that left it had made its last
   * invalidation before the query (its generation is at most the ticket's,
   * read with no write in flight). Rows read right after writes of them are
   * stored so.
   */
  async warm(ticket: WarmTicket, rows: ReadonlyArray<readonly [string, Record<string, unknown>]>, ttl: number): Promise<void> {
    const rowTokens = ticket.tokens.slice(0, -1);
    await Promise.all(
      rows.map(async ([pkText, row]) => {
        const value = this.#encodeFresh(ticket, row);
        if (value === undefined) return;
        const key = this.keys.row(ticket.schema, pkText);
        const warming = (async () => {
          if (await this.store.add(key, value, ttl)) {
            this.#filled(ticket.schema, true);
            return;
          }
          const seen = await this.store.gets(key);
          const entry = seen ? decodeEntry(ticket.schema, seen.value) : undefined;
          const replaceable =
            entry?.type === 'tombstone'
              ? ticket.generation !== undefined && entry.generation !== undefined && entry.generation <= ticket.generation
              : !(entry?.type === 'row' && validRow(entry.tokens, rowTokens, ticket.tokens.at(-1)));
          this.#filled(ticket.schema, !!seen && replaceable && (await this.store.cas(key, value, seen.cas, ttl)));
        })();
        this.#warming.set(key, warming);
        const done = () => {
          if (this.#warming.get(key) === warming) this.#warming.delete(key);
        };
        warming.then(done, done);
        await warming;
      }),
    );
  }

  /**
   * The warming of any of these rows this process has under way, settled
   * (successful or not); `undefined` when there is none. A row that was
   * present but no longer valid (a warmed copy a write retired, a tombstone
   * of a finished write) takes warming three round trips (`add`, `gets`,
   * `cas`), and a list read sent meanwhile, which would miss the row and
   * read it from the database, waits for it instead and looks again (the
   * stampede of W5 in docs/benchmarks.md: the second flight of a burst, or
   * a read right after the one that warmed). What waits here is one promise
   * per row being warmed, dropped when it lands.
   */
  warming(schema: ModelSchema, pkTexts: readonly string[]): Promise<unknown> | undefined {
    const pending: Promise<unknown>[] = [];
    for (const pk of pkTexts) {
      const warming = this.#warming.get(this.keys.row(schema, pk));
      if (warming) pending.push(warming);
    }
    return pending.length > 0 ? Promise.allSettled(pending) : undefined;
  }

  /**
   * Store the rows a `cache: { refresh: true }` read returned, whose cached
   * copies may be older than that read (changed behind the cache's back). A
   * row whose fill was begun before the read (`tickets`, by key text) is
   * completed as any fill; any other is added where its key is absent and
   * otherwise tombstoned: without a CAS baseline from before the read it
   * cannot be replaced safely, and the next read fills it.
   */
  async refreshed(
    tickets: ReadonlyMap<string, FillTicket>,
    warm: WarmTicket,
    rows: ReadonlyArray<readonly [string, Record<string, unknown>]>,
    ttl: number,
  ): Promise<void> {
    const stale: string[] = [];
    await Promise.all(
      rows.map(async ([pkText, row]) => {
        const ticket = tickets.get(pkText);
        if (ticket) {
          await this.completeFill(ticket, row, ttl);
          return;
        }
        const value = this.#encodeFresh(warm, row);
        const added = value !== undefined && (await this.store.add(this.keys.row(warm.schema, pkText), value, ttl));
        if (!added) stale.push(pkText);
      }),
    );
    if (stale.length > 0) await this.tombstone(warm.schema, stale);
  }

  /**
   * Replace rows with tombstones (after a write; `generation`: the write's,
   * when it has one), and rotate the model's warm token (`retire`): a warmed
   * row read before the write is invalid after it even if the store evicts
   * its tombstone, and an `add` puts the old row back. A write's first
   * invalidation, before its statement, need not: its last one does.
   */
  async tombstone(schema: ModelSchema, pkTexts: readonly string[], generation?: number, retire = true): Promise<void> {
    const marker = encodeTombstone(randomToken(), generation);
    await Promise.all([
      ...pkTexts.map((pk) => this.store.set(this.keys.row(schema, pk), marker, this.tombstoneTtl)),
      retire ? this.store.set(this.keys.warm(schema), randomToken(), 0) : undefined,
    ]);
  }

  /** Invalidate every row entry (and list) of the model; false when the store did not take it. */
  rotateEpoch(schema: ModelSchema): Promise<boolean> {
    return this.store.set(this.keys.epoch(schema), randomToken(), 0);
  }

  /** Invalidate every entry of the namespace. */
  async rotateNamespace(): Promise<void> {
    await this.store.set(this.keys.namespaceToken(), randomToken(), 0);
  }

  #filled(schema: ModelSchema, stored: boolean): void {
    const counters = this.metrics.model(schema.name).row;
    if (stored) counters.fills++;
    else counters.fillsRejected++;
  }

  #encodeFresh(ticket: FillTicket | WarmTicket, row: Record<string, unknown>): string | undefined {
    if (this.#tooOld(ticket)) {
      this.#filled(ticket.schema, false);
      return undefined;
    }
    // A fill's ticket taken for a possible absence also holds the absence
    // tokens; its row records only the row tokens. A warming read's row
    // records its warm token too, and nothing without one.
    const rowTokens = this.tokenKeys(ticket.schema).length;
    const filling = 'key' in ticket;
    if (!filling && ticket.tokens.length !== rowTokens + 1) return undefined;
    const value = encodeRow(ticket.schema, row, filling ? ticket.tokens.slice(0, rowTokens) : ticket.tokens);
    if (value === undefined || Buffer.byteLength(value) > this.store.maxValueBytes) return undefined;
    return value;
  }
}

/** Seconds a "no such row" entry is kept at most. */
const ABSENCE_TTL = 60;

function sameTokens(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

/**
 * Whether a row entry's tokens are current: the row tokens, and the warm
 * token too for a row copied in by a warming read (one more token).
 */
function validRow(recorded: readonly string[], current: readonly string[], warm: string | undefined): boolean {
  if (recorded.length === current.length) return sameTokens(recorded, current);
  return warm !== undefined && recorded.length === current.length + 1 && recorded[current.length] === warm && current.every((t, i) => t === recorded[i]);
}
