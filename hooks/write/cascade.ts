/**
 * Which cached models a write to a table reaches: every model stored in the
 * table (whatever model the call names), and the models the database changes
 * along through ON DELETE / ON UPDATE actions.
 */
import type { ModelSchema } from '../../source/model-schema';
import type { SchemaLookup } from '../cache-context';
import { modelsByTable, tableOf } from '../tables';
import type { Sequelize } from 'sequelize';

/** The instance's models and which of them are cached. */
type Models = SchemaLookup & { readonly sequelize: Sequelize };

/** Referential actions by which the database itself writes the referencing rows. */
const CASCADING = /^(CASCADE|SET NULL|SET DEFAULT)$/i;

/** The parts of a model class the walk reads. */
type ModelMeta = {
  rawAttributes: Record<string, { references?: { model?: unknown }; onDelete?: unknown; onUpdate?: unknown; primaryKey?: boolean; field?: string }>;
  options: { paranoid?: boolean };
};

/**
 * Models whose rows the database itself changes when rows of `table` are
 * deleted or get a new key: foreign keys with ON DELETE / ON UPDATE CASCADE,
 * SET NULL or SET DEFAULT, followed transitively (authors → articles →
 * comments). No statement names those writes, so the referencing models
 * are invalidated whole.
 */
export function cascadeTargets(cache: Models, table: string | undefined): ModelSchema[] {
  if (!table) return [];
  const seen = new Set<string>([table]);
  const queue = [table];
  const targets: ModelSchema[] = [];
  while (queue.length > 0) {
    const parent = queue.shift() as string;
    for (const model of Object.values(cache.sequelize.models) as unknown as ModelMeta[]) {
      const references = Object.values(model.rawAttributes ?? {}).some((a) => {
        const target = a.references?.model;
        const name = typeof target === 'string' ? target : tableOf(target) ?? (target as { tableName?: string })?.tableName;
        return name === parent && (CASCADING.test(String(a.onDelete ?? '')) || CASCADING.test(String(a.onUpdate ?? '')));
      });
      const child = tableOf(model);
      if (!references || !child || seen.has(child)) continue;
      seen.add(child);
      queue.push(child);
      const schema = cache.schemaOf(model);
      if (schema) targets.push(schema);
    }
  }
  return targets;
}

/** Whether a write setting `columns` of `table` may change a primary key (and so cascade). */
export function setsKey(cache: Models, table: string | undefined, columns: readonly string[]): boolean {
  return modelsOfTable(cache, table).some((model) =>
    Object.entries((model as Partial<ModelMeta>).rawAttributes ?? {}).some(
      ([name, a]) => a.primaryKey && (columns.includes(name) || columns.includes(a.field ?? name)),
    ),
  );
}

/** The table name of a query interface argument (`'t'` or `{ tableName: 't', schema }`). */
export function tableName(table: unknown): string | undefined {
  if (typeof table === 'string') return table;
  const name = (table as { tableName?: unknown } | null)?.tableName;
  return typeof name === 'string' ? name : undefined;
}

/** Every model of the instance stored in `table`. */
export function modelsOfTable(cache: Models, table: string | undefined): unknown[] {
  return (table !== undefined && modelsByTable(cache.sequelize.models).get(table)) || [];
}
