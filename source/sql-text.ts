/**
 * Raw SQL through `sequelize.query()` bypasses every model hook, so writes are
 * recognised from the statement text (the wrapped `sequelize.query` sees it) and the epoch of
 * every cached model whose table it names is rotated. Recognition errs on the
 * side of invalidating: a table name anywhere in a writing statement counts,
 * and a statement whose tables cannot be known (CALL, EXECUTE) invalidates
 * every cached model.
 */
import { escapeRegExp } from './util';

/** First keywords of statements that never change rows. */
const READ_ONLY = new Set([
  'SELECT', 'SHOW', 'DESCRIBE', 'DESC', 'EXPLAIN', 'SET', 'START', 'BEGIN', 'COMMIT', 'ROLLBACK',
  'SAVEPOINT', 'RELEASE', 'USE', 'XA', 'CHECKSUM', 'HELP', 'DO', 'VALUES', 'TABLE',
]);
/** Writes whose target tables the text does not show. */
const OPAQUE = new Set(['CALL', 'EXECUTE', 'EXEC', 'HANDLER', 'SOURCE']);

/**
 * Drop single-quoted literals and comments, which could name a table without
 * touching it. Double quotes stay: under ANSI_QUOTES they quote identifiers.
 */
function strip(sql: string): string {
  // One pass, so whichever starts first wins: an apostrophe inside a comment
  // does not open a literal, and a comment marker inside a literal is text.
  return sql.replace(/'(?:[^'\\]|\\.|'')*'|\/\*[\s\S]*?\*\/|(?:--\s|#)[^\n]*/g, (m) => (m.startsWith("'") ? "''" : ' '));
}

/** Statements that change tables rather than rows. */
const DDL = new Set(['CREATE', 'ALTER', 'DROP', 'RENAME', 'TRUNCATE']);

/** What a statement writes: nothing, the named tables among `tables`, or possibly anything. */
export function tablesWritten(sql: string, tables: readonly string[]): 'all' | string[] {
  return statementWrites(sql, () => tables).tables;
}

/**
 * {@link tablesWritten}, and whether the statement is DDL (CREATE, ALTER,
 * DROP, RENAME, TRUNCATE). `tables` is asked for only when the statement
 * writes named tables.
 */
export function statementWrites(sql: string, tables: () => readonly string[]): { tables: 'all' | string[]; ddl: boolean } {
  const text = strip(sql);
  const statements = text.split(';').map((s) => s.trim()).filter(Boolean);
  let writes = false;
  let ddl = false;
  for (const statement of statements) {
    const first = /^[\s(]*([A-Za-z]+)/.exec(statement)?.[1]?.toUpperCase();
    if (!first) continue;
    if (OPAQUE.has(first)) return { tables: 'all', ddl };
    if (READ_ONLY.has(first)) continue;
    writes = true;
    if (DDL.has(first)) ddl = true;
  }
  if (!writes) return { tables: [], ddl };
  return { tables: named(text, tables()), ddl };
}

/** The tables among `tables` that the (stripped) text names. */
function named(text: string, tables: readonly string[]): string[] {
  return tables.filter((table) => {
    const escaped = escapeRegExp(table);
    return new RegExp(`(^|[^A-Za-z0-9_$])${escaped}($|[^A-Za-z0-9_$])`, 'i').test(text);
  });
}

/** What a FROM or JOIN names: `t`, `` `t` ``, `db.t`, and comma lists after FROM. */
const SOURCE = /\b(FROM|JOIN)\s+((?:[`"]?[\w$]+[`"]?(?:\.[`"]?[\w$]+[`"]?)?(?:\s+(?:AS\s+)?(?!WHERE|JOIN|ON|GROUP|ORDER|LIMIT|HAVING|UNION|INNER|LEFT|RIGHT|CROSS|NATURAL|STRAIGHT_JOIN|USING|FOR|LOCK|WINDOW)[\w$]+)?\s*,\s*)*[`"]?[\w$]+[`"]?(?:\.[`"]?[\w$]+[`"]?)?)/gi;

/**
 * The tables among `tables` that SQL text inside a read (a literal in a
 * where, attribute, order, group, having or include `on`) reads, or
 * `undefined` when it reads one that is not among them (a view, another
 * app's table): its writes could never invalidate the entry. Errs on the
 * side of reading more: a table name anywhere in the text counts.
 */
export function tablesRead(sql: string, tables: readonly string[]): string[] | undefined {
  const text = strip(sql);
  const known = new Set(tables.map((t) => t.toLowerCase()));
  for (const match of text.matchAll(SOURCE)) {
    for (const item of (match[2] as string).split(',')) {
      const name = item.trim().split(/\s+/)[0]?.replace(/[`"]/g, '') ?? '';
      const table = (name.includes('.') ? name.slice(name.lastIndexOf('.') + 1) : name).toLowerCase();
      if (!known.has(table)) return undefined;
    }
  }
  return named(text, tables);
}
