/**
 * Which models are stored in which table: statements (raw SQL, DDL, the SQL
 * text of a literal) and query interface calls name tables, invalidation and
 * dependencies are per model. Read from the instance's models each time: an
 * app may define models after install(), and the suite redefines them.
 */

/** The table name a model class stores its rows in, or undefined for anything else. */
export function tableOf(model: unknown): string | undefined {
  const m = model as { getTableName?: () => string | { tableName: string } } | undefined;
  if (typeof m?.getTableName !== 'function') return undefined;
  const table = m.getTableName();
  return typeof table === 'string' ? table : table.tableName;
}

/** The models of `models` by the table they are stored in (several models may share one). */
export function modelsByTable(models: Readonly<Record<string, unknown>>): Map<string, unknown[]> {
  const byTable = new Map<string, unknown[]>();
  for (const model of Object.values(models)) {
    const table = tableOf(model);
    if (table === undefined) continue;
    const list = byTable.get(table);
    if (list) list.push(model);
    else byTable.set(table, [model]);
  }
  return byTable;
}
