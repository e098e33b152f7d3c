/**
 * Small helpers used across the cache, each kept once: digests, plain-object
 * checks, RegExp escaping, and Sequelize v6's operator symbols (which are
 * `Symbol.for` symbols, so the core can read a where clause without
 * importing Sequelize).
 */
import { hash } from 'node:crypto';

/**
 * The SHA-256 of `text` in base64url, cut to `length` characters (43 is all
 * of it). The one-shot `crypto.hash` (Node 20.12) costs half of a
 * `createHash` object's update and digest for key-sized text (UTF-8 both),
 * and every list, count and conjunction key of a read takes one.
 */
export function sha256(text: string, length = 43): string {
  return hash('sha256', text, 'base64url').slice(0, length);
}

/** A short digest for key suffixes and entry names. */
export function digest(text: string): string {
  return sha256(text, 32);
}

/** An object literal (or `Object.create(null)`), not a class instance, array or null. */
export function isPlainObject(value: unknown): value is Record<string | symbol, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** `text` with every RegExp metacharacter escaped. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Sequelize v6's operators the cache reads (`Op.eq` is `Symbol.for('eq')`). */
export const Op = {
  eq: Symbol.for('eq'),
  in: Symbol.for('in'),
  and: Symbol.for('and'),
  or: Symbol.for('or'),
} as const;
