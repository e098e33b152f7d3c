// cluster-key-slot 1.x ships no types; only what RedisStore uses is declared.
declare module 'cluster-key-slot' {
  /** Redis Cluster's hash slot of a key: CRC16 mod 16384 of the key, or of its hash tag. */
  function generate(key: string | Buffer): number;
  export = generate;
}
