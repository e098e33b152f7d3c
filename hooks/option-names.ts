/**
 * Names in the `models` option that name nothing: a model the instance does
 * not define (in `models` or a `dependsOn`), or an attribute a model does not
 * have (in `computed`). Each is a typo the cache would otherwise ignore.
 */
import type { ModelCacheOptions } from '../source/types';

/** One misnamed option: its path and what is wrong with it. */
export interface Misnamed {
  option: string;
  problem: string;
  /** Whether it names a model (else an attribute). */
  model: boolean;
}

/** Every misnamed entry of `models`, given the instance's models by name. */
export function misnamedOptions(models: Readonly<Record<string, Readonly<ModelCacheOptions> | false>>, defined: Record<string, unknown>): Misnamed[] {
  const found: Misnamed[] = [];
  const has = (object: object, key: string) => Object.prototype.hasOwnProperty.call(object, key);
  for (const [name, options] of Object.entries(models)) {
    const unknown = [name, ...((options && options.dependsOn) || [])].find((n) => !has(defined, n));
    if (unknown !== undefined) {
      const problem = `names no model of this Sequelize instance: ${JSON.stringify(unknown)} (defined: ${Object.keys(defined).join(', ')})`;
      found.push({ option: unknown === name ? `models.${name}` : `models.${name}.dependsOn`, problem, model: true });
      continue;
    }
    const attributes = (defined[name] as { rawAttributes?: object }).rawAttributes ?? {};
    const unnamed = ((options && options.computed) || []).find((a) => !has(attributes, a));
    if (unnamed !== undefined) {
      found.push({ option: `models.${name}.computed`, problem: `names no attribute of ${name}: ${JSON.stringify(unnamed)} (attributes: ${Object.keys(attributes).join(', ')})`, model: false });
    }
  }
  return found;
}
