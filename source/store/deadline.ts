// From node:timers, not the globals: fake timers an app's tests install must
// not stop deadlines (see clock.ts).
import { clearTimeout, setImmediate, setTimeout } from 'node:timers';
import { monotonic } from '../clock';
import { StoreError } from '../errors';

/**
 * Settle `start`'s callback-style operation within `ms`, or reject with
 * `ETIMEOUT`. memcached 2.2.2 never calls back when a server hangs or drops a
 * connection mid-request, so every operation needs its own deadline.
 *
 * When the timer fires, the answer may already be sitting in the socket
 * buffer: after a long synchronous stretch (a big JSON parse, ts-node
 * compiling a file) the event loop runs expired timers before it polls for
 * I/O. Deferring the verdict with `setImmediate` lets that poll phase deliver
 * the answer first, so an event-loop stall is not mistaken for a slow server.
 * `sentAt`, when given, is when the command was written (monotonic ms; NaN
 * while it waits to be written).
 */
export function withDeadline<T>(
  operation: string,
  server: string,
  ms: number,
  start: (settle: (error: unknown, value?: T) => void) => void,
  sentAt?: () => number | undefined,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let timer: ReturnType<typeof setTimeout>;
    const verdict = () => {
      // A client that writes a tick's commands together (text-client.ts)
      // tells when this one went out: the deadline runs from then, so a long
      // synchronous stretch between queueing and writing is not the server's.
      const sent = sentAt?.();
      if (sent !== undefined) {
        // Still unwritten when a timer runs: every flush queued before the
        // timers phase has run, so it never will be; no second chance.
        const waited = Number.isNaN(sent) ? ms : monotonic() - sent;
        if (waited < ms) {
          timer = setTimeout(verdict, Math.max(1, ms - waited));
          return;
        }
      }
      setImmediate(() => {
        if (done) return;
        done = true;
        reject(new StoreError('ETIMEOUT', operation, `no answer within ${ms} ms`, server));
      });
    };
    timer = setTimeout(verdict, ms);
    try {
      start((error, value) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(value as T);
      });
    } catch (error) {
      done = true;
      clearTimeout(timer);
      reject(error);
    }
  });
}
