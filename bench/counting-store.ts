/** A CacheStore wrapper that counts operations (each is one request to the store). */
import type { CacheStore, CasValue } from '../source/store/contract';

export class CountingStore implements CacheStore {
  total = 0;

  constructor(readonly inner: CacheStore) {}

  get maxValueBytes(): number {
    return this.inner.maxValueBytes;
  }

  /** Counting keeps the store's order. */
  get ordered(): boolean {
    return this.inner.ordered === true;
  }

  get(key: string): Promise<string | undefined> {
    this.total++;
    return this.inner.get(key);
  }
  getMulti(keys: readonly string[]): Promise<Map<string, string>> {
    this.total++;
    return this.inner.getMulti(keys);
  }
  gets(key: string): Promise<CasValue | undefined | null> {
    this.total++;
    return this.inner.gets(key);
  }
  set(key: string, value: string, ttl: number): Promise<boolean> {
    this.total++;
    return this.inner.set(key, value, ttl);
  }
  add(key: string, value: string, ttl: number): Promise<boolean> {
    this.total++;
    return this.inner.add(key, value, ttl);
  }
  cas(key: string, value: string, cas: string, ttl: number): Promise<boolean> {
    this.total++;
    return this.inner.cas(key, value, cas, ttl);
  }
  delete(key: string): Promise<boolean> {
    this.total++;
    return this.inner.delete(key);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
