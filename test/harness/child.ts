/** Child processes of the harness: the repository root and a command run to its end. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const root = join(__dirname, '..', '..');

/** Run a command with inherited stdio; resolves to its exit code (1 when killed), forwarding Ctrl-C. */
export function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, env, stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward).on('SIGTERM', forward);
    child.once('exit', (code, signal) => {
      process.off('SIGINT', forward).off('SIGTERM', forward);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

