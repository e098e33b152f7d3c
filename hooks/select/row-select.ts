/**
 * A primary-key read (findByPk, findOne by key) from the row cache, through
 * the row read protocol (stampede/row-read.ts), with in-process
 * single-flight: identical concurrent reads of one row share one lookup (and
 * one fill).
 */
import type { Model, ModelStatic } from 'sequelize';
import type { ReadMeter } from '../../source/metrics/metrics';
import type { ModelSchema } from '../../source/model-schema';
import { aboard, boardingFor } from '../../stampede/boarding';
import { type RowMaterial, rowCycle } from '../../stampede/row-read';
import type { ReadContext } from '../cache-context';
import { refreshRequested, type SelectOptions } from '../query-options';
import { lookupOnly } from '../transactions';
import { buildResult } from './build-result';
import { exactKey } from './list-rows';
import { fullRowOptions } from './miss-queries';
import type { RowShape } from './shape';

/** The row, unless the query's paranoid clause hides it. */
function visible(schema: ModelSchema, shape: RowShape, row: Record<string, unknown> | null): Record<string, unknown>[] {
  if (!row) return [];
  if (shape.where.paranoid && schema.paranoid && row[schema.paranoid.name] !== null) return [];
  return [row];
}

/**
 * The flight key carries the exact key values, since string keys are looked
 * up case-folded and another spelling may be another row.
 */
export function rowSelect(
  cache: ReadContext,
  meter: ReadMeter,
  run: (options: SelectOptions) => Promise<unknown>,
  model: ModelStatic<Model>,
  schema: ModelSchema,
  options: SelectOptions,
  shape: RowShape,
  ttl: number,
): Promise<unknown> {
  const { pkText, values } = shape.where;
  const exact = values.every((v) => typeof v === 'number' || typeof v === 'bigint') ? '' : JSON.stringify(values);
  const key = cache.keys.row(schema, pkText);
  const refresh = refreshRequested(options);
  const onlyLookup = lookupOnly(cache, options);
  return aboard<RowMaterial>(
    boardingFor(cache.flights, cache.options.stampedeProtection, refresh || onlyLookup),
    meter,
    `${key} ${exact}`,
    (report) =>
      rowCycle(
        cache,
        meter,
        {
          schema,
          pkText,
          key,
          refresh,
          lookupOnly: onlyLookup,
          ttl,
          matches: (row) => exactKey(schema, row, values),
          direct: () => run(options),
          read: async () => ((await run(fullRowOptions(schema, options, shape.where))) as Record<string, unknown>[])[0],
        },
        report,
      ),
    (material) => buildResult(model, options, shape.columns, visible(schema, shape, material.row)),
  );
}
