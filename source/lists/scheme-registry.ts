/**
 * The scheme registry of a model (`{ns}:{model}:{shape}:s`): which field sets
 * lists of the model pin with equality conditions, so that a writer knows
 * which conjunction tokens to rotate, and a token that entries record. It is
 * changed only by `add` and `cas`; a lost or unreadable registry gets a new
 * token, so lists recorded under the old one never validate again.
 */
import { randomToken } from '../clock';
import type { GuardedStore } from '../store/guarded-store';

/** A registry's content. */
export interface Registry {
  token: string;
  schemes: string[][];
}

/** A registry from its stored text; undefined when absent or unreadable. */
export function parseRegistry(text: string | undefined): Registry | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as { t?: unknown; s?: unknown };
    if (typeof parsed.t !== 'string' || !Array.isArray(parsed.s)) return undefined;
    if (!parsed.s.every((s) => Array.isArray(s) && s.every((f) => typeof f === 'string'))) return undefined;
    return { token: parsed.t, schemes: parsed.s as string[][] };
  } catch {
    return undefined;
  }
}

const sameScheme = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((f, i) => f === b[i]);

/** The token of a registry that already names `scheme`; undefined when it does not, or when there is none. */
export function registeredToken(registry: Registry | undefined, scheme: readonly string[]): string | undefined {
  if (!registry || (scheme.length > 0 && !registry.schemes.some((s) => sameScheme(s, scheme)))) return undefined;
  return registry.token;
}

/**
 * Make sure the registry at `key` names `scheme` (writers rotate its tokens
 * from then on); the registry's token, which an entry relying on that must
 * record, or undefined when the store cannot tell.
 */
export async function registerScheme(store: GuardedStore, key: string, scheme: readonly string[]): Promise<string | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const seen = await store.gets(key);
    if (seen === null) return undefined;
    const registry = parseRegistry(seen?.value);
    if (!seen || !registry) {
      // Absent or unreadable: a new registry with a new token, so lists
      // recorded under a lost one can never validate again.
      const fresh: Registry = { token: randomToken(), schemes: scheme.length ? [[...scheme]] : [] };
      const text = JSON.stringify({ t: fresh.token, s: fresh.schemes });
      const stored = seen ? await store.cas(key, text, seen.cas, 0) : await store.add(key, text, 0);
      if (stored) return fresh.token;
      continue;
    }
    const token = registeredToken(registry, scheme);
    if (token !== undefined) return token;
    const text = JSON.stringify({ t: registry.token, s: [...registry.schemes, [...scheme]] });
    if (Buffer.byteLength(text) > store.maxValueBytes) return undefined;
    if (await store.cas(key, text, seen.cas, 0)) return registry.token;
  }
  return undefined;
}
