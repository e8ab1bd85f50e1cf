// Waiting on conditions, never on sleeps.
import { readFileSync } from 'node:fs';

import type { ServerStatus } from '../../src-main/core/servers/managed-server.js';
import type { ServerManager } from '../../src-main/core/servers/server-manager.js';

/** Resolves with the first status of `name` that satisfies `predicate` (the current one included). */
export function waitForStatus(
  manager: ServerManager,
  name: string,
  predicate: (status: ServerStatus) => boolean,
  timeoutMs = 20_000,
): Promise<ServerStatus> {
  const current = manager.get(name)?.status;
  if (current && predicate(current)) return Promise.resolve(current);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      manager.off('status', check);
      reject(
        new Error(
          `${name} did not reach the expected status in ${timeoutMs} ms; last: ${JSON.stringify(manager.get(name)?.status)}`,
        ),
      );
    }, timeoutMs);
    const check = (status: ServerStatus) => {
      if (status.name !== name || !predicate(status)) return;
      clearTimeout(timer);
      manager.off('status', check);
      resolve(status);
    };
    manager.on('status', check);
  });
}

/** Whether a process with this pid exists and is not a zombie waiting to be reaped. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}

/** Polls `condition` until it holds: for conditions that have no event (another process's state). */
export async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
