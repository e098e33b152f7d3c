// hashring 3.x ships no types; only what MemcachedStore uses is declared.
declare module 'hashring' {
  class HashRing {
    constructor(
      servers: string | string[] | Record<string, number>,
      algorithm?: string,
      options?: Record<string, unknown>,
    );
    get(key: string): string;
  }
  export = HashRing;
}
