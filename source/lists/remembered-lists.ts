/**
 * The pointers of recent list and tree hits, so that the next hit of an
 * entry can fetch its rows (and a tree's relation tokens) in the same
 * multi-get as the entry: one round trip instead of two (docs/how-it-works.md,
 * "Store round trips").
 *
 * A remembered entry is only a guess of what to fetch. What is fetched with
 * it is used only when the entry then read is byte for byte the entry
 * remembered, and valid: that entry existed before the rows were read, and
 * any write to a row it points to would have rotated one of its tokens
 * (source/tokens/conjunctions.ts), so the rows read are the rows of that
 * entry at that moment, as if read after it. Anything else falls back to
 * fetching the rows after the entry, as without a guess.
 */
import type { ModelSchema } from '../model-schema';

/** Entries pointing to more rows than this are not remembered. */
export const REMEMBERED_ROWS_LIMIT = 200;

/** What one hit saw: the entry's stored text, the rows it points to and the further tokens it records. */
export interface RememberedList {
  readonly text: string;
  /** Row key texts per model. */
  readonly rows: ReadonlyMap<ModelSchema, readonly string[]>;
  /** Token keys recorded in the entry (a tree's relation tokens). */
  readonly tokenKeys: readonly string[];
}

/** A bounded, least-recently-used map from entry key to the list last seen there. */
export class RememberedLists {
  readonly #lists = new Map<string, RememberedList>();

  /** @param limit - lists kept per process (`rememberedLists`); 0 keeps none */
  constructor(readonly limit: number) {}

  get size(): number {
    return this.#lists.size;
  }

  /** The list last seen under `entryKey`, if any (now the most recently used). */
  get(entryKey: string): RememberedList | undefined {
    const list = this.#lists.get(entryKey);
    if (list) {
      this.#lists.delete(entryKey);
      this.#lists.set(entryKey, list);
    }
    return list;
  }

  /** Remember what a hit under `entryKey` saw; the least recently used entry goes beyond the limit. */
  remember(entryKey: string, list: RememberedList): void {
    let count = 0;
    for (const texts of list.rows.values()) count += texts.length;
    if (this.limit === 0 || count === 0 || count > REMEMBERED_ROWS_LIMIT) return;
    if (this.#lists.get(entryKey)?.text === list.text) return;
    this.#lists.delete(entryKey);
    this.#lists.set(entryKey, list);
    if (this.#lists.size > this.limit) this.#lists.delete(this.#lists.keys().next().value as string);
  }

  forget(entryKey: string): void {
    this.#lists.delete(entryKey);
  }
}
