/**
 * A helper process for tests whose claim is about several OS processes: the
 * child runs a script under ts-node, says `{ ready: true }`, then answers
 * each request message with one reply message.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';

export interface Child<Reply> {
  /**
   * Send a request and wait for its reply (one request at a time). Messages
   * the child sends with a `note` field before its reply go to `onNote`.
   */
  ask(message: object, onNote?: (note: unknown) => void): Promise<Reply>;
  /** Ask the child to exit. */
  stop(): void;
}

export function forkChild<Reply>(script: string, args: string[]): Promise<Child<Reply>> {
  const child = fork(join(__dirname, script), args, {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    cwd: join(__dirname, '..', '..'),
  });
  let pending: ((reply: Reply) => void) | undefined;
  let noted: ((note: unknown) => void) | undefined;
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.on('message', (message: Reply & { ready?: boolean; note?: unknown }) => {
      if (message.note !== undefined) noted?.(message.note);
      else if (message.ready) {
        resolve({
          ask: (request, onNote) =>
            new Promise<Reply>((r) => {
              pending = r;
              noted = onNote;
              child.send(request);
            }),
          stop: () => child.send({ exit: true }),
        });
      } else pending?.(message);
    });
  });
}
