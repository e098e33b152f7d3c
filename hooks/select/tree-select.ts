/**
 * A query with includes from its pointer tree (hooks/select/pointer-tree.ts): one
 * multi-get per model for the rows, one `WHERE pk IN (…)` per model for rows
 * missing from the cache, and the nested objects Sequelize's grouping would
 * have made. The tree depends on relation tokens (the conjunction tokens of
 * each child's foreign key), so a child write invalidates only the trees of
 * the parents it leaves or joins.
 */
import type { Model, ModelStatic } from 'sequelize';
import { conjunctionId } from '../../source/tokens/conjunctions';
import { primaryKeyText } from '../../source/keys';
import type { EntryRef } from '../../source/lists/entry-cache';
import type { PkValues } from '../../source/lists/entry-format';
import type { ReadMeter } from '../../source/metrics/metrics';
import type { ModelSchema } from '../../source/model-schema';
import { throughEntry } from '../../stampede/entry-cycle';
import type { ReadContext } from '../cache-context';
import { type IncludeInfo, relationKeys, relationsOf } from './includes';
import { encodeTree, rebuildTree, type RowIndex, treeKeys } from './pointer-tree';
import type { SelectOptions } from '../query-options';
import { BesideEntry } from './beside-entry';
import { buildNested, groupJoin } from './build-result';
import { replaceRows, rowsOfList } from './list-rows';
import type { TreeShape } from './shape';
import { entryRead } from './entry-key';
import { lookupOnly } from '../transactions';

/** Serve a select with includes from its pointer tree. */
export async function treeSelect(
  cache: ReadContext,
  meter: ReadMeter,
  selectFor: (model: ModelStatic<Model>) => (options: SelectOptions) => Promise<unknown>,
  model: ModelStatic<Model>,
  schema: ModelSchema,
  options: SelectOptions,
  how: TreeShape,
  ref: EntryRef,
  ttl: number,
): Promise<unknown> {
  const startedAt = cache.options.clock.now();
  const run = selectFor(model);
  // The IN queries of missing rows take nothing from the tree query but its logging.
  const base: SelectOptions = { logging: options.logging, benchmark: options.benchmark };
  const relations = relationsOf(how.includes);
  const everyWrite = [...new Set(relations.map((r) => cache.keys.conjunction(r.schema, conjunctionId([], []))))];
  // Filled before the database read of a miss: the registries' tokens, and
  // the "every write" tokens of the relation models, to check afterwards that
  // no write of theirs slipped between the read and the relation tokens.
  let registered: Map<string, string> | undefined;
  let before: Map<string, string> | undefined;
  const beside = new BesideEntry(cache, ref.entryKey);
  const fetch = !lookupOnly(cache, options);
  return throughEntry(cache, meter, entryRead(cache, ref, options), {
    alongside: () => beside.fetch(),
    hit: async (lookup) => {
      const value = lookup.whole.found ? (lookup.whole.value as { tree?: unknown; rel?: unknown }) : undefined;
      if (!value || !Array.isArray(value.tree) || !Array.isArray(value.rel)) return undefined;
      let keys: Map<ModelSchema, PkValues[]>;
      try {
        keys = treeKeys(schema, value.tree, how.includes);
      } catch {
        return undefined;
      }
      const recorded = value.rel as [string, string][];
      const models = new Map<ModelSchema, ModelStatic<Model>>([[schema, model], ...modelsOf(how.includes)]);
      const index: RowIndex = new Map();
      const early = beside.usable(lookup);
      const recordedKeys = recorded.map(([k]) => k);
      let incomplete = false;
      const [current, ...complete] = await Promise.all([
        early ? early.tokens.then((t) => t ?? cache.entries.tokenValues(recordedKeys, false)) : cache.entries.tokenValues(recordedKeys, false),
        ...[...keys].map(async ([s, pks]) => {
          const m = models.get(s) as ModelStatic<Model>;
          const rows = await rowsOfList(cache, selectFor(m), m, s, base, pks, await early?.rows(s), fetch);
          if (rows === 'incomplete') {
            incomplete = true; // a read that may not fill reads the query instead
            return true;
          }
          if (rows) index.set(s, new Map(rows.map((row, i) => [primaryKeyText(s, pks[i] as PkValues) as string, row])));
          return rows !== undefined;
        }),
      ]);
      if (incomplete || !current || !recorded.every(([k, v]) => current.get(k) === v)) return undefined;
      if (!complete.every(Boolean)) {
        beside.forget();
        return 'rebuild';
      }
      const material = rebuildTree(schema, how.columns, value.tree, how.includes, index);
      if (material) beside.remember(lookup, keys, recordedKeys);
      return material ? { material } : undefined;
    },
    direct: () => run(options),
    // Together, and with the entry's own preparation: each only has to land before the database read.
    prepare: async () => {
      const [tokens, everyBefore] = await Promise.all([
        Promise.all(relations.map((relation) => cache.entries.register(relation.schema, [relation.field]))),
        cache.entries.tokenValues(everyWrite, true),
      ]);
      registered = new Map();
      for (const [i, relation] of relations.entries()) {
        const token = tokens[i];
        if (token === undefined) {
          registered = undefined;
          return;
        }
        registered.set(cache.keys.registry(relation.schema), token);
      }
      before = everyBefore;
    },
    read: async () => (await run({ ...options, raw: true, plain: false, nest: false })) as Record<string, unknown>[],
    save: async (tokens, flat, soft, prepared) => {
      const grouped = groupJoin(cache.sequelize, model, options, flat);
      const encoded = encodeTree(schema, grouped, how.includes);
      const relationKeySet = relationKeys(cache, how.includes, grouped);
      if (!encoded || !relationKeySet || !registered || !before) return;
      const relationTokens = await cache.entries.tokenValues([...relationKeySet], true);
      const after = await cache.entries.tokenValues(everyWrite, false);
      // A write of a relation model between the database read and the
      // relation tokens read above would make the tree stale under current
      // tokens; it shows as a changed "every write" token: store nothing.
      if (!relationTokens || !after || everyWrite.some((k) => before?.get(k) !== after.get(k))) return;
      const rel = [...relationTokens, ...registered];
      await cache.entries.saveWhole(ref, tokens, { tree: encoded.tree, rel }, ttl, soft);
      for (const [s, rows] of encoded.rows) {
        // Each model's row tokens were read with the entry's, before the database read.
        const at = (key: string) => tokens[ref.dependencyKeys.indexOf(key)];
        const rowTokens = [at(cache.keys.namespaceToken()), at(cache.keys.epoch(s)), prepared.warm.get(cache.keys.warm(s))];
        if (rowTokens.some((t) => t === undefined)) continue;
        const generation = prepared.marks.get(cache.keys.writes(s))?.generation;
        await replaceRows(cache, s, options, { schema: s, tokens: rowTokens as string[], startedAt, generation }, rows);
      }
    },
    material: (flat) => groupJoin(cache.sequelize, model, options, flat),
    answer: (nested) => buildNested(model, options, nested),
  });
}

/** Schema → model of every model of an include tree (through models too). */
function modelsOf(includes: IncludeInfo[], into = new Map<ModelSchema, ModelStatic<Model>>()) {
  for (const include of includes) {
    into.set(include.schema, include.model);
    if (include.through) into.set(include.through.schema, include.through.model);
    modelsOf(include.children, into);
  }
  return into;
}
