/**
 * One list or tree read's use of its remembered entry
 * (source/lists/remembered-lists.ts): ask for the rows (and a tree's
 * relation tokens) the entry pointed to at its last hit in the same tick as
 * the entry, use them only beside the very entry remembered, and remember
 * what a hit on another entry points to.
 */
import { primaryKeyText } from '../../source/keys';
import type { EntryLookup } from '../../source/lists/entry-cache';
import type { PkValues } from '../../source/lists/entry-format';
import type { ModelSchema } from '../../source/model-schema';
import type { RowLookup } from '../../source/rows/row-cache';
import type { ReadContext } from '../cache-context';

/** What was fetched beside the entry. */
export interface Fetched {
  /** The row lookup of one model's remembered rows. */
  rows(schema: ModelSchema): Promise<RowLookup | undefined>;
  /** The remembered token keys' values (undefined: none remembered, or the store failed). */
  readonly tokens: Promise<Map<string, string> | undefined>;
}

export class BesideEntry {
  #text: string | undefined;
  #rows = new Map<ModelSchema, Promise<RowLookup | undefined>>();
  #tokens: Promise<Map<string, string> | undefined> = Promise.resolve(undefined);
  /** Whether a lookup read the very entry remembered (then nothing new is remembered). */
  #same = false;

  constructor(
    private readonly cache: ReadContext,
    private readonly entryKey: string,
  ) {}

  /** Ask for what the entry pointed to at its last hit, if anything is remembered. */
  fetch(): void {
    const list = this.cache.remembered.get(this.entryKey);
    if (!list) return;
    this.#text = list.text;
    for (const [schema, texts] of list.rows) this.#rows.set(schema, this.cache.rows.lookup(schema, texts).catch(() => undefined));
    if (list.tokenKeys.length > 0) this.#tokens = this.cache.entries.tokenValues(list.tokenKeys, false).catch(() => undefined);
  }

  /**
   * What was fetched, only when `lookup` read the very entry remembered: that
   * entry existed before the rows were read, and vouches for them.
   */
  usable(lookup: EntryLookup): Fetched | undefined {
    const text = lookup.storeValues.get(this.entryKey);
    this.#same = text !== undefined && text === this.#text;
    if (!this.#same) return undefined;
    return { rows: (schema) => this.#rows.get(schema) ?? Promise.resolve(undefined), tokens: this.#tokens };
  }

  /** After a hit on another entry than the one remembered: remember what it points to. */
  remember(lookup: EntryLookup, pointers: ReadonlyMap<ModelSchema, PkValues[]>, tokenKeys: readonly string[]): void {
    const text = lookup.storeValues.get(this.entryKey);
    if (this.#same || text === undefined) return;
    const rows = new Map<ModelSchema, string[]>();
    for (const [schema, pks] of pointers) {
      const texts = pks.map((pk) => primaryKeyText(schema, pk));
      if (!texts.every((t): t is string => t !== undefined)) return;
      rows.set(schema, texts);
    }
    this.cache.remembered.remember(this.entryKey, { text, rows, tokenKeys });
  }

  /** The entry points to rows that are gone: forget it. */
  forget(): void {
    this.cache.remembered.forget(this.entryKey);
  }
}
