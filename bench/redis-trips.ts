/**
 * A list hit in one Redis round trip, measured before it is built
 * (docs/benchmarks.md, "On Redis"). A list hit reads the entry and its
 * tokens (one multi-get), then the rows the entry points to (a second).
 * Redis could do both in one server-side script: read the entry, take the
 * row keys from it, read them. Measured here in its best case, on a
 * standalone server: the entry is a JSON list of row keys (the real entry
 * would need decoding in Lua and its row keys derived), 3 tokens, 50 rows
 * of 900 bytes; two multi-gets through RedisStore (what the cache pays
 * today), the same two on ioredis alone, and one script by digest on
 * ioredis alone. The server's own CPU is counted too: a script runs in
 * Redis' one thread.
 */
import Redis from 'ioredis';
import { RedisStore } from '../source';
import { type DriverRow, measureShapes } from './timing';

/** KEYS: the entry, then its tokens. Their values, then those of the row keys the entry lists. */
const LIST_HIT = `
local values = redis.call('MGET', unpack(KEYS))
local entry = values[1]
if entry then
  local ok, rows = pcall(cjson.decode, entry)
  if ok and type(rows) == 'table' and #rows > 0 then
    local found = redis.call('MGET', unpack(rows))
    for i = 1, #found do values[#values + 1] = found[i] end
  end
end
return values`;

type Scripted = Redis & { ormListHit(...keys: string[]): Promise<(string | null)[]> };

export async function compareRedisTrips(url: string, prefix: string, rounds: number, ops: number): Promise<DriverRow[]> {
  // Plain keys (short and safe), so RedisStore stores them under the same names ioredis reads.
  const store = new RedisStore(url, { timeoutMs: 500 });
  const raw = new Redis(url, { enableAutoPipelining: true, maxRetriesPerRequest: 0 }) as Scripted;
  raw.defineCommand('ormListHit', { numberOfKeys: 4, lua: LIST_HIT });
  try {
    const ROWS = 1000;
    const LISTS = 20;
    const rowKey = (i: number) => `${prefix}:r:${i % ROWS}`;
    const tokens = [`${prefix}:t1`, `${prefix}:t2`, `${prefix}:t3`];
    const entryKey = (i: number) => `${prefix}:q:${i % LISTS}`;
    const row = 'r'.repeat(900);
    for (let i = 0; i < ROWS; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => store.set(rowKey(i + j), row, 600)));
    await Promise.all(tokens.map((t, i) => store.set(t, `token${i}`, 600)));
    for (let l = 0; l < LISTS; l++) await store.set(entryKey(l), JSON.stringify(Array.from({ length: 50 }, (_, j) => rowKey(l * 50 + j))), 600);
    const check = (values: (string | null | undefined)[]) => {
      if (values.length !== 54 || values.some((v) => v === null || v === undefined)) throw new Error('a list hit read fewer than its 54 values');
    };
    const shapes: [string, Record<string, (i: number) => Promise<unknown>>][] = [
      ['list hit: entry + 3 tokens + 50 rows of 900 B', {
        'RedisStore, 2 multi-gets (today)': async (i) => {
          const first = await store.getMulti([entryKey(i), ...tokens]);
          const keys = JSON.parse(first.get(entryKey(i)) as string) as string[];
          const rows = await store.getMulti(keys);
          check([first.get(entryKey(i)), ...tokens.map((t) => first.get(t)), ...keys.map((k) => rows.get(k))]);
        },
        'ioredis, 2 MGET': async (i) => {
          const first = await raw.mget(entryKey(i), ...tokens);
          const keys = JSON.parse(first[0] as string) as string[];
          check([...first, ...(await raw.mget(keys))]);
        },
        'ioredis, 1 script (EVALSHA)': async (i) => check(await raw.ormListHit(entryKey(i), ...tokens)),
      }],
    ];
    const serverCpu = async () => {
      const info = await raw.info('cpu');
      const seconds = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
      return (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1e6;
    };
    return await measureShapes(shapes, rounds, ops, serverCpu);
  } finally {
    raw.disconnect();
    await store.close();
  }
}
