/**
 * The soak's history checker. Workers log every operation with its start and
 * end on the machine's monotonic clock (shared by all processes); this module
 * compares each read with the history of committed writes.
 *
 * The history is made checkable by giving every row exactly one writer (one
 * loop of one process), so a row's versions are totally ordered by that
 * loop's program order, and by making every version carry a unique number in
 * `views`. For a read running from `a` to `b`, a row's legal versions are
 * those from the newest one whose write had returned before `a` to the newest
 * one whose write had started before `b` (reads concurrent with a write may
 * see either side of it). A read that could only have seen versions older
 * than that window is **stale after return**, the failure the cache promises
 * never to produce (docs/architecture.md, invariant 1). A read whose values match no
 * legal version at all (a rolled-back write, garbage, a row in a list it
 * does not belong to at any legal moment) is **impossible**, also a failure.
 * A **flip-flop** is a read seeing an older version than a read that had
 * already ended saw. It is counted, not failed: two reads that both overlap
 * a write may legally see it in either order, and a flip-flop across a write
 * that had returned is already counted as stale.
 *
 * In the spirit of Jepsen's Knossos/Elle checkers, reduced to what one
 * writer per row allows: linear time, no search.
 */

/** A row's tracked state: `null` when the row does not exist. */
export type RowState = { views: number; authorId: number; published: boolean } | null;

/** A soak article's state before the run (the orchestrator seeds exactly this). */
export function initialState(id: number, authors: number): RowState {
  return { views: 0, authorId: ((id - 1) % authors) + 1, published: id % 2 === 0 };
}

/** What a list or count read asked for, applied to a row state. */
export interface Filter {
  authorId?: number;
  published?: boolean;
  ids?: number[];
  viewsGt?: number;
}

/** One logged operation (times are microseconds on the monotonic clock). */
export type Op =
  | { k: 'w'; op: string; s: number; e: number | null; rows: [number, RowState][] }
  | { k: 'rb'; op: string; s: number; e: number; rows: [number, RowState][] }
  | { k: 'pk'; op: string; s: number; e: number; id: number; row: RowState }
  | { k: 'list'; op: string; s: number; e: number; filter: Filter; rows: [number, RowState][] }
  | { k: 'count'; op: string; s: number; e: number; filter: Filter; n: number }
  | { k: 'x'; op: string; s: number; e: number; cause: 'db' | 'cache'; message: string };

/** Whether `state` satisfies `filter` (a deleted row satisfies nothing). */
export function matches(filter: Filter, id: number, state: RowState): boolean {
  if (state === null) return false;
  if (filter.authorId !== undefined && state.authorId !== filter.authorId) return false;
  if (filter.published !== undefined && state.published !== filter.published) return false;
  if (filter.ids !== undefined && !filter.ids.includes(id)) return false;
  if (filter.viewsGt !== undefined && !(state.views > filter.viewsGt)) return false;
  return true;
}

interface Version {
  state: RowState;
  start: number;
  /** `Infinity` when the write's outcome is unknown (it failed or its process died). */
  end: number;
}

/** Versions of one row in its writer's order. */
class RowHistory {
  readonly versions: Version[];
  /** Indexes of versions by their `views` number. */
  readonly byViews = new Map<number, number>();
  /** Determinate versions' ends, increasing, with their indexes. */
  readonly ends: { end: number; index: number }[] = [];

  constructor(initial: RowState) {
    this.versions = [{ state: initial, start: -Infinity, end: -Infinity }];
    if (initial) this.byViews.set(initial.views, 0);
    this.ends.push({ end: -Infinity, index: 0 });
  }

  add(state: RowState, start: number, end: number): void {
    const index = this.versions.length;
    this.versions.push({ state, start, end });
    if (state) this.byViews.set(state.views, index);
    if (Number.isFinite(end)) this.ends.push({ end, index });
  }

  /** The legal window [low, high] of a read running from `a` to `b`. */
  window(a: number, b: number): [number, number] {
    let low = 0;
    // ends are increasing (one writer, writes in sequence); binary search.
    let lo = 0;
    let hi = this.ends.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((this.ends[mid] as { end: number }).end < a) {
        low = (this.ends[mid] as { index: number }).index;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    lo = 0;
    hi = this.versions.length - 1;
    let high = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((this.versions[mid] as Version).start < b) {
        high = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return [low, Math.max(low, high)];
  }
}

/** How one observation of one row compares with its history. */
type Verdict = { ok: true; index?: number } | { ok: false; stale: boolean };

function sameState(a: RowState, b: RowState): boolean {
  if (a === null || b === null) return a === b;
  return a.views === b.views && a.authorId === b.authorId && a.published === b.published;
}

/**
 * Judge one row of a read. `seen` is the observed state (`undefined`: the row
 * was not in the list); `filter` is the list's filter (none for a pk read).
 */
function judge(history: RowHistory, a: number, b: number, id: number, seen: RowState | undefined, filter?: Filter): Verdict {
  const [low, high] = history.window(a, b);
  const fits = (i: number) => {
    const state = (history.versions[i] as Version).state;
    if (seen === undefined) return !matches(filter as Filter, id, state);
    if (filter && !matches(filter, id, state)) return false;
    return sameState(state, seen);
  };
  if (seen) {
    // A present row names its version by its unique `views`.
    const index = history.byViews.get(seen.views);
    if (index !== undefined && fits(index)) {
      if (index >= low && index <= high) return { ok: true, index };
      return { ok: false, stale: index < low };
    }
    // Its values exist but not with this membership: judge membership alone.
    if (index !== undefined && index >= low && index <= high && filter) {
      for (let i = low; i <= high; i++) {
        if (matches(filter, id, (history.versions[i] as Version).state)) return { ok: true };
      }
      for (let i = low - 1; i >= 0; i--) {
        if (matches(filter, id, (history.versions[i] as Version).state)) return { ok: false, stale: true };
      }
    }
    return { ok: false, stale: false };
  }
  for (let i = low; i <= high; i++) if (fits(i)) return { ok: true };
  for (let i = low - 1; i >= 0; i--) if (fits(i)) return { ok: false, stale: true };
  return { ok: false, stale: false };
}

/** One failed observation, for the report. */
export interface Anomaly {
  kind: 'stale' | 'impossible';
  op: string;
  id?: number;
  start: number;
  end: number;
  detail: string;
}

/** The checker's findings over one history. */
export interface CheckResult {
  operations: number;
  reads: number;
  writes: number;
  /** Writes whose outcome is unknown (they failed, or their process died). */
  indeterminate: number;
  rolledBack: number;
  rowsChecked: number;
  stale: number;
  impossible: number;
  flipFlops: number;
  dbErrors: number;
  cacheErrors: number;
  /** Messages of cache-caused errors, with how often each occurred. */
  cacheErrorMessages: Record<string, number>;
  anomalies: Anomaly[];
  /** Latencies of every operation (ms), for percentiles. */
  latencies: { start: number; ms: number }[];
}

/**
 * Check a history. `initial` is every row's state before the run, keyed by id
 * (rows that may be created later start as `null`).
 */
export function checkHistory(initial: Map<number, RowState>, ops: readonly Op[]): CheckResult {
  const rows = new Map<number, RowHistory>();
  for (const [id, state] of initial) rows.set(id, new RowHistory(state));
  const result: CheckResult = {
    operations: ops.length,
    reads: 0,
    writes: 0,
    indeterminate: 0,
    rolledBack: 0,
    rowsChecked: 0,
    stale: 0,
    impossible: 0,
    flipFlops: 0,
    dbErrors: 0,
    cacheErrors: 0,
    cacheErrorMessages: {},
    anomalies: [],
    latencies: [],
  };
  // Each row's writes come from one loop, logged in program order; sorting by
  // start keeps that order and merges the loops.
  const writes = ops.filter((o): o is Extract<Op, { k: 'w' }> => o.k === 'w').sort((x, y) => x.s - y.s);
  for (const w of writes) {
    result.writes++;
    if (w.e === null) result.indeterminate++;
    for (const [id, state] of w.rows) {
      let history = rows.get(id);
      if (!history) rows.set(id, (history = new RowHistory(null)));
      history.add(state, w.s, w.e ?? Infinity);
    }
  }
  const observed = new Map<number, { start: number; end: number; index: number }[]>();
  const note = (id: number, op: Op, index: number | undefined) => {
    if (index === undefined) return;
    let list = observed.get(id);
    if (!list) observed.set(id, (list = []));
    list.push({ start: op.s, end: op.e as number, index });
  };
  const fail = (op: Op, id: number | undefined, verdict: Verdict & { ok: false }, detail: string) => {
    if (verdict.stale) result.stale++;
    else result.impossible++;
    if (result.anomalies.length < 50) {
      result.anomalies.push({ kind: verdict.stale ? 'stale' : 'impossible', op: op.op, id, start: op.s, end: op.e as number, detail });
    }
  };
  for (const op of ops) {
    if (op.e !== null) result.latencies.push({ start: op.s, ms: (op.e - op.s) / 1000 });
    switch (op.k) {
      case 'rb':
        result.rolledBack++;
        break;
      case 'x':
        if (op.cause === 'db') result.dbErrors++;
        else {
          result.cacheErrors++;
          const message = `${op.op}: ${op.message.slice(0, 200)}`;
          result.cacheErrorMessages[message] = (result.cacheErrorMessages[message] ?? 0) + 1;
        }
        break;
      case 'pk': {
        result.reads++;
        const history = rows.get(op.id);
        if (!history) break;
        result.rowsChecked++;
        const verdict = judge(history, op.s, op.e, op.id, op.row);
        if (verdict.ok) note(op.id, op, verdict.index);
        else fail(op, op.id, verdict, `row ${op.id} read as ${JSON.stringify(op.row)}`);
        break;
      }
      case 'list': {
        result.reads++;
        const seen = new Map(op.rows);
        for (const [id, history] of rows) {
          if (op.filter.ids && !op.filter.ids.includes(id)) continue;
          result.rowsChecked++;
          const state = seen.has(id) ? (seen.get(id) as RowState) : undefined;
          const verdict = judge(history, op.s, op.e, id, state, op.filter);
          if (verdict.ok) note(id, op, verdict.index);
          else fail(op, id, verdict, `row ${id} ${state ? `listed as ${JSON.stringify(state)}` : 'missing'} for ${JSON.stringify(op.filter)}`);
        }
        for (const id of seen.keys()) {
          if (!rows.has(id)) fail(op, id, { ok: false, stale: false }, `unknown row ${id} listed`);
        }
        break;
      }
      case 'count': {
        result.reads++;
        // Each row is surely in, surely out, or either (over its legal window).
        let least = 0;
        let most = 0;
        let leastBefore = 0;
        let mostBefore = 0;
        for (const [id, history] of rows) {
          const [low, high] = history.window(op.s, op.e);
          let inside = false;
          let outside = false;
          for (let i = low; i <= high; i++) {
            if (matches(op.filter, id, (history.versions[i] as Version).state)) inside = true;
            else outside = true;
          }
          if (inside && !outside) least++;
          if (inside) most++;
          // The widest range an earlier state could explain, for telling stale from impossible.
          let everIn = inside;
          let everOut = outside;
          for (let i = 0; i < low; i++) {
            if (matches(op.filter, id, (history.versions[i] as Version).state)) everIn = true;
            else everOut = true;
          }
          if (everIn && !everOut) leastBefore++;
          if (everIn) mostBefore++;
        }
        result.rowsChecked++;
        if (op.n < least || op.n > most) {
          const stale = op.n >= leastBefore && op.n <= mostBefore;
          fail(op, undefined, { ok: false, stale }, `count ${op.n} for ${JSON.stringify(op.filter)}, legal ${least}..${most}`);
        }
        break;
      }
      default:
        break;
    }
  }
  // Flip-flops: per row, a read seeing an older version than a read that had
  // already ended before it started.
  for (const list of observed.values()) {
    const byEnd = [...list].sort((x, y) => x.end - y.end);
    const byStart = [...list].sort((x, y) => x.start - y.start);
    let newest = -1;
    let j = 0;
    for (const read of byStart) {
      while (j < byEnd.length && (byEnd[j] as { end: number }).end < read.start) {
        newest = Math.max(newest, (byEnd[j] as { index: number }).index);
        j++;
      }
      if (read.index < newest) result.flipFlops++;
    }
  }
  return result;
}

/** The p-th percentile (0–100) of `values`, or 0 when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}
