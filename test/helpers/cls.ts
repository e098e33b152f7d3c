/**
 * Sequelize's CLS mode for a test: a minimal namespace over
 * AsyncLocalStorage, with the interface `Sequelize.useCLS` expects (get /
 * set / run / bind), put on the Sequelize class of an instance.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Sequelize } from 'sequelize';

/** Turn CLS on for `sequelize`'s class; the returned function turns it off again. */
export function useCls(sequelize: Sequelize): () => void {
  const storage = new AsyncLocalStorage<Map<string, unknown>>();
  const namespace = {
    get: (key: string) => storage.getStore()?.get(key),
    set: (key: string, value: unknown) => storage.getStore()?.set(key, value),
    run: (fn: (context: Map<string, unknown>) => unknown) => {
      const context = new Map(storage.getStore() ?? []);
      return storage.run(context, () => fn(context));
    },
    bind: <F>(fn: F) => fn,
  };
  const Class = sequelize.constructor as unknown as { useCLS(ns: unknown): void; _cls?: unknown };
  Class.useCLS(namespace);
  return () => {
    delete Class._cls;
  };
}
