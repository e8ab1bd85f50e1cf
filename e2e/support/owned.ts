// What a test starts, closed after it in reverse order (also when it fails). Each test file gets its own
// list (Vitest isolates modules per file); the file calls `closeOwned` in afterEach.

const cleanups: (() => Promise<unknown>)[] = [];

/** Registers `thing` to be closed after the test; returns it. */
export function own<T extends { close(): Promise<unknown> }>(thing: T): T {
  cleanups.push(() => thing.close());
  return thing;
}

/** Registers a cleanup step to run after the test. */
export function onCleanup(step: () => Promise<unknown>): void {
  cleanups.push(step);
}

/** Runs every registered step, the last registered first. */
export async function closeOwned(): Promise<void> {
  while (cleanups.length) await cleanups.pop()!();
}
