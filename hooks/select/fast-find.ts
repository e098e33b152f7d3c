/**
 * The short ways for `Model.findByPk(key)` without options and for a plain
 * `Model.findAll({ where, order, limit, offset })` (docs/how-it-works.md,
 * "The short ways"). Sequelize spends more CPU preparing such a read
 * (cloning options three times, scopes, attribute expansion, field mapping)
 * than a cache hit costs, and the result of that preparation depends only on
 * the model (and, for findAll, on which attributes the where and the order
 * name), not on the values: so the first call goes the whole way and its
 * prepared select options are kept, and later calls hand a copy of them,
 * with their values put in, straight to the query interface's select, the
 * same call Sequelize would make. Misses, fills and hits then run as for any
 * other read. Only reads whose preparation is provably the same go the short
 * way: a number or string key on a model that is not paranoid, or plain
 * where values (hooks/select/fast-find-all.ts), a model without find hooks
 * (on it or on the Sequelize instance), no CLS transaction, and nothing the
 * kept options were prepared from changed since (attributes, scope, options,
 * primary key, and the find methods themselves, which tests stub).
 */
import type { Model, ModelStatic } from 'sequelize';
import type { SelectOptions } from '../query-options';
import { currentTransaction } from '../transactions';
import type { ReadContext } from '../cache-context';
import { forCall, type KeptShape, keepShape, MAX_SHAPES, type PlainCall, plainCall } from './fast-find-all';

type FindByPk = (this: ModelStatic<Model>, key: unknown, options?: unknown) => Promise<Model | null>;
type FindAll = (this: ModelStatic<Model>, options?: unknown) => Promise<Model[]>;

/** The parts of a model class the preparation reads (most are not in the typings). */
interface ModelInternals {
  sequelize: { options: { hooks?: Record<string, unknown[] | undefined> } };
  options: { hooks?: Record<string, unknown[] | undefined>; paranoid?: boolean; timestamps?: boolean; rejectOnEmpty?: unknown; whereCollection?: unknown };
  rawAttributes: Record<string, { field?: string }>;
  fieldRawAttributesMap: object;
  _scope: object;
  primaryKeyAttribute: string;
  findOne: unknown;
  findAll: unknown;
  queryInterface: { select(model: unknown, table: unknown, options: SelectOptions): Promise<unknown> };
  getTableName(): unknown;
}

/** Select options Sequelize prepared for one model's plain findByPk, and what they were prepared from. */
interface Prepared {
  options: SelectOptions;
  /** The where key the primary key ended up under (its column name). */
  column: string;
  from: readonly unknown[];
}

/**
 * Where a preparing call's select options are kept. It rides in the call's
 * options under a symbol: Sequelize's option cloning (Utils.cloneDeep) keeps
 * class instances by reference, `_.defaults` and the option checks read
 * string keys only, and no query reads symbol keys, so the preparation is
 * the one of a call without options. (An AsyncLocalStorage would do too, but
 * it turns on promise hooks for the whole process, a cost on every read.)
 */
class Slot {
  options?: SelectOptions;
  constructor(readonly model: object) {}
}

const PREPARING = Symbol('sequelize-orm-cache preparing a find');

/** Marks a short-way function with the FastFind that made it. */
const SHORT_WAY = Symbol('sequelize-orm-cache short way');

/** Hooks that see or change a find's options or result. */
const FIND_HOOKS = ['beforeFind', 'beforeFindAfterExpandIncludeAll', 'beforeFindAfterOptions', 'afterFind'] as const;

function hasFindHooks(model: ModelInternals): boolean {
  const own = model.options.hooks ?? {};
  const shared = model.sequelize.options.hooks ?? {};
  return FIND_HOOKS.some((type) => (own[type]?.length ?? 0) > 0 || (shared[type]?.length ?? 0) > 0);
}

/** Everything a plain find's preparation depends on, by identity or value. */
function inputs(model: ModelInternals, find: unknown): unknown[] {
  return [
    find,
    model.rawAttributes,
    model.fieldRawAttributesMap,
    model._scope,
    model.options,
    model.options.rejectOnEmpty,
    model.primaryKeyAttribute,
    model.findOne,
    model.findAll,
  ];
}

const sameInputs = (a: readonly unknown[], b: readonly unknown[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/** A fresh copy of kept options for one call, with the key in. */
function forKey(prepared: Prepared, key: unknown): SelectOptions {
  const { options } = prepared;
  const attributes = (options.attributes as unknown[]).map((a) => (Array.isArray(a) ? [...a] : a));
  const originalAttributes = Array.isArray(options.originalAttributes) ? [...(options.originalAttributes as unknown[])] : options.originalAttributes;
  return { ...options, attributes, originalAttributes, where: { [prepared.column]: key } } as SelectOptions;
}

/** Fields of the selects a short-way call may keep: anything else means a preparation we do not repeat. */
const KEPT = new Set(['hooks', 'rejectOnEmpty', 'plain', 'where', 'attributes', 'originalAttributes', 'tableNames']);

/** Whether a find may go a short way now (the parts of the decision common to both; findByPk also wants a model that is not paranoid). */
function plainNow(cache: ReadContext, model: ModelInternals): boolean {
  return cache.installed && !cache.suspended && !hasFindHooks(model) && !currentTransaction(cache.sequelize, undefined);
}

/**
 * The column a paranoid model's clause pins to NULL (its schema's `paranoid`);
 * `false` for a paranoid model whose clause is another (a `deletedAt`
 * default) or that is not cached, undefined when the model is not paranoid.
 */
function paranoidColumn(cache: ReadContext, model: ModelInternals): string | false | undefined {
  if (!model.options.paranoid || model.options.timestamps === false) return undefined;
  return cache.schemaOf(model)?.paranoid?.field ?? false;
}

/**
 * The short ways of one installed cache: put on the instance's model classes
 * as an own `findByPk` and `findAll` (at install, and for models the selects
 * meet later), taken back off by {@link FastFind.unpatch}.
 */
export class FastFind {
  readonly #prepared = new WeakMap<object, Prepared>();
  /** Kept findAll shapes, by model class and shape name (at most MAX_SHAPES each). */
  readonly #shapes = new WeakMap<object, Map<string, KeptShape>>();
  /** Model classes given the short way (weakly: a redefined model's old class may go). */
  readonly #patched = new WeakSet<object>();

  constructor(readonly cache: ReadContext) {}

  /**
   * Give `model` the short way, unless it has it (or its own findByPk). Only
   * the instance's own model classes: the classes `Model.scope()` makes
   * inherit it, and are not kept here.
   */
  patch(model: ModelStatic<Model>): void {
    if (this.#patched.has(model) || this.cache.sequelize.models[model.name] !== model) return;
    // Looked up at every call, so that a stub put on Sequelize's own find
    // methods later is still what a read that cannot go a short way calls.
    const parent = Object.getPrototypeOf(model) as { findByPk?: FindByPk; findAll?: FindAll };
    const own = (name: string) => Object.prototype.hasOwnProperty.call(model, name);
    if (!own('findByPk') && typeof parent.findByPk === 'function') {
      Object.defineProperty(model, 'findByPk', { value: this.#shortWay(parent as { findByPk: FindByPk }), writable: true, configurable: true, enumerable: false });
    }
    if (!own('findAll') && typeof parent.findAll === 'function') {
      Object.defineProperty(model, 'findAll', { value: this.#shortFindAll(parent as { findAll: FindAll }), writable: true, configurable: true, enumerable: false });
    }
    this.#patched.add(model);
  }

  /**
   * Take the short ways back off the instance's models (unless something
   * replaced them since). A class no longer among them that still has one
   * goes the whole way, since the cache is not installed any more.
   */
  unpatch(): void {
    for (const model of Object.values(this.cache.sequelize.models)) {
      for (const name of ['findByPk', 'findAll']) {
        const own = Object.getOwnPropertyDescriptor(model, name)?.value as { [SHORT_WAY]?: FastFind } | undefined;
        if (own?.[SHORT_WAY] === this) delete (model as unknown as Record<string, unknown>)[name];
      }
    }
  }

  /** Called by the select wrapper: keeps the options of the select a preparing find makes. */
  seen(model: object, options: SelectOptions | undefined): void {
    const slot = (options as Record<symbol, unknown> | undefined)?.[PREPARING];
    if (!(slot instanceof Slot) || slot.model !== model || slot.options) return;
    const { [PREPARING]: _, ...rest } = options as SelectOptions & Record<symbol, unknown>;
    slot.options = rest as SelectOptions;
  }

  #shortWay(parent: { findByPk: FindByPk }): FindByPk {
    const self = this;
    const fast = async function findByPk(this: ModelStatic<Model>, key: unknown, options?: unknown): Promise<Model | null> {
      const model = this as unknown as ModelInternals;
      const inherited = parent.findByPk;
      const plain = options === undefined && (typeof key === 'number' || typeof key === 'string') && !model.options.paranoid && plainNow(self.cache, model);
      if (!plain) return inherited.call(this, key, options);
      const prepared = self.#prepared.get(this);
      if (!prepared || !sameInputs(prepared.from, inputs(model, inherited))) return self.#prepare(this, inherited, key);
      model.options.whereCollection = { [model.primaryKeyAttribute]: key };
      const result = await model.queryInterface.select(this, model.getTableName(), forKey(prepared, key));
      // rejectOnEmpty (from the model's options) is Sequelize's to raise.
      if (result === null && prepared.options.rejectOnEmpty) return inherited.call(this, key, options);
      return result as Model | null;
    };
    return Object.assign(fast, { [SHORT_WAY]: self });
  }

  #shortFindAll(parent: { findAll: FindAll }): FindAll {
    const self = this;
    const fast = async function findAll(this: ModelStatic<Model>, options?: unknown): Promise<Model[]> {
      const model = this as unknown as ModelInternals;
      const inherited = parent.findAll;
      const call = plainNow(self.cache, model) ? plainCall(options, model.rawAttributes) : undefined;
      if (!call) return inherited.call(this, options);
      const shapes = self.#shapes.get(this);
      const kept = shapes?.get(call.shape);
      if (!kept || !sameInputs(kept.from, inputs(model, inherited))) return self.#prepareAll(this, inherited, options, call);
      model.options.whereCollection = { ...call.where };
      const result = (await model.queryInterface.select(this, model.getTableName(), forCall(kept, call))) as Model[];
      // rejectOnEmpty (from the model's options) is Sequelize's to raise.
      if (result.length === 0 && kept.options.rejectOnEmpty) return inherited.call(this, options);
      return result;
    };
    return Object.assign(fast, { [SHORT_WAY]: self });
  }

  /** A plain findAll's whole way, keeping its select options for its shape when they can be repeated. */
  async #prepareAll(model: ModelStatic<Model>, inherited: FindAll, options: unknown, call: PlainCall): Promise<Model[]> {
    const internals = model as unknown as ModelInternals;
    const from = inputs(internals, inherited);
    const slot = new Slot(model);
    const result = await inherited.call(model, { ...(options as object), [PREPARING]: slot });
    const paranoid = paranoidColumn(this.cache, internals);
    const kept = paranoid === false ? undefined : keepShape(call, slot.options, internals.rawAttributes, paranoid, from);
    if (!kept) return result;
    let shapes = this.#shapes.get(model);
    if (!shapes) this.#shapes.set(model, (shapes = new Map()));
    if (shapes.has(call.shape) || shapes.size < MAX_SHAPES) shapes.set(call.shape, kept);
    return result;
  }

  /** The whole way, keeping the prepared options when they are what the short way can repeat. */
  async #prepare(model: ModelStatic<Model>, inherited: FindByPk, key: unknown): Promise<Model | null> {
    const from = inputs(model as unknown as ModelInternals, inherited);
    const slot = new Slot(model);
    const result = await inherited.call(model, key, { [PREPARING]: slot });
    const options = slot.options;
    if (!options || !Object.keys(options).every((k) => KEPT.has(k)) || !Array.isArray(options.attributes)) return result;
    const where = options.where as Record<string | symbol, unknown> | undefined;
    const keys = where ? Reflect.ownKeys(where) : [];
    if (keys.length !== 1 || typeof keys[0] !== 'string' || where?.[keys[0]] !== key || options.plain !== true) return result;
    this.#prepared.set(model, { options: { ...options, where: undefined }, column: keys[0], from });
    return result;
  }
}
