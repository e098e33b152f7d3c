/**
 * Query entries: a list query's result as the ordered primary keys of its
 * rows (django-orm-cache's pointer lists), and trees, whole values and
 * counts, each valid only while every token it was built under is unchanged
 * (docs/architecture.md, Keys and entries):
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
import { randomToken } from '../clock';
import { type Conjunction, conjunctionId, rowTuple, schemeTouched } from '../tokens/conjunctions';
import type { GuardedStore } from '../store/guarded-store';
import type { KeySpace } from '../keys';
import type { ModelSchema } from '../model-schema';
import { type MarkReading, readMark } from '../tokens/write-marks';
import {
  chunkHead,
  chunkKey,
  decodeQueryEntry,
  encodeChunkHead,
  encodeList,
  encodeWhole,
  type PkValues,
  type SoftExpiry,
  splitChunks,
} from './entry-format';
import { parseRegistry, registerScheme, registeredToken } from './scheme-registry';

export type { PkValues, SoftExpiry } from './entry-format';

/** Where one query's entry lives and which tokens and write marks it depends on. */
export interface EntryRef {
  readonly schema: ModelSchema;
  readonly entryKey: string;
  readonly conjunction: Conjunction;
  /** Token keys, in the order the entry records their values. */
  readonly dependencyKeys: readonly string[];
  /** Write marks of every model the entry depends on: it is stored only while all are 0. */
  readonly markKeys: readonly string[];
  /** Every model the entry depends on, its own first. */
  readonly models: readonly ModelSchema[];
}

/** What a miss read before its database read: the tokens to record, and its models' write marks. */
export interface Prepared {
  tokens: string[];
  /** By mark key (`KeySpace.writes`); every one has no write in flight. */
  marks: Map<string, MarkReading>;
  /** The warm token of each model the entry depends on, by key (`KeySpace.warm`), for the rows its read warms. */
  warm: Map<string, string>;
}

/** What one lookup of an entry found. */
export interface EntryLookup {
  /** Soft expiry of the valid entry found, if any. */
  soft?: SoftExpiry;
  /** The primary keys of a valid pointer entry; `undefined` on a miss. */
  pks: PkValues[] | undefined;
  /** The value of a valid whole-value entry (`found` false on a miss). */
  whole: { found: boolean; value?: unknown };
  /** Every value the multi-get returned (the entry and its tokens), reused by the fill. */
  storeValues: Map<string, string>;
  /** Whether the store answered. */
  ok: boolean;
}

/** The entries of queries (lists, trees, whole values, counts) and the tokens they depend on. */
export class EntryCache {
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
  ref(
    schema: ModelSchema,
    hash: string,
    conjunction: Conjunction,
    others: readonly ModelSchema[] = [],
    /** Models whose row changes are tracked otherwise (relation tokens): only writes of unknown rows matter. */
    loose: readonly ModelSchema[] = [],
  ): EntryRef {
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
    const models = [...new Set([schema, ...others, ...loose])];
    return {
      schema,
      entryKey: k.list(schema, hash),
      conjunction,
      dependencyKeys: [...own, ...[...extra].filter((key) => !own.includes(key))],
      markKeys: models.map((s) => k.writes(s)),
      models,
    };
  }

  /** The current value of each dependency (the registry's is its token). */
  #current(ref: EntryRef, storeValues: Map<string, string>): (string | undefined)[] {
    const registryKey = this.keys.registry(ref.schema);
    return ref.dependencyKeys.map((key) =>
      key === registryKey ? parseRegistry(storeValues.get(key))?.token : storeValues.get(key),
    );
  }

  /**
   * One multi-get of the entry and every token it depends on (and, for an
   * entry split over chunks whose head is valid, one more for the chunks).
   */
  async lookup(ref: EntryRef): Promise<EntryLookup> {
    const { values, ok } = await this.store.getMulti([ref.entryKey, ...ref.dependencyKeys]);
    const current = this.#current(ref, values);
    let text = values.get(ref.entryKey);
    const head = chunkHead(text);
    if (head && head.tokens.length === current.length && head.tokens.every((t, i) => t === current[i])) {
      text = await this.#readChunks(ref.entryKey, head);
    }
    const entry = decodeQueryEntry(text, ref.schema.primaryKeys.length);
    const valid =
      entry !== undefined &&
      current.every((t) => t !== undefined) &&
      entry.tokens.length === current.length &&
      entry.tokens.every((t, i) => t === current[i]);
    return {
      soft: valid ? entry.soft : undefined,
      pks: valid && entry.pks ? entry.pks : undefined,
      whole: valid && entry.whole ? { found: true, value: entry.whole.value } : { found: false },
      storeValues: values,
      ok,
    };
  }

  /**
   * Before the database read of a miss: register the list's scheme (so that
   * writers from now on rotate its conjunction tokens), create missing
   * tokens, and read the write marks. `undefined` when the store cannot tell
   * or a write of a model the entry depends on is in flight; nothing is
   * stored then.
   *
   * One round trip in the usual case: the registration, the `add`s of the
   * missing tokens and the marks are sent together. The marks must be read
   * after every token the entry records (a write that rotated one had raised
   * its mark first, so its mark is seen unless the write has already made its
   * last invalidation, docs/transparency.md, write marks): those of the lookup
   * that gave `storeValues` were; a token this reader's own `add` made was
   * too when the store applies commands in the order called (`ordered`). A
   * token read any other way (another reader's `add` won, an unordered
   * store) costs a second read of the marks. The registration only has to
   * land before the database read.
   */
  async prepare(ref: EntryRef, storeValues: Map<string, string>): Promise<Prepared | undefined> {
    const registryKey = this.keys.registry(ref.schema);
    // `||`: an empty value is a forged one (GuardedStore), never a token.
    const missing = ref.dependencyKeys.filter((key) => key !== registryKey && !storeValues.get(key));
    // A registry the lookup read that names the scheme already was registered before it.
    const known = registeredToken(parseRegistry(storeValues.get(registryKey)), ref.conjunction.scheme);
    const registering = known === undefined ? this.#register(ref) : known;
    const creating = Promise.all(missing.map((key) => this.store.createToken(key)));
    // Called after the `add`s: on an ordered store it is applied after them.
    const marking = this.#marks(ref);
    const [registryToken, firstMarks, created, warm] = await Promise.all([registering, marking, creating, this.#warmTokens(ref)]);
    if (registryToken === undefined || !firstMarks || !warm) return undefined;
    const made = new Map(missing.map((key, i) => [key, created[i]]));
    const tokens: string[] = [];
    for (const key of ref.dependencyKeys) {
      const value = key === registryKey ? registryToken : storeValues.get(key) || made.get(key)?.value;
      if (value === undefined) return undefined;
      tokens.push(value);
    }
    if (missing.length === 0 || (this.store.ordered && created.every((c) => c.added))) return { tokens, marks: firstMarks, warm };
    const marks = await this.#marks(ref);
    return marks ? { tokens, marks, warm } : undefined;
  }

  /**
   * The warm tokens of the entry's models (source/rows/row-cache.ts), read
   * before the database read like the entry's own tokens, creating missing
   * ones (a second round trip, only then); undefined when the store cannot tell.
   */
  async #warmTokens(ref: EntryRef): Promise<Map<string, string> | undefined> {
    const keys = ref.models.map((schema) => this.keys.warm(schema));
    const { values, ok } = await this.store.getMulti(keys);
    if (!ok) return undefined;
    const warm = new Map<string, string>();
    for (const key of keys) {
      // `||`: an empty value is a forged one (GuardedStore), never a token.
      const value = values.get(key) || (await this.store.ensureToken(key));
      if (value === undefined) return undefined;
      warm.set(key, value);
    }
    return warm;
  }

  /** The write marks of an entry's models, by mark key; undefined while any write is in flight or the store cannot tell. */
  async #marks(ref: EntryRef): Promise<Map<string, MarkReading> | undefined> {
    const counters = await this.store.counters(ref.markKeys);
    if (!counters) return undefined;
    const readings = new Map<string, MarkReading>();
    for (const [key, value] of counters) {
      const reading = readMark(value);
      if (reading.inFlight > 0) return undefined;
      readings.set(key, reading);
    }
    return readings;
  }

  async #register(ref: EntryRef): Promise<string | undefined> {
    return this.register(ref.schema, ref.conjunction.scheme);
  }

  /**
   * Make sure writers of `schema` rotate the tokens of `scheme` from now on;
   * the registry's token, which an entry relying on that must record.
   */
  register(schema: ModelSchema, scheme: readonly string[]): Promise<string | undefined> {
    return registerScheme(this.store, this.keys.registry(schema), scheme);
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
  async save(ref: EntryRef, tokens: readonly string[], pks: readonly PkValues[], ttl: number, soft: SoftExpiry): Promise<boolean> {
    const value = encodeList(tokens, soft, pks, ref.schema.primaryKeys.length);
    return value === undefined ? false : this.#write(ref.entryKey, tokens, value, ttl);
  }

  /**
   * Store an entry, split over chunk keys when it exceeds one item (django-orm-cache's
   * "key length"). Chunks go first, under a fresh random id, and the
   * head naming them last: a reader never assembles chunks of two versions,
   * and a head is only visible once its chunks are.
   */
  async #write(key: string, tokens: readonly string[], text: string, ttl: number): Promise<boolean> {
    if (Buffer.byteLength(text) <= this.store.maxValueBytes) return this.store.set(key, text, ttl);
    const chunks = splitChunks(text, this.store.maxValueBytes);
    if (!chunks) return false;
    const id = randomToken();
    const stored = await Promise.all(chunks.map((chunk, i) => this.store.set(chunkKey(key, id, i), chunk, ttl)));
    if (!stored.every(Boolean)) return false;
    return this.store.set(key, encodeChunkHead(tokens, id, chunks.length), ttl);
  }

  async #readChunks(key: string, head: { id: string; count: number }): Promise<string | undefined> {
    const keys = Array.from({ length: head.count }, (_, i) => chunkKey(key, head.id, i));
    const { values } = await this.store.getMulti(keys);
    const parts = keys.map((k) => values.get(k));
    return parts.every((p) => p !== undefined) ? parts.join('') : undefined;
  }

  /** Store a whole value (a join's rows, an aggregate) built after {@link prepare}. */
  async saveWhole(ref: EntryRef, tokens: readonly string[], value: unknown, ttl: number, soft: SoftExpiry): Promise<boolean> {
    const text = encodeWhole(tokens, soft, value);
    return text === undefined ? false : this.#write(ref.entryKey, tokens, text, ttl);
  }

  /** Drop one list entry. */
  async forget(ref: EntryRef): Promise<void> {
    await this.store.delete(ref.entryKey);
  }

  /**
   * After rows changed: rotate, for every scheme in use, the tokens of each
   * version's tuple, and the empty scheme's token. With `changed` (the
   * attributes an update set, and those the database changes by itself),
   * schemes that name what their lists read and read none of it keep their
   * tokens (source/tokens/conjunctions.ts). A version that cannot be
   * described rotates the list epoch instead. Must run after the write is
   * visible in the database (it reads the registry, which readers fill
   * before their database read).
   *
   * One round trip in the usual case: the tokens of the schemes this process
   * last saw in the registry are rotated while the registry is read; only
   * schemes it did not know yet cost a second round trip. What is rotated is
   * never less than what the registry read after the write names.
   */
  async rowsChanged(schema: ModelSchema, versions: readonly Record<string, unknown>[], changed?: ReadonlySet<string>): Promise<void> {
    const keysOf = (schemes: readonly (readonly string[])[]): Set<string> | undefined => {
      const keys = new Set<string>();
      for (const scheme of [[], ...schemes]) {
        if (!schemeTouched(scheme, changed)) continue;
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
