/**
 * Read batching for a networked store: every key asked of one server in the
 * same tick goes out in one multi-get, so concurrent reads share one command,
 * one socket write and one response instead of one each (the idea of ioredis'
 * auto-pipelining and of DataLoader's batching).
 */

/** Keys to fetch from one server in one multi-get, and its answer. */
interface Batch {
  keys: Set<string>;
  result: Promise<Map<string, string>>;
  /** Seal and send it, unless that happened already. */
  send(): void;
}

export class ReadBatches<Server> {
  /** The batch of each server still taking keys. */
  readonly #open = new Map<Server, Batch>();

  /**
   * @param maxKeys - keys per command; a batch that reaches it is sent at once
   * @param send - one multi-get: the values found, by key
   */
  constructor(
    readonly maxKeys: number,
    readonly send: (server: Server, keys: readonly string[]) => Promise<Map<string, string>>,
  ) {}

  /**
   * The values of `keys` (all on `server`), fetched with every other key asked
   * of that server in this tick. A batch is sent once the tick's synchronous
   * work and microtasks are done (a `process.nextTick` scheduled from them
   * runs after them, before any I/O), or as soon as it holds `maxKeys` keys;
   * keys beyond that go to the next batches. A failed batch fails every read
   * in it (each is then a miss). What waits here is bounded by one tick's
   * reads: nothing is kept after a batch is sent.
   */
  fetch(server: Server, keys: readonly string[]): Promise<Map<string, string>> {
    if (keys.length === 1) return this.#add(server, keys);
    const parts: Promise<Map<string, string>>[] = [];
    for (let i = 0; i < keys.length; ) {
      const room = this.maxKeys - (this.#open.get(server)?.keys.size ?? 0);
      const slice = keys.slice(i, i + Math.max(1, room));
      i += slice.length;
      parts.push(this.#add(server, slice));
    }
    if (parts.length === 1) return parts[0] as Promise<Map<string, string>>;
    return Promise.all(parts).then((all) => {
      const merged = new Map<string, string>();
      for (const part of all) for (const [key, value] of part) merged.set(key, value);
      return merged;
    });
  }

  #add(server: Server, keys: readonly string[]): Promise<Map<string, string>> {
    let batch = this.#open.get(server);
    if (!batch) batch = this.#start(server);
    for (const k of keys) batch.keys.add(k);
    if (batch.keys.size >= this.maxKeys) batch.send();
    return batch.result;
  }

  #start(server: Server): Batch {
    let answer!: (data: Promise<Map<string, string>>) => void;
    const batch: Batch = {
      keys: new Set(),
      result: new Promise((resolve) => (answer = resolve)),
      send: () => {
        if (this.#open.get(server) !== batch) return;
        this.#open.delete(server);
        answer(this.send(server, [...batch.keys]));
      },
    };
    this.#open.set(server, batch);
    process.nextTick(batch.send);
    return batch;
  }
}
