/** Result columns of a select, resolved against the model's stored attributes. */
import type { ModelSchema } from '../source/model-schema';

export interface Column {
  /** Key in the result object. */
  as: string;
  /** Attribute name in the cached row. */
  from: string;
}

/** Result columns from `attributes` (after field mapping), or undefined for computed ones. */
export function projection(schema: ModelSchema, attributes: unknown[] | undefined): Column[] | undefined {
  if (!attributes) return schema.attributes.map((a) => ({ as: a.name, from: a.name }));
  const columns: Column[] = [];
  for (const entry of attributes) {
    if (typeof entry === 'string') {
      const attribute = schema.byField.get(entry) ?? schema.byName.get(entry);
      if (!attribute) return undefined;
      columns.push({ as: entry, from: attribute.name });
    } else if (Array.isArray(entry) && entry.length === 2 && typeof entry[0] === 'string' && typeof entry[1] === 'string') {
      const attribute = schema.byField.get(entry[0]);
      if (!attribute) return undefined;
      columns.push({ as: entry[1], from: attribute.name });
    } else {
      return undefined;
    }
  }
  return columns;
}
