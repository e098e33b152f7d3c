/**
 * The pointer lists of recent list hits, so that the next hit of a list can
 * fetch its rows in the same multi-get as its entry: one round trip instead
 * of two (docs/how-it-works.md, "Store round trips").
 *
 * A remembered list is only a guess of which rows to fetch. The rows fetched
 * with it are used only when the entry then read is byte for byte the entry
 * remembered, and valid: that entry existed before the rows were read, and
 * any write to a row it points to would have rotated one of its tokens
 * (source/tokens/conjunctions.ts), so the rows read are the rows of that
 * entry at that moment, as if read after it. Anything else falls back to
 * fetching the rows after the entry, as without a guess.
 */

/** Lists longer than this are not remembered: their rows take several commands anyway. */
export const REMEMBERED_ROWS_LIMIT = 100;

/** What one list hit saw: the entry's stored text and the row key texts it points to. */
export interface RememberedList {
  readonly text: string;
  readonly pkTexts: readonly string[];
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

  /** Remember what a hit under `entryKey` saw; the least recently used list goes beyond the limit. */
  remember(entryKey: string, text: string, pkTexts: readonly string[]): void {
    if (this.limit === 0 || pkTexts.length === 0 || pkTexts.length > REMEMBERED_ROWS_LIMIT) return;
    const known = this.#lists.get(entryKey);
    if (known?.text === text) return;
    this.#lists.delete(entryKey);
    this.#lists.set(entryKey, { text, pkTexts });
    if (this.#lists.size > this.limit) this.#lists.delete(this.#lists.keys().next().value as string);
  }

  forget(entryKey: string): void {
    this.#lists.delete(entryKey);
  }
}
