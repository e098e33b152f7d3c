/**
 * List entries: a query's result as the ordered primary keys of its rows (the
 * django-orm-cache's pointer lists), valid only while every token it was built under is
 * unchanged (docs/architecture.md, Keys and entries):
 *
 *   namespace token, row epoch   – as for rows
 *   list epoch                    – rows changed in ways the writer could not describe
 *   scheme registry token         – losing the registry invalidates, never goes stale
 *   conjunction tokens            – the field=value combinations the where pins
 *
 * The token keys follow from the query, so the reader fetches them in the same
 * multi-get as the entry. A list is stored with a plain `set`: a reader that
 * built it from an old database read recorded the tokens it read before that
 * read, and any write since has rotated one of them.
 */
import { randomToken } from './clock';
import { decodeValue, encodeAny, encodeValue, untagAny } from './codec';
import { type Conjunction, conjunctionId, rowTuple } from './conjunctions';
import type { GuardedStore } from './guarded-store';
import type { KeySpace } from './keys';
import type { ModelSchema } from './model-schema';
import { type MarkReading, readMark } from './write-marks';

/** How one list query maps onto keys. */
export interface ListPlan {
  readonly schema: ModelSchema;
  readonly entryKey: string;
  readonly conjunction: Conjunction;
  /** Token keys, in the order the entry records their values. */
  readonly dependencyKeys: readonly string[];
  /** Write marks of every model the entry depends on: it is stored only while all are 0. */
  readonly markKeys: readonly string[];
}

/** Primary key values of one row, in primary key order. */
export type PkValues = unknown[];

/** When an entry goes soft-stale, and how long its query took (for early refresh). */
export interface SoftExpiry {
  /** Epoch ms after which one reader refreshes it while others get it stale. */
  softExpiresAt: number;
  /** How long the query that built it took, in ms. */
  delta: number;
}

/** What a miss read before its database read: the tokens to record, and its models' write marks. */
export interface Prepared {
  tokens: string[];
  /** By mark key (`KeySpace.writes`); every one has no write in flight. */
  marks: Map<string, MarkReading>;
}

export interface ListLookup {
  /** Soft expiry of the valid entry found, if any. */
  soft?: SoftExpiry;
  /** The primary keys of a valid pointer entry; `undefined` on a miss. */
  pks: PkValues[] | undefined;
  /** The value of a valid whole-value entry (`found` false on a miss). */
  whole: { found: boolean; value?: unknown };
  fetched: Map<string, string>;
  ok: boolean;
}

interface Registry {
  token: string;
  schemes: string[][];
}

function parseRegistry(text: string | undefined): Registry | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as { t?: unknown; s?: unknown };
    if (typeof parsed.t !== 'string' || !Array.isArray(parsed.s)) return undefined;
    if (!parsed.s.every((s) => Array.isArray(s) && s.every((f) => typeof f === 'string'))) return undefined;
    return { token: parsed.t, schemes: parsed.s as string[][] };
  } catch {
    return undefined;
  }
}

const sameScheme = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((f, i) => f === b[i]);

export class ListCache {
  /** The schemes each model's registry named when last read here (only ever a hint). */
  readonly #schemesSeen = new WeakMap<ModelSchema, readonly (readonly string[])[]>();

  constructor(
    readonly store: GuardedStore,
    readonly keys: KeySpace,
  ) {}

  /**
   * @param others - further models the result depends on (included models,
   *   `dependsOn`): any write to them invalidates the entry, through their row
   *   epoch, list epoch and empty-scheme token (which every write rotates).
   */
  plan(
    schema: ModelSchema,
    hash: string,
    conjunction: Conjunction,
    others: readonly ModelSchema[] = [],
    /** Models whose row changes are tracked otherwise (relation tokens): only writes of unknown rows matter. */
    loose: readonly ModelSchema[] = [],
  ): ListPlan {
    const k = this.keys;
    const extra = new Set<string>();
    for (const other of [...others, ...loose]) {
      extra.add(k.epoch(other));
      extra.add(k.listEpoch(other));
      if (others.includes(other)) extra.add(k.conjunction(other, conjunctionId([], [])));
    }
    const own = [
      k.namespaceToken(),
      k.epoch(schema),
      k.listEpoch(schema),
      k.registry(schema),
      ...conjunction.tuples.map((tuple) => k.conjunction(schema, conjunctionId(conjunction.scheme, tuple))),
    ];
    const marks = [...new Set([schema, ...others, ...loose].map((s) => k.writes(s)))];
    return { schema, entryKey: k.list(schema, hash), conjunction, dependencyKeys: [...own, ...[...extra].filter((key) => !own.includes(key))], markKeys: marks };
  }

  /** The current value of each dependency (the registry's is its token). */
  #current(plan: ListPlan, fetched: Map<string, string>): (string | undefined)[] {
    const registryKey = this.keys.registry(plan.schema);
    return plan.dependencyKeys.map((key) =>
      key === registryKey ? parseRegistry(fetched.get(key))?.token : fetched.get(key),
    );
  }

  /**
   * One multi-get of the entry and every token it depends on (and, for an
   * entry split over chunks whose head is valid, one more for the chunks).
   */
  async lookup(plan: ListPlan): Promise<ListLookup> {
    const { values, ok } = await this.store.getMulti([plan.entryKey, ...plan.dependencyKeys]);
    const current = this.#current(plan, values);
    let text = values.get(plan.entryKey);
    const head = chunkHead(text);
    if (head && head.tokens.length === current.length && head.tokens.every((t, i) => t === current[i])) {
      text = await this.#readChunks(plan.entryKey, head);
    }
    const entry = decodeList(text, plan.schema.primaryKeys.length);
    const valid =
      entry !== undefined &&
      current.every((t) => t !== undefined) &&
      entry.tokens.length === current.length &&
      entry.tokens.every((t, i) => t === current[i]);
    return {
      soft: valid ? entry.soft : undefined,
      pks: valid && entry.pks ? entry.pks : undefined,
      whole: valid && entry.whole ? { found: true, value: entry.whole.value } : { found: false },
      fetched: values,
      ok,
    };
  }

  /**
   * Before the database read of a miss: register the list's scheme (so that
   * writers from now on rotate its conjunction tokens), create missing
   * tokens, and read the write marks. `undefined` when the store cannot tell
   * or a write of a model the entry depends on is in flight; nothing is
   * stored then.
   */
  async prepare(plan: ListPlan, fetched: Map<string, string>): Promise<Prepared | undefined> {
    // The write marks are read after the tokens (the lookup that gave
    // `fetched`): a write that rotated a token this entry records had raised
    // its mark first, so its mark is seen here unless the write has already
    // made its last invalidation (docs/transparency.md, write marks).
    const [registryToken, firstMarks] = await Promise.all([this.#register(plan), this.#marks(plan)]);
    if (registryToken === undefined || !firstMarks) return undefined;
    let marks = firstMarks;
    const registryKey = this.keys.registry(plan.schema);
    const tokens: string[] = [];
    let created = false;
    for (const key of plan.dependencyKeys) {
      if (key === registryKey) {
        tokens.push(registryToken);
        continue;
      }
      // `||`: an empty value is a forged one (GuardedStore), never a token.
      let value = fetched.get(key);
      if (!value) {
        created = true;
        value = await this.store.ensureToken(key);
      }
      if (value === undefined) return undefined;
      tokens.push(value);
    }
    // A token read only now may have been set by a write after the marks were read.
    if (created) {
      const again = await this.#marks(plan);
      if (!again) return undefined;
      marks = again;
    }
    return { tokens, marks };
  }

  /** The write marks of a plan's models, by mark key; undefined while any write is in flight or the store cannot tell. */
  async #marks(plan: ListPlan): Promise<Map<string, MarkReading> | undefined> {
    const counters = await this.store.counters(plan.markKeys);
    if (!counters) return undefined;
    const readings = new Map<string, MarkReading>();
    for (const [key, value] of counters) {
      const reading = readMark(value);
      if (reading.inFlight > 0) return undefined;
      readings.set(key, reading);
    }
    return readings;
  }

  async #register(plan: ListPlan): Promise<string | undefined> {
    return this.register(plan.schema, plan.conjunction.scheme);
  }

  /**
   * Make sure writers of `schema` rotate the tokens of `scheme` from now on;
   * the registry's token, which an entry relying on that must record.
   */
  async register(schema: ModelSchema, scheme: readonly string[]): Promise<string | undefined> {
    const key = this.keys.registry(schema);
    for (let attempt = 0; attempt < 5; attempt++) {
      const seen = await this.store.gets(key);
      if (seen === null) return undefined;
      const registry = parseRegistry(seen?.value);
      if (!seen || !registry) {
        // Absent or unreadable: a new registry with a new token, so lists
        // recorded under a lost one can never validate again.
        const fresh: Registry = { token: randomToken(), schemes: scheme.length ? [[...scheme]] : [] };
        const text = JSON.stringify({ t: fresh.token, s: fresh.schemes });
        const stored = seen ? await this.store.cas(key, text, seen.cas, 0) : await this.store.add(key, text, 0);
        if (stored) return fresh.token;
        continue;
      }
      if (scheme.length === 0 || registry.schemes.some((s) => sameScheme(s, scheme))) return registry.token;
      const text = JSON.stringify({ t: registry.token, s: [...registry.schemes, [...scheme]] });
      if (Buffer.byteLength(text) > this.store.maxValueBytes) return undefined;
      if (await this.store.cas(key, text, seen.cas, 0)) return registry.token;
    }
    return undefined;
  }

  /**
   * Current values of token keys (a registry key yields its token), creating
   * missing tokens when `create` is set; `undefined` when the store cannot
   * tell.
   */
  async tokenValues(keys: readonly string[], create: boolean): Promise<Map<string, string> | undefined> {
    const { values, ok } = await this.store.getMulti(keys);
    if (!ok) return undefined;
    const out = new Map<string, string>();
    for (const key of keys) {
      let value = values.get(key);
      // Registry keys are the only keys ending in `:s` (see KeySpace): their
      // value is the registry, their token a field of it.
      if (key.endsWith(':s')) value = parseRegistry(value)?.token;
      else if (!value && create) value = await this.store.ensureToken(key);
      if (value === undefined) return create ? undefined : out;
      out.set(key, value);
    }
    return out;
  }

  /** Store a list built after {@link prepare}. */
  async save(plan: ListPlan, tokens: readonly string[], pks: readonly PkValues[], ttl: number, soft: SoftExpiry): Promise<boolean> {
    const value = encodeList(tokens, soft, pks, plan.schema.primaryKeys.length);
    return value === undefined ? false : this.#write(plan.entryKey, tokens, value, ttl);
  }

  /**
   * Store an entry, split over chunk keys when it exceeds one item (django-orm-cache's
   * "key length"). Chunks go first, under a fresh random id, and the
   * head naming them last: a reader never assembles chunks of two versions,
   * and a head is only visible once its chunks are.
   */
  async #write(key: string, tokens: readonly string[], text: string, ttl: number): Promise<boolean> {
    const max = this.store.maxValueBytes;
    if (Buffer.byteLength(text) <= max) return this.store.set(key, text, ttl);
    // A UTF-16 unit is at most 3 bytes of UTF-8, so this many units always fit.
    const size = Math.floor((max - 64) / 3);
    const chunks: string[] = [];
    for (let i = 0; i < text.length; ) {
      let end = Math.min(i + size, text.length);
      const last = text.charCodeAt(end - 1);
      if (end < text.length && last >= 0xd800 && last <= 0xdbff) end -= 1; // keep surrogate pairs whole
      chunks.push(text.slice(i, end));
      i = end;
    }
    if (chunks.length > MAX_CHUNKS) return false;
    const id = randomToken();
    const stored = await Promise.all(chunks.map((chunk, i) => this.store.set(`${key}:${id}:${i}`, chunk, ttl)));
    if (!stored.every(Boolean)) return false;
    return this.store.set(key, JSON.stringify(['c', tokens, id, chunks.length]), ttl);
  }

  async #readChunks(key: string, head: { id: string; count: number }): Promise<string | undefined> {
    const keys = Array.from({ length: head.count }, (_, i) => `${key}:${head.id}:${i}`);
    const { values } = await this.store.getMulti(keys);
    const parts = keys.map((k) => values.get(k));
    return parts.every((p) => p !== undefined) ? parts.join('') : undefined;
  }

  /** Store a whole value (a join's rows, an aggregate) built after {@link prepare}. */
  async saveWhole(plan: ListPlan, tokens: readonly string[], value: unknown, ttl: number, soft: SoftExpiry): Promise<boolean> {
    const encoded = encodeAny(value);
    if (encoded === undefined) return false;
    const meta = JSON.stringify([soft.softExpiresAt, soft.delta]);
    return this.#write(plan.entryKey, tokens, `["v",${JSON.stringify(tokens)},${meta},${encoded}]`, ttl);
  }

  /** Drop one list entry. */
  async forget(plan: ListPlan): Promise<void> {
    await this.store.delete(plan.entryKey);
  }

  /**
   * After rows changed: rotate, for every scheme in use, the tokens of each
   * version's tuple, and the empty scheme's token. A version that cannot be
   * described rotates the list epoch instead. Must run after the write is
   * visible in the database (it reads the registry, which readers fill
   * before their database read).
   *
   * One round trip in the usual case: the tokens of the schemes this process
   * last saw in the registry are rotated while the registry is read; only
   * schemes it did not know yet cost a second round trip. What is rotated is
   * never less than what the registry read after the write names.
   */
  async rowsChanged(schema: ModelSchema, versions: readonly Record<string, unknown>[]): Promise<void> {
    const keysOf = (schemes: readonly (readonly string[])[]): Set<string> | undefined => {
      const keys = new Set<string>();
      for (const scheme of [[], ...schemes]) {
        for (const version of versions) {
          const tuple = rowTuple(schema, scheme, version);
          if (tuple === undefined) return undefined;
          if (tuple !== 'none') keys.add(this.keys.conjunction(schema, conjunctionId(scheme, tuple)));
        }
      }
      return keys;
    };
    const rotate = async (keys: Iterable<string>) => {
      await Promise.all([...keys].map((key) => this.store.set(key, randomToken(), 0)));
    };
    const early = keysOf(this.#schemesSeen.get(schema) ?? []);
    if (early === undefined) return this.allListsChanged(schema);
    const [seen] = await Promise.all([this.store.gets(this.keys.registry(schema)), rotate(early)]);
    // Unreadable is not absent: without the scheme list, assume every list.
    if (seen === null) return this.allListsChanged(schema);
    const schemes = parseRegistry(seen?.value)?.schemes ?? [];
    this.#schemesSeen.set(schema, schemes);
    const all = keysOf(schemes);
    if (all === undefined) return this.allListsChanged(schema);
    const late = [...all].filter((key) => !early.has(key));
    if (late.length > 0) await rotate(late);
  }

  /** Rows changed in ways the writer cannot describe: every list of the model. */
  async allListsChanged(schema: ModelSchema): Promise<void> {
    await this.store.set(this.keys.listEpoch(schema), randomToken(), 0);
  }
}

/** Most chunks one entry may take (about 20 MB with memcached's default item size). */
const MAX_CHUNKS = 64;

/** The head of a chunked entry: `["c", [tokens…], id, count]`. */
function chunkHead(text: string | undefined): { tokens: string[]; id: string; count: number } | undefined {
  if (text === undefined || !text.startsWith('["c",')) return undefined;
  try {
    const [, tokens, id, count] = JSON.parse(text) as [string, unknown, unknown, unknown];
    if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === 'string')) return undefined;
    if (typeof id !== 'string' || typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_CHUNKS) {
      return undefined;
    }
    return { tokens: tokens as string[], id, count };
  } catch {
    return undefined;
  }
}

/**
 * `["l", [tokens…], [softExpiresAt, delta], pk…]`, each pk an encoded value
 * or, for composite keys, an array of them.
 */
function encodeList(tokens: readonly string[], soft: SoftExpiry, pks: readonly PkValues[], width: number): string | undefined {
  const out: unknown[] = ['l', tokens, [soft.softExpiresAt, soft.delta]];
  for (const pk of pks) {
    const encoded = pk.map(encodeValue);
    if (encoded.some((v) => v === undefined)) return undefined;
    out.push(width === 1 ? encoded[0] : encoded);
  }
  return JSON.stringify(out);
}

function decodeSoft(meta: unknown): SoftExpiry {
  if (!Array.isArray(meta) || typeof meta[0] !== 'number' || typeof meta[1] !== 'number') throw new TypeError('bad meta');
  return { softExpiresAt: meta[0], delta: meta[1] };
}

function decodeList(
  text: string | undefined,
  width: number,
): { tokens: string[]; soft: SoftExpiry; pks?: PkValues[]; whole?: { value: unknown } } | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown[];
    if (!Array.isArray(parsed) || !Array.isArray(parsed[1])) return undefined;
    const tokens = parsed[1] as unknown[];
    if (!tokens.every((t) => typeof t === 'string')) return undefined;
    const soft = decodeSoft(parsed[2]);
    if (parsed[0] === 'v' && parsed.length === 4) {
      return { tokens: tokens as string[], soft, whole: { value: untagAny(parsed[3]) } };
    }
    if (parsed[0] !== 'l') return undefined;
    const pks = parsed.slice(3).map((pk) => {
      const parts = width === 1 ? [pk] : (pk as unknown[]);
      if (!Array.isArray(parts) || parts.length !== width) throw new TypeError('bad pk');
      return parts.map(decodeValue);
    });
    return { tokens: tokens as string[], soft, pks };
  } catch {
    return undefined;
  }
}
